#include "common/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace chukan {
namespace {

// Buckets per power of two above the linear range, as a power of two: 2^7 = 128 gives buckets
// at most 1/128 of their lower edge wide.
constexpr int kSubBits = 7;
constexpr int64_t kSub = int64_t{1} << kSubBits;
// Values below this have a bucket each (bucket index = value).
constexpr int64_t kLinear = 2 * kSub;

}  // namespace

size_t LatencyHistogram::BucketOf(int64_t micros) {
  const auto v = static_cast<uint64_t>(micros);
  if (micros < kLinear) return static_cast<size_t>(v);
  // v in [2^e, 2^(e+1)), e ≥ kSubBits + 1; its top kSubBits + 1 bits pick one of kSub buckets.
  const int e = std::bit_width(v) - 1;
  const int shift = e - kSubBits;
  return static_cast<size_t>(kLinear + (e - kSubBits - 1) * kSub +
                             (static_cast<int64_t>(v >> shift) - kSub));
}

int64_t LatencyHistogram::UpperEdgeOf(size_t bucket) {
  const auto b = static_cast<int64_t>(bucket);
  if (b < kLinear) return b;
  const int64_t block = (b - kLinear) / kSub;
  const int64_t sub = (b - kLinear) % kSub;
  const int shift = static_cast<int>(block) + 1;
  return ((kSub + sub + 1) << shift) - 1;
}

LatencyHistogram::LatencyHistogram() : counts_(BucketOf(kHighestMicros) + 1, 0) {}

void LatencyHistogram::Record(int64_t micros) {
  if (micros < 0) micros = 0;
  if (micros > kHighestMicros) {
    micros = kHighestMicros;
    ++clamped_;
  }
  ++counts_[BucketOf(micros)];
  ++count_;
  sum_ += micros;
  max_ = std::max(max_, micros);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  clamped_ += other.clamped_;
  max_ = std::max(max_, other.max_);
}

double LatencyHistogram::Mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
}

int64_t LatencyHistogram::ValueAtPercentile(double percentile) const {
  if (count_ == 0) return 0;
  const double p = std::clamp(percentile, 0.0, 100.0);
  // The rank (1-based) of the value sought: the smallest with at least p % at or below it.
  const auto rank = std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil(p * static_cast<double>(count_) / 100.0)));
  int64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(UpperEdgeOf(i), max_);
  }
  return max_;
}

}  // namespace chukan
