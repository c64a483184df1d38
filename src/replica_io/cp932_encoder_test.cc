// UTF-8 → CP932: exact bytes, 〓 for what CP932 cannot hold, invalid UTF-8 by position.
#include "replica_io/cp932_encoder.h"

#include <gtest/gtest.h>

#include "common/status_matchers.h"

namespace chukan::replica_io {
namespace {

using ::chukan::testing::StatusIs;

TEST(Cp932EncoderTest, EncodesAppendsAndSubstitutes) {
  ASSERT_OK_AND_ASSIGN(auto enc, Cp932Encoder::Create());
  std::string out = "x";
  ASSERT_OK_AND_ASSIGN(size_t n, enc->Append("山田ﾀﾛｳ,髙①～−", out));
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(out, "x\x8E\x52\x93\x63\xC0\xDB\xB3,\xFB\xFC\x87\x40\x81\x60\x81\x7C");
  out.clear();
  ASSERT_OK_AND_ASSIGN(n, enc->Append("a𠮷é😀b", out));  // 4-, 2- and 4-byte characters
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(out,
            "a\x81\xAC\x81\xAC\x81\xAC"
            "b");
  out.clear();
  ASSERT_OK_AND_ASSIGN(n, enc->Append("", out));
  EXPECT_EQ(out, "");
}

TEST(Cp932EncoderTest, InvalidUtf8NamesTheByte) {
  ASSERT_OK_AND_ASSIGN(auto enc, Cp932Encoder::Create());
  std::string out;
  EXPECT_THAT(enc->Append("ab\xC3", out),
              StatusIs(StatusCode::kInvalidArgument, "byte 3: invalid UTF-8"));
  EXPECT_THAT(enc->Append("\xED\xA0\x80", out),  // a surrogate
              StatusIs(StatusCode::kInvalidArgument, "byte 1: invalid UTF-8"));
  // The encoder is usable after an error.
  out.clear();
  ASSERT_OK_AND_ASSIGN(size_t n, enc->Append("了", out));
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(out, "\x97\xB9");
}

}  // namespace
}  // namespace chukan::replica_io
