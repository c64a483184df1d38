#include "common/clock.h"

#include <gtest/gtest.h>

namespace chukan {
namespace {

TEST(ClockTest, FakeClockAdvancesBothClocks) {
  FakeClock c;
  const TimePoint t0 = c.Now();
  const auto s0 = c.SteadyNow();
  c.Advance(std::chrono::seconds(90));
  EXPECT_EQ(c.Now() - t0, std::chrono::seconds(90));
  EXPECT_EQ(c.SteadyNow() - s0, std::chrono::seconds(90));
}

TEST(ClockTest, Rfc3339AndMicros) {
  const TimePoint t = FromUnixMicros(1775001600123456);
  EXPECT_EQ(ToUnixMicros(t), 1775001600123456);
  EXPECT_EQ(FormatRfc3339(t), "2026-04-01T00:00:00.123456Z");
  EXPECT_EQ(FormatRfc3339(FakeClock().Now()), "2026-04-01T00:00:00.000000Z");
}

}  // namespace
}  // namespace chukan
