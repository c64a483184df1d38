#include "crypto/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "crypto/bytes.h"

namespace chukan::crypto {
namespace {

std::string Errno(const std::string& path, const char* what) {
  return path + ": " + what + ": " + std::strerror(errno);
}

Status WriteAll(int fd, const std::string& path, const uint8_t* data, size_t size) {
  size_t put = 0;
  while (put < size) {
    const ssize_t n = ::write(fd, data + put, size - put);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return InternalError(Errno(path, "cannot write"));
    put += static_cast<size_t>(n);
  }
  return Status();
}

std::string DirOf(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

Result<SecretBytes> ReadKey(const std::string& path, size_t size) {
  // One line of hex plus an optional newline; a longer file is caught by the length check.
  ASSIGN_OR_RETURN(SecretBytes text, ReadSecretFile(path, 2 * size + 2, "key file"));
  std::string_view hex(text.AsStringView());
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
  crypto::SecretBytes key = crypto::SecretBytes::Random(size);
  // Written whole under a temporary name and linked into place: a process reading the key
  // meanwhile finds no file or the whole key, never a part of it.
  Status written = WriteSecretFileAtomically(path, KeyFileContents(key).span(), /*exclusive=*/true);
  if (written.code() == StatusCode::kAlreadyExists) return ReadKey(path, size);  // another won
  RETURN_IF_ERROR(written);
  return key;
}

SecretBytes KeyFileContents(const SecretBytes& key) {
  static constexpr char kDigits[] = "0123456789abcdef";
  SecretBytes line(2 * key.size() + 1);
  for (size_t i = 0; i < key.size(); ++i) {
    line.data()[2 * i] = static_cast<uint8_t>(kDigits[key.data()[i] >> 4]);
    line.data()[2 * i + 1] = static_cast<uint8_t>(kDigits[key.data()[i] & 0x0f]);
  }
  line.data()[2 * key.size()] = '\n';
  return line;
}

Result<SecretBytes> ReadSecretFile(const std::string& path, size_t max_bytes,
                                   const std::string& what) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError(path + ": " + what + " does not exist");
    return InternalError(Errno(path, ("cannot open the " + what).c_str()));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return InternalError(Errno(path, ("cannot stat the " + what).c_str()));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return PermissionDeniedError(path + ": " + what + " is accessible by group or others (mode " +
                                 std::to_string(st.st_mode & 0777) + " decimal); it must be 0600");
  }
  SecretBytes buf(max_bytes);
  size_t got = 0;
  while (got < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return InternalError(Errno(path, ("cannot read the " + what).c_str()));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  return SecretBytes::FromBytes(buf.span().first(got));
}

Status WriteSecretFileAtomically(const std::string& path, std::span<const uint8_t> contents,
                                 bool exclusive) {
  const std::string dir = DirOf(path);
  RETURN_IF_ERROR(MakePrivateDirectory(dir));
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);  // mode 0600
  if (fd < 0) return InternalError(Errno(path, "cannot create a temporary file"));
  Status s = WriteAll(fd, tmp, contents.data(), contents.size());
  if (s.ok() && ::fsync(fd) != 0) s = InternalError(Errno(tmp, "cannot sync"));
  if (::close(fd) != 0 && s.ok()) s = InternalError(Errno(tmp, "cannot close"));
  if (s.ok()) {
    if (exclusive) {
      if (::link(tmp.c_str(), path.c_str()) != 0) {
        s = errno == EEXIST ? AlreadyExistsError(path + ": exists")
                            : InternalError(Errno(path, "cannot create the file"));
      }
    } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
      s = InternalError(Errno(path, "cannot replace the file"));
    }
  }
  ::unlink(tmp.c_str());  // after a rename there is nothing left under this name
  RETURN_IF_ERROR(s);
  return SyncDirectory(dir);
}

Status DestroySecretFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return Status();
    return InternalError(Errno(path, "cannot open the file to destroy it"));
  }
  struct stat st {};
  Status s;
  if (::fstat(fd, &st) != 0) s = InternalError(Errno(path, "cannot stat the file"));
  if (s.ok()) {
    const std::vector<uint8_t> zeros(static_cast<size_t>(std::max<off_t>(st.st_size, 0)), 0);
    s = WriteAll(fd, path, zeros.data(), zeros.size());
  }
  if (s.ok() && ::fsync(fd) != 0) s = InternalError(Errno(path, "cannot sync the file"));
  ::close(fd);
  RETURN_IF_ERROR(s);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return InternalError(Errno(path, "cannot remove the file"));
  }
  return SyncDirectory(DirOf(path));
}

Status MakePrivateDirectory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return InternalError(dir + ": cannot create the key directory: " + ec.message());
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  if (ec) return InternalError(dir + ": cannot restrict the key directory: " + ec.message());
  return Status();
}

Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return InternalError(Errno(dir, "cannot open the directory"));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return InternalError(Errno(dir, "cannot sync the directory"));
  return Status();
}

}  // namespace chukan::crypto
