#include "server/tenant_context.h"

#include "common/log.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "server/linkage_schema.h"
#include "server/staff_directory.h"
#include "store/migrations.h"
#include "store/outbox.h"

namespace chukan::server {
namespace {

// A 32-byte key derived from the data key for one purpose (BLAKE2b keyed by the data key).
crypto::SecretBytes Derive(const crypto::SecretBytes& data_key, std::string_view purpose) {
  crypto::Bytes derived = crypto::Blake2bKeyed(data_key, crypto::AsBytes(purpose), 32);
  crypto::SecretBytes key = crypto::SecretBytes::FromBytes(derived);
  crypto::WipeBytes(derived);
  return key;
}

}  // namespace

const std::vector<TenantSchemaComponent>& TenantSchema() {
  static const auto* const kSchema = new std::vector<TenantSchemaComponent>{
      {"audit", &audit::AuditMigrations()},       {"linkage", &LinkageMigrations()},
      {"outbox", &store::OutboxMigrations()},     {"staff", &StaffMigrations()},
      {"replica", &replica::ReplicaMigrations()},
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
  ASSIGN_OR_RETURN(crypto::SigningKey org_key, crypto::SigningKey::FromSeed(Derive(
                                                   parts.data_key, "chukan-tenant-org-sign-v1")));
  crypto::SecretBytes index_key = Derive(parts.data_key, "chukan-linkage-atena-index-v1");
  std::unique_ptr<replica::ReplicaStore> replicas;
  if (parts.catalogue) {
    ASSIGN_OR_RETURN(replicas, replica::ReplicaStore::Open(parts.id, parts.db, parts.data_key,
                                                           parts.catalogue, clock));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<store::GroupCommitter> committer,
                   store::GroupCommitter::Create(parts.db, {}));
  std::shared_ptr<TenantContext> ctx(new TenantContext(std::move(parts), std::move(org_key),
                                                       std::move(index_key), std::move(log)));
  ctx->committer_ = std::move(committer);
  ctx->replicas_ = std::move(replicas);
  return ctx;
}

TenantContext::TenantContext(Parts parts, crypto::SigningKey org_key_in,
                             crypto::SecretBytes index_key_in,
                             std::unique_ptr<audit::AuditLog> audit_in)
    : id(parts.id),
      org(parts.id.org()),
      generation(parts.generation),
      db(std::move(parts.db)),
      data_key(std::move(parts.data_key)),
      org_key(std::move(org_key_in)),
      index_key(std::move(index_key_in)),
      audit(std::move(audit_in)) {}

TenantContext::~TenantContext() {
  // The committer drains what was submitted before the database handle goes.
  committer_.reset();
  replicas_.reset();
}

Status TenantContext::Commit(store::GroupCommitter::WriteFn write) {
  return Submit(std::move(write)).get();
}

std::future<Status> TenantContext::Submit(store::GroupCommitter::WriteFn write) {
  if (closed()) {
    std::promise<Status> refused;
    refused.set_value(FailedPreconditionError("tenant " + id.str() + " is no longer served"));
    return refused.get_future();
  }
  return committer_->Submit(std::move(write));
}

void TenantContext::Audit(const audit::AuditEvent& event) {
  audit::AuditLog* log = audit.get();
  Status s = Commit(
      [log, &event](store::Transaction& tx) -> Status { return log->Append(tx, event).status(); });
  if (!s.ok()) {
    log::Error("audit.append_failed", {{"tenant", id.str()},
                                       {"action", event.action},
                                       {"request_id", event.request_id},
                                       log::StatusField(s)});
  }
}

Result<replica::ReplicaStore*> TenantContext::Replicas() const {
  if (replicas_ == nullptr) {
    return FailedPreconditionError("tenant " + id.str() + ": no layout catalogue loaded");
  }
  return replicas_.get();
}

void TenantContext::Close() {
  if (closed_.exchange(true, std::memory_order_acq_rel)) return;
  Status s = db->Close();
  if (!s.ok()) log::Warn("tenant.close_failed", {{"tenant", id.str()}, log::StatusField(s)});
  log::Info("tenant.closed", {{"tenant", id.str()}, {"generation", generation}});
}

}  // namespace chukan::server
