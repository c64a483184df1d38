// Password hashing and password-based key derivation with argon2id (libsodium crypto_pwhash,
// algorithm ARGON2ID13). Used for staff passwords of the web console and for keys derived from
// an operator passphrase.
//
// HashPassword's output is the standard PHC-style string
//   $argon2id$v=19$m=<KiB>,t=<passes>,p=1$<salt b64>$<hash b64>
// which carries its own parameters, so stored hashes stay verifiable when the defaults change
// (PasswordNeedsRehash tells when to upgrade one at the next successful login).
//
// All functions are thread-safe. Hashing and verification are deliberately slow and memory-hard:
// they block the calling thread for tens of milliseconds with the interactive limits (keep them
// off I/O threads).
#ifndef CHUKAN_CRYPTO_PASSWORD_H_
#define CHUKAN_CRYPTO_PASSWORD_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/bytes.h"
#include "crypto/secret_bytes.h"

namespace chukan::crypto {

// argon2id cost parameters.
struct PwhashLimits {
  uint64_t opslimit;  // passes over memory (libsodium "opslimit")
  size_t memlimit;    // bytes of memory

  // libsodium's OPSLIMIT/MEMLIMIT_INTERACTIVE (2 passes, 64 MiB): the default for logins.
  static PwhashLimits Interactive();
  // MODERATE (3 passes, 256 MiB).
  static PwhashLimits Moderate();
  // SENSITIVE (4 passes, 1 GiB): for offline keys.
  static PwhashLimits Sensitive();
  // The smallest values libsodium accepts (1 pass, 8 KiB). ONLY for tests: it gives no
  // protection against guessing.
  static PwhashLimits MinimumForTests();
};

inline constexpr size_t kPasswordMaxBytes = 4096;
inline constexpr size_t kPwhashSaltBytes = 16;

// Hashes `password` with a random salt.
// Errors: kInvalidArgument if the password is longer than 4096 bytes or the limits are outside
//         libsodium's range; kResourceExhausted if the memory cannot be allocated.
Result<std::string> HashPassword(std::string_view password,
                                 PwhashLimits limits = PwhashLimits::Interactive());

// Checks `password` against a string from HashPassword. Takes as long as hashing.
// Errors: kInvalidArgument if `encoded` is not a well-formed argon2id string;
//         kUnauthenticated "password does not match" if the password is wrong.
Status VerifyPassword(std::string_view encoded, std::string_view password);

// True if `encoded` was made with limits other than `limits` (or is not a valid argon2id
// string), so it should be recomputed at the next successful login.
bool PasswordNeedsRehash(std::string_view encoded,
                         PwhashLimits limits = PwhashLimits::Interactive());

// Derives `out_len` (16..1024) bytes from `password` and a 16-byte salt with argon2id.
// Errors: kInvalidArgument on a bad salt size, output size, password size or limits;
//         kResourceExhausted if the memory cannot be allocated.
Result<SecretBytes> DeriveKey(std::string_view password, std::span<const uint8_t> salt,
                              size_t out_len, PwhashLimits limits = PwhashLimits::Interactive());

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_PASSWORD_H_
