// The SQLite backend under injected disk faults (store/fault_vfs.h): a commit that hits a failed
// fsync, a full disk or a short write fails with kUnavailable naming the file and the cause,
// leaves the transaction all there or all absent (checked by reading the file back), and the
// same Database handle commits again once the fault clears. docs/storage.md, "Faults and
// recovery".
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <ostream>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/status_matchers.h"
#include "common/test_util.h"
#include "store/database.h"
#include "store/fault_vfs.h"
#include "store/group_commit.h"
#include "store/store_test_util.h"

namespace chukan::store {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

// One fault as a commit meets it, and what it leaves behind.
struct CommitFault {
  const char* name;
  FaultVfs::Op op;
  // Matching writes that succeed before the fault hits: 10 puts a short write in the middle of
  // the commit's WAL frames (each frame is two writes: header, page).
  int64_t skip;
  const char* detail;  // in the error message
  // Rows of the failed transaction a crash image (the files as the failure left them) holds.
  // A failed fsync leaves the frames written and complete, so recovery finds the transaction
  // (all of it); a full disk wrote nothing, a short write left a frame whose checksum fails.
  int64_t rows_after_crash;
};

// GoogleTest printer: ctest names and failure messages show the fault's name, not its bytes.
void PrintTo(const CommitFault& f, std::ostream* os) { *os << f.name; }

constexpr int64_t kRows = 500;  // about 15 pages: a commit of some 30 WAL writes

const CommitFault kCommitFaults[] = {
    {"fsync", FaultVfs::Op::kSync, 0, "fsync failed", kRows},
    {"full", FaultVfs::Op::kFull, 10, "disk full", 0},
    {"short_write", FaultVfs::Op::kShortWrite, 10, "write failed", 0},
};

class SqliteFaultTestBase {
 protected:
  SqliteFaultTestBase() {
    vfs();  // registered before the first open
    path_ = dir_.File("f.db");
  }

  static FaultVfs& vfs() { return FaultVfs::Get(); }

  void OpenAndCreateTable(int checkpoint_pages = 1000) {
    SqliteOptions o;
    o.path = path_;
    o.vfs = FaultVfs::kName;
    o.checkpoint_pages = checkpoint_pages;
    ASSERT_OK_AND_ASSIGN(db_, OpenSqlite(o));
    ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
    ASSERT_OK(txn->ExecScript("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"));
    ASSERT_OK(txn->Commit());
  }

  // A fault on this test's files only.
  FaultVfs::Fault On(FaultVfs::Op op, std::string suffix, int64_t skip = 0) const {
    FaultVfs::Fault f;
    f.op = op;
    f.file_suffix = std::move(suffix);
    f.path_contains = dir_.path();
    f.skip = skip;
    return f;
  }

  // `lazy`: in a transaction of Database::BeginLazy.
  static Status InsertRows(Database& db, int64_t first, int64_t n, bool lazy = false) {
    ASSIGN_OR_RETURN(auto txn, lazy ? db.BeginLazy() : db.Begin());
    for (int64_t id = first; id < first + n; ++id) {
      RETURN_IF_ERROR(
          txn->Exec("INSERT INTO t (id, v) VALUES (?, ?)", {id, std::string(100, 'x')}));
    }
    return txn->Commit();
  }

  // Rows with ids in [first, first + n) in the database file at `path`, read with the default
  // VFS through a new handle, as a restarted server would read it.
  static int64_t CountIn(const std::string& path, int64_t first, int64_t n) {
    SqliteOptions o;
    o.path = path;
    o.create = false;
    auto db = OpenSqlite(o);
    EXPECT_OK(db);
    if (!db.ok()) return -1;
    auto txn = (*db)->BeginRead();
    EXPECT_OK(txn);
    if (!txn.ok()) return -1;
    auto row =
        (*txn)->QueryOne("SELECT COUNT(*) FROM t WHERE id >= ? AND id < ?", {first, first + n});
    EXPECT_OK(row);
    return row.ok() && row->has_value() ? (*row)->GetInt(0).value() : -1;
  }

  // Closes db_ (cleanly: the fault is disarmed first) and counts as CountIn.
  int64_t CountAfterReopen(int64_t first, int64_t n) {
    vfs().Disarm();
    EXPECT_OK(db_->Close());
    db_.reset();
    return CountIn(path_, first, n);
  }

  // Polls `done` (a counter another thread of the database moves) for up to 10 s. The
  // checkpoint thread is the database's own: there is nothing else to wait on.
  template <class F>
  static bool Eventually(F done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  chukan::testing::TempDir dir_;
  std::string path_;
  std::shared_ptr<Database> db_;
};

class SqliteCommitFaultTest : public SqliteFaultTestBase,
                              public ::testing::TestWithParam<CommitFault> {
 protected:
  void SetUp() override { OpenAndCreateTable(); }
  void TearDown() override { vfs().Disarm(); }
};

TEST_P(SqliteCommitFaultTest, TheCommitFailsNamingTheFileAndTheNextOneOnTheSameHandleSucceeds) {
  const CommitFault& f = GetParam();
  const int64_t opened = db_->stats().connections_opened;
  vfs().Arm(On(f.op, "-wal", f.skip));
  EXPECT_THAT(InsertRows(*db_, 0, kRows),
              StatusIs(StatusCode::kUnavailable,
                       AllOf(HasSubstr(path_), HasSubstr(f.detail), HasSubstr("in: COMMIT"))));
  EXPECT_EQ(vfs().injected(), 1);
  // Reads go on while the fault lasts, and see none of the failed transaction.
  {
    ASSERT_OK_AND_ASSIGN(auto txn, db_->BeginRead());
    ASSERT_OK_AND_ASSIGN(auto row, txn->QueryOne("SELECT COUNT(*) FROM t"));
    EXPECT_EQ(row->GetInt(0).value(), 0);
  }
  vfs().Disarm();
  // The same handle (the same writer connection: SQLite rolled back and dropped its cache).
  ASSERT_OK(InsertRows(*db_, 10'000, kRows));
  ASSERT_OK(InsertRows(*db_, 20'000, 3));
  EXPECT_EQ(db_->stats().connections_opened, opened + 1);  // + the reader above
  EXPECT_EQ(CountAfterReopen(0, kRows), 0);
  EXPECT_EQ(CountIn(path_, 10'000, kRows), kRows);
  EXPECT_EQ(CountIn(path_, 20'000, 3), 3);
}

// The files as a crash right after the failed commit leaves them: the failed transaction is all
// there or all absent, never in part, and the commits before it are all there.
TEST_P(SqliteCommitFaultTest, ACrashImageAfterTheFailedCommitHoldsItAllOrNothing) {
  const CommitFault& f = GetParam();
  ASSERT_OK(InsertRows(*db_, 10'000, 7));
  vfs().Arm(On(f.op, "-wal", f.skip));
  EXPECT_THAT(InsertRows(*db_, 0, kRows), StatusIs(StatusCode::kUnavailable));
  // Copied while the handle is open: the database file and its WAL, as a power cut leaves them
  // (-shm is rebuilt by the first open).
  chukan::testing::TempDir crash;
  const std::string image = crash.File("f.db");
  std::filesystem::copy_file(path_, image);
  std::filesystem::copy_file(path_ + "-wal", image + "-wal");
  vfs().Disarm();
  EXPECT_EQ(CountIn(image, 0, kRows), f.rows_after_crash);
  EXPECT_EQ(CountIn(image, 10'000, 7), 7);
}

INSTANTIATE_TEST_SUITE_P(Faults, SqliteCommitFaultTest, ::testing::ValuesIn(kCommitFaults),
                         [](const ::testing::TestParamInfo<CommitFault>& param) {
                           return std::string(param.param.name);
                         });

class SqliteFaultTest : public SqliteFaultTestBase, public ::testing::Test {
 protected:
  void TearDown() override { vfs().Disarm(); }
};

// Lazy commits (Database::BeginLazy; docs/storage.md, "Lazy commits"): the WAL is written but
// not synced; the next write transaction that is not lazy sets synchronous=FULL again before it
// begins, and its commit syncs. Counted as the calls of a fault armed never to hit.
TEST_F(SqliteFaultTest, ALazyCommitSyncsNothingAndTheNextCommitIsDurableAgain) {
  OpenAndCreateTable();
  vfs().Arm(On(FaultVfs::Op::kSync, "-wal", /*skip=*/1'000'000));
  ASSERT_OK(InsertRows(*db_, 0, 3, /*lazy=*/true));
  ASSERT_OK(InsertRows(*db_, 10, 3, /*lazy=*/true));
  EXPECT_EQ(vfs().matched(), 0);
  {
    ASSERT_OK_AND_ASSIGN(auto txn, db_->BeginRead());  // committed: another connection sees them
    ASSERT_OK_AND_ASSIGN(auto row, txn->QueryOne("SELECT COUNT(*) FROM t"));
    EXPECT_EQ(row->GetInt(0).value(), 6);
  }
  ASSERT_OK(InsertRows(*db_, 20, 3));
  const int64_t after_durable = vfs().matched();
  EXPECT_GE(after_durable, 1);
  ASSERT_OK(InsertRows(*db_, 30, 3, /*lazy=*/true));
  EXPECT_EQ(vfs().matched(), after_durable);
  ASSERT_OK(InsertRows(*db_, 40, 3));
  EXPECT_GT(vfs().matched(), after_durable);
  EXPECT_EQ(vfs().injected(), 0);
  EXPECT_EQ(CountAfterReopen(0, 50), 15);
}

// A lazy commit does not sync, so a failing fsync does not fail it; the durable commit after it
// fails, and the lazy one's rows stay (committed before it; only a crash of the machine could
// take them, and the failed commit is rolled back alone).
TEST_F(SqliteFaultTest, AFailingFsyncFailsTheDurableCommitAfterALazyOneAlone) {
  OpenAndCreateTable();
  vfs().Arm(On(FaultVfs::Op::kSync, "-wal"));
  ASSERT_OK(InsertRows(*db_, 0, 3, /*lazy=*/true));
  EXPECT_EQ(vfs().injected(), 0);
  EXPECT_THAT(InsertRows(*db_, 10, 3), StatusIs(StatusCode::kUnavailable, HasSubstr("fsync")));
  EXPECT_EQ(vfs().injected(), 1);
  EXPECT_EQ(CountAfterReopen(0, 3), 3);
  EXPECT_EQ(CountIn(path_, 10, 3), 0);
}

// Lazy and durable writes from eight threads at once through one committer, every third write
// durable: the writer's level flips back and forth between batches. Every write commits, a
// batch with a durable write in it is not counted lazy, and afterwards a durable commit syncs
// the WAL again (the level is FULL, whatever the last batch of the storm was).
TEST_F(SqliteFaultTest, LazyAndDurableWritesFromManyThreadsAllCommitAndTheLevelComesBack) {
  OpenAndCreateTable();
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, {}));
  auto insert = [](int64_t id) {
    return [id](Transaction& txn) {
      return txn.Exec("INSERT INTO t (id, v) VALUES (?, ?)", {id, std::string(100, 'x')});
    };
  };
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int64_t t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int64_t i = 0; i < 50; ++i) {
        const auto durability =
            i % 3 == 0 ? GroupCommitter::Durability::kDurable : GroupCommitter::Durability::kLazy;
        if (!gc->Submit(insert(t * 1000 + i), GroupCommitter::Rerun::kOnce, durability)
                 .get()
                 .ok()) {
          ++failed;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  const GroupCommitter::Stats st = gc->stats();
  EXPECT_EQ(st.writes, 400);
  EXPECT_LT(st.lazy, st.batches);  // 136 writes were durable: their batches are not lazy
  vfs().Arm(On(FaultVfs::Op::kSync, "-wal", /*skip=*/1'000'000));
  ASSERT_OK(gc->Submit(insert(99'999)).get());
  EXPECT_GE(vfs().matched(), 1);
  gc.reset();
  EXPECT_EQ(CountAfterReopen(0, 100'000), 401);
}

// A failed fsync while the database file is written back (the checkpoint thread): the thread
// logs it, counts it and goes on; the WAL keeps the frames, and once the fault clears a later
// checkpoint copies them.
TEST_F(SqliteFaultTest, TheCheckpointThreadSurvivesAFailedFsyncOfTheDatabaseFile) {
  OpenAndCreateTable(/*checkpoint_pages=*/1);
  vfs().Arm(On(FaultVfs::Op::kSync, ".db"));
  ASSERT_OK(InsertRows(*db_, 0, 50));  // a commit does not sync the database file
  ASSERT_TRUE(Eventually([&] { return db_->stats().checkpoint_errors >= 1; }));
  vfs().Disarm();
  // A checkpoint that met the fault before Disarm may still be finishing: it counts its run
  // before its error (ASan's tree once read 1 error here and then found 2). Runs follow one
  // another on one thread, so once two more have been counted, that one has ended.
  const int64_t runs0 = db_->stats().checkpoints;
  int64_t next = 1000;
  ASSERT_TRUE(Eventually([&] {
    if (!InsertRows(*db_, next, 10).ok()) return false;
    next += 10;
    return db_->stats().checkpoints >= runs0 + 2;
  }));
  const int64_t errors = db_->stats().checkpoint_errors;
  const int64_t runs = db_->stats().checkpoints;
  ASSERT_OK(InsertRows(*db_, 100'000, 50));
  ASSERT_TRUE(Eventually([&] { return db_->stats().checkpoints > runs; }));
  EXPECT_EQ(db_->stats().checkpoint_errors, errors);
  // Everything reached the database file: a truncating checkpoint empties the WAL.
  ASSERT_OK(db_->EraseFreed());
  EXPECT_EQ(std::filesystem::file_size(path_ + "-wal"), 0u);
  EXPECT_EQ(CountAfterReopen(0, 200'000), 100 + (next - 1000));
}

TEST_F(SqliteFaultTest, EraseFreedUnderAFailedFsyncNamesTheFileAndWorksOnceItClears) {
  OpenAndCreateTable();
  ASSERT_OK(InsertRows(*db_, 0, 20));
  vfs().Arm(On(FaultVfs::Op::kSync, ".db"));
  EXPECT_THAT(db_->EraseFreed(),
              StatusIs(StatusCode::kUnavailable, AllOf(HasSubstr(path_), HasSubstr("fsync"))));
  vfs().Disarm();
  ASSERT_OK(db_->EraseFreed());
  EXPECT_EQ(std::filesystem::file_size(path_ + "-wal"), 0u);
  EXPECT_EQ(CountAfterReopen(0, 20), 20);
}

// What the operator reads: the failed commit and the failed checkpoint, each with the file and
// the cause, in the server log.
TEST_F(SqliteFaultTest, TheServerLogNamesTheFileAndTheCauseOfEachFault) {
  OpenAndCreateTable(/*checkpoint_pages=*/1);
  const std::string log_path = dir_.File("server.log");
  ASSERT_OK(log::Init({log::Level::kInfo, log_path}));
  vfs().Arm(On(FaultVfs::Op::kSync, "-wal"));
  EXPECT_THAT(InsertRows(*db_, 0, 10), StatusIs(StatusCode::kUnavailable));
  vfs().Arm(On(FaultVfs::Op::kSync, ".db"));
  ASSERT_OK(InsertRows(*db_, 100, 10));  // its checkpoint fails
  ASSERT_TRUE(Eventually([&] { return db_->stats().checkpoint_errors >= 1; }));
  vfs().Disarm();
  ASSERT_OK(log::Init({}));  // back to standard error; closes the file
  std::ifstream in(log_path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr(R"("event":"store.commit_failed","backend":"sqlite")"));
  EXPECT_THAT(text, HasSubstr("code 1034: fsync failed"));
  EXPECT_THAT(text, HasSubstr(R"("event":"store.sqlite_checkpoint_failed","path":")" + path_));
}

// The group committer under a failed commit: no write of the batch is acknowledged, each gets
// the commit's error, and resubmitted after the fault they all commit.
TEST_F(SqliteFaultTest, AGroupCommitWhoseCommitFailsAcknowledgesNoneOfItsWrites) {
  OpenAndCreateTable();
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, {}));
  auto insert = [](int64_t id) {
    return [id](Transaction& txn) {
      return txn.Exec("INSERT INTO t (id, v) VALUES (?, ?)", {id, std::string(100, 'x')});
    };
  };
  // Holds the committer until the 20 others are queued: they form one batch.
  testing::HeldCommitter first(*gc);
  vfs().Arm(On(FaultVfs::Op::kSync, "-wal"));
  std::vector<std::future<Status>> writes;
  for (int64_t i = 0; i < 20; ++i) writes.push_back(gc->Submit(insert(i)));
  EXPECT_OK(first.Release());  // its empty batch wrote nothing to sync
  for (auto& w : writes) {
    EXPECT_THAT(w.get(), StatusIs(StatusCode::kUnavailable, HasSubstr("fsync failed")));
  }
  vfs().Disarm();
  writes.clear();
  for (int64_t i = 0; i < 20; ++i) writes.push_back(gc->Submit(insert(i)));
  for (auto& w : writes) EXPECT_OK(w.get());
  gc.reset();
  EXPECT_EQ(CountAfterReopen(0, 20), 20);
}

// A write that fills the disk in the middle of a batch (its pages spill from SQLite's cache
// into the WAL before the commit): SQLite rolls back the whole transaction, so no savepoint can
// undo that write alone. Every write of the batch fails with the cause — the disk is full,
// kUnavailable — not with an internal-looking "cannot undo" kAborted.
TEST_F(SqliteFaultTest, AWriteThatFillsTheDiskFailsItsBatchWithTheCause) {
  OpenAndCreateTable();
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, {}));
  testing::HeldCommitter first(*gc);
  auto small = gc->Submit(
      [](Transaction& txn) { return txn.Exec("INSERT INTO t (id, v) VALUES (1, 'small')"); });
  // 4 MiB: twice SQLite's default page cache, so it spills before the commit.
  auto big = gc->Submit([](Transaction& txn) {
    return txn.Exec("INSERT INTO t (id, v) VALUES (?, ?)", {int64_t{2}, std::string(4 << 20, 'y')});
  });
  auto after = gc->Submit(
      [](Transaction& txn) { return txn.Exec("INSERT INTO t (id, v) VALUES (3, 'after')"); });
  vfs().Arm(On(FaultVfs::Op::kFull, "-wal"));
  EXPECT_OK(first.Release());
  for (auto* w : {&small, &big, &after}) {
    EXPECT_THAT(w->get(), StatusIs(StatusCode::kUnavailable,
                                   AllOf(HasSubstr(path_), HasSubstr("disk full"))));
  }
  EXPECT_GE(vfs().injected(), 1);
  vfs().Disarm();
  ASSERT_OK(gc->Submit([](Transaction& txn) {
                return txn.Exec("INSERT INTO t (id, v) VALUES (4, 'next')");
              }).get());
  gc.reset();
  EXPECT_EQ(CountAfterReopen(0, 10), 1);
}

}  // namespace
}  // namespace chukan::store
