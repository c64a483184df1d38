// Inquiry batches: a batch inquiry file (一括照会ファイル, P640R110) turned into inquiries and
// remembered line by line, so that its result file (照会結果ファイル) can be written once every
// line has ended. The parser (batch_inquiry.h) and the API decide what each line asks; this
// makes the inquiries — started together so that they share durable commits — and stores the
// batch (batch_table.h), each line's text sealed with the tenant's data key.
//
// Thread-safety: stateless functions over a thread-safe LinkageService.
#ifndef CHUKAN_SERVER_INQUIRY_BATCHES_H_
#define CHUKAN_SERVER_INQUIRY_BATCHES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "server/batch_table.h"
#include "server/inquiries.h"
#include "server/linkage_service.h"

namespace chukan::server {

// One line of the file as the API understood it: the inquiry it asks for, or why it cannot.
struct BatchLinePlan {
  int64_t line = 0;
  std::string text;  // the line as decoded, without its ending (sealed when stored)
  std::optional<InquiryInput> input;  // set: make this inquiry (idempotency key already set)
  std::string error_field;            // unset input: the line error
  std::string error_reason;
  std::string error_code;  // [A-Z0-9_]{1,64}: FORMAT, UNKNOWN_PROVIDER … (inquiry-result-format)
};

// One line's fate.
struct BatchLineResult {
  int64_t line = 0;
  BatchLineOutcome outcome = BatchLineOutcome::kRefused;
  std::optional<InquiryView> inquiry;  // kInquiry
  int64_t duplicate_of = 0;            // kDuplicate
  std::string error_field;             // kRefused
  std::string error_reason;
  std::string error_code;
};

// The code of an inquiry the server refused to make (StartCreateInquiry's error):
// NO_SUBJECT_CODE, UNKNOWN_TM, UNKNOWN_PROCEDURE, or the status code's name (INVALID_ARGUMENT,
// UNAVAILABLE …).
std::string InquiryRefusalCode(const Status& s);

struct BatchRun {
  std::string batch_id;
  std::vector<BatchLineResult> lines;  // in line order
};

// Makes the plans' inquiries and stores the batch. A line whose text equals an earlier line's
// is a duplicate: it makes no inquiry of its own (when the earlier line made none either, it is
// refused as that line was). The inquiries are started at most
// `max_in_flight` at a time before any is waited for. `header.batch_id` is used for a new batch;
// the same file (header.file_key) sent again keeps its first id and its lines are replaced
// (each line's inquiry is found again by its idempotency key).
Result<BatchRun> RunInquiryBatch(LinkageService& linkage, const TenantId& tenant,
                                 BatchHeader header, std::vector<BatchLinePlan> plans,
                                 size_t max_in_flight = 512);

// A stored batch, each line with its text unsealed and its inquiry as it is now.
struct BatchLineNow {
  int64_t line = 0;
  std::string text;
  BatchLineOutcome outcome = BatchLineOutcome::kRefused;
  std::optional<InquiryView> inquiry;  // kInquiry (with its result, when it has one)
  int64_t duplicate_of = 0;
  std::string error_field;
  std::string error_reason;
  std::string error_code;
};
struct BatchNow {
  BatchHeader header;
  std::vector<BatchLineNow> lines;
  int64_t open = 0;  // lines whose inquiry has not ended
};
// kNotFound "no such batch" for an id of another tenant or none (the id is not repeated).
Result<BatchNow> ReadInquiryBatch(LinkageService& linkage, const TenantId& tenant,
                                  const std::string& batch_id);

// How far a stored batch has come, from one read (no line unsealed, no inquiry read):
// kNotFound "no such batch" as ReadInquiryBatch.
struct BatchSummary {
  BatchHeader header;
  BatchProgress progress;
  int64_t open = 0;  // lines whose inquiry is accepted or permitted
};
Result<BatchSummary> ReadBatchSummary(LinkageService& linkage, const TenantId& tenant,
                                      const std::string& batch_id);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_INQUIRY_BATCHES_H_
