#include "server/tenant_context.h"

#include <thread>

#include "common/log.h"
#include "common/thread_name.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "server/data_key_rotation.h"
#include "server/linkage_schema.h"
#include "server/staff_directory.h"
#include "store/migrations.h"
#include "store/outbox.h"

namespace chukan::server {

const std::vector<TenantSchemaComponent>& TenantSchema() {
  static const auto* const kSchema = new std::vector<TenantSchemaComponent>{
      {"audit", &audit::AuditMigrations()},       {"linkage", &LinkageMigrations()},
      {"outbox", &store::OutboxMigrations()},     {"staff", &StaffMigrations()},
      {"replica", &replica::ReplicaMigrations()}, {"keys", &TenantKeyMigrations()},
      {"rekey", &DataKeyRekeyMigrations()},
  };
  return *kSchema;
}

Status ApplyTenantSchema(store::Database& db, const Clock& clock) {
  for (const TenantSchemaComponent& c : TenantSchema()) {
    RETURN_IF_ERROR(store::ApplyMigrations(db, c.component, *c.migrations, clock));
  }
  return Status();
}

Result<std::shared_ptr<TenantContext>> TenantContext::Open(Parts parts) {
  const Clock& clock = *parts.clock;
  // Every table, the replica's too (also for administrative uses without a catalogue), so that
  // every tenant database has the one schema a transfer carries.
  RETURN_IF_ERROR(ApplyTenantSchema(*parts.db, clock));
  audit::AuditLog::Options lo;
  lo.checkpoint_key = parts.checkpoint_key;
  lo.checkpoint_sink = parts.checkpoint_sink;
  lo.clock = &clock;
  ASSIGN_OR_RETURN(std::unique_ptr<audit::AuditLog> log, audit::AuditLog::Open(parts.db, lo));
  std::shared_ptr<crypto::DataKeys> data_keys;
  if (parts.next_data_key) {
    ASSIGN_OR_RETURN(data_keys, crypto::DataKeys::Create(parts.data_key_version + 1,
                                                         std::move(*parts.next_data_key),
                                                         std::move(parts.data_key)));
  } else {
    ASSIGN_OR_RETURN(data_keys,
                     crypto::DataKeys::Create(parts.data_key_version, std::move(parts.data_key)));
  }
  ASSIGN_OR_RETURN(TenantKeys keys, OpenTenantKeys(*parts.db, parts.id, *data_keys, *log, clock));
  std::unique_ptr<replica::ReplicaStore> replicas;
  if (parts.catalogue) {
    ASSIGN_OR_RETURN(
        replicas, replica::ReplicaStore::Open(parts.id, parts.db, data_keys, keys.replica_index_key,
                                              parts.catalogue, clock));
  }
  store::GroupCommitter::Options co;
  if (parts.db->backend() == store::Backend::kPostgres) {
    // Several server nodes may write this tenant at once. Nearly every write appends to the
    // audit log, which locks its head row; a batch that first locked an inquiry row and then
    // waited for the head, while another node's batch held the head and waited for that row,
    // deadlocked (the cluster test found it). Every batch takes the head first: they queue.
    co.prologue = [](store::Transaction& tx) {
      return tx.Query("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE").status();
    };
  }
  ASSIGN_OR_RETURN(std::unique_ptr<store::GroupCommitter> committer,
                   store::GroupCommitter::Create(parts.db, co));
  std::shared_ptr<TenantContext> ctx(
      new TenantContext(std::move(parts), std::move(data_keys), std::move(keys), std::move(log)),
      &TenantContext::Delete);
  ctx->committer_ = std::move(committer);
  ctx->replicas_ = std::move(replicas);
  return ctx;
}

TenantContext::TenantContext(Parts parts, std::shared_ptr<crypto::DataKeys> data_keys_in,
                             TenantKeys keys, std::unique_ptr<audit::AuditLog> audit_in)
    : id(parts.id),
      org(parts.id.org()),
      generation(parts.generation),
      db(std::move(parts.db)),
      data_keys(std::move(data_keys_in)),
      index_key(std::move(keys.index_key)),
      audit(std::move(audit_in)),
      outbox_backlog(parts.outbox_backlog_limit, *parts.clock),
      clock_(*parts.clock),
      sign_key_(std::move(keys.sign)) {}

void TenantContext::Delete(TenantContext* ctx) {
  // The last reference may go on the context's own committer thread: a completion run there
  // (SubmitAsync's `done`, or what it captured) held one while the tenant was evicted. Stopping
  // the committer joins that thread, which would wait for itself (std::terminate): such a
  // context is destroyed on a short-lived thread of its own instead.
  if (ctx->committer_ && ctx->committer_->OnCommitThread()) {
    std::thread([ctx] {
      NameThisThread("tenant-close");
      delete ctx;
    }).detach();
    return;
  }
  delete ctx;
}

TenantContext::~TenantContext() {
  // The committer drains what was submitted before the database handle goes.
  committer_.reset();
  replicas_.reset();
}

Status TenantContext::Commit(store::GroupCommitter::WriteFn write) {
  return Submit(std::move(write)).get();
}

std::future<Status> TenantContext::Submit(store::GroupCommitter::WriteFn write,
                                          store::GroupCommitter::Rerun rerun,
                                          store::GroupCommitter::Durability durability) {
  if (closed()) {
    std::promise<Status> refused;
    refused.set_value(FailedPreconditionError("tenant " + id.str() + " is no longer served"));
    return refused.get_future();
  }
  return committer_->Submit(std::move(write), rerun, durability);
}

void TenantContext::SubmitAsync(store::GroupCommitter::WriteFn write,
                                store::GroupCommitter::DoneFn done,
                                store::GroupCommitter::Rerun rerun,
                                store::GroupCommitter::Durability durability) {
  if (closed()) {
    done(FailedPreconditionError("tenant " + id.str() + " is no longer served"));
    return;
  }
  committer_->SubmitAsync(std::move(write), std::move(done), rerun, durability);
}

void TenantContext::Audit(const audit::AuditEvent& event) {
  audit::AuditLog* log = audit.get();
  // Safe to run twice: an append is all in the transaction (a checkpoint it signs only marks an
  // export as pending, which finds nothing new if that run was rolled back).
  Status s =
      Submit([log,
              &event](store::Transaction& tx) -> Status { return log->Append(tx, event).status(); },
             store::GroupCommitter::Rerun::kSafe)
          .get();
  if (!s.ok()) {
    log::Error("audit.append_failed", {{"tenant", id.str()},
                                       {"action", event.action},
                                       {"request_id", event.request_id},
                                       log::StatusField(s)});
  }
}

void TenantContext::AuditThen(audit::AuditEvent event, std::function<void()> then) {
  audit::AuditLog* log = audit.get();
  auto shared = std::make_shared<const audit::AuditEvent>(std::move(event));
  // Safe to run twice, as in Audit.
  SubmitAsync(
      [log, shared](store::Transaction& tx) -> Status { return log->Append(tx, *shared).status(); },
      [tenant = id.str(), shared, then = std::move(then)](Status s) {
        if (!s.ok()) {
          log::Error("audit.append_failed", {{"tenant", tenant},
                                             {"action", shared->action},
                                             {"request_id", shared->request_id},
                                             log::StatusField(s)});
        }
        then();
      },
      store::GroupCommitter::Rerun::kSafe);
}

Status TenantContext::AdmitNewWork() {
  if (Status s = outbox_backlog.RecountIfDue(*db); !s.ok()) {
    log::Warn("server.backlog_count_failed", {{"tenant", id.str()}, log::StatusField(s)});
  }
  Status room = outbox_backlog.Admit();
  if (room.ok()) return room;
  const int64_t n = turned_away_.fetch_add(1) + 1;
  const int64_t now = ToUnixMicros(clock_.Now());
  int64_t last = busy_logged_us_.load();
  // At most every 10 s: under overload this is asked for every call turned away.
  if (now - last >= 10'000'000 && busy_logged_us_.compare_exchange_strong(last, now)) {
    log::Warn("server.tenant_busy", {{"tenant", id.str()},
                                     {"turned_away", n},
                                     {"backlog", outbox_backlog.Estimate()},
                                     {"limit", outbox_backlog.limit()}});
  }
  return room;
}

Result<replica::ReplicaStore*> TenantContext::Replicas() const {
  if (replicas_ == nullptr) {
    return FailedPreconditionError("tenant " + id.str() + ": no layout catalogue loaded");
  }
  return replicas_.get();
}

std::shared_ptr<const OrgSignKey> TenantContext::SignKey() const {
  MutexLock lock(sign_mu_);
  return sign_key_;
}

Result<bool> TenantContext::ReloadSignKey() {
  // The storage is read outside the lock: signers keep the current key meanwhile.
  ASSIGN_OR_RETURN(auto tx, db->BeginRead());
  ASSIGN_OR_RETURN(std::string kid, ActiveSignKeyId(*tx));
  if (kid == SignKey()->kid) return false;
  ASSIGN_OR_RETURN(std::shared_ptr<const OrgSignKey> next, LoadActiveSignKey(*tx, id, *data_keys));
  RETURN_IF_ERROR(tx->Commit());
  std::string previous;
  {
    MutexLock lock(sign_mu_);
    previous = sign_key_->kid;
    sign_key_ = next;
  }
  log::Info("tenant.sign_key_loaded",
            {{"tenant", id.str()}, {"kid", next->kid}, {"previous_kid", previous}});
  return true;
}

Result<TenantKeyInfo> TenantContext::RotateSignKey(const std::string& actor, bool* created) {
  std::optional<TenantKeyInfo> out;
  const int64_t now = ToUnixMicros(clock_.Now());
  auto write = [&](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(TenantKeyInfo next, CreateNextSignKey(tx, id, *data_keys, now, created));
    if (*created) {
      RETURN_IF_ERROR(audit
                          ->Append(tx, {id.str(), actor, "tenant.sign_key.create",
                                        "signing key " + next.kid + " (next)", "ok", ""})
                          .status());
    }
    out = std::move(next);
    return Status();
  };
  RETURN_IF_ERROR(Commit(write));
  return *std::move(out);
}

Result<TenantKeyInfo> TenantContext::ActivateSignKey(const std::string& actor,
                                                     const std::string& kid) {
  std::optional<TenantKeyInfo> out;
  const int64_t now = ToUnixMicros(clock_.Now());
  Status committed = Commit([&](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(std::string active, ActiveSignKeyId(tx));
    ASSIGN_OR_RETURN(TenantKeyInfo next, ActivateNextSignKey(tx, kid, now));
    RETURN_IF_ERROR(
        audit
            ->Append(tx, {id.str(), actor, "tenant.sign_key.activate",
                          "signing key " + next.kid + " (retired " + active + ")", "ok", ""})
            .status());
    out = std::move(next);
    return Status();
  });
  if (!committed.ok()) {
    Audit({id.str(), actor, "tenant.sign_key.activate",
           "signing key " + (kid.empty() ? std::string("(next)") : kid),
           "error:" + std::string(StatusCodeName(committed.code())), ""});
    return committed;
  }
  RETURN_IF_ERROR(ReloadSignKey().status());
  return *std::move(out);
}

Result<std::vector<TenantKeyInfo>> TenantContext::ListKeys() {
  ASSIGN_OR_RETURN(auto tx, db->BeginRead());
  ASSIGN_OR_RETURN(std::vector<TenantKeyInfo> keys, ListTenantKeys(*tx));
  RETURN_IF_ERROR(tx->Commit());
  return keys;
}

void TenantContext::Close() {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  Status s = db->Close();
  if (!s.ok()) log::Warn("tenant.close_failed", {{"tenant", id.str()}, log::StatusField(s)});
  log::Info("tenant.closed", {{"tenant", id.str()}, {"generation", generation}});
}

}  // namespace chukan::server
