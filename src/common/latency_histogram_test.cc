#include "common/latency_histogram.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace chukan {
namespace {

// Within `percent` % of `expected`.
::testing::AssertionResult Near(int64_t actual, double expected, double percent) {
  const double error = std::abs(static_cast<double>(actual) - expected) / expected * 100.0;
  if (error <= percent) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << actual << " is " << error << " % from " << expected << " (allowed " << percent << " %)";
}

LatencyHistogram Uniform(int64_t from, int64_t to) {
  LatencyHistogram h;
  for (int64_t v = from; v <= to; ++v) h.Record(v);
  return h;
}

TEST(LatencyHistogramTest, UniformPercentilesWithinOnePercent) {
  const LatencyHistogram h = Uniform(1, 10000);
  EXPECT_EQ(h.Count(), 10000);
  EXPECT_EQ(h.Max(), 10000);
  EXPECT_DOUBLE_EQ(h.Mean(), 5000.5);
  EXPECT_TRUE(Near(h.ValueAtPercentile(50), 5000, 1.0));
  EXPECT_TRUE(Near(h.ValueAtPercentile(90), 9000, 1.0));
  EXPECT_TRUE(Near(h.ValueAtPercentile(99), 9900, 1.0));
  EXPECT_TRUE(Near(h.ValueAtPercentile(99.9), 9990, 1.0));
  // The upper edge of the bucket of 5000 (4992–5023) and of 9900 (9856–9919).
  EXPECT_EQ(h.ValueAtPercentile(50), 5023);
  EXPECT_EQ(h.ValueAtPercentile(99), 9919);
  // The top bucket's edge (10047) is clamped to the maximum recorded.
  EXPECT_EQ(h.ValueAtPercentile(100), 10000);
  EXPECT_EQ(h.ValueAtPercentile(0), 1);
  EXPECT_EQ(h.ValueAtPercentile(250), 10000);
  EXPECT_EQ(h.ValueAtPercentile(-3), 1);
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  const LatencyHistogram h = Uniform(0, 255);
  for (int p = 1; p <= 100; ++p) {
    // Rank ceil(p × 256 / 100) is the value rank − 1.
    const int64_t rank = (p * 256 + 99) / 100;
    EXPECT_EQ(h.ValueAtPercentile(p), rank - 1) << "p" << p;
  }
}

TEST(LatencyHistogramTest, RelativeErrorBoundHoldsEverywhere) {
  // One value at a time, across the range: the single recorded value comes back clamped to
  // itself, so compare against the bucket edge with the maximum pushed above it.
  for (int64_t v = 1; v < LatencyHistogram::kHighestMicros; v = v * 3 / 2 + 1) {
    LatencyHistogram h;
    h.Record(v);
    h.Record(LatencyHistogram::kHighestMicros);
    const int64_t edge = h.ValueAtPercentile(50);
    EXPECT_GE(edge, v);
    EXPECT_LE(static_cast<double>(edge - v), static_cast<double>(v) / 128.0) << v;
  }
}

TEST(LatencyHistogramTest, MergeOfTwoEqualsOneRecordingBoth) {
  LatencyHistogram low = Uniform(1, 5000);
  const LatencyHistogram high = Uniform(5001, 10000);
  low.Merge(high);
  const LatencyHistogram both = Uniform(1, 10000);
  EXPECT_EQ(low.Count(), 10000);
  EXPECT_EQ(low.Max(), 10000);
  EXPECT_DOUBLE_EQ(low.Mean(), 5000.5);
  for (double p : {0.0, 10.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(low.ValueAtPercentile(p), both.ValueAtPercentile(p)) << "p" << p;
  }
  EXPECT_EQ(high.Count(), 5000);               // the merged-in one is unchanged
  EXPECT_EQ(high.ValueAtPercentile(0), 5023);  // 5001's bucket is 4992–5023
}

TEST(LatencyHistogramTest, MergeKeepsTheLargerMaximum) {
  LatencyHistogram a;
  a.Record(70);
  LatencyHistogram b;
  b.Record(3'000'000);
  a.Merge(b);
  EXPECT_EQ(a.Max(), 3'000'000);
  EXPECT_EQ(a.ValueAtPercentile(50), 70);
  EXPECT_EQ(a.ValueAtPercentile(100), 3'000'000);
}

TEST(LatencyHistogramTest, EmptyReadsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.Count(), 0);
  EXPECT_EQ(h.Max(), 0);
  EXPECT_EQ(h.Mean(), 0.0);
  EXPECT_EQ(h.Clamped(), 0);
  EXPECT_EQ(h.ValueAtPercentile(50), 0);
  EXPECT_EQ(h.ValueAtPercentile(100), 0);
  LatencyHistogram other;
  other.Merge(h);
  EXPECT_EQ(other.Count(), 0);
}

TEST(LatencyHistogramTest, ValuesAboveTheRangeAreClampedAndCounted) {
  LatencyHistogram h;
  const int64_t hour = int64_t{3600} * 1'000'000;
  h.Record(hour);  // an hour is inside the range
  h.Record(LatencyHistogram::kHighestMicros + 1);
  h.Record(int64_t{1} << 40);
  h.Record(-5);  // recorded as 0
  EXPECT_EQ(h.Count(), 4);
  EXPECT_EQ(h.Clamped(), 2);
  EXPECT_EQ(h.Max(), LatencyHistogram::kHighestMicros);
  EXPECT_EQ(h.ValueAtPercentile(0), 0);
  EXPECT_TRUE(Near(h.ValueAtPercentile(50), static_cast<double>(hour), 1.0));
  EXPECT_EQ(h.ValueAtPercentile(100), LatencyHistogram::kHighestMicros);
  LatencyHistogram merged;
  merged.Merge(h);
  EXPECT_EQ(merged.Clamped(), 2);
}

}  // namespace
}  // namespace chukan
