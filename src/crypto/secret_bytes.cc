#include "crypto/secret_bytes.h"

#include <sodium.h>

#include <ostream>
#include <utility>

#include "crypto/bytes.h"
#include "crypto/sodium_init.h"

namespace chukan::crypto {

namespace internal {
// Defined in bytes.cc.
std::string HexErrorMessage(std::string_view hex);
Result<size_t> DecodeBase64Url(std::string_view text, uint8_t* out, size_t out_cap);
}  // namespace internal

SecretBytes::SecretBytes(size_t n) : buf_(n) { internal::InitializeOrDie(); }

SecretBytes::~SecretBytes() { Wipe(); }

void SecretBytes::Wipe() noexcept {
  // sodium_memzero cannot be optimised away, unlike a memset before free.
  if (!buf_.empty()) sodium_memzero(buf_.data(), buf_.size());
  buf_ = std::vector<uint8_t>();  // release the (now zero) buffer
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : buf_(std::move(other.buf_)) {
  other.buf_ = std::vector<uint8_t>();
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    buf_.swap(other.buf_);  // other is empty after Wipe(), so it ends up empty
  }
  return *this;
}

SecretBytes SecretBytes::Random(size_t n) {
  SecretBytes s(n);
  if (n > 0) randombytes_buf(s.data(), n);
  return s;
}

SecretBytes SecretBytes::FromBytes(std::span<const uint8_t> bytes) {
  SecretBytes s(bytes.size());
  if (!bytes.empty()) std::copy(bytes.begin(), bytes.end(), s.data());
  return s;
}

SecretBytes SecretBytes::FromString(std::string_view text) { return FromBytes(AsBytes(text)); }

Result<SecretBytes> SecretBytes::FromHex(std::string_view hex) {
  RETURN_IF_ERROR(EnsureInitialized());
  if (hex.size() % 2 != 0) {
    return InvalidArgumentError("hex: odd length " + std::to_string(hex.size()));
  }
  if (hex.empty()) return SecretBytes();  // libsodium wants a non-null output buffer
  SecretBytes s(hex.size() / 2);
  size_t len = 0;
  if (sodium_hex2bin(s.data(), s.size(), hex.data(), hex.size(), nullptr, &len, nullptr) != 0 ||
      len != s.size()) {
    return InvalidArgumentError(internal::HexErrorMessage(hex));
  }
  return s;
}

Result<SecretBytes> SecretBytes::FromBase64Url(std::string_view text) {
  RETURN_IF_ERROR(EnsureInitialized());
  // Decode into a scratch secret of the maximum size, then copy the exact length into the
  // result; the scratch buffer is wiped when it goes out of scope.
  SecretBytes scratch(text.size() * 3 / 4 + 1);
  ASSIGN_OR_RETURN(size_t len, internal::DecodeBase64Url(text, scratch.data(), scratch.size()));
  return FromBytes(scratch.span().first(len));
}

SecretBytes SecretBytes::Clone() const { return FromBytes(span()); }

bool SecretBytes::ConstantTimeEquals(const SecretBytes& other) const {
  return crypto::ConstantTimeEquals(span(), other.span());
}

void PrintTo(const SecretBytes& s, std::ostream* os) {
  *os << "SecretBytes[" << s.size() << " bytes]";
}

}  // namespace chukan::crypto
