// HubApi: the hub's HTTP API (/hub/v1, docs/api/hub-openapi.yaml) over Hub. Every route needs
// a mutual-TLS client certificate of a registered, active organisation (Hub::Authenticate);
// the organisation acting is always the certificate's, never a field of the request.
//
//   POST /hub/v1/codes            {"resident_id"} → {"subject_code"}
//   POST /hub/v1/inquiries        permit request → 201 permit id | 403 refusal with reason code
//   POST /hub/v1/provisions       signed envelope → 202 (relayed to the inquirer)
//   GET  /hub/v1/records          the caller's records of provision (?after=ID&limit=N)
//   GET  /hub/v1/permission-list  the current list, signed by the hub
//   GET  /hub/v1/orgs/{org_code}  a registered organisation's public data (its signing key)
//
// Handlers run on the server's worker threads (http::ServerOptions::workers), not on the io
// threads: most block on durable commits. POST /hub/v1/inquiries and /hub/v1/batch/inquiries do
// not: they are answered from the permits' commits (Hub::RequestPermitThen), so no worker waits
// for them.
//
// Thread-safety: Register once; the handlers are thread-safe.
#ifndef CHUKAN_HUB_HUB_API_H_
#define CHUKAN_HUB_HUB_API_H_

#include "common/status.h"
#include "http/router.h"
#include "hub/hub.h"

namespace chukan::hub {

class HubApi {
 public:
  explicit HubApi(Hub& hub) : hub_(hub) {}
  // Errors: those of Router::Add.
  Status Register(http::Router& router);

 private:
  Hub& hub_;
};

}  // namespace chukan::hub

#endif  // CHUKAN_HUB_HUB_API_H_
