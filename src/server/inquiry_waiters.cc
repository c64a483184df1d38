#include "server/inquiry_waiters.h"

#include <algorithm>

#include "common/thread_name.h"

namespace chukan::server {

InquiryWaiters::InquiryWaiters(Limits limits) : limits_(limits) {
  threads_.emplace_back([this] {
    NameThisThread("poll-timer");
    RunTimer();
  });
  for (int i = 0; i < std::max(1, limits_.threads); ++i) {
    threads_.emplace_back([this] {
      NameThisThread("poll-answer");
      RunWorker();
    });
  }
}

InquiryWaiters::~InquiryWaiters() {
  std::deque<std::function<void()>> dropped;
  {
    MutexLock lock(mu_);
    stopping_ = true;
    work_.clear();
    dropped.swap(tasks_);
  }
  timer_cv_.SignalAll();
  work_cv_.SignalAll();
  for (std::thread& t : threads_) t.join();
  // The waits and tasks left are dropped unrun: their owners' destructors answer (a Responder
  // dropped without an answer sends 500 to a connection that is being closed anyway). The tasks
  // are destroyed here, outside the lock, since what they own may do anything when destroyed.
  dropped.clear();
}

Status InquiryWaiters::Post(std::function<void()> task) {
  {
    MutexLock lock(mu_);
    if (stopping_) {
      lock.Unlock();
      task = nullptr;  // destroyed outside the lock (see the destructor)
      return UnavailableError("the server is stopping");
    }
    if (static_cast<int>(tasks_.size()) >= limits_.tasks) {
      lock.Unlock();
      task = nullptr;
      return ResourceExhaustedError("too many tasks are waiting for a thread; retry later");
    }
    tasks_.push_back(std::move(task));
  }
  work_cv_.Signal();
  return Status();
}

Status InquiryWaiters::Add(const std::string& key, const std::string& client,
                           Clock::time_point deadline, Fire fire) {
  MutexLock lock(mu_);
  if (stopping_) return UnavailableError("the server is stopping");
  if (static_cast<int>(waits_.size()) >= limits_.total) {
    return ResourceExhaustedError("too many long polls are waiting on this server; retry later");
  }
  int& mine = per_client_[client];
  if (mine >= limits_.per_client) {
    return ResourceExhaustedError("this client already has " + std::to_string(mine) +
                                  " long polls waiting (the most allowed); retry later");
  }
  ++mine;
  const uint64_t id = next_id_++;
  Wait& w = waits_[id];
  w.key = key;
  w.client = client;
  w.deadline = deadline;
  w.fire = std::move(fire);
  by_key_.emplace(key, id);
  const bool earliest = by_deadline_.empty() || deadline < by_deadline_.begin()->first;
  by_deadline_.emplace(deadline, id);
  Queue(id, w);
  if (earliest) timer_cv_.Signal();
  return Status();
}

void InquiryWaiters::Wake(const std::string& key) {
  MutexLock lock(mu_);
  auto [begin, end] = by_key_.equal_range(key);
  for (auto it = begin; it != end; ++it) Queue(it->second, waits_.at(it->second));
}

void InquiryWaiters::WakeAll() {
  MutexLock lock(mu_);
  for (auto& [id, w] : waits_) Queue(id, w);
}

int InquiryWaiters::size() const {
  MutexLock lock(mu_);
  return static_cast<int>(waits_.size());
}

void InquiryWaiters::Queue(uint64_t id, Wait& w) {
  if (w.queued) {
    w.again = true;
    return;
  }
  w.queued = true;
  work_.emplace_back(id, false);
  work_cv_.Signal();
}

void InquiryWaiters::Remove(uint64_t id) {
  auto it = waits_.find(id);
  if (it == waits_.end()) return;
  Wait& w = it->second;
  auto [begin, end] = by_key_.equal_range(w.key);
  for (auto k = begin; k != end; ++k) {
    if (k->second == id) {
      by_key_.erase(k);
      break;
    }
  }
  by_deadline_.erase({w.deadline, id});
  if (auto c = per_client_.find(w.client); c != per_client_.end() && --c->second <= 0) {
    per_client_.erase(c);
  }
  waits_.erase(it);
}

void InquiryWaiters::RunTimer() {
  MutexLock lock(mu_);
  while (!stopping_) {
    if (by_deadline_.empty()) {
      timer_cv_.Wait(lock);
      continue;
    }
    const auto [deadline, id] = *by_deadline_.begin();
    if (Clock::now() < deadline) {
      timer_cv_.WaitUntil(lock, deadline);
      continue;
    }
    by_deadline_.erase(by_deadline_.begin());
    Wait& w = waits_.at(id);
    w.deadline = Clock::time_point::min();  // no longer in by_deadline_
    if (w.queued) {
      w.again = true;
      w.expired = true;  // the fire in progress is followed by the final one
    } else {
      w.queued = true;
      work_.emplace_back(id, true);
      work_cv_.Signal();
    }
  }
}

void InquiryWaiters::RunWorker() {
  MutexLock lock(mu_);
  for (;;) {
    while (!stopping_ && work_.empty() && tasks_.empty()) work_cv_.Wait(lock);
    if (stopping_) return;
    if (!tasks_.empty()) {
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.Unlock();
      task();
      task = nullptr;  // what it owns is let go of outside the lock
      lock.Lock();
      continue;
    }
    const auto [id, timed_out] = work_.front();
    work_.pop_front();
    auto it = waits_.find(id);
    if (it == waits_.end()) continue;
    Fire fire = it->second.fire;  // a copy: the wait may be removed while it runs
    lock.Unlock();
    const bool done = fire(timed_out);
    fire = nullptr;
    lock.Lock();
    it = waits_.find(id);
    if (it == waits_.end()) continue;
    Wait& w = it->second;
    if (done || timed_out) {
      Remove(id);
    } else if (w.expired) {
      w.expired = false;
      w.again = false;
      work_.emplace_back(id, true);
      work_cv_.Signal();
    } else if (w.again) {
      w.again = false;
      work_.emplace_back(id, false);
      work_cv_.Signal();
    } else {
      w.queued = false;
    }
  }
}

}  // namespace chukan::server
