#include "http/stream_pipe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/status_matchers.h"

namespace chukan::http::internal {
namespace {

using ::chukan::testing::StatusIs;
using IoState = StreamPipe::IoState;

TEST(StreamPipeTest, IoProducerIsBoundedAndThreadConsumerReadsEverything) {
  StreamPipe pipe(4, 2);  // 2 chunks of 4 bytes
  int wakes = 0;
  pipe.SetWake([&] { ++wakes; });
  ASSERT_EQ(pipe.CanPush(true), IoState::kReady);
  pipe.Push("abcd");
  ASSERT_EQ(pipe.CanPush(true), IoState::kReady);
  pipe.Push("efgh");
  EXPECT_EQ(pipe.CanPush(true), IoState::kWait);  // armed
  char buf[3];
  ASSERT_OK_AND_ASSIGN(size_t n, pipe.Read(buf, 3));
  EXPECT_EQ(std::string(buf, n), "abc");
  EXPECT_EQ(wakes, 0);  // the first chunk is not fully consumed yet
  ASSERT_OK_AND_ASSIGN(n, pipe.Read(buf, 3));
  EXPECT_EQ(std::string(buf, n), "d");
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(pipe.CanPush(false), IoState::kReady);
  pipe.CloseProducer(Status::Ok());
  ASSERT_OK_AND_ASSIGN(n, pipe.Read(buf, 3));
  EXPECT_EQ(std::string(buf, n), "efg");
  ASSERT_OK_AND_ASSIGN(n, pipe.Read(buf, 3));
  EXPECT_EQ(std::string(buf, n), "h");
  ASSERT_OK_AND_ASSIGN(n, pipe.Read(buf, 3));
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(pipe.peak_bytes(), 8u);
  EXPECT_EQ(pipe.produced_bytes(), 8u);
}

TEST(StreamPipeTest, ProducerErrorAndConsumerCloseReachTheOtherSide) {
  StreamPipe pipe(4, 2);
  pipe.Push("ab");
  pipe.CloseProducer(DeadlineExceededError("stalled"));
  char buf[8];
  // Bytes already queued are still delivered, then the error, repeatedly.
  ASSERT_OK_AND_ASSIGN(size_t n, pipe.Read(buf, 8));
  EXPECT_EQ(n, 2u);
  EXPECT_THAT(pipe.Read(buf, 8), StatusIs(StatusCode::kDeadlineExceeded));
  EXPECT_THAT(pipe.Read(buf, 8), StatusIs(StatusCode::kDeadlineExceeded));

  StreamPipe out(4, 2);
  out.CloseConsumer(UnavailableError("client gone"));
  EXPECT_THAT(out.Write("x"), StatusIs(StatusCode::kUnavailable));
  EXPECT_EQ(out.ConsumerClosed(false), IoState::kClosed);
}

TEST(StreamPipeTest, ThreadProducerCoalescesAndBlocksAtTheBound) {
  StreamPipe pipe(4, 2);
  std::atomic<int> wakes{0};
  pipe.SetWake([&] { ++wakes; });
  std::string out;
  EXPECT_EQ(pipe.Pop(out, true), IoState::kWait);
  ASSERT_OK(pipe.Write("ab"));
  EXPECT_EQ(pipe.Pop(out, false), IoState::kWait);  // partial chunk: not yet sent
  EXPECT_EQ(wakes.load(), 0);
  ASSERT_OK(pipe.Write("cdefgh"));  // fills two chunks
  EXPECT_EQ(wakes.load(), 1);
  std::atomic<bool> wrote{false};
  std::thread producer([&] {
    EXPECT_OK(pipe.Write("ij"));  // needs a third chunk: blocks until one is released
    wrote = true;
    pipe.Flush();
    pipe.CloseProducer(Status::Ok());
  });
  ASSERT_EQ(pipe.Pop(out, false), IoState::kReady);
  EXPECT_EQ(out, "abcd");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(wrote.load());  // popped but not released still counts against the bound
  pipe.Release(out.size());
  producer.join();
  EXPECT_TRUE(wrote.load());
  ASSERT_EQ(pipe.Pop(out, false), IoState::kReady);
  EXPECT_EQ(out, "efgh");
  pipe.Release(4);
  ASSERT_EQ(pipe.Pop(out, false), IoState::kReady);
  EXPECT_EQ(out, "ij");
  pipe.Release(2);
  EXPECT_EQ(pipe.Pop(out, false), IoState::kClosed);
  EXPECT_OK(pipe.producer_status());
  EXPECT_EQ(pipe.peak_bytes(), 8u);
}

TEST(StreamPipeTest, AbortFailsBothSides) {
  StreamPipe pipe(4, 2);
  pipe.Push("abcd");
  pipe.Abort(UnavailableError("stopping"));
  char buf[4];
  EXPECT_THAT(pipe.Read(buf, 4), StatusIs(StatusCode::kUnavailable));
  EXPECT_THAT(pipe.Write("x"), StatusIs(StatusCode::kUnavailable));
  std::string out;
  EXPECT_EQ(pipe.Pop(out, false), IoState::kClosed);
}

}  // namespace
}  // namespace chukan::http::internal
