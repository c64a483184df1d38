// Runs the built `chukan audit verify` against SQLite audit databases, intact, tampered and with
// an unsigned head, with and without an exported copy of the checkpoints.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "audit/audit_log.h"
#include "common/clock.h"
#include "common/status_matchers.h"
#include "common/test_util.h"
#include "crypto/bytes.h"
#include "store/database.h"

namespace chukan {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

CommandResult Chukan(const std::string& args) {
  CommandResult r;
  const std::string cmd = std::string(CHUKAN_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class AuditCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::SqliteOptions o;
    o.path = dir_.File("platform.db");
    ASSERT_OK_AND_ASSIGN(db_, store::OpenSqlite(o));
    ASSERT_OK_AND_ASSIGN(auto file, audit::CheckpointFile::Open(checkpoints_));
    audit::AuditLog::Options lo;
    lo.checkpoint_key = &key_;
    lo.checkpoint_every = 5;
    lo.checkpoint_interval = Duration::zero();  // by count only: signed at 5 and 10
    lo.checkpoint_sink = std::move(file);
    ASSERT_OK_AND_ASSIGN(log_, audit::AuditLog::Open(db_, lo));
    for (int i = 0; i < 12; ++i) {
      ASSERT_OK(log_->Append({"platform", "cli:root", "tenant.create",
                              "tenant t000000000000010" + std::to_string(i % 10), "ok", ""}));
    }
  }

  chukan::testing::TempDir dir_;
  chukan::testing::TempDir export_dir_;
  const std::string checkpoints_ = export_dir_.File("platform.checkpoints.jsonl");
  crypto::SigningKey key_ = crypto::SigningKey::Generate();
  std::shared_ptr<store::Database> db_;
  std::unique_ptr<audit::AuditLog> log_;
};

TEST_F(AuditCliTest, IntactChainExitsZero) {
  ASSERT_OK(log_->CheckpointIfBehind());  // as the server does at shutdown
  CommandResult r = Chukan("audit verify --db " + dir_.File("platform.db") + " --verify-key " +
                           crypto::ToHex(key_.verify_key().bytes()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("audit chain intact"));
  EXPECT_THAT(r.output, HasSubstr("entries: 12 (last seq 12)"));
  EXPECT_THAT(r.output, HasSubstr("signed checkpoints: 3"));
  EXPECT_THAT(r.output, HasSubstr("exported checkpoints: not checked"));
}

TEST_F(AuditCliTest, UncoveredHeadFailsUnlessAllowed) {
  const std::string db = " --db " + dir_.File("platform.db");
  CommandResult r = Chukan("audit verify" + db);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("AUDIT CHAIN NOT COVERED"));
  EXPECT_THAT(r.output,
              HasSubstr("problem: 2 trailing entries (seq 11..12) are not covered by a signed "
                        "checkpoint\n"));

  r = Chukan("audit verify --allow-unprotected 2" + db);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("not covered by a signed checkpoint: 2 entries (seq 11..12)"));

  r = Chukan("audit verify --allow-unprotected 1" + db);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("(at most 1 allowed)"));

  EXPECT_EQ(Chukan("audit verify --allow-unprotected -1" + db).exit_code, 2);
}

TEST_F(AuditCliTest, ExportedCheckpointsAreChecked) {
  ASSERT_OK(log_->CheckpointIfBehind());
  const std::string args = "audit verify --db " + dir_.File("platform.db") + " --checkpoints " +
                           checkpoints_ + " --verify-key " +
                           crypto::ToHex(key_.verify_key().bytes());
  CommandResult r = Chukan(args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("exported checkpoints: 3 checked against " + checkpoints_));

  {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
    ASSERT_OK(tx->Exec("DELETE FROM audit_checkpoint WHERE seq = 5"));
    ASSERT_OK(tx->Commit());
  }
  r = Chukan(args);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("AUDIT CHAIN BROKEN"));
  EXPECT_THAT(r.output,
              HasSubstr("checkpoint at seq 5 is in the exported copy but missing from the "
                        "database"));
}

TEST_F(AuditCliTest, UnreadableCheckpointFileNamesItsLine) {
  ASSERT_OK(log_->CheckpointIfBehind());
  {
    std::FILE* f = std::fopen(checkpoints_.c_str(), "a");
    ASSERT_NE(f, nullptr);
    std::fputs("{\"seq\": \"not a number\"}\n", f);
    std::fclose(f);
  }
  CommandResult r =
      Chukan("audit verify --db " + dir_.File("platform.db") + " --checkpoints " + checkpoints_);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr(checkpoints_ + " line 4: field \"time_us\" is missing"));
  EXPECT_THAT(r.output, Not(HasSubstr("not a number")));

  r = Chukan("audit verify --db " + dir_.File("platform.db") + " --checkpoints " +
             export_dir_.File("missing.jsonl"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr(export_dir_.File("missing.jsonl") + ": no such file"));
}

TEST_F(AuditCliTest, EditedEntryIsNamed) {
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
    ASSERT_OK(tx->Exec("DROP TRIGGER audit_log_no_update"));
    ASSERT_OK(tx->Exec("UPDATE audit_log SET actor = 'staff:mallory' WHERE seq = 7"));
    ASSERT_OK(tx->Commit());
  }
  CommandResult r = Chukan("audit verify --db " + dir_.File("platform.db"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("AUDIT CHAIN BROKEN"));
  EXPECT_THAT(r.output, HasSubstr("first bad entry: seq 7"));
  EXPECT_THAT(r.output, HasSubstr("the entry was edited"));
}

TEST_F(AuditCliTest, WrongPinnedKeyFails) {
  crypto::SigningKey other = crypto::SigningKey::Generate();
  CommandResult r = Chukan("audit verify --db " + dir_.File("platform.db") + " --verify-key " +
                           crypto::ToHex(other.verify_key().bytes()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("untrusted key"));
}

// A chain pruned by retention: verify says where it starts, and with --retention-days longer
// than the time between the entries and their prune it reports the prune as premature.
TEST(AuditCliPruneTest, APrunedChainNamesItsAnchorAndARetentionLongerThanItsAgeFails) {
  chukan::testing::TempDir dir;
  store::SqliteOptions so;
  so.path = dir.File("tenant.db");
  ASSERT_OK_AND_ASSIGN(auto db, store::OpenSqlite(so));
  // Entries written three days ago (by the log's clock), pruned now.
  FakeClock clock(SystemClock::Get().Now() - std::chrono::hours(72));
  crypto::SigningKey key = crypto::SigningKey::Generate();
  audit::AuditLog::Options lo;
  lo.checkpoint_key = &key;
  lo.checkpoint_every = 5;
  lo.checkpoint_interval = Duration::zero();
  lo.clock = &clock;
  ASSERT_OK_AND_ASSIGN(auto log, audit::AuditLog::Open(db, lo));
  for (int i = 0; i < 12; ++i) {
    ASSERT_OK(log->Append({"t0000000000000131", "system", "inquiry.create",
                           "inquiry i" + std::to_string(i), "ok", ""}));
  }
  ASSERT_OK(log->CheckpointIfBehind());  // checkpoints at 5, 10 and 12
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db->Begin());
    ASSERT_OK_AND_ASSIGN(
        audit::AuditPrune p,
        log->PruneRecorded(*tx, "t0000000000000131", ToUnixMicros(clock.Now()) + 1'000'000, 1000));
    EXPECT_EQ(p.deleted, 12);
    ASSERT_OK(tx->Commit());
  }
  ASSERT_OK(log->CheckpointIfBehind());  // covers the prune's own entry, seq 13
  const std::string args = "audit verify --db " + dir.File("tenant.db") + " --verify-key " +
                           crypto::ToHex(key.verify_key().bytes());
  CommandResult r = Chukan(args + " --retention-days 2");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("entries: 1 (last seq 13)"));
  EXPECT_THAT(r.output, HasSubstr("pruned by retention: entries up to seq 12"));
  r = Chukan(args);  // the default, 2557 days
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("AUDIT CHAIN BROKEN"));
  EXPECT_THAT(r.output, HasSubstr("entries up to seq 12 were pruned before the retention period "
                                  "ended (the prune anchor at seq 12 is too recent)"));
  EXPECT_EQ(Chukan(args + " --retention-days 0").exit_code, 2);  // 1–36500
}

TEST_F(AuditCliTest, UsageErrors) {
  EXPECT_EQ(Chukan("audit verify").exit_code, 2);
  CommandResult r = Chukan("audit verify --db " + dir_.File("missing.db"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("no such file"));
  EXPECT_EQ(Chukan("audit verify --db x --verify-key zz").exit_code, 2);
}

}  // namespace
}  // namespace chukan
