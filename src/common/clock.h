// Clock: the one way chukan code reads the time, so tests can use FakeClock instead of sleeping.
// SystemClock is thread-safe; FakeClock is thread-safe (its time is guarded by a mutex).
#ifndef CHUKAN_COMMON_CLOCK_H_
#define CHUKAN_COMMON_CLOCK_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "common/mutex.h"

namespace chukan {

using TimePoint = std::chrono::system_clock::time_point;
using Duration = std::chrono::system_clock::duration;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (UTC). Used for timestamps that are stored or signed.
  virtual TimePoint Now() const = 0;
  // Monotonic time for measuring intervals and deadlines inside one process.
  virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;
};

class SystemClock final : public Clock {
 public:
  // A process-wide instance; never destroyed.
  static const SystemClock& Get();
  TimePoint Now() const override { return std::chrono::system_clock::now(); }
  std::chrono::steady_clock::time_point SteadyNow() const override {
    return std::chrono::steady_clock::now();
  }
};

class FakeClock final : public Clock {
 public:
  // Starts at `start` (default: 2026-04-01T00:00:00Z).
  explicit FakeClock(TimePoint start = TimePoint(std::chrono::seconds(1775001600)));
  TimePoint Now() const override EXCLUDES(mu_);
  std::chrono::steady_clock::time_point SteadyNow() const override EXCLUDES(mu_);
  void Advance(Duration d) EXCLUDES(mu_);
  void Set(TimePoint t) EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  TimePoint now_ GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point steady_ GUARDED_BY(mu_);
};

// Microseconds since the Unix epoch, the unit chukan stores times in.
int64_t ToUnixMicros(TimePoint t);
TimePoint FromUnixMicros(int64_t us);
// RFC 3339 UTC with microseconds: "2026-04-01T00:00:00.000000Z".
std::string FormatRfc3339(TimePoint t);

}  // namespace chukan

#endif  // CHUKAN_COMMON_CLOCK_H_
