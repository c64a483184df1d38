// BLAKE2b (RFC 7693, libsodium crypto_generichash): the hash of the audit log's chain and of
// content digests; keyed BLAKE2b as a MAC / pseudorandom function (e.g. keyed lookup indexes
// that must not reveal the value they index).
//
// The free functions are thread-safe. A Blake2bHasher is thread-compatible (one thread at a
// time).
#ifndef CHUKAN_CRYPTO_HASH_H_
#define CHUKAN_CRYPTO_HASH_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "crypto/bytes.h"
#include "crypto/secret_bytes.h"

namespace chukan::crypto {

inline constexpr size_t kBlake2bMinBytes = 16;
inline constexpr size_t kBlake2bMaxBytes = 64;
inline constexpr size_t kBlake2bDefaultBytes = 32;
inline constexpr size_t kBlake2bMinKeyBytes = 16;
inline constexpr size_t kBlake2bMaxKeyBytes = 64;

// BLAKE2b of `data` with an `out_len`-byte digest.
// Precondition (a programming error otherwise, which aborts): 16 <= out_len <= 64.
Bytes Blake2b(std::span<const uint8_t> data, size_t out_len = kBlake2bDefaultBytes);

// Keyed BLAKE2b (a MAC). Precondition (aborts otherwise): 16 <= key.size() <= 64 and
// 16 <= out_len <= 64. Validate keys read from configuration before calling.
Bytes Blake2bKeyed(const SecretBytes& key, std::span<const uint8_t> data,
                   size_t out_len = kBlake2bDefaultBytes);

// SHA-256 (32 bytes) of `data`, for fingerprints that other tools compute too (file and
// envelope digests an operator may check with sha256sum).
Bytes Sha256(std::span<const uint8_t> data);

// Incremental BLAKE2b, for data that arrives in pieces. Feeding the same bytes in any split gives
// the same digest as Blake2b(). Copyable and movable (the state is plain data; a keyed hasher's
// state is derived from the key, so treat copies of it with the same care).
class Blake2bHasher {
 public:
  // Precondition (aborts otherwise): 16 <= out_len <= 64.
  explicit Blake2bHasher(size_t out_len = kBlake2bDefaultBytes);
  // Keyed variant. Preconditions as for Blake2bKeyed.
  Blake2bHasher(const SecretBytes& key, size_t out_len);
  ~Blake2bHasher();

  Blake2bHasher(const Blake2bHasher&) = default;
  Blake2bHasher& operator=(const Blake2bHasher&) = default;

  Blake2bHasher& Update(std::span<const uint8_t> data);
  Blake2bHasher& Update(std::string_view data);

  // The digest. Call once: afterwards the hasher must not be used again (aborts).
  Bytes Finish();
  // The same into `out`, whose size must be the digest length (aborts otherwise).
  void Finish(std::span<uint8_t> out);

 private:
  // Storage for libsodium's crypto_generichash_state (384 bytes, 64-byte aligned in 1.0.18;
  // checked by a static_assert in hash.cc), kept opaque so this header needs no sodium.h.
  alignas(64) std::array<unsigned char, 384> state_;
  size_t out_len_;
  bool finished_ = false;
};

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_HASH_H_
