// Console: the intermediate server's web console for staff (職員), served under /console/ on the
// API listener — login with password and TOTP, forced password change, and the screens of the
// staff's daily work, in Japanese, as HTML the server renders (html.h escapes every value), with
// one small script and one style sheet embedded in the binary (assets.cc).
//
// Authentication: every route but the login page and the assets has a gate that runs on the
// request header alone (before any body byte is read): the "chukan_session" cookie must name a
// live session (sessions.h) of an active tenant in the stage the route needs, and the member
// must hold one of the route's roles. A browser asking for a page without a session is sent to
// the login page; a refused role gets 403 and an audit entry ("console.denied"). Forms that
// change anything carry the session's CSRF token (checked before the form is acted on) and are
// refused when the browser says the request is cross-site (Sec-Fetch-Site).
//
// What each route needs is one table (Routes()), used to register the routes and by the
// screen × role test. Every showing of personal data writes an audit entry first, naming the
// member ("staff:<login>") and the resident by a keyed hash of the 宛名番号 (docs/console.md,
// "What is recorded"): the access history is searchable by resident without the audit log
// holding the number itself.
//
// Headers of every console response: Content-Security-Policy without inline script,
// frame-ancestors 'none', Referrer-Policy no-referrer, Cache-Control no-store (pages), and
// X-Frame-Options DENY. The cookie is HttpOnly, SameSite=Strict, Path=/console, and Secure when
// the listener serves TLS.
//
// Thread-safety: thread-safe; handlers run on the server's worker threads.
#ifndef CHUKAN_CONSOLE_CONSOLE_H_
#define CHUKAN_CONSOLE_CONSOLE_H_

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "console/sessions.h"
#include "http/router.h"
#include "server/staff_directory.h"

namespace chukan::layout {
class Catalogue;
}  // namespace chukan::layout
namespace chukan::server {
class LinkageService;
class Platform;
class TenantContext;
}  // namespace chukan::server

namespace chukan::console {

struct ConsoleOptions {
  ConsoleSessions::Options sessions;
  server::StaffDirectory::Policy staff;
  bool secure_cookie = false;  // the listener serves TLS
  uint64_t max_form_bytes = 16 * 1024;
  // The largest replica file the 取込 screen takes ([server] max_body_mb).
  uint64_t max_upload_bytes = uint64_t{1} << 30;
  // argon2id password checks (login, password change) running at once; one organisation may
  // hold at most half (work_slots.h). A login that finds none free is answered 503 with
  // Retry-After, before the password is checked ([console] password_checks).
  int password_checks = 4;
  // Streamed uploads (取込, 照合, 一括照会) in progress at once, each holding a worker thread;
  // one member at most half. More: 503 with Retry-After, before the body is read
  // ([console] uploads).
  int uploads = 4;
  // 操作履歴 alerts: within `alert_window`, one member showing the same resident (or answer)
  // this many times, or this many different residents.
  std::chrono::minutes alert_window{60};
  int alert_same_resident = 5;
  int alert_many_residents = 30;
};

// What a console route needs.
struct RouteSpec {
  std::string_view method;
  std::string_view pattern;
  // Who may use it: 0 = any logged-in member (kActive); public routes have `open` set.
  server::StaffRoles roles = 0;
  bool open = false;           // no session needed (login page, assets)
  bool login_stage = false;    // a session in a login stage (TOTP, enrolment, password change)
  bool personal_data = false;  // the page shows personal data (audited per showing)
  // The body is streamed (an upload): the CSRF token comes in the X-CSRF-Token header and is
  // checked by the gate, before any body byte is read.
  bool streaming = false;
};

class Console {
 public:
  // `linkage` may be null (no hub: the approval screen says so). All must outlive the console.
  Console(server::Platform& platform, server::LinkageService* linkage,
          std::shared_ptr<const layout::Catalogue> catalogue, ConsoleOptions options,
          const Clock& clock);
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  // Adds the routes of Routes() to `router`. Errors: from Router::Add.
  Status Register(http::Router& router);

  // Ends expired sessions and records each in its tenant's audit chain. Called periodically.
  void Sweep();

  // Every console route and what it needs (registration order).
  static const std::vector<RouteSpec>& Routes();

  ConsoleSessions& sessions() { return sessions_; }

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  ConsoleSessions& sessions_;
};

}  // namespace chukan::console

#endif  // CHUKAN_CONSOLE_CONSOLE_H_
