// PeriodicTask: runs a function on a thread of its own every `interval`, and once more when it
// is stopped (so that what it flushes is flushed at shutdown too). Stopping wakes the thread at
// once; it never waits out an interval.
//
// Thread-safety: Stop (or the destructor) may be called from any one thread; `fn` runs on the
// task's thread only, never concurrently with itself.
#ifndef CHUKAN_COMMON_PERIODIC_H_
#define CHUKAN_COMMON_PERIODIC_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace chukan {

class PeriodicTask {
 public:
  PeriodicTask(std::chrono::milliseconds interval, std::function<void()> fn)
      : interval_(interval), fn_(std::move(fn)), thread_([this] { Run(); }) {}
  ~PeriodicTask() { Stop(); }
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  // Wakes the thread, lets it run `fn` a last time, and joins it. Idempotent.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      const bool stop = cv_.wait_for(lock, interval_, [this] { return stopping_; });
      lock.unlock();
      fn_();
      lock.lock();
      if (stop) return;
    }
  }

  const std::chrono::milliseconds interval_;
  const std::function<void()> fn_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;     // last: started once the rest is initialised
};

}  // namespace chukan

#endif  // CHUKAN_COMMON_PERIODIC_H_
