// Internals of the console shared by its translation units: the Impl behind Console (console.cc:
// gate, login flow, registration; screens.cc: the work screens), the caller a gate establishes,
// and the small helpers of forms, cookies, pages and headers. Not for use outside src/console.
#ifndef CHUKAN_CONSOLE_CONSOLE_IMPL_H_
#define CHUKAN_CONSOLE_CONSOLE_IMPL_H_

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/mutex.h"
#include "console/console.h"
#include "console/html.h"
#include "console/work_slots.h"
#include "http/body.h"
#include "http/message.h"

namespace chukan::console {

// Who a gate let through: the session (a copy, as of this request), its cookie value and the
// tenant's context (checked against the registry for this request).
struct Caller final : http::Principal {
  Caller(std::string i, Session s, std::shared_ptr<server::TenantContext> t)
      : id(std::move(i)), session(std::move(s)), tenant(std::move(t)) {}
  std::string id;
  Session session;
  std::shared_ptr<server::TenantContext> tenant;
  bool english = false;  // the chukan_lang cookie asks for English labels (Frame)
};

using Form = std::vector<std::pair<std::string, std::string>>;

// One upload of the 取込 screen, as its progress poll sees it.
struct ImportJob {
  std::atomic<int> phase{0};  // 0 waiting, 1 receiving, 2 applying, 3 committing
  std::atomic<int64_t> rows{0};
  std::atomic<bool> done{false};
  TimePoint started{};
};

// The uploads in progress (and for 30 minutes after), keyed by tenant, member and the job id
// the page chose — a member sees only their own. At most 1000.
class ImportJobs {
 public:
  static std::string Key(const Session& s, std::string_view job);
  // A new job; nullptr when the key is in use or the table is full.
  std::shared_ptr<ImportJob> Start(const std::string& key, TimePoint now) EXCLUDES(mu_);
  std::shared_ptr<ImportJob> Find(const std::string& key) const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  std::map<std::string, std::shared_ptr<ImportJob>> jobs_ GUARDED_BY(mu_);
};

// application/x-www-form-urlencoded, at most 64 fields. Errors: kInvalidArgument naming the
// field position of a bad escape.
Result<Form> ParseForm(std::string_view body);
// The first value of `name`, or "".
std::string_view FormValue(const Form& form, std::string_view name);
// The value of cookie `name` from the request's Cookie header(s), or nullopt.
std::optional<std::string> CookieValue(const http::Request& req, std::string_view name);

// Unix µs → "2026-12-03 09:30" in Japan time (UTC+9, no daylight saving).
std::string FormatJst(int64_t unix_us);

// The page frame. `caller` may be null (login pages): then no menu, and `english` says which
// labels to use (else the caller's choice). With English labels the menu, the header, the
// language link and the page title are in English (the title followed by its Japanese); the
// screens' own contents stay Japanese.
std::string Frame(const Caller* caller, std::string_view title, std::string_view body_html,
                  bool english = false);
// The English of a console label or page title ("情報照会" → "Inquiries"; "副本: 0…" →
// "Replica: 0…", a known head followed by what it names); "" when there is none.
std::string EnglishLabel(std::string_view japanese);
// Whether the request's chukan_lang cookie asks for English.
bool WantsEnglish(const http::Request& req);
// A text/html response with the console's security headers.
http::Response Page(int status, std::string html);
// 303 See Other to `location` (a console path).
http::Response Redirect(std::string_view location);
// The console's headers on `r` (CSP, frame, referrer, no-store unless `cacheable`).
void SecurityHeaders(http::Response& r, bool cacheable = false);
// A hidden CSRF field of `caller`'s session.
void CsrfField(Html& h, const Caller& caller);
// {"error":"<message>"} with the console's headers: the answer of the routes the pages' script
// calls (uploads), whose message the script shows.
http::Response JsonError(int status, std::string_view message);
// An error page inside the frame.
http::Response ErrorPage(const Caller* caller, int status, std::string_view title,
                         std::string_view message);

// The embedded assets.
std::string_view ConsoleCss();
std::string_view ConsoleJs();

struct Console::Impl {
  Impl(server::Platform& p, server::LinkageService* l, std::shared_ptr<const layout::Catalogue> c,
       ConsoleOptions o, const Clock& clk)
      : platform(p),
        linkage(l),
        catalogue(std::move(c)),
        options(std::move(o)),
        clock(clk),
        sessions(options.sessions, clk),
        password_slots(options.password_checks),
        upload_slots(options.uploads) {}

  server::Platform& platform;
  server::LinkageService* linkage;
  std::shared_ptr<const layout::Catalogue> catalogue;
  const ConsoleOptions options;
  const Clock& clock;
  ConsoleSessions sessions;
  ImportJobs import_jobs;
  WorkSlots password_slots;  // argon2id checks, per organisation (tenant id)
  WorkSlots upload_slots;    // streamed uploads, per member (tenant id | login)

  // console.cc
  std::optional<http::Response> Check(const RouteSpec& spec, http::Request& req);
  http::Response Dispatch(const RouteSpec& spec, http::Request& req);
  http::Response LoginPage(http::Request& req, int status, std::string_view error);
  http::Response LoginPost(http::Request& req);
  http::Response TotpPage(http::Request& req, int status, std::string_view error);
  http::Response TotpPost(http::Request& req);
  http::Response PasswordPage(http::Request& req, int status, std::string_view error);
  http::Response PasswordPost(http::Request& req);
  http::Response Logout(http::Request& req);
  http::Response Language(http::Request& req);
  // Parses the form of a POST and checks its CSRF token; nullopt and `refusal` set on failure.
  std::optional<Form> CheckedForm(http::Request& req, http::Response* refusal);
  std::string SessionCookie(std::string_view id) const;
  void Audit(const Caller& caller, const http::Request& req, std::string_view action,
             std::string target, std::string_view outcome);
  // The keyed hash naming a resident in audit entries ("atena#<32 hex>").
  static std::string ResidentRef(const server::TenantContext& t, std::string_view atena_no);

  // screens.cc
  http::Response Home(http::Request& req);
  http::Response Approvals(http::Request& req);
  http::Response Approval(http::Request& req);
  http::Response Decide(http::Request& req);
  http::Response ReplicaSearch(http::Request& req);
  http::Response ReplicaShow(http::Request& req);
  // POST: one TM's earlier versions of a resident with their values (audited).
  http::Response ReplicaHistoryShow(http::Request& req);

  // audit_screens.cc
  http::Response Records(http::Request& req);
  http::Response History(http::Request& req);
  http::Response HistoryVerify(http::Request& req);

  // inquiry_screens.cc
  http::Response Inquiries(http::Request& req);
  http::Response InquiryCreate(http::Request& req);
  // GET: the inquiry; POST: the same with its result (audited).
  http::Response InquiryDetail(http::Request& req);
  // The batch inquiry file, streamed (its CSRF token in a header).
  http::Response InquiryBatch(http::Request& req, http::BodyReader& body);
  http::Response InquiryBatchStatus(http::Request& req);
  http::Response InquiryBatchResultFile(http::Request& req);

  // import_screens.cc
  http::Response Imports(http::Request& req);
  http::Response ImportUpload(http::Request& req, http::BodyReader& body);
  http::Response ImportProgress(http::Request& req);
  http::Response Reconcile(http::Request& req);
  http::Response ReconcileUpload(http::Request& req, http::BodyReader& body);

  // operator_screens.cc
  http::Response OperatorTenants(http::Request& req);

  // admin_screens.cc
  http::Response Staff(http::Request& req);
  http::Response StaffAdd(http::Request& req);
  http::Response StaffChange(http::Request& req);
  http::Response StaffSettings(http::Request& req);
  http::Response ClientAdd(http::Request& req);
  http::Response ClientRevoke(http::Request& req);
};

inline const Caller& CallerOf(const http::Request& req) {
  return static_cast<const Caller&>(*req.principal);
}

}  // namespace chukan::console

#endif  // CHUKAN_CONSOLE_CONSOLE_IMPL_H_
