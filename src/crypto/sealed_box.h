// Sealed boxes (libsodium crypto_box_seal: X25519 + XSalsa20-Poly1305 with an ephemeral sender
// key): how a provider encrypts an answer to the one-time reply key that the inquirer generated
// for that inquiry. Only the holder of the recipient's secret key can open it; the sender is
// anonymous (authenticity comes from the Ed25519 signature on the envelope around it).
//
// BoxKeyPair is immutable after construction; all functions are thread-safe.
#ifndef CHUKAN_CRYPTO_SEALED_BOX_H_
#define CHUKAN_CRYPTO_SEALED_BOX_H_

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>

#include "common/status.h"
#include "crypto/bytes.h"
#include "crypto/secret_bytes.h"

namespace chukan::crypto {

inline constexpr size_t kBoxPublicKeyBytes = 32;
inline constexpr size_t kBoxSecretKeyBytes = 32;
// Ciphertext expansion: ephemeral public key (32) + Poly1305 tag (16).
inline constexpr size_t kSealOverheadBytes = 48;

// An X25519 key pair. Movable, not copyable (it owns a secret key).
class BoxKeyPair {
 public:
  // A fresh key pair from the CSPRNG. Aborts only if libsodium cannot initialise.
  static BoxKeyPair Generate();

  // Rebuilds a key pair from its 32-byte secret key (the public key is recomputed).
  // Errors: kInvalidArgument if the secret key is not 32 bytes.
  static Result<BoxKeyPair> FromSecret(const SecretBytes& secret_key);
  // A key pair from both halves as stored together (no scalar multiplication). The halves are
  // not checked against each other: a mismatched pair only fails to open what it is given.
  // Errors: kInvalidArgument if either is not 32 bytes.
  static Result<BoxKeyPair> FromParts(Bytes public_key, const SecretBytes& secret_key);

  // 32 bytes.
  const Bytes& public_key() const { return public_key_; }
  // 32 bytes.
  const SecretBytes& secret_key() const { return secret_key_; }

  BoxKeyPair Clone() const;

  // GoogleTest printer: "BoxKeyPair[public_key=<hex>]", never the secret key.
  friend void PrintTo(const BoxKeyPair& k, std::ostream* os);

 private:
  BoxKeyPair(Bytes public_key, SecretBytes secret_key)
      : public_key_(std::move(public_key)), secret_key_(std::move(secret_key)) {}
  Bytes public_key_;
  SecretBytes secret_key_;
};

// Encrypts `plaintext` to `recipient_public_key`. Output: plaintext.size() + 48 bytes.
// Errors: kInvalidArgument if the public key is not 32 bytes or is a degenerate (small-order)
// point that would make the shared secret predictable.
Result<Bytes> Seal(std::span<const uint8_t> recipient_public_key,
                   std::span<const uint8_t> plaintext);

// Decrypts a sealed box addressed to `recipient`.
// Errors: kInvalidArgument if `ciphertext` is shorter than 48 bytes;
//         kUnauthenticated "sealed box authentication failed" if it was altered or was sealed to
//         another key.
Result<SecretBytes> Open(const BoxKeyPair& recipient, std::span<const uint8_t> ciphertext);

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_SEALED_BOX_H_
