#include "server/api_auth.h"

#include "common/log.h"

namespace chukan::server {

std::string_view ApiRoleName(ApiRole role) {
  switch (role) {
    case ApiRole::kSystem:
      return "system";
    case ApiRole::kApprover:
      return "approver";
    case ApiRole::kAny:
      return "any";
  }
  return "any";
}

ApiAuth::ApiAuth(Platform& platform) : platform_(platform) {}

http::RouteOptions ApiAuth::Route(ApiRole role, uint64_t max_body) const {
  http::RouteOptions o;
  o.gate = [this, role](http::Request& req) { return Check(role, req); };
  o.max_body_bytes = max_body;
  return o;
}

const ApiPrincipal& ApiAuth::Caller(const http::Request& req) {
  return static_cast<const ApiPrincipal&>(*req.principal);
}

std::optional<http::Response> ApiAuth::Check(ApiRole role, http::Request& req) const {
  Result<std::optional<std::string_view>> token = http::BearerToken(req);
  if (!token.ok() && token.status().code() == StatusCode::kInvalidArgument) {
    CountFailure(req.peer.address);
    return http::FromStatus(token.status(), req.request_id);
  }
  Result<ClientIdentity> who = !token.ok() ? Result<ClientIdentity>(token.status())
                               : !token->has_value()
                                   ? Result<ClientIdentity>(UnauthenticatedError(
                                         "a bearer token is required (Authorization: Bearer …)"))
                                   : platform_.Authenticate(**token);
  Result<std::shared_ptr<TenantContext>> tenant =
      who.ok() ? platform_.Tenant(who->tenant)
               : Result<std::shared_ptr<TenantContext>>(who.status());
  if (!tenant.ok()) {
    // A token whose tenant went away between the two reads gets the same answer as a bad token.
    if (tenant.status().code() != StatusCode::kUnauthenticated &&
        tenant.status().code() != StatusCode::kNotFound) {
      log::Error("api.authenticate_failed",
                 {log::RequestIdField(req.request_id), log::StatusField(tenant.status())});
      return http::FromStatus(UnavailableError("authentication is unavailable"), req.request_id);
    }
    CountFailure(req.peer.address);
    http::Response denied =
        http::FromStatus(UnauthenticatedError("unknown or revoked token"), req.request_id);
    denied.headers.Set("WWW-Authenticate", "Bearer");
    return denied;
  }
  if (role != ApiRole::kAny && who->role != ApiRoleName(role)) {
    (*tenant)->Audit({who->tenant.str(), "client:" + who->name, "api.authorize",
                      req.method + " " + req.path.substr(0, 200), "denied:role",
                      req.request_id.str()});
    return http::FromStatus(
        PermissionDeniedError("this call needs the " + std::string(ApiRoleName(role)) + " role"),
        req.request_id);
  }
  req.principal = std::make_shared<const ApiPrincipal>(std::move(*who), std::move(*tenant));
  return std::nullopt;
}

void ApiAuth::CountFailure(const std::string& peer) const {
  failures_total_.fetch_add(1, std::memory_order_relaxed);
  MutexLock lock(mu_);
  auto it = failures_.find(peer);
  if (it == failures_.end()) {
    it = failures_.size() < kMaxTrackedPeers ? failures_.emplace(peer, 0).first
                                             : failures_.emplace("other", 0).first;
  }
  ++it->second;
}

Result<int64_t> ApiAuth::Flush() {
  std::map<std::string, int64_t> counts;
  {
    MutexLock lock(mu_);
    counts.swap(failures_);
  }
  int64_t written = 0;
  for (const auto& [peer, n] : counts) {
    Status s =
        platform_.audit()
            .Append({"platform", "unauthenticated", "api.authenticate",
                     "peer " + peer.substr(0, 64) + " failures " + std::to_string(n), "denied", ""})
            .status();
    if (!s.ok()) return s;
    ++written;
  }
  return written;
}

}  // namespace chukan::server
