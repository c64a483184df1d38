#include "crypto/sealed_box.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"
#include "crypto/test_bytes.h"

namespace chukan::crypto {
namespace {

using ::chukan::testing::StatusIs;
using testing::FlipBit;
using ::testing::HasSubstr;

TEST(SealedBoxTest, RoundTrip) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  ASSERT_EQ(recipient.public_key().size(), 32u);
  ASSERT_EQ(recipient.secret_key().size(), 32u);
  const std::string answer = R"({"tm":"TM00000000000002","items":{"税額":"12000"}})";
  ASSERT_OK_AND_ASSIGN(const Bytes sealed, Seal(recipient.public_key(), AsBytes(answer)));
  EXPECT_EQ(sealed.size(), answer.size() + kSealOverheadBytes);
  ASSERT_OK_AND_ASSIGN(const SecretBytes opened, Open(recipient, sealed));
  EXPECT_EQ(opened.AsStringView(), answer);
}

TEST(SealedBoxTest, EmptyPlaintext) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(const Bytes sealed, Seal(recipient.public_key(), {}));
  EXPECT_EQ(sealed.size(), kSealOverheadBytes);
  ASSERT_OK_AND_ASSIGN(const SecretBytes opened, Open(recipient, sealed));
  EXPECT_TRUE(opened.empty());
}

TEST(SealedBoxTest, SealingIsRandomised) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(const Bytes a, Seal(recipient.public_key(), AsBytes("same")));
  ASSERT_OK_AND_ASSIGN(const Bytes b, Seal(recipient.public_key(), AsBytes("same")));
  EXPECT_NE(a, b);  // fresh ephemeral key each time
}

TEST(SealedBoxTest, EveryFlippedCiphertextBitFails) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(const Bytes sealed, Seal(recipient.public_key(), AsBytes("payload")));
  for (size_t byte = 0; byte < sealed.size(); ++byte) {
    EXPECT_THAT(Open(recipient, FlipBit(sealed, byte, static_cast<int>(byte % 8))),
                StatusIs(StatusCode::kUnauthenticated, "sealed box authentication failed"))
        << byte;
  }
}

TEST(SealedBoxTest, WrongRecipientFails) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  const BoxKeyPair other = BoxKeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(const Bytes sealed, Seal(recipient.public_key(), AsBytes("payload")));
  EXPECT_THAT(Open(other, sealed),
              StatusIs(StatusCode::kUnauthenticated, "sealed box authentication failed"));
}

TEST(SealedBoxTest, FlippedSecretKeyBitFails) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(const Bytes sealed, Seal(recipient.public_key(), AsBytes("payload")));
  // Bit 3 of byte 1 survives X25519 clamping, so this is a genuinely different key.
  Bytes sk(recipient.secret_key().data(), recipient.secret_key().data() + 32);
  ASSERT_OK_AND_ASSIGN(const BoxKeyPair tampered,
                       BoxKeyPair::FromSecret(SecretBytes::FromBytes(FlipBit(sk, 1, 3))));
  EXPECT_THAT(Open(tampered, sealed), StatusIs(StatusCode::kUnauthenticated));
}

TEST(SealedBoxTest, TruncatedAndWrongLengths) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(Bytes sealed, Seal(recipient.public_key(), AsBytes("payload")));
  sealed.pop_back();
  EXPECT_THAT(Open(recipient, sealed), StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(Open(recipient, Bytes(47, 0)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("too short")));
  EXPECT_THAT(Seal(Bytes(31, 9), AsBytes("x")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("32 bytes")));
  EXPECT_THAT(BoxKeyPair::FromSecret(SecretBytes::Random(16)),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(SealedBoxTest, RejectsSmallOrderPublicKey) {
  // The all-zero point has small order: the shared secret would be predictable.
  EXPECT_THAT(Seal(Bytes(32, 0), AsBytes("x")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("small-order")));
}

TEST(SealedBoxTest, FromSecretRebuildsPublicKey) {
  const BoxKeyPair a = BoxKeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(const BoxKeyPair b, BoxKeyPair::FromSecret(a.secret_key()));
  EXPECT_EQ(a.public_key(), b.public_key());
  ASSERT_OK_AND_ASSIGN(const Bytes sealed, Seal(a.public_key(), AsBytes("x")));
  ASSERT_OK_AND_ASSIGN(const SecretBytes opened, Open(b, sealed));
  EXPECT_EQ(opened.AsStringView(), "x");
  const BoxKeyPair c = b.Clone();
  EXPECT_EQ(c.public_key(), a.public_key());
}

TEST(SealedBoxTest, FromPartsOpensWhatItsPairOpensAndAMismatchOpensNothing) {
  const BoxKeyPair a = BoxKeyPair::Generate();
  const BoxKeyPair other = BoxKeyPair::Generate();
  ASSERT_OK_AND_ASSIGN(const Bytes sealed, Seal(a.public_key(), AsBytes("x")));
  ASSERT_OK_AND_ASSIGN(const BoxKeyPair same,
                       BoxKeyPair::FromParts(a.public_key(), a.secret_key()));
  ASSERT_OK_AND_ASSIGN(const SecretBytes opened, Open(same, sealed));
  EXPECT_EQ(opened.AsStringView(), "x");
  ASSERT_OK_AND_ASSIGN(const BoxKeyPair mixed,
                       BoxKeyPair::FromParts(other.public_key(), a.secret_key()));
  EXPECT_FALSE(Open(mixed, sealed).ok());
  EXPECT_THAT(BoxKeyPair::FromParts(Bytes(31), a.secret_key()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("got 31 and 32")));
}

TEST(SealedBoxTest, PrintingShowsNoSecret) {
  const BoxKeyPair k = BoxKeyPair::Generate();
  EXPECT_EQ(::testing::PrintToString(k), "BoxKeyPair[public_key=" + ToHex(k.public_key()) + "]");
}

}  // namespace
}  // namespace chukan::crypto
