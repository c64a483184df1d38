// The batch inquiry file (一括照会ファイル) in the layout of the real intermediate server's
// P640R110 files, as municipal business systems (既存業務システム) and their staff's tools write
// them: no header, one inquiry (情報照会) per line, 18 comma-separated fields, optional fields
// empty or space-padded. docs/batch-inquiry-format.md has the table, the padding rules, chukan's
// code lists and an example. POST /api/v1/inquiries/batch, the console and `chukan inquiries
// batch` take it.
//
// ParseBatchInquiryFile checks every field and the rules between fields, and reports each bad
// line by line number, field and reason while the other lines still parse, so the caller can
// answer per line. It does not check anything that needs the tenant or the hub: that the
// inquirer org (情報照会者機関コード) is the tenant's own, which 団体内統合宛名番号 a 宛名番号
// maps to, which organisation a 地方公共団体コード names, that the permission list allows the
// procedure, or that the layout catalogue knows the TM code — the caller does, with the values
// exposed here.
//
// Thread-safety: pure functions over a caller-owned source; safe to call concurrently on
// different sources.
#ifndef CHUKAN_SERVER_BATCH_INQUIRY_H_
#define CHUKAN_SERVER_BATCH_INQUIRY_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "layout/date.h"
#include "replica_io/byte_source.h"
#include "replica_io/charset.h"

namespace chukan::server {

// 番号体系 "01": the line gives the business systems' 宛名番号 (chukan's code list,
// docs/batch-inquiry-format.md). Other two-digit codes are the tenant's own numbering schemes,
// usable with a mapping table only.
inline constexpr std::string_view kSchemeAtena = "01";

// One valid line of the file.
struct BatchInquiry {
  int64_t line = 0;  // 1-based line number in the file
  // The 18 fields exactly as decoded (UTF-8), padding kept, for echoing in a result file. They
  // hold personal data (the resident's numbers): never log or quote them.
  std::vector<std::string> fields;
  std::string scheme;       // 番号体系: two digits, not "00"
  std::string business_no;  // 宛名番号: 15 digits (zero-padded on the left when shorter)
  // 統合宛名番号 when the line gives one (団体内統合宛名番号, 15 digits); nullopt when empty or
  // blank (the caller maps business_no).
  std::optional<AtenaNo> atena_no;
  // 照会依頼日時, written in Japan time (JST, UTC+9, no daylight saving) and converted here;
  // milliseconds kept.
  TimePoint requested_at;
  std::string department;  // 情報照会者部署コード, padding removed (1–20 of [A-Za-z0-9])
  std::string user_id;  // 情報照会者ユーザーID, padding removed (0–20 of [A-Za-z0-9._@-])
  OrgCode inquirer;  // 情報照会者機関コード — the caller checks it is the tenant's own org
  bool non_disclosure = false;                // 照会側不開示コード "1"
  JmCode jm;                                  // 事務コード
  JtCode jt;                                  // 事務手続きコード
  std::optional<OrgCode> inquirer_delegator;  // 情報照会者機関コード（委任元）
  std::optional<OrgCode> provider_delegator;  // 情報提供者機関コード（委任元）
  // 情報提供者機関コード: exactly one of the two is set — a 16-digit 機関コード, or the digits of
  // a 地方公共団体コード (5 digits, or 6 with its check digit, which the caller's resolver
  // checks).
  std::optional<OrgCode> provider;
  std::string provider_local_gov;
  TmCode tm;                         // 特定個人情報名コード
  std::string condition_kind;        // 照会条件区分: "0", "1" or "2"
  std::string year_kind;             // 照会年度区分: "0", "1" or "2"
  std::optional<layout::Date> from;  // 照会開始日付
  std::optional<layout::Date> to;    // 照会終了日付
};

// One problem on one line. A line may have several (one per bad field); a line with any error
// yields no BatchInquiry.
struct BatchLineError {
  int64_t line = 0;
  // The field in Japanese and English, e.g. "事務手続きコード (procedure)"; "レコード (record)" for
  // problems of the whole line (field count, encoding, empty line).
  std::string field;
  // What is wrong, in English, fit for the client. Never contains any of the line's values, nor
  // a piece of one (a field may hold personal data, e.g. a resident's number in the wrong place):
  // `line` and `field` say where, the reason says what was expected.
  std::string reason;

  friend bool operator==(const BatchLineError&, const BatchLineError&) = default;
};

struct BatchParseResult {
  std::vector<BatchInquiry> inquiries;  // valid lines, in file order
  std::vector<BatchLineError> errors;   // in file order (by line, then by field)
  int64_t lines = 0;                    // lines read, valid or not
  // With BatchOptions::keep_text: every line as decoded, without its ending (texts[line - 1]);
  // a line that is not valid UTF-8 is kept as "". Personal data: never log or quote them.
  std::vector<std::string> texts;
};

struct BatchOptions {
  replica_io::Charset charset = replica_io::Charset::kUtf8;
  // More lines than this is a file-level error.
  int64_t max_lines = 100'000;
  // Bytes of one line without its line ending (a valid line has at most 237); longer is a
  // file-level error, as it means the file is not a batch inquiry file at all.
  size_t max_line_bytes = 1024;
  // Keep every line's text in BatchParseResult::texts (a server stores them to write the
  // result file, which echoes each line's fields).
  bool keep_text = false;
};

// Field count and the widest valid line (every field at its full width, without the line
// ending).
inline constexpr size_t kBatchFieldCount = 18;
inline constexpr size_t kBatchLineWidth = 237;
// Years accepted in 照会依頼日時 (requested at).
inline constexpr int kMinRequestYear = 1900;
inline constexpr int kMaxRequestYear = 2199;

// Reads `src` (owned by the caller; read to its end, blocking as it does) in options.charset
// and parses every line. Line-level problems go to BatchParseResult::errors and never fail the
// call. A UTF-8 byte order mark at the start is skipped; lines end in CRLF (as the tools write
// them, the last line too) or LF (each line on its own); the last line's ending is optional.
// File-level errors (nothing is returned):
//  - kResourceExhausted "batch inquiry file: more than N lines" (options.max_lines);
//  - kResourceExhausted "batch inquiry file: line N: longer than B bytes" (max_line_bytes);
//  - kInvalidArgument "batch inquiry file: empty" for a file without a line;
//  - errors of `src` and of the CP932 decoder (invalid Shift_JIS bytes), with the prefix
//    "batch inquiry file: ".
Result<BatchParseResult> ParseBatchInquiryFile(replica_io::ByteSource& src,
                                               const BatchOptions& options);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_BATCH_INQUIRY_H_
