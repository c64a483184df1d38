#include "replica/import_spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace chukan::replica {
namespace {

constexpr uint32_t kMaxRecordBytes = 64 * 1024 * 1024;

std::string TempDir() {
  const char* d = std::getenv("TMPDIR");
  return d != nullptr && *d != '\0' ? std::string(d) : std::string("/tmp");
}

Status IoError(const char* what) {
  return UnavailableError(std::string("import spool: ") + what + ": " + std::strerror(errno));
}

}  // namespace

Result<std::unique_ptr<ImportSpool>> ImportSpool::Create() {
  const std::string dir = TempDir();
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    // No O_TMPFILE on this file system: a named file, unlinked at once.
    std::string path = dir + "/chukan-import-XXXXXX";
    fd = ::mkstemp(path.data());
    if (fd < 0) {
      return UnavailableError("import spool: cannot create a temporary file in " + dir + ": " +
                              std::strerror(errno));
    }
    ::unlink(path.c_str());
    ::fchmod(fd, 0600);
  }
  std::FILE* f = ::fdopen(fd, "w+b");
  if (f == nullptr) {
    const Status s = IoError("fdopen");
    ::close(fd);
    return s;
  }
  return std::unique_ptr<ImportSpool>(new ImportSpool(f));
}

ImportSpool::~ImportSpool() { std::fclose(file_); }

Status ImportSpool::Append(const KeyHash& key_hash, std::span<const uint8_t> sealed,
                           std::string_view publish_from, std::string_view publish_until) {
  const uint32_t len = static_cast<uint32_t>(sealed.size());
  char dates[2 * kDateBytes] = {};
  // string_view::copy, not memcpy: an absent date is an empty view whose data() may be null,
  // and memcpy from a null pointer is undefined even for 0 bytes (UBSan stops the asan tree).
  publish_from.copy(dates, kDateBytes);
  publish_until.copy(dates + kDateBytes, kDateBytes);
  if (std::fwrite(key_hash.data(), 1, key_hash.size(), file_) != key_hash.size() ||
      std::fwrite(&len, sizeof(len), 1, file_) != 1 ||
      std::fwrite(dates, 1, sizeof(dates), file_) != sizeof(dates) ||
      (len > 0 && std::fwrite(sealed.data(), 1, len, file_) != len)) {
    return IoError("write");
  }
  ++records_;
  bytes_ += static_cast<int64_t>(key_hash.size() + sizeof(len) + 2 * kDateBytes + len);
  return Status();
}

Status ImportSpool::Rewind() {
  if (std::fflush(file_) != 0) return IoError("flush");
  if (std::fseek(file_, 0, SEEK_SET) != 0) return IoError("seek");
  return Status();
}

Result<bool> ImportSpool::Next(KeyHash& key_hash, std::vector<uint8_t>& sealed,
                               std::string& publish_from, std::string& publish_until) {
  const size_t got = std::fread(key_hash.data(), 1, key_hash.size(), file_);
  if (got == 0 && std::feof(file_)) return false;
  uint32_t len = 0;
  char dates[2 * kDateBytes];
  if (got != key_hash.size() || std::fread(&len, sizeof(len), 1, file_) != 1 ||
      std::fread(dates, 1, sizeof(dates), file_) != sizeof(dates) || len > kMaxRecordBytes) {
    if (std::ferror(file_)) return IoError("read");
    return DataLossError("import spool: truncated or corrupt record");
  }
  publish_from.assign(dates, strnlen(dates, kDateBytes));
  publish_until.assign(dates + kDateBytes, strnlen(dates + kDateBytes, kDateBytes));
  sealed.resize(len);
  if (len > 0 && std::fread(sealed.data(), 1, len, file_) != len) {
    if (std::ferror(file_)) return IoError("read");
    return DataLossError("import spool: truncated record");
  }
  return true;
}

}  // namespace chukan::replica
