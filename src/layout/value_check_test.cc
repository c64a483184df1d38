#include "layout/value_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/canary_matchers.h"
#include "common/status_matchers.h"
#include "common/test_util.h"
#include "layout/catalogue_loader.h"

namespace chukan::layout {
namespace {

using ::chukan::testing::EchoesNoCanary;
using ::chukan::testing::kCanaryAtenaNo;
using ::chukan::testing::kCanaryName;
using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Field;

// A small catalogue with one item of each shape, and a TM with data sets.
constexpr std::string_view kCatalogue = R"(format = "chukan-layout/1"
code = "TM00000000000004"
name = "介護保険関係情報"
name_en = "Long-term care"
record_key = ["IT00000400000001", "IT00000400000002"]
data_set_item = "IT00000400000001"

[[code_list]]
id = "ds"
name = "データセット区分"
codes = [{ code = "0101", label = "被保険者情報" }, { code = "0202", label = "負担割合" }]

[[code_list]]
id = "futan_wariai"
name = "利用者負担割合"
codes = [{ code = "1", label = "1割" }, { code = "2", label = "2割" }, { code = "3", label = "3割" }]

[[data_set]]
code = "0101"
name = "被保険者情報"

[[data_set]]
code = "0202"
name = "負担割合"

[[version]]
version = "0001"
valid_from = 2017-07-18

[[item]]
code = "IT00000400000001"
name = "データセット区分"
kind = "header"
type = "code"
code_list = "ds"
required = true

[[item]]
code = "IT00000400000002"
name = "連番"
kind = "header"
type = "number"
max_length = 3
required = true

[[item]]
code = "IT00000400000003"
name = "氏名"
kind = "single"
type = "text"
max_length = 5

[[item]]
code = "IT00000400000004"
name = "所得金額"
kind = "single"
type = "number"
max_length = 4
signed = true

[[item]]
code = "IT00000400000005"
name = "基準日"
kind = "date"
type = "date"

[[item]]
code = "IT00000401010001"
name = "資格取得年月日"
kind = "date"
type = "date"
required = true
data_set = "0101"

[[item]]
code = "IT00000402020001"
name = "利用者負担割合"
kind = "single"
type = "code"
code_list = "futan_wariai"
required = true
data_set = "0202"
)";

class ValueCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_.File("tm.toml"), std::ios::binary) << kCatalogue;
    auto r = LoadCatalogue(dir_.path());
    ASSERT_TRUE(r.ok()) << r.status();
    catalogue_ = *r;
    version_ = &catalogue_->infos()[0]->LatestVersion();
  }
  const Item& item(std::string_view code) { return *version_->FindItem(code); }
  const Item& ds() { return item("IT00000400000001"); }
  const Item& seq() { return item("IT00000400000002"); }
  const Item& text() { return item("IT00000400000003"); }
  const Item& amount() { return item("IT00000400000004"); }
  const Item& date() { return item("IT00000400000005"); }
  const Item& acquired() { return item("IT00000401010001"); }
  const Item& wariai() { return item("IT00000402020001"); }

  testing::TempDir dir_;
  std::shared_ptr<const Catalogue> catalogue_;
  const LayoutVersion* version_ = nullptr;
};

TEST_F(ValueCheckTest, Required) {
  EXPECT_EQ(CheckValue(seq(), ""), ValueError::kRequired);
  EXPECT_EQ(CheckValue(text(), ""), ValueError::kOk);
  EXPECT_EQ(CheckValue(date(), ""), ValueError::kOk);
  EXPECT_THAT(ValidateValue(seq(), ""),
              StatusIs(StatusCode::kInvalidArgument,
                       "item IT00000400000002 \"連番\": a value is required"));
}

TEST_F(ValueCheckTest, TextLengthCountsCharacters) {
  EXPECT_EQ(CheckValue(text(), "山田太郎様"), ValueError::kOk);  // 5 characters, 15 bytes
  EXPECT_EQ(CheckValue(text(), "abcde"), ValueError::kOk);
  EXPECT_EQ(CheckValue(text(), "山田　太郎様"), ValueError::kTooLong);  // 6 characters
  EXPECT_EQ(CheckValue(text(), "𠮷野家𠮷𠮷"), ValueError::kOk);         // 4-byte characters
  EXPECT_EQ(CheckValue(text(), " a b "), ValueError::kOk);              // spaces kept, not trimmed
  EXPECT_THAT(ValidateValue(text(), "山田　太郎様"),
              StatusIs(StatusCode::kInvalidArgument,
                       "item IT00000400000003 \"氏名\": 6 characters, at most 5 allowed"));
}

TEST_F(ValueCheckTest, TextEncodingAndControlCharacters) {
  EXPECT_EQ(CheckValue(text(), "\xE5\xB1"), ValueError::kInvalidUtf8);      // truncated
  EXPECT_EQ(CheckValue(text(), "\xC0\xAF"), ValueError::kInvalidUtf8);      // overlong
  EXPECT_EQ(CheckValue(text(), "\xED\xA0\x80"), ValueError::kInvalidUtf8);  // surrogate
  EXPECT_EQ(CheckValue(text(), "\x82\xA0"), ValueError::kInvalidUtf8);      // Shift_JIS あ
  EXPECT_EQ(CheckValue(text(), "a\nb"), ValueError::kControlCharacter);
  EXPECT_EQ(CheckValue(text(), "a\tb"), ValueError::kControlCharacter);
  EXPECT_EQ(CheckValue(text(), std::string_view("a\0b", 3)), ValueError::kControlCharacter);
  EXPECT_EQ(CheckValue(text(), "a\x7F"), ValueError::kControlCharacter);
  EXPECT_THAT(
      ValidateValue(text(), "\xE5\xB1"),
      StatusIs(StatusCode::kInvalidArgument, "item IT00000400000003 \"氏名\": not valid UTF-8"));
}

TEST_F(ValueCheckTest, Numbers) {
  EXPECT_EQ(CheckValue(seq(), "1"), ValueError::kOk);
  EXPECT_EQ(CheckValue(seq(), "007"), ValueError::kOk);  // stored as given
  EXPECT_EQ(CheckValue(seq(), "1000"), ValueError::kTooLong);
  EXPECT_EQ(CheckValue(seq(), "-1"), ValueError::kNotANumber);  // no sign allowed
  EXPECT_EQ(CheckValue(seq(), " 1"), ValueError::kNotANumber);
  EXPECT_EQ(CheckValue(seq(), "1 "), ValueError::kNotANumber);
  EXPECT_EQ(CheckValue(seq(), "1.5"), ValueError::kNotANumber);
  EXPECT_EQ(CheckValue(seq(), "１"), ValueError::kNotANumber);  // full-width digit
  EXPECT_EQ(CheckValue(seq(), "+1"), ValueError::kNotANumber);
  EXPECT_EQ(CheckValue(amount(), "-1234"), ValueError::kOk);  // sign not counted
  EXPECT_EQ(CheckValue(amount(), "-12345"), ValueError::kTooLong);
  EXPECT_EQ(CheckValue(amount(), "-"), ValueError::kNotANumber);
  EXPECT_EQ(CheckValue(amount(), "--1"), ValueError::kNotANumber);
  EXPECT_THAT(ValidateValue(amount(), "-12345"),
              StatusIs(StatusCode::kInvalidArgument,
                       "item IT00000400000004 \"所得金額\": 5 digits, at most 4 allowed"));
  EXPECT_THAT(ValidateValue(seq(), "-1"),
              StatusIs(StatusCode::kInvalidArgument,
                       "item IT00000400000002 \"連番\": not a number (digits only)"));
}

TEST_F(ValueCheckTest, Dates) {
  EXPECT_EQ(CheckValue(date(), "2024-02-29"), ValueError::kOk);
  EXPECT_EQ(CheckValue(date(), "2026-02-29"), ValueError::kNotADate);
  EXPECT_EQ(CheckValue(date(), "2100-02-29"), ValueError::kNotADate);
  EXPECT_EQ(CheckValue(date(), "2000-02-29"), ValueError::kOk);
  EXPECT_EQ(CheckValue(date(), "2025-06-31"), ValueError::kNotADate);
  EXPECT_EQ(CheckValue(date(), "2025/06/30"), ValueError::kNotADate);
  EXPECT_EQ(CheckValue(date(), "20250630"), ValueError::kNotADate);
  EXPECT_EQ(CheckValue(date(), "R07-06-30"), ValueError::kNotADate);
  EXPECT_THAT(ValidateValue(date(), "2026-02-29"),
              StatusIs(StatusCode::kInvalidArgument,
                       "item IT00000400000005 \"基準日\": not a real calendar date (expected "
                       "YYYY-MM-DD)"));
}

TEST_F(ValueCheckTest, Codes) {
  EXPECT_EQ(CheckValue(wariai(), "1"), ValueError::kOk);
  EXPECT_EQ(CheckValue(wariai(), "3"), ValueError::kOk);
  EXPECT_EQ(CheckValue(wariai(), "4"), ValueError::kUnknownCode);
  EXPECT_EQ(CheckValue(wariai(), "01"), ValueError::kUnknownCode);
  EXPECT_EQ(CheckValue(wariai(), "1 "), ValueError::kUnknownCode);
  EXPECT_EQ(CheckValue(wariai(), ""), ValueError::kRequired);
  // Not even a short printable code is echoed.
  EXPECT_THAT(ValidateValue(wariai(), "4"),
              StatusIs(StatusCode::kInvalidArgument,
                       "item IT00000402020001 \"利用者負担割合\": not in code list "
                       "futan_wariai (利用者負担割合)"));
  EXPECT_THAT(ValidateValue(wariai(), "三割"),
              StatusIs(StatusCode::kInvalidArgument,
                       "item IT00000402020001 \"利用者負担割合\": not in code list "
                       "futan_wariai (利用者負担割合)"));
}

// Every kind of error, for a value that is personal data: the message names the item and the
// reason (at most a length), never the value or a piece of it.
TEST_F(ValueCheckTest, MessagesNeverEchoTheValue) {
  const std::string name(kCanaryName);
  const std::string number(kCanaryAtenaNo);
  struct Case {
    const Item* item;
    std::string value;
    ValueError error;
    std::string message;
  };
  const std::vector<Case> cases = {
      {&text(), "\xE5" + name, ValueError::kInvalidUtf8,
       "item IT00000400000003 \"氏名\": not valid UTF-8"},
      {&text(), "\n" + name, ValueError::kControlCharacter,
       "item IT00000400000003 \"氏名\": contains a control character"},
      {&text(), name, ValueError::kTooLong,
       "item IT00000400000003 \"氏名\": 10 characters, at most 5 allowed"},
      {&seq(), number, ValueError::kTooLong,
       "item IT00000400000002 \"連番\": 15 digits, at most 3 allowed"},
      {&seq(), name, ValueError::kNotANumber,
       "item IT00000400000002 \"連番\": not a number (digits only)"},
      {&date(), name, ValueError::kNotADate,
       "item IT00000400000005 \"基準日\": not a real calendar date (expected YYYY-MM-DD)"},
      {&date(), number, ValueError::kNotADate,
       "item IT00000400000005 \"基準日\": not a real calendar date (expected YYYY-MM-DD)"},
      // Both are at most 16 printable ASCII characters, which were once quoted as codes.
      {&wariai(), "CANARY", ValueError::kUnknownCode,
       "item IT00000402020001 \"利用者負担割合\": not in code list futan_wariai (利用者負担割合)"},
      {&wariai(), number, ValueError::kUnknownCode,
       "item IT00000402020001 \"利用者負担割合\": not in code list futan_wariai (利用者負担割合)"},
      {&wariai(), name, ValueError::kUnknownCode,
       "item IT00000402020001 \"利用者負担割合\": not in code list futan_wariai (利用者負担割合)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    EXPECT_EQ(CheckValue(*c.item, c.value), c.error);
    const std::string message = DescribeValueError(*c.item, c.error, c.value);
    EXPECT_EQ(message, c.message);
    EXPECT_THAT(message, EchoesNoCanary());
    EXPECT_THAT(
        ValidateValue(*c.item, c.value),
        StatusIs(StatusCode::kInvalidArgument, ::testing::AllOf(c.message, EchoesNoCanary())));
  }
  // The kinds that CheckRecord finds from the record as a whole.
  for (const ValueError e : {ValueError::kNotInDataSet, ValueError::kFieldCount}) {
    const std::string message = DescribeValueError(wariai(), e, name);
    EXPECT_THAT(message, ::testing::StartsWith("item IT00000402020001 \"利用者負担割合\": "));
    EXPECT_THAT(message, EchoesNoCanary());
  }
}

TEST_F(ValueCheckTest, AtenaNo) {
  EXPECT_TRUE(IsValidAtenaNo("000000000000001"));
  EXPECT_FALSE(IsValidAtenaNo("00000000000001"));
  EXPECT_FALSE(IsValidAtenaNo("0000000000000012"));
  EXPECT_FALSE(IsValidAtenaNo("00000000000000a"));
  EXPECT_FALSE(IsValidAtenaNo(""));
}

TEST_F(ValueCheckTest, RecordOfOneDataSet) {
  std::vector<FieldProblem> problems;
  std::vector<std::string_view> row = {"0101", "1", "山田", "", "", "2020-04-01", ""};
  EXPECT_EQ(CheckRecord(*version_, row, problems), 0u);
  // The 0202 item must be empty in a 0101 record, and the 0101 item is required.
  row = {"0101", "1", "", "", "", "", "2"};
  EXPECT_EQ(CheckRecord(*version_, row, problems), 2u);
  EXPECT_THAT(problems, ElementsAre(AllOf(Field(&FieldProblem::index, 5u),
                                          Field(&FieldProblem::error, ValueError::kRequired)),
                                    AllOf(Field(&FieldProblem::index, 6u),
                                          Field(&FieldProblem::error, ValueError::kNotInDataSet))));
  EXPECT_EQ(DescribeValueError(wariai(), ValueError::kNotInDataSet, "2"),
            "item IT00000402020001 \"利用者負担割合\": belongs to data set 0202 and must be empty "
            "in a record of another data set");
  row = {"0202", "1", "", "", "", "", "3"};
  EXPECT_EQ(CheckRecord(*version_, row, problems), 0u);
}

TEST_F(ValueCheckTest, RecordWithBadDataSetAndSeveralProblems) {
  std::vector<FieldProblem> problems;
  // Unknown data set: reported; data-set items are only format-checked.
  std::vector<std::string_view> row = {"0999", "x", "", "", "2026-02-29", "", "9"};
  EXPECT_EQ(CheckRecord(*version_, row, problems), 4u);
  EXPECT_THAT(problems, ElementsAre(Field(&FieldProblem::error, ValueError::kUnknownCode),
                                    Field(&FieldProblem::error, ValueError::kNotANumber),
                                    Field(&FieldProblem::error, ValueError::kNotADate),
                                    Field(&FieldProblem::error, ValueError::kUnknownCode)));
  EXPECT_EQ(problems[3].index, 6u);
  row = {"0101", "1"};
  EXPECT_EQ(CheckRecord(*version_, row, problems), 1u);
  EXPECT_EQ(problems[0].index, 2u);
  EXPECT_EQ(problems[0].error, ValueError::kFieldCount);
}

TEST_F(ValueCheckTest, ErrorNamesAreStable) {
  EXPECT_EQ(ValueErrorName(ValueError::kRequired), "required");
  EXPECT_EQ(ValueErrorName(ValueError::kNotADate), "not_a_date");
  EXPECT_EQ(ValueErrorName(ValueError::kUnknownCode), "unknown_code");
  EXPECT_EQ(ValueErrorName(ValueError::kTooLong), "too_long");
}

TEST_F(ValueCheckTest, ValuesAreComparedAsGiven) {
  EXPECT_TRUE(ValuesEqual(seq(), "007", "007"));
  EXPECT_FALSE(ValuesEqual(seq(), "007", "7"));
  EXPECT_FALSE(ValuesEqual(text(), "山田 ", "山田"));
}

}  // namespace
}  // namespace chukan::layout
