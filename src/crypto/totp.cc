#include "crypto/totp.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>

#include "crypto/bytes.h"

namespace chukan::crypto {
namespace {

constexpr std::string_view kBase32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

const EVP_MD* Md(OtpHash hash) {
  switch (hash) {
    case OtpHash::kSha1:
      return EVP_sha1();
    case OtpHash::kSha256:
      return EVP_sha256();
    case OtpHash::kSha512:
      return EVP_sha512();
  }
  return nullptr;
}

std::string_view HashName(OtpHash hash) {
  switch (hash) {
    case OtpHash::kSha1:
      return "SHA1";
    case OtpHash::kSha256:
      return "SHA256";
    case OtpHash::kSha512:
      return "SHA512";
  }
  return "SHA1";
}

Status CheckDigits(int digits) {
  if (digits < 6 || digits > 8) {
    return InvalidArgumentError("one-time code: digits must be 6 to 8, not " +
                                std::to_string(digits));
  }
  return Status::Ok();
}

Status CheckPeriod(int64_t period_seconds) {
  if (period_seconds < 1 || period_seconds > 300) {
    return InvalidArgumentError("one-time code: period must be 1 to 300 seconds, not " +
                                std::to_string(period_seconds));
  }
  return Status::Ok();
}

// RFC 4226 §5.3: HMAC of the big-endian counter, dynamic truncation, modulo 10^digits.
// Preconditions checked by the callers: digits in 6..8, key not empty.
Result<std::string> HotpUnchecked(std::span<const uint8_t> key, uint64_t counter, int digits,
                                  OtpHash hash) {
  std::array<uint8_t, 8> message{};
  for (int i = 7; i >= 0; --i) {
    message[static_cast<size_t>(i)] = static_cast<uint8_t>(counter & 0xffu);
    counter >>= 8;
  }
  std::array<uint8_t, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  const EVP_MD* md = Md(hash);
  if (md == nullptr ||
      HMAC(md, key.data(), static_cast<int>(key.size()), message.data(), message.size(), mac.data(),
           &mac_len) == nullptr ||
      mac_len < 20) {
    OPENSSL_cleanse(mac.data(), mac.size());
    return InternalError("one-time code: HMAC failed (OpenSSL)");
  }
  const size_t offset = mac[mac_len - 1] & 0x0fu;
  const uint32_t binary = (static_cast<uint32_t>(mac[offset] & 0x7fu) << 24) |
                          (static_cast<uint32_t>(mac[offset + 1]) << 16) |
                          (static_cast<uint32_t>(mac[offset + 2]) << 8) |
                          static_cast<uint32_t>(mac[offset + 3]);
  OPENSSL_cleanse(mac.data(), mac.size());
  uint32_t modulus = 1;
  for (int i = 0; i < digits; ++i) modulus *= 10;
  uint32_t value = binary % modulus;
  std::string out(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out;
}

void PercentEncode(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    const bool unreserved = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') ||
                            (b >= '0' && b <= '9') || b == '-' || b == '.' || b == '_' || b == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0x0fu]);
    }
  }
}

}  // namespace

Result<std::string> Hotp(std::span<const uint8_t> key, uint64_t counter, int digits, OtpHash hash) {
  RETURN_IF_ERROR(CheckDigits(digits));
  if (key.empty()) return InvalidArgumentError("one-time code: empty key");
  return HotpUnchecked(key, counter, digits, hash);
}

Result<std::string> Totp(std::span<const uint8_t> key, int64_t unix_seconds, TotpParams params) {
  RETURN_IF_ERROR(CheckPeriod(params.period_seconds));
  if (unix_seconds < 0) return InvalidArgumentError("one-time code: negative time");
  return Hotp(key, static_cast<uint64_t>(unix_seconds / params.period_seconds), params.digits,
              params.hash);
}

Result<int64_t> VerifyTotp(std::span<const uint8_t> key, std::string_view code,
                           int64_t unix_seconds, int window, TotpParams params) {
  RETURN_IF_ERROR(CheckDigits(params.digits));
  RETURN_IF_ERROR(CheckPeriod(params.period_seconds));
  if (key.empty()) return InvalidArgumentError("one-time code: empty key");
  if (unix_seconds < 0) return InvalidArgumentError("one-time code: negative time");
  if (window < 0 || window > 10) {
    return InvalidArgumentError("one-time code: window must be 0 to 10 steps");
  }
  bool well_formed = code.size() == static_cast<size_t>(params.digits);
  for (const char c : code) well_formed = well_formed && c >= '0' && c <= '9';
  if (!well_formed) {
    return InvalidArgumentError("one-time code must be " + std::to_string(params.digits) +
                                " digits");
  }
  const int64_t now_step = unix_seconds / params.period_seconds;
  std::optional<int64_t> matched;
  // Every step of the window is computed and compared, so the time taken does not tell which
  // step (if any) matched.
  for (int64_t step = now_step - window; step <= now_step + window; ++step) {
    if (step < 0) continue;
    ASSIGN_OR_RETURN(std::string expected,
                     HotpUnchecked(key, static_cast<uint64_t>(step), params.digits, params.hash));
    const bool equal = ConstantTimeEquals(AsBytes(expected), AsBytes(code));
    OPENSSL_cleanse(expected.data(), expected.size());
    if (equal && !matched.has_value()) matched = step;
  }
  if (!matched.has_value()) return UnauthenticatedError("one-time code does not match");
  return *matched;
}

std::string Base32Encode(std::span<const uint8_t> data) {
  std::string out;
  out.reserve((data.size() * 8 + 4) / 5);
  uint32_t buffer = 0;
  int bits = 0;
  for (const uint8_t b : data) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kBase32Alphabet[(buffer >> (bits - 5)) & 0x1fu]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kBase32Alphabet[(buffer << (5 - bits)) & 0x1fu]);
  return out;
}

Result<SecretBytes> Base32Decode(std::string_view text) {
  // First pass: validate and count, so the output is allocated once in wiped memory.
  size_t symbols = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '=') continue;
    const bool upper = c >= 'A' && c <= 'Z';
    const bool lower = c >= 'a' && c <= 'z';
    const bool digit = c >= '2' && c <= '7';
    if (!upper && !lower && !digit) {
      return InvalidArgumentError("base32: character at offset " + std::to_string(i) +
                                  " is not in the alphabet");
    }
    ++symbols;
  }
  // 1, 3 or 6 symbols left over cannot end a base32 text (RFC 4648 §6).
  const size_t rest = symbols % 8;
  if (rest == 1 || rest == 3 || rest == 6) {
    return InvalidArgumentError("base32: impossible length of " + std::to_string(symbols) +
                                " characters");
  }
  SecretBytes out(symbols * 5 / 8);
  uint32_t buffer = 0;
  int bits = 0;
  size_t n = 0;
  for (const char c : text) {
    if (c == ' ' || c == '=') continue;
    uint32_t v = 0;
    if (c >= 'A' && c <= 'Z') {
      v = static_cast<uint32_t>(c - 'A');
    } else if (c >= 'a' && c <= 'z') {
      v = static_cast<uint32_t>(c - 'a');
    } else {
      v = static_cast<uint32_t>(c - '2') + 26;
    }
    buffer = ((buffer << 5) | v) & 0xffffu;
    bits += 5;
    if (bits >= 8) {
      if (n < out.size()) out.data()[n++] = static_cast<uint8_t>(buffer >> (bits - 8));
      bits -= 8;
    }
  }
  return out;
}

std::string OtpauthUri(std::string_view issuer, std::string_view account,
                       std::span<const uint8_t> secret, TotpParams params) {
  std::string uri = "otpauth://totp/";
  PercentEncode(issuer, uri);
  uri.push_back(':');
  PercentEncode(account, uri);
  uri += "?secret=";
  uri += Base32Encode(secret);
  uri += "&issuer=";
  PercentEncode(issuer, uri);
  uri += "&algorithm=";
  uri += HashName(params.hash);
  uri += "&digits=" + std::to_string(params.digits);
  uri += "&period=" + std::to_string(params.period_seconds);
  return uri;
}

}  // namespace chukan::crypto
