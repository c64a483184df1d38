// libFuzzer target for the provision permit (提供許可証) parsers: the permit document and the
// signed-permit body of POST /node/v1/provision-requests. The first byte picks the parser.
// Properties: whatever parses is written back by the library's own writer into a document
// that parses again to the same document (the writers and parsers agree), and the query
// conditions of a parsed permit pass CheckQuery.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "linkage/permit.h"

using chukan::linkage::ParsePermitDocument;
using chukan::linkage::ParseSignedPermitJson;
using chukan::linkage::PermitDocument;
using chukan::linkage::SignedPermitJson;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    auto permit = ParsePermitDocument(text);
    if (!permit.ok()) return 0;
    if (!chukan::linkage::CheckQuery(permit->query).ok()) std::abort();
    const std::string doc = PermitDocument(*permit);
    auto again = ParsePermitDocument(doc);
    if (!again.ok() || PermitDocument(*again) != doc) std::abort();
  } else {
    auto signed_permit = ParseSignedPermitJson(text);
    if (!signed_permit.ok()) return 0;
    auto again = ParseSignedPermitJson(SignedPermitJson(*signed_permit));
    if (!again.ok() || again->document != signed_permit->document ||
        again->signature != signed_permit->signature) {
      std::abort();
    }
  }
  return 0;
}
