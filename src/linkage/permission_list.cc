#include "linkage/permission_list.h"

#include <algorithm>
#include <array>
#include <set>
#include <tuple>

#include "common/utf8.h"
#include "crypto/bytes.h"
#include "crypto/canonical_json.h"
#include "json/json.h"
#include "replica_io/byte_source.h"
#include "replica_io/csv_reader.h"

namespace chukan::linkage {
namespace {

constexpr std::string_view kClassPrefix = "class:";

// The columns of the source file: English name, Japanese name.
struct Column {
  std::string_view en;
  std::string_view ja;
};
constexpr std::array<Column, 5> kColumns = {{{"inquirer", "照会機関"},
                                             {"procedure", "事務手続コード"},
                                             {"provider", "提供機関"},
                                             {"tm", "特定個人情報名コード"},
                                             {"legal_basis", "根拠法令"}}};
enum ColumnIndex { kInquirer, kProcedure, kProvider, kTm, kLegalBasis };

std::string IndexKey(const JtCode& procedure, const TmCode& tm) {
  return procedure.str() + "/" + tm.str();
}

using json::IdField;

}  // namespace

Status CheckOrgClass(std::string_view c) {
  if (c.empty() || c.size() > kMaxOrgClassBytes) {
    return InvalidArgumentError("organisation class: expected 1 to 32 characters");
  }
  if (c[0] < 'a' || c[0] > 'z') {
    return InvalidArgumentError("organisation class: must start with a letter a-z");
  }
  for (char ch : c) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-')) {
      return InvalidArgumentError("organisation class: only a-z, 0-9, '_' and '-' allowed");
    }
  }
  return Status();
}

std::string Party::ToString() const {
  return org ? org->str() : std::string(kClassPrefix) + org_class;
}

Result<Party> Party::Parse(std::string_view text) {
  Party p;
  if (text.substr(0, kClassPrefix.size()) == kClassPrefix) {
    std::string_view c = text.substr(kClassPrefix.size());
    RETURN_IF_ERROR(CheckOrgClass(c));
    p.org_class = std::string(c);
    return p;
  }
  Result<OrgCode> org = OrgCode::Parse(text);
  if (!org.ok()) {
    return InvalidArgumentError("expected a 16-digit org_code or \"class:<name>\"");
  }
  p.org = *org;
  return p;
}

bool Party::Matches(const OrgCode& org_code, std::string_view org_class_of_org) const {
  if (org) return *org == org_code;
  return !org_class_of_org.empty() && org_class == org_class_of_org;
}

PermissionList::PermissionList(int64_t version, int64_t issued_at_ms, int64_t expires_at_ms,
                               std::vector<PermissionRule> rules,
                               std::map<OrgCode, std::string> classes,
                               std::map<OrgCode, LocalGovCode> local_gov_codes)
    : version_(version),
      issued_at_ms_(issued_at_ms),
      expires_at_ms_(expires_at_ms),
      rules_(std::move(rules)),
      classes_(std::move(classes)) {
  for (auto& [org, code] : local_gov_codes) {
    if (!classes_.contains(org)) continue;
    local_gov_codes_.emplace(org, code);
    by_local_gov_code_.emplace(code, org);
  }
  for (size_t i = 0; i < rules_.size(); ++i) {
    index_[IndexKey(rules_[i].procedure, rules_[i].tm)].push_back(i);
  }
}

Result<PermissionList> PermissionList::ParseSource(std::string_view text,
                                                   std::string_view source_name,
                                                   const layout::Catalogue& catalogue) {
  const std::string src(source_name);
  if (text.size() > kMaxPermissionFileBytes) {
    return InvalidArgumentError(src + ": larger than " + std::to_string(kMaxPermissionFileBytes) +
                                " bytes");
  }
  replica_io::StringSource bytes(text);
  replica_io::CsvOptions options;
  options.max_fields = 16;
  options.max_field_bytes = 4096;
  replica_io::CsvReader reader(bytes, options);
  std::array<int, kColumns.size()> position;
  position.fill(-1);
  bool have_header = false;
  std::vector<PermissionRule> rules;
  std::set<std::tuple<std::string, std::string, std::string, std::string>> seen;
  while (true) {
    Result<bool> more = reader.Next();
    if (!more.ok()) return InvalidArgumentError(src + ": " + more.status().message());
    if (!*more) break;
    auto fields = reader.fields();
    const std::string where = src + ":" + std::to_string(reader.line()) + ": ";
    if (!fields.empty() && !fields[0].empty() && fields[0][0] == '#') continue;  // comment
    if (!have_header) {
      for (size_t i = 0; i < fields.size(); ++i) {
        bool known = false;
        for (size_t c = 0; c < kColumns.size(); ++c) {
          if (fields[i] != kColumns[c].en && fields[i] != kColumns[c].ja) continue;
          if (position[c] >= 0) {
            return InvalidArgumentError(where + "header: column " + std::string(kColumns[c].en) +
                                        " appears twice");
          }
          position[c] = static_cast<int>(i);
          known = true;
        }
        if (!known) {
          return InvalidArgumentError(where + "header: unknown column \"" +
                                      std::string(fields[i].substr(0, 40)) + "\"");
        }
      }
      for (size_t c = 0; c < kColumns.size(); ++c) {
        if (position[c] < 0) {
          return InvalidArgumentError(where + "header: column " + std::string(kColumns[c].en) +
                                      " (" + std::string(kColumns[c].ja) + ") is missing");
        }
      }
      have_header = true;
      continue;
    }
    if (fields.size() != kColumns.size()) {
      return InvalidArgumentError(where + "expected " + std::to_string(kColumns.size()) +
                                  " fields, found " + std::to_string(fields.size()));
    }
    auto field = [&](ColumnIndex c) { return fields[static_cast<size_t>(position[c])]; };
    auto bad = [&](ColumnIndex c, const std::string& why) {
      return InvalidArgumentError(where + "column " + std::string(kColumns[c].en) + ": " + why);
    };
    PermissionRule rule;
    rule.line = reader.line();
    Result<Party> inquirer = Party::Parse(field(kInquirer));
    if (!inquirer.ok()) return bad(kInquirer, inquirer.status().message());
    rule.inquirer = *inquirer;
    Result<Party> provider = Party::Parse(field(kProvider));
    if (!provider.ok()) return bad(kProvider, provider.status().message());
    rule.provider = *provider;
    Result<JtCode> procedure = JtCode::Parse(field(kProcedure));
    if (!procedure.ok()) return bad(kProcedure, procedure.status().message());
    if (catalogue.FindProcedure(*procedure) == nullptr) {
      return bad(kProcedure, "procedure " + procedure->str() +
                                 " is not in the data standard layout (事務手続コードが未定義)");
    }
    rule.procedure = *procedure;
    Result<TmCode> tm = TmCode::Parse(field(kTm));
    if (!tm.ok()) return bad(kTm, tm.status().message());
    if (catalogue.Find(*tm) == nullptr) {
      return bad(kTm, "information name " + tm->str() +
                          " is not in the data standard layout (特定個人情報名コードが未定義)");
    }
    rule.tm = *tm;
    std::string_view basis = field(kLegalBasis);
    if (basis.empty()) return bad(kLegalBasis, "required (根拠法令は必須です)");
    if (basis.size() > kMaxLegalBasisBytes) {
      return bad(kLegalBasis, "longer than " + std::to_string(kMaxLegalBasisBytes) + " bytes");
    }
    // A control character (NUL among them) would make the published document unreadable: its
    // JSON carries it escaped, and every reader refuses U+0000 (found by fuzz/permission_list).
    if (std::any_of(basis.begin(), basis.end(),
                    [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; })) {
      return bad(kLegalBasis, "contains a control character (制御文字は使えません)");
    }
    rule.legal_basis = std::string(basis);
    auto key = std::make_tuple(rule.inquirer.ToString(), rule.procedure.str(),
                               rule.provider.ToString(), rule.tm.str());
    if (!seen.insert(key).second) {
      return InvalidArgumentError(where + "the same rule appears twice");
    }
    if (rules.size() == kMaxPermissionRules) {
      return InvalidArgumentError(where + "more than " + std::to_string(kMaxPermissionRules) +
                                  " rules");
    }
    rules.push_back(std::move(rule));
  }
  if (!have_header) return InvalidArgumentError(src + ": no header row");
  if (rules.empty()) return InvalidArgumentError(src + ": no rules");
  return PermissionList(0, 0, 0, std::move(rules), {});
}

const PermissionRule* PermissionList::Find(const OrgCode& inquirer, const JtCode& procedure,
                                           const OrgCode& provider, const TmCode& tm) const {
  auto it = index_.find(IndexKey(procedure, tm));
  if (it == index_.end()) return nullptr;
  auto class_of = [&](const OrgCode& org) -> std::string_view {
    auto c = classes_.find(org);
    return c == classes_.end() ? std::string_view() : std::string_view(c->second);
  };
  const std::string_view inquirer_class = class_of(inquirer);
  const std::string_view provider_class = class_of(provider);
  for (size_t i : it->second) {
    const PermissionRule& r = rules_[i];
    if (r.inquirer.Matches(inquirer, inquirer_class) &&
        r.provider.Matches(provider, provider_class)) {
      return &r;
    }
  }
  return nullptr;
}

const OrgCode* PermissionList::FindByLocalGovCode(const LocalGovCode& code) const {
  auto it = by_local_gov_code_.find(code);
  return it == by_local_gov_code_.end() ? nullptr : &it->second;
}

std::string PermissionList::Document() const {
  json::JsonWriter w;
  w.BeginObject()
      .Key("format")
      .String(local_gov_codes_.empty() ? kPermissionListFormat : kPermissionListFormatV2)
      .Key("version")
      .Int(version_)
      .Key("issued_at_ms")
      .Int(issued_at_ms_)
      .Key("expires_at_ms")
      .Int(expires_at_ms_);
  w.Key("orgs").BeginArray();
  for (const auto& [org, cls] : classes_) {
    w.BeginObject().Key("org").String(org.str()).Key("class").String(cls);
    if (auto code = local_gov_codes_.find(org); code != local_gov_codes_.end()) {
      w.Key("local_gov_code").String(code->second.str());
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("rules").BeginArray();
  for (const PermissionRule& r : rules_) {
    w.BeginObject()
        .Key("inquirer")
        .String(r.inquirer.ToString())
        .Key("procedure")
        .String(r.procedure.str())
        .Key("provider")
        .String(r.provider.ToString())
        .Key("tm")
        .String(r.tm.str())
        .Key("legal_basis")
        .String(r.legal_basis)
        .EndObject();
  }
  w.EndArray().EndObject();
  // Invariant: balanced writer, valid values (checked when the list was built).
  return crypto::CanonicalizeJson(w.Finish().value()).value();
}

Result<PermissionList> PermissionList::ParseDocument(std::string_view document) {
  ASSIGN_OR_RETURN(json::JsonObject o,
                   json::ParseJsonObject(document, {crypto::kCanonicalJsonMaxBytes, 3}));
  RETURN_IF_ERROR(o.RejectUnknownFields(
      {"format", "version", "issued_at_ms", "expires_at_ms", "orgs", "rules"}));
  ASSIGN_OR_RETURN(std::string format, o.GetString("format", 64));
  const bool v2 = format == kPermissionListFormatV2;
  if (format != kPermissionListFormat && !v2) {
    return InvalidArgumentError("field \"format\": expected \"" +
                                std::string(kPermissionListFormat) + "\" or \"" +
                                std::string(kPermissionListFormatV2) + "\"");
  }
  ASSIGN_OR_RETURN(int64_t version, o.GetInt("version", 1, crypto::kCanonicalJsonMaxInteger));
  ASSIGN_OR_RETURN(int64_t issued, o.GetInt("issued_at_ms", 0, crypto::kCanonicalJsonMaxInteger));
  ASSIGN_OR_RETURN(int64_t expires, o.GetInt("expires_at_ms", 0, crypto::kCanonicalJsonMaxInteger));
  std::map<OrgCode, std::string> classes;
  std::map<OrgCode, LocalGovCode> local_gov_codes;
  std::set<LocalGovCode> seen_codes;
  ASSIGN_OR_RETURN(std::vector<json::JsonObject> orgs, o.GetObjectArray("orgs", 100000));
  for (size_t i = 0; i < orgs.size(); ++i) {
    const json::JsonObject& e = orgs[i];
    if (v2) {
      RETURN_IF_ERROR(e.RejectUnknownFields({"org", "class", "local_gov_code"}));
    } else {
      RETURN_IF_ERROR(e.RejectUnknownFields({"org", "class"}));
    }
    ASSIGN_OR_RETURN(OrgCode org, IdField<OrgCode>(e, "org"));
    ASSIGN_OR_RETURN(std::string cls, e.GetString("class", kMaxOrgClassBytes));
    RETURN_IF_ERROR(CheckOrgClass(cls));
    classes[org] = cls;
    if (v2 && e.Has("local_gov_code")) {
      const std::string where = "orgs[" + std::to_string(i) + "] (" + org.str() + "): ";
      Result<std::string> text = e.GetString("local_gov_code", 6);
      if (!text.ok()) return InvalidArgumentError(where + text.status().message());
      // Only the canonical 6 digits: the hub writes nothing else.
      Result<LocalGovCode> code = LocalGovCode::Parse(*text);
      if (!code.ok() || text->size() != 6) {
        return InvalidArgumentError(
            where + "field \"local_gov_code\": expected 6 digits with the check digit");
      }
      if (!seen_codes.insert(*code).second) {
        return InvalidArgumentError(
            where + "field \"local_gov_code\": also given for another organisation");
      }
      local_gov_codes.emplace(org, *code);
    }
  }
  std::vector<PermissionRule> rules;
  ASSIGN_OR_RETURN(std::vector<json::JsonObject> items,
                   o.GetObjectArray("rules", kMaxPermissionRules));
  for (const json::JsonObject& e : items) {
    RETURN_IF_ERROR(
        e.RejectUnknownFields({"inquirer", "procedure", "provider", "tm", "legal_basis"}));
    PermissionRule r;
    ASSIGN_OR_RETURN(std::string inquirer, e.GetString("inquirer", 64));
    ASSIGN_OR_RETURN(r.inquirer, Party::Parse(inquirer));
    ASSIGN_OR_RETURN(std::string provider, e.GetString("provider", 64));
    ASSIGN_OR_RETURN(r.provider, Party::Parse(provider));
    ASSIGN_OR_RETURN(r.procedure, IdField<JtCode>(e, "procedure"));
    ASSIGN_OR_RETURN(r.tm, IdField<TmCode>(e, "tm"));
    ASSIGN_OR_RETURN(r.legal_basis, e.GetString("legal_basis", kMaxLegalBasisBytes));
    rules.push_back(std::move(r));
  }
  return PermissionList(version, issued, expires, std::move(rules), std::move(classes),
                        std::move(local_gov_codes));
}

std::string PublishedListJson(const SignedDocument& list) {
  json::JsonWriter w;
  w.BeginObject()
      .Key("list")
      .String(list.document)
      .Key("signature")
      .String(crypto::ToBase64Url(list.signature))
      .EndObject();
  return w.Finish().value();
}

Result<PermissionList> VerifyPublishedList(std::string_view body, const crypto::VerifyKey& hub_key,
                                           TimePoint now) {
  ASSIGN_OR_RETURN(json::JsonObject o,
                   json::ParseJsonObject(body, {2 * crypto::kCanonicalJsonMaxBytes, 2}));
  RETURN_IF_ERROR(o.RejectUnknownFields({"list", "signature"}));
  SignedDocument doc;
  ASSIGN_OR_RETURN(doc.document, o.GetString("list", crypto::kCanonicalJsonMaxBytes));
  ASSIGN_OR_RETURN(std::string sig, o.GetString("signature", 128));
  Result<crypto::Bytes> raw = crypto::FromBase64Url(sig);
  if (!raw.ok()) return InvalidArgumentError("field \"signature\": not base64url");
  doc.signature = std::move(*raw);
  RETURN_IF_ERROR(VerifyDocument(doc, hub_key, "permission list"));
  Result<PermissionList> list = PermissionList::ParseDocument(doc.document);
  if (!list.ok()) return InvalidArgumentError("permission list: " + list.status().message());
  if (ToUnixMicros(now) / 1000 >= list->expires_at_ms()) {
    return FailedPreconditionError("permission list version " + std::to_string(list->version()) +
                                   ": expired at " +
                                   FormatRfc3339(FromUnixMicros(list->expires_at_ms() * 1000)));
  }
  return list;
}

}  // namespace chukan::linkage
