// Key files: secrets kept on disk as one line of lowercase hex, mode 0600, in a directory the
// service owns. Used for the platform master key (which wraps every tenant's data key) and the
// platform's Ed25519 audit-checkpoint key. In production these belong in an HSM or KMS; the file
// form is the small-box default (docs/operations.md).
//
// Thread-safety: functions are thread-safe; concurrent creation of the same file is resolved by
// O_EXCL (one creator wins, the other loads its key).
#ifndef CHUKAN_CRYPTO_KEY_FILE_H_
#define CHUKAN_CRYPTO_KEY_FILE_H_

#include <string>

#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace chukan::crypto {

// Loads the `size`-byte secret in `path`, creating it with fresh random bytes (mode 0600, and
// its directory 0700) when it does not exist and `create` is true.
// Errors: kNotFound (missing and !create); kPermissionDenied (the file is readable or writable
// by group or others — refused, like ssh does); kDataLoss (not `size` bytes of hex);
// kInternal (I/O failure, naming the path).
Result<SecretBytes> LoadOrCreateKeyFile(const std::string& path, size_t size, bool create);

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_KEY_FILE_H_
