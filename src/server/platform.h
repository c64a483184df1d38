// Platform: one intermediate-server installation (中間サーバー・プラットフォーム) hosting many
// tenants. It owns the platform database (tenant registry, existing-system clients, the platform
// audit log), the platform master key that wraps every tenant's data key, and each tenant's
// storage. Platform administrators act through it (`chukan tenant …`, `chukan client …`), and
// the server authenticates existing systems (既存業務システム) through it.
//
// Tenancy rules: a tenant's data key is stored only wrapped under the master key, with the
// tenant id as associated data; deleting a tenant destroys its wrapped key first (crypto-
// erasure), then its storage. A client's bearer token is shown once; only its BLAKE2b hash is
// stored. The tenant of an API call comes from its token, never from the request.
//
// Every administrative action appends to the platform audit log in the same transaction.
//
// Thread-safety: thread-safe.
#ifndef CHUKAN_SERVER_PLATFORM_H_
#define CHUKAN_SERVER_PLATFORM_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/mutex.h"
#include "crypto/ed25519.h"
#include "crypto/sealed_box.h"
#include "crypto/secret_bytes.h"
#include "layout/catalogue.h"
#include "server/server_config.h"
#include "server/tenant_context.h"
#include "server/tenant_keks.h"
#include "store/tenant_store.h"

namespace chukan::server {

inline constexpr size_t kMaxTenantNameBytes = 200;
inline constexpr size_t kMaxClientNameBytes = 64;

struct TenantInfo {
  OrgCode org;
  TenantId id;
  std::string name;
  std::string state;  // "active" or "deleted"
  int64_t created_at_us = 0;
  int64_t active_clients = 0;
};

// An active existing-system client, as listed (never its token, which is stored hashed).
struct ClientInfo {
  std::string name;
  std::string role;  // "system" or "approver"
  int64_t created_at_us = 0;
};

// Who is calling: an existing system authenticated by its token.
struct ClientIdentity {
  OrgCode org;
  TenantId tenant;
  std::string name;  // the client's name, unique among the tenant's active clients
  std::string role;  // "system" (existing system) or "approver" (staff, until the console exists)
};

// How long Platform::Tenant() returns a context the registry confirmed without asking the
// registry again. Every process sharing a store must use the same value: it is fixed here.
inline constexpr std::chrono::milliseconds kTenantRecheck{1000};
// How long Platform::DeleteTenant() waits after its commit: the interval above and a margin
// for the time a confirmation takes between its clock reading and its use.
inline constexpr std::chrono::milliseconds kTenantDeleteWait{1200};

class Platform {
 public:
  // Opens the store and the platform database (applying migrations) and loads the keys from
  // config.keys_dir, creating them when missing and `create_keys` is true. With a `catalogue`,
  // tenant contexts carry a replica store (TenantContext::Replicas); administrative commands
  // may pass none.
  // Errors: from the store and key files (key_file.h); kFailedPrecondition when keys are
  // missing and !create_keys.
  static Result<std::unique_ptr<Platform>> Open(
      const ServerConfig& config, bool create_keys, const Clock& clock = SystemClock::Get(),
      std::shared_ptr<const layout::Catalogue> catalogue = nullptr);
  ~Platform();

  // Registers a tenant: storage (file or schema), a KEK in a file of the registration's own
  // (written first; a creator whose row loses destroys its own), a fresh
  // data key wrapped under it, and its migrations. A deleted tenant's org code can be registered
  // again (with a new key). Errors: kAlreadyExists (active tenant); kInvalidArgument (name empty,
  // too long, not UTF-8).
  Result<TenantInfo> CreateTenant(const OrgCode& org, const std::string& name,
                                  const std::string& actor);
  // All tenants ever registered (active and deleted), by org code.
  Result<std::vector<TenantInfo>> ListTenants();
  // kNotFound if never registered.
  Result<TenantInfo> GetTenant(const OrgCode& org);
  // Crypto-erasure then removal: the wrapped key is destroyed and the tenant marked deleted (one
  // durable, audited transaction), its clients revoked; then it waits kTenantDeleteWait, so
  // that every process's confirmation of the tenant (Tenant()) has expired; then its KEK file
  // destroyed (so that no copy of the wrapped data key anywhere opens again), the old key's
  // copies erased from the platform database's files (Database::EraseFreed), then its storage
  // dropped. Re-running it
  // after a failure in the second half finishes the job. kNotFound if never registered; an
  // erase that failed is logged ("platform.erase_failed") and returned (kUnavailable) after
  // the storage is dropped. Blocks (disk I/O): not for an I/O thread.
  Status DeleteTenant(const OrgCode& org, const std::string& actor);

  // Master-key rotation (TenantKeks::RotateMaster): a new master key, every tenant's KEK file
  // rewrapped under it, the old key overwritten; audited ("platform.master_key.rotate").
  // Servers running on the same keys directory need nothing: they read the master key's file
  // for each use. Refused (kFailedPrecondition) while a tenant's data key is still wrapped under
  // the master key itself (the old key scheme, moved by Open). Re-running an interrupted
  // rotation finishes it. Blocks (one fsync per tenant): not for an I/O thread.
  Result<TenantKeks::Rotation> RotateMasterKey(const std::string& actor,
                                               const TenantKeks::RotateOptions& options = {});

  // The platform's transfer key pair (TenantKeks::LoadOrCreateTransferKey): tenant exports to
  // this platform are sealed to its public half (tenant_transfer.h). Made on first use when
  // `create`, audited ("platform.transfer_key.create"). Errors: those of the key files.
  Result<crypto::BoxKeyPair> TransferKey(bool create, const std::string& actor);
  // Signs `message` with the platform's checkpoint key (audit_verify_key() verifies it): the
  // header of a tenant export (tenant_transfer.h), so the destination knows which platform made
  // it, with the key it already trusts for that platform's audit checkpoints.
  crypto::Bytes SignAsPlatform(std::span<const uint8_t> message) const;

  // Registers a tenant moved here from another platform (tenant_transfer.h) under `data_key`:
  // fresh storage (a leftover unregistered one — an import that crashed — is dropped first),
  // which `fill` writes and commits; then a new KEK of this platform's wrapping the data key,
  // and the registration row with `event` in the platform audit log. Nothing is registered
  // unless `fill` succeeded; when anything fails the storage is dropped again and no KEK file
  // is left. Errors: kAlreadyExists (an active tenant has the org code: refused before
  // anything is touched), kInvalidArgument (name), `fill`'s errors, store and key-file errors.
  // Blocks (disk I/O): not for an I/O thread.
  using FillFn = std::function<Status(store::Database&)>;
  Result<TenantInfo> ImportTenant(const OrgCode& org, const std::string& name,
                                  const crypto::SecretBytes& data_key, const FillFn& fill,
                                  const audit::AuditEvent& event);

  // Adds an existing-system client to an active tenant and returns its bearer token — the only
  // time the token exists outside the caller. Errors: kNotFound (no active tenant),
  // kAlreadyExists (an active client has that name), kInvalidArgument (bad name/role).
  Result<std::string> AddClient(const OrgCode& org, const std::string& name,
                                const std::string& role, const std::string& actor);
  // The active clients of `org`, by name.
  Result<std::vector<ClientInfo>> ListClients(const OrgCode& org);
  // Revokes the active client `name`. kNotFound if there is none.
  Status RevokeClient(const OrgCode& org, const std::string& name, const std::string& actor);

  // Maps a bearer token to its client. Errors: kUnauthenticated for an unknown, malformed or
  // revoked token, or a deleted tenant (one message for all, so a caller learns nothing).
  Result<ClientIdentity> Authenticate(std::string_view token);

  // The context of an active tenant: its storage, keys, committer, replica store and audit log
  // (TenantContext). A call checks the platform registry (one primary-key read) unless the
  // registry confirmed this context less than kTenantRecheck ago; a deletion waits that long
  // after its commit (DeleteTenant), so once any process's DeleteTenant has returned, no
  // process returns the tenant's context any more. A context opened for an older registration
  // is closed and never returned again. Contexts are opened once per registration and shared.
  // kNotFound if the tenant is not active.
  Result<std::shared_ptr<TenantContext>> Tenant(const TenantId& tenant) EXCLUDES(open_mu_, mu_);
  // Whether the active tenant's KEK (the file its row names) is there and opens: OK, or
  // kNotFound "…: the tenant's key-encryption key is missing" (destroyed by a deletion, e.g. of
  // a tenant restored from a backup made before it), kNotFound for a tenant not active, or the
  // errors of TenantKeks::Load.
  Status CheckKek(const TenantId& tenant);
  // Has every open context pick up the signing key its key table has active
  // (TenantContext::ReloadSignKey): `chukan tenant activate-sign-key` run beside a running
  // server takes effect at the next call. The server calls it every second. Returns the first
  // error (logged); the other tenants are still tried. Blocks (storage).
  Status ReloadSignKeys() EXCLUDES(mu_);
  // The same for the data keys (tenants.data_key_version / next_wrapped_key): a rotation
  // started or finished by another process (`chukan tenant rotate-data-key`) is installed in
  // the open contexts (DataKeys::Rotate / DropPrevious); a context that missed a whole rotation
  // is closed and reopened at its next use. Returns the first error (logged). Blocks (storage).
  Status ReloadDataKeys() EXCLUDES(mu_);

  // Data-key rotation (data_key_rotation.h, docs/crypto.md "Data-key rotation").
  struct DataKeyState {
    int64_t version = 1;        // the version of tenants.wrapped_key
    bool rotating = false;      // a next key (version + 1) is stored and seals new writes
    int64_t started_at_us = 0;  // when the rotation started (0: none)
    int64_t generation = 0;     // the registration's (tenants.created_at_us)
  };
  // kNotFound when the tenant is not active.
  Result<DataKeyState> GetDataKeyState(const OrgCode& org);
  // Starts a rotation: a new random data key, wrapped under the tenant's KEK (key id
  // "tenant:t<org>:data:v<N+1>") beside the current one, audited in the platform's and the
  // tenant's logs, installed in this process's context at once (other processes: within a
  // second, ReloadDataKeys), and the progress rows of the re-encryption made. `*started` is
  // false when a rotation was already in progress (nothing changes). kFailedPrecondition for a
  // tenant whose key is still under the old key scheme; kNotFound when not active.
  Result<DataKeyState> StartDataKeyRotation(const OrgCode& org, const std::string& actor,
                                            bool* started);
  // Finishes the rotation to `target_version` once every sealed value opens under the new key
  // (re-checked here: kFailedPrecondition "N sealed values are still under the previous data
  // key" otherwise): the new wrapped key replaces the old one, which is set NULL and erased
  // from the database's files (Database::EraseFreed), the previous key forgotten by this
  // process's context, audited in both logs. kFailedPrecondition also when no rotation to that
  // version is in progress, and while less than kDataKeyFinishGrace has passed on this
  // platform's clock since the rotation started ("… finish in N s": a process that has not
  // loaded the new key yet would write under the old one after the check). Blocks (reads every
  // sealed value).
  Status FinishDataKeyRotation(const OrgCode& org, int64_t target_version,
                               const std::string& actor);

  // Closes and forgets every open context (shutdown).
  void CloseTenants() EXCLUDES(mu_);

  // Signs the head of the platform's audit log and of every open tenant's, where no checkpoint
  // covers it yet (AuditLog::CheckpointIfBehind), and exports what is not yet exported. Called
  // every few seconds by the server and once at shutdown (also by the destructor). Returns the
  // first error; the other logs are still tried.
  Status CheckpointAuditLogs() EXCLUDES(mu_);
  // Retention of the platform's own audit log: its entries older than `audit_days` go, up to a
  // signed checkpoint (AuditLog::PruneRecorded), at most `batch` per transaction and
  // `max_batches` transactions per call, then the freed pages are erased. One indexed read when
  // nothing is due. Returns the entries deleted. Called by the server's housekeeping with
  // [retention] audit_days (the tenants' logs keep the same period). Blocks (storage).
  Result<int64_t> PruneAuditLog(int64_t audit_days, int64_t batch, int max_batches = 20);

  // Whether the node `owner` ("<instance>:<boot id>") leads `job` ("server.sweep", …) among the
  // nodes sharing this platform database: takes or renews the job's lease for `ttl`
  // (store/node_lease.h). Work that must run once across the nodes of a cluster runs only where
  // this returns true. Blocks (storage). Errors as store::AcquireNodeLease.
  Result<bool> LeadJob(std::string_view job, std::string_view owner, Duration ttl);
  // Gives the lease up (a node stopping cleanly), so that another node takes the job at once.
  Status StepDown(std::string_view job, std::string_view owner);

  audit::AuditLog& audit() { return *audit_; }
  const crypto::VerifyKey& audit_verify_key() const { return audit_key_.verify_key(); }
  store::TenantStore& store() { return *store_; }
  const TenantKeks& keks() const { return *keks_; }
  const Clock& clock() const { return clock_; }

 private:
  Platform(const Clock& clock, std::unique_ptr<store::TenantStore> store,
           std::shared_ptr<store::Database> db, std::string master_path, std::string kek_dir,
           crypto::SigningKey audit_key, std::shared_ptr<const layout::Catalogue> catalogue,
           std::string checkpoint_dir);
  // Removes the cached context of `tenant` (if it is `only`, when given) and closes it.
  void Evict(const TenantId& tenant, const TenantContext* only = nullptr) EXCLUDES(mu_);

  // A registration: a new KEK file wrapping `data_key`, the tenants row (inserted, or over a
  // deleted registration's) and `event` in the platform audit log, in one transaction; the
  // KEK file is destroyed again when the row does not commit, and a deleted registration's
  // old KEK file after it did. kAlreadyExists for an active tenant.
  Status Register(const OrgCode& org, const std::string& name, const crypto::SecretBytes& data_key,
                  const audit::AuditEvent& event);
  // kAlreadyExists when `org` has an active registration.
  Status RefuseActive(const OrgCode& org);
  // The key id of a tenant's data key of version `version` (v1: the registration's first).
  static std::string KeyId(const TenantId& t, int64_t version = 1) {
    return "tenant:" + t.str() + ":data:v" + std::to_string(version);
  }
  // The tenant's KEK, from the file its active row names (kFailedPrecondition under the old
  // "master" key scheme).
  Result<crypto::SecretBytes> LoadKek(const TenantId& tenant);
  // Brings `ctx`'s data keys in line with its registration (ReloadDataKeys, for one context).
  Status InstallDataKeys(TenantContext& ctx) EXCLUDES(mu_);
  // The same for the keys `keys` of registration `generation` of `tenant`, whose context is
  // `ctx` (compared only, to evict it when it missed a whole rotation).
  Status InstallDataKeys(const TenantId& tenant, int64_t generation, crypto::DataKeys& keys,
                         const TenantContext* ctx) EXCLUDES(mu_);
  // Moves the active tenants whose data key is still wrapped under the master key itself (key
  // scheme "master", before platform migration 2) to a KEK of their own; audited per tenant,
  // then the old wrapped keys erased from the files. Idempotent and safe against another
  // process doing the same (TenantKeks::LoadOrCreate; the row changes only while "master").
  Status UpgradeKeyScheme();

  const Clock& clock_;
  std::unique_ptr<store::TenantStore> store_;
  std::shared_ptr<store::Database> db_;
  // The tenants' key-encryption keys and the master key's file (tenant_keks.h).
  std::unique_ptr<TenantKeks> keks_;
  crypto::SigningKey audit_key_;
  std::unique_ptr<audit::AuditLog> audit_;
  const std::shared_ptr<const layout::Catalogue> catalogue_;
  const std::string checkpoint_dir_;  // [audit] checkpoint_dir; empty: no export
  // [delivery] max_backlog, for each context's OutboxBacklog (set by Open, then never changed).
  int64_t outbox_backlog_limit_ = 0;

  // Serialises opening contexts (rare), so that one registration gets one context; lookups of
  // open contexts never wait for it.
  Mutex open_mu_ ACQUIRED_BEFORE(mu_);
  Mutex mu_;
  std::map<std::string, std::shared_ptr<TenantContext>> tenants_ GUARDED_BY(mu_);
  // When the registry last confirmed each context of tenants_ (the steady clock read before the
  // registry read, so the entry is never younger than what it says): Tenant() asks again after
  // kTenantRecheck. The real clock, not clock_: the wait it pairs with is real time in
  // another process.
  std::map<std::string, std::chrono::steady_clock::time_point> confirmed_ GUARDED_BY(mu_);

  // How a context's DataKeys reaches this platform to reload (DataKeys::SetRefresh): contexts
  // may outlive the platform, so they hold this link, which the destructor cuts first (waiting
  // for a reload under way).
  struct RefreshLink {
    Mutex mu;
    Platform* platform GUARDED_BY(mu) = nullptr;
  };
  const std::shared_ptr<RefreshLink> refresh_link_ = std::make_shared<RefreshLink>();
};

// The migrations of the platform database (component "platform").
const std::vector<store::Migration>& PlatformMigrations();

// "cli:<user>" for the invoking OS user, for audit entries written by admin commands.
std::string CliActor();

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_PLATFORM_H_
