#include "server/inquiry_table.h"

#include "store/sql_util.h"

namespace chukan::server {
namespace {

constexpr std::string_view kInquiryColumns =
    "inquiry_id, state, reason, provider, procedure_code, tm, layout_version, permit_id,"
    " created_at_us, permitted_at_us, ended_at_us, expires_at_us, result, result_deleted,"
    " department, user_id, non_disclosure, inquirer_delegator, provider_delegator";

constexpr InquiryState kAllStates[] = {InquiryState::kAccepted,  InquiryState::kPermitted,
                                       InquiryState::kCompleted, InquiryState::kRefused,
                                       InquiryState::kExpired,   InquiryState::kFailed};

// "state IN ('accepted', 'permitted')": the states CanTransition allows `to` from, as SQL (the
// names are constants, never input).
std::string StateMayBecome(InquiryState to) {
  std::string in;
  for (InquiryState from : kAllStates) {
    if (!CanTransition(from, to)) continue;
    in += (in.empty() ? "'" : ", '") + std::string(InquiryStateName(from)) + "'";
  }
  return "state IN (" + in + ")";
}

std::string StateValue(InquiryState s) { return std::string(InquiryStateName(s)); }

Result<InquiryView> InquiryFromRow(const store::Row& r) {
  InquiryView v;
  ASSIGN_OR_RETURN(v.inquiry_id, r.GetText(0));
  ASSIGN_OR_RETURN(v.state, r.GetText(1));
  ASSIGN_OR_RETURN(std::optional<std::string> reason, r.GetOptionalText(2));
  v.reason = reason.value_or("");
  ASSIGN_OR_RETURN(v.provider, r.GetText(3));
  ASSIGN_OR_RETURN(v.procedure, r.GetText(4));
  ASSIGN_OR_RETURN(v.tm, r.GetText(5));
  ASSIGN_OR_RETURN(v.layout_version, r.GetText(6));
  ASSIGN_OR_RETURN(std::optional<std::string> permit, r.GetOptionalText(7));
  v.permit_id = permit.value_or("");
  ASSIGN_OR_RETURN(v.created_at_us, r.GetInt(8));
  ASSIGN_OR_RETURN(v.permitted_at_us, r.GetOptionalInt(9));
  ASSIGN_OR_RETURN(v.ended_at_us, r.GetOptionalInt(10));
  ASSIGN_OR_RETURN(v.expires_at_us, r.GetInt(11));
  ASSIGN_OR_RETURN(int64_t deleted, r.GetInt(13));
  v.result_deleted = deleted != 0;
  ASSIGN_OR_RETURN(std::optional<std::string> department, r.GetOptionalText(14));
  v.department = department.value_or("");
  ASSIGN_OR_RETURN(std::optional<std::string> user_id, r.GetOptionalText(15));
  v.user_id = user_id.value_or("");
  ASSIGN_OR_RETURN(int64_t non_disclosure, r.GetInt(16));
  v.non_disclosure = non_disclosure != 0;
  ASSIGN_OR_RETURN(std::optional<std::string> inquirer_delegator, r.GetOptionalText(17));
  v.inquirer_delegator = inquirer_delegator.value_or("");
  ASSIGN_OR_RETURN(std::optional<std::string> provider_delegator, r.GetOptionalText(18));
  v.provider_delegator = provider_delegator.value_or("");
  return v;
}

store::Value OrNull(const std::string& s) {
  return s.empty() ? store::Value(nullptr) : store::Value(s);
}

}  // namespace

Status InsertInquiry(store::Transaction& tx, const NewInquiry& row) {
  return tx.Exec(
      "INSERT INTO inquiries (inquiry_id, idempotency_key, client, subject_code,"
      " procedure_code, tm, layout_version, provider, query, state, reply_public,"
      " reply_secret, created_at_us, expires_at_us, request_hash, department, user_id,"
      " non_disclosure, inquirer_delegator, provider_delegator)"
      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {row.inquiry_id,
       OrNull(row.idempotency_key),
       row.client,
       row.subject_code,
       row.procedure,
       row.tm,
       row.layout_version,
       row.provider,
       row.query_json,
       StateValue(InquiryState::kAccepted),
       row.reply_public,
       row.reply_secret_sealed,
       row.created_at_us,
       row.expires_at_us,
       row.request_hash,
       OrNull(row.department),
       OrNull(row.user_id),
       static_cast<int64_t>(row.non_disclosure ? 1 : 0),
       OrNull(row.inquirer_delegator),
       OrNull(row.provider_delegator)});
}

Result<std::optional<IdempotentInquiry>> FindInquiryByKey(store::Transaction& tx,
                                                          const std::string& idempotency_key) {
  ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT inquiry_id, request_hash FROM inquiries"
                                         " WHERE idempotency_key = ?",
                                         {idempotency_key}));
  if (!row) return std::optional<IdempotentInquiry>();
  IdempotentInquiry out;
  ASSIGN_OR_RETURN(out.inquiry_id, row->GetText(0));
  ASSIGN_OR_RETURN(out.request_hash, row->GetOptionalText(1));
  return std::optional<IdempotentInquiry>(std::move(out));
}

Result<std::optional<StoredInquiry>> ReadInquiry(store::Transaction& tx,
                                                 const std::string& inquiry_id) {
  ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT " + std::string(kInquiryColumns) +
                                             " FROM inquiries WHERE inquiry_id = ?",
                                         {inquiry_id}));
  if (!row) return std::optional<StoredInquiry>();
  StoredInquiry out;
  ASSIGN_OR_RETURN(out.view, InquiryFromRow(*row));
  ASSIGN_OR_RETURN(out.sealed_result, row->GetOptionalBlob(12));
  return std::optional<StoredInquiry>(std::move(out));
}

Result<std::vector<InquiryView>> ReadInquiries(store::Transaction& tx,
                                               const std::optional<std::string>& state,
                                               int64_t since_us, int64_t limit) {
  std::vector<store::Row> rows;
  if (state) {
    ASSIGN_OR_RETURN(rows, tx.Query("SELECT " + std::string(kInquiryColumns) +
                                        " FROM inquiries WHERE state = ? AND created_at_us >= ?"
                                        " ORDER BY created_at_us, inquiry_id LIMIT ?",
                                    {*state, since_us, limit}));
  } else {
    ASSIGN_OR_RETURN(rows, tx.Query("SELECT " + std::string(kInquiryColumns) +
                                        " FROM inquiries WHERE created_at_us >= ?"
                                        " ORDER BY created_at_us, inquiry_id LIMIT ?",
                                    {since_us, limit}));
  }
  std::vector<InquiryView> out;
  for (const store::Row& r : rows) {
    ASSIGN_OR_RETURN(InquiryView v, InquiryFromRow(r));
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::optional<PermitRequestRow>> ReadPermitRequest(store::Transaction& tx,
                                                          const std::string& inquiry_id) {
  ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT state, provider, procedure_code, tm,"
                                         " layout_version, subject_code, reply_public, query,"
                                         " non_disclosure, inquirer_delegator,"
                                         " provider_delegator FROM inquiries"
                                         " WHERE inquiry_id = ?",
                                         {inquiry_id}));
  if (!row) return std::optional<PermitRequestRow>();
  PermitRequestRow out;
  ASSIGN_OR_RETURN(out.state, row->GetText(0));
  ASSIGN_OR_RETURN(out.provider, row->GetText(1));
  ASSIGN_OR_RETURN(out.procedure, row->GetText(2));
  ASSIGN_OR_RETURN(out.tm, row->GetText(3));
  ASSIGN_OR_RETURN(out.layout_version, row->GetText(4));
  ASSIGN_OR_RETURN(out.subject_code, row->GetText(5));
  ASSIGN_OR_RETURN(out.reply_public, row->GetBlob(6));
  ASSIGN_OR_RETURN(out.query_json, row->GetText(7));
  ASSIGN_OR_RETURN(int64_t non_disclosure, row->GetInt(8));
  out.non_disclosure = non_disclosure != 0;
  ASSIGN_OR_RETURN(std::optional<std::string> inquirer_delegator, row->GetOptionalText(9));
  out.inquirer_delegator = inquirer_delegator.value_or("");
  ASSIGN_OR_RETURN(std::optional<std::string> provider_delegator, row->GetOptionalText(10));
  out.provider_delegator = provider_delegator.value_or("");
  return std::optional<PermitRequestRow>(std::move(out));
}

Result<std::optional<InquiryKeys>> ReadInquiryKeys(store::Transaction& tx,
                                                   const std::string& inquiry_id) {
  ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT state, permit_id, reply_secret, reply_public,"
                                         " permit_sha256 FROM inquiries WHERE inquiry_id = ?",
                                         {inquiry_id}));
  if (!row) return std::optional<InquiryKeys>();
  InquiryKeys out;
  ASSIGN_OR_RETURN(out.state, row->GetText(0));
  ASSIGN_OR_RETURN(out.permit_id, row->GetOptionalText(1));
  ASSIGN_OR_RETURN(out.reply_secret_sealed, row->GetOptionalBlob(2));
  ASSIGN_OR_RETURN(out.reply_public, row->GetBlob(3));
  ASSIGN_OR_RETURN(out.permit_sha256, row->GetOptionalBlob(4));
  return std::optional<InquiryKeys>(std::move(out));
}

Result<bool> MarkInquiryPermitted(store::Transaction& tx, const std::string& inquiry_id,
                                  const std::string& permit_id,
                                  const std::optional<crypto::Bytes>& permit_sha256,
                                  int64_t now_us) {
  ASSIGN_OR_RETURN(
      int64_t n, tx.ExecCount("UPDATE inquiries SET state = ?, permit_id = ?, permit_sha256 = ?,"
                              " permitted_at_us = ? WHERE inquiry_id = ? AND " +
                                  StateMayBecome(InquiryState::kPermitted),
                              {StateValue(InquiryState::kPermitted), permit_id,
                               permit_sha256 ? store::Value(*permit_sha256) : store::Value(nullptr),
                               now_us, inquiry_id}));
  return n > 0;
}

Result<bool> EndUnpermittedInquiry(store::Transaction& tx, const std::string& inquiry_id,
                                   InquiryState to, const std::string& reason, int64_t now_us) {
  if (to == InquiryState::kPermitted || !CanTransition(InquiryState::kAccepted, to)) {
    return InvalidArgumentError("an inquiry without a permit cannot end as " + StateValue(to));
  }
  // Only from accepted: a permitted inquiry has its permit, and waits for its answer.
  ASSIGN_OR_RETURN(int64_t n,
                   tx.ExecCount("UPDATE inquiries SET state = ?, reason = ?, reply_secret = NULL,"
                                " ended_at_us = ? WHERE inquiry_id = ? AND state = ?",
                                {StateValue(to), reason, now_us, inquiry_id,
                                 StateValue(InquiryState::kAccepted)}));
  return n > 0;
}

Result<bool> EndAnsweredInquiry(store::Transaction& tx, const std::string& inquiry_id,
                                InquiryState to, const std::string& reason,
                                const crypto::Bytes& sealed_result, const std::string& permit_id,
                                int64_t now_us) {
  if (IsOpen(to)) {
    return InvalidArgumentError("an answered inquiry cannot stay " + StateValue(to));
  }
  ASSIGN_OR_RETURN(int64_t n, tx.ExecCount("UPDATE inquiries SET state = ?, reason = ?, result = ?,"
                                           " reply_secret = NULL, permit_id = ?, ended_at_us = ?,"
                                           " permitted_at_us = COALESCE(permitted_at_us, ?)"
                                           " WHERE inquiry_id = ? AND " +
                                               StateMayBecome(to),
                                           {StateValue(to), OrNull(reason), sealed_result,
                                            permit_id, now_us, now_us, inquiry_id}));
  return n > 0;
}

Result<int64_t> ExpireInquiries(store::Transaction& tx, int64_t now_us) {
  return tx.ExecCount(
      "UPDATE inquiries SET state = ?, reason = 'NO_ANSWER', reply_secret = NULL,"
      " ended_at_us = ? WHERE " +
          StateMayBecome(InquiryState::kExpired) + " AND expires_at_us <= ?",
      {StateValue(InquiryState::kExpired), now_us, now_us});
}

Result<int64_t> DeleteInquiryResults(store::Transaction& tx, int64_t cutoff_us) {
  return tx.ExecCount(
      "UPDATE inquiries SET result = NULL, reply_secret = NULL,"
      " result_deleted = 1 WHERE ended_at_us <= ?"
      " AND (result IS NOT NULL OR reply_secret IS NOT NULL)",
      {cutoff_us});
}

Result<bool> InquiriesDue(store::Transaction& tx, int64_t now_us, int64_t cutoff_us) {
  ASSIGN_OR_RETURN(auto due, tx.QueryOne("SELECT 1 FROM inquiries WHERE (" +
                                             StateMayBecome(InquiryState::kExpired) +
                                             " AND expires_at_us <= ?) OR (ended_at_us <= ?"
                                             " AND (result IS NOT NULL OR reply_secret IS NOT"
                                             " NULL)) LIMIT 1",
                                         {now_us, cutoff_us}));
  return due.has_value();
}

Result<int64_t> DeleteEndedInquiries(store::Transaction& tx, int64_t cutoff_us, int64_t limit) {
  return tx.ExecCount("DELETE FROM inquiries WHERE " +
                          store::KeyIn(tx.backend(), "inquiry_id",
                                       "SELECT inquiry_id FROM inquiries"
                                       " WHERE ended_at_us <= ? ORDER BY ended_at_us LIMIT ?"),
                      {cutoff_us, limit});
}

Result<bool> EndedInquiriesDue(store::Transaction& tx, int64_t cutoff_us) {
  ASSIGN_OR_RETURN(
      auto due, tx.QueryOne("SELECT 1 FROM inquiries WHERE ended_at_us <= ? LIMIT 1", {cutoff_us}));
  return due.has_value();
}

}  // namespace chukan::server
