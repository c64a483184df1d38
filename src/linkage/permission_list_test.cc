#include "linkage/permission_list.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/status_matchers.h"
#include "layout/catalogue_loader.h"

namespace chukan::linkage {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

const layout::Catalogue& Layout() {
  static auto* catalogue = new std::shared_ptr<const layout::Catalogue>(
      layout::LoadCatalogue(CHUKAN_LAYOUT_DIR).value());
  return **catalogue;
}

OrgCode Org(std::string_view s) { return OrgCode::Parse(s).value(); }
JtCode Jt(std::string_view s) { return JtCode::Parse(s).value(); }
TmCode Tm(std::string_view s) { return TmCode::Parse(s).value(); }

constexpr std::string_view kHeader = "inquirer,procedure,provider,tm,legal_basis\n";

TEST(PermissionListTest, ShippedSampleCoversEveryTmAndRefusesWhatItDoesNotList) {
  std::ifstream in(std::string(CHUKAN_LAYOUT_DIR) + "/../permissions/sample.csv");
  std::stringstream ss;
  ss << in.rdbuf();
  ASSERT_OK_AND_ASSIGN(PermissionList parsed,
                       PermissionList::ParseSource(ss.str(), "sample.csv", Layout()));
  std::set<std::string> tms;
  for (const PermissionRule& r : parsed.rules()) tms.insert(r.tm.str());
  for (const layout::InfoName* info : Layout().infos()) {
    EXPECT_TRUE(tms.count(info->code().str())) << info->code() << " has no rule";
  }
  const OrgCode city_a = Org("0000000000000001");
  const OrgCode city_b = Org("0000000000000002");
  const OrgCode insurer = Org("0000000000000003");
  PermissionList list(3, 0, 1, parsed.rules(),
                      {{city_a, "municipality"}, {city_b, "municipality"}, {insurer, "insurer"}});
  const PermissionRule* tax =
      list.Find(city_a, Jt("JT90000000000101"), city_b, Tm("TM00000000000002"));
  ASSERT_NE(tax, nullptr);
  EXPECT_EQ(tax->line, 5);
  EXPECT_NE(list.Find(insurer, Jt("JT90000000000701"), city_b, Tm("TM00000000000002")), nullptr);
  // Not listed: an insurer asking for public-assistance data; a tax procedure asking for
  // disability data; the right TM under the wrong procedure; a municipality asking an insurer;
  // an organisation with no class.
  EXPECT_EQ(list.Find(insurer, Jt("JT90000000000402"), city_b, Tm("TM90000000000102")), nullptr);
  EXPECT_EQ(list.Find(city_a, Jt("JT90000000000101"), city_b, Tm("TM90000000000103")), nullptr);
  EXPECT_EQ(list.Find(city_a, Jt("JT90000000000102"), city_b, Tm("TM00000000000004")), nullptr);
  EXPECT_EQ(list.Find(city_a, Jt("JT90000000000101"), insurer, Tm("TM00000000000002")), nullptr);
  EXPECT_EQ(
      list.Find(Org("0000000000000099"), Jt("JT90000000000101"), city_b, Tm("TM00000000000002")),
      nullptr);
}

TEST(PermissionListTest, OrgRulesMatchOnlyThatOrganisation) {
  std::string text = std::string(kHeader) +
                     "0000000000000001,JT90000000000101,class:municipality,TM00000000000002,law\n";
  ASSERT_OK_AND_ASSIGN(PermissionList parsed, PermissionList::ParseSource(text, "p.csv", Layout()));
  PermissionList list(1, 0, 1, parsed.rules(), {{Org("0000000000000002"), "municipality"}});
  EXPECT_NE(list.Find(Org("0000000000000001"), Jt("JT90000000000101"), Org("0000000000000002"),
                      Tm("TM00000000000002")),
            nullptr);
  EXPECT_EQ(list.Find(Org("0000000000000003"), Jt("JT90000000000101"), Org("0000000000000002"),
                      Tm("TM00000000000002")),
            nullptr);
}

TEST(PermissionListTest, BadSourceFilesNameFileLineAndColumn) {
  auto parse = [](std::string body) {
    return PermissionList::ParseSource(std::string(kHeader) + body, "list.csv", Layout());
  };
  EXPECT_THAT(parse("class:municipality,JT90000000000101,class:municipality,TM99999999999999,x\n"),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("list.csv:2: column tm: information name TM99999999999999 is "
                                 "not in the data standard layout")));
  EXPECT_THAT(parse("class:municipality,JT90000000000101,class:municipality,TM00000000000002,x\n"
                    "class:municipality,JT99999999999999,class:municipality,TM00000000000002,x\n"),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("list.csv:3: column procedure: procedure JT99999999999999")));
  EXPECT_THAT(parse("class:Municipality,JT90000000000101,class:municipality,TM00000000000002,x\n"),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("list.csv:2: column inquirer: organisation class")));
  EXPECT_THAT(parse("123,JT90000000000101,class:municipality,TM00000000000002,x\n"),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("list.csv:2: column inquirer: expected a 16-digit org_code")));
  EXPECT_THAT(parse("class:municipality,JT90000000000101,class:municipality,TM00000000000002,\n"),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("list.csv:2: column legal_basis: required")));
  EXPECT_THAT(
      parse("class:municipality,JT90000000000101,class:municipality,TM00000000000002,x\n"
            "class:municipality,JT90000000000101,class:municipality,TM00000000000002,y\n"),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("list.csv:3: the same rule appears twice")));
  EXPECT_THAT(
      parse("class:municipality,JT90000000000101\n"),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("list.csv:2: expected 5 fields, found 2")));
  EXPECT_THAT(parse("class:a,JT90000000000101,\"class:b,TM00000000000002,x\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("unterminated quoted field")));
  EXPECT_THAT(PermissionList::ParseSource("inquirer,procedure,provider,tm\n", "h.csv", Layout()),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("h.csv:1: header: column legal_basis (根拠法令) is missing")));
  EXPECT_THAT(PermissionList::ParseSource(kHeader, "e.csv", Layout()),
              StatusIs(StatusCode::kInvalidArgument, "e.csv: no rules"));
}

TEST(PermissionListTest, PublishedListVerifiesAndExpires) {
  std::string text = std::string(kHeader) +
                     "class:municipality,JT90000000000101,class:municipality,TM00000000000002,"
                     "\"番号法第19条第8号, 別表\"\n";
  ASSERT_OK_AND_ASSIGN(PermissionList parsed, PermissionList::ParseSource(text, "p.csv", Layout()));
  PermissionList list(7, 1000, 2000, parsed.rules(), {{Org("0000000000000001"), "municipality"}});
  crypto::SigningKey hub = crypto::SigningKey::Generate();
  ASSERT_OK_AND_ASSIGN(SignedDocument signed_list, SignDocument(list.Document(), hub));
  const std::string body = PublishedListJson(signed_list);
  ASSERT_OK_AND_ASSIGN(PermissionList copy,
                       VerifyPublishedList(body, hub.verify_key(), FromUnixMicros(1500 * 1000)));
  EXPECT_EQ(copy.version(), 7);
  ASSERT_EQ(copy.rules().size(), 1u);
  EXPECT_EQ(copy.rules()[0].legal_basis, "番号法第19条第8号, 別表");
  EXPECT_EQ(copy.classes().at(Org("0000000000000001")), "municipality");
  EXPECT_EQ(copy.Document(), list.Document());
  EXPECT_THAT(VerifyPublishedList(body, hub.verify_key(), FromUnixMicros(2000 * 1000)),
              StatusIs(StatusCode::kFailedPrecondition,
                       HasSubstr("permission list version 7: expired at")));
  EXPECT_THAT(
      VerifyPublishedList(body, crypto::SigningKey::Generate().verify_key(),
                          FromUnixMicros(1500 * 1000)),
      StatusIs(StatusCode::kUnauthenticated, "permission list: signature verification failed"));
}

LocalGovCode Lg(std::string_view s) { return LocalGovCode::Parse(s).value(); }

TEST(PermissionListTest, PublishedListCarriesLocalGovCodesInFormat2) {
  std::string text = std::string(kHeader) +
                     "class:municipality,JT90000000000101,class:municipality,TM00000000000002,"
                     "law\n";
  ASSERT_OK_AND_ASSIGN(PermissionList parsed, PermissionList::ParseSource(text, "p.csv", Layout()));
  // Organisation 9 has no class (not active): its code is dropped with it.
  PermissionList list(3, 1000, 2000, parsed.rules(),
                      {{Org("0000000000000001"), "municipality"},
                       {Org("0000000000000002"), "municipality"},
                       {Org("0000000000000003"), "insurer"}},
                      {{Org("0000000000000001"), Lg("131016")},
                       {Org("0000000000000002"), Lg("01100")},
                       {Org("0000000000000009"), Lg("141003")}});
  EXPECT_THAT(list.Document(), HasSubstr(R"("format":"chukan-permission-list/2")"));
  EXPECT_THAT(
      list.Document(),
      HasSubstr(R"({"class":"municipality","local_gov_code":"011002","org":"0000000000000002"})"));
  EXPECT_THAT(list.Document(), HasSubstr(R"({"class":"insurer","org":"0000000000000003"})"));
  crypto::SigningKey hub = crypto::SigningKey::Generate();
  ASSERT_OK_AND_ASSIGN(SignedDocument signed_list, SignDocument(list.Document(), hub));
  ASSERT_OK_AND_ASSIGN(PermissionList copy,
                       VerifyPublishedList(PublishedListJson(signed_list), hub.verify_key(),
                                           FromUnixMicros(1500 * 1000)));
  EXPECT_EQ(copy.local_gov_codes(),
            (std::map<OrgCode, LocalGovCode>{{Org("0000000000000001"), Lg("131016")},
                                             {Org("0000000000000002"), Lg("011002")}}));
  ASSERT_NE(copy.FindByLocalGovCode(Lg("13101")), nullptr);
  EXPECT_EQ(*copy.FindByLocalGovCode(Lg("13101")), Org("0000000000000001"));
  EXPECT_EQ(*copy.FindByLocalGovCode(Lg("011002")), Org("0000000000000002"));
  EXPECT_EQ(copy.FindByLocalGovCode(Lg("141003")), nullptr);
  EXPECT_EQ(copy.Document(), list.Document());

  // Without any code the document stays format 1, as servers before format 2 read it.
  PermissionList plain(3, 1000, 2000, parsed.rules(), {{Org("0000000000000001"), "municipality"}});
  EXPECT_THAT(plain.Document(), HasSubstr(R"("format":"chukan-permission-list/1")"));
  EXPECT_THAT(plain.Document(), ::testing::Not(HasSubstr("local_gov_code")));
}

// A format 1 document as the hub wrote it before 地方公共団体コード.
constexpr std::string_view kFormat1Document =
    R"({"expires_at_ms":2000,"format":"chukan-permission-list/1","issued_at_ms":1000,)"
    R"("orgs":[{"class":"municipality","org":"0000000000000001"}],"rules":[{"inquirer":)"
    R"("class:municipality","legal_basis":"law","procedure":"JT90000000000101","provider":)"
    R"("class:municipality","tm":"TM00000000000002"}],"version":3})";

std::string WithOrgs(std::string_view format, std::string_view orgs) {
  return std::string(R"({"expires_at_ms":2000,"format":")") + std::string(format) +
         R"(","issued_at_ms":1000,"orgs":[)" + std::string(orgs) + R"(],"rules":[],"version":3})";
}

TEST(PermissionListTest, DocumentsOfBothFormatsAreReadAndBadCodesRefusedByPosition) {
  ASSERT_OK_AND_ASSIGN(PermissionList old, PermissionList::ParseDocument(kFormat1Document));
  EXPECT_EQ(old.classes().size(), 1u);
  EXPECT_TRUE(old.local_gov_codes().empty());
  EXPECT_EQ(old.Document(), kFormat1Document);  // written back the same

  // Format 1 knows no codes.
  EXPECT_THAT(
      PermissionList::ParseDocument(WithOrgs(
          "chukan-permission-list/1",
          R"({"class":"municipality","local_gov_code":"131016","org":"0000000000000001"})")),
      StatusIs(StatusCode::kInvalidArgument,
               "field \"orgs[0]\": unknown field #2 in key order (allowed: org, class)"));
  EXPECT_THAT(PermissionList::ParseDocument(WithOrgs("chukan-permission-list/3", "")),
              StatusIs(StatusCode::kInvalidArgument,
                       "field \"format\": expected \"chukan-permission-list/1\" or "
                       "\"chukan-permission-list/2\""));
  const std::string ok =
      R"({"class":"municipality","local_gov_code":"131016","org":"0000000000000001"})";
  ASSERT_OK(PermissionList::ParseDocument(WithOrgs("chukan-permission-list/2", ok)).status());
  // A wrong check digit, the 5-digit form, a number: refused naming the entry, never the code.
  for (std::string_view bad : {R"("131017")", R"("13101")", "131016"}) {
    const std::string entry = std::string(R"({"class":"municipality","local_gov_code":)") +
                              std::string(bad) + R"(,"org":"0000000000000002"})";
    Result<PermissionList> r =
        PermissionList::ParseDocument(WithOrgs("chukan-permission-list/2", ok + "," + entry));
    EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument, HasSubstr("orgs[1] (0000000000000002)")))
        << bad;
    EXPECT_THAT(r.status().message(), ::testing::Not(HasSubstr("1310"))) << bad;
  }
  EXPECT_THAT(
      PermissionList::ParseDocument(WithOrgs(
          "chukan-permission-list/2",
          ok + R"(,{"class":"municipality","local_gov_code":"131016","org":"0000000000000002"})")),
      StatusIs(StatusCode::kInvalidArgument,
               "orgs[1] (0000000000000002): field \"local_gov_code\": also given for another "
               "organisation"));
}

// A NUL or another control character in the legal basis was accepted, and the hub then
// published a document no server could read (its JSON refuses U+0000).
TEST(PermissionListTest, ALegalBasisWithAControlCharacterIsRefusedByItsPosition) {
  for (std::string bad :
       {std::string("law\0x", 5), std::string("law\tx"), std::string("law\x7f")}) {
    std::string text = std::string(kHeader) +
                       "0000000000000001,JT90000000000101,0000000000000002,TM00000000000002," +
                       bad + "\n";
    EXPECT_THAT(PermissionList::ParseSource(text, "p.csv", Layout()),
                StatusIs(StatusCode::kInvalidArgument,
                         HasSubstr("p.csv:2: column legal_basis: contains a control character")));
  }
}

}  // namespace
}  // namespace chukan::linkage
