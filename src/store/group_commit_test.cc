#include "store/group_commit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <optional>
#include <stdexcept>
#include <thread>

#include "store/store_test_util.h"

namespace chukan::store {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

class GroupCommitTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    db_ = NewDatabase();
    ASSERT_NE(db_, nullptr);
    ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
    ASSERT_OK(txn->ExecScript("CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT NOT NULL)"));
    ASSERT_OK(txn->Commit());
  }

  static GroupCommitter::WriteFn Insert(int64_t id) {
    return [id](Transaction& txn) {
      return txn.Exec("INSERT INTO t (id, v) VALUES (?, ?)", {id, "v" + std::to_string(id)});
    };
  }

  // Counts rows through a brand-new store handle (new connections / new file handles).
  int64_t CountFromFreshHandle() {
    TenantStore* s = OpenStore();
    EXPECT_NE(s, nullptr);
    auto db = s->Platform();
    EXPECT_OK(db);
    auto txn = (*db)->BeginRead();
    EXPECT_OK(txn);
    return (*txn)->QueryOne("SELECT COUNT(*) FROM t")->value().GetInt(0).value();
  }

  // A batch of one write held at a gate, then a batch of four writes of two INSERTs each (rows
  // 1, 10/11 … 40/41); returns the round trips both batches cost.
  // The blocker's write runs alone; the four queued behind it form the second batch. `rerun`
  // marks the blocker and the first three, `last` the fourth.
  int64_t RoundTripsOfTwoBatches(GroupCommitter::Options options,
                                 GroupCommitter::Rerun rerun = GroupCommitter::Rerun::kOnce,
                                 std::optional<GroupCommitter::Rerun> last = std::nullopt) {
    auto gc = GroupCommitter::Create(db_, options);
    EXPECT_OK(gc);
    if (!gc.ok()) return -1;
    const int64_t before = db_->stats().round_trips;
    testing::HeldCommitter blocker(**gc, Insert(1), rerun);
    std::vector<std::future<Status>> writes;
    for (int64_t id = 10; id < 50; id += 10) {
      writes.push_back((*gc)->Submit(
          [id](Transaction& txn) -> Status {
            RETURN_IF_ERROR(Insert(id)(txn));
            return Insert(id + 1)(txn);
          },
          id == 40 ? last.value_or(rerun) : rerun));
    }
    EXPECT_OK(blocker.Release());
    for (auto& w : writes) EXPECT_OK(w.get());
    EXPECT_EQ((*gc)->stats().batches, 2);
    EXPECT_EQ(CountFromFreshHandle(), 9);
    return db_->stats().round_trips - before;
  }

  std::shared_ptr<Database> db_;
};

TEST_P(GroupCommitTest, ManyConcurrentSubmittersAreAllDurable) {
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, {}));
  constexpr int kThreads = 6;
  constexpr int kPerThread = 150;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::future<Status>> futures;
      for (int i = 0; i < kPerThread; ++i) futures.push_back(gc->Submit(Insert(t * 1000 + i)));
      for (auto& f : futures) failures[t] += f.get().ok() ? 0 : 1;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0);
  const auto stats = gc->stats();
  EXPECT_EQ(stats.writes, kThreads * kPerThread);
  EXPECT_EQ(stats.batches, db_->stats().transactions_committed - 1);  // -1: CREATE TABLE
  // Close everything, then count through new handles: every acknowledged write is there.
  gc.reset();
  ASSERT_OK(db_->Close());
  EXPECT_EQ(CountFromFreshHandle(), kThreads * kPerThread);
}

// Options::optimistic under many writers, one write in ten failing (a key its own thread wrote
// before): each failing write gets its own error, every other write is durable exactly once.
TEST_P(GroupCommitTest, ManyConcurrentOptimisticWritersWithFailuresGetEachTheirOwnOutcome) {
  GroupCommitter::Options o;
  o.optimistic = true;
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, o));
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100;
  std::vector<std::thread> threads;
  std::vector<int> ok(kThreads, 0), duplicate(kThreads, 0), other(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::future<Status>> futures;
      for (int i = 0; i < kPerThread; ++i) {
        // Every tenth write repeats the thread's first key, submitted (so written) before it.
        const int64_t id = i % 10 == 9 ? t * 1000 : t * 1000 + i;
        futures.push_back(gc->Submit(Insert(id)));
      }
      for (auto& f : futures) {
        const Status s = f.get();
        ++(s.ok() ? ok[t] : s.code() == StatusCode::kAlreadyExists ? duplicate[t] : other[t]);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(ok[t], 90);
    EXPECT_EQ(duplicate[t], 10);
    EXPECT_EQ(other[t], 0);
  }
  gc.reset();
  EXPECT_EQ(CountFromFreshHandle(), kThreads * 90);
}

TEST_P(GroupCommitTest, WritesQueuedDuringACommitShareTheNextOne) {
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, {}));
  testing::HeldCommitter first(*gc, Insert(0));  // until the others are queued
  std::vector<std::future<Status>> rest;
  for (int i = 1; i <= 100; ++i) rest.push_back(gc->Submit(Insert(i)));
  EXPECT_OK(first.Release());
  for (auto& f : rest) EXPECT_OK(f.get());
  EXPECT_EQ(gc->stats().batches, 2);  // {first}, then the 100 queued meanwhile
  EXPECT_EQ(gc->stats().writes, 101);
}

TEST_P(GroupCommitTest, OneFailingWriteDoesNotFailTheOthers) {
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, {}));
  testing::HeldCommitter blocker(*gc, Insert(1));
  // These three share one transaction.
  auto ok1 = gc->Submit(Insert(2));
  auto bad = gc->Submit([](Transaction& txn) -> Status {
    RETURN_IF_ERROR(txn.Exec("INSERT INTO t (id, v) VALUES (?, ?)", {int64_t{50}, "partial"}));
    return txn.Exec("INSERT INTO t (id, v) VALUES (?, ?)", {int64_t{2}, "duplicate"});
  });
  auto thrower = gc->Submit([](Transaction&) -> Status { throw std::runtime_error("oops"); });
  auto ok2 = gc->Submit(Insert(3));
  EXPECT_OK(blocker.Release());
  EXPECT_OK(ok1.get());
  EXPECT_THAT(bad.get(), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_THAT(thrower.get(), StatusIs(StatusCode::kInternal, HasSubstr("oops")));
  EXPECT_OK(ok2.get());
  EXPECT_EQ(gc->stats().batches, 2);
  ASSERT_OK_AND_ASSIGN(auto txn, db_->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto rows, txn->Query("SELECT id FROM t ORDER BY id"));
  ASSERT_EQ(rows.size(), 3u);  // 1, 2, 3; not the failed write's 50
  EXPECT_EQ(rows[0].GetInt(0).value(), 1);
  EXPECT_EQ(rows[1].GetInt(0).value(), 2);
  EXPECT_EQ(rows[2].GetInt(0).value(), 3);
}

// PostgreSQL: a write whose statements are Execs costs one round trip (its SAVEPOINT, Execs and
// RELEASE in one pipeline), the batch's COMMIT one more: 4 writes of two INSERTs each cost 5
// round trips, 18 before the Execs were held back. SQLite has no round trips.
TEST_P(GroupCommitTest, AWriteOfExecsCostsOneRoundTripOnPostgres) {
  // The blocker's batch: its write, its COMMIT; then the four writes and their COMMIT.
  EXPECT_EQ(RoundTripsOfTwoBatches({}), GetParam() == Backend::kPostgres ? 2 + 5 : 0);
}

// Options::optimistic on PostgreSQL: a batch of Execs is one pipeline with its COMMIT — the same
// batches as above cost 2 round trips instead of 7. SQLite: unchanged.
TEST_P(GroupCommitTest, AnOptimisticBatchOfExecsCostsOneRoundTripOnPostgres) {
  GroupCommitter::Options o;
  o.optimistic = true;
  EXPECT_EQ(RoundTripsOfTwoBatches(o), GetParam() == Backend::kPostgres ? 2 : 0);
}

// Without Options::optimistic, a batch whose writes were all submitted as Rerun::kSafe is tried
// at once as well; one write not so marked (kOnce, the default) makes its batch careful.
TEST_P(GroupCommitTest, ABatchOfWritesMarkedSafeToRunTwiceIsTriedAtOnce) {
  using Rerun = GroupCommitter::Rerun;
  const bool pg = GetParam() == Backend::kPostgres;
  EXPECT_EQ(RoundTripsOfTwoBatches({}, Rerun::kSafe), pg ? 2 : 0);
  ASSERT_OK_AND_ASSIGN(auto clear, db_->Begin());
  ASSERT_OK(clear->Exec("DELETE FROM t"));
  ASSERT_OK(clear->Commit());
  // The blocker's batch at once (1), the second carefully (5).
  EXPECT_EQ(RoundTripsOfTwoBatches({}, Rerun::kSafe, Rerun::kOnce), pg ? 1 + 5 : 0);
}

// Options::optimistic: a batch in which one write fails (a duplicate key found only at the
// COMMIT, a write that throws) runs again carefully — every write gets its own outcome, as
// without the option, and only the last run of each counts.
TEST_P(GroupCommitTest, AnOptimisticBatchWithAFailingWriteRunsAgainCarefully) {
  GroupCommitter::Options o;
  o.optimistic = true;
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, o));
  testing::HeldCommitter blocker(*gc, Insert(1));
  std::atomic<int> runs{0};
  auto counted = [&runs](int64_t id) {
    return [&runs, id](Transaction& txn) {
      runs++;
      return Insert(id)(txn);
    };
  };
  auto ok1 = gc->Submit(counted(2));
  auto bad = gc->Submit([](Transaction& txn) -> Status {
    RETURN_IF_ERROR(txn.Exec("INSERT INTO t (id, v) VALUES (?, ?)", {int64_t{50}, "partial"}));
    return txn.Exec("INSERT INTO t (id, v) VALUES (?, ?)", {int64_t{2}, "duplicate"});
  });
  auto ok2 = gc->Submit(counted(3));
  EXPECT_OK(blocker.Release());
  EXPECT_OK(ok1.get());
  EXPECT_THAT(bad.get(), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_OK(ok2.get());
  EXPECT_EQ(gc->stats().batches, 2);
  // PostgreSQL: the second batch ran twice (at once, then carefully); SQLite once.
  EXPECT_EQ(runs.load(), GetParam() == Backend::kPostgres ? 4 : 2);
  ASSERT_OK_AND_ASSIGN(auto txn, db_->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto rows, txn->Query("SELECT id, v FROM t ORDER BY id"));
  ASSERT_EQ(rows.size(), 3u);  // 1, 2, 3; not the failed write's 50
  EXPECT_EQ(rows[1].GetInt(0).value(), 2);
  EXPECT_EQ(rows[1].GetText(1).value(), "v2");
  EXPECT_EQ(rows[2].GetInt(0).value(), 3);

  auto thrower = gc->Submit([](Transaction&) -> Status { throw std::runtime_error("oops"); });
  EXPECT_THAT(thrower.get(), StatusIs(StatusCode::kInternal, HasSubstr("oops")));
  EXPECT_OK(gc->Submit(Insert(4)).get());
  EXPECT_EQ(CountFromFreshHandle(), 4);
}

// The prologue runs first in each batch's transaction (its writes commit with the batch); a
// failing prologue fails every write of the batch and nothing of it commits.
TEST_P(GroupCommitTest, ThePrologueRunsFirstInEveryBatchAndItsFailureFailsTheBatch) {
  std::atomic<bool> fail{false};
  std::atomic<int> runs{0};
  GroupCommitter::Options o;
  o.prologue = [&](Transaction& txn) -> Status {
    if (fail.load()) return UnavailableError("prologue: no lock");
    runs.fetch_add(1);
    // Its row goes first: id 1000 + the batch number, before the batch's own writes.
    return txn.Exec("INSERT INTO t (id, v) VALUES (?, ?)",
                    {int64_t{1000} + runs.load(), std::string("prologue")});
  };
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, o));
  EXPECT_OK(gc->Submit(Insert(1)).get());
  EXPECT_OK(gc->Submit(Insert(2)).get());
  fail.store(true);
  EXPECT_THAT(gc->Submit(Insert(3)).get(),
              StatusIs(StatusCode::kUnavailable, HasSubstr("prologue: no lock")));
  EXPECT_EQ(runs.load(), 2);
  ASSERT_OK_AND_ASSIGN(auto txn, db_->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto rows, txn->Query("SELECT id FROM t ORDER BY id"));
  ASSERT_EQ(rows.size(), 4u);  // 1, 2 and the two prologues' rows; not 3
  EXPECT_EQ(rows[0].GetInt(0).value(), 1);
  EXPECT_EQ(rows[1].GetInt(0).value(), 2);
  EXPECT_EQ(rows[2].GetInt(0).value(), 1001);
  EXPECT_EQ(rows[3].GetInt(0).value(), 1002);
}

// Options::optimistic: a prologue that fails in the attempt at once is run again with the careful
// attempt (a lock not granted may be granted then); failing there too, it fails every write of
// the batch with its own error and nothing commits — as without the option.
TEST_P(GroupCommitTest, APrologueFailingInAnOptimisticBatchFailsTheBatchOnlyIfItFailsAgain) {
  std::atomic<int> failures_left{0};
  std::atomic<int> prologues{0};
  std::atomic<int> writes{0};
  GroupCommitter::Options o;
  o.optimistic = true;
  o.prologue = [&](Transaction&) -> Status {
    prologues++;
    if (failures_left.load() > 0) {
      failures_left--;
      return UnavailableError("prologue: no lock");
    }
    return Status();
  };
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, o));
  auto counted = [&writes](int64_t id) {
    return [&writes, id](Transaction& txn) {
      writes++;
      return Insert(id)(txn);
    };
  };
  const bool pg = GetParam() == Backend::kPostgres;
  // Once: PostgreSQL's careful attempt takes the lock and the write commits; SQLite has no
  // attempt at once, so its only prologue failed.
  failures_left.store(1);
  const Status once = gc->Submit(counted(1)).get();
  if (pg) {
    EXPECT_OK(once);
    EXPECT_EQ(prologues.load(), 2);
    EXPECT_EQ(writes.load(), 1);  // the attempt at once stopped at its prologue
  } else {
    EXPECT_THAT(once, StatusIs(StatusCode::kUnavailable, HasSubstr("prologue: no lock")));
    EXPECT_EQ(prologues.load(), 1);
    EXPECT_EQ(writes.load(), 0);
  }
  // Twice (every attempt): the write fails with the prologue's error, nothing of it commits.
  prologues.store(0);
  writes.store(0);
  failures_left.store(2);
  EXPECT_THAT(gc->Submit(counted(2)).get(),
              StatusIs(StatusCode::kUnavailable, HasSubstr("prologue: no lock")));
  EXPECT_EQ(prologues.load(), pg ? 2 : 1);
  EXPECT_EQ(writes.load(), 0);
  EXPECT_EQ(failures_left.load(), pg ? 0 : 1);
  gc.reset();
  EXPECT_EQ(CountFromFreshHandle(), pg ? 1 : 0);
}

// Durability::kLazy (docs/storage.md, "Lazy commits"): a batch of lazy writes only commits
// lazily; one durable write makes its batch durable. Either way every write is committed.
// (SQLite's fsyncs are counted in fault_test.cc; on PostgreSQL this runs the SET LOCAL in the
// COMMIT's pipeline, optimistic or careful.)
TEST_P(GroupCommitTest, ABatchIsLazyOnlyWhenEveryWriteInItIsLazy) {
  for (const bool optimistic : {false, true}) {
    SCOPED_TRACE(optimistic ? "optimistic" : "careful");
    GroupCommitter::Options o;
    o.optimistic = optimistic;
    ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, o));
    const int64_t base = optimistic ? 100 : 0;
    const auto lazy = GroupCommitter::Durability::kLazy;
    ASSERT_OK(gc->Submit(Insert(base + 1), GroupCommitter::Rerun::kOnce, lazy).get());
    EXPECT_EQ(gc->stats().lazy, 1);
    {
      // A durable write holds the committer; a lazy and a durable one queue behind it.
      testing::HeldCommitter blocker(*gc, Insert(base + 2));
      std::future<Status> a = gc->Submit(Insert(base + 3), GroupCommitter::Rerun::kOnce, lazy);
      std::future<Status> b = gc->Submit(Insert(base + 4));
      ASSERT_OK(blocker.Release());
      ASSERT_OK(a.get());
      ASSERT_OK(b.get());
    }
    // Two lazy writes in one batch, then a lazy write beside one that fails.
    {
      testing::HeldCommitter blocker(*gc, nullptr, GroupCommitter::Rerun::kOnce);
      std::future<Status> c = gc->Submit(Insert(base + 5), GroupCommitter::Rerun::kSafe, lazy);
      std::future<Status> d = gc->Submit(Insert(base + 6), GroupCommitter::Rerun::kSafe, lazy);
      ASSERT_OK(blocker.Release());
      ASSERT_OK(c.get());
      ASSERT_OK(d.get());
    }
    {
      testing::HeldCommitter blocker(*gc, nullptr, GroupCommitter::Rerun::kOnce);
      std::future<Status> e = gc->Submit(Insert(base + 7), GroupCommitter::Rerun::kSafe, lazy);
      std::future<Status> dup = gc->Submit(Insert(base + 7), GroupCommitter::Rerun::kSafe, lazy);
      ASSERT_OK(blocker.Release());
      ASSERT_OK(e.get());
      EXPECT_THAT(dup.get(), StatusIs(StatusCode::kAlreadyExists));
    }
    // The lone lazy write, its batch of two, and the batch whose duplicate failed (its other
    // write committed) — not the held ones, nor the batch with a durable write.
    EXPECT_EQ(gc->stats().batches, 7);
    EXPECT_EQ(gc->stats().lazy, 3);
  }
  EXPECT_EQ(CountFromFreshHandle(), 14);
}

TEST_P(GroupCommitTest, StopDrainsThenRefuses) {
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, {}));
  std::vector<std::future<Status>> futures;
  for (int i = 0; i < 50; ++i) futures.push_back(gc->Submit(Insert(i)));
  gc->Stop();
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::ready);
    EXPECT_OK(f.get());
  }
  EXPECT_THAT(gc->Submit(Insert(99)).get(), StatusIs(StatusCode::kFailedPrecondition));
  gc->Stop();  // idempotent
  ASSERT_OK_AND_ASSIGN(auto txn, db_->BeginRead());
  EXPECT_EQ(txn->QueryOne("SELECT COUNT(*) FROM t")->value().GetInt(0).value(), 50);
}

// A `done` that throws is logged and the rest of its batch is still told; the committer goes on.
// Before, the exception left the writer thread: std::terminate ended the process.
TEST_P(GroupCommitTest, ADoneThatThrowsDoesNotEndTheCommitter) {
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, {}));
  std::atomic<bool> thrower_ran{false};
  std::future<Status> after;
  {
    testing::HeldCommitter blocker(*gc, Insert(1));  // the next two share one batch
    gc->SubmitAsync(Insert(2), [&thrower_ran](Status s) {
      EXPECT_OK(s);
      thrower_ran = true;
      throw std::runtime_error("done threw");
    });
    after = gc->Submit(Insert(3));
  }
  EXPECT_OK(after.get());
  EXPECT_TRUE(thrower_ran.load());
  EXPECT_OK(gc->Submit(Insert(4)).get());  // still committing
  EXPECT_EQ(gc->stats().writes, 4);
  ASSERT_OK_AND_ASSIGN(auto txn, db_->BeginRead());
  EXPECT_EQ(txn->QueryOne("SELECT COUNT(*) FROM t")->value().GetInt(0).value(), 4);
}

// The writer thread knows itself: OnCommitThread is true inside a write and a `done` only.
TEST_P(GroupCommitTest, OnCommitThreadIsTrueOnTheWriterThreadOnly) {
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, {}));
  EXPECT_FALSE(gc->OnCommitThread());
  std::atomic<bool> in_write{false};
  std::promise<bool> in_done;
  GroupCommitter* raw = gc.get();
  gc->SubmitAsync(
      [raw, &in_write](Transaction& txn) {
        in_write = raw->OnCommitThread();
        return Insert(1)(txn);
      },
      [raw, &in_done](Status s) {
        EXPECT_OK(s);
        in_done.set_value(raw->OnCommitThread());
      });
  EXPECT_TRUE(in_done.get_future().get());
  EXPECT_TRUE(in_write.load());
  EXPECT_FALSE(gc->OnCommitThread());
}

TEST_P(GroupCommitTest, MaxBatchBoundsATransaction) {
  GroupCommitter::Options o;
  o.max_batch = 10;
  o.max_delay = std::chrono::milliseconds(200);
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, o));
  std::vector<std::future<Status>> futures;
  for (int i = 0; i < 35; ++i) futures.push_back(gc->Submit(Insert(i)));
  for (auto& f : futures) EXPECT_OK(f.get());
  EXPECT_GE(gc->stats().batches, 4);  // 35 writes, at most 10 per transaction
  EXPECT_THAT(GroupCommitter::Create(nullptr, {}), StatusIs(StatusCode::kInvalidArgument));
}

// delay_siblings: a write that finds the committer idle is alone; it commits at once, however long
// max_delay is (ten minutes here: a wait would outlast the test's bound). Without the option
// the same lone write waits.
TEST_P(GroupCommitTest, ALoneWriteDoesNotWaitWhenDelaySiblingsIsSet) {
  GroupCommitter::Options o;
  o.max_delay = std::chrono::minutes(10);
  o.delay_siblings = 1;
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, o));
  for (int i = 0; i < 3; ++i) {
    std::future<Status> f = gc->Submit(Insert(i));
    ASSERT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready) << "write " << i;
    EXPECT_OK(f.get());
  }
  EXPECT_EQ(gc->stats().batches, 3);
  EXPECT_EQ(gc->stats().waited, 0);

  GroupCommitter::Options always;
  always.max_delay = std::chrono::milliseconds(1);  // delay_siblings = 0: every batch waits
  ASSERT_OK_AND_ASSIGN(auto waits, GroupCommitter::Create(db_, always));
  EXPECT_OK(waits->Submit(Insert(10)).get());
  EXPECT_EQ(waits->stats().waited, 1);

  o.delay_siblings = -1;
  EXPECT_THAT(GroupCommitter::Create(db_, o), StatusIs(StatusCode::kInvalidArgument));
}

// Fewer writes pending than the first plus delay_siblings: the batch commits at once.
TEST_P(GroupCommitTest, ABatchWithFewerSiblingsThanDelaySiblingsCommitsAtOnce) {
  GroupCommitter::Options o;
  o.max_delay = std::chrono::minutes(10);
  o.delay_siblings = 2;
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, o));
  testing::HeldCommitter blocker(*gc, Insert(0));
  std::future<Status> a = gc->Submit(Insert(1));
  std::future<Status> b = gc->Submit(Insert(2));  // the first and one sibling
  EXPECT_OK(blocker.Release());
  ASSERT_EQ(b.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_OK(a.get());
  EXPECT_OK(b.get());
  EXPECT_EQ(gc->stats().batches, 2);
  EXPECT_EQ(gc->stats().waited, 0);
}

// A queue behind a commit is concurrency: the next batch waits for more, and gathers what arrives
// until max_batch.
TEST_P(GroupCommitTest, ABatchBehindAQueueWaitsAndGathersUpToMaxBatch) {
  GroupCommitter::Options o;
  o.max_batch = 8;
  o.max_delay = std::chrono::minutes(10);
  o.delay_siblings = 2;
  ASSERT_OK_AND_ASSIGN(auto gc, GroupCommitter::Create(db_, o));
  std::vector<std::future<Status>> futures;
  {
    testing::HeldCommitter blocker(*gc, Insert(0));  // alone: commits at once when released
    for (int i = 1; i <= 3; ++i) futures.push_back(gc->Submit(Insert(i)));
    EXPECT_OK(blocker.Release());
  }
  // The committer takes up the three (the first and two siblings) and starts to wait.
  const auto bound = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (gc->stats().waited < 1 && std::chrono::steady_clock::now() < bound) {
    std::this_thread::yield();
  }
  ASSERT_EQ(gc->stats().waited, 1);
  for (auto& f : futures) {
    EXPECT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  }
  for (int i = 4; i <= 8; ++i) futures.push_back(gc->Submit(Insert(i)));  // the batch is full
  for (auto& f : futures) EXPECT_OK(f.get());
  EXPECT_EQ(gc->stats().batches, 2);  // {0}, then {1 … 8}
  EXPECT_EQ(gc->stats().writes, 9);
  EXPECT_EQ(gc->stats().waited, 1);
  EXPECT_EQ(CountFromFreshHandle(), 9);
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(GroupCommitTest);

}  // namespace
}  // namespace chukan::store
