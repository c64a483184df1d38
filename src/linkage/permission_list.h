// PermissionList (照会許可用照合リスト): which inquirer may ask which provider for which
// specific personal information (TM), for which procedure (事務手続), and on what legal basis.
// Deny by default: an exchange is allowed only when a rule matches all four.
//
// The hub owns the list: it loads the source file (CSV, docs/permission-list.md), validated
// against the data standard layout, keeps every version, and publishes the current one as a
// signed canonical JSON document (with the organisation classes the rules refer to, and each
// municipality's 地方公共団体コード so servers resolve a provider named by it without asking
// the hub) at GET /hub/v1/permission-list. Servers fetch it, verify the signature and expiry, and
// check every provision request against their copy.
//
// A party in a rule is an organisation (its 16-digit 機関コード) or an organisation class
// ("class:municipality"), which the hub's registry assigns to organisations.
//
// Thread-safety: immutable after construction; safe to share between threads.
#ifndef CHUKAN_LINKAGE_PERMISSION_LIST_H_
#define CHUKAN_LINKAGE_PERMISSION_LIST_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "crypto/ed25519.h"
#include "layout/catalogue.h"
#include "linkage/signed_document.h"

namespace chukan::linkage {

// Format 1: organisations with their classes. Format 2 adds an optional "local_gov_code" to
// each organisation; the hub writes 1 while no organisation has a code, so servers that read
// only format 1 keep working until codes are registered (docs/permission-list.md).
inline constexpr std::string_view kPermissionListFormat = "chukan-permission-list/1";
inline constexpr std::string_view kPermissionListFormatV2 = "chukan-permission-list/2";
inline constexpr size_t kMaxPermissionRules = 2000;
inline constexpr size_t kMaxLegalBasisBytes = 300;
inline constexpr size_t kMaxPermissionFileBytes = 4 << 20;
inline constexpr size_t kMaxOrgClassBytes = 32;

// Checks an organisation class name: 1..32 of [a-z0-9_-], starting with a letter.
Status CheckOrgClass(std::string_view org_class);

// One side of a rule: exactly one of `org` and `org_class` is set.
struct Party {
  std::optional<OrgCode> org;
  std::string org_class;

  // "0000000000000001" or "class:municipality".
  std::string ToString() const;
  // Parses the ToString() form. kInvalidArgument otherwise.
  static Result<Party> Parse(std::string_view text);
  // Whether this party designates `org`, whose class is `org_class` ("" for none).
  bool Matches(const OrgCode& org_code, std::string_view org_class_of_org) const;
};

struct PermissionRule {
  Party inquirer;
  JtCode procedure = JtCode::Parse("JT00000000000000").value();
  Party provider;
  TmCode tm = TmCode::Parse("TM00000000000000").value();
  std::string legal_basis;  // 根拠法令, free text
  int64_t line = 0;         // line in the source file (0 when read from a document)
};

class PermissionList {
 public:
  // Parses the source file (docs/permission-list.md): UTF-8 CSV, a header row naming the
  // columns (English or Japanese names, any order), '#' comment lines. Every rule is checked:
  // party syntax, the procedure and the TM exist in `catalogue`, legal basis present, no
  // duplicate rule, at most kMaxPermissionRules rules. Errors: kInvalidArgument
  // "<source>:<line>: column <name>: <reason>" for the first problem.
  static Result<PermissionList> ParseSource(std::string_view text, std::string_view source_name,
                                            const layout::Catalogue& catalogue);

  // A list of `rules` under `version`, valid from `issued_at_ms` to `expires_at_ms`, with the
  // classes of the registered organisations and the 地方公共団体コード of those that have one.
  // A code of an organisation not in `classes` is dropped (the document carries codes inside
  // the organisations' entries); codes must be unique (the hub's registry guarantees it; the
  // first organisation in code order wins the reverse lookup otherwise).
  PermissionList(int64_t version, int64_t issued_at_ms, int64_t expires_at_ms,
                 std::vector<PermissionRule> rules, std::map<OrgCode, std::string> classes,
                 std::map<OrgCode, LocalGovCode> local_gov_codes = {});

  // The rule allowing the exchange, or nullptr (deny).
  const PermissionRule* Find(const OrgCode& inquirer, const JtCode& procedure,
                             const OrgCode& provider, const TmCode& tm) const;

  int64_t version() const { return version_; }
  int64_t issued_at_ms() const { return issued_at_ms_; }
  int64_t expires_at_ms() const { return expires_at_ms_; }
  const std::vector<PermissionRule>& rules() const { return rules_; }
  const std::map<OrgCode, std::string>& classes() const { return classes_; }
  const std::map<OrgCode, LocalGovCode>& local_gov_codes() const { return local_gov_codes_; }
  // The organisation registered with 地方公共団体コード `code`, or nullptr.
  const OrgCode* FindByLocalGovCode(const LocalGovCode& code) const;

  // The document the hub signs (canonical JSON): format 1 when no organisation has a
  // 地方公共団体コード, format 2 otherwise.
  std::string Document() const;
  // Parses a document of format 1 or 2. Errors: kInvalidArgument naming the field (and for a
  // bad or repeated local_gov_code the organisation's entry, never the code).
  static Result<PermissionList> ParseDocument(std::string_view document);

 private:
  int64_t version_;
  int64_t issued_at_ms_;
  int64_t expires_at_ms_;
  std::vector<PermissionRule> rules_;
  std::map<OrgCode, std::string> classes_;
  std::map<OrgCode, LocalGovCode> local_gov_codes_;
  std::map<LocalGovCode, OrgCode> by_local_gov_code_;
  // (procedure, tm) → indexes into rules_.
  std::unordered_map<std::string, std::vector<size_t>> index_;
};

// The body of GET /hub/v1/permission-list: {"list": "<document>", "signature": "<b64url>"}.
std::string PublishedListJson(const SignedDocument& list);
// Verifies a published list: the hub's signature, then not expired at `now`. Errors: those of
// VerifyDocument; kInvalidArgument for a malformed document; kFailedPrecondition
// "permission list version N: expired at <time>".
Result<PermissionList> VerifyPublishedList(std::string_view body, const crypto::VerifyKey& hub_key,
                                           TimePoint now);

}  // namespace chukan::linkage

#endif  // CHUKAN_LINKAGE_PERMISSION_LIST_H_
