#include "linkage/permit.h"

#include "common/utf8.h"
#include "crypto/canonical_json.h"
#include "json/json.h"

namespace chukan::linkage {
namespace {

constexpr size_t kMaxDocumentBytes = 16 * 1024;

bool IsVersion(std::string_view v) {
  if (v.size() != 4) return false;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

using json::IdField;

}  // namespace

Result<std::optional<OrgCode>> OptionalOrgField(const json::JsonObject& o, std::string_view field) {
  if (!o.Has(field)) return std::optional<OrgCode>();
  ASSIGN_OR_RETURN(OrgCode code, IdField<OrgCode>(o, field));
  return std::optional<OrgCode>(code);
}

Result<std::map<std::string, std::string>> ParseQuery(const json::JsonObject& o) {
  std::map<std::string, std::string> query;
  ASSIGN_OR_RETURN(json::JsonObject q, o.GetObject("query"));
  for (const std::string& key : q.Keys()) {
    if (query.size() == kMaxQueryConditions) break;  // CheckQuery reports the excess
    Result<std::string> value = q.GetString(key, kMaxQueryValueBytes);
    if (!value.ok()) {
      // GetString's message would quote the key, which is the client's text.
      return InvalidArgumentError("field \"query\": condition " + std::to_string(query.size() + 1) +
                                  " in key order: the value must be a string of at most " +
                                  std::to_string(kMaxQueryValueBytes) + " bytes");
    }
    query.emplace(key, *std::move(value));
  }
  if (q.Keys().size() > kMaxQueryConditions) {
    return InvalidArgumentError("field \"query\": at most 8 conditions");
  }
  RETURN_IF_ERROR(CheckQuery(query));
  return query;
}

Status CheckQuery(const std::map<std::string, std::string>& query) {
  if (query.size() > kMaxQueryConditions) {
    return InvalidArgumentError("query: at most " + std::to_string(kMaxQueryConditions) +
                                " conditions");
  }
  size_t position = 0;
  for (const auto& [key, value] : query) {
    // Conditions are named by position (the map is in key order), never by key or value: a key
    // is the client's text until it is checked against the layout.
    const std::string where = "query: condition " + std::to_string(++position) + " in key order: ";
    if (key.empty() || key.size() > kMaxQueryKeyBytes ||
        key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
            std::string::npos) {
      return InvalidArgumentError(where + "keys are 1 to 32 of A-Z, a-z, 0-9, '_'");
    }
    if (value.size() > kMaxQueryValueBytes || !IsValidUtf8(value)) {
      return InvalidArgumentError(where + "the value must be at most 64 bytes of UTF-8");
    }
  }
  return SplitQuery(query).status();
}

int FiscalYear(const layout::Date& d) { return d.month >= 4 ? d.year : d.year - 1; }

Result<QueryConditions> SplitQuery(const std::map<std::string, std::string>& query) {
  QueryConditions out;
  for (const auto& [key, value] : query) {
    if (key.empty() || key[0] != '_') {
      out.items.emplace(key, value);
      continue;
    }
    if (key == kQueryFrom || key == kQueryTo) {
      std::optional<layout::Date> d = layout::Date::Parse(value);
      if (!d) return InvalidArgumentError("query: " + key + ": expected YYYY-MM-DD, a real day");
      (key == kQueryFrom ? out.from : out.to) = d;
    } else if (key == kQueryFiscalItem) {
      if (value.size() != 16 ||
          value.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != std::string::npos) {
        return InvalidArgumentError("query: _fiscal_item: expected an item code (16 of A-Z, 0-9)");
      }
      out.fiscal_item = value;
    } else if (key == kQueryScope) {
      if (value != kScopeHousehold) {
        return InvalidArgumentError("query: _scope: expected \"household\"");
      }
      out.household = true;
    } else {
      // Named by position: an unknown key is the client's text.
      size_t position = 1;
      for (auto it = query.begin(); it->first != key; ++it) ++position;
      return InvalidArgumentError("query: condition " + std::to_string(position) +
                                  " in key order: not a reserved key (_from, _to, _fiscal_item, "
                                  "_scope)");
    }
  }
  if (out.from.has_value() != out.to.has_value()) {
    return InvalidArgumentError("query: _from and _to are given together");
  }
  if (out.from && *out.to < *out.from) {
    return InvalidArgumentError("query: _to is before _from");
  }
  if (!out.fiscal_item.empty() && !out.from) {
    return InvalidArgumentError("query: _fiscal_item needs the period (_from and _to)");
  }
  return out;
}

Status CheckReference(std::string_view reference) {
  if (reference.empty() || reference.size() > kMaxReferenceBytes) {
    return InvalidArgumentError("reference: expected 1 to 64 characters");
  }
  for (char c : reference) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return InvalidArgumentError("reference: only A-Z, a-z, 0-9, '-' and '_' allowed");
  }
  return Status();
}

std::string PermitDocument(const ProvisionPermit& p) {
  json::JsonWriter w;
  w.BeginObject()
      .Key("format")
      .String(kPermitFormat)
      .Key("permit_id")
      .String(p.id.str())
      .Key("issued_at_ms")
      .Int(p.issued_at_ms)
      .Key("expires_at_ms")
      .Int(p.expires_at_ms)
      .Key("inquirer")
      .String(p.inquirer.str())
      .Key("provider")
      .String(p.provider.str())
      .Key("procedure")
      .String(p.procedure.str())
      .Key("tm")
      .String(p.tm.str())
      .Key("layout_version")
      .String(p.layout_version)
      .Key("subject_code")
      .String(p.subject.str())
      .Key("reply_key")
      .String(crypto::ToBase64Url(p.reply_key))
      .Key("reference")
      .String(p.reference);
  w.Key("query").BeginObject();
  for (const auto& [key, value] : p.query) w.Key(key).String(value);
  w.EndObject();
  // Optional fields are written only when set, so a permit without them is byte for byte what
  // the format always was (older permits stay verifiable; docs/linkage-protocol.md).
  if (p.non_disclosure) w.Key("non_disclosure").Bool(true);
  if (p.inquirer_delegator) w.Key("inquirer_delegator").String(p.inquirer_delegator->str());
  if (p.provider_delegator) w.Key("provider_delegator").String(p.provider_delegator->str());
  w.EndObject();
  // Invariant: the writer is balanced and the values are plain strings and small integers, so
  // both steps succeed.
  return crypto::CanonicalizeJson(w.Finish().value()).value();
}

Result<ProvisionPermit> ParsePermitDocument(std::string_view document) {
  ASSIGN_OR_RETURN(json::JsonObject o, json::ParseJsonObject(document, {kMaxDocumentBytes, 3}));
  RETURN_IF_ERROR(o.RejectUnknownFields(
      {"format", "permit_id", "issued_at_ms", "expires_at_ms", "inquirer", "provider", "procedure",
       "tm", "layout_version", "subject_code", "reply_key", "reference", "query", "non_disclosure",
       "inquirer_delegator", "provider_delegator"}));
  ASSIGN_OR_RETURN(std::string format, o.GetString("format", 64));
  if (format != kPermitFormat) {
    return InvalidArgumentError("field \"format\": expected \"" + std::string(kPermitFormat) +
                                "\"");
  }
  ProvisionPermit p;
  ASSIGN_OR_RETURN(p.id, IdField<PermitId>(o, "permit_id"));
  ASSIGN_OR_RETURN(p.issued_at_ms, o.GetInt("issued_at_ms", 0, crypto::kCanonicalJsonMaxInteger));
  ASSIGN_OR_RETURN(p.expires_at_ms, o.GetInt("expires_at_ms", 0, crypto::kCanonicalJsonMaxInteger));
  if (p.expires_at_ms <= p.issued_at_ms) {
    return InvalidArgumentError("field \"expires_at_ms\": not after issued_at_ms");
  }
  ASSIGN_OR_RETURN(p.inquirer, IdField<OrgCode>(o, "inquirer"));
  ASSIGN_OR_RETURN(p.provider, IdField<OrgCode>(o, "provider"));
  ASSIGN_OR_RETURN(p.procedure, IdField<JtCode>(o, "procedure"));
  ASSIGN_OR_RETURN(p.tm, IdField<TmCode>(o, "tm"));
  ASSIGN_OR_RETURN(p.layout_version, o.GetString("layout_version", 4));
  if (!IsVersion(p.layout_version)) {
    return InvalidArgumentError("field \"layout_version\": expected 4 digits");
  }
  ASSIGN_OR_RETURN(p.subject, IdField<SubjectCode>(o, "subject_code"));
  ASSIGN_OR_RETURN(std::string key, o.GetString("reply_key", 64));
  Result<crypto::Bytes> raw = crypto::FromBase64Url(key);
  if (!raw.ok() || raw->size() != 32) {
    return InvalidArgumentError("field \"reply_key\": expected 32 bytes in base64url");
  }
  p.reply_key = std::move(*raw);
  ASSIGN_OR_RETURN(p.reference, o.GetString("reference", kMaxReferenceBytes));
  if (Status s = CheckReference(p.reference); !s.ok()) {
    return InvalidArgumentError("field \"reference\": " + s.message());
  }
  ASSIGN_OR_RETURN(p.query, ParseQuery(o));
  ASSIGN_OR_RETURN(std::optional<bool> non_disclosure, o.GetOptionalBool("non_disclosure"));
  if (non_disclosure && !*non_disclosure) {
    // One document per permit: false is written by leaving the field out.
    return InvalidArgumentError("field \"non_disclosure\": present only when true");
  }
  p.non_disclosure = non_disclosure.value_or(false);
  ASSIGN_OR_RETURN(p.inquirer_delegator, OptionalOrgField(o, "inquirer_delegator"));
  ASSIGN_OR_RETURN(p.provider_delegator, OptionalOrgField(o, "provider_delegator"));
  return p;
}

SignedDocument SignPermit(const ProvisionPermit& permit, const crypto::SigningKey& hub_key) {
  SignedDocument out;
  out.document = PermitDocument(permit);
  out.signature = hub_key.Sign(crypto::AsBytes(out.document));
  return out;
}

namespace {

// The times VerifyPermit checks: not issued in the future (beyond kMaxClockSkewMs), not expired.
Result<ProvisionPermit> CheckPermitTimes(ProvisionPermit p, TimePoint now) {
  const int64_t now_ms = ToUnixMicros(now) / 1000;
  if (p.issued_at_ms > now_ms + kMaxClockSkewMs) {
    return FailedPreconditionError("permit " + p.id.str() + ": issued in the future");
  }
  if (now_ms >= p.expires_at_ms) {
    return FailedPreconditionError("permit " + p.id.str() + ": expired at " +
                                   FormatRfc3339(FromUnixMicros(p.expires_at_ms * 1000)));
  }
  return p;
}

}  // namespace

Result<ProvisionPermit> VerifyPermit(const SignedDocument& signed_permit,
                                     const crypto::VerifyKey& hub_key, TimePoint now) {
  RETURN_IF_ERROR(VerifyDocument(signed_permit, hub_key, "permit"));
  Result<ProvisionPermit> p = ParsePermitDocument(signed_permit.document);
  if (!p.ok()) return InvalidArgumentError("permit: " + p.status().message());
  return CheckPermitTimes(std::move(*p), now);
}

Result<ProvisionPermit> VerifyParsedPermit(const SignedDocument& signed_permit,
                                           ProvisionPermit parsed, const crypto::VerifyKey& hub_key,
                                           TimePoint now) {
  RETURN_IF_ERROR(VerifyDocument(signed_permit, hub_key, "permit"));
  return CheckPermitTimes(std::move(parsed), now);
}

Status CheckAddressedTo(const ProvisionPermit& permit, const OrgCode& self) {
  if (permit.provider != self) {
    return PermissionDeniedError("permit " + permit.id.str() + ": addressed to " +
                                 permit.provider.str() + ", not " + self.str());
  }
  return Status();
}

Status PermitLedger::Use(const ProvisionPermit& permit, TimePoint now) {
  const int64_t now_ms = ToUnixMicros(now) / 1000;
  MutexLock lock(mu_);
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now_ms) {
    ids_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
  if (!ids_.insert(permit.id.str()).second) {
    return AlreadyExistsError("permit " + permit.id.str() + ": already used");
  }
  by_expiry_.emplace(permit.expires_at_ms, permit.id.str());
  return Status();
}

size_t PermitLedger::size() const {
  MutexLock lock(mu_);
  return ids_.size();
}

std::string SignedPermitJson(const SignedDocument& signed_permit) {
  json::JsonWriter w;
  w.BeginObject()
      .Key("permit")
      .String(signed_permit.document)
      .Key("signature")
      .String(crypto::ToBase64Url(signed_permit.signature))
      .EndObject();
  return w.Finish().value();
}

Result<SignedDocument> ParseSignedPermitJson(std::string_view body) {
  ASSIGN_OR_RETURN(json::JsonObject o, json::ParseJsonObject(body, {64 * 1024, 2}));
  RETURN_IF_ERROR(o.RejectUnknownFields({"permit", "signature"}));
  SignedDocument out;
  ASSIGN_OR_RETURN(out.document, o.GetString("permit", kMaxDocumentBytes));
  ASSIGN_OR_RETURN(std::string sig, o.GetString("signature", 128));
  Result<crypto::Bytes> raw = crypto::FromBase64Url(sig);
  if (!raw.ok()) return InvalidArgumentError("field \"signature\": not base64url");
  out.signature = std::move(*raw);
  return out;
}

}  // namespace chukan::linkage
