#include "server/platform.h"

#include <pwd.h>
#include <unistd.h>

#include <thread>
#include <utility>

#include "audit/checkpoint_export.h"
#include "common/log.h"
#include "common/utf8.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "crypto/key_file.h"
#include "crypto/key_wrap.h"
#include "server/data_key_rotation.h"
#include "store/node_lease.h"

namespace chukan::server {
namespace {

constexpr std::string_view kTokenPrefix = "ck_";
constexpr size_t kTokenRandomBytes = 32;
constexpr size_t kDataKeyBytes = crypto::kDataKeyBytes;

const char kPlatformSqlite[] = R"sql(
CREATE TABLE tenants (
  org_code      TEXT    PRIMARY KEY,
  name          TEXT    NOT NULL,
  wrapped_key   BLOB,
  state         TEXT    NOT NULL,
  created_at_us INTEGER NOT NULL,
  deleted_at_us INTEGER
);
CREATE TABLE clients (
  token_hash    BLOB    PRIMARY KEY,
  org_code      TEXT    NOT NULL,
  name          TEXT    NOT NULL,
  role          TEXT    NOT NULL,
  created_at_us INTEGER NOT NULL,
  revoked_at_us INTEGER
);
CREATE UNIQUE INDEX clients_active_name ON clients (org_code, name) WHERE revoked_at_us IS NULL;
)sql";

const char kPlatformPostgres[] = R"sql(
CREATE TABLE tenants (
  org_code      TEXT   PRIMARY KEY,
  name          TEXT   NOT NULL,
  wrapped_key   BYTEA,
  state         TEXT   NOT NULL,
  created_at_us BIGINT NOT NULL,
  deleted_at_us BIGINT
);
CREATE TABLE clients (
  token_hash    BYTEA  PRIMARY KEY,
  org_code      TEXT   NOT NULL,
  name          TEXT   NOT NULL,
  role          TEXT   NOT NULL,
  created_at_us BIGINT NOT NULL,
  revoked_at_us BIGINT
);
CREATE UNIQUE INDEX clients_active_name ON clients (org_code, name) WHERE revoked_at_us IS NULL;
)sql";

Status CheckName(std::string_view what, const std::string& name, size_t max) {
  if (name.empty()) return InvalidArgumentError(std::string(what) + " must not be empty");
  if (name.size() > max) {
    return InvalidArgumentError(std::string(what) + " is longer than " + std::to_string(max) +
                                " bytes");
  }
  if (!IsValidUtf8(name)) return InvalidArgumentError(std::string(what) + " is not valid UTF-8");
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return InvalidArgumentError(std::string(what) + " contains a control character");
    }
  }
  return Status();
}

std::vector<uint8_t> TokenHash(std::string_view token) {
  std::vector<uint8_t> buf;
  const std::string_view domain = "chukan-client-token-v1";
  buf.reserve(domain.size() + 1 + token.size());
  buf.insert(buf.end(), domain.begin(), domain.end());
  buf.push_back(0);
  buf.insert(buf.end(), token.begin(), token.end());
  return crypto::Blake2b(buf, 32);
}

Result<TenantInfo> RowToTenant(const store::Row& row) {
  ASSIGN_OR_RETURN(std::string org_text, row.GetText(0));
  ASSIGN_OR_RETURN(OrgCode org, OrgCode::Parse(org_text));
  TenantInfo t{org, TenantId::ForOrg(org), {}, {}, 0, 0};
  ASSIGN_OR_RETURN(t.name, row.GetText(1));
  ASSIGN_OR_RETURN(t.state, row.GetText(2));
  ASSIGN_OR_RETURN(t.created_at_us, row.GetInt(3));
  ASSIGN_OR_RETURN(t.active_clients, row.GetInt(4));
  return t;
}

constexpr char kSelectTenants[] =
    "SELECT t.org_code, t.name, t.state, t.created_at_us, "
    "(SELECT COUNT(*) FROM clients c WHERE c.org_code = t.org_code AND c.revoked_at_us IS NULL) "
    "FROM tenants t";

constexpr char kKeySchemeSql[] =
    "ALTER TABLE tenants ADD COLUMN key_scheme TEXT NOT NULL DEFAULT 'master';";

constexpr char kKekFileSql[] = "ALTER TABLE tenants ADD COLUMN kek_file TEXT;";

constexpr char kDataKeyVersionSqlite[] =
    "ALTER TABLE tenants ADD COLUMN data_key_version INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE tenants ADD COLUMN next_wrapped_key BLOB;"
    "ALTER TABLE tenants ADD COLUMN rotation_started_at_us INTEGER;";
constexpr char kDataKeyVersionPostgres[] =
    "ALTER TABLE tenants ADD COLUMN data_key_version BIGINT NOT NULL DEFAULT 1;"
    "ALTER TABLE tenants ADD COLUMN next_wrapped_key BYTEA;"
    "ALTER TABLE tenants ADD COLUMN rotation_started_at_us BIGINT;";

// Destroys a KEK file made for a registration that did not happen (its row lost, or failed to
// commit); a failure is logged: the file wraps no data key and harms nothing but the tidiness
// of keys/tenants/.
void DestroyUnused(const TenantKeks& keks, const TenantId& id, const std::string& file) {
  if (Status s = keks.Destroy(id, file); !s.ok()) {
    log::Warn("platform.unused_kek_not_destroyed", {{"tenant", id.str()}, log::StatusField(s)});
  }
}

}  // namespace

const std::vector<store::Migration>& PlatformMigrations() {
  static const auto* const kMigrations = new std::vector<store::Migration>{
      {1, "create tenants and clients", kPlatformSqlite, kPlatformPostgres},
      // How tenants.wrapped_key is wrapped: "master" (under the master key itself, the rows
      // before this migration) or "kek" (under the tenant's own KEK, tenant_keks.h).
      // Platform::Open moves every active "master" tenant to "kek".
      {2, "tenants.key_scheme", kKeySchemeSql, kKeySchemeSql},
      // The file of the registration's KEK in keys/tenants/ (TenantKeks::Create); NULL for the
      // registrations of migration 2, whose file is "<tenant id>.kek". Kept after a deletion,
      // so that a deletion run again destroys the same file.
      {3, "tenants.kek_file", kKekFileSql, kKekFileSql},
      // Data-key rotation: the version of wrapped_key (its key id "…:data:v<N>") and, while a
      // rotation runs, the next key (version N + 1) wrapped under the same KEK.
      {4, "tenants.data_key_version, next_wrapped_key", kDataKeyVersionSqlite,
       kDataKeyVersionPostgres},
  };
  return *kMigrations;
}

std::string CliActor() {
  const struct passwd* pw = getpwuid(getuid());
  return std::string("cli:") + (pw != nullptr ? pw->pw_name : std::to_string(getuid()));
}

Platform::Platform(const Clock& clock, std::unique_ptr<store::TenantStore> store,
                   std::shared_ptr<store::Database> db, std::string master_path,
                   std::string kek_dir, crypto::SigningKey audit_key,
                   std::shared_ptr<const layout::Catalogue> catalogue, std::string checkpoint_dir)
    : clock_(clock),
      store_(std::move(store)),
      db_(std::move(db)),
      keks_(std::make_unique<TenantKeks>(std::move(master_path), std::move(kek_dir))),
      audit_key_(std::move(audit_key)),
      catalogue_(std::move(catalogue)),
      checkpoint_dir_(std::move(checkpoint_dir)) {
  MutexLock lock(refresh_link_->mu);
  refresh_link_->platform = this;
}

Platform::~Platform() {
  {
    MutexLock lock(refresh_link_->mu);
    refresh_link_->platform = nullptr;
  }
  // Whatever was appended since the last timer tick is signed before the handles go.
  if (audit_) {
    Status s = CheckpointAuditLogs();
    if (!s.ok()) log::Error("audit.checkpoint_failed", {log::StatusField(s)});
  }
  CloseTenants();
  audit_.reset();
  if (store_) store_->Close().IgnoreError();  // shutting down: nothing left to report to
}

Result<std::unique_ptr<Platform>> Platform::Open(
    const ServerConfig& config, bool create_keys, const Clock& clock,
    std::shared_ptr<const layout::Catalogue> catalogue) {
  // Created here on a new installation, and checked; TenantKeks reads it again for each use.
  Result<crypto::SecretBytes> master =
      crypto::LoadOrCreateKeyFile(config.master_key_file(), 32, create_keys);
  if (!master.ok()) {
    if (master.status().code() == StatusCode::kNotFound) {
      return FailedPreconditionError(
          config.master_key_file() +
          ": platform master key is missing (a new installation creates it with "
          "`chukan tenant create`)");
    }
    return master.status();
  }
  ASSIGN_OR_RETURN(crypto::SecretBytes seed,
                   crypto::LoadOrCreateKeyFile(config.audit_key_file(), 32, create_keys));
  ASSIGN_OR_RETURN(crypto::SigningKey audit_key, crypto::SigningKey::FromSeed(seed));
  ASSIGN_OR_RETURN(std::unique_ptr<store::TenantStore> ts, store::TenantStore::Open(config.store));
  ASSIGN_OR_RETURN(std::shared_ptr<store::Database> db, ts->Platform());
  RETURN_IF_ERROR(store::ApplyMigrations(*db, "platform", PlatformMigrations(), clock));
  RETURN_IF_ERROR(store::ApplyMigrations(*db, "node_lease", store::NodeLeaseMigrations(), clock));
  std::unique_ptr<Platform> p(new Platform(clock, std::move(ts), db, config.master_key_file(),
                                           config.keys_dir + "/tenants", std::move(audit_key),
                                           std::move(catalogue), config.audit_checkpoint_dir));
  p->outbox_backlog_limit_ = config.delivery_max_backlog;
  audit::AuditLog::Options lo;
  lo.checkpoint_key = &p->audit_key_;
  lo.clock = &clock;
  ASSIGN_OR_RETURN(lo.checkpoint_sink,
                   audit::OpenCheckpointSink(config.audit_checkpoint_dir, "platform"));
  ASSIGN_OR_RETURN(p->audit_, audit::AuditLog::Open(db, lo));
  RETURN_IF_ERROR(p->UpgradeKeyScheme());
  return p;
}

Status Platform::UpgradeKeyScheme() {
  std::vector<std::pair<OrgCode, std::vector<uint8_t>>> legacy;
  {
    ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
    ASSIGN_OR_RETURN(std::vector<store::Row> rows,
                     tx->Query("SELECT org_code, wrapped_key FROM tenants WHERE state = 'active'"
                               " AND key_scheme = 'master' AND wrapped_key IS NOT NULL"));
    RETURN_IF_ERROR(tx->Commit());
    for (const store::Row& row : rows) {
      ASSIGN_OR_RETURN(std::string org_text, row.GetText(0));
      ASSIGN_OR_RETURN(OrgCode org, OrgCode::Parse(org_text));
      ASSIGN_OR_RETURN(std::vector<uint8_t> wrapped, row.GetBlob(1));
      legacy.emplace_back(std::move(org), std::move(wrapped));
    }
  }
  if (legacy.empty()) return Status();
  for (const auto& entry : legacy) {
    // Named references, not structured bindings: the lambda below captures them (C++20 lets
    // clang, which checks the lock annotations, refuse a capture of a binding).
    const OrgCode& org = entry.first;
    const std::vector<uint8_t>& wrapped = entry.second;
    const TenantId id = TenantId::ForOrg(org);
    Result<crypto::SecretBytes> data_key = keks_->UnwrapUnderMaster(wrapped, KeyId(id));
    if (!data_key.ok()) {
      return data_key.status().WithContext("tenant " + org.str() +
                                           ": moving its data key under a KEK of its own");
    }
    ASSIGN_OR_RETURN(TenantKeks::NewKek kek, keks_->Create(id));
    bool used = false;
    Status moved = [&]() -> Status {
      ASSIGN_OR_RETURN(std::vector<uint8_t> rewrapped,
                       crypto::WrapKey(kek.kek, *data_key, KeyId(id)));
      ASSIGN_OR_RETURN(auto tx, db_->Begin());
      // Only while still "master": another process opening the platform may have moved it.
      ASSIGN_OR_RETURN(int64_t n,
                       tx->ExecCount("UPDATE tenants SET wrapped_key = ?, key_scheme = 'kek',"
                                     " kek_file = ? WHERE org_code = ? AND key_scheme ="
                                     " 'master' AND state = 'active'",
                                     {rewrapped, kek.file, org.str()}));
      if (n == 0) return Status();
      RETURN_IF_ERROR(audit_
                          ->Append(*tx, {"platform", "system", "tenant.key_scheme",
                                         "tenant " + id.str() + " kek", "ok", ""})
                          .status());
      RETURN_IF_ERROR(tx->Commit());
      used = true;
      return Status();
    }();
    if (!used) DestroyUnused(*keks_, id, kek.file);
    RETURN_IF_ERROR(moved);
  }
  log::Info("platform.key_scheme_upgraded", {{"tenants", static_cast<int64_t>(legacy.size())}});
  // The data keys wrapped under the master key alone are still in the old page images.
  return db_->EraseFreed();
}

Result<TenantKeks::Rotation> Platform::RotateMasterKey(const std::string& actor,
                                                       const TenantKeks::RotateOptions& options) {
  {
    ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
    ASSIGN_OR_RETURN(std::optional<store::Row> legacy,
                     tx->QueryOne("SELECT COUNT(*) FROM tenants WHERE state = 'active' AND"
                                  " key_scheme = 'master'"));
    RETURN_IF_ERROR(tx->Commit());
    ASSIGN_OR_RETURN(int64_t n, legacy->GetInt(0));
    if (n > 0) {
      return FailedPreconditionError(
          std::to_string(n) +
          " tenants still have their data key wrapped under the master key itself; open the "
          "platform once (`chukan tenant list`) to move them under KEKs of their own first");
    }
  }
  ASSIGN_OR_RETURN(TenantKeks::Rotation done, keks_->RotateMaster(options));
  ASSIGN_OR_RETURN(auto tx, db_->Begin());
  RETURN_IF_ERROR(audit_
                      ->Append(*tx, {"platform", actor, "platform.master_key.rotate",
                                     "master key (" + std::to_string(done.rewrapped) +
                                         " KEK files rewrapped, " + std::to_string(done.already) +
                                         " already under the new key)",
                                     "ok", ""})
                      .status());
  RETURN_IF_ERROR(tx->Commit());
  log::Info("platform.master_key_rotated",
            {{"rewrapped", done.rewrapped}, {"already", done.already}});
  return done;
}

Result<TenantInfo> Platform::CreateTenant(const OrgCode& org, const std::string& name,
                                          const std::string& actor) {
  RETURN_IF_ERROR(CheckName("tenant name", name, kMaxTenantNameBytes));
  const TenantId id = TenantId::ForOrg(org);
  crypto::SecretBytes data_key = crypto::SecretBytes::Random(kDataKeyBytes);

  // Storage first: if registering fails afterwards, an unregistered empty store is harmless and
  // is reused by the next attempt; a registered tenant without storage would not be.
  Status created = store_->CreateTenant(id);
  if (!created.ok() && created.code() != StatusCode::kAlreadyExists) return created;

  // Refused before a KEK file is touched: an active tenant's KEK must not be replaced.
  RETURN_IF_ERROR(RefuseActive(org));
  RETURN_IF_ERROR(Register(org, name, data_key,
                           {"platform", actor, "tenant.create", "tenant " + id.str(), "ok", ""}));

  // The tenant's own audit log starts with its creation.
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> ctx, Tenant(id));
  RETURN_IF_ERROR(ctx->Commit([&](store::Transaction& ttx) -> Status {
    return ctx->audit
        ->Append(ttx, {id.str(), actor, "tenant.create", "tenant " + id.str(), "ok", ""})
        .status();
  }));
  return GetTenant(org);
}

Status Platform::RefuseActive(const OrgCode& org) {
  ASSIGN_OR_RETURN(auto rtx, db_->BeginRead());
  ASSIGN_OR_RETURN(
      std::optional<store::Row> active,
      rtx->QueryOne("SELECT 1 FROM tenants WHERE org_code = ? AND state = 'active'", {org.str()}));
  RETURN_IF_ERROR(rtx->Commit());
  if (active) return AlreadyExistsError("tenant " + org.str() + " already exists");
  return Status();
}

Status Platform::Register(const OrgCode& org, const std::string& name,
                          const crypto::SecretBytes& data_key, const audit::AuditEvent& event) {
  const TenantId id = TenantId::ForOrg(org);
  const int64_t now = ToUnixMicros(clock_.Now());
  // A KEK of this registration's own, in a new file named by the row: never one a deletion was
  // meant to destroy, and never a file another creator of the same tenant writes at the same
  // moment (the creator whose row loses destroys its own). Written before the row that needs
  // it: a crash in between leaves an unused file, which wraps nothing.
  ASSIGN_OR_RETURN(TenantKeks::NewKek kek, keks_->Create(id));
  std::optional<std::string> previous_file;  // a deleted registration's, when re-registering
  bool registered = false;
  Status status = [&]() -> Status {
    ASSIGN_OR_RETURN(std::vector<uint8_t> wrapped, crypto::WrapKey(kek.kek, data_key, KeyId(id)));
    ASSIGN_OR_RETURN(auto tx, db_->Begin());
    ASSIGN_OR_RETURN(
        std::optional<store::Row> existing,
        tx->QueryOne("SELECT state, kek_file FROM tenants WHERE org_code = ?", {org.str()}));
    if (existing) {
      ASSIGN_OR_RETURN(std::string state, existing->GetText(0));
      if (state == "active") {
        return AlreadyExistsError("tenant " + org.str() + " already exists");
      }
      if (existing->IsNull(1)) {
        previous_file = "";
      } else {
        ASSIGN_OR_RETURN(previous_file, existing->GetText(1));
      }
      RETURN_IF_ERROR(
          tx->Exec("UPDATE tenants SET name = ?, wrapped_key = ?, key_scheme = 'kek', kek_file "
                   "= ?, state = 'active', created_at_us = ?, deleted_at_us = NULL, "
                   "data_key_version = 1, next_wrapped_key = NULL, rotation_started_at_us = NULL "
                   "WHERE org_code = ?",
                   {name, wrapped, kek.file, now, org.str()}));
    } else {
      Status inserted = tx->Exec(
          "INSERT INTO tenants (org_code, name, wrapped_key, key_scheme, kek_file, "
          "state, created_at_us) VALUES (?, ?, ?, 'kek', ?, 'active', ?)",
          {org.str(), name, wrapped, kek.file, now});
      if (inserted.code() == StatusCode::kAlreadyExists) {  // another creator's row won
        return AlreadyExistsError("tenant " + org.str() + " already exists");
      }
      RETURN_IF_ERROR(inserted);
    }
    RETURN_IF_ERROR(audit_->Append(*tx, event).status());
    RETURN_IF_ERROR(tx->Commit());
    registered = true;
    return Status();
  }();
  if (!registered) DestroyUnused(*keks_, id, kek.file);
  RETURN_IF_ERROR(status);
  // The previous registration's KEK was destroyed by its deletion, unless that stopped half-way.
  if (previous_file) {
    if (Status s = keks_->Destroy(id, *previous_file); !s.ok()) {
      log::Error("platform.kek_destroy_failed", {{"tenant", id.str()}, log::StatusField(s)});
    }
  }
  return Status();
}

Result<TenantInfo> Platform::ImportTenant(const OrgCode& org, const std::string& name,
                                          const crypto::SecretBytes& data_key, const FillFn& fill,
                                          const audit::AuditEvent& event) {
  RETURN_IF_ERROR(CheckName("tenant name", name, kMaxTenantNameBytes));
  if (data_key.size() != kDataKeyBytes) {
    return InvalidArgumentError("a tenant's data key must be " + std::to_string(kDataKeyBytes) +
                                " bytes");
  }
  const TenantId id = TenantId::ForOrg(org);
  RETURN_IF_ERROR(RefuseActive(org));
  // Storage that is there without an active registration is an interrupted import's, or a
  // deletion's that stopped before dropping it: nothing opens it (its key is not registered).
  Status created = store_->CreateTenant(id);
  if (created.code() == StatusCode::kAlreadyExists) {
    Evict(id);
    RETURN_IF_ERROR(store_->DropTenant(id));
    created = store_->CreateTenant(id);
  }
  RETURN_IF_ERROR(created);
  Status done = [&]() -> Status {
    {
      ASSIGN_OR_RETURN(std::shared_ptr<store::Database> db, store_->Tenant(id));
      Status filled = fill(*db);
      db->Close().IgnoreError();  // Close() cannot fail
      RETURN_IF_ERROR(filled);
    }
    return Register(org, name, data_key, event);
  }();
  if (!done.ok()) {
    if (Status s = store_->DropTenant(id); !s.ok()) {
      log::Error("platform.import_storage_not_dropped",
                 {{"tenant", id.str()}, log::StatusField(s)});
    }
    return done;
  }
  return GetTenant(org);
}

Result<crypto::BoxKeyPair> Platform::TransferKey(bool create, const std::string& actor) {
  bool created = false;
  ASSIGN_OR_RETURN(crypto::SecretBytes secret, keks_->LoadOrCreateTransferKey(create, &created));
  ASSIGN_OR_RETURN(crypto::BoxKeyPair pair, crypto::BoxKeyPair::FromSecret(secret));
  if (created) {
    RETURN_IF_ERROR(audit_
                        ->Append({"platform", actor, "platform.transfer_key.create",
                                  "transfer key " + crypto::ToHex(pair.public_key()), "ok", ""})
                        .status());
  }
  return pair;
}

crypto::Bytes Platform::SignAsPlatform(std::span<const uint8_t> message) const {
  return audit_key_.Sign(message);
}

Result<std::vector<TenantInfo>> Platform::ListTenants() {
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  ASSIGN_OR_RETURN(std::vector<store::Row> rows,
                   tx->Query(std::string(kSelectTenants) + " ORDER BY t.org_code"));
  std::vector<TenantInfo> out;
  for (const store::Row& row : rows) {
    ASSIGN_OR_RETURN(TenantInfo t, RowToTenant(row));
    out.push_back(std::move(t));
  }
  return out;
}

Result<std::vector<ClientInfo>> Platform::ListClients(const OrgCode& org) {
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  ASSIGN_OR_RETURN(std::vector<store::Row> rows,
                   tx->Query("SELECT name, role, created_at_us FROM clients WHERE org_code = ? AND "
                             "revoked_at_us IS NULL ORDER BY name",
                             {org.str()}));
  std::vector<ClientInfo> out;
  for (const store::Row& row : rows) {
    ClientInfo c;
    ASSIGN_OR_RETURN(c.name, row.GetText(0));
    ASSIGN_OR_RETURN(c.role, row.GetText(1));
    ASSIGN_OR_RETURN(c.created_at_us, row.GetInt(2));
    out.push_back(std::move(c));
  }
  return out;
}

Result<TenantInfo> Platform::GetTenant(const OrgCode& org) {
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  ASSIGN_OR_RETURN(
      std::optional<store::Row> row,
      tx->QueryOne(std::string(kSelectTenants) + " WHERE t.org_code = ?", {org.str()}));
  if (!row) return NotFoundError("tenant " + org.str() + " does not exist");
  return RowToTenant(*row);
}

Status Platform::DeleteTenant(const OrgCode& org, const std::string& actor) {
  const TenantId id = TenantId::ForOrg(org);
  std::string kek_file;  // "" for registrations made before KEK files were per registration
  {
    ASSIGN_OR_RETURN(auto tx, db_->Begin());
    ASSIGN_OR_RETURN(
        std::optional<store::Row> row,
        tx->QueryOne("SELECT state, kek_file FROM tenants WHERE org_code = ?", {org.str()}));
    if (!row) return NotFoundError("tenant " + org.str() + " does not exist");
    if (!row->IsNull(1)) {
      ASSIGN_OR_RETURN(kek_file, row->GetText(1));
    }
    // Crypto-erasure first: once this commits, the tenant's data cannot be decrypted by anyone.
    RETURN_IF_ERROR(
        tx->Exec("UPDATE tenants SET wrapped_key = NULL, next_wrapped_key = NULL, state = "
                 "'deleted', deleted_at_us = ? WHERE org_code = ?",
                 {ToUnixMicros(clock_.Now()), org.str()}));
    RETURN_IF_ERROR(tx->Exec(
        "UPDATE clients SET revoked_at_us = ? WHERE org_code = ? AND revoked_at_us IS NULL",
        {ToUnixMicros(clock_.Now()), org.str()}));
    RETURN_IF_ERROR(
        audit_->Append(*tx, {"platform", actor, "tenant.delete", "tenant " + id.str(), "ok", ""})
            .status());
    RETURN_IF_ERROR(tx->Commit());
  }
  Evict(id);
  // Another process (a server beside this `chukan tenant delete`, another node) may have had
  // the tenant confirmed just before the commit: wait until every such confirmation has run
  // out (Tenant()), so that from our return on no process serves the tenant.
  std::this_thread::sleep_for(kTenantDeleteWait);
  // Every copy of the wrapped data key that may remain (free pages, WAL, PostgreSQL's dead
  // tuples, backups of the database) opens only under the tenant's KEK: destroy it.
  if (Status s = keks_->Destroy(id, kek_file); !s.ok()) {
    log::Error("platform.kek_destroy_failed", {{"tenant", id.str()}, log::StatusField(s)});
    return s.WithContext("tenant " + org.str() +
                         ": marked deleted, but its key-encryption key was not destroyed (run "
                         "delete again)");
  }
  // The UPDATE zeroed the old wrapped key where SQLite wrote the page (secure_delete), but the
  // WAL still holds the page as it was before: truncate it now rather than at some later
  // checkpoint.
  Status erased = db_->EraseFreed();
  if (!erased.ok()) {
    log::Error("platform.erase_failed", {{"tenant", id.str()}, log::StatusField(erased)});
  }
  Evict(id);
  Status dropped = store_->DropTenant(id);
  if (!dropped.ok() && dropped.code() != StatusCode::kNotFound) {
    return dropped.WithContext("tenant " + org.str() +
                               ": key destroyed, but removing its storage failed (run delete "
                               "again)");
  }
  if (!erased.ok()) {
    return erased.WithContext("tenant " + org.str() +
                              ": key destroyed and storage removed, but its old copies in the "
                              "platform database's WAL were not erased (run delete again)");
  }
  return Status();
}

Result<std::string> Platform::AddClient(const OrgCode& org, const std::string& name,
                                        const std::string& role, const std::string& actor) {
  RETURN_IF_ERROR(CheckName("client name", name, kMaxClientNameBytes));
  if (role != "system" && role != "approver") {
    return InvalidArgumentError("client role must be \"system\" or \"approver\"");
  }
  const TenantId id = TenantId::ForOrg(org);
  const std::string token =
      std::string(kTokenPrefix) + crypto::ToBase64Url(crypto::RandomBytes(kTokenRandomBytes));
  ASSIGN_OR_RETURN(auto tx, db_->Begin());
  ASSIGN_OR_RETURN(std::optional<store::Row> t,
                   tx->QueryOne("SELECT state FROM tenants WHERE org_code = ?", {org.str()}));
  if (!t) return NotFoundError("tenant " + org.str() + " does not exist");
  ASSIGN_OR_RETURN(std::string state, t->GetText(0));
  if (state != "active") return NotFoundError("tenant " + org.str() + " does not exist");
  Status inserted = tx->Exec(
      "INSERT INTO clients (token_hash, org_code, name, role, created_at_us) "
      "VALUES (?, ?, ?, ?, ?)",
      {TokenHash(token), org.str(), name, role, ToUnixMicros(clock_.Now())});
  if (inserted.code() == StatusCode::kAlreadyExists) {
    return AlreadyExistsError("tenant " + org.str() + " already has an active client named \"" +
                              name + "\"");
  }
  RETURN_IF_ERROR(inserted);
  RETURN_IF_ERROR(audit_
                      ->Append(*tx, {"platform", actor, "client.add",
                                     "tenant " + id.str() + " client " + name, "ok", ""})
                      .status());
  RETURN_IF_ERROR(tx->Commit());
  return token;
}

Status Platform::RevokeClient(const OrgCode& org, const std::string& name,
                              const std::string& actor) {
  const TenantId id = TenantId::ForOrg(org);
  ASSIGN_OR_RETURN(auto tx, db_->Begin());
  ASSIGN_OR_RETURN(int64_t n, tx->ExecCount("UPDATE clients SET revoked_at_us = ? WHERE "
                                            "org_code = ? AND name = ? AND revoked_at_us IS NULL",
                                            {ToUnixMicros(clock_.Now()), org.str(), name}));
  if (n == 0) {
    return NotFoundError("tenant " + org.str() + " has no active client named \"" + name + "\"");
  }
  RETURN_IF_ERROR(audit_
                      ->Append(*tx, {"platform", actor, "client.revoke",
                                     "tenant " + id.str() + " client " + name, "ok", ""})
                      .status());
  return tx->Commit();
}

Result<ClientIdentity> Platform::Authenticate(std::string_view token) {
  const Status denied = UnauthenticatedError("unknown or revoked token");
  if (token.size() != kTokenPrefix.size() + 43 || !token.starts_with(kTokenPrefix)) return denied;
  ASSIGN_OR_RETURN(auto tx, db_->BeginReadOnce());
  ASSIGN_OR_RETURN(
      std::optional<store::Row> row,
      tx->QueryOne("SELECT c.org_code, c.name, c.role FROM clients c JOIN tenants t ON "
                   "t.org_code = c.org_code WHERE c.token_hash = ? AND c.revoked_at_us IS NULL "
                   "AND t.state = 'active'",
                   {TokenHash(token)}));
  if (!row) return denied;
  ASSIGN_OR_RETURN(std::string org_text, row->GetText(0));
  ASSIGN_OR_RETURN(OrgCode org, OrgCode::Parse(org_text));
  ASSIGN_OR_RETURN(std::string name, row->GetText(1));
  ASSIGN_OR_RETURN(std::string role, row->GetText(2));
  return ClientIdentity{org, TenantId::ForOrg(org), std::move(name), std::move(role)};
}

Result<std::shared_ptr<TenantContext>> Platform::Tenant(const TenantId& tenant) {
  // The registry says which registration of the tenant is current (its creation time is the
  // generation); a context opened for any other is stale.
  int64_t generation = 0;
  std::optional<std::vector<uint8_t>> wrapped;
  std::optional<std::vector<uint8_t>> next_wrapped;
  int64_t key_version = 1;
  std::string scheme;
  std::string kek_file;
  auto read_registry = [&](bool with_key) -> Status {
    ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
    ASSIGN_OR_RETURN(
        std::optional<store::Row> row,
        tx->QueryOne(with_key ? "SELECT created_at_us, wrapped_key, key_scheme, kek_file, "
                                "data_key_version, next_wrapped_key FROM tenants WHERE org_code = "
                                "? AND state = 'active'"
                              : "SELECT created_at_us FROM tenants WHERE org_code = ? AND state = "
                                "'active'",
                     {tenant.org().str()}));
    if (!row || (with_key && row->IsNull(1))) {
      return NotFoundError("tenant " + tenant.str() + " is not active");
    }
    ASSIGN_OR_RETURN(generation, row->GetInt(0));
    if (with_key) {
      ASSIGN_OR_RETURN(std::vector<uint8_t> key, row->GetBlob(1));
      wrapped = std::move(key);
      ASSIGN_OR_RETURN(scheme, row->GetText(2));
      kek_file.clear();
      if (!row->IsNull(3)) {
        ASSIGN_OR_RETURN(kek_file, row->GetText(3));
      }
      ASSIGN_OR_RETURN(key_version, row->GetInt(4));
      ASSIGN_OR_RETURN(next_wrapped, row->GetOptionalBlob(5));
    }
    return Status();
  };
  const std::string key = tenant.str();
  const auto asked = std::chrono::steady_clock::now();  // before the read: never too young
  {
    MutexLock lock(mu_);
    auto it = tenants_.find(key);
    auto at = confirmed_.find(key);
    if (it != tenants_.end() && at != confirmed_.end() && !it->second->closed() &&
        asked - at->second < kTenantRecheck) {
      return it->second;
    }
  }
  if (Status s = read_registry(false); !s.ok()) {
    if (s.code() == StatusCode::kNotFound) Evict(tenant);
    return s;
  }
  {
    MutexLock lock(mu_);
    if (auto it = tenants_.find(key);
        it != tenants_.end() && it->second->generation == generation && !it->second->closed()) {
      confirmed_[key] = asked;
      return it->second;
    }
  }
  MutexLock opening(open_mu_);
  const auto asked_again = std::chrono::steady_clock::now();
  // Read again under the opening lock: another thread may have opened it meanwhile, and the key
  // must belong to the registration being opened.
  if (Status s = read_registry(true); !s.ok()) {
    if (s.code() == StatusCode::kNotFound) Evict(tenant);
    return s;
  }
  {
    MutexLock lock(mu_);
    if (auto it = tenants_.find(key);
        it != tenants_.end() && it->second->generation == generation && !it->second->closed()) {
      confirmed_[key] = asked_again;
      return it->second;
    }
  }
  Evict(tenant);  // an older registration's context, if any
  TenantContext::Parts parts{.id = tenant, .generation = generation};
  if (scheme == "kek") {
    ASSIGN_OR_RETURN(crypto::SecretBytes kek, keks_->Load(tenant, kek_file));
    ASSIGN_OR_RETURN(parts.data_key, crypto::UnwrapKey(kek, *wrapped, KeyId(tenant, key_version)));
    parts.data_key_version = key_version;
    if (next_wrapped) {  // a data-key rotation in progress: new writes under the next key
      ASSIGN_OR_RETURN(parts.next_data_key,
                       crypto::UnwrapKey(kek, *next_wrapped, KeyId(tenant, key_version + 1)));
    }
  } else {  // "master": a row Open could not move yet (UpgradeKeyScheme)
    ASSIGN_OR_RETURN(parts.data_key, keks_->UnwrapUnderMaster(*wrapped, KeyId(tenant)));
  }
  ASSIGN_OR_RETURN(parts.db, store_->Tenant(tenant));
  parts.checkpoint_key = &audit_key_;
  ASSIGN_OR_RETURN(parts.checkpoint_sink, audit::OpenCheckpointSink(checkpoint_dir_, tenant.str()));
  parts.catalogue = catalogue_;
  parts.clock = &clock_;
  parts.outbox_backlog_limit = outbox_backlog_limit_;
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> ctx, TenantContext::Open(std::move(parts)));
  // A value another process sealed under a rotation's new key before this one's next reload
  // opens after one reload here (DataKeys::Open). The function lives in the DataKeys, so it
  // holds that one by a plain pointer, and the context only to compare it.
  ctx->data_keys->SetRefresh([link = refresh_link_, tenant, generation, keys = ctx->data_keys.get(),
                              raw = ctx.get()] {
    MutexLock lock(link->mu);
    if (link->platform == nullptr) return;  // the platform is gone
    Status s = link->platform->InstallDataKeys(tenant, generation, *keys, raw);
    if (!s.ok()) {
      log::Error("tenant.data_key_reload_failed", {{"tenant", tenant.str()}, log::StatusField(s)});
    }
  });
  MutexLock lock(mu_);
  tenants_[key] = ctx;
  confirmed_[key] = asked_again;
  return ctx;
}

Status Platform::ReloadSignKeys() {
  std::vector<std::shared_ptr<TenantContext>> open;
  {
    MutexLock lock(mu_);
    for (const auto& [name, ctx] : tenants_) open.push_back(ctx);
  }
  Status first;
  for (const std::shared_ptr<TenantContext>& ctx : open) {
    if (ctx->closed()) continue;
    Result<bool> changed = ctx->ReloadSignKey();
    if (!changed.ok()) {
      log::Error("tenant.sign_key_reload_failed",
                 {{"tenant", ctx->id.str()}, log::StatusField(changed.status())});
      if (first.ok()) first = changed.status();
    }
  }
  return first;
}

Status Platform::ReloadDataKeys() {
  std::vector<std::shared_ptr<TenantContext>> open;
  {
    MutexLock lock(mu_);
    for (const auto& [name, ctx] : tenants_) open.push_back(ctx);
  }
  Status first;
  for (const std::shared_ptr<TenantContext>& ctx : open) {
    if (ctx->closed()) continue;
    Status s = InstallDataKeys(*ctx);
    if (!s.ok()) {
      log::Error("tenant.data_key_reload_failed", {{"tenant", ctx->id.str()}, log::StatusField(s)});
      if (first.ok()) first = s;
    }
  }
  return first;
}

Result<Platform::DataKeyState> Platform::GetDataKeyState(const OrgCode& org) {
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  ASSIGN_OR_RETURN(std::optional<store::Row> row,
                   tx->QueryOne("SELECT data_key_version, next_wrapped_key IS NOT NULL,"
                                " rotation_started_at_us, created_at_us FROM tenants WHERE"
                                " org_code = ? AND state = 'active'",
                                {org.str()}));
  RETURN_IF_ERROR(tx->Commit());
  if (!row) return NotFoundError("tenant " + org.str() + " is not active");
  DataKeyState st;
  ASSIGN_OR_RETURN(st.version, row->GetInt(0));
  ASSIGN_OR_RETURN(int64_t rotating, row->GetInt(1));
  st.rotating = rotating != 0;
  ASSIGN_OR_RETURN(std::optional<int64_t> started, row->GetOptionalInt(2));
  st.started_at_us = started.value_or(0);
  ASSIGN_OR_RETURN(st.generation, row->GetInt(3));
  return st;
}

Result<crypto::SecretBytes> Platform::LoadKek(const TenantId& tenant) {
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  ASSIGN_OR_RETURN(std::optional<store::Row> row,
                   tx->QueryOne("SELECT key_scheme, kek_file FROM tenants WHERE org_code = ? AND"
                                " state = 'active'",
                                {tenant.org().str()}));
  RETURN_IF_ERROR(tx->Commit());
  if (!row) return NotFoundError("tenant " + tenant.str() + " is not active");
  ASSIGN_OR_RETURN(std::string scheme, row->GetText(0));
  if (scheme != "kek") {
    return FailedPreconditionError("tenant " + tenant.str() +
                                   ": its data key is still under the master key itself (open "
                                   "the platform once to move it under a KEK of its own)");
  }
  std::string file;
  if (!row->IsNull(1)) {
    ASSIGN_OR_RETURN(file, row->GetText(1));
  }
  return keks_->Load(tenant, file);
}

Status Platform::InstallDataKeys(TenantContext& ctx) {
  return InstallDataKeys(ctx.id, ctx.generation, *ctx.data_keys, &ctx);
}

Status Platform::InstallDataKeys(const TenantId& tenant, int64_t ctx_generation,
                                 crypto::DataKeys& keys, const TenantContext* ctx) {
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  ASSIGN_OR_RETURN(std::optional<store::Row> row,
                   tx->QueryOne("SELECT data_key_version, next_wrapped_key, created_at_us FROM"
                                " tenants WHERE org_code = ? AND state = 'active'",
                                {tenant.org().str()}));
  RETURN_IF_ERROR(tx->Commit());
  // Deleted, or deleted and re-created, elsewhere: close the context (and forget its keys) now
  // rather than at its next use.
  if (!row) {
    if (ctx != nullptr) Evict(tenant, ctx);
    return Status();
  }
  ASSIGN_OR_RETURN(int64_t version, row->GetInt(0));
  ASSIGN_OR_RETURN(std::optional<std::vector<uint8_t>> next, row->GetOptionalBlob(1));
  ASSIGN_OR_RETURN(int64_t generation, row->GetInt(2));
  if (generation != ctx_generation) {
    if (ctx != nullptr) Evict(tenant, ctx);
    return Status();
  }
  const std::shared_ptr<const crypto::DataKeySet> have = keys.Snapshot();
  if (next && have->version() == version + 1 && have->has_previous()) return Status();
  if (!next && have->version() == version && !have->has_previous()) return Status();
  if (next && have->version() == version && !have->has_previous()) {
    ASSIGN_OR_RETURN(crypto::SecretBytes kek, LoadKek(tenant));
    ASSIGN_OR_RETURN(crypto::SecretBytes key,
                     crypto::UnwrapKey(kek, *next, KeyId(tenant, version + 1)));
    RETURN_IF_ERROR(keys.Rotate(version + 1, std::move(key)));
    log::Info("tenant.data_key_loaded", {{"tenant", tenant.str()}, {"version", version + 1}});
    return Status();
  }
  if (!next && have->version() == version && have->has_previous()) {
    keys.DropPrevious();
    log::Info("tenant.data_key_previous_dropped", {{"tenant", tenant.str()}, {"version", version}});
    return Status();
  }
  // A whole rotation happened elsewhere meanwhile: open the tenant afresh at its next use.
  log::Info("tenant.data_key_reopen", {{"tenant", tenant.str()}, {"version", version}});
  Evict(tenant, ctx);
  return Status();
}

Result<Platform::DataKeyState> Platform::StartDataKeyRotation(const OrgCode& org,
                                                              const std::string& actor,
                                                              bool* started) {
  *started = false;
  const TenantId id = TenantId::ForOrg(org);
  // Opened first: the key table holds every key derived from the first data key (the replica
  // index key) before the data key changes.
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> ctx, Tenant(id));
  ASSIGN_OR_RETURN(DataKeyState state, GetDataKeyState(org));
  if (!state.rotating) {
    ASSIGN_OR_RETURN(crypto::SecretBytes kek, LoadKek(id));
    const crypto::SecretBytes next = crypto::SecretBytes::Random(kDataKeyBytes);
    const int64_t target = state.version + 1;
    ASSIGN_OR_RETURN(std::vector<uint8_t> wrapped, crypto::WrapKey(kek, next, KeyId(id, target)));
    ASSIGN_OR_RETURN(auto tx, db_->Begin());
    // Only over the registration and version read: a concurrent start (or a re-creation) wins.
    ASSIGN_OR_RETURN(
        int64_t n, tx->ExecCount("UPDATE tenants SET next_wrapped_key = ?, "
                                 "rotation_started_at_us = ? WHERE org_code = ? AND state = "
                                 "'active' AND created_at_us = ? AND data_key_version = ? AND "
                                 "next_wrapped_key IS NULL",
                                 {wrapped, ToUnixMicros(clock_.Now()), org.str(), state.generation,
                                  state.version}));
    if (n == 1) {
      RETURN_IF_ERROR(audit_
                          ->Append(*tx, {"platform", actor, "tenant.data_key.rotate",
                                         "tenant " + id.str() + " data key v" +
                                             std::to_string(target) + " (re-encryption started)",
                                         "ok", ""})
                          .status());
      RETURN_IF_ERROR(tx->Commit());
      *started = true;
      ctx->Audit({id.str(), actor, "tenant.data_key.rotate",
                  "data key v" + std::to_string(target) + " seals new writes", "ok", ""});
      log::Info("tenant.data_key_rotation_started", {{"tenant", id.str()}, {"version", target}});
    }
  }
  RETURN_IF_ERROR(InstallDataKeys(*ctx));
  ASSIGN_OR_RETURN(state, GetDataKeyState(org));
  if (state.rotating) RETURN_IF_ERROR(StartRekey(*ctx, state.version + 1));
  return state;
}

Status Platform::FinishDataKeyRotation(const OrgCode& org, int64_t target_version,
                                       const std::string& actor) {
  const TenantId id = TenantId::ForOrg(org);
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> ctx, Tenant(id));
  ASSIGN_OR_RETURN(DataKeyState state, GetDataKeyState(org));
  if (!state.rotating || state.version + 1 != target_version) {
    return FailedPreconditionError("tenant " + org.str() + ": no data-key rotation to version " +
                                   std::to_string(target_version) + " is in progress");
  }
  // Every process must have loaded the new key before the last check: one that still seals
  // under the old key could write a value after it that would never open again.
  const int64_t finish_at_us = DataKeyFinishAtUs(state.started_at_us);
  const int64_t now_us = ToUnixMicros(clock_.Now());
  if (now_us < finish_at_us) {
    const int64_t grace_s = std::chrono::seconds(kDataKeyFinishGrace).count();
    return FailedPreconditionError(
        "tenant " + org.str() + ": the data-key rotation started less than " +
        std::to_string(grace_s) + " s ago (every server loads the new key first): finish in " +
        std::to_string((finish_at_us - now_us + 999'999) / 1'000'000) + " s");
  }
  RETURN_IF_ERROR(InstallDataKeys(*ctx));
  const std::shared_ptr<const crypto::DataKeySet> keys = ctx->data_keys->Snapshot();
  if (keys->version() != target_version || !keys->has_previous()) {
    return UnavailableError("tenant " + org.str() + ": the new data key is not loaded (try again)");
  }
  // After this, a value still under the old key would never open again: none may be left.
  ASSIGN_OR_RETURN(int64_t left, CountNotUnderCurrentKey(*ctx));
  if (left > 0) {
    return FailedPreconditionError(std::to_string(left) + " sealed values of tenant " + org.str() +
                                   " are still under the previous data key");
  }
  {
    ASSIGN_OR_RETURN(auto tx, db_->Begin());
    ASSIGN_OR_RETURN(int64_t n,
                     tx->ExecCount("UPDATE tenants SET wrapped_key = next_wrapped_key, "
                                   "next_wrapped_key = NULL, data_key_version = ?, "
                                   "rotation_started_at_us = NULL WHERE org_code = ? AND state = "
                                   "'active' AND created_at_us = ? AND data_key_version = ? AND "
                                   "next_wrapped_key IS NOT NULL",
                                   {target_version, org.str(), state.generation, state.version}));
    if (n != 1) {
      return FailedPreconditionError("tenant " + org.str() +
                                     ": the data-key rotation changed meanwhile");
    }
    RETURN_IF_ERROR(
        audit_
            ->Append(*tx, {"platform", actor, "tenant.data_key.finish",
                           "tenant " + id.str() + " data key v" + std::to_string(target_version) +
                               " (v" + std::to_string(state.version) + " destroyed)",
                           "ok", ""})
            .status());
    RETURN_IF_ERROR(tx->Commit());
  }
  // The old wrapped key was zeroed where SQLite wrote the page (secure_delete); the WAL still
  // holds the page as it was.
  Status erased = db_->EraseFreed();
  ctx->data_keys->DropPrevious();
  ctx->Audit({id.str(), actor, "tenant.data_key.finish",
              "data key v" + std::to_string(target_version) + " only (v" +
                  std::to_string(state.version) + " destroyed)",
              "ok", ""});
  log::Info("tenant.data_key_rotation_finished",
            {{"tenant", id.str()}, {"version", target_version}});
  if (!erased.ok()) {
    log::Error("platform.erase_failed", {{"tenant", id.str()}, log::StatusField(erased)});
    return erased.WithContext("tenant " + org.str() +
                              ": rotation finished, but the old wrapped key's copies in the "
                              "platform database's WAL were not erased");
  }
  return Status();
}

Status Platform::CheckKek(const TenantId& tenant) {
  ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
  ASSIGN_OR_RETURN(std::optional<store::Row> row,
                   tx->QueryOne("SELECT kek_file FROM tenants WHERE org_code = ? AND state = "
                                "'active' AND key_scheme = 'kek'",
                                {tenant.org().str()}));
  RETURN_IF_ERROR(tx->Commit());
  if (!row) return NotFoundError("tenant " + tenant.str() + " is not active");
  std::string file;
  if (!row->IsNull(0)) {
    ASSIGN_OR_RETURN(file, row->GetText(0));
  }
  return keks_->Load(tenant, file).status();
}

void Platform::Evict(const TenantId& tenant, const TenantContext* only) {
  std::shared_ptr<TenantContext> gone;
  {
    MutexLock lock(mu_);
    auto it = tenants_.find(tenant.str());
    if (it == tenants_.end() || (only != nullptr && it->second.get() != only)) return;
    gone = std::move(it->second);
    tenants_.erase(it);
    confirmed_.erase(tenant.str());
  }
  gone->Close();
}

Status Platform::CheckpointAuditLogs() {
  Status first = audit_->CheckpointIfBehind().status();
  std::vector<std::shared_ptr<TenantContext>> open;
  {
    MutexLock lock(mu_);
    for (const auto& [id, ctx] : tenants_) open.push_back(ctx);
  }
  for (const std::shared_ptr<TenantContext>& ctx : open) {
    if (ctx->closed()) continue;
    Status s = ctx->audit->CheckpointIfBehind().status();
    if (!s.ok()) {
      s = s.WithContext("tenant " + ctx->id.str());
      if (first.ok()) first = s;
    }
  }
  return first;
}

Result<bool> Platform::LeadJob(std::string_view job, std::string_view owner, Duration ttl) {
  return store::AcquireNodeLease(*db_, job, owner, ttl, clock_);
}

Status Platform::StepDown(std::string_view job, std::string_view owner) {
  return store::ReleaseNodeLease(*db_, job, owner).status();
}

Result<int64_t> Platform::PruneAuditLog(int64_t audit_days, int64_t batch, int max_batches) {
  constexpr int64_t kDayUs = int64_t{86'400} * 1'000'000;
  const int64_t cutoff = ToUnixMicros(clock_.Now()) - audit_days * kDayUs;
  int64_t deleted = 0;
  for (int i = 0; i < max_batches; ++i) {
    {
      ASSIGN_OR_RETURN(auto rtx, db_->BeginRead());
      ASSIGN_OR_RETURN(const bool due, audit::AuditLog::PruneDue(*rtx, cutoff));
      RETURN_IF_ERROR(rtx->Commit());
      if (!due) break;
    }
    ASSIGN_OR_RETURN(auto tx, db_->Begin());
    ASSIGN_OR_RETURN(const audit::AuditPrune pruned,
                     audit_->PruneRecorded(*tx, "platform", cutoff, batch));
    if (pruned.deleted == 0) break;
    RETURN_IF_ERROR(tx->Commit());
    deleted += pruned.deleted;
  }
  if (deleted > 0) {
    if (Status s = db_->EraseFreed(); !s.ok()) {
      return s.WithContext(
          "platform audit log: pruned, but the deleted entries were not erased "
          "from the database's files");
    }
  }
  return deleted;
}

void Platform::CloseTenants() {
  std::map<std::string, std::shared_ptr<TenantContext>> all;
  {
    MutexLock lock(mu_);
    all.swap(tenants_);
    confirmed_.clear();
  }
  for (auto& [id, ctx] : all) ctx->Close();
}

}  // namespace chukan::server
