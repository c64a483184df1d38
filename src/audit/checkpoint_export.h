// Checkpoint export (チェックポイントの外部保管): copies of an audit log's signed checkpoints kept
// where whoever controls the database cannot reach them — a file on another mount or host (here),
// later a URL or the hub. A copy is what lets `Verify` notice checkpoint rows deleted from the
// database and a chain truncated down to an older checkpoint (docs/audit.md).
//
// The file format is JSON lines, one checkpoint per line, appended and never rewritten:
//   {"seq":136,"time_us":1775001736000000,"scope":"platform","hash":"<64 hex>",
//    "verify_key":"<64 hex>","signature":"<128 hex>"}
// `seq`, `time_us`, `hash`, `verify_key` and `signature` are the checkpoint row; the signature
// covers CheckpointMessage(seq, hash, time_us) (audit_log.h). `scope` is the scope of the entry at
// `seq`, a label for people reading the file; it is not signed. Lines appear in increasing `seq`
// order as a rule; two processes exporting the same log may write one line twice, which readers
// accept when both copies are identical.
//
// Thread-safety: the free functions are thread-safe. A CheckpointSink is called by one AuditLog
// under its own lock, so implementations need not be thread-safe; CheckpointFile is not.
#ifndef CHUKAN_AUDIT_CHECKPOINT_EXPORT_H_
#define CHUKAN_AUDIT_CHECKPOINT_EXPORT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace chukan::audit {

// One signed checkpoint as exported.
struct CheckpointRecord {
  int64_t seq = 0;
  int64_t time_us = 0;
  std::string scope;
  std::vector<uint8_t> hash;        // 32 bytes: the entry hash at `seq`
  std::vector<uint8_t> verify_key;  // 32 bytes: Ed25519 public key
  std::vector<uint8_t> signature;   // 64 bytes

  friend bool operator==(const CheckpointRecord&, const CheckpointRecord&) = default;
};

// Longest line ReadCheckpointFile accepts, in bytes (a real line is about 370).
inline constexpr size_t kMaxCheckpointLineBytes = 4096;

// The JSON line for `record`, without the newline. Field order as in the file comment.
std::string FormatCheckpointLine(const CheckpointRecord& record);

// Parses one line (without its newline). Exactly the six fields, each of its type and size:
// `seq` >= 1, `time_us` >= 0, `scope` 1..64 bytes, the three hex fields 32, 32 and 64 bytes.
// Errors: kDataLoss naming the field and what is wrong with it — never the value, so a line
// pasted into the file by mistake does not end up in logs.
Result<CheckpointRecord> ParseCheckpointLine(std::string_view line);

// Where an AuditLog copies its checkpoints once they are committed (AuditLog::Options).
class CheckpointSink {
 public:
  virtual ~CheckpointSink() = default;

  // The highest seq the sink already holds (0 when it holds none). The log then exports the
  // committed checkpoints after it, in seq order. Blocks for I/O.
  virtual Result<int64_t> LastExportedSeq() = 0;

  // Stores one record durably (it survives a crash once this returns OK). Blocks for I/O.
  virtual Status Export(const CheckpointRecord& record) = 0;
};

// The file sink: appends one line per checkpoint to a JSON-lines file, opened with O_APPEND for
// each export, created with mode 0600, and fsync'ed after each line. Keep the file off the
// database's disk and out of the data directory (ideally on storage the database's owner cannot
// rewrite, e.g. an append-only mount or a log shipper's spool); one file per audit log.
// Not thread-safe (the AuditLog serialises its calls).
class CheckpointFile final : public CheckpointSink {
 public:
  // Creates the file if it does not exist (mode 0600; the parent directory is fsync'ed so the new
  // name survives a crash) and checks that it can be appended to. Does not read it.
  // Errors: kInvalidArgument (empty path), kInternal naming the path and the system's reason.
  static Result<std::unique_ptr<CheckpointFile>> Open(std::string path);

  // The seq of the last complete line. Reads only the end of the file (its last 64 KiB): an
  // incomplete last line (a write cut short by a crash) is skipped.
  // Errors: kDataLoss "PATH: …" when the last complete line does not parse; kInternal on I/O.
  Result<int64_t> LastExportedSeq() override;

  // Appends the record's line. When the file does not end in a newline (an interrupted write),
  // the torn line is first ended, so that it alone is reported by ReadCheckpointFile.
  // Errors: kInternal "PATH: write: <reason>" or "PATH: fsync: <reason>".
  Status Export(const CheckpointRecord& record) override;

  const std::string& path() const { return path_; }

 private:
  explicit CheckpointFile(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// The sink of one audit log's exported checkpoints: <dir>/<scope>.checkpoints.jsonl, the
// directory created (0700) when missing. Null when `dir` is empty (no export configured).
// `scope` must be "platform", "hub" or a tenant id (letters and digits).
// Errors: kInvalidArgument (a bad scope), kInternal naming the path (cannot create or append).
Result<std::shared_ptr<CheckpointSink>> OpenCheckpointSink(const std::string& dir,
                                                           const std::string& scope);

// Reads a whole checkpoint file (memory proportional to its size: about 370 bytes a line).
// Errors: kNotFound "PATH: no such file"; kDataLoss "PATH line N: <what is wrong>" for the first
// malformed or empty line (values are never quoted); kInternal on other I/O errors.
Result<std::vector<CheckpointRecord>> ReadCheckpointFile(const std::string& path);

}  // namespace chukan::audit

#endif  // CHUKAN_AUDIT_CHECKPOINT_EXPORT_H_
