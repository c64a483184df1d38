#include "crypto/secret_bytes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <sstream>
#include <type_traits>
#include <utility>

#include "common/status_matchers.h"
#include "crypto/bytes.h"

namespace chukan::crypto {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// The type-level guarantees are part of the contract: no copies, no stream output.
static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);
static_assert(std::is_nothrow_move_assignable_v<SecretBytes>);
template <typename T>
concept Streamable = requires(std::ostream& os, const T& v) {
  os << v;
};
static_assert(!Streamable<SecretBytes>);
template <typename T>
concept EqualityComparable = requires(const T& a, const T& b) {
  a == b;
};
static_assert(!EqualityComparable<SecretBytes>);

TEST(SecretBytesTest, FromBytesCopiesContent) {
  const Bytes raw = {1, 2, 3, 250};
  const SecretBytes s = SecretBytes::FromBytes(raw);
  ASSERT_EQ(s.size(), 4u);
  EXPECT_THAT(std::vector<uint8_t>(s.data(), s.data() + s.size()), ElementsAre(1, 2, 3, 250));
  EXPECT_EQ(s.AsStringView(), std::string_view("\x01\x02\x03\xfa", 4));
}

TEST(SecretBytesTest, DefaultIsEmpty) {
  const SecretBytes s;
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);
  EXPECT_TRUE(s.span().empty());
}

TEST(SecretBytesTest, SizedConstructorZeroFills) {
  const SecretBytes s(16);
  ASSERT_EQ(s.size(), 16u);
  for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s.data()[i], 0) << i;
}

TEST(SecretBytesTest, RandomHasRequestedSizeAndDiffers) {
  const SecretBytes a = SecretBytes::Random(32);
  const SecretBytes b = SecretBytes::Random(32);
  EXPECT_EQ(a.size(), 32u);
  // Equal 256-bit random strings would mean a broken CSPRNG.
  EXPECT_FALSE(a.ConstantTimeEquals(b));
}

TEST(SecretBytesTest, MoveTransfersAndEmptiesSource) {
  SecretBytes a = SecretBytes::FromString("secret");
  const uint8_t* buffer = a.data();
  SecretBytes b(std::move(a));
  EXPECT_EQ(b.AsStringView(), "secret");
  EXPECT_EQ(b.data(), buffer);  // the buffer moved; no copy of the secret was made
  EXPECT_TRUE(a.empty());       // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(a.size(), 0u);      // NOLINT(bugprone-use-after-move)

  SecretBytes c = SecretBytes::FromString("other");
  c = std::move(b);
  EXPECT_EQ(c.AsStringView(), "secret");
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
}

TEST(SecretBytesTest, CloneIsIndependentCopy) {
  SecretBytes a = SecretBytes::FromString("abc");
  SecretBytes b = a.Clone();
  EXPECT_NE(a.data(), b.data());
  b.data()[0] = 'x';
  EXPECT_EQ(a.AsStringView(), "abc");
  EXPECT_EQ(b.AsStringView(), "xbc");
}

TEST(SecretBytesTest, ConstantTimeEquals) {
  const SecretBytes a = SecretBytes::FromString("same-secret");
  EXPECT_TRUE(a.ConstantTimeEquals(SecretBytes::FromString("same-secret")));
  EXPECT_FALSE(a.ConstantTimeEquals(SecretBytes::FromString("same-secreT")));
  EXPECT_FALSE(a.ConstantTimeEquals(SecretBytes::FromString("same-secret!")));  // length
  EXPECT_TRUE(SecretBytes().ConstantTimeEquals(SecretBytes()));
}

TEST(SecretBytesTest, PrintingShowsOnlyTheSize) {
  const SecretBytes s = SecretBytes::FromString("hunter2-is-my-password");
  const std::string printed = ::testing::PrintToString(s);
  EXPECT_EQ(printed, "SecretBytes[22 bytes]");
  EXPECT_THAT(printed, Not(HasSubstr("hunter2")));
  EXPECT_THAT(printed, Not(HasSubstr(ToHex(s.span()))));
}

TEST(SecretBytesTest, FromHex) {
  ASSERT_OK_AND_ASSIGN(const SecretBytes s, SecretBytes::FromHex("00ff10Ab"));
  EXPECT_EQ(ToHex(s.span()), "00ff10ab");
  EXPECT_THAT(SecretBytes::FromHex("abc"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(SecretBytes::FromHex("zz"),
              StatusIs(StatusCode::kInvalidArgument, Not(HasSubstr("zz"))));
}

TEST(SecretBytesTest, FromBase64Url) {
  ASSERT_OK_AND_ASSIGN(const SecretBytes s, SecretBytes::FromBase64Url("AP8QqwE"));
  EXPECT_EQ(ToHex(s.span()), "00ff10ab01");
  EXPECT_THAT(SecretBytes::FromBase64Url("AP8Qqw=="), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace chukan::crypto
