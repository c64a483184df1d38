// libFuzzer target for replica_io::CsvReader (and, through it, AppendCsvRecord).
//
// The first input byte picks the read size of the source (1..256 bytes, to move the chunk
// boundaries around) and small limits; the rest is the CSV text. Beyond "no crash, no sanitizer
// report", it checks a property: every record the reader accepts, written back with
// AppendCsvRecord, reads back identically.
//
// Run it: scripts/fuzz [SECONDS] csv_reader (clang, libFuzzer, ASan/UBSan). Every build
// also replays its corpus, fuzz/corpus/csv_reader/, in `make test` (fuzz/CMakeLists.txt).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "replica_io/byte_source.h"
#include "replica_io/csv_reader.h"
#include "replica_io/csv_writer.h"
#include "small_reads.h"  // fuzz/, beside this file

namespace {

using chukan::Result;
using chukan::replica_io::CsvOptions;
using chukan::replica_io::CsvReader;

using chukan::fuzz::SmallReads;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t read_size = 1 + data[0];
  CsvOptions options;
  options.max_fields = 64;
  options.max_field_bytes = 512;
  options.max_record_bytes = 2048;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  SmallReads src(text, read_size);
  CsvReader reader(src, options);
  std::vector<std::vector<std::string>> records;
  std::string rewritten;
  for (;;) {
    Result<bool> more = reader.Next();
    if (!more.ok() || !*more) break;
    records.emplace_back(reader.fields().begin(), reader.fields().end());
    chukan::replica_io::AppendCsvRecord(rewritten, reader.fields());
  }

  // Round trip of what was accepted (quoting adds bytes, so lift the record limit).
  options.max_record_bytes = 8192;
  chukan::replica_io::StringSource again_src(rewritten);
  CsvReader again(again_src, options);
  for (const auto& record : records) {
    Result<bool> more = again.Next();
    if (!more.ok() || !*more) std::abort();
    if (std::vector<std::string>(again.fields().begin(), again.fields().end()) != record) {
      std::abort();
    }
  }
  Result<bool> end = again.Next();
  if (!end.ok() || *end) std::abort();
  return 0;
}
