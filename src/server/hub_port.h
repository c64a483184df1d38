// HubPort: what the intermediate server's linkage needs from its connection to the hub
// (情報提供ネットワークシステム) — requests as a tenant's organisation, the hub's public key,
// the verified permission list (and from it the organisations' 地方公共団体コード) and other
// organisations' envelope keys. HubLink is the real one (mutual TLS); tests pass a fake, so the
// linkage logic runs in-process without a hub.
//
// Thread-safety: implementations are thread-safe. Calls may block (HTTP round trips).
#ifndef CHUKAN_SERVER_HUB_PORT_H_
#define CHUKAN_SERVER_HUB_PORT_H_

#include <memory>
#include <string>
#include <string_view>

#include "common/ids.h"
#include "common/status.h"
#include "crypto/ed25519.h"
#include "http/message.h"
#include "linkage/permission_list.h"

namespace chukan::server {

class HubPort {
 public:
  virtual ~HubPort() = default;

  // One request to the hub as organisation `as`. Errors: transport failures (the caller maps
  // them to kUnavailable); an answer with any HTTP status is OK.
  virtual Result<http::Response> Post(const OrgCode& as, std::string_view path,
                                      std::string body) = 0;
  // The hub's Ed25519 public key: the trust anchor of permits.
  virtual const crypto::VerifyKey& hub_key() const = 0;
  // The current copy of the permission list if it is still valid; kFailedPrecondition saying
  // why not otherwise.
  virtual Result<std::shared_ptr<const linkage::PermissionList>> PermissionList() const = 0;
  // The envelope-signing key of `org`, asked as `as`. kPermissionDenied when the organisation is
  // not active; kUnavailable when the hub cannot be asked.
  virtual Result<crypto::VerifyKey> OrgKey(const OrgCode& as, const OrgCode& org) = 0;

  // The organisation the hub's registry gives 地方公共団体コード `code` (5 digits, or 6 with the
  // check digit; no padding: the caller trims a fixed-width field), from the verified copy of
  // the permission list — no request to the hub. Not virtual: every port answers it from its
  // PermissionList(). Errors (messages never quote the code):
  //   kInvalidArgument     not 5 or 6 digits, or a wrong check digit (LocalGovCode::Parse)
  //   kNotFound            "地方公共団体コード: not in the hub's registry" (no active
  //                        organisation has it)
  //   kFailedPrecondition  no valid copy of the permission list (PermissionList()'s error)
  Result<OrgCode> OrgByLocalGovCode(std::string_view code) const;
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_HUB_PORT_H_
