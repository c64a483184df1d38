// Envelope: the provider's answer to one provision permit — the payload sealed to the permit's
// reply key (crypto_box_seal, so only the inquirer can open it), with the routing fields the hub
// needs, signed with the provider's Ed25519 organisation key. The hub verifies the signature
// and relays the envelope unopened; it holds no key that opens `sealed`.
// Format: docs/linkage-protocol.md.
//
// Thread-safety: plain value types; the functions are thread-safe.
#ifndef CHUKAN_LINKAGE_ENVELOPE_H_
#define CHUKAN_LINKAGE_ENVELOPE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "crypto/bytes.h"
#include "crypto/ed25519.h"
#include "linkage/signed_document.h"

namespace chukan::linkage {

inline constexpr std::string_view kEnvelopeFormat = "chukan-envelope/1";
// Largest sealed payload (the answer in layout terms, repeating groups included).
inline constexpr size_t kMaxSealedBytes = 4 << 20;

struct Envelope {
  PermitId permit_id = PermitId::Generate();
  OrgCode provider = OrgCode::Parse("0000000000000000").value();
  OrgCode inquirer = OrgCode::Parse("0000000000000000").value();
  int64_t sealed_at_ms = 0;
  crypto::Bytes sealed;  // crypto_box_seal ciphertext, at most kMaxSealedBytes
  // Which of the provider's keys signed it (KeyIdOf): 16 lower-case hex digits. Written only
  // when set; envelopes made before key ids existed have none and still verify (they are tried
  // against each key the verifier accepts).
  std::string kid;
};

// The key id of an organisation's signing key: the first 8 bytes of SHA-256 of the public key,
// as 16 lower-case hex digits. Every party computes it from the key itself, so the hub and the
// servers agree on it without being told.
std::string KeyIdOf(const crypto::VerifyKey& key);
bool IsKeyId(std::string_view kid);

// One of an organisation's signing keys a verifier accepts (the hub's registry lists them).
struct OrgVerifyKey {
  std::string kid;  // KeyIdOf(key)
  crypto::VerifyKey key;
};

std::string EnvelopeDocument(const Envelope& envelope);
// Errors: kInvalidArgument naming the field.
Result<Envelope> ParseEnvelopeDocument(std::string_view document);

SignedDocument SignEnvelope(const Envelope& envelope, const crypto::SigningKey& provider_key);
// Checks canonical form and the provider's signature, then parses. Errors: those of
// VerifyDocument ("envelope: signature verification failed" for a forged or tampered one) and
// kInvalidArgument for a malformed document.
Result<Envelope> VerifyEnvelope(const SignedDocument& signed_envelope,
                                const crypto::VerifyKey& provider_key);
// The envelope's `kid`, read before its signature is checked (to choose the key); "" when it has
// none. Errors: kInvalidArgument for a document that is not a JSON object or a malformed kid.
Result<std::string> EnvelopeKeyId(const SignedDocument& signed_envelope);
// Verifies against the provider's accepted keys (during a key rotation, the old and the new
// one): with a `kid`, only the key of that id — none such is kUnauthenticated "envelope: signed
// with key <kid>, which is not accepted" (an unknown, retired or disabled key); without one, each
// key in turn, the first that verifies wins. Errors otherwise as VerifyEnvelope; no keys at all
// is kUnauthenticated.
Result<Envelope> VerifyEnvelopeWithKeys(const SignedDocument& signed_envelope,
                                        const std::vector<OrgVerifyKey>& provider_keys);

// The body of POST /hub/v1/provisions: {"envelope": "<document>", "signature": "<b64url>"}.
std::string SignedEnvelopeJson(const SignedDocument& signed_envelope);
Result<SignedDocument> ParseSignedEnvelopeJson(std::string_view body);

// The body of POST /node/v1/inquiry-results (hub → inquirer): the permit and the envelope,
// each with its signature, so the inquirer checks both (the hub's and the provider's).
struct ProvisionResult {
  SignedDocument permit;
  SignedDocument envelope;
};
std::string ProvisionResultJson(const ProvisionResult& result);
Result<ProvisionResult> ParseProvisionResultJson(std::string_view body);

// Largest body of the messages above.
inline constexpr size_t kMaxEnvelopeMessageBytes = 2 * kMaxSealedBytes;

}  // namespace chukan::linkage

#endif  // CHUKAN_LINKAGE_ENVELOPE_H_
