// ReplicaApi: the /api/v1 endpoints existing systems (既存業務システム) call on the intermediate
// server — replica import, view, export and reconcile (情報提供DB管理, DBM). Every call needs a
// system client's bearer token, checked by ApiAuth before the body is read; the tenant comes
// from the token, never from the request; every call is audited in the tenant's audit log
// (system, action, outcome, request id). docs/api/openapi.yaml is the contract.
//
// Thread-safety: thread-safe; handlers run concurrently on the HTTP server's workers.
#ifndef CHUKAN_SERVER_REPLICA_API_H_
#define CHUKAN_SERVER_REPLICA_API_H_

#include <cstdint>
#include <memory>

#include "http/body.h"
#include "http/router.h"
#include "layout/catalogue.h"
#include "replica/replica_store.h"
#include "server/api_auth.h"

namespace chukan::json {
class JsonWriter;
}  // namespace chukan::json

namespace chukan::server {

// The format of an import: ?format=, else the Content-Type's media type, else CSV. Errors:
// kInvalidArgument for an unknown format.
Result<replica::FileFormat> ImportFormatOf(const http::Request& req);
// The import body of `req` as a record source: the format from ?format= or the Content-Type
// (CSV by default), the character set from the Content-Type's charset (UTF-8 by default), the
// bytes straight off the socket. Shared by the API and the console. Errors: kInvalidArgument
// for an unknown format or character set.
Result<std::unique_ptr<replica::RecordSourceFactory>> ImportBodySource(const http::Request& req,
                                                                       http::BodyReader& body);
// An import's report as JSON (docs/replica.md, "Import report").
void WriteImportReport(json::JsonWriter& w, const replica::ImportReport& r);
// A reconciliation's report as JSON (docs/replica.md, "Reconcile").
void WriteReconcileReport(json::JsonWriter& w, const TmCode& tm, const replica::ReconcileReport& r);

class ReplicaApi {
 public:
  // `max_upload_bytes` bounds the body of an import or reconcile upload ([server] max_body_mb).
  ReplicaApi(const ApiAuth& auth, std::shared_ptr<const layout::Catalogue> catalogue,
             uint64_t max_upload_bytes);

  // Adds the /api/v1/replica/* routes to `router`.
  Status Register(http::Router& router);

 private:
  static void Audit(const http::Request& req, std::string_view action, const std::string& target,
                    const std::string& outcome);

  http::Response Import(http::Request& req, http::BodyReader& body);
  http::Response Records(http::Request& req);
  http::Response Export(http::Request& req);
  http::Response Reconcile(http::Request& req, http::BodyReader& body);

  const ApiAuth& auth_;
  std::shared_ptr<const layout::Catalogue> catalogue_;
  const uint64_t max_upload_bytes_;
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_REPLICA_API_H_
