// Tests only: runs a test suite against both backends.
//
// StoreTest is a TestWithParam<Backend>. For kPostgres it reads CHUKAN_TEST_PG_DSN (set by
// scripts/with-postgres); when that is unset the test is skipped — or FAILS when CI is set, so
// CI can never silently skip the PostgreSQL half. Each test gets its own namespace (a random
// pg_prefix for PostgreSQL, a temp dir for SQLite) and cleans it up, so test processes can run
// in parallel against one cluster. HeldCommitter holds a group committer so that writes pile
// up into one batch. WatchedTransaction and WatchedDatabase pass statements on and tell the test
// of each, which ExplainPlan then plans on PostgreSQL. Not thread-safe unless said.
#ifndef CHUKAN_STORE_STORE_TEST_UTIL_H_
#define CHUKAN_STORE_STORE_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status_matchers.h"
#include "common/test_util.h"
#include "store/database.h"
#include "store/group_commit.h"
#include "store/tenant_store.h"

namespace chukan::store::testing {

inline std::string RandomSuffix() {
  std::random_device rd;
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 10; ++i) s += kAlphabet[rd() % 36];
  return s;
}

// Drops every schema and role whose name starts with `prefix` + "_" (what one test created).
inline void DropPgNamespace(const std::string& dsn, const std::string& prefix) {
  PostgresOptions o;
  o.dsn = dsn;
  o.pool_size = 1;
  auto db = OpenPostgres(o);
  ASSERT_OK(db);
  auto txn = (*db)->Begin();
  ASSERT_OK(txn);
  const std::string like = prefix + "\\_%";
  auto schemas =
      (*txn)->Query("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE ?", {like});
  ASSERT_OK(schemas);
  auto roles = (*txn)->Query("SELECT rolname::text FROM pg_roles WHERE rolname LIKE ?", {like});
  ASSERT_OK(roles);
  for (const Row& r : *schemas) {
    ASSERT_OK((*txn)->ExecScript("DROP SCHEMA " + r.GetText(0).value() + " CASCADE"));
  }
  for (const Row& r : *roles) {
    ASSERT_OK((*txn)->ExecScript("DROP ROLE " + r.GetText(0).value()));
  }
  ASSERT_OK((*txn)->Commit());
}

// The test cluster's connection string (scripts/with-postgres), or "" when there is none: the
// caller then skips (GTEST_SKIP). With CI set, a missing one is recorded as a failure first, so
// CI can never skip the PostgreSQL tests silently.
inline std::string PgDsnForTest() {
  const char* dsn = std::getenv("CHUKAN_TEST_PG_DSN");
  if (dsn != nullptr && *dsn != '\0') return dsn;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && *ci != '\0') {
    ADD_FAILURE() << "CHUKAN_TEST_PG_DSN is not set, and CI is: PostgreSQL tests must run in CI. "
                     "Run the tests under scripts/with-postgres.";
  }
  return "";
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kPostgres) {
      const std::string dsn = PgDsnForTest();
      if (dsn.empty()) {
        GTEST_SKIP() << "PostgreSQL tests need CHUKAN_TEST_PG_DSN: run them with "
                        "scripts/with-postgres ctest ... / scripts/with-postgres ./test";
      }
      dsn_ = dsn;
      prefix_ = "ct_" + RandomSuffix();
    }
  }

  void TearDown() override {
    for (auto& s : stores_) s->Close().IgnoreError();  // Close() cannot fail
    stores_.clear();
    if (GetParam() == Backend::kPostgres && !dsn_.empty()) DropPgNamespace();
  }

  StoreOptions Options() const {
    StoreOptions o;
    o.backend = GetParam();
    o.data_dir = dir_.File("data");
    o.dsn = dsn_;
    o.pg_prefix = prefix_.empty() ? "chukan" : prefix_;
    o.pool_size = 4;
    o.acquire_timeout_ms = 20000;
    return o;
  }

  // Opens a TenantStore (closed in TearDown; the pointer stays valid until then).
  TenantStore* OpenStore(StoreOptions o) {
    auto s = TenantStore::Open(o);
    EXPECT_OK(s);
    if (!s.ok()) return nullptr;
    stores_.push_back(std::move(s).value());
    return stores_.back().get();
  }
  TenantStore* OpenStore() { return OpenStore(Options()); }

  // A fresh, empty database: the platform database of a new store.
  std::shared_ptr<Database> NewDatabase() {
    TenantStore* s = OpenStore();
    if (s == nullptr) return nullptr;
    auto db = s->Platform();
    EXPECT_OK(db);
    return db.ok() ? *db : nullptr;
  }

  const std::string& dsn() const { return dsn_; }
  const std::string& prefix() const { return prefix_; }
  const chukan::testing::TempDir& dir() const { return dir_; }

 private:
  void DropPgNamespace() { ::chukan::store::testing::DropPgNamespace(dsn_, prefix_); }

  chukan::testing::TempDir dir_;
  std::string dsn_;
  std::string prefix_;
  std::vector<std::unique_ptr<TenantStore>> stores_;
};

inline std::string BackendParamName(const ::testing::TestParamInfo<Backend>& info) {
  return std::string(BackendName(info.param));
}

#define CHUKAN_INSTANTIATE_BOTH_BACKENDS(Suite)                                                  \
  INSTANTIATE_TEST_SUITE_P(                                                                      \
      Backends, Suite,                                                                           \
      ::testing::Values(::chukan::store::Backend::kSqlite, ::chukan::store::Backend::kPostgres), \
      ::chukan::store::testing::BackendParamName)

// Holds a group committer inside one write, so that the writes submitted meanwhile queue up
// behind it and form the committer's next batch together. The constructor submits the holding
// write and returns once the committer runs it (at once when the committer refused it);
// Release() lets it go on — it then runs `then`, if given — and returns its outcome. Run again
// (a batch tried at once, then carefully), the holding write no longer waits. `Committer` is a
// GroupCommitter or anything with its Submit(write, rerun), such as a server's TenantContext.
// Destroyed unreleased, it opens the gate, so that the committer can drain.
class HeldCommitter {
 public:
  template <typename Committer>
  explicit HeldCommitter(Committer& committer, GroupCommitter::WriteFn then = nullptr,
                         GroupCommitter::Rerun rerun = GroupCommitter::Rerun::kOnce)
      : gate_(std::make_shared<Gate>()) {
    std::future<void> started = gate_->started.get_future();
    outcome_ = committer.Submit(
        [gate = gate_, then = std::move(then)](Transaction& txn) -> Status {
          std::call_once(gate->started_once, [&] { gate->started.set_value(); });
          gate->opened.wait();
          return then ? then(txn) : Status();
        },
        rerun);
    if (outcome_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) return;
    started.wait();
  }
  ~HeldCommitter() { Open(); }
  HeldCommitter(const HeldCommitter&) = delete;
  HeldCommitter& operator=(const HeldCommitter&) = delete;

  // Lets the holding write go on and waits for its outcome. Call once.
  Status Release() {
    Open();
    return outcome_.get();
  }

 private:
  struct Gate {
    std::once_flag started_once;
    std::promise<void> started;
    std::once_flag open_once;
    std::promise<void> open;
    std::shared_future<void> opened = open.get_future().share();
  };
  void Open() {
    std::call_once(gate_->open_once, [this] { gate_->open.set_value(); });
  }

  // Shared with the holding write, which may outlive the holder.
  const std::shared_ptr<Gate> gate_;
  std::future<Status> outcome_;
};

// PostgreSQL prints bytea as "\\x" and hex digits. Searching that text for a digit string would
// match the hex of ordinary ciphertext bytes (a nonce counter "07 00 00 …" reads as digits), so
// each run is turned back into the bytes actually stored before the search.
inline std::string DecodeByteaRuns(const std::string& text) {
  auto hex_value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '\\' && i + 1 < text.size() && text[i + 1] == 'x') {
      size_t j = i + 2;
      std::string bytes;
      while (j + 1 < text.size() && hex_value(text[j]) >= 0 && hex_value(text[j + 1]) >= 0) {
        bytes += static_cast<char>(hex_value(text[j]) * 16 + hex_value(text[j + 1]));
        j += 2;
      }
      if (!bytes.empty()) {
        out += bytes;
        i = j;
        continue;
      }
    }
    out += text[i++];
  }
  return out;
}

// `n` random bytes: a canary no file holds by chance.
inline Bytes RandomCanary(size_t n = 32) {
  std::random_device rd;
  Bytes out(n);
  for (uint8_t& b : out) b = static_cast<uint8_t>(rd());
  return out;
}

// A transaction that passes every statement on to another, telling `seen` of each (its SQL and
// parameters) and running `between` after its first ExecCount: another transaction's commit
// placed between two statements of one call, as PostgreSQL's read committed allows. `refuse`,
// when set, is asked first of every write (Exec, ExecCount; CopyRows as "COPY <table>"): an
// error it returns fails that write as a database's would, the statement not sent.
class WatchedTransaction final : public Transaction {
 public:
  using Seen = std::function<void(std::string_view sql, const std::vector<Value>& params)>;
  using Refuse = std::function<Status(std::string_view sql)>;
  WatchedTransaction(std::unique_ptr<Transaction> tx, std::function<void()> between,
                     Seen seen = nullptr, Refuse refuse = nullptr)
      : tx_(std::move(tx)),
        between_(std::move(between)),
        seen_(std::move(seen)),
        refuse_(std::move(refuse)) {}
  Backend backend() const override { return tx_->backend(); }
  Status Exec(std::string_view sql, const std::vector<Value>& params) override {
    Saw(sql, params);
    if (refuse_) RETURN_IF_ERROR(refuse_(sql));
    return tx_->Exec(sql, params);
  }
  Result<int64_t> ExecCount(std::string_view sql, const std::vector<Value>& params) override {
    Saw(sql, params);
    if (refuse_) RETURN_IF_ERROR(refuse_(sql));
    Result<int64_t> r = tx_->ExecCount(sql, params);
    if (between_) std::exchange(between_, nullptr)();
    return r;
  }
  Result<std::vector<Row>> Query(std::string_view sql, const std::vector<Value>& params) override {
    Saw(sql, params);
    return tx_->Query(sql, params);
  }
  Result<std::optional<Row>> QueryOne(std::string_view sql,
                                      const std::vector<Value>& params) override {
    Saw(sql, params);
    return tx_->QueryOne(sql, params);
  }
  Status ExecScript(std::string_view sql) override { return tx_->ExecScript(sql); }
  Result<int64_t> CopyRows(std::string_view table, const std::vector<std::string>& columns,
                           const RowSupplier& next) override {
    if (refuse_) RETURN_IF_ERROR(refuse_("COPY " + std::string(table)));
    return tx_->CopyRows(table, columns, next);
  }
  Status Savepoint(std::string_view name) override { return tx_->Savepoint(name); }
  Status RollbackToSavepoint(std::string_view name) override {
    return tx_->RollbackToSavepoint(name);
  }
  Status ReleaseSavepoint(std::string_view name) override { return tx_->ReleaseSavepoint(name); }
  Status Commit() override { return tx_->Commit(); }
  Status Rollback() override { return tx_->Rollback(); }
  void HoldBackExecs() override { tx_->HoldBackExecs(); }

 private:
  void Saw(std::string_view sql, const std::vector<Value>& params) {
    if (seen_) seen_(sql, params);
  }

  std::unique_ptr<Transaction> tx_;
  std::function<void()> between_;
  Seen seen_;
  Refuse refuse_;
};

// A database that passes everything on to another, its read-write transactions wrapped in
// WatchedTransactions that tell `seen` of each statement (and ask `refuse` of each write): the
// statements a function that begins its own transactions (a sweep) really sends. Thread-safe if
// `seen` and `refuse` are.
class WatchedDatabase final : public Database {
 public:
  WatchedDatabase(std::shared_ptr<Database> db, WatchedTransaction::Seen seen,
                  WatchedTransaction::Refuse refuse = nullptr)
      : db_(std::move(db)), seen_(std::move(seen)), refuse_(std::move(refuse)) {}
  Backend backend() const override { return db_->backend(); }
  Result<std::unique_ptr<Transaction>> Begin() override {
    ASSIGN_OR_RETURN(std::unique_ptr<Transaction> tx, db_->Begin());
    return std::unique_ptr<Transaction>(
        std::make_unique<WatchedTransaction>(std::move(tx), nullptr, seen_, refuse_));
  }
  Result<std::unique_ptr<Transaction>> BeginRead() override { return db_->BeginRead(); }
  Result<std::unique_ptr<Transaction>> BeginReadOnce() override { return db_->BeginReadOnce(); }
  DatabaseStats stats() const override { return db_->stats(); }
  Status EraseFreed() override { return db_->EraseFreed(); }
  Status Close() override { return db_->Close(); }

 private:
  std::shared_ptr<Database> db_;
  WatchedTransaction::Seen seen_;
  WatchedTransaction::Refuse refuse_;
};

// PostgreSQL's plan of `sql` with `params`, as sent (EXPLAIN without ANALYZE only plans): the
// SQL on the first line, then the plan's lines. What a test asserts a batched delete's plan on
// (no "Seq Scan" of the big table, its key's index used).
inline Result<std::string> ExplainPlan(Database& db, std::string_view sql,
                                       const std::vector<Value>& params) {
  ASSIGN_OR_RETURN(std::unique_ptr<Transaction> read, db.BeginRead());
  ASSIGN_OR_RETURN(std::vector<Row> rows, read->Query("EXPLAIN " + std::string(sql), params));
  std::string text = std::string(sql) + "\n";
  for (const Row& r : rows) text += r.GetText(0).value_or("") + "\n";
  return text;
}

// The plans (ExplainPlan) of the statements `call` sends through a read-write transaction of
// `db`, in the order sent. The transaction is rolled back before the plans are made, so they
// are made on the table as it was.
inline Result<std::vector<std::string>> PlansOfStatementsSent(
    Database& db, const std::function<Status(Transaction&)>& call) {
  std::vector<std::pair<std::string, std::vector<Value>>> sent;
  ASSIGN_OR_RETURN(std::unique_ptr<Transaction> inner, db.Begin());
  WatchedTransaction tx(std::move(inner), nullptr,
                        [&](std::string_view sql, const std::vector<Value>& params) {
                          sent.emplace_back(std::string(sql), params);
                        });
  RETURN_IF_ERROR(call(tx));
  RETURN_IF_ERROR(tx.Rollback());
  std::vector<std::string> plans;
  for (const auto& [sql, params] : sent) {
    ASSIGN_OR_RETURN(std::string plan, ExplainPlan(db, sql, params));
    plans.push_back(std::move(plan));
  }
  return plans;
}

// The regular files under `dir` (recursively; paths relative to it, sorted) whose bytes contain
// `needle` — what someone reading the disk after a deletion would find.
inline std::vector<std::string> FilesHolding(const std::string& dir, const Bytes& needle) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto* first = reinterpret_cast<const uint8_t*>(bytes.data());
    if (std::search(first, first + bytes.size(), needle.begin(), needle.end()) !=
        first + bytes.size()) {
      out.push_back(std::filesystem::relative(entry.path(), dir).string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The files under `dir` holding any 16-byte piece of `needle` (the pieces at 0, 16, 32, … and
// the last 16 bytes): a deleted value that SQLite partly wrote over still counts as found.
inline std::vector<std::string> FilesHoldingAnyPiece(const std::string& dir, const Bytes& needle) {
  constexpr size_t kPiece = 16;
  if (needle.size() <= kPiece) return FilesHolding(dir, needle);
  std::vector<std::string> out;
  auto add = [&](size_t at) {
    for (std::string& f :
         FilesHolding(dir, Bytes(needle.begin() + at, needle.begin() + at + kPiece))) {
      if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(std::move(f));
    }
  };
  for (size_t at = 0; at + kPiece <= needle.size(); at += kPiece) add(at);
  add(needle.size() - kPiece);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace chukan::store::testing

#endif  // CHUKAN_STORE_STORE_TEST_UTIL_H_
