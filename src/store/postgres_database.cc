// PostgreSQL backend (libpq): a bounded, lazily filled pool of connections, each optionally
// confined by SET ROLE / SET search_path, each with its own prepared-statement cache. Parameters
// go as text, except byte strings, which go in binary; results come back as text and are typed
// by the column's type OID (docs/storage.md).
#include <libpq-fe.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <unordered_map>

#include "common/mutex.h"
#include "store/database.h"
#include "store/database_internal.h"
#include "store/placeholders.h"

namespace chukan::store {
namespace {

using internal::Counters;
using internal::SqlExcerpt;

// Type OIDs (pg_type.h, stable across releases).
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kOidOid = 26;
constexpr Oid kFloat4Oid = 700;
constexpr Oid kFloat8Oid = 701;
constexpr Oid kNumericOid = 1700;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;
struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnDeleter>;

StatusCode CodeForSqlState(std::string_view st) {
  if (st == "23505") return StatusCode::kAlreadyExists;
  if (st == "42501") return StatusCode::kPermissionDenied;
  if (st == "42710" || st == "42P06" || st == "42P07") return StatusCode::kAlreadyExists;
  if (st == "25006") return StatusCode::kFailedPrecondition;  // read-only transaction
  if (st == "25P02" || st == "40001" || st == "40P01") return StatusCode::kAborted;
  if (st == "57014") return StatusCode::kCancelled;
  if (st == "55P03") return StatusCode::kUnavailable;
  if (st == "XX001" || st == "XX002") return StatusCode::kDataLoss;
  const std::string_view cls = st.substr(0, 2);
  if (cls == "23") return StatusCode::kFailedPrecondition;
  if (cls == "42" || cls == "22" || cls == "3F" || cls == "34" || cls == "26") {
    return StatusCode::kInvalidArgument;
  }
  if (cls == "08" || cls == "53" || cls == "57") return StatusCode::kUnavailable;
  return StatusCode::kInternal;
}

// libpq's message on one line: its own text spans lines ("server closed the connection
// unexpectedly\n\tThis probably means …"), which would split a log entry.
std::string TrimNewline(const char* s) {
  std::string m;
  for (const char* p = s ? s : ""; *p != '\0'; ++p) {
    if (*p == '\n' || *p == '\t' || *p == '\r') {
      if (!m.empty() && m.back() != ' ') m.push_back(' ');
    } else {
      m.push_back(*p);
    }
  }
  while (!m.empty() && m.back() == ' ') m.pop_back();
  return m;
}

Status ResultError(PGconn* conn, const PGresult* res, std::string_view sql) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string msg = "postgres: ";
  msg += TrimNewline(res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
  if (msg == "postgres: ") msg += TrimNewline(PQerrorMessage(conn));
  if (state) msg += std::string(" (SQLSTATE ") + state + ")";
  if (!sql.empty()) msg += " in: " + SqlExcerpt(sql);
  StatusCode code = state ? CodeForSqlState(state) : StatusCode::kUnavailable;
  if (!state && PQstatus(conn) == CONNECTION_OK) code = StatusCode::kInternal;
  return Status(code, std::move(msg));
}

// Decodes PostgreSQL's hex bytea output ("\x0a0b…").
Result<Bytes> DecodeByteaHex(const char* s, size_t n) {
  if (n < 2 || s[0] != '\\' || s[1] != 'x' || (n % 2) != 0) {
    return InternalError("postgres: unexpected bytea text (is bytea_output=hex?)");
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Bytes out;
  out.reserve((n - 2) / 2);
  for (size_t i = 2; i < n; i += 2) {
    const int hi = nibble(s[i]);
    const int lo = nibble(s[i + 1]);
    if (hi < 0 || lo < 0) return InternalError("postgres: bad hex in bytea text");
    out.push_back(static_cast<uint8_t>(hi * 16 + lo));
  }
  return out;
}

Result<Value> CellValue(const PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) return Value(nullptr);
  const char* s = PQgetvalue(res, row, col);
  const size_t n = static_cast<size_t>(PQgetlength(res, row, col));
  switch (PQftype(res, col)) {
    case kInt2Oid:
    case kInt4Oid:
    case kInt8Oid:
    case kOidOid: {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(s, s + n, v);
      if (ec != std::errc() || p != s + n) return InternalError("postgres: bad integer text");
      return Value(v);
    }
    case kBoolOid:
      return Value(static_cast<int64_t>(n == 1 && s[0] == 't' ? 1 : 0));
    case kNumericOid: {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(s, s + n, v);
      if (ec == std::errc() && p == s + n) return Value(v);
      [[fallthrough]];
    }
    case kFloat4Oid:
    case kFloat8Oid: {
      const std::string_view t(s, n);
      if (t == "NaN") return Value(std::nan(""));
      if (t == "Infinity") return Value(HUGE_VAL);
      if (t == "-Infinity") return Value(-HUGE_VAL);
      double d = 0;
      auto [p, ec] = std::from_chars(s, s + n, d);
      if (ec != std::errc() || p != s + n) return InternalError("postgres: bad number text");
      return Value(d);
    }
    case kByteaOid: {
      ASSIGN_OR_RETURN(Bytes b, DecodeByteaHex(s, n));
      return Value(std::move(b));
    }
    default:
      return Value(std::string(s, n));
  }
}

struct PgStmt {
  std::string name;
  int parameters = 0;
};

struct Conn {
  ConnPtr pg;
  std::unordered_map<std::string, PgStmt> stmts;
  int next_stmt = 0;
  bool reused = false;  // it has been idle in the pool (and may have been cut meanwhile)
  bool broken() const { return PQstatus(pg.get()) != CONNECTION_OK; }
};

void IgnoreNotice(void*, const char*) {}

class PgPool;

class PgTransaction final : public internal::TransactionBase {
 public:
  PgTransaction(std::shared_ptr<PgPool> pool, std::unique_ptr<Conn> conn, Counters* counters)
      : TransactionBase(counters),
        pool_(std::move(pool)),
        conn_(std::move(conn)),
        counters_(counters) {}
  ~PgTransaction() override { EndInDestructor(); }
  Backend backend() const override { return Backend::kPostgres; }

  // Runs a parameterless statement through the simple protocol.
  Status Simple(std::string_view sql, std::string* command_status = nullptr) {
    const std::string s(sql);
    ResultPtr res(PQexec(conn_->pg.get(), s.c_str()));
    const ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
      return ResultError(conn_->pg.get(), res.get(), sql);
    }
    if (command_status) *command_status = PQcmdStatus(res.get());
    return Status();
  }

 protected:
  Status Run(std::string_view sql, const std::vector<Value>& params, Want want,
             std::vector<Row>* rows, int64_t* count) override {
    PGconn* pg = conn_->pg.get();
    auto it = conn_->stmts.find(std::string(sql));
    if (it == conn_->stmts.end()) {
      ASSIGN_OR_RETURN(RewrittenSql rw, RewritePlaceholders(sql));
      PgStmt stmt{"chukan_" + std::to_string(conn_->next_stmt++), rw.parameters};
      ResultPtr res(PQprepare(pg, stmt.name.c_str(), rw.sql.c_str(), 0, nullptr));
      if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
        return ResultError(pg, res.get(), sql);
      }
      counters_->prepared.fetch_add(1, std::memory_order_relaxed);
      it = conn_->stmts.emplace(std::string(sql), std::move(stmt)).first;
    }
    const PgStmt& stmt = it->second;
    if (static_cast<size_t>(stmt.parameters) != params.size()) {
      return InvalidArgumentError("postgres: statement has " + std::to_string(stmt.parameters) +
                                  " placeholders but " + std::to_string(params.size()) +
                                  " parameters were given in: " + SqlExcerpt(sql));
    }
    const size_t n = params.size();
    std::vector<std::string> text(n);
    std::vector<const char*> values(n, nullptr);
    std::vector<int> lengths(n, 0);
    std::vector<int> formats(n, 0);
    static const char kEmpty[1] = {0};
    for (size_t i = 0; i < n; ++i) {
      const Value& v = params[i];
      if (std::holds_alternative<std::nullptr_t>(v)) continue;  // NULL: values[i] stays null
      if (const auto* iv = std::get_if<int64_t>(&v)) {
        text[i] = std::to_string(*iv);
      } else if (const auto* dv = std::get_if<double>(&v)) {
        if (std::isnan(*dv)) {
          text[i] = "NaN";
        } else if (std::isinf(*dv)) {
          text[i] = *dv > 0 ? "Infinity" : "-Infinity";
        } else {
          char buf[64];
          auto [p, ec] = std::to_chars(buf, buf + sizeof buf, *dv);
          text[i].assign(buf, static_cast<size_t>(p - buf));
        }
      } else if (const auto* sv = std::get_if<std::string>(&v)) {
        if (sv->find('\0') != std::string::npos) {
          return InvalidArgumentError("postgres: text parameter " + std::to_string(i + 1) +
                                      " contains a NUL byte");
        }
        values[i] = sv->c_str();
        continue;
      } else if (const auto* bv = std::get_if<Bytes>(&v)) {
        if (bv->size() > 0x7fffffff) return InvalidArgumentError("postgres: blob too large");
        values[i] = bv->empty() ? kEmpty : reinterpret_cast<const char*>(bv->data());
        lengths[i] = static_cast<int>(bv->size());
        formats[i] = 1;
        continue;
      }
      values[i] = text[i].c_str();
    }
    ResultPtr res(PQexecPrepared(pg, stmt.name.c_str(), static_cast<int>(n), values.data(),
                                 lengths.data(), formats.data(), 0));
    const ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return ResultError(pg, res.get(), sql);
    if (want == Want::kCount) {
      const char* c = PQcmdTuples(res.get());
      int64_t v = 0;
      if (c && *c) std::from_chars(c, c + std::strlen(c), v);
      *count = v;
    } else if (want == Want::kRows) {
      const int nrows = PQntuples(res.get());
      const int ncols = PQnfields(res.get());
      auto names = std::make_shared<std::vector<std::string>>();
      for (int c = 0; c < ncols; ++c) names->emplace_back(PQfname(res.get(), c));
      rows->reserve(static_cast<size_t>(nrows));
      for (int r = 0; r < nrows; ++r) {
        std::vector<Value> vals;
        vals.reserve(static_cast<size_t>(ncols));
        for (int c = 0; c < ncols; ++c) {
          ASSIGN_OR_RETURN(Value v, CellValue(res.get(), r, c));
          vals.push_back(std::move(v));
        }
        rows->emplace_back(names, std::move(vals));
      }
    }
    return Status();
  }

  Status RunScript(std::string_view sql) override { return Simple(sql); }

  Status RunCommit() override {
    std::string tag;
    Status s = Simple("COMMIT", &tag);
    if (!s.ok() && conn_->broken()) {
      // The server may have committed before the connection went: only a read can tell.
      return UnavailableError(
          "postgres: the connection was lost during COMMIT; whether the transaction committed "
          "is unknown: " +
          s.message());
    }
    RETURN_IF_ERROR(s);
    // COMMIT of a transaction the server already aborted answers ROLLBACK, not an error.
    if (tag != "COMMIT") return AbortedError("postgres: the server rolled the transaction back");
    return Status();
  }
  Status RunRollback() override { return Simple("ROLLBACK"); }
  void Finish() override;

 public:
  bool ConnectionLost() const { return conn_ && conn_->broken(); }
  bool ConnectionReused() const { return conn_ && conn_->reused; }

 private:
  std::shared_ptr<PgPool> pool_;
  std::unique_ptr<Conn> conn_;
  Counters* counters_;
};

class PgPool : public std::enable_shared_from_this<PgPool> {
 public:
  explicit PgPool(PostgresOptions o) : options_(std::move(o)) {}

  Result<std::unique_ptr<Conn>> Connect() {
    auto conn = std::make_unique<Conn>();
    conn->pg.reset(PQconnectdb(options_.dsn.c_str()));
    if (!conn->pg) return UnavailableError("postgres: out of memory connecting");
    if (PQstatus(conn->pg.get()) != CONNECTION_OK) {
      return UnavailableError("postgres: cannot connect: " +
                              TrimNewline(PQerrorMessage(conn->pg.get())));
    }
    counters_.connections.fetch_add(1, std::memory_order_relaxed);
    PQsetNoticeProcessor(conn->pg.get(), IgnoreNotice, nullptr);
    std::string setup = "SET client_min_messages TO warning; SET bytea_output TO hex;";
    if (!options_.synchronous_commit) setup += " SET synchronous_commit TO off;";
    if (!options_.role.empty()) setup += " SET ROLE " + options_.role + ";";
    if (!options_.schema.empty()) setup += " SET search_path TO " + options_.schema + ";";
    ResultPtr res(PQexec(conn->pg.get(), setup.c_str()));
    if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
      return ResultError(conn->pg.get(), res.get(), "connection setup");
    }
    return conn;
  }

  Result<std::unique_ptr<Transaction>> Begin(bool read_only) {
    const char* begin = read_only ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN";
    // An idle pooled connection may have been cut (a server restart, a failover, a network
    // cut), which only shows when it is used; a restart cuts all of them at once. So a BEGIN
    // that finds its pooled connection dead is tried again — each try drops one dead
    // connection, so this ends with a fresh connection at the latest (whose failure is
    // reported). Bounded by the pool size, in case the server answers oddly.
    for (int attempt = 0;; ++attempt) {
      ASSIGN_OR_RETURN(std::unique_ptr<Conn> conn, Acquire());
      auto txn = std::make_unique<PgTransaction>(shared_from_this(), std::move(conn), &counters_);
      Status s = txn->Simple(begin);
      if (s.ok()) return std::unique_ptr<Transaction>(std::move(txn));
      const bool retry = s.code() == StatusCode::kUnavailable && txn->ConnectionReused() &&
                         txn->ConnectionLost() && attempt < options_.pool_size;
      txn.reset();  // returns (or discards, if broken) the connection
      if (!retry) return s;
    }
  }

  Result<std::unique_ptr<Conn>> Acquire() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.acquire_timeout_ms);
    while (!closed_ && idle_.empty() && open_ >= options_.pool_size) {
      if (!cv_.WaitUntil(lock, deadline)) break;
    }
    const bool ready = closed_ || !idle_.empty() || open_ < options_.pool_size;
    if (closed_) return FailedPreconditionError("postgres: database handle is closed");
    if (!ready) {
      return UnavailableError("postgres: all " + std::to_string(options_.pool_size) +
                              " pooled connections busy for " +
                              std::to_string(options_.acquire_timeout_ms) + " ms");
    }
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
    ++open_;
    lock.Unlock();
    auto conn = Connect();
    if (!conn.ok()) {
      lock.Lock();
      --open_;
      cv_.Signal();
    }
    return conn;
  }

  void Release(std::unique_ptr<Conn> conn) EXCLUDES(mu_) {
    std::unique_ptr<Conn> discard;
    {
      MutexLock lock(mu_);
      if (closed_ || conn->broken() || PQtransactionStatus(conn->pg.get()) != PQTRANS_IDLE) {
        discard = std::move(conn);
        --open_;
      } else {
        conn->reused = true;
        idle_.push_back(std::move(conn));
      }
      cv_.Signal();
    }
  }

  Status Close() EXCLUDES(mu_) {
    std::deque<std::unique_ptr<Conn>> discard;
    {
      MutexLock lock(mu_);
      if (closed_) return Status();
      closed_ = true;
      open_ -= static_cast<int>(idle_.size());
      discard.swap(idle_);
      cv_.SignalAll();
    }
    return Status();
  }

  DatabaseStats stats() const { return counters_.Snapshot(); }

 private:
  const PostgresOptions options_;
  Counters counters_;
  Mutex mu_;
  CondVar cv_;
  bool closed_ GUARDED_BY(mu_) = false;
  std::deque<std::unique_ptr<Conn>> idle_ GUARDED_BY(mu_);
  int open_ GUARDED_BY(mu_) = 0;
};

void PgTransaction::Finish() { pool_->Release(std::move(conn_)); }

class PgDatabase final : public Database {
 public:
  explicit PgDatabase(std::shared_ptr<PgPool> pool) : pool_(std::move(pool)) {}
  ~PgDatabase() override { pool_->Close().IgnoreError(); }  // Close() cannot fail
  Backend backend() const override { return Backend::kPostgres; }
  Result<std::unique_ptr<Transaction>> Begin() override { return pool_->Begin(false); }
  Result<std::unique_ptr<Transaction>> BeginRead() override { return pool_->Begin(true); }
  DatabaseStats stats() const override { return pool_->stats(); }
  // Nothing a client can force: dead tuples stay until VACUUM and WAL segments as the server's
  // settings say (database.h). Crypto-erasure covers what they keep.
  Status EraseFreed() override { return Status(); }
  Status Close() override { return pool_->Close(); }

 private:
  std::shared_ptr<PgPool> pool_;
};

bool IsLowerIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (!((c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9'))) return false;
  }
  return true;
}

}  // namespace

Result<std::shared_ptr<Database>> OpenPostgres(const PostgresOptions& options) {
  if (options.dsn.empty()) return InvalidArgumentError("postgres: empty connection string");
  if (options.pool_size < 1 || options.acquire_timeout_ms < 0) {
    return InvalidArgumentError("postgres: pool_size must be >= 1, acquire_timeout_ms >= 0");
  }
  if ((!options.role.empty() && !IsLowerIdentifier(options.role)) ||
      (!options.schema.empty() && !IsLowerIdentifier(options.schema))) {
    return InvalidArgumentError("postgres: role and schema must match [a-z_][a-z0-9_]*");
  }
  auto pool = std::make_shared<PgPool>(options);
  // Connect once now, so a wrong DSN or role fails here rather than at the first Begin().
  ASSIGN_OR_RETURN(std::unique_ptr<Conn> first, pool->Acquire());
  pool->Release(std::move(first));
  return std::shared_ptr<Database>(std::make_shared<PgDatabase>(std::move(pool)));
}

}  // namespace chukan::store
