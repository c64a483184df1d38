// LinkageService (see linkage_service.h): the facade that composes the linkage's parts, and the
// sweep of expiry and retention that runs over them.
#include "server/linkage_service.h"

#include <algorithm>

#include "common/log.h"
#include "replica/replica_store.h"
#include "server/batch_table.h"

namespace chukan::server {

LinkageService::LinkageService(Platform& platform,
                               std::shared_ptr<const layout::Catalogue> catalogue, HubPort* hub,
                               Options options, const Clock& clock)
    : options_(options),
      // Invariant: the options come from a validated configuration.
      outbox_(store::Outbox::Create(options.outbox, clock).value()),
      env_{platform, std::move(catalogue),
           hub,      clock,
           *outbox_, [this](const TenantId& tenant) { return HandOff(tenant); }},
      codes_(env_),
      inquiries_(env_, Inquiries::Options{options.inquiry_timeout, options.waits_per_client,
                                          options.waits_total, options.settle_tasks}),
      provisions_(env_, codes_),
      code_retention_(CodeRetention::Options{options.code_days, options.code_checks,
                                             options.code_walk_interval},
                      clock),
      courier_(std::make_unique<LinkageCourier>(env_, inquiries_)) {
  result_layouts_ = options_.result_layouts;
  // Invariant: the defaults need no file, and the catalogue is valid. (Some tests run without
  // a catalogue, and so without batches.)
  if (!result_layouts_ && env_.catalogue)
    result_layouts_ = layout::LoadResultLayouts("", env_.catalogue).value();
}

LinkageService::~LinkageService() = default;

void LinkageService::SetNotifier(std::function<void()> notify) {
  MutexLock lock(mu_);
  notify_ = std::move(notify);
}

void LinkageService::SetPump(store::OutboxPump* pump) {
  MutexLock lock(mu_);
  pump_ = pump;
}

std::shared_ptr<store::OutboxHandoff> LinkageService::HandOff(const TenantId& tenant) {
  store::OutboxPump* pump = nullptr;
  {
    MutexLock lock(mu_);
    pump = pump_;
  }
  if (pump != nullptr) return pump->HandOff(tenant.str());
  return std::make_shared<store::OutboxHandoff>(*outbox_, [this] { Notify(); });
}

void LinkageService::Notify() {
  std::function<void()> n;
  {
    MutexLock lock(mu_);
    n = notify_;
  }
  if (n) n();
}

Result<std::shared_ptr<TenantContext>> LinkageService::State(const TenantId& tenant) {
  return env_.Tenant(tenant);
}

void LinkageService::AuditCall(const TenantId& tenant, const audit::AuditEvent& event) {
  Result<std::shared_ptr<TenantContext>> st = State(tenant);
  if (!st.ok()) {
    log::Error("audit.append_failed", {{"tenant", tenant.str()}, log::StatusField(st.status())});
    return;
  }
  (*st)->Audit(event);  // through the group committer: concurrent entries share one commit
}

Result<SubjectCode> LinkageService::RegisterCode(const TenantId& tenant, const AtenaNo& atena,
                                                 const ResidentId& rid) {
  return codes_.Register(tenant, atena, rid);
}

Result<InquiryView> LinkageService::CreateInquiry(const TenantId& tenant, const InquiryInput& in) {
  return inquiries_.Create(tenant, in);
}

Result<LinkageService::PendingInquiry> LinkageService::StartCreateInquiry(const TenantId& tenant,
                                                                          const InquiryInput& in) {
  return inquiries_.StartCreate(tenant, in);
}

void LinkageService::CreateInquiryAsync(const TenantId& tenant, const InquiryInput& in,
                                        InquiryDone done,
                                        std::shared_ptr<Inquiries::CallEntry> call) {
  inquiries_.CreateAsync(tenant, in, std::move(done), std::move(call));
}

Result<InquiryView> LinkageService::GetInquiry(const TenantId& tenant,
                                               const std::string& inquiry_id) {
  return inquiries_.Get(tenant, inquiry_id);
}

Status LinkageService::WatchInquiry(const TenantId& tenant, const std::string& inquiry_id,
                                    const std::string& client, std::chrono::milliseconds wait,
                                    InquiryDone done) {
  return inquiries_.Watch(tenant, inquiry_id, client, wait, std::move(done));
}

Result<std::vector<InquiryView>> LinkageService::ListInquiries(
    const TenantId& tenant, const std::optional<std::string>& state, int64_t since_us, int limit) {
  return inquiries_.List(tenant, state, since_us, limit);
}

Result<std::string> LinkageService::OnProvisionRequest(const linkage::SignedDocument& permit) {
  ASSIGN_OR_RETURN(PendingOutcome pending, StartProvisionRequest(permit));
  return pending();
}

Result<LinkageService::PendingOutcome> LinkageService::StartProvisionRequest(
    const linkage::SignedDocument& permit) {
  return provisions_.StartRequest(permit);
}

Status LinkageService::OnInquiryResult(const linkage::ProvisionResult& result) {
  ASSIGN_OR_RETURN(PendingStatus pending, StartInquiryResult(result));
  return pending();
}

Result<LinkageService::PendingStatus> LinkageService::StartInquiryResult(
    const linkage::ProvisionResult& result) {
  return inquiries_.StartResult(result);
}

Result<std::vector<RecordEntry>> LinkageService::ListRecords(const TenantId& tenant,
                                                             int64_t after_us, int limit) {
  if (limit < 1 || limit > 1000) return InvalidArgumentError("limit: expected 1 to 1000");
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, State(tenant));
  return server::ListRecords(*st, *env_.catalogue, after_us, limit);
}

Result<std::vector<ApprovalView>> LinkageService::ListApprovals(const TenantId& tenant) {
  return provisions_.ListApprovals(tenant);
}

Status LinkageService::DecideApproval(const TenantId& tenant, const PermitId& permit, bool approve,
                                      const std::string& comment, const std::string& actor) {
  return provisions_.DecideApproval(tenant, permit, approve, comment, actor);
}

Result<LinkageSweep> LinkageService::Sweep(const TenantId& tenant) {
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, State(tenant));
  constexpr int64_t kDayUs = int64_t{86'400} * 1'000'000;
  const int64_t now = env_.NowUs();
  const int64_t cutoff = now - options_.result_days * kDayUs;
  // A batch file is kept while its lines' results may be: every inquiry of a batch ended by its
  // creation plus the longest timeout, and its result went `result_days` after that.
  const int64_t batch_cutoff =
      cutoff -
      std::chrono::duration_cast<std::chrono::microseconds>(options_.inquiry_timeout).count();
  // An inquiry row goes `records_days` after it ended — never before its result and its batch
  // file (when result_days is the longer).
  const int64_t inquiry_rows_cutoff = std::min(now - options_.records_days * kDayUs, batch_cutoff);
  const int64_t provisions_cutoff = now - options_.records_days * kDayUs;
  // A superseded 副本 version stays as long as the records of provision that may name what was
  // provided from it.
  const int64_t history_cutoff = provisions_cutoff;
  // Delivered items a day after delivery; their dedupe keys cannot come again: a permit
  // request's is its inquiry id, queued only when the inquiry is created, and a provision's is
  // its permit id, queued only in the transaction that inserts the provision row (the permit id
  // is its primary key, and a replay is refused) or leaves awaiting_approval.
  const TimePoint done_before = FromUnixMicros(now) - std::chrono::hours(24);
  const TimePoint dead_before = FromUnixMicros(now - options_.dead_days * kDayUs);
  const int64_t audit_cutoff = now - options_.audit_days * kDayUs;
  const int64_t batch = options_.delete_batch;
  LinkageSweep out;
  // Read first: most sweeps find nothing, and then no write transaction is made.
  bool expiry_due = false, inquiries_due = false, provisions_due = false, outbox_due = false,
       history_due = false, audit_due = false;
  {
    ASSIGN_OR_RETURN(auto tx, st->db->BeginRead());
    ASSIGN_OR_RETURN(bool due, InquiriesDue(*tx, now, cutoff));
    ASSIGN_OR_RETURN(bool stale, ApprovalsDue(*tx, now));
    ASSIGN_OR_RETURN(bool batches, BatchesDue(*tx, batch_cutoff));
    expiry_due = due || stale || batches;
    ASSIGN_OR_RETURN(inquiries_due, EndedInquiriesDue(*tx, inquiry_rows_cutoff));
    ASSIGN_OR_RETURN(provisions_due, FinalProvisionsDue(*tx, provisions_cutoff));
    ASSIGN_OR_RETURN(outbox_due, outbox_->PurgeDue(*tx, done_before, dead_before));
    ASSIGN_OR_RETURN(history_due, replica::ReplicaStore::HistoryDue(*tx, history_cutoff));
    ASSIGN_OR_RETURN(audit_due, audit::AuditLog::PruneDue(*tx, audit_cutoff));
    RETURN_IF_ERROR(tx->Commit());
  }
  int64_t approvals_expired = 0;
  if (expiry_due) {
    RETURN_IF_ERROR(st->Commit([&](store::Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(approvals_expired, ExpireApprovals(tx, now));
      ASSIGN_OR_RETURN(out.expired, ExpireInquiries(tx, now));
      ASSIGN_OR_RETURN(out.results_deleted, DeleteInquiryResults(tx, cutoff));
      // A few at a time (up to 100,000 lines each): a backlog drains over a few sweeps without
      // holding the tenant's writes up.
      ASSIGN_OR_RETURN(out.batches_deleted, DeleteBatches(tx, batch_cutoff, 4));
      return Status();
    }));
  }
  if (out.expired > 0) {
    AuditLinkage(*st, "system", "inquiry.expire", std::to_string(out.expired) + " inquiries", "ok");
    inquiries_.ChangedAll();
  }
  if (approvals_expired > 0) {
    AuditLinkage(*st, "system", "approval.expire",
                 std::to_string(approvals_expired) + " undecided provisions whose permits expired",
                 "ok");
  }
  if (out.batches_deleted > 0) {
    AuditLinkage(*st, "system", "batch.delete",
                 std::to_string(out.batches_deleted) + " batch files past retention", "ok");
  }
  if (out.results_deleted > 0) {
    AuditLinkage(*st, "system", "result.delete",
                 std::to_string(out.results_deleted) + " results past retention", "ok");
  }
  // The rows themselves, each kind in a short transaction of its own, at most `batch` rows.
  auto delete_rows = [&](bool due, int64_t& count, const std::string& action,
                         const std::string& what,
                         const std::function<Result<int64_t>(store::Transaction&)>& del) -> Status {
    if (!due) return Status();
    RETURN_IF_ERROR(st->Commit([&](store::Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(count, del(tx));
      return Status();
    }));
    if (count > 0) AuditLinkage(*st, "system", action, std::to_string(count) + " " + what, "ok");
    return Status();
  };
  RETURN_IF_ERROR(delete_rows(inquiries_due, out.inquiries_deleted, "inquiry.delete",
                              "inquiries past records retention", [&](store::Transaction& tx) {
                                return DeleteEndedInquiries(tx, inquiry_rows_cutoff, batch);
                              }));
  RETURN_IF_ERROR(delete_rows(provisions_due, out.provisions_deleted, "provision.delete",
                              "provisions past records retention", [&](store::Transaction& tx) {
                                return DeleteFinalProvisions(tx, provisions_cutoff, batch);
                              }));
  RETURN_IF_ERROR(delete_rows(
      outbox_due, out.outbox_purged, "outbox.purge",
      "delivered or dead outbox items past retention",
      [&](store::Transaction& tx) { return outbox_->Purge(tx, done_before, dead_before, batch); }));
  RETURN_IF_ERROR(
      delete_rows(history_due, out.history_deleted, "history.delete",
                  "replica versions past records retention", [&](store::Transaction& tx) {
                    return replica::ReplicaStore::PurgeHistory(tx, history_cutoff, batch);
                  }));
  // The audit log's oldest entries, up to a signed checkpoint; the prune is recorded in the log
  // in its own transaction (so the chain's new start and its record commit together).
  if (audit_due) {
    RETURN_IF_ERROR(st->Commit([&](store::Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(const audit::AuditPrune pruned,
                       st->audit->PruneRecorded(tx, st->id.str(), audit_cutoff, batch));
      out.audit_pruned = pruned.deleted;
      return Status();
    }));
  }
  // Last, so that codes the rows above named can go in the same walk.
  ASSIGN_OR_RETURN(CodeRetention::Outcome codes, code_retention_.Sweep(*st));
  out.codes_checked = codes.checked;
  out.codes_deleted = codes.deleted;
  if (codes.deleted > 0) {
    AuditLinkage(*st, "system", "code.delete",
                 std::to_string(codes.deleted) + " subject codes no longer needed", "ok");
  }
  // Every change above deleted something (results, batch lines, per-inquiry secrets, answers
  // awaiting approval, rows): erase the old page images from the tenant's files. After the
  // audit entries, so that their commits leave nothing behind in the WAL either.
  if (out.expired + approvals_expired + out.batches_deleted + out.results_deleted +
          out.inquiries_deleted + out.provisions_deleted + out.outbox_purged + out.codes_deleted +
          out.history_deleted + out.audit_pruned >
      0) {
    if (Status s = st->db->EraseFreed(); !s.ok()) {
      log::Error("linkage.erase_failed", {{"tenant", tenant.str()}, log::StatusField(s)});
      return s.WithContext("tenant " + tenant.str() +
                           ": swept, but the deleted data was not erased from its files");
    }
  }
  return out;
}

Result<std::vector<store::OutboxItem>> LinkageService::ClaimOutbox(const TenantId& tenant,
                                                                   std::string_view owner,
                                                                   int limit,
                                                                   std::chrono::seconds lease) {
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, State(tenant));
  auto items = std::make_shared<std::vector<store::OutboxItem>>();
  const std::string who(owner);
  store::Outbox* outbox = outbox_.get();
  // Safe to run twice: the claimed items are assigned, not appended.
  RETURN_IF_ERROR(st->Submit(
                        [outbox, items, who, limit, lease](store::Transaction& tx) -> Status {
                          ASSIGN_OR_RETURN(*items, outbox->Claim(tx, who, limit, lease));
                          return Status();
                        },
                        store::GroupCommitter::Rerun::kSafe)
                      .get());
  return std::move(*items);
}

}  // namespace chukan::server
