// Data-key rotation (データ鍵の更新): how many sealed values a rotation re-encrypts per second
// with no rate limit (RunRekey with max_batches 0: every batch of 500 at once; the server paces
// itself at 20 batches a second), and how long the finish's check (every value read and opened
// again) takes. A tenant with `rows` codes (subject_codes.atena_sealed: 15-byte values, the
// smallest; see docs/performance.md "Data-key rotation" for the replica's larger ones) on
// SQLite (synchronous=FULL) and — when CHUKAN_TEST_PG_DSN is set (scripts/with-postgres) — on
// PostgreSQL. Each iteration is one rotation: start (not timed), re-encrypt (timed), finish
// (timed apart: the counter finish_ms).
//
//   scripts/with-postgres build/release/bench/chukan_rekey_bench
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>

#include "common/clock.h"
#include "common/test_util.h"
#include "crypto/bytes.h"
#include "server/data_key_rotation.h"
#include "server/linkage_env.h"
#include "server/platform.h"
#include "store/tenant_store.h"

namespace chukan::server {
namespace {

const OrgCode kOrg = OrgCode::Parse("0000000000000141").value();

void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    std::cerr << "rekey_bench: " << what << ": " << s << "\n";
    std::abort();
  }
}
template <typename T>
T Check(Result<T> r, const char* what) {
  Check(r.status(), what);
  return std::move(r).value();
}

std::string Digits(int64_t i, char lead) {
  std::string s = std::to_string(i);
  return std::string(1, lead) + std::string(15 - s.size(), '0') + s;
}

// A platform with one tenant holding `rows` subject codes.
struct Env {
  chukan::testing::TempDir dir;
  FakeClock clock;
  std::string prefix;
  std::string dsn;
  std::unique_ptr<Platform> platform;

  Env(store::Backend backend, int64_t rows) {
    ServerConfig c;
    c.store.backend = backend;
    c.store.data_dir = dir.File("data");
    if (backend == store::Backend::kPostgres) {
      dsn = std::getenv("CHUKAN_TEST_PG_DSN");
      prefix = "crb_" + std::to_string(std::random_device()() % 1000000);
      c.store.dsn = dsn;
      c.store.pg_prefix = prefix;
    }
    c.keys_dir = dir.File("keys");
    platform = Check(Platform::Open(c, true, clock), "open");
    Check(platform->CreateTenant(kOrg, "city", "bench").status(), "create");
    std::shared_ptr<TenantContext> ctx = Check(platform->Tenant(TenantId::ForOrg(kOrg)), "tenant");
    const TenantId id = ctx->id;
    constexpr int64_t kPerCommit = 1000;
    for (int64_t from = 0; from < rows; from += kPerCommit) {
      Check(ctx->Commit([&](store::Transaction& tx) -> Status {
        for (int64_t i = from; i < std::min(rows, from + kPerCommit); ++i) {
          const std::string code = Digits(i, 'C');
          ASSIGN_OR_RETURN(crypto::Bytes sealed,
                           ctx->data_keys->Seal(crypto::AsBytes(Digits(i, '0').substr(1)),
                                                LinkageAad("atena", id, code)));
          RETURN_IF_ERROR(
              tx.Exec("INSERT INTO subject_codes (subject_code, atena_index, atena_sealed,"
                      " created_at_us) VALUES (?, ?, ?, 0)",
                      {code, crypto::ToBytes(code), sealed}));
        }
        return Status();
      }),
            "insert");
    }
  }
  ~Env() {
    // The tenant's schema goes with the tenant; the platform's by hand.
    Check(platform->DeleteTenant(kOrg, "bench"), "delete");
    platform.reset();
    if (prefix.empty()) return;
    store::PostgresOptions o;
    o.dsn = dsn;
    auto admin = Check(store::OpenPostgres(o), "admin");
    auto txn = Check(admin->Begin(), "begin");
    Check(txn->ExecScript("DROP SCHEMA " + prefix + "_platform CASCADE; DROP ROLE " + prefix +
                          "_platform"),
          "cleanup");
    Check(txn->Commit(), "cleanup commit");
  }
};

void BM_Rekey(benchmark::State& state, store::Backend backend) {
  if (backend == store::Backend::kPostgres && std::getenv("CHUKAN_TEST_PG_DSN") == nullptr) {
    state.SkipWithError("needs CHUKAN_TEST_PG_DSN (scripts/with-postgres)");
    return;
  }
  const int64_t rows = state.range(0);
  Env env(backend, rows);
  int64_t resealed = 0;
  double finish_s = 0;
  for (auto _ : state) {
    state.PauseTiming();
    bool started = false;
    const int64_t target =
        Check(env.platform->StartDataKeyRotation(kOrg, "bench", &started), "start").version + 1;
    state.ResumeTiming();
    RekeyOptions o;
    o.max_batches = 0;  // no pacing
    o.finish = false;
    const RekeyStatus st = Check(RunRekey(*env.platform, kOrg, o), "rekey");
    state.PauseTiming();
    for (const RekeyColumnProgress& c : st.columns) resealed += c.rows_resealed;
    env.clock.Advance(kDataKeyFinishGrace);
    const auto t0 = std::chrono::steady_clock::now();
    Check(env.platform->FinishDataKeyRotation(kOrg, target, "bench"), "finish");
    finish_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.ResumeTiming();
  }
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(resealed), benchmark::Counter::kIsRate);
  state.counters["finish_ms"] =
      benchmark::Counter(finish_s * 1000.0 / static_cast<double>(state.iterations()));
}

BENCHMARK_CAPTURE(BM_Rekey, sqlite, store::Backend::kSqlite)
    ->Arg(20'000)
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Rekey, postgres, store::Backend::kPostgres)
    ->Arg(20'000)
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace chukan::server

BENCHMARK_MAIN();
