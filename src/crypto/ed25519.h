// Ed25519 signatures (RFC 8032, libsodium crypto_sign_*): the organisation and hub keys that sign
// provision permits, envelopes, the permission list and audit checkpoints.
//
// SigningKey holds the 32-byte seed (the secret from which the key pair is derived, as in
// RFC 8032) in SecretBytes; VerifyKey is the 32-byte public key. Both are immutable after
// construction and safe to use from several threads at once (const methods only).
#ifndef CHUKAN_CRYPTO_ED25519_H_
#define CHUKAN_CRYPTO_ED25519_H_

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>

#include "common/status.h"
#include "crypto/bytes.h"
#include "crypto/secret_bytes.h"

namespace chukan::crypto {

inline constexpr size_t kEd25519SeedBytes = 32;
inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEd25519SignatureBytes = 64;

// An Ed25519 public key.
class VerifyKey {
 public:
  // Parses a 32-byte public key.
  // Errors: kInvalidArgument if the length is not 32, or the bytes are not the canonical
  // encoding of a point of the prime-order subgroup (small-order and other degenerate keys that
  // would let a forger produce signatures valid for many messages are refused here, once, rather
  // than at every verification).
  static Result<VerifyKey> FromBytes(std::span<const uint8_t> public_key);

  // The 32 bytes of the key.
  const Bytes& bytes() const { return key_; }

  // Checks `signature` (64 bytes) over `message` (strict RFC 8032 verification: libsodium
  // refuses non-canonical S and small-order R).
  // Errors: kInvalidArgument if the signature is not 64 bytes;
  //         kUnauthenticated "signature verification failed" if it does not verify.
  Status Verify(std::span<const uint8_t> message, std::span<const uint8_t> signature) const;

  friend bool operator==(const VerifyKey& a, const VerifyKey& b) { return a.key_ == b.key_; }
  // GoogleTest printer: "VerifyKey[<hex>]" (public, so printing it is harmless).
  friend void PrintTo(const VerifyKey& k, std::ostream* os);

 private:
  explicit VerifyKey(Bytes key) : key_(std::move(key)) {}
  Bytes key_;
};

// An Ed25519 key pair. Movable, not copyable (it owns secret material).
class SigningKey {
 public:
  // A fresh key pair from the CSPRNG. Aborts only if libsodium cannot initialise.
  static SigningKey Generate();

  // The key pair derived from a 32-byte seed (RFC 8032 "secret key").
  // Errors: kInvalidArgument if the seed is not 32 bytes.
  static Result<SigningKey> FromSeed(const SecretBytes& seed);

  // The 64-byte deterministic signature of `message`. Never fails.
  Bytes Sign(std::span<const uint8_t> message) const;

  const VerifyKey& verify_key() const { return verify_key_; }
  // The 32-byte seed, for storing the key (encrypted) and reloading it with FromSeed.
  const SecretBytes& seed() const { return seed_; }

  SigningKey Clone() const;

  // GoogleTest printer: "SigningKey[verify_key=<hex>]", never the seed.
  friend void PrintTo(const SigningKey& k, std::ostream* os);

 private:
  SigningKey(SecretBytes seed, SecretBytes expanded, VerifyKey verify_key)
      : seed_(std::move(seed)),
        expanded_(std::move(expanded)),
        verify_key_(std::move(verify_key)) {}

  SecretBytes seed_;      // 32 bytes
  SecretBytes expanded_;  // libsodium's 64-byte secret key (seed || public key)
  VerifyKey verify_key_;
};

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_ED25519_H_
