#include "replica_io/csv_writer.h"

#include <array>

namespace chukan::replica_io {
namespace {

constexpr std::array<bool, 256> kNeedsQuotes = [] {
  std::array<bool, 256> t{};
  t[static_cast<unsigned char>(',')] = true;
  t[static_cast<unsigned char>('"')] = true;
  t[static_cast<unsigned char>('\r')] = true;
  t[static_cast<unsigned char>('\n')] = true;
  return t;
}();

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

bool NeedsQuotes(std::string_view f) {
  if (f.empty()) return false;
  if (IsBlank(f.front()) || IsBlank(f.back()) || f.starts_with("\xEF\xBB\xBF")) return true;
  for (const char c : f) {
    if (kNeedsQuotes[static_cast<unsigned char>(c)]) return true;
  }
  return false;
}

}  // namespace

void AppendCsvRecord(std::string& out, std::span<const std::string_view> fields) {
  if (fields.empty() || (fields.size() == 1 && fields[0].empty())) {
    out += "\"\"\n";
    return;
  }
  bool first = true;
  for (const std::string_view f : fields) {
    if (!first) out += ',';
    first = false;
    if (!NeedsQuotes(f)) {
      out += f;
      continue;
    }
    out += '"';
    size_t from = 0;
    for (size_t q = f.find('"'); q != std::string_view::npos; q = f.find('"', q + 1)) {
      out.append(f, from, q + 1 - from);
      out += '"';
      from = q + 1;
    }
    out.append(f, from);
    out += '"';
  }
  out += '\n';
}

}  // namespace chukan::replica_io
