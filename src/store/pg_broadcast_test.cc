#include "store/pg_broadcast.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status_matchers.h"
#include "store/database.h"
#include "store/store_test_util.h"

namespace chukan::store {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// What one process received.
class Inbox {
 public:
  void Add(std::string_view m) {
    std::lock_guard<std::mutex> lock(mu_);
    messages_.emplace_back(m);
    cv_.notify_all();
  }
  void Gap() {
    std::lock_guard<std::mutex> lock(mu_);
    ++gaps_;
    cv_.notify_all();
  }
  // Waits up to 20 s until `n` messages arrived; returns them.
  std::vector<std::string> WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20), [&] { return messages_.size() >= n; });
    return messages_;
  }
  int WaitForGaps(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20), [&] { return gaps_ >= n; });
    return gaps_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> messages_;
  int gaps_ = 0;
};

// The sender's count of messages sent, once it reached `n` (or after 10 s): a receiver may hear
// a NOTIFY before the sender's thread has counted it.
int64_t SentOnceAtLeast(const PgBroadcast& b, int64_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (b.stats().sent < n && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return b.stats().sent;
}

class PgBroadcastTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dsn = testing::PgDsnForTest();
    if (dsn.empty()) GTEST_SKIP() << "needs CHUKAN_TEST_PG_DSN (scripts/with-postgres)";
    dsn_ = dsn;
    // Parallel test processes share the cluster: a channel of this test's own.
    channel_ = "ct_" + testing::RandomSuffix() + "_inquiries";
  }

  std::unique_ptr<PgBroadcast> Open(Inbox& inbox) {
    PgBroadcast::Options o;
    o.dsn = dsn_;
    o.channel = channel_;
    o.on_message = [&inbox](std::string_view m) { inbox.Add(m); };
    o.on_gap = [&inbox] { inbox.Gap(); };
    o.reconnect_delay = std::chrono::milliseconds(100);
    Result<std::unique_ptr<PgBroadcast>> b = PgBroadcast::Open(std::move(o));
    EXPECT_OK(b);
    return b.ok() ? std::move(*b) : nullptr;
  }

  std::string dsn_;
  std::string channel_;
};

TEST_F(PgBroadcastTest, MessagesReachTheOtherProcessesInOrderButNotTheSender) {
  Inbox a_in, b_in, c_in;
  std::unique_ptr<PgBroadcast> a = Open(a_in), b = Open(b_in), c = Open(c_in);
  ASSERT_TRUE(a && b && c);
  ASSERT_OK(a->Publish("0123456789abcdef0123456789abcdef"));
  ASSERT_OK(a->Publish("*"));
  EXPECT_THAT(b_in.WaitFor(2), ElementsAre("0123456789abcdef0123456789abcdef", "*"));
  EXPECT_THAT(c_in.WaitFor(2), ElementsAre("0123456789abcdef0123456789abcdef", "*"));
  // a hears b's message, and nothing of its own before it.
  ASSERT_OK(b->Publish("from-b"));
  EXPECT_THAT(a_in.WaitFor(1), ElementsAre("from-b"));
  EXPECT_EQ(SentOnceAtLeast(*a, 2), 2);
  EXPECT_EQ(a->stats().received, 1);
  EXPECT_EQ(b->stats().received, 2);
}

TEST_F(PgBroadcastTest, ManyMessagesArriveAllAndInOrder) {
  Inbox a_in, b_in;
  std::unique_ptr<PgBroadcast> a = Open(a_in), b = Open(b_in);
  ASSERT_TRUE(a && b);
  std::vector<std::string> expected;
  for (int i = 0; i < 5000; ++i) {
    expected.push_back("inquiry-" + std::to_string(i) + std::string(48, 'x'));
    ASSERT_OK(a->Publish(expected.back()));
  }
  EXPECT_EQ(b_in.WaitFor(5000), expected);
  EXPECT_EQ(SentOnceAtLeast(*a, 5000), 5000);
}

TEST_F(PgBroadcastTest, ALostConnectionIsMadeAgainReportedAsAGapAndUsedAgain) {
  Inbox a_in, b_in;
  std::unique_ptr<PgBroadcast> a = Open(a_in), b = Open(b_in);
  ASSERT_TRUE(a && b);
  const int pid = b->backend_pid();
  ASSERT_GT(pid, 0);
  PostgresOptions po;
  po.dsn = dsn_;
  po.pool_size = 1;
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<Database> admin, OpenPostgres(po));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Transaction> tx, admin->Begin());
  ASSERT_OK(tx->Exec("SELECT pg_terminate_backend(?)", {Value(int64_t{pid})}));
  ASSERT_OK(tx->Commit());
  EXPECT_EQ(b_in.WaitForGaps(1), 1);
  EXPECT_EQ(b->stats().reconnects, 1);
  EXPECT_NE(b->backend_pid(), pid);
  ASSERT_OK(a->Publish("after"));
  EXPECT_THAT(b_in.WaitFor(1), ElementsAre("after"));
}

TEST_F(PgBroadcastTest, AFullQueueIsReplacedByTheOverflowMessage) {
  Inbox b_in;
  std::unique_ptr<PgBroadcast> b = Open(b_in);
  ASSERT_TRUE(b);
  // A sender whose database is unreachable queues; past max_queued its queue becomes "*".
  PgBroadcast::Options o;
  o.dsn = dsn_;
  o.channel = channel_;
  o.on_message = [](std::string_view) {};
  o.max_queued = 3;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<PgBroadcast> a, PgBroadcast::Open(std::move(o)));
  // Queued faster than one NOTIFY round trip or not: either way b receives, in order, a prefix
  // of the messages, possibly "*" in place of the dropped ones, and ends with "m9".
  for (int i = 0; i < 10; ++i) ASSERT_OK(a->Publish("m" + std::to_string(i)));
  std::vector<std::string> got;
  for (int i = 0; i < 200 && (got.empty() || got.back() != "m9"); ++i) {
    got = b_in.WaitFor(got.size() + 1);
  }
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back(), "m9");
  // Nothing is lost silently: every message sent arrived in order, and when some were dropped
  // "*" arrived in their place.
  int last = -1;
  bool star = false;
  for (const std::string& m : got) {
    if (m == "*") {
      star = true;
      continue;
    }
    const int i = std::stoi(m.substr(1));
    EXPECT_GT(i, last) << ::testing::PrintToString(got);
    last = i;
  }
  EXPECT_EQ(star, a->stats().dropped > 0) << ::testing::PrintToString(got);
  EXPECT_EQ(SentOnceAtLeast(*a, static_cast<int64_t>(got.size())),
            static_cast<int64_t>(got.size()));
}

TEST_F(PgBroadcastTest, BadChannelsAndMessagesAreRefused) {
  PgBroadcast::Options o;
  o.dsn = dsn_;
  o.on_message = [](std::string_view) {};
  o.channel = "Inquiries; DROP TABLE x";
  EXPECT_THAT(PgBroadcast::Open(o), StatusIs(StatusCode::kInvalidArgument, HasSubstr("channel")));
  o.channel = channel_;
  o.dsn = "host=127.0.0.1 port=1 connect_timeout=2";
  EXPECT_THAT(PgBroadcast::Open(o), StatusIs(StatusCode::kUnavailable, HasSubstr("connect")));
  Inbox in;
  std::unique_ptr<PgBroadcast> b = Open(in);
  ASSERT_TRUE(b);
  EXPECT_THAT(b->Publish(""), StatusIs(StatusCode::kInvalidArgument, HasSubstr("1–256")));
  EXPECT_THAT(b->Publish("a\nb"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("newline")));
  EXPECT_THAT(b->Publish(std::string(257, 'x')), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace chukan::store
