// TenantStore: the platform/tenant storage layout of one chukan server (中間サーバー・プラット
// フォーム). One platform database plus one database per tenant, arranged so that a tenant's
// handle cannot address another tenant's data:
//
//   SQLite      <data_dir>/platform.db and <data_dir>/tenants/<tenant>.db — one file each
//               (files 0600, directories 0700). Each handle opens only its own file and ATTACH /
//               DETACH are denied by an authorizer, so no SQL through it reaches another file.
//   PostgreSQL  one schema per tenant, "<prefix>_<tenant>", owned by a role of the same name
//               (NOLOGIN). Tenant connections `SET ROLE` to that role and `SET search_path` to
//               that schema, so SQL naming another tenant's schema fails with kPermissionDenied.
//               The platform database is the schema "<prefix>_platform", with its own role in
//               the same way (so the platform handle cannot read tenant data either). The prefix
//               lets several deployments (and parallel tests) share one cluster.
//
// Thread-safety: thread-safe. The handle returned by Platform() is cached and shared; each
// Tenant() call opens a new handle that belongs to the caller (the server's TenantContext is the
// one owner of a tenant's handle, so that a deleted tenant's handle is closed in one place).
#ifndef CHUKAN_STORE_TENANT_STORE_H_
#define CHUKAN_STORE_TENANT_STORE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/mutex.h"
#include "common/status.h"
#include "store/database.h"

namespace chukan::store {

struct StoreOptions {
  Backend backend = Backend::kSqlite;
  // SQLite: the directory holding platform.db and tenants/ (created 0700 if missing).
  std::string data_dir;
  // PostgreSQL: libpq connection string of a login role allowed to CREATE SCHEMA and CREATE ROLE
  // (e.g. the cluster owner in tests).
  std::string dsn;
  // PostgreSQL: prefix of every schema and role this store creates; [a-z][a-z0-9_]{0,29}.
  std::string pg_prefix = "chukan";
  // PostgreSQL: connections per database (platform and each tenant), opened lazily.
  // SQLite: reader connections per database.
  int pool_size = 4;
  // SQLite synchronous=FULL / PostgreSQL synchronous_commit=on. Turning it off trades the last
  // commits before a power loss (never consistency) for speed.
  bool synchronous_full = true;
  int busy_timeout_ms = 5000;  // SQLite
  // SQLite: the VFS every database file is opened with (SqliteOptions::vfs); empty: SQLite's
  // default. Only tests set it (a fault-injecting VFS); the configuration file has no key for it.
  std::string sqlite_vfs;
  int acquire_timeout_ms = 30000;  // PostgreSQL pool
};

class TenantStore {
 public:
  // Opens the store (creating data_dir / the platform schema and role when missing).
  // Errors: kInvalidArgument (bad options), kUnavailable (cannot connect / create the directory),
  // kPermissionDenied (the login role may not create schemas or roles).
  static Result<std::unique_ptr<TenantStore>> Open(const StoreOptions& options);

  ~TenantStore();
  TenantStore(const TenantStore&) = delete;
  TenantStore& operator=(const TenantStore&) = delete;

  Backend backend() const { return options_.backend; }

  // The platform database (opened on first use, then shared). Errors as Open.
  Result<std::shared_ptr<Database>> Platform() EXCLUDES(mu_);

  // Opens a new handle to the tenant's database; the caller owns it (and closes it). kNotFound
  // if the tenant has not been created (CreateTenant). Other errors as Open.
  Result<std::shared_ptr<Database>> Tenant(const TenantId& tenant) EXCLUDES(mu_);

  // Creates the tenant's file / schema and role. kAlreadyExists if it exists.
  Status CreateTenant(const TenantId& tenant) EXCLUDES(mu_);

  // Deletes the tenant's data: the file with its -wal/-shm, or the schema (CASCADE) and role.
  // Handles opened by Tenant() are their owners' to close (before, ideally). kNotFound if
  // absent.
  Status DropTenant(const TenantId& tenant) EXCLUDES(mu_);

  // The existing tenants, sorted.
  Result<std::vector<TenantId>> ListTenants() EXCLUDES(mu_);

  // Closes the platform handle. Idempotent; later calls return kFailedPrecondition.
  Status Close() EXCLUDES(mu_);

  // PostgreSQL: the schema (= role) name of a tenant; "" for SQLite.
  std::string SchemaName(const TenantId& tenant) const;
  // SQLite: the file of a tenant; "" for PostgreSQL.
  std::string TenantPath(const TenantId& tenant) const;

 private:
  explicit TenantStore(StoreOptions options);

  Status Init();
  Result<std::shared_ptr<Database>> OpenDatabase(const std::string& name, bool is_platform);
  Result<bool> TenantExists(const TenantId& tenant);
  Status ExecAdmin(const std::string& sql);

  const StoreOptions options_;
  mutable Mutex mu_;
  bool closed_ GUARDED_BY(mu_) = false;
  std::shared_ptr<Database> platform_ GUARDED_BY(mu_);
  // PostgreSQL: pool of the login role (no SET ROLE). Set by Init before the store is shared,
  // then only read (a Database is thread-safe), so it needs no lock.
  std::shared_ptr<Database> admin_;
};

}  // namespace chukan::store

#endif  // CHUKAN_STORE_TENANT_STORE_H_
