#include "crypto/bytes.h"

#include <sodium.h>

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

Result<Bytes> FromBase64Url(std::string_view text) {
  RETURN_IF_ERROR(EnsureInitialized());
  Bytes out(text.size() * 3 / 4 + 1);
  ASSIGN_OR_RETURN(size_t len, DecodeBase64UrlInto(text, out.data(), out.size()));
  out.resize(len);
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
