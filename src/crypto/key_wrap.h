// Key wrapping: a tenant's data key (or any other key, e.g. an organisation's Ed25519 seed) is
// stored only encrypted under the platform master key. Deleting a tenant's wrapped key erases
// its data (crypto-erasure), and a database dump without the master key reveals nothing.
//
// Wrapped format, version 1 (see docs/crypto.md):
//   0x01 || nonce (24) || XChaCha20-Poly1305 ciphertext of the data key || tag (16)
// associated data = "chukan/key-wrap" (15 ASCII bytes) || 0x01 || key_id
// so a wrapped key only unwraps under the key_id it was wrapped for (a tenant's key cannot be
// swapped for another's), and the version byte cannot be altered without detection.
//
// All functions are thread-safe.
#ifndef CHUKAN_CRYPTO_KEY_WRAP_H_
#define CHUKAN_CRYPTO_KEY_WRAP_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "common/status.h"
#include "crypto/bytes.h"
#include "crypto/secret_bytes.h"

namespace chukan::crypto {

inline constexpr uint8_t kKeyWrapVersion1 = 0x01;
inline constexpr size_t kKeyWrapMaxKeyIdBytes = 255;
inline constexpr size_t kKeyWrapMaxDataKeyBytes = 1024;
// Wrapped size = data key size + this (version + nonce + tag).
inline constexpr size_t kKeyWrapOverheadBytes = 1 + 24 + 16;

// Wraps `data_key` under `master` (32 bytes) for `key_id` (e.g. "tenant:t0123456789012345:v1").
// Errors: kInvalidArgument if the master key is not 32 bytes, the data key is empty or longer
// than 1024 bytes, or key_id is empty or longer than 255 bytes.
Result<Bytes> WrapKey(const SecretBytes& master, const SecretBytes& data_key,
                      std::string_view key_id);

// Reverses WrapKey.
// Errors: kInvalidArgument if the master key is not 32 bytes, key_id is empty or too long,
//         `wrapped` is empty or its version byte is unknown;
//         kDataLoss if it is truncated, altered, or was wrapped under another master key or
//         another key_id.
Result<SecretBytes> UnwrapKey(const SecretBytes& master, std::span<const uint8_t> wrapped,
                              std::string_view key_id);

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_KEY_WRAP_H_
