// StaffDirectory: the staff (職員) accounts of one tenant, stored in the tenant's own store
// (table `staff`, component "staff" migrations) — their login id, name, department code
// (部署コード), roles, argon2id password hash, TOTP secret, and the counters of failed logins.
// The name and the TOTP secret are encrypted with the tenant's data key (XChaCha20-Poly1305,
// associated data "chukan-staff-v1:<login>:<field>"), so they go with the tenant's key.
//
// Roles (a member may hold several):
//   照会担当 inquirer  inquiries and their results
//   承認者   approver  the 自動応答不可 queue
//   副本担当 replica   imports, view, export, reconcile of the replica (副本)
//   監査担当 auditor   records of provision, the audit log, the access history; no replica values
//   管理者   admin     staff accounts and existing-system clients; no replica values
//
// Passwords (docs/staff.md, "Passwords"): 12 to 128 characters with at least three of the
// four kinds upper case, lower case, digit, other; not the login id. A new account and a reset
// get a random one-time password of 16 characters and must change it at the next login. Only
// the tenant's admin (console) or the operator (CLI) resets. Hashes: crypto::HashPassword.
//
// Second factor: TOTP (crypto/totp.h) is mandatory for approver and admin, and for every member
// when the tenant's `totp_for_all` setting is on. `Add` and `ResetTotp` create the secret and
// return its enrolment; the member confirms it with a first code (ConfirmTotp) — until then the
// console shows the QR code after the password. A code is good once: the last step used is
// stored and an equal or older step is refused.
//
// Lockout: Policy::max_failures failed checks in a row (password or code) lock the account for
// Policy::lockout; a success resets the count. An unknown login and a wrong password give the
// same error after the same work (a dummy hash), so the login page tells nobody which logins
// exist; a disabled account answers as an unknown one.
//
// Every change and every login step is written to the tenant's audit chain (actor "staff:<login>"
// or the given actor, action "staff.*", target "staff:<login>", never a password or code).
//
// StaffDirectory keeps no state of its own between calls (the tenant's store is the one owner):
// make one per use from the tenant's context. Blocking (storage, argon2id): worker threads only.
//
// Thread-safety: thread-safe (each call is its own transaction).
#ifndef CHUKAN_SERVER_STAFF_DIRECTORY_H_
#define CHUKAN_SERVER_STAFF_DIRECTORY_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/password.h"
#include "store/migrations.h"

namespace chukan::server {

class TenantContext;

enum class StaffRole : uint32_t {
  kInquirer = 1,
  kApprover = 2,
  kReplica = 4,
  kAuditor = 8,
  kAdmin = 16,
  // 運用者: the platform operator, a separate kind of account. Held alone, and only by members
  // of the operator realm (kOperatorOrg); it reaches the platform's screens (tenants, their
  // state, key fingerprints, storage use) and no tenant's data.
  kOperator = 32,
};
// The reserved organisation code of the operator realm: a tenant of its own that holds the
// operators' accounts and the audit chain of their actions, and no personal data. No real
// organisation can be registered under it.
inline constexpr char kOperatorOrg[] = "0000000000000000";
// A set of roles (bits of StaffRole).
using StaffRoles = uint32_t;
inline constexpr StaffRoles kAllStaffRoles = 31;
inline bool HasRole(StaffRoles roles, StaffRole r) {
  return (roles & static_cast<uint32_t>(r)) != 0;
}
// "inquirer,approver" → bits. Errors: kInvalidArgument naming the unknown role (by position,
// "role 2 of 3") or an empty list.
Result<StaffRoles> ParseStaffRoles(std::string_view text);
// Bits → "inquirer,approver" (the order of the enum).
std::string StaffRolesText(StaffRoles roles);
// "inquirer" → "照会担当" ("operator" → "運用者").
std::string_view StaffRoleLabelJa(StaffRole role);
// The roles that need a second factor whatever the tenant's setting: approver, admin, operator.
bool RolesNeedTotp(StaffRoles roles);

// The migrations of table staff (and staff_settings); applied by TenantContext::Open.
const std::vector<store::Migration>& StaffMigrations();

struct StaffMember {
  int64_t id = 0;
  std::string login;  // 1–32 of [a-z0-9._-], starting with a letter or digit
  std::string name;   // 氏名, 1–64 characters, decrypted
  std::string dept;   // 部署コード, 0–20 of [0-9A-Za-z]
  StaffRoles roles = 0;
  bool disabled = false;
  bool must_change_password = false;
  bool totp_required = false;   // by role or by the tenant's setting
  bool totp_enrolled = false;   // a secret exists
  bool totp_confirmed = false;  // a first code was accepted
  int failures = 0;
  int64_t locked_until_us = 0;  // Unix µs; 0 when not locked
  int64_t created_us = 0;
  int64_t last_login_us = 0;  // 0: never
};

struct TotpEnrolment {
  std::string secret_base32;
  std::string uri;  // otpauth://totp/chukan%20<org>:<login>?…
};

struct StaffCreated {
  StaffMember member;
  std::string initial_password;            // shown once, never stored in clear
  std::optional<TotpEnrolment> enrolment;  // when the roles (or the tenant) need a second factor
};

// The outcome of a correct password.
struct PasswordAccepted {
  StaffMember member;
  bool needs_totp = false;       // a code must follow (CheckTotp)
  bool needs_enrolment = false;  // …and the secret is not confirmed yet: show its QR code first
  bool must_change_password = false;
};

// The associated data of a staff member's sealed field ("name", "totp"): bound to the login.
std::string StaffFieldAad(std::string_view login, std::string_view field);

class StaffDirectory {
 public:
  struct Policy {
    int max_failures = 5;
    std::chrono::seconds lockout{15 * 60};
    crypto::PwhashLimits hash_limits = crypto::PwhashLimits::Interactive();
  };

  StaffDirectory(TenantContext& tenant, Policy policy, const Clock& clock);

  // Creates an account with a one-time password (and a TOTP secret when needed).
  // Errors: kInvalidArgument naming the field (login, name, dept, roles) — never echoing a
  // name; kAlreadyExists for a login in use.
  Result<StaffCreated> Add(std::string_view login, std::string_view name, std::string_view dept,
                           StaffRoles roles, const std::string& actor);
  // All accounts, by login. Errors: from the store.
  Result<std::vector<StaffMember>> List();
  // Errors: kNotFound "no staff member with that login".
  Result<StaffMember> Get(std::string_view login);

  Status SetDisabled(std::string_view login, bool disabled, const std::string& actor);
  Status SetRoles(std::string_view login, StaffRoles roles, const std::string& actor);
  // A new one-time password; the member must change it at the next login; unlocks.
  Result<std::string> ResetPassword(std::string_view login, const std::string& actor);
  // A new TOTP secret, unconfirmed (the next login shows its QR code).
  Result<TotpEnrolment> ResetTotp(std::string_view login, const std::string& actor);
  // The enrolment of an unconfirmed secret (to draw its QR code at first login).
  // Errors: kFailedPrecondition when none or already confirmed.
  Result<TotpEnrolment> PendingEnrolment(std::string_view login);

  // The first login step. Errors: kUnauthenticated "login or password is wrong" (unknown,
  // disabled, or wrong — counted); kResourceExhausted "account locked" while locked (the
  // password is not checked then). `peer` goes into the audit target.
  Result<PasswordAccepted> CheckPassword(std::string_view login, std::string_view password,
                                         std::string_view peer);
  // The second step (after CheckPassword accepted). Confirms an unconfirmed secret.
  // Errors: kUnauthenticated "one-time code is wrong" (counted, a reused code too);
  // kResourceExhausted while locked.
  Status CheckTotp(std::string_view login, std::string_view code, std::string_view peer);
  // Errors: kUnauthenticated for a wrong `old_password`; kInvalidArgument naming the rule the
  // new password breaks (length, kinds, equals the login, equals the old one).
  Status ChangePassword(std::string_view login, std::string_view old_password,
                        std::string_view new_password);

  // The tenant's setting: a second factor for every role.
  Result<bool> TotpForAll();
  Status SetTotpForAll(bool on, const std::string& actor);

  // The password rules above; the error names the rule broken.
  static Status CheckPasswordPolicy(std::string_view login, std::string_view password);

 private:
  TenantContext& tenant_;
  Policy policy_;
  const Clock& clock_;
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_STAFF_DIRECTORY_H_
