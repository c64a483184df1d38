// HubStore: the hub's persistent state in one database — the organisation registry, issued
// codes (符号), permission list versions, permits, records of provision (情報提供等記録) — with
// the administrative operations the `chukan hub …` commands perform (each audited in the same
// transaction). The request-time logic lives in Hub (hub.h).
//
// What is stored about people: a keyed BLAKE2b hash of each resident identifier (住民票コード;
// the key is the hub's code secret, kept outside the database), never the identifier itself,
// and the random per-organisation codes. Envelopes are never stored — only their SHA-256 —
// except sealed, inside the outbox until delivered.
//
// Thread-safety: thread-safe (the database serialises writers).
#ifndef CHUKAN_HUB_HUB_STORE_H_
#define CHUKAN_HUB_HUB_STORE_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "audit/checkpoint_export.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "crypto/ed25519.h"
#include "layout/catalogue.h"
#include "linkage/permission_list.h"
#include "store/database.h"
#include "store/migrations.h"

namespace chukan::hub {

inline constexpr size_t kMaxOrgNameBytes = 200;
inline constexpr size_t kMaxEndpointBytes = 200;

// The migrations of the hub database (component "hub").
const std::vector<store::Migration>& HubMigrations();

// One registered organisation (機関).
struct OrgRecord {
  OrgCode code = OrgCode::Parse("0000000000000000").value();
  std::string name;
  std::string org_class;    // "municipality", "insurer", …
  std::string endpoint;     // base URL of its server: "https://host:port"
  crypto::Bytes sign_key;   // Ed25519 public key (32 bytes) that signs its envelopes
  std::string cert_sha256;  // the pinned TLS client certificate (hex SHA-256 of the DER)
  std::string state;        // "active" or "disabled"
  // 地方公共団体コード of a municipality (or prefecture); unique among organisations.
  std::optional<LocalGovCode> local_gov_code;
  int64_t created_at_us = 0;
  int64_t updated_at_us = 0;
};

// One of an organisation's signing keys (its envelopes), as registered. During a key rotation an
// organisation has two: the old one, accepted until `not_after`, and the new one (the overlap).
struct OrgKey {
  OrgCode org = OrgCode::Parse("0000000000000000").value();
  std::string kid;         // linkage::KeyIdOf the key
  crypto::Bytes sign_key;  // Ed25519 public key, 32 bytes
  std::string state;       // "active" or "disabled" (refused at once, whatever the times)
  int64_t not_before_us = 0;
  std::optional<int64_t> not_after_us;  // none: no end set
  int64_t created_at_us = 0;
  int64_t updated_at_us = 0;
  // Whether it signs validly at `now_us`: active, not_before <= now < not_after.
  bool AcceptedAt(int64_t now_us) const {
    return state == "active" && not_before_us <= now_us &&
           (!not_after_us || now_us < *not_after_us);
  }
};

// Keys an organisation may have that are neither disabled nor ended (a bound on the registry).
inline constexpr int kMaxLiveOrgKeys = 4;
// The overlap of a key rotation: the old keys stay accepted this long (1 hour .. 30 days).
inline constexpr int64_t kMinOverlapSeconds = 3600;
inline constexpr int64_t kMaxOverlapSeconds = 30 * 86400;

// One loaded permission list version.
struct PermissionListVersion {
  int64_t version = 0;
  std::vector<linkage::PermissionRule> rules;
  std::string source_name;
  std::string source_sha256;
  int64_t loaded_at_us = 0;
};

class HubStore {
 public:
  // Applies the hub and audit migrations to `db`. `audit_key` signs audit checkpoints (not
  // owned; must outlive the store).
  static Result<std::unique_ptr<HubStore>> Open(
      std::shared_ptr<store::Database> db, const crypto::SigningKey* audit_key,
      const Clock& clock = SystemClock::Get(),
      std::shared_ptr<audit::CheckpointSink> checkpoint_sink = nullptr);
  // Signs what the audit log holds beyond its last checkpoint (shutdown of a command).
  ~HubStore();

  // Registers an organisation, or re-registers (replaces name, class, endpoint, keys,
  // certificate and 地方公共団体コード of) an existing one, which also re-activates it: a
  // re-registration without a code removes the code.
  // Errors: kInvalidArgument naming the field (name empty or too long, endpoint not an
  // http(s) URL, class syntax, sign key not a valid Ed25519 public key, fingerprint not 64 hex);
  // kAlreadyExists when another organisation holds the same 地方公共団体コード (naming that
  // organisation, not the code).
  Status AddOrg(const OrgRecord& org, const std::string& actor);
  // Refuses the organisation from now on (its requests get 403; permits naming it as provider
  // are refused). kNotFound if not registered.
  Status DisableOrg(const OrgCode& code, const std::string& actor);
  Result<std::vector<OrgRecord>> ListOrgs();

  // Key rotation (署名鍵の更新), each audited ("org.key.rotate" / "org.key.retire" /
  // "org.key.disable") in the transaction of its change:
  // registers `sign_key` as the organisation's new key, accepted from now, and ends each other
  // key it has at now + `overlap` (unless it ends earlier): during the overlap envelopes signed
  // by either are accepted. Errors: kNotFound (not registered), kInvalidArgument (not a valid
  // Ed25519 key; overlap outside 1 hour .. 30 days), kAlreadyExists (the key is registered
  // already), kFailedPrecondition (kMaxLiveOrgKeys keys live already).
  Result<OrgKey> RotateOrgKey(const OrgCode& code, const crypto::Bytes& sign_key,
                              std::chrono::seconds overlap, const std::string& actor);
  // Ends the key `kid` now (its overlap cut short; a key that ended already is left as it is).
  // kNotFound for an unknown key; kFailedPrecondition when it is the organisation's last key
  // accepted now (use `org disable` to stop an organisation).
  Result<OrgKey> RetireOrgKey(const OrgCode& code, const std::string& kid,
                              const std::string& actor);
  // Refuses the key `kid` from now on, whatever its times — for a key that may be compromised:
  // envelopes it signed are refused by the hub and, once their cached copy of the keys expires
  // (a minute), by the inquirers too. kNotFound for an unknown key.
  Result<OrgKey> DisableOrgKey(const OrgCode& code, const std::string& kid,
                               const std::string& actor);
  // The organisation's keys, newest first (every organisation's with nullopt).
  Result<std::vector<OrgKey>> ListOrgKeys(const std::optional<OrgCode>& code);
  // A cheap fingerprint of the registry (count and latest change), to notice changes.
  Result<std::string> RegistryStamp();

  // Stores `rules` as the next version (1, 2, …) and returns it. Audited with the source's
  // name, hash and rule count.
  Result<int64_t> AddPermissionList(const std::vector<linkage::PermissionRule>& rules,
                                    const std::string& source_name,
                                    const std::string& source_sha256, const std::string& actor);
  // The newest version, or nullopt when none was ever loaded.
  Result<std::optional<PermissionListVersion>> LatestPermissionList();
  Result<int64_t> LatestPermissionListVersion();  // 0 when none

  std::shared_ptr<store::Database> db() const { return db_; }
  audit::AuditLog& audit() { return *audit_; }
  const Clock& clock() const { return clock_; }

 private:
  HubStore(std::shared_ptr<store::Database> db, std::unique_ptr<audit::AuditLog> audit,
           const Clock& clock)
      : db_(std::move(db)), audit_(std::move(audit)), clock_(clock) {}
  std::shared_ptr<store::Database> db_;
  std::unique_ptr<audit::AuditLog> audit_;
  const Clock& clock_;
};

// Reads a permission list source file and checks it against `catalogue`.
// Errors: kNotFound (no file), those of PermissionList::ParseSource.
Result<linkage::PermissionList> ReadPermissionListFile(const std::string& path,
                                                       const layout::Catalogue& catalogue,
                                                       std::string* sha256_hex);

}  // namespace chukan::hub

#endif  // CHUKAN_HUB_HUB_STORE_H_
