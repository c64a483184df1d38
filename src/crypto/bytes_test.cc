#include "crypto/bytes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"

namespace chukan::crypto {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(HexTest, RoundTripLowerCase) {
  const Bytes b = {0x00, 0x01, 0xab, 0xff, 0x7f};
  EXPECT_EQ(ToHex(b), "0001abff7f");
  ASSERT_OK_AND_ASSIGN(const Bytes back, FromHex("0001abff7f"));
  EXPECT_EQ(back, b);
  ASSERT_OK_AND_ASSIGN(const Bytes upper, FromHex("0001ABFF7F"));
  EXPECT_EQ(upper, b);
  EXPECT_EQ(ToHex({}), "");
  ASSERT_OK_AND_ASSIGN(const Bytes empty, FromHex(""));
  EXPECT_TRUE(empty.empty());
}

TEST(HexTest, RejectsMalformed) {
  EXPECT_THAT(FromHex("abc"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("odd length")));
  EXPECT_THAT(FromHex("0g"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("offset 1")));
  EXPECT_THAT(FromHex("00 11"), StatusIs(StatusCode::kInvalidArgument));  // odd: 5
  EXPECT_THAT(FromHex("00:1"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("offset 2")));
  EXPECT_THAT(FromHex("0x00"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(Base64UrlTest, KnownValuesWithoutPadding) {
  // RFC 4648 section 10 vectors, in the URL-safe alphabet without padding.
  EXPECT_EQ(ToBase64Url(AsBytes("")), "");
  EXPECT_EQ(ToBase64Url(AsBytes("f")), "Zg");
  EXPECT_EQ(ToBase64Url(AsBytes("fo")), "Zm8");
  EXPECT_EQ(ToBase64Url(AsBytes("foo")), "Zm9v");
  EXPECT_EQ(ToBase64Url(AsBytes("foob")), "Zm9vYg");
  EXPECT_EQ(ToBase64Url(AsBytes("fooba")), "Zm9vYmE");
  EXPECT_EQ(ToBase64Url(AsBytes("foobar")), "Zm9vYmFy");
  // The URL-safe alphabet: 0xfb 0xff -> "-_8" (standard base64 would be "+/8=").
  EXPECT_EQ(ToBase64Url(Bytes{0xfb, 0xff}), "-_8");
}

TEST(Base64UrlTest, RoundTripAllLengths) {
  for (size_t n = 0; n < 70; ++n) {
    const Bytes b = RandomBytes(n);
    ASSERT_OK_AND_ASSIGN(const Bytes back, FromBase64Url(ToBase64Url(b)));
    EXPECT_EQ(back, b) << n;
  }
}

TEST(Base64UrlTest, RejectsNonCanonicalAndForeignForms) {
  EXPECT_THAT(FromBase64Url("Zg=="), StatusIs(StatusCode::kInvalidArgument));  // padding
  EXPECT_THAT(FromBase64Url("+/8"), StatusIs(StatusCode::kInvalidArgument));   // std alphabet
  EXPECT_THAT(FromBase64Url("Zm9v Yg"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(FromBase64Url("Zm9vY"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("impossible length")));
  // "Zh" decodes to "f" like "Zg" but has non-zero unused bits.
  EXPECT_THAT(FromBase64Url("Zh"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(FromBase64Url("Zm9"), StatusIs(StatusCode::kInvalidArgument));  // "Zm8" canonical
  ASSERT_OK_AND_ASSIGN(const Bytes f, FromBase64Url("Zg"));
  EXPECT_THAT(f, ElementsAre('f'));
}

TEST(RandomBytesTest, SizeAndDistinct) {
  EXPECT_TRUE(RandomBytes(0).empty());
  const Bytes a = RandomBytes(32);
  const Bytes b = RandomBytes(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

TEST(ConstantTimeEqualsTest, ComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals(AsBytes("abc"), AsBytes("abc")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("abc"), AsBytes("abd")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("xbc"), AsBytes("abc")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes("abc"), AsBytes("abcd")));
  EXPECT_FALSE(ConstantTimeEquals(AsBytes(""), AsBytes("a")));
  EXPECT_TRUE(ConstantTimeEquals(AsBytes(""), AsBytes("")));
}

}  // namespace
}  // namespace chukan::crypto
