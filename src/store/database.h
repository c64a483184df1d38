// Database and Transaction: the one storage interface of chukan, with two backends — SQLite (the
// embedded default) and PostgreSQL via libpq. docs/storage.md is the full contract.
//
// SQL is written once, in a portable subset (docs/storage.md), with `?` placeholders. The
// PostgreSQL backend rewrites each `?` outside quoted literals, quoted identifiers and comments
// to `$1, $2, …`. Both backends prepare each distinct SQL text once per connection and reuse
// the prepared statement afterwards. Type differences (INTEGER/BIGINT, BLOB/BYTEA, AUTOINCREMENT
// /BIGSERIAL) belong in migrations only (migrations.h), which carry SQL for each backend.
//
// Errors from the database are mapped onto chukan status codes the same way on both backends:
//   kAlreadyExists       unique or primary-key violation
//   kFailedPrecondition  other constraint violations; a write in a read-only transaction;
//                        use of a closed database
//   kPermissionDenied    access outside the tenant's own data (SQLite authorizer denial,
//                        PostgreSQL SQLSTATE 42501)
//   kInvalidArgument     malformed SQL, unknown table or column, wrong parameter count; a
//                        value not of its column's type in CopyRows (PostgreSQL)
//   kUnavailable         busy/locked beyond the timeout, lost connection, pool exhausted; a
//                        disk fault (SQLite: an I/O error — a failed fsync or write — or a full
//                        disk; the message names the database file and the cause). Retryable:
//                        the same handle works again once the fault clears. A commit that failed
//                        this way is all or nothing, but which one is not known to the caller
//                        (docs/storage.md, "Faults and recovery"): retry idempotently.
//   kAborted             serialization failure or deadlock (retry the transaction); a statement
//                        in a transaction poisoned by an earlier error
//   kDataLoss            a corrupt database file
//   kInternal            anything else
// Messages carry the backend's own text and the first 120 characters of the SQL.
//
// Thread-safety: Database is thread-safe. A Transaction is not: use it from one thread at a
// time (it may be handed between threads). A Transaction keeps its connection pool alive itself,
// so destroying the Database handle before the Transaction is safe.
#ifndef CHUKAN_STORE_DATABASE_H_
#define CHUKAN_STORE_DATABASE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/value.h"

namespace chukan::store {

enum class Backend { kSqlite, kPostgres };

// "sqlite" or "postgres".
std::string_view BackendName(Backend b);

// GoogleTest printer (found by argument-dependent lookup): parameterised tests show "sqlite" /
// "postgres" instead of raw bytes in their names and failure messages.
inline void PrintTo(Backend b, std::ostream* os) { *os << BackendName(b); }

// One transaction on one connection. Obtained from Database::Begin() (read-write) or
// Database::BeginRead() (read-only). Ends with Commit(); destroying it without a successful
// Commit() rolls it back (and blocks for that round trip).
//
// After a statement fails, the transaction is poisoned on both backends alike (PostgreSQL aborts
// the transaction itself; SQLite is made to behave the same): every later Exec/Query returns
// kAborted quoting the first error, and Commit() returns that first error and rolls back — unless
// RollbackToSavepoint() undoes the failed statement first.
class Transaction {
 public:
  virtual ~Transaction() = default;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  virtual Backend backend() const = 0;

  // Runs one statement with `params` bound to its `?` placeholders, discarding any result rows.
  // Errors: as listed in the file comment; kInvalidArgument if the number of placeholders differs
  // from params.size() or `sql` holds more than one statement.
  virtual Status Exec(std::string_view sql, const std::vector<Value>& params = {}) = 0;

  // Like Exec, and returns the number of rows inserted, updated or deleted.
  virtual Result<int64_t> ExecCount(std::string_view sql,
                                    const std::vector<Value>& params = {}) = 0;

  // Runs one statement and returns all its rows (possibly none). Errors as Exec.
  virtual Result<std::vector<Row>> Query(std::string_view sql,
                                         const std::vector<Value>& params = {}) = 0;

  // Runs one statement expected to yield at most one row: std::nullopt for no row, the row for
  // one, kFailedPrecondition if it yields more than one. Errors otherwise as Exec.
  virtual Result<std::optional<Row>> QueryOne(std::string_view sql,
                                              const std::vector<Value>& params = {}) = 0;

  // Runs a script of one or more statements without parameters and without statement caching
  // (`?` is not rewritten). Meant for migrations and DDL. Errors as Exec.
  virtual Status ExecScript(std::string_view sql) = 0;

  // Savepoints inside this transaction. `name` must match [A-Za-z_][A-Za-z0-9_]{0,62}
  // (else kInvalidArgument). RollbackToSavepoint undoes everything after the savepoint, clears a
  // poisoned state caused after it, and keeps the savepoint; ReleaseSavepoint forgets it.
  virtual Status Savepoint(std::string_view name) = 0;
  virtual Status RollbackToSavepoint(std::string_view name) = 0;
  virtual Status ReleaseSavepoint(std::string_view name) = 0;

  // Commits. On success the writes are durable to the degree the database was opened with
  // (SQLite synchronous=FULL / PostgreSQL synchronous_commit=on by default). On failure the
  // transaction is rolled back and the error returned (a poisoned transaction returns its
  // first error). Calling anything after Commit() returns kFailedPrecondition.
  virtual Status Commit() = 0;

  // Rolls back explicitly (the destructor does the same). Idempotent.
  virtual Status Rollback() = 0;

  // Supplies the rows of CopyRows: sets `row` (given empty) to the next row's values, in the
  // order of the columns, and returns true; returns false when there are no more rows. An error
  // stops the copy.
  using RowSupplier = std::function<Result<bool>(std::vector<Value>& row)>;

  // Writes the rows `next` supplies into `columns` of `table` (plain identifiers; a temporary
  // table is found first, as by any statement) and returns how many it wrote. For bulk loads
  // (the replica import's staging table, docs/storage.md "Bulk rows: CopyRows").
  //   PostgreSQL: one COPY … FROM STDIN (FORMAT binary): the rows stream to the server while it
  //     stores them, two round trips for the lot (whatever was held back goes before, in one
  //     more), and no statement for the server to parse per row. Binary COPY has no type
  //     conversion: each value must be of its column's type — int64_t for BIGINT, Bytes for
  //     BYTEA, std::string for TEXT, double for DOUBLE PRECISION, nullptr for NULL — or the
  //     server refuses the copy (kInvalidArgument).
  //   SQLite: one prepared INSERT per row.
  // Errors: as Exec; kInvalidArgument for a name that is not a plain identifier, no columns, or
  // a row with another number of values than columns; `next`'s own error, which ends the copy.
  // An error poisons the transaction, as a failed statement does (PostgreSQL has aborted it).
  virtual Result<int64_t> CopyRows(std::string_view table, const std::vector<std::string>& columns,
                                   const RowSupplier& next) = 0;

  // From now on, PostgreSQL holds every Exec back (it returns OK at once) and sends it in one
  // pipeline with the next statement that needs an answer (ExecCount, Query, QueryOne,
  // ExecScript), RELEASE SAVEPOINT, ROLLBACK TO SAVEPOINT or COMMIT — which then reports its
  // error. So a group-committed write whose statements are Execs costs one round trip
  // (docs/storage.md, "Round trips on PostgreSQL"). Only for callers that return an Exec's error
  // and never branch on it (the group committer's writes). SQLite: no effect.
  virtual void HoldBackExecs() = 0;

 protected:
  Transaction() = default;
};

// Counters for tests and metrics. Monotonic over the database's lifetime.
struct DatabaseStats {
  int64_t statements_prepared = 0;  // prepare calls (cache misses), all connections together
  int64_t statements_executed = 0;  // Exec/ExecCount/Query/QueryOne calls
  int64_t transactions_committed = 0;
  int64_t connections_opened = 0;
  // PostgreSQL: exchanges with the server that waited for its answer (one per pipeline of
  // statements; docs/storage.md, "Round trips"). SQLite: 0.
  int64_t round_trips = 0;
  int64_t checkpoints = 0;  // SQLite: WAL checkpoints run by the database's checkpoint thread
  // SQLite: those of them that failed with an error other than "busy" (an I/O error, a full
  // disk; logged as store.sqlite_checkpoint_failed). The WAL keeps the frames; a later run
  // copies them.
  int64_t checkpoint_errors = 0;
};

// A handle to one database (SQLite: one file; PostgreSQL: one schema in one cluster, reached
// through a bounded pool of connections). Create one with OpenSqlite()/OpenPostgres() (below) or
// through a TenantStore (tenant_store.h).
class Database {
 public:
  virtual ~Database() = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  virtual Backend backend() const = 0;

  // Begins a read-write transaction. Blocks until a writer is available:
  //   SQLite: one writer connection per database, BEGIN IMMEDIATE, so write transactions are
  //     serialised inside the process (others wait here) and across processes (busy timeout).
  //   PostgreSQL: a connection from the pool (waiting up to the acquire timeout), BEGIN; writers
  //     run concurrently under READ COMMITTED.
  // Do not call Begin() again on the same thread while holding a write transaction of the same
  // SQLite database: it would wait for itself (deadlock).
  // Errors: kUnavailable (busy or pool exhausted after the timeout; connection failure),
  // kFailedPrecondition (database closed).
  virtual Result<std::unique_ptr<Transaction>> Begin() = 0;

  // As Begin(), for a transaction whose Commit() need not wait for the disk (SQLite: committed at
  // synchronous=NORMAL, no fsync; PostgreSQL: SET LOCAL synchronous_commit TO off). A crash of
  // the machine, or a failover to a standby, may lose it — whole, never torn — until any later
  // durable commit on the same database makes it durable too: both backends keep one log,
  // written in order, so a durable commit survives only with everything committed before it.
  // Only for writes whose loss repeats work and changes no answer anyone was given: the outbox's
  // claims, renewals and acknowledgements, whose loss means one delivery again to an idempotent
  // receiver (docs/storage.md, "Lazy commits"). On a database opened non-durable, the same as
  // Begin(). Default (a wrapper that does not say): Begin(), a durable commit.
  virtual Result<std::unique_ptr<Transaction>> BeginLazy() { return Begin(); }

  // Begins a read-only transaction that sees one consistent snapshot (SQLite: a reader connection
  // in WAL mode, concurrent with the writer; PostgreSQL: BEGIN READ ONLY, REPEATABLE READ).
  // Writes inside it fail with kFailedPrecondition. Errors as Begin().
  virtual Result<std::unique_ptr<Transaction>> BeginRead() = 0;

  // A read-only transaction of exactly one statement (a second one fails with
  // kFailedPrecondition and ends nothing): what BeginRead() gives a single read, one statement
  // seeing one snapshot on either backend. The statement must be a SELECT (kInvalidArgument
  // otherwise): PostgreSQL sends it alone, without BEGIN or COMMIT, as a transaction of its
  // own — one exchange with the server where a read-only transaction costs two (its COMMIT is
  // sent, and answered, on its own). For the hot single reads (a token, an inquiry, a permit,
  // a code). Errors as BeginRead().
  virtual Result<std::unique_ptr<Transaction>> BeginReadOnce() = 0;

  virtual DatabaseStats stats() const = 0;

  // "Erase now": makes what committed deletes and updates removed unreadable from the
  // database's own files, as far as the backend allows (docs/storage.md, "Deletion that
  // erases"). Call it after a commit that destroyed something sensitive. Blocks (disk I/O and
  // lock waits): call it from a worker thread, never from an I/O thread.
  //   SQLite: a TRUNCATE checkpoint on the writer connection (waiting for in-process writers as
  //     Begin() does): every committed WAL frame is copied into the database file, the file is
  //     synced and the WAL truncated to zero bytes. While another connection holds a lock
  //     (SQLITE_BUSY: a reader on an old snapshot, the checkpoint thread), it retries, up to
  //     SqliteOptions::busy_timeout_ms in all. With secure_delete on (the default) the pages
  //     SQLite wrote had the deleted content zeroed already, so on OK no content deleted or
  //     overwritten by a transaction committed before the call remains in <path> or
  //     <path>-wal (<path>-shm holds no row data). Not covered: file-system blocks the
  //     truncation gave back to the OS, and copies outside the files (backups).
  //   PostgreSQL: a no-op returning OK. The server keeps dead tuples until VACUUM and WAL
  //     segments as its own settings say; chukan's answer there is crypto-erasure.
  // Errors (SQLite): kUnavailable (still busy after the bound; an I/O error),
  // kFailedPrecondition (database closed). Messages name the database file.
  virtual Status EraseFreed() = 0;

  // Closes idle connections and refuses new transactions (kFailedPrecondition). Transactions
  // still open finish normally; their connections are closed when they end. Idempotent.
  virtual Status Close() = 0;

 protected:
  Database() = default;
};

// A standalone SQLite database file (the TenantStore uses this for each tenant file).
struct SqliteOptions {
  std::string path;
  // Create the file (mode 0600) if missing; otherwise a missing file is kNotFound.
  bool create = true;
  // PRAGMA synchronous=FULL (fsync at every commit) when true; NORMAL otherwise.
  bool synchronous_full = true;
  // How long to wait for a lock held by another process.
  int busy_timeout_ms = 5000;
  // Read-only connections kept for BeginRead(), opened lazily.
  int max_readers = 4;
  // Deny ATTACH/DETACH (sqlite3_set_authorizer), so this handle cannot reach another file.
  bool deny_attach = true;
  // WAL checkpoints run on a thread of the database's own, off the committing path: when a
  // commit leaves the WAL at this many pages or more, that thread copies it back into the
  // database (PASSIVE: it waits for no reader and no writer). SQLite's own auto-checkpoint
  // (the same 1000 pages) ran inside the commit that crossed the mark, so that one commit —
  // a linkage's, or the end of a million-row import, about a second — paid for everyone's.
  // 0: SQLite's own auto-checkpoint.
  int checkpoint_pages = 1000;
  // PRAGMA secure_delete on every connection, set before anything is written: SQLite overwrites
  // deleted content (cells, freed pages) with zeros instead of leaving it in free space. The
  // old page images stay in the WAL until EraseFreed() truncates it. Off only to measure its
  // cost (bench/store_bench.cc) or to show in a test what it prevents.
  bool secure_delete = true;
  // The SQLite VFS (sqlite3_vfs) every connection opens the file with; empty: SQLite's default
  // ("unix"). Tests name a fault-injecting one here (store/fault_vfs.h, FaultVfs::kName);
  // production leaves it empty. An unknown name is kInvalidArgument.
  std::string vfs;
};

// Opens (and configures: secure_delete, WAL, synchronous, busy timeout, foreign keys) a SQLite
// database.
// Errors: kNotFound (missing and !create), kUnavailable (cannot open or lock), kDataLoss (not a
// database), kInvalidArgument (bad options).
Result<std::shared_ptr<Database>> OpenSqlite(const SqliteOptions& options);

// A PostgreSQL database reached through a connection pool; optionally confined to one schema.
struct PostgresOptions {
  // libpq connection string ("host=127.0.0.1 port=5432 user=u dbname=d").
  std::string dsn;
  // When not empty, each connection runs `SET ROLE <role>`: every statement runs with that
  // role's privileges only.
  std::string role;
  // When not empty, each connection runs `SET search_path TO <schema>`, so unqualified table
  // names resolve in that schema.
  std::string schema;
  // Maximum connections (opened lazily).
  int pool_size = 4;
  // synchronous_commit on (true) or off.
  bool synchronous_commit = true;
  // How long Begin()/BeginRead() wait for a free connection before kUnavailable.
  int acquire_timeout_ms = 30000;
};

// Opens a pool and checks it by connecting once. `role` and `schema` must be plain identifiers
// ([a-z_][a-z0-9_]*). Errors: kUnavailable (cannot connect), kInvalidArgument (bad options),
// kPermissionDenied (SET ROLE refused).
Result<std::shared_ptr<Database>> OpenPostgres(const PostgresOptions& options);

}  // namespace chukan::store

#endif  // CHUKAN_STORE_DATABASE_H_
