#include "crypto/password.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"
#include "crypto/bytes.h"

namespace chukan::crypto {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// The minimum limits keep these tests fast (also under ASan); one test runs the real default.
const PwhashLimits kFast = PwhashLimits::MinimumForTests();

TEST(PasswordTest, HashAndVerify) {
  ASSERT_OK_AND_ASSIGN(const std::string encoded, HashPassword("correct horse 電池", kFast));
  EXPECT_THAT(encoded, StartsWith("$argon2id$v=19$m=8,t=1,p=1$"));
  EXPECT_OK(VerifyPassword(encoded, "correct horse 電池"));
  EXPECT_THAT(VerifyPassword(encoded, "correct horse 電地"),
              StatusIs(StatusCode::kUnauthenticated, "password does not match"));
  EXPECT_THAT(VerifyPassword(encoded, ""), StatusIs(StatusCode::kUnauthenticated));
}

TEST(PasswordTest, SaltMakesHashesDiffer) {
  ASSERT_OK_AND_ASSIGN(const std::string a, HashPassword("pw", kFast));
  ASSERT_OK_AND_ASSIGN(const std::string b, HashPassword("pw", kFast));
  EXPECT_NE(a, b);
  EXPECT_OK(VerifyPassword(a, "pw"));
  EXPECT_OK(VerifyPassword(b, "pw"));
}

TEST(PasswordTest, EmptyPasswordIsHashable) {
  ASSERT_OK_AND_ASSIGN(const std::string encoded, HashPassword("", kFast));
  EXPECT_OK(VerifyPassword(encoded, ""));
  EXPECT_THAT(VerifyPassword(encoded, "x"), StatusIs(StatusCode::kUnauthenticated));
}

TEST(PasswordTest, InteractiveDefault) {
  ASSERT_OK_AND_ASSIGN(const std::string encoded, HashPassword("pw"));
  // libsodium's interactive limits: 64 MiB (65536 KiB), 2 passes.
  EXPECT_THAT(encoded, StartsWith("$argon2id$v=19$m=65536,t=2,p=1$"));
  EXPECT_OK(VerifyPassword(encoded, "pw"));
  EXPECT_FALSE(PasswordNeedsRehash(encoded));
  EXPECT_TRUE(PasswordNeedsRehash(encoded, PwhashLimits::Moderate()));
}

TEST(PasswordTest, MalformedEncodingIsInvalidArgument) {
  ASSERT_OK_AND_ASSIGN(const std::string encoded, HashPassword("pw", kFast));
  EXPECT_THAT(VerifyPassword("", "pw"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(VerifyPassword("$argon2i$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", "pw"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("argon2id")));
  EXPECT_THAT(VerifyPassword("$argon2id$garbage", "pw"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(VerifyPassword(encoded.substr(0, 20), "pw"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(VerifyPassword(std::string(200, '$'), "pw"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_TRUE(PasswordNeedsRehash("not a hash"));
  std::string argon2i = encoded;
  argon2i.replace(0, 10, "$argon2i$");
  EXPECT_TRUE(PasswordNeedsRehash(argon2i, kFast));
}

TEST(PasswordTest, TamperedHashDoesNotVerify) {
  ASSERT_OK_AND_ASSIGN(std::string encoded, HashPassword("pw", kFast));
  // Change one character inside the hash part to another base64 character. Not the last one:
  // its low two bits are padding, and a change there can make the encoding non-canonical, which
  // is refused as malformed (that made this test fail about 1 time in 16).
  char& c = encoded[encoded.size() - 5];
  c = c == 'A' ? 'B' : 'A';
  EXPECT_THAT(VerifyPassword(encoded, "pw"), StatusIs(StatusCode::kUnauthenticated));
}

TEST(PasswordTest, NeedsRehashComparesLimits) {
  ASSERT_OK_AND_ASSIGN(const std::string encoded, HashPassword("pw", kFast));
  EXPECT_FALSE(PasswordNeedsRehash(encoded, kFast));
  EXPECT_TRUE(PasswordNeedsRehash(encoded, PwhashLimits::Interactive()));
}

TEST(PasswordTest, LimitsAndSizesChecked) {
  EXPECT_THAT(HashPassword(std::string(kPasswordMaxBytes + 1, 'a'), kFast),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("4096")));
  EXPECT_THAT(HashPassword("pw", PwhashLimits{0, 8192}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("limits")));
  EXPECT_THAT(HashPassword("pw", PwhashLimits{1, 1}), StatusIs(StatusCode::kInvalidArgument));
}

TEST(DeriveKeyTest, DeterministicPerPasswordAndSalt) {
  const Bytes salt(kPwhashSaltBytes, 7);
  ASSERT_OK_AND_ASSIGN(const SecretBytes a, DeriveKey("passphrase", salt, 32, kFast));
  ASSERT_OK_AND_ASSIGN(const SecretBytes b, DeriveKey("passphrase", salt, 32, kFast));
  ASSERT_OK_AND_ASSIGN(const SecretBytes c, DeriveKey("passphrasf", salt, 32, kFast));
  ASSERT_OK_AND_ASSIGN(const SecretBytes d, DeriveKey("passphrase", Bytes(16, 8), 32, kFast));
  EXPECT_EQ(a.size(), 32u);
  EXPECT_TRUE(a.ConstantTimeEquals(b));
  EXPECT_FALSE(a.ConstantTimeEquals(c));
  EXPECT_FALSE(a.ConstantTimeEquals(d));
}

TEST(DeriveKeyTest, InvalidArguments) {
  EXPECT_THAT(DeriveKey("p", Bytes(15, 0), 32, kFast),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("salt")));
  EXPECT_THAT(DeriveKey("p", Bytes(16, 0), 15, kFast),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("output")));
  EXPECT_THAT(DeriveKey("p", Bytes(16, 0), 1025, kFast), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace chukan::crypto
