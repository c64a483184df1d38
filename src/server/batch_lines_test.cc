#include "server/batch_lines.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "layout/catalogue_loader.h"
#include "replica_io/byte_source.h"

namespace chukan::server {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

const OrgCode kInquirer = OrgCode::Parse("0220113112101700").value();
const OrgCode kChiyoda = OrgCode::Parse("1310100000000001").value();

// The documented example line with field `i` (0-based) replaced by `value`.
std::string Line(size_t i = 99, const std::string& value = "") {
  std::vector<std::string> f = {"01",
                                "000000000012345",
                                "",
                                "20261126145450166",
                                "3595115400          ",
                                "",
                                "0220113112101700",
                                "1",
                                "JM01000000121000",
                                "JT01010000000214",
                                "",
                                "",
                                "13101           ",
                                "TM00000000000002",
                                "0",
                                "0",
                                "",
                                ""};
  if (i < f.size()) f[i] = value;
  std::string line;
  for (size_t k = 0; k < f.size(); ++k) line += (k ? "," : "") + f[k];
  return line;
}

BatchInquiry Parsed(const std::string& line) {
  replica_io::StringSource src(line + "\r\n");
  Result<BatchParseResult> r = ParseBatchInquiryFile(src, {});
  EXPECT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(r->errors, IsEmpty());
  return r->inquiries.at(0);
}

const layout::Catalogue& Catalogue() {
  static auto* c = new std::shared_ptr<const layout::Catalogue>(
      layout::LoadCatalogue(CHUKAN_LAYOUT_DIR).value());
  return **c;
}

class FromBatchLineTest : public ::testing::Test {
 protected:
  Result<InquiryInput> From(const std::string& line) {
    return FromBatchLine(Parsed(line), who_, Catalogue(), atena_, local_gov_);
  }

  ClientIdentity who_{kInquirer, TenantId::ForOrg(kInquirer), "zeimu", "system"};
  std::vector<std::string> asked_;  // the 地方公共団体コード the fake registry was asked for
  AtenaResolver atena_ = [](const BatchInquiry& b) -> Result<AtenaNo> {
    return AtenaNo::Parse(b.business_no);
  };
  LocalGovResolver local_gov_ = [this](std::string_view digits) -> Result<OrgCode> {
    asked_.emplace_back(digits);
    if (digits == "13101" || digits == "131016") return kChiyoda;
    if (digits == "99999") return UnavailableError("the hub cannot be reached");
    return NotFoundError("no such code");
  };
};

TEST_F(FromBatchLineTest, TheExampleLineByLocalGovernmentCode) {
  ASSERT_OK_AND_ASSIGN(InquiryInput in, From(Line()));
  EXPECT_EQ(in.atena.str(), "000000000012345");
  EXPECT_EQ(in.provider, kChiyoda);
  EXPECT_EQ(in.procedure.str(), "JT01010000000214");
  EXPECT_EQ(in.tm.str(), "TM00000000000002");
  EXPECT_EQ(in.department, "3595115400");
  EXPECT_EQ(in.user_id, "");
  EXPECT_EQ(in.client, "zeimu");
  EXPECT_THAT(in.query, IsEmpty());
  EXPECT_THAT(asked_, ElementsAre("13101"));
}

TEST_F(FromBatchLineTest, NonDisclosureAndDelegatorsAreCarriedIntoTheInquiry) {
  // The example line has 照会側不開示コード "1" and no 委任元.
  ASSERT_OK_AND_ASSIGN(InquiryInput example, From(Line()));
  EXPECT_TRUE(example.non_disclosure);
  EXPECT_EQ(example.inquirer_delegator, std::nullopt);
  EXPECT_EQ(example.provider_delegator, std::nullopt);
  ASSERT_OK_AND_ASSIGN(InquiryInput open, From(Line(7, "0")));
  EXPECT_FALSE(open.non_disclosure);
  std::string line = Line(10, "0000000000000043");
  line.replace(line.find(",0000000000000043,,") + 18, 0, "0000000000000044");
  ASSERT_OK_AND_ASSIGN(InquiryInput delegated, From(line));
  ASSERT_TRUE(delegated.inquirer_delegator.has_value());
  EXPECT_EQ(delegated.inquirer_delegator->str(), "0000000000000043");
  ASSERT_TRUE(delegated.provider_delegator.has_value());
  EXPECT_EQ(delegated.provider_delegator->str(), "0000000000000044");
  // Still the provider's own code: the 委任元 does not replace it.
  EXPECT_EQ(delegated.provider, kChiyoda);
}

TEST_F(FromBatchLineTest, SixDigitCodeGoesToTheResolverWithItsCheckDigit) {
  ASSERT_OK_AND_ASSIGN(InquiryInput in, From(Line(12, "131016          ")));
  EXPECT_EQ(in.provider, kChiyoda);
  EXPECT_THAT(asked_, ElementsAre("131016"));
}

TEST_F(FromBatchLineTest, SixteenDigitProviderNeedsNoResolver) {
  ASSERT_OK_AND_ASSIGN(InquiryInput in, From(Line(12, "2345670000000002")));
  EXPECT_EQ(in.provider.str(), "2345670000000002");
  EXPECT_THAT(asked_, IsEmpty());
}

TEST_F(FromBatchLineTest, UnknownLocalGovernmentCodeIsALineError) {
  EXPECT_THAT(From(Line(12, "01234")),
              StatusIs(StatusCode::kInvalidArgument,
                       "情報提供者機関コード (provider): the 地方公共団体コード is not in the "
                       "hub's registry"));
  // Another failure of the resolver is passed on as it is.
  EXPECT_THAT(From(Line(12, "99999")),
              StatusIs(StatusCode::kUnavailable, "the hub cannot be reached"));
}

TEST_F(FromBatchLineTest, NoRegistryAnswersNotFound) {
  local_gov_ = NoLocalGovRegistry();
  EXPECT_THAT(From(Line()), StatusIs(StatusCode::kInvalidArgument,
                                     "情報提供者機関コード (provider): the 地方公共団体コード is "
                                     "not in the hub's registry"));
}

TEST_F(FromBatchLineTest, AtenaResolverErrorIsTheLineError) {
  atena_ = [](const BatchInquiry&) -> Result<AtenaNo> {
    return InvalidArgumentError("宛名番号 (business number): not in the tenant's mapping table");
  };
  EXPECT_THAT(From(Line()),
              StatusIs(StatusCode::kInvalidArgument,
                       "宛名番号 (business number): not in the tenant's mapping table"));
}

TEST_F(FromBatchLineTest, AnotherOrganisationsLineIsRefused) {
  EXPECT_THAT(From(Line(6, "0000000000000011")),
              StatusIs(StatusCode::kInvalidArgument,
                       "情報照会者機関コード (inquirer): not this tenant's organisation"));
}

TEST_F(FromBatchLineTest, HouseholdBecomesTheScopeCondition) {
  ASSERT_OK_AND_ASSIGN(InquiryInput in, From(Line(14, "1")));
  EXPECT_EQ(in.query, (std::map<std::string, std::string>{{"_scope", "household"}}));
  EXPECT_EQ(in.atena.str(), "000000000012345");  // the person the household is found from
  std::string code;
  EXPECT_THAT(
      FromBatchLine(Parsed(Line(14, "2")), who_, Catalogue(), atena_, local_gov_, &code),
      StatusIs(StatusCode::kInvalidArgument,
               "照会条件区分 (condition kind): \"2\" (被扶養者を含む, with dependants) is not "
               "supported yet"));
  EXPECT_EQ(code, "UNSUPPORTED_CONDITION");
}

TEST_F(FromBatchLineTest, DateRangeBecomesThePeriod) {
  std::string range = Line(15, "2");
  range = range.substr(0, range.size() - 1) + "20260101,20260131";
  ASSERT_OK_AND_ASSIGN(InquiryInput in, From(range));
  EXPECT_EQ(in.query,
            (std::map<std::string, std::string>{{"_from", "2026-01-01"}, {"_to", "2026-01-31"}}));
}

TEST_F(FromBatchLineTest, FiscalYearsBecomeThePeriodAndTheYearItem) {
  std::string line = Line(15, "1");
  line = line.substr(0, line.size() - 1) + "20250401,20260331";
  ASSERT_OK_AND_ASSIGN(InquiryInput one, From(line));
  EXPECT_EQ(one.query, (std::map<std::string, std::string>{{"_fiscal_item", "IT00000200000001"},
                                                           {"_from", "2025-04-01"},
                                                           {"_to", "2026-03-31"}}));
  // Several fiscal years: from that of 照会開始日付 to that of 照会終了日付.
  line = line.substr(0, line.size() - 17) + "20230615,20260401";
  ASSERT_OK_AND_ASSIGN(InquiryInput years, From(line));
  EXPECT_EQ(years.query, (std::map<std::string, std::string>{{"_fiscal_item", "IT00000200000001"},
                                                             {"_from", "2023-04-01"},
                                                             {"_to", "2027-03-31"}}));
  // No 照会終了日付: the one fiscal year of 照会開始日付.
  line = line.substr(0, line.size() - 17) + "20260331,";
  ASSERT_OK_AND_ASSIGN(InquiryInput open, From(line));
  EXPECT_EQ(open.query, (std::map<std::string, std::string>{{"_fiscal_item", "IT00000200000001"},
                                                            {"_from", "2025-04-01"},
                                                            {"_to", "2026-03-31"}}));
  // A TM without a 年度 item cannot be asked by fiscal year.
  std::string jumin = Line(13, "TM90000000000101");
  jumin = jumin.substr(0, jumin.size() - 4) + ",1,20260401,";
  std::string code;
  EXPECT_THAT(FromBatchLine(Parsed(jumin), who_, Catalogue(), atena_, local_gov_, &code),
              StatusIs(StatusCode::kInvalidArgument,
                       "照会年度区分 (fiscal-year kind): the 特定個人情報名コード (information "
                       "name) has no fiscal-year item to select by"));
  EXPECT_EQ(code, "NO_FISCAL_YEAR_ITEM");
}

}  // namespace
}  // namespace chukan::server
