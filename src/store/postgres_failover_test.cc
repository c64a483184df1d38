// The loss of the database's primary, with Patroni (scripts/with-patroni): a primary and a
// synchronous standby; the test writes through a GroupCommitter over the multi-host connection
// string (target_session_attrs=read-write), kills the primary's node (its Patroni and its
// postmaster, SIGKILL: a machine lost), and checks that every write acknowledged before, during
// and after the failover is there, that the writes in between failed with a retryable error,
// and how long writing was impossible.
//
// Runs only where CHUKAN_TEST_PATRONI_DSN is set (`make test-ha`, which also sets
// CHUKAN_REQUIRE_PATRONI so that it cannot skip); the other test runs skip it.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/status_matchers.h"
#include "store/database.h"
#include "store/group_commit.h"

namespace chukan::store {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

int FirstLineInt(const std::string& file) {
  std::ifstream in(file);
  int v = 0;
  in >> v;
  return v;
}

TEST(PostgresFailoverTest, AcknowledgedWritesSurviveTheLossOfThePrimary) {
  const std::string dsn = Env("CHUKAN_TEST_PATRONI_DSN");
  const std::string dir = Env("CHUKAN_TEST_PATRONI_DIR");
  if (dsn.empty() || dir.empty()) {
    if (!Env("CHUKAN_REQUIRE_PATRONI").empty()) FAIL() << "CHUKAN_TEST_PATRONI_DSN is not set";
    GTEST_SKIP() << "needs scripts/with-patroni (make test-ha)";
  }
  PostgresOptions o;
  o.dsn = dsn;
  o.pool_size = 4;
  o.acquire_timeout_ms = 5000;
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Database> db, OpenPostgres(o));
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db->Begin());
    ASSERT_OK(tx->ExecScript("CREATE TABLE IF NOT EXISTS ha (id BIGINT PRIMARY KEY)"));
    ASSERT_OK(tx->Commit());
  }
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<GroupCommitter> gc, GroupCommitter::Create(db, {}));

  // One writer: id after id; a failed write is tried again with the same id (the commit may
  // have happened before the connection broke: the insert is idempotent).
  std::atomic<int64_t> acked{0};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> failures{0};
  std::vector<std::string> odd_errors;  // the writer's only
  using Clock = std::chrono::steady_clock;
  std::atomic<int64_t> last_ok_ns{0};
  std::atomic<int64_t> longest_gap_ns{0};
  std::thread writer([&] {
    int64_t next = 1;
    last_ok_ns = Clock::now().time_since_epoch().count();
    while (!stop.load()) {
      Status s =
          gc->Submit([next](Transaction& tx) {
              return tx.Exec("INSERT INTO ha (id) VALUES (?) ON CONFLICT DO NOTHING", {next});
            }).get();
      const int64_t now = Clock::now().time_since_epoch().count();
      if (s.ok()) {
        longest_gap_ns = std::max(longest_gap_ns.load(), now - last_ok_ns.load());
        last_ok_ns = now;
        acked = next++;
        continue;
      }
      failures.fetch_add(1);
      // Retryable, as the storage contract says: the connection lost, no primary yet.
      if (s.code() != StatusCode::kUnavailable && s.code() != StatusCode::kAborted &&
          odd_errors.size() < 5) {
        odd_errors.push_back(s.ToString());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  while (acked.load() < 200) std::this_thread::sleep_for(std::chrono::milliseconds(10));

  // The primary's machine is lost: its Patroni and its postmaster die at once.
  const int patroni = FirstLineInt(dir + "/patroni-1.pid");
  const int postmaster = FirstLineInt(dir + "/pg1/postmaster.pid");
  ASSERT_GT(patroni, 1);
  ASSERT_GT(postmaster, 1);
  const int64_t before = acked.load();
  const auto killed = Clock::now();
  ASSERT_EQ(kill(patroni, SIGKILL), 0);
  ASSERT_EQ(kill(postmaster, SIGKILL), 0);
  // Writing resumes on the promoted standby: 200 more acknowledged writes, within 60 s.
  while (acked.load() < before + 200 && Clock::now() - killed < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  writer.join();
  ASSERT_GE(acked.load(), before + 200) << "writing did not resume within 60 s";
  EXPECT_TRUE(odd_errors.empty()) << odd_errors.front();
  const double outage_s = static_cast<double>(longest_gap_ns.load()) / 1e9;
  std::cerr << "failover: writes stopped for " << outage_s << " s at most; " << failures.load()
            << " failed attempts, retried; " << acked.load() << " acknowledged\n";
  EXPECT_LT(outage_s, 40.0);
  // Every acknowledged write is on the new primary (synchronous replication: none lost).
  ASSERT_OK_AND_ASSIGN(auto tx, db->BeginRead());
  ASSERT_OK_AND_ASSIGN(std::vector<Row> rows, tx->Query("SELECT id FROM ha ORDER BY id"));
  std::set<int64_t> present;
  for (const Row& r : rows) present.insert(r.GetInt(0).value());
  for (int64_t id = 1; id <= acked.load(); ++id) {
    ASSERT_TRUE(present.count(id) == 1) << "acknowledged write " << id << " is lost";
  }
  // And they went to a primary (the promoted standby), never to a read-only standby.
  ASSERT_OK_AND_ASSIGN(std::optional<Row> recovery,
                       tx->QueryOne("SELECT CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END"));
  ASSERT_TRUE(recovery.has_value());
  EXPECT_EQ(recovery->GetInt(0).value(), 0);
}

}  // namespace
}  // namespace chukan::store
