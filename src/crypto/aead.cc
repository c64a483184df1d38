#include "crypto/aead.h"

#include <sodium.h>

#include <algorithm>
#include <string>

#include "crypto/sodium_init.h"

namespace chukan::crypto {

static_assert(kAeadKeyBytes == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kAeadNonceBytes == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(kAeadTagBytes == crypto_aead_xchacha20poly1305_ietf_ABYTES);

namespace {

Status CheckKeyAndNonce(const SecretBytes& key, std::span<const uint8_t> nonce) {
  if (key.size() != kAeadKeyBytes) {
    return InvalidArgumentError("AEAD key must be 32 bytes, got " + std::to_string(key.size()));
  }
  if (nonce.size() != kAeadNonceBytes) {
    return InvalidArgumentError("AEAD nonce must be 24 bytes, got " + std::to_string(nonce.size()));
  }
  return Status::Ok();
}

// Writes ciphertext || tag for `plaintext` at `out` (plaintext.size() + 16 bytes).
void EncryptInto(uint8_t* out, const SecretBytes& key, const uint8_t* nonce,
                 std::span<const uint8_t> plaintext, std::span<const uint8_t> ad) {
  unsigned long long out_len = 0;  // NOLINT(runtime/int): libsodium's type
  crypto_aead_xchacha20poly1305_ietf_encrypt(out, &out_len, plaintext.data(), plaintext.size(),
                                             ad.data(), ad.size(), nullptr, nonce, key.data());
}

}  // namespace

Result<Bytes> EncryptWithNonce(const SecretBytes& key, std::span<const uint8_t> nonce,
                               std::span<const uint8_t> plaintext,
                               std::span<const uint8_t> associated_data) {
  RETURN_IF_ERROR(EnsureInitialized());
  RETURN_IF_ERROR(CheckKeyAndNonce(key, nonce));
  Bytes out(plaintext.size() + kAeadTagBytes);
  EncryptInto(out.data(), key, nonce.data(), plaintext, associated_data);
  return out;
}

Result<SecretBytes> DecryptWithNonce(const SecretBytes& key, std::span<const uint8_t> nonce,
                                     std::span<const uint8_t> ciphertext_and_tag,
                                     std::span<const uint8_t> associated_data) {
  RETURN_IF_ERROR(EnsureInitialized());
  RETURN_IF_ERROR(CheckKeyAndNonce(key, nonce));
  if (ciphertext_and_tag.size() < kAeadTagBytes) {
    return InvalidArgumentError(
        "AEAD ciphertext too short: " + std::to_string(ciphertext_and_tag.size()) +
        " bytes, need at least 16");
  }
  SecretBytes out(ciphertext_and_tag.size() - kAeadTagBytes);
  unsigned long long out_len = 0;  // NOLINT(runtime/int)
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          out.data(), &out_len, nullptr, ciphertext_and_tag.data(), ciphertext_and_tag.size(),
          associated_data.data(), associated_data.size(), nonce.data(), key.data()) != 0) {
    return DataLossError("authentication failed");
  }
  return out;
}

Result<Bytes> Encrypt(const SecretBytes& key, std::span<const uint8_t> plaintext,
                      std::span<const uint8_t> associated_data) {
  RETURN_IF_ERROR(EnsureInitialized());
  if (key.size() != kAeadKeyBytes) {
    return InvalidArgumentError("AEAD key must be 32 bytes, got " + std::to_string(key.size()));
  }
  Bytes out(kAeadNonceBytes + plaintext.size() + kAeadTagBytes);
  randombytes_buf(out.data(), kAeadNonceBytes);
  EncryptInto(out.data() + kAeadNonceBytes, key, out.data(), plaintext, associated_data);
  return out;
}

Result<SecretBytes> Decrypt(const SecretBytes& key, std::span<const uint8_t> sealed,
                            std::span<const uint8_t> associated_data) {
  if (sealed.size() < kAeadOverheadBytes) {
    return InvalidArgumentError("AEAD message too short: " + std::to_string(sealed.size()) +
                                " bytes, need at least 40");
  }
  return DecryptWithNonce(key, sealed.first(kAeadNonceBytes), sealed.subspan(kAeadNonceBytes),
                          associated_data);
}

}  // namespace chukan::crypto
