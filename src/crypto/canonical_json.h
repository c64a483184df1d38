// Canonical JSON: the one byte sequence that chukan signs for a JSON object (provision permits,
// envelopes, the permission list, audit checkpoints). Two parties that agree on a document's
// values compute the same bytes, whatever whitespace, key order or escaping the text they
// received used. The encoding is specified in docs/canonical-json.md; in short:
//
//   - input: strict JSON (RFC 8259), UTF-8 without BOM, at most 1 MiB, nesting depth at most 32;
//     duplicate object keys, non-integer numbers (fraction or exponent) and integers outside
//     ±(2^53−1), invalid UTF-8 and unpaired surrogate escapes are rejected;
//   - output: no insignificant whitespace; object members sorted by the UTF-8 bytes of their
//     keys; strings escape only '"', '\\' and control characters (\b \f \n \r \t, others as
//     \u00xx in lower-case hex), everything else (including non-ASCII) is written as UTF-8;
//     integers in shortest decimal form ("-0" becomes "0").
//
// Canonicalisation is idempotent. All functions are thread-safe.
#ifndef CHUKAN_CRYPTO_CANONICAL_JSON_H_
#define CHUKAN_CRYPTO_CANONICAL_JSON_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/bytes.h"
#include "crypto/ed25519.h"

namespace chukan::crypto {

inline constexpr size_t kCanonicalJsonMaxBytes = size_t{1} << 20;  // 1 MiB
inline constexpr size_t kCanonicalJsonMaxDepth = 32;
inline constexpr int64_t kCanonicalJsonMaxInteger = (int64_t{1} << 53) - 1;

// Parses `json_text` strictly and returns its canonical form.
// Errors: kInvalidArgument, with a message that says which rule was broken (with the byte offset
// for syntax errors; naming a duplicate key only if it is short printable ASCII; never echoing
// values), for: text over 1 MiB, nesting deeper than 32, a syntax error, a BOM, invalid UTF-8,
// a duplicate key, a non-integer number, an integer out of range.
Result<std::string> CanonicalizeJson(std::string_view json_text);

namespace internal {
// CanonicalizeJson reads with a fast reader first (json/sax_reader.h) and gives what it does not
// accept to nlohmann's parser, which decides and names every error. This is nlohmann's parser
// alone, for fuzz/json_reader to hold the two against each other.
Result<std::string> CanonicalizeJsonWithNlohmann(std::string_view json_text);
}  // namespace internal

// Signs the canonical form of `json_text` (64-byte Ed25519 signature).
// Errors: those of CanonicalizeJson.
Result<Bytes> SignCanonical(const SigningKey& key, std::string_view json_text);

// Canonicalises `json_text`, then checks `signature` over the canonical form; so a signature
// survives reformatting of the document but not a change of any value.
// Errors: those of CanonicalizeJson (kInvalidArgument), then those of VerifyKey::Verify
// (kInvalidArgument for a signature that is not 64 bytes, kUnauthenticated if it does not
// verify).
Status VerifyCanonical(const VerifyKey& key, std::string_view json_text,
                       std::span<const uint8_t> signature);

}  // namespace chukan::crypto

#endif  // CHUKAN_CRYPTO_CANONICAL_JSON_H_
