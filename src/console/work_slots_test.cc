#include "console/work_slots.h"

#include <gtest/gtest.h>

#include <utility>

namespace chukan::console {
namespace {

TEST(WorkSlotsTest, OneKeyHoldsAtMostHalfAndAllAtMostTheTotal) {
  WorkSlots slots(4);
  EXPECT_EQ(slots.per_key(), 2);
  WorkSlots::Ticket a1 = slots.TryAcquire("a");
  WorkSlots::Ticket a2 = slots.TryAcquire("a");
  EXPECT_TRUE(a1);
  EXPECT_TRUE(a2);
  EXPECT_FALSE(slots.TryAcquire("a"));  // a's half is used
  WorkSlots::Ticket b1 = slots.TryAcquire("b");
  WorkSlots::Ticket c1 = slots.TryAcquire("c");
  EXPECT_TRUE(b1);
  EXPECT_TRUE(c1);
  EXPECT_EQ(slots.in_use(), 4);
  EXPECT_FALSE(slots.TryAcquire("d"));  // all used
  {
    WorkSlots::Ticket gone = std::move(c1);
    EXPECT_FALSE(c1);  // NOLINT(bugprone-use-after-move): moved-from tickets are empty
  }
  EXPECT_EQ(slots.in_use(), 3);  // given back when the holder went
  EXPECT_TRUE(slots.TryAcquire("d"));
  a1 = WorkSlots::Ticket();  // assigning over a ticket gives its slot back
  EXPECT_TRUE(slots.TryAcquire("a"));
}

TEST(WorkSlotsTest, AtLeastOneSlotPerKey) {
  WorkSlots one(1);
  EXPECT_EQ(one.total(), 1);
  EXPECT_EQ(one.per_key(), 1);
  WorkSlots::Ticket t = one.TryAcquire("x");
  EXPECT_TRUE(t);
  EXPECT_FALSE(one.TryAcquire("y"));
  WorkSlots none(0);  // never below one
  EXPECT_TRUE(none.TryAcquire("x"));
}

}  // namespace
}  // namespace chukan::console
