#include "store/node_lease.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store/store_test_util.h"

namespace chukan::store {
namespace {

using ::chukan::testing::StatusIs;
using std::chrono::seconds;
using ::testing::HasSubstr;

class NodeLeaseTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    a_ = NewDatabase();
    ASSERT_NE(a_, nullptr);
    ASSERT_OK(ApplyMigrations(*a_, "node_lease", NodeLeaseMigrations()));
    // The second node: a handle of its own on the same database (its own connections).
    TenantStore* other = OpenStore();
    ASSERT_NE(other, nullptr);
    ASSERT_OK_AND_ASSIGN(b_, other->Platform());
  }

  FakeClock clock_;
  std::shared_ptr<Database> a_;
  std::shared_ptr<Database> b_;
};

TEST_P(NodeLeaseTest, AnotherNodeIsRefusedWhileTheLeaseRunsAndTakesItOverWhenItEnds) {
  const int64_t start = ToUnixMicros(clock_.Now());
  ASSERT_OK_AND_ASSIGN(bool a_holds,
                       AcquireNodeLease(*a_, "server.sweep", "a:1", seconds(30), clock_));
  EXPECT_TRUE(a_holds);
  ASSERT_OK_AND_ASSIGN(bool b_holds,
                       AcquireNodeLease(*b_, "server.sweep", "b:1", seconds(30), clock_));
  EXPECT_FALSE(b_holds);
  // The holder renews; `since` stays when it first took it.
  clock_.Advance(seconds(20));
  ASSERT_OK_AND_ASSIGN(a_holds, AcquireNodeLease(*a_, "server.sweep", "a:1", seconds(30), clock_));
  EXPECT_TRUE(a_holds);
  ASSERT_OK_AND_ASSIGN(std::optional<NodeLease> lease, ReadNodeLease(*b_, "server.sweep"));
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->owner, "a:1");
  EXPECT_EQ(lease->since_us, start);
  EXPECT_EQ(lease->until_us, start + 50'000'000);
  // 29 s after the renewal it still runs; at 30 s it has run out and b takes it.
  clock_.Advance(seconds(29));
  ASSERT_OK_AND_ASSIGN(b_holds, AcquireNodeLease(*b_, "server.sweep", "b:1", seconds(30), clock_));
  EXPECT_FALSE(b_holds);
  clock_.Advance(seconds(1));
  ASSERT_OK_AND_ASSIGN(b_holds, AcquireNodeLease(*b_, "server.sweep", "b:1", seconds(30), clock_));
  EXPECT_TRUE(b_holds);
  ASSERT_OK_AND_ASSIGN(a_holds, AcquireNodeLease(*a_, "server.sweep", "a:1", seconds(30), clock_));
  EXPECT_FALSE(a_holds);
  ASSERT_OK_AND_ASSIGN(lease, ReadNodeLease(*a_, "server.sweep"));
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->owner, "b:1");
  EXPECT_EQ(lease->since_us, start + 50'000'000);
  // Leases of other names are apart.
  ASSERT_OK_AND_ASSIGN(a_holds, AcquireNodeLease(*a_, "server.rekey", "a:1", seconds(30), clock_));
  EXPECT_TRUE(a_holds);
}

TEST_P(NodeLeaseTest, AReleasedLeaseIsTakenAtOnceAndOnlyItsHolderReleasesIt) {
  ASSERT_OK_AND_ASSIGN(bool held, AcquireNodeLease(*a_, "hub.sweep", "a:1", seconds(30), clock_));
  ASSERT_TRUE(held);
  ASSERT_OK_AND_ASSIGN(bool released, ReleaseNodeLease(*b_, "hub.sweep", "b:1"));
  EXPECT_FALSE(released);
  ASSERT_OK_AND_ASSIGN(held, AcquireNodeLease(*b_, "hub.sweep", "b:1", seconds(30), clock_));
  EXPECT_FALSE(held);
  ASSERT_OK_AND_ASSIGN(released, ReleaseNodeLease(*a_, "hub.sweep", "a:1"));
  EXPECT_TRUE(released);
  ASSERT_OK_AND_ASSIGN(held, AcquireNodeLease(*b_, "hub.sweep", "b:1", seconds(30), clock_));
  EXPECT_TRUE(held);
  ASSERT_OK_AND_ASSIGN(std::optional<NodeLease> none, ReadNodeLease(*a_, "never.taken"));
  EXPECT_FALSE(none.has_value());
}

TEST_P(NodeLeaseTest, NodesRacingForAFreeLeaseLeaveExactlyOneHolder) {
  // Eight nodes, half on each handle, try at the same moment, twenty rounds; each round the
  // lease has run out before it starts, so exactly one of the eight must win it.
  for (int round = 0; round < 20; ++round) {
    clock_.Advance(seconds(31));
    std::atomic<int> holders{0};
    std::atomic<int> errors{0};
    std::vector<std::thread> nodes;
    for (int i = 0; i < 8; ++i) {
      nodes.emplace_back([&, i] {
        Database& db = i % 2 == 0 ? *a_ : *b_;
        const std::string owner = "node" + std::to_string(i) + ":" + std::to_string(round);
        Result<bool> r = AcquireNodeLease(db, "server.sweep", owner, seconds(30), clock_);
        if (!r.ok()) {
          // SQLite's writers wait for each other; PostgreSQL's upserts lock the row. Neither
          // may fail here.
          errors.fetch_add(1);
        } else if (*r) {
          holders.fetch_add(1);
        }
      });
    }
    for (std::thread& t : nodes) t.join();
    EXPECT_EQ(errors.load(), 0) << "round " << round;
    EXPECT_EQ(holders.load(), 1) << "round " << round;
  }
}

TEST_P(NodeLeaseTest, BadNamesOwnersAndTtlsAreRefused) {
  EXPECT_THAT(AcquireNodeLease(*a_, "", "a", seconds(1), clock_),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("1–128 bytes")));
  EXPECT_THAT(AcquireNodeLease(*a_, std::string(129, 'n'), "a", seconds(1), clock_),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("1–128 bytes")));
  EXPECT_THAT(AcquireNodeLease(*a_, "node:a\nb", "a", seconds(1), clock_),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("control characters")));
  EXPECT_THAT(AcquireNodeLease(*a_, "s", "a\x7f", seconds(1), clock_),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("owner")));
  // A name is a bound parameter, never SQL: quotes and any instance name (Japanese too) are fine.
  ASSERT_OK_AND_ASSIGN(bool odd,
                       AcquireNodeLease(*a_, "node:サーバー'1; --", "a", seconds(1), clock_));
  EXPECT_TRUE(odd);
  EXPECT_THAT(AcquireNodeLease(*a_, "s", "", seconds(1), clock_),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("owner")));
  EXPECT_THAT(AcquireNodeLease(*a_, "s", std::string(129, 'o'), seconds(1), clock_),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("owner")));
  EXPECT_THAT(AcquireNodeLease(*a_, "s", "a", seconds(0), clock_),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("ttl")));
}

// A node's probe: ready once it wrote its name's lease; a second live node with the same name
// is not ready, and says why, until the first gives the name up.
TEST_P(NodeLeaseTest, AProbeIsReadyUnderANameOfItsOwnAndNotUnderAnother) {
  NodeProbe first(a_, "server", "server-1", "server-1:boot1", clock_);
  NodeProbe second(b_, "server", "server-1", "server-1:boot2", clock_);
  EXPECT_THAT(first.Readiness(), StatusIs(StatusCode::kUnavailable, HasSubstr("starting")));
  first.Probe();
  EXPECT_OK(first.Readiness());
  second.Probe();
  EXPECT_THAT(second.Readiness(),
              StatusIs(StatusCode::kUnavailable,
                       "another running node uses [server] instance \"server-1\": give each node "
                       "a name of its own"));
  second.Release();  // not its name: the first keeps it
  first.Probe();
  EXPECT_OK(first.Readiness());
  first.Release();
  second.Probe();
  EXPECT_OK(second.Readiness());
  ASSERT_OK_AND_ASSIGN(std::optional<NodeLease> lease, ReadNodeLease(*a_, "node:server-1"));
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ(lease->owner, "server-1:boot2");
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(NodeLeaseTest);

}  // namespace
}  // namespace chukan::store
