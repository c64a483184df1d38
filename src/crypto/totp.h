// One-time passwords for the console's second factor: HOTP (RFC 4226) and TOTP (RFC 6238) over
// HMAC-SHA-1/256/512 (OpenSSL), and the base32 text (RFC 4648 §6) authenticator apps read.
//
// Staff enrol by scanning an otpauth:// URI (the "Key Uri Format" authenticator apps share):
//   otpauth://totp/<issuer>:<account>?secret=<BASE32>&issuer=<issuer>&algorithm=SHA1&digits=6&period=30
// with issuer and account percent-encoded (UTF-8).
//
// All functions are thread-safe and keep no state. Secrets passed in are not copied beyond the
// call (the HMAC's own buffers are OpenSSL's).
#ifndef CHUKAN_CRYPTO_TOTP_H_
#define CHUKAN_CRYPTO_TOTP_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace chukan::crypto {

enum class OtpHash { kSha1, kSha256, kSha512 };

struct TotpParams {
  OtpHash hash = OtpHash::kSha1;  // what every authenticator app supports
  int digits = 6;                 // 6..8
  int64_t period_seconds = 30;    // 1..300
};

// The secret length chukan enrols with: 20 bytes (160 bits, RFC 4226's recommendation).
inline constexpr size_t kTotpSecretBytes = 20;

// HOTP value of `counter` as `digits` decimal digits (left-padded with '0').
// Errors: kInvalidArgument for digits outside 6..8 or an empty key.
Result<std::string> Hotp(std::span<const uint8_t> key, uint64_t counter, int digits = 6,
                         OtpHash hash = OtpHash::kSha1);

// TOTP value at `unix_seconds` (counter = floor(unix_seconds / period)).
// Errors: as Hotp; kInvalidArgument for a negative time or a period outside 1..300.
Result<std::string> Totp(std::span<const uint8_t> key, int64_t unix_seconds,
                         TotpParams params = {});

// Checks `code` against the steps from `window` before to `window` after the one of
// `unix_seconds` (clock drift), in constant time per step. Returns the matching step's counter
// (callers store the last one used and refuse a code of the same or an earlier step: a code is
// good once). Errors: kInvalidArgument for a code that is not `digits` ASCII digits (no value
// quoted), kUnauthenticated "one-time code does not match" when no step matches.
Result<int64_t> VerifyTotp(std::span<const uint8_t> key, std::string_view code,
                           int64_t unix_seconds, int window = 1, TotpParams params = {});

// RFC 4648 base32, upper case, without '=' padding (what authenticator apps expect).
std::string Base32Encode(std::span<const uint8_t> data);
// Accepts upper or lower case, ignores spaces and '=' padding.
// Errors: kInvalidArgument naming the position of the first character outside the alphabet.
Result<SecretBytes> Base32Decode(std::string_view text);

// The enrolment URI above. `issuer` and `account` must not be empty.
std::string OtpauthUri(std::string_view issuer, std::string_view account,
                       std::span<const uint8_t> secret, TotpParams params = {});

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_TOTP_H_
