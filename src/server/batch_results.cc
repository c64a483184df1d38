#include "server/batch_results.h"

#include <span>
#include <utility>

#include "json/json.h"
#include "replica_io/byte_source.h"
#include "server/batch_inquiry.h"
#include "server/inquiry_state.h"

namespace chukan::server {
namespace {

// The line's fields as given: split at commas (a line of a file has no quoting). A malformed
// line may have fewer or more; RenderResultLine writes a missing field empty.
std::vector<std::string_view> SplitFields(std::string_view text) {
  std::vector<std::string_view> out;
  if (text.empty()) return out;
  size_t start = 0;
  for (;;) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) {
      out.push_back(text.substr(start));
      return out;
    }
    out.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
}

std::string TrimRight(std::string_view s) {
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

Result<std::vector<layout::ResultRecord>> ReadRecords(const json::JsonObject& o) {
  ASSIGN_OR_RETURN(std::vector<json::JsonObject> records, o.GetObjectArray("records", 100'000));
  std::vector<layout::ResultRecord> out;
  out.reserve(records.size());
  for (const json::JsonObject& r : records) {
    layout::ResultRecord rec;
    for (const std::string& key : r.Keys()) {
      ASSIGN_OR_RETURN(std::string value, r.GetString(key, 1 << 20));
      rec.emplace(key, std::move(value));
    }
    out.push_back(std::move(rec));
  }
  return out;
}

// The provider's answer (Provisions::BuildAnswer): {"records": [{item: value}, …], "status":
// "ok" | "no_data", …}, or for a household {"scope": "household", "members": [{"self": …,
// "records": […]}, …], …}.
struct Answer {
  bool ok = false;
  bool household = false;
  std::vector<layout::ResultRecord> records;
  std::vector<std::vector<layout::ResultRecord>> members;
};

Result<Answer> ReadAnswer(const std::string& json) {
  json::JsonLimits limits;
  limits.max_bytes = 64 << 20;
  Result<json::JsonObject> o = json::ParseJsonObject(json, limits);
  if (!o.ok()) return InternalError("a stored result is not a JSON object");
  Answer a;
  ASSIGN_OR_RETURN(std::string status, o->GetString("status", 16));
  a.ok = status == "ok";
  if (o->Has("members")) {
    a.household = true;
    ASSIGN_OR_RETURN(std::vector<json::JsonObject> members, o->GetObjectArray("members", 1000));
    for (const json::JsonObject& m : members) {
      ASSIGN_OR_RETURN(std::vector<layout::ResultRecord> records, ReadRecords(m));
      a.members.push_back(std::move(records));
    }
    return a;
  }
  ASSIGN_OR_RETURN(a.records, ReadRecords(*o));
  return a;
}

}  // namespace

Result<BatchLineFate> FateOfBatchLine(const BatchLineNow& line, const AtenaResolver& atena) {
  using layout::LineOutcome;
  BatchLineFate fate;
  std::vector<std::string_view> fields = SplitFields(line.text);
  if (fields.size() >= 14 && TmCode::Parse(TrimRight(fields[13])).ok()) {
    fate.tm = TrimRight(fields[13]);
  }
  switch (line.outcome) {
    case BatchLineOutcome::kDuplicate:
      fate.outcome = LineOutcome::kDuplicateLine;
      return fate;
    case BatchLineOutcome::kRefused: {
      fate.outcome = LineOutcome::kRejected;
      fate.reason = line.error_code.empty() ? "REJECTED" : line.error_code;
      if (fate.reason == "UNKNOWN_TM" && fate.tm.empty()) fate.reason = "FORMAT";
      if (fate.reason == "NO_SUBJECT_CODE") {
        // The message names the 団体内統合宛名番号: the line's, as the tenant's mapping gives it.
        replica_io::StringSource src(line.text + "\r\n");
        Result<BatchParseResult> parsed = ParseBatchInquiryFile(src, BatchOptions{});
        if (parsed.ok() && parsed->inquiries.size() == 1) {
          Result<AtenaNo> a = atena(parsed->inquiries.front());
          if (a.ok()) {
            fate.outcome = LineOutcome::kNoSubjectCode;
            fate.atena_no = a->str();
            fate.reason.clear();
          }
        }
      }
      return fate;
    }
    case BatchLineOutcome::kInquiry:
      break;
  }
  if (!line.inquiry) return InternalError("line " + std::to_string(line.line) + ": no inquiry");
  const InquiryView& v = *line.inquiry;
  std::optional<InquiryState> state = ParseInquiryState(v.state);
  if (!state) return InternalError("line " + std::to_string(line.line) + ": unknown state");
  switch (*state) {
    case InquiryState::kAccepted:
    case InquiryState::kPermitted:
      return FailedPreconditionError("line " + std::to_string(line.line) + ": not ended yet");
    case InquiryState::kCompleted: {
      if (!v.result_json) {
        // Deleted by retention: the answer can no longer be written.
        fate.outcome = LineOutcome::kFailed;
        fate.reason = "RESULT_DELETED";
        return fate;
      }
      ASSIGN_OR_RETURN(Answer answer, ReadAnswer(*v.result_json));
      if (answer.household) {
        fate.household = true;
        fate.outcome = answer.ok ? LineOutcome::kCompleted : LineOutcome::kNoData;
        fate.members = std::move(answer.members);
      } else if (answer.ok && !answer.records.empty()) {
        fate.outcome = LineOutcome::kCompleted;
        fate.records = std::move(answer.records);
      } else {
        fate.outcome = LineOutcome::kNoData;
      }
      return fate;
    }
    case InquiryState::kRefused:
      fate.outcome = LineOutcome::kRefused;
      fate.reason = v.reason;
      return fate;
    case InquiryState::kExpired:
      fate.outcome = LineOutcome::kExpired;
      fate.reason = "NO_ANSWER";
      return fate;
    case InquiryState::kFailed:
      fate.outcome = LineOutcome::kFailed;
      fate.reason = v.reason;
      return fate;
  }
  return InternalError("line " + std::to_string(line.line) + ": unknown state");
}

Result<BatchResultFile> WriteBatchResultFile(const BatchNow& batch,
                                             const layout::ResultLayouts& layouts,
                                             replica_io::Charset charset,
                                             const AtenaResolver& atena) {
  if (batch.open > 0) {
    return FailedPreconditionError(std::to_string(batch.open) +
                                   " lines of the batch have not ended yet");
  }
  BatchResultFile out;
  out.file_name = ResultFileName(batch.header.file_name, batch.header.batch_id);
  std::vector<std::string> lines;
  lines.reserve(batch.lines.size());
  for (const BatchLineNow& l : batch.lines) {
    ASSIGN_OR_RETURN(BatchLineFate fate, FateOfBatchLine(l, atena));
    layout::LineResult result;
    result.outcome = fate.outcome;
    result.reason = fate.reason;
    result.atena_no = fate.atena_no;
    result.tm = fate.tm;
    const std::vector<std::string_view> fields = SplitFields(l.text);
    auto write = [&](const layout::LineResult& r,
                     std::span<const layout::ResultRecord> records) -> Status {
      Result<layout::RenderedLine> rendered =
          layout::RenderResultLine(layouts.For(fate.tm), fields, r, records);
      if (!rendered.ok()) {
        return InternalError("line " + std::to_string(l.line) +
                             ": cannot be written: " + std::string(rendered.status().message()));
      }
      out.records_not_shown += static_cast<int64_t>(rendered->records_not_shown);
      if (rendered->unwritable_column != 0) ++out.unwritable_lines;
      lines.push_back(std::move(rendered->text));
      return Status();
    };
    if (fate.household && !fate.members.empty()) {
      // One line per member, the person first, each echoing the inquiry line: a member without
      // records of the TM is 該当データなし.
      for (const std::vector<layout::ResultRecord>& member : fate.members) {
        layout::LineResult r = result;
        r.outcome = member.empty() ? layout::LineOutcome::kNoData : layout::LineOutcome::kCompleted;
        RETURN_IF_ERROR(write(r, member));
      }
    } else {
      RETURN_IF_ERROR(write(result, fate.records));
    }
  }
  ASSIGN_OR_RETURN(layout::EncodedResultFile encoded, layout::EncodeResultFile(lines, charset));
  out.bytes = std::move(encoded.bytes);
  out.substituted_lines = std::move(encoded.substituted_lines);
  out.lines = static_cast<int64_t>(lines.size());
  return out;
}

std::string ResultFileName(std::string_view inquiry_file_name, std::string_view batch_id) {
  if (inquiry_file_name.empty()) return "batch_" + std::string(batch_id) + "_RESULT.DAT";
  const size_t dot = inquiry_file_name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) {
    return std::string(inquiry_file_name) + "_RESULT";
  }
  return std::string(inquiry_file_name.substr(0, dot)) + "_RESULT" +
         std::string(inquiry_file_name.substr(dot));
}

}  // namespace chukan::server
