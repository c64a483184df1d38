// LinkageCourier: the intermediate server's hub-facing delivery — what LinkageSender hands it
// from the tenants' outboxes goes to the hub (permit requests built from their inquiries, the
// sealed envelopes of provisions), and the hub's answers are read and recorded: an inquiry
// permitted, refused or failed; a provision sent or not taken. As the hub separates its
// request-time logic (hub.cc) from delivery (deliverer.cc), the server keeps the linkage's state
// in its parts (inquiries, provisions) and the traffic with the hub here; the sender only
// decides when and in which batches.
//
// Thread-safety: thread-safe. Deliver blocks (HTTP round trips, commits).
#ifndef CHUKAN_SERVER_LINKAGE_COURIER_H_
#define CHUKAN_SERVER_LINKAGE_COURIER_H_

#include <string>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "http/message.h"
#include "server/inquiries.h"
#include "server/linkage_env.h"
#include "store/outbox.h"

namespace chukan::server {

class LinkageCourier {
 public:
  // `env` and `inquiries` must outlive this.
  LinkageCourier(const LinkageEnv& env, Inquiries& inquiries) : env_(env), inquiries_(inquiries) {}

  // Handles claimed outbox items of `tenant`, all of one topic: sends them to the hub — alone
  // to the single-item route, several in one request to the batch route
  // (/hub/v1/batch/inquiries or /hub/v1/batch/provisions) — and records each outcome together
  // with the item's acknowledgement or failure (the records share group commits). A batch the
  // hub does not take as a whole (no answer, 5xx, any other status for the batch) is retried
  // item by item later; 404/405 for the batch route makes it send the items one by one. A
  // permit request whose inquiry is no longer accepted is acknowledged without sending.
  // Errors: the tenant's (not active), the first failed record.
  Status Deliver(const TenantId& tenant, const std::vector<store::OutboxItem>& items,
                 const std::string& owner);

 private:
  const LinkageEnv& env_;
  Inquiries& inquiries_;
};

// The reason code at the start of a hub error document ({"error":{"reason"|"code":…}}), or
// "HTTP_<status>".
std::string HubReason(const http::Response& r);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_LINKAGE_COURIER_H_
