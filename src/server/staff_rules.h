// Internal to the staff directory (staff_directory.cc, staff_rules.cc): the checks of an
// account's fields and the one-time passwords. Pure functions; thread-safe.
#ifndef CHUKAN_SERVER_STAFF_RULES_H_
#define CHUKAN_SERVER_STAFF_RULES_H_

#include <string>
#include <string_view>

#include "common/status.h"
#include "server/staff_directory.h"

namespace chukan::server::staff_internal {

// 1–32 of [a-z0-9._-], starting with a letter or digit.
bool ValidLogin(std::string_view login);
// kInvalidArgument naming the field ("name: …", "dept: …", "roles: …"), never quoting it.
Status CheckName(std::string_view name);
Status CheckDept(std::string_view dept);
Status CheckRoles(StaffRoles roles);
// 16 random characters of an alphabet without look-alikes (no I O l o 0 1), with an upper case
// letter, a lower case letter and a digit, so the password policy holds.
std::string OneTimePassword(std::string_view login);

}  // namespace chukan::server::staff_internal

#endif  // CHUKAN_SERVER_STAFF_RULES_H_
