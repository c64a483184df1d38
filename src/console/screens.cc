// The console's work screens: ホーム, 承認 (the 自動応答不可 queue) and 副本 (a resident's records
// in layout terms and their earlier versions, values shown on request). Each showing of personal
// data is audited before the page is built.
#include <map>
#include <optional>
#include <string>

#include "console/console_impl.h"
#include "layout/catalogue.h"
#include "server/linkage_service.h"
#include "server/platform.h"
#include "server/tenant_context.h"

namespace chukan::console {
namespace {

using server::StaffRole;

std::string TmLabel(const layout::Catalogue* c, std::string_view tm) {
  if (c != nullptr) {
    if (const layout::InfoName* n = c->Find(tm)) return std::string(tm) + " " + n->name();
  }
  return std::string(tm);
}

std::string ProcedureLabel(const layout::Catalogue* c, std::string_view jt) {
  if (c != nullptr) {
    if (Result<JtCode> code = JtCode::Parse(jt); code.ok()) {
      if (const layout::Procedure* p = c->FindProcedure(*code)) {
        return std::string(jt) + " " + p->name;
      }
    }
  }
  return std::string(jt);
}

// The value as staff read it: a code's label after the code.
std::string ShownValue(const layout::Item& item, const std::string& value) {
  if (value.empty()) return "（空）";
  if (const layout::CodeList* list = item.code_list()) {
    if (const std::string* label = list->Label(value)) return value + "（" + *label + "）";
  }
  return value;
}

// Opens a record's <section> and writes its heading and item table, the values shown or hidden
// ((非表示)); the caller adds what follows and closes the section.
void RecordTable(Html& b, const layout::Catalogue* catalogue, const replica::Record& r,
                 bool show_values) {
  const layout::InfoName* info = catalogue ? catalogue->Find(r.tm) : nullptr;
  const layout::LayoutVersion* v = info ? info->Version(r.version) : nullptr;
  b.Open("section", {{"class", "record"}})
      .Element("h2", TmLabel(catalogue, r.tm) + "（版 " + r.version + "）");
  b.Open("table", {{"class", "items"}}).Open("tbody");
  for (size_t i = 0; i < r.values.size(); ++i) {
    const bool known = v != nullptr && i < v->item_count();
    b.Open("tr").Element("th", known ? v->item(i).name() : "項目 " + std::to_string(i + 1));
    if (show_values) {
      b.Element("td", {{"class", "value"}},
                known ? ShownValue(v->item(i), r.values[i]) : r.values[i]);
    } else {
      b.Element("td", {{"class", "hidden-value"}}, "（非表示）");
    }
    b.Close("tr");
  }
  b.Close("tbody").Close("table");
}

std::string_view VersionEndLabel(replica::VersionEnd e) {
  return e == replica::VersionEnd::kDeleted ? "削除" : "更新";
}

// The 履歴 section of one TM on the search page: each earlier version's period, the imports
// that wrote and ended it, and how it ended — its values hidden — and the 表示 form that shows
// them (audited). `versions` are the TM's, newest first.
void HistorySection(Html& b, const layout::Catalogue* catalogue, const Caller& caller,
                    const AtenaNo& atena, std::string_view tm,
                    const std::vector<const replica::RecordVersion*>& versions) {
  b.Open("section", {{"class", "history"}, {"id", "history-" + std::string(tm)}})
      .Element("h2", "履歴: " + TmLabel(catalogue, tm));
  b.Open("table", {{"class", "list"}})
      .Open("thead")
      .Open("tr")
      .Element("th", "有効期間（開始）")
      .Element("th", "有効期間（終了）")
      .Element("th", "版")
      .Element("th", "書き込んだ取込")
      .Element("th", "終了させた取込")
      .Element("th", "終了")
      .Element("th", "内容")
      .Close("tr")
      .Close("thead")
      .Open("tbody");
  for (const replica::RecordVersion* v : versions) {
    b.Open("tr")
        .Element("td", FormatJst(v->valid_from_us))
        .Element("td", FormatJst(v->valid_until_us))
        .Element("td", v->record.version)
        .Element("td", {{"class", "import-id"}}, v->import_id)
        .Element("td", {{"class", "import-id"}}, v->superseded_by)
        .Element("td", VersionEndLabel(v->end))
        .Element("td", {{"class", "hidden-value"}}, "（非表示）")
        .Close("tr");
  }
  b.Close("tbody").Close("table");
  if (versions.size() >= static_cast<size_t>(replica::kMaxHistoryVersions)) {
    b.Element("p", {{"class", "notice"}},
              "新しい " + std::to_string(replica::kMaxHistoryVersions) + " 件のみ表示しています。");
  }
  b.Open("form", {{"method", "post"}, {"action", "/console/replica/history"}});
  CsrfField(b, caller);
  b.Void("input", {{"type", "hidden"}, {"name", "atena_no"}, {"value", atena.str()}})
      .Void("input", {{"type", "hidden"}, {"name", "tm"}, {"value", std::string(tm)}})
      .Element("button", {{"type", "submit"}, {"class", "show"}}, "表示")
      .Close("form")
      .Close("section");
}

// The resident and TM a 表示 form names (atena_no, tm); nullopt when either is malformed.
struct ResidentTm {
  AtenaNo atena;
  TmCode tm;
};
std::optional<ResidentTm> ResidentTmOf(const Form& form) {
  Result<AtenaNo> atena = AtenaNo::Parse(FormValue(form, "atena_no"));
  Result<TmCode> tm = TmCode::Parse(FormValue(form, "tm"));
  if (!atena.ok() || !tm.ok()) return std::nullopt;
  return ResidentTm{*std::move(atena), *std::move(tm)};
}

}  // namespace

http::Response Console::Impl::Home(http::Request& req) {
  const Caller& caller = CallerOf(req);
  const Session& s = caller.session;
  Html b;
  if (req.Query("changed")) {
    b.Element("p", {{"class", "notice"}, {"role", "status"}}, "パスワードを変更しました。");
  }
  b.Open("section", {{"class", "cards"}});
  // Approvals waiting: a count only (no personal data).
  if (linkage != nullptr && server::HasRole(s.roles, StaffRole::kApprover)) {
    Result<std::vector<server::ApprovalView>> a = linkage->ListApprovals(s.tenant);
    b.Open("div", {{"class", "card"}}).Element("h2", "承認待ち");
    if (a.ok()) {
      b.Element("p", {{"class", "figure"}, {"id", "approvals-waiting"}},
                std::to_string(a->size()) + " 件");
      b.Element("a", {{"href", "/console/approvals"}}, "承認画面へ");
    } else {
      b.Element("p", {{"class", "error"}}, "読み込めませんでした。");
    }
    b.Close("div");
  }
  if (server::HasRole(s.roles, StaffRole::kReplica)) {
    b.Open("div", {{"class", "card"}}).Element("h2", "副本");
    Result<replica::ReplicaStore*> store = caller.tenant->Replicas();
    Result<int64_t> n = store.ok() ? (*store)->Count(std::nullopt) : store.status();
    b.Element("p", {{"class", "figure"}, {"id", "replica-records"}},
              n.ok() ? std::to_string(*n) + " 件" : std::string("—"));
    b.Element("a", {{"href", "/console/replica"}}, "副本の検索へ").Close("div");
  }
  // Today's inquiries by state (Japan's day).
  if (linkage != nullptr && server::HasRole(s.roles, StaffRole::kInquirer)) {
    const int64_t now_us = ToUnixMicros(clock.Now());
    const int64_t day_us = int64_t{86'400} * 1'000'000;
    const int64_t jst_us = int64_t{9} * 3600 * 1'000'000;
    const int64_t today = (now_us + jst_us) / day_us * day_us - jst_us;
    Result<std::vector<server::InquiryView>> list =
        linkage->ListInquiries(s.tenant, std::nullopt, today, 1000);
    b.Open("div", {{"class", "card"}}).Element("h2", "今日の照会");
    if (list.ok()) {
      std::map<std::string, int> by_state;
      for (const server::InquiryView& v : *list) ++by_state[v.state];
      b.Element("p", {{"class", "figure"}, {"id", "inquiries-today"}},
                std::to_string(list->size()) + " 件");
      b.Open("ul");
      for (const auto& [state, n] : by_state) b.Element("li", state + ": " + std::to_string(n));
      b.Close("ul");
    }
    b.Element("a", {{"href", "/console/inquiries"}}, "情報照会へ").Close("div");
  }
  // The last import and the audit chain's state: from the tenant's audit chain.
  Result<std::unique_ptr<store::Transaction>> tx = caller.tenant->db->BeginRead();
  if (tx.ok() && server::HasRole(s.roles, StaffRole::kReplica)) {
    Result<std::optional<store::Row>> last = (*tx)->QueryOne(
        "SELECT time_us, outcome FROM audit_log WHERE action = 'replica.import' ORDER BY seq DESC "
        "LIMIT 1");
    b.Open("div", {{"class", "card"}}).Element("h2", "最後の取込");
    if (last.ok() && *last) {
      b.Element("p", {{"id", "last-import"}},
                FormatJst((*last)->GetInt(0).value_or(0)) + "（" +
                    ((*last)->GetText(1).value_or("") == "ok" ? "成功" : "失敗") + "）");
    } else {
      b.Element("p", {{"id", "last-import"}}, "まだありません");
    }
    b.Element("a", {{"href", "/console/imports"}}, "取込へ").Close("div");
  }
  if (tx.ok() && server::HasRole(s.roles, StaffRole::kAuditor)) {
    Result<std::optional<store::Row>> head = (*tx)->QueryOne(
        "SELECT (SELECT MAX(seq) FROM audit_log), (SELECT MAX(seq) FROM audit_checkpoint)");
    b.Open("div", {{"class", "card"}}).Element("h2", "操作履歴のチェーン");
    if (head.ok() && *head) {
      const int64_t entries = (*head)->GetInt(0).value_or(0);
      const int64_t signed_to = (*head)->GetInt(1).value_or(0);
      b.Element("p", {{"id", "audit-head"}},
                std::to_string(entries) + " 件、署名済み " + std::to_string(signed_to) + " 件まで");
    }
    b.Element("a", {{"href", "/console/history"}}, "操作履歴（検証）へ").Close("div");
  }
  if (tx.ok()) tx->reset();
  b.Open("div", {{"class", "card"}}).Element("h2", "あなたの役割").Open("ul");
  for (StaffRole r : {StaffRole::kInquirer, StaffRole::kApprover, StaffRole::kReplica,
                      StaffRole::kAuditor, StaffRole::kAdmin}) {
    if (server::HasRole(s.roles, r)) b.Element("li", server::StaffRoleLabelJa(r));
  }
  b.Close("ul").Close("div").Close("section");
  return Page(200, Frame(&caller, "ホーム", b.str()));
}

http::Response Console::Impl::Approvals(http::Request& req) {
  const Caller& caller = CallerOf(req);
  Html b;
  if (std::optional<std::string_view> done = req.Query("done")) {
    b.Element("p", {{"class", "notice"}, {"role", "status"}},
              *done == "approved" ? "承認し、回答を送信しました。" : "却下しました。");
  }
  if (linkage == nullptr) {
    b.Element("p", {{"id", "not-connected"}},
              "このサーバーは情報提供ネットワークシステムに接続されていません。");
    return Page(200, Frame(&caller, "承認（自動応答不可）", b.str()));
  }
  Result<std::vector<server::ApprovalView>> list = linkage->ListApprovals(caller.session.tenant);
  if (!list.ok()) {
    return ErrorPage(&caller, 503, "承認（自動応答不可）",
                     "承認待ちの一覧を読み込めませんでした。");
  }
  Audit(caller, req, "approval.list", "count " + std::to_string(list->size()), "ok");
  if (list->empty()) {
    b.Element("p", {{"id", "no-approvals"}}, "承認待ちの情報提供はありません。");
    return Page(200, Frame(&caller, "承認（自動応答不可）", b.str()));
  }
  b.Open("table", {{"class", "list"}})
      .Open("thead")
      .Open("tr")
      .Element("th", "受付日時")
      .Element("th", "照会機関")
      .Element("th", "事務手続き")
      .Element("th", "特定個人情報")
      .Element("th", "")
      .Close("tr")
      .Close("thead")
      .Open("tbody");
  for (const server::ApprovalView& a : *list) {
    b.Open("tr")
        .Element("td", FormatJst(a.received_at_us))
        .Element("td", a.inquirer)
        .Element("td", ProcedureLabel(catalogue.get(), a.procedure))
        .Element("td", TmLabel(catalogue.get(), a.tm))
        .Open("td")
        .Element("a", {{"href", "/console/approvals/" + a.permit_id}}, "内容を確認")
        .Close("td")
        .Close("tr");
  }
  b.Close("tbody").Close("table");
  return Page(200, Frame(&caller, "承認（自動応答不可）", b.str()));
}

http::Response Console::Impl::Approval(http::Request& req) {
  const Caller& caller = CallerOf(req);
  const std::string permit(req.PathParam("permit").value_or(""));
  if (linkage == nullptr) return ErrorPage(&caller, 404, "承認", "この承認待ちはありません。");
  Result<std::vector<server::ApprovalView>> list = linkage->ListApprovals(caller.session.tenant);
  if (!list.ok()) return ErrorPage(&caller, 503, "承認", "承認待ちを読み込めませんでした。");
  const server::ApprovalView* found = nullptr;
  for (const server::ApprovalView& a : *list) {
    if (a.permit_id == permit) found = &a;
  }
  if (found == nullptr) return ErrorPage(&caller, 404, "承認", "この承認待ちはありません。");
  // What will be sent is personal data: recorded before it is shown.
  Audit(caller, req, "approval.show", "permit:" + permit, "ok");
  Html b;
  b.Open("dl", {{"class", "facts"}})
      .Element("dt", "受付日時")
      .Element("dd", FormatJst(found->received_at_us))
      .Element("dt", "照会機関")
      .Element("dd", found->inquirer)
      .Element("dt", "事務手続き")
      .Element("dd", ProcedureLabel(catalogue.get(), found->procedure))
      .Element("dt", "特定個人情報")
      .Element("dd", TmLabel(catalogue.get(), found->tm) + "（版 " + found->layout_version + "）")
      .Close("dl");
  b.Element("h2", "送信される内容（承認するとこのまま暗号化して送信されます）");
  b.Element("pre", {{"class", "answer"}, {"id", "answer"}}, found->answer_json);
  b.Open(
      "form",
      {{"method", "post"}, {"action", "/console/approvals/" + permit}, {"class", "card decide"}});
  CsrfField(b, caller);
  b.Element("label", {{"for", "comment"}}, "コメント（却下の場合は理由、1000バイトまで）")
      .Element("textarea", {{"id", "comment"}, {"name", "comment"}, {"maxlength", "1000"}}, "");
  b.Element("button",
            {{"type", "submit"},
             {"name", "decision"},
             {"value", "approve"},
             {"data-confirm", "この内容を送信します。よろしいですか？"}},
            "承認して送信");
  b.Element("button",
            {{"type", "submit"},
             {"name", "decision"},
             {"value", "reject"},
             {"class", "danger"},
             {"data-confirm", "この情報提供を却下します。よろしいですか？"}},
            "却下");
  b.Close("form");
  return Page(200, Frame(&caller, "承認: 内容の確認", b.str()));
}

http::Response Console::Impl::Decide(http::Request& req) {
  http::Response refusal;
  std::optional<Form> form = CheckedForm(req, &refusal);
  if (!form) return refusal;
  const Caller& caller = CallerOf(req);
  if (linkage == nullptr) return ErrorPage(&caller, 404, "承認", "この承認待ちはありません。");
  Result<PermitId> permit = PermitId::Parse(req.PathParam("permit").value_or(""));
  const std::string_view decision = FormValue(*form, "decision");
  if (!permit.ok() || (decision != "approve" && decision != "reject")) {
    return ErrorPage(&caller, 400, "承認", "送信された内容が不正です（decision）。");
  }
  Status s = linkage->DecideApproval(caller.session.tenant, *permit, decision == "approve",
                                     std::string(FormValue(*form, "comment")),
                                     "staff:" + caller.session.login);
  if (s.code() == StatusCode::kNotFound) {
    return ErrorPage(&caller, 404, "承認",
                     "この承認待ちはありません（すでに処理された可能性があります）。");
  }
  if (s.code() == StatusCode::kFailedPrecondition) {
    return ErrorPage(&caller, 409, "承認",
                     "提供許可証の有効期限が切れたため、送信できませんでした。");
  }
  if (s.code() == StatusCode::kInvalidArgument) {
    return ErrorPage(&caller, 400, "承認", "コメントが長すぎるか、読めない文字を含んでいます。");
  }
  if (!s.ok())
    return ErrorPage(&caller, 503, "承認", "処理できませんでした。もう一度お試しください。");
  return Redirect(decision == "approve" ? "/console/approvals?done=approved"
                                        : "/console/approvals?done=rejected");
}

http::Response Console::Impl::ReplicaSearch(http::Request& req) {
  const Caller& caller = CallerOf(req);
  Html b;
  b.Open("form", {{"method", "get"}, {"action", "/console/replica"}, {"class", "card search"}})
      .Element("label", {{"for", "atena_no"}}, "宛名番号（15桁）")
      .Void("input", {{"id", "atena_no"},
                      {"name", "atena_no"},
                      {"inputmode", "numeric"},
                      {"maxlength", "15"},
                      {"value", req.Query("atena_no").value_or("")}})
      .Element("button", {{"type", "submit"}}, "検索")
      .Close("form");
  std::optional<std::string_view> q = req.Query("atena_no");
  if (!q) return Page(200, Frame(&caller, "副本", b.str()));
  Result<AtenaNo> atena = AtenaNo::Parse(*q);
  if (!atena.ok()) {
    b.Element("p", {{"class", "error"}, {"role", "alert"}},
              "宛名番号は15桁の数字で入力してください。");
    return Page(400, Frame(&caller, "副本", b.str()));
  }
  Result<replica::ReplicaStore*> store = caller.tenant->Replicas();
  Result<std::vector<replica::Record>> records =
      store.ok() ? (*store)->Find(*atena, std::nullopt) : store.status();
  Result<std::vector<replica::RecordVersion>> history =
      records.ok() ? (*store)->History(*atena, std::nullopt) : records.status();
  if (!history.ok()) return ErrorPage(&caller, 503, "副本", "副本を読み込めませんでした。");
  // Which information names a resident has, and had, is personal data too: recorded.
  Audit(caller, req, "replica.lookup",
        ResidentRef(*caller.tenant, atena->str()) + " found=" + std::to_string(records->size()) +
            " history=" + std::to_string(history->size()),
        "ok");
  // Each TM's earlier versions follow its current records; the TMs with history only (every
  // record deleted) come last.
  std::map<std::string, std::vector<const replica::RecordVersion*>> history_by_tm;
  for (const replica::RecordVersion& v : *history) history_by_tm[v.record.tm].push_back(&v);
  auto history_of = [&](const std::string& tm) {
    auto it = history_by_tm.find(tm);
    if (it == history_by_tm.end()) return;
    HistorySection(b, catalogue.get(), caller, *atena, tm, it->second);
    history_by_tm.erase(it);
  };
  if (records->empty()) {
    b.Element("p", {{"id", "no-records"}}, "この宛名番号の副本はありません。");
  }
  for (size_t i = 0; i < records->size(); ++i) {
    const replica::Record& r = (*records)[i];
    RecordTable(b, catalogue.get(), r, false);
    b.Open("form", {{"method", "post"}, {"action", "/console/replica/show"}});
    CsrfField(b, caller);
    b.Void("input", {{"type", "hidden"}, {"name", "atena_no"}, {"value", atena->str()}})
        .Void("input", {{"type", "hidden"}, {"name", "tm"}, {"value", r.tm}})
        .Element("button", {{"type", "submit"}, {"class", "show"}}, "表示")
        .Close("form")
        .Close("section");
    if (i + 1 == records->size() || (*records)[i + 1].tm != r.tm) history_of(r.tm);
  }
  while (!history_by_tm.empty()) history_of(history_by_tm.begin()->first);
  return Page(200, Frame(&caller, "副本", b.str()));
}

http::Response Console::Impl::ReplicaShow(http::Request& req) {
  http::Response refusal;
  std::optional<Form> form = CheckedForm(req, &refusal);
  if (!form) return refusal;
  const Caller& caller = CallerOf(req);
  const std::optional<ResidentTm> asked = ResidentTmOf(*form);
  if (!asked) return ErrorPage(&caller, 400, "副本", "送信された内容が不正です（atena_no, tm）。");
  const AtenaNo* atena = &asked->atena;
  const TmCode* tm = &asked->tm;
  Result<replica::ReplicaStore*> store = caller.tenant->Replicas();
  Result<std::vector<replica::Record>> records =
      store.ok() ? (*store)->Find(*atena, *tm) : store.status();
  if (!records.ok()) return ErrorPage(&caller, 503, "副本", "副本を読み込めませんでした。");
  Audit(caller, req, "replica.show",
        ResidentRef(*caller.tenant, atena->str()) + " tm=" + tm->str() +
            " records=" + std::to_string(records->size()),
        "ok");
  Html b;
  b.Open("p").Element("a", {{"href", "/console/replica?atena_no=" + atena->str()}},
                      "検索結果へ戻る");
  b.Close("p");
  if (records->empty()) b.Element("p", {{"id", "no-records"}}, "この副本はありません。");
  for (const replica::Record& r : *records) {
    RecordTable(b, catalogue.get(), r, true);
    b.Close("section");
  }
  return Page(200, Frame(&caller, "副本: " + atena->str(), b.str()));
}

http::Response Console::Impl::ReplicaHistoryShow(http::Request& req) {
  http::Response refusal;
  std::optional<Form> form = CheckedForm(req, &refusal);
  if (!form) return refusal;
  const Caller& caller = CallerOf(req);
  const std::optional<ResidentTm> asked = ResidentTmOf(*form);
  if (!asked) {
    return ErrorPage(&caller, 400, "副本の履歴", "送信された内容が不正です（atena_no, tm）。");
  }
  const AtenaNo* atena = &asked->atena;
  const TmCode* tm = &asked->tm;
  Result<replica::ReplicaStore*> store = caller.tenant->Replicas();
  Result<std::vector<replica::RecordVersion>> versions =
      store.ok() ? (*store)->History(*atena, *tm) : store.status();
  if (!versions.ok()) {
    return ErrorPage(&caller, 503, "副本の履歴", "副本の履歴を読み込めませんでした。");
  }
  Audit(caller, req, "replica.history.show",
        ResidentRef(*caller.tenant, atena->str()) + " tm=" + tm->str() +
            " versions=" + std::to_string(versions->size()),
        "ok");
  Html b;
  b.Open("p").Element("a", {{"href", "/console/replica?atena_no=" + atena->str()}},
                      "検索結果へ戻る");
  b.Close("p");
  if (versions->empty()) b.Element("p", {{"id", "no-history"}}, "この副本の履歴はありません。");
  for (const replica::RecordVersion& v : *versions) {
    RecordTable(b, catalogue.get(), v.record, true);
    b.Open("dl", {{"class", "facts"}})
        .Element("dt", "有効期間")
        .Element("dd", FormatJst(v.valid_from_us) + " 〜 " + FormatJst(v.valid_until_us))
        .Element("dt", "書き込んだ取込")
        .Element("dd", v.import_id)
        .Element("dt", "終了させた取込")
        .Element("dd", v.superseded_by)
        .Element("dt", "終了")
        .Element("dd", VersionEndLabel(v.end))
        .Close("dl")
        .Close("section");
  }
  return Page(200, Frame(&caller, "副本の履歴: " + atena->str(), b.str()));
}

}  // namespace chukan::console
