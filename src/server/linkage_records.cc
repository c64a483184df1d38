#include "server/linkage_records.h"

#include <algorithm>
#include <climits>

namespace chukan::server {

Result<std::vector<RecordEntry>> ListRecords(TenantContext& st, const layout::Catalogue& catalogue,
                                             int64_t after_us, int limit) {
  if (limit < 1 || limit > 1000) return InvalidArgumentError("limit: expected 1 to 1000");
  ASSIGN_OR_RETURN(auto tx, st.db->BeginRead());
  ASSIGN_OR_RETURN(auto asked,
                   tx->Query("SELECT inquiry_id, permit_id, provider, procedure_code, tm,"
                             " layout_version, subject_code, state, reason, created_at_us,"
                             " ended_at_us, department, user_id, non_disclosure,"
                             " inquirer_delegator, provider_delegator FROM inquiries"
                             " WHERE created_at_us > ?"
                             " ORDER BY created_at_us, inquiry_id LIMIT ?",
                             {after_us, static_cast<int64_t>(limit)}));
  ASSIGN_OR_RETURN(auto answered,
                   tx->Query("SELECT permit_id, permit_id, inquirer, procedure_code, tm,"
                             " layout_version, subject_code, state, reason, received_at_us,"
                             " COALESCE(sent_at_us, decided_at_us), decided_by, NULL,"
                             " non_disclosure, inquirer_delegator, provider_delegator"
                             " FROM provisions"
                             " WHERE received_at_us > ? ORDER BY received_at_us, permit_id"
                             " LIMIT ?",
                             {after_us, static_cast<int64_t>(limit)}));
  RETURN_IF_ERROR(tx->Commit());
  std::vector<RecordEntry> out;
  auto add = [&](const store::Row& r, const char* role) -> Status {
    RecordEntry e;
    e.role = role;
    ASSIGN_OR_RETURN(e.id, r.GetText(0));
    ASSIGN_OR_RETURN(std::optional<std::string> permit, r.GetOptionalText(1));
    e.permit_id = permit.value_or("");
    ASSIGN_OR_RETURN(e.counterpart, r.GetText(2));
    ASSIGN_OR_RETURN(e.procedure, r.GetText(3));
    ASSIGN_OR_RETURN(e.tm, r.GetText(4));
    ASSIGN_OR_RETURN(e.layout_version, r.GetText(5));
    ASSIGN_OR_RETURN(e.subject_code, r.GetText(6));
    ASSIGN_OR_RETURN(e.state, r.GetText(7));
    ASSIGN_OR_RETURN(std::optional<std::string> reason, r.GetOptionalText(8));
    e.reason = reason.value_or("");
    ASSIGN_OR_RETURN(e.at_us, r.GetInt(9));
    ASSIGN_OR_RETURN(e.ended_at_us, r.GetOptionalInt(10));
    if (e.role == "provider") {
      ASSIGN_OR_RETURN(std::optional<std::string> by, r.GetOptionalText(11));
      e.decided_by = by.value_or("");
    } else {
      ASSIGN_OR_RETURN(std::optional<std::string> department, r.GetOptionalText(11));
      e.department = department.value_or("");
      ASSIGN_OR_RETURN(std::optional<std::string> user_id, r.GetOptionalText(12));
      e.user_id = user_id.value_or("");
    }
    ASSIGN_OR_RETURN(int64_t asked_not_shown, r.GetInt(13));
    e.inquirer_non_disclosure = asked_not_shown != 0;
    ASSIGN_OR_RETURN(std::optional<std::string> inquirer_delegator, r.GetOptionalText(14));
    e.inquirer_delegator = inquirer_delegator.value_or("");
    ASSIGN_OR_RETURN(std::optional<std::string> provider_delegator, r.GetOptionalText(15));
    e.provider_delegator = provider_delegator.value_or("");
    if (Result<TmCode> tm = TmCode::Parse(e.tm); tm.ok()) {
      // 不開示 by the one rule the hub records it by (layout::NonDisclosure).
      const layout::InfoName* info = catalogue.Find(*tm);
      e.non_disclosure =
          info != nullptr && layout::NonDisclosure(*info, info->Version(e.layout_version));
    }
    e.non_disclosure = e.non_disclosure || e.inquirer_non_disclosure;
    out.push_back(std::move(e));
    return Status();
  };
  for (const store::Row& r : asked) RETURN_IF_ERROR(add(r, "inquirer"));
  for (const store::Row& r : answered) RETURN_IF_ERROR(add(r, "provider"));
  std::stable_sort(out.begin(), out.end(),
                   [](const RecordEntry& a, const RecordEntry& b) { return a.at_us < b.at_us; });
  // A list cut by the limit ends a page: nothing at or after its last entry's time may be
  // returned, or the next page (after the last at_us) would skip the cut list's remainder —
  // including entries of that same microsecond beyond the cut. Only when every entry shares
  // that microsecond do they all stay (the page must move on).
  int64_t cutoff = INT64_MAX;
  if (asked.size() == static_cast<size_t>(limit)) cutoff = asked.back().GetInt(9).value_or(0);
  if (answered.size() == static_cast<size_t>(limit)) {
    cutoff = std::min(cutoff, answered.back().GetInt(9).value_or(0));
  }
  while (!out.empty() && out.back().at_us > cutoff) out.pop_back();
  if (cutoff != INT64_MAX && !out.empty() && out.front().at_us < cutoff) {
    while (out.back().at_us == cutoff) out.pop_back();
  }
  return out;
}

std::vector<RecordEntry> ResidentView(std::vector<RecordEntry> page) {
  std::erase_if(page, [](const RecordEntry& e) { return e.non_disclosure; });
  return page;
}

}  // namespace chukan::server
