// libFuzzer target for crypto::CanonicalizeJson, the one byte sequence chukan signs.
// Properties: canonicalisation is idempotent (the canonical form canonicalises to itself), and
// never longer than the limit it enforces on its input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "crypto/canonical_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  chukan::Result<std::string> canonical = chukan::crypto::CanonicalizeJson(text);
  if (!canonical.ok()) return 0;
  if (canonical->size() > chukan::crypto::kCanonicalJsonMaxBytes) std::abort();
  chukan::Result<std::string> again = chukan::crypto::CanonicalizeJson(*canonical);
  if (!again.ok() || *again != *canonical) std::abort();
  return 0;
}
