// The inquiry result file (照会結果ファイル): one line per line of a P640R110 batch inquiry file,
// headerless, comma-separated without quoting, CRLF after every line, UTF-8 or Shift_JIS (CP932),
// as municipal tools read it from the real intermediate server. This file decides WHAT a line
// contains — the columns of its ResultLayout (layout/result_layout.h), the 照会ステータス codes
// and the 照会処理結果メッセージ texts for every way a line can end — as pure functions; the
// caller stores batches and serves the file. docs/inquiry-result-format.md has the code lists,
// the messages and the rules below.
//
// The messages are written into the municipality's own result file, which is where quoting the
// 団体内統合宛名番号 is expected; they must never go into logs or HTTP errors (the Status errors
// of this file quote nothing).
//
// Thread-safety: pure functions.
#ifndef CHUKAN_LAYOUT_RESULT_FILE_H_
#define CHUKAN_LAYOUT_RESULT_FILE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "layout/result_layout.h"
#include "replica_io/charset.h"

namespace chukan::layout {

// How one line of the inquiry file ended.
enum class LineOutcome : uint8_t {
  kCompleted,  // the provider answered with records (明細 09, 特定個人情報名 01, 正常終了)
  kNoData,         // the provider answered: no record for the person
  kNoSubjectCode,  // refused before inquiring: no 符号 (subject code) for the 統合宛名番号 yet
  kDuplicateLine,  // refused before inquiring: the same line (レコード識別番号) was already
                   // accepted
  kRejected,  // refused before inquiring: the line is malformed, or names an unknown provider/TM…
  kRefused,   // the hub or the provider refused (reason NOT_PERMITTED = the permission list)
  kExpired,   // no answer before the inquiry's expiry
  kFailed,    // the hub answered with an error that retrying cannot fix
};

// "completed", "no_data", … (for tests and docs).
std::string_view LineOutcomeName(LineOutcome outcome);

struct LineResult {
  LineOutcome outcome = LineOutcome::kCompleted;
  // The hub's or the server's reason code (docs/linkage.md: NOT_PERMITTED, PROVIDER_REJECTED,
  // NO_ANSWER, UNKNOWN_PROVIDER, FORMAT…): [A-Z0-9_], at most 64 characters; may be empty.
  std::string_view reason;
  // 団体内統合宛名番号, 15 digits: required for kNoSubjectCode (its message names it).
  std::string_view atena_no;
  // The line's 特定個人情報名コード: required for kRefused with NOT_PERMITTED and for kRejected
  // with UNKNOWN_TM (their messages name it); TM + 14 digits.
  std::string_view tm;
};

// The four status and message columns of a line.
struct LineStatus {
  std::string line_status;   // 照会ステータス（明細単位）
  std::string line_message;  // 照会処理結果メッセージ（明細単位）
  std::string info_status;  // 照会ステータス（特定個人情報名単位）; "" when nothing was asked
  std::string info_message;  // 照会処理結果メッセージ（特定個人情報名単位）; "" likewise
};

// Status codes (docs/inquiry-result-format.md). 09 and 01 are the real system's; the others are
// chukan's own.
inline constexpr std::string_view kLineCompleted = "09";  // 照会完了
inline constexpr std::string_view kLineRejected = "91";   // 照会前エラー（依頼内容）
inline constexpr std::string_view kLineDuplicate = "92";  // 照会前エラー（重複）
inline constexpr std::string_view kLineNoSubjectCode = "93";  // 照会前エラー（符号未取得）
inline constexpr std::string_view kLineRefused = "94";        // 照会拒否
inline constexpr std::string_view kLineExpired = "95";        // 応答なし（期限切れ）
inline constexpr std::string_view kLineFailed = "96";         // 処理失敗
inline constexpr std::string_view kLineUnwritable = "97";    // 結果出力不可
inline constexpr std::string_view kInfoFound = "01";         // 正常終了（該当あり）
inline constexpr std::string_view kInfoNoData = "02";        // 該当なし
inline constexpr std::string_view kInfoNotPermitted = "03";  // 照会不許可
inline constexpr std::string_view kInfoRefused = "04";       // 提供拒否
inline constexpr std::string_view kInfoNoAnswer = "05";      // 応答なし
inline constexpr std::string_view kInfoFailed = "06";        // 処理失敗

// The status codes and messages of `result`. Errors (kInvalidArgument, quoting nothing): a
// reason that is not [A-Z0-9_]{0,64}; kNoSubjectCode without a 15-digit atena_no; a message
// that names the TM without a valid TM code.
Result<LineStatus> DescribeLine(const LineResult& result);

// Converts printable ASCII (U+0021–U+007E) to its full-width form (U+FF01–U+FF5E) and the space
// to U+3000, as the real messages write codes inside 「」; every other character is kept.
std::string ToFullWidth(std::string_view utf8);

// One record of an answer: item code → value (the answer's `records[i]`).
using ResultRecord = std::map<std::string, std::string, std::less<>>;

struct RenderedLine {
  std::string text;  // the columns joined with ',', without the line ending
  // Answer records the line could not show (a line shows one record per data set: below).
  size_t records_not_shown = 0;
  // The line's values held a ',', CR, LF or another control character, so it was written with
  // status 97 and its item columns empty (the 1-based column of the first such value; 0 if none).
  size_t unwritable_column = 0;
};

// Renders one line of the result file.
//  - `fields`: the inquiry line's fields as given (decoded to UTF-8). Column k echoing field f
//    takes fields[f-1]; a field missing (a malformed line with fewer fields) or holding a ',',
//    CR, LF or control character is written empty.
//  - `records`: the answer's records, used for kCompleted only (and required to be empty for
//    every other outcome). kCompleted with no record is written as kNoData.
//  - Several records: one line shows one record per data set — for a TM without data sets,
//    the record with the greatest record key (the latest fiscal year); for a TM with data sets,
//    per data set the record with the greatest key, the common items from the greatest overall.
//    Keys compare item by item, number items by value, others byte-wise; a tie goes to the later
//    record. The others are counted in records_not_shown.
//  - A value with a ',', CR, LF or control character (no valid text has one, but replicas
//    are the provider's data) is never written: the line gets status 97 and a message naming
//    the item code, every item column empty; the answer stays readable through the API.
// Errors: as DescribeLine; kInvalidArgument when records are given for another outcome.
Result<RenderedLine> RenderResultLine(const ResultLayout& layout,
                                      std::span<const std::string_view> fields,
                                      const LineResult& result,
                                      std::span<const ResultRecord> records);

// The file: every line followed by CRLF (the last too), in `charset`. In CP932 a character it
// cannot represent (𠮷, emoji …) is written as 〓 (0x81 0xAC), and the line is listed.
struct EncodedResultFile {
  std::string bytes;
  std::vector<size_t> substituted_lines;  // 1-based lines with at least one 〓 substitution
};
// Errors: kInvalidArgument "line N: invalid UTF-8" (lines are UTF-8); kInternal when iconv has
// no CP932 converter.
Result<EncodedResultFile> EncodeResultFile(std::span<const std::string> lines,
                                           replica_io::Charset charset);

}  // namespace chukan::layout

#endif  // CHUKAN_LAYOUT_RESULT_FILE_H_
