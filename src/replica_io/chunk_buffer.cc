#include "replica_io/chunk_buffer.h"

#include <algorithm>
#include <cstring>

namespace chukan::replica_io {

Result<size_t> ChunkBuffer::Refill(size_t keep_from, size_t* shift) {
  *shift = 0;
  if (eof_) return size_t{0};
  // Compact only when the tail is short of room, so a source that returns a few bytes at a time
  // does not make us move the same record over and over.
  if (data_.size() - end_ < kChunk / 2 && keep_from > 0) {
    const size_t kept = end_ - keep_from;
    if (kept > 0) std::memmove(data_.data(), data_.data() + keep_from, kept);
    end_ = kept;
    *shift = keep_from;
  }
  if (data_.size() - end_ < kChunk / 2) {
    data_.resize(std::min(limit_, data_.empty() ? kChunk : data_.size() * 2));
  }
  if (end_ == data_.size()) {
    return InternalError("replica_io: read buffer full (a reader kept more than its limit)");
  }
  ASSIGN_OR_RETURN(const size_t got, src_.Read(data_.data() + end_, data_.size() - end_));
  if (got == 0) eof_ = true;
  end_ += got;
  return got;
}

}  // namespace chukan::replica_io
