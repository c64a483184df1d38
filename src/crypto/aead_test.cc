#include "crypto/aead.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"
#include "crypto/test_bytes.h"

namespace chukan::crypto {
namespace {

using ::chukan::testing::StatusIs;
using testing::FlipBit;
using ::testing::HasSubstr;
using testing::Hex;

// draft-irtf-cfrg-xchacha-03, appendix A.3.1 (AEAD_XChaCha20_Poly1305).
constexpr char kVectorKey[] = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
constexpr char kVectorNonce[] = "404142434445464748494a4b4c4d4e4f5051525354555657";
constexpr char kVectorAd[] = "50515253c0c1c2c3c4c5c6c7";
constexpr char kVectorPlaintext[] =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
    "sunscreen would be it.";
constexpr char kVectorCiphertext[] =
    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e"
    "39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3"
    "fff921f9664c97637da9768812f615c68b13b52e";
constexpr char kVectorTag[] = "c0875924c1c7987947deafd8780acf49";

TEST(AeadTest, XChaChaDraftVectorA31) {
  const SecretBytes key = SecretBytes::FromBytes(Hex(kVectorKey));
  ASSERT_OK_AND_ASSIGN(
      const Bytes out,
      EncryptWithNonce(key, Hex(kVectorNonce), AsBytes(kVectorPlaintext), Hex(kVectorAd)));
  EXPECT_EQ(ToHex(out), std::string(kVectorCiphertext) + kVectorTag);
  ASSERT_OK_AND_ASSIGN(const SecretBytes back,
                       DecryptWithNonce(key, Hex(kVectorNonce), out, Hex(kVectorAd)));
  EXPECT_EQ(back.AsStringView(), kVectorPlaintext);
}

class AeadTamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(sealed_, Encrypt(key_, plaintext_, ad_));
    ASSERT_EQ(sealed_.size(), kAeadNonceBytes + plaintext_.size() + kAeadTagBytes);
  }
  const SecretBytes key_ = SecretBytes::Random(kAeadKeyBytes);
  const Bytes plaintext_ = ToBytes("宛名番号 123456789012345 の住民税額");
  const Bytes ad_ = ToBytes("tenant=t0000000000000001|table=replica|row=42");
  Bytes sealed_;
};

TEST_F(AeadTamperTest, RoundTrip) {
  ASSERT_OK_AND_ASSIGN(const SecretBytes back, Decrypt(key_, sealed_, ad_));
  EXPECT_TRUE(back.ConstantTimeEquals(SecretBytes::FromBytes(plaintext_)));
}

TEST_F(AeadTamperTest, FlippedNonceBitFails) {
  for (size_t byte = 0; byte < kAeadNonceBytes; ++byte) {
    EXPECT_THAT(Decrypt(key_, FlipBit(sealed_, byte, 0), ad_),
                StatusIs(StatusCode::kDataLoss, "authentication failed"))
        << byte;
  }
}

TEST_F(AeadTamperTest, FlippedCiphertextBitFails) {
  for (size_t byte = kAeadNonceBytes; byte < sealed_.size() - kAeadTagBytes; ++byte) {
    EXPECT_THAT(Decrypt(key_, FlipBit(sealed_, byte, 5), ad_),
                StatusIs(StatusCode::kDataLoss, "authentication failed"))
        << byte;
  }
}

TEST_F(AeadTamperTest, FlippedTagBitFails) {
  for (size_t byte = sealed_.size() - kAeadTagBytes; byte < sealed_.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      EXPECT_THAT(Decrypt(key_, FlipBit(sealed_, byte, bit), ad_),
                  StatusIs(StatusCode::kDataLoss, "authentication failed"));
    }
  }
}

TEST_F(AeadTamperTest, FlippedAssociatedDataBitFails) {
  for (size_t byte = 0; byte < ad_.size(); ++byte) {
    EXPECT_THAT(Decrypt(key_, sealed_, FlipBit(ad_, byte, 1)),
                StatusIs(StatusCode::kDataLoss, "authentication failed"))
        << byte;
  }
  // Row 42's ciphertext presented as row 43's.
  EXPECT_THAT(Decrypt(key_, sealed_, AsBytes("tenant=t0000000000000001|table=replica|row=43")),
              StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(Decrypt(key_, sealed_, {}), StatusIs(StatusCode::kDataLoss));
}

TEST_F(AeadTamperTest, FlippedKeyBitFails) {
  for (size_t byte : {size_t{0}, size_t{15}, size_t{31}}) {
    Bytes raw(key_.data(), key_.data() + key_.size());
    EXPECT_THAT(Decrypt(SecretBytes::FromBytes(FlipBit(raw, byte, 7)), sealed_, ad_),
                StatusIs(StatusCode::kDataLoss, "authentication failed"));
  }
}

TEST_F(AeadTamperTest, TruncationFails) {
  Bytes shorter = sealed_;
  shorter.pop_back();
  EXPECT_THAT(Decrypt(key_, shorter, ad_), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(Decrypt(key_, std::span(sealed_).first(kAeadOverheadBytes - 1), ad_),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("too short")));
  EXPECT_THAT(Decrypt(key_, {}, ad_), StatusIs(StatusCode::kInvalidArgument));
}

TEST(AeadTest, EncryptionIsRandomised) {
  const SecretBytes key = SecretBytes::Random(32);
  ASSERT_OK_AND_ASSIGN(const Bytes a, Encrypt(key, AsBytes("x"), {}));
  ASSERT_OK_AND_ASSIGN(const Bytes b, Encrypt(key, AsBytes("x"), {}));
  EXPECT_NE(a, b);
}

TEST(AeadTest, EmptyPlaintextIsAuthenticated) {
  const SecretBytes key = SecretBytes::Random(32);
  ASSERT_OK_AND_ASSIGN(const Bytes sealed, Encrypt(key, {}, AsBytes("ad")));
  EXPECT_EQ(sealed.size(), kAeadOverheadBytes);
  ASSERT_OK_AND_ASSIGN(const SecretBytes back, Decrypt(key, sealed, AsBytes("ad")));
  EXPECT_TRUE(back.empty());
  EXPECT_THAT(Decrypt(key, sealed, AsBytes("ae")), StatusIs(StatusCode::kDataLoss));
}

TEST(AeadTest, WrongKeyAndNonceLengths) {
  EXPECT_THAT(Encrypt(SecretBytes::Random(31), AsBytes("x"), {}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("32 bytes")));
  EXPECT_THAT(Decrypt(SecretBytes::Random(33), Bytes(64, 0), {}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("32 bytes")));
  const SecretBytes key = SecretBytes::Random(32);
  EXPECT_THAT(EncryptWithNonce(key, Bytes(12, 0), AsBytes("x"), {}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("24 bytes")));
  EXPECT_THAT(DecryptWithNonce(key, Bytes(24, 0), Bytes(15, 0), {}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("too short")));
}

}  // namespace
}  // namespace chukan::crypto
