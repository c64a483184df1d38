#include "crypto/sodium_init.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>

namespace chukan::crypto {

Status EnsureInitialized() {
  // sodium_init() returns 0 on first success, 1 if already initialised, -1 on failure.
  static const int rc = sodium_init();
  if (rc < 0) return InternalError("libsodium initialisation failed (no randomness source?)");
  return Status::Ok();
}

namespace internal {
void InitializeOrDie() {
  const Status s = EnsureInitialized();
  if (!s.ok()) {
    std::fprintf(stderr, "chukan: fatal: %s\n", s.ToString().c_str());
    std::abort();
  }
}
}  // namespace internal

}  // namespace chukan::crypto
