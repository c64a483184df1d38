#include "crypto/ed25519.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "common/status_matchers.h"
#include "crypto/test_bytes.h"

namespace chukan::crypto {
namespace {

using ::chukan::testing::IsOk;
using ::chukan::testing::StatusIs;
using testing::FlipBit;
using ::testing::HasSubstr;
using testing::Hex;

// RFC 8032 section 7.1, TEST 1-3: seed ("SECRET KEY"), public key, message, signature.
struct Rfc8032Vector {
  const char* name;
  const char* seed;
  const char* public_key;
  const char* message;
  const char* signature;
};

constexpr Rfc8032Vector kRfc8032Vectors[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
     "b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
     "1d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984d"
     "c6594a7c15e9716ed28dc027beceea1ec40a"},
};

TEST(Ed25519Test, Rfc8032Vectors) {
  for (const Rfc8032Vector& v : kRfc8032Vectors) {
    SCOPED_TRACE(v.name);
    ASSERT_OK_AND_ASSIGN(const SigningKey key,
                         SigningKey::FromSeed(SecretBytes::FromBytes(Hex(v.seed))));
    EXPECT_EQ(ToHex(key.verify_key().bytes()), v.public_key);
    const Bytes sig = key.Sign(Hex(v.message));
    EXPECT_EQ(ToHex(sig), v.signature);
    ASSERT_OK_AND_ASSIGN(const VerifyKey vk, VerifyKey::FromBytes(Hex(v.public_key)));
    EXPECT_OK(vk.Verify(Hex(v.message), Hex(v.signature)));
    EXPECT_EQ(ToHex(key.seed().span()), v.seed);
  }
}

class Ed25519TamperTest : public ::testing::Test {
 protected:
  const SigningKey key_ = SigningKey::Generate();
  const Bytes message_ = ToBytes("permit:P-0001 provider=1234567890123456");
  const Bytes signature_ = key_.Sign(message_);
};

TEST_F(Ed25519TamperTest, GenuineSignatureVerifies) {
  EXPECT_OK(key_.verify_key().Verify(message_, signature_));
}

TEST_F(Ed25519TamperTest, EveryFlippedSignatureBitFails) {
  for (size_t byte = 0; byte < signature_.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      EXPECT_THAT(key_.verify_key().Verify(message_, FlipBit(signature_, byte, bit)),
                  StatusIs(StatusCode::kUnauthenticated, "signature verification failed"))
          << byte << ":" << bit;
    }
  }
}

TEST_F(Ed25519TamperTest, FlippedMessageBitFails) {
  for (size_t byte : {size_t{0}, message_.size() / 2, message_.size() - 1}) {
    EXPECT_THAT(key_.verify_key().Verify(FlipBit(message_, byte, 3), signature_),
                StatusIs(StatusCode::kUnauthenticated, "signature verification failed"));
  }
  Bytes longer = message_;
  longer.push_back(0);
  EXPECT_THAT(key_.verify_key().Verify(longer, signature_), StatusIs(StatusCode::kUnauthenticated));
}

TEST_F(Ed25519TamperTest, FlippedPublicKeyBitFails) {
  // A flipped bit gives either bytes that are not a valid key (refused when parsed) or another
  // key (refused when verifying); both are errors with a specific code, never success.
  int parsed = 0;
  for (size_t byte = 0; byte < kEd25519PublicKeyBytes; ++byte) {
    const Bytes pk = FlipBit(key_.verify_key().bytes(), byte, byte % 8);
    Result<VerifyKey> vk = VerifyKey::FromBytes(pk);
    if (!vk.ok()) {
      EXPECT_THAT(vk, StatusIs(StatusCode::kInvalidArgument));
      continue;
    }
    ++parsed;
    EXPECT_THAT(vk->Verify(message_, signature_),
                StatusIs(StatusCode::kUnauthenticated, "signature verification failed"));
  }
  EXPECT_GT(parsed, 0);  // the verification path was exercised
}

TEST_F(Ed25519TamperTest, OtherKeyFails) {
  const SigningKey other = SigningKey::Generate();
  EXPECT_THAT(other.verify_key().Verify(message_, signature_),
              StatusIs(StatusCode::kUnauthenticated));
}

TEST(Ed25519Test, WrongLengths) {
  const SigningKey key = SigningKey::Generate();
  Bytes sig = key.Sign(AsBytes("m"));
  sig.pop_back();
  EXPECT_THAT(key.verify_key().Verify(AsBytes("m"), sig),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("64 bytes")));
  EXPECT_THAT(key.verify_key().Verify(AsBytes("m"), Bytes(65, 0)),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(VerifyKey::FromBytes(Bytes(31, 1)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("32 bytes")));
  EXPECT_THAT(SigningKey::FromSeed(SecretBytes::Random(31)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("32 bytes")));
  EXPECT_THAT(SigningKey::FromSeed(SecretBytes::Random(64)),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(Ed25519Test, RejectsDegeneratePublicKeys) {
  // The identity point (y = 1) has small order: any "signature" with R = identity, S = 0 would
  // verify for every message under it.
  Bytes identity(32, 0);
  identity[0] = 1;
  EXPECT_THAT(VerifyKey::FromBytes(identity), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(VerifyKey::FromBytes(Bytes(32, 0)), StatusIs(StatusCode::kInvalidArgument));
}

TEST(Ed25519Test, SeedRoundTripAndDeterminism) {
  const SigningKey a = SigningKey::Generate();
  ASSERT_OK_AND_ASSIGN(const SigningKey b, SigningKey::FromSeed(a.seed()));
  EXPECT_EQ(a.verify_key(), b.verify_key());
  EXPECT_EQ(a.Sign(AsBytes("x")), b.Sign(AsBytes("x")));
  EXPECT_NE(a.Sign(AsBytes("x")), a.Sign(AsBytes("y")));
  const SigningKey c = a.Clone();
  EXPECT_EQ(c.verify_key(), a.verify_key());
  EXPECT_FALSE(SigningKey::Generate().verify_key() == a.verify_key());
}

TEST(Ed25519Test, PrintingShowsNoSecret) {
  ASSERT_OK_AND_ASSIGN(const SigningKey key,
                       SigningKey::FromSeed(SecretBytes::FromBytes(Hex(kRfc8032Vectors[0].seed))));
  const std::string printed = ::testing::PrintToString(key);
  EXPECT_EQ(printed, std::string("SigningKey[verify_key=") + kRfc8032Vectors[0].public_key + "]");
  EXPECT_THAT(printed, ::testing::Not(HasSubstr(kRfc8032Vectors[0].seed)));
}

}  // namespace
}  // namespace chukan::crypto
