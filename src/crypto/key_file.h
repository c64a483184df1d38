// Key files: secrets kept on disk as one line of lowercase hex, mode 0600, in a directory the
// service owns. Used for the platform master key (which wraps every tenant's data key) and the
// platform's Ed25519 audit-checkpoint key. In production these belong in an HSM or KMS; the file
// form is the small-box default (docs/operations.md).
//
// Thread-safety: functions are thread-safe; concurrent creation of the same file is resolved by
// O_EXCL (one creator wins, the other loads its key).
#ifndef CHUKAN_CRYPTO_KEY_FILE_H_
#define CHUKAN_CRYPTO_KEY_FILE_H_

#include <cstdint>
#include <span>
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

// The text of a key file holding `key`: its lowercase hex and a newline, built in wiped memory.
SecretBytes KeyFileContents(const SecretBytes& key);

// The building blocks of every secret file chukan keeps (key files, the tenants' KEK files —
// server/tenant_keks.h), so that each is read and written the one checked way.
//
// Reads at most `max_bytes` of the file at `path` (not following a symbolic link) into wiped
// memory. Errors: kNotFound ("<path>: <what> does not exist"); kPermissionDenied (group or
// others may access it); kInternal (I/O, naming the path). `what` names the file's role.
Result<SecretBytes> ReadSecretFile(const std::string& path, size_t max_bytes,
                                   const std::string& what);
// Writes `contents` to a new temporary file next to `path` (mode 0600), syncs it, and renames
// it over `path` — or, with `exclusive`, links it there only if nothing is there yet
// (kAlreadyExists otherwise) — then syncs the directory: a crash leaves the old file or the new
// one, never half of one. The directory is created 0700 when missing. Errors: kInternal naming
// the file.
Status WriteSecretFileAtomically(const std::string& path, std::span<const uint8_t> contents,
                                 bool exclusive);
// Overwrites the file's bytes in place with zeros, syncs, unlinks it and syncs the directory.
// OK when there is no file. What the file system does with freed blocks is outside the
// process's reach (docs/storage.md). Errors: kInternal naming the file.
Status DestroySecretFile(const std::string& path);
// Creates `dir` (and its parents) and restricts it to its owner (0700). Errors: kInternal.
Status MakePrivateDirectory(const std::string& dir);
// fsync of a directory, so that a rename or unlink in it is durable. Errors: kInternal.
Status SyncDirectory(const std::string& dir);

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_KEY_FILE_H_
