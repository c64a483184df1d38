#include "server/backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>

#include "common/log.h"
#include "crypto/bytes.h"
#include "crypto/file_stream.h"

namespace chukan::server {
namespace {

namespace fs = std::filesystem;

constexpr char kPlaintextDir[] = ".plaintext-tmp";
constexpr int kBusyTimeoutMs = 10000;

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using SqliteHandle = std::unique_ptr<sqlite3, SqliteCloser>;
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtHandle = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

Status SqliteError(sqlite3* db, int rc, const std::string& path, const char* what) {
  std::string msg = path + ": " + what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLossError(std::move(msg));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
      return UnavailableError(std::move(msg));
    default:
      return InternalError(std::move(msg));
  }
}

// A connection of the backup's own to a live database. Not chukan's OpenSqlite: its authorizer
// refuses ATTACH, which VACUUM INTO does internally; this connection runs no SQL but the copy
// and reads of the tenant registry. It never creates a file (no SQLITE_OPEN_CREATE).
Result<SqliteHandle> OpenLive(const std::string& path, bool read_only) {
  sqlite3* raw = nullptr;
  const int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
                    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  SqliteHandle db(raw);
  if (rc != SQLITE_OK) return SqliteError(db.get(), rc, path, "cannot open");
  sqlite3_extended_result_codes(db.get(), 1);
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  return db;
}

// Copies the live database `src` into the new file `dst` (VACUUM INTO: one read transaction).
Status CopyDatabase(const std::string& src, const std::string& dst) {
  // The copy is created by us, 0600, so that SQLite never creates it with the umask's mode.
  const int fd = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return InternalError(dst + ": cannot create: " + std::strerror(errno));
  ::close(fd);
  ASSIGN_OR_RETURN(SqliteHandle db, OpenLive(src, /*read_only=*/false));
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db.get(), "VACUUM INTO ?", -1, &raw, nullptr);
  StmtHandle stmt(raw);
  if (rc != SQLITE_OK) return SqliteError(db.get(), rc, src, "VACUUM INTO");
  sqlite3_bind_text(stmt.get(), 1, dst.c_str(), -1, SQLITE_TRANSIENT);
  rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_DONE) return SqliteError(db.get(), rc, src, "VACUUM INTO");
  return Status();
}

// The org codes a platform database lists, with `state` "active" — or, with `only`, whether
// that one is active (empty result: not).
Result<std::vector<OrgCode>> ActiveTenants(const std::string& platform_db,
                                           const std::optional<OrgCode>& only) {
  // A copy is opened read-only; the live database like CopyDatabase does (a read-only
  // connection cannot open a WAL database whose -shm does not exist yet).
  ASSIGN_OR_RETURN(SqliteHandle db, OpenLive(platform_db, /*read_only=*/!only.has_value()));
  const char* sql = only ? "SELECT org_code FROM tenants WHERE state = 'active' AND org_code = ?"
                         : "SELECT org_code FROM tenants WHERE state = 'active' ORDER BY org_code";
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db.get(), sql, -1, &raw, nullptr);
  StmtHandle stmt(raw);
  if (rc != SQLITE_OK) return SqliteError(db.get(), rc, platform_db, "reading the tenants");
  if (only) sqlite3_bind_text(stmt.get(), 1, only->str().c_str(), -1, SQLITE_TRANSIENT);
  std::vector<OrgCode> out;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    const unsigned char* text = sqlite3_column_text(stmt.get(), 0);
    Result<OrgCode> org = OrgCode::Parse(text ? reinterpret_cast<const char*>(text) : "");
    if (!org.ok()) {
      return DataLossError(platform_db + ": table tenants, column org_code: not an org code");
    }
    out.push_back(*org);
  }
  if (rc != SQLITE_DONE) return SqliteError(db.get(), rc, platform_db, "reading the tenants");
  return out;
}

// Removes the plaintext directory and whatever is in it when the backup ends, however it ends.
class PlaintextDir {
 public:
  explicit PlaintextDir(std::string path) : path_(std::move(path)) {}
  ~PlaintextDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
    if (ec) log::Error("backup.plaintext_not_removed", {{"path", path_}, {"error", ec.message()}});
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Status PrepareDir(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec)) return FailedPreconditionError(dir + ": not a directory");
    if (!fs::is_empty(dir, ec)) {
      return FailedPreconditionError(dir +
                                     ": not empty (a backup goes into a new or empty "
                                     "directory; one without manifest.json is an "
                                     "interrupted backup: delete it)");
    }
  } else {
    fs::create_directories(dir, ec);
    if (ec) return InternalError(dir + ": cannot create: " + ec.message());
  }
  if (::chmod(dir.c_str(), 0700) != 0) {
    return InternalError(dir + ": chmod: " + std::strerror(errno));
  }
  return Status();
}

}  // namespace

Result<BackupReport> CreateBackup(const ServerConfig& config, const std::string& dir,
                                  const crypto::SecretBytes& key, const Clock& clock,
                                  std::string_view chukan_version,
                                  const BackupProgressFn& progress) {
  if (config.store.backend != store::Backend::kSqlite) {
    return FailedPreconditionError(
        "chukan backup copies SQLite databases only; for PostgreSQL use the engine's own "
        "pg_basebackup and WAL archiving (docs/operations.md, \"Backup and restore on "
        "PostgreSQL\")");
  }
  if (key.size() != kBackupKeyBytes) return InvalidArgumentError("backup key must be 32 bytes");
  const auto start = std::chrono::steady_clock::now();
  const std::string data_dir = config.store.data_dir;
  const std::string live_platform = data_dir + "/platform.db";
  std::error_code ec;
  if (!fs::is_regular_file(live_platform, ec)) {
    return FailedPreconditionError(live_platform + ": no platform database to back up");
  }
  RETURN_IF_ERROR(PrepareDir(dir));
  const std::string tmp_dir = dir + "/" + kPlaintextDir;
  if (::mkdir(tmp_dir.c_str(), 0700) != 0) {
    return InternalError(tmp_dir + ": cannot create: " + std::strerror(errno));
  }
  PlaintextDir plaintext(tmp_dir);

  BackupReport report;
  BackupManifest& m = report.manifest;
  m.backup_id = crypto::ToHex(crypto::RandomBytes(16));
  m.created_at_us = ToUnixMicros(clock.Now());
  m.chukan_version = std::string(chukan_version);
  m.backend = "sqlite";
  m.key_id = BackupKeyId(key);
  const crypto::SecretBytes file_key = BackupFileKey(key);
  auto notify = [&](BackupProgress p) {
    if (progress) progress(p);
  };

  // Copies `live` to plaintext, encrypts it as `name`, removes the plaintext. `before_encrypt`
  // sees the plaintext copy and may veto the file (returning false: the tenant is skipped).
  auto back_up =
      [&](const std::string& live, const std::string& name, const std::optional<OrgCode>& org,
          const std::function<Result<bool>(const std::string&)>& before_encrypt) -> Result<bool> {
    notify({BackupProgress::Event::kFileStarted, name, org, 0, 0, ""});
    const std::string copy = tmp_dir + "/" + name + ".plain";
    RETURN_IF_ERROR(CopyDatabase(live, copy));
    struct Unlink {
      const std::string& p;
      ~Unlink() { ::unlink(p.c_str()); }
    } unlink_copy{copy};
    if (before_encrypt) {
      ASSIGN_OR_RETURN(bool keep, before_encrypt(copy));
      if (!keep) return false;
    }
    ASSIGN_OR_RETURN(crypto::FileStreamInfo info,
                     crypto::EncryptFileStream(copy, dir + "/" + name, file_key,
                                               BackupFileAd(m.backup_id, name)));
    BackupFile f;
    f.name = name;
    f.kind = org ? "tenant" : "platform";
    f.org = org;
    f.plain_bytes = info.plain_bytes;
    f.bytes = info.cipher_bytes;
    f.blake2b = crypto::ToHex(info.cipher_blake2b);
    m.files.push_back(f);
    notify({BackupProgress::Event::kFileDone, name, org, f.plain_bytes, f.bytes, ""});
    return true;
  };

  // The platform first: its copy says which tenants the backup holds.
  std::vector<OrgCode> tenants;
  RETURN_IF_ERROR(back_up(live_platform, "platform.db.enc", std::nullopt,
                          [&](const std::string& copy) -> Result<bool> {
                            ASSIGN_OR_RETURN(tenants, ActiveTenants(copy, std::nullopt));
                            return true;
                          })
                      .status());

  for (const OrgCode& org : tenants) {
    const TenantId id = TenantId::ForOrg(org);
    const std::string live = data_dir + "/tenants/" + id.str() + ".db";
    const std::string name = id.str() + ".db.enc";
    auto skip = [&](const std::string& why) {
      report.skipped.push_back(org);
      log::Info("backup.tenant_skipped", {{"tenant", id.str()}, {"reason", why}});
      notify({BackupProgress::Event::kTenantSkipped, name, org, 0, 0, why});
    };
    if (!fs::is_regular_file(live, ec)) {
      skip("deleted since the platform was copied (its database is gone)");
      continue;
    }
    Result<bool> kept = back_up(live, name, org, [&](const std::string&) -> Result<bool> {
      // Deleted while it was being copied: its KEK is destroyed, the copy opens under no key.
      ASSIGN_OR_RETURN(std::vector<OrgCode> still, ActiveTenants(live_platform, org));
      return !still.empty();
    });
    if (!kept.ok() && !fs::is_regular_file(live, ec)) {
      skip("deleted while it was being copied");
      continue;
    }
    if (!kept.ok()) return kept.status();
    if (!*kept) skip("deleted while it was being copied");
  }

  RETURN_IF_ERROR(WriteBackupManifest(dir, m, key));
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int64_t total = 0;
  for (const BackupFile& f : m.files) total += f.plain_bytes;
  log::Info("backup.created", {{"backup_id", m.backup_id},
                               {"files", static_cast<int64_t>(m.files.size())},
                               {"skipped", static_cast<int64_t>(report.skipped.size())},
                               {"bytes", total},
                               {"ms", static_cast<int64_t>(report.seconds * 1000)}});
  return report;
}

}  // namespace chukan::server
