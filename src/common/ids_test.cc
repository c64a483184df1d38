#include "common/ids.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "common/status_matchers.h"

namespace chukan {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

TEST(IdsTest, OrgCodeAcceptsSixteenDigits) {
  auto r = OrgCode::Parse("1234567890123456");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->str(), "1234567890123456");
}

TEST(IdsTest, OrgCodeRejectsWrongLengthAndNonDigits) {
  EXPECT_THAT(OrgCode::Parse("123456789012345"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("16 digits")));
  EXPECT_THAT(OrgCode::Parse("12345678901234567"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(OrgCode::Parse("123456789012345a"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("character 16")));
  EXPECT_THAT(OrgCode::Parse(""), StatusIs(StatusCode::kInvalidArgument));
}

TEST(IdsTest, PrefixedCodes) {
  EXPECT_TRUE(TmCode::IsValid("TM00000000000002"));
  EXPECT_FALSE(TmCode::IsValid("JT00000000000002"));
  EXPECT_FALSE(TmCode::IsValid("tm00000000000002"));
  EXPECT_FALSE(TmCode::IsValid("TM0000000000002"));
  EXPECT_TRUE(JtCode::IsValid("JT01010000000001"));
  EXPECT_TRUE(JmCode::IsValid("JM01010000000001"));
  EXPECT_FALSE(JmCode::IsValid("JM0101000000000X"));
  EXPECT_TRUE(AtenaNo::IsValid("000000000000001"));
  EXPECT_FALSE(AtenaNo::IsValid("0000000000000001"));
  EXPECT_TRUE(ResidentId::IsValid("12345678901"));
  EXPECT_FALSE(ResidentId::IsValid("1234567890"));
}

TEST(IdsTest, ErrorNamesTheTypeAndEscapesInput) {
  auto r = TmCode::Parse("TM\n0000000000000");
  EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument, HasSubstr("特定個人情報名コード")));
  EXPECT_THAT(r.status().message(), ::testing::Not(HasSubstr("\n")));
}

// A name or a resident's number typed into an identifier field stays out of the message: it
// names the length or the position of the first bad character only.
TEST(IdsTest, ErrorNeverEchoesTheInput) {
  EXPECT_THAT(AtenaNo::Parse("CANARY山田太郎"),
              StatusIs(StatusCode::kInvalidArgument,
                       "atena_no (団体内統合宛名番号): expected 15 digits, got 18 bytes"));
  EXPECT_THAT(AtenaNo::Parse("12345678901234X"),
              StatusIs(StatusCode::kInvalidArgument,
                       "atena_no (団体内統合宛名番号): character 15 is not a digit"));
  // The canary is a valid atena_no, given where another identifier is expected.
  for (const Status& s :
       {OrgCode::Parse("123456789012345").status(), ResidentId::Parse("123456789012345").status(),
        TmCode::Parse("TM123456789012345").status(), TenantId::Parse("t123456789012345").status(),
        OrgCode::Parse("123456789012345X").status()}) {
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), ::testing::Not(HasSubstr("123456789012345"))) << s.message();
  }
  EXPECT_THAT(OrgCode::Parse("123456789012345X"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("character 16 is not a digit")));
}

// Codes from 総務省's published list, with their check digits.
TEST(IdsTest, LocalGovCodeKnownCodes) {
  struct Known {
    const char* six;
    const char* what;
  };
  for (const Known& k : {Known{"131016", "千代田区"}, Known{"011002", "札幌市"},
                         Known{"141003", "横浜市"}, Known{"271004", "大阪市"},
                         Known{"131041", "新宿区 (r = 0)"}, Known{"131130", "渋谷区 (r = 1)"},
                         Known{"131091", "品川区 (r = 10)"}, Known{"130001", "東京都"}}) {
    const std::string six = k.six;
    ASSERT_OK_AND_ASSIGN(LocalGovCode from_six, LocalGovCode::Parse(six));
    EXPECT_EQ(from_six.str(), six) << k.what;
    EXPECT_EQ(from_six.Five(), six.substr(0, 5)) << k.what;
    ASSERT_OK_AND_ASSIGN(LocalGovCode from_five, LocalGovCode::Parse(six.substr(0, 5)));
    EXPECT_EQ(from_five, from_six) << k.what;
    EXPECT_EQ(from_five.str(), six) << k.what;
    EXPECT_EQ(LocalGovCode::CheckDigit(six.substr(0, 5)), six[5]) << k.what;
  }
}

TEST(IdsTest, LocalGovCodeRefusesAWrongCheckDigit) {
  // Every other 6th digit of 千代田区 is refused.
  for (char c = '0'; c <= '9'; ++c) {
    if (c == '6') continue;
    EXPECT_THAT(
        LocalGovCode::Parse(std::string("13101") + c),
        StatusIs(StatusCode::kInvalidArgument,
                 "local_gov_code (地方公共団体コード): the 6th digit is not the check digit "
                 "of the first 5 (検査数字が一致しません)"))
        << c;
  }
  // Two digits swapped (札幌市 011002 → 101002) is caught by the weights.
  EXPECT_THAT(LocalGovCode::Parse("101002"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(LocalGovCode::Parse("141004"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(IdsTest, LocalGovCodeRefusesOtherShapesWithoutQuotingThem) {
  EXPECT_THAT(LocalGovCode::Parse("1310"),
              StatusIs(StatusCode::kInvalidArgument,
                       "local_gov_code (地方公共団体コード): expected 6 digits with the check "
                       "digit, or the leading 5, got 4 bytes"));
  EXPECT_THAT(LocalGovCode::Parse("1310160"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("got 7 bytes")));
  EXPECT_THAT(LocalGovCode::Parse(""), StatusIs(StatusCode::kInvalidArgument, HasSubstr("got 0")));
  // Padding is the caller's to trim.
  EXPECT_THAT(LocalGovCode::Parse("13101 "),
              StatusIs(StatusCode::kInvalidArgument,
                       "local_gov_code (地方公共団体コード): character 6 is not a digit"));
  EXPECT_THAT(LocalGovCode::Parse("1310X"),
              StatusIs(StatusCode::kInvalidArgument,
                       "local_gov_code (地方公共団体コード): character 5 is not a digit"));
  EXPECT_THAT(LocalGovCode::Parse("１３１０１"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("got 15 bytes")));
}

TEST(IdsTest, TenantIdRoundTrip) {
  auto org = OrgCode::Parse("0000000000000131").value();
  TenantId t = TenantId::ForOrg(org);
  EXPECT_EQ(t.str(), "t0000000000000131");
  EXPECT_EQ(t.org(), org);
  EXPECT_EQ(TenantId::Parse("t0000000000000131").value(), t);
  EXPECT_THAT(TenantId::Parse("x0000000000000131"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(TenantId::Parse("t000000000000013"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(IdsTest, RequestIdsAreRandomHex) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    RequestId r = RequestId::Generate();
    EXPECT_EQ(r.str().size(), 32u);
    EXPECT_EQ(r.str().find_first_not_of("0123456789abcdef"), std::string::npos);
    seen.insert(r.str());
  }
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_THAT(RequestId::Parse("short"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(RequestId::Parse("abc def ghi"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_TRUE(RequestId::Parse("abc-def_ghi").ok());
}

TEST(IdsTest, SubjectCodeAndPermitIdAre32LowerHexDigits) {
  ASSERT_OK_AND_ASSIGN(SubjectCode c, SubjectCode::Parse("0123456789abcdef0123456789abcdef"));
  EXPECT_EQ(c.str(), "0123456789abcdef0123456789abcdef");
  EXPECT_THAT(SubjectCode::Parse("0123456789ABCDEF0123456789abcdef"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("character 11")));
  EXPECT_THAT(PermitId::Parse("0123"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("permit_id")));
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    PermitId p = PermitId::Generate();
    EXPECT_TRUE(PermitId::Parse(p.str()).ok()) << p.str();
    seen.insert(p.str());
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(IdsTest, TimeOrderedIdsStartWithTheMillisecondAndSortByIt) {
  // 2026-11-27T00:00:00Z = 1,795,737,600,000 ms = 0x1a21a4d4000, written as 12 hex digits.
  const int64_t ms = 1'795'737'600'000;
  PermitId a = PermitId::GenerateTimeOrdered(ms);
  EXPECT_EQ(a.str().substr(0, 12), "01a21a4d4000") << a.str();
  ASSERT_OK(PermitId::Parse(a.str()).status());
  // The other 80 bits are random: two ids of the same millisecond differ after the prefix.
  PermitId b = PermitId::GenerateTimeOrdered(ms);
  EXPECT_EQ(b.str().substr(0, 12), "01a21a4d4000");
  EXPECT_NE(a.str().substr(12), b.str().substr(12));
  // A later millisecond sorts after, whatever the random part.
  for (int i = 0; i < 50; ++i) {
    EXPECT_LT(PermitId::GenerateTimeOrdered(ms + i).str(),
              PermitId::GenerateTimeOrdered(ms + i + 1).str());
  }
}

}  // namespace
}  // namespace chukan
