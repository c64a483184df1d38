// The admin's (管理者) screen 利用者管理: the tenant's staff accounts — list, add (the one-time
// password is shown once, to pass on), disable and enable, reset password or second factor,
// change roles — and the tenant's second-factor setting. Every change ends the member's open
// sessions, so a disabled account or a removed role stops at once. An admin sees no replica
// value here or anywhere else.
#include <string>

#include "console/console_impl.h"
#include "server/atena_map.h"
#include "server/platform.h"
#include "server/tenant_context.h"

namespace chukan::console {
namespace {

using server::StaffRole;

constexpr StaffRole kRoles[] = {StaffRole::kInquirer, StaffRole::kApprover, StaffRole::kReplica,
                                StaffRole::kAuditor, StaffRole::kAdmin};

std::string_view RoleName(StaffRole r) {
  switch (r) {
    case StaffRole::kInquirer:
      return "inquirer";
    case StaffRole::kApprover:
      return "approver";
    case StaffRole::kReplica:
      return "replica";
    case StaffRole::kAuditor:
      return "auditor";
    case StaffRole::kAdmin:
      return "admin";
    case StaffRole::kOperator:
      return "operator";
  }
  return "";
}

// The roles ticked in a form (fields "role" = name, repeated).
server::StaffRoles RolesOf(const Form& form) {
  server::StaffRoles roles = 0;
  for (const auto& [k, v] : form) {
    if (k != "role") continue;
    for (StaffRole r : kRoles) {
      if (v == RoleName(r)) roles |= static_cast<server::StaffRoles>(r);
    }
  }
  return roles;
}

void RoleBoxes(Html& h, std::string_view prefix, server::StaffRoles checked) {
  h.Open("fieldset", {{"class", "roles"}}).Element("legend", "役割");
  for (StaffRole r : kRoles) {
    const std::string id = std::string(prefix) + std::string(RoleName(r));
    h.Open("label", {{"class", "check"}});
    if (server::HasRole(checked, r)) {
      h.Void("input", {{"type", "checkbox"},
                       {"name", "role"},
                       {"value", RoleName(r)},
                       {"id", id},
                       {"checked", "checked"}});
    } else {
      h.Void("input", {{"type", "checkbox"}, {"name", "role"}, {"value", RoleName(r)}, {"id", id}});
    }
    h.Text(server::StaffRoleLabelJa(r)).Close("label");
  }
  h.Close("fieldset");
}

std::string StateText(const server::StaffMember& m, int64_t now_us) {
  if (m.disabled) return "無効";
  if (m.locked_until_us > now_us) return "ロック中";
  return "有効";
}

std::string TotpText(const server::StaffMember& m) {
  if (!m.totp_required && !m.totp_enrolled) return "不要";
  if (m.totp_confirmed) return "登録済";
  return "未確認";
}

}  // namespace

http::Response Console::Impl::Staff(http::Request& req) {
  const Caller& caller = CallerOf(req);
  server::StaffDirectory dir(*caller.tenant, options.staff, clock);
  Result<std::vector<server::StaffMember>> list = dir.List();
  Result<bool> totp_all = dir.TotpForAll();
  server::AtenaMap atena_map(*caller.tenant, clock);
  Result<server::AtenaMapping> mapping = atena_map.Mode();
  Result<int64_t> map_rows = atena_map.Count();
  if (!list.ok() || !totp_all.ok() || !mapping.ok() || !map_rows.ok()) {
    return ErrorPage(&caller, 503, "利用者管理", "職員の一覧を読み込めませんでした。");
  }
  Audit(caller, req, "staff.list", "count " + std::to_string(list->size()), "ok");
  Html b;
  if (std::optional<std::string_view> done = req.Query("done")) {
    b.Element("p", {{"class", "notice"}, {"role", "status"}},
              "変更しました（" + std::string(*done) + "）。");
  }
  const int64_t now_us = ToUnixMicros(clock.Now());
  b.Open("table", {{"class", "list"}, {"id", "staff"}}).Open("thead").Open("tr");
  for (std::string_view h :
       {"ログインID", "氏名", "部署コード", "役割", "状態", "二要素", "最終ログイン", "操作"}) {
    b.Element("th", h);
  }
  b.Close("tr").Close("thead").Open("tbody");
  for (const server::StaffMember& m : *list) {
    std::string roles;
    for (StaffRole r : kRoles) {
      if (server::HasRole(m.roles, r)) {
        roles += (roles.empty() ? "" : "、") + std::string(server::StaffRoleLabelJa(r));
      }
    }
    b.Open("tr")
        .Element("td", m.login)
        .Element("td", m.name)
        .Element("td", m.dept)
        .Element("td", roles)
        .Element("td", StateText(m, now_us))
        .Element("td", TotpText(m))
        .Element("td", m.last_login_us ? FormatJst(m.last_login_us) : "—")
        .Open("td");
    b.Open("form",
           {{"method", "post"}, {"action", "/console/staff/" + m.login}, {"class", "row-actions"}});
    CsrfField(b, caller);
    b.Element("button",
              {{"type", "submit"}, {"name", "op"}, {"value", m.disabled ? "enable" : "disable"}},
              m.disabled ? "有効にする" : "無効にする");
    b.Element("button",
              {{"type", "submit"},
               {"name", "op"},
               {"value", "reset_password"},
               {"data-confirm", "パスワードを初期化します。よろしいですか？"}},
              "パスワード初期化");
    b.Element("button",
              {{"type", "submit"},
               {"name", "op"},
               {"value", "reset_totp"},
               {"data-confirm", "二要素認証を再登録させます。よろしいですか？"}},
              "二要素の再登録");
    b.Close("form");
    b.Open("details").Element("summary", "役割の変更");
    b.Open("form", {{"method", "post"}, {"action", "/console/staff/" + m.login}});
    CsrfField(b, caller);
    RoleBoxes(b, "r-" + m.login + "-", m.roles);
    b.Element("button", {{"type", "submit"}, {"name", "op"}, {"value", "roles"}}, "役割を保存");
    b.Close("form").Close("details");
    b.Close("td").Close("tr");
  }
  b.Close("tbody").Close("table");

  b.Element("h2", "職員の追加");
  b.Open("form", {{"method", "post"}, {"action", "/console/staff"}, {"class", "card"}});
  CsrfField(b, caller);
  b.Element("label", {{"for", "new-login"}}, "ログインID（英小文字・数字・._-、32文字まで）")
      .Void(
          "input",
          {{"id", "new-login"}, {"name", "login"}, {"maxlength", "32"}, {"required", "required"}});
  b.Element("label", {{"for", "new-name"}}, "氏名")
      .Void("input",
            {{"id", "new-name"}, {"name", "name"}, {"maxlength", "64"}, {"required", "required"}});
  b.Element("label", {{"for", "new-dept"}}, "部署コード")
      .Void("input", {{"id", "new-dept"}, {"name", "dept"}, {"maxlength", "20"}});
  RoleBoxes(b, "new-", 0);
  b.Element("button", {{"type", "submit"}}, "追加").Close("form");

  // Existing-system clients (既存システム) and their tokens.
  b.Element("h2", "既存システム（API の利用者）");
  Result<std::vector<server::ClientInfo>> clients = platform.ListClients(caller.session.org);
  if (clients.ok()) {
    b.Open("table", {{"class", "list"}, {"id", "clients"}}).Open("thead").Open("tr");
    for (std::string_view h : {"名前", "種類", "登録日時", "操作"}) b.Element("th", h);
    b.Close("tr").Close("thead").Open("tbody");
    for (const server::ClientInfo& c : *clients) {
      b.Open("tr")
          .Element("td", c.name)
          .Element("td", c.role)
          .Element("td", FormatJst(c.created_at_us))
          .Open("td");
      b.Open("form", {{"method", "post"}, {"action", "/console/clients/revoke"}});
      CsrfField(b, caller);
      b.Void("input", {{"type", "hidden"}, {"name", "name"}, {"value", c.name}});
      b.Element("button",
                {{"type", "submit"},
                 {"class", "danger"},
                 {"data-confirm",
                  "このトークンを失効させます。この既存システムは API を使えなくなります。"}},
                "失効");
      b.Close("form").Close("td").Close("tr");
    }
    b.Close("tbody").Close("table");
  }
  b.Open("form", {{"method", "post"}, {"action", "/console/clients"}, {"class", "card"}});
  CsrfField(b, caller);
  b.Element("label", {{"for", "client-name"}}, "既存システムの名前")
      .Void(
          "input",
          {{"id", "client-name"}, {"name", "name"}, {"maxlength", "64"}, {"required", "required"}});
  b.Element("label", {{"for", "client-role"}}, "種類")
      .Open("select", {{"id", "client-role"}, {"name", "role"}})
      .Element("option", {{"value", "system"}}, "system（副本・照会）")
      .Element("option", {{"value", "approver"}}, "approver（承認のみ）")
      .Close("select");
  b.Element("button", {{"type", "submit"}}, "トークンを発行").Close("form");

  b.Element("h2", "二要素認証と宛名番号の設定");
  b.Open("form", {{"method", "post"}, {"action", "/console/staff/settings"}, {"class", "card"}});
  CsrfField(b, caller);
  b.Open("label", {{"class", "check"}});
  if (*totp_all) {
    b.Void("input",
           {{"type", "checkbox"}, {"name", "totp_all"}, {"value", "on"}, {"checked", "checked"}});
  } else {
    b.Void("input", {{"type", "checkbox"}, {"name", "totp_all"}, {"value", "on"}});
  }
  b.Text("すべての職員に二要素認証を求める（承認者と管理者には常に必須）").Close("label");
  // 宛名番号 → 団体内統合宛名番号 for batch inquiry files (server::AtenaMap).
  b.Element("label", {{"for", "atena-mapping"}}, "一括照会ファイルの宛名番号");
  b.Open("select", {{"name", "atena_mapping"}, {"id", "atena-mapping"}});
  for (const auto& [value, label] :
       {std::pair<server::AtenaMapping, std::string_view>{
            server::AtenaMapping::kIdentity, "そのまま統合宛名番号とする（15桁に0埋め）"},
        {server::AtenaMapping::kTable, "変換表で統合宛名番号に変換する"}}) {
    const std::string name(server::AtenaMappingName(value));
    if (value == *mapping) {
      b.Element("option", {{"value", name}, {"selected", "selected"}}, label);
    } else {
      b.Element("option", {{"value", name}}, label);
    }
  }
  b.Close("select");
  b.Element("p", {{"class", "hint"}, {"id", "atena-map-rows"}},
            "変換表: " + std::to_string(*map_rows) +
                " 件（chukan atena-map load または POST /api/v1/atena-map で取込）");
  b.Element("button", {{"type", "submit"}}, "保存").Close("form");
  return Page(200, Frame(&caller, "利用者管理", b.str()));
}

http::Response Console::Impl::StaffAdd(http::Request& req) {
  http::Response refusal;
  std::optional<Form> form = CheckedForm(req, &refusal);
  if (!form) return refusal;
  const Caller& caller = CallerOf(req);
  server::StaffDirectory dir(*caller.tenant, options.staff, clock);
  const server::StaffRoles roles = RolesOf(*form);
  if (roles == 0) return ErrorPage(&caller, 400, "利用者管理", "役割を1つ以上選んでください。");
  Result<server::StaffCreated> created =
      dir.Add(FormValue(*form, "login"), FormValue(*form, "name"), FormValue(*form, "dept"), roles,
              "staff:" + caller.session.login);
  if (created.status().code() == StatusCode::kAlreadyExists) {
    return ErrorPage(&caller, 409, "利用者管理", "このログインIDはすでに使われています。");
  }
  if (created.status().code() == StatusCode::kInvalidArgument) {
    return ErrorPage(&caller, 400, "利用者管理",
                     "入力が規則に合いません（" + created.status().message() + "）。");
  }
  if (!created.ok()) return ErrorPage(&caller, 503, "利用者管理", "追加できませんでした。");
  Html b;
  b.Element("p", {{"class", "notice"}, {"role", "status"}},
            "職員 " + created->member.login +
                " を追加しました。次の初期パスワードを本人に伝えてください。"
                "この画面を離れると二度と表示されません。");
  b.Open("p")
      .Text("初期パスワード: ")
      .Element("code", {{"class", "secret"}, {"id", "initial-password"}}, created->initial_password)
      .Close("p");
  if (created->enrolment) {
    b.Element("p", "初回ログイン時に、本人が認証アプリで二要素認証を登録します。");
  }
  b.Open("p").Element("a", {{"href", "/console/staff"}}, "利用者管理へ戻る").Close("p");
  return Page(200, Frame(&caller, "利用者管理: 追加", b.str()));
}

http::Response Console::Impl::StaffChange(http::Request& req) {
  http::Response refusal;
  std::optional<Form> form = CheckedForm(req, &refusal);
  if (!form) return refusal;
  const Caller& caller = CallerOf(req);
  server::StaffDirectory dir(*caller.tenant, options.staff, clock);
  const std::string login(req.PathParam("login").value_or(""));
  const std::string op(FormValue(*form, "op"));
  const std::string actor = "staff:" + caller.session.login;
  if (login == caller.session.login && (op == "disable" || op == "roles")) {
    return ErrorPage(&caller, 400, "利用者管理",
                     "自分自身を無効にしたり、自分の役割を変えたりすることはできません。");
  }
  Html b;
  Status s;
  if (op == "disable" || op == "enable") {
    s = dir.SetDisabled(login, op == "disable", actor);
  } else if (op == "roles") {
    const server::StaffRoles roles = RolesOf(*form);
    s = roles == 0 ? InvalidArgumentError("roles: none chosen") : dir.SetRoles(login, roles, actor);
  } else if (op == "reset_password") {
    Result<std::string> pw = dir.ResetPassword(login, actor);
    s = pw.status();
    if (pw.ok()) {
      b.Element("p", {{"class", "notice"}, {"role", "status"}},
                "職員 " + login +
                    " のパスワードを初期化しました。次の初期パスワードを本人に伝えてください。");
      b.Open("p")
          .Text("初期パスワード: ")
          .Element("code", {{"class", "secret"}, {"id", "initial-password"}}, *pw)
          .Close("p");
    }
  } else if (op == "reset_totp") {
    s = dir.ResetTotp(login, actor).status();
  } else {
    return ErrorPage(&caller, 400, "利用者管理", "操作が不正です（op）。");
  }
  if (s.code() == StatusCode::kNotFound) {
    return ErrorPage(&caller, 404, "利用者管理", "この職員はいません。");
  }
  if (s.code() == StatusCode::kInvalidArgument) {
    return ErrorPage(&caller, 400, "利用者管理", "入力が規則に合いません（" + s.message() + "）。");
  }
  if (!s.ok()) return ErrorPage(&caller, 503, "利用者管理", "変更できませんでした。");
  // Whatever changed, the member's open sessions end: the change takes effect at once.
  sessions.EndMember(caller.session.tenant, login);
  if (op == "reset_password") {
    b.Open("p").Element("a", {{"href", "/console/staff"}}, "利用者管理へ戻る").Close("p");
    return Page(200, Frame(&caller, "利用者管理: パスワード初期化", b.str()));
  }
  return Redirect("/console/staff?done=" + op);
}

http::Response Console::Impl::StaffSettings(http::Request& req) {
  http::Response refusal;
  std::optional<Form> form = CheckedForm(req, &refusal);
  if (!form) return refusal;
  const Caller& caller = CallerOf(req);
  server::StaffDirectory dir(*caller.tenant, options.staff, clock);
  const std::string actor = "staff:" + caller.session.login;
  // An absent atena_mapping leaves the setting as it is (a form of an older page).
  std::optional<server::AtenaMapping> mapping;
  if (std::string_view m = FormValue(*form, "atena_mapping"); !m.empty()) {
    Result<server::AtenaMapping> parsed = server::ParseAtenaMapping(m);
    if (!parsed.ok()) {
      return ErrorPage(&caller, 400, "利用者管理", "宛名番号の変換方法が正しくありません。");
    }
    mapping = *parsed;
  }
  Status s = dir.SetTotpForAll(FormValue(*form, "totp_all") == "on", actor);
  if (s.ok() && mapping) s = server::AtenaMap(*caller.tenant, clock).SetMode(*mapping, actor);
  if (!s.ok()) return ErrorPage(&caller, 503, "利用者管理", "保存できませんでした。");
  return Redirect("/console/staff?done=settings");
}

http::Response Console::Impl::ClientAdd(http::Request& req) {
  http::Response refusal;
  std::optional<Form> form = CheckedForm(req, &refusal);
  if (!form) return refusal;
  const Caller& caller = CallerOf(req);
  const std::string name(FormValue(*form, "name"));
  Result<std::string> token =
      platform.AddClient(caller.session.org, name, std::string(FormValue(*form, "role")),
                         "staff:" + caller.session.login);
  if (token.status().code() == StatusCode::kAlreadyExists) {
    return ErrorPage(&caller, 409, "利用者管理",
                     "この名前の既存システムはすでに登録されています。");
  }
  if (token.status().code() == StatusCode::kInvalidArgument) {
    return ErrorPage(&caller, 400, "利用者管理",
                     "入力が規則に合いません（" + token.status().message() + "）。");
  }
  if (!token.ok()) return ErrorPage(&caller, 503, "利用者管理", "発行できませんでした。");
  Html b;
  b.Element("p", {{"class", "notice"}, {"role", "status"}},
            "既存システム " + name +
                " のトークンを発行しました。既存システムの設定に登録してください。"
                "この画面を離れると二度と表示されません。");
  b.Open("p")
      .Text("トークン: ")
      .Element("code", {{"class", "secret"}, {"id", "client-token"}}, *token)
      .Close("p");
  b.Open("p").Element("a", {{"href", "/console/staff"}}, "利用者管理へ戻る").Close("p");
  return Page(200, Frame(&caller, "利用者管理: トークンの発行", b.str()));
}

http::Response Console::Impl::ClientRevoke(http::Request& req) {
  http::Response refusal;
  std::optional<Form> form = CheckedForm(req, &refusal);
  if (!form) return refusal;
  const Caller& caller = CallerOf(req);
  Status s = platform.RevokeClient(caller.session.org, std::string(FormValue(*form, "name")),
                                   "staff:" + caller.session.login);
  if (s.code() == StatusCode::kNotFound) {
    return ErrorPage(&caller, 404, "利用者管理", "この既存システムは登録されていません。");
  }
  if (!s.ok()) return ErrorPage(&caller, 503, "利用者管理", "失効できませんでした。");
  return Redirect("/console/staff?done=revoke");
}

}  // namespace chukan::console
