// The batch table: what the tenant's batch inquiry files (一括照会ファイル, P640R110) asked and
// what became of each line — tables `inquiry_batches` and `inquiry_batch_lines` — so that the
// inquiry result file (照会結果ファイル) can be written once every line has ended. A line's text
// holds the resident's 宛名番号, so it is kept sealed with the tenant's data key, bound to the
// batch and the line (docs/inquiry-result-format.md).
//
// Each function runs inside the caller's transaction; none commits.
//
// Thread-safety: stateless functions.
#ifndef CHUKAN_SERVER_BATCH_TABLE_H_
#define CHUKAN_SERVER_BATCH_TABLE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "crypto/bytes.h"
#include "store/database.h"

namespace chukan::server {

// What became of one line when the file was read.
enum class BatchLineOutcome {
  kInquiry,    // the line made (or, sent again, found) the inquiry `inquiry_id`
  kDuplicate,  // the same inquiry as an earlier line of the file: no inquiry of its own
  kRefused,    // a line error (format, or refused by this server before any inquiry was made)
};
std::string_view BatchLineOutcomeName(BatchLineOutcome o);

struct BatchHeader {
  std::string batch_id;   // 32 hex digits, time-ordered
  std::string file_key;   // the first 32 hex digits of the SHA-256 of the body as sent
  std::string file_name;  // as the client named it (may be empty)
  std::string client;     // the existing system's name
  std::string charset;    // "utf-8" or "shift_jis": the file's, and the result file's default
  int64_t lines = 0;
  int64_t created_at_us = 0;
};

struct BatchLineRow {
  int64_t line = 0;           // 1-based
  crypto::Bytes text_sealed;  // the line as decoded (UTF-8, without its ending), sealed
  BatchLineOutcome outcome = BatchLineOutcome::kRefused;
  std::string inquiry_id;    // kInquiry
  int64_t duplicate_of = 0;  // kDuplicate: the earlier line
  std::string error_field;   // kRefused: `Japanese (English)` or empty
  std::string error_reason;  // kRefused: never quotes the line
  std::string error_code;    // kRefused: [A-Z0-9_]{1,64} (FORMAT, NO_SUBJECT_CODE …)
};

// Inserts the batch and its lines; when a batch with the same file_key exists (the same file
// sent again, header.batch_id being its id) its lines are replaced. kAborted, writing nothing,
// when the file_key's batch has another id (the same file sent twice at once). Returns the id.
Result<std::string> UpsertBatch(store::Transaction& tx, const BatchHeader& header,
                                const std::vector<BatchLineRow>& lines);
Result<std::optional<BatchHeader>> ReadBatch(store::Transaction& tx, const std::string& batch_id);
Result<std::optional<BatchHeader>> FindBatchByFileKey(store::Transaction& tx,
                                                      const std::string& file_key);
// The lines in order.
Result<std::vector<BatchLineRow>> ReadBatchLines(store::Transaction& tx,
                                                 const std::string& batch_id);

// How far a batch has come, from one query: its lines by outcome and, for the lines that made
// an inquiry, by the inquiry's state now.
struct BatchProgress {
  int64_t duplicate = 0;
  int64_t refused = 0;
  std::map<std::string, int64_t> states;  // InquiryStateName → lines
};
Result<BatchProgress> ReadBatchProgress(store::Transaction& tx, const std::string& batch_id);

// Retention: whether a batch was stored at or before `cutoff_us`, and the deletion of at most
// `limit` such batches (oldest first) with their lines; returns the batches deleted.
Result<bool> BatchesDue(store::Transaction& tx, int64_t cutoff_us);
Result<int64_t> DeleteBatches(store::Transaction& tx, int64_t cutoff_us, int64_t limit);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_BATCH_TABLE_H_
