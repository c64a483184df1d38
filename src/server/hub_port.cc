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

}  // namespace chukan::server
