// GroupCommitter: many logical writes share one durable commit.
//
// A durable commit costs one fsync (SQLite synchronous=FULL, PostgreSQL synchronous_commit=on),
// which caps one-commit-per-write throughput at the disk's fsync rate (a few thousand per
// second). Writers hand their write to the committer instead; one writer thread takes everything
// pending (up to max_batch), runs each write in one transaction under its own SAVEPOINT, commits
// once, and only then completes each write's future. A write that fails is rolled back to its
// savepoint alone and gets its own error; the others commit. When a future completes with OK,
// the write is durable — unless it was submitted Durability::kLazy (below), when it is committed
// and becomes durable with the next durable commit.
//
// A write function runs on the committer thread, inside the shared transaction: it must only
// issue SQL through the Transaction it is given, must not begin another transaction on the same
// database (that would deadlock on SQLite), and should be quick — it delays the whole batch. If
// it throws, the exception is caught and the write fails with kInternal.
//
// Thread-safety: Submit/SubmitAsync/Stop are thread-safe.
#ifndef CHUKAN_STORE_GROUP_COMMIT_H_
#define CHUKAN_STORE_GROUP_COMMIT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "store/database.h"

namespace chukan::store {

class GroupCommitter {
 public:
  using WriteFn = std::function<Status(Transaction&)>;
  using DoneFn = std::function<void(Status)>;

  // Whether a write function may run twice (the optimistic attempt below, then the careful
  // one), only its last run counting. kSafe promises that it sets no state outside the
  // transaction that a second run would not set again from scratch (an output assigned, not
  // appended to; a flag reset before it is set; no notification, no log line that claims an
  // outcome). Writes are kOnce unless marked.
  enum class Rerun { kOnce, kSafe };

  // Whether a write must be on disk before its `done` is told (kDurable), or is bookkeeping
  // whose loss in a crash of the machine only repeats work (kLazy: an outbox claim, renewal or
  // acknowledgement — lost, it means one delivery again, to an idempotent receiver). A batch
  // whose writes are all kLazy commits without waiting for the disk
  // (Database::BeginLazy): its writes are visible at once, and durable with the next
  // durable commit on the database. A batch with one kDurable write in it commits durably.
  enum class Durability { kDurable, kLazy };

  struct Options {
    // Most writes in one transaction.
    int max_batch = 1024;
    // After the first pending write, how long to wait for more before committing when fewer than
    // max_batch are pending. 0 = commit at once; writes arriving meanwhile form the next batch
    // (under load batches form by themselves while the previous commit runs).
    std::chrono::microseconds max_delay{0};
    // Wait max_delay only when concurrency is evident: when the committer takes up a batch, at
    // least this many writes are pending beside its first (as PostgreSQL's commit_siblings).
    // They piled up while the previous batch ran, which the wait itself does not inflate (a rule
    // on the previous batch's size would feed on itself: a 2 ms wait at 1,000 writes/s gathers
    // two). So a lone write at idle commits at once, and a wait starts only behind a queue.
    // 0 = always wait (max_delay alone).
    int delay_siblings = 0;
    // PostgreSQL: send a batch's writes without savepoints, in one pipeline with its COMMIT —
    // one round trip for a batch of Execs, where each write otherwise costs one for its RELEASE
    // (under load, and on a busy machine, those round trips are what the committer waits for).
    // If anything in the batch fails, the transaction is rolled back and the batch run again
    // the careful way (a savepoint per write), so that each write still gets its own outcome.
    // So every write function of such a committer may run twice, and only its last run counts:
    // it must reset whatever state outside the transaction it sets. Not when the COMMIT's
    // outcome is unknown (the connection was lost: kUnavailable to every write, as always).
    // When false, a batch is still tried at once when every write in it was submitted as
    // Rerun::kSafe (the hot writes of a committer whose other writes were not all audited).
    // SQLite: no effect (no round trips to save).
    bool optimistic = false;
    // Run first in every batch's transaction, before the writes (e.g. to take a lock every
    // writer needs in one order, so that the transactions of several processes on one
    // PostgreSQL database queue instead of deadlocking). Its failure fails the whole batch.
    WriteFn prologue;
  };

  struct Stats {
    int64_t batches = 0;  // transactions committed (or attempted)
    int64_t writes = 0;   // writes completed (OK or not)
    int64_t waited = 0;   // batches that waited max_delay for more writes (delay_siblings)
    int64_t lazy = 0;     // batches committed lazily (every write kLazy)
  };

  // Starts the writer thread. kInvalidArgument for a null db, max_batch < 1, a negative delay or
  // negative delay_siblings.
  static Result<std::unique_ptr<GroupCommitter>> Create(std::shared_ptr<Database> db,
                                                        Options options);
  // Stops (draining what was submitted).
  ~GroupCommitter();
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Queues `write`; the future completes with its status after the batch commits (OK = durable),
  // with the write's own error if it failed, with the commit's error if the commit failed, or
  // with kFailedPrecondition if the committer is stopped. Never blocks on I/O.
  // `rerun`: whether `write` may run twice (see Rerun, Options::optimistic). `durability`: see
  // Durability (a kLazy write's OK means committed, durable only with a later durable commit).
  std::future<Status> Submit(WriteFn write, Rerun rerun = Rerun::kOnce,
                             Durability durability = Durability::kDurable) EXCLUDES(mu_);

  // As Submit, but calls `done` (on the committer thread, or on the caller's when stopped) with
  // the status instead. `done` must be quick and must not call Stop().
  void SubmitAsync(WriteFn write, DoneFn done, Rerun rerun = Rerun::kOnce,
                   Durability durability = Durability::kDurable) EXCLUDES(mu_);

  // Stops accepting writes, commits everything already submitted, joins the thread. Idempotent.
  void Stop() EXCLUDES(stop_mu_, mu_);

  Stats stats() const EXCLUDES(mu_);

  // Whether the caller runs on this committer's own thread (inside a write or a `done`). Its
  // owner must then not destroy it there: Stop() would wait for the thread it runs on.
  bool OnCommitThread() const {
    return commit_thread_.load(std::memory_order_acquire) == std::this_thread::get_id();
  }

 private:
  struct Pending {
    WriteFn write;
    DoneFn done;
    Rerun rerun = Rerun::kOnce;
    Durability durability = Durability::kDurable;
  };

  GroupCommitter(std::shared_ptr<Database> db, Options options);
  void Run() EXCLUDES(mu_);
  // Runs one batch in one transaction; returns each write's outcome (not yet reported).
  std::vector<Status> RunBatch(std::deque<Pending>& batch);
  // Whether `batch` is tried at once first (Options::optimistic).
  bool MayRunAtOnce(const std::deque<Pending>& batch) const;
  // Whether every write of `batch` is Durability::kLazy.
  static bool AllLazy(const std::deque<Pending>& batch);
  // Options::optimistic: the batch in one pipeline without savepoints. nullopt when it must be
  // run again carefully (something failed; nothing committed).
  std::optional<std::vector<Status>> RunBatchAtOnce(std::deque<Pending>& batch, Transaction& t);

  const std::shared_ptr<Database> db_;
  const Options options_;
  mutable Mutex mu_;
  CondVar cv_;
  std::deque<Pending> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  Stats stats_ GUARDED_BY(mu_);
  Mutex stop_mu_ ACQUIRED_BEFORE(mu_);  // serialises Stop() (join once)
  // Set by Create before any other thread can see the committer, joined under stop_mu_.
  std::thread thread_;
  // The writer thread's id, set by that thread before it runs anything submitted.
  std::atomic<std::thread::id> commit_thread_{};
};

}  // namespace chukan::store

#endif  // CHUKAN_STORE_GROUP_COMMIT_H_
