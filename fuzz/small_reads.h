// A ByteSource over a string that hands out at most `max` bytes per Read, so a fuzz input can
// move the chunk boundaries of the readers it feeds. Shared by the fuzz targets.
#ifndef CHUKAN_FUZZ_SMALL_READS_H_
#define CHUKAN_FUZZ_SMALL_READS_H_

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string_view>

#include "replica_io/byte_source.h"

namespace chukan::fuzz {

class SmallReads final : public replica_io::ByteSource {
 public:
  SmallReads(std::string_view data, size_t max) : data_(data), max_(max) {}
  Result<size_t> Read(char* buf, size_t n) override {
    const size_t k = std::min({n, max_, data_.size() - pos_});
    if (k > 0) std::memcpy(buf, data_.data() + pos_, k);
    pos_ += k;
    return k;
  }

 private:
  std::string_view data_;
  size_t max_;
  size_t pos_ = 0;
};

}  // namespace chukan::fuzz

#endif  // CHUKAN_FUZZ_SMALL_READS_H_
