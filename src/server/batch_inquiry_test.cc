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

// A valid line: 番号体系 2, no delegators, no dates.
Fields ValidFields() {
  return {
      "2",                     // 番号体系
      Pad("", 15),             // 宛名番号
      "123456789012345",       // 統合宛名番号
      "20260401093000",        // 照会依頼日時
      Pad("KAZEI01", 10),      // 部署コード
      Pad("tanaka.taro", 20),  // ユーザーID
      "1234560000000001",      // 照会者機関コード
      "0",                     // 不開示コード
      "JM00000000000001",      // 事務コード
      "JT00000000000001",      // 事務手続コード
      Pad("", 16),             // 委任元1
      Pad("", 16),             // 委任元2
      Pad("", 16),             // 委任元3
      "2345670000000002",      // 提供者機関コード
      "TM00000000000002",      // 特定個人情報名コード
      "01",                    // 照会条件区分
      "0",                     // 照会年度区分
      Pad("", 8),              // 照会開始日付
      Pad("", 8),              // 照会終了日付
  };
}

std::string Join(const Fields& f) {
  std::string line;
  for (const std::string& v : f) {
    if (!line.empty()) line += ',';
    line += v;
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
  Result<BatchParseResult> r = Parse(line + "\n");
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  EXPECT_THAT(r->inquiries, IsEmpty());
  return r->errors;
}

BatchLineError Err(int64_t line, std::string field, std::string reason) {
  return {line, std::move(field), std::move(reason)};
}

int64_t UnixSeconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

const std::string& ThreeLineFile() {
  static const std::string* text = [] {
    Fields second = ValidFields();
    second[0] = "1";
    second[1] = Pad("4711", 15);
    second[2] = Pad("", 15);
    second[3] = "20261231235959";
    second[7] = "1";
    second[10] = "3456780000000003";
    second[12] = "4567890000000004";
    second[16] = "1";
    second[17] = "20250401";
    second[18] = "20260331";
    Fields third = ValidFields();
    third[1] = Pad("000000000000042", 15);
    third[15] = "03";
    third[16] = "2";
    third[17] = "20260101";
    third[18] = "20260101";
    return new std::string(ValidLine() + "\n" + Join(second) + "\n" + Join(third) + "\n");
  }();
  return *text;
}

void ExpectThreeLines(const BatchParseResult& r) {
  EXPECT_EQ(r.lines, 3);
  EXPECT_THAT(r.errors, IsEmpty());
  ASSERT_EQ(r.inquiries.size(), 3u);

  const BatchInquiry& a = r.inquiries[0];
  EXPECT_EQ(a.line, 1);
  EXPECT_EQ(a.scheme, NumberingScheme::kAtenaNo);
  EXPECT_EQ(a.business_no, std::nullopt);
  ASSERT_TRUE(a.atena_no.has_value());
  EXPECT_EQ(a.atena_no->str(), "123456789012345");
  // 2026-04-01 09:30:00 JST = 2026-04-01 00:30:00 UTC.
  EXPECT_EQ(UnixSeconds(a.requested_at), 1775001600 + 30 * 60);
  EXPECT_EQ(a.department, "KAZEI01");
  EXPECT_EQ(a.user_id, "tanaka.taro");
  EXPECT_EQ(a.inquirer.str(), "1234560000000001");
  EXPECT_FALSE(a.non_disclosure);
  EXPECT_EQ(a.jm.str(), "JM00000000000001");
  EXPECT_EQ(a.jt.str(), "JT00000000000001");
  EXPECT_THAT(a.delegators, IsEmpty());
  EXPECT_EQ(a.provider.str(), "2345670000000002");
  EXPECT_EQ(a.tm.str(), "TM00000000000002");
  EXPECT_EQ(a.condition_kind, "01");
  EXPECT_EQ(a.year_kind, "0");
  EXPECT_EQ(a.from, std::nullopt);
  EXPECT_EQ(a.to, std::nullopt);

  const BatchInquiry& b = r.inquiries[1];
  EXPECT_EQ(b.line, 2);
  EXPECT_EQ(b.scheme, NumberingScheme::kBusinessNo);
  EXPECT_EQ(b.business_no, "4711");
  EXPECT_EQ(b.atena_no, std::nullopt);
  // 2026-12-31 23:59:59 JST = 2026-12-31 14:59:59 UTC.
  EXPECT_EQ(UnixSeconds(b.requested_at), 1798729199);
  EXPECT_TRUE(b.non_disclosure);
  // Blank 委任元2 dropped; order kept.
  ASSERT_EQ(b.delegators.size(), 2u);
  EXPECT_EQ(b.delegators[0].str(), "3456780000000003");
  EXPECT_EQ(b.delegators[1].str(), "4567890000000004");
  EXPECT_EQ(b.year_kind, "1");
  EXPECT_EQ(b.from, layout::Date::FromYmd(2025, 4, 1));
  EXPECT_EQ(b.to, layout::Date::FromYmd(2026, 3, 31));

  const BatchInquiry& c = r.inquiries[2];
  EXPECT_EQ(c.line, 3);
  EXPECT_EQ(c.business_no, "000000000000042");  // leading zeros kept: it is a code
  EXPECT_EQ(c.atena_no->str(), "123456789012345");
  EXPECT_EQ(c.condition_kind, "03");
  EXPECT_EQ(c.year_kind, "2");
  EXPECT_EQ(c.from, layout::Date::FromYmd(2026, 1, 1));
  EXPECT_EQ(c.to, c.from);  // a one-day range is fine
}

TEST(BatchInquiryTest, ValidLineHasTheDocumentedWidth) {
  EXPECT_EQ(ValidLine().size(), kBatchLineWidth);
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

TEST(BatchInquiryTest, Cp932TextIsDecodedBeforeChecking) {
  // ユーザーID "山田" in CP932 (0x8E 0x52 0x93 0x63) padded to 20 characters: decoded, its width
  // is right (2 + 18, where the 22 bytes would be wrong), so only its characters are refused.
  const std::string line = LineWith(5, "\x8E\x52\x93\x63" + std::string(18, ' '));
  BatchOptions cp932;
  cp932.charset = replica_io::Charset::kCp932;
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(ValidLine() + "\r\n" + line + "\r\n", cp932));
  EXPECT_EQ(r.lines, 2);
  ASSERT_EQ(r.inquiries.size(), 1u);
  EXPECT_EQ(r.inquiries[0].line, 1);
  EXPECT_THAT(r.errors,
              ElementsAre(Err(2, "ユーザーID (user id)",
                              "only A-Z a-z 0-9 . _ @ - allowed (padding spaces at the end)")));

  // The same bytes read as UTF-8 are not UTF-8.
  ASSERT_OK_AND_ASSIGN(BatchParseResult u, Parse(ValidLine() + "\n" + line + "\n"));
  EXPECT_THAT(u.errors, ElementsAre(Err(2, "レコード (record)", "invalid UTF-8")));
}

TEST(BatchInquiryTest, InvalidCp932IsAFileError) {
  BatchOptions cp932;
  cp932.charset = replica_io::Charset::kCp932;
  EXPECT_THAT(Parse(ValidLine() + "\n" + LineWith(5, "\x81\x20" + std::string(19, ' ')), cp932),
              StatusIs(StatusCode::kInvalidArgument,
                       "batch inquiry file: line 2, byte 61: invalid Shift_JIS (CP932) byte "
                       "sequence"));
}

TEST(BatchInquiryTest, AcceptsLfCrlfMixedAndNoFinalLineEnding) {
  const std::string l = ValidLine();
  for (const std::string& text :
       {l + "\n" + l + "\n", l + "\r\n" + l + "\r\n", l + "\r\n" + l + "\n" + l, l + "\n" + l}) {
    ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(text));
    EXPECT_THAT(r.errors, IsEmpty()) << text;
    EXPECT_EQ(r.lines, static_cast<int64_t>(r.inquiries.size()));
    EXPECT_GE(r.lines, 2);
  }
}

TEST(BatchInquiryTest, LoneCarriageReturnIsPartOfTheField) {
  // "...\r" not followed by LF: the CR belongs to 照会終了日付, whose width is then wrong.
  EXPECT_THAT(
      ErrorsOf(ValidLine() + "\r" + ValidLine()),
      ElementsAre(Err(1, "レコード (record)", "19 comma-separated fields expected, got 37")));
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(ValidLine() + "\r"));
  EXPECT_THAT(r.errors,
              ElementsAre(Err(1, "照会終了日付 (to)", "width 8 expected, got 9 characters")));
}

TEST(BatchInquiryTest, SkipsUtf8ByteOrderMark) {
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse("\xEF\xBB\xBF" + ValidLine() + "\n"));
  EXPECT_THAT(r.errors, IsEmpty());
  EXPECT_EQ(r.inquiries.size(), 1u);
}

TEST(BatchInquiryTest, BadLineDoesNotStopTheOthers) {
  const std::string text =
      ValidLine() + "\n" + LineWith(9, "JX00000000000001") + "\n" + ValidLine() + "\n";
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(text));
  EXPECT_EQ(r.lines, 3);
  ASSERT_EQ(r.inquiries.size(), 2u);
  EXPECT_EQ(r.inquiries[0].line, 1);
  EXPECT_EQ(r.inquiries[1].line, 3);
  EXPECT_THAT(r.errors,
              ElementsAre(Err(2, "事務手続コード (procedure)", "must be \"JT\" + 14 digits")));
}

struct BadFieldCase {
  size_t index;
  std::string value;
  std::string field;
  std::string reason;
};

TEST(BatchInquiryTest, EachBadFieldIsNamedWithItsReason) {
  const std::vector<BadFieldCase> cases = {
      {0, "3", "番号体系 (numbering scheme)", "must be \"1\" (宛名番号) or \"2\" (統合宛名番号)"},
      {1, Pad("12A", 15), "宛名番号 (business number)", "must be 1-15 digits followed by spaces"},
      {1, " 123" + std::string(11, ' '), "宛名番号 (business number)",
       "must be left-aligned (padding spaces go on the right)"},
      {1, Pad("12 3", 15), "宛名番号 (business number)", "must be 1-15 digits followed by spaces"},
      {2, "12345678901234X", "統合宛名番号 (atena_no)", "must be 15 digits or blank"},
      {3, "2026040109300X", "照会依頼日時 (requested at)", "must be YYYYMMDDhhmmss (14 digits)"},
      {3, "20260230120000", "照会依頼日時 (requested at)", "not a real date"},
      {3, "20260401240000", "照会依頼日時 (requested at)", "not a real time of day"},
      {3, "20260401126000", "照会依頼日時 (requested at)", "not a real time of day"},
      {4, Pad("", 10), "部署コード (department)", "required, but blank"},
      {4, Pad(" KAZEI", 10), "部署コード (department)",
       "must be left-aligned (padding spaces go on the right)"},
      {4, Pad("KA-ZEI", 10), "部署コード (department)",
       "only A-Z a-z 0-9 allowed (padding spaces at the end)"},
      {5, Pad("tanaka taro", 20), "ユーザーID (user id)",
       "only A-Z a-z 0-9 . _ @ - allowed (padding spaces at the end)"},
      {5, Pad("a\tb", 20), "ユーザーID (user id)",
       "only A-Z a-z 0-9 . _ @ - allowed (padding spaces at the end)"},
      {6, "123456000000000X", "照会者機関コード (inquirer)", "must be 16 digits"},
      {6, Pad("", 16), "照会者機関コード (inquirer)", "required, but blank"},
      {7, "2", "不開示コード (non-disclosure)", "must be \"0\" or \"1\""},
      {7, " ", "不開示コード (non-disclosure)", "must be \"0\" or \"1\""},
      {8, "JT00000000000001", "事務コード (affair)", "must be \"JM\" + 14 digits"},
      {9, "jt00000000000001", "事務手続コード (procedure)", "must be \"JT\" + 14 digits"},
      {10, "12345600000000 1", "委任元機関コード1 (delegator 1)", "must be 16 digits or blank"},
      {12, "X234560000000001", "委任元機関コード3 (delegator 3)", "must be 16 digits or blank"},
      {13, Pad("", 16), "提供者機関コード (provider)", "required, but blank"},
      {14, "TM0000000000000A", "特定個人情報名コード (information name)",
       "must be \"TM\" + 14 digits"},
      {15, "04", "照会条件区分 (condition kind)", "must be one of 00, 01, 02, 03"},
      {15, "  ", "照会条件区分 (condition kind)", "must be one of 00, 01, 02, 03"},
      {16, "3", "照会年度区分 (fiscal-year kind)", "must be one of 0, 1, 2"},
  };
  for (const BadFieldCase& c : cases) {
    SCOPED_TRACE("field " + std::to_string(c.index) + " = \"" + c.value + "\"");
    EXPECT_THAT(ErrorsOf(LineWith(c.index, c.value)), ElementsAre(Err(1, c.field, c.reason)));
  }
}

TEST(BatchInquiryTest, BadDates) {
  Fields f = ValidFields();
  f[16] = "2";
  f[17] = "20260230";  // no 30 February
  f[18] = "2026043X";
  EXPECT_THAT(ErrorsOf(Join(f)),
              ElementsAre(Err(1, "照会開始日付 (from)", "not a real date"),
                          Err(1, "照会終了日付 (to)", "must be YYYYMMDD (8 digits) or blank")));
  f[17] = "20240229";  // leap day
  f[18] = "20250229";
  EXPECT_THAT(ErrorsOf(Join(f)), ElementsAre(Err(1, "照会終了日付 (to)", "not a real date")));
}

TEST(BatchInquiryTest, StartAfterEnd) {
  Fields f = ValidFields();
  f[16] = "2";
  f[17] = "20260401";
  f[18] = "20260331";
  EXPECT_THAT(ErrorsOf(Join(f)),
              ElementsAre(Err(1, "照会終了日付 (to)", "must not be before 照会開始日付 (from)")));
}

TEST(BatchInquiryTest, FiscalYearKindRules) {
  Fields f = ValidFields();
  f[16] = "0";
  f[17] = "20260401";
  EXPECT_THAT(ErrorsOf(Join(f)), ElementsAre(Err(1, "照会開始日付 (from)",
                                                 "must be blank when 照会年度区分 is \"0\"")));
  f[17] = Pad("", 8);
  f[18] = "20260401";
  EXPECT_THAT(ErrorsOf(Join(f)),
              ElementsAre(Err(1, "照会終了日付 (to)", "must be blank when 照会年度区分 is \"0\"")));
  f[16] = "1";
  EXPECT_THAT(ErrorsOf(Join(f)),
              ElementsAre(Err(1, "照会開始日付 (from)", "required when 照会年度区分 is \"1\"")));
  f[16] = "2";
  f[18] = Pad("", 8);
  EXPECT_THAT(ErrorsOf(Join(f)),
              ElementsAre(Err(1, "照会開始日付 (from)", "required when 照会年度区分 is \"2\""),
                          Err(1, "照会終了日付 (to)", "required when 照会年度区分 is \"2\"")));
  // Kind 1 with only a start date is valid.
  f[16] = "1";
  f[17] = "20260401";
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(Join(f)));
  ASSERT_EQ(r.inquiries.size(), 1u);
  EXPECT_EQ(r.inquiries[0].from, layout::Date::FromYmd(2026, 4, 1));
  EXPECT_EQ(r.inquiries[0].to, std::nullopt);
}

TEST(BatchInquiryTest, NumberingSchemeRules) {
  Fields f = ValidFields();
  f[0] = "1";  // 宛名番号 blank, 統合宛名番号 given
  EXPECT_THAT(
      ErrorsOf(Join(f)),
      ElementsAre(Err(1, "宛名番号 (business number)", "required when 番号体系 is \"1\""),
                  Err(1, "統合宛名番号 (atena_no)", "must be blank when 番号体系 is \"1\"")));
  f[0] = "2";
  f[2] = Pad("", 15);
  EXPECT_THAT(ErrorsOf(Join(f)),
              ElementsAre(Err(1, "統合宛名番号 (atena_no)", "required when 番号体系 is \"2\"")));
}

TEST(BatchInquiryTest, ResidentNumbersAreNeverQuoted) {
  for (const auto& [index, value] : std::vector<std::pair<size_t, std::string>>{
           {1, Pad("98765X", 15)}, {2, "98765432109876X"}}) {
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
      {1, name + spaces(5), "宛名番号 (business number)", "must be 1-15 digits followed by spaces"},
      {1, number.substr(0, 14) + "X", "宛名番号 (business number)",
       "must be 1-15 digits followed by spaces"},
      {2, name + spaces(5), "統合宛名番号 (atena_no)", "must be 15 digits or blank"},
      {2, number.substr(0, 14) + "X", "統合宛名番号 (atena_no)", "must be 15 digits or blank"},
      {3, name + spaces(4), "照会依頼日時 (requested at)", "must be YYYYMMDDhhmmss (14 digits)"},
      {3, number.substr(0, 14), "照会依頼日時 (requested at)", "not a real date"},
      {3, "20260401" + number.substr(4, 6), "照会依頼日時 (requested at)",
       "not a real time of day"},
      {4, name, "部署コード (department)", "only A-Z a-z 0-9 allowed (padding spaces at the end)"},
      {4, " CANARY" + spaces(3), "部署コード (department)",
       "must be left-aligned (padding spaces go on the right)"},
      {5, name + spaces(10), "ユーザーID (user id)",
       "only A-Z a-z 0-9 . _ @ - allowed (padding spaces at the end)"},
      {5, " " + number + spaces(4), "ユーザーID (user id)",
       "must be left-aligned (padding spaces go on the right)"},
      {6, "X" + number, "照会者機関コード (inquirer)", "must be 16 digits"},
      {6, name + spaces(6), "照会者機関コード (inquirer)", "must be 16 digits"},
      {8, "JM" + name + spaces(4), "事務コード (affair)", "must be \"JM\" + 14 digits"},
      {9, "JT" + number.substr(0, 13) + "X", "事務手続コード (procedure)",
       "must be \"JT\" + 14 digits"},
      {10, "X" + number, "委任元機関コード1 (delegator 1)", "must be 16 digits or blank"},
      {11, name + spaces(6), "委任元機関コード2 (delegator 2)", "must be 16 digits or blank"},
      {12, number + "X", "委任元機関コード3 (delegator 3)", "must be 16 digits or blank"},
      {13, "X" + number, "提供者機関コード (provider)", "must be 16 digits"},
      {14, "TM" + name + spaces(4), "特定個人情報名コード (information name)",
       "must be \"TM\" + 14 digits"},
      {15, "山田", "照会条件区分 (condition kind)", "must be one of 00, 01, 02, 03"},
      {17, "CANARY山田", "照会開始日付 (from)", "must be YYYYMMDD (8 digits) or blank"},
      {18, number.substr(0, 8), "照会終了日付 (to)", "not a real date"},
      // Too wide: the width error counts characters.
      {0, name, "番号体系 (numbering scheme)", "width 1 expected, got 10 characters"},
      {2, number + "6", "統合宛名番号 (atena_no)", "width 15 expected, got 16 characters"},
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
                                      "19 comma-separated fields expected, got 2")));
  errors = ErrorsOf(name + "\xFF," + number);
  EXPECT_THAT(errors, ElementsAre(Err(1, "レコード (record)", "invalid UTF-8")));
  // A period that ends before it starts: neither date is quoted.
  Fields f = ValidFields();
  f[16] = "2";
  f[17] = "20260401";
  f[18] = "20260331";
  errors = ErrorsOf(Join(f));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0].reason, ::testing::Not(HasSubstr("2026")));

  // Every field a canary (the line is as wide as a valid one): one error per field, none quoting.
  Fields all;
  for (size_t i = 0; i < kBatchFieldCount; ++i) {
    all[i] = (number + number).substr(0, ValidFields()[i].size());
  }
  errors = ErrorsOf(Join(all));
  EXPECT_GE(errors.size(), 10u);
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
  Result<BatchParseResult> r = Parse(ValidLine() + "\n" + cp932_name + "\x85\x40\n", options);
  EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument,
                          "batch inquiry file: line 2, byte 15: invalid Shift_JIS (CP932) byte "
                          "sequence"));
  EXPECT_THAT(r.status().message(), EchoesNoCanary());

  options = BatchOptions{};
  options.max_line_bytes = 20;
  r = Parse(std::string(kCanaryName) + std::string(kCanaryAtenaNo) + "\n", options);
  EXPECT_THAT(r, StatusIs(StatusCode::kResourceExhausted,
                          "batch inquiry file: line 1: longer than 20 bytes"));
}

TEST(BatchInquiryTest, WrongWidths) {
  EXPECT_THAT(
      ErrorsOf(LineWith(9, "JT0000000000001")),
      ElementsAre(Err(1, "事務手続コード (procedure)", "width 16 expected, got 15 characters")));
  EXPECT_THAT(
      ErrorsOf(LineWith(4, "KAZEI01")),
      ElementsAre(Err(1, "部署コード (department)", "width 10 expected, got 7 characters")));
  EXPECT_THAT(ErrorsOf(LineWith(17, "")),
              ElementsAre(Err(1, "照会開始日付 (from)", "width 8 expected, got 0 characters")));
  // Width counts characters, not bytes: two full-width digits are 2 characters (6 bytes).
  EXPECT_THAT(ErrorsOf(LineWith(15, "０１")), ElementsAre(Err(1, "照会条件区分 (condition kind)",
                                                              "must be one of 00, 01, 02, 03")));
  // Several wrong fields on one line: one error each, in field order.
  Fields f = ValidFields();
  f[6] = "123";
  f[13] = "23456700000000021";
  EXPECT_THAT(
      ErrorsOf(Join(f)),
      ElementsAre(Err(1, "照会者機関コード (inquirer)", "width 16 expected, got 3 characters"),
                  Err(1, "提供者機関コード (provider)", "width 16 expected, got 17 characters")));
}

TEST(BatchInquiryTest, WrongFieldCountAndEmptyLine) {
  Fields f = ValidFields();
  std::string short_line = Join(f);
  short_line.resize(short_line.rfind(','));  // drop the last field
  const std::string text = short_line + "\n\n" + ValidLine() + ",\n";
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(text));
  EXPECT_EQ(r.lines, 3);
  EXPECT_THAT(r.inquiries, IsEmpty());
  EXPECT_THAT(
      r.errors,
      ElementsAre(Err(1, "レコード (record)", "19 comma-separated fields expected, got 18"),
                  Err(2, "レコード (record)", "empty line"),
                  Err(3, "レコード (record)", "19 comma-separated fields expected, got 20")));
}

TEST(BatchInquiryTest, Delegators) {
  Fields f = ValidFields();
  f[11] = "3456780000000003";  // only the middle one
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(Join(f)));
  ASSERT_EQ(r.inquiries.size(), 1u);
  ASSERT_EQ(r.inquiries[0].delegators.size(), 1u);
  EXPECT_EQ(r.inquiries[0].delegators[0].str(), "3456780000000003");

  f[12] = "3456780000000003";
  EXPECT_THAT(ErrorsOf(Join(f)),
              ElementsAre(Err(1, "委任元機関コード3 (delegator 3)",
                              "same organisation as 委任元機関コード2 (delegator 2)")));
}

TEST(BatchInquiryTest, TooManyLinesIsAFileError) {
  BatchOptions options;
  options.max_lines = 3;
  std::string text;
  for (int i = 0; i < 3; ++i) text += ValidLine() + "\n";
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(text, options));
  EXPECT_EQ(r.inquiries.size(), 3u);
  // A fourth line, even an empty one, is over the limit.
  EXPECT_THAT(Parse(text + "\n", options),
              StatusIs(StatusCode::kResourceExhausted, "batch inquiry file: more than 3 lines"));
  EXPECT_THAT(Parse(text + ValidLine(), options),
              StatusIs(StatusCode::kResourceExhausted, "batch inquiry file: more than 3 lines"));
}

TEST(BatchInquiryTest, OverlongLineIsAFileError) {
  BatchOptions options;
  options.max_line_bytes = kBatchLineWidth;
  ASSERT_OK_AND_ASSIGN(BatchParseResult r, Parse(ValidLine() + "\r\n", options));
  EXPECT_EQ(r.inquiries.size(), 1u);
  EXPECT_THAT(Parse(ValidLine() + "\n" + ValidLine() + " \n", options),
              StatusIs(StatusCode::kResourceExhausted,
                       "batch inquiry file: line 2: longer than 241 bytes"));
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
  const std::string text = ValidLine() + "\n";  // the source keeps a view of it
  replica_io::testing::FailingSource src(text, InternalError("upload.csv: read: connection reset"));
  EXPECT_THAT(
      ParseBatchInquiryFile(src, {}),
      StatusIs(StatusCode::kInternal, "batch inquiry file: upload.csv: read: connection reset"));
}

TEST(BatchInquiryTest, SameResultWhateverTheReadSizes) {
  const std::string text = ThreeLineFile() + "\r\n" + LineWith(3, "20260230120000") + "\r\n";
  for (unsigned seed = 1; seed <= 20; ++seed) {
    replica_io::testing::ChunkedSource src(text, 7, seed);
    ASSERT_OK_AND_ASSIGN(BatchParseResult r, ParseBatchInquiryFile(src, {}));
    EXPECT_EQ(r.lines, 5);
    EXPECT_EQ(r.inquiries.size(), 3u);
    EXPECT_THAT(r.errors, ElementsAre(Err(4, "レコード (record)", "empty line"),
                                      Err(5, "照会依頼日時 (requested at)", "not a real date")));
  }
}

}  // namespace
}  // namespace chukan::server
