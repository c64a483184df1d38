#include "linkage/envelope.h"

#include "crypto/canonical_json.h"
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
      .String(crypto::ToBase64Url(e.sealed))
      .EndObject();
  return crypto::CanonicalizeJson(w.Finish().value()).value();
}

Result<Envelope> ParseEnvelopeDocument(std::string_view document) {
  ASSIGN_OR_RETURN(json::JsonObject o, json::ParseJsonObject(document, {kMaxDocumentBytes, 2}));
  RETURN_IF_ERROR(o.RejectUnknownFields(
      {"format", "permit_id", "provider", "inquirer", "sealed_at_ms", "sealed"}));
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
  return e;
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
