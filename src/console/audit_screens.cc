// The auditor's (監査担当) screens: 記録 (records of provision and of inquiries) and 操作履歴 (the
// tenant's audit chain as an access history: who did what to which resident, with the chain's
// verification and the alerts on unusual showing of personal data). Both read only; neither
// shows a replica value. CSV downloads are UTF-8 with a BOM (what spreadsheet software in Japan
// expects), and cells that a spreadsheet would run as a formula are prefixed with ' .
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "audit/audit_log.h"
#include "console/console_impl.h"
#include "layout/date.h"
#include "server/linkage_service.h"
#include "server/platform.h"
#include "server/tenant_context.h"

namespace chukan::console {
namespace {

constexpr int kMaxRows = 500;

// "YYYY-MM-DD" (a day in Japan time) → Unix µs at its start; nullopt when empty or malformed.
std::optional<int64_t> DayStartUs(std::string_view s) {
  std::optional<layout::Date> d = layout::Date::Parse(s);
  if (!d) return std::nullopt;
  const std::chrono::sys_days days{std::chrono::year(d->year) / d->month / d->day};
  return (days.time_since_epoch().count() * 86'400LL - 9 * 3600) * 1'000'000;
}

// A login id or an action prefix: at most `max` of [a-z0-9._-] (so it also goes into the CSV
// link's query string as it is).
bool Plain(std::string_view s, size_t max) {
  if (s.size() > max) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

std::string CsvCell(std::string_view v) {
  std::string s(v);
  if (!s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@')) s = "'" + s;
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

http::Response Csv(std::string filename, std::string body) {
  http::Response r(200, "text/csv; charset=utf-8", "\xEF\xBB\xBF" + body);
  SecurityHeaders(r);
  r.headers.Set("Content-Disposition", "attachment; filename=\"" + filename + "\"");
  return r;
}

// The filter form's fields, echoed back into the form.
void DateField(Html& h, Name id, std::string_view label, std::string_view value) {
  h.Element("label", {{"for", id.text()}}, label)
      .Void("input", {{"id", id.text()}, {"name", id.text()}, {"type", "date"}, {"value", value}});
}

}  // namespace

http::Response Console::Impl::Records(http::Request& req) {
  const Caller& caller = CallerOf(req);
  const std::string role(req.Query("role").value_or(""));
  const std::string from(req.Query("from").value_or(""));
  const std::string to(req.Query("to").value_or(""));
  const bool csv = req.Query("format").value_or("") == "csv";
  if ((!from.empty() && !DayStartUs(from)) || (!to.empty() && !DayStartUs(to)) ||
      (role != "" && role != "inquirer" && role != "provider")) {
    return ErrorPage(&caller, 400, "記録",
                     "検索条件が不正です（期間は YYYY-MM-DD、役割は照会・提供）。");
  }
  if (linkage == nullptr) {
    // Not an error of the request: the screen says what the server lacks (as 承認 does).
    Html b;
    b.Element("p", {{"id", "not-connected"}},
              "このサーバーは情報提供ネットワークシステムに接続されていません。");
    return Page(200, Frame(&caller, "記録", b.str()));
  }
  const int64_t after = from.empty() ? 0 : *DayStartUs(from) - 1;
  const int64_t before = to.empty() ? INT64_MAX : *DayStartUs(to) + 86'400LL * 1'000'000;
  Result<std::vector<server::RecordEntry>> list =
      linkage->ListRecords(caller.session.tenant, after, 1000);
  if (!list.ok()) return ErrorPage(&caller, 503, "記録", "記録を読み込めませんでした。");
  std::vector<const server::RecordEntry*> rows;
  for (const server::RecordEntry& e : *list) {
    if (e.at_us >= before || (!role.empty() && e.role != role)) continue;
    if (rows.size() < static_cast<size_t>(kMaxRows)) rows.push_back(&e);
  }
  Audit(caller, req, csv ? "records.download" : "records.list",
        "rows " + std::to_string(rows.size()), "ok");
  if (csv) {
    std::string body =
        "役割,処理通番,提供許可証,相手機関,事務手続コード,特定個人情報名コード,版,"
        "符号,状態,理由,承認者,照会者部署コード,照会者ユーザーID,日時,終了日時,不開示,"
        "照会側不開示,情報照会者機関コード（委任元）,情報提供者機関コード（委任元）\r\n";
    for (const server::RecordEntry* e : rows) {
      body += CsvCell(e->role) + "," + CsvCell(e->id) + "," + CsvCell(e->permit_id) + "," +
              CsvCell(e->counterpart) + "," + CsvCell(e->procedure) + "," + CsvCell(e->tm) + "," +
              CsvCell(e->layout_version) + "," + CsvCell(e->subject_code) + "," +
              CsvCell(e->state) + "," + CsvCell(e->reason) + "," + CsvCell(e->decided_by) + "," +
              CsvCell(e->department) + "," + CsvCell(e->user_id) + "," + FormatJst(e->at_us) + "," +
              (e->ended_at_us ? FormatJst(*e->ended_at_us) : "") + "," +
              (e->non_disclosure ? "1" : "0") + "," + (e->inquirer_non_disclosure ? "1" : "0") +
              "," + CsvCell(e->inquirer_delegator) + "," + CsvCell(e->provider_delegator) + "\r\n";
    }
    return Csv("records.csv", std::move(body));
  }
  Html b;
  b.Open("form", {{"method", "get"}, {"action", "/console/records"}, {"class", "card filters"}});
  b.Element("label", {{"for", "role"}}, "役割").Open("select", {{"id", "role"}, {"name", "role"}});
  for (auto [v, l] : {std::pair<std::string_view, std::string_view>{"", "すべて"},
                      {"inquirer", "情報照会"},
                      {"provider", "情報提供"}}) {
    if (v == role) {
      b.Element("option", {{"value", v}, {"selected", "selected"}}, l);
    } else {
      b.Element("option", {{"value", v}}, l);
    }
  }
  b.Close("select");
  DateField(b, "from", "期間（から）", from);
  DateField(b, "to", "期間（まで）", to);
  b.Element("button", {{"type", "submit"}}, "絞り込む").Close("form");
  b.Open("p").Element(
      "a", {{"href", "/console/records?format=csv&role=" + role + "&from=" + from + "&to=" + to}},
      "CSV でダウンロード");
  b.Close("p");
  b.Element("p", {{"id", "record-count"}}, std::to_string(rows.size()) + " 件");
  b.Open("table", {{"class", "list"}}).Open("thead").Open("tr");
  for (std::string_view h : {"日時", "役割", "相手機関", "事務手続き", "特定個人情報", "状態",
                             "理由", "照会者", "承認者", "委任元", "不開示"}) {
    b.Element("th", h);
  }
  b.Close("tr").Close("thead").Open("tbody");
  for (const server::RecordEntry* e : rows) {
    b.Open("tr")
        .Element("td", FormatJst(e->at_us))
        .Element("td", e->role == "inquirer" ? "照会" : "提供")
        .Element("td", e->counterpart)
        .Element("td", e->procedure)
        .Element("td", e->tm)
        .Element("td", e->state)
        .Element("td", e->reason)
        .Element("td", e->department.empty() && e->user_id.empty()
                           ? std::string()
                           : e->department + " / " + e->user_id)
        .Element("td", e->decided_by)
        // 委任元: 照会 (inquirer's) / 提供 (provider's), each only when given.
        .Element("td",
                 (e->inquirer_delegator.empty() ? "" : "照会 " + e->inquirer_delegator) +
                     (e->inquirer_delegator.empty() || e->provider_delegator.empty() ? "" : " / ") +
                     (e->provider_delegator.empty() ? "" : "提供 " + e->provider_delegator))
        // Held back from the resident's view; 照会側 when the inquirer asked for it.
        .Element("td", !e->non_disclosure           ? ""
                       : e->inquirer_non_disclosure ? "不開示（照会側）"
                                                    : "不開示")
        .Close("tr");
  }
  b.Close("tbody").Close("table");
  return Page(200, Frame(&caller, "記録（情報提供等の記録）", b.str()));
}

http::Response Console::Impl::History(http::Request& req) {
  const Caller& caller = CallerOf(req);
  const std::string staff(req.Query("staff").value_or(""));
  const std::string atena(req.Query("atena_no").value_or(""));
  const std::string action(req.Query("action").value_or(""));
  const std::string from(req.Query("from").value_or(""));
  const std::string to(req.Query("to").value_or(""));
  const bool csv = req.Query("format").value_or("") == "csv";
  if ((!from.empty() && !DayStartUs(from)) || (!to.empty() && !DayStartUs(to)) ||
      (!atena.empty() && !AtenaNo::IsValid(atena)) || !Plain(staff, 32) || !Plain(action, 64)) {
    return ErrorPage(&caller, 400, "操作履歴",
                     "検索条件が不正です（宛名番号は15桁、期間は YYYY-MM-DD）。");
  }
  // Each condition only when asked for, so that the planner takes the index that fits
  // (audit_log_resident, _time, or the newest entries by seq), never a scan of the whole log.
  std::string sql =
      "SELECT seq, time_us, actor, action, target, outcome FROM audit_log WHERE 1 = 1";
  std::vector<store::Value> params;
  if (!from.empty()) {
    sql += " AND time_us >= ?";
    params.emplace_back(*DayStartUs(from));
  }
  if (!to.empty()) {
    sql += " AND time_us < ?";
    params.emplace_back(*DayStartUs(to) + 86'400LL * 1'000'000);
  }
  if (!staff.empty()) {
    sql += " AND actor = ?";
    params.emplace_back("staff:" + staff);
  }
  if (!action.empty()) {
    sql += " AND action LIKE ?";
    params.emplace_back(action + "%");
  }
  if (!atena.empty()) {
    // The reference is the first 38 characters of every target naming the resident (the
    // expression of the index audit_log_resident, src/audit/audit_log.cc).
    sql += " AND substr(target, 1, 38) = ?";
    params.emplace_back(ResidentRef(*caller.tenant, atena));
  }
  sql += " ORDER BY seq DESC LIMIT " + std::to_string(kMaxRows);
  Result<std::unique_ptr<store::Transaction>> tx = caller.tenant->db->BeginRead();
  Result<std::vector<store::Row>> rows = tx.ok() ? (*tx)->Query(sql, params) : tx.status();
  if (!rows.ok()) return ErrorPage(&caller, 503, "操作履歴", "操作履歴を読み込めませんでした。");
  // Alerts: one member showing the same resident repeatedly, or many residents, within the
  // window (the thresholds are settings).
  const int64_t window_start =
      ToUnixMicros(clock.Now()) -
      std::chrono::duration_cast<std::chrono::microseconds>(options.alert_window).count();
  Result<std::vector<store::Row>> recent = (*tx)->Query(
      // "action || ''": by time (audit_log_time: the window's entries), never by the action
      // index, which would read every showing ever recorded (SQLite has no statistics to tell).
      "SELECT actor, target FROM audit_log WHERE time_us >= ? AND action || '' IN "
      "('replica.show', 'replica.lookup', 'approval.show')",
      {window_start});
  (*tx).reset();
  Audit(caller, req, csv ? "history.download" : "history.list",
        "rows " + std::to_string(rows->size()), "ok");
  if (csv) {
    std::string body = "番号,日時,操作者,操作,対象,結果\r\n";
    for (const store::Row& r : *rows) {
      body += std::to_string(r.GetInt(0).value_or(0)) + "," + FormatJst(r.GetInt(1).value_or(0)) +
              "," + CsvCell(r.GetText(2).value_or("")) + "," + CsvCell(r.GetText(3).value_or("")) +
              "," + CsvCell(r.GetText(4).value_or("")) + "," + CsvCell(r.GetText(5).value_or("")) +
              "\r\n";
    }
    return Csv("access-history.csv", std::move(body));
  }
  Html b;
  if (recent.ok()) {
    std::map<std::pair<std::string, std::string>, int> same;
    std::map<std::string, std::set<std::string>> residents;
    for (const store::Row& r : *recent) {
      const std::string actor = r.GetText(0).value_or("");
      std::string target = r.GetText(1).value_or("");
      target = target.substr(0, target.find(' '));
      ++same[{actor, target}];
      if (target.starts_with("atena#")) residents[actor].insert(target);
    }
    std::vector<std::string> alerts;
    for (const auto& [key, n] : same) {
      if (n >= options.alert_same_resident) {
        alerts.push_back(key.first + " が同じ対象（" + key.second + "）を " + std::to_string(n) +
                         " 回表示しました");
      }
    }
    for (const auto& [actor, set] : residents) {
      if (static_cast<int>(set.size()) >= options.alert_many_residents) {
        alerts.push_back(actor + " が " + std::to_string(set.size()) +
                         " 人の住民の情報を表示しました");
      }
    }
    if (!alerts.empty()) {
      b.Open("section", {{"class", "card alerts"}, {"role", "alert"}, {"id", "alerts"}})
          .Element("h2", "注意: 直近の表示に通常と異なる傾向があります")
          .Open("ul");
      for (const std::string& a : alerts) b.Element("li", a);
      b.Close("ul").Close("section");
    }
  }
  b.Open("form", {{"method", "get"}, {"action", "/console/history"}, {"class", "card filters"}});
  b.Element("label", {{"for", "staff"}}, "職員（ログインID）")
      .Void("input", {{"id", "staff"}, {"name", "staff"}, {"maxlength", "32"}, {"value", staff}});
  b.Element("label", {{"for", "atena_no"}}, "住民（宛名番号）")
      .Void("input", {{"id", "atena_no"},
                      {"name", "atena_no"},
                      {"inputmode", "numeric"},
                      {"maxlength", "15"},
                      {"value", atena}});
  b.Element("label", {{"for", "action"}}, "操作（先頭一致: replica. など）")
      .Void("input",
            {{"id", "action"}, {"name", "action"}, {"maxlength", "64"}, {"value", action}});
  DateField(b, "from", "期間（から）", from);
  DateField(b, "to", "期間（まで）", to);
  b.Element("button", {{"type", "submit"}}, "検索").Close("form");
  b.Open("form", {{"method", "post"}, {"action", "/console/history/verify"}});
  CsrfField(b, caller);
  b.Element("button", {{"type", "submit"}}, "改ざん検証（チェーンの検証）").Close("form");
  b.Open("p").Element("a",
                      {{"href", "/console/history?format=csv&staff=" + staff + "&atena_no=" +
                                    atena + "&action=" + action + "&from=" + from + "&to=" + to}},
                      "CSV でダウンロード");
  b.Close("p");
  b.Element("p", {{"id", "history-count"}},
            std::to_string(rows->size()) + " 件（新しい順、最大 500 件）");
  b.Open("table", {{"class", "list"}}).Open("thead").Open("tr");
  for (std::string_view h : {"番号", "日時", "操作者", "操作", "対象", "結果"}) b.Element("th", h);
  b.Close("tr").Close("thead").Open("tbody");
  for (const store::Row& r : *rows) {
    b.Open("tr")
        .Element("td", std::to_string(r.GetInt(0).value_or(0)))
        .Element("td", FormatJst(r.GetInt(1).value_or(0)))
        .Element("td", r.GetText(2).value_or(""))
        .Element("td", r.GetText(3).value_or(""))
        .Element("td", r.GetText(4).value_or(""))
        .Element("td", r.GetText(5).value_or(""))
        .Close("tr");
  }
  b.Close("tbody").Close("table");
  return Page(200, Frame(&caller, "操作履歴", b.str()));
}

http::Response Console::Impl::HistoryVerify(http::Request& req) {
  http::Response refusal;
  std::optional<Form> form = CheckedForm(req, &refusal);
  if (!form) return refusal;
  const Caller& caller = CallerOf(req);
  audit::VerifyOptions vo;
  vo.trusted_keys.push_back(platform.audit_verify_key());
  vo.max_unprotected = 1'000'000;  // entries of the last seconds are not signed yet
  Result<audit::VerifyReport> report = audit::Verify(*caller.tenant->db, vo);
  Audit(caller, req, "audit.verify",
        report.ok() ? "entries " + std::to_string(report->entries) : std::string(),
        report.ok() ? (report->ok ? "ok" : "broken") : "error");
  Html b;
  if (!report.ok()) {
    b.Element("p", {{"class", "error"}, {"role", "alert"}}, "検証を実行できませんでした。");
  } else if (report->ok) {
    b.Element("p", {{"class", "notice"}, {"role", "status"}, {"id", "verify-result"}},
              "操作履歴のチェーンは正常です（" + std::to_string(report->entries) +
                  " 件、署名済みチェックポイント " + std::to_string(report->checkpoints) +
                  " 件）。");
  } else {
    b.Element("p", {{"class", "error"}, {"role", "alert"}, {"id", "verify-result"}},
              "チェーンに問題があります: 番号 " + std::to_string(report->first_bad_seq) + " — " +
                  report->problem);
  }
  b.Open("p").Element("a", {{"href", "/console/history"}}, "操作履歴へ戻る").Close("p");
  return Page(200, Frame(&caller, "操作履歴: 改ざん検証", b.str()));
}

}  // namespace chukan::console
