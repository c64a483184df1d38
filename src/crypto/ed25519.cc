#include "crypto/ed25519.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <string>

#include "crypto/sodium_init.h"

namespace chukan::crypto {

static_assert(kEd25519SeedBytes == crypto_sign_SEEDBYTES);
static_assert(kEd25519PublicKeyBytes == crypto_sign_PUBLICKEYBYTES);
static_assert(kEd25519SignatureBytes == crypto_sign_BYTES);

Result<VerifyKey> VerifyKey::FromBytes(std::span<const uint8_t> public_key) {
  RETURN_IF_ERROR(EnsureInitialized());
  if (public_key.size() != kEd25519PublicKeyBytes) {
    return InvalidArgumentError("Ed25519 public key must be 32 bytes, got " +
                                std::to_string(public_key.size()));
  }
  // Canonical encoding, on the curve, in the prime-order subgroup, not of small order.
  if (crypto_core_ed25519_is_valid_point(public_key.data()) != 1) {
    return InvalidArgumentError("Ed25519 public key is not a valid point of prime order");
  }
  return VerifyKey(Bytes(public_key.begin(), public_key.end()));
}

Status VerifyKey::Verify(std::span<const uint8_t> message,
                         std::span<const uint8_t> signature) const {
  RETURN_IF_ERROR(EnsureInitialized());
  if (signature.size() != kEd25519SignatureBytes) {
    return InvalidArgumentError("Ed25519 signature must be 64 bytes, got " +
                                std::to_string(signature.size()));
  }
  if (crypto_sign_verify_detached(signature.data(), message.data(), message.size(), key_.data()) !=
      0) {
    return UnauthenticatedError("signature verification failed");
  }
  return Status::Ok();
}

void PrintTo(const VerifyKey& k, std::ostream* os) { *os << "VerifyKey[" << ToHex(k.key_) << "]"; }

SigningKey SigningKey::Generate() {
  internal::InitializeOrDie();
  Result<SigningKey> key = FromSeed(SecretBytes::Random(kEd25519SeedBytes));
  if (!key.ok()) {
    // FromSeed accepts every 32-byte seed once libsodium is initialised: a broken invariant.
    std::fprintf(stderr, "chukan: fatal: Ed25519 key generation: %s\n",
                 key.status().ToString().c_str());
    std::abort();
  }
  return std::move(key).value();
}

Result<SigningKey> SigningKey::FromSeed(const SecretBytes& seed) {
  RETURN_IF_ERROR(EnsureInitialized());
  if (seed.size() != kEd25519SeedBytes) {
    return InvalidArgumentError("Ed25519 seed must be 32 bytes, got " +
                                std::to_string(seed.size()));
  }
  SecretBytes expanded(crypto_sign_SECRETKEYBYTES);
  Bytes pk(crypto_sign_PUBLICKEYBYTES);
  crypto_sign_seed_keypair(pk.data(), expanded.data(), seed.data());
  // The public key of an honestly derived key pair is always a valid point; this cannot fail.
  ASSIGN_OR_RETURN(VerifyKey vk, VerifyKey::FromBytes(pk));
  return SigningKey(seed.Clone(), std::move(expanded), std::move(vk));
}

Bytes SigningKey::Sign(std::span<const uint8_t> message) const {
  Bytes sig(crypto_sign_BYTES);
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), expanded_.data());
  return sig;
}

SigningKey SigningKey::Clone() const {
  return SigningKey(seed_.Clone(), expanded_.Clone(), verify_key_);
}

void PrintTo(const SigningKey& k, std::ostream* os) {
  *os << "SigningKey[verify_key=" << ToHex(k.verify_key_.bytes()) << "]";
}

}  // namespace chukan::crypto
