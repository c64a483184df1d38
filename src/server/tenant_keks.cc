#include "server/tenant_keks.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "crypto/bytes.h"
#include "crypto/key_file.h"
#include "crypto/key_wrap.h"

namespace chukan::server {
namespace {

constexpr size_t kMasterBytes = 32;
// The longest file there is: the hex of a wrapped 32-byte key and a newline.
constexpr size_t kWrappedBytes = TenantKeks::kKekBytes + crypto::kKeyWrapOverheadBytes;
constexpr std::string_view kKekSuffix = ".kek";
// The random part of a KEK file's name (8 bytes, as hex): unique per registration.
constexpr size_t kFileNonceHexDigits = 16;

std::string KekId(std::string_view tenant) { return "tenant-kek:" + std::string(tenant) + ":v1"; }

std::string Errno(const std::string& path, const char* what) {
  return path + ": " + what + ": " + std::strerror(errno);
}

// flock(2) on the key directory's lock file for the lifetime of the object: shared for KEK
// operations, exclusive for a rotation. flock locks belong to the open file description, so
// two threads of one process exclude each other as two processes do.
class KeyDirLock {
 public:
  static Result<KeyDirLock> Acquire(const std::string& path, bool exclusive) {
    RETURN_IF_ERROR(crypto::MakePrivateDirectory(std::filesystem::path(path).parent_path()));
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return InternalError(Errno(path, "cannot open the key directory's lock file"));
    int rc;
    do {
      rc = ::flock(fd, exclusive ? LOCK_EX : LOCK_SH);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      Status s = InternalError(Errno(path, "cannot lock the key directory"));
      ::close(fd);
      return s;
    }
    return KeyDirLock(fd);
  }
  KeyDirLock(KeyDirLock&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  KeyDirLock& operator=(KeyDirLock&&) = delete;
  ~KeyDirLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }

 private:
  explicit KeyDirLock(int fd) : fd_(fd) {}
  int fd_;
};

Result<crypto::SecretBytes> ReadMaster(const std::string& path) {
  Result<crypto::SecretBytes> key = crypto::LoadOrCreateKeyFile(path, kMasterBytes, false);
  if (!key.ok() && key.status().code() == StatusCode::kNotFound) {
    return FailedPreconditionError(path + ": the platform master key is missing");
  }
  return key;
}

// Parses a KEK file's text (one line of hex) into the wrapped KEK.
Result<crypto::Bytes> ParseKekFile(const std::string& path, const crypto::SecretBytes& text) {
  std::string_view hex = text.AsStringView();
  if (!hex.empty() && hex.back() == '\n') hex.remove_suffix(1);
  Result<crypto::Bytes> wrapped = crypto::FromHex(hex);
  if (!wrapped.ok() || wrapped->size() != kWrappedBytes) {
    return DataLossError(path + ": not a key-encryption key file (expected " +
                         std::to_string(2 * kWrappedBytes) + " hex characters)");
  }
  return wrapped;
}

Result<crypto::SecretBytes> ReadKekFile(const std::string& path) {
  return crypto::ReadSecretFile(path, 2 * kWrappedBytes + 2, "key-encryption key file");
}

std::vector<uint8_t> HexLine(const crypto::Bytes& wrapped) {
  const std::string text = crypto::ToHex(wrapped) + "\n";
  return {text.begin(), text.end()};
}

}  // namespace

TenantKeks::TenantKeks(std::string master_path, std::string dir)
    : master_path_(std::move(master_path)),
      lock_path_((std::filesystem::path(master_path_).parent_path() / "master.lock").string()),
      dir_(std::move(dir)) {}

Result<std::vector<crypto::SecretBytes>> TenantKeks::Masters() const {
  std::vector<crypto::SecretBytes> masters;
  ASSIGN_OR_RETURN(crypto::SecretBytes current, ReadMaster(master_path_));
  masters.push_back(std::move(current));
  Result<crypto::SecretBytes> next =
      crypto::LoadOrCreateKeyFile(NextMasterPath(), kMasterBytes, false);
  if (next.ok()) {
    masters.push_back(std::move(*next));
  } else if (next.status().code() != StatusCode::kNotFound) {
    return next.status();
  }
  return masters;
}

Result<std::string> TenantKeks::PathFor(const TenantId& tenant, std::string_view file) const {
  if (file.empty()) return dir_ + "/" + tenant.str() + std::string(kKekSuffix);
  // "<tenant id>.<16 lowercase hex digits>.kek", nothing else: the name comes from a database
  // row, and must not lead to another tenant's file or out of the directory.
  const std::string prefix = tenant.str() + ".";
  const bool ok =
      file.size() == prefix.size() + kFileNonceHexDigits + kKekSuffix.size() &&
      file.starts_with(prefix) && file.ends_with(kKekSuffix) &&
      std::all_of(file.begin() + static_cast<std::ptrdiff_t>(prefix.size()),
                  file.end() - static_cast<std::ptrdiff_t>(kKekSuffix.size()),
                  [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  if (!ok) {
    return DataLossError("tenant " + tenant.str() +
                         ": its row names a key-encryption key file that is not one of its own");
  }
  return dir_ + "/" + std::string(file);
}

Result<crypto::SecretBytes> TenantKeks::LoadLocked(
    const std::string& path, const std::string& tenant,
    const std::vector<crypto::SecretBytes>& masters) const {
  Result<crypto::SecretBytes> text = ReadKekFile(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return NotFoundError(path + ": the tenant's key-encryption key is missing");
    }
    return text.status();
  }
  ASSIGN_OR_RETURN(crypto::Bytes wrapped, ParseKekFile(path, *text));
  for (const crypto::SecretBytes& master : masters) {
    Result<crypto::SecretBytes> kek = crypto::UnwrapKey(master, wrapped, KekId(tenant));
    if (kek.ok()) return kek;
  }
  return DataLossError(path + ": does not open under the master key for tenant " + tenant);
}

Result<crypto::SecretBytes> TenantKeks::Load(const TenantId& tenant, std::string_view file) const {
  ASSIGN_OR_RETURN(const std::string path, PathFor(tenant, file));
  ASSIGN_OR_RETURN(KeyDirLock lock, KeyDirLock::Acquire(lock_path_, /*exclusive=*/false));
  ASSIGN_OR_RETURN(std::vector<crypto::SecretBytes> masters, Masters());
  return LoadLocked(path, tenant.str(), masters);
}

Result<TenantKeks::NewKek> TenantKeks::Create(const TenantId& tenant) const {
  ASSIGN_OR_RETURN(KeyDirLock lock, KeyDirLock::Acquire(lock_path_, /*exclusive=*/false));
  ASSIGN_OR_RETURN(std::vector<crypto::SecretBytes> masters, Masters());
  NewKek made{.file = tenant.str() + "." +
                      crypto::ToHex(crypto::RandomBytes(kFileNonceHexDigits / 2)) +
                      std::string(kKekSuffix),
              .kek = crypto::SecretBytes::Random(kKekBytes)};
  ASSIGN_OR_RETURN(crypto::Bytes wrapped,
                   crypto::WrapKey(masters.front(), made.kek, KekId(tenant.str())));
  RETURN_IF_ERROR(
      crypto::WriteSecretFileAtomically(dir_ + "/" + made.file, HexLine(wrapped), true));
  return made;
}

Result<crypto::SecretBytes> TenantKeks::LoadOrCreateTransferKey(bool create, bool* created) const {
  if (created != nullptr) *created = false;
  const std::string path = dir_ + "/transfer.kek";
  ASSIGN_OR_RETURN(KeyDirLock lock, KeyDirLock::Acquire(lock_path_, /*exclusive=*/false));
  ASSIGN_OR_RETURN(std::vector<crypto::SecretBytes> masters, Masters());
  Result<crypto::SecretBytes> key = LoadLocked(path, "transfer", masters);
  if (key.ok() || key.status().code() != StatusCode::kNotFound) return key;
  if (!create) {
    return NotFoundError(path +
                         ": the platform has no transfer key (`chukan platform "
                         "transfer-key` makes it)");
  }
  crypto::SecretBytes made = crypto::SecretBytes::Random(kKekBytes);
  ASSIGN_OR_RETURN(crypto::Bytes wrapped,
                   crypto::WrapKey(masters.front(), made, KekId("transfer")));
  Status written = crypto::WriteSecretFileAtomically(path, HexLine(wrapped), /*exclusive=*/true);
  if (written.code() == StatusCode::kAlreadyExists) return LoadLocked(path, "transfer", masters);
  RETURN_IF_ERROR(written);
  if (created != nullptr) *created = true;
  return made;
}

Status TenantKeks::Destroy(const TenantId& tenant, std::string_view file) const {
  ASSIGN_OR_RETURN(const std::string path, PathFor(tenant, file));
  ASSIGN_OR_RETURN(KeyDirLock lock, KeyDirLock::Acquire(lock_path_, /*exclusive=*/false));
  return crypto::DestroySecretFile(path);
}

Result<crypto::SecretBytes> TenantKeks::UnwrapUnderMaster(std::span<const uint8_t> wrapped,
                                                          std::string_view key_id) const {
  ASSIGN_OR_RETURN(KeyDirLock lock, KeyDirLock::Acquire(lock_path_, /*exclusive=*/false));
  ASSIGN_OR_RETURN(std::vector<crypto::SecretBytes> masters, Masters());
  for (const crypto::SecretBytes& master : masters) {
    Result<crypto::SecretBytes> key = crypto::UnwrapKey(master, wrapped, key_id);
    if (key.ok()) return key;
  }
  return DataLossError(std::string(key_id) + ": does not open under the master key");
}

Result<TenantKeks::Rotation> TenantKeks::RotateMaster(const RotateOptions& options) const {
  ASSIGN_OR_RETURN(KeyDirLock lock, KeyDirLock::Acquire(lock_path_, /*exclusive=*/true));
  ASSIGN_OR_RETURN(crypto::SecretBytes old_master, ReadMaster(master_path_));
  // An interrupted rotation's new key is kept: KEK files already under it stay valid.
  ASSIGN_OR_RETURN(crypto::SecretBytes new_master,
                   crypto::LoadOrCreateKeyFile(NextMasterPath(), kMasterBytes, true));
  Rotation done;
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  if (std::filesystem::exists(dir_, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
      files.push_back(entry.path());
    }
    if (ec) return InternalError(dir_ + ": cannot list the key directory: " + ec.message());
  }
  std::sort(files.begin(), files.end());
  for (const std::filesystem::path& file : files) {
    const std::string path = file.string();
    const std::string name = file.filename().string();
    if (name.find(".tmp-") != std::string::npos) {
      // A write that a crash interrupted; under whichever key, it is nobody's KEK.
      RETURN_IF_ERROR(crypto::DestroySecretFile(path));
      continue;
    }
    if (!name.ends_with(kKekSuffix)) continue;
    const std::string tenant = name.substr(0, name.find('.'));
    const std::string kek_id = KekId(tenant);
    ASSIGN_OR_RETURN(crypto::SecretBytes text, ReadKekFile(path));
    ASSIGN_OR_RETURN(crypto::Bytes wrapped, ParseKekFile(path, text));
    if (crypto::UnwrapKey(new_master, wrapped, kek_id).ok()) {
      ++done.already;
      continue;
    }
    Result<crypto::SecretBytes> kek = crypto::UnwrapKey(old_master, wrapped, kek_id);
    if (!kek.ok()) {
      return DataLossError(path +
                           ": opens under neither the current master key nor the new one; the "
                           "rotation stopped here and both keys are kept");
    }
    if (options.stop_after >= 0 && done.rewrapped >= options.stop_after) {
      return AbortedError("master-key rotation stopped after " + std::to_string(done.rewrapped) +
                          " files (test)");
    }
    ASSIGN_OR_RETURN(crypto::Bytes rewrapped, crypto::WrapKey(new_master, *kek, kek_id));
    RETURN_IF_ERROR(crypto::WriteSecretFileAtomically(path, HexLine(rewrapped), false));
    ++done.rewrapped;
  }
  // Every KEK opens under the new key: it becomes the master key. Written over the old key's
  // bytes in place (same length), so that they are overwritten rather than left in a block the
  // file system frees; a crash before the sync leaves the old or the new key there, and
  // master.key.next still holds the new one.
  {
    const crypto::SecretBytes text = crypto::KeyFileContents(new_master);
    const int fd = ::open(master_path_.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return InternalError(Errno(master_path_, "cannot open the master key file"));
    size_t put = 0;
    Status s;
    while (put < text.size()) {
      const ssize_t n = ::pwrite(fd, text.data() + put, text.size() - put, static_cast<off_t>(put));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        s = InternalError(Errno(master_path_, "cannot write the master key file"));
        break;
      }
      put += static_cast<size_t>(n);
    }
    if (s.ok() && ::ftruncate(fd, static_cast<off_t>(text.size())) != 0) {
      s = InternalError(Errno(master_path_, "cannot truncate the master key file"));
    }
    if (s.ok() && ::fsync(fd) != 0) {
      s = InternalError(Errno(master_path_, "cannot sync the master key file"));
    }
    ::close(fd);
    RETURN_IF_ERROR(s);
  }
  RETURN_IF_ERROR(crypto::DestroySecretFile(NextMasterPath()));
  return done;
}

}  // namespace chukan::server
