#include "crypto/key_wrap.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"
#include "crypto/test_bytes.h"

namespace chukan::crypto {
namespace {

using ::chukan::testing::StatusIs;
using testing::FlipBit;
using ::testing::HasSubstr;

constexpr std::string_view kKeyId = "tenant:t0123456789012345:v1";

class KeyWrapTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_OK_AND_ASSIGN(wrapped_, WrapKey(master_, data_key_, kKeyId)); }
  const SecretBytes master_ = SecretBytes::Random(32);
  const SecretBytes data_key_ = SecretBytes::Random(32);
  Bytes wrapped_;
};

TEST_F(KeyWrapTest, FormatAndRoundTrip) {
  EXPECT_EQ(wrapped_.size(), data_key_.size() + kKeyWrapOverheadBytes);
  EXPECT_EQ(wrapped_[0], kKeyWrapVersion1);
  ASSERT_OK_AND_ASSIGN(const SecretBytes back, UnwrapKey(master_, wrapped_, kKeyId));
  EXPECT_TRUE(back.ConstantTimeEquals(data_key_));
}

TEST_F(KeyWrapTest, WrongMasterKeyFails) {
  EXPECT_THAT(UnwrapKey(SecretBytes::Random(32), wrapped_, kKeyId),
              StatusIs(StatusCode::kDataLoss, HasSubstr("another master key or key_id")));
  Bytes raw(master_.data(), master_.data() + 32);
  EXPECT_THAT(UnwrapKey(SecretBytes::FromBytes(FlipBit(raw, 7, 2)), wrapped_, kKeyId),
              StatusIs(StatusCode::kDataLoss));
}

TEST_F(KeyWrapTest, WrongKeyIdFails) {
  EXPECT_THAT(UnwrapKey(master_, wrapped_, "tenant:t0123456789012346:v1"),
              StatusIs(StatusCode::kDataLoss));
  std::string flipped(kKeyId);
  flipped[3] ^= 0x01;
  EXPECT_THAT(UnwrapKey(master_, wrapped_, flipped), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(UnwrapKey(master_, wrapped_, std::string(kKeyId) + "x"),
              StatusIs(StatusCode::kDataLoss));
}

TEST_F(KeyWrapTest, EveryFlippedBodyBitFails) {
  for (size_t byte = 1; byte < wrapped_.size(); ++byte) {
    EXPECT_THAT(UnwrapKey(master_, FlipBit(wrapped_, byte, static_cast<int>(byte % 8)), kKeyId),
                StatusIs(StatusCode::kDataLoss))
        << byte;
  }
}

TEST_F(KeyWrapTest, UnknownVersionIsInvalidArgument) {
  for (int bit = 0; bit < 8; ++bit) {
    EXPECT_THAT(UnwrapKey(master_, FlipBit(wrapped_, 0, bit), kKeyId),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("unknown format version")));
  }
}

TEST_F(KeyWrapTest, TruncationIsDataLoss) {
  EXPECT_THAT(UnwrapKey(master_, std::span(wrapped_).first(wrapped_.size() - 1), kKeyId),
              StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(UnwrapKey(master_, std::span(wrapped_).first(kKeyWrapOverheadBytes), kKeyId),
              StatusIs(StatusCode::kDataLoss, HasSubstr("truncated")));
  EXPECT_THAT(UnwrapKey(master_, Bytes{}, kKeyId), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(KeyWrapTest, WrappingIsRandomised) {
  ASSERT_OK_AND_ASSIGN(const Bytes again, WrapKey(master_, data_key_, kKeyId));
  EXPECT_NE(again, wrapped_);
}

TEST(KeyWrapArgsTest, InvalidArguments) {
  const SecretBytes master = SecretBytes::Random(32);
  const SecretBytes key = SecretBytes::Random(32);
  EXPECT_THAT(WrapKey(SecretBytes::Random(16), key, "k"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("master key")));
  EXPECT_THAT(WrapKey(master, SecretBytes(), "k"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("data key")));
  EXPECT_THAT(WrapKey(master, SecretBytes::Random(1025), "k"),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(WrapKey(master, key, ""),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("key_id")));
  EXPECT_THAT(WrapKey(master, key, std::string(256, 'k')), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_OK(WrapKey(master, key, std::string(255, 'k')));
  EXPECT_THAT(UnwrapKey(SecretBytes::Random(31), Bytes(80, 1), "k"),
              StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace chukan::crypto
