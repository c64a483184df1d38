// Authenticated encryption with associated data: XChaCha20-Poly1305-IETF (libsodium
// crypto_aead_xchacha20poly1305_ietf_*). Used for personal data at rest under a tenant's data
// key, with associated data that binds each ciphertext to its tenant, table and row, so that a
// ciphertext copied to another row fails to decrypt.
//
// Format of Encrypt's output ("sealed"):
//   nonce (24 bytes, random) || ciphertext (same length as the plaintext) || tag (16 bytes)
// The 192-bit random nonce makes collisions negligible for any realistic number of messages
// under one key, so no nonce counter has to be stored.
//
// All functions are thread-safe.
#ifndef CHUKAN_CRYPTO_AEAD_H_
#define CHUKAN_CRYPTO_AEAD_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/status.h"
#include "crypto/bytes.h"
#include "crypto/secret_bytes.h"

namespace chukan::crypto {

inline constexpr size_t kAeadKeyBytes = 32;
inline constexpr size_t kAeadNonceBytes = 24;
inline constexpr size_t kAeadTagBytes = 16;
// Encrypt's expansion: nonce + tag.
inline constexpr size_t kAeadOverheadBytes = kAeadNonceBytes + kAeadTagBytes;

// Encrypts with a fresh random nonce; returns nonce || ciphertext || tag.
// Errors: kInvalidArgument if the key is not 32 bytes.
Result<Bytes> Encrypt(const SecretBytes& key, std::span<const uint8_t> plaintext,
                      std::span<const uint8_t> associated_data);

// Reverses Encrypt. `associated_data` must equal the one given to Encrypt.
// Errors: kInvalidArgument if the key is not 32 bytes or `sealed` is shorter than 40 bytes;
//         kDataLoss "authentication failed" if the key, nonce, ciphertext, tag or associated
//         data differ from those used to encrypt.
Result<SecretBytes> Decrypt(const SecretBytes& key, std::span<const uint8_t> sealed,
                            std::span<const uint8_t> associated_data);

// Lower level, for published test vectors and for formats that carry the nonce elsewhere.
// The caller guarantees that a nonce is never reused with the same key.
// Returns ciphertext || tag (plaintext.size() + 16 bytes).
// Errors: kInvalidArgument if the key is not 32 bytes or the nonce not 24 bytes.
Result<Bytes> EncryptWithNonce(const SecretBytes& key, std::span<const uint8_t> nonce,
                               std::span<const uint8_t> plaintext,
                               std::span<const uint8_t> associated_data);

// Errors: kInvalidArgument if the key is not 32 bytes, the nonce not 24 bytes, or
//         `ciphertext_and_tag` shorter than 16 bytes; kDataLoss "authentication failed".
Result<SecretBytes> DecryptWithNonce(const SecretBytes& key, std::span<const uint8_t> nonce,
                                     std::span<const uint8_t> ciphertext_and_tag,
                                     std::span<const uint8_t> associated_data);

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_AEAD_H_
