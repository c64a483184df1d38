// The inquiry result file (照会結果ファイル) of a stored inquiry batch: what became of each line
// of a P640R110 batch inquiry file (inquiry_batches.h), written in the layout of its
// information name (layout/result_layout.h) with the status codes and messages of
// layout/result_file.h, once every line has ended. docs/inquiry-result-format.md has the file
// and how a line's fate maps to its status.
//
// Thread-safety: pure functions (the resolver is called on the caller's thread).
#ifndef CHUKAN_SERVER_BATCH_RESULTS_H_
#define CHUKAN_SERVER_BATCH_RESULTS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "layout/result_file.h"
#include "layout/result_layout.h"
#include "replica_io/charset.h"
#include "server/batch_lines.h"
#include "server/inquiry_batches.h"

namespace chukan::server {

// How a line ended, for its status columns, with the answer's records when it has some.
struct BatchLineFate {
  layout::LineOutcome outcome = layout::LineOutcome::kRejected;
  std::string reason;
  std::string atena_no;  // kNoSubjectCode
  std::string tm;        // the line's 特定個人情報名コード when it is a valid code
  std::vector<layout::ResultRecord> records;  // kCompleted
  // A household answer (照会条件区分 1): each member's records, the person first (records stays
  // empty). The result file has one line per member (docs/inquiry-result-format.md).
  bool household = false;
  std::vector<std::vector<layout::ResultRecord>> members;
};

// The fate of one line of a batch whose lines have all ended. `atena` gives the
// 団体内統合宛名番号 a NO_SUBJECT_CODE line's message names (the tenant's mapping now).
// kFailedPrecondition when the line's inquiry is still open; kInternal when a stored result
// cannot be read.
Result<BatchLineFate> FateOfBatchLine(const BatchLineNow& line, const AtenaResolver& atena);

struct BatchResultFile {
  std::string bytes;
  std::string file_name;  // the inquiry file's name with _RESULT before its extension
  int64_t lines = 0;
  std::vector<size_t> substituted_lines;  // CP932: lines with a 〓 substitution
  int64_t records_not_shown = 0;          // records one line per person could not show
  int64_t unwritable_lines = 0;           // lines with status 97
};

// The result file of `batch`, in `charset`. kFailedPrecondition "N lines of the batch have not
// ended yet" while batch.open > 0; the errors of FateOfBatchLine and layout::RenderResultLine
// otherwise (a line that cannot be rendered is kInternal, naming the line).
Result<BatchResultFile> WriteBatchResultFile(const BatchNow& batch,
                                             const layout::ResultLayouts& layouts,
                                             replica_io::Charset charset,
                                             const AtenaResolver& atena);

// "P640R110_20261203093000_0001.DAT" → "P640R110_20261203093000_0001_RESULT.DAT"; a name
// without an extension gets "_RESULT"; an empty name "batch_<batch_id>_RESULT.DAT".
std::string ResultFileName(std::string_view inquiry_file_name, std::string_view batch_id);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_BATCH_RESULTS_H_
