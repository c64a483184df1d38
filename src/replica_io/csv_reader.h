// CsvReader: a streaming reader of replica import CSV (RFC 4180 dialect, UTF-8; see
// docs/import-formats.md). It yields one record at a time as string_views into its own buffer,
// without a heap allocation per field, and holds at most about two records' worth of bytes plus
// one read chunk (256 KiB), whatever the size of the input.
//
// It checks syntax and UTF-8 only: what the header names and how many fields a record must have
// is the import layer's business (every record is returned with however many fields it has).
//
// Thread-safety: single-threaded object (thread-compatible).
#ifndef CHUKAN_REPLICA_IO_CSV_READER_H_
#define CHUKAN_REPLICA_IO_CSV_READER_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "replica_io/byte_source.h"
#include "replica_io/chunk_buffer.h"

namespace chukan::replica_io {

struct CsvOptions {
  // Raw bytes of one record, counting quotes, separators and the line ending.
  size_t max_record_bytes = 1 << 20;
  // Fields in one record.
  size_t max_fields = 1024;
  // Bytes of one field's value (after removing quotes and undoubling "").
  size_t max_field_bytes = 64 << 10;
};

class CsvReader {
 public:
  // Reads from `src`, which the caller owns and keeps alive while the reader is used. A UTF-8
  // byte order mark at the very start of the input is skipped. Never fails; errors surface from
  // Next().
  explicit CsvReader(ByteSource& src, CsvOptions options = {});
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Advances to the next record: true if there is one (see fields()), false at end of input.
  // Blocks as `src` does. Errors (after one, every later call returns the same error):
  //  - kInvalidArgument, message starting "line N: " (N the physical, 1-based line of the
  //    offending byte; for field-level problems the line where the field starts) and, where a
  //    field is concerned, "column K: " (K the 1-based field index):
  //      "line N: column K: quote in unquoted field"
  //      "line N: column K: unexpected character after closing quote"
  //      "line N: column K: carriage return not followed by line feed"
  //      "line N: column K: invalid UTF-8"
  //      "line N: column K: unterminated quoted field (opened on line M)" (N: last line of input)
  //      "line N: empty line" (an empty line anywhere but as the single last line of the input)
  //  - kResourceExhausted when a limit of CsvOptions is exceeded:
  //      "line N: record exceeds max_record_bytes (B)", followed by
  //        "; column K: quoted field opened on line M is still open" when it ran out inside a
  //        quoted field (typically an unterminated quote in a large file)
  //      "line N: record has more than max_fields (F) fields"
  //      "line N: column K: field exceeds max_field_bytes (B)"
  //  - any error of `src`, unchanged (e.g. the CP932 decoder's "line N: invalid Shift_JIS …").
  Result<bool> Next();

  // The current record's fields (≥ 1). The views point into the reader's buffer and stay valid
  // until the next call of Next() or the reader's destruction. Precondition: the last Next()
  // returned true.
  std::span<const std::string_view> fields() const { return fields_; }

  // 1-based physical line on which the current record starts (quoted fields may span lines).
  int64_t line() const { return record_line_; }

  // Number of records returned so far, the header row included.
  int64_t records() const { return records_; }

 private:
  enum class State {
    kRecordStart,
    kEmptyLine,    // consumed an empty line; only end of input may follow
    kEmptyLineCr,  // consumed CR at the start of a record
    kFieldStart,
    kUnquoted,
    kQuoted,
    kQuotedQuote,  // saw a quote inside a quoted field: "" or the closing quote
    kCr,           // consumed CR after a field; LF must follow
    kDone,         // record complete
  };

  Status Fail(Status s);
  Status Scan();  // runs the state machine over the buffered bytes, to the end of the record
  Status AtEndOfInput();
  Status EndField(size_t begin, size_t size);
  Status Refill();

  ChunkBuffer buf_;
  CsvOptions options_;
  State state_ = State::kRecordStart;
  bool started_ = false;  // the byte order mark has been looked for
  bool finished_ = false;
  Status error_;

  // Positions in buf_ (shifted when the buffer is compacted).
  size_t begin_ = 0;              // start of the current record
  size_t pos_ = 0;                // next byte to scan
  size_t field_begin_ = 0;        // start of the current field's value
  size_t write_ = 0;              // end of the current quoted field's value (undoubled in place)
  unsigned char field_bits_ = 0;  // OR of the field's bytes: 0x80 set means "check UTF-8"

  int64_t line_ = 1;         // physical line at pos_
  int64_t record_line_ = 0;  // line where the current record starts
  int64_t field_line_ = 0;   // line where the current field starts
  int64_t quote_line_ = 0;   // line where the current quoted field opened
  int64_t records_ = 0;

  std::vector<std::pair<size_t, size_t>> spans_;  // (offset from begin_, size) per field
  std::vector<std::string_view> fields_;
};

}  // namespace chukan::replica_io

#endif  // CHUKAN_REPLICA_IO_CSV_READER_H_
