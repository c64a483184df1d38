// libFuzzer target for the fast JSON reader (json/sax_reader.h), which ParseJsonObject (every
// request body and signed document) and CanonicalizeJson (every signature made or checked) try
// before nlohmann's parser. It is only a fast path: what it does not accept goes to nlohmann,
// which decides. So the property is one-sided, and checked against nlohmann as the reference:
//  - when ReadSax accepts the text, nlohmann's strict sax_parse accepts it too, with the same
//    events in the same order — the same types (negative integers as number_integer, others as
//    number_unsigned, integers past 64 bits and fractions as floats with their text), the same
//    strings and keys byte for byte, the same doubles bit for bit;
//  - ParseJsonObject through the fast reader and through nlohmann alone agree
//    (json::internal::CheckFastReader: nothing accepted that nlohmann refuses, the same tree,
//    types included), under a depth limit from the first byte (1 to 32);
//  - CanonicalizeJson and its nlohmann-only twin give the same text, or the same error.
//
// Run it: scripts/fuzz [SECONDS] json_reader. Every build replays fuzz/corpus/json_reader/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/canonical_json.h"
#include "json/json.h"
#include "json/sax_reader.h"
#include "json/sax_test_util.h"

namespace {

using Json = nlohmann::json;

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int depth = 1 + data[0] % 32;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  chukan::json::testing::SaxRecorder fast;
  if (chukan::json::ReadSax(text, fast)) {
    chukan::json::testing::SaxRecorder reference;
    bool accepted = false;
    try {
      accepted = Json::sax_parse(text.data(), text.data() + text.size(), &reference,
                                 Json::input_format_t::json, /*strict=*/true,
                                 /*ignore_comments=*/false);
    } catch (const std::exception&) {
      accepted = false;
    }
    Check(accepted);
    Check(fast.events() == reference.events());
  }

  Check(chukan::json::internal::CheckFastReader(text, {1 << 20, depth}).empty());

  const chukan::Result<std::string> canonical = chukan::crypto::CanonicalizeJson(text);
  const chukan::Result<std::string> slow =
      chukan::crypto::internal::CanonicalizeJsonWithNlohmann(text);
  Check(canonical.ok() == slow.ok());
  if (canonical.ok()) {
    Check(*canonical == *slow);
  } else {
    Check(canonical.status().code() == slow.status().code());
    Check(canonical.status().message() == slow.status().message());
  }
  return 0;
}
