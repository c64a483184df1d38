// The inquirer's (照会担当) screen 情報照会: a single inquiry whose procedure, provider and
// information name are chosen from the combinations the permission list copy allows this
// organisation (nothing else is offered), the tenant's inquiries with a state filter (the list
// refreshes itself while any is open), and an inquiry's result, shown only when asked for and
// audited then.
#include <set>
#include <string>
#include <tuple>

#include "console/console_impl.h"
#include "http/api_util.h"
#include "json/json.h"
#include "layout/catalogue.h"
#include "linkage/permission_list.h"
#include "server/hub_port.h"
#include "server/linkage_api.h"
#include "server/linkage_service.h"
#include "server/tenant_context.h"

namespace chukan::console {
namespace {

constexpr size_t kMaxBatchFileBytes = size_t{64} << 20;

struct Choice {
  std::string procedure;
  std::string provider;
  std::string tm;
  std::string value() const { return procedure + "|" + provider + "|" + tm; }
  auto key() const { return std::tie(procedure, provider, tm); }
  bool operator<(const Choice& o) const { return key() < o.key(); }
};

// The (procedure, provider, TM) combinations the list allows `org` to ask for.
std::set<Choice> Choices(const linkage::PermissionList& list, const OrgCode& org) {
  std::set<Choice> out;
  auto class_of = [&](const OrgCode& o) -> std::string {
    auto it = list.classes().find(o);
    return it == list.classes().end() ? std::string() : it->second;
  };
  const std::string mine = class_of(org);
  for (const linkage::PermissionRule& r : list.rules()) {
    if (!r.inquirer.Matches(org, mine)) continue;
    if (r.provider.org) {
      out.insert({r.procedure.str(), r.provider.org->str(), r.tm.str()});
      continue;
    }
    for (const auto& [o, c] : list.classes()) {
      if (o != org && r.provider.Matches(o, c))
        out.insert({r.procedure.str(), o.str(), r.tm.str()});
    }
  }
  return out;
}

std::string_view StateLabel(std::string_view s) {
  if (s == "accepted") return "受付";
  if (s == "permitted") return "許可済（回答待ち）";
  if (s == "completed") return "完了";
  if (s == "refused") return "拒否";
  if (s == "expired") return "期限切れ";
  if (s == "failed") return "失敗";
  return s;
}

bool Open(std::string_view s) { return s == "accepted" || s == "permitted"; }

}  // namespace

http::Response Console::Impl::Inquiries(http::Request& req) {
  const Caller& caller = CallerOf(req);
  if (linkage == nullptr) {
    // Not an error of the request: the screen says what the server lacks (as 承認 does).
    Html b;
    b.Element("p", {{"id", "not-connected"}},
              "このサーバーは情報提供ネットワークシステムに接続されていません。");
    return Page(200, Frame(&caller, "情報照会", b.str()));
  }
  const std::string state(req.Query("state").value_or(""));
  static const std::set<std::string> kStates = {"",        "accepted", "permitted", "completed",
                                                "refused", "expired",  "failed"};
  if (!kStates.contains(state))
    return ErrorPage(&caller, 400, "情報照会", "状態の指定が不正です。");
  Html b;
  // The new inquiry: only what the permission list allows.
  b.Element("h2", "新しい照会");
  Result<std::shared_ptr<const linkage::PermissionList>> list =
      linkage->hub() ? linkage->hub()->PermissionList()
                     : Result<std::shared_ptr<const linkage::PermissionList>>(
                           FailedPreconditionError("no hub"));
  if (!list.ok()) {
    b.Element(
        "p", {{"class", "error"}},
        "情報提供ネットワークシステムの許可リストをまだ受け取っていないため、照会できません。");
  } else {
    std::set<Choice> choices = Choices(**list, caller.session.org);
    if (choices.empty()) {
      b.Element("p", "この機関に許可された照会はありません。");
    } else {
      b.Open("form", {{"method", "post"}, {"action", "/console/inquiries"}, {"class", "card"}});
      CsrfField(b, caller);
      b.Element("label", {{"for", "atena_no"}}, "宛名番号（15桁）")
          .Void("input", {{"id", "atena_no"},
                          {"name", "atena_no"},
                          {"inputmode", "numeric"},
                          {"maxlength", "15"},
                          {"required", "required"}});
      b.Element("label", {{"for", "choice"}}, "事務手続き／提供機関／特定個人情報")
          .Open("select", {{"id", "choice"}, {"name", "choice"}, {"required", "required"}});
      for (const Choice& c : choices) {
        std::string label = c.procedure;
        if (catalogue) {
          if (auto jt = JtCode::Parse(c.procedure); jt.ok()) {
            if (const layout::Procedure* p = catalogue->FindProcedure(*jt)) label += " " + p->name;
          }
        }
        label += " ／ " + c.provider + " ／ " + c.tm;
        if (catalogue) {
          if (const layout::InfoName* n = catalogue->Find(c.tm)) label += " " + n->name();
        }
        b.Element("option", {{"value", c.value()}}, label);
      }
      b.Close("select");
      b.Element("button", {{"type", "submit"}}, "照会する").Close("form");
    }
  }
  // The batch inquiry file (一括照会ファイル, P640R110, docs/batch-inquiry-format.md).
  b.Element("h2", "一括照会ファイル");
  b.Open("form", {{"id", "batch-form"}, {"class", "card"}, {"data-csrf", caller.session.csrf}});
  b.Element("label", {{"for", "batch-file"}},
            "ファイル（P640R110_YYYYMMDDHHmmss[_NNNN].DAT、1行に1件。分割ファイルは順に）")
      .Void("input",
            {{"id", "batch-file"}, {"name", "file"}, {"type", "file"}, {"required", "required"}});
  b.Element("label", {{"for", "batch-charset"}}, "文字コード")
      .Open("select", {{"id", "batch-charset"}, {"name", "charset"}});
  b.Element("option", {{"value", "shift_jis"}}, "Shift_JIS")
      .Element("option", {{"value", "utf-8"}}, "UTF-8")
      .Close("select");
  b.Element("button", {{"type", "submit"}, {"id", "batch-start"}}, "一括で照会する");
  b.Open("noscript")
      .Element("p", {{"class", "error"}}, "一括照会には JavaScript が必要です。")
      .Close("noscript");
  b.Close("form");
  b.Open("section", {{"id", "batch-result"}, {"hidden", "hidden"}}).Close("section");
  // The list.
  b.Element("h2", "照会の一覧");
  b.Open("form", {{"method", "get"}, {"action", "/console/inquiries"}, {"class", "filters"}});
  b.Element("label", {{"for", "state"}}, "状態")
      .Open("select", {{"id", "state"}, {"name", "state"}});
  for (const std::string& s :
       {std::string(), std::string("accepted"), std::string("permitted"), std::string("completed"),
        std::string("refused"), std::string("expired"), std::string("failed")}) {
    const std::string label = s.empty() ? "すべて" : std::string(StateLabel(s));
    if (s == state) {
      b.Element("option", {{"value", s}, {"selected", "selected"}}, label);
    } else {
      b.Element("option", {{"value", s}}, label);
    }
  }
  b.Close("select").Element("button", {{"type", "submit"}}, "絞り込む").Close("form");
  const int64_t since = ToUnixMicros(clock.Now()) - int64_t{7} * 86'400 * 1'000'000;
  Result<std::vector<server::InquiryView>> inquiries = linkage->ListInquiries(
      caller.session.tenant, state.empty() ? std::nullopt : std::optional<std::string>(state),
      since, 200);
  if (!inquiries.ok())
    return ErrorPage(&caller, 503, "情報照会", "照会の一覧を読み込めませんでした。");
  bool any_open = false;
  b.Open("table", {{"class", "list"}, {"id", "inquiries"}}).Open("thead").Open("tr");
  for (std::string_view h :
       {"受付日時", "処理通番", "提供機関", "事務手続き", "特定個人情報", "状態", "理由"}) {
    b.Element("th", h);
  }
  b.Close("tr").Close("thead").Open("tbody");
  for (const server::InquiryView& v : *inquiries) {
    any_open = any_open || Open(v.state);
    b.Open("tr")
        .Element("td", FormatJst(v.created_at_us))
        .Open("td")
        .Element("a", {{"href", "/console/inquiries/" + v.inquiry_id}}, v.inquiry_id)
        .Close("td")
        .Element("td", v.provider)
        .Element("td", v.procedure)
        .Element("td", v.tm)
        .Element("td", {{"class", "state-" + v.state}}, StateLabel(v.state))
        .Element("td", v.reason)
        .Close("tr");
  }
  b.Close("tbody").Close("table");
  if (any_open) {
    b.Element("p", {{"class", "hint"}, {"data-refresh", "10"}},
              "回答待ちの照会があるため、この画面は10秒ごとに更新されます。");
  }
  return Page(200, Frame(&caller, "情報照会", b.str()));
}

http::Response Console::Impl::InquiryCreate(http::Request& req) {
  http::Response refusal;
  std::optional<Form> form = CheckedForm(req, &refusal);
  if (!form) return refusal;
  const Caller& caller = CallerOf(req);
  if (linkage == nullptr) return ErrorPage(&caller, 404, "情報照会", "照会できません。");
  Result<AtenaNo> atena = AtenaNo::Parse(FormValue(*form, "atena_no"));
  if (!atena.ok())
    return ErrorPage(&caller, 400, "情報照会", "宛名番号は15桁の数字で入力してください。");
  const std::string choice(FormValue(*form, "choice"));
  const size_t a = choice.find('|');
  const size_t z = choice.rfind('|');
  Result<JtCode> jt = JtCode::Parse(choice.substr(0, a));
  Result<OrgCode> provider = OrgCode::Parse(a == z ? "" : choice.substr(a + 1, z - a - 1));
  Result<TmCode> tm = TmCode::Parse(a == std::string::npos ? "" : choice.substr(z + 1));
  if (!jt.ok() || !provider.ok() || !tm.ok()) {
    return ErrorPage(&caller, 400, "情報照会", "照会の種類の指定が不正です（choice）。");
  }
  // Only what the list allows is offered, and only that is accepted (a forged form included).
  Result<std::shared_ptr<const linkage::PermissionList>> list =
      linkage->hub() ? linkage->hub()->PermissionList()
                     : Result<std::shared_ptr<const linkage::PermissionList>>(
                           FailedPreconditionError("no hub"));
  if (!list.ok())
    return ErrorPage(&caller, 503, "情報照会", "許可リストがないため照会できません。");
  if (!Choices(**list, caller.session.org)
           .contains(Choice{jt->str(), provider->str(), tm->str()})) {
    Audit(caller, req, "inquiry.create", jt->str() + " " + provider->str() + " " + tm->str(),
          "denied");
    return ErrorPage(&caller, 403, "情報照会", "この照会は許可リストで認められていません。");
  }
  server::InquiryInput in;
  in.atena = *atena;
  in.procedure = *jt;
  in.provider = *provider;
  in.tm = *tm;
  in.client = "staff:" + caller.session.login;
  // The member's 部署コード and ユーザーID go into the inquiry and its records, as a batch
  // file's lines carry theirs.
  in.department = caller.session.dept;
  in.user_id = caller.session.login;
  Result<server::InquiryView> v = linkage->CreateInquiry(caller.session.tenant, in);
  if (!v.ok()) {
    const StatusCode c = v.status().code();
    return ErrorPage(&caller,
                     c == StatusCode::kInvalidArgument ? 400
                     : c == StatusCode::kNotFound      ? 404
                                                       : 503,
                     "情報照会",
                     c == StatusCode::kNotFound
                         ? "この宛名番号の符号が登録されていないため、照会できません。"
                     : c == StatusCode::kInvalidArgument
                         ? "照会の内容が不正です（" + v.status().message() + "）。"
                         : "照会できませんでした。しばらくしてからやり直してください。");
  }
  return Redirect("/console/inquiries/" + v->inquiry_id);
}

http::Response Console::Impl::InquiryDetail(http::Request& req) {
  const Caller& caller = CallerOf(req);
  if (linkage == nullptr) return ErrorPage(&caller, 404, "情報照会", "この照会はありません。");
  const std::string id(req.PathParam("id").value_or(""));
  Result<server::InquiryView> v = linkage->GetInquiry(caller.session.tenant, id);
  if (!v.ok()) return ErrorPage(&caller, 404, "情報照会", "この照会はありません。");
  const bool show = req.method == "POST";
  if (show) {
    http::Response refusal;
    if (!CheckedForm(req, &refusal)) return refusal;
    // The answer is personal data: recorded before it is shown.
    Audit(caller, req, "inquiry.result_show", "inquiry:" + id, v->result_json ? "ok" : "none");
  }
  Html b;
  b.Open("dl", {{"class", "facts"}})
      .Element("dt", "処理通番")
      .Element("dd", v->inquiry_id)
      .Element("dt", "状態")
      .Element("dd", {{"id", "inquiry-state"}}, StateLabel(v->state))
      .Element("dt", "理由")
      .Element("dd", v->reason.empty() ? "—" : v->reason)
      .Element("dt", "提供機関")
      .Element("dd", v->provider)
      .Element("dt", "事務手続き")
      .Element("dd", v->procedure)
      .Element("dt", "特定個人情報")
      .Element("dd", v->tm + "（版 " + v->layout_version + "）")
      .Element("dt", "受付日時")
      .Element("dd", FormatJst(v->created_at_us))
      .Element("dt", "期限")
      .Element("dd", FormatJst(v->expires_at_us))
      .Close("dl");
  if (Open(v->state)) {
    b.Element("p", {{"class", "hint"}, {"data-refresh", "5"}},
              "回答を待っています。この画面は5秒ごとに更新されます。");
  } else if (v->result_json && !show) {
    b.Open("form", {{"method", "post"}, {"action", "/console/inquiries/" + id}});
    CsrfField(b, caller);
    b.Element("button", {{"type", "submit"}, {"class", "show"}}, "結果を表示").Close("form");
  } else if (v->result_json) {
    b.Element("h2", "照会結果");
    b.Element("pre", {{"class", "answer"}, {"id", "result"}}, *v->result_json);
  } else if (v->result_deleted) {
    b.Element("p", "結果は保存期間を過ぎたため削除されました。");
  }
  b.Open("p").Element("a", {{"href", "/console/inquiries"}}, "照会の一覧へ戻る").Close("p");
  return Page(200, Frame(&caller, "情報照会: " + v->inquiry_id, b.str()));
}

http::Response Console::Impl::InquiryBatch(http::Request& req, http::BodyReader& body) {
  const Caller& caller = CallerOf(req);
  if (linkage == nullptr) return JsonError(404, "照会できません（ネットワーク未接続）。");
  Result<std::string> file = http::ReadBody(body, kMaxBatchFileBytes);
  if (!file.ok()) return JsonError(413, "ファイルが大きすぎます（64 MiB まで）。");
  const server::ClientIdentity who{caller.session.org, caller.session.tenant,
                                   "staff:" + caller.session.login, "system"};
  Result<http::Response> r = server::RunBatchInquiryFile(
      *linkage, who, std::move(*file), req.Header("Content-Type").value_or("text/plain"),
      req.Query("name").value_or(""));
  Audit(caller, req, "inquiry.batch", "",
        r.ok() ? "ok" : "error:" + std::string(StatusCodeName(r.status().code())));
  if (!r.ok()) {
    return JsonError(400, "ファイルを読めませんでした（" + r.status().message() + "）。");
  }
  SecurityHeaders(*r);
  return std::move(*r);
}

http::Response Console::Impl::InquiryBatchStatus(http::Request& req) {
  const Caller& caller = CallerOf(req);
  if (linkage == nullptr) return JsonError(404, "この一括照会はありません。");
  Result<std::string> id = server::BatchIdOf(req);
  Result<server::BatchSummary> s =
      id.ok() ? server::ReadBatchSummary(*linkage, caller.session.tenant, *id)
              : Result<server::BatchSummary>(id.status());
  if (!s.ok()) {
    return s.status().code() == StatusCode::kNotFound
               ? JsonError(404, "この一括照会はありません。")
               : JsonError(500, "一括照会の状況を読めませんでした。");
  }
  json::JsonWriter w;
  server::WriteBatchSummary(w, *s);
  Result<std::string> json = w.Finish();
  if (!json.ok()) return JsonError(500, "一括照会の状況を読めませんでした。");
  http::Response r(200, "application/json", std::move(*json));
  SecurityHeaders(r);
  return r;
}

http::Response Console::Impl::InquiryBatchResultFile(http::Request& req) {
  const Caller& caller = CallerOf(req);
  if (linkage == nullptr) return ErrorPage(&caller, 404, "一括照会", "この一括照会はありません。");
  Result<std::string> id = server::BatchIdOf(req);
  Result<http::Response> r =
      id.ok() ? server::BatchResultFileResponse(*linkage, caller.session.tenant, *id,
                                                req.Query("charset"), req.request_id)
              : Result<http::Response>(id.status());
  // The file holds the residents' numbers and answers: recorded whether or not it was given.
  Audit(caller, req, "inquiry.batch_result_file", id.ok() ? "batch:" + *id : "",
        !r.ok()            ? "error:" + std::string(StatusCodeName(r.status().code()))
        : r->status == 200 ? "ok"
                           : "pending");
  if (!r.ok()) {
    if (r.status().code() == StatusCode::kNotFound) {
      return ErrorPage(&caller, 404, "一括照会", "この一括照会はありません。");
    }
    return ErrorPage(&caller, 500, "一括照会", "照会結果ファイルを作れませんでした。");
  }
  if (r->status != 200) {
    return ErrorPage(
        &caller, 409, "一括照会",
        "まだ回答を待っている行があります。すべての行が終わってから取得してください。");
  }
  SecurityHeaders(*r);
  return std::move(*r);
}

}  // namespace chukan::console
