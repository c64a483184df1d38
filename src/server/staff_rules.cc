// The rules of staff accounts that need no storage: login, name, department code, roles,
// the password policy and one-time passwords, and the schema of table staff.
#include "server/staff_rules.h"

#include <string>
#include <string_view>
#include <utility>

#include "common/utf8.h"
#include "crypto/bytes.h"
#include "server/staff_directory.h"

namespace chukan::server {
namespace {

constexpr std::string_view kSqliteV1 = R"sql(
CREATE TABLE staff (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  login TEXT NOT NULL UNIQUE,
  name_sealed BLOB NOT NULL,
  dept TEXT NOT NULL,
  roles INTEGER NOT NULL,
  password_hash TEXT NOT NULL,
  must_change_password INTEGER NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  totp_sealed BLOB,
  totp_confirmed INTEGER NOT NULL DEFAULT 0,
  totp_last_step INTEGER NOT NULL DEFAULT -1,
  failures INTEGER NOT NULL DEFAULT 0,
  locked_until_us INTEGER NOT NULL DEFAULT 0,
  created_at_us INTEGER NOT NULL,
  last_login_us INTEGER NOT NULL DEFAULT 0,
  password_changed_us INTEGER NOT NULL
);
CREATE TABLE staff_settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql";

std::string PostgresV1() {
  std::string s(kSqliteV1);
  auto replace_all = [&s](std::string_view from, std::string_view to) {
    for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
      s.replace(p, from.size(), to);
    }
  };
  replace_all("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY");
  replace_all("INTEGER", "BIGINT");
  replace_all("BLOB", "BYTEA");
  return s;
}

size_t CountCodePoints(std::string_view s) {
  size_t n = 0;
  for (const char c : s) {
    if ((static_cast<unsigned char>(c) & 0xc0u) != 0x80u) ++n;
  }
  return n;
}

}  // namespace

namespace staff_internal {

bool ValidLogin(std::string_view login) {
  if (login.empty() || login.size() > 32) return false;
  for (size_t i = 0; i < login.size(); ++i) {
    const char c = login[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return false;
  }
  return true;
}

Status CheckName(std::string_view name) {
  if (!IsValidUtf8(name)) return InvalidArgumentError("name: not valid UTF-8");
  const size_t n = CountCodePoints(name);
  if (n < 1 || n > 64) return InvalidArgumentError("name: must be 1 to 64 characters");
  for (const char c : name) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7f) return InvalidArgumentError("name: control characters");
  }
  return Status::Ok();
}

Status CheckDept(std::string_view dept) {
  if (dept.size() > 20) return InvalidArgumentError("dept: at most 20 characters");
  for (const char c : dept) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    if (!ok) return InvalidArgumentError("dept: only letters and digits (0-9, A-Z, a-z)");
  }
  return Status::Ok();
}

Status CheckRoles(StaffRoles roles) {
  if (roles == 0) return InvalidArgumentError("roles: at least one role is needed");
  if (roles == static_cast<StaffRoles>(StaffRole::kOperator)) return Status::Ok();
  if ((roles & ~kAllStaffRoles) != 0) {
    return InvalidArgumentError("roles: unknown role bits, or operator together with other roles");
  }
  return Status::Ok();
}

constexpr std::string_view kOtpAlphabet =
    "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";  // no I O l o 0 1

// 16 characters from kOtpAlphabet holding an upper case letter, a lower case letter and a digit
// (so three kinds: the policy holds).
std::string OneTimePassword(std::string_view login) {
  static_assert(kOtpAlphabet.size() == 56);
  for (;;) {
    std::string pw;
    while (pw.size() < 16) {
      crypto::Bytes random = crypto::RandomBytes(32);
      for (const uint8_t b : random) {
        // 224 = 4 × 56: rejecting the rest keeps every character equally likely.
        if (b < 224 && pw.size() < 16) pw.push_back(kOtpAlphabet[b % 56]);
      }
      crypto::WipeBytes(random);
    }
    bool upper = false, lower = false, digit = false;
    for (const char c : pw) {
      upper = upper || (c >= 'A' && c <= 'Z');
      lower = lower || (c >= 'a' && c <= 'z');
      digit = digit || (c >= '0' && c <= '9');
    }
    if (upper && lower && digit && StaffDirectory::CheckPasswordPolicy(login, pw).ok()) return pw;
  }
}
}  // namespace staff_internal

// ----- roles -----

Result<StaffRoles> ParseStaffRoles(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    parts.push_back(
        text.substr(start, comma == std::string_view::npos ? text.npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (parts.size() == 1 && parts[0].find_first_not_of(' ') == std::string_view::npos) {
    return InvalidArgumentError("roles: empty list");
  }
  static const std::pair<std::string_view, StaffRole> kNames[] = {
      {"inquirer", StaffRole::kInquirer}, {"approver", StaffRole::kApprover},
      {"replica", StaffRole::kReplica},   {"auditor", StaffRole::kAuditor},
      {"admin", StaffRole::kAdmin},       {"operator", StaffRole::kOperator},
  };
  StaffRoles roles = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    while (!p.empty() && p.front() == ' ') p.remove_prefix(1);
    while (!p.empty() && p.back() == ' ') p.remove_suffix(1);
    bool found = false;
    for (const auto& [name, role] : kNames) {
      if (p == name || p == StaffRoleLabelJa(role)) {
        roles |= static_cast<uint32_t>(role);
        found = true;
      }
    }
    if (!found) {
      return InvalidArgumentError("roles: role " + std::to_string(i + 1) + " of " +
                                  std::to_string(parts.size()) +
                                  " is not one of inquirer, approver, replica, auditor, admin");
    }
  }
  return roles;
}

std::string StaffRolesText(StaffRoles roles) {
  static constexpr std::pair<StaffRole, std::string_view> kNames[] = {
      {StaffRole::kInquirer, "inquirer"}, {StaffRole::kApprover, "approver"},
      {StaffRole::kReplica, "replica"},   {StaffRole::kAuditor, "auditor"},
      {StaffRole::kAdmin, "admin"},       {StaffRole::kOperator, "operator"},
  };
  std::string out;
  for (const auto& [role, name] : kNames) {
    if (!HasRole(roles, role)) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

std::string_view StaffRoleLabelJa(StaffRole role) {
  switch (role) {
    case StaffRole::kInquirer:
      return "照会担当";
    case StaffRole::kApprover:
      return "承認者";
    case StaffRole::kReplica:
      return "副本担当";
    case StaffRole::kAuditor:
      return "監査担当";
    case StaffRole::kAdmin:
      return "管理者";
    case StaffRole::kOperator:
      return "運用者";
  }
  return "";
}

bool RolesNeedTotp(StaffRoles roles) {
  return HasRole(roles, StaffRole::kApprover) || HasRole(roles, StaffRole::kAdmin) ||
         HasRole(roles, StaffRole::kOperator);
}

const std::vector<store::Migration>& StaffMigrations() {
  static const auto* m = new std::vector<store::Migration>{
      {1, "staff, staff_settings", std::string(kSqliteV1), PostgresV1()}};
  return *m;
}

Status StaffDirectory::CheckPasswordPolicy(std::string_view login, std::string_view password) {
  if (!IsValidUtf8(password)) return InvalidArgumentError("password: not valid UTF-8");
  const size_t n = CountCodePoints(password);
  if (n < 12 || n > 128) return InvalidArgumentError("password: must be 12 to 128 characters");
  bool upper = false, lower = false, digit = false, other = false;
  for (const char c : password) {
    if (c >= 'A' && c <= 'Z') {
      upper = true;
    } else if (c >= 'a' && c <= 'z') {
      lower = true;
    } else if (c >= '0' && c <= '9') {
      digit = true;
    } else {
      other = true;
    }
  }
  if (int{upper} + int{lower} + int{digit} + int{other} < 3) {
    return InvalidArgumentError(
        "password: must mix at least three of upper case, lower case, digits and other "
        "characters");
  }
  bool same = password.size() == login.size();
  for (size_t i = 0; same && i < login.size(); ++i) {
    const auto lc = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    same = lc(password[i]) == lc(login[i]);
  }
  if (same) return InvalidArgumentError("password: must not be the login id");
  return Status::Ok();
}

}  // namespace chukan::server
