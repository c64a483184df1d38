// Over 600 lines: the audit chain's tamper cases (deleted, changed, reordered, re-chained
// entries; checkpoints removed or forged; exports) on both storage backends.
#include "audit/audit_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <thread>

#include "common/status_matchers.h"
#include "common/test_util.h"
#include "crypto/bytes.h"
#include "store/tenant_store.h"

namespace chukan::audit {
namespace {

using ::chukan::testing::StatusIs;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
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

  // checkpoint_interval 0 turns time-based checkpoints off, for tests of count-based ones.
  std::unique_ptr<AuditLog> OpenLog(int64_t checkpoint_every = 10,
                                    Duration checkpoint_interval = std::chrono::seconds(5),
                                    std::shared_ptr<CheckpointSink> sink = nullptr) {
    AuditLog::Options o;
    o.checkpoint_key = &key_;
    o.checkpoint_every = checkpoint_every;
    o.checkpoint_interval = checkpoint_interval;
    o.checkpoint_sink = std::move(sink);
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
    TamperWith([&](store::Transaction& tx) {
      for (const std::string& s : statements) ASSERT_OK(tx.Exec(s)) << s;
    });
  }
  void TamperWith(const std::function<void(store::Transaction&)>& f) {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
    if (GetParam() == store::Backend::kSqlite) {
      ASSERT_OK(tx->Exec("DROP TRIGGER IF EXISTS audit_log_no_update"));
      ASSERT_OK(tx->Exec("DROP TRIGGER IF EXISTS audit_log_no_delete"));
    } else {
      ASSERT_OK(tx->Exec("DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log"));
    }
    f(*tx);
    ASSERT_OK(tx->Commit());
  }

  // The chain as stored, in seq order.
  std::vector<AuditEntry> ReadChain() {
    std::vector<AuditEntry> chain;
    auto tx = db_->BeginRead();
    EXPECT_OK(tx);
    if (!tx.ok()) return chain;
    auto rows = (*tx)->Query(
        "SELECT seq, time_us, scope, actor, action, target, outcome, request_id, prev_hash, "
        "hash FROM audit_log ORDER BY seq");
    EXPECT_OK(rows);
    if (!rows.ok()) return chain;
    for (const store::Row& row : *rows) {
      AuditEntry e;
      e.seq = *row.GetInt(0);
      e.time_us = *row.GetInt(1);
      e.event = {*row.GetText(2), *row.GetText(3), *row.GetText(4),
                 *row.GetText(5), *row.GetText(6), *row.GetText(7)};
      e.prev_hash = *row.GetBlob(8);
      e.hash = *row.GetBlob(9);
      chain.push_back(std::move(e));
    }
    return chain;
  }

  // What an attacker with write access to the database can do: replaces the whole chain with
  // `entries`, renumbered from 1 with every hash recomputed, and points the head at the last.
  // Checkpoint rows are left alone.
  void RewriteChain(const std::vector<AuditEntry>& entries) {
    TamperWith([&](store::Transaction& tx) {
      ASSERT_OK(tx.Exec("DELETE FROM audit_log"));
      std::vector<uint8_t> prev(32, 0);
      int64_t seq = 0;
      for (const AuditEntry& e : entries) {
        ++seq;
        std::vector<uint8_t> hash = EntryHash(seq, e.time_us, e.event, prev);
        ASSERT_OK(tx.Exec("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          {seq, e.time_us, e.event.scope, e.event.actor, e.event.action,
                           e.event.target, e.event.outcome, e.event.request_id, prev, hash}));
        prev = hash;
      }
      ASSERT_OK(tx.Exec("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", {seq, prev}));
    });
  }

  std::vector<int64_t> CheckpointSeqs() {
    std::vector<int64_t> seqs;
    auto tx = db_->BeginRead();
    EXPECT_OK(tx);
    if (!tx.ok()) return seqs;
    auto rows = (*tx)->Query("SELECT seq FROM audit_checkpoint ORDER BY seq");
    EXPECT_OK(rows);
    if (!rows.ok()) return seqs;
    for (const store::Row& row : *rows) seqs.push_back(*row.GetInt(0));
    return seqs;
  }

  static std::vector<int64_t> Seqs(const std::vector<CheckpointRecord>& records) {
    std::vector<int64_t> seqs;
    for (const CheckpointRecord& r : records) seqs.push_back(r.seq);
    return seqs;
  }

  // A log by time only (every 5 s) exporting to a file outside the data directory, with 12
  // entries a second apart and its head signed: checkpoints at 1, 6, 11 and 12, all exported.
  std::unique_ptr<AuditLog> ExportingLogWith12Entries() {
    auto file = CheckpointFile::Open(export_path_);
    EXPECT_OK(file);
    if (!file.ok()) return nullptr;
    auto log = OpenLog(0, seconds(5), std::shared_ptr<CheckpointSink>(std::move(*file)));
    if (log == nullptr) return nullptr;
    AppendN(*log, 12);
    auto signed_now = log->CheckpointIfBehind();
    EXPECT_OK(signed_now);
    EXPECT_THAT(CheckpointSeqs(), ElementsAre(1, 6, 11, 12));
    return log;
  }

  VerifyReport MustVerifyWithCopy(const std::string& path) {
    auto records = ReadCheckpointFile(path);
    EXPECT_OK(records);
    VerifyOptions o;
    o.trusted_keys = {key_.verify_key()};
    if (records.ok()) o.external_checkpoints = *records;
    return MustVerify(o);
  }

  VerifyReport MustVerify(const VerifyOptions& options = {}) {
    auto r = Verify(*db_, options);
    EXPECT_OK(r);
    return r.ok() ? *r : VerifyReport{};
  }

  chukan::testing::TempDir dir_;
  chukan::testing::TempDir export_dir_;  // elsewhere than the data directory, as in production
  const std::string export_path_ = export_dir_.File("platform.checkpoints.jsonl");
  FakeClock clock_;
  crypto::SigningKey key_ = crypto::SigningKey::Generate();
  std::unique_ptr<store::TenantStore> store_;
  std::shared_ptr<store::Database> db_;
};

TEST_P(AuditLogTest, IntactChainVerifies) {
  auto log = OpenLog(10, Duration::zero());  // by count only
  AppendN(*log, 25);
  // Small pages cross page borders; 21..25 are allowed to be unsigned.
  VerifyReport r = MustVerify({{key_.verify_key()}, 7, 5});
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 25);
  EXPECT_EQ(r.last_seq, 25);
  EXPECT_EQ(r.checkpoints, 2);  // at 10 and 20
  EXPECT_EQ(r.last_checkpoint_seq, 20);
  EXPECT_EQ(r.unprotected_entries, 5);
  EXPECT_FALSE(r.head_unprotected);
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
  AppendN(*OpenLog(), 3);  // signed at 1 (the first entry), not since
  auto log = OpenLog();
  clock_.Advance(seconds(3));  // 5 s after the checkpoint at 1, which the new instance reads
  ASSERT_OK_AND_ASSIGN(int64_t seq, log->Append(Event(4)));
  EXPECT_EQ(seq, 4);
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(1, 4));
  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.unprotected_entries, 0);
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
  AppendN(*log, 2);  // signed at 1
  clock_.Advance(seconds(5));
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
    ASSERT_OK_AND_ASSIGN(int64_t seq, log->Append(*tx, Event(3)));
    EXPECT_EQ(seq, 3);
    // no Commit(): the operation failed, and so its audit entry disappears with it — and the
    // time-based checkpoint that covered it, which was written in the same transaction
  }
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(1));
  ASSERT_OK_AND_ASSIGN(int64_t seq, log->Append(Event(3)));
  EXPECT_EQ(seq, 3);
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(1, 3));  // still due: signed again, over the new 3
  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.checkpoints, 2);
}

// The log keeps the head it wrote (docs/audit.md, "The head kept in memory"): an entry after it
// is the head's compare-and-set and the entry's insert, not a read of the head first.
TEST_P(AuditLogTest, AnAppendAfterTheLogsOwnIsTwoStatements) {
  auto log = OpenLog(0, std::chrono::hours(1));
  ASSERT_OK(log->Append(Event(1)));  // reads the head, and signs it (nothing was signed)
  ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
  const int64_t before = db_->stats().statements_executed;
  ASSERT_OK_AND_ASSIGN(int64_t seq, log->Append(*tx, Event(2)));
  EXPECT_EQ(seq, 2);
  ASSERT_OK_AND_ASSIGN(seq, log->Append(*tx, Event(3)));
  EXPECT_EQ(seq, 3);
  EXPECT_EQ(db_->stats().statements_executed - before, 4);
  ASSERT_OK(tx->Commit());
  ASSERT_OK(log->CheckpointIfBehind());
  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.last_seq, 3);
}

// The head this log remembers never committed (its transaction rolled back), and another
// appender — another node, the CLI — then wrote an entry with the same seq. The next append
// must chain from that entry, not from the one it remembers: the compare-and-set compares the
// hash as well as the seq, matches nothing, and the head is read.
TEST_P(AuditLogTest, AnEntryOfAnotherAppenderAfterARollbackIsChainedFrom) {
  auto log = OpenLog(0, std::chrono::hours(1));
  auto other = OpenLog(0, std::chrono::hours(1));
  ASSERT_OK(log->Append(Event(1)));
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
    ASSERT_OK_AND_ASSIGN(int64_t seq, log->Append(*tx, Event(2)));
    EXPECT_EQ(seq, 2);
    // rolled back: `log` remembers a head at 2 that does not exist
  }
  clock_.Advance(seconds(1));
  ASSERT_OK_AND_ASSIGN(int64_t theirs, other->Append(Event(3)));
  EXPECT_EQ(theirs, 2);
  clock_.Advance(seconds(1));
  ASSERT_OK_AND_ASSIGN(int64_t ours, log->Append(Event(4)));
  EXPECT_EQ(ours, 3);
  std::vector<AuditEntry> chain = ReadChain();
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_EQ(chain[1].event.request_id, Event(3).request_id);
  EXPECT_EQ(chain[2].prev_hash, chain[1].hash);
  ASSERT_OK(log->CheckpointIfBehind());
  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.last_seq, 3);
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
  auto log = OpenLog(10, Duration::zero());  // by count only: one checkpoint, at 10
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
  auto log = OpenLog(50);  // and by time: the clock stands still, so only the first entry
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
  // The first appender signs entry 1; the others, queued on the head's lock, then see that
  // checkpoint. Then 50 and 100 by count.
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(1, 50, 100));
  EXPECT_EQ(r.checkpoints, 3);
}

// The race ConcurrentAppendersKeepOneChain caught once under ASan, made deterministic. On
// PostgreSQL the head's UPDATE reads the newest checkpoint with its statement's snapshot,
// taken before it waits for the head's lock: an appender queued behind a transaction that
// signs a checkpoint must look again once it holds the lock, or it signs a second one.
TEST_P(AuditLogTest, AnAppenderQueuedBehindACheckpointDoesNotSignAnother) {
  if (GetParam() != store::Backend::kPostgres) {
    GTEST_SKIP() << "SQLite write transactions are exclusive: no appender waits inside one";
  }
  auto log = OpenLog(0, std::chrono::hours(1));  // by time only
  ASSERT_OK(log->Append(Event(1)));
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(1));
  clock_.Advance(std::chrono::hours(2));  // a checkpoint is due for the next entry

  ASSERT_OK_AND_ASSIGN(auto first, db_->Begin());
  ASSERT_OK_AND_ASSIGN(int64_t first_seq, log->Append(*first, Event(2)));  // holds the head
  ASSERT_EQ(first_seq, 2);

  ASSERT_OK_AND_ASSIGN(auto second, db_->Begin());
  ASSERT_OK_AND_ASSIGN(auto pid_row, second->QueryOne("SELECT pg_backend_pid()"));
  ASSERT_TRUE(pid_row.has_value());
  ASSERT_OK_AND_ASSIGN(const int64_t second_pid, pid_row->GetInt(0));
  Result<int64_t> second_seq = InternalError("not run");
  std::thread waiter([&] { second_seq = log->Append(*second, Event(3)); });

  // The second appender's UPDATE is waiting for the head's lock, its snapshot taken.
  bool waiting = false;
  for (int i = 0; i < 1000 && !waiting; ++i) {
    auto tx = db_->BeginRead();
    ASSERT_OK(tx);
    auto row = (*tx)->QueryOne("SELECT count(*) FROM pg_locks WHERE pid = ? AND NOT granted",
                               {second_pid});
    ASSERT_OK(row);
    waiting = row->has_value() && *(*row)->GetInt(0) == 1;
    if (!waiting) std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_TRUE(waiting) << "the second appender never waited for the head's lock";
  ASSERT_OK(first->Commit());  // the checkpoint at 2 is committed while the second waits
  waiter.join();
  ASSERT_OK(second_seq);
  EXPECT_EQ(*second_seq, 3);
  ASSERT_OK(second->Commit());

  EXPECT_THAT(CheckpointSeqs(), ElementsAre(1, 2));  // not 3: 2 was signed the same instant
  EXPECT_THAT(MustVerify().problem, HasSubstr("1 trailing entry (seq 3) is not covered"));
  ASSERT_OK_AND_ASSIGN(const bool signed_now, log->CheckpointIfBehind());
  EXPECT_TRUE(signed_now);
  VerifyReport r = MustVerify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.checkpoints, 3);
}

// The outside review's demonstration: with write access to the database, a log of 136 entries
// had two entries deleted and one changed, the chain and head recomputed, and verify said
// intact (there was no checkpoint below 1,000 entries). With the default options the head is
// signed at least every 5 s, so the rewrite is caught whatever is done to the checkpoint rows.
TEST_P(AuditLogTest, ReviewersRewriteOf136EntriesIsDetected) {
  AuditLog::Options o;  // defaults: checkpoint_every 1000, checkpoint_interval 5 s
  o.checkpoint_key = &key_;
  o.clock = &clock_;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<AuditLog> log, AuditLog::Open(db_, o));
  AppendN(*log, 136);  // one a second: signed at 1, 6, 11, …, 136
  VerifyReport intact = MustVerify();
  ASSERT_TRUE(intact.ok) << intact.problem;
  EXPECT_EQ(intact.checkpoints, 28);
  EXPECT_EQ(intact.unprotected_entries, 0);

  std::vector<AuditEntry> chain = ReadChain();
  ASSERT_EQ(chain.size(), 136u);
  chain.erase(chain.begin() + 39, chain.begin() + 41);  // entries 40 and 41
  chain[47].event.outcome = "denied";                   // entry 50, now 48
  RewriteChain(chain);                                  // 134 entries, self-consistent again

  VerifyReport r = MustVerify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 41);
  EXPECT_EQ(r.problem,
            "checkpoint at seq 41 does not match the chain (entries up to it were rewritten)");

  // The attacker cannot sign, so removes the checkpoints the rewrite broke: what remains
  // vouches for nothing after 36.
  Tamper({"DELETE FROM audit_checkpoint WHERE seq >= 40"});
  r = MustVerify();
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.head_unprotected);
  EXPECT_EQ(r.last_checkpoint_seq, 36);
  EXPECT_EQ(r.unprotected_entries, 98);
  EXPECT_EQ(r.first_bad_seq, 37);
  EXPECT_EQ(r.problem, "98 trailing entries (seq 37..134) are not covered by a signed checkpoint");

  // Or removes every checkpoint.
  Tamper({"DELETE FROM audit_checkpoint"});
  r = MustVerify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.entries, 134);
  EXPECT_EQ(r.last_checkpoint_seq, 0);
  EXPECT_EQ(r.unprotected_entries, 134);
  EXPECT_EQ(r.first_bad_seq, 1);
  EXPECT_EQ(r.problem, "134 trailing entries (seq 1..134) are not covered by a signed checkpoint");
}

TEST_P(AuditLogTest, TimeCheckpointOnlyOnceTheIntervalHasPassed) {
  auto log = OpenLog(0);  // by time only, every 5 s
  ASSERT_OK(log->Append(Event(1)));
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(1));  // nothing was signed yet: signed at once
  const int64_t first_us = ToUnixMicros(clock_.Now());
  clock_.Advance(seconds(4));
  ASSERT_OK(log->Append(Event(2)));
  clock_.Advance(milliseconds(999));
  ASSERT_OK(log->Append(Event(3)));
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(1));  // 4.999 s: not yet

  clock_.Advance(milliseconds(1));  // 5 s after the checkpoint at 1
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
    ASSERT_OK_AND_ASSIGN(int64_t seq, log->Append(*tx, Event(4)));
    EXPECT_EQ(seq, 4);
    ASSERT_OK(tx->Commit());
  }
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(1, 4));  // covers the entry it was appended with
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->BeginRead());
    ASSERT_OK_AND_ASSIGN(auto row, tx->QueryOne("SELECT time_us FROM audit_checkpoint WHERE "
                                                "seq = 4"));
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(*row->GetInt(0), first_us + 5'000'000);
  }
  clock_.Advance(seconds(1));
  ASSERT_OK(log->Append(Event(5)));
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(1, 4));

  // A clock set back (newest checkpoint "in the future") signs at once rather than waiting.
  clock_.Advance(-std::chrono::hours(1));
  ASSERT_OK(log->Append(Event(6)));
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(1, 4, 6));
}

TEST_P(AuditLogTest, CheckpointIfBehindCoversTheHeadOnce) {
  auto log = OpenLog(0);  // by time only, every 5 s
  ASSERT_OK_AND_ASSIGN(bool signed_now, log->CheckpointIfBehind());
  EXPECT_FALSE(signed_now);  // empty: nothing to sign
  EXPECT_THAT(CheckpointSeqs(), ElementsAre());

  AppendN(*log, 3);  // signed at 1; 2 and 3 within 5 s of it
  VerifyReport r = MustVerify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.unprotected_entries, 2);

  ASSERT_OK_AND_ASSIGN(signed_now, log->CheckpointIfBehind());  // the timer, or shutdown
  EXPECT_TRUE(signed_now);
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(1, 3));
  r = MustVerify({{key_.verify_key()}});
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.last_checkpoint_seq, 3);
  EXPECT_EQ(r.unprotected_entries, 0);

  ASSERT_OK_AND_ASSIGN(signed_now, log->CheckpointIfBehind());
  EXPECT_FALSE(signed_now);  // already covered
  ASSERT_OK_AND_ASSIGN(int64_t seq, log->Checkpoint());
  EXPECT_EQ(seq, 3);
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(1, 3));

  AuditLog::Options keyless;
  keyless.clock = &clock_;
  ASSERT_OK_AND_ASSIGN(auto unsigned_log, AuditLog::Open(db_, keyless));
  EXPECT_THAT(unsigned_log->CheckpointIfBehind(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("no checkpoint signing key")));
}

TEST_P(AuditLogTest, UnprotectedEntriesAreCountedAndRefused) {
  auto log = OpenLog(0, Duration::zero());  // no automatic checkpoints
  AppendN(*log, 5);
  VerifyReport r = MustVerify();
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.head_unprotected);
  EXPECT_EQ(r.entries, 5);
  EXPECT_EQ(r.unprotected_entries, 5);
  EXPECT_EQ(r.last_checkpoint_seq, 0);
  EXPECT_EQ(r.first_bad_seq, 1);
  EXPECT_EQ(r.problem, "5 trailing entries (seq 1..5) are not covered by a signed checkpoint");

  ASSERT_OK_AND_ASSIGN(int64_t cp, log->Checkpoint());
  EXPECT_EQ(cp, 5);
  ASSERT_OK(log->Append(Event(6)));
  ASSERT_OK(log->Append(Event(7)));
  r = MustVerify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.unprotected_entries, 2);
  EXPECT_EQ(r.first_bad_seq, 6);
  EXPECT_EQ(r.problem, "2 trailing entries (seq 6..7) are not covered by a signed checkpoint");

  VerifyOptions allow;
  allow.max_unprotected = 2;
  r = MustVerify(allow);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.unprotected_entries, 2);
  allow.max_unprotected = 1;
  r = MustVerify(allow);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.problem,
            "2 trailing entries (seq 6..7) are not covered by a signed checkpoint (at most 1 "
            "allowed)");

  ASSERT_OK(log->Checkpoint());
  ASSERT_OK(log->Append(Event(8)));
  r = MustVerify();
  EXPECT_EQ(r.problem, "1 trailing entry (seq 8) is not covered by a signed checkpoint");

  allow.max_unprotected = -1;
  EXPECT_THAT(Verify(*db_, allow), StatusIs(StatusCode::kInvalidArgument));
}

TEST_P(AuditLogTest, ExportedCopyMatchesAndVerifies) {
  auto log = ExportingLogWith12Entries();
  ASSERT_NE(log, nullptr);
  ASSERT_OK_AND_ASSIGN(std::vector<CheckpointRecord> copy, ReadCheckpointFile(export_path_));
  ASSERT_THAT(Seqs(copy), ElementsAre(1, 6, 11, 12));
  std::vector<AuditEntry> chain = ReadChain();
  ASSERT_EQ(chain.size(), 12u);
  EXPECT_EQ(copy[3].hash, chain[11].hash);
  EXPECT_EQ(copy[3].scope, "platform");
  EXPECT_EQ(copy[3].verify_key, key_.verify_key().bytes());

  VerifyReport r = MustVerifyWithCopy(export_path_);
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.external_checkpoints, 4);
  EXPECT_EQ(r.checkpoints, 4);
}

TEST_P(AuditLogTest, CheckpointsInACallersTransactionAreExportedOnlyOnceCommitted) {
  ASSERT_OK_AND_ASSIGN(auto file, CheckpointFile::Open(export_path_));
  auto log = OpenLog(0, seconds(5), std::shared_ptr<CheckpointSink>(std::move(file)));
  ASSERT_OK(log->Append(Event(1)));  // its own transaction: signed, committed, then exported
  ASSERT_OK_AND_ASSIGN(std::vector<CheckpointRecord> copy, ReadCheckpointFile(export_path_));
  EXPECT_THAT(Seqs(copy), ElementsAre(1));

  clock_.Advance(seconds(5));
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
    ASSERT_OK(log->Append(*tx, Event(2)));  // writes a checkpoint at 2 in tx, then rolls back
  }
  ASSERT_OK_AND_ASSIGN(bool signed_now, log->CheckpointIfBehind());
  EXPECT_FALSE(signed_now);  // the head (1) is covered
  ASSERT_OK_AND_ASSIGN(copy, ReadCheckpointFile(export_path_));
  EXPECT_THAT(Seqs(copy), ElementsAre(1));  // the rolled-back checkpoint never left

  {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
    ASSERT_OK(log->Append(*tx, Event(2)));
    ASSERT_OK(tx->Commit());
  }
  ASSERT_OK_AND_ASSIGN(copy, ReadCheckpointFile(export_path_));
  EXPECT_THAT(Seqs(copy), ElementsAre(1));  // committed by the caller: exported later, by
  ASSERT_OK_AND_ASSIGN(signed_now, log->CheckpointIfBehind());  // the timer's call
  EXPECT_FALSE(signed_now);
  ASSERT_OK_AND_ASSIGN(copy, ReadCheckpointFile(export_path_));
  EXPECT_THAT(Seqs(copy), ElementsAre(1, 2));
  EXPECT_TRUE(MustVerifyWithCopy(export_path_).ok);
}

TEST_P(AuditLogTest, DeletedCheckpointRowIsFoundByTheExportedCopy) {
  ASSERT_NE(ExportingLogWith12Entries(), nullptr);
  Tamper({"DELETE FROM audit_checkpoint WHERE seq = 6"});
  // Without the copy a missing middle checkpoint is invisible: the head is still covered.
  EXPECT_TRUE(MustVerify().ok);
  VerifyReport r = MustVerifyWithCopy(export_path_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 6);
  EXPECT_EQ(r.problem, "checkpoint at seq 6 is in the exported copy but missing from the database");

  // Deleting the last checkpoint row shows even without the copy, as lost coverage.
  Tamper({"DELETE FROM audit_checkpoint WHERE seq = 12"});
  r = MustVerify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.problem, "1 trailing entry (seq 12) is not covered by a signed checkpoint");
}

TEST_P(AuditLogTest, TruncationBelowAnExportedCheckpointIsFound) {
  ASSERT_NE(ExportingLogWith12Entries(), nullptr);
  const std::vector<AuditEntry> chain = ReadChain();
  ASSERT_EQ(chain.size(), 12u);
  const std::vector<uint8_t> hash6 = chain[5].hash;
  // Cut the chain back to the checkpoint at 6, which still verifies on its own.
  TamperWith([&](store::Transaction& tx) {
    ASSERT_OK(tx.Exec("DELETE FROM audit_log WHERE seq > 6"));
    ASSERT_OK(tx.Exec("DELETE FROM audit_checkpoint WHERE seq > 6"));
    ASSERT_OK(tx.Exec("UPDATE audit_head SET seq = 6, hash = ? WHERE id = 1", {hash6}));
  });
  VerifyReport alone = MustVerify();
  EXPECT_TRUE(alone.ok) << alone.problem;
  VerifyReport r = MustVerifyWithCopy(export_path_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 7);
  EXPECT_EQ(r.problem,
            "checkpoint at seq 12 is in the exported copy but the chain ends at 6: entries were "
            "removed from the end");
}

TEST_P(AuditLogTest, ForgedExportedLineIsFound) {
  ASSERT_NE(ExportingLogWith12Entries(), nullptr);
  ASSERT_OK_AND_ASSIGN(std::vector<CheckpointRecord> copy, ReadCheckpointFile(export_path_));
  ASSERT_THAT(Seqs(copy), ElementsAre(1, 6, 11, 12));

  // One bit of the signature at 6 changed.
  std::vector<CheckpointRecord> forged = copy;
  forged[1].signature[0] ^= 1;
  const std::string forged_path = export_dir_.File("forged.jsonl");
  {
    ASSERT_OK_AND_ASSIGN(auto file, CheckpointFile::Open(forged_path));
    for (const CheckpointRecord& rec : forged) ASSERT_OK(file->Export(rec));
  }
  VerifyReport r = MustVerifyWithCopy(forged_path);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 6);
  EXPECT_EQ(r.problem, "exported checkpoint at seq 6 has an invalid signature");

  // A line validly signed, by someone else's key.
  crypto::SigningKey other = crypto::SigningKey::Generate();
  CheckpointRecord theirs = copy[3];
  theirs.verify_key = other.verify_key().bytes();
  theirs.signature = other.Sign(CheckpointMessage(theirs.seq, theirs.hash, theirs.time_us));
  VerifyOptions o;
  o.trusted_keys = {key_.verify_key()};
  o.external_checkpoints = {copy[0], copy[1], copy[2], theirs};
  r = MustVerify(o);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.problem, "exported checkpoint at seq 12 is signed by an untrusted key");

  // Two different lines for one seq.
  o.trusted_keys.clear();
  o.external_checkpoints = {copy[0], copy[3], theirs};
  r = MustVerify(o);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.problem, "the exported copy holds two different checkpoints at seq 12");
}

// Retention of the audit log (issue 14): the oldest entries are deleted up to a signed
// checkpoint, which stays as the anchor the rest of the chain is verified from.
class AuditPruneTest : public AuditLogTest {
 protected:
  // 35 entries a second apart from t0_ + 1 s, checkpoints every 10 (10, 20, 30) and the head
  // (35) signed.
  std::unique_ptr<AuditLog> LogWith35Entries() {
    auto log = OpenLog(10, Duration::zero());
    if (log == nullptr) return nullptr;
    AppendN(*log, 35);
    EXPECT_OK(log->CheckpointIfBehind());
    EXPECT_THAT(CheckpointSeqs(), ElementsAre(10, 20, 30, 35));
    return log;
  }
  int64_t At(double seconds_after_t0) const {
    return ToUnixMicros(t0_) + static_cast<int64_t>(seconds_after_t0 * 1e6);
  }
  AuditPrune MustPrune(AuditLog& log, int64_t before_us, int64_t batch) {
    auto tx = db_->Begin();
    EXPECT_OK(tx);
    if (!tx.ok()) return {};
    auto pruned = log.Prune(**tx, before_us, batch);
    EXPECT_OK(pruned);
    EXPECT_OK((*tx)->Commit());
    return pruned.ok() ? *pruned : AuditPrune{};
  }
  VerifyOptions Pinned() { return VerifyOptions{{key_.verify_key()}, 100}; }

  const TimePoint t0_ = clock_.Now();
};

TEST_P(AuditPruneTest, DeletesUpToTheNewestOldEnoughCheckpointAndTheRestVerifies) {
  auto log = LogWith35Entries();
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->BeginRead());
    ASSERT_OK_AND_ASSIGN(const bool due_early, AuditLog::PruneDue(*tx, At(9.5)));
    EXPECT_FALSE(due_early);
    ASSERT_OK_AND_ASSIGN(const bool due, AuditLog::PruneDue(*tx, At(10.5)));
    EXPECT_TRUE(due);
  }
  EXPECT_EQ(MustPrune(*log, At(9.5), 1000).deleted, 0);  // no checkpoint that old
  // Entries up to 25 are old enough; the newest checkpoint among them is 20.
  AuditPrune p = MustPrune(*log, At(25.5), 1000);
  EXPECT_EQ(p.deleted, 20);
  EXPECT_EQ(p.anchor_seq, 20);
  EXPECT_EQ(p.anchor_time_us, At(20));
  EXPECT_EQ(ReadChain().front().seq, 21);
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(30, 35));
  VerifyReport r = MustVerify(Pinned());
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.anchor_seq, 20);
  EXPECT_EQ(r.entries, 15);
  EXPECT_EQ(r.last_seq, 35);
  // The chain goes on from there.
  ASSERT_OK_AND_ASSIGN(int64_t seq, log->Append(Event(36)));
  EXPECT_EQ(seq, 36);
  EXPECT_OK(log->CheckpointIfBehind());
  r = MustVerify(Pinned());
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 16);
  // Entries after the anchor stay append-only.
  ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
  Status s = tx->Exec("DELETE FROM audit_log WHERE seq = 21");
  EXPECT_THAT(s.message(), HasSubstr("append-only"));
}

TEST_P(AuditPruneTest, BatchesEndAtCheckpointsAndAWholePrunedChainStillVerifies) {
  auto log = LogWith35Entries();
  const int64_t later = At(100);
  EXPECT_EQ(MustPrune(*log, later, 15).anchor_seq, 10);  // the newest within 15 entries
  EXPECT_EQ(MustPrune(*log, later, 15).anchor_seq, 20);
  AuditPrune p = MustPrune(*log, later, 15);
  EXPECT_EQ(p.anchor_seq, 35);
  EXPECT_EQ(p.deleted, 15);
  EXPECT_TRUE(ReadChain().empty());
  VerifyReport r = MustVerify(Pinned());
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 0);
  EXPECT_EQ(r.last_seq, 35);
  EXPECT_EQ(MustPrune(*log, later, 15).deleted, 0);  // nothing left to prune
  ASSERT_OK_AND_ASSIGN(int64_t seq, log->Append(Event(36)));
  EXPECT_EQ(seq, 36);
  EXPECT_OK(log->CheckpointIfBehind());
  r = MustVerify(Pinned());
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 1);
}

// A prune that deletes the newest checkpoint leaves nothing signed: the entry that records it
// is signed in the same transaction (as any first entry of an unsigned chain), although the log
// remembered a checkpoint younger than the interval.
TEST_P(AuditPruneTest, APruneOfTheNewestCheckpointHasItsRecordSigned) {
  auto log = OpenLog(0, seconds(5));
  AppendN(*log, 3);  // at 1, 2 and 3 s; signed at 1 (the log remembers that checkpoint)
  ASSERT_OK_AND_ASSIGN(const bool signed_now, log->CheckpointIfBehind());  // and 3
  EXPECT_TRUE(signed_now);
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(1, 3));
  clock_.Advance(seconds(1));  // 4 s: 3 s after the checkpoint the log remembers
  ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
  ASSERT_OK_AND_ASSIGN(AuditPrune p, log->PruneRecorded(*tx, "platform", At(3.5), 1000));
  EXPECT_EQ(p.deleted, 3);
  ASSERT_OK(tx->Commit());
  EXPECT_THAT(CheckpointSeqs(), ElementsAre(4));
  VerifyReport r = MustVerify(Pinned());
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.anchor_seq, 3);
  EXPECT_EQ(r.last_seq, 4);
}

TEST_P(AuditPruneTest, AnEntryYoungerThanTheCutoffBeforeTheCheckpointStopsThePrune) {
  auto log = OpenLog(10, Duration::zero());
  AppendN(*log, 5);
  clock_.Advance(std::chrono::hours(-1));  // the clock is set back: later entries look older
  for (int i = 6; i <= 10; ++i) ASSERT_OK(log->Append(Event(i)).status());
  // Checkpoint 10 was signed an hour before entry 5's time; entry 5 is not older than the
  // cutoff, so nothing is pruned.
  EXPECT_EQ(MustPrune(*log, At(-1800), 1000).deleted, 0);
  EXPECT_EQ(ReadChain().size(), 10u);
}

TEST_P(AuditPruneTest, AForgedOrPrematureAnchorIsFound) {
  auto log = LogWith35Entries();
  EXPECT_EQ(MustPrune(*log, At(25.5), 1000).anchor_seq, 20);
  // Retention says nothing younger than 22 s after t0 may have gone: the anchor (20) is fine.
  VerifyOptions o = Pinned();
  o.pruned_not_after_us = At(22);
  EXPECT_TRUE(MustVerify(o).ok);
  // Someone with the database moves the anchor to checkpoint 30 and deletes entries up to it.
  Tamper(
      {"UPDATE audit_anchor SET seq = c.seq, time_us = c.time_us, hash = c.hash, "
       "verify_key = c.verify_key, signature = c.signature FROM (SELECT * FROM "
       "audit_checkpoint WHERE seq = 30) AS c WHERE id = 1",
       "DELETE FROM audit_log WHERE seq <= 30", "DELETE FROM audit_checkpoint WHERE seq <= 30"});
  VerifyReport r = MustVerify(Pinned());
  EXPECT_TRUE(r.ok) << "a real signed checkpoint: only the retention check can tell";
  r = MustVerify(o);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 30);
  EXPECT_EQ(r.problem,
            "entries up to seq 30 were pruned before the retention period ended (the prune "
            "anchor at seq 30 is too recent)");
  // A forged anchor: its hash changed, so its signature no longer holds.
  const std::string x = GetParam() == store::Backend::kSqlite ? "X'" : "'\\x";
  Tamper({"UPDATE audit_anchor SET hash = " + x + std::string(64, '1') + "' WHERE id = 1"});
  r = MustVerify(Pinned());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.problem, "the prune anchor at seq 30 has an invalid signature");
}

// The anchor row deleted by someone with the database: a prune stops (nothing deleted), and the
// verifier reports the log as broken at its start.
TEST_P(AuditPruneTest, AMissingAnchorRowStopsThePruneAndFailsTheVerification) {
  auto log = LogWith35Entries();
  Tamper({"DELETE FROM audit_anchor"});
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
    EXPECT_THAT(log->Prune(*tx, At(100), 1000),
                StatusIs(StatusCode::kDataLoss, HasSubstr("the anchor row is missing")));
  }
  EXPECT_EQ(ReadChain().size(), 35u);
  VerifyReport r = MustVerify(Pinned());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 1);
  EXPECT_EQ(r.problem, "the anchor row is missing");
}

INSTANTIATE_TEST_SUITE_P(Backends, AuditPruneTest,
                         ::testing::Values(store::Backend::kSqlite, store::Backend::kPostgres),
                         [](const auto& param_info) {
                           return std::string(store::BackendName(param_info.param));
                         });

INSTANTIATE_TEST_SUITE_P(Backends, AuditLogTest,
                         ::testing::Values(store::Backend::kSqlite, store::Backend::kPostgres),
                         [](const auto& param_info) {
                           return std::string(store::BackendName(param_info.param));
                         });

}  // namespace
}  // namespace chukan::audit
