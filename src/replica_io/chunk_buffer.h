// ChunkBuffer (internal to replica_io): the read buffer under CsvReader and JsonLinesReader.
// Reads a ByteSource in large chunks and keeps the unconsumed tail (the record being parsed)
// contiguous, so that parsed fields can be views into it. Memory stays bounded because the
// readers cap what they keep (a record or line), and the buffer grows only to fit that.
//
// Thread-safety: single-threaded object.
#ifndef CHUKAN_REPLICA_IO_CHUNK_BUFFER_H_
#define CHUKAN_REPLICA_IO_CHUNK_BUFFER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/status.h"
#include "replica_io/byte_source.h"

namespace chukan::replica_io {

class ChunkBuffer {
 public:
  static constexpr size_t kChunk = 256 << 10;

  // `src` is owned by the caller and must outlive the buffer. The caller never keeps more than
  // `max_keep` bytes across a Refill; the buffer then never grows beyond max_keep + kChunk.
  ChunkBuffer(ByteSource& src, size_t max_keep)
      : src_(src), limit_(max_keep > SIZE_MAX - kChunk - 1 ? SIZE_MAX : max_keep + kChunk + 1) {}

  char* data() { return data_.data(); }
  const char* data() const { return data_.data(); }
  // Bytes [0, end()) are valid.
  size_t end() const { return end_; }
  // True once the source has reported end of input.
  bool eof() const { return eof_; }

  // Reads once more from the source, keeping bytes from `keep_from` on. To make room it may move
  // those bytes to the front: *shift receives how far they moved (subtract it from every position
  // the caller holds; 0 when nothing moved). Returns the bytes read; 0 means end of input.
  // Errors: those of the source (*shift is still set; the caller must stop reading);
  // kInternal if the caller kept more than max_keep bytes.
  Result<size_t> Refill(size_t keep_from, size_t* shift);

 private:
  ByteSource& src_;
  size_t limit_;
  std::vector<char> data_;
  size_t end_ = 0;
  bool eof_ = false;
};

}  // namespace chukan::replica_io

#endif  // CHUKAN_REPLICA_IO_CHUNK_BUFFER_H_
