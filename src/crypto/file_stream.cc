#include "crypto/file_stream.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "crypto/hash.h"
#include "crypto/sodium_init.h"

namespace chukan::crypto {
namespace {

constexpr char kMagic[8] = {'C', 'H', 'U', 'K', 'A', 'N', 'S', 'F'};
constexpr uint8_t kVersion = 1;
constexpr size_t kPrefixBytes = sizeof(kMagic) + 1;
constexpr size_t kCipherChunkBytes =
    kFileStreamChunkBytes + crypto_secretstream_xchacha20poly1305_ABYTES;
constexpr std::string_view kAdContext("chukan/file-stream/v1\0", 22);

static_assert(crypto_secretstream_xchacha20poly1305_KEYBYTES == kFileStreamKeyBytes);

std::string Errno(const std::string& path, const char* what) {
  return path + ": " + what + ": " + std::strerror(errno);
}

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // close() reports late write errors (NFS); checked before a file counts as written.
  bool Close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

// Removes `path` when destroyed unless Keep() was called: a failed encryption or decryption
// leaves no output behind.
class RemoveOnError {
 public:
  explicit RemoveOnError(std::string path) : path_(std::move(path)) {}
  ~RemoveOnError() {
    if (!keep_) ::unlink(path_.c_str());
  }
  void Keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

// Reads until `n` bytes or end of file; returns how many were read, or -1 (errno set).
ssize_t ReadFull(int fd, uint8_t* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, buf + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(got);
}

bool WriteFull(int fd, const uint8_t* buf, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, buf, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    buf += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

Result<int> OpenIn(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError(path + ": no such file");
    return InternalError(Errno(path, "cannot open"));
  }
  return fd;
}

Result<int> CreateOut(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return AlreadyExistsError(path + ": already exists");
    return InternalError(Errno(path, "cannot create"));
  }
  return fd;
}

Status SyncAndClose(Fd& out, const std::string& path) {
  if (::fsync(out.get()) != 0) return InternalError(Errno(path, "fsync"));
  if (!out.Close()) return InternalError(Errno(path, "close"));
  return Status();
}

// The stream state holds the key schedule: wiped however the function returns.
struct StreamState {
  crypto_secretstream_xchacha20poly1305_state s;
  ~StreamState() { sodium_memzero(&s, sizeof(s)); }
};

Bytes FullAd(std::string_view ad) {
  Bytes full(kAdContext.begin(), kAdContext.end());
  full.insert(full.end(), ad.begin(), ad.end());
  return full;
}

// Fills the chunk buffer `plain` (its first `fill` bytes taken) from `data`, calling `push` each
// time it is full — so that the final chunk is always short (possibly empty), as the readers
// expect. For FileStreamWriter and TempStream.
template <typename Push>
Status FillChunks(std::span<const uint8_t> data, SecretBytes& plain, size_t& fill, Push push) {
  while (!data.empty()) {
    const size_t n = std::min(data.size(), kFileStreamChunkBytes - fill);
    std::memcpy(plain.data() + fill, data.data(), n);
    fill += n;
    data = data.subspan(n);
    if (fill == kFileStreamChunkBytes) RETURN_IF_ERROR(push());
  }
  return Status();
}

// Fills `out` from the opened chunk `plain` [pos, len), calling `next` for the next chunk when
// one is used up, until `out` is full or the stream is `done`. For FileStreamReader and
// TempStream.
template <typename Next>
Result<size_t> DrainChunks(std::span<uint8_t> out, const SecretBytes& plain, size_t& pos,
                           const size_t& len, const bool& done, Next next) {
  size_t got = 0;
  while (got < out.size()) {
    if (pos == len) {
      if (done) break;
      RETURN_IF_ERROR(next());
      continue;
    }
    const size_t n = std::min(out.size() - got, len - pos);
    std::memcpy(out.data() + got, plain.data() + pos, n);
    pos += n;
    got += n;
  }
  return got;
}

}  // namespace

struct FileStreamWriter::State {
  explicit State(int fd, std::string p) : out(fd), path(std::move(p)) {}
  Fd out;
  std::string path;
  StreamState stream;
  Bytes full_ad;
  Blake2bHasher hash;
  FileStreamInfo info;
  // The plaintext buffer: wiped when done (SecretBytes).
  SecretBytes plain{kFileStreamChunkBytes};
  size_t fill = 0;
  std::vector<uint8_t> cipher = std::vector<uint8_t>(kCipherChunkBytes);
  bool finished = false;

  Status Emit(const uint8_t* p, size_t n) {
    if (!WriteFull(out.get(), p, n)) return InternalError(Errno(path, "write"));
    hash.Update(std::span<const uint8_t>(p, n));
    info.cipher_bytes += static_cast<int64_t>(n);
    return Status();
  }
};

FileStreamWriter::FileStreamWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}

FileStreamWriter::~FileStreamWriter() {
  if (state_ && !state_->finished) ::unlink(state_->path.c_str());
}

Result<std::unique_ptr<FileStreamWriter>> FileStreamWriter::Open(const std::string& path,
                                                                 const SecretBytes& key,
                                                                 std::string_view ad, bool append) {
  RETURN_IF_ERROR(EnsureInitialized());
  if (key.size() != kFileStreamKeyBytes) {
    return InvalidArgumentError("file stream key must be 32 bytes");
  }
  int fd = -1;
  if (append) {
    fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      if (errno == ENOENT) return NotFoundError(path + ": no such file");
      return InternalError(Errno(path, "cannot open"));
    }
  } else {
    ASSIGN_OR_RETURN(fd, CreateOut(path));
  }
  auto state = std::make_unique<State>(fd, path);
  std::unique_ptr<FileStreamWriter> w(new FileStreamWriter(std::move(state)));
  State& st = *w->state_;
  uint8_t header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
  crypto_secretstream_xchacha20poly1305_init_push(&st.stream.s, header, key.data());
  st.full_ad = FullAd(ad);
  uint8_t prefix[kPrefixBytes];
  std::memcpy(prefix, kMagic, sizeof(kMagic));
  prefix[sizeof(kMagic)] = kVersion;
  RETURN_IF_ERROR(st.Emit(prefix, sizeof(prefix)));
  RETURN_IF_ERROR(st.Emit(header, sizeof(header)));
  return w;
}

Status FileStreamWriter::Push(bool final) {
  State& st = *state_;
  unsigned long long clen = 0;
  crypto_secretstream_xchacha20poly1305_push(
      &st.stream.s, st.cipher.data(), &clen, st.plain.data(),
      static_cast<unsigned long long>(st.fill), st.full_ad.data(), st.full_ad.size(),
      final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
  st.info.plain_bytes += static_cast<int64_t>(st.fill);
  st.fill = 0;
  return st.Emit(st.cipher.data(), static_cast<size_t>(clen));
}

Status FileStreamWriter::Write(std::span<const uint8_t> data) {
  State& st = *state_;
  if (st.finished) return FailedPreconditionError(st.path + ": stream already finished");
  return FillChunks(data, st.plain, st.fill, [this] { return Push(false); });
}

Result<FileStreamInfo> FileStreamWriter::Finish() {
  State& st = *state_;
  if (st.finished) return FailedPreconditionError(st.path + ": stream already finished");
  RETURN_IF_ERROR(Push(true));
  RETURN_IF_ERROR(SyncAndClose(st.out, st.path));
  st.info.cipher_blake2b = st.hash.Finish();
  st.finished = true;
  return st.info;
}

Result<FileStreamInfo> EncryptFileStream(const std::string& in_path, const std::string& out_path,
                                         const SecretBytes& key, std::string_view ad) {
  RETURN_IF_ERROR(EnsureInitialized());
  if (key.size() != kFileStreamKeyBytes) {
    return InvalidArgumentError("file stream key must be 32 bytes");
  }
  ASSIGN_OR_RETURN(int in_fd, OpenIn(in_path));
  Fd in(in_fd);
  ASSIGN_OR_RETURN(std::unique_ptr<FileStreamWriter> out,
                   FileStreamWriter::Open(out_path, key, ad));
  // The plaintext buffer holds database pages: wiped when done (SecretBytes).
  SecretBytes plain(kFileStreamChunkBytes);
  while (true) {
    const ssize_t n = ReadFull(in.get(), plain.data(), kFileStreamChunkBytes);
    if (n < 0) return InternalError(Errno(in_path, "read"));
    if (n == 0) break;
    RETURN_IF_ERROR(out->Write(std::span<const uint8_t>(plain.data(), static_cast<size_t>(n))));
  }
  return out->Finish();
}

struct FileStreamReader::State {
  explicit State(int fd, std::string p) : in(fd), path(std::move(p)) {}
  Fd in;
  std::string path;
  StreamState stream;
  Bytes full_ad;
  Blake2bHasher hash;
  FileStreamInfo info;
  std::vector<uint8_t> cipher = std::vector<uint8_t>(kCipherChunkBytes);
  SecretBytes plain{kFileStreamChunkBytes};
  size_t pos = 0;
  size_t len = 0;
  int64_t chunk = 0;
  bool done = false;

  Result<size_t> Take(uint8_t* p, size_t n) {
    const ssize_t r = ReadFull(in.get(), p, n);
    if (r < 0) return InternalError(Errno(path, "read"));
    hash.Update(std::span<const uint8_t>(p, static_cast<size_t>(r)));
    info.cipher_bytes += r;
    return static_cast<size_t>(r);
  }
};

FileStreamReader::FileStreamReader(std::unique_ptr<State> state) : state_(std::move(state)) {}
FileStreamReader::~FileStreamReader() = default;

Result<std::unique_ptr<FileStreamReader>> FileStreamReader::Open(const std::string& path,
                                                                 int64_t offset,
                                                                 const SecretBytes& key,
                                                                 std::string_view ad) {
  RETURN_IF_ERROR(EnsureInitialized());
  if (key.size() != kFileStreamKeyBytes) {
    return InvalidArgumentError("file stream key must be 32 bytes");
  }
  ASSIGN_OR_RETURN(int fd, OpenIn(path));
  auto state = std::make_unique<State>(fd, path);
  if (offset < 0 || ::lseek(fd, static_cast<off_t>(offset), SEEK_SET) != offset) {
    return DataLossError(path + ": cut short before its encrypted stream");
  }
  State& st = *state;
  uint8_t prefix[kPrefixBytes + crypto_secretstream_xchacha20poly1305_HEADERBYTES];
  ASSIGN_OR_RETURN(size_t got, st.Take(prefix, sizeof(prefix)));
  if (got < sizeof(prefix) || std::memcmp(prefix, kMagic, sizeof(kMagic)) != 0) {
    return DataLossError(path + ": not an encrypted chukan file (magic)");
  }
  if (prefix[sizeof(kMagic)] != kVersion) {
    return DataLossError(path + ": unknown encrypted file version " +
                         std::to_string(prefix[sizeof(kMagic)]));
  }
  if (crypto_secretstream_xchacha20poly1305_init_pull(&st.stream.s, prefix + kPrefixBytes,
                                                      key.data()) != 0) {
    return DataLossError(path + ": invalid stream header");
  }
  st.full_ad = FullAd(ad);
  return std::unique_ptr<FileStreamReader>(new FileStreamReader(std::move(state)));
}

Status FileStreamReader::NextChunk() {
  State& st = *state_;
  ASSIGN_OR_RETURN(size_t n, st.Take(st.cipher.data(), st.cipher.size()));
  if (n < crypto_secretstream_xchacha20poly1305_ABYTES) {
    return DataLossError(st.path + ": cut short before its final chunk (chunk " +
                         std::to_string(st.chunk) + ")");
  }
  unsigned long long mlen = 0;
  uint8_t tag = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(&st.stream.s, st.plain.data(), &mlen, &tag,
                                                 st.cipher.data(), n, st.full_ad.data(),
                                                 st.full_ad.size()) != 0) {
    return DataLossError(st.path + ": authentication failed at chunk " + std::to_string(st.chunk) +
                         " (altered, or another key or file)");
  }
  const bool final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  // A short chunk that is not FINAL is not what the writer writes: the file was cut.
  if (!final && n < st.cipher.size()) {
    return DataLossError(st.path + ": cut short before its final chunk (chunk " +
                         std::to_string(st.chunk) + ")");
  }
  if (final) {
    // Nothing may follow the final chunk.
    uint8_t extra = 0;
    ASSIGN_OR_RETURN(size_t more, st.Take(&extra, 1));
    if (more != 0) return DataLossError(st.path + ": bytes after the final chunk");
    st.info.cipher_blake2b = st.hash.Finish();
    st.done = true;
  }
  st.info.plain_bytes += static_cast<int64_t>(mlen);
  st.pos = 0;
  st.len = static_cast<size_t>(mlen);
  ++st.chunk;
  return Status();
}

Result<size_t> FileStreamReader::Read(std::span<uint8_t> out) {
  State& st = *state_;
  return DrainChunks(out, st.plain, st.pos, st.len, st.done, [this] { return NextChunk(); });
}

FileStreamInfo FileStreamReader::info() const { return state_->info; }

Result<FileStreamInfo> DecryptFileStream(const std::string& in_path, const std::string& out_path,
                                         const SecretBytes& key, std::string_view ad) {
  ASSIGN_OR_RETURN(std::unique_ptr<FileStreamReader> in,
                   FileStreamReader::Open(in_path, 0, key, ad));
  ASSIGN_OR_RETURN(int out_fd, CreateOut(out_path));
  Fd out(out_fd);
  RemoveOnError cleanup(out_path);
  SecretBytes plain(kFileStreamChunkBytes);
  while (true) {
    ASSIGN_OR_RETURN(size_t n, in->Read(std::span<uint8_t>(plain.data(), plain.size())));
    if (n > 0 && !WriteFull(out.get(), plain.data(), n)) {
      return InternalError(Errno(out_path, "write"));
    }
    if (n < plain.size()) break;
  }
  RETURN_IF_ERROR(SyncAndClose(out, out_path));
  cleanup.Keep();
  return in->info();
}

struct TempStream::State {
  State(int fd, std::string d) : file(fd), dir(std::move(d)) {}
  Fd file;
  std::string dir;
  StreamState stream;
  SecretBytes key{kFileStreamKeyBytes};
  uint8_t header[crypto_secretstream_xchacha20poly1305_HEADERBYTES] = {};
  SecretBytes plain{kFileStreamChunkBytes};
  std::vector<uint8_t> cipher = std::vector<uint8_t>(kCipherChunkBytes);
  size_t fill = 0;  // writing: bytes in `plain`; reading: its end
  size_t pos = 0;   // reading: the next byte of `plain`
  int64_t written = 0;
  int64_t chunk = 0;
  bool reading = false;
  bool done = false;
  // A chunk's write failed: the stream has a hole, and every call from then on says so.
  bool broken = false;

  Status IoError(const char* what) const {
    return UnavailableError("temporary file in " + dir + ": " + what + ": " + std::strerror(errno));
  }
};

TempStream::TempStream(std::unique_ptr<State> state) : state_(std::move(state)) {}
TempStream::~TempStream() = default;

Result<std::unique_ptr<TempStream>> TempStream::Create(const std::string& dir) {
  RETURN_IF_ERROR(EnsureInitialized());
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    // No O_TMPFILE on this file system: a named file, unlinked at once.
    std::string path = dir + "/chukan-tmp-XXXXXX";
    fd = ::mkstemp(path.data());
    if (fd < 0) {
      return UnavailableError("cannot create a temporary file in " + dir + ": " +
                              std::strerror(errno));
    }
    ::unlink(path.c_str());
    ::fchmod(fd, 0600);
  }
  auto state = std::make_unique<State>(fd, dir);
  crypto_secretstream_xchacha20poly1305_keygen(state->key.data());
  crypto_secretstream_xchacha20poly1305_init_push(&state->stream.s, state->header,
                                                  state->key.data());
  return std::unique_ptr<TempStream>(new TempStream(std::move(state)));
}

Status TempStream::Push(bool final) {
  State& st = *state_;
  unsigned long long clen = 0;
  crypto_secretstream_xchacha20poly1305_push(
      &st.stream.s, st.cipher.data(), &clen, st.plain.data(),
      static_cast<unsigned long long>(st.fill), nullptr, 0,
      final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
  st.written += static_cast<int64_t>(st.fill);
  st.fill = 0;
  if (!WriteFull(st.file.get(), st.cipher.data(), static_cast<size_t>(clen))) {
    st.broken = true;
    return st.IoError("write");
  }
  return Status();
}

namespace {
Status Broken() { return FailedPreconditionError("temporary stream: a write failed before"); }
}  // namespace

Status TempStream::Write(std::span<const uint8_t> data) {
  State& st = *state_;
  if (st.broken) return Broken();
  if (st.reading) return FailedPreconditionError("temporary stream: written after Rewind");
  return FillChunks(data, st.plain, st.fill, [this] { return Push(false); });
}

Status TempStream::Rewind() {
  State& st = *state_;
  if (st.broken) return Broken();
  if (st.reading) return FailedPreconditionError("temporary stream: rewound twice");
  RETURN_IF_ERROR(Push(true));
  if (::lseek(st.file.get(), 0, SEEK_SET) != 0) return st.IoError("seek");
  if (crypto_secretstream_xchacha20poly1305_init_pull(&st.stream.s, st.header, st.key.data()) !=
      0) {
    return InternalError("temporary stream: invalid stream header");
  }
  st.reading = true;
  st.fill = 0;
  st.pos = 0;
  return Status();
}

Status TempStream::NextChunk() {
  State& st = *state_;
  const ssize_t r = ReadFull(st.file.get(), st.cipher.data(), st.cipher.size());
  if (r < 0) return st.IoError("read");
  const size_t n = static_cast<size_t>(r);
  const std::string at = " (chunk " + std::to_string(st.chunk) + ")";
  if (n < crypto_secretstream_xchacha20poly1305_ABYTES) {
    return DataLossError("temporary stream: cut short" + at);
  }
  unsigned long long mlen = 0;
  uint8_t tag = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(&st.stream.s, st.plain.data(), &mlen, &tag,
                                                 st.cipher.data(), n, nullptr, 0) != 0) {
    return DataLossError("temporary stream: authentication failed" + at);
  }
  const bool final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  if (!final && n < st.cipher.size()) return DataLossError("temporary stream: cut short" + at);
  st.done = final;
  st.fill = static_cast<size_t>(mlen);
  st.pos = 0;
  ++st.chunk;
  return Status();
}

Result<size_t> TempStream::Read(std::span<uint8_t> out) {
  State& st = *state_;
  if (st.broken) return Broken();
  if (!st.reading) return FailedPreconditionError("temporary stream: read before Rewind");
  return DrainChunks(out, st.plain, st.pos, st.fill, st.done, [this] { return NextChunk(); });
}

int64_t TempStream::plain_bytes() const {
  return state_->written + static_cast<int64_t>(state_->reading ? 0 : state_->fill);
}
int TempStream::descriptor_for_test() const { return state_->file.get(); }

Result<FileStreamInfo> HashFile(const std::string& path) {
  ASSIGN_OR_RETURN(int fd, OpenIn(path));
  Fd in(fd);
  Blake2bHasher hash;
  FileStreamInfo info;
  std::vector<uint8_t> buf(kCipherChunkBytes);
  while (true) {
    const ssize_t r = ReadFull(in.get(), buf.data(), buf.size());
    if (r < 0) return InternalError(Errno(path, "read"));
    if (r == 0) break;
    hash.Update(std::span<const uint8_t>(buf.data(), static_cast<size_t>(r)));
    info.cipher_bytes += r;
  }
  info.cipher_blake2b = hash.Finish();
  return info;
}

}  // namespace chukan::crypto
