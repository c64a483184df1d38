#include "linkage/envelope.h"

#include "crypto/canonical_json.h"
#include "crypto/hash.h"
#include "json/json.h"

namespace chukan::linkage {
namespace {

// base64url text of kMaxSealedBytes, plus the other fields.
constexpr size_t kMaxDocumentBytes = kMaxSealedBytes / 3 * 4 + 4096;

using json::IdField;

Result<SignedDocument> ParsePair(const json::JsonObject& o, std::string_view doc_field,
                                 std::string_view sig_field) {
  SignedDocument out;
  ASSIGN_OR_RETURN(out.document, o.GetString(doc_field, kMaxDocumentBytes));
  ASSIGN_OR_RETURN(std::string sig, o.GetString(sig_field, 128));
  Result<crypto::Bytes> raw = crypto::FromBase64Url(sig);
  if (!raw.ok()) {
    return InvalidArgumentError("field \"" + std::string(sig_field) + "\": not base64url");
  }
  out.signature = std::move(*raw);
  return out;
}

}  // namespace

std::string EnvelopeDocument(const Envelope& e) {
  json::JsonWriter w;
  w.BeginObject()
      .Key("format")
      .String(kEnvelopeFormat)
      .Key("permit_id")
      .String(e.permit_id.str())
      .Key("provider")
      .String(e.provider.str())
      .Key("inquirer")
      .String(e.inquirer.str())
      .Key("sealed_at_ms")
      .Int(e.sealed_at_ms)
      .Key("sealed")
      .String(crypto::ToBase64Url(e.sealed));
  if (!e.kid.empty()) w.Key("kid").String(e.kid);
  w.EndObject();
  return crypto::CanonicalizeJson(w.Finish().value()).value();
}

Result<Envelope> ParseEnvelopeDocument(std::string_view document) {
  ASSIGN_OR_RETURN(json::JsonObject o, json::ParseJsonObject(document, {kMaxDocumentBytes, 2}));
  RETURN_IF_ERROR(o.RejectUnknownFields(
      {"format", "permit_id", "provider", "inquirer", "sealed_at_ms", "sealed", "kid"}));
  ASSIGN_OR_RETURN(std::string format, o.GetString("format", 64));
  if (format != kEnvelopeFormat) {
    return InvalidArgumentError("field \"format\": expected \"" + std::string(kEnvelopeFormat) +
                                "\"");
  }
  Envelope e;
  ASSIGN_OR_RETURN(e.permit_id, IdField<PermitId>(o, "permit_id"));
  ASSIGN_OR_RETURN(e.provider, IdField<OrgCode>(o, "provider"));
  ASSIGN_OR_RETURN(e.inquirer, IdField<OrgCode>(o, "inquirer"));
  ASSIGN_OR_RETURN(e.sealed_at_ms, o.GetInt("sealed_at_ms", 0, crypto::kCanonicalJsonMaxInteger));
  ASSIGN_OR_RETURN(std::string sealed, o.GetString("sealed", kMaxDocumentBytes));
  Result<crypto::Bytes> raw = crypto::FromBase64Url(sealed);
  if (!raw.ok()) return InvalidArgumentError("field \"sealed\": not base64url");
  if (raw->size() > kMaxSealedBytes) {
    return InvalidArgumentError("field \"sealed\": larger than " + std::to_string(kMaxSealedBytes) +
                                " bytes");
  }
  e.sealed = std::move(*raw);
  ASSIGN_OR_RETURN(std::optional<std::string> kid, o.GetOptionalString("kid", 16));
  if (kid) {
    if (!IsKeyId(*kid))
      return InvalidArgumentError("field \"kid\": expected 16 lower-case hex digits");
    e.kid = std::move(*kid);
  }
  return e;
}

std::string KeyIdOf(const crypto::VerifyKey& key) {
  return crypto::ToHex(crypto::Sha256(key.bytes())).substr(0, 16);
}

bool IsKeyId(std::string_view kid) {
  return kid.size() == 16 && kid.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

Result<std::string> EnvelopeKeyId(const SignedDocument& signed_envelope) {
  // Not a second parse of a document of up to 5.6 MiB: in canonical form the keys are sorted, so
  // "kid" comes before "sealed" (the large value). What is read here only chooses the key; the
  // signature then covers the document, whose parsed kid must be this one
  // (VerifyEnvelopeWithKeys), so a document that misleads this scan fails there.
  const std::string_view doc = signed_envelope.document;
  const std::string_view head = doc.substr(0, doc.find("\"sealed\":"));
  constexpr std::string_view kField = "\"kid\":\"";
  const size_t at = head.find(kField);
  if (at == std::string_view::npos) return std::string();
  const std::string_view kid = head.substr(at + kField.size(), 16);
  if (!IsKeyId(kid) || head.substr(at + kField.size() + 16, 1) != "\"") {
    return InvalidArgumentError("envelope: field \"kid\": expected 16 lower-case hex digits");
  }
  return std::string(kid);
}

Result<Envelope> VerifyEnvelopeWithKeys(const SignedDocument& signed_envelope,
                                        const std::vector<OrgVerifyKey>& provider_keys) {
  ASSIGN_OR_RETURN(std::string kid, EnvelopeKeyId(signed_envelope));
  if (!kid.empty()) {
    for (const OrgVerifyKey& k : provider_keys) {
      if (k.kid != kid) continue;
      ASSIGN_OR_RETURN(Envelope e, VerifyEnvelope(signed_envelope, k.key));
      if (e.kid != kid)
        return InvalidArgumentError("envelope: field \"kid\" is not where expected");
      return e;
    }
    return UnauthenticatedError("envelope: signed with key " + kid + ", which is not accepted");
  }
  Status first = UnauthenticatedError("envelope: the provider has no accepted key");
  for (size_t i = 0; i < provider_keys.size(); ++i) {
    Result<Envelope> e = VerifyEnvelope(signed_envelope, provider_keys[i].key);
    if (e.ok() && !e->kid.empty()) {
      return InvalidArgumentError("envelope: field \"kid\" is not where expected");
    }
    if (e.ok() || e.status().code() != StatusCode::kUnauthenticated) return e;
    if (i == 0) first = e.status();
  }
  return first;
}

SignedDocument SignEnvelope(const Envelope& envelope, const crypto::SigningKey& provider_key) {
  SignedDocument out;
  out.document = EnvelopeDocument(envelope);
  out.signature = provider_key.Sign(crypto::AsBytes(out.document));
  return out;
}

Result<Envelope> VerifyEnvelope(const SignedDocument& signed_envelope,
                                const crypto::VerifyKey& provider_key) {
  RETURN_IF_ERROR(VerifyDocument(signed_envelope, provider_key, "envelope"));
  Result<Envelope> e = ParseEnvelopeDocument(signed_envelope.document);
  if (!e.ok()) return InvalidArgumentError("envelope: " + e.status().message());
  return e;
}

std::string SignedEnvelopeJson(const SignedDocument& signed_envelope) {
  json::JsonWriter w;
  w.BeginObject()
      .Key("envelope")
      .String(signed_envelope.document)
      .Key("signature")
      .String(crypto::ToBase64Url(signed_envelope.signature))
      .EndObject();
  return w.Finish().value();
}

Result<SignedDocument> ParseSignedEnvelopeJson(std::string_view body) {
  ASSIGN_OR_RETURN(json::JsonObject o, json::ParseJsonObject(body, {kMaxEnvelopeMessageBytes, 2}));
  RETURN_IF_ERROR(o.RejectUnknownFields({"envelope", "signature"}));
  return ParsePair(o, "envelope", "signature");
}

std::string ProvisionResultJson(const ProvisionResult& r) {
  json::JsonWriter w;
  w.BeginObject()
      .Key("permit")
      .String(r.permit.document)
      .Key("permit_signature")
      .String(crypto::ToBase64Url(r.permit.signature))
      .Key("envelope")
      .String(r.envelope.document)
      .Key("envelope_signature")
      .String(crypto::ToBase64Url(r.envelope.signature))
      .EndObject();
  return w.Finish().value();
}

Result<ProvisionResult> ParseProvisionResultJson(std::string_view body) {
  ASSIGN_OR_RETURN(json::JsonObject o, json::ParseJsonObject(body, {kMaxEnvelopeMessageBytes, 2}));
  RETURN_IF_ERROR(
      o.RejectUnknownFields({"permit", "permit_signature", "envelope", "envelope_signature"}));
  ProvisionResult r;
  ASSIGN_OR_RETURN(r.permit, ParsePair(o, "permit", "permit_signature"));
  ASSIGN_OR_RETURN(r.envelope, ParsePair(o, "envelope", "envelope_signature"));
  return r;
}

}  // namespace chukan::linkage
