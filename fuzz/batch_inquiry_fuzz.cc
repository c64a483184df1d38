// libFuzzer target for server::ParseBatchInquiryFile (the batch inquiry file, 一括照会ファイル,
// in the P640R110 layout).
//
// The first input byte picks the read size of the source (1..128 bytes, to move the chunk
// boundaries around; bit 7 selects CP932 decoding); the rest is the file. Small limits (50 lines,
// 512 bytes a line) so the limit paths are reached. Beyond "no crash, no sanitizer report", it
// checks the contract: every line read either yields exactly one inquiry or at least one error,
// both lists are in line order, every line number is in 1..lines, and every inquiry keeps its
// 18 fields and names its provider exactly one way (機関コード or 地方公共団体コード).
//
// Run it: scripts/fuzz [SECONDS] batch_inquiry (clang, libFuzzer, ASan/UBSan). Every build
// also replays its corpus, fuzz/corpus/batch_inquiry/, in `make test` (fuzz/CMakeLists.txt).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string_view>

#include "replica_io/byte_source.h"
#include "server/batch_inquiry.h"
#include "small_reads.h"  // fuzz/, beside this file

namespace {

using chukan::Result;
using chukan::fuzz::SmallReads;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  chukan::server::BatchOptions options;
  options.charset = (data[0] & 0x80) != 0 ? chukan::replica_io::Charset::kCp932
                                          : chukan::replica_io::Charset::kUtf8;
  options.max_lines = 50;
  options.max_line_bytes = 512;
  const size_t read_size = 1 + (data[0] & 0x7F);
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  SmallReads src(text, read_size);
  Result<chukan::server::BatchParseResult> r = chukan::server::ParseBatchInquiryFile(src, options);
  if (!r.ok()) return 0;

  if (r->lines < 1 || r->lines > options.max_lines) std::abort();
  std::set<int64_t> bad;
  int64_t last = 0;
  for (const auto& e : r->errors) {
    if (e.line < last || e.line < 1 || e.line > r->lines) std::abort();
    if (e.field.empty() || e.reason.empty()) std::abort();
    last = e.line;
    bad.insert(e.line);
  }
  last = 0;
  for (const auto& inquiry : r->inquiries) {
    if (inquiry.line <= last || inquiry.line > r->lines || bad.contains(inquiry.line)) {
      std::abort();
    }
    last = inquiry.line;
    if (inquiry.fields.size() != chukan::server::kBatchFieldCount) std::abort();
    if (inquiry.provider.has_value() == !inquiry.provider_local_gov.empty()) std::abort();
  }
  if (static_cast<int64_t>(bad.size() + r->inquiries.size()) != r->lines) std::abort();
  return 0;
}
