// Versioned schema migrations, per component, on either backend.
//
// Each component (audit, outbox, server, …) owns an ordered list of migrations. The table
//   schema_migrations(component, version, name, checksum, applied_at)
// in the same database (SQLite file / PostgreSQL schema) records which have been applied, with
// the SHA-256 of the SQL that was applied for that backend. ApplyMigrations applies the missing
// ones in order, each in its own transaction together with its schema_migrations row, so a crash
// leaves every migration either fully applied and recorded, or neither.
//
// Migrations are append-only: once released, a migration's SQL never changes (its checksum is
// checked), and a database that has migrations the code does not know is refused rather than
// used. See docs/storage.md.
//
// Thread-safety: ApplyMigrations may run concurrently from several processes on the same
// database: SQLite serialises writers; on PostgreSQL each migration transaction locks
// schema_migrations first, and re-checks what is applied after taking the lock.
#ifndef CHUKAN_STORE_MIGRATIONS_H_
#define CHUKAN_STORE_MIGRATIONS_H_

#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "store/database.h"

namespace chukan::store {

struct Migration {
  int version = 0;           // 1, 2, 3, … strictly increasing within a component
  std::string name;          // short description, "create audit_log"
  std::string sqlite_sql;    // script run on SQLite (may hold several statements)
  std::string postgres_sql;  // script run on PostgreSQL (may hold several statements)
};

// A record of schema_migrations.
struct AppliedMigration {
  std::string component;
  int version = 0;
  std::string name;
  std::string checksum;  // lowercase hex SHA-256 of the SQL applied on this backend
  int64_t applied_at_us = 0;
};

// Applies to `db` every migration of `component` that is not yet applied, in version order.
// Re-applying is a no-op. Errors:
//   kInvalidArgument     component empty or longer than 64 bytes; versions not strictly
//                        increasing from >= 1
//   kFailedPrecondition  an applied migration's checksum differs from the code's ("component X
//                        version N: checksum changed"), or the database has a migration the code
//                        does not have ("database is newer than the code: component X has
//                        version N")
//   others               from the migration SQL, with "component X version N (name)" prefixed;
//                        the failing migration is rolled back, earlier ones stay applied.
Status ApplyMigrations(Database& db, std::string_view component,
                       const std::vector<Migration>& migrations,
                       const Clock& clock = SystemClock::Get());

// The applied migrations of `component` (all components when empty), ordered by component and
// version. An empty list when schema_migrations does not exist yet.
Result<std::vector<AppliedMigration>> ListAppliedMigrations(Database& db,
                                                            std::string_view component = {});

// The checksum ApplyMigrations records for `m` on `backend`.
std::string MigrationChecksum(const Migration& m, Backend backend);

}  // namespace chukan::store

#endif  // CHUKAN_STORE_MIGRATIONS_H_
