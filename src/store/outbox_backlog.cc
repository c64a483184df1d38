#include "store/outbox_backlog.h"

#include <algorithm>
#include <string>

namespace chukan::store {
namespace {

// Counts no more often than this, however near the limit: under overload every request asks.
constexpr int64_t kMinGapUs = 100'000;

}  // namespace

OutboxBacklog::OutboxBacklog(int64_t limit, const Clock& clock, Duration recount_every)
    : limit_(std::max<int64_t>(limit, 0)), clock_(clock), recount_every_(recount_every) {}

Status OutboxBacklog::Admit() const {
  if (limit_ == 0 || Estimate() < limit_) return Status();
  return UnavailableError("BUSY: " + std::to_string(limit_) +
                          " or more messages wait to be delivered; retry later");
}

void OutboxBacklog::Added(int64_t n) { added_.fetch_add(n, std::memory_order_relaxed); }

void OutboxBacklog::Delivered(int64_t n) { delivered_.fetch_add(n, std::memory_order_relaxed); }

int64_t OutboxBacklog::Estimate() const {
  const int64_t e = base_.load(std::memory_order_relaxed) + added_.load(std::memory_order_relaxed) -
                    delivered_.load(std::memory_order_relaxed);
  return std::max<int64_t>(e, 0);
}

Status OutboxBacklog::Recount(Database& db) {
  // What was added or delivered before the count began is in the count; what comes during it
  // may be counted twice (an estimate a little high until the next count).
  const int64_t added = added_.load(std::memory_order_relaxed);
  const int64_t delivered = delivered_.load(std::memory_order_relaxed);
  const int64_t started_us = ToUnixMicros(clock_.Now());
  Result<int64_t> n = CountOpenOutboxItems(db, limit_ == 0 ? 1 : 2 * limit_);
  if (!n.ok()) return n.status();
  base_.store(*n, std::memory_order_relaxed);
  added_.fetch_sub(added, std::memory_order_relaxed);
  delivered_.fetch_sub(delivered, std::memory_order_relaxed);
  counted_at_us_.store(started_us, std::memory_order_relaxed);
  return Status();
}

bool OutboxBacklog::RecountDue() const {
  const int64_t at = counted_at_us_.load(std::memory_order_relaxed);
  if (at == INT64_MIN) return true;
  const int64_t age_us = ToUnixMicros(clock_.Now()) - at;
  if (age_us < kMinGapUs) return false;
  if (limit_ > 0 && 2 * Estimate() >= limit_) return true;
  return age_us >= std::chrono::duration_cast<std::chrono::microseconds>(recount_every_).count();
}

Status OutboxBacklog::RecountIfDue(Database& db) {
  if (!RecountDue()) return Status();
  if (counting_.exchange(true, std::memory_order_acquire)) return Status();
  Status s = Recount(db);
  counting_.store(false, std::memory_order_release);
  return s;
}

}  // namespace chukan::store
