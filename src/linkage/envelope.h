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
