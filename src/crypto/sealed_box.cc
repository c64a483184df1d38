#include "crypto/sealed_box.h"

#include <sodium.h>

#include <ostream>
#include <string>

#include "crypto/sodium_init.h"

namespace chukan::crypto {

static_assert(kBoxPublicKeyBytes == crypto_box_PUBLICKEYBYTES);
static_assert(kBoxSecretKeyBytes == crypto_box_SECRETKEYBYTES);
static_assert(kSealOverheadBytes == crypto_box_SEALBYTES);

BoxKeyPair BoxKeyPair::Generate() {
  internal::InitializeOrDie();
  Bytes pk(crypto_box_PUBLICKEYBYTES);
  SecretBytes sk(crypto_box_SECRETKEYBYTES);
  crypto_box_keypair(pk.data(), sk.data());
  return BoxKeyPair(std::move(pk), std::move(sk));
}

Result<BoxKeyPair> BoxKeyPair::FromParts(Bytes public_key, const SecretBytes& secret_key) {
  if (public_key.size() != crypto_box_PUBLICKEYBYTES || secret_key.size() != kBoxSecretKeyBytes) {
    return InvalidArgumentError("X25519 key pair: expected 32-byte public and secret keys, got " +
                                std::to_string(public_key.size()) + " and " +
                                std::to_string(secret_key.size()));
  }
  return BoxKeyPair(std::move(public_key), secret_key.Clone());
}

Result<BoxKeyPair> BoxKeyPair::FromSecret(const SecretBytes& secret_key) {
  RETURN_IF_ERROR(EnsureInitialized());
  if (secret_key.size() != kBoxSecretKeyBytes) {
    return InvalidArgumentError("X25519 secret key must be 32 bytes, got " +
                                std::to_string(secret_key.size()));
  }
  Bytes pk(crypto_box_PUBLICKEYBYTES);
  if (crypto_scalarmult_base(pk.data(), secret_key.data()) != 0) {
    return InvalidArgumentError("X25519 secret key yields a degenerate public key");
  }
  return BoxKeyPair(std::move(pk), secret_key.Clone());
}

BoxKeyPair BoxKeyPair::Clone() const { return BoxKeyPair(public_key_, secret_key_.Clone()); }

void PrintTo(const BoxKeyPair& k, std::ostream* os) {
  *os << "BoxKeyPair[public_key=" << ToHex(k.public_key_) << "]";
}

Result<Bytes> Seal(std::span<const uint8_t> recipient_public_key,
                   std::span<const uint8_t> plaintext) {
  RETURN_IF_ERROR(EnsureInitialized());
  if (recipient_public_key.size() != kBoxPublicKeyBytes) {
    return InvalidArgumentError("X25519 public key must be 32 bytes, got " +
                                std::to_string(recipient_public_key.size()));
  }
  Bytes out(plaintext.size() + crypto_box_SEALBYTES);
  // crypto_box_seal fails only when the shared secret would be all zero (small-order key).
  if (crypto_box_seal(out.data(), plaintext.data(), plaintext.size(),
                      recipient_public_key.data()) != 0) {
    return InvalidArgumentError("X25519 public key is a degenerate (small-order) point");
  }
  return out;
}

Result<SecretBytes> Open(const BoxKeyPair& recipient, std::span<const uint8_t> ciphertext) {
  RETURN_IF_ERROR(EnsureInitialized());
  if (ciphertext.size() < crypto_box_SEALBYTES) {
    return InvalidArgumentError("sealed box too short: " + std::to_string(ciphertext.size()) +
                                " bytes, need at least 48");
  }
  SecretBytes out(ciphertext.size() - crypto_box_SEALBYTES);
  if (crypto_box_seal_open(out.data(), ciphertext.data(), ciphertext.size(),
                           recipient.public_key().data(), recipient.secret_key().data()) != 0) {
    return UnauthenticatedError("sealed box authentication failed");
  }
  return out;
}

}  // namespace chukan::crypto
