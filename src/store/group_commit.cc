#include "store/group_commit.h"

#include <algorithm>
#include <climits>
#include <exception>

#include "common/log.h"
#include "common/thread_name.h"

namespace chukan::store {

GroupCommitter::GroupCommitter(std::shared_ptr<Database> db, Options options)
    : db_(std::move(db)), options_(options) {}

Result<std::unique_ptr<GroupCommitter>> GroupCommitter::Create(std::shared_ptr<Database> db,
                                                               Options options) {
  if (!db) return InvalidArgumentError("group commit: null database");
  if (options.max_batch < 1 || options.max_delay.count() < 0 || options.delay_siblings < 0) {
    return InvalidArgumentError(
        "group commit: max_batch must be >= 1, max_delay >= 0 and delay_siblings >= 0");
  }
  std::unique_ptr<GroupCommitter> gc(new GroupCommitter(std::move(db), options));  // private
  gc->thread_ = std::thread([p = gc.get()] {
    NameThisThread("commit");
    p->commit_thread_.store(std::this_thread::get_id(), std::memory_order_release);
    p->Run();
  });
  return gc;
}

namespace {

// A `done` that throws (it should not: they are quick hand-overs) is logged, and the rest of the
// batch is still told: an exception must not end the writer thread, and with it the process.
void CallDone(const GroupCommitter::DoneFn& done, Status s) {
  try {
    done(std::move(s));
  } catch (const std::exception& e) {
    log::Error("store.commit_done_threw", {{"what", std::string(e.what()).substr(0, 200)}});
  } catch (...) {
    log::Error("store.commit_done_threw", {{"what", "a non-standard exception"}});
  }
}

Status RunWrite(const GroupCommitter::WriteFn& write, Transaction& t) {
  try {
    return write(t);
  } catch (const std::exception& e) {
    return InternalError(std::string("group commit: write threw: ") + e.what());
  } catch (...) {
    return InternalError("group commit: write threw a non-standard exception");
  }
}

}  // namespace

GroupCommitter::~GroupCommitter() { Stop(); }

std::future<Status> GroupCommitter::Submit(WriteFn write, Rerun rerun, Durability durability) {
  auto promise = std::make_shared<std::promise<Status>>();
  std::future<Status> future = promise->get_future();
  SubmitAsync(
      std::move(write), [promise](Status s) { promise->set_value(std::move(s)); }, rerun,
      durability);
  return future;
}

void GroupCommitter::SubmitAsync(WriteFn write, DoneFn done, Rerun rerun, Durability durability) {
  {
    MutexLock lock(mu_);
    if (!stopping_) {
      queue_.push_back(Pending{std::move(write), std::move(done), rerun, durability});
      if (queue_.size() == 1 || static_cast<int>(queue_.size()) >= options_.max_batch) {
        cv_.Signal();
      }
      return;
    }
  }
  done(FailedPreconditionError("group commit: stopped"));
}

void GroupCommitter::Stop() {
  MutexLock stop_lock(stop_mu_);
  {
    MutexLock lock(mu_);
    stopping_ = true;
    cv_.Signal();
  }
  if (thread_.joinable()) thread_.join();
}

GroupCommitter::Stats GroupCommitter::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

void GroupCommitter::Run() {
  std::deque<Pending> batch;
  for (;;) {
    {
      MutexLock lock(mu_);
      while (!stopping_ && queue_.empty()) cv_.Wait(lock);
      if (queue_.empty()) return;  // stopping, and everything drained
      const int pending = static_cast<int>(std::min<size_t>(queue_.size(), INT_MAX));
      if (options_.max_delay.count() > 0 && pending < options_.max_batch &&
          pending - 1 >= options_.delay_siblings) {
        stats_.waited += 1;
        const auto deadline = std::chrono::steady_clock::now() + options_.max_delay;
        while (!stopping_ && static_cast<int>(queue_.size()) < options_.max_batch &&
               cv_.WaitUntil(lock, deadline)) {
        }
      }
      const size_t n = std::min(queue_.size(), static_cast<size_t>(options_.max_batch));
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<Status> results = RunBatch(batch);
    {
      // Counted before anyone is told, so a caller who saw its future complete sees the stats.
      MutexLock lock(mu_);
      stats_.batches += 1;
      if (AllLazy(batch)) stats_.lazy += 1;
      stats_.writes += static_cast<int64_t>(batch.size());
    }
    for (size_t i = 0; i < batch.size(); ++i) CallDone(batch[i].done, std::move(results[i]));
    batch.clear();
  }
}

std::optional<std::vector<Status>> GroupCommitter::RunBatchAtOnce(std::deque<Pending>& batch,
                                                                  Transaction& t) {
  t.HoldBackExecs();
  if (options_.prologue && !options_.prologue(t).ok()) return std::nullopt;
  for (const Pending& p : batch) {
    if (!RunWrite(p.write, t).ok()) return std::nullopt;
  }
  const Status commit = t.Commit();
  if (commit.ok()) return std::vector<Status>(batch.size());
  // The connection was lost with the COMMIT sent or about to be: whether the batch committed is
  // unknown, so it must not run again. Anything else rolled the transaction back.
  if (commit.code() == StatusCode::kUnavailable) {
    return std::vector<Status>(batch.size(), commit);
  }
  return std::nullopt;
}

bool GroupCommitter::AllLazy(const std::deque<Pending>& batch) {
  return std::all_of(batch.begin(), batch.end(),
                     [](const Pending& p) { return p.durability == Durability::kLazy; });
}

bool GroupCommitter::MayRunAtOnce(const std::deque<Pending>& batch) const {
  if (options_.optimistic) return true;
  return std::all_of(batch.begin(), batch.end(),
                     [](const Pending& p) { return p.rerun == Rerun::kSafe; });
}

std::vector<Status> GroupCommitter::RunBatch(std::deque<Pending>& batch) {
  std::vector<Status> results(batch.size());
  auto fail_all = [&](const Status& s) { return std::vector<Status>(batch.size(), s); };
  const bool lazy = AllLazy(batch);
  auto txn = lazy ? db_->BeginLazy() : db_->Begin();
  if (!txn.ok()) return fail_all(txn.status());
  if ((*txn)->backend() == Backend::kPostgres && MayRunAtOnce(batch)) {
    std::optional<std::vector<Status>> at_once = RunBatchAtOnce(batch, **txn);
    if (at_once) return std::move(*at_once);
    // Something failed: the batch again, a savepoint per write, on a fresh transaction.
    (void)(*txn)->Rollback();
    txn = lazy ? db_->BeginLazy() : db_->Begin();
    if (!txn.ok()) return fail_all(txn.status());
  }
  Transaction& t = **txn;
  // PostgreSQL: a write's Execs go in one pipeline with its RELEASE, which reports their errors
  // as the write's own (one round trip for a write of Execs only).
  t.HoldBackExecs();
  if (options_.prologue) {
    if (Status p = options_.prologue(t); !p.ok()) return fail_all(p);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    Status sp = t.Savepoint("chukan_gc");
    // The transaction itself is broken: nothing in this batch can commit.
    if (!sp.ok()) return fail_all(sp);
    Status s = RunWrite(batch[i].write, t);
    // The write's held-back statements are sent with the RELEASE: their error is the write's.
    if (s.ok()) s = t.ReleaseSavepoint("chukan_gc");
    if (!s.ok()) {
      Status undo = t.RollbackToSavepoint("chukan_gc");
      if (undo.ok()) undo = t.ReleaseSavepoint("chukan_gc");
      if (!undo.ok()) {
        // Nothing of the batch can commit. When the write's own error ended the transaction
        // (SQLite rolls it all back on a full disk or an I/O error inside a statement; the undo
        // then answers kAborted), that error is the cause every write must see: a full disk is
        // kUnavailable with its message, not a conflict to retry at once (kAborted).
        const Status& cause = undo.code() == StatusCode::kAborted ? s : undo;
        std::vector<Status> out = fail_all(Status(
            cause.code(), "group commit: the batch's transaction was lost: " + cause.message()));
        out[i] = s;
        return out;
      }
    }
    results[i] = s;
  }
  const Status commit = t.Commit();
  for (Status& r : results) {
    if (r.ok()) r = commit;
  }
  return results;
}

}  // namespace chukan::store
