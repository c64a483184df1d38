// ConsoleSessions: the console's server-side sessions — the one owner of who is logged in.
// The browser holds only a random 256-bit id (cookie "chukan_session", base64url); the table
// keys sessions by the SHA-256 of that id, so neither a memory dump of the table nor a log line
// yields a usable cookie. Each session carries its own CSRF token (a second random 256-bit value
// every state-changing form sends back).
//
// A session moves through the login's stages: after the password it is kTotp (or kEnrol, when
// the secret is not confirmed yet) or kChangePassword; only kActive reaches the screens. The id
// is replaced at every stage change (Advance), so an id seen before login is worthless after.
//
// Limits (Options): idle timeout (15 min), absolute lifetime (8 h), sessions in all (10,000;
// the oldest is ended to make room), sessions per member (5; the oldest of that member goes).
// Expired sessions are removed when they are next used and by Sweep(), which returns them so
// that the caller can record each expiry in the tenant's audit chain.
//
// Sessions live in this process's memory: a restart logs everyone out, and several server
// nodes need sticky routing (docs/console.md, "Sessions").
//
// Thread-safety: thread-safe.
#ifndef CHUKAN_CONSOLE_SESSIONS_H_
#define CHUKAN_CONSOLE_SESSIONS_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/mutex.h"
#include "server/staff_directory.h"

namespace chukan::console {

enum class Stage { kTotp, kEnrol, kChangePassword, kActive };

struct Session {
  Session(OrgCode o, TenantId t) : org(std::move(o)), tenant(std::move(t)) {}
  Stage stage = Stage::kActive;
  OrgCode org;
  TenantId tenant;
  std::string login;
  std::string name;
  std::string dept;
  server::StaffRoles roles = 0;
  bool must_change_password = false;  // after the second factor: kChangePassword
  std::string csrf;                   // base64url of 32 random bytes
  TimePoint created{};
  TimePoint last_seen{};
};

class ConsoleSessions {
 public:
  struct Options {
    std::chrono::seconds idle{15 * 60};
    std::chrono::seconds absolute{8 * 3600};
    size_t max_sessions = 10'000;
    size_t max_per_member = 5;
  };
  ConsoleSessions(Options options, const Clock& clock);

  // Stores `s` (created/last_seen/csrf set here) and returns the cookie value.
  std::string Create(Session s) EXCLUDES(mu_);

  struct Found {
    std::optional<Session> session;  // set when live (its last_seen is now updated)
    std::optional<Session> expired;  // set when it had just expired (now removed)
  };
  // The live session of cookie value `id`, touching it. Unknown ids give neither.
  Found Touch(std::string_view id) EXCLUDES(mu_);

  // Moves the session to `stage` (and `must_change_password`) under a new id, which it returns;
  // nullopt when `id` is unknown or expired.
  std::optional<std::string> Advance(std::string_view id, Stage stage, bool must_change_password)
      EXCLUDES(mu_);
  // Ends one session; returns it (for the audit entry) when it existed.
  std::optional<Session> End(std::string_view id) EXCLUDES(mu_);
  // Ends every session of `login` in `tenant` (disabled, reset, roles changed); returns how many.
  int EndMember(const TenantId& tenant, std::string_view login) EXCLUDES(mu_);
  // Ends every session of `tenant` (deleted or disabled tenant).
  int EndTenant(const TenantId& tenant) EXCLUDES(mu_);
  // Removes expired sessions and returns them.
  std::vector<Session> Sweep() EXCLUDES(mu_);

  size_t size() const EXCLUDES(mu_);

 private:
  bool Expired(const Session& s, TimePoint now) const;
  std::string NewId();
  void Insert(const std::string& key, Session s) REQUIRES(mu_);

  const Options options_;
  const Clock& clock_;
  mutable Mutex mu_;
  std::map<std::string, Session> sessions_ GUARDED_BY(mu_);  // SHA-256(id) → session
};

// SHA-256 of the cookie value, hex (the table's key).
std::string SessionKey(std::string_view id);

}  // namespace chukan::console

#endif  // CHUKAN_CONSOLE_SESSIONS_H_
