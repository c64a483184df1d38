// TenantKeys: the table of a tenant's own long-lived keys (鍵) in its database — the
// organisation's Ed25519 signing key (its envelopes) and the key of the linkage's atena index —
// each sealed under the tenant's data key, so the data key stays the one root: deleting the
// tenant (destroying its KEK) erases these keys with everything else. Format: docs/storage.md
// "tenant_keys"; the rotation procedure: docs/operations.md.
//
// A signing key is `next` (made, its public half registered at the hub, not used yet), `active`
// (signs; exactly one) or `retired` (signs no more; its sealed secret is erased at once, its id
// and public half stay for the record). The atena index key never rotates (it keys stored
// rows).
//
// A tenant's first keys are the ones its data key derives (what every tenant had before this
// table), stored at its first open (OpenTenantKeys): so nothing changes for a tenant made by an
// older version (the hub has its public key), and processes that open a tenant at once agree.
// Every signing key made by a rotation is random.
//
// Thread-safety: free functions over a transaction; the caller serialises as the database does.
#ifndef CHUKAN_SERVER_TENANT_KEYS_H_
#define CHUKAN_SERVER_TENANT_KEYS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "crypto/data_keys.h"
#include "crypto/ed25519.h"
#include "crypto/secret_bytes.h"
#include "store/database.h"
#include "store/migrations.h"

namespace chukan::server {

inline constexpr std::string_view kPurposeOrgSign = "org-sign";
inline constexpr std::string_view kPurposeAtenaIndex = "atena-index";
// The one atena index key's id.
inline constexpr std::string_view kAtenaIndexKid = "atena-index-1";
// The replica store's blind-index key (replica::LegacyIndexKey of the tenant's first data key).
inline constexpr std::string_view kPurposeReplicaIndex = "replica-index";
inline constexpr std::string_view kReplicaIndexKid = "replica-index-1";

// The associated data of a sealed key: tenant, purpose and id.
crypto::Bytes TenantKeyAad(const TenantId& tenant, std::string_view purpose, std::string_view kid);

// The migrations of the key table (component "keys").
const std::vector<store::Migration>& TenantKeyMigrations();

// One row of the table, without its secret.
struct TenantKeyInfo {
  std::string purpose;       // kPurposeOrgSign or kPurposeAtenaIndex
  std::string kid;           // a signing key's: linkage::KeyIdOf its public half
  std::string state;         // "next", "active" or "retired"
  crypto::Bytes public_key;  // a signing key's public half (32 bytes); empty for the index key
  int64_t created_at_us = 0;
  std::optional<int64_t> activated_at_us;
  std::optional<int64_t> retired_at_us;
};

// The organisation's signing key in use, with its id.
struct OrgSignKey {
  std::string kid;
  crypto::SigningKey key;
};

struct TenantKeys {
  std::shared_ptr<const OrgSignKey> sign;
  crypto::SecretBytes index_key;          // 32 bytes
  crypto::SecretBytes replica_index_key;  // 32 bytes
};

// Applies the migrations and loads the active signing key and the two index keys. A tenant
// without stored keys (new, or made before this table) gets the ones its data key derives
// (BLAKE2b keyed by the data key over "chukan-tenant-org-sign-v1" /
// "chukan-linkage-atena-index-v1" / "replica-index-v1") stored and audited ("tenant.keys.store")
// in `audit` in the same transaction. Deriving is refused (kFailedPrecondition) while
// `data_keys` holds two keys (a rotation), which cannot happen to a tenant opened once since.
// Errors: kDataLoss naming the row when a sealed key does not open (tampered, or another
// tenant's); from the store.
Result<TenantKeys> OpenTenantKeys(store::Database& db, const TenantId& tenant,
                                  const crypto::DataKeys& data_keys, audit::AuditLog& audit,
                                  const Clock& clock);

// The id of the active signing key (kDataLoss when there is none).
Result<std::string> ActiveSignKeyId(store::Transaction& tx);
// The active signing key, unsealed. Errors as OpenTenantKeys.
Result<std::shared_ptr<const OrgSignKey>> LoadActiveSignKey(store::Transaction& tx,
                                                            const TenantId& tenant,
                                                            const crypto::DataKeys& data_keys);

// Makes the next signing key (random) unless one is already waiting, and returns it; `*created`
// says which. The active key keeps signing until ActivateNextSignKey.
Result<TenantKeyInfo> CreateNextSignKey(store::Transaction& tx, const TenantId& tenant,
                                        const crypto::DataKeys& data_keys, int64_t now_us,
                                        bool* created);
// next → active; the active one → retired, its sealed secret erased. Returns the new active
// key. kFailedPrecondition "no next signing key (…)" when none is waiting; with `kid`, also when
// the waiting one is another.
Result<TenantKeyInfo> ActivateNextSignKey(store::Transaction& tx, const std::string& kid,
                                          int64_t now_us);
// Every row, signing keys newest first, then the index key.
Result<std::vector<TenantKeyInfo>> ListTenantKeys(store::Transaction& tx);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_TENANT_KEYS_H_
