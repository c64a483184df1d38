// Test-only ByteSources: chunked delivery (to exercise chunk boundaries) and injected failures.
#ifndef CHUKAN_REPLICA_IO_TEST_SOURCES_H_
#define CHUKAN_REPLICA_IO_TEST_SOURCES_H_

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <string_view>

#include "common/status.h"
#include "replica_io/byte_source.h"

namespace chukan::replica_io::testing {

// Returns at most `max_chunk` bytes per Read: exactly that many when `seed` is 0, otherwise a
// random size in [1, max_chunk] drawn from a generator seeded with `seed`.
class ChunkedSource final : public ByteSource {
 public:
  ChunkedSource(std::string_view data, size_t max_chunk, unsigned seed = 0)
      : data_(data), max_chunk_(max_chunk), seed_(seed), rng_(seed) {}

  Result<size_t> Read(char* buf, size_t n) override {
    size_t k = max_chunk_;
    if (seed_ != 0) k = std::uniform_int_distribution<size_t>(1, max_chunk_)(rng_);
    k = std::min({k, n, data_.size() - pos_});
    if (k > 0) std::memcpy(buf, data_.data() + pos_, k);
    pos_ += k;
    return k;
  }

 private:
  std::string_view data_;
  size_t max_chunk_;
  unsigned seed_;
  std::mt19937 rng_;
  size_t pos_ = 0;
};

// Delivers `data`, then fails with `error` instead of reporting end of input.
class FailingSource final : public ByteSource {
 public:
  FailingSource(std::string_view data, Status error) : data_(data), error_(std::move(error)) {}

  Result<size_t> Read(char* buf, size_t n) override {
    if (pos_ == data_.size()) return error_;
    const size_t k = std::min(n, data_.size() - pos_);
    std::memcpy(buf, data_.data() + pos_, k);
    pos_ += k;
    return k;
  }

 private:
  std::string_view data_;
  Status error_;
  size_t pos_ = 0;
};

}  // namespace chukan::replica_io::testing

#endif  // CHUKAN_REPLICA_IO_TEST_SOURCES_H_
