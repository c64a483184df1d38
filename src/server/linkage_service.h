// LinkageService: the intermediate server's part of the linkage — codes (符号管理, FGU),
// inquiries (情報照会, SKI), provisions (情報提供, TKY) with the approval queue for 自動応答不可
// data, and the sweeps for expiry and retention. Transport-free: LinkageApi maps HTTP onto it,
// LinkageSender hands its outbox to the courier, which delivers it to the hub.
//
// A facade over the parts, each in files of its own:
//   subject_codes.h    subject_codes  subject_code ↔ atena_no (atena_no sealed; found by a keyed
//                      hash). The resident identifier used to obtain a code is never stored.
//   inquiries.h        inquiries      one row per inquiry (inquiry_table.h): its state
//                      (inquiry_state.h: accepted → permitted → completed, or refused, expired,
//                      failed), the per-inquiry X25519 secret sealed under the tenant's data key
//                      until the inquiry ends (then destroyed: forward secrecy), and the result,
//                      sealed under the data key, until retention deletes it; and the long polls.
//   provisions.h       provisions     one row per permit received: once-only use, the answer
//                      awaiting approval (sealed), the decision, and what was sent.
//   linkage_records.h  the records of provision, read from both tables.
//   linkage_courier.h  the hub-facing delivery of the outbox and the reading of the hub's answers.
// Every state change is one transaction, with its outbox entry when a message must go out,
// committed through the tenant's GroupCommitter (durable before it is acknowledged).
//
// Thread-safety: thread-safe.
#ifndef CHUKAN_SERVER_LINKAGE_SERVICE_H_
#define CHUKAN_SERVER_LINKAGE_SERVICE_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/mutex.h"
#include "common/status.h"
#include "layout/catalogue.h"
#include "layout/result_layout.h"
#include "linkage/envelope.h"
#include "linkage/signed_document.h"
#include "server/code_retention.h"
#include "server/hub_port.h"
#include "server/inquiries.h"
#include "server/linkage_courier.h"
#include "server/linkage_env.h"
#include "server/linkage_records.h"
#include "server/platform.h"
#include "server/provisions.h"
#include "server/subject_codes.h"
#include "store/outbox.h"

namespace chukan::server {

struct LinkageSweep {
  int64_t expired = 0;             // inquiries that ran out of time
  int64_t results_deleted = 0;     // results past retention
  int64_t batches_deleted = 0;     // batch files (their lines) past retention
  int64_t inquiries_deleted = 0;   // inquiry rows past records_days
  int64_t provisions_deleted = 0;  // provision rows past records_days
  int64_t codes_checked = 0;       // subject codes examined (CodeRetention)
  int64_t codes_deleted = 0;       // subject codes nothing needs any more
  int64_t outbox_purged = 0;       // delivered and dead outbox items past their time
  int64_t history_deleted = 0;     // 副本 versions superseded more than records_days ago
  int64_t audit_pruned = 0;        // audit log entries older than audit_days
};

class LinkageService {
 public:
  struct Options {
    std::chrono::seconds inquiry_timeout{3600};
    int64_t result_days = 30;
    // Retention of the rows ([retention] in the server's configuration; docs/linkage.md
    // "Expiry and retention"): inquiry and provision rows (the records of provision), subject
    // codes, dead outbox items.
    int64_t records_days = 2557;
    int64_t code_days = 365;
    int64_t dead_days = 30;
    // The tenant's audit log entries ([retention] audit_days), pruned up to a signed checkpoint.
    int64_t audit_days = 2557;
    // Rows deleted per kind per sweep, each kind in a transaction of its own: a backlog drains
    // over several sweeps without holding the tenant's writes up.
    int64_t delete_batch = 10'000;
    // Subject codes examined per sweep while a walk is under way, and how often a walk starts
    // (CodeRetention).
    int64_t code_checks = 1000;
    Duration code_walk_interval = std::chrono::hours(24);
    store::OutboxOptions outbox;
    // Long polls (WatchInquiry): per client and in all.
    int waits_per_client = 16;
    int waits_total = 10'000;
    // Failed creates of CreateInquiryAsync queued to be finished (Inquiries::Options).
    int settle_tasks = 1'000;
    // The inquiry result file's layouts; null: the defaults built from the catalogue.
    std::shared_ptr<const layout::ResultLayouts> result_layouts;
  };

  // `hub` may be null (no linkage configured: every linkage call fails with
  // kFailedPrecondition). All must outlive the service.
  LinkageService(Platform& platform, std::shared_ptr<const layout::Catalogue> catalogue,
                 HubPort* hub, Options options, const Clock& clock = SystemClock::Get());
  ~LinkageService();

  // FGU: asks the hub for the tenant's code of the person and keeps atena_no ↔ code.
  // Re-registering the same pair only renews its registration time; kAlreadyExists when the
  // atena_no already has another code or the code another atena_no.
  Result<SubjectCode> RegisterCode(const TenantId& tenant, const AtenaNo& atena,
                                   const ResidentId& rid);

  // SKI: stores the inquiry durably (state accepted) with its outbox entry and returns at once.
  // The same idempotency key returns the first inquiry. Errors: kFailedPrecondition (no code
  // for the atena_no: register it first), kNotFound (unknown TM or version),
  // kInvalidArgument (bad query).
  Result<InquiryView> CreateInquiry(const TenantId& tenant, const InquiryInput& input);
  // The same in two halves (Inquiries::StartCreate): many started before any is waited for
  // share durable commits (the batch file).
  using PendingInquiry = Inquiries::PendingInquiry;
  Result<PendingInquiry> StartCreateInquiry(const TenantId& tenant, const InquiryInput& input);
  // The same holding no thread while the inquiry commits (Inquiries::CreateAsync: where `done`
  // is called and what it must not do).
  using InquiryDone = std::function<void(Result<InquiryView>)>;
  // `call`: the API call's own audit entry, written in the inquiry's write (Inquiries::CallEntry).
  void CreateInquiryAsync(const TenantId& tenant, const InquiryInput& input, InquiryDone done,
                          std::shared_ptr<Inquiries::CallEntry> call = nullptr);
  // kNotFound for an id of another tenant or none.
  Result<InquiryView> GetInquiry(const TenantId& tenant, const std::string& inquiry_id);
  // A long poll, so that existing systems need not poll in a loop: calls `done` once, on one
  // of the waiters' threads, with GetInquiry's answer as soon as the inquiry is no longer open
  // (accepted or permitted), or when `wait` has passed. Holds no thread meanwhile.
  // Errors (then `done` is never called): kResourceExhausted when `client` already has
  // Options::waits_per_client long polls waiting, or the server Options::waits_total.
  Status WatchInquiry(const TenantId& tenant, const std::string& inquiry_id,
                      const std::string& client, std::chrono::milliseconds wait, InquiryDone done);
  Result<std::vector<InquiryView>> ListInquiries(const TenantId& tenant,
                                                 const std::optional<std::string>& state,
                                                 int64_t since_us, int limit);

  // TKY, from the hub (node endpoint). Returns "answered", "awaiting_approval" or "refused"
  // (the local permission-list copy does not allow it: the inquirer is told so in a sealed
  // {"status":"refused","reason":"NOT_PERMITTED_LOCALLY"} answer).
  // Errors, each message starting with its reason code:
  //   kUnauthenticated    BAD_PERMIT_SIGNATURE (forged or tampered)
  //   kFailedPrecondition PERMIT_EXPIRED
  //   kPermissionDenied   MISDIRECTED_PERMIT (not addressed to a tenant of this server)
  //   kAlreadyExists      PERMIT_ALREADY_USED (a replay)
  //   kUnavailable        NO_PERMISSION_LIST (no valid copy: try again later)
  //   kInvalidArgument    MALFORMED_PERMIT
  Result<std::string> OnProvisionRequest(const linkage::SignedDocument& permit);

  // SKI completion, from the hub (node endpoint). OK also for a repeated delivery.
  // Errors, each message starting with its reason code:
  //   kUnauthenticated    BAD_PERMIT_SIGNATURE / BAD_ENVELOPE_SIGNATURE
  //   kPermissionDenied   MISDIRECTED_RESULT
  //   kNotFound           UNKNOWN_INQUIRY
  //   kFailedPrecondition INQUIRY_ENDED (expired, refused or failed before the answer came)
  //   kInvalidArgument    SEALED_TO_WRONG_KEY / ENVELOPE_MISMATCH / MALFORMED_RESULT
  Status OnInquiryResult(const linkage::ProvisionResult& result);

  // The two node endpoints in two halves, so that the items of a batch share one group commit:
  // Start… checks, builds and seals, and hands its write to the tenant's group committer (or
  // fails at once with the errors above); the returned call waits for that commit and gives
  // the outcome. On…(x) is Start…(x) followed by the call.
  using PendingOutcome = Provisions::PendingOutcome;
  using PendingStatus = Inquiries::PendingStatus;
  Result<PendingOutcome> StartProvisionRequest(const linkage::SignedDocument& permit);
  Result<PendingStatus> StartInquiryResult(const linkage::ProvisionResult& result);

  // The tenant's records of provision with at_us > after_us, oldest first, at most `limit`
  // (1–1000) of each role. kInvalidArgument for a bad limit.
  Result<std::vector<RecordEntry>> ListRecords(const TenantId& tenant, int64_t after_us, int limit);

  // The approval queue (自動応答不可).
  Result<std::vector<ApprovalView>> ListApprovals(const TenantId& tenant);
  // Approve: the stored answer is sealed and sent. Reject: the inquirer is told it was
  // rejected (with the comment). kNotFound when no such permit awaits approval.
  Status DecideApproval(const TenantId& tenant, const PermitId& permit, bool approve,
                        const std::string& comment, const std::string& actor);

  // Runs expiry and retention for one tenant (each deletion in bounded batches); audited, with
  // counts, when it changed something. When it
  // deleted anything, it then erases it from the tenant's files (Database::EraseFreed); a
  // failed erase is logged ("linkage.erase_failed") and returned. Blocks: not for an I/O
  // thread (the server's housekeeping thread runs it).
  Result<LinkageSweep> Sweep(const TenantId& tenant);

  // The tenant's context (Platform::Tenant: checked against the registry on every call).
  Result<std::shared_ptr<TenantContext>> State(const TenantId& tenant);

  // The hub-facing delivery of the outbox (LinkageSender hands it the claimed items).
  LinkageCourier& courier() { return *courier_; }

  store::Outbox& outbox() { return *outbox_; }
  // Claims due outbox items of `tenant` (store::Outbox::Claim) through the tenant's group
  // committer, so that the claim shares a durable commit with the writes around it; returns
  // once that commit is done.
  Result<std::vector<store::OutboxItem>> ClaimOutbox(const TenantId& tenant, std::string_view owner,
                                                     int limit, std::chrono::seconds lease);
  const layout::Catalogue& catalogue() const { return *env_.catalogue; }
  // The inquiry result file's layouts (the batch result file).
  const layout::ResultLayouts& result_layouts() const { return *result_layouts_; }
  // The context of an active tenant (Platform::Tenant).
  Result<std::shared_ptr<TenantContext>> Tenant(const TenantId& tenant) const {
    return env_.Tenant(tenant);
  }
  // Appends one entry to the tenant's audit log through the tenant's group committer (durable
  // when it returns; concurrent entries share a commit). Failures are logged.
  void AuditCall(const TenantId& tenant, const audit::AuditEvent& event);
  // The hub link (null when no hub is configured).
  HubPort* hub() { return env_.hub; }
  // Now, by the service's clock (Unix microseconds).
  int64_t NowUs() const { return env_.NowUs(); }
  // The pump delivering the tenants' outboxes (LinkageSender's), which must outlive the
  // service's use: a write that queues an item hands it over (store::OutboxHandoff), or adds it
  // pending and wakes the pump. nullptr: no pump (any more).
  void SetPump(store::OutboxPump* pump) EXCLUDES(mu_);
  // Without a pump (tests): called after a commit that queued an outbox item.
  void SetNotifier(std::function<void()> notify) EXCLUDES(mu_);
  // The other nodes sharing the store (Inquiries::SetPeers / PeerChanged): told when an
  // inquiry ends here, and telling when one ended there, so that a long poll is answered on
  // whichever node holds it.
  void SetPeers(std::function<void(const std::string&)> publish) {
    inquiries_.SetPeers(std::move(publish));
  }
  void PeerChanged(std::string_view message) { inquiries_.PeerChanged(message); }

 private:
  void Notify() EXCLUDES(mu_);
  // LinkageEnv::hand_off: the pump's handoff, or without a pump one that calls Notify.
  std::shared_ptr<store::OutboxHandoff> HandOff(const TenantId& tenant) EXCLUDES(mu_);

  const Options options_;
  std::shared_ptr<const layout::ResultLayouts> result_layouts_;
  std::unique_ptr<store::Outbox> outbox_;
  const LinkageEnv env_;
  SubjectCodes codes_;
  Inquiries inquiries_;
  Provisions provisions_;
  CodeRetention code_retention_;
  std::unique_ptr<LinkageCourier> courier_;
  Mutex mu_;
  std::function<void()> notify_ GUARDED_BY(mu_);
  store::OutboxPump* pump_ GUARDED_BY(mu_) = nullptr;
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_LINKAGE_SERVICE_H_
