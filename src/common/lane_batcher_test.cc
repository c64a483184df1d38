#include "common/lane_batcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace chukan {
namespace {

using ::testing::ElementsAre;

TEST(LaneBatcherTest, AnItemAloneLeavesAtOnce) {
  LaneBatcher<int> b(2, 64, 1000);
  EXPECT_FALSE(b.Ready());
  EXPECT_FALSE(b.Take().has_value());
  b.Add("a", 10, 1);
  ASSERT_TRUE(b.Ready());
  auto batch = b.Take();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->lane, "a");
  EXPECT_THAT(batch->items, ElementsAre(1));
  EXPECT_EQ(b.size(), 0u);
}

TEST(LaneBatcherTest, APausedLaneWaitsWhileTheOthersGoOnAndLeavesWhole) {
  LaneBatcher<int> b(2, 64, 1000);
  b.Pause("a");
  b.Add("a", 10, 1);
  EXPECT_FALSE(b.Ready());
  b.Add("b", 10, 2);
  b.Add("a", 10, 3);
  auto batch = b.Take();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->lane, "b");
  EXPECT_THAT(batch->items, ElementsAre(2));
  EXPECT_FALSE(b.Ready());
  EXPECT_TRUE(b.Paused("a"));
  b.Resume("a");
  EXPECT_FALSE(b.Paused("a"));
  batch = b.Take();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->lane, "a");
  EXPECT_THAT(batch->items, ElementsAre(1, 3));
}

TEST(LaneBatcherTest, ItemsOfABusyLaneWaitAndLeaveTogetherInOrder) {
  LaneBatcher<int> b(1, 64, 1000);
  b.Add("a", 1, 1);
  auto first = b.Take();
  ASSERT_TRUE(first.has_value());
  b.Add("a", 1, 2);
  b.Add("b", 1, 10);
  b.Add("a", 1, 3);
  // Lane a is full (one in flight): b's item goes first, a's wait.
  auto other = b.Take();
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->lane, "b");
  EXPECT_THAT(other->items, ElementsAre(10));
  EXPECT_FALSE(b.Ready());
  EXPECT_FALSE(b.Take().has_value());
  b.Done("a");
  auto second = b.Take();
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->lane, "a");
  EXPECT_THAT(second->items, ElementsAre(2, 3));
  EXPECT_EQ(b.size(), 0u);
}

TEST(LaneBatcherTest, BatchesStopAtTheItemAndByteLimits) {
  LaneBatcher<int> b(4, 3, 100);
  for (int i = 0; i < 5; ++i) b.Add("a", 10, i);
  auto first = b.Take();
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(first->items, ElementsAre(0, 1, 2));  // max 3 items
  b.Add("a", 85, 5);
  auto second = b.Take();
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(second->items, ElementsAre(3, 4));  // 10 + 10 + 85 > 100: item 5 waits
  auto third = b.Take();
  ASSERT_TRUE(third.has_value());
  EXPECT_THAT(third->items, ElementsAre(5));
}

TEST(LaneBatcherTest, AnItemLargerThanTheByteLimitStillLeavesAlone) {
  LaneBatcher<int> b(1, 64, 100);
  b.Add("a", 500, 1);
  b.Add("a", 1, 2);
  auto first = b.Take();
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(first->items, ElementsAre(1));
}

TEST(LaneBatcherTest, PerLaneLimitCountsBatchesInFlight) {
  LaneBatcher<int> b(2, 1, 1000);
  for (int i = 0; i < 3; ++i) b.Add("a", 1, i);
  ASSERT_TRUE(b.Take().has_value());
  ASSERT_TRUE(b.Take().has_value());
  EXPECT_FALSE(b.Take().has_value());  // two in flight
  EXPECT_EQ(b.size(), 1u);
  b.Done("a");
  auto last = b.Take();
  ASSERT_TRUE(last.has_value());
  EXPECT_THAT(last->items, ElementsAre(2));
  b.Done("unknown");  // harmless
  b.Clear();
  EXPECT_EQ(b.size(), 0u);
}

}  // namespace
}  // namespace chukan
