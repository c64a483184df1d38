// ByteSource: a pull-based stream of bytes feeding the replica import readers (CsvReader,
// JsonLinesReader), with implementations over memory (StringSource) and files (FileSource).
// The HTTP layer supplies a request-body source implementing the same interface.
//
// Thread-safety: a ByteSource is a single-threaded object; it may be moved between threads but
// must not be used from two threads at once.
#ifndef CHUKAN_REPLICA_IO_BYTE_SOURCE_H_
#define CHUKAN_REPLICA_IO_BYTE_SOURCE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace chukan::replica_io {

class ByteSource {
 public:
  virtual ~ByteSource() = default;

  // Reads up to `n` (≥ 1) bytes into `buf` (owned by the caller) and returns how many were read:
  // 0 means end of input (and every later call returns 0 again); a short read is not end of
  // input. May block (files, sockets). Errors are the implementation's (I/O, decoding); after an
  // error the source is unusable and the caller must stop reading.
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
};

// A source over bytes in memory, for tests and small inputs. The viewing constructor does not
// copy: the caller keeps `data` alive and unchanged for the life of the source. The owning
// constructor takes the string. Never fails.
class StringSource final : public ByteSource {
 public:
  explicit StringSource(std::string_view data) : data_(data) {}
  explicit StringSource(std::string&& owned) : owned_(std::move(owned)), data_(owned_) {}
  StringSource(const StringSource&) = delete;
  StringSource& operator=(const StringSource&) = delete;

  Result<size_t> Read(char* buf, size_t n) override;

 private:
  std::string owned_;
  std::string_view data_;
  size_t pos_ = 0;
};

// A source reading a file (or any readable descriptor) with read(2), no extra buffering — the
// readers already read in large chunks.
class FileSource final : public ByteSource {
  struct PrivateTag {};  // Only the factories can name it, yet make_unique still works.

 public:
  // Opens `path` read-only. Errors: kNotFound "<path>: no such file" when it does not exist;
  // kPermissionDenied "<path>: permission denied"; kInvalidArgument "<path>: is a directory";
  // kInternal "<path>: <strerror>" otherwise.
  static Result<std::unique_ptr<FileSource>> Open(const std::string& path);

  // Takes ownership of an open descriptor `fd` (closed on destruction); `name` is used in error
  // messages. Never fails.
  static std::unique_ptr<FileSource> FromFd(int fd, std::string name);

  FileSource(PrivateTag, int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  // Errors: kInternal "<path>: read: <strerror>" on an I/O error (EINTR is retried).
  Result<size_t> Read(char* buf, size_t n) override;

 private:
  int fd_;
  std::string name_;
};

}  // namespace chukan::replica_io

#endif  // CHUKAN_REPLICA_IO_BYTE_SOURCE_H_
