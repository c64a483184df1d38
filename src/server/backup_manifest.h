// The manifest of an encrypted backup (バックアップ) made by `chukan backup`, and the backup key
// it is authenticated with. One backup is a directory:
//
//   <dir>/manifest.json            written last: a directory without a valid one is an
//                                  interrupted (or foreign) backup, and restore refuses it
//   <dir>/platform.db.enc          the platform database, encrypted (crypto/file_stream.h)
//   <dir>/t<org>.db.enc            each tenant's database, encrypted
//
// manifest.json is {"format":"chukan-backup","mac":"<hex>","manifest":{…}}, where `mac` is keyed
// BLAKE2b-256 over the canonical JSON (docs/canonical-json.md) of the `manifest` object under a
// key derived from the backup key; the object names the format version, the backup id, the
// time, the chukan version, the backend, the backup key's id, and per file its name, kind,
// organisation, sizes and the BLAKE2b-256 of the encrypted file. Each file is encrypted under a
// file key derived from the backup key with the backup id and the file's name as associated
// data, so a file renamed or carried into another backup does not decrypt. Key files are never
// part of a backup (docs/operations.md, "Backup and restore").
//
// Derivation (all keyed BLAKE2b-256 under the 32-byte backup key, over ASCII labels):
//   file key      "chukan-backup-v1:file-key"
//   manifest MAC  "chukan-backup-v1:manifest-mac"
//   key id        "chukan-backup-v1:key-id" (first 8 bytes, hex: names a key, reveals nothing)
//
// Thread-safety: pure functions over files; thread-safe.
#ifndef CHUKAN_SERVER_BACKUP_MANIFEST_H_
#define CHUKAN_SERVER_BACKUP_MANIFEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"

namespace chukan::server {

inline constexpr int kBackupFormatVersion = 1;
inline constexpr char kBackupManifestFile[] = "manifest.json";
inline constexpr size_t kBackupKeyBytes = 32;

// Creates a new backup key file at `path` (32 random bytes as hex, mode 0600; its directory is
// created 0700 when missing). Errors: kAlreadyExists (a file is there: never overwritten, since
// that would make every backup made with it unreadable); kInternal (I/O), naming the path.
Status CreateBackupKeyFile(const std::string& path);
// Loads a backup key file. Errors: those of crypto::LoadOrCreateKeyFile (kNotFound,
// kPermissionDenied for a group/other-readable file, kDataLoss for a malformed one).
Result<crypto::SecretBytes> LoadBackupKey(const std::string& path);
// The backup key's id: 16 hex digits that name the key in manifests and messages.
std::string BackupKeyId(const crypto::SecretBytes& key);
// The key that encrypts the backup's files (crypto/file_stream.h).
crypto::SecretBytes BackupFileKey(const crypto::SecretBytes& key);
// The associated data of one file of one backup.
std::string BackupFileAd(const std::string& backup_id, const std::string& file_name);

struct BackupFile {
  std::string name;            // file name inside the backup directory
  std::string kind;            // "platform" or "tenant"
  std::optional<OrgCode> org;  // tenants only
  int64_t plain_bytes = 0;     // the database file's size
  int64_t bytes = 0;           // the encrypted file's size
  std::string blake2b;         // BLAKE2b-256 of the encrypted file, hex
};

struct BackupManifest {
  int version = kBackupFormatVersion;
  std::string backup_id;  // 32 hex digits, random
  int64_t created_at_us = 0;
  std::string chukan_version;
  std::string backend;            // "sqlite"
  std::string key_id;             // BackupKeyId of the key it was made with
  std::vector<BackupFile> files;  // the platform first, then the tenants by org code
};

// Writes `manifest`, authenticated under `key`, to <dir>/manifest.json: through a temporary
// file, synced, renamed, the directory synced (a crash leaves no manifest or the whole one).
// Errors: kInternal (I/O) naming the file.
Status WriteBackupManifest(const std::string& dir, const BackupManifest& manifest,
                           const crypto::SecretBytes& key);

// Reads and authenticates <dir>/manifest.json. Errors name the file and the field, never a
// value: kNotFound (no manifest: not a backup, or one that was interrupted); kUnauthenticated
// (made with another backup key: both key ids named); kDataLoss (the MAC does not match —
// altered; or malformed: the field named); kInvalidArgument (a format version this chukan does
// not know).
Result<BackupManifest> ReadBackupManifest(const std::string& dir, const crypto::SecretBytes& key);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_BACKUP_MANIFEST_H_
