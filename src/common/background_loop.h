// BackgroundLoop: runs a function on a thread of its own, first after `first_delay`, then every
// `interval`, until it is stopped. Unlike PeriodicTask it never runs the function at stop: the
// housekeeping of the server and the hub (a permission list fetch from the hub, sweeps) is
// work that must not delay a shutdown. Stopping wakes the thread at once and waits only for a
// run in progress.
//
// Thread-safety: Stop (or the destructor) may be called from any one thread; `fn` runs on the
// loop's thread only, never concurrently with itself.
#ifndef CHUKAN_COMMON_BACKGROUND_LOOP_H_
#define CHUKAN_COMMON_BACKGROUND_LOOP_H_

#include <chrono>
#include <functional>
#include <thread>

#include "common/mutex.h"
#include "common/thread_name.h"

namespace chukan {

class BackgroundLoop {
 public:
  BackgroundLoop(std::chrono::milliseconds first_delay, std::chrono::milliseconds interval,
                 std::function<void()> fn)
      : first_delay_(first_delay), interval_(interval), fn_(std::move(fn)), thread_([this] {
          NameThisThread("background");
          Run();
        }) {}
  ~BackgroundLoop() { Stop(); }
  BackgroundLoop(const BackgroundLoop&) = delete;
  BackgroundLoop& operator=(const BackgroundLoop&) = delete;

  // Wakes the thread and joins it (after a run in progress). Idempotent.
  void Stop() {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    cv_.SignalAll();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    MutexLock lock(mu_);
    std::chrono::milliseconds delay = first_delay_;
    for (;;) {
      const auto deadline = std::chrono::steady_clock::now() + delay;
      while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
        cv_.WaitUntil(lock, deadline);
      }
      if (stopping_) return;
      lock.Unlock();
      fn_();
      lock.Lock();
      delay = interval_;
    }
  }

  const std::chrono::milliseconds first_delay_;
  const std::chrono::milliseconds interval_;
  const std::function<void()> fn_;
  Mutex mu_;
  CondVar cv_;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: started once the rest is initialised
};

}  // namespace chukan

#endif  // CHUKAN_COMMON_BACKGROUND_LOOP_H_
