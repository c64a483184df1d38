#include "hub/hub_store.h"

#include <fstream>
#include <sstream>

#include "common/log.h"
#include "common/utf8.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "json/json.h"
#include "linkage/envelope.h"
#include "store/node_lease.h"

namespace chukan::hub {
namespace {

// Times are Unix microseconds; permits' expiry in the permit's own unit (milliseconds).
constexpr std::string_view kSqliteV1 = R"sql(
CREATE TABLE hub_org (
  org_code TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  org_class TEXT NOT NULL,
  endpoint TEXT NOT NULL,
  sign_key BLOB NOT NULL,
  cert_sha256 TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'disabled')),
  revision INTEGER NOT NULL,
  created_at_us INTEGER NOT NULL,
  updated_at_us INTEGER NOT NULL
);
CREATE TABLE hub_person (
  person_id INTEGER PRIMARY KEY AUTOINCREMENT,
  rid_hash BLOB NOT NULL UNIQUE,
  created_at_us INTEGER NOT NULL
);
CREATE TABLE hub_code (
  subject_code TEXT PRIMARY KEY,
  org_code TEXT NOT NULL,
  person_id INTEGER NOT NULL REFERENCES hub_person (person_id),
  created_at_us INTEGER NOT NULL,
  UNIQUE (person_id, org_code)
);
CREATE TABLE hub_permission_list (
  version INTEGER PRIMARY KEY,
  rules TEXT NOT NULL,
  rule_count INTEGER NOT NULL,
  source_name TEXT NOT NULL,
  source_sha256 TEXT NOT NULL,
  loaded_at_us INTEGER NOT NULL,
  loaded_by TEXT NOT NULL
);
CREATE TABLE hub_permit (
  permit_id TEXT PRIMARY KEY,
  inquirer TEXT NOT NULL,
  provider TEXT NOT NULL,
  expires_at_ms INTEGER NOT NULL,
  document TEXT NOT NULL,
  signature BLOB NOT NULL,
  envelope_sha256 BLOB,
  provided_at_us INTEGER,
  created_at_us INTEGER NOT NULL
);
CREATE INDEX hub_permit_expiry ON hub_permit (expires_at_ms);
CREATE TABLE hub_record (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  inquirer TEXT NOT NULL,
  reference TEXT NOT NULL,
  provider TEXT NOT NULL,
  procedure_code TEXT NOT NULL,
  tm TEXT NOT NULL,
  layout_version TEXT NOT NULL,
  inquirer_code TEXT NOT NULL,
  provider_code TEXT,
  permit_id TEXT,
  requested_at_us INTEGER NOT NULL,
  provided_at_us INTEGER,
  outcome TEXT NOT NULL,
  reason TEXT,
  non_disclosure INTEGER NOT NULL,
  UNIQUE (inquirer, reference)
);
CREATE INDEX hub_record_requested ON hub_record (requested_at_us);
CREATE INDEX hub_record_provider ON hub_record (provider, id);
CREATE INDEX hub_record_permit ON hub_record (permit_id);
)sql";

// 地方公共団体コード (6 digits, canonical form); NULL for organisations that are not local
// governments. A unique index, not a constraint in the table, since SQLite cannot add one by
// ALTER TABLE; both backends let any number of rows be NULL under it.
constexpr std::string_view kV2 = R"sql(
ALTER TABLE hub_org ADD COLUMN local_gov_code TEXT;
CREATE UNIQUE INDEX hub_org_local_gov_code ON hub_org (local_gov_code);
)sql";

// The inquirer's 照会側不開示 (hub_record.non_disclosure stays the effective flag: the layout's
// 不開示 or this) and the two 委任元 codes (NULL when none), as the permit request gave them.
constexpr std::string_view kV3 = R"sql(
ALTER TABLE hub_record ADD COLUMN inquirer_non_disclosure INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hub_record ADD COLUMN inquirer_delegator TEXT;
ALTER TABLE hub_record ADD COLUMN provider_delegator TEXT;
)sql";

// Each organisation's signing keys (hub_org.sign_key stays the newest, for what read it before).
// Rows for the organisations registered before are made when the store opens (BackfillOrgKeys:
// the key id is a SHA-256, which SQL cannot compute on both backends).
constexpr std::string_view kV4 = R"sql(
CREATE TABLE hub_org_key (
  org_code TEXT NOT NULL,
  kid TEXT NOT NULL,
  sign_key BLOB NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'disabled')),
  not_before_us INTEGER NOT NULL,
  not_after_us INTEGER,
  created_at_us INTEGER NOT NULL,
  updated_at_us INTEGER NOT NULL,
  PRIMARY KEY (org_code, kid)
);
)sql";

std::string PostgresV4() {
  std::string s(kV4);
  for (auto [from, to] :
       {std::pair<std::string_view, std::string_view>{"INTEGER", "BIGINT"}, {"BLOB", "BYTEA"}}) {
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
      s.replace(p, from.size(), to);
    }
  }
  return s;
}

std::string PostgresV3() {
  std::string s(kV3);
  s.replace(s.find("INTEGER"), 7, "BIGINT");
  return s;
}

std::string PostgresV1() {
  std::string s(kSqliteV1);
  auto replace_all = [&s](std::string_view from, std::string_view to) {
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
      s.replace(p, from.size(), to);
    }
  };
  replace_all("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY");
  replace_all("INTEGER", "BIGINT");
  replace_all("BLOB", "BYTEA");
  return s;
}

Status CheckOrg(const OrgRecord& org) {
  if (org.name.empty() || org.name.size() > kMaxOrgNameBytes || !IsValidUtf8(org.name)) {
    return InvalidArgumentError("name: 1 to 200 bytes of UTF-8 required");
  }
  RETURN_IF_ERROR(linkage::CheckOrgClass(org.org_class));
  const bool http = org.endpoint.rfind("http://", 0) == 0;
  const bool https = org.endpoint.rfind("https://", 0) == 0;
  if ((!http && !https) || org.endpoint.size() > kMaxEndpointBytes ||
      org.endpoint.find_first_of(" \t\r\n?#") != std::string::npos || org.endpoint.back() == '/') {
    return InvalidArgumentError(
        "endpoint: expected a base URL such as https://host:port (no path ending in '/', no "
        "query)");
  }
  if (!crypto::VerifyKey::FromBytes(org.sign_key).ok()) {
    return InvalidArgumentError("sign key: not a valid Ed25519 public key");
  }
  if (org.cert_sha256.size() != 64 || !crypto::FromHex(org.cert_sha256).ok()) {
    return InvalidArgumentError("certificate fingerprint: expected 64 hex digits");
  }
  return Status();
}

Result<OrgRecord> OrgFromRow(const store::Row& r) {
  OrgRecord o;
  ASSIGN_OR_RETURN(std::string code, r.GetText(0));
  ASSIGN_OR_RETURN(o.code, OrgCode::Parse(code));
  ASSIGN_OR_RETURN(o.name, r.GetText(1));
  ASSIGN_OR_RETURN(o.org_class, r.GetText(2));
  ASSIGN_OR_RETURN(o.endpoint, r.GetText(3));
  ASSIGN_OR_RETURN(o.sign_key, r.GetBlob(4));
  ASSIGN_OR_RETURN(o.cert_sha256, r.GetText(5));
  ASSIGN_OR_RETURN(o.state, r.GetText(6));
  ASSIGN_OR_RETURN(o.created_at_us, r.GetInt(7));
  ASSIGN_OR_RETURN(o.updated_at_us, r.GetInt(8));
  ASSIGN_OR_RETURN(std::optional<std::string> local_gov_code, r.GetOptionalText(9));
  if (local_gov_code) {
    Result<LocalGovCode> parsed = LocalGovCode::Parse(*local_gov_code);
    if (!parsed.ok() || local_gov_code->size() != 6) {
      return DataLossError("hub_org " + o.code.str() + ": local_gov_code is not 6 digits with " +
                           "its check digit");
    }
    o.local_gov_code = *parsed;
  }
  return o;
}

// The rules of a version as stored: the permission list document's "rules" (no classes; the
// registry supplies them when the list is published).
std::string RulesJson(const std::vector<linkage::PermissionRule>& rules, int64_t version) {
  linkage::PermissionList list(version, 0, 1, rules, {});
  return list.Document();
}

constexpr std::string_view kOrgKeyColumns =
    "org_code, kid, sign_key, state, not_before_us, not_after_us, created_at_us, updated_at_us";

Result<OrgKey> OrgKeyFromRow(const store::Row& r) {
  OrgKey k;
  ASSIGN_OR_RETURN(std::string code, r.GetText(0));
  ASSIGN_OR_RETURN(k.org, OrgCode::Parse(code));
  ASSIGN_OR_RETURN(k.kid, r.GetText(1));
  ASSIGN_OR_RETURN(k.sign_key, r.GetBlob(2));
  ASSIGN_OR_RETURN(k.state, r.GetText(3));
  ASSIGN_OR_RETURN(k.not_before_us, r.GetInt(4));
  ASSIGN_OR_RETURN(k.not_after_us, r.GetOptionalInt(5));
  ASSIGN_OR_RETURN(k.created_at_us, r.GetInt(6));
  ASSIGN_OR_RETURN(k.updated_at_us, r.GetInt(7));
  return k;
}

// The organisation's one key of a registration (`org add`): its keys replaced by `sign_key`,
// accepted since ever (there is no other).
Status ReplaceOrgKeys(store::Transaction& tx, const OrgCode& code, const crypto::Bytes& sign_key,
                      int64_t now) {
  ASSIGN_OR_RETURN(crypto::VerifyKey key, crypto::VerifyKey::FromBytes(sign_key));
  RETURN_IF_ERROR(tx.Exec("DELETE FROM hub_org_key WHERE org_code = ?", {code.str()}));
  return tx.Exec(
      "INSERT INTO hub_org_key (org_code, kid, sign_key, state, not_before_us, not_after_us,"
      " created_at_us, updated_at_us) VALUES (?, ?, ?, 'active', 0, NULL, ?, ?)",
      {code.str(), linkage::KeyIdOf(key), sign_key, now, now});
}

// Gives every organisation registered before hub_org_key its key row (idempotent; safe against
// another process doing the same).
Status BackfillOrgKeys(store::Database& db, int64_t now) {
  ASSIGN_OR_RETURN(auto tx, db.Begin());
  ASSIGN_OR_RETURN(std::vector<store::Row> rows,
                   tx->Query("SELECT org_code, sign_key FROM hub_org WHERE org_code NOT IN"
                             " (SELECT org_code FROM hub_org_key)"));
  for (const store::Row& r : rows) {
    ASSIGN_OR_RETURN(std::string code_text, r.GetText(0));
    ASSIGN_OR_RETURN(OrgCode code, OrgCode::Parse(code_text));
    ASSIGN_OR_RETURN(crypto::Bytes sign_key, r.GetBlob(1));
    Result<crypto::VerifyKey> key = crypto::VerifyKey::FromBytes(sign_key);
    if (!key.ok()) return DataLossError("hub_org " + code.str() + ": sign_key is not a key");
    RETURN_IF_ERROR(tx->Exec(
        "INSERT INTO hub_org_key (org_code, kid, sign_key, state, not_before_us, not_after_us,"
        " created_at_us, updated_at_us) VALUES (?, ?, ?, 'active', 0, NULL, ?, ?)"
        " ON CONFLICT DO NOTHING",
        {code.str(), linkage::KeyIdOf(*key), sign_key, now, now}));
  }
  return tx->Commit();
}

// Every registry change gets the next revision, so the hub notices it whatever the clock says.
Result<int64_t> NextRevision(store::Transaction& tx) {
  ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT COALESCE(MAX(revision), 0) FROM hub_org"));
  ASSIGN_OR_RETURN(int64_t latest, row->GetInt(0));
  return latest + 1;
}

}  // namespace

const std::vector<store::Migration>& HubMigrations() {
  static const auto* m = new std::vector<store::Migration>{
      {1, "registry, codes, permission lists, permits, records", std::string(kSqliteV1),
       PostgresV1()},
      {2, "hub_org.local_gov_code (地方公共団体コード)", std::string(kV2), std::string(kV2)},
      {3, "hub_record: 照会側不開示 and 委任元", std::string(kV3), PostgresV3()},
      {4, "hub_org_key: an organisation's signing keys with their validity", std::string(kV4),
       PostgresV4()}};
  return *m;
}

HubStore::~HubStore() {
  if (!audit_) return;
  Status s = audit_->CheckpointIfBehind().status();
  if (!s.ok()) log::Error("audit.checkpoint_failed", {log::StatusField(s)});
}

Result<std::unique_ptr<HubStore>> HubStore::Open(
    std::shared_ptr<store::Database> db, const crypto::SigningKey* audit_key, const Clock& clock,
    std::shared_ptr<audit::CheckpointSink> checkpoint_sink) {
  RETURN_IF_ERROR(store::ApplyMigrations(*db, "hub", HubMigrations(), clock));
  RETURN_IF_ERROR(store::ApplyMigrations(*db, "node_lease", store::NodeLeaseMigrations(), clock));
  RETURN_IF_ERROR(BackfillOrgKeys(*db, ToUnixMicros(clock.Now())));
  audit::AuditLog::Options ao;
  ao.checkpoint_key = audit_key;
  ao.checkpoint_sink = std::move(checkpoint_sink);
  ao.clock = &clock;
  ASSIGN_OR_RETURN(std::unique_ptr<audit::AuditLog> audit, audit::AuditLog::Open(db, ao));
  return std::unique_ptr<HubStore>(new HubStore(std::move(db), std::move(audit), clock));
}

Status HubStore::AddOrg(const OrgRecord& org, const std::string& actor) {
  RETURN_IF_ERROR(CheckOrg(org));
  const int64_t now = ToUnixMicros(clock_.Now());
  ASSIGN_OR_RETURN(auto tx, db_->Begin());
  ASSIGN_OR_RETURN(
      auto existing,
      tx->QueryOne("SELECT created_at_us FROM hub_org WHERE org_code = ?", {org.code.str()}));
  store::Value local_gov_code = nullptr;
  if (org.local_gov_code) {
    local_gov_code = org.local_gov_code->str();
    // Checked here to name the holder; the unique index still guards against a concurrent
    // registration (kAlreadyExists from the database).
    ASSIGN_OR_RETURN(auto holder,
                     tx->QueryOne("SELECT org_code FROM hub_org WHERE local_gov_code = ?"
                                  " AND org_code <> ?",
                                  {org.local_gov_code->str(), org.code.str()}));
    if (holder) {
      ASSIGN_OR_RETURN(std::string other, holder->GetText(0));
      return AlreadyExistsError(
          "local_gov_code (地方公共団体コード): already registered to organisation " + other +
          " (他の機関に登録済みです)");
    }
  }
  ASSIGN_OR_RETURN(int64_t revision, NextRevision(*tx));
  if (existing) {
    RETURN_IF_ERROR(tx->Exec(
        "UPDATE hub_org SET name = ?, org_class = ?, endpoint = ?, sign_key = ?,"
        " cert_sha256 = ?, local_gov_code = ?, state = 'active', revision = ?, updated_at_us = ?"
        " WHERE org_code = ?",
        {org.name, org.org_class, org.endpoint, org.sign_key, org.cert_sha256, local_gov_code,
         revision, now, org.code.str()}));
  } else {
    RETURN_IF_ERROR(
        tx->Exec("INSERT INTO hub_org (org_code, name, org_class, endpoint, sign_key, cert_sha256,"
                 " local_gov_code, state, revision, created_at_us, updated_at_us)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, 'active', ?, ?, ?)",
                 {org.code.str(), org.name, org.org_class, org.endpoint, org.sign_key,
                  org.cert_sha256, local_gov_code, revision, now, now}));
  }
  RETURN_IF_ERROR(ReplaceOrgKeys(*tx, org.code, org.sign_key, now));
  std::string target = "org " + org.code.str();
  if (org.local_gov_code) target += " local_gov_code " + org.local_gov_code->str();
  RETURN_IF_ERROR(
      audit_->Append(*tx, {"hub", actor, existing ? "org.update" : "org.add", target, "ok", ""})
          .status());
  return tx->Commit();
}

Status HubStore::DisableOrg(const OrgCode& code, const std::string& actor) {
  const int64_t now = ToUnixMicros(clock_.Now());
  ASSIGN_OR_RETURN(auto tx, db_->Begin());
  ASSIGN_OR_RETURN(int64_t revision, NextRevision(*tx));
  ASSIGN_OR_RETURN(int64_t n, tx->ExecCount("UPDATE hub_org SET state = 'disabled',"
                                            " revision = ?, updated_at_us = ? WHERE org_code = ?",
                                            {revision, now, code.str()}));
  if (n == 0) return NotFoundError("organisation " + code.str() + " is not registered");
  RETURN_IF_ERROR(
      audit_->Append(*tx, {"hub", actor, "org.disable", "org " + code.str(), "ok", ""}).status());
  return tx->Commit();
}

Result<std::vector<OrgRecord>> HubStore::ListOrgs() {
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  ASSIGN_OR_RETURN(auto rows,
                   tx->Query("SELECT org_code, name, org_class, endpoint, sign_key, cert_sha256,"
                             " state, created_at_us, updated_at_us, local_gov_code FROM hub_org"
                             " ORDER BY org_code"));
  std::vector<OrgRecord> out;
  for (const store::Row& r : rows) {
    ASSIGN_OR_RETURN(OrgRecord o, OrgFromRow(r));
    out.push_back(std::move(o));
  }
  return out;
}

Result<OrgKey> HubStore::RotateOrgKey(const OrgCode& code, const crypto::Bytes& sign_key,
                                      std::chrono::seconds overlap, const std::string& actor) {
  Result<crypto::VerifyKey> key = crypto::VerifyKey::FromBytes(sign_key);
  if (!key.ok()) return InvalidArgumentError("sign key: not a valid Ed25519 public key");
  if (overlap.count() < kMinOverlapSeconds || overlap.count() > kMaxOverlapSeconds) {
    return InvalidArgumentError("overlap: 1 hour to 30 days");
  }
  const std::string kid = linkage::KeyIdOf(*key);
  const int64_t now = ToUnixMicros(clock_.Now());
  const int64_t end = now + overlap.count() * 1'000'000;
  ASSIGN_OR_RETURN(auto tx, db_->Begin());
  ASSIGN_OR_RETURN(int64_t revision, NextRevision(*tx));
  ASSIGN_OR_RETURN(int64_t n, tx->ExecCount("UPDATE hub_org SET sign_key = ?, revision = ?,"
                                            " updated_at_us = ? WHERE org_code = ?",
                                            {sign_key, revision, now, code.str()}));
  if (n == 0) return NotFoundError("organisation " + code.str() + " is not registered");
  ASSIGN_OR_RETURN(auto existing, tx->QueryOne("SELECT state FROM hub_org_key WHERE org_code = ?"
                                               " AND kid = ?",
                                               {code.str(), kid}));
  if (existing) {
    return AlreadyExistsError("key " + kid + " is already registered for organisation " +
                              code.str() + " (登録済みの鍵です)");
  }
  ASSIGN_OR_RETURN(auto live, tx->QueryOne("SELECT COUNT(*) FROM hub_org_key WHERE org_code = ?"
                                           " AND state = 'active' AND (not_after_us IS NULL"
                                           " OR not_after_us > ?)",
                                           {code.str(), now}));
  ASSIGN_OR_RETURN(int64_t live_keys, live->GetInt(0));
  if (live_keys >= kMaxLiveOrgKeys) {
    return FailedPreconditionError("organisation " + code.str() + " has " +
                                   std::to_string(live_keys) +
                                   " keys in use already (retire one first: hub org retire-key)");
  }
  RETURN_IF_ERROR(
      tx->Exec("UPDATE hub_org_key SET not_after_us = ?, updated_at_us = ?"
               " WHERE org_code = ? AND (not_after_us IS NULL OR not_after_us > ?)",
               {end, now, code.str(), end}));
  RETURN_IF_ERROR(tx->Exec(
      "INSERT INTO hub_org_key (org_code, kid, sign_key, state, not_before_us, not_after_us,"
      " created_at_us, updated_at_us) VALUES (?, ?, ?, 'active', ?, NULL, ?, ?)",
      {code.str(), kid, sign_key, now, now, now}));
  RETURN_IF_ERROR(audit_
                      ->Append(*tx, {"hub", actor, "org.key.rotate",
                                     "org " + code.str() + " key " + kid + " (other keys end " +
                                         FormatRfc3339(FromUnixMicros(end)) + ")",
                                     "ok", ""})
                      .status());
  RETURN_IF_ERROR(tx->Commit());
  return OrgKey{code, kid, sign_key, "active", now, std::nullopt, now, now};
}

namespace {

// Reads one key of an organisation in `tx`. kNotFound naming it.
Result<OrgKey> FindOrgKey(store::Transaction& tx, const OrgCode& code, const std::string& kid) {
  ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT " + std::string(kOrgKeyColumns) +
                                             " FROM hub_org_key WHERE org_code = ? AND kid = ?",
                                         {code.str(), kid}));
  if (!row) {
    return NotFoundError("organisation " + code.str() + " has no key " +
                         (linkage::IsKeyId(kid) ? kid : std::string("(malformed key id)")));
  }
  return OrgKeyFromRow(*row);
}

}  // namespace

Result<OrgKey> HubStore::RetireOrgKey(const OrgCode& code, const std::string& kid,
                                      const std::string& actor) {
  const int64_t now = ToUnixMicros(clock_.Now());
  ASSIGN_OR_RETURN(auto tx, db_->Begin());
  ASSIGN_OR_RETURN(OrgKey key, FindOrgKey(*tx, code, kid));
  if (key.AcceptedAt(now)) {
    ASSIGN_OR_RETURN(auto others,
                     tx->QueryOne("SELECT COUNT(*) FROM hub_org_key WHERE org_code = ? AND kid <> ?"
                                  " AND state = 'active' AND not_before_us <= ?"
                                  " AND (not_after_us IS NULL OR not_after_us > ?)",
                                  {code.str(), kid, now, now}));
    ASSIGN_OR_RETURN(int64_t n, others->GetInt(0));
    if (n == 0) {
      return FailedPreconditionError("key " + kid + " is the only key of organisation " +
                                     code.str() + " in use (最後の鍵は廃止できません)");
    }
  }
  if (!key.not_after_us || *key.not_after_us > now) {
    ASSIGN_OR_RETURN(int64_t revision, NextRevision(*tx));
    RETURN_IF_ERROR(
        tx->Exec("UPDATE hub_org_key SET not_after_us = ?, updated_at_us = ?"
                 " WHERE org_code = ? AND kid = ?",
                 {now, now, code.str(), kid}));
    RETURN_IF_ERROR(
        tx->Exec("UPDATE hub_org SET revision = ?, updated_at_us = ? WHERE org_code = ?",
                 {revision, now, code.str()}));
    key.not_after_us = now;
  }
  RETURN_IF_ERROR(audit_
                      ->Append(*tx, {"hub", actor, "org.key.retire",
                                     "org " + code.str() + " key " + kid, "ok", ""})
                      .status());
  RETURN_IF_ERROR(tx->Commit());
  return key;
}

Result<OrgKey> HubStore::DisableOrgKey(const OrgCode& code, const std::string& kid,
                                       const std::string& actor) {
  const int64_t now = ToUnixMicros(clock_.Now());
  ASSIGN_OR_RETURN(auto tx, db_->Begin());
  ASSIGN_OR_RETURN(OrgKey key, FindOrgKey(*tx, code, kid));
  ASSIGN_OR_RETURN(int64_t revision, NextRevision(*tx));
  RETURN_IF_ERROR(
      tx->Exec("UPDATE hub_org_key SET state = 'disabled', updated_at_us = ?"
               " WHERE org_code = ? AND kid = ?",
               {now, code.str(), kid}));
  RETURN_IF_ERROR(tx->Exec("UPDATE hub_org SET revision = ?, updated_at_us = ? WHERE org_code = ?",
                           {revision, now, code.str()}));
  RETURN_IF_ERROR(audit_
                      ->Append(*tx, {"hub", actor, "org.key.disable",
                                     "org " + code.str() + " key " + kid, "ok", ""})
                      .status());
  RETURN_IF_ERROR(tx->Commit());
  key.state = "disabled";
  return key;
}

Result<std::vector<OrgKey>> HubStore::ListOrgKeys(const std::optional<OrgCode>& code) {
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  std::string sql = "SELECT " + std::string(kOrgKeyColumns) + " FROM hub_org_key";
  std::vector<store::Value> params;
  if (code) {
    sql += " WHERE org_code = ?";
    params.push_back(code->str());
  }
  sql += " ORDER BY org_code, not_before_us DESC, kid";
  ASSIGN_OR_RETURN(std::vector<store::Row> rows, tx->Query(sql, params));
  std::vector<OrgKey> out;
  for (const store::Row& r : rows) {
    ASSIGN_OR_RETURN(OrgKey k, OrgKeyFromRow(r));
    out.push_back(std::move(k));
  }
  return out;
}

Result<std::string> HubStore::RegistryStamp() {
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  ASSIGN_OR_RETURN(auto row, tx->QueryOne("SELECT COUNT(*), COALESCE(MAX(revision), 0)"
                                          " FROM hub_org"));
  ASSIGN_OR_RETURN(int64_t n, row->GetInt(0));
  ASSIGN_OR_RETURN(int64_t latest, row->GetInt(1));
  return std::to_string(n) + "/" + std::to_string(latest);
}

Result<int64_t> HubStore::AddPermissionList(const std::vector<linkage::PermissionRule>& rules,
                                            const std::string& source_name,
                                            const std::string& source_sha256,
                                            const std::string& actor) {
  const int64_t now = ToUnixMicros(clock_.Now());
  ASSIGN_OR_RETURN(auto tx, db_->Begin());
  ASSIGN_OR_RETURN(auto row,
                   tx->QueryOne("SELECT COALESCE(MAX(version), 0) FROM hub_permission_list"));
  ASSIGN_OR_RETURN(int64_t latest, row->GetInt(0));
  const int64_t version = latest + 1;
  RETURN_IF_ERROR(tx->Exec(
      "INSERT INTO hub_permission_list (version, rules, rule_count, source_name, source_sha256,"
      " loaded_at_us, loaded_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
      {version, RulesJson(rules, version), static_cast<int64_t>(rules.size()), source_name,
       source_sha256, now, actor}));
  RETURN_IF_ERROR(
      audit_
          ->Append(*tx, {"hub", actor, "permissions.load",
                         "permission list v" + std::to_string(version) + " (" +
                             std::to_string(rules.size()) + " rules, sha256 " + source_sha256 + ")",
                         "ok", ""})
          .status());
  RETURN_IF_ERROR(tx->Commit());
  return version;
}

Result<std::optional<PermissionListVersion>> HubStore::LatestPermissionList() {
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  ASSIGN_OR_RETURN(auto row, tx->QueryOne("SELECT version, rules, source_name, source_sha256,"
                                          " loaded_at_us FROM hub_permission_list"
                                          " ORDER BY version DESC LIMIT 1"));
  if (!row) return std::optional<PermissionListVersion>();
  PermissionListVersion v;
  ASSIGN_OR_RETURN(v.version, row->GetInt(0));
  ASSIGN_OR_RETURN(std::string rules, row->GetText(1));
  ASSIGN_OR_RETURN(v.source_name, row->GetText(2));
  ASSIGN_OR_RETURN(v.source_sha256, row->GetText(3));
  ASSIGN_OR_RETURN(v.loaded_at_us, row->GetInt(4));
  Result<linkage::PermissionList> list = linkage::PermissionList::ParseDocument(rules);
  if (!list.ok()) {
    return DataLossError("hub_permission_list version " + std::to_string(v.version) + ": " +
                         list.status().message());
  }
  v.rules = list->rules();
  return std::optional<PermissionListVersion>(std::move(v));
}

Result<int64_t> HubStore::LatestPermissionListVersion() {
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  ASSIGN_OR_RETURN(auto row,
                   tx->QueryOne("SELECT COALESCE(MAX(version), 0) FROM hub_permission_list"));
  return row->GetInt(0);
}

Result<linkage::PermissionList> ReadPermissionListFile(const std::string& path,
                                                       const layout::Catalogue& catalogue,
                                                       std::string* sha256_hex) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError(path + ": cannot open the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (sha256_hex != nullptr) *sha256_hex = crypto::ToHex(crypto::Sha256(crypto::AsBytes(text)));
  return linkage::PermissionList::ParseSource(text, path, catalogue);
}

}  // namespace chukan::hub
