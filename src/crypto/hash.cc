#include "crypto/hash.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <new>

#include "crypto/sodium_init.h"

namespace chukan::crypto {

namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "chukan: fatal: BLAKE2b: %s\n", what);
  std::abort();
}

void CheckOutLen(size_t out_len) {
  if (out_len < kBlake2bMinBytes || out_len > kBlake2bMaxBytes) {
    Die("digest length must be 16..64 bytes");
  }
}

void CheckKey(const SecretBytes& key) {
  if (key.size() < kBlake2bMinKeyBytes || key.size() > kBlake2bMaxKeyBytes) {
    Die("key length must be 16..64 bytes");
  }
}

}  // namespace

static_assert(sizeof(crypto_generichash_state) <= 384);
static_assert(alignof(crypto_generichash_state) <= 64);
static_assert(crypto_generichash_BYTES_MIN == kBlake2bMinBytes);
static_assert(crypto_generichash_BYTES_MAX == kBlake2bMaxBytes);
static_assert(crypto_generichash_KEYBYTES_MIN == kBlake2bMinKeyBytes);
static_assert(crypto_generichash_KEYBYTES_MAX == kBlake2bMaxKeyBytes);

Bytes Blake2b(std::span<const uint8_t> data, size_t out_len) {
  internal::InitializeOrDie();
  CheckOutLen(out_len);
  Bytes out(out_len);
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), nullptr, 0);
  return out;
}

Bytes Blake2bKeyed(const SecretBytes& key, std::span<const uint8_t> data, size_t out_len) {
  internal::InitializeOrDie();
  CheckOutLen(out_len);
  CheckKey(key);
  Bytes out(out_len);
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), key.data(), key.size());
  return out;
}

namespace {
crypto_generichash_state* State(std::array<unsigned char, 384>& storage) {
  return std::launder(reinterpret_cast<crypto_generichash_state*>(storage.data()));
}
}  // namespace

Blake2bHasher::Blake2bHasher(size_t out_len) : out_len_(out_len) {
  internal::InitializeOrDie();
  CheckOutLen(out_len);
  crypto_generichash_init(State(state_), nullptr, 0, out_len_);
}

Blake2bHasher::Blake2bHasher(const SecretBytes& key, size_t out_len) : out_len_(out_len) {
  internal::InitializeOrDie();
  CheckOutLen(out_len);
  CheckKey(key);
  crypto_generichash_init(State(state_), key.data(), key.size(), out_len_);
}

Blake2bHasher::~Blake2bHasher() { sodium_memzero(state_.data(), state_.size()); }

Blake2bHasher& Blake2bHasher::Update(std::span<const uint8_t> data) {
  if (finished_) Die("Update after Finish");
  crypto_generichash_update(State(state_), data.data(), data.size());
  return *this;
}

Blake2bHasher& Blake2bHasher::Update(std::string_view data) { return Update(AsBytes(data)); }

Bytes Blake2bHasher::Finish() {
  Bytes out(out_len_);
  Finish(out);
  return out;
}

void Blake2bHasher::Finish(std::span<uint8_t> out) {
  if (finished_) Die("Finish called twice");
  if (out.size() != out_len_) Die("Finish: the output is not the digest length");
  finished_ = true;
  crypto_generichash_final(State(state_), out.data(), out.size());
}

Bytes Sha256(std::span<const uint8_t> data) {
  internal::InitializeOrDie();
  Bytes out(crypto_hash_sha256_BYTES);
  crypto_hash_sha256(out.data(), data.data(), data.size());
  return out;
}

}  // namespace chukan::crypto
