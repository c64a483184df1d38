// Audit log benchmarks on SQLite (synchronous=FULL): appending with one durable commit per
// entry, appending 100 entries per commit (how group commit uses it), and verifying a chain.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>

#include "audit/audit_log.h"
#include "crypto/ed25519.h"
#include "store/database.h"

namespace chukan::audit {
namespace {

struct Fixture {
  explicit Fixture(const std::string& name) {
    dir = std::filesystem::temp_directory_path() / ("chukan-audit-bench-" + name);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    store::SqliteOptions o;
    o.path = (dir / "audit.db").string();
    db = store::OpenSqlite(o).value();
    AuditLog::Options lo;
    lo.checkpoint_key = &key;
    log = AuditLog::Open(db, lo).value();
  }
  ~Fixture() {
    log.reset();
    db.reset();
    std::filesystem::remove_all(dir);
  }
  std::filesystem::path dir;
  crypto::SigningKey key = crypto::SigningKey::Generate();
  std::shared_ptr<store::Database> db;
  std::unique_ptr<AuditLog> log;
};

const AuditEvent kEvent{"t0000000000000131",
                        "client:juki-system",
                        "replica.import",
                        "import 01JD8Y3Q4M6Z",
                        "ok",
                        "5f0c3e4a9b7d4e21a0c1d2e3f4a5b6c7"};

void BM_AppendDurableEach(benchmark::State& state) {
  Fixture f("each");
  for (auto _ : state) {
    if (!f.log->Append(kEvent).ok()) state.SkipWithError("append failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AppendDurableEach)->Unit(benchmark::kMicrosecond);

void BM_AppendBatched100(benchmark::State& state) {
  Fixture f("batch");
  for (auto _ : state) {
    auto tx = f.db->Begin().value();
    for (int i = 0; i < 100; ++i) {
      if (!f.log->Append(*tx, kEvent).ok()) state.SkipWithError("append failed");
    }
    if (!tx->Commit().ok()) state.SkipWithError("commit failed");
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_AppendBatched100)->Unit(benchmark::kMillisecond);

void BM_Verify(benchmark::State& state) {
  Fixture f("verify");
  const int64_t n = state.range(0);
  auto tx = f.db->Begin().value();
  for (int64_t i = 0; i < n; ++i) (void)f.log->Append(*tx, kEvent);
  (void)tx->Commit();
  (void)f.log->Checkpoint();  // Verify requires the head to be signed
  for (auto _ : state) {
    auto r = Verify(*f.db);
    if (!r.ok() || !r->ok) state.SkipWithError("verify failed");
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_Verify)->Arg(100000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace chukan::audit

BENCHMARK_MAIN();
