#include "store/database.h"

#include <algorithm>

#include "common/log.h"
#include "store/database_internal.h"

namespace chukan::store {

std::string_view BackendName(Backend b) { return b == Backend::kSqlite ? "sqlite" : "postgres"; }

namespace internal {

DatabaseStats Counters::Snapshot() const {
  DatabaseStats s;
  s.statements_prepared = prepared.load();
  s.statements_executed = executed.load();
  s.transactions_committed = committed.load();
  s.connections_opened = connections.load();
  s.round_trips = round_trips.load();
  s.checkpoints = checkpoints.load();
  s.checkpoint_errors = checkpoint_errors.load();
  return s;
}

std::string SqlExcerpt(std::string_view sql) {
  std::string out;
  for (char c : sql.substr(0, 120)) out.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
  if (sql.size() > 120) out += "...";
  return out;
}

bool IsPlainIdentifier(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

Status TransactionBase::CheckUsable() const {
  if (finished_) return FailedPreconditionError("store: the transaction has already ended");
  if (!poisoned_.ok()) {
    return AbortedError("store: transaction aborted by an earlier error: " + poisoned_.message());
  }
  return Status();
}

Status TransactionBase::CheckStatement(std::string_view sql) {
  RETURN_IF_ERROR(CheckUsable());
  if (one_statement_) {
    if (statements_ > 0) {
      return FailedPreconditionError(
          "store: a transaction of BeginReadOnce() runs one statement; use BeginRead() for more");
    }
    // PostgreSQL runs it with no READ ONLY transaction around it: only a SELECT is let through.
    if (!sql.starts_with("SELECT ")) {
      return InvalidArgumentError("store: a transaction of BeginReadOnce() runs a SELECT, not: " +
                                  SqlExcerpt(sql));
    }
  }
  ++statements_;
  return Status();
}

namespace {

// The operator's view of a storage fault: a failed fsync or write, a full disk, a lost
// connection, a corrupt file. The caller gets the error too (and the client a 503), but the
// server log is where an operator looks; the message names the file or the connection's fault
// and at most an excerpt of the SQL, never parameters.
void LogStorageFault(std::string_view event, Backend backend, const Status& s) {
  if (s.code() != StatusCode::kUnavailable && s.code() != StatusCode::kDataLoss) return;
  log::Warn(event, {{"backend", BackendName(backend)}, log::StatusField(s)});
}

}  // namespace

Status TransactionBase::Track(Status s) {
  if (!s.ok() && poisoned_.ok()) {
    poisoned_ = s;
    LogStorageFault("store.statement_failed", backend(), s);
  }
  return s;
}

Status TransactionBase::Exec(std::string_view sql, const std::vector<Value>& params) {
  RETURN_IF_ERROR(CheckStatement(sql));
  counters_->executed.fetch_add(1, std::memory_order_relaxed);
  return Track(Run(sql, params, Want::kNothing, nullptr, nullptr));
}

Result<int64_t> TransactionBase::ExecCount(std::string_view sql, const std::vector<Value>& params) {
  RETURN_IF_ERROR(CheckStatement(sql));
  counters_->executed.fetch_add(1, std::memory_order_relaxed);
  int64_t count = 0;
  RETURN_IF_ERROR(Track(Run(sql, params, Want::kCount, nullptr, &count)));
  return count;
}

Result<std::vector<Row>> TransactionBase::Query(std::string_view sql,
                                                const std::vector<Value>& params) {
  RETURN_IF_ERROR(CheckStatement(sql));
  counters_->executed.fetch_add(1, std::memory_order_relaxed);
  std::vector<Row> rows;
  RETURN_IF_ERROR(Track(Run(sql, params, Want::kRows, &rows, nullptr)));
  return rows;
}

Result<std::optional<Row>> TransactionBase::QueryOne(std::string_view sql,
                                                     const std::vector<Value>& params) {
  ASSIGN_OR_RETURN(std::vector<Row> rows, Query(sql, params));
  if (rows.empty()) return std::optional<Row>();
  if (rows.size() > 1) {
    return Track(FailedPreconditionError("store: expected at most one row, got " +
                                         std::to_string(rows.size()) + " in: " + SqlExcerpt(sql)));
  }
  return std::optional<Row>(std::move(rows[0]));
}

Status TransactionBase::ExecScript(std::string_view sql) {
  RETURN_IF_ERROR(CheckStatement(sql));
  return Track(RunScript(sql));
}

Result<int64_t> TransactionBase::CopyRows(std::string_view table,
                                          const std::vector<std::string>& columns,
                                          const RowSupplier& next) {
  if (!IsPlainIdentifier(table) || columns.empty() ||
      !std::all_of(columns.begin(), columns.end(),
                   [](const std::string& c) { return IsPlainIdentifier(c); })) {
    return InvalidArgumentError("store: copy: table and columns must be plain identifiers");
  }
  std::string insert = "INSERT INTO " + std::string(table) + " (";
  std::string values = ") VALUES (";
  for (size_t i = 0; i < columns.size(); ++i) {
    insert += (i == 0 ? "" : ", ") + columns[i];
    values += i == 0 ? "?" : ", ?";
  }
  insert += values + ")";
  // Checked as that statement would be (a BeginReadOnce transaction runs a SELECT only).
  RETURN_IF_ERROR(CheckStatement(insert));
  counters_->executed.fetch_add(1, std::memory_order_relaxed);
  int64_t written = 0;
  RETURN_IF_ERROR(Track(RunCopy(table, columns, insert, next, &written)));
  return written;
}

Status TransactionBase::RunCopy(std::string_view, const std::vector<std::string>& columns,
                                std::string_view insert, const RowSupplier& next,
                                int64_t* written) {
  std::vector<Value> row;
  for (*written = 0;; ++*written) {
    row.clear();
    ASSIGN_OR_RETURN(const bool more, next(row));
    if (!more) return Status();
    if (row.size() != columns.size()) {
      return InvalidArgumentError("store: copy: a row has " + std::to_string(row.size()) +
                                  " values for " + std::to_string(columns.size()) + " columns");
    }
    RETURN_IF_ERROR(Run(insert, row, Want::kNothing, nullptr, nullptr));
  }
}

Status TransactionBase::Savepoint(std::string_view name) {
  if (!IsPlainIdentifier(name)) return InvalidArgumentError("store: bad savepoint name");
  RETURN_IF_ERROR(CheckUsable());
  return Track(RunControl("SAVEPOINT " + std::string(name)));
}

Status TransactionBase::ReleaseSavepoint(std::string_view name) {
  if (!IsPlainIdentifier(name)) return InvalidArgumentError("store: bad savepoint name");
  RETURN_IF_ERROR(CheckUsable());
  return Track(RunControl("RELEASE SAVEPOINT " + std::string(name)));
}

Status TransactionBase::RollbackToSavepoint(std::string_view name) {
  if (!IsPlainIdentifier(name)) return InvalidArgumentError("store: bad savepoint name");
  if (finished_) return FailedPreconditionError("store: the transaction has already ended");
  if (!poisoned_.ok() && Lost()) {
    return AbortedError("store: the transaction was ended by an earlier error: " +
                        poisoned_.message());
  }
  Status s = RunControl("ROLLBACK TO SAVEPOINT " + std::string(name));
  if (s.ok()) {
    poisoned_ = Status();
  } else if (poisoned_.ok()) {
    poisoned_ = s;
  }
  return s;
}

Status TransactionBase::Commit() {
  if (finished_) return FailedPreconditionError("store: the transaction has already ended");
  if (!poisoned_.ok()) {
    Status first = poisoned_;
    RunRollback().IgnoreError();  // the first error is what the caller needs to see
    finished_ = true;
    Finish();
    return first;
  }
  Status s = RunCommit();
  if (!s.ok()) {
    LogStorageFault("store.commit_failed", backend(), s);
    RunRollback().IgnoreError();  // report the commit error, not the cleanup's
  }
  if (s.ok()) counters_->committed.fetch_add(1, std::memory_order_relaxed);
  finished_ = true;
  Finish();
  return s;
}

Status TransactionBase::Rollback() {
  if (finished_) return Status();
  Status s = RunRollback();
  finished_ = true;
  Finish();
  return s;
}

void TransactionBase::EndInDestructor() {
  if (finished_) return;
  // A destructor cannot report; a failed rollback leaves the connection to be discarded by the
  // backend (it checks the connection state in Finish()).
  RunRollback().IgnoreError();
  finished_ = true;
  Finish();
}

}  // namespace internal
}  // namespace chukan::store
