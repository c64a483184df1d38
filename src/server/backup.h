// Online encrypted backup (オンラインバックアップ) of an intermediate server's SQLite databases:
// the platform database and every active tenant's, while the server may be running. The format
// and the keys: backup_manifest.h; the operator's procedure: docs/operations.md, "Backup and
// restore".
//
// How each database is copied: `VACUUM INTO` on a connection of the backup's own, into a
// temporary file in the backup directory. It reads one snapshot (one read transaction; in WAL
// mode the server's writers go on beside it), so each copy is consistent, and it writes a fresh,
// compacted file: the free pages and the free space inside pages, where deleted content may
// linger, are not copied at all (the online backup API, sqlite3_backup_*, copies pages as they
// are, free ones included). The copy is encrypted into the backup directory and the plaintext
// removed at once — on every error path too; only a process killed in the middle of one file
// leaves that temporary file (in `<dir>/.plaintext-tmp/`, mode 0700; the backup then has no
// manifest, and the operator deletes the directory).
//
// Which tenants: the platform is copied first; the tenants in the backup are those that copy
// lists as active. A tenant created later is not in the backup; one deleted meanwhile (its file
// gone, or no longer active in the live registry after its copy) is skipped and reported. The
// platform copy and each tenant copy are snapshots of different moments (seconds apart): each
// database is consistent in itself, as after a crash of the server at that moment.
//
// Key files are never copied: master.key, keys/tenants/*.kek and audit-signing.key stay in the
// keys directory, which the operator keeps apart, so a tenant deleted after a backup (its KEK
// destroyed) cannot be read from that backup by anyone.
//
// Thread-safety: thread-compatible (call from one thread); blocks on disk I/O.
#ifndef CHUKAN_SERVER_BACKUP_H_
#define CHUKAN_SERVER_BACKUP_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "server/backup_manifest.h"
#include "server/server_config.h"

namespace chukan::server {

// One step of a backup, for progress output.
struct BackupProgress {
  enum class Event { kFileStarted, kFileDone, kTenantSkipped };
  Event event = Event::kFileStarted;
  std::string file;            // the backup's file name
  std::optional<OrgCode> org;  // tenants only
  int64_t plain_bytes = 0;     // kFileDone: the database copy's size
  int64_t bytes = 0;           // kFileDone: the encrypted file's size
  std::string reason;          // kTenantSkipped: why (English)
};
using BackupProgressFn = std::function<void(const BackupProgress&)>;

struct BackupReport {
  BackupManifest manifest;
  std::vector<OrgCode> skipped;  // active in the platform copy, deleted before their own copy
  double seconds = 0;            // wall time of the whole backup
};

// Backs up the databases of `config` into `dir` (created 0700 when missing; it must be empty)
// under `key` (32 bytes). Files are written as described above, manifest last.
// Errors: kFailedPrecondition for a PostgreSQL store (pointing at docs/operations.md), a `dir`
// that exists and is not empty, or no platform database; kInvalidArgument (key size);
// kUnavailable / kDataLoss from SQLite (naming the database file); kInternal (I/O, naming the
// file). After an error, `dir` holds no plaintext and no manifest.
Result<BackupReport> CreateBackup(const ServerConfig& config, const std::string& dir,
                                  const crypto::SecretBytes& key, const Clock& clock,
                                  std::string_view chukan_version,
                                  const BackupProgressFn& progress = {});

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_BACKUP_H_
