// Broken catalogues: each gives kInvalidArgument naming the file, the line and the entry.
#include "layout/catalogue_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/status_matchers.h"
#include "common/test_util.h"

namespace chukan::layout {
namespace {

using ::chukan::testing::StatusIs;
using ::chukan::testing::TempDir;
using ::testing::HasSubstr;

constexpr std::string_view kBase = R"(format = "chukan-layout/1"
code = "TM00000000000002"
name = "地方税関係情報"
name_en = "Local tax"
record_key = ["KZ00000000000001"]

[[code_list]]
id = "kubun"
name = "課税区分"
codes = [{ code = "1", label = "課税" }, { code = "2", label = "非課税" }]

[[version]]
version = "0001"
valid_from = 2017-07-18
valid_to = 2024-05-31

[[version]]
version = "0002"
valid_from = 2024-06-01

[[item]]
code = "KZ00000000000001"
name = "課税年度"
kind = "header"
type = "number"
max_length = 4
required = true

[[item]]
code = "KZ00000000000002"
name = "課税区分"
kind = "single"
type = "code"
code_list = "kubun"

[[item]]
code = "KZ00000000000003"
name = "住所"
kind = "single"
type = "text"
max_length = 40
)";

constexpr std::string_view kProcedures = R"(format = "chukan-layout/1"
[[affair]]
code = "JM90000000000001"
name = "地方税の賦課徴収に関する事務"

[[procedure]]
code = "JT90000000000101"
name = "個人住民税の賦課"
affair = "JM90000000000001"
)";

std::string Replace(std::string_view text, std::string_view from, std::string_view to) {
  std::string s(text);
  const size_t pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

// 1-based line of the first occurrence of `needle` in `text`.
int LineOf(std::string_view text, std::string_view needle) {
  const size_t pos = text.find(needle);
  EXPECT_NE(pos, std::string::npos) << needle;
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + pos, '\n'));
}

// "<dir>/tm.toml:<line>: " for the line holding `needle`.
std::string At(const TempDir& dir, std::string_view text, std::string_view needle) {
  return dir.File("tm.toml") + ":" + std::to_string(LineOf(text, needle)) + ": ";
}

Status LoadWith(const TempDir& dir, std::string_view tm_text) {
  dir.Write("tm.toml", tm_text);
  return LoadCatalogue(dir.path()).status();
}

TEST(CatalogueLoaderTest, MinimalCatalogueLoads) {
  TempDir dir;
  dir.Write("tm.toml", kBase);
  dir.Write("procedures.toml", kProcedures);
  dir.Write("README.md", "not a catalogue file");
  ASSERT_OK_AND_ASSIGN(auto c, LoadCatalogue(dir.path()));
  ASSERT_EQ(c->infos().size(), 1u);
  const InfoName& tax = *c->infos()[0];
  EXPECT_EQ(tax.source(), dir.File("tm.toml"));
  EXPECT_EQ(tax.versions().size(), 2u);
  const LayoutVersion& v = tax.LatestVersion();
  ASSERT_EQ(v.item_count(), 3u);
  EXPECT_EQ(v.item(1).code_list(), c->FindCodeList("kubun"));
  EXPECT_EQ(v.item(1).max_length(), 1u);
  EXPECT_EQ(v.item(2).type(), ValueType::kText);
  EXPECT_EQ(v.item(2).max_length(), 40u);
  EXPECT_EQ(&v.info(), &tax);
  ASSERT_EQ(c->procedures().size(), 1u);
  EXPECT_EQ(c->procedures()[0].affair.str(), "JM90000000000001");
}

// Codes of up to 8 bytes are found packed into integers, longer ones as strings: a list with
// one code of 9 bytes is searched as strings, and both kinds answer the same.
TEST(CatalogueLoaderTest, CodesOfEveryLengthAreFoundAndNothingElse) {
  for (const char* second : {"2", "123456789"}) {
    TempDir dir;
    const std::string text = Replace(kBase, "{ code = \"2\", label = \"非課税\" }",
                                     std::string("{ code = \"") + second +
                                         "\", label = \"非課税\" }, { code = "
                                         "\"12345678\", label = \"x\" }");
    dir.Write("tm.toml", text);
    ASSERT_OK_AND_ASSIGN(auto c, LoadCatalogue(dir.path()));
    const CodeList* list = c->FindCodeList("kubun");
    ASSERT_NE(list, nullptr);
    EXPECT_TRUE(list->Contains("1")) << second;
    EXPECT_TRUE(list->Contains(second)) << second;
    EXPECT_TRUE(list->Contains("12345678")) << second;
    EXPECT_EQ(*list->Label("12345678"), "x");
    EXPECT_FALSE(list->Contains("1234567")) << second;
    EXPECT_FALSE(list->Contains(std::string_view("1\0", 2))) << second;
    EXPECT_FALSE(list->Contains("")) << second;
    EXPECT_FALSE(list->Contains("0")) << second;
    EXPECT_FALSE(list->Contains("1234567890")) << second;
  }
}

TEST(CatalogueLoaderTest, UnknownCodeListNamesFileLineAndItem) {
  TempDir dir;
  const std::string text = Replace(kBase, "code_list = \"kubun\"", "code_list = \"sex\"");
  EXPECT_THAT(
      LoadWith(dir, text),
      StatusIs(StatusCode::kInvalidArgument,
               At(dir, text, "[[item]]\ncode = \"KZ00000000000002\"") +
                   "TM00000000000002 item \"KZ00000000000002\": unknown code list \"sex\""));
}

TEST(CatalogueLoaderTest, TomlSyntaxErrorNamesLineAndColumn) {
  TempDir dir;
  const std::string text = Replace(kBase, "max_length = 40", "max_length = = 40");
  EXPECT_THAT(LoadWith(dir, text),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr(dir.File("tm.toml") + ":" +
                                 std::to_string(LineOf(text, "= = 40")) + ":")));
}

TEST(CatalogueLoaderTest, BadTmCode) {
  TempDir dir;
  const std::string text = Replace(kBase, "TM00000000000002", "TM0000000000002");
  EXPECT_THAT(LoadWith(dir, text),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr(dir.File("tm.toml") + ":2: TM0000000000002: tm_code")));
}

TEST(CatalogueLoaderTest, SameTmInTwoFiles) {
  TempDir dir;
  dir.Write("a.toml", kBase);
  dir.Write("b.toml", Replace(kBase, "id = \"kubun\"", "id = \"kubun2\""));
  EXPECT_THAT(
      LoadCatalogue(dir.path()),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr(dir.File("b.toml") +
                                                       ":2: TM00000000000002: information name "
                                                       "defined twice (first in " +
                                                       dir.File("a.toml") + ")")));
}

TEST(CatalogueLoaderTest, WrongFormat) {
  TempDir dir;
  const std::string text = Replace(kBase, "chukan-layout/1", "chukan-layout/2");
  EXPECT_THAT(LoadWith(dir, text),
              StatusIs(StatusCode::kInvalidArgument,
                       dir.File("tm.toml") + ":1: file: format \"chukan-layout/2\" is not "
                                             "supported (\"chukan-layout/1\")"));
}

TEST(CatalogueLoaderTest, UnknownKey) {
  TempDir dir;
  const std::string text = Replace(kBase, "max_length = 40", "maxlength = 40");
  EXPECT_THAT(LoadWith(dir, text),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr(At(dir, text, "[[item]]\ncode = \"KZ00000000000003\"") +
                                 "TM00000000000002 item \"KZ00000000000003\": key \"max_length\" "
                                 "is required for type text")));
  const std::string extra = Replace(kBase, "max_length = 40", "max_length = 40\ncolour = \"red\"");
  EXPECT_THAT(LoadWith(dir, extra),
              StatusIs(StatusCode::kInvalidArgument,
                       At(dir, extra, "colour") +
                           "TM00000000000002 item \"KZ00000000000003\": unknown key \"colour\""));
}

TEST(CatalogueLoaderTest, ItemCodeMustBeSixteenCharacters) {
  TempDir dir;
  const std::string text = Replace(kBase, "\"KZ00000000000003\"", "\"KZ0000000000003\"");
  EXPECT_THAT(LoadWith(dir, text),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("TM00000000000002 item \"KZ0000000000003\": an item code is 16 "
                                 "characters [0-9A-Z]")));
  const std::string lower = Replace(kBase, "\"KZ00000000000003\"", "\"kz00000000000003\"");
  EXPECT_THAT(LoadWith(dir, lower),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("an item code is 16 characters")));
}

TEST(CatalogueLoaderTest, DuplicateItemCode) {
  TempDir dir;
  const std::string text = Replace(kBase, "\"KZ00000000000003\"", "\"KZ00000000000002\"");
  EXPECT_THAT(LoadWith(dir, text),
              StatusIs(StatusCode::kInvalidArgument,
                       At(dir, text, "[[item]]\ncode = \"KZ00000000000002\"\nname = \"住所\"") +
                           "TM00000000000002 item \"KZ00000000000002\": item code listed twice"));
}

TEST(CatalogueLoaderTest, UnknownKindAndType) {
  TempDir dir;
  const std::string kind = Replace(kBase, "kind = \"single\"", "kind = \"group\"");
  EXPECT_THAT(LoadWith(dir, kind),
              StatusIs(StatusCode::kInvalidArgument,
                       At(dir, kind, "\"group\"") +
                           "TM00000000000002 item \"KZ00000000000002\": unknown kind \"group\" "
                           "(header, repeating, date, single)"));
  const std::string type = Replace(kBase, "type = \"text\"", "type = \"string\"");
  EXPECT_THAT(LoadWith(dir, type),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("item \"KZ00000000000003\": unknown type \"string\"")));
}

TEST(CatalogueLoaderTest, DateKindNeedsDateType) {
  TempDir dir;
  const std::string text =
      Replace(kBase, "kind = \"single\"\ntype = \"text\"", "kind = \"date\"\ntype = \"text\"");
  EXPECT_THAT(LoadWith(dir, text),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("item \"KZ00000000000003\": an item of kind date must have type "
                                 "date")));
}

TEST(CatalogueLoaderTest, MaxLengthMustBePositiveAndBounded) {
  TempDir dir;
  const std::string zero = Replace(kBase, "max_length = 40", "max_length = 0");
  EXPECT_THAT(LoadWith(dir, zero),
              StatusIs(StatusCode::kInvalidArgument,
                       At(dir, zero, "max_length = 0") +
                           "TM00000000000002 item \"KZ00000000000003\": max_length 0 is outside "
                           "1..4000"));
  const std::string huge = Replace(kBase, "max_length = 4\n", "max_length = 31\n");
  EXPECT_THAT(LoadWith(dir, huge),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("max_length 31 is outside 1..30")));
  const std::string str = Replace(kBase, "max_length = 40", "max_length = \"40\"");
  EXPECT_THAT(LoadWith(dir, str),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("key \"max_length\": expected an integer, found a string")));
}

TEST(CatalogueLoaderTest, CodeTypeNeedsCodeList) {
  TempDir dir;
  const std::string text = Replace(kBase, "code_list = \"kubun\"\n", "");
  EXPECT_THAT(LoadWith(dir, text),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("item \"KZ00000000000002\": key \"code_list\" is required for "
                                 "type code")));
}

TEST(CatalogueLoaderTest, RecordKeyChecks) {
  TempDir dir;
  const std::string missing =
      Replace(kBase, "record_key = [\"KZ00000000000001\"]", "record_key = [\"KZ00000000000009\"]");
  EXPECT_THAT(LoadWith(dir, missing),
              StatusIs(StatusCode::kInvalidArgument,
                       At(dir, missing, "record_key") +
                           "TM00000000000002: record_key item \"KZ00000000000009\": no such "
                           "item"));
  const std::string not_header =
      Replace(kBase, "record_key = [\"KZ00000000000001\"]", "record_key = [\"KZ00000000000003\"]");
  EXPECT_THAT(LoadWith(dir, not_header),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("record_key item \"KZ00000000000003\": must be of kind header")));
  const std::string optional = Replace(kBase, "required = true\n", "");
  EXPECT_THAT(LoadWith(dir, optional),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("record_key item \"KZ00000000000001\": must be required")));
}

TEST(CatalogueLoaderTest, VersionChecks) {
  TempDir dir;
  const std::string three = Replace(kBase, "version = \"0002\"", "version = \"002\"");
  EXPECT_THAT(LoadWith(dir, three),
              StatusIs(StatusCode::kInvalidArgument,
                       At(dir, three, "[[version]]\nversion = \"002\"") +
                           "TM00000000000002 version \"002\": a version (版番号) is 4 digits"));
  const std::string overlap = Replace(kBase, "valid_from = 2024-06-01", "valid_from = 2024-05-31");
  EXPECT_THAT(LoadWith(dir, overlap),
              StatusIs(StatusCode::kInvalidArgument,
                       At(dir, overlap, "[[version]]\nversion = \"0002\"") +
                           "TM00000000000002 version \"0002\": valid_from 2024-05-31 overlaps "
                           "version \"0001\" (2017-07-18 .. 2024-05-31)"));
  const std::string open = Replace(kBase, "valid_to = 2024-05-31\n", "");
  EXPECT_THAT(LoadWith(dir, open),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("version \"0002\": valid_from 2024-06-01 overlaps version "
                                 "\"0001\" (2017-07-18 .. open)")));
  const std::string backwards = Replace(kBase, "valid_to = 2024-05-31", "valid_to = 2017-07-17");
  EXPECT_THAT(LoadWith(dir, backwards),
              StatusIs(StatusCode::kInvalidArgument,
                       At(dir, backwards, "valid_to = 2017-07-17") +
                           "TM00000000000002 version \"0001\": valid_to 2017-07-17 is before "
                           "valid_from 2017-07-18"));
  const std::string quoted =
      Replace(kBase, "valid_from = 2017-07-18", "valid_from = \"2017-07-18\"");
  EXPECT_THAT(LoadWith(dir, quoted),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("key \"valid_from\": expected a date (YYYY-MM-DD, unquoted), "
                                 "found a string")));
  const std::string twice = Replace(kBase, "version = \"0002\"", "version = \"0001\"");
  EXPECT_THAT(LoadWith(dir, twice), StatusIs(StatusCode::kInvalidArgument,
                                             HasSubstr("version \"0001\": version listed twice")));
}

TEST(CatalogueLoaderTest, ItemVersionRange) {
  TempDir dir;
  const std::string unknown =
      Replace(kBase, "max_length = 40", "max_length = 40\nfrom_version = \"0003\"");
  EXPECT_THAT(LoadWith(dir, unknown),
              StatusIs(StatusCode::kInvalidArgument,
                       At(dir, unknown, "from_version") +
                           "TM00000000000002 item \"KZ00000000000003\": from_version \"0003\": "
                           "no such version"));
  TempDir ok_dir;
  const std::string ranged =
      Replace(kBase, "max_length = 40", "max_length = 40\nfrom_version = \"0002\"");
  ok_dir.Write("tm.toml", ranged);
  ASSERT_OK_AND_ASSIGN(auto c, LoadCatalogue(ok_dir.path()));
  EXPECT_EQ(c->infos()[0]->Version("0001")->item_count(), 2u);
  EXPECT_EQ(c->infos()[0]->Version("0002")->item_count(), 3u);
}

TEST(CatalogueLoaderTest, DataSetChecks) {
  TempDir dir;
  const std::string unknown =
      Replace(kBase, "max_length = 40", "max_length = 40\ndata_set = \"0101\"");
  EXPECT_THAT(LoadWith(dir, unknown),
              StatusIs(StatusCode::kInvalidArgument,
                       At(dir, unknown, "data_set = ") +
                           "TM00000000000002 item \"KZ00000000000003\": unknown data set "
                           "\"0101\""));
  const std::string no_item =
      Replace(kBase, "[[version]]", "[[data_set]]\ncode = \"0101\"\nname = \"x\"\n\n[[version]]");
  EXPECT_THAT(LoadWith(dir, no_item),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("TM00000000000002: data_set_item is required when [[data_set]] "
                                 "is defined")));
}

TEST(CatalogueLoaderTest, ProcedureChecks) {
  TempDir dir;
  dir.Write("tm.toml", kBase);
  const std::string unknown =
      Replace(kProcedures, "affair = \"JM90000000000001\"", "affair = \"JM90000000000009\"");
  dir.Write("procedures.toml", unknown);
  EXPECT_THAT(
      LoadCatalogue(dir.path()),
      StatusIs(StatusCode::kInvalidArgument,
               dir.File("procedures.toml") + ":" +
                   std::to_string(LineOf(unknown, "[[procedure]]")) +
                   ": procedure \"JT90000000000101\": unknown affair \"JM90000000000009\""));
  const std::string bad = Replace(kProcedures, "JT90000000000101", "JT9000000000010X");
  dir.Write("procedures.toml", bad);
  EXPECT_THAT(LoadCatalogue(dir.path()),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr(": procedure \"JT9000000000010X\": jt_code")));
}

TEST(CatalogueLoaderTest, CodeListChecks) {
  TempDir dir;
  const std::string twice = Replace(kBase, "{ code = \"2\", label", "{ code = \"1\", label");
  EXPECT_THAT(LoadWith(dir, twice),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr(": code_list \"kubun\" code \"1\": code listed twice")));
  const std::string empty = Replace(
      kBase, "[{ code = \"1\", label = \"課税\" }, { code = \"2\", label = \"非課税\" }]", "[]");
  EXPECT_THAT(
      LoadWith(dir, empty),
      StatusIs(StatusCode::kInvalidArgument,
               HasSubstr("code_list \"kubun\": key \"codes\" must list at least one code")));
  dir.Write("tm.toml", kBase);
  dir.Write("z_lists.toml",
            "format = \"chukan-layout/1\"\n[[code_list]]\nid = \"kubun\"\nname = \"x\"\n"
            "codes = [{ code = \"1\", label = \"x\" }]\n");
  EXPECT_THAT(LoadCatalogue(dir.path()),
              StatusIs(StatusCode::kInvalidArgument,
                       dir.File("z_lists.toml") +
                           ":2: code_list \"kubun\": defined twice (first "
                           "at " +
                           dir.File("tm.toml") + ":" +
                           std::to_string(LineOf(kBase, "[[code_list]]")) + ")"));
}

TEST(CatalogueLoaderTest, FlagsOfTheTmApplyToItems) {
  TempDir dir;
  const std::string text =
      Replace(kBase, "name_en = \"Local tax\"", "name_en = \"Local tax\"\nnon_disclosure = true");
  dir.Write("tm.toml",
            Replace(text, "max_length = 40", "max_length = 40\napproval_required = true"));
  ASSERT_OK_AND_ASSIGN(auto c, LoadCatalogue(dir.path()));
  const LayoutVersion& v = c->infos()[0]->LatestVersion();
  EXPECT_TRUE(c->infos()[0]->non_disclosure());
  EXPECT_FALSE(c->infos()[0]->approval_required());
  EXPECT_TRUE(v.item(0).non_disclosure());
  EXPECT_FALSE(v.item(0).approval_required());
  EXPECT_TRUE(v.item(2).approval_required());
}

TEST(CatalogueLoaderTest, LimitsAndDirectoryErrors) {
  TempDir dir;
  EXPECT_THAT(LoadCatalogue(dir.File("missing")), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(LoadCatalogue(dir.path()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no information name")));
  dir.Write("tm.toml", kBase);
  dir.Write("procedures.toml", kProcedures);
  CatalogueLimits one_file;
  one_file.max_files = 1;
  EXPECT_THAT(LoadCatalogue(dir.path(), one_file),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("more than 1 catalogue files")));
  CatalogueLimits small;
  small.max_file_bytes = 100;
  EXPECT_THAT(LoadCatalogue(dir.path(), small),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr(dir.File("procedures.toml") + ": file is larger than 100 bytes")));
  CatalogueLimits few_items;
  few_items.max_items_per_info = 2;
  EXPECT_THAT(
      LoadCatalogue(dir.path(), few_items),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("TM00000000000002: more than 2 items")));
}

}  // namespace
}  // namespace chukan::layout
