// Test helpers of the crypto tests: byte strings from hex test vectors, and one bit flipped to
// tamper with a key, nonce, ciphertext or signature.
#ifndef CHUKAN_CRYPTO_TEST_BYTES_H_
#define CHUKAN_CRYPTO_TEST_BYTES_H_

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "crypto/bytes.h"

namespace chukan::crypto::testing {

// The bytes of a hex test vector; a malformed vector fails the test (and gives no bytes).
inline Bytes Hex(std::string_view hex) {
  Result<Bytes> b = FromHex(hex);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.value_or({});
}

// `b` with bit `bit` of byte `byte` inverted.
inline Bytes FlipBit(Bytes b, size_t byte, int bit) {
  b.at(byte) ^= static_cast<uint8_t>(1u << bit);
  return b;
}

}  // namespace chukan::crypto::testing

#endif  // CHUKAN_CRYPTO_TEST_BYTES_H_
