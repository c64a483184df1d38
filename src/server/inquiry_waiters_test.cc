#include "server/inquiry_waiters.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "common/status_matchers.h"

namespace chukan::server {
namespace {

using ::chukan::testing::StatusIs;
using namespace std::chrono_literals;

InquiryWaiters::Clock::time_point In(std::chrono::milliseconds d) {
  return InquiryWaiters::Clock::now() + d;
}

// A wait is fired once at once (the inquiry may already have ended), then on each wake-up,
// and finally at its deadline with timed_out = true.
TEST(InquiryWaitersTest, FiresAtOnceOnWakeAndAtTheDeadline) {
  InquiryWaiters w({16, 100, 2});
  std::atomic<int> fires{0};
  std::promise<bool> final_fire;
  ASSERT_OK(w.Add("inq-1", "client", In(300ms), [&](bool timed_out) {
    ++fires;
    if (timed_out) final_fire.set_value(true);
    return false;  // still open
  }));
  while (fires.load() < 1) std::this_thread::sleep_for(1ms);
  w.Wake("inq-1");
  w.Wake("another");  // names nobody
  while (fires.load() < 2) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(w.size(), 1);
  auto f = final_fire.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_TRUE(f.get());
  EXPECT_EQ(fires.load(), 3);
  while (w.size() != 0) std::this_thread::sleep_for(1ms);
}

// A fire that answers ends the wait: it is not fired again, not even at its deadline.
TEST(InquiryWaitersTest, AnAnsweredWaitEnds) {
  InquiryWaiters w({16, 100, 2});
  std::atomic<int> fires{0};
  ASSERT_OK(w.Add("inq-1", "client", In(100ms), [&](bool) {
    ++fires;
    return true;
  }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(fires.load(), 1);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (w.size() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(w.size(), 0);
}

// Limits: per client, then in all; a refused wait is never fired, and the count frees up when
// waits end.
TEST(InquiryWaitersTest, LimitsPerClientAndInAll) {
  InquiryWaiters w({2, 3, 1});
  std::atomic<int> fires{0};
  auto open = [&](bool) {
    ++fires;
    return false;
  };
  ASSERT_OK(w.Add("a", "alice", In(10s), open));
  ASSERT_OK(w.Add("b", "alice", In(10s), open));
  EXPECT_THAT(w.Add("c", "alice", In(10s), open), StatusIs(StatusCode::kResourceExhausted));
  ASSERT_OK(w.Add("c", "bob", In(10s), open));
  EXPECT_THAT(w.Add("d", "carol", In(10s), open), StatusIs(StatusCode::kResourceExhausted));
  EXPECT_EQ(w.size(), 3);
  // Each accepted wait is fired once at once; the two refused ones never are.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (fires.load() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(fires.load(), 3);
}

// Many waits, one thread each would be 1,000 threads: here they share the timer and two
// workers, and all of them end at their deadlines.
TEST(InquiryWaitersTest, ManyWaitsShareFewThreads) {
  InquiryWaiters w({2000, 2000, 2});
  std::atomic<int> timed_out{0};
  for (int i = 0; i < 1000; ++i) {
    ASSERT_OK(w.Add("inq-" + std::to_string(i), "c" + std::to_string(i), In(200ms), [&](bool t) {
      if (t) ++timed_out;
      return false;
    }));
  }
  // A wait is removed after its last fire returns, so the count reaches 1,000 a moment
  // before the size reaches 0: wait for both.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((timed_out.load() < 1000 || w.size() != 0) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(timed_out.load(), 1000);
  EXPECT_EQ(w.size(), 0);
}

// Post() runs a task on a worker thread; beyond Limits::tasks queued it refuses the task, which
// is destroyed unrun.
TEST(InquiryWaitersTest, PostRunsTasksUpToTheLimit) {
  InquiryWaiters w({16, 100, 1, 1});
  std::promise<void> running;
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  ASSERT_OK(w.Post([&running, opened] {
    running.set_value();
    opened.wait();
  }));
  running.get_future().wait();  // the one worker is busy; the queue is empty
  std::promise<void> second_ran;
  ASSERT_OK(w.Post([&second_ran] { second_ran.set_value(); }));  // queued: 1 of 1
  auto refused = std::make_shared<int>(0);
  std::weak_ptr<int> refused_alive = refused;
  EXPECT_THAT(w.Post([refused = std::move(refused)] { ++*refused; }),
              StatusIs(StatusCode::kResourceExhausted));
  EXPECT_TRUE(refused_alive.expired());  // destroyed, never run
  gate.set_value();
  EXPECT_EQ(second_ran.get_future().wait_for(5s), std::future_status::ready);
}

// Tasks still queued when the waiters stop are destroyed without running (whatever they own
// then answers: a dropped Responder sends 500); a Post() after the stop begins is refused.
TEST(InquiryWaitersTest, TasksLeftAtTheStopAreDroppedUnrun) {
  auto w = std::make_unique<InquiryWaiters>(InquiryWaiters::Limits{16, 100, 1, 1'000'000});
  std::promise<void> running;
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  ASSERT_OK(w->Post([&running, opened] {
    running.set_value();
    opened.wait();
  }));
  running.get_future().wait();
  std::atomic<bool> ran{false};
  auto owned = std::make_shared<int>(0);
  std::weak_ptr<int> owned_alive = owned;
  ASSERT_OK(w->Post([&ran, owned = std::move(owned)] { ran = true; }));
  // The destructor waits for the running task, so the object stays while the gate is shut.
  InquiryWaiters* raw = w.get();
  std::future<void> stopped = std::async(std::launch::async, [&w] { w.reset(); });
  // Once the stop has begun, Post() refuses (kUnavailable): then let the running task end.
  while (raw->Post([] {}).code() != StatusCode::kUnavailable) std::this_thread::sleep_for(1ms);
  gate.set_value();
  ASSERT_EQ(stopped.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(ran.load());
  EXPECT_TRUE(owned_alive.expired());
}

}  // namespace
}  // namespace chukan::server
