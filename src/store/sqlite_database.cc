// SQLite backend: one writer connection (BEGIN IMMEDIATE, serialised in-process by a flag and a
// condition variable, across processes by SQLite's lock and busy timeout) and a lazily grown set
// of read-only connections for BeginRead(). WAL journal; synchronous FULL or NORMAL.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "common/log.h"
#include "common/mutex.h"
#include "common/thread_name.h"
#include "store/database.h"
#include "store/database_internal.h"

namespace chukan::store {

namespace {
// Savepoint journals (sub-journals) kept in memory up to this size before SQLite spills them to
// an unlinked temp file. Every write the group committer runs has its own savepoint, and each
// journals the original of every page it touches: with SQLite's default (64 KiB) most spilled,
// which cost the hub more pwrite calls than its WAL did. A savepoint's journal is emptied when it
// is released, so memory is bounded by one write, and by this figure. (SQLite holds it as one
// chunk of this size, allocated at a savepoint's first write and freed at its release.)
// No larger than 0x1ffff bytes: a spill copies that chunk to the temp file in ONE write, and the
// unix VFS writes at most 17 bits' worth of bytes a call (seekAndWriteFd masks the length), so a
// larger chunk was written short and the statement failed with SQLITE_FULL, "database or disk is
// full", once its journal passed the spill size (it was 2 MiB until 2026-12-06:
// SqliteDatabaseTest.ASavepointJournalPastTheSpillSizeSpillsAndStillWrites).
constexpr int kSubJournalSpillBytes = 0x1ffff;

}  // namespace

// Process-wide SQLite settings: they must precede sqlite3_initialize(), which the first open
// performs. If SQLite was initialised by someone else first, its default stands.
// Memory statistics off: with them on (Debian's build), every sqlite3_malloc and sqlite3_free
// takes a process-wide mutex to count the bytes, and Debian's SQLite is built without lookaside,
// so each row a statement writes allocates several times (pthread_mutex_lock and unlock were
// 2.4 % of a first replica import's writing, docs/performance.md "First import"). Nothing here
// reads the statistics (sqlite3_memory_used, sqlite3_soft_heap_limit64).
void internal::ConfigureSqliteOnce() {
  [[maybe_unused]] static const int rc =
      sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, kSubJournalSpillBytes) |
      sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

namespace {

using internal::ConfigureSqliteOnce;
using internal::Counters;
using internal::SqlExcerpt;

// What an operator should read for the disk faults (docs/storage.md, "Faults and recovery"):
// SQLite's own text ("disk I/O error") does not say which operation failed.
const char* IoErrorDetail(int rc) {
  if ((rc & 0xff) == SQLITE_FULL) return "disk full: free space on the database's file system";
  switch (rc) {
    case SQLITE_IOERR_FSYNC:
    case SQLITE_IOERR_DIR_FSYNC:
      return "fsync failed: what was written may not be on the disk; check the disk";
    case SQLITE_IOERR_WRITE:
      return "write failed: check the disk";
    case SQLITE_IOERR_READ:
    case SQLITE_IOERR_SHORT_READ:
      return "read failed: check the disk";
    case SQLITE_IOERR_TRUNCATE:
      return "truncate failed";
    default:
      return nullptr;
  }
}

Status SqliteError(int rc, std::string_view what, std::string_view sql = {}) {
  std::string m = "sqlite: ";
  m += what;
  m += " (";
  m += sqlite3_errstr(rc);
  m += ", code " + std::to_string(rc);
  if (const char* detail = IoErrorDetail(rc)) {
    m += ": ";
    m += detail;
  }
  m += ")";
  if (!sql.empty()) m += " in: " + SqlExcerpt(sql);
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return AlreadyExistsError(std::move(m));
      }
      return FailedPreconditionError(std::move(m));
    case SQLITE_AUTH:
      return PermissionDeniedError(std::move(m));
    case SQLITE_READONLY:
      return FailedPreconditionError(std::move(m));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return UnavailableError(std::move(m));
    case SQLITE_ERROR:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
      return InvalidArgumentError(std::move(m));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLossError(std::move(m));
    case SQLITE_INTERRUPT:
      return CancelledError(std::move(m));
    default:
      return InternalError(std::move(m));
  }
}

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;
struct DbDeleter {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbDeleter>;

// Denies ATTACH and DETACH: a handle stays on its own file.
int DenyAttach(void*, int action, const char*, const char*, const char*, const char*) {
  return (action == SQLITE_ATTACH || action == SQLITE_DETACH) ? SQLITE_DENY : SQLITE_OK;
}

// One connection and its statement cache. Statements are finalized before the connection closes
// (member order).
struct Conn {
  DbPtr db;
  std::string path;  // the database file, named in every error
  // Looked up by the caller's string_view (transparent hash): no std::string is built from the
  // SQL per execution (a first import runs one statement a record). The hash mixes the length
  // and five 8-byte words — the first 24 bytes and the last 16 — not every byte: statements
  // differ at their start or end (the table, the columns, the conditions), and hashing all of a
  // 230-byte INSERT cost ~250 instructions a row of an import. Statements that differ only in
  // the middle share a hash, and the map's full comparison tells them apart.
  struct SqlHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept {
      if (s.size() < 24) return std::hash<std::string_view>()(s);
      auto word = [&](size_t at) {
        uint64_t w;
        std::memcpy(&w, s.data() + at, sizeof w);
        return w;
      };
      uint64_t h = s.size() * 0x9e3779b97f4a7c15ULL;
      for (const size_t at : {size_t{0}, size_t{8}, size_t{16}, s.size() - 16, s.size() - 8}) {
        h = (h ^ word(at)) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
      }
      return static_cast<size_t>(h);
    }
  };
  std::unordered_map<std::string, StmtPtr, SqlHash, std::equal_to<>> stmts;
  // The writer's synchronous level: as the database was opened (FULL unless
  // SqliteOptions::synchronous_full is false), and as it is now (NORMAL after a lazy write
  // transaction, until the next one that is not lazy sets it back before its BEGIN).
  bool opened_full = false;
  bool now_full = false;
  ~Conn() { stmts.clear(); }

  Status Error(int rc, std::string_view sql) const {
    return SqliteError(rc, path + ": " + (db ? sqlite3_errmsg(db.get()) : "no connection"), sql);
  }

  Result<sqlite3_stmt*> Prepare(std::string_view sql, Counters* counters) {
    auto it = stmts.find(sql);
    if (it != stmts.end()) return it->second.get();
    if (sql.size() > 1000000) return InvalidArgumentError("sqlite: statement too long");
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db.get(), sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &raw, &tail);
    StmtPtr stmt(raw);
    if (rc != SQLITE_OK) return Error(rc, sql);
    if (!stmt) return InvalidArgumentError("sqlite: empty statement: " + SqlExcerpt(sql));
    const size_t used = static_cast<size_t>(tail - sql.data());
    if (used < sql.size()) {
      sqlite3_stmt* extra = nullptr;
      rc = sqlite3_prepare_v2(db.get(), tail, static_cast<int>(sql.size() - used), &extra, nullptr);
      StmtPtr extra_owner(extra);
      if (rc != SQLITE_OK || extra != nullptr) {
        return InvalidArgumentError(
            "sqlite: more than one statement (use ExecScript for scripts) in: " + SqlExcerpt(sql));
      }
    }
    counters->prepared.fetch_add(1, std::memory_order_relaxed);
    sqlite3_stmt* out = stmt.get();
    stmts.emplace(std::string(sql), std::move(stmt));
    return out;
  }
};

// Resets a statement when a run ends, so it holds no lock or stale binding.
class StmtReset {
 public:
  explicit StmtReset(sqlite3_stmt* s) : s_(s) {}
  ~StmtReset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  StmtReset(const StmtReset&) = delete;
  StmtReset& operator=(const StmtReset&) = delete;

 private:
  sqlite3_stmt* s_;
};

Status Bind(sqlite3_stmt* stmt, const std::vector<Value>& params, std::string_view sql) {
  const int want = sqlite3_bind_parameter_count(stmt);
  if (static_cast<size_t>(want) != params.size()) {
    return InvalidArgumentError("sqlite: statement has " + std::to_string(want) +
                                " placeholders but " + std::to_string(params.size()) +
                                " parameters were given in: " + SqlExcerpt(sql));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const int idx = static_cast<int>(i) + 1;
    int rc = SQLITE_OK;
    const Value& v = params[i];
    if (std::holds_alternative<std::nullptr_t>(v)) {
      rc = sqlite3_bind_null(stmt, idx);
    } else if (const auto* n = std::get_if<int64_t>(&v)) {
      rc = sqlite3_bind_int64(stmt, idx, *n);
    } else if (const auto* d = std::get_if<double>(&v)) {
      rc = sqlite3_bind_double(stmt, idx, *d);
    } else if (const auto* s = std::get_if<std::string>(&v)) {
      rc = sqlite3_bind_text64(stmt, idx, s->data(), s->size(), SQLITE_STATIC, SQLITE_UTF8);
    } else if (const auto* b = std::get_if<Bytes>(&v)) {
      // A null pointer would bind NULL: an empty blob needs zeroblob(0).
      rc = b->empty() ? sqlite3_bind_zeroblob(stmt, idx, 0)
                      : sqlite3_bind_blob64(stmt, idx, b->data(), b->size(), SQLITE_STATIC);
    }
    if (rc != SQLITE_OK) {
      return SqliteError(rc, "binding parameter " + std::to_string(idx), sql);
    }
  }
  return Status();
}

Value ColumnValue(sqlite3_stmt* stmt, int col) {
  switch (sqlite3_column_type(stmt, col)) {
    case SQLITE_INTEGER:
      return static_cast<int64_t>(sqlite3_column_int64(stmt, col));
    case SQLITE_FLOAT:
      return sqlite3_column_double(stmt, col);
    case SQLITE_TEXT: {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, col));
      const int n = sqlite3_column_bytes(stmt, col);
      return std::string(p ? p : "", static_cast<size_t>(n));
    }
    case SQLITE_BLOB: {
      const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt, col));
      const int n = sqlite3_column_bytes(stmt, col);
      return p ? Bytes(p, p + n) : Bytes();
    }
    default:
      return nullptr;
  }
}

class SqlitePool;

class SqliteTransaction final : public internal::TransactionBase {
 public:
  // `reader` owns a reader connection (null for the writer, which the pool keeps owning).
  SqliteTransaction(std::shared_ptr<SqlitePool> pool, Conn* conn, std::unique_ptr<Conn> reader,
                    Counters* counters)
      : TransactionBase(counters),
        pool_(std::move(pool)),
        conn_(conn),
        reader_(std::move(reader)),
        counters_(counters) {}
  ~SqliteTransaction() override { EndInDestructor(); }

  Backend backend() const override { return Backend::kSqlite; }

 protected:
  Status Run(std::string_view sql, const std::vector<Value>& params, Want want,
             std::vector<Row>* rows, int64_t* count) override {
    ASSIGN_OR_RETURN(sqlite3_stmt * stmt, conn_->Prepare(sql, counters_));
    StmtReset reset(stmt);
    RETURN_IF_ERROR(Bind(stmt, params, sql));
    std::shared_ptr<std::vector<std::string>> names;
    for (;;) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return conn_->Error(rc, sql);
      if (want != Want::kRows) continue;
      const int n = sqlite3_column_count(stmt);
      if (!names) {
        names = std::make_shared<std::vector<std::string>>();
        for (int c = 0; c < n; ++c) {
          const char* nm = sqlite3_column_name(stmt, c);
          names->emplace_back(nm ? nm : "");
        }
      }
      std::vector<Value> values;
      values.reserve(static_cast<size_t>(n));
      for (int c = 0; c < n; ++c) values.push_back(ColumnValue(stmt, c));
      rows->emplace_back(names, std::move(values));
    }
    if (want == Want::kCount) *count = sqlite3_changes64(conn_->db.get());
    return Status();
  }

  Status RunScript(std::string_view sql) override {
    const std::string s(sql);
    char* err = nullptr;
    const int rc = sqlite3_exec(conn_->db.get(), s.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = conn_->path + ": " + (err ? err : "");
      sqlite3_free(err);
      return SqliteError(rc, msg, sql);
    }
    return Status();
  }

  Status RunControl(std::string_view sql) override {
    return Run(sql, {}, Want::kNothing, nullptr, nullptr);
  }
  Status RunCommit() override { return RunControl("COMMIT"); }
  Status RunRollback() override {
    if (sqlite3_get_autocommit(conn_->db.get())) return Status();  // already ended by SQLite
    return RunControl("ROLLBACK");
  }
  bool Lost() override { return sqlite3_get_autocommit(conn_->db.get()) != 0; }
  void Finish() override;

 private:
  std::shared_ptr<SqlitePool> pool_;
  Conn* conn_;
  std::unique_ptr<Conn> reader_;
  Counters* counters_;
};

Result<std::unique_ptr<Conn>> OpenConn(const SqliteOptions& o, bool read_only, Counters* counters) {
  ConfigureSqliteOnce();
  sqlite3* raw = nullptr;
  const int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
                    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  const int rc =
      sqlite3_open_v2(o.path.c_str(), &raw, flags, o.vfs.empty() ? nullptr : o.vfs.c_str());
  auto conn = std::make_unique<Conn>();
  conn->db.reset(raw);
  conn->path = o.path;
  if (rc != SQLITE_OK) {
    return SqliteError(rc, "cannot open " + o.path + ": " + (raw ? sqlite3_errmsg(raw) : ""));
  }
  counters->connections.fetch_add(1, std::memory_order_relaxed);
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, o.busy_timeout_ms);
  sqlite3_db_config(raw, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(raw, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  if (o.deny_attach) sqlite3_set_authorizer(raw, DenyAttach, nullptr);
  auto exec = [&](const char* sql) -> Status {
    char* err = nullptr;
    const int r = sqlite3_exec(raw, sql, nullptr, nullptr, &err);
    if (r != SQLITE_OK) {
      std::string msg = o.path + ": " + (err ? err : "");
      sqlite3_free(err);
      return SqliteError(r, msg, sql);
    }
    return Status();
  };
  // First, before anything is written (journal_mode=WAL writes a new file's header): every
  // page this connection writes from now on has its deleted content zeroed.
  RETURN_IF_ERROR(exec(o.secure_delete ? "PRAGMA secure_delete=ON" : "PRAGMA secure_delete=OFF"));
  if (!read_only) {
    // Reads the header: fails with SQLITE_NOTADB for a file that is not a database.
    RETURN_IF_ERROR(exec("PRAGMA journal_mode=WAL"));
    RETURN_IF_ERROR(
        exec(o.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
    conn->opened_full = conn->now_full = o.synchronous_full;
  }
  RETURN_IF_ERROR(exec("PRAGMA foreign_keys=ON"));
  return conn;
}

class SqlitePool : public std::enable_shared_from_this<SqlitePool> {
 public:
  explicit SqlitePool(SqliteOptions o) : options_(std::move(o)) {}
  ~SqlitePool() { StopCheckpoints(); }

  Status Init() EXCLUDES(mu_) {
    ASSIGN_OR_RETURN(std::unique_ptr<Conn> writer, OpenWriter());
    MutexLock lock(mu_);
    writer_ = std::move(writer);
    return Status();
  }

  // Waits for the writer connection and checks it out (writer_busy_).
  //
  // After a storage fault (a failed fsync or write, a full disk) the writer connection is kept,
  // deliberately: SQLite already distrusts what the fault touched — the pager drops its whole
  // cache when the failed transaction ends, the WAL index never counted the unsynced frames (the
  // next commit writes over them), and a checkpoint whose fsync failed does not advance the
  // backfill mark (the WAL keeps the frames until a later checkpoint copies and syncs them
  // again). Closing the connection instead would do harm: when it is the last one on the file
  // and the fault still holds (so its closing checkpoint fails and the WAL stays), the next open
  // rebuilds the WAL index from the WAL file and finds the failed transaction's frames complete:
  // a commit reported as failed would appear while the server runs (the frames are there:
  // SqliteCommitFaultTest.ACrashImageAfterTheFailedCommitHoldsItAllOrNothing finds them in a copy
  // of the files; kept, the next commit writes over them:
  // TheCommitFailsNamingTheFileAndTheNextOneOnTheSameHandleSucceeds).
  Result<Conn*> TakeWriter() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    while (!closed_ && writer_busy_) cv_.Wait(lock);
    if (closed_) return Closed();
    writer_busy_ = true;
    return writer_.get();
  }

  // `lazy` (Database::BeginLazy): the writer commits at synchronous=NORMAL — in WAL mode its
  // frames are written but not synced, and the next synced commit syncs them with its own. Every
  // other write transaction runs at the level the database was opened with, set again before its
  // BEGIN when a lazy one changed it, so that a commit meant to be durable never depends on an
  // earlier reset having worked. (SQLite refuses the PRAGMA inside a transaction.)
  Result<std::unique_ptr<Transaction>> Begin(bool read_only, bool one_statement = false,
                                             bool lazy = false) EXCLUDES(mu_) {
    Conn* conn = nullptr;
    std::unique_ptr<Conn> reader;
    if (!read_only) {
      ASSIGN_OR_RETURN(conn, TakeWriter());
    } else {
      MutexLock lock(mu_);
      while (!closed_ && idle_readers_.empty() && readers_open_ >= options_.max_readers) {
        cv_.Wait(lock);
      }
      if (closed_) return Closed();
      if (!idle_readers_.empty()) {
        reader = std::move(idle_readers_.back());
        idle_readers_.pop_back();
      } else {
        ++readers_open_;
        lock.Unlock();
        auto opened = OpenConn(options_, true, &counters_);
        if (!opened.ok()) {
          lock.Lock();
          --readers_open_;
          cv_.SignalAll();
          return opened.status();
        }
        reader = std::move(opened).value();
      }
      conn = reader.get();
    }
    // From here the connection is checked out: the transaction owns the return trip.
    auto txn = std::make_unique<SqliteTransaction>(shared_from_this(), conn, std::move(reader),
                                                   &counters_);
    if (one_statement) txn->LimitToOneStatement();
    if (!read_only && conn->now_full != (conn->opened_full && !lazy)) {
      const bool full = !conn->now_full;
      const char* pragma = full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
      auto set = conn->Prepare(pragma, &counters_);
      int rc = SQLITE_ERROR;
      if (set.ok()) {
        StmtReset reset(*set);
        rc = sqlite3_step(*set);
      }
      if (rc != SQLITE_DONE) {
        Status s = set.ok() ? conn->Error(rc, pragma) : set.status();
        Status ignored = txn->Rollback();  // returns the connection
        ignored.IgnoreError();
        return s;
      }
      conn->now_full = full;
    }
    if (lazy && !read_only) txn->MarkLazy();
    // Raw statement, not Exec(): a failed BEGIN must not count as a poisoned transaction.
    sqlite3_stmt* stmt = nullptr;
    auto prepared = conn->Prepare(read_only ? "BEGIN" : "BEGIN IMMEDIATE", &counters_);
    if (!prepared.ok()) return prepared.status();
    stmt = *prepared;
    int rc;
    {
      StmtReset reset(stmt);
      rc = sqlite3_step(stmt);
    }
    if (rc != SQLITE_DONE) {
      Status s = conn->Error(rc, read_only ? "BEGIN" : "BEGIN IMMEDIATE");
      Status ignored = txn->Rollback();  // returns the connection
      ignored.IgnoreError();
      return s;
    }
    return std::unique_ptr<Transaction>(std::move(txn));
  }

  // Takes back a connection: the writer when `reader` is null, else that reader.
  void Release(std::unique_ptr<Conn> reader) EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (!reader) {
      writer_busy_ = false;
      if (closed_) writer_.reset();
    } else if (closed_) {
      reader.reset();
      --readers_open_;
    } else {
      idle_readers_.push_back(std::move(reader));
    }
    cv_.SignalAll();
  }

  Status Close() EXCLUDES(mu_, ckpt_mu_) {
    {
      MutexLock lock(mu_);
      if (closed_) return Status();
      closed_ = true;
      readers_open_ -= static_cast<int>(idle_readers_.size());
      idle_readers_.clear();
      if (!writer_busy_) writer_.reset();
      cv_.SignalAll();
    }
    StopCheckpoints();
    return Status();
  }

  DatabaseStats stats() const { return counters_.Snapshot(); }

  // Database::EraseFreed on the writer connection, taken as Begin() takes it.
  Status EraseFreed() EXCLUDES(mu_) {
    ASSIGN_OR_RETURN(Conn * conn, TakeWriter());
    Status s = TruncateWal(conn->db.get());
    Release(nullptr);
    return s;
  }

 private:
  // A TRUNCATE checkpoint, retried while SQLITE_BUSY until busy_timeout_ms have passed. The
  // busy handler covers the waits for readers and writers, but another checkpointer (the
  // checkpoint thread, another process) makes it fail at once; hence the loop, with short busy
  // timeouts so that the whole stays within the bound.
  Status TruncateWal(sqlite3* db) {
    using SteadyClock = std::chrono::steady_clock;
    constexpr int64_t kStepMs = 50;
    const auto deadline = SteadyClock::now() + std::chrono::milliseconds(options_.busy_timeout_ms);
    int rc = SQLITE_OK;
    int wal_frames = -1;
    int copied_frames = -1;
    for (;;) {
      const int64_t left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now())
              .count();
      sqlite3_busy_timeout(db, static_cast<int>(std::clamp<int64_t>(left, 0, kStepMs)));
      rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_TRUNCATE, &wal_frames,
                                     &copied_frames);
      if ((rc & 0xff) != SQLITE_BUSY || SteadyClock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // not a hot spin
    }
    sqlite3_busy_timeout(db, options_.busy_timeout_ms);
    if ((rc & 0xff) == SQLITE_BUSY) {
      return SqliteError(rc, "erase " + options_.path + ": the WAL was not truncated within " +
                                 std::to_string(options_.busy_timeout_ms) +
                                 " ms (another connection holds a lock: a reader on an old "
                                 "snapshot?); deleted content may remain in " +
                                 options_.path + "-wal");
    }
    if (rc != SQLITE_OK) {
      return SqliteError(
          rc, "erase " + options_.path + ": truncating checkpoint failed: " + sqlite3_errmsg(db));
    }
    if (wal_frames > 0) {  // TRUNCATE leaves an empty WAL: this would be SQLite breaking it
      return InternalError("sqlite: erase " + options_.path + ": the WAL still holds " +
                           std::to_string(wal_frames) + " frames after a truncating checkpoint");
    }
    return Status();
  }

  // A writer connection: the checkpoint thread is told of commits through its WAL hook.
  Result<std::unique_ptr<Conn>> OpenWriter() {
    ASSIGN_OR_RETURN(std::unique_ptr<Conn> writer, OpenConn(options_, false, &counters_));
    if (options_.checkpoint_pages > 0) {
      // Replaces SQLite's auto-checkpoint on this connection (sqlite3_wal_autocheckpoint is a
      // WAL hook too): the hook only tells the checkpoint thread.
      sqlite3_wal_hook(writer->db.get(), &SqlitePool::OnWalCommit, this);
    }
    return writer;
  }

  Status Closed() const {
    return FailedPreconditionError("sqlite: database " + options_.path + " is closed");
  }

  // The WAL hook of the writer connection: runs on the committing thread, after the commit
  // (its data is durable), with the WAL's size in pages. Wakes the checkpoint thread (started
  // on the first call) when the WAL has reached checkpoint_pages, and again each time it has
  // grown by a quarter of that (WalCheckpointTrigger); never waits for it.
  static int OnWalCommit(void* self, sqlite3* /*db*/, const char* /*name*/, int pages) {
    auto* pool = static_cast<SqlitePool*>(self);
    if (pool->ckpt_trigger_.OnCommit(pages)) pool->RequestCheckpoint();
    return SQLITE_OK;
  }

  void RequestCheckpoint() EXCLUDES(ckpt_mu_) {
    MutexLock lock(ckpt_mu_);
    if (ckpt_stop_) return;
    ckpt_wanted_ = true;
    if (!ckpt_thread_.joinable()) {
      ckpt_thread_ = std::thread([this] {
        NameThisThread("wal-checkpoint");
        CheckpointLoop();
      });
    }
    ckpt_cv_.SignalAll();
  }

  // The checkpoint thread: one PASSIVE checkpoint per wake-up, on a connection of its own (it
  // copies committed pages back into the database while readers and the writer go on).
  void CheckpointLoop() EXCLUDES(ckpt_mu_) {
    std::unique_ptr<Conn> conn;
    MutexLock lock(ckpt_mu_);
    for (;;) {
      while (!ckpt_stop_ && !ckpt_wanted_) ckpt_cv_.Wait(lock);
      if (ckpt_stop_) break;
      ckpt_wanted_ = false;
      lock.Unlock();
      if (!conn) {
        // Not a reader: a checkpoint writes the database file. Opening it again cannot fail
        // for long (the writer has it open); when it does, the next commit's wake-up retries.
        Result<std::unique_ptr<Conn>> opened = OpenConn(options_, false, &counters_);
        if (opened.ok()) {
          conn = std::move(opened).value();
        } else {
          // Logged before it is counted: whoever watches the counter (a test) then finds the
          // line written.
          log::Warn("store.sqlite_checkpoint_failed",
                    {{"path", options_.path}, log::StatusField(opened.status())});
          counters_.checkpoint_errors.fetch_add(1, std::memory_order_relaxed);
        }
      }
      if (conn) {
        // SQLITE_BUSY (a writer restarting the WAL meanwhile) only means "later": the next
        // commit past the mark wakes this thread again.
        const int rc = sqlite3_wal_checkpoint_v2(conn->db.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                                 nullptr, nullptr);
        counters_.checkpoints.fetch_add(1, std::memory_order_relaxed);
        if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY) {
          // A failed write or fsync of the database file: the WAL keeps every frame (the backfill
          // mark only moves once the database file is synced), so nothing is lost; a later
          // wake-up copies them again. The operator sees this line (the file and the cause).
          log::Warn("store.sqlite_checkpoint_failed",
                    {{"path", options_.path},
                     log::StatusField(conn->Error(rc, "PRAGMA wal_checkpoint(PASSIVE)"))});
          counters_.checkpoint_errors.fetch_add(1, std::memory_order_relaxed);  // after the log
        }
      }
      lock.Lock();
    }
    lock.Unlock();
    conn.reset();
  }

  // Stops the checkpoint thread after its checkpoint in progress, if any. Idempotent.
  void StopCheckpoints() EXCLUDES(ckpt_mu_) {
    std::thread t;
    {
      MutexLock lock(ckpt_mu_);
      ckpt_stop_ = true;
      t = std::move(ckpt_thread_);
    }
    ckpt_cv_.SignalAll();
    if (t.joinable()) t.join();
  }

  const SqliteOptions options_;
  Counters counters_;
  Mutex ckpt_mu_;
  CondVar ckpt_cv_;
  bool ckpt_stop_ GUARDED_BY(ckpt_mu_) = false;
  bool ckpt_wanted_ GUARDED_BY(ckpt_mu_) = false;
  // Used by the WAL hook, i.e. by whoever holds the writer connection.
  internal::WalCheckpointTrigger ckpt_trigger_{options_.checkpoint_pages};
  std::thread ckpt_thread_ GUARDED_BY(ckpt_mu_);
  Mutex mu_;
  CondVar cv_;
  bool closed_ GUARDED_BY(mu_) = false;
  bool writer_busy_ GUARDED_BY(mu_) = false;
  // The pointer is guarded; the connection it owns is used by whoever set writer_busy_.
  std::unique_ptr<Conn> writer_ GUARDED_BY(mu_);
  std::deque<std::unique_ptr<Conn>> idle_readers_ GUARDED_BY(mu_);
  int readers_open_ GUARDED_BY(mu_) = 0;
};

void SqliteTransaction::Finish() { pool_->Release(std::move(reader_)); }

class SqliteDatabase final : public Database {
 public:
  explicit SqliteDatabase(std::shared_ptr<SqlitePool> pool) : pool_(std::move(pool)) {}
  ~SqliteDatabase() override { pool_->Close().IgnoreError(); }  // Close() cannot fail
  Backend backend() const override { return Backend::kSqlite; }
  Result<std::unique_ptr<Transaction>> Begin() override { return pool_->Begin(false); }
  Result<std::unique_ptr<Transaction>> BeginLazy() override {
    return pool_->Begin(false, false, /*lazy=*/true);
  }
  Result<std::unique_ptr<Transaction>> BeginRead() override { return pool_->Begin(true); }
  Result<std::unique_ptr<Transaction>> BeginReadOnce() override {
    return pool_->Begin(true, /*one_statement=*/true);
  }
  DatabaseStats stats() const override { return pool_->stats(); }
  Status EraseFreed() override { return pool_->EraseFreed(); }
  Status Close() override { return pool_->Close(); }

 private:
  std::shared_ptr<SqlitePool> pool_;
};

}  // namespace

Result<std::shared_ptr<Database>> OpenSqlite(const SqliteOptions& options) {
  if (options.path.empty()) return InvalidArgumentError("sqlite: empty database path");
  if (options.max_readers < 1 || options.busy_timeout_ms < 0 || options.checkpoint_pages < 0) {
    return InvalidArgumentError(
        "sqlite: max_readers must be >= 1, busy_timeout_ms and checkpoint_pages >= 0");
  }
  if (!options.vfs.empty()) {
    ConfigureSqliteOnce();  // sqlite3_vfs_find initialises SQLite
    if (sqlite3_vfs_find(options.vfs.c_str()) == nullptr) {
      return InvalidArgumentError("sqlite: no VFS named \"" + options.vfs + "\" is registered");
    }
  }
  struct stat st;
  if (::stat(options.path.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return UnavailableError("sqlite: " + options.path + ": " + std::strerror(errno));
    }
    if (!options.create) return NotFoundError("sqlite: no database at " + options.path);
    // Create it ourselves so it is 0600 whatever the umask; SQLite gives -wal/-shm the same mode.
    const int fd = ::open(options.path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) {
      return UnavailableError("sqlite: cannot create " + options.path + ": " +
                              std::strerror(errno));
    }
    if (fd >= 0) ::close(fd);
  }
  auto pool = std::make_shared<SqlitePool>(options);
  RETURN_IF_ERROR(pool->Init());
  return std::shared_ptr<Database>(std::make_shared<SqliteDatabase>(std::move(pool)));
}

}  // namespace chukan::store
