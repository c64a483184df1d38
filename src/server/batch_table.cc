#include "server/batch_table.h"

#include <utility>

namespace chukan::server {
namespace {

constexpr std::string_view kHeaderColumns =
    "batch_id, file_key, file_name, client, charset, lines, created_at_us";

Result<BatchHeader> HeaderFromRow(const store::Row& r) {
  BatchHeader h;
  ASSIGN_OR_RETURN(h.batch_id, r.GetText(0));
  ASSIGN_OR_RETURN(h.file_key, r.GetText(1));
  ASSIGN_OR_RETURN(h.file_name, r.GetText(2));
  ASSIGN_OR_RETURN(h.client, r.GetText(3));
  ASSIGN_OR_RETURN(h.charset, r.GetText(4));
  ASSIGN_OR_RETURN(h.lines, r.GetInt(5));
  ASSIGN_OR_RETURN(h.created_at_us, r.GetInt(6));
  return h;
}

Result<BatchLineOutcome> ParseOutcome(std::string_view s) {
  if (s == "inquiry") return BatchLineOutcome::kInquiry;
  if (s == "duplicate") return BatchLineOutcome::kDuplicate;
  if (s == "refused") return BatchLineOutcome::kRefused;
  return InternalError("inquiry_batch_lines: unknown outcome in the database");
}

}  // namespace

std::string_view BatchLineOutcomeName(BatchLineOutcome o) {
  switch (o) {
    case BatchLineOutcome::kInquiry:
      return "inquiry";
    case BatchLineOutcome::kDuplicate:
      return "duplicate";
    case BatchLineOutcome::kRefused:
      return "refused";
  }
  return "refused";
}

Result<std::string> UpsertBatch(store::Transaction& tx, const BatchHeader& header,
                                const std::vector<BatchLineRow>& lines) {
  std::string batch_id = header.batch_id;
  ASSIGN_OR_RETURN(std::optional<BatchHeader> existing, FindBatchByFileKey(tx, header.file_key));
  if (existing) {
    // The lines are sealed under the batch's id: a caller that did not know the stored id
    // (the same file sent twice at once) must seal them again.
    if (existing->batch_id != header.batch_id) {
      return AbortedError("the same batch file was sent twice at once: send it again");
    }
    RETURN_IF_ERROR(tx.Exec("DELETE FROM inquiry_batch_lines WHERE batch_id = ?", {batch_id}));
    RETURN_IF_ERROR(tx.Exec("UPDATE inquiry_batches SET lines = ? WHERE batch_id = ?",
                            {header.lines, batch_id}));
  } else {
    RETURN_IF_ERROR(tx.Exec("INSERT INTO inquiry_batches (" + std::string(kHeaderColumns) +
                                ") VALUES (?, ?, ?, ?, ?, ?, ?)",
                            {batch_id, header.file_key, header.file_name, header.client,
                             header.charset, header.lines, header.created_at_us}));
  }
  for (const BatchLineRow& l : lines) {
    store::Value inquiry = nullptr;
    if (l.outcome == BatchLineOutcome::kInquiry) inquiry = l.inquiry_id;
    RETURN_IF_ERROR(
        tx.Exec("INSERT INTO inquiry_batch_lines (batch_id, line, text_sealed, outcome, inquiry_id,"
                " duplicate_of, error_field, error_reason, error_code)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                {batch_id, l.line, l.text_sealed, std::string(BatchLineOutcomeName(l.outcome)),
                 inquiry, l.duplicate_of, l.error_field, l.error_reason, l.error_code}));
  }
  return batch_id;
}

Result<std::optional<BatchHeader>> ReadBatch(store::Transaction& tx, const std::string& batch_id) {
  ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT " + std::string(kHeaderColumns) +
                                             " FROM inquiry_batches WHERE batch_id = ?",
                                         {batch_id}));
  if (!row) return std::optional<BatchHeader>();
  ASSIGN_OR_RETURN(BatchHeader h, HeaderFromRow(*row));
  return std::optional<BatchHeader>(std::move(h));
}

Result<std::optional<BatchHeader>> FindBatchByFileKey(store::Transaction& tx,
                                                      const std::string& file_key) {
  ASSIGN_OR_RETURN(auto row, tx.QueryOne("SELECT " + std::string(kHeaderColumns) +
                                             " FROM inquiry_batches WHERE file_key = ?",
                                         {file_key}));
  if (!row) return std::optional<BatchHeader>();
  ASSIGN_OR_RETURN(BatchHeader h, HeaderFromRow(*row));
  return std::optional<BatchHeader>(std::move(h));
}

Result<std::vector<BatchLineRow>> ReadBatchLines(store::Transaction& tx,
                                                 const std::string& batch_id) {
  ASSIGN_OR_RETURN(std::vector<store::Row> rows,
                   tx.Query("SELECT line, text_sealed, outcome, inquiry_id, duplicate_of,"
                            " error_field, error_reason, error_code FROM inquiry_batch_lines"
                            " WHERE batch_id = ? ORDER BY line",
                            {batch_id}));
  std::vector<BatchLineRow> out;
  out.reserve(rows.size());
  for (const store::Row& r : rows) {
    BatchLineRow l;
    ASSIGN_OR_RETURN(l.line, r.GetInt(0));
    ASSIGN_OR_RETURN(l.text_sealed, r.GetBlob(1));
    ASSIGN_OR_RETURN(std::string outcome, r.GetText(2));
    ASSIGN_OR_RETURN(l.outcome, ParseOutcome(outcome));
    ASSIGN_OR_RETURN(std::optional<std::string> inquiry, r.GetOptionalText(3));
    l.inquiry_id = inquiry.value_or("");
    ASSIGN_OR_RETURN(l.duplicate_of, r.GetInt(4));
    ASSIGN_OR_RETURN(l.error_field, r.GetText(5));
    ASSIGN_OR_RETURN(l.error_reason, r.GetText(6));
    ASSIGN_OR_RETURN(l.error_code, r.GetText(7));
    out.push_back(std::move(l));
  }
  return out;
}

Result<BatchProgress> ReadBatchProgress(store::Transaction& tx, const std::string& batch_id) {
  ASSIGN_OR_RETURN(std::vector<store::Row> rows,
                   tx.Query("SELECT l.outcome, i.state, COUNT(*) FROM inquiry_batch_lines l"
                            " LEFT JOIN inquiries i ON i.inquiry_id = l.inquiry_id"
                            " WHERE l.batch_id = ? GROUP BY l.outcome, i.state",
                            {batch_id}));
  BatchProgress p;
  for (const store::Row& r : rows) {
    ASSIGN_OR_RETURN(std::string outcome, r.GetText(0));
    ASSIGN_OR_RETURN(BatchLineOutcome o, ParseOutcome(outcome));
    ASSIGN_OR_RETURN(std::optional<std::string> state, r.GetOptionalText(1));
    ASSIGN_OR_RETURN(int64_t n, r.GetInt(2));
    switch (o) {
      case BatchLineOutcome::kDuplicate:
        p.duplicate += n;
        break;
      case BatchLineOutcome::kRefused:
        p.refused += n;
        break;
      case BatchLineOutcome::kInquiry:
        // A line whose inquiry row is gone (retention) counts under "deleted".
        p.states[state.value_or("deleted")] += n;
        break;
    }
  }
  return p;
}

Result<bool> BatchesDue(store::Transaction& tx, int64_t cutoff_us) {
  ASSIGN_OR_RETURN(auto due, tx.QueryOne("SELECT 1 FROM inquiry_batches WHERE created_at_us <= ?"
                                         " LIMIT 1",
                                         {cutoff_us}));
  return due.has_value();
}

Result<int64_t> DeleteBatches(store::Transaction& tx, int64_t cutoff_us, int64_t limit) {
  ASSIGN_OR_RETURN(std::vector<store::Row> rows,
                   tx.Query("SELECT batch_id FROM inquiry_batches WHERE created_at_us <= ?"
                            " ORDER BY created_at_us LIMIT ?",
                            {cutoff_us, limit}));
  for (const store::Row& r : rows) {
    ASSIGN_OR_RETURN(std::string id, r.GetText(0));
    RETURN_IF_ERROR(tx.Exec("DELETE FROM inquiry_batch_lines WHERE batch_id = ?", {id}));
    RETURN_IF_ERROR(tx.Exec("DELETE FROM inquiry_batches WHERE batch_id = ?", {id}));
  }
  return static_cast<int64_t>(rows.size());
}

}  // namespace chukan::server
