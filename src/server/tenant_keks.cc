#include "server/tenant_keks.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/key_wrap.h"

namespace chukan::server {
namespace {

// The longest file there is: the hex of a wrapped 32-byte key and a newline.
constexpr size_t kWrappedBytes = TenantKeks::kKekBytes + crypto::kKeyWrapOverheadBytes;

std::string KekId(const TenantId& tenant) { return "tenant-kek:" + tenant.str() + ":v1"; }

std::string Errno(const std::string& path, const char* what) {
  return path + ": " + what + ": " + std::strerror(errno);
}

Status WriteAll(int fd, const std::string& path, const char* data, size_t size) {
  size_t put = 0;
  while (put < size) {
    const ssize_t n = ::write(fd, data + put, size - put);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return InternalError(Errno(path, "cannot write"));
    put += static_cast<size_t>(n);
  }
  return Status();
}

Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return InternalError(Errno(dir, "cannot open the key directory"));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return InternalError(Errno(dir, "cannot sync the key directory"));
  return Status();
}

Status MakeDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return InternalError(dir + ": cannot create the key directory: " + ec.message());
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  if (ec) return InternalError(dir + ": cannot restrict the key directory: " + ec.message());
  return Status();
}

}  // namespace

Status TenantKeks::Write(const TenantId& tenant, const crypto::SecretBytes& kek,
                         bool exclusive) const {
  RETURN_IF_ERROR(MakeDir(dir_));
  ASSIGN_OR_RETURN(crypto::Bytes wrapped, crypto::WrapKey(master_, kek, KekId(tenant)));
  const std::string text = crypto::ToHex(wrapped) + "\n";
  const std::string path = PathFor(tenant);
  std::string tmp = path + ".tmp-XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);  // mode 0600
  if (fd < 0) return InternalError(Errno(path, "cannot create a temporary key file"));
  Status s = WriteAll(fd, tmp, text.data(), text.size());
  if (s.ok() && ::fsync(fd) != 0) s = InternalError(Errno(tmp, "cannot sync"));
  if (::close(fd) != 0 && s.ok()) s = InternalError(Errno(tmp, "cannot close"));
  if (s.ok()) {
    if (exclusive) {
      if (::link(tmp.c_str(), path.c_str()) != 0) {
        s = errno == EEXIST ? AlreadyExistsError(path + ": exists")
                            : InternalError(Errno(path, "cannot create the key file"));
      }
    } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
      s = InternalError(Errno(path, "cannot replace the key file"));
    }
  }
  ::unlink(tmp.c_str());  // after a rename there is nothing left under this name
  RETURN_IF_ERROR(s);
  return SyncDir(dir_);
}

Result<crypto::SecretBytes> TenantKeks::Load(const TenantId& tenant) const {
  const std::string path = PathFor(tenant);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      return NotFoundError(path + ": the tenant's key-encryption key is missing");
    }
    return InternalError(Errno(path, "cannot open the key file"));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return InternalError(Errno(path, "cannot stat the key file"));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return PermissionDeniedError(path +
                                 ": key file is accessible by group or others; it must "
                                 "be 0600");
  }
  std::string text(2 * kWrappedBytes + 2, '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return InternalError(Errno(path, "cannot read the key file"));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  text.resize(got);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  Result<crypto::Bytes> wrapped = crypto::FromHex(text);
  if (!wrapped.ok() || wrapped->size() != kWrappedBytes) {
    return DataLossError(path + ": not a key-encryption key file (expected " +
                         std::to_string(2 * kWrappedBytes) + " hex characters)");
  }
  Result<crypto::SecretBytes> kek = crypto::UnwrapKey(master_, *wrapped, KekId(tenant));
  if (!kek.ok()) {
    return DataLossError(path + ": does not open under the master key for tenant " + tenant.str());
  }
  return kek;
}

Result<crypto::SecretBytes> TenantKeks::LoadOrCreate(const TenantId& tenant) const {
  Result<crypto::SecretBytes> existing = Load(tenant);
  if (existing.ok() || existing.status().code() != StatusCode::kNotFound) return existing;
  crypto::SecretBytes kek = crypto::SecretBytes::Random(kKekBytes);
  Status written = Write(tenant, kek, /*exclusive=*/true);
  if (written.code() == StatusCode::kAlreadyExists) return Load(tenant);  // another was first
  RETURN_IF_ERROR(written);
  return kek;
}

Result<crypto::SecretBytes> TenantKeks::CreateFresh(const TenantId& tenant) const {
  RETURN_IF_ERROR(Destroy(tenant));
  crypto::SecretBytes kek = crypto::SecretBytes::Random(kKekBytes);
  RETURN_IF_ERROR(Write(tenant, kek, /*exclusive=*/false));
  return kek;
}

Status TenantKeks::Destroy(const TenantId& tenant) const {
  const std::string path = PathFor(tenant);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return Status();
    return InternalError(Errno(path, "cannot open the key file to destroy it"));
  }
  struct stat st {};
  Status s;
  if (::fstat(fd, &st) != 0) s = InternalError(Errno(path, "cannot stat the key file"));
  if (s.ok()) {
    const std::vector<char> zeros(static_cast<size_t>(std::max<off_t>(st.st_size, 0)), '\0');
    s = WriteAll(fd, path, zeros.data(), zeros.size());
  }
  if (s.ok() && ::fsync(fd) != 0) s = InternalError(Errno(path, "cannot sync the key file"));
  ::close(fd);
  RETURN_IF_ERROR(s);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return InternalError(Errno(path, "cannot remove the key file"));
  }
  return SyncDir(dir_);
}

}  // namespace chukan::server
