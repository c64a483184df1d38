#include "server/inquiry_batches.h"

#include <deque>
#include <functional>
#include <map>
#include <unordered_map>
#include <utility>

#include "crypto/aead.h"
#include "server/inquiry_state.h"
#include "server/inquiry_table.h"
#include "server/linkage_env.h"

namespace chukan::server {
namespace {

crypto::Bytes LineAad(const TenantId& tenant, const std::string& batch_id, int64_t line) {
  return BatchLineAad(tenant, batch_id, line);
}

bool StillOpen(const InquiryView& v) {
  std::optional<InquiryState> s = ParseInquiryState(v.state);
  return s && IsOpen(*s);
}

}  // namespace

std::string InquiryRefusalCode(const Status& s) {
  if (s.code() == StatusCode::kFailedPrecondition && s.message() == kNoSubjectCodeMessage) {
    return "NO_SUBJECT_CODE";
  }
  if (s.code() == StatusCode::kNotFound && s.message().starts_with("TM")) return "UNKNOWN_TM";
  if (s.code() == StatusCode::kNotFound && s.message().starts_with("JT")) {
    return "UNKNOWN_PROCEDURE";
  }
  return std::string(StatusCodeName(s.code()));
}

Result<BatchRun> RunInquiryBatch(LinkageService& linkage, const TenantId& tenant,
                                 BatchHeader header, std::vector<BatchLinePlan> plans,
                                 size_t max_in_flight) {
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, linkage.State(tenant));
  if (max_in_flight == 0) max_in_flight = 1;
  // The same file again keeps its first id (the lines are sealed under it).
  {
    ASSIGN_OR_RETURN(auto tx, st->db->BeginRead());
    ASSIGN_OR_RETURN(std::optional<BatchHeader> existing, FindBatchByFileKey(*tx, header.file_key));
    RETURN_IF_ERROR(tx->Commit());
    if (existing) header.batch_id = existing->batch_id;
  }
  BatchRun run;
  run.batch_id = header.batch_id;
  run.lines.resize(plans.size());
  // Started in windows, each waited for in order: the inquiries of a window share commits.
  std::map<std::string, int64_t> first_line_of;  // text → line (duplicates)
  std::deque<std::pair<size_t, LinkageService::PendingInquiry>> in_flight;
  auto finish_one = [&]() {
    auto [index, pending] = std::move(in_flight.front());
    in_flight.pop_front();
    BatchLineResult& r = run.lines[index];
    Result<InquiryView> v = pending();
    if (v.ok()) {
      r.outcome = BatchLineOutcome::kInquiry;
      r.inquiry = std::move(*v);
    } else {
      r.outcome = BatchLineOutcome::kRefused;
      r.error_reason = std::string(v.status().message());
      r.error_code = InquiryRefusalCode(v.status());
    }
  };
  for (size_t i = 0; i < plans.size(); ++i) {
    BatchLinePlan& p = plans[i];
    BatchLineResult& r = run.lines[i];
    r.line = p.line;
    auto [it, first] = first_line_of.emplace(p.text, p.line);
    if (!first) {
      r.outcome = BatchLineOutcome::kDuplicate;
      r.duplicate_of = it->second;
      continue;
    }
    if (!p.input) {
      r.outcome = BatchLineOutcome::kRefused;
      r.error_field = p.error_field;
      r.error_reason = p.error_reason;
      r.error_code = p.error_code.empty() ? "REJECTED" : p.error_code;
      continue;
    }
    Result<LinkageService::PendingInquiry> started = linkage.StartCreateInquiry(tenant, *p.input);
    if (!started.ok()) {
      r.outcome = BatchLineOutcome::kRefused;
      r.error_reason = std::string(started.status().message());
      r.error_code = InquiryRefusalCode(started.status());
      continue;
    }
    in_flight.emplace_back(i, std::move(*started));
    if (in_flight.size() >= max_in_flight) finish_one();
  }
  while (!in_flight.empty()) finish_one();
  // A repeat of a line that made no inquiry is not a duplicate (nothing was accepted): it is
  // refused as that line was.
  std::unordered_map<int64_t, size_t> index_of;  // line → its place in run.lines
  for (size_t i = 0; i < run.lines.size(); ++i) index_of.emplace(run.lines[i].line, i);
  for (BatchLineResult& r : run.lines) {
    if (r.outcome != BatchLineOutcome::kDuplicate) continue;
    const BatchLineResult& first = run.lines[index_of.at(r.duplicate_of)];
    if (first.outcome != BatchLineOutcome::kRefused) continue;
    r.outcome = BatchLineOutcome::kRefused;
    r.duplicate_of = 0;
    r.error_field = first.error_field;
    r.error_reason = first.error_reason;
    r.error_code = first.error_code;
  }

  // The batch, each line sealed under the batch's id.
  std::vector<BatchLineRow> rows;
  rows.reserve(plans.size());
  for (size_t i = 0; i < plans.size(); ++i) {
    const BatchLineResult& r = run.lines[i];
    BatchLineRow row;
    row.line = r.line;
    ASSIGN_OR_RETURN(row.text_sealed,
                     st->data_keys->Seal(crypto::AsBytes(plans[i].text),
                                         LineAad(tenant, header.batch_id, r.line)));
    row.outcome = r.outcome;
    if (r.inquiry) row.inquiry_id = r.inquiry->inquiry_id;
    row.duplicate_of = r.duplicate_of;
    row.error_field = r.error_field;
    row.error_reason = r.error_reason;
    row.error_code = r.error_code;
    rows.push_back(std::move(row));
  }
  std::string stored_id;
  RETURN_IF_ERROR(st->Commit([&](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(stored_id, UpsertBatch(tx, header, rows));
    return Status();
  }));
  return run;
}

Result<BatchNow> ReadInquiryBatch(LinkageService& linkage, const TenantId& tenant,
                                  const std::string& batch_id) {
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, linkage.State(tenant));
  BatchNow now;
  // One read: the lines and their inquiries as one snapshot (and one transaction, not one per
  // line).
  ASSIGN_OR_RETURN(auto tx, st->db->BeginRead());
  ASSIGN_OR_RETURN(std::optional<BatchHeader> h, ReadBatch(*tx, batch_id));
  if (!h) return NotFoundError("no such batch");
  now.header = std::move(*h);
  ASSIGN_OR_RETURN(std::vector<BatchLineRow> rows, ReadBatchLines(*tx, batch_id));
  now.lines.reserve(rows.size());
  for (BatchLineRow& row : rows) {
    BatchLineNow l;
    l.line = row.line;
    ASSIGN_OR_RETURN(crypto::SecretBytes text,
                     st->data_keys->Open(row.text_sealed, LineAad(tenant, batch_id, row.line)));
    l.text = std::string(text.AsStringView());
    l.outcome = row.outcome;
    l.duplicate_of = row.duplicate_of;
    l.error_field = std::move(row.error_field);
    l.error_reason = std::move(row.error_reason);
    l.error_code = std::move(row.error_code);
    if (row.outcome == BatchLineOutcome::kInquiry) {
      ASSIGN_OR_RETURN(std::optional<StoredInquiry> stored, ReadInquiry(*tx, row.inquiry_id));
      if (!stored)
        return InternalError("batch line " + std::to_string(row.line) + ": inquiry gone");
      InquiryView v = std::move(stored->view);
      if (stored->sealed_result) {
        ASSIGN_OR_RETURN(crypto::SecretBytes plain,
                         st->data_keys->Open(*stored->sealed_result,
                                             LinkageAad("result", tenant, v.inquiry_id)));
        v.result_json = std::string(plain.AsStringView());
      }
      if (StillOpen(v)) ++now.open;
      l.inquiry = std::move(v);
    }
    now.lines.push_back(std::move(l));
  }
  RETURN_IF_ERROR(tx->Commit());
  return now;
}

Result<BatchSummary> ReadBatchSummary(LinkageService& linkage, const TenantId& tenant,
                                      const std::string& batch_id) {
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, linkage.State(tenant));
  BatchSummary s;
  ASSIGN_OR_RETURN(auto tx, st->db->BeginRead());
  ASSIGN_OR_RETURN(std::optional<BatchHeader> h, ReadBatch(*tx, batch_id));
  if (!h) return NotFoundError("no such batch");
  s.header = std::move(*h);
  ASSIGN_OR_RETURN(s.progress, ReadBatchProgress(*tx, batch_id));
  RETURN_IF_ERROR(tx->Commit());
  for (const auto& [state, n] : s.progress.states) {
    std::optional<InquiryState> parsed = ParseInquiryState(state);
    if (parsed && IsOpen(*parsed)) s.open += n;
  }
  return s;
}

}  // namespace chukan::server
