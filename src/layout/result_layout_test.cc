// Result layouts: the shipped files, the defaults, and every error naming file:line and key.
#include "layout/result_layout.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/status_matchers.h"
#include "common/test_util.h"
#include "layout/catalogue_loader.h"
#include "layout/test_catalogue.h"

namespace chukan::layout {
namespace {

using testing::ShippedCatalogue;

using ::chukan::testing::StatusIs;
using ::chukan::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::shared_ptr<const ResultLayouts> ShippedLayouts() {
  static const std::shared_ptr<const ResultLayouts> layouts = [] {
    auto r = LoadResultLayouts(CHUKAN_RESULT_LAYOUT_DIR, ShippedCatalogue());
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : nullptr;
  }();
  return layouts;
}

// "24:line_status", "165:item:IT00000200000017" … for every column that is not empty; columns
// 1–18 are checked separately.
std::vector<std::string> Filled(const ResultLayout& l, size_t from = 19) {
  std::vector<std::string> out;
  for (size_t i = from - 1; i < l.columns().size(); ++i) {
    const ResultColumn& c = l.columns()[i];
    const std::string n = std::to_string(i + 1) + ":";
    switch (c.fill) {
      case ResultFill::kEmpty:
        break;
      case ResultFill::kInquiryField:
        out.push_back(n + "inquiry:" + std::to_string(c.field));
        break;
      case ResultFill::kLineStatus:
        out.push_back(n + "line_status");
        break;
      case ResultFill::kLineMessage:
        out.push_back(n + "line_message");
        break;
      case ResultFill::kInfoStatus:
        out.push_back(n + "info_status");
        break;
      case ResultFill::kInfoMessage:
        out.push_back(n + "info_message");
        break;
      case ResultFill::kItem:
        out.push_back(n + "item:" + c.item->code());
        break;
    }
  }
  return out;
}

void ExpectEchoesTheInquiryFields(const ResultLayout& l) {
  ASSERT_GE(l.columns().size(), kInquiryFieldCount);
  for (size_t f = 1; f <= kInquiryFieldCount; ++f) {
    EXPECT_EQ(l.columns()[f - 1].fill, ResultFill::kInquiryField) << f;
    EXPECT_EQ(l.columns()[f - 1].field, f);
  }
}

TEST(ResultLayoutTest, ShippedLocalTax) {
  auto set = ShippedLayouts();
  ASSERT_NE(set, nullptr);
  const ResultLayout& l = set->For("TM00000000000002");
  EXPECT_FALSE(l.is_default());
  EXPECT_EQ(l.tm(), "TM00000000000002");
  EXPECT_EQ(l.source(), std::string(CHUKAN_RESULT_LAYOUT_DIR) + "/TM00000000000002.toml");
  ASSERT_EQ(l.columns().size(), 262u);
  ExpectEchoesTheInquiryFields(l);
  EXPECT_THAT(Filled(l), ElementsAre("24:line_status", "25:line_message", "26:info_status",
                                     "27:info_message", "165:item:IT00000200000017",
                                     "231:item:IT00000200000008", "255:item:IT00000200000018"));
  EXPECT_EQ(l.columns()[164].item->name(), "配偶者特別控除額");
  EXPECT_EQ(l.columns()[230].item->name(), "市町村民税均等割額");
  EXPECT_EQ(l.columns()[254].item->name(), "市町村民税所得割額（定額減税前）");
}

TEST(ResultLayoutTest, ShippedPublicFundAccount) {
  auto set = ShippedLayouts();
  ASSERT_NE(set, nullptr);
  const ResultLayout& l = set->For("TM00000000000089");
  ASSERT_EQ(l.columns().size(), 52u);
  ExpectEchoesTheInquiryFields(l);
  EXPECT_THAT(Filled(l), ElementsAre("24:line_status", "25:line_message", "26:info_status",
                                     "27:info_message", "35:item:IT00008900000001",
                                     "39:item:IT00008900000003", "43:item:IT00008900000005",
                                     "45:item:IT00008900000006", "47:item:IT00008900000007"));
  std::vector<std::string> names;
  for (size_t c : {35, 39, 43, 45, 47}) names.push_back(l.columns()[c - 1].item->name());
  EXPECT_THAT(names,
              ElementsAre("金融機関コード", "店番", "預貯金種目コード", "口座番号", "名義人氏名"));
  EXPECT_EQ(set->loaded().size(), 2u);
}

TEST(ResultLayoutTest, DefaultForEveryOtherTm) {
  auto set = ShippedLayouts();
  ASSERT_NE(set, nullptr);
  const ResultLayout& l = set->For("TM90000000000101");
  EXPECT_TRUE(l.is_default());
  EXPECT_EQ(l.source(), "(default)");
  const LayoutVersion& latest = ShippedCatalogue()->Find("TM90000000000101")->LatestVersion();
  ASSERT_EQ(l.columns().size(), 27 + latest.item_count());
  ExpectEchoesTheInquiryFields(l);
  std::vector<std::string> want = {"24:line_status", "25:line_message", "26:info_status",
                                   "27:info_message"};
  for (size_t i = 0; i < latest.item_count(); ++i) {
    want.push_back(std::to_string(28 + i) + ":item:" + latest.item(i).code());
  }
  EXPECT_EQ(Filled(l), want);
  EXPECT_EQ(Filled(l)[4], "28:item:IT00010100000001");
}

TEST(ResultLayoutTest, UnknownTmGetsTheFixedColumnsOnly) {
  auto set = ShippedLayouts();
  ASSERT_NE(set, nullptr);
  for (std::string_view tm : {"TM99999999999999", "", "not a code"}) {
    const ResultLayout& l = set->For(tm);
    EXPECT_EQ(l.info(), nullptr);
    EXPECT_EQ(l.tm(), "");
    ASSERT_EQ(l.columns().size(), 27u);
    ExpectEchoesTheInquiryFields(l);
    EXPECT_THAT(Filled(l), ElementsAre("24:line_status", "25:line_message", "26:info_status",
                                       "27:info_message"));
  }
}

constexpr std::string_view kHead = R"(format = "chukan-result-layout/1"
tm = "TM00000000000002"
columns = 262
[column]
)";

Status Parse(std::string_view text) {
  return ParseResultLayout("t.toml", text, *ShippedCatalogue()).status();
}

TEST(ResultLayoutTest, ErrorsNameFileLineAndKey) {
  ASSERT_NE(ShippedCatalogue(), nullptr);
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"format = \"chukan-result-layout/2\"\ntm = \"TM00000000000002\"\ncolumns = 1\n",
       "t.toml:1: file: format must be \"chukan-result-layout/1\""},
      {"tm = \"TM00000000000002\"\ncolumns = 1\n", "t.toml: file: key \"format\" is required"},
      {std::string(kHead.substr(0, kHead.find("[column]"))) + "colums = 3\n",
       "t.toml:4: file: unknown key \"colums\""},
      {"format = \"chukan-result-layout/1\"\ncolumns = 3\n",
       "t.toml: file: key \"tm\" is required"},
      {"format = \"chukan-result-layout/1\"\ntm = \"TM99999999999999\"\ncolumns = 3\n",
       "t.toml:2: tm \"TM99999999999999\": not an information name of the data standard layout"},
      {"format = \"chukan-result-layout/1\"\ntm = \"TM00000000000002\"\ncolumns = 0\n",
       "t.toml:3: columns: 0 is outside 1..2000"},
      {"format = \"chukan-result-layout/1\"\ntm = \"TM00000000000002\"\ncolumns = \"262\"\n",
       "t.toml:3: file: key \"columns\": expected an integer"},
      {std::string(kHead) + "263 = \"line_status\"\n",
       "t.toml:5: column 263: beyond columns = 262"},
      {std::string(kHead) + "01 = \"line_status\"\n",
       "t.toml:5: column \"01\": a column is a number from 1 (no sign, no leading zero)"},
      {std::string(kHead) + "5 = \"item:IT00008900000001\"\n",
       "t.toml:5: column 5: item \"IT00008900000001\" is not an item of TM00000000000002"},
      {std::string(kHead) + "5 = \"inquiry:19\"\n",
       "t.toml:5: column 5: inquiry field \"19\" is not one of 1..18"},
      {std::string(kHead) + "5 = \"status\"\n",
       "t.toml:5: column 5: unknown fill \"status\" (inquiry:1..18, line_status, line_message, "
       "info_status, info_message, item:<item code>, empty)"},
      {std::string(kHead) + "5 = 24\n", "t.toml:5: column 5: expected a string"},
      {std::string(kHead) + "24 = \"line_status\"\n25 = \"line_status\"\n",
       "t.toml:6: column 25: \"line_status\" already fills column 24"},
      {std::string(kHead) + "2 = \"inquiry:2\"\n3 = \"inquiry:2\"\n",
       "t.toml:6: column 3: \"inquiry:2\" already fills column 2"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    EXPECT_THAT(Parse(c.text), StatusIs(StatusCode::kInvalidArgument, c.message));
  }
  // TOML syntax: the parser's own description, at line and column.
  EXPECT_THAT(Parse(std::string(kHead) + "5 = \"line_status\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("t.toml:5:")));
  // "empty" may be said explicitly, and twice.
  ASSERT_OK_AND_ASSIGN(
      ResultLayout l,
      ParseResultLayout("t.toml", std::string(kHead) + "19 = \"empty\"\n20 = \"empty\"\n",
                        *ShippedCatalogue()));
  EXPECT_TRUE(Filled(l, 1).empty());
}

TEST(ResultLayoutTest, LoadDirectory) {
  TempDir dir;
  dir.Write("a.toml", std::string(kHead) + "24 = \"line_status\"\n");
  dir.Write("README.md", "not a layout");
  ASSERT_OK_AND_ASSIGN(auto set, LoadResultLayouts(dir.path(), ShippedCatalogue()));
  EXPECT_EQ(set->For("TM00000000000002").columns().size(), 262u);
  EXPECT_TRUE(set->For("TM00000000000089").is_default());  // no file here: the default

  dir.Write("b.toml", kHead);
  EXPECT_THAT(LoadResultLayouts(dir.path(), ShippedCatalogue()),
              StatusIs(StatusCode::kInvalidArgument,
                       dir.path() + "/b.toml: tm \"TM00000000000002\": already has a layout in " +
                           dir.path() + "/a.toml"));
  dir.Write("b.toml", std::string(kHead) + "300 = \"empty\"\n");
  EXPECT_THAT(LoadResultLayouts(dir.path(), ShippedCatalogue()),
              StatusIs(StatusCode::kInvalidArgument,
                       dir.path() + "/b.toml:5: column 300: beyond columns = 262"));
  EXPECT_THAT(LoadResultLayouts(dir.path() + "/missing", ShippedCatalogue()),
              StatusIs(StatusCode::kNotFound));
  ResultLayoutLimits small;
  small.max_file_bytes = 10;
  EXPECT_THAT(
      LoadResultLayouts(dir.path(), ShippedCatalogue(), small),
      StatusIs(StatusCode::kInvalidArgument, dir.path() + "/a.toml: file is larger than 10 bytes"));
  small = {};
  small.max_files = 1;
  EXPECT_THAT(
      LoadResultLayouts(dir.path(), ShippedCatalogue(), small),
      StatusIs(StatusCode::kInvalidArgument, dir.path() + ": more than 1 result layout files"));
}

}  // namespace
}  // namespace chukan::layout
