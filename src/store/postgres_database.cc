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
#include <functional>
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
  // The server found a message of ours malformed (a binary COPY value not of its column's type,
  // a wrong parameter count): not the connection's fault, and not cured by a retry.
  if (st == "08P01") return StatusCode::kInvalidArgument;
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
  // The requests of an ended read-only transaction (its COMMIT or ROLLBACK) sent in a pipeline
  // whose answers are still to be read: the connection's next exchange reads them first.
  int unread = 0;
  // An answer read that way was an error: the connection's state is unknown, so it is dropped.
  bool doubtful = false;
  bool broken() const { return PQstatus(pg.get()) != CONNECTION_OK; }
};

void IgnoreNotice(void*, const char*) {}

class PgPool;

// A statement's parameters in libpq's form: text, except byte strings (binary). Points into the
// Values it was made from, which must outlive it.
struct Bound {
  std::vector<std::string> text;
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
};

// What Bind refuses, checked without building anything: for a statement held back, whose
// parameters are bound only when it is sent.
Status CheckParams(const std::vector<Value>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    if (const auto* sv = std::get_if<std::string>(&params[i])) {
      if (sv->find('\0') != std::string::npos) {
        return InvalidArgumentError("postgres: text parameter " + std::to_string(i + 1) +
                                    " contains a NUL byte");
      }
    } else if (const auto* bv = std::get_if<Bytes>(&params[i])) {
      if (bv->size() > 0x7fffffff) return InvalidArgumentError("postgres: blob too large");
    }
  }
  return Status();
}

Status Bind(const std::vector<Value>& params, Bound* b) {
  RETURN_IF_ERROR(CheckParams(params));
  const size_t n = params.size();
  b->text.assign(n, std::string());
  b->values.assign(n, nullptr);
  b->lengths.assign(n, 0);
  b->formats.assign(n, 0);
  static const char kEmpty[1] = {0};
  for (size_t i = 0; i < n; ++i) {
    const Value& v = params[i];
    if (std::holds_alternative<std::nullptr_t>(v)) continue;  // NULL: values[i] stays null
    if (const auto* iv = std::get_if<int64_t>(&v)) {
      b->text[i] = std::to_string(*iv);
    } else if (const auto* dv = std::get_if<double>(&v)) {
      if (std::isnan(*dv)) {
        b->text[i] = "NaN";
      } else if (std::isinf(*dv)) {
        b->text[i] = *dv > 0 ? "Infinity" : "-Infinity";
      } else {
        char buf[64];
        auto [p, ec] = std::to_chars(buf, buf + sizeof buf, *dv);
        b->text[i].assign(buf, static_cast<size_t>(p - buf));
      }
    } else if (const auto* sv = std::get_if<std::string>(&v)) {
      b->values[i] = sv->c_str();
      continue;
    } else if (const auto* bv = std::get_if<Bytes>(&v)) {
      b->values[i] = bv->empty() ? kEmpty : reinterpret_cast<const char*>(bv->data());
      b->lengths[i] = static_cast<int>(bv->size());
      b->formats[i] = 1;
      continue;
    }
    b->values[i] = b->text[i].c_str();
  }
  return Status();
}

template <typename T>
void AppendBigEndian(std::string& out, T v) {
  for (int shift = 8 * static_cast<int>(sizeof(T)) - 8; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>(static_cast<uint8_t>(v >> shift)));
  }
}

// One row of a binary COPY: the field count, then each field's length (-1 for NULL) and bytes,
// in the binary form of the column's type (int8, float8, text, bytea: docs/storage.md).
Status AppendCopyRow(const std::vector<Value>& row, std::string& out) {
  if (row.size() > 1600) return InvalidArgumentError("postgres: copy: too many columns");
  RETURN_IF_ERROR(CheckParams(row));
  AppendBigEndian(out, static_cast<uint16_t>(row.size()));
  for (const Value& v : row) {
    if (std::holds_alternative<std::nullptr_t>(v)) {
      AppendBigEndian(out, uint32_t{0xffffffff});
    } else if (const auto* iv = std::get_if<int64_t>(&v)) {
      AppendBigEndian(out, uint32_t{8});
      AppendBigEndian(out, static_cast<uint64_t>(*iv));
    } else if (const auto* dv = std::get_if<double>(&v)) {
      uint64_t bits;
      std::memcpy(&bits, dv, sizeof(bits));
      AppendBigEndian(out, uint32_t{8});
      AppendBigEndian(out, bits);
    } else if (const auto* sv = std::get_if<std::string>(&v)) {
      AppendBigEndian(out, static_cast<uint32_t>(sv->size()));
      out.append(*sv);
    } else if (const auto* bv = std::get_if<Bytes>(&v)) {
      AppendBigEndian(out, static_cast<uint32_t>(bv->size()));
      out.append(reinterpret_cast<const char*>(bv->data()), bv->size());
    }
  }
  return Status();
}

// A transaction on one pooled connection. Round trips (docs/storage.md, "Round trips on
// PostgreSQL"): BEGIN, SAVEPOINT and RELEASE SAVEPOINT — and, after HoldBackExecs(), every
// Exec — are not sent on their own but held back and sent in one libpq pipeline with the next
// statement whose answer is needed, and a statement's first use on a connection sends its
// preparation in the same pipeline. A transaction that sent nothing costs nothing. A read-only
// transaction's COMMIT or ROLLBACK is sent without waiting for its answer, which the
// connection's next exchange reads first (a read-only transaction cannot fail to commit what it
// read). The price: a held-back statement's error is reported by the next exchange.
class PgTransaction final : public internal::TransactionBase {
 public:
  // `once`: a read-only transaction of one statement (Database::BeginReadOnce): a SELECT
  // (TransactionBase checks it) sent without BEGIN and COMMIT, in a transaction of its own.
  PgTransaction(std::shared_ptr<PgPool> pool, std::unique_ptr<Conn> conn, Counters* counters,
                bool read_only, int reconnects, bool once = false)
      : TransactionBase(counters),
        pool_(std::move(pool)),
        conn_(std::move(conn)),
        counters_(counters),
        read_only_(read_only),
        once_(once),
        reconnects_(reconnects) {
    if (once_) {
      LimitToOneStatement();
      return;
    }
    held_.push_back(
        {read_only ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN", {}, false});
  }
  ~PgTransaction() override { EndInDestructor(); }
  Backend backend() const override { return Backend::kPostgres; }
  void HoldBackExecs() override { hold_back_execs_ = true; }

 protected:
  Status Run(std::string_view sql, const std::vector<Value>& params, Want want,
             std::vector<Row>* rows, int64_t* count) override {
    if (!conn_) return UnavailableError("postgres: the transaction lost its connection");
    // Checked now, whenever the statement is sent.
    int parameters = 0;
    if (auto it = conn_->stmts.find(std::string(sql)); it != conn_->stmts.end()) {
      parameters = it->second.parameters;
    } else {
      ASSIGN_OR_RETURN(RewrittenSql rw, RewritePlaceholders(sql));
      parameters = rw.parameters;
    }
    if (static_cast<size_t>(parameters) != params.size()) {
      return InvalidArgumentError("postgres: statement has " + std::to_string(parameters) +
                                  " placeholders but " + std::to_string(params.size()) +
                                  " parameters were given in: " + SqlExcerpt(sql));
    }
    if (want == Want::kNothing && hold_back_execs_) {
      RETURN_IF_ERROR(CheckParams(params));  // bound when sent
      held_.push_back({std::string(sql), params, true});
      return Status();
    }
    Bound bound;
    RETURN_IF_ERROR(Bind(params, &bound));
    std::vector<ResultPtr> answers;
    RETURN_IF_ERROR(Exchange([&](PGconn* pg) { return SendStatement(pg, sql, bound, parameters); },
                             sql, &answers));
    const PGresult* res = answers.back().get();
    if (want == Want::kCount) {
      const char* c = PQcmdTuples(const_cast<PGresult*>(res));
      int64_t v = 0;
      if (c && *c) std::from_chars(c, c + std::strlen(c), v);
      *count = v;
    } else if (want == Want::kRows) {
      const int nrows = PQntuples(res);
      const int ncols = PQnfields(res);
      auto names = std::make_shared<std::vector<std::string>>();
      for (int c = 0; c < ncols; ++c) names->emplace_back(PQfname(res, c));
      rows->reserve(static_cast<size_t>(nrows));
      for (int r = 0; r < nrows; ++r) {
        std::vector<Value> vals;
        vals.reserve(static_cast<size_t>(ncols));
        for (int c = 0; c < ncols; ++c) {
          ASSIGN_OR_RETURN(Value v, CellValue(res, r, c));
          vals.push_back(std::move(v));
        }
        rows->emplace_back(names, std::move(vals));
      }
    }
    return Status();
  }

  // A script may hold several statements, which only the simple protocol (outside a pipeline)
  // runs: what was held back goes first.
  Status RunScript(std::string_view sql) override {
    RETURN_IF_ERROR(Exchange(nullptr, sql, nullptr));
    return Simple(sql);
  }

  // COPY cannot join a pipeline: what was held back goes first, in an exchange of its own; then
  // COPY starts (one round trip, to be answered "send the rows"), the rows stream in 64 KiB
  // messages that the server stores as they arrive, and the end of the data is the second round
  // trip, answered with the copy's outcome.
  Status RunCopy(std::string_view table, const std::vector<std::string>& columns, std::string_view,
                 const RowSupplier& next, int64_t* written) override {
    if (!conn_) return UnavailableError("postgres: the transaction lost its connection");
    std::string sql = "COPY " + std::string(table) + " (";
    for (size_t i = 0; i < columns.size(); ++i) sql += (i == 0 ? "" : ", ") + columns[i];
    sql += ") FROM STDIN (FORMAT binary)";
    RETURN_IF_ERROR(Exchange(nullptr, sql, nullptr));
    RETURN_IF_ERROR(ReadUnread());
    PGconn* pg = conn_->pg.get();
    if (PQpipelineStatus(pg) != PQ_PIPELINE_OFF && PQexitPipelineMode(pg) != 1) {
      return ResultError(pg, nullptr, sql);
    }
    counters_->round_trips.fetch_add(1, std::memory_order_relaxed);
    sent_ = true;
    ResultPtr start(PQexec(pg, sql.c_str()));
    if (!start || PQresultStatus(start.get()) != PGRES_COPY_IN) {
      return ResultError(pg, start.get(), sql);
    }
    constexpr size_t kMessageBytes = 64 * 1024;
    std::string data("PGCOPY\n\377\r\n\0", 11);  // the signature, then flags and extension length
    AppendBigEndian(data, uint32_t{0});
    AppendBigEndian(data, uint32_t{0});
    std::vector<Value> row;
    Status stopped;  // why the rows stopped before their end (the copy is then refused)
    *written = 0;
    while (true) {
      row.clear();
      Result<bool> more = next(row);
      if (!more.ok()) {
        stopped = more.status();
        break;
      }
      if (!*more) break;
      if (row.size() != columns.size()) {
        stopped =
            InvalidArgumentError("store: copy: a row has " + std::to_string(row.size()) +
                                 " values for " + std::to_string(columns.size()) + " columns");
        break;
      }
      if (stopped = AppendCopyRow(row, data); !stopped.ok()) break;
      ++*written;
      if (data.size() >= kMessageBytes) {
        if (PQputCopyData(pg, data.data(), static_cast<int>(data.size())) != 1) {
          stopped = UnavailableError("postgres: cannot send: " + TrimNewline(PQerrorMessage(pg)));
          break;
        }
        data.clear();
      }
    }
    if (stopped.ok()) {
      AppendBigEndian(data, uint16_t{0xffff});  // the trailer: a field count of -1
      if (PQputCopyData(pg, data.data(), static_cast<int>(data.size())) != 1 ||
          PQputCopyEnd(pg, nullptr) != 1) {
        stopped = UnavailableError("postgres: cannot send: " + TrimNewline(PQerrorMessage(pg)));
      }
    } else {
      PQputCopyEnd(pg, "chukan: the rows to copy stopped with an error");
    }
    counters_->round_trips.fetch_add(1, std::memory_order_relaxed);
    Status outcome;
    bool ended = false;
    while (ResultPtr res{PQgetResult(pg)}) {
      // Still waiting for rows: the end could not be sent (the connection is gone).
      if (PQresultStatus(res.get()) == PGRES_COPY_IN) break;
      ended = true;
      if (PQresultStatus(res.get()) != PGRES_COMMAND_OK && outcome.ok()) {
        outcome = ResultError(pg, res.get(), sql);
      }
    }
    if (!stopped.ok()) return stopped;
    if (!ended && outcome.ok()) outcome = ResultError(pg, nullptr, sql);
    return outcome;
  }

  Status RunControl(std::string_view sql) override {
    // A RELEASE ends a group-committed write, whose held-back statements' errors must be its
    // own: with Execs held back it is where they are sent.
    if (sql.starts_with("SAVEPOINT ") ||
        (sql.starts_with("RELEASE SAVEPOINT ") && !hold_back_execs_)) {
      held_.push_back({std::string(sql), {}, false});
      return Status();
    }
    return RunOne(sql, nullptr);
  }

  Status RunCommit() override {
    if (!sent_ && !HoldsStatements()) {
      held_.clear();  // nothing reached the server or waits to: nothing to commit
      return Status();
    }
    if (once_) return Status();  // the statement was its own transaction
    if (read_only_) return SendWithoutWaiting("COMMIT");
    // In the COMMIT's pipeline: no round trip of its own.
    if (lazy_commit()) held_.push_back({"SET LOCAL synchronous_commit TO off", {}, false});
    std::string tag;
    Status s = RunOne("COMMIT", &tag);
    if (!s.ok() && conn_ && conn_->broken()) {
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

  Status RunRollback() override {
    held_.clear();  // a rollback undoes them anyway
    if (!sent_ || !conn_ || once_) return Status();
    if (read_only_) return SendWithoutWaiting("ROLLBACK");
    RETURN_IF_ERROR(ReadUnread());
    return Simple("ROLLBACK");
  }

  // A lost connection ended the transaction: no savepoint can recover it.
  bool Lost() override { return !conn_ || conn_->broken(); }
  void Finish() override;

 private:
  // A statement held back: transaction control (sent as it is) or an Exec (prepared).
  struct Held {
    std::string sql;
    std::vector<Value> params;
    bool statement = false;
  };
  // A preparation sent in the current pipeline: cached on the connection if it succeeds.
  struct Preparing {
    std::string sql;
    int request = 0;  // its index among the pipeline's requests
  };
  // Sends requests on `pg`; returns how many it sent, or -1 if sending failed.
  using SendFn = std::function<int(PGconn* pg)>;

  bool HoldsStatements() const {
    for (const Held& h : held_) {
      if (h.statement) return true;
    }
    return false;
  }

  // Sends a statement's execution, and its preparation first if this connection has not
  // prepared it; returns the number of requests sent (-1: failed).
  int SendStatement(PGconn* pg, std::string_view sql, const Bound& b, int parameters) {
    auto it = conn_->stmts.find(std::string(sql));
    std::string name;
    int sent = 0;
    if (it != conn_->stmts.end()) {
      name = it->second.name;
    } else {
      Result<RewrittenSql> rw = RewritePlaceholders(sql);
      if (!rw.ok()) return -1;  // checked by Run before: cannot happen
      name = "chukan_" + std::to_string(conn_->next_stmt++);
      if (PQsendPrepare(pg, name.c_str(), rw->sql.c_str(), 0, nullptr) != 1) return -1;
      // Cached at once, so that the pipeline's later uses do not prepare it again; forgotten
      // again if the preparation fails.
      conn_->stmts.emplace(std::string(sql), PgStmt{name, parameters});
      preparing_.push_back({std::string(sql), requests_});
      sent = 1;
      ++requests_;
    }
    if (PQsendQueryPrepared(pg, name.c_str(), static_cast<int>(b.values.size()), b.values.data(),
                            b.lengths.data(), b.formats.data(), 0) != 1) {
      return -1;
    }
    ++requests_;
    return sent + 1;
  }

  // One parameterless statement (through the extended protocol, so it can join a pipeline);
  // *tag = its command tag.
  Status RunOne(std::string_view sql, std::string* tag) {
    const std::string s(sql);
    std::vector<ResultPtr> answers;
    RETURN_IF_ERROR(Exchange(
        [&](PGconn* pg) {
          if (PQsendQueryParams(pg, s.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) != 1) {
            return -1;
          }
          ++requests_;
          return 1;
        },
        sql, &answers));
    if (tag) *tag = PQcmdStatus(answers.back().get());
    return Status();
  }

  // The held-back statements and then what `send` sends, in one pipeline, with every answer
  // read: one round trip. *answers = the answers to send's requests. Returns the first error.
  // The transaction's first exchange on a connection that had been idle in the pool and is
  // found dead is tried again on another one (as many times as the pool has connections).
  Status Exchange(const SendFn& send, std::string_view sql, std::vector<ResultPtr>* answers) {
    if (held_.empty() && !send) return Status();
    for (int attempt = 0;; ++attempt) {
      if (!conn_) return UnavailableError("postgres: the transaction lost its connection");
      Status s = ExchangeOnce(send, sql, answers);
      const bool first = !sent_;
      sent_ = true;
      if (s.ok() || !(first && conn_->reused && conn_->broken() && attempt < reconnects_)) {
        held_.clear();
        return s;
      }
      sent_ = false;
      RETURN_IF_ERROR(Reconnect());
    }
  }

  Status ExchangeOnce(const SendFn& send, std::string_view sql, std::vector<ResultPtr>* answers) {
    PGconn* pg = conn_->pg.get();
    if (answers) answers->clear();
    if (PQenterPipelineMode(pg) != 1) return ResultError(pg, nullptr, sql);
    counters_->round_trips.fetch_add(1, std::memory_order_relaxed);
    requests_ = 0;
    preparing_.clear();
    // What each request was, for error messages.
    std::vector<std::string_view> labels;
    bool sent_all = true;
    std::vector<Bound> bounds(held_.size());
    for (size_t h = 0; h < held_.size() && sent_all; ++h) {
      const Held& held = held_[h];
      if (!held.statement) {
        if (PQsendQueryParams(pg, held.sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) !=
            1) {
          sent_all = false;
        } else {
          ++requests_;
        }
      } else if (!Bind(held.params, &bounds[h]).ok() ||
                 SendStatement(pg, held.sql, bounds[h], static_cast<int>(held.params.size())) < 0) {
        sent_all = false;
      }
      labels.resize(static_cast<size_t>(requests_), held.sql);
    }
    const int own_first = requests_;
    if (sent_all && send && send(pg) < 0) sent_all = false;
    labels.resize(static_cast<size_t>(requests_), sql);
    if (PQpipelineSync(pg) != 1) {
      return UnavailableError("postgres: cannot send: " + TrimNewline(PQerrorMessage(pg)));
    }
    Status unread = ReadUnread();
    if (!unread.ok()) {
      for (const Preparing& p : preparing_) conn_->stmts.erase(p.sql);
      return unread;
    }
    Status first;
    size_t next_preparing = 0;
    for (int i = 0; i < requests_; ++i) {
      ResultPtr res(PQgetResult(pg));
      if (!res) return ResultError(pg, nullptr, sql);  // the connection went
      const ExecStatusType st = PQresultStatus(res.get());
      const bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
      if (!ok && st != PGRES_PIPELINE_ABORTED && first.ok()) {
        first = ResultError(pg, res.get(), labels[static_cast<size_t>(i)]);
      }
      if (next_preparing < preparing_.size() && preparing_[next_preparing].request == i) {
        const Preparing& p = preparing_[next_preparing++];
        if (ok) {
          counters_->prepared.fetch_add(1, std::memory_order_relaxed);
        } else {
          conn_->stmts.erase(p.sql);
        }
      }
      while (PGresult* more = PQgetResult(pg)) PQclear(more);  // the end of this answer
      if (i >= own_first && answers) answers->push_back(std::move(res));
    }
    ResultPtr sync(PQgetResult(pg));
    if (!sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
      return ResultError(pg, sync.get(), sql);
    }
    if (PQexitPipelineMode(pg) != 1) return ResultError(pg, nullptr, sql);
    if (first.ok() && !sent_all) {
      return UnavailableError("postgres: cannot send: " + TrimNewline(PQerrorMessage(pg)));
    }
    return first;
  }

  // Sends what was held back (transaction control only: a read-only transaction holds no Exec
  // that matters — it could not write) and `sql` without waiting for the answers (a read-only
  // transaction's end): the connection's next exchange reads them.
  Status SendWithoutWaiting(const char* sql) {
    PGconn* pg = conn_->pg.get();
    if (PQenterPipelineMode(pg) != 1) return ResultError(pg, nullptr, sql);
    for (const Held& h : held_) {
      if (h.statement) continue;
      if (PQsendQueryParams(pg, h.sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) != 1) {
        return ResultError(pg, nullptr, sql);
      }
      ++conn_->unread;
    }
    held_.clear();
    if (PQsendQueryParams(pg, sql, 0, nullptr, nullptr, nullptr, nullptr, 0) != 1 ||
        PQpipelineSync(pg) != 1) {
      return ResultError(pg, nullptr, sql);
    }
    ++conn_->unread;
    return Status();
  }

  // Reads the answers an earlier read-only transaction left on this connection (they are
  // ahead of anything sent since). An error among them leaves the connection in doubt.
  Status ReadUnread() {
    PGconn* pg = conn_->pg.get();
    if (conn_->unread == 0) return Status();
    for (; conn_->unread > 0; --conn_->unread) {
      ResultPtr res(PQgetResult(pg));
      if (!res) return ResultError(pg, nullptr, "the end of a read-only transaction");
      if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) conn_->doubtful = true;
      while (PGresult* more = PQgetResult(pg)) PQclear(more);
    }
    ResultPtr sync(PQgetResult(pg));
    if (!sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) conn_->doubtful = true;
    if (conn_->doubtful) {
      return InternalError(
          "postgres: the previous read-only transaction on this connection did not end cleanly");
    }
    return Status();
  }

  // Runs a statement through the simple protocol, outside any pipeline.
  Status Simple(std::string_view sql) {
    PGconn* pg = conn_->pg.get();
    RETURN_IF_ERROR(ReadUnread());
    if (PQpipelineStatus(pg) != PQ_PIPELINE_OFF && PQexitPipelineMode(pg) != 1) {
      return ResultError(pg, nullptr, sql);
    }
    counters_->round_trips.fetch_add(1, std::memory_order_relaxed);
    const std::string s(sql);
    ResultPtr res(PQexec(pg, s.c_str()));
    const ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
      return ResultError(pg, res.get(), sql);
    }
    return Status();
  }

  Status Reconnect();

  std::shared_ptr<PgPool> pool_;
  std::unique_ptr<Conn> conn_;
  Counters* counters_;
  const bool read_only_;
  const bool once_;
  const int reconnects_;
  bool hold_back_execs_ = false;
  // Held back until the next exchange; starts with BEGIN.
  std::vector<Held> held_;
  bool sent_ = false;  // something of this transaction has reached the server
  // The exchange being sent: requests so far and the preparations among them.
  int requests_ = 0;
  std::vector<Preparing> preparing_;
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

  // BEGIN is held back until the transaction's first statement (PgTransaction), which is also
  // where a pooled connection found dead is replaced.
  // `lazy` (Database::BeginLazy): SET LOCAL synchronous_commit TO off goes in the COMMIT's
  // pipeline (PgTransaction::RunCommit).
  Result<std::unique_ptr<Transaction>> Begin(bool read_only, bool once = false, bool lazy = false) {
    ASSIGN_OR_RETURN(std::unique_ptr<Conn> conn, Acquire());
    auto txn = std::make_unique<PgTransaction>(shared_from_this(), std::move(conn), &counters_,
                                               read_only, options_.pool_size, once);
    if (lazy && !read_only) txn->MarkLazy();
    return std::unique_ptr<Transaction>(std::move(txn));
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
      // A connection whose read-only transaction's end is still unanswered is busy in a
      // pipeline (its next exchange reads the answer); any other must be idle.
      const bool idle = conn->unread > 0 ? PQpipelineStatus(conn->pg.get()) == PQ_PIPELINE_ON
                                         : PQtransactionStatus(conn->pg.get()) == PQTRANS_IDLE;
      if (closed_ || conn->broken() || conn->doubtful || !idle) {
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

void PgTransaction::Finish() {
  if (conn_) pool_->Release(std::move(conn_));
}

Status PgTransaction::Reconnect() {
  pool_->Release(std::move(conn_));  // dead: the pool drops it
  ASSIGN_OR_RETURN(conn_, pool_->Acquire());
  return Status();
}

class PgDatabase final : public Database {
 public:
  explicit PgDatabase(std::shared_ptr<PgPool> pool) : pool_(std::move(pool)) {}
  ~PgDatabase() override { pool_->Close().IgnoreError(); }  // Close() cannot fail
  Backend backend() const override { return Backend::kPostgres; }
  Result<std::unique_ptr<Transaction>> Begin() override { return pool_->Begin(false); }
  Result<std::unique_ptr<Transaction>> BeginLazy() override {
    return pool_->Begin(false, false, /*lazy=*/true);
  }
  Result<std::unique_ptr<Transaction>> BeginRead() override { return pool_->Begin(true); }
  Result<std::unique_ptr<Transaction>> BeginReadOnce() override {
    return pool_->Begin(true, /*once=*/true);
  }
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
