#include "server/hub_port.h"

namespace chukan::server {

Result<OrgCode> HubPort::OrgByLocalGovCode(std::string_view code) const {
  ASSIGN_OR_RETURN(LocalGovCode parsed, LocalGovCode::Parse(code));
  ASSIGN_OR_RETURN(std::shared_ptr<const linkage::PermissionList> list, PermissionList());
  const OrgCode* org = list->FindByLocalGovCode(parsed);
  if (org == nullptr) {
    return NotFoundError("地方公共団体コード: not in the hub's registry");
  }
  return *org;
}

std::vector<linkage::OrgVerifyKey> KeysForPermit(const std::vector<OrgKeyRecord>& keys,
                                                 int64_t issued_at_ms, int64_t now_ms) {
  std::vector<linkage::OrgVerifyKey> out;
  for (const OrgKeyRecord& k : keys) {
    if (k.not_before_ms > now_ms) continue;
    if (k.not_after_ms && *k.not_after_ms <= issued_at_ms) continue;
    out.push_back(k.key);
  }
  return out;
}

}  // namespace chukan::server
