// JsonLinesReader: a streaming reader of replica import files in JSON Lines form — one JSON
// object per line, mapping item codes to values (see docs/import-formats.md). Strict: a line
// that is not an object of strings, integers and nulls is an error, never skipped.
//
// Thread-safety: single-threaded object (thread-compatible).
#ifndef CHUKAN_REPLICA_IO_JSON_LINES_READER_H_
#define CHUKAN_REPLICA_IO_JSON_LINES_READER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "replica_io/byte_source.h"
#include "replica_io/chunk_buffer.h"

namespace chukan::replica_io {

struct JsonLinesOptions {
  // Bytes of one line, its line ending included.
  size_t max_line_bytes = 1 << 20;
  // Members of one object (nulls included).
  size_t max_fields = 1024;
  // Bytes of one value after decoding (the decimal text, for an integer).
  size_t max_value_bytes = 64 << 10;
  // Keys that error messages may name: the caller's schema (the layout's item codes). Any other
  // key is input like a value — a file may carry personal data where keys belong — so messages
  // name a member by its position only. Unset: no key is named.
  std::function<bool(std::string_view key)> nameable_key;
};

// Keys longer than this are refused (item codes are 16 characters).
inline constexpr size_t kMaxJsonKeyBytes = 256;

class JsonLinesReader {
 public:
  // Reads from `src`, which the caller owns and keeps alive while the reader is used. A UTF-8
  // byte order mark at the very start of the input is skipped. Never fails; errors surface from
  // Next().
  explicit JsonLinesReader(ByteSource& src, JsonLinesOptions options = {});
  ~JsonLinesReader();
  JsonLinesReader(const JsonLinesReader&) = delete;
  JsonLinesReader& operator=(const JsonLinesReader&) = delete;

  // Advances to the next object: true if there is one (see fields()), false at end of input.
  // Lines end with LF or CRLF; the last line may lack its line ending. Blocks as `src` does.
  // Errors (after one, every later call returns the same error), all starting "line N" and
  // never quoting the input: a member is named by its 1-based position M in the object (nulls
  // counted), followed by " (K)" only when options.nameable_key(K) is true:
  //  - kInvalidArgument:
  //      "line N: empty line" (an empty line anywhere but as the single last line of the input)
  //      "line N: invalid JSON: <reason> at column C" (syntax, bad escapes, invalid UTF-8 …)
  //      "line N: expected a JSON object"
  //      "line N, member M: <kind> values are not allowed" (kind: floating-point, boolean,
  //        array, object)
  //      "line N, member M: duplicate key (the same as member L)"
  //      "line N, member M: key longer than 256 bytes"
  //  - kResourceExhausted:
  //      "line N: line exceeds max_line_bytes (B)"
  //      "line N: more than max_fields (F) fields"
  //      "line N, member M: value exceeds max_value_bytes (B)"
  //  - any error of `src`, unchanged.
  Result<bool> Next();

  // The current object's members in input order, as (key, value): strings decoded, integers as
  // their decimal text (-0 as "0"), members whose value is null left out. Valid until the next
  // Next(). Precondition: the last Next() returned true.
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

  // For each of fields(), its 1-based position in the object, null members counted: how error
  // messages about the current object name a member. Valid until the next Next().
  const std::vector<size_t>& members() const { return members_; }

  // 1-based line of the current object.
  int64_t line() const { return line_; }

  // Number of objects returned so far.
  int64_t records() const { return records_; }

 private:
  Status Fail(Status s);
  Status ParseLine(const char* begin, const char* end);

  ChunkBuffer buf_;
  JsonLinesOptions options_;
  bool started_ = false;
  bool finished_ = false;
  Status error_;
  size_t pos_ = 0;    // start of the next line in buf_
  int64_t line_ = 0;  // line of the current object
  int64_t records_ = 0;
  std::vector<std::pair<std::string, std::string>> fields_;
  std::vector<size_t> members_;      // parallel to fields_
  std::vector<bool> is_null_;        // parallel to fields_ while parsing
  std::vector<size_t> sorted_keys_;  // scratch for the duplicate check: indexes into fields_
};

}  // namespace chukan::replica_io

#endif  // CHUKAN_REPLICA_IO_JSON_LINES_READER_H_
