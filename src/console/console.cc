#include "console/console.h"

#include <cstdio>
#include <ctime>
#include <map>
#include <utility>

#include "common/log.h"
#include "console/console_impl.h"
#include "console/qr_svg.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "json/json.h"
#include "server/platform.h"
#include "server/tenant_context.h"

namespace chukan::console {
namespace {

using server::StaffRole;

constexpr std::string_view kSessionCookie = "chukan_session";
constexpr std::string_view kLoginCookie = "chukan_login";
constexpr std::string_view kLangCookie = "chukan_lang";
constexpr auto R = [](StaffRole r) { return static_cast<server::StaffRoles>(r); };

std::string_view StagePath(Stage s) {
  switch (s) {
    case Stage::kTotp:
    case Stage::kEnrol:
      return "/console/totp";
    case Stage::kChangePassword:
      return "/console/password";
    case Stage::kActive:
      break;
  }
  return "/console/home";
}

bool Same(std::string_view a, std::string_view b) {
  return crypto::ConstantTimeEquals(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(a.data()), a.size()),
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
}

constexpr std::string_view kBusy = "ただいま混み合っています。しばらくしてからやり直してください。";

// A 503 answer asks the browser to wait before trying again.
http::Response Busy(http::Response r) {
  r.headers.Set("Retry-After", "1");
  return r;
}

std::string ClearCookie(std::string_view name, std::string_view path) {
  return std::string(name) + "=; Path=" + std::string(path) +
         "; Max-Age=0; HttpOnly; SameSite=Strict";
}

}  // namespace

// ---- helpers shared with screens.cc ------------------------------------------------------------

Result<Form> ParseForm(std::string_view body) {
  Form form;
  size_t field = 0;
  while (!body.empty()) {
    size_t amp = body.find('&');
    std::string_view part = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    ++field;
    if (part.empty()) continue;
    if (form.size() >= 64) return InvalidArgumentError("form: more than 64 fields");
    size_t eq = part.find('=');
    Result<std::string> name = http::PercentDecode(part.substr(0, eq), true);
    Result<std::string> value = http::PercentDecode(
        eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), true);
    if (!name.ok() || !value.ok()) {
      return InvalidArgumentError("form field " + std::to_string(field) + ": bad escape");
    }
    form.emplace_back(std::move(*name), std::move(*value));
  }
  return form;
}

std::string_view FormValue(const Form& form, std::string_view name) {
  for (const auto& [k, v] : form) {
    if (k == name) return v;
  }
  return {};
}

std::optional<std::string> CookieValue(const http::Request& req, std::string_view name) {
  for (const auto& [k, v] : req.headers.fields()) {
    if (!http::EqualsIgnoreCase(k, "Cookie")) continue;
    std::string_view rest = v;
    while (!rest.empty()) {
      size_t semi = rest.find(';');
      std::string_view pair = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
        return std::string(pair.substr(eq + 1));
      }
    }
  }
  return std::nullopt;
}

std::string FormatJst(int64_t unix_us) {
  std::time_t t = static_cast<std::time_t>(unix_us / 1'000'000 + 9 * 3600);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min);
  return buf;
}

void SecurityHeaders(http::Response& r, bool cacheable) {
  r.headers.Set("Content-Security-Policy",
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  r.headers.Set("X-Frame-Options", "DENY");
  r.headers.Set("Referrer-Policy", "no-referrer");
  r.headers.Set("Cache-Control", cacheable ? "private, max-age=3600" : "no-store");
}

http::Response Page(int status, std::string html) {
  http::Response r(status, "text/html; charset=utf-8", std::move(html));
  SecurityHeaders(r);
  return r;
}

http::Response Redirect(std::string_view location) {
  http::Response r(303, "text/plain; charset=utf-8", "");
  r.headers.Set("Location", location);
  SecurityHeaders(r);
  return r;
}

void CsrfField(Html& h, const Caller& caller) {
  h.Void("input", {{"type", "hidden"}, {"name", "csrf"}, {"value", caller.session.csrf}});
}

std::string EnglishLabel(std::string_view japanese) {
  static const auto* names = new std::map<std::string_view, std::string_view>{
      {"ホーム", "Home"},
      {"テナント一覧", "Tenants"},
      {"情報照会", "Inquiries"},
      {"副本", "Replica"},
      {"取込", "Import"},
      {"照合", "Reconcile"},
      {"承認", "Approvals"},
      {"承認（自動応答不可）", "Approvals (no automatic answer)"},
      {"記録", "Records"},
      {"記録（情報提供等の記録）", "Records of provision"},
      {"操作履歴", "Access history"},
      {"利用者管理", "Staff and systems"},
      {"パスワード変更", "Change password"},
      {"ログイン", "Log in"},
      {"ログアウト", "Log out"},
      {"二要素認証", "Two-factor authentication"},
      {"機関", "Organisation"},
      {"メニュー", "Menu"},
      {"権限がありません", "Not permitted"},
      {"拒否されました", "Refused"},
      {"見つかりません", "Not found"},
      {"入力が不正です", "Invalid input"},
      {"エラー", "Error"},
      {"改ざん検証", "Chain verification"},
      {"内容の確認", "Review"},
      {"追加", "Add"},
      {"パスワード初期化", "Password reset"},
      {"トークンの発行", "Token issued"},
  };
  if (auto it = names->find(japanese); it != names->end()) return std::string(it->second);
  // "副本: 000000000000101", "承認: 内容の確認": a known head, then a known tail or a name.
  const size_t colon = japanese.find(": ");
  if (colon == std::string_view::npos) return "";
  auto head = names->find(japanese.substr(0, colon));
  if (head == names->end()) return "";
  const std::string_view rest = japanese.substr(colon + 2);
  auto tail = names->find(rest);
  return std::string(head->second) + ": " + std::string(tail != names->end() ? tail->second : rest);
}

bool WantsEnglish(const http::Request& req) { return CookieValue(req, kLangCookie) == "en"; }

std::string Frame(const Caller* caller, std::string_view title, std::string_view body_html,
                  bool english) {
  if (caller != nullptr) english = caller->english;
  // With English labels: "English（日本語）" where the label has an English name.
  auto label = [english](std::string_view ja) {
    if (!english) return std::string(ja);
    const std::string en = EnglishLabel(ja);
    return en.empty() ? std::string(ja) : en;
  };
  const std::string en_title = english ? EnglishLabel(title) : "";
  const std::string shown_title =
      en_title.empty() ? std::string(title) : en_title + "（" + std::string(title) + "）";
  Html h;
  h.Trusted("<!DOCTYPE html>\n")
      .Open("html", {{"lang", english ? "en" : "ja"}})
      .Open("head")
      .Void("meta", {{"charset", "utf-8"}})
      .Void("meta", {{"name", "viewport"}, {"content", "width=device-width, initial-scale=1"}})
      .Element("title", shown_title + " — chukan 中間サーバー")
      .Void("link", {{"rel", "stylesheet"}, {"href", "/console/assets/console.css"}})
      .Open("script", {{"src", "/console/assets/console.js"}, {"defer", "defer"}})
      .Close("script")
      .Close("head")
      .Open("body")
      .Open("header")
      .Element("span", {{"class", "brand"}}, "chukan 中間サーバー");
  // The other language, one link away (a preference cookie, no session needed).
  if (english) {
    h.Element("a", {{"class", "lang"}, {"href", "/console/lang?to=ja"}, {"lang", "ja"}}, "日本語");
  } else {
    h.Element("a", {{"class", "lang"}, {"href", "/console/lang?to=en"}, {"lang", "en"}}, "English");
  }
  if (caller != nullptr) {
    const Session& s = caller->session;
    h.Element("span", {{"class", "who"}},
              label("機関") + " " + s.org.str() + " ／ " + s.name + "（" + s.login + "）");
    if (s.stage == Stage::kActive) {
      h.Open("nav", {{"aria-label", label("メニュー")}}).Open("ul");
      struct Item {
        std::string_view href;
        std::string_view label;
        server::StaffRoles roles;
      };
      const Item items[] = {
          {"/console/operator", "テナント一覧", R(StaffRole::kOperator)},
          {"/console/inquiries", "情報照会", R(StaffRole::kInquirer)},
          {"/console/replica", "副本", R(StaffRole::kReplica)},
          {"/console/imports", "取込", R(StaffRole::kReplica)},
          {"/console/reconcile", "照合", R(StaffRole::kReplica)},
          {"/console/approvals", "承認", R(StaffRole::kApprover)},
          {"/console/records", "記録", R(StaffRole::kAuditor)},
          {"/console/history", "操作履歴", R(StaffRole::kAuditor)},
          {"/console/staff", "利用者管理", R(StaffRole::kAdmin)},
          {"/console/password", "パスワード変更", 0},
      };
      const bool op = server::HasRole(s.roles, StaffRole::kOperator);
      if (!op) {
        h.Open("li").Element("a", {{"href", "/console/home"}}, label("ホーム")).Close("li");
      }
      for (const Item& i : items) {
        if (i.roles != 0 && (s.roles & i.roles) == 0) continue;
        h.Open("li").Element("a", {{"href", i.href}}, label(i.label)).Close("li");
      }
      h.Close("ul").Close("nav");
    }
    h.Open("form", {{"method", "post"}, {"action", "/console/logout"}, {"class", "logout"}});
    CsrfField(h, *caller);
    h.Element("button", {{"type", "submit"}}, label("ログアウト")).Close("form");
  }
  h.Close("header").Open("main").Element("h1", shown_title).Trusted(body_html);
  h.Close("main").Close("body").Close("html");
  return h.Take();
}

http::Response JsonError(int status, std::string_view message) {
  json::JsonWriter w;
  w.BeginObject().Key("error").String(message).EndObject();
  http::Response r(status, "application/json", w.Finish().value_or("{}"));
  SecurityHeaders(r);
  return r;
}

http::Response ErrorPage(const Caller* caller, int status, std::string_view title,
                         std::string_view message) {
  Html b;
  b.Element("p", {{"class", "error"}, {"role", "alert"}}, message);
  b.Open("p").Element("a", {{"href", "/console/home"}}, "ホームへ戻る").Close("p");
  return Page(status, Frame(caller, title, b.str()));
}

// ---- routes ------------------------------------------------------------------------------------

const std::vector<RouteSpec>& Console::Routes() {
  enum : int { kOpen = 1, kLoginStage = 2, kPersonal = 4, kStreaming = 8 };
  auto Spec = [](std::string_view method, std::string_view pattern, server::StaffRoles roles,
                 int flags) {
    RouteSpec r;
    r.method = method;
    r.pattern = pattern;
    r.roles = roles;
    r.open = (flags & kOpen) != 0;
    r.login_stage = (flags & kLoginStage) != 0;
    r.personal_data = (flags & kPersonal) != 0;
    r.streaming = (flags & kStreaming) != 0;
    return r;
  };
  static const auto* routes = new std::vector<RouteSpec>{
      Spec("GET", "/console", 0, kOpen),
      Spec("GET", "/console/login", 0, kOpen),
      Spec("POST", "/console/login", 0, kOpen),
      Spec("GET", "/console/lang", 0, kOpen),
      Spec("GET", "/console/assets/console.css", 0, kOpen),
      Spec("GET", "/console/assets/console.js", 0, kOpen),
      Spec("GET", "/console/totp", 0, kLoginStage),
      Spec("POST", "/console/totp", 0, kLoginStage),
      Spec("GET", "/console/password", 0, kLoginStage),
      Spec("POST", "/console/password", 0, kLoginStage),
      Spec("POST", "/console/logout", 0, kLoginStage),
      Spec("GET", "/console/home", 0, 0),
      Spec("GET", "/console/approvals", R(StaffRole::kApprover), 0),
      Spec("GET", "/console/approvals/{permit}", R(StaffRole::kApprover), kPersonal),
      Spec("POST", "/console/approvals/{permit}", R(StaffRole::kApprover), 0),
      Spec("GET", "/console/replica", R(StaffRole::kReplica), 0),
      Spec("POST", "/console/replica/show", R(StaffRole::kReplica), kPersonal),
      Spec("POST", "/console/replica/history", R(StaffRole::kReplica), kPersonal),
      Spec("GET", "/console/inquiries", R(StaffRole::kInquirer), 0),
      Spec("POST", "/console/inquiries", R(StaffRole::kInquirer), 0),
      Spec("POST", "/console/inquiries/batch", R(StaffRole::kInquirer), kStreaming),
      Spec("GET", "/console/inquiries/batch/{id}", R(StaffRole::kInquirer), 0),
      Spec("GET", "/console/inquiries/batch/{id}/result-file", R(StaffRole::kInquirer), kPersonal),
      Spec("GET", "/console/inquiries/{id}", R(StaffRole::kInquirer), 0),
      Spec("POST", "/console/inquiries/{id}", R(StaffRole::kInquirer), kPersonal),
      Spec("GET", "/console/records", R(StaffRole::kAuditor), 0),
      Spec("GET", "/console/history", R(StaffRole::kAuditor), 0),
      Spec("POST", "/console/history/verify", R(StaffRole::kAuditor), 0),
      Spec("GET", "/console/staff", R(StaffRole::kAdmin), 0),
      Spec("POST", "/console/staff", R(StaffRole::kAdmin), 0),
      Spec("POST", "/console/staff/settings", R(StaffRole::kAdmin), 0),
      Spec("POST", "/console/staff/{login}", R(StaffRole::kAdmin), 0),
      Spec("POST", "/console/clients", R(StaffRole::kAdmin), 0),
      Spec("POST", "/console/clients/revoke", R(StaffRole::kAdmin), 0),
      Spec("POST", "/console/imports/upload", R(StaffRole::kReplica), kStreaming),
      Spec("GET", "/console/imports", R(StaffRole::kReplica), 0),
      Spec("GET", "/console/imports/progress", R(StaffRole::kReplica), 0),
      Spec("GET", "/console/operator", R(StaffRole::kOperator), 0),
      Spec("GET", "/console/reconcile", R(StaffRole::kReplica), 0),
      Spec("POST", "/console/reconcile/upload", R(StaffRole::kReplica), kStreaming | kPersonal),
  };
  return *routes;
}

Console::Console(server::Platform& platform, server::LinkageService* linkage,
                 std::shared_ptr<const layout::Catalogue> catalogue, ConsoleOptions options,
                 const Clock& clock)
    : impl_(std::make_unique<Impl>(platform, linkage, std::move(catalogue), std::move(options),
                                   clock)),
      sessions_(impl_->sessions) {}

Console::~Console() = default;

Status Console::Register(http::Router& router) {
  for (const RouteSpec& spec : Routes()) {
    http::RouteOptions ro;
    ro.max_body_bytes = spec.streaming          ? impl_->options.max_upload_bytes
                        : spec.method == "POST" ? impl_->options.max_form_bytes
                                                : 0;
    Impl* impl = impl_.get();
    const RouteSpec* sp = &spec;
    ro.gate = [impl, sp](http::Request& req) { return impl->Check(*sp, req); };
    if (spec.streaming) {
      RETURN_IF_ERROR(router.AddStreaming(
          spec.method, spec.pattern,
          [impl, sp](http::Request& req, http::BodyReader& body) {
            // Each upload holds this worker until its body is in: a bounded number at once, so
            // trickling uploads can never occupy the workers every other page needs. Refused
            // before any body byte is read.
            const Session& s = CallerOf(req).session;
            WorkSlots::Ticket slot = impl->upload_slots.TryAcquire(s.tenant.str() + "|" + s.login);
            if (!slot) {
              http::Response busy = JsonError(
                  503, "ほかのファイルの送信が処理中です。しばらくしてからやり直してください。");
              busy.headers.Set("Retry-After", "5");
              return busy;
            }
            if (sp->pattern == "/console/reconcile/upload") return impl->ReconcileUpload(req, body);
            if (sp->pattern == "/console/inquiries/batch") return impl->InquiryBatch(req, body);
            return impl->ImportUpload(req, body);
          },
          std::move(ro)));
      continue;
    }
    RETURN_IF_ERROR(router.Add(
        spec.method, spec.pattern,
        [impl, sp](http::Request& req) { return impl->Dispatch(*sp, req); }, std::move(ro)));
  }
  return Status::Ok();
}

void Console::Sweep() {
  for (const Session& s : impl_->sessions.Sweep()) {
    Result<std::shared_ptr<server::TenantContext>> t = impl_->platform.Tenant(s.tenant);
    if (!t.ok()) continue;
    (*t)->Audit({s.tenant.str(), "staff:" + s.login, "staff.session_expired", "staff:" + s.login,
                 "ok", ""});
  }
}

std::optional<http::Response> Console::Impl::Check(const RouteSpec& spec, http::Request& req) {
  if (spec.open) return std::nullopt;
  // A form posted from another site is refused whatever it carries (the CSRF token is checked
  // as well, once the body is read).
  if (req.method == "POST") {
    std::optional<std::string_view> site = req.Header("Sec-Fetch-Site");
    if (site && *site != "same-origin" && *site != "none") {
      return ErrorPage(nullptr, 403, "拒否されました", "別のサイトからの送信は受け付けません。");
    }
  }
  std::optional<std::string> id = CookieValue(req, kSessionCookie);
  if (!id) return Redirect("/console/login");
  ConsoleSessions::Found found = sessions.Touch(*id);
  if (found.expired) {
    Result<std::shared_ptr<server::TenantContext>> t = platform.Tenant(found.expired->tenant);
    if (t.ok()) {
      (*t)->Audit({found.expired->tenant.str(), "staff:" + found.expired->login,
                   "staff.session_expired", "staff:" + found.expired->login, "ok",
                   req.request_id.str()});
    }
  }
  if (!found.session) {
    http::Response r = Redirect("/console/login?expired=1");
    r.headers.Add("Set-Cookie", ClearCookie(kSessionCookie, "/console"));
    return r;
  }
  Session& s = *found.session;
  Result<std::shared_ptr<server::TenantContext>> tenant = platform.Tenant(s.tenant);
  if (!tenant.ok()) {
    // The tenant was deleted or disabled: its sessions end with it.
    sessions.EndTenant(s.tenant);
    return Redirect("/console/login");
  }
  if (!spec.login_stage && s.stage != Stage::kActive) return Redirect(StagePath(s.stage));
  auto caller = std::make_shared<Caller>(std::move(*id), std::move(s), std::move(*tenant));
  caller->english = WantsEnglish(req);
  // An operator (運用者) reaches the platform's screens and the login steps, nothing of a
  // tenant's: the screens open to every member (ホーム) are not theirs either.
  const bool operator_session = server::HasRole(caller->session.roles, StaffRole::kOperator);
  if (operator_session && !spec.login_stage &&
      spec.roles != static_cast<server::StaffRoles>(StaffRole::kOperator)) {
    if (spec.pattern == "/console/home") return Redirect("/console/operator");
    Audit(*caller, req, "console.denied", std::string(spec.method) + " " + req.path, "denied");
    return ErrorPage(caller.get(), 403, "権限がありません",
                     "運用者のアカウントでは、この画面は使えません。");
  }
  if (spec.roles != 0 && (caller->session.roles & spec.roles) == 0) {
    Audit(*caller, req, "console.denied", std::string(spec.method) + " " + req.path, "denied");
    return ErrorPage(caller.get(), 403, "権限がありません",
                     "この画面を使う権限がありません。必要な役割は管理者にお問い合わせください。");
  }
  // An upload carries its CSRF token in a header, checked before any body byte is read.
  if (spec.streaming && !Same(req.Header("X-CSRF-Token").value_or(""), caller->session.csrf)) {
    Audit(*caller, req, "console.csrf", std::string(req.path), "denied");
    return ErrorPage(caller.get(), 403, "拒否されました",
                     "画面の有効期限が切れました。もう一度開き直してください。");
  }
  req.principal = std::move(caller);
  return std::nullopt;
}

http::Response Console::Impl::Dispatch(const RouteSpec& spec, http::Request& req) {
  const std::string_view p = spec.pattern;
  const bool post = spec.method == "POST";
  if (p == "/console") return Redirect("/console/home");
  if (p == "/console/login") return post ? LoginPost(req) : LoginPage(req, 200, "");
  if (p == "/console/assets/console.css" || p == "/console/assets/console.js") {
    const bool css = p.ends_with(".css");
    http::Response r(200, css ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8",
                     std::string(css ? ConsoleCss() : ConsoleJs()));
    SecurityHeaders(r, true);
    return r;
  }
  if (p == "/console/totp") return post ? TotpPost(req) : TotpPage(req, 200, "");
  if (p == "/console/password") return post ? PasswordPost(req) : PasswordPage(req, 200, "");
  if (p == "/console/logout") return Logout(req);
  if (p == "/console/lang") return Language(req);
  if (p == "/console/home") return Home(req);
  if (p == "/console/approvals") return Approvals(req);
  if (p == "/console/approvals/{permit}") return post ? Decide(req) : Approval(req);
  if (p == "/console/replica") return ReplicaSearch(req);
  if (p == "/console/replica/show") return ReplicaShow(req);
  if (p == "/console/replica/history") return ReplicaHistoryShow(req);
  if (p == "/console/inquiries") return post ? InquiryCreate(req) : Inquiries(req);
  if (p == "/console/inquiries/{id}") return InquiryDetail(req);
  if (p == "/console/inquiries/batch/{id}") return InquiryBatchStatus(req);
  if (p == "/console/inquiries/batch/{id}/result-file") return InquiryBatchResultFile(req);
  if (p == "/console/records") return Records(req);
  if (p == "/console/history") return History(req);
  if (p == "/console/history/verify") return HistoryVerify(req);
  if (p == "/console/staff") return post ? StaffAdd(req) : Staff(req);
  if (p == "/console/staff/settings") return StaffSettings(req);
  if (p == "/console/staff/{login}") return StaffChange(req);
  if (p == "/console/clients") return ClientAdd(req);
  if (p == "/console/clients/revoke") return ClientRevoke(req);
  if (p == "/console/imports") return Imports(req);
  if (p == "/console/imports/progress") return ImportProgress(req);
  if (p == "/console/operator") return OperatorTenants(req);
  if (p == "/console/reconcile") return Reconcile(req);
  return ErrorPage(nullptr, 404, "見つかりません", "この画面はありません。");
}

std::string Console::Impl::SessionCookie(std::string_view id) const {
  return std::string(kSessionCookie) + "=" + std::string(id) +
         "; Path=/console; HttpOnly; SameSite=Strict" + (options.secure_cookie ? "; Secure" : "");
}

void Console::Impl::Audit(const Caller& caller, const http::Request& req, std::string_view action,
                          std::string target, std::string_view outcome) {
  caller.tenant->Audit({caller.session.tenant.str(), "staff:" + caller.session.login,
                        std::string(action), std::move(target), std::string(outcome),
                        req.request_id.str()});
}

std::string Console::Impl::ResidentRef(const server::TenantContext& t, std::string_view atena_no) {
  std::string msg = "chukan-console-atena-v1";
  msg.push_back('\0');
  msg.append(atena_no);
  crypto::Bytes h = crypto::Blake2bKeyed(
      t.index_key,
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(msg.data()), msg.size()), 16);
  return "atena#" + crypto::ToHex(h);
}

std::optional<Form> Console::Impl::CheckedForm(http::Request& req, http::Response* refusal) {
  const Caller& caller = CallerOf(req);
  Result<Form> form = ParseForm(req.body);
  if (!form.ok()) {
    *refusal = ErrorPage(&caller, 400, "入力が不正です", "送信された内容を読めませんでした。");
    return std::nullopt;
  }
  if (!Same(FormValue(*form, "csrf"), caller.session.csrf)) {
    Audit(caller, req, "console.csrf", std::string(req.path), "denied");
    *refusal = ErrorPage(&caller, 403, "拒否されました",
                         "画面の有効期限が切れました。もう一度開き直してください。");
    return std::nullopt;
  }
  return std::move(*form);
}

// ---- login -------------------------------------------------------------------------------------

http::Response Console::Impl::LoginPage(http::Request& req, int status, std::string_view error) {
  std::string token = crypto::ToBase64Url(crypto::RandomBytes(32));
  const bool en = WantsEnglish(req);
  auto t = [en](std::string_view ja, std::string_view english) {
    return std::string(en ? english : ja);
  };
  Html b;
  if (!error.empty()) {
    b.Element("p", {{"class", "error"}, {"role", "alert"}}, error);
  } else if (req.Query("expired")) {
    b.Element("p", {{"class", "notice"}, {"role", "status"}},
              "一定時間操作がなかったため、ログアウトしました。");
  }
  b.Open("form", {{"method", "post"}, {"action", "/console/login"}, {"class", "card login"}});
  b.Void("input", {{"type", "hidden"}, {"name", "login_csrf"}, {"value", token}});
  b.Element("label", {{"for", "org"}}, t("機関コード（16桁）", "Organisation code (16 digits)"))
      .Void("input", {{"id", "org"},
                      {"name", "org"},
                      {"inputmode", "numeric"},
                      {"autocomplete", "organization"},
                      {"maxlength", "16"},
                      {"required", "required"}});
  b.Element("label", {{"for", "login"}}, t("ログインID", "Login ID"))
      .Void("input", {{"id", "login"},
                      {"name", "login"},
                      {"autocomplete", "username"},
                      {"maxlength", "32"},
                      {"required", "required"}});
  b.Element("label", {{"for", "password"}}, t("パスワード", "Password"))
      .Void("input", {{"id", "password"},
                      {"name", "password"},
                      {"type", "password"},
                      {"autocomplete", "current-password"},
                      {"maxlength", "128"},
                      {"required", "required"}});
  b.Element("button", {{"type", "submit"}}, t("ログイン", "Log in")).Close("form");
  b.Element(
      "p", {{"class", "hint"}},
      t("運用者（プラットフォームの運用担当）は、機関コード 0000000000000000 でログインします。",
        "The platform operator (運用者) logs in with organisation code 0000000000000000."));
  http::Response r = Page(status, Frame(nullptr, "ログイン", b.str(), en));
  r.headers.Add("Set-Cookie", std::string(kLoginCookie) + "=" + token +
                                  "; Path=/console/login; Max-Age=1800; HttpOnly; SameSite=Strict" +
                                  (options.secure_cookie ? "; Secure" : ""));
  return r;
}

http::Response Console::Impl::LoginPost(http::Request& req) {
  constexpr std::string_view kWrong =
      "機関コード、ログインID、パスワードのいずれかが違います。/ The organisation code, login or "
      "password is wrong.";
  Result<Form> form = ParseForm(req.body);
  std::optional<std::string> cookie = CookieValue(req, kLoginCookie);
  if (!form.ok() || !cookie || !Same(FormValue(*form, "login_csrf"), *cookie)) {
    return LoginPage(req, 403, "画面の有効期限が切れました。もう一度入力してください。");
  }
  const std::string login(FormValue(*form, "login"));
  Result<OrgCode> org = OrgCode::Parse(FormValue(*form, "org"));
  if (!org.ok()) return LoginPage(req, 401, kWrong);
  Result<server::TenantInfo> info = platform.GetTenant(*org);
  std::shared_ptr<server::TenantContext> tenant;
  if (info.ok() && info->state == "active") {
    Result<std::shared_ptr<server::TenantContext>> t = platform.Tenant(info->id);
    if (t.ok()) tenant = std::move(*t);
  }
  // argon2id is costly (64 MiB, tens of ms): a bounded number of checks at once, half of them
  // at most for one organisation (unknown ones share one key), so a flood of logins can hold
  // neither every worker thread nor much memory. The busy answer comes before any check.
  WorkSlots::Ticket slot =
      password_slots.TryAcquire(tenant != nullptr ? tenant->id.str() : std::string("?"));
  if (!slot) return Busy(LoginPage(req, 503, kBusy));
  if (tenant == nullptr) {
    // Same work as a wrong password, so timing does not tell which organisations exist.
    (void)crypto::VerifyPassword(
        "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$"
        "W9Ds3/MJ6hJ/rGmmkfzPHQfYBrd8A5SVZz1lk7hTe9A",
        FormValue(*form, "password"));
    return LoginPage(req, 401, kWrong);
  }
  server::StaffDirectory staff(*tenant, options.staff, clock);
  Result<server::PasswordAccepted> ok =
      staff.CheckPassword(login, FormValue(*form, "password"), req.peer.address);
  if (!ok.ok()) {
    if (ok.status().code() == StatusCode::kResourceExhausted) {
      return LoginPage(req, 429,
                       "ログインに続けて失敗したため、このアカウントは一時的にロックされています。"
                       "しばらくしてからやり直すか、管理者に連絡してください。");
    }
    return LoginPage(req, 401, kWrong);
  }
  Session s(*org, tenant->id);
  s.login = ok->member.login;
  s.name = ok->member.name;
  s.dept = ok->member.dept;
  s.roles = ok->member.roles;
  s.must_change_password = ok->must_change_password;
  s.stage = ok->needs_enrolment        ? Stage::kEnrol
            : ok->needs_totp           ? Stage::kTotp
            : ok->must_change_password ? Stage::kChangePassword
                                       : Stage::kActive;
  const Stage stage = s.stage;
  std::string id = sessions.Create(std::move(s));
  http::Response r = Redirect(StagePath(stage));
  r.headers.Add("Set-Cookie", SessionCookie(id));
  r.headers.Add("Set-Cookie", ClearCookie(kLoginCookie, "/console/login"));
  return r;
}

http::Response Console::Impl::TotpPage(http::Request& req, int status, std::string_view error) {
  const Caller& caller = CallerOf(req);
  const Session& s = caller.session;
  if (s.stage != Stage::kTotp && s.stage != Stage::kEnrol) return Redirect(StagePath(s.stage));
  Html b;
  if (!error.empty()) b.Element("p", {{"class", "error"}, {"role", "alert"}}, error);
  if (s.stage == Stage::kEnrol) {
    server::StaffDirectory staff(*caller.tenant, options.staff, clock);
    Result<server::TotpEnrolment> e = staff.PendingEnrolment(s.login);
    if (e.ok()) {
      b.Element("p",
                "認証アプリ（Google Authenticator など）でこの QR コードを読み取り、表示された"
                "6桁の数字を入力してください。");
      Result<std::string> svg = QrSvg(e->uri, "二要素認証の登録用 QR コード");
      if (svg.ok()) b.Open("div", {{"class", "qr"}}).Trusted(*svg).Close("div");
      b.Open("p")
          .Text("読み取れない場合は、次の文字列を手で入力してください: ")
          .Element("code", {{"class", "secret"}}, e->secret_base32)
          .Close("p");
    }
  } else {
    b.Element("p", "認証アプリに表示されている6桁の数字を入力してください。");
  }
  b.Open("form", {{"method", "post"}, {"action", "/console/totp"}, {"class", "card"}});
  CsrfField(b, caller);
  b.Element("label", {{"for", "code"}}, "確認コード（6桁）")
      .Void("input", {{"id", "code"},
                      {"name", "code"},
                      {"inputmode", "numeric"},
                      {"autocomplete", "one-time-code"},
                      {"maxlength", "6"},
                      {"required", "required"}});
  b.Element("button", {{"type", "submit"}}, "確認").Close("form");
  return Page(status, Frame(&caller, "二要素認証", b.str()));
}

http::Response Console::Impl::TotpPost(http::Request& req) {
  http::Response refusal;
  std::optional<Form> form = CheckedForm(req, &refusal);
  if (!form) return refusal;
  const Caller& caller = CallerOf(req);
  const Session& s = caller.session;
  if (s.stage != Stage::kTotp && s.stage != Stage::kEnrol) return Redirect(StagePath(s.stage));
  server::StaffDirectory staff(*caller.tenant, options.staff, clock);
  Status ok = staff.CheckTotp(s.login, FormValue(*form, "code"), req.peer.address);
  if (ok.code() == StatusCode::kResourceExhausted) {
    sessions.End(caller.id);
    http::Response r =
        LoginPage(req, 429,
                  "確認コードの誤りが続いたため、このアカウントは一時的にロックされて"
                  "います。");
    r.headers.Add("Set-Cookie", ClearCookie(kSessionCookie, "/console"));
    return r;
  }
  if (!ok.ok()) return TotpPage(req, 401, "確認コードが違います。/ The code is wrong.");
  const Stage next = s.must_change_password ? Stage::kChangePassword : Stage::kActive;
  std::optional<std::string> id = sessions.Advance(caller.id, next, s.must_change_password);
  if (!id) return Redirect("/console/login");
  http::Response r = Redirect(StagePath(next));
  r.headers.Add("Set-Cookie", SessionCookie(*id));
  return r;
}

http::Response Console::Impl::PasswordPage(http::Request& req, int status, std::string_view error) {
  const Caller& caller = CallerOf(req);
  const Session& s = caller.session;
  if (s.stage != Stage::kChangePassword && s.stage != Stage::kActive) {
    return Redirect(StagePath(s.stage));
  }
  Html b;
  if (!error.empty()) b.Element("p", {{"class", "error"}, {"role", "alert"}}, error);
  if (s.stage == Stage::kChangePassword) {
    b.Element("p", {{"class", "notice"}}, "初回ログインのため、パスワードを変更してください。");
  }
  b.Element("p", {{"class", "hint"}},
            "12〜128文字で、英大文字・英小文字・数字・記号のうち3種類以上を含めてください。"
            "ログインIDと同じものは使えません。");
  b.Open("form", {{"method", "post"}, {"action", "/console/password"}, {"class", "card"}});
  CsrfField(b, caller);
  b.Element("label", {{"for", "old"}}, "現在のパスワード")
      .Void("input", {{"id", "old"},
                      {"name", "old"},
                      {"type", "password"},
                      {"autocomplete", "current-password"},
                      {"required", "required"}});
  b.Element("label", {{"for", "new"}}, "新しいパスワード")
      .Void("input", {{"id", "new"},
                      {"name", "new"},
                      {"type", "password"},
                      {"autocomplete", "new-password"},
                      {"required", "required"}});
  b.Element("label", {{"for", "again"}}, "新しいパスワード（確認）")
      .Void("input", {{"id", "again"},
                      {"name", "again"},
                      {"type", "password"},
                      {"autocomplete", "new-password"},
                      {"required", "required"}});
  b.Element("button", {{"type", "submit"}}, "変更する").Close("form");
  return Page(status, Frame(&caller, "パスワード変更", b.str()));
}

http::Response Console::Impl::PasswordPost(http::Request& req) {
  http::Response refusal;
  std::optional<Form> form = CheckedForm(req, &refusal);
  if (!form) return refusal;
  const Caller& caller = CallerOf(req);
  const Session& s = caller.session;
  if (s.stage != Stage::kChangePassword && s.stage != Stage::kActive) {
    return Redirect(StagePath(s.stage));
  }
  if (FormValue(*form, "new") != FormValue(*form, "again")) {
    return PasswordPage(req, 400, "新しいパスワードが確認欄と一致しません。");
  }
  WorkSlots::Ticket slot = password_slots.TryAcquire(s.tenant.str());
  if (!slot) return Busy(PasswordPage(req, 503, kBusy));
  server::StaffDirectory staff(*caller.tenant, options.staff, clock);
  Status ok = staff.ChangePassword(s.login, FormValue(*form, "old"), FormValue(*form, "new"));
  if (ok.code() == StatusCode::kUnauthenticated) {
    return PasswordPage(req, 401, "現在のパスワードが違います。");
  }
  if (ok.code() == StatusCode::kInvalidArgument) {
    return PasswordPage(req, 400, "新しいパスワードが規則に合いません（" + ok.message() + "）。");
  }
  if (!ok.ok()) {
    log::Warn("console.password_change", {{"tenant", s.tenant.str()}, {"error", ok.ToString()}});
    return ErrorPage(&caller, 500, "エラー", "パスワードを変更できませんでした。");
  }
  std::optional<std::string> id = sessions.Advance(caller.id, Stage::kActive, false);
  if (!id) return Redirect("/console/login");
  http::Response r = Redirect("/console/home?changed=1");
  r.headers.Add("Set-Cookie", SessionCookie(*id));
  return r;
}

http::Response Console::Impl::Logout(http::Request& req) {
  http::Response refusal;
  std::optional<Form> form = CheckedForm(req, &refusal);
  if (!form) return refusal;
  const Caller& caller = CallerOf(req);
  sessions.End(caller.id);
  Audit(caller, req, "staff.logout", "staff:" + caller.session.login, "ok");
  http::Response r = Redirect("/console/login");
  r.headers.Add("Set-Cookie", ClearCookie(kSessionCookie, "/console"));
  return r;
}

http::Response Console::Impl::Language(http::Request& req) {
  // A preference, not a state of the session: a cookie for a year, then back to ホーム (or to
  // the login form, through the gate, without a session).
  const std::string_view to = req.Query("to").value_or("");
  if (to != "en" && to != "ja") {
    return ErrorPage(nullptr, 400, "入力が不正です", "言語は en か ja で指定してください。");
  }
  http::Response r = Redirect("/console/home");
  r.headers.Add("Set-Cookie", std::string(kLangCookie) + "=" + std::string(to) +
                                  "; Path=/console; Max-Age=31536000; HttpOnly; SameSite=Strict" +
                                  (options.secure_cookie ? "; Secure" : ""));
  return r;
}

}  // namespace chukan::console
