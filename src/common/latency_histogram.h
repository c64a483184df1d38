// LatencyHistogram: counts of latencies in microseconds, in log-linear buckets (in the manner of
// HdrHistogram, written for chukan), so that a benchmark records millions of latencies in a fixed
// 26 KiB and reads any percentile afterwards.
//
// Buckets: every value below 256 µs has its own bucket; above, each power of two [2^e, 2^(e+1))
// is cut into 128 buckets of equal width 2^(e-7). A bucket is therefore at most 1/128 of its
// lower edge wide: a percentile read back is within 0.79 % (≤ 1 %) of the recorded value it
// stands for. Values run from 0 to kHighestMicros (2^32 − 1 µs, about 71.6 minutes); a value
// above is recorded as kHighestMicros and counted by Clamped(), a negative one as 0.
//
// Not thread-safe: a multi-threaded driver keeps one per thread and merges them at the end.
#ifndef CHUKAN_COMMON_LATENCY_HISTOGRAM_H_
#define CHUKAN_COMMON_LATENCY_HISTOGRAM_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace chukan {

class LatencyHistogram {
 public:
  static constexpr int64_t kHighestMicros = (int64_t{1} << 32) - 1;

  LatencyHistogram();

  // Counts one latency of `micros`; O(1), never allocates.
  void Record(int64_t micros);
  // Adds every count of `other` to this one (other is unchanged).
  void Merge(const LatencyHistogram& other);

  // Values recorded.
  int64_t Count() const { return count_; }
  // The largest value recorded (after clamping); 0 when empty.
  int64_t Max() const { return max_; }
  // The exact mean of the values recorded (after clamping); 0 when empty.
  double Mean() const;
  // Values that were above kHighestMicros (recorded as kHighestMicros).
  int64_t Clamped() const { return clamped_; }

  // The value at or below which `percentile` % of the recorded values lie (percentile in
  // [0, 100], outside: clamped to it): the upper edge of the bucket holding the value of that
  // rank, but never more than Max(). 0 when empty.
  int64_t ValueAtPercentile(double percentile) const;

 private:
  static size_t BucketOf(int64_t micros);
  static int64_t UpperEdgeOf(size_t bucket);

  std::vector<int64_t> counts_;
  int64_t count_ = 0;
  int64_t max_ = 0;
  int64_t clamped_ = 0;
  // Sum of every value recorded: at most 2^32 µs each, so exact for 2^31 values.
  int64_t sum_ = 0;
};

}  // namespace chukan

#endif  // CHUKAN_COMMON_LATENCY_HISTOGRAM_H_
