#include "server/restore.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>

#include "common/log.h"
#include "crypto/bytes.h"
#include "crypto/file_stream.h"
#include "crypto/key_file.h"
#include "server/platform.h"

namespace chukan::server {
namespace {

namespace fs = std::filesystem;

// Removes the staging directory (and any decrypted file still in it) however the restore ends.
class Staging {
 public:
  explicit Staging(std::string path) : path_(std::move(path)) {}
  ~Staging() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Where a file of the backup goes in the data directory.
std::string Destination(const std::string& data_dir, const BackupFile& f) {
  if (f.kind == "platform") return data_dir + "/platform.db";
  return data_dir + "/tenants/" + TenantId::ForOrg(*f.org).str() + ".db";
}

}  // namespace

bool RestoreReport::all_ok() const {
  if (!platform_audit.ok) return false;
  for (const RestoredTenant& t : tenants) {
    if (t.state != RestoredTenant::State::kOk) return false;
  }
  return true;
}

Result<RestoreReport> RestoreBackup(const ServerConfig& config, const std::string& backup_dir,
                                    const crypto::SecretBytes& key,
                                    const RestoreProgressFn& progress, const std::string& actor) {
  if (config.store.backend != store::Backend::kSqlite) {
    return FailedPreconditionError(
        "chukan restore restores SQLite backups only; PostgreSQL is restored with its own tools "
        "(docs/operations.md, \"Backup and restore on PostgreSQL\")");
  }
  if (key.size() != kBackupKeyBytes) return InvalidArgumentError("backup key must be 32 bytes");
  ASSIGN_OR_RETURN(BackupManifest manifest, ReadBackupManifest(backup_dir, key));
  const std::string manifest_path = backup_dir + "/" + kBackupManifestFile;
  if (manifest.backend != "sqlite") {
    return FailedPreconditionError(manifest_path +
                                   ": field \"manifest.backend\": not a SQLite backup");
  }

  const std::string data_dir = config.store.data_dir;
  std::error_code ec;
  for (const std::string& p :
       {data_dir + "/platform.db", data_dir + "/platform.db-wal", data_dir + "/tenants"}) {
    if (fs::symlink_status(p, ec).type() != fs::file_type::not_found) {
      return FailedPreconditionError(p +
                                     ": exists; restore writes into an empty data directory "
                                     "only (move the old data away first)");
    }
  }
  fs::create_directories(data_dir, ec);
  if (ec) return InternalError(data_dir + ": cannot create: " + ec.message());
  if (::chmod(data_dir.c_str(), 0700) != 0) {
    return InternalError(data_dir + ": chmod: " + std::strerror(errno));
  }
  std::string staging_template = data_dir + "/.restore-XXXXXX";
  if (::mkdtemp(staging_template.data()) == nullptr) {
    return InternalError(data_dir + ": cannot create a staging directory: " + std::strerror(errno));
  }
  Staging staging(staging_template);

  // Everything verified and decrypted before anything is put in place.
  const crypto::SecretBytes file_key = BackupFileKey(key);
  for (const BackupFile& f : manifest.files) {
    const std::string src = backup_dir + "/" + f.name;
    ASSIGN_OR_RETURN(crypto::FileStreamInfo seen, crypto::HashFile(src));
    if (seen.cipher_bytes != f.bytes) {
      return DataLossError(src +
                           ": size does not match the manifest (field \"bytes\"): cut "
                           "short or damaged");
    }
    if (crypto::ToHex(seen.cipher_blake2b) != f.blake2b) {
      return DataLossError(src +
                           ": BLAKE2b does not match the manifest (field \"blake2b\"): "
                           "altered or damaged");
    }
    ASSIGN_OR_RETURN(crypto::FileStreamInfo dec,
                     crypto::DecryptFileStream(src, staging.path() + "/" + f.name, file_key,
                                               BackupFileAd(manifest.backup_id, f.name)));
    if (dec.plain_bytes != f.plain_bytes) {
      return DataLossError(src +
                           ": decrypted size does not match the manifest (field "
                           "\"plain_bytes\")");
    }
    if (progress) progress({RestoreProgress::Event::kFileVerified, f.name, dec.plain_bytes});
  }

  // Into place: the tenants first, platform.db last (a restore cut short here leaves no
  // platform.db, so the server does not start on half of it).
  const std::string tenants_dir = data_dir + "/tenants";
  if (::mkdir(tenants_dir.c_str(), 0700) != 0) {
    return InternalError(tenants_dir + ": cannot create: " + std::strerror(errno));
  }
  const BackupFile* platform_file = nullptr;
  for (const BackupFile& f : manifest.files) {
    if (f.kind == "platform") {
      platform_file = &f;
      continue;
    }
    const std::string dst = Destination(data_dir, f);
    if (::rename((staging.path() + "/" + f.name).c_str(), dst.c_str()) != 0) {
      return InternalError(dst + ": rename: " + std::strerror(errno));
    }
  }
  RETURN_IF_ERROR(crypto::SyncDirectory(tenants_dir));
  const std::string platform_dst = Destination(data_dir, *platform_file);
  if (::rename((staging.path() + "/" + platform_file->name).c_str(), platform_dst.c_str()) != 0) {
    return InternalError(platform_dst + ": rename: " + std::strerror(errno));
  }
  RETURN_IF_ERROR(crypto::SyncDirectory(data_dir));
  if (progress) progress({RestoreProgress::Event::kFilesInPlace, "", 0});
  log::Info("restore.files_in_place", {{"backup_id", manifest.backup_id},
                                       {"files", static_cast<int64_t>(manifest.files.size())}});

  // Does it serve? The keys come from the configuration's keys directory.
  Result<std::unique_ptr<Platform>> opened = Platform::Open(config, /*create_keys=*/false);
  if (!opened.ok()) {
    return opened.status().WithContext("the files are restored, but the platform does not open");
  }
  Platform& platform = **opened;
  RestoreReport report;
  audit::VerifyOptions verify;
  verify.trusted_keys.push_back(platform.audit_verify_key());
  // An online backup copies entries of its last seconds before their checkpoint was signed; the
  // restored server signs them at its first start. Counted, not refused.
  verify.max_unprotected = std::numeric_limits<int64_t>::max();
  ASSIGN_OR_RETURN(std::shared_ptr<store::Database> platform_db, platform.store().Platform());
  ASSIGN_OR_RETURN(report.platform_audit, audit::Verify(*platform_db, verify));
  for (const BackupFile& f : manifest.files) {
    if (f.kind != "tenant") continue;
    RestoredTenant t{*f.org, TenantId::ForOrg(*f.org), RestoredTenant::State::kFailed, Status(),
                     std::nullopt};
    if (Status kek = platform.CheckKek(t.id); kek.code() == StatusCode::kNotFound) {
      t.state = RestoredTenant::State::kKeyDestroyed;
      t.error = kek;
      report.tenants.push_back(std::move(t));
      continue;
    }
    Result<std::shared_ptr<TenantContext>> ctx = platform.Tenant(t.id);
    if (!ctx.ok()) {
      t.error = ctx.status();
      report.tenants.push_back(std::move(t));
      continue;
    }
    Result<audit::VerifyReport> chain = audit::Verify(*(*ctx)->db, verify);
    if (!chain.ok()) {
      t.error = chain.status();
    } else {
      t.audit = *chain;
      t.state = chain->ok ? RestoredTenant::State::kOk : RestoredTenant::State::kFailed;
    }
    report.tenants.push_back(std::move(t));
  }
  report.manifest = std::move(manifest);
  std::string outcome = "ok";
  if (!report.platform_audit.ok) {
    outcome = "error:PLATFORM_AUDIT_CHAIN";
  } else {
    for (const RestoredTenant& t : report.tenants) {
      if (t.state == RestoredTenant::State::kKeyDestroyed) outcome = "error:KEY_DESTROYED";
      if (t.state == RestoredTenant::State::kFailed) {
        outcome = "error:TENANT_FAILED";
        break;
      }
    }
  }
  RETURN_IF_ERROR(platform.audit()
                      .Append({"platform", actor, "backup.restore",
                               "backup " + report.manifest.backup_id, outcome, ""})
                      .status());
  int64_t unrecoverable = 0;
  for (const RestoredTenant& t : report.tenants) {
    unrecoverable += t.state == RestoredTenant::State::kKeyDestroyed ? 1 : 0;
  }
  log::Info("restore.checked", {{"backup_id", report.manifest.backup_id},
                                {"tenants", static_cast<int64_t>(report.tenants.size())},
                                {"key_destroyed", unrecoverable},
                                {"all_ok", report.all_ok()}});
  return report;
}

}  // namespace chukan::server
