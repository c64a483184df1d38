// TenantContext: everything one tenant has in a running intermediate server — its database, its
// data key (which encrypts its personal data at rest), its organisation signing key, its audit
// log, the group committer every write of the tenant goes through, its replica store (副本) and
// the key of the linkage's atena index — opened together and closed together.
//
// Ownership: the Platform is the only owner of contexts (Platform::Tenant); nothing else keeps
// tenant state between calls. Each context carries the `generation` of the tenant registration
// it was opened for (the registration's creation time): Platform::Tenant checks every lookup
// against the platform's registry, so a deleted, disabled or re-created tenant is never served
// from an old context — the old one is closed (its database refuses new transactions) and a
// re-created tenant with the same code gets a fresh context over its fresh storage.
//
// The organisation's signing key is the one member that changes: `chukan tenant
// activate-sign-key` (possibly another process) switches the tenant's key table to the next key,
// and ReloadSignKey — the Platform calls it every second for the open contexts — installs it
// here. The context is its only holder in memory; SignKey() hands out the current one.
//
// Thread-safety: thread-safe. Members other than the signing key are set at Open and never
// reassigned.
#ifndef CHUKAN_SERVER_TENANT_CONTEXT_H_
#define CHUKAN_SERVER_TENANT_CONTEXT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_log.h"
#include "audit/checkpoint_export.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/mutex.h"
#include "crypto/data_keys.h"
#include "crypto/ed25519.h"
#include "crypto/secret_bytes.h"
#include "layout/catalogue.h"
#include "replica/replica_store.h"
#include "server/tenant_keys.h"
#include "store/database.h"
#include "store/group_commit.h"
#include "store/outbox_backlog.h"

namespace chukan::server {

// The schema of a tenant's database: each component's migrations, in the order they are
// applied. TenantContext::Open applies them all; so does a tenant import
// (tenant_transfer.h), which then fills the tables it made with the rows it carries.
struct TenantSchemaComponent {
  std::string_view component;
  const std::vector<store::Migration>* migrations;
};
const std::vector<TenantSchemaComponent>& TenantSchema();
// Applies every component of TenantSchema() to `db`. Errors: those of store::ApplyMigrations.
Status ApplyTenantSchema(store::Database& db, const Clock& clock);

class TenantContext {
 public:
  struct Parts {
    TenantId id;
    int64_t generation = 0;
    std::shared_ptr<store::Database> db{};
    crypto::SecretBytes data_key{};  // 32 bytes, unwrapped: the registration's current data key
    int64_t data_key_version = 1;    // its version (tenants.data_key_version)
    // While a data-key rotation runs (tenants.next_wrapped_key): the new key (version + 1),
    // which seals every new write; `data_key` then only opens rows not yet re-encrypted.
    std::optional<crypto::SecretBytes> next_data_key{};
    // Signs the tenant's audit checkpoints (the platform's key; must outlive the context).
    const crypto::SigningKey* checkpoint_key = nullptr;
    // Where the checkpoints are also exported (audit::OpenCheckpointSink); may be null.
    std::shared_ptr<audit::CheckpointSink> checkpoint_sink{};
    // The data standard layout; null for administrative uses that need no replica store.
    std::shared_ptr<const layout::Catalogue> catalogue{};
    const Clock* clock = &SystemClock::Get();
    // [delivery] max_backlog: the tenant's messages waiting to be sent to the hub at which its
    // new work is refused (outbox_backlog); 0 = never.
    int64_t outbox_backlog_limit = 0;
  };

  // Applies the tenant's migrations (audit, replica, linkage, outbox, staff, keys), loads the
  // organisation signing key and the index key from the key table (tenant_keys.h: storing the
  // derived ones of a tenant made before it), and starts the group committer.
  // Errors: from the store (migrations), kDataLoss for a key that does not open.
  // The last reference may go on any thread, the committer's own included (a completion that
  // held one): the context is then destroyed on a thread of its own (Delete).
  static Result<std::shared_ptr<TenantContext>> Open(Parts parts);
  ~TenantContext();
  TenantContext(const TenantContext&) = delete;
  TenantContext& operator=(const TenantContext&) = delete;

  // Runs `write` in a transaction shared with concurrent writes of this tenant (one durable
  // commit for many); returns once it is durable. Blocks.
  Status Commit(store::GroupCommitter::WriteFn write);
  // The same without waiting: the future is ready once the write is durable (or failed), so
  // several writes can be started before any is waited for (they share commits). `rerun`: the
  // hot writes of linkage are marked kSafe (audited to run twice), so that on PostgreSQL their
  // batches go in one pipeline with the COMMIT (GroupCommitter::Rerun); the rest are kOnce.
  // `durability`: kLazy only for the outbox's bookkeeping (GroupCommitter::Durability).
  std::future<Status> Submit(
      store::GroupCommitter::WriteFn write,
      store::GroupCommitter::Rerun rerun = store::GroupCommitter::Rerun::kOnce,
      store::GroupCommitter::Durability durability = store::GroupCommitter::Durability::kDurable);

  // As Submit, calling `done` with the outcome (GroupCommitter::SubmitAsync: on the committer's
  // thread, or on the caller's when the tenant is no longer served). `done` must be quick.
  void SubmitAsync(
      store::GroupCommitter::WriteFn write, store::GroupCommitter::DoneFn done,
      store::GroupCommitter::Rerun rerun = store::GroupCommitter::Rerun::kOnce,
      store::GroupCommitter::Durability durability = store::GroupCommitter::Durability::kDurable);

  // The committer's counts (GroupCommitter::stats).
  store::GroupCommitter::Stats commit_stats() const { return committer_->stats(); }

  // Appends `event` to the tenant's audit log through the committer: durable when it returns.
  // Failures are logged (an operation is not undone because its record could not be written;
  // the log line names the tenant and the request). Blocks.
  void Audit(const audit::AuditEvent& event);
  // As Audit, holding no thread: `then` is called once the entry is durable (or its failure
  // logged), on the committer's thread (or the caller's, when the tenant is no longer served).
  // `then` must be quick (hand a response to its connection). An API call's answer goes out
  // this way only after the call's entry is written, as with Audit, without a worker waiting
  // for that commit.
  void AuditThen(audit::AuditEvent event, std::function<void()> then);

  // Backpressure: OK while fewer of the tenant's messages than [delivery] max_backlog wait to be
  // sent to the hub (outbox_backlog), else kUnavailable "BUSY: …" (answered 503 with
  // Retry-After), counted (turned_away) and logged as `server.tenant_busy` at most every 10 s.
  // Counts the messages first when a count is due (a read that fails is logged, and the
  // estimate decides): call it on a worker, not an io thread.
  Status AdmitNewWork();
  int64_t turned_away() const { return turned_away_.load(); }

  // The replica store; kFailedPrecondition when the context was opened without a catalogue.
  Result<replica::ReplicaStore*> Replicas() const;

  // Refuses every later transaction (kFailedPrecondition) and wipes nothing yet: the keys are
  // wiped when the last holder lets go. Called by the Platform when the tenant goes.
  void Close();
  bool closed() const { return closed_.load(std::memory_order_acquire); }

  // The organisation's Ed25519 key that signs its envelopes now, with its id (the hub registers
  // its public half: `chukan tenant show --sign-pub FILE`). Never null. Does not block on
  // storage.
  std::shared_ptr<const OrgSignKey> SignKey() const EXCLUDES(sign_mu_);
  // Reads which signing key the key table has active and, when it is another than SignKey()'s,
  // loads it (one indexed read; the unsealing only on a change). Returns whether it changed.
  // Blocks (storage): called by the Platform's refresh, not on an I/O thread.
  Result<bool> ReloadSignKey() EXCLUDES(sign_mu_);

  // Key rotation, each step audited in the tenant's log in its own transaction:
  // a next signing key, made (or the one already waiting, `*created` false);
  Result<TenantKeyInfo> RotateSignKey(const std::string& actor, bool* created);
  // the next key made active (the old one retired, its secret erased) and installed here;
  // kFailedPrecondition when no key (or, with `kid`, not that key) is waiting.
  Result<TenantKeyInfo> ActivateSignKey(const std::string& actor, const std::string& kid);
  Result<std::vector<TenantKeyInfo>> ListKeys();

  const Clock& clock() const { return clock_; }

  const TenantId id;
  const OrgCode org;
  const int64_t generation;
  const std::shared_ptr<store::Database> db;
  // The tenant's data keys (crypto/data_keys.h): seal and open personal data at rest with them;
  // their one holder (the replica store shares this pointer). The Platform installs a rotation's
  // keys here (Platform::ReloadDataKeys, and at once when a read meets a value under a key not
  // loaded yet: DataKeys::SetRefresh).
  const std::shared_ptr<crypto::DataKeys> data_keys;
  // Keys the atena_no index of the linkage's subject_codes table (tenant_keys: never rotated).
  const crypto::SecretBytes index_key;
  const std::unique_ptr<audit::AuditLog> audit;
  // How many of the tenant's messages wait to be sent to the hub (backpressure): counted by
  // its owner, this context; added to where the linkage queues a message, lowered where the
  // sender delivers one; asked by the API before it takes an inquiry and by the node routes
  // before they take a provision request.
  store::OutboxBacklog outbox_backlog;

 private:
  // The deleter of Open's shared_ptr: destroys `ctx` at once, or on a thread of its own when the
  // last reference went on its own committer's thread.
  static void Delete(TenantContext* ctx);
  TenantContext(Parts parts, std::shared_ptr<crypto::DataKeys> data_keys, TenantKeys keys,
                std::unique_ptr<audit::AuditLog> audit);
  const Clock& clock_;
  mutable Mutex sign_mu_;
  std::shared_ptr<const OrgSignKey> sign_key_ GUARDED_BY(sign_mu_);

  std::unique_ptr<store::GroupCommitter> committer_;
  std::unique_ptr<replica::ReplicaStore> replicas_;
  std::atomic<bool> closed_{false};
  std::atomic<int64_t> turned_away_{0};
  std::atomic<int64_t> busy_logged_us_{INT64_MIN / 2};  // when server.tenant_busy was last logged
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_TENANT_CONTEXT_H_
