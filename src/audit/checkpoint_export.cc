#include "audit/checkpoint_export.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/utf8.h"
#include "crypto/bytes.h"

namespace chukan::audit {
namespace {

constexpr size_t kScopeMaxBytes = 64;  // as kMaxScopeBytes in audit_log.h
constexpr size_t kTailBytes = 64 * 1024;

std::string Errno(const std::string& path, const char* what) {
  return path + ": " + what + ": " + std::strerror(errno);
}

// Closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports close(2)'s result (a write error can surface only here on NFS).
  int Close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return InternalError(Errno(path, "write"));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status();
}

Status PreadAll(int fd, char* out, size_t size, off_t offset, const std::string& path) {
  size_t got = 0;
  while (got < size) {
    const ssize_t n = ::pread(fd, out + got, size - got, offset + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return InternalError(Errno(path, "read"));
    if (n == 0) return InternalError(path + ": read: the file shrank while being read");
    got += static_cast<size_t>(n);
  }
  return Status();
}

Status BadField(std::string_view field, std::string_view what) {
  return DataLossError("field \"" + std::string(field) + "\" " + std::string(what));
}

Result<int64_t> IntField(const nlohmann::json& j, std::string_view name, int64_t min) {
  const nlohmann::json& v = j.at(std::string(name));
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return BadField(name, "is out of range");
    }
    if (static_cast<int64_t>(u) < min) {
      return BadField(name, "must be at least " + std::to_string(min));
    }
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i < min) return BadField(name, "must be at least " + std::to_string(min));
    return i;
  }
  return BadField(name, "must be an integer");
}

Result<std::vector<uint8_t>> HexField(const nlohmann::json& j, std::string_view name,
                                      size_t bytes) {
  const nlohmann::json& v = j.at(std::string(name));
  if (!v.is_string()) return BadField(name, "must be a string of hex digits");
  const std::string& s = v.get_ref<const std::string&>();
  if (s.size() != 2 * bytes) {
    return BadField(name, "must be " + std::to_string(2 * bytes) + " hex digits");
  }
  Result<std::vector<uint8_t>> raw = crypto::FromHex(s);
  if (!raw.ok()) return BadField(name, "is not hex");
  return raw;
}

}  // namespace

std::string FormatCheckpointLine(const CheckpointRecord& record) {
  nlohmann::ordered_json j;
  j["seq"] = record.seq;
  j["time_us"] = record.time_us;
  j["scope"] = record.scope;
  j["hash"] = crypto::ToHex(record.hash);
  j["verify_key"] = crypto::ToHex(record.verify_key);
  j["signature"] = crypto::ToHex(record.signature);
  // `replace` instead of throwing on invalid UTF-8 (scope comes from a database row).
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Result<CheckpointRecord> ParseCheckpointLine(std::string_view line) {
  if (line.empty()) return DataLossError("empty line");
  if (line.size() > kMaxCheckpointLineBytes) {
    return DataLossError("longer than " + std::to_string(kMaxCheckpointLineBytes) + " bytes");
  }
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return DataLossError("not valid JSON");
  if (!j.is_object()) return DataLossError("not a JSON object");
  static constexpr std::string_view kFields[] = {"seq",  "time_us",    "scope",
                                                 "hash", "verify_key", "signature"};
  for (std::string_view f : kFields) {
    if (!j.contains(std::string(f))) return BadField(f, "is missing");
  }
  if (j.size() != std::size(kFields)) return DataLossError("has fields other than the six known");
  CheckpointRecord r;
  ASSIGN_OR_RETURN(r.seq, IntField(j, "seq", 1));
  ASSIGN_OR_RETURN(r.time_us, IntField(j, "time_us", 0));
  const nlohmann::json& scope = j.at("scope");
  if (!scope.is_string()) return BadField("scope", "must be a string");
  r.scope = scope.get<std::string>();
  if (r.scope.empty() || r.scope.size() > kScopeMaxBytes || !IsValidUtf8(r.scope)) {
    return BadField("scope", "must be 1 to 64 bytes of UTF-8");
  }
  ASSIGN_OR_RETURN(r.hash, HexField(j, "hash", 32));
  ASSIGN_OR_RETURN(r.verify_key, HexField(j, "verify_key", 32));
  ASSIGN_OR_RETURN(r.signature, HexField(j, "signature", 64));
  return r;
}

Result<std::unique_ptr<CheckpointFile>> CheckpointFile::Open(std::string path) {
  if (path.empty()) return InvalidArgumentError("checkpoint file: empty path");
  bool created = false;
  int raw = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
  if (raw < 0 && errno == ENOENT) {
    raw =
        ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    created = raw >= 0;
    // Another process created it between the two calls: open what it made.
    if (raw < 0 && errno == EEXIST) {
      raw = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    }
  }
  if (raw < 0) return InternalError(Errno(path, "cannot open checkpoint file for appending"));
  Fd fd(raw);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return InternalError(Errno(path, "fstat"));
  if (!S_ISREG(st.st_mode)) return InternalError(path + ": not a regular file");
  if (created) {
    if (::fsync(fd.get()) != 0) return InternalError(Errno(path, "fsync"));
    std::string dir = std::filesystem::path(path).parent_path().string();
    if (dir.empty()) dir = ".";
    Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dfd.get() < 0 || ::fsync(dfd.get()) != 0) {
      return InternalError(Errno(dir, "cannot sync the checkpoint file's directory"));
    }
  }
  if (fd.Close() != 0) return InternalError(Errno(path, "close"));
  return std::unique_ptr<CheckpointFile>(new CheckpointFile(std::move(path)));
}

Result<int64_t> CheckpointFile::LastExportedSeq() {
  Fd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) return InternalError(Errno(path_, "cannot open checkpoint file"));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return InternalError(Errno(path_, "fstat"));
  const size_t size = static_cast<size_t>(st.st_size);
  const size_t n = std::min(size, kTailBytes);
  std::string tail(n, '\0');
  RETURN_IF_ERROR(PreadAll(fd.get(), tail.data(), n, static_cast<off_t>(size - n), path_));
  // Drop an incomplete last line, then take the line before the last newline.
  const size_t end = tail.rfind('\n');
  if (end == std::string::npos) {
    if (n == size) return int64_t{0};  // no complete line in the whole file
    return DataLossError(path_ + ": no line break in the last " + std::to_string(kTailBytes) +
                         " bytes");
  }
  const size_t prev = end == 0 ? std::string::npos : tail.rfind('\n', end - 1);
  if (prev == std::string::npos && n < size) {
    return DataLossError(path_ + ": the last line is longer than " + std::to_string(kTailBytes) +
                         " bytes");
  }
  const size_t begin = prev == std::string::npos ? 0 : prev + 1;
  Result<CheckpointRecord> last =
      ParseCheckpointLine(std::string_view(tail).substr(begin, end - begin));
  if (!last.ok()) {
    return DataLossError(path_ + ": the last line: " + std::string(last.status().message()));
  }
  return last->seq;
}

Status CheckpointFile::Export(const CheckpointRecord& record) {
  Fd fd(::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) return InternalError(Errno(path_, "cannot open checkpoint file"));
  std::string line = FormatCheckpointLine(record) + "\n";
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return InternalError(Errno(path_, "fstat"));
  if (st.st_size > 0) {
    char last = '\n';
    RETURN_IF_ERROR(PreadAll(fd.get(), &last, 1, st.st_size - 1, path_));
    if (last != '\n') line.insert(line.begin(), '\n');  // end a torn line first
  }
  // One write(2) per line with O_APPEND: lines from two processes do not interleave.
  RETURN_IF_ERROR(WriteAll(fd.get(), line, path_));
  if (::fdatasync(fd.get()) != 0) return InternalError(Errno(path_, "fsync"));
  if (fd.Close() != 0) return InternalError(Errno(path_, "close"));
  return Status();
}

Result<std::vector<CheckpointRecord>> ReadCheckpointFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return NotFoundError(path + ": no such file");
    return InternalError(Errno(path, "cannot open checkpoint file"));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return InternalError(Errno(path, "fstat"));
  if (!S_ISREG(st.st_mode)) return InvalidArgumentError(path + ": not a regular file");
  std::string text(static_cast<size_t>(st.st_size), '\0');
  RETURN_IF_ERROR(PreadAll(fd.get(), text.data(), text.size(), 0, path));

  std::vector<CheckpointRecord> records;
  std::string_view rest(text);
  int64_t line_no = 0;
  while (!rest.empty()) {
    ++line_no;
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    Result<CheckpointRecord> r = ParseCheckpointLine(line);
    if (!r.ok()) {
      return DataLossError(path + " line " + std::to_string(line_no) + ": " +
                           std::string(r.status().message()));
    }
    records.push_back(std::move(*r));
  }
  return records;
}

Result<std::shared_ptr<CheckpointSink>> OpenCheckpointSink(const std::string& dir,
                                                           const std::string& scope) {
  if (dir.empty()) return std::shared_ptr<CheckpointSink>();
  if (scope.empty() || scope.size() > 64 ||
      scope.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") !=
          std::string::npos) {
    return InvalidArgumentError("audit checkpoint export: bad scope name");
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return InternalError(dir + ": cannot create the checkpoint directory: " + std::strerror(errno));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<CheckpointFile> file,
                   CheckpointFile::Open(dir + "/" + scope + ".checkpoints.jsonl"));
  return std::shared_ptr<CheckpointSink>(std::move(file));
}

}  // namespace chukan::audit
