// Inquiries: the tenant's inquiries (情報照会, SKI) — made by an existing system, permitted by
// the hub (the courier records that), ended by the provider's answer, relayed by the hub, or by
// expiry — and the long polls (InquiryWaiters) woken when one ends. Rows are read and written
// through the inquiry table (inquiry_table.h), along InquiryState's transitions.
//
// Thread-safety: thread-safe.
#ifndef CHUKAN_SERVER_INQUIRIES_H_
#define CHUKAN_SERVER_INQUIRIES_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_log.h"
#include "common/ids.h"
#include "common/mutex.h"
#include "common/status.h"
#include "linkage/envelope.h"
#include "server/inquiry_table.h"
#include "server/inquiry_waiters.h"
#include "server/linkage_env.h"
#include "store/group_commit.h"

namespace chukan::server {

// The error of an inquiry for an atena_no that has no subject code (符号) yet
// (kFailedPrecondition with exactly this message): the batch result file tells it apart.
inline constexpr std::string_view kNoSubjectCodeMessage =
    "no subject code (符号) for this atena_no: register it first (POST /api/v1/codes)";

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
  // Who asked, as the batch file and the console give them (stored with the inquiry and shown
  // in its records): 情報照会者部署コード, 0–20 of [0-9A-Za-z], and 情報照会者ユーザーID, 0–32 of
  // [0-9A-Za-z._@-] (a staff login is at most 32). Empty: not given.
  std::string department;
  std::string user_id;
  // 照会側不開示: the record of this exchange is to be held back from the resident's view; carried
  // in the permit and recorded by both servers and the hub.
  bool non_disclosure = false;
  // 委任元 (delegating organisations): on whose behalf this tenant asks, and on whose behalf the
  // provider answers. The hub checks the permission list for them (docs/linkage.md).
  std::optional<OrgCode> inquirer_delegator;
  std::optional<OrgCode> provider_delegator;
};

class Inquiries {
 public:
  struct Options {
    std::chrono::seconds inquiry_timeout{3600};
    int waits_per_client = 16;
    int waits_total = 10'000;
    // Failed creates (CreateAsync) queued for a waiters' thread to finish; beyond it, BUSY.
    int settle_tasks = 1'000;
  };
  // `env` must outlive this.
  Inquiries(const LinkageEnv& env, Options options);
  // Waits for the writes CreateAsync started to complete (their completions use this object).
  ~Inquiries() EXCLUDES(async_mu_);

  // Stores the inquiry durably (state accepted) with its outbox entry and audit entry, and
  // returns at once. The same idempotency key returns the first inquiry. Errors:
  // kFailedPrecondition (no hub; no code for the atena_no: register it first), kNotFound
  // (unknown TM, version or procedure), kInvalidArgument (bad query, key or timeout),
  // kAlreadyExists IDEMPOTENCY_KEY_REUSED (the key was used for a different inquiry).
  Result<InquiryView> Create(const TenantId& tenant, const InquiryInput& input);
  // Create in two halves: the checks and the start of the durable write now (errors as
  // Create's, except those of the write), and a call that waits for the commit and returns the
  // inquiry (or the write's error). A batch starts many before it waits for any, so they share
  // commits. The pending call may be made on any thread, once.
  using PendingInquiry = std::function<Result<InquiryView>()>;
  Result<PendingInquiry> StartCreate(const TenantId& tenant, const InquiryInput& input);
  // Create holding no thread while the inquiry commits: calls `done` once with Create's answer.
  // Where: on the caller's thread for an error of the checks and for an idempotency key that
  // found the first inquiry; on the tenant's group committer's thread when the write succeeded
  // (then `done` must be quick and must not block on the committer: TenantContext::AuditThen,
  // not Audit); on one of the waiters' threads (InquiryWaiters::Post) when the write failed,
  // since finishing it blocks (it reads the inquiry of a raced idempotency key, or writes the
  // failure's audit entry). If no thread can take the failure (the server is stopping or too
  // many wait), `done` gets kUnavailable "BUSY: …" at once; a failure still queued at shutdown
  // drops `done` uncalled (a Responder it holds then answers 500). Never blocks on the commit.
  using Done = std::function<void(Result<InquiryView>)>;
  // An audit entry of the caller's (the API call's own, LinkageApi) appended in the inquiry's
  // write, after its inquiry.create entry, so that both commit in one durable commit. `written`
  // is set, on the thread that then calls `done`, when the write committed; when it stays
  // false (an error, an idempotency key that found the first inquiry) the caller writes the
  // entry itself. The write may run twice (Rerun::kSafe): `event` is only read.
  struct CallEntry {
    audit::AuditEvent event;
    bool written = false;
  };
  void CreateAsync(const TenantId& tenant, const InquiryInput& input, Done done,
                   std::shared_ptr<CallEntry> call = nullptr) EXCLUDES(async_mu_);
  // The inquiry with its unsealed result. kNotFound for an id of another tenant or none.
  Result<InquiryView> Get(const TenantId& tenant, const std::string& inquiry_id);
  // A long poll: calls `done` once, on one of the waiters' threads, with Get's answer as soon
  // as the inquiry is no longer open, or when `wait` has passed. Holds no thread meanwhile.
  // kResourceExhausted (and `done` is never called) beyond the waits' limits.
  Status Watch(const TenantId& tenant, const std::string& inquiry_id, const std::string& client,
               std::chrono::milliseconds wait, Done done);
  // kInvalidArgument for a limit outside 1–1000.
  Result<std::vector<InquiryView>> List(const TenantId& tenant,
                                        const std::optional<std::string>& state, int64_t since_us,
                                        int limit);

  // The provider's answer to one of the tenant's inquiries, relayed by the hub, in two halves:
  // the checks, the unsealing and the write handed to the group committer now (errors as
  // LinkageService::OnInquiryResult lists them), and a call that waits for the commit.
  using PendingStatus = std::function<Status()>;
  Result<PendingStatus> StartResult(const linkage::ProvisionResult& result);

  // Wakes the long polls of an inquiry that ended / of every inquiry (after a sweep), here and,
  // through the peers' function when one is set, on the other nodes sharing the store.
  void Changed(const std::string& inquiry_id) EXCLUDES(peers_mu_);
  void ChangedAll() EXCLUDES(peers_mu_);
  // How the other nodes are told of a change: called with an inquiry id, or "*" for every
  // inquiry. Must not block (PgBroadcast::Publish queues). Set before the service is used.
  void SetPeers(std::function<void(const std::string&)> publish) EXCLUDES(peers_mu_);
  // A change another node told of (an inquiry id, or "*"): wakes the long polls held here.
  // Anything else is ignored.
  void PeerChanged(std::string_view message);

 private:
  struct Started;  // an inquiry checked, its row made, its write not yet done (inquiries.cc)
  // The checks and the row of Create (no write yet); an idempotency key that finds the first
  // inquiry answers it in Started::first. Errors as Create's, except those of the write.
  Result<std::shared_ptr<Started>> Prepare(const TenantId& tenant, const InquiryInput& input);
  // The inquiry's durable write: the row, its outbox entry and its audit entry.
  // `call`, when set, is appended after the inquiry's own entry (CreateAsync).
  store::GroupCommitter::WriteFn WriteOf(const std::shared_ptr<Started>& started,
                                         std::shared_ptr<const CallEntry> call = nullptr);
  // After a successful write: the inquiry as stored, counted in the backlog and the sender
  // woken. Quick, does not block: runs on the committer's thread for CreateAsync.
  InquiryView Accepted(const Started& started);
  // After a failed write: the first inquiry when the same idempotency key raced in twice,
  // else `committed` (audited). Blocks (a read, TenantContext::Audit): never on the committer.
  Result<InquiryView> Settle(const Started& started, const Status& committed);
  void TellPeers(const std::string& message) EXCLUDES(peers_mu_);

  const LinkageEnv& env_;
  const Options options_;
  std::unique_ptr<InquiryWaiters> waiters_;  // reset first by the destructor
  Mutex async_mu_;
  CondVar async_idle_;
  int async_in_flight_ GUARDED_BY(async_mu_) = 0;  // CreateAsync writes not completed yet
  Mutex peers_mu_;
  std::function<void(const std::string&)> peers_ GUARDED_BY(peers_mu_);
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_INQUIRIES_H_
