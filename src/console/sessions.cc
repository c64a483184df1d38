#include "console/sessions.h"

#include <algorithm>
#include <span>

#include "crypto/bytes.h"
#include "crypto/hash.h"

namespace chukan::console {

std::string SessionKey(std::string_view id) {
  return crypto::ToHex(crypto::Sha256(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(id.data()), id.size())));
}

ConsoleSessions::ConsoleSessions(Options options, const Clock& clock)
    : options_(options), clock_(clock) {}

bool ConsoleSessions::Expired(const Session& s, TimePoint now) const {
  return now - s.last_seen >= options_.idle || now - s.created >= options_.absolute;
}

std::string ConsoleSessions::NewId() { return crypto::ToBase64Url(crypto::RandomBytes(32)); }

void ConsoleSessions::Insert(const std::string& key, Session s) {
  // Room per member: end that member's oldest sessions beyond the limit.
  std::vector<std::map<std::string, Session>::iterator> mine;
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
    if (it->second.tenant == s.tenant && it->second.login == s.login) mine.push_back(it);
  }
  std::sort(mine.begin(), mine.end(),
            [](const auto& a, const auto& b) { return a->second.created < b->second.created; });
  for (size_t i = 0; mine.size() - i >= options_.max_per_member && i < mine.size(); ++i) {
    sessions_.erase(mine[i]);
  }
  if (sessions_.size() >= options_.max_sessions) {
    auto oldest = std::min_element(
        sessions_.begin(), sessions_.end(),
        [](const auto& a, const auto& b) { return a.second.last_seen < b.second.last_seen; });
    if (oldest != sessions_.end()) sessions_.erase(oldest);
  }
  sessions_.emplace(key, std::move(s));
}

std::string ConsoleSessions::Create(Session s) {
  const TimePoint now = clock_.Now();
  s.created = now;
  s.last_seen = now;
  s.csrf = crypto::ToBase64Url(crypto::RandomBytes(32));
  std::string id = NewId();
  MutexLock lock(mu_);
  Insert(SessionKey(id), std::move(s));
  return id;
}

ConsoleSessions::Found ConsoleSessions::Touch(std::string_view id) {
  Found f;
  if (id.empty() || id.size() > 64) return f;
  const TimePoint now = clock_.Now();
  MutexLock lock(mu_);
  auto it = sessions_.find(SessionKey(id));
  if (it == sessions_.end()) return f;
  if (Expired(it->second, now)) {
    f.expired = std::move(it->second);
    sessions_.erase(it);
    return f;
  }
  it->second.last_seen = now;
  f.session = it->second;
  return f;
}

std::optional<std::string> ConsoleSessions::Advance(std::string_view id, Stage stage,
                                                    bool must_change_password) {
  const TimePoint now = clock_.Now();
  std::string fresh = NewId();
  MutexLock lock(mu_);
  auto it = sessions_.find(SessionKey(id));
  if (it == sessions_.end() || Expired(it->second, now)) return std::nullopt;
  Session s = std::move(it->second);
  sessions_.erase(it);
  s.stage = stage;
  s.must_change_password = must_change_password;
  s.last_seen = now;
  s.csrf = crypto::ToBase64Url(crypto::RandomBytes(32));
  sessions_.emplace(SessionKey(fresh), std::move(s));
  return fresh;
}

std::optional<Session> ConsoleSessions::End(std::string_view id) {
  MutexLock lock(mu_);
  auto it = sessions_.find(SessionKey(id));
  if (it == sessions_.end()) return std::nullopt;
  Session s = std::move(it->second);
  sessions_.erase(it);
  return s;
}

int ConsoleSessions::EndMember(const TenantId& tenant, std::string_view login) {
  MutexLock lock(mu_);
  return static_cast<int>(std::erase_if(sessions_, [&](const auto& kv) {
    return kv.second.tenant == tenant && kv.second.login == login;
  }));
}

int ConsoleSessions::EndTenant(const TenantId& tenant) {
  MutexLock lock(mu_);
  return static_cast<int>(
      std::erase_if(sessions_, [&](const auto& kv) { return kv.second.tenant == tenant; }));
}

std::vector<Session> ConsoleSessions::Sweep() {
  const TimePoint now = clock_.Now();
  std::vector<Session> out;
  MutexLock lock(mu_);
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (Expired(it->second, now)) {
      out.push_back(std::move(it->second));
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

size_t ConsoleSessions::size() const {
  MutexLock lock(mu_);
  return sessions_.size();
}

}  // namespace chukan::console
