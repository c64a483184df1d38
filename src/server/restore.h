// Restore (リストア) of a backup made by CreateBackup (backup.h) into an empty SQLite data
// directory, and the checks that the restored platform serves: every tenant opens and every
// audit chain verifies.
//
// Nothing final is written before everything is verified: the manifest's MAC, then each file's
// size and BLAKE2b against the manifest and its AEAD (decrypted into a staging directory inside
// the data directory, 0700, files 0600). Only then are the files renamed into place (tenants
// first, platform.db last) and the directories synced. A restore that fails before that point
// leaves the data directory as it found it (the staging directory removed).
//
// The keys are not in the backup: the configuration's keys directory must hold master.key,
// audit-signing.key and the tenants' KEK files, restored by the operator from where they are
// kept apart. A tenant whose KEK is gone (deleted after the backup) is restored as files but
// cannot be opened by anyone: reported as kKeyDestroyed — crypto-erasure holding, by design.
//
// Thread-safety: thread-compatible (call from one thread); blocks on disk I/O.
#ifndef CHUKAN_SERVER_RESTORE_H_
#define CHUKAN_SERVER_RESTORE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "common/ids.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "server/backup_manifest.h"
#include "server/server_config.h"

namespace chukan::server {

struct RestoreProgress {
  enum class Event { kFileVerified, kFilesInPlace };
  Event event = Event::kFileVerified;
  std::string file;  // kFileVerified: the backup's file name
  int64_t plain_bytes = 0;
};
using RestoreProgressFn = std::function<void(const RestoreProgress&)>;

struct RestoredTenant {
  enum class State {
    kOk,            // opens; its audit chain verifies
    kKeyDestroyed,  // its KEK file is gone (deleted after the backup): unrecoverable by design
    kFailed,        // does not open, or its audit chain does not verify: see `error` / `audit`
  };
  OrgCode org;
  TenantId id;
  State state = State::kFailed;
  Status error;                              // kKeyDestroyed / kFailed: why
  std::optional<audit::VerifyReport> audit;  // when it opened
};

struct RestoreReport {
  BackupManifest manifest;
  audit::VerifyReport platform_audit;
  std::vector<RestoredTenant> tenants;
  // The platform's chain and every tenant are kOk.
  bool all_ok() const;
};

// Restores the backup in `backup_dir` (made with `key`) into config.store.data_dir, then opens
// the restored platform (Platform::Open, create_keys false) and checks every tenant of the
// manifest and every audit chain (audit::Verify with the platform's audit key as the trusted
// key; entries after the last signed checkpoint — written in the seconds before an online
// backup — are allowed and counted in the reports).
// Errors (nothing restored): kFailedPrecondition for a PostgreSQL store, or a data directory
// that already holds platform.db or tenants/ (the path named); those of ReadBackupManifest;
// kDataLoss naming the backup file whose size, hash or AEAD does not match; kInternal (I/O).
// Errors after the files are in place (restored, but not served): those of Platform::Open
// (e.g. kFailedPrecondition when master.key is missing), prefixed with what was restored.
// The restore is recorded in the restored platform's audit log ("backup.restore", target the
// backup id, by `actor`, outcome "ok" or "error:<first problem>"), after the chains were
// verified, so the record itself is not part of what was checked.
Result<RestoreReport> RestoreBackup(const ServerConfig& config, const std::string& backup_dir,
                                    const crypto::SecretBytes& key,
                                    const RestoreProgressFn& progress = {},
                                    const std::string& actor = "system");

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_RESTORE_H_
