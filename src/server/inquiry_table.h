// The inquiry table: the rows of the tenant's inquiries (情報照会, table `inquiries`), read into
// InquiryView and changed only along the transitions InquiryState allows — every state update's
// WHERE clause names the states its target may be reached from (inquiry_state.h), so a row in a
// final state is never changed again, however late a message arrives.
//
// Each function runs inside the caller's transaction; none commits.
//
// Thread-safety: stateless functions.
#ifndef CHUKAN_SERVER_INQUIRY_TABLE_H_
#define CHUKAN_SERVER_INQUIRY_TABLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "crypto/bytes.h"
#include "server/inquiry_state.h"
#include "store/database.h"

namespace chukan::server {

struct InquiryView {
  std::string inquiry_id;  // 処理通番
  std::string state;       // InquiryStateName: accepted, permitted, completed, refused, …
  std::string reason;      // refusal / failure reason code
  std::string provider;
  std::string procedure;
  std::string tm;
  std::string layout_version;
  std::string permit_id;
  std::string department;          // 情報照会者部署コード; empty: none given
  std::string user_id;             // 情報照会者ユーザーID; empty: none given
  bool non_disclosure = false;     // 照会側不開示, as the inquiry asked
  std::string inquirer_delegator;  // 情報照会者機関コード（委任元）; empty: none
  std::string provider_delegator;  // 情報提供者機関コード（委任元）; empty: none
  int64_t created_at_us = 0;
  std::optional<int64_t> permitted_at_us;
  std::optional<int64_t> ended_at_us;
  int64_t expires_at_us = 0;
  // The answer in layout terms (JSON text), when completed and not yet deleted by retention.
  std::optional<std::string> result_json;
  bool result_deleted = false;
};

// A row as stored, for a new inquiry (state accepted).
struct NewInquiry {
  std::string inquiry_id;
  std::string idempotency_key;  // empty: none
  std::string client;
  std::string department;  // empty: none
  std::string user_id;     // empty: none
  bool non_disclosure = false;
  std::string inquirer_delegator;  // empty: none
  std::string provider_delegator;  // empty: none
  std::string subject_code;
  std::string procedure;
  std::string tm;
  std::string layout_version;
  std::string provider;
  std::string query_json;
  crypto::Bytes reply_public;
  crypto::Bytes reply_secret_sealed;
  int64_t created_at_us = 0;
  int64_t expires_at_us = 0;
  std::string request_hash;
};
Status InsertInquiry(store::Transaction& tx, const NewInquiry& row);

// The inquiry stored under an idempotency key, with the hash of the request it was made for
// (null for rows older than that column).
struct IdempotentInquiry {
  std::string inquiry_id;
  std::optional<std::string> request_hash;
};
Result<std::optional<IdempotentInquiry>> FindInquiryByKey(store::Transaction& tx,
                                                          const std::string& idempotency_key);

// One inquiry (result_json unset) and its sealed result, if any; nullopt when there is none.
struct StoredInquiry {
  InquiryView view;
  std::optional<crypto::Bytes> sealed_result;
};
Result<std::optional<StoredInquiry>> ReadInquiry(store::Transaction& tx,
                                                 const std::string& inquiry_id);
// Inquiries created at or after `since_us` (and in `state`, when given), oldest first, at most
// `limit`; result_json unset.
Result<std::vector<InquiryView>> ReadInquiries(store::Transaction& tx,
                                               const std::optional<std::string>& state,
                                               int64_t since_us, int64_t limit);

// What a permit request to the hub is built from.
struct PermitRequestRow {
  std::string state;
  std::string provider;
  std::string procedure;
  std::string tm;
  std::string layout_version;
  std::string subject_code;
  crypto::Bytes reply_public;
  std::string query_json;
  bool non_disclosure = false;
  std::string inquirer_delegator;  // empty: none
  std::string provider_delegator;  // empty: none
};
Result<std::optional<PermitRequestRow>> ReadPermitRequest(store::Transaction& tx,
                                                          const std::string& inquiry_id);

// What checking an answer needs: the state, the permit, the reply key and the hub's digest of
// the permit (each null until known).
struct InquiryKeys {
  std::string state;
  std::optional<std::string> permit_id;
  std::optional<crypto::Bytes> reply_secret_sealed;
  crypto::Bytes reply_public;
  std::optional<crypto::Bytes> permit_sha256;
};
Result<std::optional<InquiryKeys>> ReadInquiryKeys(store::Transaction& tx,
                                                   const std::string& inquiry_id);

// accepted → permitted, with the hub's permit id and its digest (null when the hub gave none).
// Returns whether the row changed (false: not accepted any more, or no such inquiry).
Result<bool> MarkInquiryPermitted(store::Transaction& tx, const std::string& inquiry_id,
                                  const std::string& permit_id,
                                  const std::optional<crypto::Bytes>& permit_sha256,
                                  int64_t now_us);
// accepted → `to` (refused or failed: the hub would not issue a permit); the reply key is
// destroyed. Returns whether the row changed. kInvalidArgument when `to` is not a state an
// accepted inquiry may end in.
Result<bool> EndUnpermittedInquiry(store::Transaction& tx, const std::string& inquiry_id,
                                   InquiryState to, const std::string& reason, int64_t now_us);
// accepted or permitted → `to` (completed, or refused by the provider) with the sealed answer;
// the reply key is destroyed. Returns whether the row changed (false: it ended meanwhile).
// kInvalidArgument when `to` is not a final state.
Result<bool> EndAnsweredInquiry(store::Transaction& tx, const std::string& inquiry_id,
                                InquiryState to, const std::string& reason,
                                const crypto::Bytes& sealed_result, const std::string& permit_id,
                                int64_t now_us);
// Open inquiries whose time ran out by `now_us` → expired (reason NO_ANSWER). Returns how many.
Result<int64_t> ExpireInquiries(store::Transaction& tx, int64_t now_us);
// Deletes the results and remaining reply keys of inquiries that ended at or before
// `cutoff_us`. Returns how many rows changed.
Result<int64_t> DeleteInquiryResults(store::Transaction& tx, int64_t cutoff_us);
// Whether ExpireInquiries(now_us) or DeleteInquiryResults(cutoff_us) would change anything.
Result<bool> InquiriesDue(store::Transaction& tx, int64_t now_us, int64_t cutoff_us);

// Deletes the rows of inquiries that ended at or before `cutoff_us`, oldest first, at most
// `limit`; returns how many. The rows are the inquirer's side of the records of provision
// (情報提供等記録), so the caller's cutoff is their legal period. An idempotency key whose row
// went names nothing any more (the same key then makes a new inquiry); the inquiry id was the
// dedupe key of its permit request, which is never queued again (it is queued only when the
// inquiry is created).
Result<int64_t> DeleteEndedInquiries(store::Transaction& tx, int64_t cutoff_us, int64_t limit);
// Whether DeleteEndedInquiries(cutoff_us) would delete anything (one index seek).
Result<bool> EndedInquiriesDue(store::Transaction& tx, int64_t cutoff_us);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_INQUIRY_TABLE_H_
