// Provisions: the tenant's side as provider (情報提供, TKY) — a permit from the hub is checked
// (the hub's signature, expiry, the local copy of the permission list), used once, answered
// from the replicas (副本) and sealed to the inquirer's reply key — and the approval queue for
// answers that may not go out unattended (自動応答不可: the answer waits, sealed under the data
// key, until staff approve or reject it, or its permit expires). One row per permit received in
// the tenant's `provisions` table; the sealed envelope goes to the hub through the outbox.
//
// Thread-safety: thread-safe.
#ifndef CHUKAN_SERVER_PROVISIONS_H_
#define CHUKAN_SERVER_PROVISIONS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "linkage/permit.h"
#include "linkage/signed_document.h"
#include "replica/replica_store.h"
#include "server/linkage_env.h"
#include "server/subject_codes.h"
#include "store/database.h"

namespace chukan::server {

struct ApprovalView {
  std::string permit_id;
  std::string inquirer;
  std::string procedure;
  std::string tm;
  std::string layout_version;
  int64_t received_at_us = 0;
  std::string answer_json;  // exactly what will be sealed and sent if approved
};

// 住民票関係情報 (the 住民基本台帳 information) and its 世帯番号 item in chukan's catalogue
// (data/layout/tm_jumin.toml): a household (世帯) is every resident whose current record of this
// TM has the person's 世帯番号 (docs/replica.md "Household").
inline constexpr std::string_view kHouseholdTm = "TM90000000000101";
inline constexpr std::string_view kHouseholdNoItem = "IT00010100000009";
// More members than this in one household is refused (a 世帯番号 shared by so many records is
// a data error, and the answer would be unbounded).
inline constexpr size_t kMaxHouseholdMembers = 100;

// Whether one version of a record answers a permit's conditions (照会条件): its layout version is
// `layout_version`; every item condition holds (string equality); with a period, the version's
// publication window (公開開始日–公開終了日, an empty bound open) overlaps it — for a superseded
// version without 公開終了日, `superseded_day` (YYYY-MM-DD, Japan time; "" for a current record)
// closes the window; with a fiscal item, the record's value of that item is a 4-digit fiscal
// year within the period's fiscal years. Pure; thread-safe.
bool VersionAnswers(const layout::LayoutVersion& version, const replica::Record& record,
                    const linkage::QueryConditions& conditions, std::string_view superseded_day);

class Provisions {
 public:
  // `env` and `codes` must outlive this.
  Provisions(const LinkageEnv& env, const SubjectCodes& codes) : env_(env), codes_(codes) {}

  // A permit from the hub, in two halves: the checks, the answer and its sealing now (errors as
  // LinkageService::OnProvisionRequest lists them), the write handed to the tenant's group
  // committer; the returned call waits for that commit and gives the outcome ("answered",
  // "awaiting_approval" or "refused") or kAlreadyExists PERMIT_ALREADY_USED for a replay.
  using PendingOutcome = std::function<Result<std::string>()>;
  Result<PendingOutcome> StartRequest(const linkage::SignedDocument& permit);

  // Answers awaiting a decision, oldest first (at most 1000), with their unsealed answers.
  Result<std::vector<ApprovalView>> ListApprovals(const TenantId& tenant);
  // Approve: the stored answer is sealed and sent. Reject: the inquirer is told it was
  // rejected (with the comment). Errors: kNotFound when no such permit awaits approval,
  // kFailedPrecondition PERMIT_EXPIRED (the provision is marked expired; nothing is sent),
  // kInvalidArgument for a comment over 1000 bytes or not UTF-8.
  Status DecideApproval(const TenantId& tenant, const PermitId& permit, bool approve,
                        const std::string& comment, const std::string& actor);

  // The answer in layout terms for `permit`, from the tenant's replicas (docs/linkage.md
  // "Answers"): {"tm", "layout_version", "records": [{item: value}…], "status": "ok" | "no_data"}
  // — or, for the household scope, "scope": "household" and "members": [{"self": bool,
  // "records": […]}…] (the person first) instead of "records". Without a period, current records
  // only; with one, current and superseded versions (VersionAnswers). Errors: from the store;
  // kFailedPrecondition HOUSEHOLD_TOO_LARGE (more than kMaxHouseholdMembers members: 412 to the
  // hub, which does not retry; the inquiry ends by its timeout).
  Result<std::string> BuildAnswer(TenantContext& st, const linkage::ProvisionPermit& permit);
  // `answer_json` sealed to the permit's reply key in an envelope signed by the tenant: the
  // body the courier sends to the hub.
  Result<std::string> SealedEnvelopeBody(TenantContext& st, const linkage::ProvisionPermit& permit,
                                         std::string_view answer_json);

 private:
  const LinkageEnv& env_;
  const SubjectCodes& codes_;
};

// Undecided provisions whose permits expired by `now_us` → expired (the answer is dropped).
// Returns how many. In the caller's transaction.
Result<int64_t> ExpireApprovals(store::Transaction& tx, int64_t now_us);
// Whether ExpireApprovals(now_us) would change anything.
Result<bool> ApprovalsDue(store::Transaction& tx, int64_t now_us);
// Deletes the rows of provisions received at or before `cutoff_us` that are final (never one
// still awaiting approval), oldest first, at most `limit`; returns how many. The rows are the
// provider's side of the records of provision (情報提供等記録). A permit whose row went cannot be
// used again anyway: its expiry (days) passed long before, and VerifiedPermit refuses it
// (PERMIT_EXPIRED) before the once-only check on this table. In the caller's transaction.
Result<int64_t> DeleteFinalProvisions(store::Transaction& tx, int64_t cutoff_us, int64_t limit);
// Whether DeleteFinalProvisions(cutoff_us) would delete anything (an index seek).
Result<bool> FinalProvisionsDue(store::Transaction& tx, int64_t cutoff_us);
// What the hub said to a provision's envelope: taken (sent at `now_us`), or refused with
// `reason` (state send_failed). In the caller's transaction.
Status MarkProvisionSent(store::Transaction& tx, const std::string& permit_id, int64_t now_us);
Status MarkProvisionSendFailed(store::Transaction& tx, const std::string& permit_id,
                               const std::string& reason);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_PROVISIONS_H_
