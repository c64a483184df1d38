#include "server/batch_lines.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

TEST_F(FromBatchLineTest, HouseholdAndDateRangeAreRefusedAsToday) {
  for (const std::string kind : {"1", "2"}) {
    EXPECT_THAT(
        From(Line(14, kind)),
        StatusIs(StatusCode::kInvalidArgument,
                 "照会条件区分 (condition kind): only \"0\" (本人, the person) is supported "
                 "yet; household inquiries (\"1\", \"2\") are not"));
  }
  std::string range = Line(15, "2");
  range = range.substr(0, range.size() - 1) + "20260101,20260131";
  EXPECT_THAT(
      From(range),
      StatusIs(StatusCode::kInvalidArgument,
               "照会年度区分 (fiscal-year kind): date ranges (\"2\") are not supported yet"));
}

TEST_F(FromBatchLineTest, FiscalYearSelectsTheYearItem) {
  std::string line = Line(15, "1");
  line = line.substr(0, line.size() - 1) + "20250401,20260331";
  ASSERT_OK_AND_ASSIGN(InquiryInput in, From(line));
  ASSERT_EQ(in.query.size(), 1u);
  EXPECT_EQ(in.query.begin()->second, "2025");

  line = line.substr(0, line.size() - 8) + "20260401";
  EXPECT_THAT(From(line), StatusIs(StatusCode::kInvalidArgument,
                                   "照会年度区分 (fiscal-year kind): one fiscal year per line is "
                                   "supported; the period spans more"));
}

}  // namespace
}  // namespace chukan::server
