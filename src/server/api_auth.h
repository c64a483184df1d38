// ApiAuth: the one authentication path of the intermediate server's /api/v1 routes. Every route
// gets its RouteOptions here: a gate that runs when the request header has arrived, before any
// body byte is read, and the route's body limit.
//
// The gate, in order:
//   two or more Authorization headers                 → 400 BAD_REQUEST
//   no bearer token (scheme matched case-insensitively,
//   RFC 9110), or an unknown/revoked token             → 401 with WWW-Authenticate: Bearer
//   a token whose role the route does not take         → 403, audited in the tenant's log
//   otherwise: Request::principal is an ApiPrincipal — the client and its tenant's context,
//   checked against the platform's tenant state (a deleted tenant's context is never returned).
//
// Refused authentication is not written durably per request (a flood of tokenless requests must
// not become a flood of fsyncs): each refusal is counted (chukan_api_auth_failures_total) and
// counted per peer address; Flush() writes one platform audit entry per peer and interval
// ("api.authenticate", outcome "denied", target "peer <address> failures <n>"). At most
// kMaxTrackedPeers addresses are kept between flushes; the rest are counted under "other".
//
// Thread-safety: thread-safe; gates run concurrently on the server's workers.
#ifndef CHUKAN_SERVER_API_AUTH_H_
#define CHUKAN_SERVER_API_AUTH_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/mutex.h"
#include "http/router.h"
#include "server/platform.h"

namespace chukan::server {

// Who called, as the gate established it.
struct ApiPrincipal final : http::Principal {
  ApiPrincipal(ClientIdentity w, std::shared_ptr<TenantContext> t)
      : who(std::move(w)), tenant(std::move(t)) {}
  ClientIdentity who;
  std::shared_ptr<TenantContext> tenant;
};

// Roles a route may require.
enum class ApiRole { kSystem, kApprover, kAny };

class ApiAuth {
 public:
  static constexpr size_t kMaxTrackedPeers = 10'000;

  explicit ApiAuth(Platform& platform);

  // The options of an /api/v1 route that needs `role` and takes bodies of up to `max_body`.
  http::RouteOptions Route(ApiRole role, uint64_t max_body) const;

  // The caller of a request that passed a gate made by Route(). Must not be called otherwise.
  static const ApiPrincipal& Caller(const http::Request& req);

  // Writes the refusals counted since the last flush to the platform audit log (one entry per
  // peer) and resets the counts. Returns how many entries were written. Called periodically and
  // at shutdown.
  Result<int64_t> Flush() EXCLUDES(mu_);

  // Refusals since start (for /metrics and tests).
  int64_t failures_total() const { return failures_total_.load(std::memory_order_relaxed); }

 private:
  std::optional<http::Response> Check(ApiRole role, http::Request& req) const;
  void CountFailure(const std::string& peer) const EXCLUDES(mu_);

  Platform& platform_;
  mutable std::atomic<int64_t> failures_total_{0};
  mutable Mutex mu_;
  mutable std::map<std::string, int64_t> failures_ GUARDED_BY(mu_);  // peer → refusals
};

// "system", "approver" or "any".
std::string_view ApiRoleName(ApiRole role);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_API_AUTH_H_
