#include "console/work_slots.h"

#include <algorithm>
#include <utility>

namespace chukan::console {

WorkSlots::WorkSlots(int total) : total_(std::max(1, total)), per_key_(std::max(1, total_ / 2)) {}

WorkSlots::Ticket& WorkSlots::Ticket::operator=(Ticket&& o) noexcept {
  if (this != &o) {
    Release();
    slots_ = o.slots_;
    key_ = std::move(o.key_);
    o.slots_ = nullptr;
  }
  return *this;
}

void WorkSlots::Ticket::Release() {
  if (slots_ == nullptr) return;
  slots_->Release(key_);
  slots_ = nullptr;
}

WorkSlots::Ticket WorkSlots::TryAcquire(std::string key) {
  MutexLock lock(mu_);
  if (in_use_ >= total_) return {};
  int& mine = by_key_[key];
  if (mine >= per_key_) return {};
  ++mine;
  ++in_use_;
  return Ticket(this, std::move(key));
}

void WorkSlots::Release(const std::string& key) {
  MutexLock lock(mu_);
  --in_use_;
  auto it = by_key_.find(key);
  if (it != by_key_.end() && --it->second <= 0) by_key_.erase(it);
}

int WorkSlots::in_use() const {
  MutexLock lock(mu_);
  return in_use_;
}

}  // namespace chukan::console
