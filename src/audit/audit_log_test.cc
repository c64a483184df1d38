#include "audit/audit_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include "common/status_matchers.h"
#include "common/test_util.h"
#include "crypto/bytes.h"
#include "store/tenant_store.h"

namespace chukan::audit {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

// Each test runs on SQLite and on the private PostgreSQL started by scripts/with-postgres.
class AuditLogTest : public ::testing::TestWithParam<store::Backend> {
 protected:
  void SetUp() override {
    store::StoreOptions options;
    options.backend = GetParam();
    if (GetParam() == store::Backend::kPostgres) {
      const char* dsn = std::getenv("CHUKAN_TEST_PG_DSN");
      if (dsn == nullptr || *dsn == '\0') {
        if (std::getenv("CI") != nullptr) {
          FAIL() << "CHUKAN_TEST_PG_DSN is not set: in CI the PostgreSQL tests must run "
                    "(use scripts/with-postgres)";
        }
        GTEST_SKIP() << "CHUKAN_TEST_PG_DSN is not set; run under scripts/with-postgres";
      }
      options.dsn = dsn;
      options.pg_prefix = "audit" + crypto::ToHex(crypto::RandomBytes(6));
    } else {
      options.data_dir = dir_.path();
    }
    ASSERT_OK_AND_ASSIGN(store_, store::TenantStore::Open(options));
    ASSERT_OK_AND_ASSIGN(db_, store_->Platform());
  }

  std::unique_ptr<AuditLog> OpenLog(int64_t checkpoint_every = 10) {
    AuditLog::Options o;
    o.checkpoint_key = &key_;
    o.checkpoint_every = checkpoint_every;
    o.clock = &clock_;
    auto log = AuditLog::Open(db_, o);
    EXPECT_OK(log);
    return log.ok() ? std::move(log).value() : nullptr;
  }

  static AuditEvent Event(int i) {
    return AuditEvent{"platform",
                      "cli:root",
                      "tenant.create",
                      "tenant t000000000000" + std::to_string(1000 + i),
                      "ok",
                      "req-" + std::to_string(100000000 + i)};
  }

  void AppendN(AuditLog& log, int n) {
    for (int i = 1; i <= n; ++i) {
      clock_.Advance(std::chrono::seconds(1));
      ASSERT_OK_AND_ASSIGN(int64_t seq, log.Append(Event(i)));
      ASSERT_EQ(seq, i);
    }
  }

  // Runs tampering SQL with the append-only triggers out of the way, as an attacker with
  // database access would.
  void Tamper(const std::vector<std::string>& statements) {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
    if (GetParam() == store::Backend::kSqlite) {
      ASSERT_OK(tx->Exec("DROP TRIGGER audit_log_no_update"));
      ASSERT_OK(tx->Exec("DROP TRIGGER audit_log_no_delete"));
    } else {
      ASSERT_OK(tx->Exec("DROP TRIGGER audit_log_no_change ON audit_log"));
    }
    for (const std::string& s : statements) ASSERT_OK(tx->Exec(s)) << s;
    ASSERT_OK(tx->Commit());
  }

  VerifyReport MustVerify(const VerifyOptions& options = {}) {
    auto r = Verify(*db_, options);
    EXPECT_OK(r);
    return r.ok() ? *r : VerifyReport{};
  }

  chukan::testing::TempDir dir_;
  FakeClock clock_;
  crypto::SigningKey key_ = crypto::SigningKey::Generate();
  std::unique_ptr<store::TenantStore> store_;
  std::shared_ptr<store::Database> db_;
};

TEST_P(AuditLogTest, IntactChainVerifies) {
  auto log = OpenLog(10);
  AppendN(*log, 25);
  VerifyReport r = MustVerify({{key_.verify_key()}, 7});  // small pages cross page borders
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 25);
  EXPECT_EQ(r.last_seq, 25);
  EXPECT_EQ(r.checkpoints, 2);  // at 10 and 20
  EXPECT_TRUE(r.keys_pinned);
  EXPECT_EQ(r.first_bad_seq, 0);
}

TEST_P(AuditLogTest, EmptyLogVerifies) {
  auto log = OpenLog();
  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.entries, 0);
  ASSERT_OK_AND_ASSIGN(int64_t cp, log->Checkpoint());
  EXPECT_EQ(cp, 0);
}

TEST_P(AuditLogTest, ReopeningContinuesTheChain) {
  AppendN(*OpenLog(), 3);
  auto log = OpenLog();
  ASSERT_OK_AND_ASSIGN(int64_t seq, log->Append(Event(4)));
  EXPECT_EQ(seq, 4);
  EXPECT_TRUE(MustVerify().ok);
}

TEST_P(AuditLogTest, TableIsAppendOnly) {
  auto log = OpenLog();
  AppendN(*log, 2);
  ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
  Status s = tx->Exec("UPDATE audit_log SET outcome = 'denied' WHERE seq = 1");
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("append-only"));
}

TEST_P(AuditLogTest, AppendInRolledBackTransactionLeavesNoTrace) {
  auto log = OpenLog();
  AppendN(*log, 2);
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
    ASSERT_OK_AND_ASSIGN(int64_t seq, log->Append(*tx, Event(3)));
    EXPECT_EQ(seq, 3);
    // no Commit(): the operation failed, and so its audit entry disappears with it
  }
  ASSERT_OK_AND_ASSIGN(int64_t seq, log->Append(Event(3)));
  EXPECT_EQ(seq, 3);
  EXPECT_TRUE(MustVerify().ok);
}

TEST_P(AuditLogTest, RejectsBadFields) {
  auto log = OpenLog();
  AuditEvent e = Event(1);
  e.actor = "";
  EXPECT_THAT(log->Append(e), StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"actor\"")));
  e = Event(1);
  e.target = std::string(kMaxTargetBytes + 1, 'x');
  EXPECT_THAT(log->Append(e), StatusIs(StatusCode::kInvalidArgument, HasSubstr("over the limit")));
  e = Event(1);
  e.action = "bad\xff";
  EXPECT_THAT(log->Append(e), StatusIs(StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
}

TEST_P(AuditLogTest, DetectsEdit) {
  AppendN(*OpenLog(), 12);
  Tamper({"UPDATE audit_log SET outcome = 'denied' WHERE seq = 5"});
  VerifyReport r = MustVerify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 5);
  EXPECT_THAT(r.problem, HasSubstr("entry 5: its content does not match its hash"));
}

TEST_P(AuditLogTest, DetectsDeletion) {
  AppendN(*OpenLog(), 12);
  Tamper({"DELETE FROM audit_log WHERE seq = 5"});
  VerifyReport r = MustVerify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 5);
  EXPECT_THAT(r.problem, HasSubstr("entry 5 is missing"));
}

TEST_P(AuditLogTest, DetectsTruncatedTail) {
  AppendN(*OpenLog(0), 12);
  Tamper({"DELETE FROM audit_log WHERE seq > 9"});
  VerifyReport r = MustVerify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 10);
  EXPECT_THAT(r.problem, HasSubstr("removed from the end"));
}

TEST_P(AuditLogTest, DetectsInsertion) {
  AppendN(*OpenLog(), 8);
  // Make room at seq 5 and insert a well-formed entry chained to entry 4.
  ASSERT_OK_AND_ASSIGN(auto rtx, db_->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto row4, rtx->QueryOne("SELECT hash FROM audit_log WHERE seq = 4"));
  ASSERT_TRUE(row4.has_value());
  ASSERT_OK_AND_ASSIGN(std::vector<uint8_t> hash4, row4->GetBlob(0));
  rtx.reset();
  AuditEvent forged = Event(99);
  const int64_t t = 1775001600000000;
  std::vector<uint8_t> forged_hash = EntryHash(5, t, forged, hash4);
  const std::string x = GetParam() == store::Backend::kSqlite ? "X'" : "'\\x";
  Tamper({"UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 5",
          "UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1005",
          "INSERT INTO audit_log VALUES (5, " + std::to_string(t) +
              ", 'platform', 'cli:root', 'tenant.create', 'tenant t0000000000001099', 'ok', "
              "'req-100000099', " +
              x + crypto::ToHex(hash4) + "', " + x + crypto::ToHex(forged_hash) + "')"});
  VerifyReport r = MustVerify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 6);
  EXPECT_THAT(r.problem, HasSubstr("entry 6: its previous-hash link does not match entry 5"));
}

TEST_P(AuditLogTest, DetectsReordering) {
  AppendN(*OpenLog(), 8);
  // Swap every column but seq between entries 3 and 4.
  Tamper({"UPDATE audit_log SET seq = 1003 WHERE seq = 3",
          "UPDATE audit_log SET seq = 3 WHERE seq = 4",
          "UPDATE audit_log SET seq = 4 WHERE seq = 1003"});
  VerifyReport r = MustVerify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 3);
  EXPECT_THAT(r.problem, HasSubstr("entry 3: its previous-hash link does not match entry 2"));
}

TEST_P(AuditLogTest, CheckpointCatchesWholesaleRewrite) {
  auto log = OpenLog(10);
  AppendN(*log, 12);
  // The attacker edits entry 5 and recomputes every later hash and the head: the chain is
  // self-consistent again, but no longer matches the signed checkpoint at 10.
  ASSERT_OK_AND_ASSIGN(auto rtx, db_->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto rows, rtx->Query("SELECT seq, time_us, scope, actor, action, target, "
                                             "outcome, request_id FROM audit_log ORDER BY seq"));
  rtx.reset();
  std::vector<std::string> sql;
  std::vector<uint8_t> prev(32, 0);
  const std::string x = GetParam() == store::Backend::kSqlite ? "X'" : "'\\x";
  for (const store::Row& row : rows) {
    AuditEvent e{*row.GetText(2), *row.GetText(3), *row.GetText(4),
                 *row.GetText(5), *row.GetText(6), *row.GetText(7)};
    const int64_t seq = *row.GetInt(0);
    if (seq == 5) e.outcome = "denied";
    std::vector<uint8_t> h = EntryHash(seq, *row.GetInt(1), e, prev);
    sql.push_back("UPDATE audit_log SET outcome = '" + e.outcome + "', prev_hash = " + x +
                  crypto::ToHex(prev) + "', hash = " + x + crypto::ToHex(h) +
                  "' WHERE seq = " + std::to_string(seq));
    prev = h;
  }
  sql.push_back("UPDATE audit_head SET hash = " + x + crypto::ToHex(prev) + "' WHERE id = 1");
  Tamper(sql);
  VerifyReport r = MustVerify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 10);
  EXPECT_THAT(r.problem, HasSubstr("checkpoint at seq 10 does not match the chain"));
}

TEST_P(AuditLogTest, DetectsForgedCheckpointSignature) {
  AppendN(*OpenLog(10), 10);
  const std::string x = GetParam() == store::Backend::kSqlite ? "X'" : "'\\x";
  Tamper({"UPDATE audit_checkpoint SET signature = " + x + std::string(128, '0') +
          "' WHERE seq = 10"});
  VerifyReport r = MustVerify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 10);
  EXPECT_THAT(r.problem, HasSubstr("checkpoint at seq 10 has an invalid signature"));
}

TEST_P(AuditLogTest, PinnedKeyRejectsOtherSigner) {
  AppendN(*OpenLog(10), 10);
  crypto::SigningKey other = crypto::SigningKey::Generate();
  VerifyReport r = MustVerify({{other.verify_key()}, 100});
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.problem, HasSubstr("signed by an untrusted key"));
}

TEST_P(AuditLogTest, ConcurrentAppendersKeepOneChain) {
  auto log = OpenLog(50);
  constexpr int kThreads = 4;
  constexpr int kEach = 25;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        if (!log->Append(Event(t * 1000 + i)).ok()) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, kThreads * kEach);
  EXPECT_EQ(r.checkpoints, 2);
}

INSTANTIATE_TEST_SUITE_P(Backends, AuditLogTest,
                         ::testing::Values(store::Backend::kSqlite, store::Backend::kPostgres),
                         [](const auto& param_info) {
                           return std::string(store::BackendName(param_info.param));
                         });

}  // namespace
}  // namespace chukan::audit
