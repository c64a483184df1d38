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
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "crypto/ed25519.h"
#include "http/message.h"
#include "linkage/envelope.h"
#include "linkage/permission_list.h"

namespace chukan::server {

// One of an organisation's signing keys as the hub's registry lists it.
struct OrgKeyRecord {
  linkage::OrgVerifyKey key;
  int64_t not_before_ms = 0;
  std::optional<int64_t> not_after_ms;  // none: no end set
};

// The keys that may have signed an answer to a permit issued at `issued_at_ms`, as seen at
// `now_ms`: valid from before now and not ended before the permit was issued. So an envelope
// signed with the old key while a rotation's overlap lasted — the hub accepted it then — is
// still accepted when it reaches the inquirer after the overlap; a key the hub disabled is not
// listed at all.
std::vector<linkage::OrgVerifyKey> KeysForPermit(const std::vector<OrgKeyRecord>& keys,
                                                 int64_t issued_at_ms, int64_t now_ms);

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
  // The envelope-signing keys the hub's registry lists for `org` (during a key rotation, the
  // old and the new one, each with its validity), asked as `as`; `kid`, when not empty, is the
  // key an envelope names — an implementation that caches asks the hub again when it does not
  // know it. kPermissionDenied when the organisation is not active; kUnavailable when the hub
  // cannot be asked.
  virtual Result<std::vector<OrgKeyRecord>> OrgKeys(const OrgCode& as, const OrgCode& org,
                                                    std::string_view kid) = 0;

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
