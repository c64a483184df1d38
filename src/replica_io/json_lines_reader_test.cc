#include "replica_io/json_lines_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/canary_matchers.h"
#include "common/status_matchers.h"
#include "replica_io/test_sources.h"

namespace chukan::replica_io {
namespace {

using ::chukan::replica_io::testing::ChunkedSource;
using ::chukan::replica_io::testing::FailingSource;
using ::chukan::testing::EchoesNoCanary;
using ::chukan::testing::kCanaryAtenaNo;
using ::chukan::testing::kCanaryName;
using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

using Fields = std::vector<std::pair<std::string, std::string>>;

struct LinesOutcome {
  std::vector<Fields> objects;
  std::vector<int64_t> lines;
  Status status;
  bool operator==(const LinesOutcome&) const = default;
};

LinesOutcome ReadAllLines(ByteSource& src, JsonLinesOptions options = {}) {
  LinesOutcome out;
  JsonLinesReader reader(src, options);
  for (;;) {
    Result<bool> more = reader.Next();
    if (!more.ok()) {
      out.status = more.status();
      EXPECT_EQ(reader.Next().status(), out.status);
      return out;
    }
    if (!*more) return out;
    out.objects.push_back(reader.fields());
    out.lines.push_back(reader.line());
    EXPECT_EQ(reader.records(), static_cast<int64_t>(out.objects.size()));
  }
}

LinesOutcome ReadLines(std::string_view text, JsonLinesOptions options = {}) {
  StringSource whole(text);
  const LinesOutcome expected = ReadAllLines(whole, options);
  ChunkedSource bytewise(text, 1);
  EXPECT_EQ(ReadAllLines(bytewise, options), expected) << "one byte at a time";
  ChunkedSource random(text, 1 + text.size() / 3, 5);
  EXPECT_EQ(ReadAllLines(random, options), expected) << "random chunks";
  return expected;
}

TEST(JsonLinesReaderTest, ReadsFlatObjects) {
  LinesOutcome o = ReadLines(
      "{\"atena_no\":\"000000000000001\",\"name\":\"髙橋 ①\",\"amount\":350000}\n"
      "{\"atena_no\":\"000000000000002\",\"note\":null,\"n\":-12,\"esc\":\"a\\\"b\\u5730\\n\"}\r\n"
      "  {\"big\": 18446744073709551615 , \"zero\":-0}");
  ASSERT_OK(o.status);
  ASSERT_EQ(o.objects.size(), 3u);
  EXPECT_EQ(o.objects[0],
            (Fields{{"atena_no", "000000000000001"}, {"name", "髙橋 ①"}, {"amount", "350000"}}));
  EXPECT_EQ(o.objects[1],
            (Fields{{"atena_no", "000000000000002"}, {"n", "-12"}, {"esc", "a\"b地\n"}}));
  EXPECT_EQ(o.objects[2], (Fields{{"big", "18446744073709551615"}, {"zero", "0"}}));
  EXPECT_THAT(o.lines, ElementsAre(1, 2, 3));
}

TEST(JsonLinesReaderTest, EmptyObjectAndByteOrderMark) {
  LinesOutcome o = ReadLines("\xEF\xBB\xBF{}\n{\"a\":\"b\"}\n");
  ASSERT_OK(o.status);
  EXPECT_EQ(o.objects, (std::vector<Fields>{{}, {{"a", "b"}}}));
  EXPECT_THAT(ReadLines("{}\n\xEF\xBB\xBF{}\n").status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 2: invalid JSON: byte order mark inside the input"));
}

TEST(JsonLinesReaderTest, EmptyLines) {
  EXPECT_EQ(ReadLines("").objects.size(), 0u);
  EXPECT_OK(ReadLines("").status);
  LinesOutcome trailing = ReadLines("{}\n\n");
  EXPECT_OK(trailing.status);
  EXPECT_EQ(trailing.objects.size(), 1u);
  EXPECT_OK(ReadLines("{}\r\n\r\n").status);
  EXPECT_THAT(ReadLines("{}\n\n{}\n").status,
              StatusIs(StatusCode::kInvalidArgument, "line 2: empty line"));
  EXPECT_THAT(ReadLines("{}\n\n\n").status,
              StatusIs(StatusCode::kInvalidArgument, "line 2: empty line"));
  EXPECT_THAT(ReadLines("{}\n   \n").status,
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("line 2: invalid JSON: ")));
}

TEST(JsonLinesReaderTest, RefusesValuesOtherThanStringsIntegersAndNull) {
  EXPECT_THAT(ReadLines("{\"a\":\"x\"}\n{\"amount\":1.5}\n").status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 2, member 1: floating-point values are not allowed"));
  EXPECT_THAT(ReadLines("{\"a\":null,\"e\":1e3}").status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 1, member 2: floating-point values are not allowed"));
  EXPECT_THAT(ReadLines("{\"big\":18446744073709551616}").status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 1, member 1: floating-point values are not allowed"));
  EXPECT_THAT(
      ReadLines("{\"a\":\"1\",\"b\":\"2\",\"flag\":true}").status,
      StatusIs(StatusCode::kInvalidArgument, "line 1, member 3: boolean values are not allowed"));
  EXPECT_THAT(
      ReadLines("{\"list\":[1]}").status,
      StatusIs(StatusCode::kInvalidArgument, "line 1, member 1: array values are not allowed"));
  EXPECT_THAT(
      ReadLines("{\"obj\":{\"x\":\"y\"}}").status,
      StatusIs(StatusCode::kInvalidArgument, "line 1, member 1: object values are not allowed"));
}

TEST(JsonLinesReaderTest, NamesOnlyTheKeysTheCallerAllows) {
  JsonLinesOptions options;
  options.nameable_key = [](std::string_view k) { return k == "amount"; };
  EXPECT_THAT(ReadLines("{\"a\":\"x\",\"amount\":1.5}", options).status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 1, member 2 (amount): floating-point values are not allowed"));
  EXPECT_THAT(ReadLines("{\"amount\":\"1\",\"amount\":null}", options).status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 1, member 2 (amount): duplicate key (the same as member 1)"));
  EXPECT_THAT(
      ReadLines("{\"a\":true}", options).status,
      StatusIs(StatusCode::kInvalidArgument, "line 1, member 1: boolean values are not allowed"));
}

TEST(JsonLinesReaderTest, MembersGiveEachFieldsPositionCountingNulls) {
  StringSource src(
      std::string_view("{\"a\":null,\"b\":\"1\",\"c\":null,\"d\":2}\n{\"e\":\"3\"}\n"));
  JsonLinesReader reader(src);
  ASSERT_OK_AND_ASSIGN(bool more, reader.Next());
  ASSERT_TRUE(more);
  EXPECT_EQ(reader.fields(), (Fields{{"b", "1"}, {"d", "2"}}));
  EXPECT_THAT(reader.members(), ElementsAre(2u, 4u));
  ASSERT_OK_AND_ASSIGN(more, reader.Next());
  ASSERT_TRUE(more);
  EXPECT_THAT(reader.members(), ElementsAre(1u));
}

// Keys and values that are personal data: every message names the line and the member's
// position, never the key or the value, nor a piece of either.
TEST(JsonLinesReaderTest, MessagesNeverEchoKeysOrValues) {
  const std::string name(kCanaryName);
  const std::string number(kCanaryAtenaNo);
  const std::string k1 = "\"" + name + "\"";
  const std::string k2 = "\"" + number + "\"";
  JsonLinesOptions options;
  options.max_value_bytes = 8;
  options.max_fields = 3;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{" + k1 + ":1.5}", "line 1, member 1: floating-point values are not allowed"},
      {"{" + k2 + ":\"1\"," + k2 + ":\"2\"}",
       "line 1, member 2: duplicate key (the same as member 1)"},
      {"{" + k2 + ":\"1\"," + k1 + ":true}", "line 1, member 2: boolean values are not allowed"},
      {"{" + k1 + ":[" + k2 + "]}", "line 1, member 1: array values are not allowed"},
      {"{" + k1 + ":{" + k2 + ":1}}", "line 1, member 1: object values are not allowed"},
      {"{" + k1 + ":" + k2 + "," + k1 + ":null}",
       "line 1, member 1: value exceeds max_value_bytes (8)"},
      {"{" + k1 + ":\"1\"," + k2 + ":\"" + number + "\"}",
       "line 1, member 2: value exceeds max_value_bytes (8)"},
      {"{" + k1 + ":\"1\"," + k1 + ":\"2\"}",
       "line 1, member 2: duplicate key (the same as member 1)"},
      {"{\"" + name + std::string(300, 'k') + "\":\"1\"}",
       "line 1, member 1: key longer than 256 bytes"},
      {"[" + k1 + "," + k2 + "]", "line 1: expected a JSON object"},
      {k1, "line 1: expected a JSON object"},
      {"{" + k1 + ":\"1\"," + k2 + ":\"2\",\"a\":null,\"b\":null}",
       "line 1: more than max_fields (3) fields"},
  };
  for (const auto& [text, message] : cases) {
    SCOPED_TRACE(text);
    const Status s = ReadLines(text, options).status;
    EXPECT_TRUE(s.code() == StatusCode::kInvalidArgument ||
                s.code() == StatusCode::kResourceExhausted)
        << s;
    EXPECT_EQ(s.message(), message);
    EXPECT_THAT(s.message(), EchoesNoCanary());
  }
  // Syntax errors: nlohmann's reason, without its excerpt of the input.
  for (const std::string& text :
       {"{" + k1 + ":\"" + name + "\" " + k2 + "}", "{" + k1 + " " + number + "}",
        "{" + k1 + ":\"" + name + "\x01\"}", "{" + k1 + ":" + name + "}",
        "{" + k1 + ":\"" + name + "\xFF\"}", "{" + k1 + ":-" + number + "x}", name}) {
    SCOPED_TRACE(text);
    const Status s = ReadLines(text).status;
    EXPECT_THAT(s, StatusIs(StatusCode::kInvalidArgument, HasSubstr("line 1: invalid JSON: ")));
    EXPECT_THAT(s.message(), EchoesNoCanary());
  }
}

TEST(JsonLinesReaderTest, TopLevelMustBeAnObject) {
  for (const char* line : {"[]", "\"text\"", "12", "null", "true"}) {
    EXPECT_THAT(ReadLines(line).status,
                StatusIs(StatusCode::kInvalidArgument, "line 1: expected a JSON object"))
        << line;
  }
}

TEST(JsonLinesReaderTest, DuplicateKeys) {
  EXPECT_THAT(ReadLines("{\"a\":\"1\",\"b\":\"2\",\"a\":\"3\"}").status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 1, member 3: duplicate key (the same as member 1)"));
  EXPECT_THAT(ReadLines("{\"a\":null,\"a\":\"3\"}").status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 1, member 2: duplicate key (the same as member 1)"));
  EXPECT_THAT(ReadLines("{\"b\":\"1\",\"a\":\"2\",\"b\":\"3\",\"a\":\"4\"}").status,
              StatusIs(StatusCode::kInvalidArgument,
                       "line 1, member 4: duplicate key (the same as member 2)"));
}

TEST(JsonLinesReaderTest, InvalidJsonGivesAReasonWithoutQuotingTheInput) {
  LinesOutcome o = ReadLines("{}\n{\"name\":\"secret-value\"\n");
  EXPECT_THAT(o.status, StatusIs(StatusCode::kInvalidArgument,
                                 HasSubstr("line 2: invalid JSON: syntax error")));
  EXPECT_THAT(o.status.message(), Not(HasSubstr("secret-value")));
  EXPECT_THAT(ReadLines("{\"a\":\"b\"} x").status,
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("line 1: invalid JSON: ")));
  EXPECT_THAT(ReadLines("{\"a\":\"\xFF\"}").status,
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("line 1: invalid JSON: ")));
  EXPECT_THAT(ReadLines("{\"a\":\"\\ud800\"}").status,
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("line 1: invalid JSON: ")));
  EXPECT_THAT(ReadLines("{\"a\":\"b\",}").status,
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("line 1: invalid JSON: ")));
}

TEST(JsonLinesReaderTest, Limits) {
  JsonLinesOptions options;
  options.max_fields = 2;
  options.max_value_bytes = 5;
  options.max_line_bytes = 40;
  EXPECT_OK(ReadLines("{\"a\":\"12345\",\"b\":null}", options).status);
  EXPECT_THAT(ReadLines("{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}", options).status,
              StatusIs(StatusCode::kResourceExhausted, "line 1: more than max_fields (2) fields"));
  EXPECT_THAT(ReadLines("{\"a\":\"123456\"}", options).status,
              StatusIs(StatusCode::kResourceExhausted,
                       "line 1, member 1: value exceeds max_value_bytes (5)"));
  EXPECT_THAT(ReadLines("{}\n{\"a\":\"1\",                                    }\n", options).status,
              StatusIs(StatusCode::kResourceExhausted, "line 2: line exceeds max_line_bytes (40)"));
  EXPECT_THAT(
      ReadLines("{\"" + std::string(300, 'k') + "\":\"v\"}").status,
      StatusIs(StatusCode::kInvalidArgument, "line 1, member 1: key longer than 256 bytes"));
}

TEST(JsonLinesReaderTest, SourceErrorsPropagate) {
  FailingSource src("{\"a\":\"1\"}\n{\"b\"", UnavailableError("client went away"));
  LinesOutcome o = ReadAllLines(src);
  EXPECT_THAT(o.status, StatusIs(StatusCode::kUnavailable, "client went away"));
  EXPECT_EQ(o.objects.size(), 1u);
}

TEST(JsonLinesReaderTest, LargeInputErrorDeepInside) {
  std::string text;
  for (int i = 1; i <= 200'000; ++i) {
    text += i == 150'000 ? "{\"atena_no\":\"x\",\"amount\":true}\n"
                         : "{\"atena_no\":\"" + std::to_string(i) + "\",\"name\":\"山田\"}\n";
  }
  ChunkedSource src(text, 70'000, 9);
  LinesOutcome o = ReadAllLines(src);
  EXPECT_THAT(o.status, StatusIs(StatusCode::kInvalidArgument,
                                 "line 150000, member 2: boolean values are not allowed"));
  EXPECT_EQ(o.objects.size(), 149'999u);
}

}  // namespace
}  // namespace chukan::replica_io
