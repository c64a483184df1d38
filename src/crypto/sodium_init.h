// One-time initialisation of libsodium for the whole process.
//
// Every public entry point of chukan_crypto calls EnsureInitialized() before using libsodium, so
// callers never have to. Thread-safe: the first call runs sodium_init() exactly once (C++ magic
// static); later calls return the cached outcome.
#ifndef CHUKAN_CRYPTO_SODIUM_INIT_H_
#define CHUKAN_CRYPTO_SODIUM_INIT_H_

#include "common/status.h"

namespace chukan::crypto {

// Initialises libsodium (idempotent, thread-safe, never blocks after the first call).
// Errors: kInternal if libsodium cannot initialise (no usable randomness source); the outcome is
// cached, so a failing process keeps failing rather than using an uninitialised library.
Status EnsureInitialized();

namespace internal {
// For entry points whose signature cannot carry a Status (key generation, hashing): aborts the
// process with a message on stderr if libsodium cannot initialise. Continuing without a working
// CSPRNG would be worse than stopping.
void InitializeOrDie();
}  // namespace internal

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_SODIUM_INIT_H_
