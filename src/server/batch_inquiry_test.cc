#include "server/batch_inquiry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <string>
#include <vector>

#include "common/canary_matchers.h"
#include "common/status_matchers.h"
#include "replica_io/test_sources.h"

namespace chukan::server {

// Found by argument-dependent lookup, so gMock prints errors readably.
void PrintTo(const BatchLineError& e, std::ostream* os) {
  *os << "{" << e.line << ", \"" << e.field << "\", \"" << e.reason << "\"}";
}

namespace {

using ::chukan::testing::EchoesNoCanary;
using ::chukan::testing::kCanaryAtenaNo;
using ::chukan::testing::kCanaryName;
using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using Fields = std::array<std::string, kBatchFieldCount>;

std::string Pad(std::string s, size_t width) {
  s.resize(width, ' ');
  return s;
}

// The example line of docs/batch-inquiry-format.md, as municipal tools write it: 統合宛名番号,
// ユーザーID, the 委任元 codes and the dates empty, the provider a 5-digit 地方公共団体コード
// padded with spaces.
const std::string kExampleLine =
    "01,000000000012345,,20261126145450166,3595115400          ,,0220113112101700,1,"
    "JM01000000121000,JT01010000000214,,,13101           ,TM00000000000002,0,0,,";

// A valid line at its full width: every field padded, 16-digit provider, no dates.
Fields ValidFields() {
  return {
      "01",                    // 番号体系
      "000000000004711",       // 宛名番号
      "123456789012345",       // 統合宛名番号
      "20260401093000123",     // 照会依頼日時
      Pad("KAZEI01", 20),      // 情報照会者部署コード
      Pad("tanaka.taro", 20),  // 情報照会者ユーザーID
      "1234560000000001",      // 情報照会者機関コード
      "0",                     // 照会側不開示コード
      "JM01000000121000",      // 事務コード
      "JT01010000000214",      // 事務手続きコード
      Pad("", 16),             // 情報照会者機関コード（委任元）
      Pad("", 16),             // 情報提供者機関コード（委任元）
      "2345670000000002",      // 情報提供者機関コード
      "TM00000000000002",      // 特定個人情報名コード
      "0",                     // 照会条件区分
      "0",                     // 照会年度区分
      Pad("", 8),              // 照会開始日付
      Pad("", 8),              // 照会終了日付
  };
}

std::string Join(const Fields& f) {
  std::string line;
  for (size_t i = 0; i < f.size(); ++i) {
    if (i > 0) line += ',';
    line += f[i];
  }
  return line;
}

std::string ValidLine() { return Join(ValidFields()); }

// The valid line with field `i` replaced by `value`.
std::string LineWith(size_t i, std::string value) {
  Fields f = ValidFields();
  f[i] = std::move(value);
  return Join(f);
}

Result<BatchParseResult> Parse(const std::string& text, BatchOptions options = {}) {
  replica_io::StringSource src(text);
  return ParseBatchInquiryFile(src, options);
}

// The errors of a one-line file.
std::vector<BatchLineError> ErrorsOf(const std::string& line) {
  Result<BatchParseResult> r = Parse(line + "\r\n");
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  EXPECT_THAT(r->inquiries, IsEmpty());
  return r->errors;
}

BatchLineError Err(int64_t line, std::string field, std::string reason) {
  return {line, std::move(field), std::move(reason)};
}

int64_t UnixMillis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Three lines as the tools write them, CRLF after each (the last too).
const std::string& ThreeLineFile() {
  static const std::string* text = [] {
    Fields second = ValidFields();
    second[1] = "4711";  // not zero-padded
    second[2] = "";
    second[3] = "20261231235959999";
    second[5] = "";
    second[7] = "1";
    second[10] = "3456780000000003";
    second[11] = "4567890000000004";
    second[12] = Pad("131016", 16);  // 6-digit 地方公共団体コード
    second[15] = "1";
    second[16] = "20250401";
    second[17] = "20260331";
    Fields third = ValidFields();
    third[1] = "000000000000042";
    third[14] = "1";
    third[15] = "2";
    third[16] = "20260101";
    third[17] = "20260101";
    return new std::string(ValidLine() + "\r\n" + Join(second) + "\r\n" + Join(third) + "\r\n");
  }();
  return *text;
}

void ExpectThreeLines(const BatchParseResult& r) {
  EXPECT_EQ(r.lines, 3);
  EXPECT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.inquiries.size(), 3u);

  const BatchInquiry& a = r.inquiries[0];
  EXPECT_EQ(a.line, 1);
  EXPECT_EQ(a.scheme, "01");
  EXPECT_EQ(a.business_no, "000000000004711");
  ASSERT_TRUE(a.atena_no.has_value());
  EXPECT_EQ(a.atena_no->str(), "123456789012345");
  // 2026-04-01 09:30:00.123 JST = 2026-04-01 00:30:00.123 UTC.
  EXPECT_EQ(UnixMillis(a.requested_at), (1775001600 + 30 * 60) * int64_t{1000} + 123);
  EXPECT_EQ(a.department, "KAZEI01");
  EXPECT_EQ(a.user_id, "tanaka.taro");
  EXPECT_EQ(a.inquirer.str(), "1234560000000001");
  EXPECT_FALSE(a.non_disclosure);
  EXPECT_EQ(a.jm.str(), "JM01000000121000");
  EXPECT_EQ(a.jt.str(), "JT01010000000214");
  EXPECT_EQ(a.inquirer_delegator, std::nullopt);
  EXPECT_EQ(a.provider_delegator, std::nullopt);
  ASSERT_TRUE(a.provider.has_value());
  EXPECT_EQ(a.provider->str(), "2345670000000002");
  EXPECT_EQ(a.provider_local_gov, "");
  EXPECT_EQ(a.tm.str(), "TM00000000000002");
  EXPECT_EQ(a.condition_kind, "0");
  EXPECT_EQ(a.year_kind, "0");
  EXPECT_EQ(a.from, std::nullopt);
  EXPECT_EQ(a.to, std::nullopt);
  // The fields as decoded, padding kept.
  const Fields valid = ValidFields();
  EXPECT_EQ(a.fields, std::vector<std::string>(valid.begin(), valid.end()));

  const BatchInquiry& b = r.inquiries[1];
  EXPECT_EQ(b.line, 2);
  EXPECT_EQ(b.business_no, "000000000004711");  // zero-padded to 15
  EXPECT_EQ(b.fields[1], "4711");               // …but echoed as written
  EXPECT_EQ(b.atena_no, std::nullopt);
  // 2026-12-31 23:59:59.999 JST = 2026-12-31 14:59:59.999 UTC.
  EXPECT_EQ(UnixMillis(b.requested_at), 1798729199999);
  EXPECT_EQ(b.user_id, "");
  EXPECT_TRUE(b.non_disclosure);
  ASSERT_TRUE(b.inquirer_delegator.has_value());
  EXPECT_EQ(b.inquirer_delegator->str(), "3456780000000003");
  ASSERT_TRUE(b.provider_delegator.has_value());
  EXPECT_EQ(b.provider_delegator->str(), "4567890000000004");
  EXPECT_EQ(b.provider, std::nullopt);
  EXPECT_EQ(b.provider_local_gov, "131016");
  EXPECT_EQ(b.year_kind, "1");
  EXPECT_EQ(b.from, layout::Date::FromYmd(2025, 4, 1));
  EXPECT_EQ(b.to, layout::Date::FromYmd(2026, 3, 31));

  const BatchInquiry& c = r.inquiries[2];
  EXPECT_EQ(c.line, 3);
  EXPECT_EQ(c.business_no, "000000000000042");
  EXPECT_EQ(c.atena_no->str(), "123456789012345");
  EXPECT_EQ(c.condition_kind, "1");
  EXPECT_EQ(c.year_kind, "2");
  EXPECT_EQ(c.from, layout::Date::FromYmd(2026, 1, 1));
  EXPECT_EQ(c.to, c.from);  // a one-day range is fine
}

TEST(BatchInquiryTest, FullWidthLineHasTheDocumentedWidth) {
  EXPECT_EQ(ValidLine().size(), kBatchLineWidth);
}

TEST(BatchInquiryTest, ParsesTheDocumentedExampleLine) {
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(kExampleLine + "\r\n"));
  EXPECT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.inquiries.size(), 1u);
  const BatchInquiry& b = r.inquiries[0];
  EXPECT_EQ(b.scheme, "01");
  EXPECT_EQ(b.business_no, "000000000012345");
  EXPECT_EQ(b.atena_no, std::nullopt);
  // 2026-11-26 14:54:50.166 JST = 05:54:50.166 UTC.
  EXPECT_EQ(UnixMillis(b.requested_at), 1795672490166);
  EXPECT_EQ(b.department, "3595115400");
  EXPECT_EQ(b.user_id, "");
  EXPECT_EQ(b.inquirer.str(), "0220113112101700");
  EXPECT_TRUE(b.non_disclosure);
  EXPECT_EQ(b.jm.str(), "JM01000000121000");
  EXPECT_EQ(b.jt.str(), "JT01010000000214");
  EXPECT_EQ(b.inquirer_delegator, std::nullopt);
  EXPECT_EQ(b.provider_delegator, std::nullopt);
  EXPECT_EQ(b.provider, std::nullopt);
  EXPECT_EQ(b.provider_local_gov, "13101");
  EXPECT_EQ(b.tm.str(), "TM00000000000002");
  EXPECT_EQ(b.condition_kind, "0");
  EXPECT_EQ(b.year_kind, "0");
  EXPECT_EQ(b.from, std::nullopt);
  EXPECT_EQ(b.to, std::nullopt);
  ASSERT_EQ(b.fields.size(), kBatchFieldCount);
  EXPECT_EQ(b.fields[4], "3595115400          ");
  EXPECT_EQ(b.fields[12], "13101           ");
  EXPECT_EQ(b.fields[17], "");
}

TEST(BatchInquiryTest, ParsesValidUtf8File) {
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(ThreeLineFile()));
  ExpectThreeLines(r);
}

TEST(BatchInquiryTest, ParsesValidCp932File) {
  // Every valid value is ASCII, so a valid CP932 file has the same bytes.
  BatchOptions options;
  options.charset = replica_io::Charset::kCp932;
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(ThreeLineFile(), options));
  ExpectThreeLines(r);
}

TEST(BatchInquiryTest, OptionalFieldsEmptyBlankOrPadded) {
  // 統合宛名番号, ユーザーID, the 委任元 codes and the dates: empty, all spaces, or a value.
  for (const std::string& blank : {std::string(), std::string(" "), Pad("", 16)}) {
    SCOPED_TRACE("blank of " + std::to_string(blank.size()));
    Fields f = ValidFields();
    f[2] = blank.substr(0, 15);
    f[5] = blank;
    f[10] = blank;
    f[11] = blank;
    f[16] = blank.substr(0, 8);
    f[17] = blank.substr(0, 8);
    ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(Join(f) + "\r\n"));
    EXPECT_THAT(r.errors, IsEmpty());
    ASSERT_EQ(r.inquiries.size(), 1u);
    EXPECT_EQ(r.inquiries[0].atena_no, std::nullopt);
    EXPECT_EQ(r.inquiries[0].user_id, "");
    EXPECT_EQ(r.inquiries[0].inquirer_delegator, std::nullopt);
    EXPECT_EQ(r.inquiries[0].from, std::nullopt);
  }
  // Padding left out of the padded fields is fine too.
  Fields f = ValidFields();
  f[4] = "KAZEI01";
  f[5] = "sato";
  f[12] = "13101";
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(Join(f)));
  EXPECT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.inquiries.size(), 1u);
  EXPECT_EQ(r.inquiries[0].department, "KAZEI01");
  EXPECT_EQ(r.inquiries[0].user_id, "sato");
  EXPECT_EQ(r.inquiries[0].provider_local_gov, "13101");
}

TEST(BatchInquiryTest, Cp932TextIsDecodedBeforeChecking) {
  // ユーザーID "山田" in CP932 (0x8E 0x52 0x93 0x63) padded to 20 characters: decoded, its width
  // is right (2 + 18, where the 22 bytes would be too wide), so only its characters are refused.
  const std::string line = LineWith(5, "\x8E\x52\x93\x63" + std::string(18, ' '));
  BatchOptions cp932;
  cp932.charset = replica_io::Charset::kCp932;
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(ValidLine() + "\r\n" + line + "\r\n", cp932));
  EXPECT_EQ(r.lines, 2);
  ASSERT_EQ(r.inquiries.size(), 1u);
  EXPECT_EQ(r.inquiries[0].line, 1);
  EXPECT_THAT(r.errors,
              ElementsAre(Err(2, "情報照会者ユーザーID (user id)",
                              "only A-Z a-z 0-9 . _ @ - allowed (padding spaces at the end)")));

  // The same bytes read as UTF-8 are not UTF-8.
  ASSERT_OK_AND_ASSIGN(BatchParseResult u, Parse(ValidLine() + "\n" + line + "\n"));
  EXPECT_THAT(u.errors, ElementsAre(Err(2, "レコード (record)", "invalid UTF-8")));
}

TEST(BatchInquiryTest, InvalidCp932IsAFileError) {
  BatchOptions cp932;
  cp932.charset = replica_io::Charset::kCp932;
  EXPECT_THAT(Parse(ValidLine() + "\r\n" + LineWith(5, "\x81\x20" + std::string(19, ' ')), cp932),
              StatusIs(StatusCode::kInvalidArgument,
                       "batch inquiry file: line 2, byte 75: invalid Shift_JIS (CP932) byte "
                       "sequence"));
}

TEST(BatchInquiryTest, AcceptsCrlfLfMixedAndNoFinalLineEnding) {
  const std::string l = ValidLine();
  for (const std::string& text :
       {l + "\r\n" + l + "\r\n", l + "\n" + l + "\n", l + "\r\n" + l + "\n" + l, l + "\r\n" + l}) {
    ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(text));
    EXPECT_THAT(r.errors, IsEmpty()) << text;
    EXPECT_EQ(r.lines, static_cast<int64_t>(r.inquiries.size()));
    EXPECT_GE(r.lines, 2);
  }
}

TEST(BatchInquiryTest, LoneCarriageReturnIsPartOfTheField) {
  // "...\r" not followed by LF: the CR belongs to 照会終了日付, which is then not a date.
  EXPECT_THAT(
      ErrorsOf(ValidLine() + "\r" + ValidLine()),
      ElementsAre(Err(1, "レコード (record)", "18 comma-separated fields expected, got 35")));
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(ValidLine() + "\r"));
  EXPECT_THAT(r.errors,
              ElementsAre(Err(1, "照会終了日付 (to)", "at most 8 characters expected, got 9")));
}

TEST(BatchInquiryTest, SkipsUtf8ByteOrderMark) {
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse("\xEF\xBB\xBF" + ValidLine() + "\r\n"));
  EXPECT_THAT(r.errors, IsEmpty());
  EXPECT_EQ(r.inquiries.size(), 1u);
}

TEST(BatchInquiryTest, BadLineDoesNotStopTheOthers) {
  const std::string text =
      ValidLine() + "\r\n" + LineWith(9, "JX00000000000001") + "\r\n" + ValidLine() + "\r\n";
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(text));
  EXPECT_EQ(r.lines, 3);
  ASSERT_EQ(r.inquiries.size(), 2u);
  EXPECT_EQ(r.inquiries[0].line, 1);
  EXPECT_EQ(r.inquiries[1].line, 3);
  EXPECT_THAT(r.errors,
              ElementsAre(Err(2, "事務手続きコード (procedure)", "must be \"JT\" + 14 digits")));
}

struct BadFieldCase {
  size_t index;
  std::string value;
  std::string field;
  std::string reason;
};

TEST(BatchInquiryTest, EachBadFieldIsNamedWithItsReason) {
  const std::string kProviderForm =
      "must be a 16-digit 機関コード, or a 5- or 6-digit 地方公共団体コード padded with spaces";
  const std::vector<BadFieldCase> cases = {
      {0, "1", "番号体系 (numbering scheme)", "must be two digits, 01-99 (01: 宛名番号)"},
      {0, "00", "番号体系 (numbering scheme)", "must be two digits, 01-99 (01: 宛名番号)"},
      {0, "", "番号体系 (numbering scheme)", "must be two digits, 01-99 (01: 宛名番号)"},
      {1, "12A", "宛名番号 (business number)", "must be 1-15 digits (left-padded with 0)"},
      {1, " 123", "宛名番号 (business number)", "must be 1-15 digits (left-padded with 0)"},
      {1, "12 3", "宛名番号 (business number)", "must be 1-15 digits (left-padded with 0)"},
      {1, "", "宛名番号 (business number)", "required, but empty or blank"},
      {1, Pad("", 15), "宛名番号 (business number)", "required, but empty or blank"},
      {2, "12345678901234X", "統合宛名番号 (atena_no)", "must be 15 digits, or empty"},
      {2, "12345", "統合宛名番号 (atena_no)", "must be 15 digits, or empty"},
      {3, "2026040109300012X", "照会依頼日時 (requested at)",
       "must be YYYYMMDDhhmmssSSS (17 digits)"},
      {3, "20260401093000", "照会依頼日時 (requested at)", "must be YYYYMMDDhhmmssSSS (17 digits)"},
      {3, "20260230120000000", "照会依頼日時 (requested at)", "not a real date"},
      // Found by fuzzing: year 8026 overflowed the 64-bit nanosecond time point (UB).
      {3, "80261126145450166", "照会依頼日時 (requested at)", "year must be 1900–2199"},
      {3, "18991231235959999", "照会依頼日時 (requested at)", "year must be 1900–2199"},
      {3, "20260401240000000", "照会依頼日時 (requested at)", "not a real time of day"},
      {3, "20260401126000000", "照会依頼日時 (requested at)", "not a real time of day"},
      {4, "", "情報照会者部署コード (department)", "required, but empty or blank"},
      {4, Pad("", 20), "情報照会者部署コード (department)", "required, but empty or blank"},
      {4, Pad(" KAZEI", 20), "情報照会者部署コード (department)",
       "must be left-aligned (padding spaces go on the right)"},
      {4, Pad("KA-ZEI", 20), "情報照会者部署コード (department)",
       "only A-Z a-z 0-9 allowed (padding spaces at the end)"},
      {5, Pad("tanaka taro", 20), "情報照会者ユーザーID (user id)",
       "only A-Z a-z 0-9 . _ @ - allowed (padding spaces at the end)"},
      {5, Pad("a\tb", 20), "情報照会者ユーザーID (user id)",
       "only A-Z a-z 0-9 . _ @ - allowed (padding spaces at the end)"},
      {6, "123456000000000X", "情報照会者機関コード (inquirer)", "must be 16 digits"},
      {6, "", "情報照会者機関コード (inquirer)", "required, but empty or blank"},
      {7, "2", "照会側不開示コード (non-disclosure)", "must be \"0\" or \"1\""},
      {7, "", "照会側不開示コード (non-disclosure)", "must be \"0\" or \"1\""},
      {8, "JT01010000000214", "事務コード (affair)", "must be \"JM\" + 14 digits"},
      {9, "jt01010000000214", "事務手続きコード (procedure)", "must be \"JT\" + 14 digits"},
      {9, Pad("JT0101", 16), "事務手続きコード (procedure)", "must be \"JT\" + 14 digits"},
      {10, "12345600000000 1", "情報照会者機関コード（委任元） (inquirer's delegator)",
       "must be 16 digits, or empty"},
      {11, Pad("13101", 16), "情報提供者機関コード（委任元） (provider's delegator)",
       "must be 16 digits, or empty"},
      {12, Pad("", 16), "情報提供者機関コード (provider)", "required, but empty or blank"},
      {12, "", "情報提供者機関コード (provider)", "required, but empty or blank"},
      {12, Pad("1310", 16), "情報提供者機関コード (provider)", kProviderForm},
      {12, Pad("1310167", 16), "情報提供者機関コード (provider)", kProviderForm},
      {12, Pad(" 13101", 16), "情報提供者機関コード (provider)", kProviderForm},
      {12, Pad("1310A", 16), "情報提供者機関コード (provider)", kProviderForm},
      {12, "234567000000000X", "情報提供者機関コード (provider)", kProviderForm},
      {13, "TM0000000000000A", "特定個人情報名コード (information name)",
       "must be \"TM\" + 14 digits"},
      {14, "3", "照会条件区分 (condition kind)", "must be one of 0, 1, 2"},
      {14, " ", "照会条件区分 (condition kind)", "must be one of 0, 1, 2"},
      {15, "3", "照会年度区分 (fiscal-year kind)", "must be one of 0, 1, 2"},
      {15, "", "照会年度区分 (fiscal-year kind)", "must be one of 0, 1, 2"},
  };
  for (const BadFieldCase& c : cases) {
    SCOPED_TRACE("field " + std::to_string(c.index) + " = \"" + c.value + "\"");
    EXPECT_THAT(ErrorsOf(LineWith(c.index, c.value)), ElementsAre(Err(1, c.field, c.reason)));
  }
}

TEST(BatchInquiryTest, BadDates) {
  Fields f = ValidFields();
  f[15] = "2";
  f[16] = "20260230";  // no 30 February
  f[17] = "2026043X";
  EXPECT_THAT(ErrorsOf(Join(f)),
              ElementsAre(Err(1, "照会開始日付 (from)", "not a real date"),
                          Err(1, "照会終了日付 (to)", "must be YYYYMMDD (8 digits), or empty")));
  f[16] = "20240229";  // leap day
  f[17] = "20250229";
  EXPECT_THAT(ErrorsOf(Join(f)), ElementsAre(Err(1, "照会終了日付 (to)", "not a real date")));
  f[17] = "2025031";
  EXPECT_THAT(ErrorsOf(Join(f)),
              ElementsAre(Err(1, "照会終了日付 (to)", "must be YYYYMMDD (8 digits), or empty")));
}

TEST(BatchInquiryTest, StartAfterEnd) {
  Fields f = ValidFields();
  f[15] = "2";
  f[16] = "20260401";
  f[17] = "20260331";
  EXPECT_THAT(ErrorsOf(Join(f)),
              ElementsAre(Err(1, "照会終了日付 (to)", "must not be before 照会開始日付 (from)")));
}

TEST(BatchInquiryTest, FiscalYearKindRules) {
  Fields f = ValidFields();
  f[15] = "0";
  f[16] = "20260401";
  EXPECT_THAT(ErrorsOf(Join(f)), ElementsAre(Err(1, "照会開始日付 (from)",
                                                 "must be empty when 照会年度区分 is \"0\"")));
  f[16] = "";
  f[17] = "20260401";
  EXPECT_THAT(ErrorsOf(Join(f)),
              ElementsAre(Err(1, "照会終了日付 (to)", "must be empty when 照会年度区分 is \"0\"")));
  f[15] = "1";
  EXPECT_THAT(ErrorsOf(Join(f)),
              ElementsAre(Err(1, "照会開始日付 (from)", "required when 照会年度区分 is \"1\"")));
  f[15] = "2";
  f[17] = "";
  EXPECT_THAT(ErrorsOf(Join(f)),
              ElementsAre(Err(1, "照会開始日付 (from)", "required when 照会年度区分 is \"2\""),
                          Err(1, "照会終了日付 (to)", "required when 照会年度区分 is \"2\"")));
  // Kind 1 with only a start date is valid.
  f[15] = "1";
  f[16] = "20260401";
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(Join(f)));
  ASSERT_EQ(r.inquiries.size(), 1u);
  EXPECT_EQ(r.inquiries[0].from, layout::Date::FromYmd(2026, 4, 1));
  EXPECT_EQ(r.inquiries[0].to, std::nullopt);
}

TEST(BatchInquiryTest, OtherNumberingSchemesParse) {
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(LineWith(0, "07")));
  ASSERT_EQ(r.inquiries.size(), 1u);
  EXPECT_EQ(r.inquiries[0].scheme, "07");
}

TEST(BatchInquiryTest, ResidentNumbersAreNeverQuoted) {
  for (const auto& [index, value] :
       std::vector<std::pair<size_t, std::string>>{{1, "98765X"}, {2, "98765432109876X"}}) {
    std::vector<BatchLineError> errors = ErrorsOf(LineWith(index, value));
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_THAT(errors[0].reason, ::testing::Not(HasSubstr("98765")));
  }
}

// Canaries in every field that can hold one: each error names the line and the field, and its
// reason says what was expected — never the value or a piece of it.
TEST(BatchInquiryTest, ReasonsNeverEchoTheValue) {
  const std::string name(kCanaryName);  // 10 characters
  const std::string number(kCanaryAtenaNo);
  auto spaces = [](size_t n) { return std::string(n, ' '); };
  const std::vector<BadFieldCase> cases = {
      {1, name + spaces(5), "宛名番号 (business number)",
       "must be 1-15 digits (left-padded with 0)"},
      {1, number.substr(0, 14) + "X", "宛名番号 (business number)",
       "must be 1-15 digits (left-padded with 0)"},
      {2, name + spaces(5), "統合宛名番号 (atena_no)", "must be 15 digits, or empty"},
      {2, number.substr(0, 14) + "X", "統合宛名番号 (atena_no)", "must be 15 digits, or empty"},
      {3, name + spaces(7), "照会依頼日時 (requested at)", "must be YYYYMMDDhhmmssSSS (17 digits)"},
      {3, number.substr(0, 14) + "000", "照会依頼日時 (requested at)", "not a real date"},
      {3, "20260401" + number.substr(4, 6) + "000", "照会依頼日時 (requested at)",
       "not a real time of day"},
      {4, name, "情報照会者部署コード (department)",
       "only A-Z a-z 0-9 allowed (padding spaces at the end)"},
      {4, " CANARY" + spaces(3), "情報照会者部署コード (department)",
       "must be left-aligned (padding spaces go on the right)"},
      {5, name + spaces(10), "情報照会者ユーザーID (user id)",
       "only A-Z a-z 0-9 . _ @ - allowed (padding spaces at the end)"},
      {5, " " + number + spaces(4), "情報照会者ユーザーID (user id)",
       "must be left-aligned (padding spaces go on the right)"},
      {6, "X" + number, "情報照会者機関コード (inquirer)", "must be 16 digits"},
      {6, name + spaces(6), "情報照会者機関コード (inquirer)", "must be 16 digits"},
      {8, "JM" + name + spaces(4), "事務コード (affair)", "must be \"JM\" + 14 digits"},
      {9, "JT" + number.substr(0, 13) + "X", "事務手続きコード (procedure)",
       "must be \"JT\" + 14 digits"},
      {10, "X" + number, "情報照会者機関コード（委任元） (inquirer's delegator)",
       "must be 16 digits, or empty"},
      {11, name + spaces(6), "情報提供者機関コード（委任元） (provider's delegator)",
       "must be 16 digits, or empty"},
      {12, "X" + number, "情報提供者機関コード (provider)",
       "must be a 16-digit 機関コード, or a 5- or 6-digit 地方公共団体コード padded with spaces"},
      {13, "TM" + name + spaces(4), "特定個人情報名コード (information name)",
       "must be \"TM\" + 14 digits"},
      {14, "山", "照会条件区分 (condition kind)", "must be one of 0, 1, 2"},
      {16, "CANARY山田", "照会開始日付 (from)", "must be YYYYMMDD (8 digits), or empty"},
      {17, number.substr(0, 8), "照会終了日付 (to)", "not a real date"},
      // Too wide: the width error counts characters.
      {0, name, "番号体系 (numbering scheme)", "at most 2 characters expected, got 10"},
      {2, number + "6", "統合宛名番号 (atena_no)", "at most 15 characters expected, got 16"},
      {1, number + "6", "宛名番号 (business number)", "at most 15 characters expected, got 16"},
  };
  for (const BadFieldCase& c : cases) {
    SCOPED_TRACE("field " + std::to_string(c.index) + " = \"" + c.value + "\"");
    const std::vector<BatchLineError> errors = ErrorsOf(LineWith(c.index, c.value));
    EXPECT_THAT(errors, ElementsAre(Err(1, c.field, c.reason)));
    for (const BatchLineError& e : errors) EXPECT_THAT(e.reason, EchoesNoCanary());
  }

  // Whole-line problems.
  std::vector<BatchLineError> errors = ErrorsOf(name + "," + number);
  EXPECT_THAT(errors, ElementsAre(Err(1, "レコード (record)",
                                      "18 comma-separated fields expected, got 2")));
  errors = ErrorsOf(name + "\xFF," + number);
  EXPECT_THAT(errors, ElementsAre(Err(1, "レコード (record)", "invalid UTF-8")));
  // A period that ends before it starts: neither date is quoted.
  Fields f = ValidFields();
  f[15] = "2";
  f[16] = "20260401";
  f[17] = "20260331";
  errors = ErrorsOf(Join(f));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].reason, ::testing::Not(HasSubstr("2026")));

  // Every field a canary (the line is as wide as a valid one): one error per field, none quoting.
  Fields all;
  for (size_t i = 0; i < kBatchFieldCount; ++i) {
    all[i] = (number + number).substr(0, ValidFields()[i].size());
  }
  errors = ErrorsOf(Join(all));
  EXPECT_EQ(errors.size(), 6u);
  for (const BatchLineError& e : errors) {
    EXPECT_EQ(e.line, 1);
    EXPECT_THAT(e.reason, EchoesNoCanary()) << e.field;
  }
}

// File-level errors name the line (and, for bad Shift_JIS, the byte), not the bytes found.
TEST(BatchInquiryTest, FileErrorsNeverEchoTheInput) {
  BatchOptions options;
  options.charset = replica_io::Charset::kCp932;
  // "CANARY山田太郎" in CP932, then 0x85 0x40, which CP932 does not define.
  const std::string cp932_name = "CANARY\x8E\x52\x93\x63\x91\xBE\x98\x59";
  Result<BatchParseResult> r = Parse(ValidLine() + "\r\n" + cp932_name + "\x85\x40\r\n", options);
  EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument,
                          "batch inquiry file: line 2, byte 15: invalid Shift_JIS (CP932) byte "
                          "sequence"));
  EXPECT_THAT(r.status().message(), EchoesNoCanary());

  options = BatchOptions{};
  options.max_line_bytes = 20;
  r = Parse(std::string(kCanaryName) + std::string(kCanaryAtenaNo) + "\r\n", options);
  EXPECT_THAT(r, StatusIs(StatusCode::kResourceExhausted,
                          "batch inquiry file: line 1: longer than 20 bytes"));
}

TEST(BatchInquiryTest, WrongWidths) {
  EXPECT_THAT(ErrorsOf(LineWith(9, "JT010100000002141")),
              ElementsAre(Err(1, "事務手続きコード (procedure)",
                              "at most 16 characters expected, got 17")));
  EXPECT_THAT(ErrorsOf(LineWith(4, Pad("KAZEI01", 21))),
              ElementsAre(Err(1, "情報照会者部署コード (department)",
                              "at most 20 characters expected, got 21")));
  // Width counts characters, not bytes: a full-width digit is 1 character (3 bytes).
  EXPECT_THAT(ErrorsOf(LineWith(14, "０")),
              ElementsAre(Err(1, "照会条件区分 (condition kind)", "must be one of 0, 1, 2")));
  // Several wrong fields on one line: one error each, in field order.
  Fields f = ValidFields();
  f[6] = "123";
  f[12] = "23456700000000021";
  EXPECT_THAT(ErrorsOf(Join(f)),
              ElementsAre(Err(1, "情報照会者機関コード (inquirer)", "must be 16 digits"),
                          Err(1, "情報提供者機関コード (provider)",
                              "at most 16 characters expected, got 17")));
}

TEST(BatchInquiryTest, WrongFieldCountAndEmptyLine) {
  Fields f = ValidFields();
  std::string short_line = Join(f);
  short_line.resize(short_line.rfind(','));  // drop the last field
  const std::string text = short_line + "\r\n\r\n" + ValidLine() + ",\r\n";
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(text));
  EXPECT_EQ(r.lines, 3);
  EXPECT_THAT(r.inquiries, IsEmpty());
  EXPECT_THAT(
      r.errors,
      ElementsAre(Err(1, "レコード (record)", "18 comma-separated fields expected, got 17"),
                  Err(2, "レコード (record)", "empty line"),
                  Err(3, "レコード (record)", "18 comma-separated fields expected, got 19")));
  // The old 19-field layout is refused as a whole.
  EXPECT_THAT(
      ErrorsOf(ValidLine() + ","),
      ElementsAre(Err(1, "レコード (record)", "18 comma-separated fields expected, got 19")));
}

TEST(BatchInquiryTest, TooManyLinesIsAFileError) {
  BatchOptions options;
  options.max_lines = 3;
  std::string text;
  for (int i = 0; i < 3; ++i) text += ValidLine() + "\r\n";
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(text, options));
  EXPECT_EQ(r.inquiries.size(), 3u);
  // A fourth line, even an empty one, is over the limit.
  EXPECT_THAT(Parse(text + "\r\n", options),
              StatusIs(StatusCode::kResourceExhausted, "batch inquiry file: more than 3 lines"));
  EXPECT_THAT(Parse(text + ValidLine(), options),
              StatusIs(StatusCode::kResourceExhausted, "batch inquiry file: more than 3 lines"));
}

TEST(BatchInquiryTest, OverlongLineIsAFileError) {
  BatchOptions options;
  options.max_line_bytes = kBatchLineWidth;
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(ValidLine() + "\r\n", options));
  EXPECT_EQ(r.inquiries.size(), 1u);
  EXPECT_THAT(Parse(ValidLine() + "\r\n" + ValidLine() + " \r\n", options),
              StatusIs(StatusCode::kResourceExhausted,
                       "batch inquiry file: line 2: longer than 237 bytes"));
  // A line with no end at all (a binary file, say) stops at the limit, not at end of input.
  const std::string huge(10 << 20, 'x');
  EXPECT_THAT(Parse(huge), StatusIs(StatusCode::kResourceExhausted,
                                    "batch inquiry file: line 1: longer than 1024 bytes"));
}

TEST(BatchInquiryTest, EmptyFileIsAFileError) {
  EXPECT_THAT(Parse(""), StatusIs(StatusCode::kInvalidArgument, "batch inquiry file: empty"));
  EXPECT_THAT(Parse("\xEF\xBB\xBF"),
              StatusIs(StatusCode::kInvalidArgument, "batch inquiry file: empty"));
}

TEST(BatchInquiryTest, SourceErrorIsAFileError) {
  const std::string text = ValidLine() + "\r\n";  // the source keeps a view of it
  replica_io::testing::FailingSource src(text, InternalError("upload.csv: read: connection reset"));
  EXPECT_THAT(
      ParseBatchInquiryFile(src, {}),
      StatusIs(StatusCode::kInternal, "batch inquiry file: upload.csv: read: connection reset"));
}

TEST(BatchInquiryTest, SameResultWhateverTheReadSizes) {
  const std::string text =
      ThreeLineFile() + "\r\n" + LineWith(3, "20260230120000000") + "\r\n" + kExampleLine + "\r\n";
  for (unsigned seed = 1; seed <= 20; ++seed) {
    replica_io::testing::ChunkedSource src(text, 7, seed);
    ASSERT_OK_AND_ASSIGN(BatchParseResult r, ParseBatchInquiryFile(src, {}));
    EXPECT_EQ(r.lines, 6);
    EXPECT_EQ(r.inquiries.size(), 4u);
    EXPECT_THAT(r.errors, ElementsAre(Err(4, "レコード (record)", "empty line"),
                                      Err(5, "照会依頼日時 (requested at)", "not a real date")));
  }
}

}  // namespace
}  // namespace chukan::server
