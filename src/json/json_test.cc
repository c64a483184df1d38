#include "json/json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/canary_matchers.h"
#include "common/ids.h"
#include "common/status_matchers.h"

namespace chukan::json {
namespace {

using ::chukan::testing::EchoesNoCanary;
using ::chukan::testing::kCanaryAtenaNo;
using ::chukan::testing::kCanaryName;
using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

TEST(JsonTest, TypedGettersAndFieldNamedErrors) {
  ASSERT_OK_AND_ASSIGN(
      JsonObject o,
      ParseJsonObject(
          R"({"name":"abc","n":7,"f":1.5,"b":true,"nul":null,"in":{"x":"y"},"a":["p","q"]})"));
  EXPECT_EQ(*o.GetString("name", 10), "abc");
  EXPECT_EQ(*o.GetInt("n", 0, 10), 7);
  EXPECT_EQ(*o.GetBool("b"), true);
  EXPECT_EQ(*o.GetOptionalString("nul", 10), std::nullopt);
  EXPECT_EQ(*o.GetOptionalInt("absent", 0, 1), std::nullopt);
  EXPECT_EQ(*o.GetStringArray("a", 5, 5), (std::vector<std::string>{"p", "q"}));
  EXPECT_THAT(o.GetString("n", 10),
              StatusIs(StatusCode::kInvalidArgument, "field \"n\": expected a string"));
  EXPECT_THAT(o.GetString("name", 2),
              StatusIs(StatusCode::kInvalidArgument, "field \"name\": longer than 2 bytes"));
  EXPECT_THAT(o.GetInt("f", 0, 10),
              StatusIs(StatusCode::kInvalidArgument, "field \"f\": expected an integer"));
  EXPECT_THAT(o.GetInt("n", 8, 10),
              StatusIs(StatusCode::kInvalidArgument, "field \"n\": must be between 8 and 10"));
  EXPECT_THAT(o.GetBool("missing"),
              StatusIs(StatusCode::kInvalidArgument, "field \"missing\": required"));
  EXPECT_THAT(o.GetStringArray("a", 1, 5),
              StatusIs(StatusCode::kInvalidArgument, "field \"a\": more than 1 items"));
  ASSERT_OK_AND_ASSIGN(JsonObject in, o.GetObject("in"));
  EXPECT_THAT(in.GetInt("x", 0, 1),
              StatusIs(StatusCode::kInvalidArgument, "field \"in.x\": expected an integer"));
  // Keys sort as a, b, f, in, n, name, nul: the unknown "a" is the first.
  EXPECT_THAT(o.RejectUnknownFields({"name", "n", "f", "b", "nul", "in"}),
              StatusIs(StatusCode::kInvalidArgument,
                       "body: unknown field #1 in key order (allowed: name, n, f, b, nul, in)"));
  EXPECT_OK(o.RejectUnknownFields({"name", "n", "f", "b", "nul", "in", "a"}));
}

TEST(JsonTest, ObjectArraysNameThePathOfAnError) {
  ASSERT_OK_AND_ASSIGN(JsonObject o, ParseJsonObject(R"({"rules":[{"tm":"a"},{"tm":7}],"n":[1]})"));
  ASSERT_OK_AND_ASSIGN(std::vector<JsonObject> rules, o.GetObjectArray("rules", 10));
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].GetString("tm", 10).value(), "a");
  EXPECT_THAT(rules[1].GetString("tm", 10),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("rules[1].tm")));
  EXPECT_THAT(o.GetObjectArray("rules", 1),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("more than 1 items")));
  EXPECT_THAT(o.GetObjectArray("n", 5), StatusIs(StatusCode::kInvalidArgument, HasSubstr("n[0]")));
}

TEST(JsonTest, StrictParsing) {
  EXPECT_THAT(ParseJsonObject(R"({"a":1,"a":2})"),
              StatusIs(StatusCode::kInvalidArgument,
                       "body: duplicate key in an object at nesting depth 1"));
  EXPECT_THAT(ParseJsonObject(R"({"o":{"k":1,"k":1}})"),
              StatusIs(StatusCode::kInvalidArgument,
                       "body: duplicate key in an object at nesting depth 2"));
  EXPECT_THAT(ParseJsonObject("[1]"),
              StatusIs(StatusCode::kInvalidArgument, "body: expected a JSON object"));
  EXPECT_THAT(ParseJsonObject(R"({"a":})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("body: invalid JSON at byte")));
  EXPECT_THAT(ParseJsonObject(R"({"a":1} x)"), StatusIs(StatusCode::kInvalidArgument));
  JsonLimits limits;
  limits.max_depth = 2;
  EXPECT_OK(ParseJsonObject(R"({"a":{"b":1}})", limits).status());
  EXPECT_THAT(ParseJsonObject(R"({"a":{"b":[1]}})", limits),
              StatusIs(StatusCode::kInvalidArgument, "body: nested deeper than 2"));
  limits.max_bytes = 4;
  EXPECT_THAT(ParseJsonObject(R"({"a":1})", limits),
              StatusIs(StatusCode::kInvalidArgument, "body: larger than 4 bytes"));
  EXPECT_THAT(ParseJsonObject("{\"a\":\"\xff\"}"), StatusIs(StatusCode::kInvalidArgument));
}

// Issue 11, defect 10: a NUL byte after the document was taken as its end (other trailing text
// was refused), and U+0000 was accepted inside strings (idempotency keys, query values).
TEST(JsonTest, NulBytesAndU0000AreRefused) {
  EXPECT_THAT(ParseJsonObject(std::string_view("{\"a\":1}\0", 8)),
              StatusIs(StatusCode::kInvalidArgument, "body: invalid JSON at byte 7"));
  EXPECT_THAT(
      ParseJsonObject(R"({"idempotency_key":"k\u0000x"})"),
      StatusIs(StatusCode::kInvalidArgument, "body: a string holds U+0000 at nesting depth 1"));
  EXPECT_THAT(
      ParseJsonObject(R"({"query":{"IT00000200000001":"2026\u0000"}})"),
      StatusIs(StatusCode::kInvalidArgument, "body: a string holds U+0000 at nesting depth 2"));
  EXPECT_THAT(
      ParseJsonObject(R"({"k\u0000":1})"),
      StatusIs(StatusCode::kInvalidArgument, "body: a key holds U+0000 at nesting depth 1"));
  EXPECT_OK(ParseJsonObject(R"({"a":"\u0001 is fine"})").status());
}

// Found by fuzz/json_fuzz.cc: a syntax error was reported at nlohmann's 1-based position (one
// past the end for a truncated body) while a NUL byte was reported at its 0-based offset. Both
// now give the 0-based offset of the byte where the body stops being JSON.
TEST(JsonTest, SyntaxErrorsGiveTheZeroBasedOffset) {
  EXPECT_THAT(ParseJsonObject("{x"),
              StatusIs(StatusCode::kInvalidArgument, "body: invalid JSON at byte 1"));
  EXPECT_THAT(ParseJsonObject(std::string_view("{\0", 2)),
              StatusIs(StatusCode::kInvalidArgument, "body: invalid JSON at byte 1"));
  // Truncated: the offset is the body's size, never past it.
  EXPECT_THAT(ParseJsonObject(R"({"s":)"),
              StatusIs(StatusCode::kInvalidArgument, "body: invalid JSON at byte 5"));
  EXPECT_THAT(ParseJsonObject(""),
              StatusIs(StatusCode::kInvalidArgument, "body: invalid JSON at byte 0"));
}

// A key the client made up, like a value, may be personal data (a name sent where a field name
// belongs): errors name the handler's own fields and positions, never the client's text.
TEST(JsonTest, ErrorsNeverEchoTheClientsKeysOrValues) {
  const std::string name(kCanaryName);
  const std::string number(kCanaryAtenaNo);
  const std::string k1 = "\"" + name + "\"";
  const std::string k2 = "\"" + number + "\"";
  std::vector<Status> errors;
  auto expect = [&](const Status& s, const std::string& message) {
    EXPECT_THAT(s, StatusIs(StatusCode::kInvalidArgument, message));
    errors.push_back(s);
  };

  expect(ParseJsonObject("{" + k1 + ":1," + k1 + ":2}").status(),
         "body: duplicate key in an object at nesting depth 1");
  expect(ParseJsonObject("{\"o\":[{" + k2 + ":" + k1 + "," + k2 + ":1}]}").status(),
         "body: duplicate key in an object at nesting depth 3");
  expect(ParseJsonObject("{" + k1 + ":" + name + "}").status(), "body: invalid JSON at byte 22");

  ASSERT_OK_AND_ASSIGN(
      JsonObject o,
      ParseJsonObject("{\"tm\":" + k1 + ",\"n\":" + k2 + "," + k1 + ":" + k2 + ",\"in\":{" + k2 +
                      ":" + k1 + ",\"z\":1},\"rules\":[{\"z\":1," + k1 + ":2}]}"));
  // Keys sort as "CANARY山田太郎", "in", "n", "rules", "tm".
  expect(o.RejectUnknownFields({"tm", "n", "in", "rules"}),
         "body: unknown field #1 in key order (allowed: tm, n, in, rules)");
  ASSERT_OK_AND_ASSIGN(JsonObject in, o.GetObject("in"));
  expect(in.RejectUnknownFields({"z"}), "field \"in\": unknown field #1 in key order (allowed: z)");
  ASSERT_OK_AND_ASSIGN(std::vector<JsonObject> rules, o.GetObjectArray("rules", 2));
  expect(rules[0].RejectUnknownFields({"z"}),
         "field \"rules[0]\": unknown field #1 in key order (allowed: z)");
  // Values of known fields: named by the field, described, not quoted.
  expect(o.GetString("tm", 16).status(), "field \"tm\": longer than 16 bytes");
  expect(o.GetInt("tm", 0, 1).status(), "field \"tm\": expected an integer");
  expect(o.GetBool("n").status(), "field \"n\": expected true or false");
  expect(IdField<AtenaNo>(o, "tm").status(),
         "field \"tm\": atena_no (団体内統合宛名番号): expected 15 digits, got 18 bytes");
  expect(IdField<OrgCode>(o, "n").status(),
         "field \"n\": org_code (機関コード): expected 16 digits, got 15 bytes");
  expect(IdField<TmCode>(o, "n").status(),
         "field \"n\": tm_code (特定個人情報名コード): expected \"TM\" + 14 digits, got 15 bytes");
  for (const Status& s : errors) EXPECT_THAT(s.message(), EchoesNoCanary());
}

TEST(JsonWriterTest, WritesAndDetectsMisuse) {
  JsonWriter w;
  w.BeginObject()
      .Key("s")
      .String("a\"b")
      .Key("n")
      .Int(-3)
      .Key("l")
      .BeginArray()
      .Bool(true)
      .Null()
      .EndArray()
      .EndObject();
  EXPECT_EQ(*w.Finish(), R"({"s":"a\"b","n":-3,"l":[true,null]})");
  JsonWriter bad;
  bad.BeginObject().Key("x");
  EXPECT_THAT(bad.Finish(), StatusIs(StatusCode::kInternal));
  JsonWriter bad2;
  bad2.BeginObject().String("no key").EndObject();
  EXPECT_THAT(bad2.Finish(), StatusIs(StatusCode::kInternal));
}

}  // namespace
}  // namespace chukan::json
