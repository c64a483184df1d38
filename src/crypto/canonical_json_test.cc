#include "crypto/canonical_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "common/status_matchers.h"

namespace chukan::crypto {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Canon(std::string_view in) {
  Result<std::string> r = CanonicalizeJson(in);
  EXPECT_TRUE(r.ok()) << r.status() << " for " << in;
  return r.value_or("<error>");
}

TEST(CanonicalJsonTest, SortsKeysAndDropsWhitespace) {
  EXPECT_EQ(Canon(R"( { "b" : 1 , "a" : [ true , false , null ] , "c" : { } } )"),
            R"({"a":[true,false,null],"b":1,"c":{}})");
}

TEST(CanonicalJsonTest, NestedObjectsAndArraysKeepArrayOrder) {
  EXPECT_EQ(Canon(R"({"z":{"y":[3,1,2],"x":{"b":[],"a":{"d":0,"c":-1}}},"a":[{"b":1,"a":2}]})"),
            R"({"a":[{"a":2,"b":1}],"z":{"x":{"a":{"c":-1,"d":0},"b":[]},"y":[3,1,2]}})");
}

TEST(CanonicalJsonTest, KeysSortedByUtf8Bytes) {
  // By UTF-8 bytes: "" < "B" (42) < "a" (61) < "aa" < "é" (c3 a9) < "あ" (e3 81 82) <
  // "Ａ" U+FF21 (ef bc a1) < "😀" U+1F600 (f0 9f 98 80). RFC 8785 (UTF-16 code units) would put
  // "😀" (d83d de00) before "Ａ" (ff21): this is the one documented difference.
  EXPECT_EQ(Canon(R"({"😀":5,"Ａ":4,"あ":3,"é":2,"a":1,"B":0,"":-1,"aa":6})"),
            R"({"":-1,"B":0,"a":1,"aa":6,"é":2,"あ":3,"Ａ":4,"😀":5})");
}

TEST(CanonicalJsonTest, StringEscapesAreMinimal) {
  EXPECT_EQ(Canon(R"(["\"", "\\", "\/", "\b\f\n\r\t", "\u0000\u001f\u001F", "\u007f", "\u0041"])"),
            "[\"\\\"\",\"\\\\\",\"/\",\"\\b\\f\\n\\r\\t\",\"\\u0000\\u001f\\u001f\",\"\x7f\","
            "\"A\"]");
  // Escaped non-ASCII, including a surrogate pair, becomes raw UTF-8.
  EXPECT_EQ(Canon(R"(["\u00e9\u3042\ud83d\ude00"])"), "[\"é\u3042😀\"]");
}

// Runs of plain ASCII are copied whole; escapes and UTF-8 between, before and after them are
// written as one by one.
TEST(CanonicalJsonTest, RunsOfPlainAsciiAroundEscapesAndUtf8) {
  const std::string run(200, 'x');
  EXPECT_EQ(Canon("[\"\\\"" + run + "\\\\ab\\n\\u0001cd日本" + run + "\\u007f~\\t\"]"),
            "[\"\\\"" + run + "\\\\ab\\n\\u0001cd日本" + run + "\x7f~\\t\"]");
  EXPECT_EQ(Canon(R"({"key with spaces":"","k\"":"v"})"), R"({"k\"":"v","key with spaces":""})");
}

TEST(CanonicalJsonTest, JapaneseTextUnchanged) {
  const std::string doc = R"({"name":"山田 太郎","tm":"地方税関係情報","note":"全角　スペース"})";
  EXPECT_EQ(Canon(doc), R"({"name":"山田 太郎","note":"全角　スペース","tm":"地方税関係情報"})");
}

TEST(CanonicalJsonTest, Integers) {
  EXPECT_EQ(Canon("[0, -0, 1, -1, 9007199254740991, -9007199254740991]"),
            "[0,0,1,-1,9007199254740991,-9007199254740991]");
  EXPECT_EQ(Canon("42"), "42");
  EXPECT_THAT(CanonicalizeJson("9007199254740992"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("2^53")));
  EXPECT_THAT(CanonicalizeJson("[-9007199254740992]"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("2^53")));
  EXPECT_THAT(CanonicalizeJson("[18446744073709551616]"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("2^53")));
  EXPECT_THAT(CanonicalizeJson("[01]"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(CanonicalizeJson("[+1]"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(CanonicalJsonTest, FloatsRejected) {
  for (const char* in : {"1.0", "[1.5]", "{\"a\":1e3}", "1E2", "-0.0", "[0.1]"}) {
    EXPECT_THAT(CanonicalizeJson(in),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("non-integer number")))
        << in;
  }
}

TEST(CanonicalJsonTest, DuplicateKeysRejected) {
  EXPECT_THAT(CanonicalizeJson(R"({"a":1,"b":2,"a":3})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("duplicate object key \"a\"")));
  // Duplicates that differ only in escaping are still duplicates.
  EXPECT_THAT(CanonicalizeJson(R"({"x":{"\u0061":1,"a":1}})"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("duplicate")));
  // The same key in different objects is fine.
  EXPECT_EQ(Canon(R"({"a":{"a":1},"b":{"a":2}})"), R"({"a":{"a":1},"b":{"a":2}})");
}

TEST(CanonicalJsonTest, DepthLimit) {
  const auto nested = [](size_t depth) {
    return std::string(depth, '[') + std::string(depth, ']');
  };
  EXPECT_EQ(Canon(nested(kCanonicalJsonMaxDepth)), nested(kCanonicalJsonMaxDepth));
  EXPECT_THAT(CanonicalizeJson(nested(kCanonicalJsonMaxDepth + 1)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("deeper than 32")));
  std::string objects;
  for (size_t i = 0; i < 40; ++i) objects += "{\"k\":";
  objects += "1" + std::string(40, '}');
  EXPECT_THAT(CanonicalizeJson(objects),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("deeper than 32")));
}

TEST(CanonicalJsonTest, SizeLimit) {
  // A string of exactly 1 MiB of JSON text is accepted; one byte more is refused.
  const std::string at_limit = "\"" + std::string(kCanonicalJsonMaxBytes - 2, 'x') + "\"";
  ASSERT_EQ(at_limit.size(), kCanonicalJsonMaxBytes);
  EXPECT_EQ(Canon(at_limit).size(), kCanonicalJsonMaxBytes);
  const std::string over = "\"" + std::string(kCanonicalJsonMaxBytes - 1, 'x') + "\"";
  EXPECT_THAT(CanonicalizeJson(over), StatusIs(StatusCode::kInvalidArgument, HasSubstr("1 MiB")));
}

TEST(CanonicalJsonTest, InvalidUtf8Rejected) {
  for (const std::string& in : {
           std::string("[\"\xff\"]"),              // never valid
           std::string("[\"\xc3\"]"),              // truncated sequence
           std::string("[\"\xc0\xaf\"]"),          // overlong '/'
           std::string("[\"\xed\xa0\x80\"]"),      // encoded surrogate U+D800
           std::string("[\"\xf4\x90\x80\x80\"]"),  // above U+10FFFF
           std::string("{\"\xfe\":1}"),            // in a key
       }) {
    EXPECT_THAT(CanonicalizeJson(in), StatusIs(StatusCode::kInvalidArgument)) << ToHex(AsBytes(in));
  }
  EXPECT_THAT(CanonicalizeJson(R"(["\ud800"])"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(CanonicalizeJson(R"(["\udc00\ud800"])"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(CanonicalJsonTest, SyntaxErrorsRejectedWithoutEchoingInput) {
  for (const char* in : {"", " ", "{", "[1,]", "{\"a\":1,}", "{'a':1}", "[1] [2]", "tru",
                         "{\"a\" 1}", "[\"raw\ttab\"]", "/* c */ 1", "NaN", "[1]x"}) {
    EXPECT_THAT(CanonicalizeJson(in), StatusIs(StatusCode::kInvalidArgument)) << in;
  }
  EXPECT_THAT(CanonicalizeJson(R"({"secret":"s3cr3t-value" oops})"),
              StatusIs(StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("syntax error at byte"), Not(HasSubstr("s3cr3t")),
                                        Not(HasSubstr("oops")))));
  EXPECT_THAT(CanonicalizeJson("\xEF\xBB\xBF{}"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("byte order mark")));
}

TEST(CanonicalJsonTest, ScalarsAtTopLevel) {
  EXPECT_EQ(Canon(" \"x\" "), "\"x\"");
  EXPECT_EQ(Canon("null"), "null");
  EXPECT_EQ(Canon("\n\ttrue\r\n"), "true");
}

constexpr char kPermit[] = R"({
  "type": "chukan.permit.v1",
  "permit_id": "P-2026-000000123",
  "issued_at": "2026-11-26T15:00:00Z",
  "expires_at": "2026-11-26T15:05:00Z",
  "inquirer": "1234567890123456",
  "provider": "6543210987654321",
  "procedure": "JT00000000000012",
  "tm": {"code": "TM00000000000002", "version": 3},
  "subject_code": "c3ViamVjdC1jb2RlLWZvci1wcm92aWRlcg",
  "reply_key": "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80",
  "inquirer_ref": "照会-0042"
})";

TEST(CanonicalJsonTest, Idempotent) {
  for (const char* in : {kPermit, R"({"b":[{"d":"\u0001","c":"é"}],"a":-7})", "[]", "{}"}) {
    const std::string once = Canon(in);
    EXPECT_EQ(Canon(once), once);
  }
}

TEST(CanonicalJsonTest, SignatureSurvivesReformattingButNotValueChange) {
  const SigningKey hub = SigningKey::Generate();
  ASSERT_OK_AND_ASSIGN(const Bytes sig, SignCanonical(hub, kPermit));
  ASSERT_EQ(sig.size(), kEd25519SignatureBytes);
  // The signature is over the canonical bytes.
  EXPECT_OK(hub.verify_key().Verify(AsBytes(Canon(kPermit)), sig));

  // Same values: compacted, keys reordered, a string re-escaped.
  const std::string reformatted =
      R"({"inquirer_ref":"\u7167\u4f1a-0042","tm":{"version":3,"code":"TM00000000000002"},)"
      R"("type":"chukan.permit.v1","reply_key":"q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80",)"
      R"("provider":"6543210987654321","procedure":"JT00000000000012",)"
      R"("permit_id":"P-2026-000000123","issued_at":"2026-11-26T15:00:00Z",)"
      R"("expires_at":"2026-11-26T15:05:00Z","inquirer":"1234567890123456",)"
      R"("subject_code":"c3ViamVjdC1jb2RlLWZvci1wcm92aWRlcg"})";
  EXPECT_OK(VerifyCanonical(hub.verify_key(), reformatted, sig));

  // One changed value (expiry one minute later), one changed number, one extra member.
  std::string later = kPermit;
  later.replace(later.find("15:05:00Z"), 9, "15:06:00Z");
  EXPECT_THAT(VerifyCanonical(hub.verify_key(), later, sig),
              StatusIs(StatusCode::kUnauthenticated, "signature verification failed"));
  std::string version = kPermit;
  version.replace(version.find("\"version\": 3"), 12, "\"version\": 4");
  EXPECT_THAT(VerifyCanonical(hub.verify_key(), version, sig),
              StatusIs(StatusCode::kUnauthenticated));
  std::string extra = kPermit;
  extra.insert(1, "\"x\":null,");
  EXPECT_THAT(VerifyCanonical(hub.verify_key(), extra, sig),
              StatusIs(StatusCode::kUnauthenticated));
  // A document that is not canonicalisable is refused before any signature check.
  EXPECT_THAT(VerifyCanonical(hub.verify_key(), R"({"a":1,"a":1})", sig),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(SignCanonical(hub, "{"), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace chukan::crypto
