// libFuzzer target for replica_io::JsonLinesReader, the JSON Lines reader of the replica import.
//
// The first input byte picks the read size of the source (1..256 bytes, to move the chunk
// boundaries around) and small limits; the rest is the file. Beyond "no crash, no sanitizer
// report", it checks:
//  - every error starts "line N" (N the line being read, after the last object returned) and
//    is kInvalidArgument or kResourceExhausted; it is sticky (the next call returns it again);
//  - an object returned respects the limits (fields, value bytes), numbers its members in
//    ascending order and has no duplicate key;
//  - every object accepted, written back as a JSON Lines object of strings (log's
//    AppendJsonString), reads back to the same members.
//
// Run it: scripts/fuzz [SECONDS] jsonl_reader. Every build also replays its corpus,
// fuzz/corpus/jsonl_reader/, in `make test` (fuzz/CMakeLists.txt).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/log.h"
#include "replica_io/byte_source.h"
#include "replica_io/json_lines_reader.h"
#include "small_reads.h"  // fuzz/, beside this file

namespace {

using chukan::Result;
using chukan::StatusCode;
using chukan::fuzz::SmallReads;
using chukan::replica_io::JsonLinesOptions;
using chukan::replica_io::JsonLinesReader;

using Record = std::vector<std::pair<std::string, std::string>>;

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t read_size = 1 + data[0];
  JsonLinesOptions options;
  options.max_line_bytes = 4096;
  options.max_fields = 32;
  options.max_value_bytes = 256;
  options.nameable_key = [](std::string_view key) { return key.starts_with("IT"); };
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  SmallReads src(text, read_size);
  JsonLinesReader reader(src, options);
  std::vector<Record> records;
  std::string rewritten;
  int64_t last_line = 0;
  for (;;) {
    Result<bool> more = reader.Next();
    if (!more.ok()) {
      const chukan::Status error = more.status();
      Check(error.code() == StatusCode::kInvalidArgument ||
            error.code() == StatusCode::kResourceExhausted);
      const std::string prefix = "line ";
      Check(error.message().starts_with(prefix));
      const int64_t line = std::stoll(error.message().substr(prefix.size()));
      Check(line > last_line);
      Result<bool> again = reader.Next();
      Check(!again.ok() && again.status() == error);
      break;
    }
    if (!*more) break;
    Check(reader.line() > last_line);
    last_line = reader.line();
    const Record& fields = reader.fields();
    Check(fields.size() <= options.max_fields);
    Check(reader.members().size() == fields.size());
    std::set<std::string_view> keys;
    for (size_t i = 0; i < fields.size(); ++i) {
      Check(fields[i].first.size() <= chukan::replica_io::kMaxJsonKeyBytes);
      Check(fields[i].second.size() <= options.max_value_bytes);
      Check(keys.insert(fields[i].first).second);
      if (i > 0) Check(reader.members()[i - 1] < reader.members()[i]);
    }
    records.push_back(fields);
    rewritten += '{';
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i > 0) rewritten += ',';
      chukan::log::AppendJsonString(rewritten, fields[i].first);
      rewritten += ':';
      chukan::log::AppendJsonString(rewritten, fields[i].second);
    }
    rewritten += "}\n";
  }

  // Round trip of what was accepted (escaping adds bytes, so lift the line limit).
  options.max_line_bytes = 6 * 4096;  // \u escapes: at most 6 bytes for each byte read
  chukan::replica_io::StringSource again_src(rewritten);
  JsonLinesReader again(again_src, options);
  for (const Record& record : records) {
    Result<bool> more = again.Next();
    Check(more.ok() && *more && again.fields() == record);
  }
  Result<bool> end = again.Next();
  Check(end.ok() && !*end);
  return 0;
}
