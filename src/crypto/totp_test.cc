#include "crypto/totp.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "common/status_matchers.h"
#include "crypto/bytes.h"

namespace chukan::crypto {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

// RFC 6238 Appendix B: the seeds are the ASCII digits "1234567890" repeated to the hash's size.
constexpr std::string_view kSeed20 = "12345678901234567890";
constexpr std::string_view kSeed32 = "12345678901234567890123456789012";
constexpr std::string_view kSeed64 =
    "1234567890123456789012345678901234567890123456789012345678901234";

struct Rfc6238Vector {
  int64_t time;
  const char* sha1;
  const char* sha256;
  const char* sha512;
};

constexpr Rfc6238Vector kRfc6238[] = {
    {59, "94287082", "46119246", "90693936"},
    {1111111109, "07081804", "68084774", "25091201"},
    {1111111111, "14050471", "67062674", "99943326"},
    {1234567890, "89005924", "91819424", "93441116"},
    {2000000000, "69279037", "90698825", "38618901"},
    {20000000000, "65353130", "77737706", "47863826"},
};

TEST(TotpTest, Rfc6238AppendixB) {
  for (const Rfc6238Vector& v : kRfc6238) {
    ASSERT_OK_AND_ASSIGN(const std::string sha1,
                         Totp(AsBytes(kSeed20), v.time, {OtpHash::kSha1, 8, 30}));
    EXPECT_EQ(sha1, v.sha1) << v.time;
    ASSERT_OK_AND_ASSIGN(const std::string sha256,
                         Totp(AsBytes(kSeed32), v.time, {OtpHash::kSha256, 8, 30}));
    EXPECT_EQ(sha256, v.sha256) << v.time;
    ASSERT_OK_AND_ASSIGN(const std::string sha512,
                         Totp(AsBytes(kSeed64), v.time, {OtpHash::kSha512, 8, 30}));
    EXPECT_EQ(sha512, v.sha512) << v.time;
  }
}

TEST(HotpTest, Rfc4226AppendixD) {
  const char* const kExpected[] = {"755224", "287082", "359152", "969429", "338314",
                                   "254676", "287922", "162583", "399871", "520489"};
  for (uint64_t counter = 0; counter < 10; ++counter) {
    ASSERT_OK_AND_ASSIGN(const std::string code, Hotp(AsBytes(kSeed20), counter));
    EXPECT_EQ(code, kExpected[counter]) << counter;
  }
}

TEST(HotpTest, SevenDigitsArePaddedAndBadParametersRefused) {
  // 1284755224 (RFC 4226 Appendix D, counter 0, the truncated value) mod 10^7.
  ASSERT_OK_AND_ASSIGN(const std::string code7, Hotp(AsBytes(kSeed20), 0, 7));
  EXPECT_EQ(code7, "4755224");
  EXPECT_THAT(Hotp(AsBytes(kSeed20), 0, 5), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Hotp(AsBytes(kSeed20), 0, 9), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Hotp({}, 0), StatusIs(StatusCode::kInvalidArgument, HasSubstr("empty key")));
  EXPECT_THAT(Totp(AsBytes(kSeed20), -1), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Totp(AsBytes(kSeed20), 59, {OtpHash::kSha1, 6, 0}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("period")));
  EXPECT_THAT(Totp(AsBytes(kSeed20), 59, {OtpHash::kSha1, 6, 301}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("period")));
}

TEST(VerifyTotpTest, AcceptsOneStepEitherSideAndReturnsTheStep) {
  const int64_t now = 1111111111;  // step 37037037
  const int64_t step = now / 30;
  for (int64_t delta = -1; delta <= 1; ++delta) {
    ASSERT_OK_AND_ASSIGN(const std::string code, Totp(AsBytes(kSeed20), (step + delta) * 30 + 5));
    ASSERT_OK_AND_ASSIGN(const int64_t matched, VerifyTotp(AsBytes(kSeed20), code, now));
    EXPECT_EQ(matched, step + delta);
  }
  for (const int64_t delta : {-2, 2}) {
    ASSERT_OK_AND_ASSIGN(const std::string code, Totp(AsBytes(kSeed20), (step + delta) * 30));
    EXPECT_THAT(VerifyTotp(AsBytes(kSeed20), code, now),
                StatusIs(StatusCode::kUnauthenticated, HasSubstr("does not match")))
        << delta;
  }
  // A window of 0 accepts only the current step.
  ASSERT_OK_AND_ASSIGN(const std::string previous, Totp(AsBytes(kSeed20), (step - 1) * 30));
  EXPECT_THAT(VerifyTotp(AsBytes(kSeed20), previous, now, 0),
              StatusIs(StatusCode::kUnauthenticated));
}

TEST(VerifyTotpTest, EightDigitSha256) {
  ASSERT_OK_AND_ASSIGN(const int64_t step, VerifyTotp(AsBytes(kSeed32), "91819424", 1234567890, 1,
                                                      {OtpHash::kSha256, 8, 30}));
  EXPECT_EQ(step, 1234567890 / 30);
}

TEST(VerifyTotpTest, WrongCodeIsUnauthenticated) {
  ASSERT_OK_AND_ASSIGN(const std::string code, Totp(AsBytes(kSeed20), 59));
  std::string wrong = code;
  wrong[0] = wrong[0] == '9' ? '0' : static_cast<char>(wrong[0] + 1);
  EXPECT_THAT(VerifyTotp(AsBytes(kSeed20), wrong, 59), StatusIs(StatusCode::kUnauthenticated));
  // The right code under another key does not match either.
  EXPECT_THAT(VerifyTotp(AsBytes(kSeed32), code, 59), StatusIs(StatusCode::kUnauthenticated));
}

TEST(VerifyTotpTest, MalformedCodeIsInvalidArgumentWithoutQuotingIt) {
  for (const std::string_view bad : {"12345a", "12345", "1234567", "", " 12345", "１２３４５６"}) {
    const Result<int64_t> r = VerifyTotp(AsBytes(kSeed20), bad, 59);
    EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument, HasSubstr("6 digits"))) << bad;
    if (!bad.empty()) {
      EXPECT_THAT(r.status().message(), Not(HasSubstr(std::string(bad))));
    }
  }
}

TEST(Base32Test, Rfc4648Section10WithoutPadding) {
  const std::pair<std::string_view, std::string_view> kVectors[] = {
      {"", ""},
      {"f", "MY"},
      {"fo", "MZXQ"},
      {"foo", "MZXW6"},
      {"foob", "MZXW6YQ"},
      {"fooba", "MZXW6YTB"},
      {"foobar", "MZXW6YTBOI"},
  };
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base32Encode(AsBytes(plain)), encoded);
    ASSERT_OK_AND_ASSIGN(const SecretBytes decoded, Base32Decode(encoded));
    EXPECT_EQ(decoded.AsStringView(), plain);
  }
}

TEST(Base32Test, DecodeAcceptsLowerCaseSpacesAndPadding) {
  ASSERT_OK_AND_ASSIGN(const SecretBytes a, Base32Decode("mzxw 6ytb oi======"));
  EXPECT_EQ(a.AsStringView(), "foobar");
  ASSERT_OK_AND_ASSIGN(const SecretBytes b, Base32Decode("MZXW6==="));
  EXPECT_EQ(b.AsStringView(), "foo");
}

TEST(Base32Test, DecodeErrorsNameThePosition) {
  EXPECT_THAT(Base32Decode("MZXW1YTB"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("offset 4")));
  EXPECT_THAT(Base32Decode("MZ-XW6"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("offset 2")));
  EXPECT_THAT(Base32Decode("M"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("length")));
  EXPECT_THAT(Base32Decode("MZX"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("length")));
}

TEST(Base32Test, RoundTripsAnEnrolmentSecret) {
  const SecretBytes secret = SecretBytes::Random(kTotpSecretBytes);
  const std::string text = Base32Encode(secret.span());
  EXPECT_EQ(text.size(), 32u);  // 160 bits, no padding needed
  ASSERT_OK_AND_ASSIGN(const SecretBytes back, Base32Decode(text));
  EXPECT_TRUE(back.ConstantTimeEquals(secret));
}

TEST(OtpauthUriTest, PercentEncodesJapaneseAndSpaces) {
  const std::string uri = OtpauthUri("chukan 札幌市", "yamada.t", AsBytes("foobar"));
  EXPECT_EQ(uri,
            "otpauth://totp/chukan%20%E6%9C%AD%E5%B9%8C%E5%B8%82:yamada.t"
            "?secret=MZXW6YTBOI&issuer=chukan%20%E6%9C%AD%E5%B9%8C%E5%B8%82"
            "&algorithm=SHA1&digits=6&period=30");
}

TEST(OtpauthUriTest, CarriesTheParametersAndEncodesReservedCharacters) {
  const std::string uri = OtpauthUri("a&b", "x:y@z", AsBytes("f"), {OtpHash::kSha512, 8, 60});
  EXPECT_EQ(uri,
            "otpauth://totp/a%26b:x%3Ay%40z?secret=MY&issuer=a%26b&algorithm=SHA512&digits=8"
            "&period=60");
}

}  // namespace
}  // namespace chukan::crypto
