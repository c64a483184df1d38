// Store benchmarks: durable inserts (one commit each, and group-committed from several submitter
// threads), point reads by primary key, on SQLite (synchronous=FULL) and — when
// CHUKAN_TEST_PG_DSN is set (run under scripts/with-postgres) — on PostgreSQL
// (synchronous_commit=on, fsync=on). The physical baseline, in the same binary and run: a raw
// sqlite3 C-API loop inserting the same rows in batched transactions with synchronous=FULL.
// BM_InsertDeleteSecure: inserts and deletes with PRAGMA secure_delete off and on.
//
//   scripts/with-postgres build/release/bench/chukan_store_bench
#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/test_util.h"
#include "store/group_commit.h"
#include "store/migrations.h"
#include "store/outbox.h"
#include "store/tenant_store.h"

namespace chukan::store {
namespace {

constexpr size_t kPayloadBytes = 100;

const Bytes& Payload() {
  static const Bytes* const kPayload = new Bytes(kPayloadBytes, 0x5a);  // NOLINT: leaked
  return *kPayload;
}

void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    std::cerr << "store_bench: " << what << ": " << s << "\n";
    std::abort();
  }
}
template <typename T>
T Check(Result<T> r, const char* what) {
  Check(r.status(), what);
  return std::move(r).value();
}

// One backend's fixture: a fresh store (temp dir or random schema prefix) with table `rows`.
struct Env {
  Backend backend;
  std::unique_ptr<chukan::testing::TempDir> dir;
  std::unique_ptr<TenantStore> store;
  std::shared_ptr<Database> db;
  std::string prefix;
  std::string dsn;

  static std::unique_ptr<Env> Make(Backend backend) {
    auto env = std::make_unique<Env>();
    env->backend = backend;
    StoreOptions o;
    o.backend = backend;
    o.pool_size = 8;
    if (backend == Backend::kSqlite) {
      env->dir = std::make_unique<chukan::testing::TempDir>();
      o.data_dir = env->dir->File("data");
    } else {
      env->dsn = std::getenv("CHUKAN_TEST_PG_DSN");
      o.dsn = env->dsn;
      env->prefix = "bench_" + std::to_string(std::random_device()() % 1000000);
      o.pg_prefix = env->prefix;
    }
    env->store = Check(TenantStore::Open(o), "open store");
    env->db = Check(env->store->Platform(), "platform");
    auto txn = Check(env->db->Begin(), "begin");
    Check(txn->ExecScript(std::string("CREATE TABLE rows (id BIGINT PRIMARY KEY, tenant TEXT NOT "
                                      "NULL, payload ") +
                          (backend == Backend::kSqlite ? "BLOB" : "BYTEA") + " NOT NULL)"),
          "create table");
    Check(txn->Commit(), "commit");
    return env;
  }

  ~Env() {
    db.reset();
    if (store) store->Close().IgnoreError();  // nothing to do about it in a benchmark
    if (backend == Backend::kPostgres) {
      PostgresOptions o;
      o.dsn = dsn;
      auto admin = Check(OpenPostgres(o), "admin");
      auto txn = Check(admin->Begin(), "begin");
      Check(txn->ExecScript("DROP SCHEMA " + prefix + "_platform CASCADE; DROP ROLE " + prefix +
                            "_platform"),
            "cleanup");
      Check(txn->Commit(), "cleanup commit");
    }
  }
};

Status InsertRow(Transaction& txn, int64_t id) {
  return txn.Exec("INSERT INTO rows (id, tenant, payload) VALUES (?, ?, ?)",
                  {id, std::string("t1310000000000001"), Payload()});
}

// One durable commit per inserted row.
void BM_InsertDurableEach(benchmark::State& state, Backend backend) {
  auto env = Env::Make(backend);
  int64_t id = 0;
  for (auto _ : state) {
    auto txn = Check(env->db->Begin(), "begin");
    Check(InsertRow(*txn, ++id), "insert");
    Check(txn->Commit(), "commit");
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// Group-committed inserts: `threads` submitters, each keeping up to `window` writes in flight
// (SubmitAsync), each write one row; every row acknowledged only after its durable commit.
void BM_InsertGroupCommit(benchmark::State& state, Backend backend) {
  const int threads = static_cast<int>(state.range(0));
  constexpr int kRowsPerIteration = 40000;
  constexpr int kWindow = 1024;
  auto env = Env::Make(backend);
  auto gc = Check(GroupCommitter::Create(env->db, {}), "group committer");
  std::atomic<int64_t> next_id{0};
  int64_t batches_before = 0;
  for (auto _ : state) {
    batches_before = gc->stats().batches;
    std::vector<std::thread> workers;
    std::atomic<int> failures{0};
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        std::mutex mu;
        std::condition_variable cv;
        int in_flight = 0;
        const int mine = kRowsPerIteration / threads;
        for (int i = 0; i < mine; ++i) {
          {
            std::unique_lock<std::mutex> lock(mu);
            cv.wait(lock, [&] { return in_flight < kWindow; });
            ++in_flight;
          }
          const int64_t id = ++next_id;
          gc->SubmitAsync([id](Transaction& txn) { return InsertRow(txn, id); },
                          [&](Status s) {
                            if (!s.ok()) failures.fetch_add(1);
                            std::lock_guard<std::mutex> lock(mu);
                            --in_flight;
                            cv.notify_one();
                          });
        }
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return in_flight == 0; });
      });
    }
    for (auto& w : workers) w.join();
    if (failures.load() != 0) {
      state.SkipWithError("a group-committed write failed");
      break;
    }
  }
  const auto rows = static_cast<double>(state.iterations()) * kRowsPerIteration;
  state.SetItemsProcessed(static_cast<int64_t>(rows));
  state.counters["rows/s"] = benchmark::Counter(rows, benchmark::Counter::kIsRate);
  state.counters["rows/commit"] =
      static_cast<double>(kRowsPerIteration) /
      static_cast<double>(std::max<int64_t>(1, gc->stats().batches - batches_before));
}

// Point reads by primary key, one read-only transaction per read, over 10,000 rows.
void BM_PointRead(benchmark::State& state, Backend backend) {
  auto env = Env::Make(backend);
  constexpr int64_t kRows = 10000;
  {
    auto txn = Check(env->db->Begin(), "begin");
    for (int64_t i = 1; i <= kRows; ++i) Check(InsertRow(*txn, i), "insert");
    Check(txn->Commit(), "commit");
  }
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    const int64_t id = static_cast<int64_t>(rng() % kRows) + 1;
    auto txn = Check(env->db->BeginRead(), "begin read");
    auto row = Check(txn->QueryOne("SELECT tenant, payload FROM rows WHERE id = ?", {id}), "q");
    if (!row) std::abort();
    benchmark::DoNotOptimize(row->values().size());
    Check(txn->Commit(), "end read");
  }
  state.SetItemsProcessed(state.iterations());
}

// Physical baseline: the same rows through the raw sqlite3 C API, WAL + synchronous=FULL,
// `batch` rows per transaction, one prepared statement.
void BM_RawSqliteInsert(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  chukan::testing::TempDir dir;
  sqlite3* db = nullptr;
  if (sqlite3_open(dir.File("raw.db").c_str(), &db) != SQLITE_OK) std::abort();
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", nullptr, nullptr, nullptr);
  sqlite3_exec(db,
               "CREATE TABLE rows (id BIGINT PRIMARY KEY, tenant TEXT NOT NULL, payload BLOB NOT "
               "NULL)",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO rows (id, tenant, payload) VALUES (?, ?, ?)", -1, &ins,
                     nullptr);
  int64_t id = 0;
  for (auto _ : state) {
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    for (int i = 0; i < batch; ++i) {
      sqlite3_bind_int64(ins, 1, ++id);
      sqlite3_bind_text(ins, 2, "t1310000000000001", -1, SQLITE_STATIC);
      sqlite3_bind_blob(ins, 3, Payload().data(), static_cast<int>(Payload().size()),
                        SQLITE_STATIC);
      if (sqlite3_step(ins) != SQLITE_DONE) std::abort();
      sqlite3_reset(ins);
    }
    if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) std::abort();
  }
  sqlite3_finalize(ins);
  sqlite3_close(db);
  const auto rows = static_cast<double>(state.iterations()) * batch;
  state.SetItemsProcessed(static_cast<int64_t>(rows));
  state.counters["rows/s"] = benchmark::Counter(rows, benchmark::Counter::kIsRate);
}

// The outbox's life of a message, as the linkage senders drive it: `batch` messages of 1.5 KiB
// (about a sealed answer with its permit) enqueued in one transaction, claimed in another,
// acknowledged in a third, each commit durable. Time per message; 20,000 messages already
// delivered sit in the table, as in a running server.
void BM_OutboxCycle(benchmark::State& state, Backend backend) {
  const int batch = static_cast<int>(state.range(0));
  auto env = Env::Make(backend);
  Check(ApplyMigrations(*env->db, "outbox", OutboxMigrations()), "outbox migrations");
  const SystemClock& clock = SystemClock::Get();
  OutboxOptions oo;
  oo.jitter = 0;
  auto outbox = Check(Outbox::Create(oo, clock), "outbox");
  const Bytes payload(1536, 0x5a);
  std::mt19937_64 rng(7);
  int64_t key = 0;
  auto cycle = [&] {
    {
      auto txn = Check(env->db->Begin(), "begin");
      for (int i = 0; i < batch; ++i) {
        // Dedupe keys like the linkage's: time-ordered ids (12 hex digits of ms, then random).
        char id[33];
        std::snprintf(id, sizeof id, "%012llx%020llx", static_cast<unsigned long long>(++key),
                      static_cast<unsigned long long>(rng() >> 1));
        Check(outbox->Enqueue(*txn, "bench", id, payload, clock.Now()), "enqueue");
      }
      Check(txn->Commit(), "commit enqueue");
    }
    std::vector<OutboxItem> items;
    {
      auto txn = Check(env->db->Begin(), "begin");
      items = Check(outbox->Claim(*txn, "bench-owner", batch, std::chrono::seconds(60)), "claim");
      Check(txn->Commit(), "commit claim");
    }
    if (items.size() != static_cast<size_t>(batch)) std::abort();
    auto txn = Check(env->db->Begin(), "begin");
    for (const OutboxItem& item : items) Check(outbox->Ack(*txn, item.id, "bench-owner"), "ack");
    Check(txn->Commit(), "commit ack");
  };
  for (int i = 0; i < 20000 / batch; ++i) cycle();
  for (auto _ : state) cycle();
  const auto messages = static_cast<double>(state.iterations()) * batch;
  state.SetItemsProcessed(static_cast<int64_t>(messages));
  state.counters["messages/s"] = benchmark::Counter(messages, benchmark::Counter::kIsRate);
}

// PRAGMA secure_delete (docs/storage.md, "Deletion that erases"): what zeroing deleted content
// costs. SQLite only, opened directly so that the option can be turned off. Each iteration
// inserts `batch` rows of 1.5 KiB (about a sealed result) in one durable commit and deletes the
// `batch` oldest in another, so the table stays at 10,000 rows and every delete frees cells and
// now and then whole pages. Time per row (inserted and deleted); both settings in one run.
void BM_InsertDeleteSecure(benchmark::State& state) {
  const bool secure_delete = state.range(0) != 0;
  const int batch = static_cast<int>(state.range(1));
  chukan::testing::TempDir dir;
  SqliteOptions o;
  o.path = dir.File("secure_delete.db");
  o.secure_delete = secure_delete;
  auto db = Check(OpenSqlite(o), "open");
  {
    auto txn = Check(db->Begin(), "begin");
    Check(txn->ExecScript("CREATE TABLE rows (id BIGINT PRIMARY KEY, payload BLOB NOT NULL)"),
          "create table");
    Check(txn->Commit(), "commit");
  }
  const Bytes payload(1536, 0x5a);
  int64_t next = 0;
  int64_t oldest = 0;
  auto insert = [&] {
    auto txn = Check(db->Begin(), "begin");
    for (int i = 0; i < batch; ++i) {
      Check(txn->Exec("INSERT INTO rows (id, payload) VALUES (?, ?)", {next++, payload}), "insert");
    }
    Check(txn->Commit(), "commit insert");
  };
  for (int i = 0; i < 10000 / batch; ++i) insert();
  for (auto _ : state) {
    insert();
    auto txn = Check(db->Begin(), "begin");
    oldest += batch;
    if (Check(txn->ExecCount("DELETE FROM rows WHERE id < ?", {oldest}), "delete") != batch) {
      std::abort();
    }
    Check(txn->Commit(), "commit delete");
  }
  const auto rows = static_cast<double>(state.iterations()) * batch;
  state.SetItemsProcessed(static_cast<int64_t>(rows));
  state.counters["rows/s"] = benchmark::Counter(rows, benchmark::Counter::kIsRate);
}

void Register(Backend backend) {
  const std::string b(BackendName(backend));
  benchmark::RegisterBenchmark(("BM_InsertDurableEach/" + b).c_str(), [backend](
                                                                          benchmark::State& s) {
    BM_InsertDurableEach(s, backend);
  })->UseRealTime();
  benchmark::RegisterBenchmark(("BM_InsertGroupCommit/" + b).c_str(),
                               [backend](benchmark::State& s) { BM_InsertGroupCommit(s, backend); })
      ->Arg(1)
      ->Arg(4)
      ->Arg(16)
      ->ArgName("threads")
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(("BM_PointRead/" + b).c_str(), [backend](benchmark::State& s) {
    BM_PointRead(s, backend);
  })->UseRealTime();
  benchmark::RegisterBenchmark(("BM_OutboxCycle/" + b).c_str(),
                               [backend](benchmark::State& s) { BM_OutboxCycle(s, backend); })
      ->Arg(1)
      ->Arg(64)
      ->ArgName("batch")
      ->UseRealTime();
}

}  // namespace
}  // namespace chukan::store

int main(int argc, char** argv) {
  using chukan::store::Backend;
  benchmark::Initialize(&argc, argv);
  chukan::store::Register(Backend::kSqlite);
  benchmark::RegisterBenchmark("BM_RawSqliteInsert", chukan::store::BM_RawSqliteInsert)
      ->Arg(1)
      ->Arg(1000)
      ->ArgName("rows_per_commit")
      ->UseRealTime();
  benchmark::RegisterBenchmark("BM_InsertDeleteSecure", chukan::store::BM_InsertDeleteSecure)
      ->Args({0, 64})
      ->Args({1, 64})
      ->ArgNames({"secure_delete", "batch"})
      ->UseRealTime();
  const char* dsn = std::getenv("CHUKAN_TEST_PG_DSN");
  if (dsn != nullptr && *dsn != '\0') {
    chukan::store::Register(Backend::kPostgres);
  } else {
    std::cerr << "store_bench: CHUKAN_TEST_PG_DSN unset; PostgreSQL benchmarks skipped "
                 "(run under scripts/with-postgres)\n";
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
