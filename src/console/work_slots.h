// WorkSlots: a small bound on costly work the console runs at once — argon2id password checks
// (64 MiB and tens of milliseconds of CPU each) and streamed uploads (each holds a worker thread
// for as long as its body trickles in) — in all and per key (an organisation, a member). A
// request that finds no slot is refused at once rather than queued: waiting would itself hold
// a worker, and a flood would then occupy every worker the other tenants' pages need. One key
// holds at most half of the slots (at least one), so a flood aimed at one organisation's login
// leaves the other half to everyone else.
//
// Thread-safety: thread-safe; a Ticket may be released on any thread.
#ifndef CHUKAN_CONSOLE_WORK_SLOTS_H_
#define CHUKAN_CONSOLE_WORK_SLOTS_H_

#include <map>
#include <string>

#include "common/mutex.h"

namespace chukan::console {

class WorkSlots {
 public:
  // `total` slots in all (at least 1); one key at most max(1, total / 2).
  explicit WorkSlots(int total);
  WorkSlots(const WorkSlots&) = delete;
  WorkSlots& operator=(const WorkSlots&) = delete;

  // A held slot, given back when destroyed. Empty (false) when none was free.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& o) noexcept : slots_(o.slots_), key_(std::move(o.key_)) { o.slots_ = nullptr; }
    Ticket& operator=(Ticket&& o) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { Release(); }
    explicit operator bool() const { return slots_ != nullptr; }

   private:
    friend class WorkSlots;
    Ticket(WorkSlots* slots, std::string key) : slots_(slots), key_(std::move(key)) {}
    void Release();
    WorkSlots* slots_ = nullptr;
    std::string key_;
  };

  // A slot for `key` if one is free in all and the key holds fewer than its share; never
  // blocks. The WorkSlots must outlive the ticket.
  Ticket TryAcquire(std::string key) EXCLUDES(mu_);

  int in_use() const EXCLUDES(mu_);
  int total() const { return total_; }
  int per_key() const { return per_key_; }

 private:
  void Release(const std::string& key) EXCLUDES(mu_);

  const int total_;
  const int per_key_;
  mutable Mutex mu_;
  int in_use_ GUARDED_BY(mu_) = 0;
  std::map<std::string, int> by_key_ GUARDED_BY(mu_);
};

}  // namespace chukan::console

#endif  // CHUKAN_CONSOLE_WORK_SLOTS_H_
