// OutboxBacklog: how many messages an outbox holds undelivered, as an estimate cheap enough to
// read on every request — the receiving side of backpressure. A process that takes new work
// (the hub a permit request, a server an inquiry) asks Admit() first, before it reads the body,
// and answers 429/503 with Retry-After while the backlog is at its limit, so that under overload
// the queue (and with it the latency of what is in it) stays bounded instead of growing until
// memory or patience runs out.
//
// The estimate is the last count (Recount: one indexed read, bounded by twice the limit) plus
// what this process queued since (Added) minus what it delivered since (Delivered). Another node
// sharing the database queues and delivers unseen, so the owner recounts often (the hub every
// 250 ms; a server when a tenant's estimate nears its limit or its count is older than
// `recount_every`): the estimate is off by at most what the other nodes did since.
//
// Thread-safety: thread-safe; Admit, Added, Delivered and Estimate never block or do I/O.
#ifndef CHUKAN_STORE_OUTBOX_BACKLOG_H_
#define CHUKAN_STORE_OUTBOX_BACKLOG_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "common/clock.h"
#include "common/status.h"
#include "store/database.h"
#include "store/outbox.h"

namespace chukan::store {

class OutboxBacklog {
 public:
  // `limit`: undelivered items at which Admit refuses; 0 = no limit (Admit always OK).
  // `clock` must outlive this.
  OutboxBacklog(int64_t limit, const Clock& clock,
                Duration recount_every = std::chrono::seconds(5));
  OutboxBacklog(const OutboxBacklog&) = delete;
  OutboxBacklog& operator=(const OutboxBacklog&) = delete;

  // OK while the estimate is below the limit; else kUnavailable "BUSY: …" (the message names
  // the limit, never anything of a request). What to answer is the caller's: 503 or 429, with
  // Retry-After.
  Status Admit() const;
  // `n` items were queued in a commit that is now durable.
  void Added(int64_t n = 1);
  // `n` items were delivered (or ended) by this process.
  void Delivered(int64_t n = 1);
  int64_t Estimate() const;
  int64_t limit() const { return limit_; }

  // Counts the undelivered items in `db` (at most 2 · limit, or 1 without a limit, are
  // counted) and makes that the estimate. Errors: those of the read (the estimate stays).
  Status Recount(Database& db);
  // Whether a recount is due: there was none; or the last is 100 ms old or more and the estimate
  // is at half the limit or more (it may have come down meanwhile by other nodes' deliveries) or
  // the last count is older than `recount_every`.
  bool RecountDue() const;
  // Recount(db) when RecountDue() and no other thread is recounting now (that one's count
  // serves both): a read on the caller's thread, for a caller that may do I/O (a worker, not an
  // io thread).
  Status RecountIfDue(Database& db);

 private:
  const int64_t limit_;
  const Clock& clock_;
  const Duration recount_every_;
  // The estimate: base_ (the last count) + added_ − delivered_, where added_ and delivered_ are
  // what happened after the count started.
  std::atomic<int64_t> base_{0};
  std::atomic<int64_t> added_{0};
  std::atomic<int64_t> delivered_{0};
  std::atomic<int64_t> counted_at_us_{INT64_MIN};
  std::atomic<bool> counting_{false};
};

}  // namespace chukan::store

#endif  // CHUKAN_STORE_OUTBOX_BACKLOG_H_
