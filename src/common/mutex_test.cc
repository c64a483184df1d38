#include "common/mutex.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

namespace chukan {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Each helper runs on a thread of its own: trying a lock its own thread holds is undefined.
template <class Fn>
bool OnOtherThread(Fn fn) {
  bool result = false;
  std::thread t([&] { result = fn(); });
  t.join();
  return result;
}

bool CanLock(Mutex& mu) {
  return OnOtherThread([&] {
    if (!mu.TryLock()) return false;
    mu.Unlock();
    return true;
  });
}

bool CanLock(SharedMutex& mu) {
  return OnOtherThread([&] {
    if (!mu.TryLock()) return false;
    mu.Unlock();
    return true;
  });
}

bool CanLockShared(SharedMutex& mu) {
  return OnOtherThread([&] {
    if (!mu.TryLockShared()) return false;
    mu.UnlockShared();
    return true;
  });
}

struct Counter {
  Mutex mu;
  int n GUARDED_BY(mu) = 0;
};

TEST(MutexTest, IncrementsFromManyThreadsAreNotLost) {
  constexpr int kThreads = 4;
  constexpr int kEach = 20'000;
  Counter c;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&c] {
      for (int k = 0; k < kEach; ++k) {
        MutexLock lock(c.mu);
        ++c.n;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  MutexLock lock(c.mu);
  EXPECT_EQ(c.n, kThreads * kEach);
}

TEST(MutexTest, HeldLockExcludesOtherThreadsUntilReleased) {
  Mutex mu;
  {
    MutexLock lock(mu);
    EXPECT_FALSE(CanLock(mu));
    lock.Unlock();
    EXPECT_TRUE(CanLock(mu));
    lock.Lock();
    EXPECT_FALSE(CanLock(mu));
  }
  EXPECT_TRUE(CanLock(mu));
}

struct Flag {
  Mutex mu;
  CondVar cv;
  bool ready GUARDED_BY(mu) = false;
  int seen GUARDED_BY(mu) = 0;
};

TEST(CondVarTest, SignalWakesTheWaiterWhichSeesTheGuardedState) {
  Flag f;
  std::thread waiter([&f] {
    MutexLock lock(f.mu);
    while (!f.ready) f.cv.Wait(lock);
    f.seen = 42;
  });
  {
    MutexLock lock(f.mu);
    f.ready = true;
  }
  f.cv.Signal();
  waiter.join();
  MutexLock lock(f.mu);
  EXPECT_EQ(f.seen, 42);
}

TEST(CondVarTest, SignalAllWakesEveryWaiter) {
  Flag f;
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&f] {
      MutexLock lock(f.mu);
      while (!f.ready) f.cv.Wait(lock);
      ++f.seen;
    });
  }
  {
    MutexLock lock(f.mu);
    f.ready = true;
  }
  f.cv.SignalAll();
  for (std::thread& t : waiters) t.join();
  MutexLock lock(f.mu);
  EXPECT_EQ(f.seen, 3);
}

TEST(CondVarTest, WaitForReturnsFalseAfterTheTimeoutWithTheLockHeld) {
  Mutex mu;
  CondVar cv;
  MutexLock lock(mu);
  const auto start = steady_clock::now();
  int wakeups = 0;  // spurious wake-ups return true; nobody signals, so only they can
  while (cv.WaitFor(lock, milliseconds(20))) ASSERT_LT(++wakeups, 100);
  EXPECT_GE(steady_clock::now() - start, milliseconds(20));
  EXPECT_FALSE(CanLock(mu));  // held again on return
}

TEST(CondVarTest, WaitUntilAPassedDeadlineReturnsFalse) {
  Mutex mu;
  CondVar cv;
  MutexLock lock(mu);
  EXPECT_FALSE(cv.WaitUntil(lock, steady_clock::now() - milliseconds(1)));
  EXPECT_FALSE(CanLock(mu));
}

TEST(SharedMutexTest, ReadersShareAndExcludeWriters) {
  SharedMutex mu;
  {
    ReaderLock lock(mu);
    EXPECT_TRUE(CanLockShared(mu));
    EXPECT_FALSE(CanLock(mu));
  }
  EXPECT_TRUE(CanLock(mu));
}

TEST(SharedMutexTest, AWriterExcludesReadersAndWriters) {
  SharedMutex mu;
  {
    WriterLock lock(mu);
    EXPECT_FALSE(CanLockShared(mu));
    EXPECT_FALSE(CanLock(mu));
  }
  EXPECT_TRUE(CanLockShared(mu));
  EXPECT_TRUE(CanLock(mu));
}

struct Pair {
  SharedMutex mu;
  int a GUARDED_BY(mu) = 0;
  int b GUARDED_BY(mu) = 0;
};

TEST(SharedMutexTest, ReadersNeverSeeAHalfWrittenUpdate) {
  Pair p;
  constexpr int kWrites = 10'000;
  std::thread writer([&p] {
    for (int i = 0; i < kWrites; ++i) {
      WriterLock lock(p.mu);
      ++p.a;
      ++p.b;
    }
  });
  int torn = 0;
  int last = 0;
  std::vector<std::thread> readers;
  Mutex result_mu;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      int my_torn = 0;
      int my_last = 0;
      while (my_last < kWrites) {
        ReaderLock lock(p.mu);
        if (p.a != p.b) ++my_torn;
        my_last = p.a;
      }
      MutexLock lock(result_mu);
      torn += my_torn;
      last = my_last;
    });
  }
  writer.join();
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(torn, 0);
  EXPECT_EQ(last, kWrites);
}

}  // namespace
}  // namespace chukan
