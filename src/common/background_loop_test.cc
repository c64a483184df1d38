#include "common/background_loop.h"

#include <gtest/gtest.h>

#include <chrono>

#include "common/mutex.h"

namespace chukan {
namespace {

// Counts the runs and lets the test wait for one.
class Runs {
 public:
  void Add() {
    MutexLock lock(mu_);
    ++n_;
    cv_.SignalAll();
  }
  int count() {
    MutexLock lock(mu_);
    return n_;
  }
  // Waits (at most a minute: a broken loop fails the test instead of hanging it) for `n` runs.
  bool WaitFor(int n) {
    MutexLock lock(mu_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    while (n_ < n) {
      if (!cv_.WaitUntil(lock, deadline)) return n_ >= n;
    }
    return true;
  }

 private:
  Mutex mu_;
  CondVar cv_;
  int n_ GUARDED_BY(mu_) = 0;
};

constexpr std::chrono::milliseconds kHour = std::chrono::hours(1);

TEST(BackgroundLoopTest, RunsAtOnceWithNoFirstDelayAndStopNeitherWaitsNorRunsAgain) {
  Runs runs;
  BackgroundLoop loop(std::chrono::milliseconds(0), kHour, [&runs] { runs.Add(); });
  ASSERT_TRUE(runs.WaitFor(1));
  const auto t0 = std::chrono::steady_clock::now();
  loop.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));  // not an hour
  EXPECT_EQ(runs.count(), 1);  // PeriodicTask would have run once more here
  loop.Stop();                 // idempotent
  EXPECT_EQ(runs.count(), 1);
}

TEST(BackgroundLoopTest, StoppedBeforeItsFirstDelayItNeverRuns) {
  Runs runs;
  {
    BackgroundLoop loop(kHour, kHour, [&runs] { runs.Add(); });
  }  // the destructor stops it
  EXPECT_EQ(runs.count(), 0);
}

TEST(BackgroundLoopTest, RunsAgainEveryInterval) {
  Runs runs;
  BackgroundLoop loop(std::chrono::milliseconds(0), std::chrono::milliseconds(1),
                      [&runs] { runs.Add(); });
  EXPECT_TRUE(runs.WaitFor(3));
  loop.Stop();
  const int after_stop = runs.count();
  EXPECT_GE(after_stop, 3);
  EXPECT_EQ(runs.count(), after_stop);  // nothing runs once Stop returned
}

}  // namespace
}  // namespace chukan
