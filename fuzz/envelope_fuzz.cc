// libFuzzer target for the envelope parsers: the envelope document, the signed-envelope body of
// POST /hub/v1/provisions and the provision result of POST /node/v1/inquiry-results. The first
// byte picks the parser. Property: whatever parses is written back by the library's writer into
// a body that parses again to the same values.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "linkage/envelope.h"

using namespace chukan::linkage;  // NOLINT: a fuzz target, the names are all from here

namespace {

bool Same(const SignedDocument& a, const SignedDocument& b) {
  return a.document == b.document && a.signature == b.signature;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto envelope = ParseEnvelopeDocument(text);
      if (!envelope.ok()) return 0;
      if (envelope->sealed.size() > kMaxSealedBytes) std::abort();
      const std::string doc = EnvelopeDocument(*envelope);
      auto again = ParseEnvelopeDocument(doc);
      if (!again.ok() || EnvelopeDocument(*again) != doc) std::abort();
      break;
    }
    case 1: {
      auto signed_envelope = ParseSignedEnvelopeJson(text);
      if (!signed_envelope.ok()) return 0;
      auto again = ParseSignedEnvelopeJson(SignedEnvelopeJson(*signed_envelope));
      if (!again.ok() || !Same(*again, *signed_envelope)) std::abort();
      break;
    }
    default: {
      auto result = ParseProvisionResultJson(text);
      if (!result.ok()) return 0;
      auto again = ParseProvisionResultJson(ProvisionResultJson(*result));
      if (!again.ok() || !Same(again->permit, result->permit) ||
          !Same(again->envelope, result->envelope)) {
        std::abort();
      }
      break;
    }
  }
  return 0;
}
