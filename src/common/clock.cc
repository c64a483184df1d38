#include "common/clock.h"

#include <cstdio>
#include <ctime>

namespace chukan {

const SystemClock& SystemClock::Get() {
  static const SystemClock* const kClock = new SystemClock();  // NOLINT: leaked singleton
  return *kClock;
}

FakeClock::FakeClock(TimePoint start)
    : now_(start), steady_(std::chrono::steady_clock::time_point(std::chrono::hours(1))) {}

TimePoint FakeClock::Now() const {
  MutexLock lock(mu_);
  return now_;
}

std::chrono::steady_clock::time_point FakeClock::SteadyNow() const {
  MutexLock lock(mu_);
  return steady_;
}

void FakeClock::Advance(Duration d) {
  MutexLock lock(mu_);
  now_ += d;
  steady_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
}

void FakeClock::Set(TimePoint t) {
  MutexLock lock(mu_);
  now_ = t;
}

int64_t ToUnixMicros(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

TimePoint FromUnixMicros(int64_t us) {
  return TimePoint(std::chrono::duration_cast<Duration>(std::chrono::microseconds(us)));
}

std::string FormatRfc3339(TimePoint t) {
  const int64_t us = ToUnixMicros(t);
  int64_t secs = us / 1000000;
  int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string s(buf, n);
  char fbuf[16];
  std::snprintf(fbuf, sizeof(fbuf), ".%06lldZ", static_cast<long long>(frac));
  s += fbuf;
  return s;
}

}  // namespace chukan
