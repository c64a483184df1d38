#include "store/tenant_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace chukan::store {
namespace {

namespace fs = std::filesystem;

Status MakePrivateDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return UnavailableError("store: cannot create directory " + dir + ": " + std::strerror(errno));
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return UnavailableError("store: " + dir + " is not a directory");
  }
  if ((st.st_mode & 077) != 0 && ::chmod(dir.c_str(), 0700) != 0) {
    return UnavailableError("store: cannot chmod 0700 " + dir + ": " + std::strerror(errno));
  }
  return Status();
}

bool ValidPrefix(std::string_view p) {
  if (p.empty() || p.size() > 30 || !(p[0] >= 'a' && p[0] <= 'z')) return false;
  return std::all_of(p.begin(), p.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

TenantStore::TenantStore(StoreOptions options) : options_(std::move(options)) {}

TenantStore::~TenantStore() { Close().IgnoreError(); }  // Close() reports nothing useful here

Result<std::unique_ptr<TenantStore>> TenantStore::Open(const StoreOptions& options) {
  if (options.pool_size < 1) return InvalidArgumentError("store: pool_size must be >= 1");
  if (options.backend == Backend::kSqlite && options.data_dir.empty()) {
    return InvalidArgumentError("store: data_dir is required for the SQLite backend");
  }
  if (options.backend == Backend::kPostgres) {
    if (options.dsn.empty()) return InvalidArgumentError("store: dsn is required for PostgreSQL");
    if (!ValidPrefix(options.pg_prefix)) {
      return InvalidArgumentError("store: pg_prefix must match [a-z][a-z0-9_]{0,29}");
    }
  }
  std::unique_ptr<TenantStore> store(new TenantStore(options));  // private constructor
  RETURN_IF_ERROR(store->Init());
  return store;
}

std::string TenantStore::SchemaName(const TenantId& tenant) const {
  if (options_.backend != Backend::kPostgres) return "";
  return options_.pg_prefix + "_" + tenant.str();
}

std::string TenantStore::TenantPath(const TenantId& tenant) const {
  if (options_.backend != Backend::kSqlite) return "";
  return options_.data_dir + "/tenants/" + tenant.str() + ".db";
}

Status TenantStore::ExecAdmin(const std::string& sql) {
  ASSIGN_OR_RETURN(auto txn, admin_->Begin());
  RETURN_IF_ERROR(txn->ExecScript(sql));
  return txn->Commit();
}

Status TenantStore::Init() {
  if (options_.backend == Backend::kSqlite) {
    RETURN_IF_ERROR(MakePrivateDir(options_.data_dir));
    return MakePrivateDir(options_.data_dir + "/tenants");
  }
  PostgresOptions admin;
  admin.dsn = options_.dsn;
  admin.pool_size = 1;
  admin.acquire_timeout_ms = options_.acquire_timeout_ms;
  ASSIGN_OR_RETURN(admin_, OpenPostgres(admin));
  const std::string name = options_.pg_prefix + "_platform";
  ASSIGN_OR_RETURN(auto txn, admin_->Begin());
  ASSIGN_OR_RETURN(auto exists,
                   txn->QueryOne("SELECT 1 FROM pg_namespace WHERE nspname = ?", {name}));
  RETURN_IF_ERROR(txn->Rollback());
  if (exists) return Status();
  Status s = ExecAdmin("CREATE ROLE " + name + " NOLOGIN NOINHERIT; GRANT " + name +
                       " TO CURRENT_USER; CREATE SCHEMA " + name + " AUTHORIZATION " + name);
  // Another process may have created it meanwhile.
  if (s.code() == StatusCode::kAlreadyExists) return Status();
  return s;
}

Result<std::shared_ptr<Database>> TenantStore::OpenDatabase(const std::string& name,
                                                            bool is_platform) {
  if (options_.backend == Backend::kSqlite) {
    SqliteOptions o;
    o.path = is_platform ? options_.data_dir + "/platform.db"
                         : options_.data_dir + "/tenants/" + name + ".db";
    o.create = is_platform;
    o.synchronous_full = options_.synchronous_full;
    o.busy_timeout_ms = options_.busy_timeout_ms;
    o.max_readers = options_.pool_size;
    o.vfs = options_.sqlite_vfs;
    return OpenSqlite(o);
  }
  PostgresOptions o;
  o.dsn = options_.dsn;
  o.role = options_.pg_prefix + "_" + name;
  o.schema = o.role;
  o.pool_size = options_.pool_size;
  o.synchronous_commit = options_.synchronous_full;
  o.acquire_timeout_ms = options_.acquire_timeout_ms;
  return OpenPostgres(o);
}

Result<std::shared_ptr<Database>> TenantStore::Platform() {
  MutexLock lock(mu_);
  if (closed_) return FailedPreconditionError("store: closed");
  if (!platform_) {
    ASSIGN_OR_RETURN(platform_, OpenDatabase("platform", true));
  }
  return platform_;
}

Result<bool> TenantStore::TenantExists(const TenantId& tenant) {
  if (options_.backend == Backend::kSqlite) {
    struct stat st;
    const std::string path = TenantPath(tenant);
    if (::stat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT) return false;
    return UnavailableError("store: " + path + ": " + std::strerror(errno));
  }
  ASSIGN_OR_RETURN(auto txn, admin_->BeginRead());
  ASSIGN_OR_RETURN(auto row, txn->QueryOne("SELECT 1 FROM pg_namespace WHERE nspname = ?",
                                           {SchemaName(tenant)}));
  return row.has_value();
}

Result<std::shared_ptr<Database>> TenantStore::Tenant(const TenantId& tenant) {
  MutexLock lock(mu_);
  if (closed_) return FailedPreconditionError("store: closed");
  ASSIGN_OR_RETURN(bool exists, TenantExists(tenant));
  if (!exists) return NotFoundError("store: no tenant " + tenant.str());
  return OpenDatabase(tenant.str(), false);
}

Status TenantStore::CreateTenant(const TenantId& tenant) {
  MutexLock lock(mu_);
  if (closed_) return FailedPreconditionError("store: closed");
  if (options_.backend == Backend::kSqlite) {
    const std::string path = TenantPath(tenant);
    const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (errno == EEXIST) return AlreadyExistsError("store: tenant " + tenant.str() + " exists");
      return UnavailableError("store: cannot create " + path + ": " + std::strerror(errno));
    }
    ::close(fd);
    // Opening initialises it (WAL).
    auto db = OpenDatabase(tenant.str(), false);
    if (!db.ok()) {
      ::unlink(path.c_str());
      return db.status();
    }
    return (*db)->Close();
  }
  const std::string name = SchemaName(tenant);
  ASSIGN_OR_RETURN(bool exists, TenantExists(tenant));
  if (exists) return AlreadyExistsError("store: tenant " + tenant.str() + " exists");
  // NOLOGIN: the role is only reachable through SET ROLE by the store's login role.
  Status s = ExecAdmin("CREATE ROLE " + name + " NOLOGIN NOINHERIT; GRANT " + name +
                       " TO CURRENT_USER; CREATE SCHEMA " + name + " AUTHORIZATION " + name);
  if (s.code() == StatusCode::kAlreadyExists) {
    return AlreadyExistsError("store: tenant " + tenant.str() + " exists (" + s.message() + ")");
  }
  return s;
}

Status TenantStore::DropTenant(const TenantId& tenant) {
  MutexLock lock(mu_);
  if (closed_) return FailedPreconditionError("store: closed");
  ASSIGN_OR_RETURN(bool exists, TenantExists(tenant));
  if (!exists) return NotFoundError("store: no tenant " + tenant.str());
  if (options_.backend == Backend::kSqlite) {
    const std::string path = TenantPath(tenant);
    for (const char* suffix : {"-wal", "-shm", ""}) {
      const std::string p = path + suffix;
      if (::unlink(p.c_str()) != 0 && errno != ENOENT) {
        return UnavailableError("store: cannot delete " + p + ": " + std::strerror(errno));
      }
    }
    return Status();
  }
  const std::string name = SchemaName(tenant);
  return ExecAdmin("DROP SCHEMA " + name + " CASCADE; DROP ROLE " + name);
}

Result<std::vector<TenantId>> TenantStore::ListTenants() {
  std::vector<TenantId> out;
  {
    MutexLock lock(mu_);
    if (closed_) return FailedPreconditionError("store: closed");
  }
  if (options_.backend == Backend::kSqlite) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(options_.data_dir + "/tenants", ec)) {
      const std::string file = entry.path().filename().string();
      if (file.size() < 4 || file.substr(file.size() - 3) != ".db") continue;
      auto id = TenantId::Parse(file.substr(0, file.size() - 3));
      if (id.ok()) out.push_back(*id);
    }
    if (ec) return UnavailableError("store: cannot list tenants: " + ec.message());
  } else {
    const std::string prefix = options_.pg_prefix + "_";
    ASSIGN_OR_RETURN(auto txn, admin_->BeginRead());
    ASSIGN_OR_RETURN(auto rows, txn->Query("SELECT nspname::text FROM pg_namespace "
                                           "WHERE left(nspname, ?) = ?",
                                           {static_cast<int64_t>(prefix.size()), prefix}));
    for (const Row& r : rows) {
      ASSIGN_OR_RETURN(std::string name, r.GetText(0));
      auto id = TenantId::Parse(std::string_view(name).substr(prefix.size()));
      if (id.ok()) out.push_back(*id);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status TenantStore::Close() {
  MutexLock lock(mu_);
  if (closed_) return Status();
  closed_ = true;
  if (platform_) platform_->Close().IgnoreError();  // Close() cannot fail
  platform_.reset();
  if (admin_) admin_->Close().IgnoreError();
  return Status();
}

}  // namespace chukan::store
