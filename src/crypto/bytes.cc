#include "crypto/bytes.h"

#include <sodium.h>

#include <array>
#include <string>

#include "crypto/sodium_init.h"

namespace chukan::crypto {

void WipeBytes(Bytes& b) {
  if (!b.empty()) sodium_memzero(b.data(), b.size());
}

void WipeMemory(void* p, size_t n) {
  if (n > 0) sodium_memzero(p, n);
}

std::string ToHex(std::span<const uint8_t> bytes) {
  internal::InitializeOrDie();
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();  // the terminating NUL written by sodium_bin2hex
  return out;
}

namespace internal {
std::string HexErrorMessage(std::string_view hex) {
  // The position of the first non-hex character reveals nothing about the valid digits.
  const size_t offset = hex.find_first_not_of("0123456789abcdefABCDEF");
  return "hex: invalid character at offset " +
         std::to_string(offset == std::string_view::npos ? 0 : offset);
}
}  // namespace internal

Result<Bytes> FromHex(std::string_view hex) {
  RETURN_IF_ERROR(EnsureInitialized());
  if (hex.size() % 2 != 0) {
    return InvalidArgumentError("hex: odd length " + std::to_string(hex.size()));
  }
  if (hex.empty()) return Bytes();  // libsodium wants a non-null output buffer
  Bytes out(hex.size() / 2);
  size_t len = 0;
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &len, nullptr) != 0 ||
      len != out.size()) {
    return InvalidArgumentError(internal::HexErrorMessage(hex));
  }
  return out;
}

std::string ToBase64Url(std::span<const uint8_t> bytes) {
  internal::InitializeOrDie();
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), kVariant);
  out.pop_back();  // NUL
  return out;
}

namespace {
// Decodes into `out`, which the caller sized to the maximum decoded length; returns the decoded
// length. Shared by FromBase64Url and SecretBytes::FromBase64Url.
Result<size_t> DecodeBase64UrlInto(std::string_view text, uint8_t* out, size_t out_cap) {
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  // A group of 4 characters encodes 3 bytes; a final group of 1 character is impossible.
  if (text.size() % 4 == 1) {
    return InvalidArgumentError("base64url: impossible length " + std::to_string(text.size()));
  }
  // libsodium 1.0.18 accepts some bytes above 0x7f as if they were characters of the alphabet
  // ("A\x80A" decodes), so a byte string would have more than one accepted encoding; refused
  // here, in time that does not depend on where such a byte is.
  unsigned char any = 0;
  for (const char c : text) any |= static_cast<unsigned char>(c);
  if ((any & 0x80) != 0) {
    return InvalidArgumentError("base64url: a byte outside the alphabet (above 0x7f)");
  }
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out, out_cap, text.data(), text.size(), nullptr, &len, &end, kVariant) !=
          0 ||
      end != text.data() + text.size()) {
    const size_t offset = end == nullptr ? 0 : static_cast<size_t>(end - text.data());
    return InvalidArgumentError("base64url: invalid character or padding near offset " +
                                std::to_string(offset));
  }
  // libsodium also refuses non-zero unused bits in the last character, so every byte string
  // has exactly one accepted encoding (checked by bytes_test).
  return len;
}
}  // namespace

namespace internal {
Result<size_t> DecodeBase64Url(std::string_view text, uint8_t* out, size_t out_cap) {
  return DecodeBase64UrlInto(text, out, out_cap);
}
}  // namespace internal

namespace {
// The value of each base64url character, -1 for any other byte.
constexpr std::array<int8_t, 256> kBase64UrlValues = [] {
  std::array<int8_t, 256> t{};
  t.fill(-1);
  for (int i = 0; i < 26; ++i) {
    t['A' + i] = static_cast<int8_t>(i);
    t['a' + i] = static_cast<int8_t>(26 + i);
  }
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<int8_t>(52 + i);
  t['-'] = 62;
  t['_'] = 63;
  return t;
}();
}  // namespace

// Public data only (signatures, ciphertexts, public keys, hashes — a few KiB a linkage): a table
// decoder, whose time depends on the text, at a fraction of the cost of libsodium's constant-time
// one (4.0 M instructions of `sodium_base642bin` in 20 linkages, docs/performance.md). Accepts
// exactly what DecodeBase64UrlInto accepts (Base64UrlTest.TheTableDecoderAcceptsWhatLibsodiumDoes);
// SecretBytes::FromBase64Url keeps libsodium's.
Result<Bytes> FromBase64Url(std::string_view text) {
  if (text.size() % 4 == 1) {
    return InvalidArgumentError("base64url: impossible length " + std::to_string(text.size()));
  }
  const auto bad = [](size_t offset) {
    return InvalidArgumentError("base64url: invalid character or padding near offset " +
                                std::to_string(offset));
  };
  const auto value = [&](size_t i) {
    return kBase64UrlValues[static_cast<unsigned char>(text[i])];
  };
  Bytes out(text.size() / 4 * 3 + (text.size() % 4 == 0 ? 0 : text.size() % 4 - 1));
  uint8_t* o = out.data();
  size_t i = 0;
  // Four characters to three bytes; any character outside the alphabet makes the OR negative.
  for (; i + 4 <= text.size(); i += 4) {
    const int a = value(i), b = value(i + 1), c = value(i + 2), d = value(i + 3);
    if ((a | b | c | d) < 0) {
      for (size_t k = i;; ++k) {
        if (value(k) < 0) return bad(k);
      }
    }
    const uint32_t v = (static_cast<uint32_t>(a) << 18) | (static_cast<uint32_t>(b) << 12) |
                       (static_cast<uint32_t>(c) << 6) | static_cast<uint32_t>(d);
    *o++ = static_cast<uint8_t>(v >> 16);
    *o++ = static_cast<uint8_t>(v >> 8);
    *o++ = static_cast<uint8_t>(v);
  }
  // The last 2 or 3 characters: 1 or 2 bytes, and the unused low bits of the last character
  // must be zero (one encoding per byte string).
  const size_t rest = text.size() - i;
  if (rest > 0) {
    uint32_t v = 0;
    for (size_t k = i; k < text.size(); ++k) {
      const int x = value(k);
      if (x < 0) return bad(k);
      v = (v << 6) | static_cast<uint32_t>(x);
    }
    if (rest == 2) {
      if ((v & 0xf) != 0) return bad(text.size() - 1);
      *o++ = static_cast<uint8_t>(v >> 4);
    } else {  // 3
      if ((v & 0x3) != 0) return bad(text.size() - 1);
      *o++ = static_cast<uint8_t>(v >> 10);
      *o++ = static_cast<uint8_t>(v >> 2);
    }
  }
  return out;
}

Bytes RandomBytes(size_t n) {
  internal::InitializeOrDie();
  Bytes out(n);
  if (n == 0) return out;  // randombytes_buf wants a non-null buffer
  randombytes_buf(out.data(), out.size());
  return out;
}

bool ConstantTimeEquals(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  internal::InitializeOrDie();
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace chukan::crypto
