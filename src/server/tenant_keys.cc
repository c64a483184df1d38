#include "server/tenant_keys.h"

#include "crypto/aead.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "linkage/envelope.h"

namespace chukan::server {

crypto::Bytes TenantKeyAad(const TenantId& tenant, std::string_view purpose, std::string_view kid) {
  return crypto::ToBytes("chukan-tenant-key-v1\n" + tenant.str() + "\n" + std::string(purpose) +
                         "\n" + std::string(kid));
}
namespace {

// One active and at most one next key per purpose: partial unique indexes (both backends).
constexpr std::string_view kSqliteV1 = R"sql(
CREATE TABLE tenant_keys (
  purpose TEXT NOT NULL CHECK (purpose IN ('org-sign', 'atena-index')),
  kid TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
  public_key BLOB,
  sealed_key BLOB,
  created_at_us INTEGER NOT NULL,
  activated_at_us INTEGER,
  retired_at_us INTEGER,
  PRIMARY KEY (purpose, kid)
);
CREATE UNIQUE INDEX tenant_keys_active ON tenant_keys (purpose) WHERE state = 'active';
CREATE UNIQUE INDEX tenant_keys_next ON tenant_keys (purpose) WHERE state = 'next';
)sql";

std::string PostgresV1() {
  std::string s(kSqliteV1);
  for (auto [from, to] :
       {std::pair<std::string_view, std::string_view>{"INTEGER", "BIGINT"}, {"BLOB", "BYTEA"}}) {
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
      s.replace(p, from.size(), to);
    }
  }
  return s;
}

// Binds a sealed key to its tenant, purpose and id: a row copied to another tenant, or another
// key's row, does not open.
crypto::Bytes KeyAad(const TenantId& tenant, std::string_view purpose, std::string_view kid) {
  return TenantKeyAad(tenant, purpose, kid);
}

// The old scheme's keys: BLAKE2b keyed by the tenant's only data key over a purpose string.
// Refused while a rotation holds two keys: what "the data key" derives would be ambiguous.
Result<crypto::SecretBytes> Derive(const crypto::DataKeys& data_keys, std::string_view purpose) {
  const std::shared_ptr<const crypto::DataKeySet> keys = data_keys.Snapshot();
  if (keys->has_previous()) {
    return FailedPreconditionError("tenant_keys: cannot derive " + std::string(purpose) +
                                   " during a data-key rotation");
  }
  return keys->DeriveFromCurrent(crypto::AsBytes(purpose));
}

Status Insert(store::Transaction& tx, const TenantId& tenant, const crypto::DataKeys& data_keys,
              std::string_view purpose, const std::string& kid, std::string_view state,
              const crypto::SecretBytes& secret, store::Value public_key, int64_t now_us) {
  ASSIGN_OR_RETURN(crypto::Bytes sealed,
                   data_keys.Seal(secret.span(), KeyAad(tenant, purpose, kid)));
  RETURN_IF_ERROR(tx.Exec(
      "INSERT INTO tenant_keys (purpose, kid, state, public_key, sealed_key, created_at_us)"
      " VALUES (?, ?, ?, ?, ?, ?)",
      {std::string(purpose), kid, std::string(state), std::move(public_key), sealed, now_us}));
  if (state != "active") return Status();
  return tx.Exec("UPDATE tenant_keys SET activated_at_us = ? WHERE purpose = ? AND kid = ?",
                 {now_us, std::string(purpose), kid});
}

Status InsertSignKey(store::Transaction& tx, const TenantId& tenant,
                     const crypto::DataKeys& data_keys, const crypto::SigningKey& key,
                     std::string_view state, int64_t now_us) {
  return Insert(tx, tenant, data_keys, kPurposeOrgSign, linkage::KeyIdOf(key.verify_key()), state,
                key.seed(), key.verify_key().bytes(), now_us);
}

Result<crypto::SecretBytes> Unseal(const store::Row& row, size_t column, const TenantId& tenant,
                                   const crypto::DataKeys& data_keys, std::string_view purpose,
                                   const std::string& kid) {
  ASSIGN_OR_RETURN(std::optional<crypto::Bytes> sealed, row.GetOptionalBlob(column));
  if (!sealed) return DataLossError("tenant_keys " + std::string(purpose) + " " + kid + ": erased");
  Result<crypto::SecretBytes> secret = data_keys.Open(*sealed, KeyAad(tenant, purpose, kid));
  if (!secret.ok()) {
    return DataLossError("tenant_keys " + std::string(purpose) + " " + kid +
                         ": the sealed key does not open under the tenant's data key");
  }
  return secret;
}

Result<TenantKeyInfo> InfoFromRow(const store::Row& r) {
  TenantKeyInfo k;
  ASSIGN_OR_RETURN(k.purpose, r.GetText(0));
  ASSIGN_OR_RETURN(k.kid, r.GetText(1));
  ASSIGN_OR_RETURN(k.state, r.GetText(2));
  ASSIGN_OR_RETURN(std::optional<crypto::Bytes> pub, r.GetOptionalBlob(3));
  if (pub) k.public_key = std::move(*pub);
  ASSIGN_OR_RETURN(k.created_at_us, r.GetInt(4));
  ASSIGN_OR_RETURN(k.activated_at_us, r.GetOptionalInt(5));
  ASSIGN_OR_RETURN(k.retired_at_us, r.GetOptionalInt(6));
  return k;
}

constexpr std::string_view kInfoColumns =
    "purpose, kid, state, public_key, created_at_us, activated_at_us, retired_at_us";

Result<std::optional<TenantKeyInfo>> SignKeyIn(store::Transaction& tx, std::string_view state) {
  ASSIGN_OR_RETURN(std::optional<store::Row> row,
                   tx.QueryOne("SELECT " + std::string(kInfoColumns) +
                                   " FROM tenant_keys WHERE purpose = ? AND state = ?",
                               {std::string(kPurposeOrgSign), std::string(state)}));
  if (!row) return std::optional<TenantKeyInfo>();
  ASSIGN_OR_RETURN(TenantKeyInfo k, InfoFromRow(*row));
  return std::optional<TenantKeyInfo>(std::move(k));
}

Result<std::optional<crypto::SecretBytes>> LoadIndexKey(store::Transaction& tx,
                                                        const TenantId& tenant,
                                                        const crypto::DataKeys& data_keys,
                                                        std::string_view purpose,
                                                        std::string_view kid) {
  ASSIGN_OR_RETURN(std::optional<store::Row> row,
                   tx.QueryOne("SELECT sealed_key FROM tenant_keys WHERE purpose = ? AND kid = ?",
                               {std::string(purpose), std::string(kid)}));
  if (!row) return std::optional<crypto::SecretBytes>();
  ASSIGN_OR_RETURN(crypto::SecretBytes key,
                   Unseal(*row, 0, tenant, data_keys, purpose, std::string(kid)));
  return std::optional<crypto::SecretBytes>(std::move(key));
}

// Migration 2 admits the replica's index key: SQLite cannot alter a CHECK, so the table is
// rebuilt (a handful of rows); PostgreSQL replaces the constraint.
constexpr std::string_view kSqliteV2 = R"sql(
CREATE TABLE tenant_keys_v2 (
  purpose TEXT NOT NULL CHECK (purpose IN ('org-sign', 'atena-index', 'replica-index')),
  kid TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
  public_key BLOB,
  sealed_key BLOB,
  created_at_us INTEGER NOT NULL,
  activated_at_us INTEGER,
  retired_at_us INTEGER,
  PRIMARY KEY (purpose, kid)
);
INSERT INTO tenant_keys_v2 (purpose, kid, state, public_key, sealed_key, created_at_us,
                            activated_at_us, retired_at_us)
  SELECT purpose, kid, state, public_key, sealed_key, created_at_us, activated_at_us,
         retired_at_us FROM tenant_keys;
DROP TABLE tenant_keys;
ALTER TABLE tenant_keys_v2 RENAME TO tenant_keys;
CREATE UNIQUE INDEX tenant_keys_active ON tenant_keys (purpose) WHERE state = 'active';
CREATE UNIQUE INDEX tenant_keys_next ON tenant_keys (purpose) WHERE state = 'next';
)sql";

constexpr std::string_view kPostgresV2 = R"sql(
ALTER TABLE tenant_keys DROP CONSTRAINT tenant_keys_purpose_check;
ALTER TABLE tenant_keys ADD CONSTRAINT tenant_keys_purpose_check
  CHECK (purpose IN ('org-sign', 'atena-index', 'replica-index'));
)sql";

// The replica's blind-index key, stored once (migration 2): what the tenant's data key derived
// before (replica::LegacyIndexKey), so every stored key_hash stays valid after the data key
// rotates. Another process storing it at the same moment stores the same bytes; the loser's
// insert fails on the primary key.
Status StoreReplicaIndexKey(store::Database& db, const TenantId& tenant,
                            const crypto::DataKeys& data_keys, audit::AuditLog& audit,
                            const Clock& clock) {
  {
    ASSIGN_OR_RETURN(auto tx, db.BeginRead());
    ASSIGN_OR_RETURN(
        std::optional<store::Row> row,
        tx->QueryOne("SELECT 1 FROM tenant_keys WHERE purpose = ? AND kid = ?",
                     {std::string(kPurposeReplicaIndex), std::string(kReplicaIndexKid)}));
    RETURN_IF_ERROR(tx->Commit());
    if (row) return Status();
  }
  ASSIGN_OR_RETURN(crypto::SecretBytes key, Derive(data_keys, "replica-index-v1"));
  ASSIGN_OR_RETURN(auto wtx, db.Begin());
  Status s = Insert(*wtx, tenant, data_keys, kPurposeReplicaIndex, std::string(kReplicaIndexKid),
                    "active", key, nullptr, ToUnixMicros(clock.Now()));
  if (s.ok()) {
    s = audit
            .Append(*wtx, {tenant.str(), "system", "tenant.keys.store",
                           "replica index key (derived from the data key) stored", "ok", ""})
            .status();
  }
  if (s.ok()) s = wtx->Commit();
  if (!s.ok() && s.code() != StatusCode::kAlreadyExists) return s;
  return Status();
}

}  // namespace

const std::vector<store::Migration>& TenantKeyMigrations() {
  static const auto* m = new std::vector<store::Migration>{
      {1, "tenant_keys: the organisation signing key and the atena index key, sealed",
       std::string(kSqliteV1), PostgresV1()},
      {2, "tenant_keys: the replica's index key", std::string(kSqliteV2),
       std::string(kPostgresV2)}};
  return *m;
}

Result<TenantKeys> OpenTenantKeys(store::Database& db, const TenantId& tenant,
                                  const crypto::DataKeys& data_keys, audit::AuditLog& audit,
                                  const Clock& clock) {
  RETURN_IF_ERROR(store::ApplyMigrations(db, "keys", TenantKeyMigrations(), clock));
  {
    ASSIGN_OR_RETURN(auto tx, db.BeginRead());
    ASSIGN_OR_RETURN(std::optional<store::Row> any,
                     tx->QueryOne("SELECT COUNT(*) FROM tenant_keys"));
    ASSIGN_OR_RETURN(int64_t n, any->GetInt(0));
    RETURN_IF_ERROR(tx->Commit());
    if (n == 0) {
      // The first keys: the ones the data key derives — for a tenant from before the table,
      // the keys it always had (the hub has this public key); for a new one, keys no process
      // can disagree on: another process opening the tenant at once stores the same rows, the
      // loser's insert fails on the primary key and it reads the winner's below.
      const int64_t now = ToUnixMicros(clock.Now());
      ASSIGN_OR_RETURN(crypto::SecretBytes seed, Derive(data_keys, "chukan-tenant-org-sign-v1"));
      ASSIGN_OR_RETURN(crypto::SigningKey sign, crypto::SigningKey::FromSeed(seed));
      ASSIGN_OR_RETURN(crypto::SecretBytes atena_index,
                       Derive(data_keys, "chukan-linkage-atena-index-v1"));
      ASSIGN_OR_RETURN(auto wtx, db.Begin());
      Status s = InsertSignKey(*wtx, tenant, data_keys, sign, "active", now);
      if (s.ok()) {
        s = Insert(*wtx, tenant, data_keys, kPurposeAtenaIndex, std::string(kAtenaIndexKid),
                   "active", atena_index, nullptr, now);
      }
      if (s.ok()) {
        s = audit
                .Append(*wtx, {tenant.str(), "system", "tenant.keys.store",
                               "signing key " + linkage::KeyIdOf(sign.verify_key()) +
                                   " and atena index key (the first, derived from the data key)"
                                   " stored",
                               "ok", ""})
                .status();
      }
      if (s.ok()) s = wtx->Commit();
      if (!s.ok() && s.code() != StatusCode::kAlreadyExists) return s;
    }
  }
  RETURN_IF_ERROR(StoreReplicaIndexKey(db, tenant, data_keys, audit, clock));
  ASSIGN_OR_RETURN(auto tx, db.BeginRead());
  TenantKeys keys;
  ASSIGN_OR_RETURN(keys.sign, LoadActiveSignKey(*tx, tenant, data_keys));
  ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> atena,
                   LoadIndexKey(*tx, tenant, data_keys, kPurposeAtenaIndex, kAtenaIndexKid));
  if (!atena) return DataLossError("tenant_keys: no atena index key");
  keys.index_key = std::move(*atena);
  ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> replica,
                   LoadIndexKey(*tx, tenant, data_keys, kPurposeReplicaIndex, kReplicaIndexKid));
  if (!replica) return DataLossError("tenant_keys: no replica index key");
  keys.replica_index_key = std::move(*replica);
  RETURN_IF_ERROR(tx->Commit());
  return keys;
}

Result<std::string> ActiveSignKeyId(store::Transaction& tx) {
  ASSIGN_OR_RETURN(std::optional<TenantKeyInfo> active, SignKeyIn(tx, "active"));
  if (!active) return DataLossError("tenant_keys: no active signing key");
  return active->kid;
}

Result<std::shared_ptr<const OrgSignKey>> LoadActiveSignKey(store::Transaction& tx,
                                                            const TenantId& tenant,
                                                            const crypto::DataKeys& data_keys) {
  ASSIGN_OR_RETURN(std::optional<store::Row> row,
                   tx.QueryOne("SELECT kid, sealed_key FROM tenant_keys"
                               " WHERE purpose = ? AND state = 'active'",
                               {std::string(kPurposeOrgSign)}));
  if (!row) return DataLossError("tenant_keys: no active signing key");
  ASSIGN_OR_RETURN(std::string kid, row->GetText(0));
  ASSIGN_OR_RETURN(crypto::SecretBytes seed,
                   Unseal(*row, 1, tenant, data_keys, kPurposeOrgSign, kid));
  ASSIGN_OR_RETURN(crypto::SigningKey key, crypto::SigningKey::FromSeed(seed));
  if (linkage::KeyIdOf(key.verify_key()) != kid) {
    return DataLossError("tenant_keys " + std::string(kPurposeOrgSign) + " " + kid +
                         ": the key does not have this id");
  }
  return std::make_shared<const OrgSignKey>(OrgSignKey{std::move(kid), std::move(key)});
}

Result<TenantKeyInfo> CreateNextSignKey(store::Transaction& tx, const TenantId& tenant,
                                        const crypto::DataKeys& data_keys, int64_t now_us,
                                        bool* created) {
  ASSIGN_OR_RETURN(std::optional<TenantKeyInfo> waiting, SignKeyIn(tx, "next"));
  if (waiting) {
    *created = false;
    return *std::move(waiting);
  }
  crypto::SigningKey key = crypto::SigningKey::Generate();
  RETURN_IF_ERROR(InsertSignKey(tx, tenant, data_keys, key, "next", now_us));
  *created = true;
  ASSIGN_OR_RETURN(std::optional<TenantKeyInfo> made, SignKeyIn(tx, "next"));
  return *std::move(made);
}

Result<TenantKeyInfo> ActivateNextSignKey(store::Transaction& tx, const std::string& kid,
                                          int64_t now_us) {
  ASSIGN_OR_RETURN(std::optional<TenantKeyInfo> waiting, SignKeyIn(tx, "next"));
  if (!waiting) {
    return FailedPreconditionError(
        "no next signing key (次の署名鍵がありません: run tenant rotate-sign-key first)");
  }
  if (!kid.empty() && waiting->kid != kid) {
    return FailedPreconditionError("the next signing key is " + waiting->kid + ", not " + kid);
  }
  // The retired key's secret goes at once: what it signed is already signed (in the outbox).
  RETURN_IF_ERROR(
      tx.Exec("UPDATE tenant_keys SET state = 'retired', sealed_key = NULL, retired_at_us = ?"
              " WHERE purpose = ? AND state = 'active'",
              {now_us, std::string(kPurposeOrgSign)}));
  RETURN_IF_ERROR(tx.Exec(
      "UPDATE tenant_keys SET state = 'active', activated_at_us = ? WHERE purpose = ? AND kid = ?",
      {now_us, std::string(kPurposeOrgSign), waiting->kid}));
  waiting->state = "active";
  waiting->activated_at_us = now_us;
  return *std::move(waiting);
}

Result<std::vector<TenantKeyInfo>> ListTenantKeys(store::Transaction& tx) {
  ASSIGN_OR_RETURN(std::vector<store::Row> rows,
                   tx.Query("SELECT " + std::string(kInfoColumns) +
                            " FROM tenant_keys ORDER BY purpose DESC, CASE state WHEN 'next' THEN 0"
                            " WHEN 'active' THEN 1 ELSE 2 END, created_at_us DESC, kid"));
  std::vector<TenantKeyInfo> out;
  for (const store::Row& r : rows) {
    ASSIGN_OR_RETURN(TenantKeyInfo k, InfoFromRow(r));
    out.push_back(std::move(k));
  }
  return out;
}

}  // namespace chukan::server
