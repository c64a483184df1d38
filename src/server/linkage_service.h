// LinkageService: the intermediate server's part of the linkage — codes (符号管理, FGU),
// inquiries (情報照会, SKI), provisions (情報提供, TKY) with the approval queue for 自動応答不可
// data, and the sweeps for expiry and retention. Transport-free: LinkageApi maps HTTP onto it,
// LinkageSender delivers its outbox to the hub.
//
// Per tenant (in the tenant's own database, component "linkage"):
//   subject_codes  subject_code ↔ atena_no (atena_no sealed; found by a keyed hash). The
//                  resident identifier used to obtain a code is never stored.
//   inquiries      one row per inquiry: state (accepted → permitted → completed, or refused,
//                  expired, failed), the per-inquiry X25519 secret sealed under the tenant's
//                  data key until the inquiry ends (then destroyed: forward secrecy), and the
//                  result, sealed under the data key, until retention deletes it.
//   provisions     one row per permit received: once-only use, the answer awaiting approval
//                  (sealed), the decision, and what was sent.
// Every state change is one transaction, with its outbox entry when a message must go out,
// committed through the tenant's GroupCommitter (durable before it is acknowledged).
//
// Thread-safety: thread-safe.
#ifndef CHUKAN_SERVER_LINKAGE_SERVICE_H_
#define CHUKAN_SERVER_LINKAGE_SERVICE_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "layout/catalogue.h"
#include "linkage/envelope.h"
#include "linkage/permit.h"
#include "replica/replica_store.h"
#include "server/hub_link.h"
#include "server/inquiry_waiters.h"
#include "server/linkage_schema.h"
#include "server/platform.h"
#include "store/group_commit.h"
#include "store/migrations.h"
#include "store/outbox.h"

namespace chukan::server {

// Outbox topics of the server (tenant databases).
inline constexpr std::string_view kTopicPermitRequest = "permit-request";
inline constexpr std::string_view kTopicProvision = "provision";

struct InquiryInput {
  AtenaNo atena = AtenaNo::Parse("000000000000000").value();
  JtCode procedure = JtCode::Parse("JT00000000000000").value();
  TmCode tm = TmCode::Parse("TM00000000000000").value();
  std::string layout_version;  // empty: the version valid today
  OrgCode provider = OrgCode::Parse("0000000000000000").value();
  std::map<std::string, std::string> query;  // 照会条件: item code → value
  std::string idempotency_key;               // optional, ≤ 128 bytes
  // How long to wait for the answer; 0: the server's [inquiry] timeout_seconds, which is
  // also the upper bound.
  int64_t timeout_seconds = 0;
  std::string client;  // the existing system's name (audit)
};

struct InquiryView {
  std::string inquiry_id;  // 処理通番
  std::string state;       // accepted, permitted, completed, refused, expired, failed
  std::string reason;      // refusal / failure reason code
  std::string provider;
  std::string procedure;
  std::string tm;
  std::string layout_version;
  std::string permit_id;
  int64_t created_at_us = 0;
  std::optional<int64_t> permitted_at_us;
  std::optional<int64_t> ended_at_us;
  int64_t expires_at_us = 0;
  // The answer in layout terms (JSON text), when completed and not yet deleted by retention.
  std::optional<std::string> result_json;
  bool result_deleted = false;
};

struct ApprovalView {
  std::string permit_id;
  std::string inquirer;
  std::string procedure;
  std::string tm;
  std::string layout_version;
  int64_t received_at_us = 0;
  std::string answer_json;  // exactly what will be sealed and sent if approved
};

// One entry of the tenant's records of provision (情報提供等記録), from its own tables: as
// inquirer (one per inquiry) or as provider (one per permit received).
struct RecordEntry {
  std::string role;         // "inquirer" or "provider"
  std::string id;           // inquiry_id (inquirer) or permit_id (provider)
  std::string permit_id;    // empty until permitted (inquirer)
  std::string counterpart;  // the other organisation's code
  std::string procedure;    // 事務手続コード
  std::string tm;           // 特定個人情報名コード
  std::string layout_version;
  std::string subject_code;  // this tenant's code of the person (符号)
  std::string state;         // the inquiry's or the provision's state
  std::string reason;
  std::string decided_by;              // provider, 自動応答不可: the approver
  int64_t at_us = 0;                   // created (inquirer) or received (provider)
  std::optional<int64_t> ended_at_us;  // ended (inquirer) or sent/decided (provider)
  bool non_disclosure = false;  // 不開示: the TM is flagged not to be shown to the resident
};

struct LinkageSweep {
  int64_t expired = 0;          // inquiries that ran out of time
  int64_t results_deleted = 0;  // results past retention
};

class LinkageService {
 public:
  struct Options {
    std::chrono::seconds inquiry_timeout{3600};
    int64_t result_days = 30;
    store::OutboxOptions outbox;
    // Long polls (WatchInquiry): per client and in all.
    int waits_per_client = 16;
    int waits_total = 10'000;
  };

  // `hub` may be null (no linkage configured: every linkage call fails with
  // kFailedPrecondition). All must outlive the service.
  LinkageService(Platform& platform, std::shared_ptr<const layout::Catalogue> catalogue,
                 HubLink* hub, Options options, const Clock& clock = SystemClock::Get());
  ~LinkageService();

  // FGU: asks the hub for the tenant's code of the person and keeps atena_no ↔ code.
  // Re-registering the same pair is a no-op; kAlreadyExists when the atena_no already has
  // another code or the code another atena_no.
  Result<SubjectCode> RegisterCode(const TenantId& tenant, const AtenaNo& atena,
                                   const ResidentId& rid);

  // SKI: stores the inquiry durably (state accepted) with its outbox entry and returns at once.
  // The same idempotency key returns the first inquiry. Errors: kFailedPrecondition (no code
  // for the atena_no: register it first), kNotFound (unknown TM or version),
  // kInvalidArgument (bad query).
  Result<InquiryView> CreateInquiry(const TenantId& tenant, const InquiryInput& input);
  // kNotFound for an id of another tenant or none.
  Result<InquiryView> GetInquiry(const TenantId& tenant, const std::string& inquiry_id);
  // A long poll, so that existing systems need not poll in a loop: calls `done` once, on one
  // of the waiters' threads, with GetInquiry's answer as soon as the inquiry is no longer open
  // (accepted or permitted), or when `wait` has passed. Holds no thread meanwhile.
  // Errors (then `done` is never called): kResourceExhausted when `client` already has
  // Options::waits_per_client long polls waiting, or the server Options::waits_total.
  using InquiryDone = std::function<void(Result<InquiryView>)>;
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
  using PendingOutcome = std::function<Result<std::string>()>;
  using PendingStatus = std::function<Status()>;
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

  // Runs expiry and retention for one tenant; audited when it changed something.
  Result<LinkageSweep> Sweep(const TenantId& tenant);

  // The tenant's context (Platform::Tenant: checked against the registry on every call).
  Result<std::shared_ptr<TenantContext>> State(const TenantId& tenant);

  // Handles claimed outbox items of `tenant`, all of one topic: sends them to the hub — alone
  // to the single-item route, several in one request to the batch route
  // (/hub/v1/batch/inquiries or /hub/v1/batch/provisions) — and records each outcome together
  // with the item's acknowledgement or failure (the records share group commits). A batch the
  // hub does not take as a whole (no answer, 5xx, any other status for the batch) is retried
  // item by item later; 404/405 for the batch route makes it send the items one by one.
  Status Deliver(const TenantId& tenant, const std::vector<store::OutboxItem>& items,
                 const std::string& owner);

  store::Outbox& outbox() { return *outbox_; }
  // Claims due outbox items of `tenant` (store::Outbox::Claim) through the tenant's group
  // committer, so that the claim shares a durable commit with the writes around it; returns
  // once that commit is done.
  Result<std::vector<store::OutboxItem>> ClaimOutbox(const TenantId& tenant, std::string_view owner,
                                                     int limit, std::chrono::seconds lease);
  const layout::Catalogue& catalogue() const { return *catalogue_; }
  // Appends one entry to the tenant's audit log through the tenant's group committer (durable
  // when it returns; concurrent entries share a commit). Failures are logged.
  void AuditCall(const TenantId& tenant, const audit::AuditEvent& event);
  // The hub link (null when no hub is configured).
  HubLink* hub() { return hub_; }
  // Called after a commit that queued outbox items.
  void SetNotifier(std::function<void()> notify);

 private:
  Status Commit(TenantContext& st, store::GroupCommitter::WriteFn write);
  void Notify();
  void Audit(TenantContext& st, const std::string& actor, const std::string& action,
             const std::string& target, const std::string& outcome);
  void AuditAppend(TenantContext& st, const audit::AuditEvent& event);
  Result<std::string> BuildAnswer(TenantContext& st, const linkage::ProvisionPermit& permit);
  Result<std::string> SealedEnvelopeBody(TenantContext& st, const linkage::ProvisionPermit& permit,
                                         std::string_view answer_json);

  Platform& platform_;
  std::shared_ptr<const layout::Catalogue> catalogue_;
  HubLink* hub_;
  const Options options_;
  const Clock& clock_;
  std::unique_ptr<store::Outbox> outbox_;
  std::mutex mu_;
  std::function<void()> notify_;  // GUARDED_BY(mu_)
  // Long polls, woken when an inquiry ends (or all of them, after a sweep changed some).
  void Changed(const std::string& inquiry_id);
  void ChangedAll();
  std::unique_ptr<InquiryWaiters> waiters_;
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_LINKAGE_SERVICE_H_
