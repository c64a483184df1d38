#include "crypto/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "crypto/bytes.h"

namespace chukan::crypto {
namespace {

std::string Errno(const std::string& path, const char* what) {
  return path + ": " + what + ": " + std::strerror(errno);
}

Result<SecretBytes> ReadKey(const std::string& path, size_t size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError(path + ": key file does not exist");
    return InternalError(Errno(path, "cannot open key file"));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return InternalError(Errno(path, "cannot stat key file"));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return PermissionDeniedError(path + ": key file is accessible by group or others (mode " +
                                 std::to_string(st.st_mode & 0777) + " decimal); it must be 0600");
  }
  // One line of hex plus an optional newline.
  crypto::SecretBytes text(2 * size + 2);
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return InternalError(Errno(path, "cannot read key file"));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  std::string_view hex(text.AsStringView().substr(0, got));
  if (!hex.empty() && hex.back() == '\n') hex.remove_suffix(1);
  if (hex.size() != 2 * size) {
    return DataLossError(path + ": key file must hold " + std::to_string(2 * size) +
                         " hex characters");
  }
  Result<SecretBytes> key = crypto::SecretBytes::FromHex(hex);
  if (!key.ok()) return DataLossError(path + ": key file is not valid hex");
  return key;
}

}  // namespace

Result<SecretBytes> LoadOrCreateKeyFile(const std::string& path, size_t size, bool create) {
  Result<SecretBytes> existing = ReadKey(path, size);
  if (existing.ok() || existing.status().code() != StatusCode::kNotFound || !create) {
    return existing;
  }
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return InternalError(dir.string() + ": cannot create key directory: " + ec.message());
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
  }
  crypto::SecretBytes key = crypto::SecretBytes::Random(size);
  std::string hex = crypto::ToHex(key.span()) + "\n";
  struct Wipe {
    std::string& s;
    ~Wipe() { std::fill(s.begin(), s.end(), '\0'); }
  } wipe{hex};
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return ReadKey(path, size);  // another process created it first
    return InternalError(Errno(path, "cannot create key file"));
  }
  size_t put = 0;
  while (put < hex.size()) {
    const ssize_t n = ::write(fd, hex.data() + put, hex.size() - put);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      ::unlink(path.c_str());
      return InternalError(Errno(path, "cannot write key file"));
    }
    put += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(path.c_str());
    return InternalError(Errno(path, "cannot sync key file"));
  }
  return key;
}

}  // namespace chukan::crypto
