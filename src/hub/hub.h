// Hub: the reference network hub (情報提供ネットワークシステム) — the request-time logic behind
// the /hub/v1 API, independent of HTTP so that tests drive it directly with a fake clock.
//
//   IssueCode        符号: a random 128-bit subject code per (person, organisation), stable; the
//                    person is known only by a keyed hash of the resident identifier.
//   RequestPermit    checks the permission list (deny by default; for the 委任元, delegating
//                    organisations, in place of the inquirer / provider when the request names
//                    them, each of which must be registered and active), translates the inquirer's
//                    code into the provider's, signs a provision permit (提供許可証), records it
//                    and queues its delivery to the provider — one durable commit; or records a
//                    refusal with its reason. Idempotent per (inquirer, reference).
//   AcceptProvision  verifies the provider's envelope against a live permit addressed to it,
//                    records the provision and queues the envelope, unopened, for the inquirer.
//   ListRecords      情報提供等記録: an organisation's own records only.
//   Sweep            purges records past retention (7 years at least), permits expired
//                    `permit_days` ago and delivered outbox items, in bounded transactions.
//
// State the hot paths need (the registry and the permission list) is cached in memory and
// reloaded by Refresh() when the database changes (the `chukan hub` admin commands write the
// database while the hub runs; the hub process calls Refresh() every second).
//
// Durability: every write goes through a GroupCommitter, so an answer is sent only after its
// state is durable, and many requests share one commit.
//
// Thread-safety: thread-safe.
#ifndef CHUKAN_HUB_HUB_H_
#define CHUKAN_HUB_HUB_H_

#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/mutex.h"
#include "common/status.h"
#include "crypto/ed25519.h"
#include "crypto/secret_bytes.h"
#include "hub/hub_config.h"
#include "hub/hub_store.h"
#include "layout/catalogue.h"
#include "linkage/envelope.h"
#include "linkage/permission_list.h"
#include "linkage/signed_document.h"
#include "store/group_commit.h"
#include "store/outbox.h"
#include "store/outbox_backlog.h"
#include "store/outbox_pump.h"
#include "store/tenant_store.h"

namespace chukan::hub {

// Outbox topics and the node paths they are delivered to.
inline constexpr std::string_view kTopicProvisionRequest = "provision-request";
inline constexpr std::string_view kTopicInquiryResult = "inquiry-result";
inline constexpr std::string_view kProvisionRequestPath = "/node/v1/provision-requests";
inline constexpr std::string_view kInquiryResultPath = "/node/v1/inquiry-results";
inline constexpr std::string_view kProvisionRequestBatchPath = "/node/v1/batch/provision-requests";
inline constexpr std::string_view kInquiryResultBatchPath = "/node/v1/batch/inquiry-results";

// The hub's keys, kept as files in the keys directory (crypto/key_file.h).
struct HubKeys {
  crypto::SigningKey signing;       // signs permits and the published permission list
  crypto::SecretBytes code_secret;  // keys the hash of resident identifiers
  crypto::SigningKey audit;         // signs audit checkpoints
};
// Loads the keys, creating missing ones when `create` (and writing hub-signing.pub, the hex
// public key that servers need to verify permits). kFailedPrecondition when missing and !create.
Result<HubKeys> LoadHubKeys(const HubConfig& config, bool create);

// Opens the hub's database (the store's platform database) from the configuration.
Result<std::shared_ptr<store::Database>> OpenHubDatabase(
    const HubConfig& config, std::unique_ptr<store::TenantStore>* owner);

// What an inquirer asks for (the body of POST /hub/v1/inquiries).
struct PermitRequest {
  OrgCode provider = OrgCode::Parse("0000000000000000").value();
  JtCode procedure = JtCode::Parse("JT00000000000000").value();
  TmCode tm = TmCode::Parse("TM00000000000000").value();
  std::string layout_version;
  SubjectCode subject = SubjectCode::Generate();  // the inquirer's own code for the person
  crypto::Bytes reply_key;                        // 32 bytes
  std::string reference;                          // the inquirer's reference, unique per inquirer
  std::map<std::string, std::string> query;       // query conditions, passed on in the permit
  bool non_disclosure = false;                    // 照会側不開示, passed on in the permit
  // 委任元: the organisations on whose behalf the inquirer asks and the provider answers. The
  // permission list is checked for them in place of the inquirer / provider; each must be a
  // registered, active organisation.
  std::optional<OrgCode> inquirer_delegator;
  std::optional<OrgCode> provider_delegator;
};

// Stable reason codes of a refusal (recorded, and returned to the inquirer).
inline constexpr std::string_view kNoPermissionList = "NO_PERMISSION_LIST";
inline constexpr std::string_view kUnknownTm = "UNKNOWN_TM";
inline constexpr std::string_view kUnknownLayoutVersion = "UNKNOWN_LAYOUT_VERSION";
inline constexpr std::string_view kUnknownProvider = "UNKNOWN_PROVIDER";
inline constexpr std::string_view kProviderDisabled = "PROVIDER_DISABLED";
inline constexpr std::string_view kNotPermitted = "NOT_PERMITTED";
inline constexpr std::string_view kUnknownSubject = "UNKNOWN_SUBJECT";
inline constexpr std::string_view kNoSubjectAtProvider = "NO_SUBJECT_AT_PROVIDER";
// A 委任元 that is not a registered, active organisation.
inline constexpr std::string_view kUnknownDelegator = "UNKNOWN_DELEGATOR";
// The permission list does not allow the exchange for the 委任元 (as the legal inquirer or
// provider) named in the request.
inline constexpr std::string_view kDelegatorNotPermitted = "DELEGATOR_NOT_PERMITTED";

struct PermitOutcome {
  bool permitted = false;
  std::optional<PermitId> permit_id;
  int64_t expires_at_ms = 0;
  // SHA-256 of the signed permit document (empty when the permit is gone): given to the
  // inquirer, which then knows the permit it will see again with the answer without verifying
  // the hub's signature a second time.
  crypto::Bytes permit_sha256;
  std::string reason;     // a refusal's reason code
  std::string message;    // a refusal's explanation, for people
  bool repeated = false;  // this reference had been answered before (nothing new recorded)
};

// One record of provision as its organisation sees it.
struct RecordView {
  int64_t id = 0;
  std::string role;         // "inquirer" or "provider"
  std::string counterpart;  // the other organisation's code
  std::string procedure;
  std::string tm;
  std::string layout_version;
  std::string subject_code;  // the caller's own code for the person ("" when unknown)
  std::string permit_id;     // "" for a refusal
  std::string reference;     // the inquirer's reference (inquirer's view only)
  int64_t requested_at_us = 0;
  std::optional<int64_t> provided_at_us;
  std::string outcome;  // "permitted", "provided" or "refused"
  std::string reason;   // refusal reason code
  // Not to be shown to the resident (a resident-facing view holds the record back): the TM or
  // its version is flagged 不開示 in the layout, or the inquirer asked for it.
  bool non_disclosure = false;
  bool inquirer_non_disclosure = false;  // 照会側不開示: the inquirer asked for it
  std::string inquirer_delegator;  // 情報照会者機関コード（委任元）; "" when none
  std::string provider_delegator;  // 情報提供者機関コード（委任元）; "" when none
};

struct SweepReport {
  int64_t records_purged = 0;
  int64_t permits_purged = 0;
  int64_t outbox_purged = 0;
  int64_t audit_pruned = 0;  // audit log entries older than audit_days
  int64_t batches = 0;       // transactions that deleted records or permits
};

class Hub {
 public:
  // `clock` must outlive the hub. Applies migrations, loads state.
  static Result<std::unique_ptr<Hub>> Open(const HubConfig& config,
                                           std::shared_ptr<store::Database> db, HubKeys keys,
                                           std::shared_ptr<const layout::Catalogue> catalogue,
                                           const Clock& clock = SystemClock::Get());
  ~Hub();

  // Maps a verified TLS client identity to its registered organisation.
  // Errors: kUnauthenticated (no certificate, no org code in it, not registered, or not the
  // registered certificate); kPermissionDenied (the organisation is disabled).
  Result<OrgRecord> Authenticate(const std::optional<OrgCode>& cert_org,
                                 const std::string& cert_sha256);

  // The caller's subject code for the person with `rid`, created on first request.
  Result<SubjectCode> IssueCode(const OrgCode& org, const ResidentId& rid);
  // As IssueCode, answered from the commit: `done` gets the code once it is durable, on the
  // group committer's thread (or an error, on the thread that found it); no thread of the
  // caller's waits. POST /hub/v1/codes runs on it, so that no request worker waits for a commit.
  using CodeDone = std::function<void(Result<SubjectCode>)>;
  void IssueCodeThen(const OrgCode& org, const ResidentId& rid, CodeDone done);

  // See the file comment. Errors (as Status) only for malformed requests (kInvalidArgument)
  // and storage failures; a refusal is an outcome.
  Result<PermitOutcome> RequestPermit(const OrgCode& inquirer, const PermitRequest& request);

  // Errors, each message starting with its reason code:
  //   kInvalidArgument   MALFORMED_ENVELOPE / ENVELOPE_MISMATCH (fields disagree with the permit)
  //   kNotFound          UNKNOWN_PERMIT (no such permit: forged or purged)
  //   kPermissionDenied  WRONG_PROVIDER (the permit is addressed to another provider)
  //   kUnauthenticated   BAD_SIGNATURE (not signed by the provider's registered key)
  //   kFailedPrecondition PERMIT_EXPIRED
  //   kAlreadyExists     ALREADY_PROVIDED (a different envelope for an answered permit: replay)
  // Re-sending the same envelope is accepted again (returns OK, nothing new recorded).
  Status AcceptProvision(const OrgCode& provider, const linkage::SignedDocument& envelope);

  // The two in halves, so that the items of a batch share one group commit: Start… checks and
  // signs and hands its write to the group committer (or fails at once with the errors above);
  // the returned call waits for that commit and gives the result.
  using PendingPermit = std::function<Result<PermitOutcome>()>;
  using PendingStatus = std::function<Status()>;
  Result<PendingPermit> StartRequestPermit(const OrgCode& inquirer, const PermitRequest& request);

  // As RequestPermit, but no thread waits for the permit's commit: `done` gets the outcome (or
  // the error RequestPermit would return) once the permit is durable, on the group committer's
  // thread — so it must be quick (hand the answer to a connection) and must not wait for another
  // commit. An outcome known without a commit of its own (an earlier answer for the reference, a
  // malformed request) is given to `done` on the caller's thread before this returns, and so is
  // a refusal, which is recorded first (this blocks for that commit: refusals are rare).
  using PermitDone = std::function<void(Result<PermitOutcome>)>;
  void RequestPermitThen(const OrgCode& inquirer, const PermitRequest& request, PermitDone done);
  // As AcceptProvision, the same way: `done` gets its status once the provision is durable, on
  // the group committer's thread; an error found before any write (the errors above) or a
  // re-sent envelope is given on the caller's thread before this returns.
  using StatusDone = std::function<void(Status)>;
  void AcceptProvisionThen(const OrgCode& provider, const linkage::SignedDocument& envelope,
                           StatusDone done);
  Result<PendingStatus> StartAcceptProvision(const OrgCode& provider,
                                             const linkage::SignedDocument& envelope);

  // The caller's records with id > after_id, oldest first, at most `limit` (1..1000). With
  // `resident_view`, only records that may be shown to the resident (non_disclosure false): what
  // a resident-facing view (自己情報表示) asks for.
  Result<std::vector<RecordView>> ListRecords(const OrgCode& org, int64_t after_id, int limit,
                                              bool resident_view = false);

  // The body of GET /hub/v1/permission-list (signed now or recently), and its entity tag: a
  // quoted hex prefix of the body's SHA-256, computed once per signing. A server that holds the
  // copy with that tag (If-None-Match) is answered 304 and keeps the copy it verified.
  // kFailedPrecondition when no list was ever loaded.
  struct PublishedListCopy {
    std::shared_ptr<const std::string> body;  // shared with the hub's copy: a 304 copies nothing
    std::string etag;
  };
  Result<PublishedListCopy> PublishedPermissionListCopy() EXCLUDES(mu_);
  Result<std::string> PublishedPermissionList() EXCLUDES(mu_);

  // A registered organisation (any state). kNotFound otherwise.
  Result<OrgRecord> FindOrg(const OrgCode& code);

  // Reloads the registry and the permission list if the database changed.
  Status Refresh() EXCLUDES(mu_);
  // Purges what retention allows; audited when anything was purged, and then erased from the
  // database's files (Database::EraseFreed; a failure is logged as "hub.erase_failed" and
  // returned). Blocks: the hub's housekeeping thread runs it.
  Result<SweepReport> Sweep();

  // The deliverer's pump, which must outlive the hub's use: a write that queues an outbox item
  // hands it over (store::OutboxHandoff), or adds it pending and wakes the pump. Unset: items
  // are added pending, for a pump that polls. nullptr: no pump (any more).
  void SetDeliveryPump(store::OutboxPump* pump) EXCLUDES(mu_);

  // Backpressure ([delivery] max_backlog, store::OutboxBacklog): OK while fewer messages than
  // the limit wait to be delivered, else kUnavailable "BUSY: …" — the permit routes answer 503
  // with Retry-After before they read the body. Never blocks (an io thread asks).
  Status AdmitPermit() const;
  // Counts the messages waiting (one bounded read): the hub process every 250 ms, so that what
  // other hub nodes queued and delivered is seen.
  Status RecountBacklog();
  // `n` messages were delivered (or ended) by this process's deliverer.
  void Delivered(int64_t n);

  // The signing keys of `org` that the inquirers are given (GET /hub/v1/orgs/{org}): not
  // disabled, and not ended before the oldest permit still valid was issued.
  std::vector<OrgKey> PublishedOrgKeys(const OrgCode& org) EXCLUDES(mu_);

  const crypto::VerifyKey& verify_key() const { return keys_.signing.verify_key(); }
  // Verifies the hub's audit checkpoints (`chukan audit verify --verify-key`).
  const crypto::VerifyKey& audit_verify_key() const { return keys_.audit.verify_key(); }
  HubStore& store() { return *store_; }
  store::Outbox& outbox() { return *outbox_; }
  const Clock& clock() const { return clock_; }
  store::GroupCommitter& committer() { return *committer_; }
  std::shared_ptr<store::Database> db() const { return db_; }

 private:
  struct Snapshot;
  Hub(const HubConfig& config, std::shared_ptr<store::Database> db, HubKeys keys,
      std::shared_ptr<const layout::Catalogue> catalogue, const Clock& clock);
  std::shared_ptr<const Snapshot> snapshot() const EXCLUDES(mu_);
  // The organisation's envelope-signing keys accepted now, from the loaded snapshot.
  std::vector<linkage::OrgVerifyKey> OrgSignKeys(const OrgCode& code) EXCLUDES(mu_);
  Result<PermitOutcome> Refuse(const OrgCode& inquirer, const PermitRequest& request,
                               std::string_view reason, std::string message, bool non_disclosure);
  Result<std::optional<PermitOutcome>> Previous(const OrgCode& inquirer,
                                                const std::string& reference);
  static Result<std::optional<PermitOutcome>> PreviousIn(store::Transaction& tx,
                                                         const OrgCode& inquirer,
                                                         const std::string& reference);
  // A permit request decided (StartRequestPermit's checks, signature and refusals): its outcome
  // when known without a write of its own, else the permit's write and its outcome once written.
  struct Decision;
  Result<Decision> Decide(const OrgCode& inquirer, const PermitRequest& request);
  // A provision checked (StartAcceptProvision's checks): a re-send, or its write.
  struct ProvisionDecision;
  Result<ProvisionDecision> DecideProvision(const OrgCode& provider,
                                            const linkage::SignedDocument& envelope);
  // What the hub knows of a request before deciding it, read in one statement (one round trip
  // on PostgreSQL): an earlier outcome for the same reference, and the subject's code at the
  // provider.
  struct Known {
    std::optional<PermitOutcome> previous;
    bool subject_known = false;                // the subject code is one of the inquirer's
    std::optional<std::string> provider_code;  // the same person's code at the provider
  };
  Result<Known> LookUp(const OrgCode& inquirer, const PermitRequest& request);
  Status Commit(store::GroupCommitter::WriteFn write);
  // For a write that queues an outbox item: the delivery pump's handoff, or one that adds the
  // item pending.
  std::shared_ptr<store::OutboxHandoff> HandOff() EXCLUDES(mu_);

  const HubConfig config_;
  std::shared_ptr<store::Database> db_;
  HubKeys keys_;
  std::shared_ptr<const layout::Catalogue> catalogue_;
  const Clock& clock_;
  std::unique_ptr<HubStore> store_;
  std::unique_ptr<store::Outbox> outbox_;
  std::unique_ptr<store::OutboxBacklog> backlog_;  // of outbox_, in db_
  std::unique_ptr<store::GroupCommitter> committer_;

  mutable Mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_ GUARDED_BY(mu_);
  store::OutboxPump* pump_ GUARDED_BY(mu_) = nullptr;
  struct PublishedList {
    int64_t version = 0;
    std::string stamp;
    TimePoint signed_at;
    std::shared_ptr<const std::string> body;
    std::string etag;
  };
  std::optional<PublishedList> published_ GUARDED_BY(mu_);
};

}  // namespace chukan::hub

#endif  // CHUKAN_HUB_HUB_H_
