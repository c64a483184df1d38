// LinkageEnv: what the parts of the intermediate server's linkage share — the platform (tenant
// contexts), the data standard layout, the hub, the clock, the tenants' outbox and the way to
// the sender's pump — and the small helpers they all use. LinkageService
// builds one and hands it to its parts (subject codes, inquiries, provisions, records, the
// courier).
//
// Thread-safety: immutable after construction; the referenced objects are thread-safe.
#ifndef CHUKAN_SERVER_LINKAGE_ENV_H_
#define CHUKAN_SERVER_LINKAGE_ENV_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "crypto/bytes.h"
#include "layout/catalogue.h"
#include "server/hub_port.h"
#include "server/platform.h"
#include "store/outbox.h"
#include "store/outbox_pump.h"

namespace chukan::server {

// Outbox topics of the server (tenant databases).
inline constexpr std::string_view kTopicPermitRequest = "permit-request";
inline constexpr std::string_view kTopicProvision = "provision";

struct LinkageEnv {
  Platform& platform;
  std::shared_ptr<const layout::Catalogue> catalogue;
  HubPort* hub;  // null: no hub is configured
  const Clock& clock;
  store::Outbox& outbox;
  // For a write that queues an outbox item: the item handed to the sender's pump (or added
  // pending and the sender woken, when there is no room in it or no pump yet).
  std::function<std::shared_ptr<store::OutboxHandoff>(const TenantId&)> hand_off;

  // The context of an active tenant (Platform::Tenant: checked against the registry).
  Result<std::shared_ptr<TenantContext>> Tenant(const TenantId& tenant) const {
    return platform.Tenant(tenant);
  }
  // kFailedPrecondition when no hub is configured.
  Status NeedHub() const;
  int64_t NowUs() const { return ToUnixMicros(clock.Now()); }
};

// The associated data that binds a value sealed under a tenant's data key to what it is
// (`kind`: "atena", "reply-secret", "result", "answer"), whose it is and which row holds it.
crypto::Bytes LinkageAad(std::string_view kind, const TenantId& tenant, std::string_view id);
// A batch inquiry file's sealed line: bound to the tenant, the batch and the line.
crypto::Bytes BatchLineAad(const TenantId& tenant, std::string_view batch_id, int64_t line);

// "ok", or "error:<code name>" for an audit entry's outcome.
std::string AuditOutcome(const Status& s);

// Appends one entry to the tenant's audit log through its group committer.
void AuditLinkage(TenantContext& st, const std::string& actor, const std::string& action,
                  const std::string& target, const std::string& outcome);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_LINKAGE_ENV_H_
