// ReplicaApi: the /api/v1 endpoints existing systems (既存業務システム) call on the intermediate
// server — replica import, view, export and reconcile (情報提供DB管理, DBM). Every call needs a
// bearer token; the tenant comes from the token, never from the request; every call is audited
// in the tenant's audit log (system, action, outcome, request id). docs/api/openapi.yaml is the
// contract.
//
// Thread-safety: thread-safe; handlers run concurrently on the HTTP server's threads.
#ifndef CHUKAN_SERVER_REPLICA_API_H_
#define CHUKAN_SERVER_REPLICA_API_H_

#include <map>
#include <memory>
#include <mutex>

#include "http/body.h"
#include "http/router.h"
#include "layout/catalogue.h"
#include "replica/replica_store.h"
#include "server/platform.h"

namespace chukan::server {

class ReplicaApi {
 public:
  ReplicaApi(Platform& platform, std::shared_ptr<const layout::Catalogue> catalogue);

  // Adds the /api/v1/replica/* routes to `router`.
  Status Register(http::Router& router);

 private:
  // Authenticates the request; on failure returns the 401 response in `denied`.
  Result<ClientIdentity> Authenticate(const http::Request& req);
  Result<replica::ReplicaStore*> Store(const ClientIdentity& who);
  void AuditDenied(const http::Request& req);
  void Audit(const ClientIdentity& who, const http::Request& req, std::string_view action,
             const std::string& target, const std::string& outcome);

  http::Response Import(http::Request& req, http::BodyReader& body);
  http::Response Records(http::Request& req);
  http::Response Export(http::Request& req);
  http::Response Reconcile(http::Request& req, http::BodyReader& body);

  Platform& platform_;
  std::shared_ptr<const layout::Catalogue> catalogue_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<replica::ReplicaStore>> stores_;  // GUARDED_BY(mu_)
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_REPLICA_API_H_
