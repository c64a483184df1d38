#include "common/utf8.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace chukan {
namespace {

TEST(Utf8Test, AcceptsAsciiAndJapanese) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("abc"));
  EXPECT_TRUE(IsValidUtf8("地方税関係情報"));
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80"));  // U+1F600
  EXPECT_EQ(Utf8SequenceLength("日", 0), 3u);
}

TEST(Utf8Test, RejectsMalformed) {
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(IsValidUtf8("\xE6\x97"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(
      IsValidUtf8("a\x80"
                  "b"));  // stray continuation byte
}

// The byte-at-a-time definition PlainJsonRunEnd must agree with.
size_t ByteAtATimeRunEnd(std::string_view s, size_t i, bool del_as_is) {
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c > 0x7f || c == '"' || c == '\\' || (c == 0x7f && !del_as_is)) break;
    ++i;
  }
  return i;
}

// Every byte value at every position of runs of 0 to 40 plain bytes, read from every start, with
// and without DEL as is: the eight-bytes-at-a-time scan ends exactly where the definition does —
// at the first byte that ends the run, not at a later one in the same word, and not before it
// at a neighbour of a byte that ends it (0x1f/0x20, 0x21/0x22/0x23, 0x5b/0x5c/0x5d, 0x7e/0x7f,
// 0x7f/0x80, 0xa2 and 0xdc, whose low seven bits are a quote's and a backslash's).
TEST(Utf8Test, PlainJsonRunEndAgreesWithTheByteAtATimeDefinition) {
  int ends_before_the_last_byte = 0;
  int mismatches = 0;
  std::string first;
  for (const bool del_as_is : {false, true}) {
    for (size_t len = 0; len <= 40; ++len) {
      for (size_t pos = 0; pos <= len; ++pos) {
        for (int b = 0; b < 256; ++b) {
          std::string s(len, 'A');
          for (size_t k = 0; k < len; ++k) s[k] = static_cast<char>("AZaz09-_~ !#/["[k % 14]);
          if (pos < len) s[pos] = static_cast<char>(b);
          for (size_t from = 0; from <= len; ++from) {
            const size_t want = ByteAtATimeRunEnd(s, from, del_as_is);
            const size_t got = PlainJsonRunEnd(s, from, del_as_is);
            if (got != want && ++mismatches == 1) {
              first = "len " + std::to_string(len) + " byte " + std::to_string(b) + " at " +
                      std::to_string(pos) + " from " + std::to_string(from) + ": " +
                      std::to_string(got) + " not " + std::to_string(want);
            }
            if (want + 1 < len) ++ends_before_the_last_byte;
          }
        }
      }
    }
  }
  EXPECT_EQ(mismatches, 0) << "first: " << first;
  EXPECT_GT(ends_before_the_last_byte, 100000);  // the cases are not all runs to the end
  // Two bytes that end the run in one word: the first counts.
  EXPECT_EQ(PlainJsonRunEnd(R"(abc\d\efgh)", 0, false), 3u);
  EXPECT_EQ(PlainJsonRunEnd("abcdefghij\x7f"
                            "k\"",
                            0, false),
            10u);
  EXPECT_EQ(PlainJsonRunEnd("abcdefghij\x7f"
                            "k\"",
                            0, true),
            12u);
  EXPECT_EQ(PlainJsonRunEnd("abcdefghijklmnop", 16, true), 16u);
}

}  // namespace
}  // namespace chukan
