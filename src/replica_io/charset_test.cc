#include "replica_io/charset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <iconv.h>

#include <memory>
#include <random>
#include <string>

#include "common/status_matchers.h"
#include "replica_io/test_sources.h"

namespace chukan::replica {
namespace {

using ::chukan::replica::testing::ChunkedSource;
using ::chukan::replica::testing::FailingSource;
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
  EXPECT_THAT(ParseCharset("euc-jp"),
              StatusIs(StatusCode::kInvalidArgument,
                       "unsupported charset \"euc-jp\" (supported: utf-8, shift_jis/cp932)"));
  EXPECT_THAT(ParseCharset("text/csv; charset=iso-2022-jp"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"iso-2022-jp\"")));
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

TEST(Cp932Test, InvalidBytesNameTheLineAndTheBytes) {
  // 0x85 0x40 is in an unassigned row of CP932. Line 7 has it after some valid text.
  std::string cp932;
  for (int i = 1; i <= 6; ++i) cp932 += "\x92\x6E,row " + std::to_string(i) + "\n";
  cp932 += "ok,\x85\x40\nline 8\n";
  const char* kMessage = "line 7: invalid Shift_JIS (CP932) byte sequence 0x85 0x40";
  EXPECT_THAT(Decode(cp932), StatusIs(StatusCode::kInvalidArgument, kMessage));
  EXPECT_THAT(Decode(cp932, 1), StatusIs(StatusCode::kInvalidArgument, kMessage));
  EXPECT_THAT(Decode(cp932, 5, 99), StatusIs(StatusCode::kInvalidArgument, kMessage));
}

TEST(Cp932Test, LeadByteBeforeNewlineIsInvalidOnItsLine) {
  EXPECT_THAT(Decode("a\nb\x81\nc\n"),
              StatusIs(StatusCode::kInvalidArgument,
                       "line 2: invalid Shift_JIS (CP932) byte sequence 0x81 0x0A"));
}

TEST(Cp932Test, SingleByteNeverUsedIsInvalid) {
  EXPECT_THAT(Decode("x\xA0"), StatusIs(StatusCode::kInvalidArgument,
                                        "line 1: invalid Shift_JIS (CP932) byte sequence 0xA0"));
  EXPECT_THAT(Decode("\n\n\xFF\x41"),
              StatusIs(StatusCode::kInvalidArgument,
                       "line 3: invalid Shift_JIS (CP932) byte sequence 0xFF 0x41"));
}

TEST(Cp932Test, LeadByteAtEndOfInputIsIncomplete) {
  const char* kMessage = "line 3: incomplete Shift_JIS (CP932) byte sequence 0x92 at end of input";
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
                       "line 2: invalid Shift_JIS (CP932) byte sequence 0x80"));
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
}  // namespace chukan::replica
