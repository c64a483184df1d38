#include "replica_io/charset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <iconv.h>

#include <memory>
#include <random>
#include <string>

#include "common/canary_matchers.h"
#include "common/status_matchers.h"
#include "replica_io/test_sources.h"

namespace chukan::replica_io {
namespace {

using ::chukan::replica_io::testing::ChunkedSource;
using ::chukan::replica_io::testing::FailingSource;
using ::chukan::testing::EchoesNoCanary;
using ::chukan::testing::kCanaryName;
using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

Result<std::string> DecodeAll(std::unique_ptr<ByteSource> inner, size_t read_size = 4096) {
  ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> src, MakeCp932ToUtf8Source(std::move(inner)));
  std::string out;
  std::string buf(read_size, '\0');
  for (;;) {
    ASSIGN_OR_RETURN(const size_t n, src->Read(buf.data(), buf.size()));
    if (n == 0) return out;
    out.append(buf, 0, n);
  }
}

Result<std::string> Decode(std::string_view cp932, size_t max_chunk = 1 << 20, unsigned seed = 0,
                           size_t read_size = 4096) {
  return DecodeAll(std::make_unique<ChunkedSource>(cp932, max_chunk, seed), read_size);
}

// UTF-8 → CP932 with the system's iconv, independently of the code under test.
std::string ToCp932(const std::string& utf8) {
  iconv_t cd = iconv_open("CP932", "UTF-8");
  EXPECT_NE(cd, reinterpret_cast<iconv_t>(static_cast<intptr_t>(-1)));
  std::string in = utf8;
  std::string out(in.size() * 2 + 16, '\0');
  char* ip = in.data();
  size_t il = in.size();
  char* op = out.data();
  size_t ol = out.size();
  EXPECT_NE(iconv(cd, &ip, &il, &op, &ol), static_cast<size_t>(-1));
  iconv_close(cd);
  out.resize(out.size() - ol);
  return out;
}

TEST(ParseCharsetTest, AcceptsEveryNameCaseInsensitively) {
  for (const char* name : {"utf-8", "UTF-8", "utf8", " Utf-8 "}) {
    ASSERT_OK_AND_ASSIGN(Charset c, ParseCharset(name));
    EXPECT_EQ(c, Charset::kUtf8) << name;
  }
  for (const char* name : {"shift_jis", "Shift_JIS", "shift-jis", "SJIS", "cp932", "CP932",
                           "windows-31j", "Windows-31J", "\"Shift_JIS\""}) {
    ASSERT_OK_AND_ASSIGN(Charset c, ParseCharset(name));
    EXPECT_EQ(c, Charset::kCp932) << name;
  }
}

TEST(ParseCharsetTest, ReadsTheCharsetParameterOfAContentType) {
  ASSERT_OK_AND_ASSIGN(Charset a, ParseCharset("text/csv; charset=Shift_JIS"));
  EXPECT_EQ(a, Charset::kCp932);
  ASSERT_OK_AND_ASSIGN(Charset b, ParseCharset("text/csv;header=present; CHARSET=\"windows-31j\""));
  EXPECT_EQ(b, Charset::kCp932);
  ASSERT_OK_AND_ASSIGN(Charset c, ParseCharset("text/csv; charset=utf-8"));
  EXPECT_EQ(c, Charset::kUtf8);
  ASSERT_OK_AND_ASSIGN(Charset d, ParseCharset("application/x-ndjson"));
  EXPECT_EQ(d, Charset::kUtf8);
}

TEST(ParseCharsetTest, RejectsUnknownNames) {
  // The client's text is not repeated.
  EXPECT_THAT(ParseCharset("euc-jp"),
              StatusIs(StatusCode::kInvalidArgument,
                       "unsupported charset (supported: utf-8, shift_jis/cp932)"));
  EXPECT_THAT(ParseCharset("text/csv; charset=iso-2022-jp"),
              StatusIs(StatusCode::kInvalidArgument,
                       "unsupported charset (supported: utf-8, shift_jis/cp932)"));
  EXPECT_THAT(ParseCharset(std::string("text/csv; charset=") + std::string(kCanaryName)),
              StatusIs(StatusCode::kInvalidArgument, EchoesNoCanary()));
  EXPECT_THAT(ParseCharset(""), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(CharsetName(Charset::kCp932), "cp932");
  EXPECT_EQ(CharsetName(Charset::kUtf8), "utf-8");
}

TEST(Cp932Test, DecodesJapaneseTextFromKnownBytes) {
  // Byte values from the CP932 table: 地方税 92 6E 95 FB 90 C5; 髙 (an IBM extension) FB FC,
  // 橋 8B B4; ① (NEC row 13) 87 40; half-width ｶﾀｶﾅ B6 C0 B6 C5; ～ 81 60 (CP932 maps it to
  // U+FF5E, where JIS Shift_JIS has U+301C); 表 95 5C (trail byte equal to '\').
  const std::string cp932 =
      "\x92\x6E\x95\xFB\x90\xC5,\xFB\xFC\x8B\xB4,\x87\x40,\xB6\xC0\xB6\xC5,\x81\x60,\x95\x5C\r\n";
  const std::string expected = "地方税,髙橋,①,ｶﾀｶﾅ,～,表\r\n";
  ASSERT_OK_AND_ASSIGN(std::string whole, Decode(cp932));
  EXPECT_EQ(whole, expected);
  ASSERT_OK_AND_ASSIGN(std::string bytewise, Decode(cp932, 1));
  EXPECT_EQ(bytewise, expected);
  ASSERT_OK_AND_ASSIGN(std::string tiny_reads, Decode(cp932, 1 << 20, 0, /*read_size=*/1));
  EXPECT_EQ(tiny_reads, expected);
}

TEST(Cp932Test, LargeTextSplitAtEveryKindOfBoundaryMatchesIconv) {
  const std::string pieces[] = {
      "地方税", "髙橋", "①②", "ｶﾀｶﾅ", "abc", ",", "\n", "表示", "ソ", "～", "住所 東京都千代田区"};
  std::mt19937 rng(7);
  std::string utf8;
  while (utf8.size() < 600'000) utf8 += pieces[rng() % std::size(pieces)];
  const std::string cp932 = ToCp932(utf8);
  ASSERT_GT(cp932.size(), 300'000u);
  for (const unsigned seed : {0u, 1u, 2u}) {
    ASSERT_OK_AND_ASSIGN(std::string got, Decode(cp932, seed == 0 ? 4097 : 9000, seed));
    EXPECT_EQ(got, utf8) << "seed " << seed;
  }
}

TEST(Cp932Test, InvalidBytesNameTheLineAndTheByte) {
  // 0x85 0x40 is in an unassigned row of CP932. Line 7 has it after some valid text.
  std::string cp932;
  for (int i = 1; i <= 6; ++i) cp932 += "\x92\x6E,row " + std::to_string(i) + "\n";
  cp932 += "ok,\x85\x40\nline 8\n";
  const char* kMessage = "line 7, byte 4: invalid Shift_JIS (CP932) byte sequence";
  EXPECT_THAT(Decode(cp932), StatusIs(StatusCode::kInvalidArgument, kMessage));
  EXPECT_THAT(Decode(cp932, 1), StatusIs(StatusCode::kInvalidArgument, kMessage));
  EXPECT_THAT(Decode(cp932, 5, 99), StatusIs(StatusCode::kInvalidArgument, kMessage));
}

TEST(Cp932Test, LeadByteBeforeNewlineIsInvalidOnItsLine) {
  EXPECT_THAT(Decode("a\nb\x81\nc\n"),
              StatusIs(StatusCode::kInvalidArgument,
                       "line 2, byte 2: invalid Shift_JIS (CP932) byte sequence"));
}

TEST(Cp932Test, SingleByteNeverUsedIsInvalid) {
  EXPECT_THAT(Decode("x\xA0"), StatusIs(StatusCode::kInvalidArgument,
                                        "line 1, byte 2: invalid Shift_JIS (CP932) byte sequence"));
  EXPECT_THAT(Decode("\n\n\xFF\x41"),
              StatusIs(StatusCode::kInvalidArgument,
                       "line 3, byte 1: invalid Shift_JIS (CP932) byte sequence"));
}

TEST(Cp932Test, LeadByteAtEndOfInputIsIncomplete) {
  const char* kMessage =
      "line 3, byte 1: incomplete Shift_JIS (CP932) byte sequence at end of input";
  EXPECT_THAT(Decode("a\nb\n\x92"), StatusIs(StatusCode::kInvalidArgument, kMessage));
  EXPECT_THAT(Decode("a\nb\n\x92", 1), StatusIs(StatusCode::kInvalidArgument, kMessage));
}

TEST(Cp932Test, TextBeforeAnErrorIsDeliveredFirst) {
  ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<ByteSource> src,
      MakeCp932ToUtf8Source(std::make_unique<StringSource>(std::string_view("\x92\x6E\n\x80"))));
  char buf[64];
  ASSERT_OK_AND_ASSIGN(size_t n, src->Read(buf, sizeof buf));
  EXPECT_EQ(std::string(buf, n), "地\n");
  EXPECT_THAT(src->Read(buf, sizeof buf),
              StatusIs(StatusCode::kInvalidArgument,
                       "line 2, byte 1: invalid Shift_JIS (CP932) byte sequence"));
}

// A name in another encoding, or a name cut by a bad byte: the message gives the position only,
// whatever the read sizes (the position is counted across reads of the inner source).
TEST(Cp932Test, ErrorsNeverEchoTheBytes) {
  // "CANARY山田太郎" in CP932, twice, on line 2 after a header line; then 0x85 0x40.
  const std::string name = "CANARY\x8E\x52\x93\x63\x91\xBE\x98\x59";
  const std::string cp932 = "atena_no,shimei\n" + name + "," + name + "\x85\x40\n";
  const char* kMessage = "line 2, byte 30: invalid Shift_JIS (CP932) byte sequence";
  for (const size_t chunk : {size_t{1}, size_t{3}, size_t{1} << 20}) {
    Result<std::string> r = Decode(cp932, chunk);
    EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument, kMessage)) << chunk;
    EXPECT_THAT(r.status().message(), ::testing::Not(HasSubstr("0x")));
  }
  // The UTF-8 canary read as CP932: 郎 is E9 83 8E, and 0x8E then '\n' is no character.
  const std::string utf8 = "atena_no\n" + std::string(kCanaryName) + "\n";
  Result<std::string> r = Decode(utf8);
  EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument,
                          "line 2, byte 18: invalid Shift_JIS (CP932) byte sequence"));
  EXPECT_THAT(r.status().message(), EchoesNoCanary());
  // Incomplete at the end of a line of canary text.
  r = Decode(name + "\x92");
  EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument,
                          "line 1, byte 15: incomplete Shift_JIS (CP932) byte sequence at end of "
                          "input"));
}

TEST(Cp932Test, InnerErrorsPropagateUnchanged) {
  EXPECT_THAT(DecodeAll(std::make_unique<FailingSource>("abc", UnavailableError("peer reset"))),
              StatusIs(StatusCode::kUnavailable, "peer reset"));
}

TEST(Cp932Test, MakeDecodingSourcePassesUtf8Through) {
  auto inner =
      std::make_unique<StringSource>(std::string_view("\xEF\xBB\xBF"
                                                      "abc"));
  ByteSource* raw = inner.get();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSource> src,
                       MakeDecodingSource(Charset::kUtf8, std::move(inner)));
  EXPECT_EQ(src.get(), raw);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSource> sjis,
                       MakeDecodingSource(Charset::kCp932, std::make_unique<StringSource>(
                                                               std::string_view("\x87\x40"))));
  char buf[8];
  ASSERT_OK_AND_ASSIGN(size_t n, sjis->Read(buf, sizeof buf));
  EXPECT_EQ(std::string(buf, n), "①");
}

}  // namespace
}  // namespace chukan::replica_io
