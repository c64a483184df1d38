// PeriodicTask: runs a function on a thread of its own every `interval`, and once more when it
// is stopped (so that what it flushes is flushed at shutdown too). Stopping wakes the thread at
// once; it never waits out an interval.
//
// Thread-safety: Stop (or the destructor) may be called from any one thread; `fn` runs on the
// task's thread only, never concurrently with itself.
#ifndef CHUKAN_COMMON_PERIODIC_H_
#define CHUKAN_COMMON_PERIODIC_H_

#include <chrono>
#include <functional>
#include <thread>

#include "common/mutex.h"
#include "common/thread_name.h"

namespace chukan {

class PeriodicTask {
 public:
  PeriodicTask(std::chrono::milliseconds interval, std::function<void()> fn)
      : interval_(interval), fn_(std::move(fn)), thread_([this] {
          NameThisThread("periodic");
          Run();
        }) {}
  ~PeriodicTask() { Stop(); }
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  // Wakes the thread, lets it run `fn` a last time, and joins it. Idempotent.
  void Stop() EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    cv_.SignalAll();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() EXCLUDES(mu_) {
    MutexLock lock(mu_);
    for (;;) {
      const auto deadline = std::chrono::steady_clock::now() + interval_;
      while (!stopping_ && cv_.WaitUntil(lock, deadline)) {
      }
      const bool stop = stopping_;
      lock.Unlock();
      fn_();
      lock.Lock();
      if (stop) return;
    }
  }

  const std::chrono::milliseconds interval_;
  const std::function<void()> fn_;
  Mutex mu_;
  CondVar cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: started once the rest is initialised
};

}  // namespace chukan

#endif  // CHUKAN_COMMON_PERIODIC_H_
