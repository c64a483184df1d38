#include "store/migrations.h"

#include <openssl/evp.h>

#include <map>

namespace chukan::store {
namespace {

constexpr std::string_view kCreateTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " component TEXT NOT NULL,"
    " version BIGINT NOT NULL,"
    " name TEXT NOT NULL,"
    " checksum TEXT NOT NULL,"
    " applied_at BIGINT NOT NULL,"
    " PRIMARY KEY (component, version))";

std::string Hex(const unsigned char* p, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 15];
  }
  return out;
}

Result<AppliedMigration> FromRow(const Row& row) {
  AppliedMigration m;
  ASSIGN_OR_RETURN(m.component, row.GetText(0));
  ASSIGN_OR_RETURN(int64_t version, row.GetInt(1));
  m.version = static_cast<int>(version);
  ASSIGN_OR_RETURN(m.name, row.GetText(2));
  ASSIGN_OR_RETURN(m.checksum, row.GetText(3));
  ASSIGN_OR_RETURN(m.applied_at_us, row.GetInt(4));
  return m;
}

Result<std::map<int, AppliedMigration>> Applied(Transaction& txn, std::string_view component) {
  ASSIGN_OR_RETURN(std::vector<Row> rows,
                   txn.Query("SELECT component, version, name, checksum, applied_at "
                             "FROM schema_migrations WHERE component = ? ORDER BY version",
                             {std::string(component)}));
  std::map<int, AppliedMigration> out;
  for (const Row& r : rows) {
    ASSIGN_OR_RETURN(AppliedMigration m, FromRow(r));
    out.emplace(m.version, std::move(m));
  }
  return out;
}

// Checks the applied set against the code: changed checksums and unknown versions are refused.
Status Check(std::string_view component, const std::vector<Migration>& code,
             const std::map<int, AppliedMigration>& applied, Backend backend) {
  std::map<int, const Migration*> by_version;
  for (const Migration& m : code) by_version.emplace(m.version, &m);
  for (const auto& [version, a] : applied) {
    auto it = by_version.find(version);
    if (it == by_version.end()) {
      return FailedPreconditionError("migrations: database is newer than the code: component " +
                                     std::string(component) + " has version " +
                                     std::to_string(version) + " (" + a.name +
                                     ") which this program does not know");
    }
    if (MigrationChecksum(*it->second, backend) != a.checksum) {
      return FailedPreconditionError("migrations: component " + std::string(component) +
                                     " version " + std::to_string(version) + " (" + a.name +
                                     "): checksum changed since it was applied");
    }
  }
  return Status();
}

}  // namespace

std::string MigrationChecksum(const Migration& m, Backend backend) {
  const std::string& sql = backend == Backend::kSqlite ? m.sqlite_sql : m.postgres_sql;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(sql.data(), sql.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    return "sha256-unavailable";  // never equal to a real digest, so it fails closed
  }
  return Hex(md, len);
}

Status ApplyMigrations(Database& db, std::string_view component,
                       const std::vector<Migration>& migrations, const Clock& clock) {
  if (component.empty() || component.size() > 64) {
    return InvalidArgumentError("migrations: component name must be 1..64 bytes");
  }
  for (size_t i = 0; i < migrations.size(); ++i) {
    const int prev = i == 0 ? 0 : migrations[i - 1].version;
    if (migrations[i].version <= prev) {
      return InvalidArgumentError("migrations: component " + std::string(component) +
                                  ": versions must increase strictly from 1 (at index " +
                                  std::to_string(i) + ")");
    }
  }
  {
    ASSIGN_OR_RETURN(auto txn, db.Begin());
    RETURN_IF_ERROR(txn->ExecScript(kCreateTable));
    RETURN_IF_ERROR(txn->Commit());
  }
  const std::string comp(component);
  for (const Migration& m : migrations) {
    const std::string where =
        "component " + comp + " version " + std::to_string(m.version) + " (" + m.name + ")";
    ASSIGN_OR_RETURN(auto txn, db.Begin());
    if (db.backend() == Backend::kPostgres) {
      // Serialises concurrent appliers; readers of schema_migrations are not blocked.
      RETURN_IF_ERROR(txn->ExecScript("LOCK TABLE schema_migrations IN EXCLUSIVE MODE"));
    }
    ASSIGN_OR_RETURN(auto applied, Applied(*txn, comp));
    RETURN_IF_ERROR(Check(comp, migrations, applied, db.backend()));
    if (applied.count(m.version)) continue;  // rolls back the empty transaction
    const std::string& sql = db.backend() == Backend::kSqlite ? m.sqlite_sql : m.postgres_sql;
    Status s = txn->ExecScript(sql);
    if (!s.ok()) return s.WithContext("migrations: " + where);
    RETURN_IF_ERROR(
        txn->Exec("INSERT INTO schema_migrations (component, version, name, checksum, applied_at) "
                  "VALUES (?, ?, ?, ?, ?)",
                  {comp, static_cast<int64_t>(m.version), m.name,
                   MigrationChecksum(m, db.backend()), ToUnixMicros(clock.Now())}));
    s = txn->Commit();
    if (!s.ok()) return s.WithContext("migrations: " + where);
  }
  // Nothing to apply still checks what is there (newer database, changed checksum).
  ASSIGN_OR_RETURN(auto txn, db.BeginRead());
  ASSIGN_OR_RETURN(auto applied, Applied(*txn, comp));
  return Check(comp, migrations, applied, db.backend());
}

Result<std::vector<AppliedMigration>> ListAppliedMigrations(Database& db,
                                                            std::string_view component) {
  ASSIGN_OR_RETURN(auto txn, db.BeginRead());
  // Existence probe that works on both backends without catalog queries.
  auto probe = txn->Query("SELECT component FROM schema_migrations WHERE 1 = 0");
  if (!probe.ok()) {
    if (probe.status().code() == StatusCode::kInvalidArgument) {
      return std::vector<AppliedMigration>();  // no such table yet
    }
    return probe.status();
  }
  std::vector<Row> rows;
  if (component.empty()) {
    ASSIGN_OR_RETURN(rows, txn->Query("SELECT component, version, name, checksum, applied_at "
                                      "FROM schema_migrations ORDER BY component, version"));
  } else {
    ASSIGN_OR_RETURN(rows, txn->Query("SELECT component, version, name, checksum, applied_at "
                                      "FROM schema_migrations WHERE component = ? "
                                      "ORDER BY component, version",
                                      {std::string(component)}));
  }
  std::vector<AppliedMigration> out;
  for (const Row& r : rows) {
    ASSIGN_OR_RETURN(AppliedMigration m, FromRow(r));
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace chukan::store
