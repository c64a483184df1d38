#include "common/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/status_matchers.h"
#include "common/test_util.h"

namespace chukan {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kSample[] = R"(# sample
[server]
listen = "127.0.0.1:0"
workers = 2
tls = true
names = ["a", "b"]

[store]
backend = "sqlite"
)";

TEST(ConfigTest, ReadsTypedValues) {
  ASSERT_OK_AND_ASSIGN(Config c, Config::Parse(kSample, "chukan.toml"));
  EXPECT_EQ(*c.GetString("server.listen"), "127.0.0.1:0");
  EXPECT_EQ(*c.GetInt("server.workers", 1, 64), 2);
  EXPECT_EQ(*c.GetBool("server.tls"), true);
  EXPECT_EQ(c.GetStringArray("server.names")->size(), 2u);
  EXPECT_EQ(*c.GetString("store.dsn", "none"), "none");
  EXPECT_EQ(*c.GetInt("server.backlog", 128, 1, 4096), 128);
}

TEST(ConfigTest, WrongTypeNamesFileLineAndKey) {
  ASSERT_OK_AND_ASSIGN(Config c, Config::Parse(kSample, "chukan.toml"));
  EXPECT_THAT(c.GetInt("server.listen", 0, 10),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("chukan.toml:3: key 'server.listen': expected an integer, "
                                 "found a string")));
}

TEST(ConfigTest, OutOfRangeAndMissing) {
  ASSERT_OK_AND_ASSIGN(Config c, Config::Parse(kSample, "chukan.toml"));
  EXPECT_THAT(c.GetInt("server.workers", 4, 8),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("outside [4, 8]")));
  EXPECT_THAT(c.GetString("server.missing"),
              StatusIs(StatusCode::kNotFound, HasSubstr("key 'server.missing' is required")));
}

TEST(ConfigTest, SyntaxErrorNamesLineAndColumn) {
  EXPECT_THAT(Config::Parse("a = 1\nb = = 2\n", "bad.toml"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("bad.toml:2:")));
}

TEST(ConfigTest, UnknownKeyIsAnError) {
  ASSERT_OK_AND_ASSIGN(Config c, Config::Parse(kSample, "chukan.toml"));
  EXPECT_OK(c.CheckKnownKeys({"server.*", "store.backend"}));
  EXPECT_THAT(c.CheckKnownKeys({"server.listen", "server.workers", "server.tls", "store.*"}),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("chukan.toml:6: unknown key 'server.names'")));
}

TEST(ConfigTest, LoadFileErrors) {
  chukan::testing::TempDir dir;
  EXPECT_THAT(Config::LoadFile(dir.File("nope.toml")),
              StatusIs(StatusCode::kNotFound, HasSubstr("nope.toml")));
  {
    std::ofstream out(dir.File("ok.toml"));
    out << kSample;
  }
  ASSERT_OK_AND_ASSIGN(Config c, Config::LoadFile(dir.File("ok.toml")));
  EXPECT_EQ(c.source(), dir.File("ok.toml"));
}

// Found by fuzz/config_toml_fuzz.cc: a table header whose key starts with a character that
// cannot start one (`[` then a NUL, `[=`, `[[[a]]]`, `[` at a line end) tripped an assertion in
// toml++ 3.3 (abort in a debug build, undefined behaviour under clang with NDEBUG;
// marzer/tomlplusplus#301). PrecheckToml refuses it first, with file, line and column.
TEST(ConfigTest, TableHeaderWithoutAKeyIsAnErrorNotAnAssertion) {
  EXPECT_THAT(
      Config::Parse(std::string_view("a = 1\n[\0ls]\n", 12), "c.toml"),
      StatusIs(StatusCode::kInvalidArgument, "c.toml:2:2: table header does not start with a key"));
  EXPECT_THAT(
      Config::Parse("[=]", "c.toml"),
      StatusIs(StatusCode::kInvalidArgument, "c.toml:1:2: table header does not start with a key"));
  EXPECT_THAT(
      Config::Parse("  [[[a]]]", "c.toml"),
      StatusIs(StatusCode::kInvalidArgument, "c.toml:1:5: table header does not start with a key"));
  EXPECT_THAT(
      Config::Parse("[\n", "c.toml"),
      StatusIs(StatusCode::kInvalidArgument, "c.toml:1:2: table header does not start with a key"));
  // Headers toml++ refuses by itself keep its message.
  EXPECT_THAT(Config::Parse("[ [a]]", "c.toml"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("must be contiguous")));
  EXPECT_THAT(Config::Parse("[]", "c.toml"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("blank bare keys")));
}

// Found by fuzzing: a character outside ASCII where toml++ 3.3 looks for whitespace (U+02D6
// after `=`) reached __builtin_unreachable in the library (undefined behaviour; UBSan stops).
// Outside strings and comments it is never valid TOML; inside them it is kept.
TEST(ConfigTest, CharacterOutsideAsciiOutsideStringsIsAnErrorNotUndefinedBehaviour) {
  EXPECT_THAT(Config::Parse("a = \xCB\x96 = 1\n", "c.toml"),
              StatusIs(StatusCode::kInvalidArgument,
                       "c.toml:1:5: a character outside ASCII outside a string or comment"));
  EXPECT_THAT(Config::Parse("x = 1\n\xE5\xB8\x82 = 2\n", "c.toml"),
              StatusIs(StatusCode::kInvalidArgument,
                       "c.toml:2:1: a character outside ASCII outside a string or comment"));
  ASSERT_OK_AND_ASSIGN(Config c, Config::Parse("# 札幌市\nname = \"札幌市\"  # 名前\n"
                                               "t = \"\"\"\n中間\n\"\"\"\nl = '市'\n",
                                               "c.toml"));
  EXPECT_EQ(c.GetString("name").value_or(""), "札幌市");
  EXPECT_EQ(c.GetString("t").value_or(""), "中間\n");
  EXPECT_EQ(c.GetString("l").value_or(""), "市");
}

// Found by fuzzing (make test-fuzz): `[}` in an array made toml++ 3.3 fail an assertion
// (parse_value: `!is_value_terminator`), undefined behaviour in a release build.
TEST(ConfigTest, MismatchedBracketsAreAnErrorNotAnAssertion) {
  EXPECT_THAT(Config::Parse("a = [\n  [}\n]\n", "c.toml"),
              StatusIs(StatusCode::kInvalidArgument, "c.toml:2:4: '}' closes a '['"));
  EXPECT_THAT(Config::Parse("t = { x = 1 ]\n", "c.toml"),
              StatusIs(StatusCode::kInvalidArgument, "c.toml:1:13: ']' closes a '{'"));
  ASSERT_OK_AND_ASSIGN(Config c, Config::Parse("a = [ { x = \"}]\" }, [1, [2]] ]\n", "c.toml"));
}

// Found by a long fuzzing run (scripts/fuzz 480 config_toml): a date-time whose 'T' is not
// followed by a digit made toml++ 3.3 fail an assertion (parse_time: `is_decimal_digit(*cp)`),
// undefined behaviour in a release build. The position is that of the character after 'T'.
TEST(ConfigTest, ADateTimeWithoutATimeIsAnErrorNotAnAssertion) {
  EXPECT_THAT(Config::Parse("a = 2026-12-04T:41\n", "c.toml"),
              StatusIs(StatusCode::kInvalidArgument,
                       "c.toml:1:16: a date-time needs a time (hh:mm:ss) after 'T'"));
  EXPECT_THAT(Config::Parse("x = 1\nb = [1979-05-27t:1]\n", "c.toml"),
              StatusIs(StatusCode::kInvalidArgument,
                       "c.toml:2:17: a date-time needs a time (hh:mm:ss) after 'T'"));
  ASSERT_OK_AND_ASSIGN(Config c, Config::Parse("when = 1979-05-27T07:32:00Z\n"
                                               "s = \"2026-12-04T:41\"  # 2026-12-04T:41\n",
                                               "c.toml"));
  EXPECT_EQ(c.GetString("s").value_or(""), "2026-12-04T:41");
}

// Found by a long fuzzing run (scripts/fuzz 480 result_layout): in a multi-line basic string, a
// backslash followed (directly, or after blanks) by a character outside ASCII made toml++ 3.3
// reach __builtin_unreachable while asking whether that character is whitespace.
TEST(ConfigTest, ABackslashBeforeACharacterOutsideAsciiIsAnErrorNotUndefinedBehaviour) {
  EXPECT_THAT(Config::Parse("a = \"\"\"x\\\xEF\xBB\xBD\"\"\"\n", "c.toml"),
              StatusIs(StatusCode::kInvalidArgument,
                       "c.toml:1:10: a character outside ASCII after a backslash"));
  EXPECT_THAT(Config::Parse("a = \"\"\"x\\ \xEF\xBB\xBD\"\"\"\n", "c.toml"),
              StatusIs(StatusCode::kInvalidArgument,
                       "c.toml:1:11: a character outside ASCII after a backslash"));
  // A line-ending backslash and characters outside ASCII elsewhere in the string are fine.
  ASSERT_OK_AND_ASSIGN(Config c, Config::Parse("a = \"\"\"市 \\\n  町\"\"\"\n", "c.toml"));
  EXPECT_EQ(c.GetString("a").value_or(""), "市 町");
}

// Found by CI's fuzz run (result_layout, 5 December 2026): after a line-ending backslash toml++
// 3.3 asks of the first character after the skipped whitespace whether it is whitespace, and
// for one outside ASCII in U+00A1–U+0499, U+2C8E–U+3087 or U+FB26–U+FEFE reaches
// __builtin_unreachable (the ASan/UBSan replay of fuzz/corpus/*/found-20261206-* stops there
// without the guard). Valid TOML: the string comes out as TOML 1.0 says, on the same lines.
TEST(ConfigTest, ALineEndingBackslashBeforeHiraganaGivesTheStringNotUndefinedBehaviour) {
  ASSERT_OK_AND_ASSIGN(Config c,
                       Config::Parse("a = \"\"\"\\\n  あ い\"\"\"\n"
                                     "b = \"\"\"x\\ \r\n\r\n\t\xC3\xA9\"\"\"\n"  // é, CRLF
                                     "c = \"\"\"「\\\n」、\\\n\n。\\\n \U00020BB7\"\"\"\n"
                                     "d = \"\"\"\\\n\xEF\xBB\xBE\"\"\"\n"  // U+FEFE
                                     "e = '''\\\n  あ'''\n",  // a literal string keeps it all
                                     "c.toml"));
  EXPECT_EQ(c.GetString("a").value_or(""), "あ い");
  EXPECT_EQ(c.GetString("b").value_or(""), "x\xC3\xA9");
  EXPECT_EQ(c.GetString("c").value_or(""), "「」、。\U00020BB7");
  EXPECT_EQ(c.GetString("d").value_or(""), "\xEF\xBB\xBE");
  EXPECT_EQ(c.GetString("e").value_or(""), "\\\n  あ");
  // Lines stay where they were: an error after the rewritten string names its own line.
  EXPECT_THAT(Config::Parse("a = \"\"\"\\\n  あ\"\"\"\nb = =\n", "c.toml"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("c.toml:3:")));
  // Bytes that are not UTF-8 there are left for toml++ to refuse.
  EXPECT_THAT(Config::Parse("a = \"\"\"\\\n\xE3\x81\"\"\"\n", "c.toml"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("invalid utf-8 sequence")));
}

// Found by a fuzz run (result_layout, 6 December 2026, fuzz/corpus/result_layout/
// found-20261206-bare-value-read-ahead): toml++ 3.3 reads a bare value ahead, through what
// looks like a string, asking of each character whether it ends the value — the same
// unreachable point for U+FEFD. A bare value followed by anything but a terminator is never
// valid TOML: refused with its position. Strings in values, arrays, inline tables and keys
// are untouched.
TEST(ConfigTest, ACharacterOutsideAsciiReadAheadInABareValueIsAnErrorNotUndefinedBehaviour) {
  EXPECT_THAT(
      Config::Parse("a = 1*\"\\\\\xEF\xBB\xBD\"\n", "c.toml"),
      StatusIs(StatusCode::kInvalidArgument, "c.toml:1:10: a character outside ASCII in a value"));
  EXPECT_THAT(
      Config::Parse("a = [\r\n  1,\n  2\"あ\"]\n", "c.toml"),
      StatusIs(StatusCode::kInvalidArgument, "c.toml:3:5: a character outside ASCII in a value"));
  // A date-time with a space for its 'T' is read on past the space.
  EXPECT_THAT(
      Config::Parse("a = 2026-12-04 1\"あ\"\n", "c.toml"),
      StatusIs(StatusCode::kInvalidArgument, "c.toml:1:18: a character outside ASCII in a value"));
  ASSERT_OK_AND_ASSIGN(Config c, Config::Parse("b = [1, \"あ\", 2026-12-04 10:00:00, \"い\"]\n"
                                               "c = { x = \"う\", y = 2 }\n"
                                               "d.\"え\" = 3\n"
                                               "1.\"お\" = 4\n"
                                               "e = true # か\n",
                                               "c.toml"));
  EXPECT_EQ(c.GetString("c.x").value_or(""), "う");
  EXPECT_EQ(c.GetInt("d.え", 0, 10).value_or(0), 3);
}

// The check skips what is not a table header: arrays over several lines, strings, comments.
TEST(ConfigTest, TableHeaderCheckLeavesValuesAlone) {
  constexpr char kText[] = R"(a = [
  [
    1
  ],
  [ "x" ],
]
s = """
[注] a line that starts with a bracket \"""
[=
"""
t = '''
[
'''
u = "[=" # [=
[ "quoted key" . bare ]
v = 2
)";
  ASSERT_OK_AND_ASSIGN(Config c, Config::Parse(kText, "c.toml"));
  EXPECT_EQ(*c.GetInt("quoted key.bare.v", 0, 9), 2);
  EXPECT_EQ(*c.GetString("u"), "[=");
}

}  // namespace
}  // namespace chukan
