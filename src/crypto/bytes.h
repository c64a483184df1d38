// Byte strings and their text encodings (hex, unpadded base64url), random bytes and
// constant-time comparison.
//
// `Bytes` is for data that is not secret (public keys, signatures, ciphertexts, hashes). Secret
// material belongs in SecretBytes (secret_bytes.h), which wipes itself. All functions are
// thread-safe.
#ifndef CHUKAN_CRYPTO_BYTES_H_
#define CHUKAN_CRYPTO_BYTES_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace chukan::crypto {

using Bytes = std::vector<uint8_t>;

// Views the bytes of a string without copying (for signing or hashing text).
inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
// Copies the bytes of a string.
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Zeroes a temporary copy of secret material (sodium_memzero: not optimised away).
void WipeBytes(Bytes& b);
// Zeroes `n` bytes at `p` (sodium_memzero).
void WipeMemory(void* p, size_t n);

// Makes room for at least `n` bytes in `v` without leaving its contents behind: where the
// capacity has to grow, the bytes are copied into a new block (at least twice the old capacity,
// so appends stay amortised O(1)) and the old block is wiped before it is freed. A plain
// reserve() or insert() that reallocates hands the old block, contents and all, back to the heap.
// For buffers of plaintext that is not SecretBytes (a record being encoded or batched).
template <class Allocator>
void ReserveWiping(std::vector<uint8_t, Allocator>& v, size_t n) {
  if (n <= v.capacity()) return;
  std::vector<uint8_t, Allocator> grown(v.get_allocator());
  grown.reserve(std::max(n, 2 * v.capacity()));
  grown.assign(v.begin(), v.end());
  if (!v.empty()) WipeMemory(v.data(), v.size());
  v.swap(grown);
}

// Appends `bytes` to `v`, growing it as ReserveWiping does.
template <class Allocator>
void AppendWiping(std::vector<uint8_t, Allocator>& v, std::span<const uint8_t> bytes) {
  ReserveWiping(v, v.size() + bytes.size());
  v.insert(v.end(), bytes.begin(), bytes.end());
}

// Lower-case hexadecimal, two digits per byte. Runs in time independent of the byte values.
std::string ToHex(std::span<const uint8_t> bytes);

// Parses hexadecimal (either case, even length, no separators or whitespace).
// Errors: kInvalidArgument on odd length or a non-hex character (the message gives the offset,
// never the content).
Result<Bytes> FromHex(std::string_view hex);

// Base64 with the URL-safe alphabet (RFC 4648 section 5) and no '=' padding.
std::string ToBase64Url(std::span<const uint8_t> bytes);

// Parses unpadded base64url. Strict: rejects padding, whitespace, the standard alphabet's '+'
// and '/', impossible lengths and non-canonical encodings (non-zero unused trailing bits), so
// every byte string has exactly one accepted encoding. Its time depends on the text: for public
// data only; secret material is decoded by SecretBytes::FromBase64Url (constant-time).
// Errors: kInvalidArgument.
Result<Bytes> FromBase64Url(std::string_view text);

// `n` bytes from libsodium's CSPRNG (getrandom(2)). Never fails once libsodium is initialised.
Bytes RandomBytes(size_t n);

// True iff `a` and `b` have the same length and the same contents. For equal lengths the time
// taken depends only on the length, not on where the contents differ. Lengths are not secret:
// different lengths return false at once.
bool ConstantTimeEquals(std::span<const uint8_t> a, std::span<const uint8_t> b);

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_BYTES_H_
