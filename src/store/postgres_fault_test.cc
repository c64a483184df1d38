// The PostgreSQL backend when its connection is cut (pg_terminate_backend, as a server restart,
// a failover or a network cut would): the transaction fails with kUnavailable naming the cause,
// nothing of it is written, the pool drops the dead connection and the next Begin() works on a
// fresh one. docs/storage.md, "Faults and recovery". Runs under scripts/with-postgres.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <vector>

#include "store/group_commit.h"
#include "store/store_test_util.h"

namespace chukan::store {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

class PostgresFaultTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    schema_ = prefix() + "_faults";
    app_ = prefix() + "_pool";
    // The admin pool: the test's own connection, which cuts the others.
    PostgresOptions admin;
    admin.dsn = dsn();
    admin.pool_size = 1;
    ASSERT_OK_AND_ASSIGN(admin_, OpenPostgres(admin));
    ASSERT_OK(Admin("CREATE SCHEMA " + schema_ + "; CREATE TABLE " + schema_ +
                    ".t (id BIGINT PRIMARY KEY, v TEXT NOT NULL)"));
    // The pool under test, named so that its backends can be told from everyone else's.
    PostgresOptions o;
    o.dsn = dsn() + " application_name=" + app_;
    o.schema = schema_;
    o.pool_size = 4;
    o.acquire_timeout_ms = 10000;
    ASSERT_OK_AND_ASSIGN(db_, OpenPostgres(o));
  }
  void TearDown() override {
    if (db_) db_->Close().IgnoreError();
    if (admin_) admin_->Close().IgnoreError();
    StoreTest::TearDown();  // drops the schema (it has the test's prefix)
  }

  Status Admin(const std::string& sql) {
    ASSIGN_OR_RETURN(auto txn, admin_->Begin());
    RETURN_IF_ERROR(txn->ExecScript(sql));
    return txn->Commit();
  }

  // Terminates every backend of the pool under test and waits (up to 10 s each) until they
  // are gone; returns how many there were.
  Result<int64_t> CutPool() {
    ASSIGN_OR_RETURN(auto txn, admin_->Begin());
    ASSIGN_OR_RETURN(std::optional<Row> row,
                     txn->QueryOne("SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid, 10000) "
                                   "AS gone FROM pg_stat_activity WHERE application_name = ?) x "
                                   "WHERE gone",
                                   {app_}));
    RETURN_IF_ERROR(txn->Commit());
    return row->GetInt(0);
  }

  // A deferred trigger, which runs as the transaction commits, makes its backend terminate
  // itself when a row whose v is 'cut' was inserted (as a crash of the server at that moment
  // would).
  Status CutInsideCommitOnRowsNamedCut() {
    return Admin("CREATE FUNCTION " + schema_ +
                 ".cut_me() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                 "PERFORM pg_terminate_backend(pg_backend_pid()); PERFORM pg_sleep(10); "
                 "RETURN NULL; END $$; "
                 "CREATE CONSTRAINT TRIGGER cut AFTER INSERT ON " +
                 schema_ +
                 ".t DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.v = 'cut') "
                 "EXECUTE FUNCTION " +
                 schema_ + ".cut_me()");
  }

  int64_t Rows() {
    auto txn = admin_->BeginRead();
    EXPECT_OK(txn);
    if (!txn.ok()) return -1;
    auto row = (*txn)->QueryOne("SELECT COUNT(*) FROM " + schema_ + ".t");
    EXPECT_OK(row);
    return row.ok() && row->has_value() ? (*row)->GetInt(0).value() : -1;
  }

  std::string schema_;
  std::string app_;
  std::shared_ptr<Database> admin_;
  std::shared_ptr<Database> db_;
};

TEST_P(PostgresFaultTest, AConnectionCutInTheMiddleOfATransactionWritesNothing) {
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  ASSERT_OK(txn->Exec("INSERT INTO t (id, v) VALUES (?, ?)", {int64_t{1}, "one"}));
  ASSERT_OK_AND_ASSIGN(int64_t cut, CutPool());
  EXPECT_EQ(cut, 1);
  const auto lost = StatusIs(
      StatusCode::kUnavailable,
      AllOf(AnyOf(HasSubstr("terminating connection"), HasSubstr("server closed the connection")),
            Not(HasSubstr("\n"))));
  EXPECT_THAT(txn->Exec("INSERT INTO t (id, v) VALUES (?, ?)", {int64_t{2}, "two"}), lost);
  EXPECT_THAT(txn->Commit(), lost);  // the first error, again
  txn.reset();
  EXPECT_EQ(Rows(), 0);
  // The dead connection was dropped: the next transaction gets a new one.
  const int64_t opened = db_->stats().connections_opened;
  ASSERT_OK_AND_ASSIGN(auto next, db_->Begin());
  ASSERT_OK(next->Exec("INSERT INTO t (id, v) VALUES (?, ?)", {int64_t{3}, "three"}));
  ASSERT_OK(next->Commit());
  EXPECT_EQ(db_->stats().connections_opened, opened + 1);
  EXPECT_EQ(Rows(), 1);
}

// Cut inside COMMIT itself: a deferred trigger, which runs as the transaction commits, makes
// its backend terminate itself (as a crash of the server at that moment would).
TEST_P(PostgresFaultTest, AConnectionCutDuringTheCommitWritesNothing) {
  ASSERT_OK(CutInsideCommitOnRowsNamedCut());
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  ASSERT_OK(txn->Exec("INSERT INTO t (id, v) VALUES (?, ?)", {int64_t{1}, "one"}));
  ASSERT_OK(txn->Exec("INSERT INTO t (id, v) VALUES (?, ?)", {int64_t{2}, "cut"}));
  EXPECT_THAT(txn->Commit(),
              StatusIs(StatusCode::kUnavailable,
                       AllOf(HasSubstr("the connection was lost during COMMIT; whether the "
                                       "transaction committed is unknown"),
                             HasSubstr("in: COMMIT"), Not(HasSubstr("\n")))));
  txn.reset();
  EXPECT_EQ(Rows(), 0);
  ASSERT_OK_AND_ASSIGN(auto next, db_->Begin());
  ASSERT_OK(next->Exec("INSERT INTO t (id, v) VALUES (?, ?)", {int64_t{3}, "three"}));
  ASSERT_OK(next->Commit());
  EXPECT_EQ(Rows(), 1);
}

// An optimistic group commit (one pipeline with its COMMIT) whose connection is lost during the
// COMMIT: whether the batch committed is unknown, so no write of it runs again — each gets
// kUnavailable saying so, and its caller (an outbox, a client) decides. Nothing was written.
TEST_P(PostgresFaultTest, AnOptimisticBatchCutDuringItsCommitRunsNoWriteAgain) {
  ASSERT_OK(CutInsideCommitOnRowsNamedCut());
  GroupCommitter::Options o;
  o.optimistic = true;
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, o));
  testing::HeldCommitter blocker(*gc);
  std::atomic<int> runs{0};
  std::vector<std::future<Status>> writes;
  for (int64_t id = 1; id <= 3; ++id) {
    writes.push_back(gc->Submit([&runs, id](Transaction& txn) {
      runs++;
      return txn.Exec("INSERT INTO t (id, v) VALUES (?, ?)",
                      {id, std::string(id == 2 ? "cut" : "kept")});
    }));
  }
  EXPECT_OK(blocker.Release());
  for (auto& w : writes) {
    EXPECT_THAT(w.get(), StatusIs(StatusCode::kUnavailable,
                                  HasSubstr("whether the transaction committed is unknown")));
  }
  EXPECT_EQ(runs.load(), 3);  // once each
  EXPECT_EQ(gc->stats().batches, 2);
  EXPECT_EQ(Rows(), 0);
  EXPECT_OK(gc->Submit([](Transaction& txn) {
                return txn.Exec("INSERT INTO t (id, v) VALUES (?, ?)", {int64_t{4}, "next"});
              }).get());
  EXPECT_EQ(Rows(), 1);
}

// A restart of the server (or a failover) cuts every pooled connection at once, idle ones
// included; the first Begin() after it must not hand out a dead one.
TEST_P(PostgresFaultTest, EveryIdleConnectionCutAtOnceIsReplacedByTheNextBegin) {
  {
    // Three connections at once, then idle in the pool.
    std::vector<std::unique_ptr<Transaction>> open;
    for (int i = 0; i < 3; ++i) {
      ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
      open.push_back(std::move(txn));
    }
    for (auto& txn : open) ASSERT_OK(txn->Commit());
  }
  ASSERT_OK_AND_ASSIGN(int64_t cut, CutPool());
  EXPECT_EQ(cut, 3);
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  ASSERT_OK(txn->Exec("INSERT INTO t (id, v) VALUES (?, ?)", {int64_t{1}, "one"}));
  ASSERT_OK(txn->Commit());
  ASSERT_OK_AND_ASSIGN(auto read, db_->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto row, read->QueryOne("SELECT COUNT(*) FROM t"));
  EXPECT_EQ(row->GetInt(0).value(), 1);
}

// A read-only transaction's COMMIT is not waited for: the connection's next exchange reads its
// answer first (docs/storage.md, "Round trips on PostgreSQL"). A connection cut in between is
// found dead by that exchange, which goes on, on a new connection.
TEST_P(PostgresFaultTest, AConnectionCutWithTheAnswerToItsReadOnlyCommitUnreadIsReplaced) {
  ASSERT_OK(Admin("INSERT INTO " + schema_ + ".t (id, v) VALUES (1, 'one')"));
  {
    ASSERT_OK_AND_ASSIGN(auto read, db_->BeginRead());
    ASSERT_OK_AND_ASSIGN(auto row, read->QueryOne("SELECT COUNT(*) FROM t"));
    EXPECT_EQ(row->GetInt(0).value(), 1);
    ASSERT_OK(read->Commit());  // sent; its answer is left for the next exchange
  }
  ASSERT_OK_AND_ASSIGN(int64_t cut, CutPool());
  EXPECT_EQ(cut, 1);  // the one connection the pool opened, with the answer unread
  const int64_t opened = db_->stats().connections_opened;
  {
    ASSERT_OK_AND_ASSIGN(auto read, db_->BeginRead());
    ASSERT_OK_AND_ASSIGN(auto row, read->QueryOne("SELECT COUNT(*) FROM t"));
    EXPECT_EQ(row->GetInt(0).value(), 1);
    ASSERT_OK(read->Commit());
  }
  EXPECT_EQ(db_->stats().connections_opened - opened, 1);
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  ASSERT_OK(txn->Exec("INSERT INTO t (id, v) VALUES (?, ?)", {int64_t{2}, "two"}));
  ASSERT_OK(txn->Commit());
  EXPECT_EQ(Rows(), 2);
}

// A statement's first use on a connection sends its preparation in the same pipeline and caches
// it in advance. A held-back statement whose preparation fails (its table does not exist yet)
// must leave nothing cached, or its next use would name a statement the server never made.
TEST_P(PostgresFaultTest, AHeldBackStatementWhosePreparationFailedIsPreparedAgainNextTime) {
  PostgresOptions o;
  o.dsn = dsn();
  o.schema = schema_;
  o.pool_size = 1;  // the same connection each time
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Database> one, OpenPostgres(o));
  const std::string insert = "INSERT INTO later (id) VALUES (?)";
  {
    ASSERT_OK_AND_ASSIGN(auto txn, one->Begin());
    txn->HoldBackExecs();
    ASSERT_OK(txn->Exec(insert, {int64_t{1}}));  // held back: nothing sent yet
    EXPECT_THAT(txn->Commit(), StatusIs(StatusCode::kInvalidArgument,
                                        HasSubstr("in: INSERT INTO later (id) VALUES (?)")));
  }
  ASSERT_OK(Admin("CREATE TABLE " + schema_ + ".later (id BIGINT PRIMARY KEY)"));
  {
    ASSERT_OK_AND_ASSIGN(auto txn, one->Begin());
    txn->HoldBackExecs();
    ASSERT_OK(txn->Exec(insert, {int64_t{2}}));
    ASSERT_OK(txn->Commit());
  }
  ASSERT_OK_AND_ASSIGN(auto read, one->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto row, read->QueryOne("SELECT COUNT(*), MIN(id) FROM later"));
  EXPECT_EQ(row->GetInt(0).value(), 1);
  EXPECT_EQ(row->GetInt(1).value(), 2);
  ASSERT_OK(read->Commit());
  ASSERT_OK(one->Close());
}

INSTANTIATE_TEST_SUITE_P(Backends, PostgresFaultTest,
                         ::testing::Values(::chukan::store::Backend::kPostgres),
                         testing::BackendParamName);

}  // namespace
}  // namespace chukan::store
