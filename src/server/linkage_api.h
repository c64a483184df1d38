// LinkageApi: the HTTP side of LinkageService.
//
// For existing systems (bearer tokens, like the replica API; every call audited in the tenant's
// log, a call with the wrong role as denied:role):
//   POST /api/v1/codes                {"atena_no","resident_id"} → {"subject_code"}   (FGU)
//   POST /api/v1/codes/bulk           text/csv "atena_no,resident_id" lines → per-line results
//   POST /api/v1/inquiries            → 202 {"inquiry_id","state":"accepted"}          (SKI)
//   POST /api/v1/inquiries/batch      batch inquiry file (一括照会ファイル) → per-line results
//   GET  /api/v1/inquiries/{id}[?wait_ms=]  state, times, and the decoded result when completed;
//                                     wait_ms (≤ 30000) long-polls while the inquiry is open
//   GET  /api/v1/inquiries?state=&since_us=&limit=
//   GET  /api/v1/approvals            (approver role) answers waiting for a decision (自動応答不可)
//   POST /api/v1/approvals/{permit_id} {"decision":"approve"|"reject","comment"}
//   GET  /api/v1/linkage/status       the permission list copy
// docs/linkage.md describes them; docs/api/openapi.yaml has every field and status.
//
// For the hub (the node listener, mutual TLS; RegisterNode):
//   POST /node/v1/provision-requests  a permit to answer                              (TKY)
//   POST /node/v1/inquiry-results     the relayed, sealed answer to one of our inquiries
//
// Thread-safety: Register once; handlers are thread-safe.
#ifndef CHUKAN_SERVER_LINKAGE_API_H_
#define CHUKAN_SERVER_LINKAGE_API_H_

#include "http/router.h"
#include "server/api_auth.h"
#include "server/linkage_service.h"

namespace chukan::server {

class LinkageApi {
 public:
  // `hub_cert_sha256`: the lower-case hex SHA-256 of the hub's client certificate, the only
  // one the node routes accept (empty: they accept none).
  LinkageApi(const ApiAuth& auth, LinkageService& linkage, std::string hub_cert_sha256 = "")
      : auth_(auth), linkage_(linkage), hub_cert_sha256_(std::move(hub_cert_sha256)) {}
  // The /api/v1 routes.
  Status Register(http::Router& router);
  // The /node/v1 routes (to be served on the mutual-TLS node listener only).
  Status RegisterNode(http::Router& router);

 private:
  const ApiAuth& auth_;
  LinkageService& linkage_;
  const std::string hub_cert_sha256_;
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_LINKAGE_API_H_
