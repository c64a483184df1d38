// libFuzzer target for the DBM_20113 header file (特定個人情報登録依頼 IF_DBM_20113_R01's
// DBM_20113_<…>.xml, which `chukan replica import --header` reads: replica_io::
// ParseDbm20113Header) and for SniffXmlDeclaredCharset, which picks the decoding of every
// DBM_20113 upload. The first byte picks which. Properties:
//  - a header error is kInvalidArgument starting "line L: " (L within the input's lines) or naming
//    the MessageHeader field at fault; a header that parses is IF_DBM_20113_R01 with MsgMode 0
//    or 1, and no field longer than 256 bytes;
//  - the sniffed charset is "utf-8", "shift_jis" or none, and "utf-8" when the input has no XML
//    declaration.
//
// Run it: scripts/fuzz [SECONDS] dbm20113_header. Every build replays
// fuzz/corpus/dbm20113_header/ in `make test`.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "replica_io/dbm20113_reader.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckHeader(std::string_view xml) {
  chukan::Result<chukan::replica_io::Dbm20113Header> h =
      chukan::replica_io::ParseDbm20113Header(xml);
  if (!h.ok()) {
    // kResourceExhausted: a field over 256 bytes ("line N: …"), or the file over 64 KiB.
    Check(h.status().code() == chukan::StatusCode::kInvalidArgument ||
          h.status().code() == chukan::StatusCode::kResourceExhausted);
    if (h.status().message().starts_with("the DBM_20113 header file is larger")) return;
    const std::string m = h.status().message();
    if (m.starts_with("MessageHeader/")) return;
    Check(m.starts_with("line "));
    const unsigned long line = std::stoul(m.substr(5));
    const size_t lines = 1 + static_cast<size_t>(std::count(xml.begin(), xml.end(), '\n'));
    Check(line >= 1 && line <= lines);
    return;
  }
  Check(h->msg_type_id == "IF_DBM_20113_R01");
  Check(h->msg_mode == "0" || h->msg_mode == "1");
  for (const std::string* f : {&h->source_system_id, &h->destination_system_id,
                               &h->request_unit_code, &h->request_user_id}) {
    Check(f->size() <= 256);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    CheckHeader(text);
    return 0;
  }
  const std::optional<std::string_view> charset = chukan::replica_io::SniffXmlDeclaredCharset(text);
  Check(!charset || *charset == "utf-8" || *charset == "shift_jis");
  std::string_view head = text;
  if (head.starts_with("\xEF\xBB\xBF")) head.remove_prefix(3);
  if (!head.starts_with("<?xml")) Check(charset == "utf-8");
  return 0;
}
