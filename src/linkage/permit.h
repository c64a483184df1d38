// ProvisionPermit (提供許可証): the hub's signed authorisation for one exchange — this inquirer
// may ask this provider, for this procedure (事務手続), for this specific personal information
// (TM and 版番号) about the person the provider knows by `subject`, and the answer must be
// sealed to `reply_key`. Issued by the hub, verified by the provider's server before it answers
// and by the inquirer's server when the answer comes back. Format: docs/linkage-protocol.md.
//
// Thread-safety: plain value types; the functions are thread-safe.
#ifndef CHUKAN_LINKAGE_PERMIT_H_
#define CHUKAN_LINKAGE_PERMIT_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/ids.h"
#include "common/mutex.h"
#include "common/status.h"
#include "crypto/bytes.h"
#include "crypto/ed25519.h"
#include "layout/date.h"
#include "linkage/signed_document.h"

namespace chukan::linkage {

inline constexpr std::string_view kPermitFormat = "chukan-permit/1";
// The inquirer's own reference for the inquiry (its 処理通番): 1..64 of [A-Za-z0-9_-].
inline constexpr size_t kMaxReferenceBytes = 64;
// Clock skew tolerated between hub and servers when checking issue times.
inline constexpr int64_t kMaxClockSkewMs = 5 * 60 * 1000;

struct ProvisionPermit {
  PermitId id = PermitId::Generate();
  int64_t issued_at_ms = 0;   // Unix time, milliseconds
  int64_t expires_at_ms = 0;  // the provider must not answer after this
  OrgCode inquirer = OrgCode::Parse("0000000000000000").value();
  OrgCode provider = OrgCode::Parse("0000000000000000").value();
  JtCode procedure = JtCode::Parse("JT00000000000000").value();
  TmCode tm = TmCode::Parse("TM00000000000000").value();
  std::string layout_version;                     // 版番号, 4 digits
  SubjectCode subject = SubjectCode::Generate();  // the provider-side code (機関別符号)
  crypto::Bytes reply_key;  // the inquirer's one-time X25519 public key, 32 bytes
  std::string reference;    // the inquirer's reference
  // Query conditions (照会条件): item code → value the provider's records must have (e.g. the
  // fiscal year item "IT00000200000001" → "2026"). At most kMaxQueryConditions, sorted by key.
  std::map<std::string, std::string> query;
  // 照会側不開示: the inquirer asked that the exchange be held back from the resident's view of
  // their records (自己情報表示); both servers and the hub record it. In the document only when
  // true.
  bool non_disclosure = false;
  // 委任元 (delegating organisations): the organisation on whose behalf the inquirer asks
  // (情報照会者機関コード（委任元）) and on whose behalf the provider answers
  // (情報提供者機関コード（委任元）). The permission list was checked for them in place of the
  // inquirer / provider (docs/linkage.md). In the document only when set.
  std::optional<OrgCode> inquirer_delegator;
  std::optional<OrgCode> provider_delegator;

  // The parties the permission list is checked for: the 委任元 when given, else the
  // inquirer / provider itself.
  const OrgCode& legal_inquirer() const {
    return inquirer_delegator ? *inquirer_delegator : inquirer;
  }
  const OrgCode& legal_provider() const {
    return provider_delegator ? *provider_delegator : provider;
  }
};

inline constexpr size_t kMaxQueryConditions = 8;
inline constexpr size_t kMaxQueryKeyBytes = 32;
inline constexpr size_t kMaxQueryValueBytes = 64;
// Checks query conditions: keys 1–32 of [A-Za-z0-9_], values valid UTF-8 of at most 64 bytes,
// at most 8 entries, and the reserved keys as SplitQuery checks them. kInvalidArgument otherwise,
// naming the offending condition by its position in key order ("query: condition 2 in key order:
// …"), never by its key or value (a reserved key is named: it is not the client's text).
Status CheckQuery(const std::map<std::string, std::string>& query);

// Reserved query keys (照会条件 beyond item equality; docs/linkage.md "Inquiry conditions"). Item
// codes never start with '_', so these cannot collide with an item condition. They travel in the
// permit's `query` like any condition, so the hub signs them and old permits stay verifiable.
//  - kQueryFrom / kQueryTo: "YYYY-MM-DD", given together, from ≤ to — the period (a single day
//    when equal) whose record versions answer: only versions whose publication window
//    (公開開始日–公開終了日) overlaps it.
//  - kQueryFiscalItem: an item code (checked against the layout by the inquirer's server); with
//    a period only — the record's value of that item must be a fiscal year (4 digits) from the
//    fiscal year (April–March) of `from` to that of `to`.
//  - kQueryScope: kScopeHousehold — every member of the person's household (世帯), one result
//    per member.
inline constexpr std::string_view kQueryFrom = "_from";
inline constexpr std::string_view kQueryTo = "_to";
inline constexpr std::string_view kQueryFiscalItem = "_fiscal_item";
inline constexpr std::string_view kQueryScope = "_scope";
inline constexpr std::string_view kScopeHousehold = "household";

// A query split into its item conditions and the reserved ones.
struct QueryConditions {
  std::map<std::string, std::string> items;  // item code → value
  std::optional<layout::Date> from;          // set together with `to`
  std::optional<layout::Date> to;
  std::string fiscal_item;  // "" when not given
  bool household = false;
};

// The fiscal year (年度, April–March) a day falls in: 2026-04-01 → 2026, 2026-03-31 → 2025.
int FiscalYear(const layout::Date& d);

// Splits a query that CheckQuery accepts. kInvalidArgument, naming the reserved key (never a
// value), for: an unknown key starting with '_', a date that is not "YYYY-MM-DD" of a real day,
// only one of _from/_to, _to before _from, _fiscal_item without a period or not 16 of
// [A-Z0-9], a _scope other than "household".
Result<QueryConditions> SplitQuery(const std::map<std::string, std::string>& query);

// Checks a reference string. kInvalidArgument naming the rule otherwise.
Status CheckReference(std::string_view reference);

// The permit as canonical JSON.
std::string PermitDocument(const ProvisionPermit& permit);

// Parses a permit document: every field required and checked, unknown fields refused.
// Errors: kInvalidArgument naming the field.
Result<ProvisionPermit> ParsePermitDocument(std::string_view document);

// Signs the permit with the hub's key.
SignedDocument SignPermit(const ProvisionPermit& permit, const crypto::SigningKey& hub_key);

// What a receiver checks before acting on a permit: the document is canonical and signed by
// `hub_key`, it parses, it was not issued in the future (beyond kMaxClockSkewMs) and has not
// expired at `now`. Addressee and one-time use are the receiver's checks (it knows who it is
// and which permits it has seen). Errors:
//   kInvalidArgument   malformed or non-canonical document, bad field
//   kUnauthenticated   "permit: signature verification failed" (forged or tampered)
//   kFailedPrecondition "permit <id>: expired at <time>" / "…: issued in the future"
Result<ProvisionPermit> VerifyPermit(const SignedDocument& signed_permit,
                                     const crypto::VerifyKey& hub_key, TimePoint now);
// As VerifyPermit, for a caller that already parsed the document (ParsePermitDocument of
// signed_permit.document, e.g. to see its addressee before paying for the signature check):
// checks the signature and the times, and returns `parsed`. Same errors.
Result<ProvisionPermit> VerifyParsedPermit(const SignedDocument& signed_permit,
                                           ProvisionPermit parsed, const crypto::VerifyKey& hub_key,
                                           TimePoint now);

// The receiver's addressee check: kPermissionDenied "permit <id>: addressed to <provider>, not
// <self>" when the permit names another provider.
Status CheckAddressedTo(const ProvisionPermit& permit, const OrgCode& self);

// One-time use of permits, as a provider must enforce it: Use() records a permit id and
// refuses one seen before with kAlreadyExists "permit <id>: already used" (a replay). Ids are
// forgotten once their permit has expired (an expired permit is refused by VerifyPermit anyway),
// so memory stays bounded by the permits live at once. In memory: a server that must survive a
// restart keeps the same rule in its database. Thread-safe.
class PermitLedger {
 public:
  Status Use(const ProvisionPermit& permit, TimePoint now) EXCLUDES(mu_);
  size_t size() const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  std::set<std::string> ids_ GUARDED_BY(mu_);
  std::multimap<int64_t, std::string> by_expiry_ GUARDED_BY(mu_);  // expires_at_ms → id
};

}  // namespace chukan::linkage
namespace chukan::json {
class JsonObject;
}
namespace chukan::linkage {
// Reads the "query" object of a permit (or of a permit request). Errors: kInvalidArgument, naming
// a condition by its position in key order, never by its key (see CheckQuery).
Result<std::map<std::string, std::string>> ParseQuery(const json::JsonObject& o);
// An optional 16-digit organisation code field (a 委任元 of a permit or a permit request):
// nullopt when absent. Errors: kInvalidArgument naming the field, never quoting the value.
Result<std::optional<OrgCode>> OptionalOrgField(const json::JsonObject& o, std::string_view field);

// The body of POST /node/v1/provision-requests: {"permit": "<document>", "signature": "<b64url>"}.
std::string SignedPermitJson(const SignedDocument& signed_permit);
// Parses that body (strictly). Errors: kInvalidArgument naming the field.
Result<SignedDocument> ParseSignedPermitJson(std::string_view body);

}  // namespace chukan::linkage

#endif  // CHUKAN_LINKAGE_PERMIT_H_
