// libFuzzer target for replica_io::Dbm20113Reader (and, through it, AppendDbm20113Entry).
//
// The first input byte picks the read size of the source (1..256 bytes, to move the chunk
// boundaries and the parser's queued entries around); the rest is the attachment. Small limits.
// Beyond "no crash, no sanitizer report", it checks a property: every entry the reader accepts
// (with a replica data root), written back with AppendDbm20113Entry, reads back to the same
// fields, root and items (attributes included).
//
// Run it: scripts/fuzz [SECONDS] dbm20113_reader. Every build also replays its corpus,
// fuzz/corpus/dbm20113_reader/, in `make test` (fuzz/CMakeLists.txt).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "replica_io/byte_source.h"
#include "replica_io/dbm20113_reader.h"
#include "replica_io/dbm20113_writer.h"
#include "small_reads.h"  // fuzz/, beside this file

namespace {

using chukan::Result;
using chukan::replica_io::Dbm20113Entry;
using chukan::replica_io::Dbm20113EntryOut;
using chukan::replica_io::Dbm20113Field;
using chukan::replica_io::Dbm20113Limits;
using chukan::replica_io::Dbm20113Reader;
using chukan::replica_io::kDbm20113FieldCount;

std::string Canonical(const Dbm20113Entry& e) {
  std::string c;
  for (size_t f = 0; f < kDbm20113FieldCount; ++f) {
    if (static_cast<Dbm20113Field>(f) == Dbm20113Field::kKojinNo) continue;  // never written
    c.append(e.Field(static_cast<Dbm20113Field>(f))).push_back('\x01');
  }
  c.append(e.copy_root).push_back('\x01');
  for (const auto& it : e.items) {
    c.append(it.code).push_back('\x02');
    c.append(it.value).push_back('\x02');
    c.push_back(it.nil ? 'n' : '-');
    c.append(it.reason_of_null).push_back('\x02');
    c.append(it.version).push_back('\x02');
    c.append(it.updated).push_back('\x03');
  }
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t read_size = 1 + data[0];
  Dbm20113Limits limits;
  limits.max_depth = 8;
  limits.max_field_bytes = 64;
  limits.max_item_bytes = 512;
  limits.max_copy_bytes = 4096;
  limits.max_items = 32;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  chukan::fuzz::SmallReads src(text, read_size);
  Dbm20113Reader reader(src, limits);
  std::vector<std::string> canonical;
  std::string rewritten;
  chukan::replica_io::AppendDbm20113Head(rewritten);
  for (;;) {
    Result<bool> more = reader.Next();
    if (!more.ok() || !*more) break;
    const Dbm20113Entry& e = reader.entry();
    if (e.copy_root.empty()) continue;
    canonical.push_back(Canonical(e));
    Dbm20113EntryOut out;
    for (size_t f = 0; f < kDbm20113FieldCount; ++f) out.fields[f] = e.fields[f];
    out.copy_root = e.copy_root;
    for (const auto& it : e.items) {
      out.items.push_back({it.code, it.value, it.nil, it.reason_of_null, it.version, it.updated});
    }
    chukan::replica_io::AppendDbm20113Entry(rewritten, out);
  }
  chukan::replica_io::AppendDbm20113Tail(rewritten);

  // Escaping adds bytes: lift the limits for the second read.
  chukan::replica_io::StringSource again_src(rewritten);
  Dbm20113Reader again(again_src);
  for (const std::string& expected : canonical) {
    Result<bool> more = again.Next();
    if (!more.ok() || !*more) std::abort();
    if (Canonical(again.entry()) != expected) std::abort();
  }
  Result<bool> end = again.Next();
  if (!end.ok() || *end) std::abort();
  return 0;
}
