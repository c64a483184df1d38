#include "store/database.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "store/database_internal.h"
#include "store/store_test_util.h"

namespace chukan::store {
namespace {

using ::chukan::testing::IsOk;
using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

class DatabaseTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    db_ = NewDatabase();
    ASSERT_NE(db_, nullptr);
    ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
    ASSERT_OK(txn->ExecScript(
        "CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT, score DOUBLE PRECISION, data " +
        std::string(GetParam() == Backend::kSqlite ? "BLOB" : "BYTEA") + ")"));
    ASSERT_OK(txn->Commit());
  }

  int64_t Count() {
    auto txn = db_->BeginRead();
    EXPECT_OK(txn);
    auto row = (*txn)->QueryOne("SELECT COUNT(*) FROM items");
    EXPECT_OK(row);
    return (*row)->GetInt(0).value();
  }

  std::shared_ptr<Database> db_;
};

TEST_P(DatabaseTest, CommitMakesWritesVisible) {
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  ASSERT_OK(txn->Exec("INSERT INTO items (id, name) VALUES (?, ?)", {int64_t{1}, "one"}));
  ASSERT_OK(txn->Exec("INSERT INTO items (id, name) VALUES (?, ?)", {int64_t{2}, "two"}));
  ASSERT_OK(txn->Commit());
  EXPECT_EQ(Count(), 2);
  EXPECT_THAT(txn->Exec("SELECT 1"), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(txn->Commit(), StatusIs(StatusCode::kFailedPrecondition));
}

TEST_P(DatabaseTest, RollbackAndDestructorDiscardWrites) {
  {
    ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
    ASSERT_OK(txn->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{1}}));
    ASSERT_OK(txn->Rollback());
    EXPECT_OK(txn->Rollback());  // idempotent
  }
  {
    ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
    ASSERT_OK(txn->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{2}}));
    // destroyed without Commit
  }
  EXPECT_EQ(Count(), 0);
  // The writer is free again after the implicit rollback.
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  ASSERT_OK(txn->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{3}}));
  ASSERT_OK(txn->Commit());
  EXPECT_EQ(Count(), 1);
}

TEST_P(DatabaseTest, TypedRowsRoundTrip) {
  const Bytes blob = {0x00, 0x01, 0x00, 0xff, 0x00};
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  ASSERT_OK(txn->Exec("INSERT INTO items (id, name, score, data) VALUES (?, ?, ?, ?)",
                      {std::numeric_limits<int64_t>::min(), "名前 'quoted'", 0.1, blob}));
  ASSERT_OK(txn->Exec("INSERT INTO items (id, name, score, data) VALUES (?, ?, ?, ?)",
                      {std::numeric_limits<int64_t>::max(), "", -2.5e300, Bytes{}}));
  ASSERT_OK(txn->Exec("INSERT INTO items (id, name, score, data) VALUES (?, ?, ?, ?)",
                      {int64_t{0}, nullptr, nullptr, nullptr}));
  ASSERT_OK(txn->Commit());

  ASSERT_OK_AND_ASSIGN(auto r, db_->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto rows, r->Query("SELECT id, name, score, data FROM items ORDER BY id"));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].GetInt(0).value(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(rows[0].GetText(1).value(), "名前 'quoted'");
  EXPECT_EQ(rows[0].GetDouble(2).value(), 0.1);
  EXPECT_EQ(rows[0].GetBlob(3).value(), blob);
  EXPECT_EQ(rows[0].ColumnName(1), "name");

  EXPECT_EQ(rows[1].GetInt(0).value(), 0);
  EXPECT_TRUE(rows[1].IsNull(1));
  EXPECT_TRUE(rows[1].IsNull(2));
  EXPECT_TRUE(rows[1].IsNull(3));
  EXPECT_THAT(rows[1].GetText(1), StatusIs(StatusCode::kInternal, HasSubstr("column 1 (name)")));
  EXPECT_EQ(rows[1].GetOptionalText(1).value(), std::nullopt);

  EXPECT_EQ(rows[2].GetInt(0).value(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(rows[2].GetText(1).value(), "");  // empty text is not NULL
  EXPECT_FALSE(rows[2].IsNull(1));
  EXPECT_EQ(rows[2].GetDouble(2).value(), -2.5e300);
  EXPECT_EQ(rows[2].GetBlob(3).value(), Bytes{});  // empty blob is not NULL
  EXPECT_FALSE(rows[2].IsNull(3));

  EXPECT_THAT(rows[0].GetText(0), StatusIs(StatusCode::kInternal, HasSubstr("found INTEGER")));
  EXPECT_THAT(rows[0].GetInt(4), StatusIs(StatusCode::kOutOfRange, HasSubstr("4 columns")));
}

TEST_P(DatabaseTest, QuestionMarkInsideLiteralIsNotAPlaceholder) {
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  ASSERT_OK(txn->Exec("INSERT INTO items (id, name) VALUES (?, 'why? it''s ?') -- really?",
                      {int64_t{7}}));
  ASSERT_OK_AND_ASSIGN(auto row, txn->QueryOne("SELECT name, ? FROM items WHERE id = ? /* ? */",
                                               {"x?", int64_t{7}}));
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->GetText(0).value(), "why? it's ?");
  EXPECT_EQ(row->GetText(1).value(), "x?");
}

TEST_P(DatabaseTest, PreparedStatementsAreReused) {
  const int64_t before = db_->stats().statements_prepared;
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  for (int64_t i = 0; i < 50; ++i) {
    ASSERT_OK(txn->Exec("INSERT INTO items (id, name) VALUES (?, ?)", {i, "n"}));
  }
  ASSERT_OK(txn->Commit());
  // One prepare for the INSERT, plus at most COMMIT (SQLite prepares transaction control too;
  // its BEGIN IMMEDIATE was prepared by an earlier transaction on this connection).
  EXPECT_LE(db_->stats().statements_prepared - before, 2);
  EXPECT_GE(db_->stats().statements_prepared - before, 1);
  ASSERT_OK_AND_ASSIGN(auto txn2, db_->Begin());
  const int64_t mid = db_->stats().statements_prepared;
  for (int64_t i = 50; i < 60; ++i) {
    ASSERT_OK(txn2->Exec("INSERT INTO items (id, name) VALUES (?, ?)", {i, "n"}));
  }
  ASSERT_OK(txn2->Commit());
  EXPECT_EQ(db_->stats().statements_prepared, mid);  // all cached on this connection
  EXPECT_EQ(Count(), 60);
}

TEST_P(DatabaseTest, WrongParameterCountIsInvalidArgument) {
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  EXPECT_THAT(txn->Exec("INSERT INTO items (id, name) VALUES (?, ?)", {int64_t{1}}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("2 placeholders but 1")));
}

TEST_P(DatabaseTest, MultipleStatementsNeedExecScript) {
  {
    ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
    EXPECT_THAT(txn->Exec("INSERT INTO items (id) VALUES (1); INSERT INTO items (id) VALUES (2)"),
                StatusIs(StatusCode::kInvalidArgument));
  }
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  ASSERT_OK(
      txn->ExecScript("INSERT INTO items (id) VALUES (1); INSERT INTO items (id) VALUES (2)"));
  ASSERT_OK(txn->Commit());
  EXPECT_EQ(Count(), 2);
}

TEST_P(DatabaseTest, UniqueViolationIsAlreadyExistsAndPoisonsTheTransaction) {
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  ASSERT_OK(txn->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{1}}));
  EXPECT_THAT(txn->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{1}}),
              StatusIs(StatusCode::kAlreadyExists));
  EXPECT_THAT(txn->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{2}}),
              StatusIs(StatusCode::kAborted, HasSubstr("earlier error")));
  EXPECT_THAT(txn->Commit(), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(Count(), 0);
}

TEST_P(DatabaseTest, SavepointRecoversFromAFailedStatement) {
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  ASSERT_OK(txn->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{1}}));
  ASSERT_OK(txn->Savepoint("sp1"));
  ASSERT_OK(txn->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{2}}));
  EXPECT_THAT(txn->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{1}}),
              StatusIs(StatusCode::kAlreadyExists));
  ASSERT_OK(txn->RollbackToSavepoint("sp1"));
  ASSERT_OK(txn->ReleaseSavepoint("sp1"));
  ASSERT_OK(txn->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{3}}));
  ASSERT_OK(txn->Commit());
  ASSERT_OK_AND_ASSIGN(auto r, db_->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto rows, r->Query("SELECT id FROM items ORDER BY id"));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].GetInt(0).value(), 1);
  EXPECT_EQ(rows[1].GetInt(0).value(), 3);
  EXPECT_THAT(r->Savepoint("bad name"), StatusIs(StatusCode::kInvalidArgument));
}

// Names of this process's open files that are SQLite temp files ("etilqs_…", unlinked).
std::vector<std::string> OpenSqliteTempFiles() {
  std::vector<std::string> found;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target = std::filesystem::read_symlink(fd.path(), ec).string();
    if (!ec && target.find("etilqs_") != std::string::npos) found.push_back(target);
  }
  return found;
}

TEST_P(DatabaseTest, ReadTransactionRefusesWrites) {
  ASSERT_OK_AND_ASSIGN(auto r, db_->BeginRead());
  EXPECT_THAT(r->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{1}}),
              StatusIs(StatusCode::kFailedPrecondition));
}

TEST_P(DatabaseTest, ReadTransactionSeesASnapshotWhileTheWriterCommits) {
  ASSERT_OK_AND_ASSIGN(auto r, db_->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto before, r->QueryOne("SELECT COUNT(*) FROM items"));
  EXPECT_EQ(before->GetInt(0).value(), 0);
  ASSERT_OK_AND_ASSIGN(auto w, db_->Begin());
  ASSERT_OK(w->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{1}}));
  ASSERT_OK(w->Commit());
  ASSERT_OK_AND_ASSIGN(auto after, r->QueryOne("SELECT COUNT(*) FROM items"));
  EXPECT_EQ(after->GetInt(0).value(), 0);
  ASSERT_OK(r->Commit());
  EXPECT_EQ(Count(), 1);
}

TEST_P(DatabaseTest, QueryOneWithManyRowsIsFailedPrecondition) {
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  ASSERT_OK(txn->Exec("INSERT INTO items (id) VALUES (1)"));
  ASSERT_OK(txn->Exec("INSERT INTO items (id) VALUES (2)"));
  EXPECT_THAT(txn->QueryOne("SELECT id FROM items"),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("got 2")));
  ASSERT_OK_AND_ASSIGN(auto txn2, db_->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto none,
                       txn2->QueryOne("SELECT id FROM items WHERE id = ?", {int64_t{9}}));
  EXPECT_FALSE(none.has_value());
}

TEST_P(DatabaseTest, ExecCountReportsAffectedRows) {
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  for (int64_t i = 0; i < 5; ++i) ASSERT_OK(txn->Exec("INSERT INTO items (id) VALUES (?)", {i}));
  ASSERT_OK_AND_ASSIGN(int64_t n,
                       txn->ExecCount("UPDATE items SET name = ? WHERE id < ?", {"x", int64_t{3}}));
  EXPECT_EQ(n, 3);
  ASSERT_OK_AND_ASSIGN(n, txn->ExecCount("DELETE FROM items WHERE id = ?", {int64_t{99}}));
  EXPECT_EQ(n, 0);
}

TEST_P(DatabaseTest, UnknownTableIsInvalidArgument) {
  ASSERT_OK_AND_ASSIGN(auto txn, db_->BeginRead());
  EXPECT_THAT(txn->Query("SELECT * FROM no_such_table"), StatusIs(StatusCode::kInvalidArgument));
}

TEST_P(DatabaseTest, ClosedDatabaseRefusesTransactions) {
  ASSERT_OK_AND_ASSIGN(auto open, db_->Begin());  // stays usable after Close()
  ASSERT_OK(db_->Close());
  EXPECT_THAT(db_->Begin(), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(db_->BeginRead(), StatusIs(StatusCode::kFailedPrecondition));
  ASSERT_OK(open->Exec("INSERT INTO items (id) VALUES (1)"));
  EXPECT_OK(open->Commit());
}

// EraseFreed keeps every live row; on PostgreSQL it is the documented no-op, so it is OK even
// on a closed handle, where SQLite refuses.
TEST_P(DatabaseTest, EraseFreedKeepsLiveRows) {
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  for (int64_t i = 0; i < 5; ++i) ASSERT_OK(txn->Exec("INSERT INTO items (id) VALUES (?)", {i}));
  ASSERT_OK(txn->Exec("DELETE FROM items WHERE id < 2"));
  ASSERT_OK(txn->Commit());
  ASSERT_OK(db_->EraseFreed());
  EXPECT_EQ(Count(), 3);
  ASSERT_OK(db_->Close());
  if (GetParam() == Backend::kSqlite) {
    EXPECT_THAT(db_->EraseFreed(), StatusIs(StatusCode::kFailedPrecondition, HasSubstr("closed")));
  } else {
    EXPECT_OK(db_->EraseFreed());
  }
}

// PostgreSQL: BEGIN, SAVEPOINT and RELEASE SAVEPOINT wait for the next statement and go in one
// pipeline with it, so a group-committed write (a savepoint around each writer's statements)
// costs the round trips of its own statements; before, each write cost two more (eight round
// trips here). SQLite has no round trips.
TEST_P(DatabaseTest, SavepointsAndBeginShareTheRoundTripOfTheNextStatement) {
  {  // the INSERT prepared on the pool's connection beforehand
    ASSERT_OK_AND_ASSIGN(auto warm, db_->Begin());
    ASSERT_OK(warm->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{100}}));
    ASSERT_OK(warm->Commit());
  }
  const int64_t before = db_->stats().round_trips;
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  for (int64_t id : {1, 2}) {
    ASSERT_OK(txn->Savepoint("w"));
    ASSERT_OK(txn->Exec("INSERT INTO items (id) VALUES (?)", {id}));
    ASSERT_OK(txn->ReleaseSavepoint("w"));
  }
  ASSERT_OK(txn->Commit());
  EXPECT_EQ(db_->stats().round_trips - before, GetParam() == Backend::kPostgres ? 3 : 0);
  EXPECT_EQ(Count(), 3);
  // A transaction that sent nothing costs nothing.
  const int64_t mid = db_->stats().round_trips;
  ASSERT_OK_AND_ASSIGN(auto empty, db_->Begin());
  ASSERT_OK(empty->Savepoint("w"));
  ASSERT_OK(empty->Commit());
  EXPECT_EQ(db_->stats().round_trips, mid);
}

// PostgreSQL: a read-only transaction is one round trip per statement: its BEGIN goes with the
// first, its COMMIT (or ROLLBACK, after an error) is not waited for, and the connection's next
// transaction reads that answer first — here reads, failed reads and writes alternating on the
// pool's connections.
TEST_P(DatabaseTest, AReadOnlyTransactionCostsOneRoundTripPerStatement) {
  const int64_t before = db_->stats().round_trips;
  for (int64_t i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(auto r, db_->BeginRead());
    ASSERT_OK_AND_ASSIGN(auto row, r->QueryOne("SELECT COUNT(*) FROM items"));
    EXPECT_EQ(row->GetInt(0).value(), i);
    ASSERT_OK(r->Commit());
    ASSERT_OK_AND_ASSIGN(auto bad, db_->BeginRead());
    EXPECT_THAT(bad->Query("SELECT * FROM no_such_table"), StatusIs(StatusCode::kInvalidArgument));
    bad.reset();  // rolled back
    ASSERT_OK_AND_ASSIGN(auto w, db_->Begin());
    ASSERT_OK(w->Exec("INSERT INTO items (id) VALUES (?)", {i}));
    ASSERT_OK(w->Commit());
  }
  // Each round: the read, the failed read, the insert and its commit.
  EXPECT_EQ(db_->stats().round_trips - before, GetParam() == Backend::kPostgres ? 3 * 4 : 0);
  EXPECT_EQ(Count(), 3);
}

// BeginReadOnce: one SELECT, no more, nothing but a SELECT — on both backends. On PostgreSQL it
// runs as a transaction of its own, without the BEGIN … REPEATABLE READ of BeginRead (its
// isolation is the server's default) and without a COMMIT; one exchange; the connection goes
// back to the pool ready for the next transaction.
TEST_P(DatabaseTest, ATransactionOfBeginReadOnceRunsOneSelectAlone) {
  ASSERT_OK_AND_ASSIGN(auto w, db_->Begin());
  ASSERT_OK(w->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{7}}));
  ASSERT_OK(w->Commit());
  const int64_t before = db_->stats().round_trips;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(auto once, db_->BeginReadOnce());
    ASSERT_OK_AND_ASSIGN(auto row, once->QueryOne("SELECT id FROM items WHERE id = ?", {7}));
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->GetInt(0).value(), 7);
    ASSERT_OK(once->Commit());
  }
  // The connection went back to the pool, not closed: three more open none.
  const int64_t opened = db_->stats().connections_opened;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(auto once, db_->BeginReadOnce());
    ASSERT_OK(once->Query("SELECT id FROM items"));
    ASSERT_OK(once->Commit());
  }
  EXPECT_EQ(db_->stats().connections_opened, opened);
  if (GetParam() == Backend::kPostgres) {
    EXPECT_EQ(db_->stats().round_trips - before, 6);
    ASSERT_OK_AND_ASSIGN(auto once, db_->BeginReadOnce());
    ASSERT_OK_AND_ASSIGN(auto iso,
                         once->QueryOne("SELECT current_setting('transaction_isolation')"));
    EXPECT_EQ(iso->GetText(0).value(), "read committed");
    ASSERT_OK_AND_ASSIGN(auto r, db_->BeginRead());
    ASSERT_OK_AND_ASSIGN(auto iso2, r->QueryOne("SELECT current_setting('transaction_isolation')"));
    EXPECT_EQ(iso2->GetText(0).value(), "repeatable read");
  }
  ASSERT_OK_AND_ASSIGN(auto two, db_->BeginReadOnce());
  ASSERT_OK(two->Query("SELECT id FROM items"));
  EXPECT_THAT(two->Query("SELECT id FROM items"),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("runs one statement")));
  two.reset();
  ASSERT_OK_AND_ASSIGN(auto write, db_->BeginReadOnce());
  EXPECT_THAT(write->Exec("DELETE FROM items"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("runs a SELECT")));
  write.reset();
  // The pooled connections still work for a write and a read transaction.
  ASSERT_OK_AND_ASSIGN(auto w2, db_->Begin());
  ASSERT_OK(w2->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{8}}));
  ASSERT_OK(w2->Commit());
  EXPECT_EQ(Count(), 2);
}

// A once-read the server refuses (an unknown table; a division by zero found while it runs)
// returns the server's error, and its connection goes back to the pool usable: on PostgreSQL
// the statement was its own transaction, so nothing is left aborted on the connection.
TEST_P(DatabaseTest, AOnceReadTheServerRefusesLeavesItsConnectionUsable) {
  ASSERT_OK_AND_ASSIGN(auto w, db_->Begin());
  ASSERT_OK(w->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{0}}));
  ASSERT_OK(w->Commit());
  {  // warm: the pool holds a connection
    ASSERT_OK_AND_ASSIGN(auto once, db_->BeginReadOnce());
    ASSERT_OK(once->Query("SELECT id FROM items"));
    ASSERT_OK(once->Commit());
  }
  const int64_t opened = db_->stats().connections_opened;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(auto once, db_->BeginReadOnce());
    EXPECT_THAT(once->Query("SELECT id FROM no_such_items"),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("no_such_items")));
    once.reset();
    ASSERT_OK_AND_ASSIGN(auto div, db_->BeginReadOnce());
    Result<std::vector<Row>> refused = div->Query("SELECT 1 / id FROM items WHERE id = ?", {0});
    if (GetParam() == Backend::kPostgres) {
      EXPECT_THAT(refused,
                  StatusIs(StatusCode::kInvalidArgument, HasSubstr("division by zero (SQLSTATE")));
      EXPECT_THAT(div->Query("SELECT id FROM items"),
                  StatusIs(StatusCode::kAborted, HasSubstr("aborted by an earlier error")));
    } else {
      ASSERT_OK(refused);  // SQLite answers NULL
      ASSERT_EQ(refused->size(), 1u);
      EXPECT_TRUE((*refused)[0].IsNull(0));
      EXPECT_THAT(div->Query("SELECT id FROM items"),
                  StatusIs(StatusCode::kFailedPrecondition, HasSubstr("runs one statement")));
    }
    div.reset();
    ASSERT_OK_AND_ASSIGN(auto next, db_->BeginReadOnce());
    ASSERT_OK_AND_ASSIGN(auto row, next->QueryOne("SELECT count(*) FROM items"));
    EXPECT_EQ(row->GetInt(0).value(), 1);
    ASSERT_OK(next->Commit());
  }
  EXPECT_EQ(db_->stats().connections_opened, opened);  // reused, not replaced
  ASSERT_OK_AND_ASSIGN(auto w2, db_->Begin());
  ASSERT_OK(w2->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{9}}));
  ASSERT_OK(w2->Commit());
  EXPECT_EQ(Count(), 2);
}

// PostgreSQL: a held-back statement's error (a RELEASE of an unknown savepoint) is reported by
// the next statement, which names it; SQLite reports it at once. Either way nothing commits.
TEST_P(DatabaseTest, AnErrorOfAHeldBackStatementIsReportedByTheNextStatement) {
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  ASSERT_OK(txn->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{1}}));
  if (GetParam() == Backend::kPostgres) {
    ASSERT_OK(txn->ReleaseSavepoint("nosuch"));
    EXPECT_THAT(txn->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{2}}),
                StatusIs(StatusCode::kInternal, HasSubstr("in: RELEASE SAVEPOINT nosuch")));
  } else {
    EXPECT_FALSE(txn->ReleaseSavepoint("nosuch").ok());
  }
  EXPECT_FALSE(txn->Commit().ok());
  EXPECT_EQ(Count(), 0);
}

// CopyRows writes every type as it reads back, NULL included; on PostgreSQL 20,000 rows are one
// COPY: its start and its end, two round trips (with the BEGIN held back before it, one more),
// where one statement per row would have been 20,000.
TEST_P(DatabaseTest, CopyRowsWritesEveryTypeInTwoRoundTrips) {
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  const int64_t before = db_->stats().round_trips;
  int64_t next = 0;
  ASSERT_OK_AND_ASSIGN(
      const int64_t written,
      txn->CopyRows(
          "items", {"id", "name", "score", "data"}, [&](std::vector<Value>& row) -> Result<bool> {
            if (next == 20000) return false;
            row.emplace_back(next);
            row.push_back(next % 2 == 0 ? Value(nullptr) : Value("名前 " + std::to_string(next)));
            row.emplace_back(next == 1 ? -0.5 : 1.25);
            row.emplace_back(Bytes{0x00, 0xff, static_cast<uint8_t>(next)});
            ++next;
            return true;
          }));
  EXPECT_EQ(written, 20000);
  EXPECT_EQ(db_->stats().round_trips - before, GetParam() == Backend::kPostgres ? 3 : 0);
  ASSERT_OK(txn->Commit());
  EXPECT_EQ(Count(), 20000);
  ASSERT_OK_AND_ASSIGN(auto r, db_->BeginRead());
  ASSERT_OK_AND_ASSIGN(
      auto one, r->QueryOne("SELECT id, name, score, data FROM items WHERE id = ?", {int64_t{1}}));
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->GetText(1).value(), "名前 1");
  EXPECT_EQ(one->GetDouble(2).value(), -0.5);
  EXPECT_EQ(one->GetBlob(3).value(), (Bytes{0x00, 0xff, 0x01}));
  ASSERT_OK_AND_ASSIGN(auto two, r->QueryOne("SELECT name FROM items WHERE id = ?", {int64_t{2}}));
  EXPECT_TRUE(two->IsNull(0));
}

// Rows that stop with an error midway: the supplier's error is the copy's, the transaction is
// poisoned (PostgreSQL aborted it), and nothing of the copy — or of what came before it in the
// transaction — commits.
TEST_P(DatabaseTest, CopyRowsThatStopWithAnErrorWriteNothing) {
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  ASSERT_OK(txn->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{-1}}));
  int64_t next = 0;
  EXPECT_THAT(txn->CopyRows("items", {"id"},
                            [&](std::vector<Value>& row) -> Result<bool> {
                              if (next == 5000) return UnavailableError("spool: read failed");
                              row.emplace_back(next++);
                              return true;
                            }),
              StatusIs(StatusCode::kUnavailable, HasSubstr("spool: read failed")));
  EXPECT_THAT(txn->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{-2}}),
              StatusIs(StatusCode::kAborted));
  EXPECT_THAT(txn->Commit(), StatusIs(StatusCode::kUnavailable));
  EXPECT_EQ(Count(), 0);
  // The pool's connection serves the next transaction.
  ASSERT_OK_AND_ASSIGN(auto again, db_->Begin());
  ASSERT_OK(again->Exec("INSERT INTO items (id) VALUES (?)", {int64_t{1}}));
  ASSERT_OK(again->Commit());
  EXPECT_EQ(Count(), 1);
}

// What CopyRows refuses: names that are not plain identifiers (they are spliced into the
// statement), a row of the wrong width, a value of another type than its column (binary COPY on
// PostgreSQL converts nothing), a copy in a BeginReadOnce transaction.
TEST_P(DatabaseTest, CopyRowsRefusesBadNamesRowsAndTypes) {
  auto one_row = [](std::vector<Value> values) {
    return [values, done = false](std::vector<Value>& row) mutable -> Result<bool> {
      if (std::exchange(done, true)) return false;
      row = values;
      return true;
    };
  };
  {
    ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
    EXPECT_THAT(txn->CopyRows("items; DROP TABLE items", {"id"}, one_row({int64_t{1}})),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("plain identifiers")));
    EXPECT_THAT(txn->CopyRows("items", {"id", "name)"}, one_row({int64_t{1}, "a"})),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("plain identifiers")));
    EXPECT_THAT(txn->CopyRows("items", {}, one_row({})), StatusIs(StatusCode::kInvalidArgument));
    EXPECT_THAT(txn->CopyRows("items", {"id", "name"}, one_row({int64_t{1}})),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("1 values for 2 columns")));
  }
  if (GetParam() == Backend::kPostgres) {
    ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
    EXPECT_THAT(txn->CopyRows("items", {"id", "name"}, one_row({"1", "a"})),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("COPY items")));
  }
  ASSERT_OK_AND_ASSIGN(auto once, db_->BeginReadOnce());
  EXPECT_THAT(once->CopyRows("items", {"id"}, one_row({int64_t{1}})),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(Count(), 0);
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(DatabaseTest);

// SQLite only: the sub-journal is SQLite's.
// Commits `rows` rows of 4,000 bytes (about one page each) in one transaction.
void CommitBlobs(Database& db, int64_t first, int64_t rows) {
  ASSERT_OK_AND_ASSIGN(auto txn, db.Begin());
  for (int64_t i = first; i < first + rows; ++i) {
    ASSERT_OK(txn->Exec("INSERT INTO items (id, data) VALUES (?, ?)", {i, Bytes(4000, 0x5a)}));
  }
  ASSERT_OK(txn->Commit());
}

// The checkpoint of a WAL grown past the mark runs on the database's own thread, not in the
// commit that grew it: SQLite's auto-checkpoint (checkpoint_pages = 0, the behaviour before)
// has copied the pages into the database file by the time Commit returns, and counts no
// checkpoint of ours.
TEST(SqliteDatabaseTest, TheCheckpointRunsOnTheDatabasesOwnThreadNotInTheCommit) {
  for (const int pages : {0, 200}) {
    SCOPED_TRACE("checkpoint_pages " + std::to_string(pages));
    chukan::testing::TempDir dir;
    SqliteOptions o;
    o.path = dir.File("ckpt.db");
    o.checkpoint_pages = pages;
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<Database> db, OpenSqlite(o));
    {
      ASSERT_OK_AND_ASSIGN(auto txn, db->Begin());
      ASSERT_OK(txn->ExecScript("CREATE TABLE items (id BIGINT PRIMARY KEY, data BLOB)"));
      ASSERT_OK(txn->Commit());
    }
    CommitBlobs(*db, 0, 1200);  // past SQLite's own mark of 1000 pages too
    if (pages == 0) {
      EXPECT_GE(std::filesystem::file_size(o.path), 1200u * 4000u);
      EXPECT_EQ(db->stats().checkpoints, 0);
      continue;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline &&
           (db->stats().checkpoints < 1 || std::filesystem::file_size(o.path) < 1200u * 4000u)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_GE(db->stats().checkpoints, 1);
    EXPECT_GE(std::filesystem::file_size(o.path), 1200u * 4000u);
    ASSERT_OK_AND_ASSIGN(auto r, db->BeginRead());
    ASSERT_OK_AND_ASSIGN(auto row, r->QueryOne("SELECT COUNT(*) FROM items"));
    EXPECT_EQ(row->GetInt(0).value(), 1200);
  }
  SqliteOptions negative;
  negative.path = "never-created.db";
  negative.checkpoint_pages = -1;
  EXPECT_THAT(OpenSqlite(negative).status(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("checkpoint_pages")));
}

// When the writer's WAL hook wakes the checkpoint thread: at the mark, then each time the WAL has
// grown by a quarter of it — not at every commit past the mark — and again from the start once
// the WAL has restarted.
TEST(WalCheckpointTriggerTest, WakesAtTheMarkThenEachQuarterOfItAndAfterARestart) {
  internal::WalCheckpointTrigger t(1000);
  EXPECT_FALSE(t.OnCommit(3));
  EXPECT_FALSE(t.OnCommit(999));
  EXPECT_TRUE(t.OnCommit(1002));  // the mark
  EXPECT_FALSE(t.OnCommit(1005));
  EXPECT_FALSE(t.OnCommit(1251));  // 249 frames since
  EXPECT_TRUE(t.OnCommit(1252));   // 250
  EXPECT_FALSE(t.OnCommit(1400));
  // Restarted: counts from the start, below the mark and past it again.
  EXPECT_FALSE(t.OnCommit(4));
  EXPECT_FALSE(t.OnCommit(700));
  EXPECT_TRUE(t.OnCommit(1000));
  // Restarted with a commit that alone leaves the WAL past the mark (a count no higher than the
  // last one's).
  EXPECT_TRUE(t.OnCommit(1000));
  EXPECT_FALSE(t.OnCommit(1100));
  // A mark of 1: every commit.
  internal::WalCheckpointTrigger every(1);
  for (const int pages : {2, 2, 3, 1, 5}) EXPECT_TRUE(every.OnCommit(pages)) << pages;
}

// Writers crossing the mark again and again, readers reading, then Close while a checkpoint
// may be running: every row is there, nothing hangs (and ThreadSanitizer sees no race).
TEST(SqliteDatabaseTest, CheckpointsRunBesideWritersAndReadersAndStopAtClose) {
  chukan::testing::TempDir dir;
  SqliteOptions o;
  o.path = dir.File("busy.db");
  o.checkpoint_pages = 50;
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Database> db, OpenSqlite(o));
  {
    ASSERT_OK_AND_ASSIGN(auto txn, db->Begin());
    ASSERT_OK(txn->ExecScript("CREATE TABLE items (id BIGINT PRIMARY KEY, data BLOB)"));
    ASSERT_OK(txn->Commit());
  }
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      auto r = db->BeginRead();
      if (!r.ok()) continue;
      auto row = (*r)->QueryOne("SELECT COUNT(*) FROM items");
      EXPECT_OK(row.status());
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      for (int64_t batch = 0; batch < 20; ++batch) CommitBlobs(*db, (w * 20 + batch) * 60, 60);
    });
  }
  for (std::thread& t : writers) t.join();
  done = true;
  reader.join();
  ASSERT_OK_AND_ASSIGN(auto r, db->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto row, r->QueryOne("SELECT COUNT(*) FROM items"));
  EXPECT_EQ(row->GetInt(0).value(), 2 * 20 * 60);
  ASSERT_OK(r->Commit());
  EXPECT_GE(db->stats().checkpoints, 1);
  CommitBlobs(*db, 100'000, 60);  // one more wake-up, then Close at once
  ASSERT_OK(db->Close());
}

// Fills a table with `rows` rows of about a page each, then, in a transaction that has already
// written, changes every row inside a savepoint — so that the savepoint's journal holds the
// original of about `rows` pages — and rolls the savepoint back. Returns the SQLite temp files
// open while the savepoint held its changes; expects the rollback to have restored every row.
std::vector<std::string> ChangeEveryPageInASavepointAndRollBack(int64_t rows) {
  chukan::testing::TempDir dir;
  SqliteOptions o;
  o.path = dir.File("journal.db");
  auto opened = OpenSqlite(o);
  EXPECT_OK(opened.status());
  if (!opened.ok()) return {"(not opened)"};
  std::shared_ptr<Database> db = *std::move(opened);
  {
    auto txn = db->Begin().value();
    EXPECT_OK(txn->ExecScript("CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT, data BLOB)"));
    for (int64_t i = 0; i < rows; ++i) {
      EXPECT_OK(txn->Exec("INSERT INTO items (id, name, data) VALUES (?, 'old', ?)",
                          {i, Bytes(4000, 0x11)}));
    }
    EXPECT_OK(txn->Commit());
  }
  auto txn = db->Begin().value();
  EXPECT_OK(txn->Exec("UPDATE items SET name = 'first' WHERE id = 0"));
  EXPECT_OK(txn->Savepoint("sp1"));
  EXPECT_OK(txn->Exec("UPDATE items SET name = 'new', data = ?", {Bytes(4000, 0x22)}));
  std::vector<std::string> temp_files = OpenSqliteTempFiles();
  EXPECT_OK(txn->RollbackToSavepoint("sp1"));
  EXPECT_OK(txn->ReleaseSavepoint("sp1"));
  EXPECT_OK(txn->Commit());
  auto r = db->BeginRead().value();
  auto names = r->Query("SELECT name, COUNT(*) FROM items GROUP BY name ORDER BY name");
  EXPECT_OK(names.status());
  if (names.ok()) {
    EXPECT_EQ(names->size(), 2u);
    if (names->size() == 2) {
      EXPECT_EQ((*names)[0].GetText(0).value(), "first");
      EXPECT_EQ((*names)[0].GetInt(1).value(), 1);
      EXPECT_EQ((*names)[1].GetText(0).value(), "old");
      EXPECT_EQ((*names)[1].GetInt(1).value(), rows - 1);
    }
  }
  EXPECT_OK(r->Commit());
  EXPECT_OK(db->Close());
  return temp_files;
}

TEST(SqliteDatabaseTest, ASavepointJournalUnderTheSpillSizeStaysInMemoryAndStillRollsBack) {
  // About 24 pages of originals (~100 KiB): past SQLite's default spill size (64 KiB), under ours.
  EXPECT_THAT(ChangeEveryPageInASavepointAndRollBack(24), ::testing::IsEmpty());
}

// The spill itself (a defect until 2026-12-06): with the spill size at 2 MiB, SQLite copied the
// in-memory journal to its temp file in one write of up to 2 MiB, which the unix VFS cut to 17
// bits of length; the short write made the statement fail with SQLITE_FULL, "database or disk is
// full", with the disk nearly empty — a first replica import's index build met it at 600,000
// records (docs/performance.md).
TEST(SqliteDatabaseTest, ASavepointJournalPastTheSpillSizeSpillsAndStillWrites) {
  // About 1,100 pages of originals (~4.4 MiB): past the spill size, old or new.
  EXPECT_THAT(ChangeEveryPageInASavepointAndRollBack(1100), ::testing::SizeIs(1));
}

// Deletion that erases (issue 14). A deleted row's bytes stay readable in the files unless
// secure_delete zeroes them where SQLite writes pages AND EraseFreed truncates the WAL that
// still holds the page images from before; each alone leaves them in one file.
TEST(SqliteDatabaseTest, EraseFreedLeavesADeletedRowInNoFileOnlyWithSecureDelete) {
  struct Case {
    bool secure_delete;
    bool erase;
    std::vector<std::string> holding;  // the files still holding the canary
  };
  const std::vector<Case> cases = {
      {true, true, {}},
      {true, false, {"erase.db-wal"}},   // the frame of the insert
      {false, true, {"erase.db"}},       // the free space of the page the WAL was copied into
      {false, false, {"erase.db-wal"}},  // what platform.db looked like to the review
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string("secure_delete ") + (c.secure_delete ? "on" : "off") +
                 (c.erase ? ", erased" : ", not erased"));
    chukan::testing::TempDir dir;
    SqliteOptions o;
    o.path = dir.File("erase.db");
    o.secure_delete = c.secure_delete;
    const Bytes canary = testing::RandomCanary();
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<Database> db, OpenSqlite(o));
    {
      ASSERT_OK_AND_ASSIGN(auto txn, db->Begin());
      ASSERT_OK(txn->ExecScript("CREATE TABLE items (id BIGINT PRIMARY KEY, data BLOB)"));
      for (int64_t i = 0; i < 4; ++i) {
        ASSERT_OK(txn->Exec("INSERT INTO items (id, data) VALUES (?, ?)",
                            {i, i == 2 ? canary : Bytes(32, 0x5a)}));
      }
      ASSERT_OK(txn->Commit());
    }
    {
      ASSERT_OK_AND_ASSIGN(auto txn, db->Begin());
      ASSERT_OK_AND_ASSIGN(int64_t n, txn->ExecCount("DELETE FROM items WHERE id = 2"));
      EXPECT_EQ(n, 1);
      ASSERT_OK(txn->Commit());
    }
    if (c.erase) {
      ASSERT_OK(db->EraseFreed());
      EXPECT_EQ(std::filesystem::file_size(o.path + "-wal"), 0u);
    }
    EXPECT_EQ(testing::FilesHolding(dir.path(), canary), c.holding);
    // The other rows are untouched.
    ASSERT_OK_AND_ASSIGN(auto r, db->BeginRead());
    ASSERT_OK_AND_ASSIGN(
        auto row, r->QueryOne("SELECT COUNT(*) FROM items WHERE data = ?", {Bytes(32, 0x5a)}));
    EXPECT_EQ(row->GetInt(0).value(), 3);
  }
}

// The truncating checkpoint waits for a reader for busy_timeout_ms at most, then says which
// file may still hold deleted content; once the reader is gone it succeeds.
TEST(SqliteDatabaseTest, EraseFreedGivesUpAfterTheBusyTimeoutWhileAReaderHoldsASnapshot) {
  chukan::testing::TempDir dir;
  SqliteOptions o;
  o.path = dir.File("busy.db");
  o.busy_timeout_ms = 200;
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Database> db, OpenSqlite(o));
  {
    ASSERT_OK_AND_ASSIGN(auto txn, db->Begin());
    ASSERT_OK(txn->ExecScript("CREATE TABLE items (id BIGINT PRIMARY KEY)"));
    ASSERT_OK(txn->Exec("INSERT INTO items (id) VALUES (1)"));
    ASSERT_OK(txn->Commit());
  }
  ASSERT_OK_AND_ASSIGN(auto reader, db->BeginRead());
  ASSERT_OK(reader->QueryOne("SELECT COUNT(*) FROM items").status());  // the snapshot starts
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(db->EraseFreed(),
              StatusIs(StatusCode::kUnavailable,
                       HasSubstr("not truncated within 200 ms (another connection holds a lock")));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(200));
  EXPECT_LT(waited, std::chrono::seconds(5));
  EXPECT_THAT(db->EraseFreed(), StatusIs(StatusCode::kUnavailable, HasSubstr(o.path + "-wal")));
  ASSERT_OK(reader->Commit());
  ASSERT_OK(db->EraseFreed());
  EXPECT_EQ(std::filesystem::file_size(o.path + "-wal"), 0u);
  ASSERT_OK(db->Close());
  EXPECT_THAT(db->EraseFreed(), StatusIs(StatusCode::kFailedPrecondition, HasSubstr(o.path)));
}

}  // namespace
}  // namespace chukan::store
