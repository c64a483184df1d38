#include "http/json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"

namespace chukan::http {
namespace {

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
  EXPECT_THAT(o.RejectUnknownFields({"name", "n", "f", "b", "nul", "in"}),
              StatusIs(StatusCode::kInvalidArgument, "field \"a\": unknown field"));
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
              StatusIs(StatusCode::kInvalidArgument, "field \"a\": duplicate key"));
  EXPECT_THAT(ParseJsonObject(R"({"o":{"k":1,"k":1}})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("duplicate key")));
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
}  // namespace chukan::http
