#include "crypto/file_stream.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

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

}  // namespace

Result<FileStreamInfo> EncryptFileStream(const std::string& in_path, const std::string& out_path,
                                         const SecretBytes& key, std::string_view ad) {
  RETURN_IF_ERROR(EnsureInitialized());
  if (key.size() != kFileStreamKeyBytes) {
    return InvalidArgumentError("file stream key must be 32 bytes");
  }
  ASSIGN_OR_RETURN(int in_fd, OpenIn(in_path));
  Fd in(in_fd);
  ASSIGN_OR_RETURN(int out_fd, CreateOut(out_path));
  Fd out(out_fd);
  RemoveOnError cleanup(out_path);

  StreamState state;
  uint8_t header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
  crypto_secretstream_xchacha20poly1305_init_push(&state.s, header, key.data());
  const Bytes full_ad = FullAd(ad);
  Blake2bHasher hash;
  FileStreamInfo info;
  auto emit = [&](const uint8_t* p, size_t n) -> Status {
    if (!WriteFull(out.get(), p, n)) return InternalError(Errno(out_path, "write"));
    hash.Update(std::span<const uint8_t>(p, n));
    info.cipher_bytes += static_cast<int64_t>(n);
    return Status();
  };
  uint8_t prefix[kPrefixBytes];
  std::memcpy(prefix, kMagic, sizeof(kMagic));
  prefix[sizeof(kMagic)] = kVersion;
  RETURN_IF_ERROR(emit(prefix, sizeof(prefix)));
  RETURN_IF_ERROR(emit(header, sizeof(header)));

  // The plaintext buffer holds database pages: wiped when done (SecretBytes).
  SecretBytes plain(kFileStreamChunkBytes);
  std::vector<uint8_t> cipher(kCipherChunkBytes);
  // One chunk is read ahead, so that the last one (possibly empty) carries the FINAL tag.
  ssize_t n = ReadFull(in.get(), plain.data(), kFileStreamChunkBytes);
  while (true) {
    if (n < 0) return InternalError(Errno(in_path, "read"));
    const bool last = static_cast<size_t>(n) < kFileStreamChunkBytes;
    const uint8_t tag = last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0;
    unsigned long long clen = 0;
    crypto_secretstream_xchacha20poly1305_push(&state.s, cipher.data(), &clen, plain.data(),
                                               static_cast<unsigned long long>(n), full_ad.data(),
                                               full_ad.size(), tag);
    info.plain_bytes += n;
    RETURN_IF_ERROR(emit(cipher.data(), static_cast<size_t>(clen)));
    if (last) break;
    n = ReadFull(in.get(), plain.data(), kFileStreamChunkBytes);
  }
  RETURN_IF_ERROR(SyncAndClose(out, out_path));
  info.cipher_blake2b = hash.Finish();
  cleanup.Keep();
  return info;
}

Result<FileStreamInfo> DecryptFileStream(const std::string& in_path, const std::string& out_path,
                                         const SecretBytes& key, std::string_view ad) {
  RETURN_IF_ERROR(EnsureInitialized());
  if (key.size() != kFileStreamKeyBytes) {
    return InvalidArgumentError("file stream key must be 32 bytes");
  }
  ASSIGN_OR_RETURN(int in_fd, OpenIn(in_path));
  Fd in(in_fd);
  Blake2bHasher hash;
  FileStreamInfo info;
  auto take = [&](uint8_t* p, size_t n) -> Result<size_t> {
    const ssize_t r = ReadFull(in.get(), p, n);
    if (r < 0) return InternalError(Errno(in_path, "read"));
    hash.Update(std::span<const uint8_t>(p, static_cast<size_t>(r)));
    info.cipher_bytes += r;
    return static_cast<size_t>(r);
  };
  uint8_t prefix[kPrefixBytes + crypto_secretstream_xchacha20poly1305_HEADERBYTES];
  ASSIGN_OR_RETURN(size_t got, take(prefix, sizeof(prefix)));
  if (got < sizeof(prefix) || std::memcmp(prefix, kMagic, sizeof(kMagic)) != 0) {
    return DataLossError(in_path + ": not an encrypted chukan file (magic)");
  }
  if (prefix[sizeof(kMagic)] != kVersion) {
    return DataLossError(in_path + ": unknown encrypted file version " +
                         std::to_string(prefix[sizeof(kMagic)]));
  }
  StreamState state;
  if (crypto_secretstream_xchacha20poly1305_init_pull(&state.s, prefix + kPrefixBytes,
                                                      key.data()) != 0) {
    return DataLossError(in_path + ": invalid stream header");
  }
  ASSIGN_OR_RETURN(int out_fd, CreateOut(out_path));
  Fd out(out_fd);
  RemoveOnError cleanup(out_path);
  const Bytes full_ad = FullAd(ad);
  std::vector<uint8_t> cipher(kCipherChunkBytes);
  SecretBytes plain(kFileStreamChunkBytes);
  int64_t chunk = 0;
  while (true) {
    ASSIGN_OR_RETURN(size_t n, take(cipher.data(), cipher.size()));
    if (n < crypto_secretstream_xchacha20poly1305_ABYTES) {
      return DataLossError(in_path + ": cut short before its final chunk (chunk " +
                           std::to_string(chunk) + ")");
    }
    unsigned long long mlen = 0;
    uint8_t tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(&state.s, plain.data(), &mlen, &tag,
                                                   cipher.data(), n, full_ad.data(),
                                                   full_ad.size()) != 0) {
      return DataLossError(in_path + ": authentication failed at chunk " + std::to_string(chunk) +
                           " (altered, or another key or file)");
    }
    const bool final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    // A full-size chunk that is FINAL, or a short one that is not, is not what
    // EncryptFileStream writes.
    if (final != (n < cipher.size())) {
      if (!final) {
        return DataLossError(in_path + ": cut short before its final chunk (chunk " +
                             std::to_string(chunk) + ")");
      }
      uint8_t extra = 0;
      ASSIGN_OR_RETURN(size_t more, take(&extra, 1));
      if (more != 0) return DataLossError(in_path + ": bytes after the final chunk");
    }
    if (!WriteFull(out.get(), plain.data(), static_cast<size_t>(mlen))) {
      return InternalError(Errno(out_path, "write"));
    }
    info.plain_bytes += static_cast<int64_t>(mlen);
    ++chunk;
    if (final) break;
  }
  RETURN_IF_ERROR(SyncAndClose(out, out_path));
  info.cipher_blake2b = hash.Finish();
  cleanup.Keep();
  return info;
}

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
