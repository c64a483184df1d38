#include "json/sax_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "json/json.h"
#include "json/sax_test_util.h"

namespace chukan::json {
namespace {

using ::chukan::testing::StatusIs;
using testing::SaxRecorder;

// nlohmann's strict SAX parse of `text` (the reference), recorded; false when it refuses.
bool Nlohmann(std::string_view text, SaxRecorder* out) {
  return nlohmann::json::sax_parse(text.data(), text.data() + text.size(), out,
                                   nlohmann::json::input_format_t::json, /*strict=*/true,
                                   /*ignore_comments=*/false);
}

TEST(SaxReaderTest, GivesTheEventsNlohmannGives) {
  const std::vector<std::string> texts = {
      R"({"a":1,"b":[true,false,null],"c":{"d":"e"},"e":[],"f":{}})",
      // Integers: negative ones are number_integer, the others number_unsigned; past 64 bits a
      // float with its text; -0 is the integer 0.
      R"([0,-0,7,-7,9223372036854775807,-9223372036854775808,18446744073709551615])",
      R"([18446744073709551616,-9223372036854775809,1.5,-0.0,1e2,1E+2,2.5e-3,0.1])",
      // Escapes, a surrogate pair, UTF-8 as it is, DEL, U+0000.
      "{\"s\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\\u0041\\u0000\"}",
      "{\"k\\u00e9y\":\"\xe6\x97\xa5\xe6\x9c\xac\xf0\x9f\x98\x80\x7f\"}",
      " \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } } \n",
      "\"a top-level string\"",
      "42",
      "-1.25",
      "true",
      "null",
      "[]",
      "{}",
      // A duplicate key is the handler's to refuse: the reader hands both over.
      R"({"a":1,"a":2})",
  };
  for (const std::string& text : texts) {
    SCOPED_TRACE(text);
    SaxRecorder fast, reference;
    ASSERT_TRUE(ReadSax(text, fast));
    ASSERT_TRUE(Nlohmann(text, &reference));
    EXPECT_EQ(fast.events(), reference.events());
  }
  // One spelled out: the types as nlohmann gives them.
  SaxRecorder r;
  ASSERT_TRUE(ReadSax(R"({"n":-3,"u":3,"s":"x"})", r));
  EXPECT_THAT(r.events(), ::testing::ElementsAre("{18446744073709551615", "kn", "i-3", "ku", "u3",
                                                 "ks", "sx", "}"));
}

TEST(SaxReaderTest, RefusesWhatNlohmannRefuses) {
  const std::vector<std::string> texts = {
      "",
      " ",
      "{",
      "}",
      "[1,]",
      "{\"a\":1,}",
      "{\"a\" 1}",
      "{a:1}",
      "{\"a\":01}",
      "[-]",
      "[1.]",
      "[.5]",
      "[1e]",
      "[+1]",
      "[tru]",
      "[truex]",
      "[nul]",
      "{\"a\":1}x",
      "{\"a\":1}{}",
      "[1 2]",
      "\"\\x\"",
      "\"\\u12\"",
      "\"\\u12g4\"",
      "\"\\ud800\"",
      "\"\\udc00\"",
      "\"\\ud800\\u0041\"",
      "\"a\x01\"",
      "\"\xc0\xaf\"",
      "\"\xed\xa0\x80\"",
      "\"\xf4\x90\x80\x80\"",
      "\"\xe6\x97\"",
      "\"unterminated",
      std::string("[1,\0]", 5),
      "// a comment\n{}",
      "[1,2]]",
      // Past a double's range: nlohmann refuses it (the reader leaves it to nlohmann).
      "[1e400]",
      "[-1e400]",
  };
  for (const std::string& text : texts) {
    SCOPED_TRACE(text);
    SaxRecorder fast, reference;
    EXPECT_FALSE(ReadSax(text, fast));
    EXPECT_FALSE(Nlohmann(text, &reference));
  }
}

// Left to nlohmann on purpose (it accepts them): a byte order mark, and numbers too small for a
// double's normal range (nlohmann reads 1e-400 as 0). ParseJsonObject and CanonicalizeJson then
// read the text with nlohmann.
TEST(SaxReaderTest, LeavesAByteOrderMarkAndUnderflowingNumbersToNlohmann) {
  for (const std::string text : {"\xef\xbb\xbf{\"a\":1}", "[1e-400]", "[-1e-400]"}) {
    SCOPED_TRACE(text);
    SaxRecorder fast, reference;
    EXPECT_FALSE(ReadSax(text, fast));
    EXPECT_TRUE(Nlohmann(text, &reference));
  }
  ASSERT_OK_AND_ASSIGN(JsonObject o, ParseJsonObject("\xef\xbb\xbf{\"a\":1}"));
  EXPECT_EQ(*o.GetInt("a", 0, 9), 1);
  ASSERT_OK_AND_ASSIGN(o, ParseJsonObject(R"({"f":1e-400})"));
  EXPECT_THAT(o.GetInt("f", 0, 9),
              StatusIs(StatusCode::kInvalidArgument, "field \"f\": expected an integer"));
}

// Depth is the handler's to limit: the reader itself keeps its containers in a vector, so a
// body of nothing but brackets cannot exhaust the stack.
TEST(SaxReaderTest, NestsWithoutRecursion) {
  const size_t n = 500'000;
  const std::string text = std::string(n, '[') + std::string(n, ']');
  SaxRecorder r;
  ASSERT_TRUE(ReadSax(text, r));
  EXPECT_EQ(r.events().size(), 2 * n);
  EXPECT_THAT(ParseJsonObject(text, {1 << 20, 16}),
              StatusIs(StatusCode::kInvalidArgument, "body: nested deeper than 16"));
}

// ParseJsonObject reads with ReadSax and builds the same tree as through nlohmann, types
// included; what breaks its rules goes to nlohmann, whose messages stay as they were.
TEST(SaxReaderTest, ParseJsonObjectAgreesWithNlohmannAndKeepsItsMessages) {
  const JsonLimits limits{1 << 20, 4};
  for (const std::string text :
       {R"({"a":1,"b":[true,false,null,-0,0.5,-7,18446744073709551616],"c":{"d":"e"}})",
        R"({"a":[[["deep enough"]]]})", "{\"s\":\"\\uD83D\\uDE00\xe6\x97\xa5\"}", "{}", "[1]",
        R"({"a":1,"a":2})", R"({"a":[[[[1]]]]})", R"({"a":"x\u0000y"})", R"({"x\u0000":1})",
        R"({"a":})"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(internal::CheckFastReader(text, limits), "");
  }
  EXPECT_THAT(ParseJsonObject("[1]", limits),
              StatusIs(StatusCode::kInvalidArgument, "body: expected a JSON object"));
  EXPECT_THAT(ParseJsonObject(R"({"a":{"b":1,"b":2}})", limits),
              StatusIs(StatusCode::kInvalidArgument,
                       "body: duplicate key in an object at nesting depth 2"));
  EXPECT_THAT(ParseJsonObject(R"({"a":[[[[1]]]]})", limits),
              StatusIs(StatusCode::kInvalidArgument, "body: nested deeper than 4"));
  EXPECT_THAT(
      ParseJsonObject(R"({"a":"x\u0000y"})", limits),
      StatusIs(StatusCode::kInvalidArgument, "body: a string holds U+0000 at nesting depth 1"));
  EXPECT_THAT(ParseJsonObject(R"({"a":})", limits),
              StatusIs(StatusCode::kInvalidArgument, "body: invalid JSON at byte 5"));
  // The values, read back through the tree the fast reader built.
  ASSERT_OK_AND_ASSIGN(JsonObject o, ParseJsonObject(R"({"n":-5,"u":5,"big":18446744073709551615,)"
                                                     R"("s":"\u00e9","t":true,"z":null})"));
  EXPECT_EQ(*o.GetInt("n", -9, 9), -5);
  EXPECT_EQ(*o.GetInt("u", -9, 9), 5);
  EXPECT_THAT(o.GetInt("big", 0, INT64_MAX),
              StatusIs(StatusCode::kInvalidArgument, "field \"big\": out of range"));
  EXPECT_EQ(*o.GetString("s", 9), "\xc3\xa9");
  EXPECT_EQ(*o.GetBool("t"), true);
  EXPECT_FALSE(o.Has("z"));
  EXPECT_EQ(o.Text(), R"({"big":18446744073709551615,"n":-5,"s":"é","t":true,"u":5,"z":null})");
}

}  // namespace
}  // namespace chukan::json
