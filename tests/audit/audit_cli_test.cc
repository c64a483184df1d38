// Runs the built `chukan audit verify` against SQLite audit databases, intact and tampered.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "audit/audit_log.h"
#include "common/status_matchers.h"
#include "common/test_util.h"
#include "crypto/bytes.h"
#include "store/database.h"

namespace chukan {
namespace {

using ::testing::HasSubstr;

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
    audit::AuditLog::Options lo;
    lo.checkpoint_key = &key_;
    lo.checkpoint_every = 5;
    ASSERT_OK_AND_ASSIGN(auto log, audit::AuditLog::Open(db_, lo));
    for (int i = 0; i < 12; ++i) {
      ASSERT_OK(log->Append({"platform", "cli:root", "tenant.create",
                             "tenant t000000000000010" + std::to_string(i % 10), "ok", ""}));
    }
  }

  chukan::testing::TempDir dir_;
  crypto::SigningKey key_ = crypto::SigningKey::Generate();
  std::shared_ptr<store::Database> db_;
};

TEST_F(AuditCliTest, IntactChainExitsZero) {
  CommandResult r = Chukan("audit verify --db " + dir_.File("platform.db") + " --verify-key " +
                           crypto::ToHex(key_.verify_key().bytes()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("audit chain intact"));
  EXPECT_THAT(r.output, HasSubstr("entries: 12 (last seq 12)"));
  EXPECT_THAT(r.output, HasSubstr("signed checkpoints: 2"));
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

TEST_F(AuditCliTest, UsageErrors) {
  EXPECT_EQ(Chukan("audit verify").exit_code, 2);
  CommandResult r = Chukan("audit verify --db " + dir_.File("missing.db"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("no such file"));
  EXPECT_EQ(Chukan("audit verify --db x --verify-key zz").exit_code, 2);
}

}  // namespace
}  // namespace chukan
