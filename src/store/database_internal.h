// Internal to chukan_store: pieces shared by the SQLite and PostgreSQL backends. Not a public
// header; only the store's own .cc files include it.
#ifndef CHUKAN_STORE_DATABASE_INTERNAL_H_
#define CHUKAN_STORE_DATABASE_INTERNAL_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/database.h"

namespace chukan::store::internal {

// Counters shared by a database and all its transactions.
struct Counters {
  std::atomic<int64_t> prepared{0};
  std::atomic<int64_t> executed{0};
  std::atomic<int64_t> committed{0};
  std::atomic<int64_t> connections{0};
  std::atomic<int64_t> round_trips{0};
  std::atomic<int64_t> checkpoints{0};
  std::atomic<int64_t> checkpoint_errors{0};
  DatabaseStats Snapshot() const;
};

// Process-wide SQLite settings (the sub-journal spill size), applied once before SQLite
// initialises. Whoever may be first to touch SQLite in a process calls it: the SQLite backend at
// every open, the test VFS (fault_vfs.h) before it registers itself.
void ConfigureSqliteOnce();

// The first 120 bytes of `sql`, newlines folded, for error messages.
std::string SqlExcerpt(std::string_view sql);

// When the SQLite writer's WAL hook wakes the checkpoint thread: once a commit leaves the WAL at
// `mark` frames or more, and after that each time the WAL has grown by another quarter of the
// mark (or has restarted from its start since). Not at every commit past the mark: while readers
// keep the WAL from restarting it stays past the mark, and a checkpoint a commit — two fsyncs
// and the hot pages copied again each time — was 30 % of a linkage's fsyncs
// (docs/performance.md, "Statements, scans and checkpoints cut"). Used by the writer
// connection's holder only (one at a time).
class WalCheckpointTrigger {
 public:
  explicit WalCheckpointTrigger(int mark) : mark_(mark), step_(mark / 4 > 1 ? mark / 4 : 1) {}
  // The WAL holds `pages` frames after a commit; true: wake the checkpoint thread. Every commit
  // the hook sees wrote at least one frame, so a count no higher than the last one's means that
  // the WAL restarted in between. (A restart followed by a commit bigger than the WAL was is
  // seen as growth: that wake-up comes at most a quarter of the mark late.)
  bool OnCommit(int pages) {
    if (pages <= seen_) woken_at_ = 0;  // restarted: its frames count from the start again
    seen_ = pages;
    if (pages < mark_ || pages - woken_at_ < step_) return false;
    woken_at_ = pages;
    return true;
  }

 private:
  const int mark_;
  const int step_;
  int seen_ = 0;      // the WAL's frames after the last commit
  int woken_at_ = 0;  // ... after the commit that last woke the thread (0: none since a restart)
};

// True iff `name` matches [A-Za-z_][A-Za-z0-9_]{0,62}.
bool IsPlainIdentifier(std::string_view name);

// Implements the backend-independent rules of Transaction (finished/poisoned state, savepoint
// name checks, QueryOne on top of Query); backends implement the Run* hooks.
class TransactionBase : public Transaction {
 public:
  Status Exec(std::string_view sql, const std::vector<Value>& params) final;
  Result<int64_t> ExecCount(std::string_view sql, const std::vector<Value>& params) final;
  Result<std::vector<Row>> Query(std::string_view sql, const std::vector<Value>& params) final;
  Result<std::optional<Row>> QueryOne(std::string_view sql, const std::vector<Value>& params) final;
  Status ExecScript(std::string_view sql) final;
  Result<int64_t> CopyRows(std::string_view table, const std::vector<std::string>& columns,
                           const RowSupplier& next) final;
  Status Savepoint(std::string_view name) final;
  Status RollbackToSavepoint(std::string_view name) final;
  Status ReleaseSavepoint(std::string_view name) final;
  Status Commit() final;
  Status Rollback() final;
  void HoldBackExecs() override {}
  // Begin(…, lazy): the commit need not wait for the disk (Database::BeginLazy).
  void MarkLazy() { lazy_commit_ = true; }
  // From now on the transaction runs one statement at most (Database::BeginReadOnce).
  void LimitToOneStatement() { one_statement_ = true; }

 protected:
  enum class Want { kNothing, kCount, kRows };
  explicit TransactionBase(Counters* counters) : counters_(counters) {}

  // Runs one statement (prepared and cached). Fills *rows or *count per `want`.
  virtual Status Run(std::string_view sql, const std::vector<Value>& params, Want want,
                     std::vector<Row>* rows, int64_t* count) = 0;
  // Runs a parameterless script, uncached.
  virtual Status RunScript(std::string_view sql) = 0;
  // CopyRows, with the names checked; sets *written. Default: one Run of a prepared INSERT
  // (`insert`) per row.
  virtual Status RunCopy(std::string_view table, const std::vector<std::string>& columns,
                         std::string_view insert, const RowSupplier& next, int64_t* written);
  // Transaction-control statements (SAVEPOINT …); default: RunScript.
  virtual Status RunControl(std::string_view sql) { return RunScript(sql); }
  virtual Status RunCommit() = 0;
  virtual Status RunRollback() = 0;
  // After an error: true if the backend already ended the whole transaction (no savepoint can
  // recover it).
  virtual bool Lost() { return false; }
  // Called once when the transaction ends (after commit or rollback), to return the connection.
  virtual void Finish() = 0;

  // Subclass destructors call this: rolls back if still open, then Finish().
  void EndInDestructor();

  // Whether MarkLazy() was called (PostgreSQL's RunCommit reads it; SQLite set its level before
  // BEGIN).
  bool lazy_commit() const { return lazy_commit_; }

 private:
  // CheckUsable, and the one-statement limit (one SELECT): counts the statement.
  Status CheckStatement(std::string_view sql);
  Status CheckUsable() const;
  Status Track(Status s);

  Counters* counters_;
  bool finished_ = false;
  bool one_statement_ = false;
  bool lazy_commit_ = false;
  int statements_ = 0;
  Status poisoned_;
};

}  // namespace chukan::store::internal

#endif  // CHUKAN_STORE_DATABASE_INTERNAL_H_
