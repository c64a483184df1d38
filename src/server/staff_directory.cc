#include "server/staff_directory.h"

#include <map>
#include <utility>

#include "common/log.h"
#include "common/mutex.h"
#include "common/utf8.h"
#include "crypto/aead.h"
#include "crypto/bytes.h"
#include "crypto/totp.h"
#include "server/staff_rules.h"
#include "server/tenant_context.h"

namespace chukan::server {

std::string StaffFieldAad(std::string_view login, std::string_view field) {
  return "chukan-staff-v1:" + std::string(login) + ":" + std::string(field);
}
namespace {

// Operators live in the operator realm only, and only operators live there.
Status CheckRealm(const TenantContext& t, StaffRoles roles) {
  const bool realm = t.org.str() == kOperatorOrg;
  const bool op = HasRole(roles, StaffRole::kOperator);
  if (realm && !op) return InvalidArgumentError("roles: the operator realm holds operators only");
  if (!realm && op)
    return InvalidArgumentError("roles: operator is a role of the operator realm only");
  return Status::Ok();
}

using staff_internal::CheckDept;
using staff_internal::CheckName;
using staff_internal::CheckRoles;
using staff_internal::OneTimePassword;
using staff_internal::ValidLogin;

constexpr std::string_view kColumns =
    "id, login, name_sealed, dept, roles, password_hash, must_change_password, disabled,"
    " totp_sealed, totp_confirmed, totp_last_step, failures, locked_until_us, created_at_us,"
    " last_login_us";

// One stored row, the name still sealed.
struct StaffRow {
  StaffMember member;
  crypto::Bytes name_sealed;
  std::string password_hash;
  std::optional<crypto::Bytes> totp_sealed;
  int64_t totp_last_step = -1;
};

Result<StaffRow> ParseRow(const store::Row& r, bool totp_for_all, int64_t now_us) {
  StaffRow row;
  StaffMember& m = row.member;
  ASSIGN_OR_RETURN(m.id, r.GetInt(0));
  ASSIGN_OR_RETURN(m.login, r.GetText(1));
  ASSIGN_OR_RETURN(row.name_sealed, r.GetBlob(2));
  ASSIGN_OR_RETURN(m.dept, r.GetText(3));
  ASSIGN_OR_RETURN(const int64_t roles, r.GetInt(4));
  m.roles = static_cast<StaffRoles>(roles) &
            (kAllStaffRoles | static_cast<StaffRoles>(StaffRole::kOperator));
  ASSIGN_OR_RETURN(row.password_hash, r.GetText(5));
  ASSIGN_OR_RETURN(const int64_t must_change, r.GetInt(6));
  m.must_change_password = must_change != 0;
  ASSIGN_OR_RETURN(const int64_t disabled, r.GetInt(7));
  m.disabled = disabled != 0;
  ASSIGN_OR_RETURN(row.totp_sealed, r.GetOptionalBlob(8));
  ASSIGN_OR_RETURN(const int64_t confirmed, r.GetInt(9));
  ASSIGN_OR_RETURN(row.totp_last_step, r.GetInt(10));
  ASSIGN_OR_RETURN(const int64_t failures, r.GetInt(11));
  m.failures = static_cast<int>(failures);
  ASSIGN_OR_RETURN(const int64_t locked_until, r.GetInt(12));
  m.locked_until_us = locked_until > now_us ? locked_until : 0;
  ASSIGN_OR_RETURN(m.created_us, r.GetInt(13));
  ASSIGN_OR_RETURN(m.last_login_us, r.GetInt(14));
  m.totp_required = RolesNeedTotp(m.roles) || totp_for_all;
  m.totp_enrolled = row.totp_sealed.has_value();
  m.totp_confirmed = m.totp_enrolled && confirmed != 0;
  return row;
}

std::string Aad(std::string_view login, std::string_view field) {
  return StaffFieldAad(login, field);
}

// Audit fields: a login that is not well-formed (anything typed on the login page) is not
// copied into the log.
std::string StaffTarget(std::string_view login) {
  return ValidLogin(login) ? "staff:" + std::string(login) : "staff:(malformed login)";
}

std::string LoginTarget(std::string_view login, std::string_view peer) {
  bool printable = !peer.empty() && peer.size() <= 128;
  for (const char c : peer) printable = printable && c > 0x20 && c < 0x7f;
  return StaffTarget(login) + " from " + (printable ? std::string(peer) : "(unknown peer)");
}

Status WrongLogin() { return UnauthenticatedError("login or password is wrong"); }
Status WrongCode() { return UnauthenticatedError("one-time code is wrong"); }
Status Locked() { return ResourceExhaustedError("account locked"); }

// A hash of a random password per set of limits, checked against when the login is unknown or
// disabled so that the answer takes the same argon2id work as a wrong password.
std::string DummyHash(const crypto::PwhashLimits& limits) {
  static Mutex mu;
  static auto* cache = new std::map<std::pair<uint64_t, size_t>, std::string>();
  MutexLock lock(mu);
  const auto key = std::make_pair(limits.opslimit, limits.memlimit);
  auto it = cache->find(key);
  if (it == cache->end()) {
    Result<std::string> h = crypto::HashPassword(crypto::ToHex(crypto::RandomBytes(16)), limits);
    if (!h.ok()) return "";
    it = cache->emplace(key, *std::move(h)).first;
  }
  return it->second;
}

Result<bool> ReadTotpForAll(store::Transaction& tx) {
  ASSIGN_OR_RETURN(std::optional<store::Row> r,
                   tx.QueryOne("SELECT value FROM staff_settings WHERE name = 'totp_for_all'"));
  if (!r.has_value()) return false;
  ASSIGN_OR_RETURN(const std::string v, r->GetText(0));
  return v == "on";
}

// The row of `login` (std::nullopt for none, or a login that cannot exist).
Result<std::optional<StaffRow>> LoadRow(TenantContext& tenant, std::string_view login,
                                        int64_t now_us) {
  if (!ValidLogin(login)) return std::optional<StaffRow>();
  ASSIGN_OR_RETURN(std::unique_ptr<store::Transaction> tx, tenant.db->BeginRead());
  ASSIGN_OR_RETURN(const bool all, ReadTotpForAll(*tx));
  ASSIGN_OR_RETURN(std::optional<store::Row> r,
                   tx->QueryOne("SELECT " + std::string(kColumns) + " FROM staff WHERE login = ?",
                                {std::string(login)}));
  if (!r.has_value()) return std::optional<StaffRow>();
  ASSIGN_OR_RETURN(StaffRow row, ParseRow(*r, all, now_us));
  return std::optional<StaffRow>(std::move(row));
}

Result<StaffMember> Decrypted(const TenantContext& tenant, StaffRow row) {
  Result<crypto::SecretBytes> name =
      tenant.data_keys->Open(row.name_sealed, crypto::AsBytes(Aad(row.member.login, "name")));
  if (!name.ok()) return name.status().WithContext("staff " + row.member.login + ": name");
  row.member.name = std::string(name->AsStringView());
  return std::move(row.member);
}

Result<crypto::Bytes> SealTotp(const TenantContext& tenant, std::string_view login,
                               const crypto::SecretBytes& secret) {
  return tenant.data_keys->Seal(secret.span(), crypto::AsBytes(Aad(login, "totp")));
}

Result<crypto::SecretBytes> OpenTotp(const TenantContext& tenant, std::string_view login,
                                     const crypto::Bytes& sealed) {
  Result<crypto::SecretBytes> s =
      tenant.data_keys->Open(sealed, crypto::AsBytes(Aad(login, "totp")));
  if (!s.ok()) return s.status().WithContext("staff " + std::string(login) + ": TOTP secret");
  return s;
}

TotpEnrolment Enrolment(const TenantContext& tenant, std::string_view login,
                        const crypto::SecretBytes& secret) {
  return {crypto::Base32Encode(secret.span()),
          crypto::OtpauthUri("chukan " + tenant.org.str(), login, secret.span())};
}

audit::AuditEvent Event(const TenantContext& tenant, std::string actor, std::string action,
                        std::string target, std::string outcome) {
  return {tenant.id.str(),   std::move(actor),   std::move(action),
          std::move(target), std::move(outcome), ""};
}

Status Append(TenantContext& tenant, store::Transaction& tx, const audit::AuditEvent& e) {
  return tenant.audit->Append(tx, e).status();
}

std::string Outcome(const Status& s) {
  return s.ok() ? "ok" : "error:" + std::string(StatusCodeName(s.code()));
}

// Counts one failed check of `id` and locks the account once the count reaches max_failures;
// audits `action` as denied (and staff.lockout when it locks), in one transaction. When the
// account was locked after the caller read it, nothing is counted, `action` is audited as
// denied:locked and the answer is kResourceExhausted (as for a locked account).
Status CountFailure(TenantContext& tenant, const StaffDirectory::Policy& policy, int64_t id,
                    int64_t now_us, std::string_view login, const std::string& action,
                    const std::string& target) {
  const std::string actor = StaffTarget(login);
  bool locked_meanwhile = false;
  const Status committed = tenant.Commit([&](store::Transaction& tx) -> Status {
    locked_meanwhile = false;
    // Counted only while not locked: a check that read the row before another one locked the
    // account (a flood of wrong passwords at once) must neither count towards a second lockout
    // nor lengthen the first. Such a check answers as a locked account.
    ASSIGN_OR_RETURN(std::optional<store::Row> r,
                     tx.QueryOne("UPDATE staff SET failures = failures + 1"
                                 " WHERE id = ? AND locked_until_us <= ? RETURNING failures",
                                 {id, now_us}));
    if (!r.has_value()) {
      locked_meanwhile = true;
      return Append(tenant, tx, Event(tenant, actor, action, target, "denied:locked"));
    }
    ASSIGN_OR_RETURN(const int64_t failures, r->GetInt(0));
    RETURN_IF_ERROR(Append(tenant, tx, Event(tenant, actor, action, target, "denied")));
    if (failures >= policy.max_failures) {
      const int64_t until =
          now_us + std::chrono::duration_cast<std::chrono::microseconds>(policy.lockout).count();
      RETURN_IF_ERROR(
          tx.Exec("UPDATE staff SET failures = 0, locked_until_us = ? WHERE id = ?", {until, id}));
      RETURN_IF_ERROR(
          Append(tenant, tx,
                 Event(tenant, "system", "staff.lockout",
                       actor + " until " + FormatRfc3339(FromUnixMicros(until)), "ok")));
    }
    return Status::Ok();
  });
  if (!committed.ok()) return committed;
  return locked_meanwhile ? Locked() : Status::Ok();
}

// Runs `sql` (whose last parameter is the login) and the audit entry in one transaction;
// kNotFound when no row matched.
Status UpdateAudited(TenantContext& tenant, std::string_view sql, std::vector<store::Value> params,
                     std::string_view login, const audit::AuditEvent& event) {
  if (!ValidLogin(login)) return NotFoundError("no staff member with that login");
  params.emplace_back(std::string(login));
  Status s = tenant.Commit([&](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(const int64_t n, tx.ExecCount(sql, params));
    if (n == 0) return NotFoundError("no staff member with that login");
    return Append(tenant, tx, event);
  });
  if (!s.ok()) {
    audit::AuditEvent failed = event;
    failed.outcome = Outcome(s);
    tenant.Audit(failed);
  }
  return s;
}

}  // namespace

// ----- the directory -----

StaffDirectory::StaffDirectory(TenantContext& tenant, Policy policy, const Clock& clock)
    : tenant_(tenant), policy_(std::move(policy)), clock_(clock) {}

Result<StaffCreated> StaffDirectory::Add(std::string_view login, std::string_view name,
                                         std::string_view dept, StaffRoles roles,
                                         const std::string& actor) {
  if (!ValidLogin(login)) {
    return InvalidArgumentError("login: 1 to 32 of a-z 0-9 . _ -, starting with a letter or digit");
  }
  RETURN_IF_ERROR(CheckName(name));
  RETURN_IF_ERROR(CheckDept(dept));
  RETURN_IF_ERROR(CheckRoles(roles));
  RETURN_IF_ERROR(CheckRealm(tenant_, roles));
  ASSIGN_OR_RETURN(const bool all, TotpForAll());
  const int64_t now_us = ToUnixMicros(clock_.Now());

  StaffCreated created;
  created.initial_password = OneTimePassword(login);
  ASSIGN_OR_RETURN(const std::string hash,
                   crypto::HashPassword(created.initial_password, policy_.hash_limits));
  ASSIGN_OR_RETURN(
      const crypto::Bytes name_sealed,
      tenant_.data_keys->Seal(crypto::AsBytes(name), crypto::AsBytes(Aad(login, "name"))));
  store::Value totp_sealed = nullptr;
  if (RolesNeedTotp(roles) || all) {
    const crypto::SecretBytes secret = crypto::SecretBytes::Random(crypto::kTotpSecretBytes);
    ASSIGN_OR_RETURN(totp_sealed, SealTotp(tenant_, login, secret));
    created.enrolment = Enrolment(tenant_, login, secret);
  }
  const std::string target = StaffTarget(login) + " roles=" + StaffRolesText(roles);
  Status s = tenant_.Commit([&](store::Transaction& tx) -> Status {
    RETURN_IF_ERROR(
        tx.Exec("INSERT INTO staff (login, name_sealed, dept, roles, password_hash,"
                " must_change_password, totp_sealed, created_at_us, password_changed_us)"
                " VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)",
                {std::string(login), name_sealed, std::string(dept), static_cast<int64_t>(roles),
                 hash, totp_sealed, now_us, now_us}));
    return Append(tenant_, tx, Event(tenant_, actor, "staff.add", target, "ok"));
  });
  if (!s.ok()) {
    tenant_.Audit(Event(tenant_, actor, "staff.add", target, Outcome(s)));
    if (s.code() == StatusCode::kAlreadyExists) {
      return AlreadyExistsError("login: already in use by another staff member");
    }
    return s;
  }
  ASSIGN_OR_RETURN(created.member, Get(login));
  return created;
}

Result<std::vector<StaffMember>> StaffDirectory::List() {
  const int64_t now_us = ToUnixMicros(clock_.Now());
  ASSIGN_OR_RETURN(std::unique_ptr<store::Transaction> tx, tenant_.db->BeginRead());
  ASSIGN_OR_RETURN(const bool all, ReadTotpForAll(*tx));
  ASSIGN_OR_RETURN(std::vector<store::Row> rows,
                   tx->Query("SELECT " + std::string(kColumns) + " FROM staff ORDER BY login"));
  std::vector<StaffMember> out;
  out.reserve(rows.size());
  for (const store::Row& r : rows) {
    ASSIGN_OR_RETURN(StaffRow row, ParseRow(r, all, now_us));
    ASSIGN_OR_RETURN(StaffMember m, Decrypted(tenant_, std::move(row)));
    out.push_back(std::move(m));
  }
  return out;
}

Result<StaffMember> StaffDirectory::Get(std::string_view login) {
  ASSIGN_OR_RETURN(std::optional<StaffRow> row,
                   LoadRow(tenant_, login, ToUnixMicros(clock_.Now())));
  if (!row.has_value()) return NotFoundError("no staff member with that login");
  return Decrypted(tenant_, *std::move(row));
}

Status StaffDirectory::SetDisabled(std::string_view login, bool disabled,
                                   const std::string& actor) {
  return UpdateAudited(
      tenant_, "UPDATE staff SET disabled = ? WHERE login = ?", {int64_t{disabled ? 1 : 0}}, login,
      Event(tenant_, actor, disabled ? "staff.disable" : "staff.enable", StaffTarget(login), "ok"));
}

Status StaffDirectory::SetRoles(std::string_view login, StaffRoles roles,
                                const std::string& actor) {
  RETURN_IF_ERROR(CheckRoles(roles));
  RETURN_IF_ERROR(CheckRealm(tenant_, roles));
  return UpdateAudited(tenant_, "UPDATE staff SET roles = ? WHERE login = ?",
                       {static_cast<int64_t>(roles)}, login,
                       Event(tenant_, actor, "staff.roles",
                             StaffTarget(login) + " roles=" + StaffRolesText(roles), "ok"));
}

Result<std::string> StaffDirectory::ResetPassword(std::string_view login,
                                                  const std::string& actor) {
  std::string password = OneTimePassword(login);
  ASSIGN_OR_RETURN(const std::string hash, crypto::HashPassword(password, policy_.hash_limits));
  RETURN_IF_ERROR(
      UpdateAudited(tenant_,
                    "UPDATE staff SET password_hash = ?, must_change_password = 1, failures = 0,"
                    " locked_until_us = 0, password_changed_us = ? WHERE login = ?",
                    {hash, ToUnixMicros(clock_.Now())}, login,
                    Event(tenant_, actor, "staff.password_reset", StaffTarget(login), "ok")));
  return password;
}

Result<TotpEnrolment> StaffDirectory::ResetTotp(std::string_view login, const std::string& actor) {
  const crypto::SecretBytes secret = crypto::SecretBytes::Random(crypto::kTotpSecretBytes);
  ASSIGN_OR_RETURN(const crypto::Bytes sealed, SealTotp(tenant_, login, secret));
  RETURN_IF_ERROR(UpdateAudited(
      tenant_,
      "UPDATE staff SET totp_sealed = ?, totp_confirmed = 0, totp_last_step = -1"
      " WHERE login = ?",
      {sealed}, login, Event(tenant_, actor, "staff.totp_reset", StaffTarget(login), "ok")));
  return Enrolment(tenant_, login, secret);
}

Result<TotpEnrolment> StaffDirectory::PendingEnrolment(std::string_view login) {
  ASSIGN_OR_RETURN(std::optional<StaffRow> row,
                   LoadRow(tenant_, login, ToUnixMicros(clock_.Now())));
  if (!row.has_value()) return NotFoundError("no staff member with that login");
  if (!row->totp_sealed.has_value() || row->member.totp_confirmed) {
    return FailedPreconditionError("no unconfirmed second factor to enrol");
  }
  ASSIGN_OR_RETURN(const crypto::SecretBytes secret, OpenTotp(tenant_, login, *row->totp_sealed));
  return Enrolment(tenant_, login, secret);
}

Result<PasswordAccepted> StaffDirectory::CheckPassword(std::string_view login,
                                                       std::string_view password,
                                                       std::string_view peer) {
  const int64_t now_us = ToUnixMicros(clock_.Now());
  const std::string actor = StaffTarget(login);
  const std::string target = LoginTarget(login, peer);
  ASSIGN_OR_RETURN(std::optional<StaffRow> row, LoadRow(tenant_, login, now_us));
  if (!row.has_value() || row->member.disabled) {
    // The same argon2id work as a wrong password, whose result does not matter.
    crypto::VerifyPassword(DummyHash(policy_.hash_limits), password).IgnoreError();
    tenant_.Audit(Event(tenant_, actor, "staff.login", target, "denied"));
    return WrongLogin();
  }
  if (row->member.locked_until_us != 0) {
    tenant_.Audit(Event(tenant_, actor, "staff.login", target, "denied:locked"));
    return Locked();
  }
  const Status verified = crypto::VerifyPassword(row->password_hash, password);
  if (verified.code() == StatusCode::kUnauthenticated ||
      (verified.code() == StatusCode::kInvalidArgument &&
       password.size() > crypto::kPasswordMaxBytes)) {
    RETURN_IF_ERROR(
        CountFailure(tenant_, policy_, row->member.id, now_us, login, "staff.login", target));
    return WrongLogin();
  }
  if (!verified.ok()) return verified.WithContext("staff " + row->member.login + ": password");

  PasswordAccepted accepted;
  StaffMember& m = row->member;
  // A second factor that the roles or the tenant now require but that was never created: made
  // here, so the console shows its QR code before the code is asked for.
  std::optional<crypto::Bytes> new_secret;
  if (m.totp_required && !m.totp_enrolled) {
    const crypto::SecretBytes secret = crypto::SecretBytes::Random(crypto::kTotpSecretBytes);
    ASSIGN_OR_RETURN(new_secret, SealTotp(tenant_, login, secret));
    m.totp_enrolled = true;
    m.totp_confirmed = false;
  }
  accepted.needs_totp = m.totp_required || m.totp_enrolled;
  accepted.needs_enrolment = accepted.needs_totp && !m.totp_confirmed;
  accepted.must_change_password = m.must_change_password;
  std::optional<std::string> rehash;
  if (crypto::PasswordNeedsRehash(row->password_hash, policy_.hash_limits)) {
    Result<std::string> h = crypto::HashPassword(password, policy_.hash_limits);
    if (h.ok()) rehash = *std::move(h);
  }
  std::string sql = "UPDATE staff SET failures = 0, locked_until_us = 0";
  std::vector<store::Value> params;
  if (!accepted.needs_totp) {
    sql += ", last_login_us = ?";
    params.emplace_back(now_us);
    m.last_login_us = now_us;
  }
  if (new_secret.has_value()) {
    sql += ", totp_sealed = ?, totp_confirmed = 0, totp_last_step = -1";
    params.emplace_back(*new_secret);
  }
  if (rehash.has_value()) {
    sql += ", password_hash = ?";
    params.emplace_back(*rehash);
  }
  sql += " WHERE id = ?";
  params.emplace_back(m.id);
  m.failures = 0;
  const Status committed = tenant_.Commit([&](store::Transaction& tx) -> Status {
    RETURN_IF_ERROR(tx.Exec(sql, params));
    return Append(tenant_, tx, Event(tenant_, actor, "staff.login", target, "ok"));
  });
  RETURN_IF_ERROR(committed);
  ASSIGN_OR_RETURN(accepted.member, Decrypted(tenant_, *std::move(row)));
  return accepted;
}

Status StaffDirectory::CheckTotp(std::string_view login, std::string_view code,
                                 std::string_view peer) {
  const int64_t now_us = ToUnixMicros(clock_.Now());
  const std::string actor = StaffTarget(login);
  const std::string target = LoginTarget(login, peer);
  ASSIGN_OR_RETURN(std::optional<StaffRow> row, LoadRow(tenant_, login, now_us));
  if (!row.has_value() || row->member.disabled) {
    tenant_.Audit(Event(tenant_, actor, "staff.login_totp", target, "denied"));
    return WrongCode();
  }
  if (row->member.locked_until_us != 0) {
    tenant_.Audit(Event(tenant_, actor, "staff.login_totp", target, "denied:locked"));
    return Locked();
  }
  if (!row->totp_sealed.has_value()) {
    tenant_.Audit(Event(tenant_, actor, "staff.login_totp", target, "denied:not_enrolled"));
    return FailedPreconditionError("no second factor is enrolled");
  }
  ASSIGN_OR_RETURN(const crypto::SecretBytes secret, OpenTotp(tenant_, login, *row->totp_sealed));
  const int64_t now_s = now_us / 1'000'000;
  const Result<int64_t> step = crypto::VerifyTotp(secret.span(), code, now_s);
  // A malformed code is a wrong code: it is counted like one, and its text is not quoted.
  if (!step.ok() && step.status().code() != StatusCode::kUnauthenticated &&
      step.status().code() != StatusCode::kInvalidArgument) {
    return step.status();
  }
  const bool first = !row->member.totp_confirmed;
  Status used = FailedPreconditionError("wrong");
  if (step.ok() && *step > row->totp_last_step) {
    // The step is stored only if it is newer than the stored one, in the same statement: two
    // concurrent logins with one code cannot both pass.
    used = tenant_.Commit([&](store::Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(const int64_t n,
                       tx.ExecCount("UPDATE staff SET totp_last_step = ?, totp_confirmed = 1,"
                                    " failures = 0, locked_until_us = 0, last_login_us = ?"
                                    " WHERE id = ? AND totp_last_step < ? AND disabled = 0",
                                    {*step, now_us, row->member.id, *step}));
      if (n == 0) return FailedPreconditionError("code already used");
      RETURN_IF_ERROR(Append(tenant_, tx, Event(tenant_, actor, "staff.login_totp", target, "ok")));
      if (first) {
        RETURN_IF_ERROR(Append(
            tenant_, tx, Event(tenant_, actor, "staff.totp_confirm", StaffTarget(login), "ok")));
      }
      return Status::Ok();
    });
    if (used.ok()) return Status::Ok();
    if (used.code() != StatusCode::kFailedPrecondition) return used;
  }
  RETURN_IF_ERROR(
      CountFailure(tenant_, policy_, row->member.id, now_us, login, "staff.login_totp", target));
  return WrongCode();
}

Status StaffDirectory::ChangePassword(std::string_view login, std::string_view old_password,
                                      std::string_view new_password) {
  const int64_t now_us = ToUnixMicros(clock_.Now());
  const std::string actor = StaffTarget(login);
  const std::string target = StaffTarget(login);
  ASSIGN_OR_RETURN(std::optional<StaffRow> row, LoadRow(tenant_, login, now_us));
  if (!row.has_value() || row->member.disabled) {
    crypto::VerifyPassword(DummyHash(policy_.hash_limits), old_password).IgnoreError();
    tenant_.Audit(Event(tenant_, actor, "staff.password_change", target, "denied"));
    return WrongLogin();
  }
  if (row->member.locked_until_us != 0) {
    tenant_.Audit(Event(tenant_, actor, "staff.password_change", target, "denied:locked"));
    return Locked();
  }
  const Status verified = crypto::VerifyPassword(row->password_hash, old_password);
  if (verified.code() == StatusCode::kUnauthenticated ||
      (verified.code() == StatusCode::kInvalidArgument &&
       old_password.size() > crypto::kPasswordMaxBytes)) {
    RETURN_IF_ERROR(CountFailure(tenant_, policy_, row->member.id, now_us, login,
                                 "staff.password_change", target));
    return WrongLogin();
  }
  if (!verified.ok()) return verified.WithContext("staff " + row->member.login + ": password");
  Status policy = CheckPasswordPolicy(login, new_password);
  if (policy.ok() && new_password == old_password) {
    policy = InvalidArgumentError("password: the new password must differ from the old one");
  }
  if (!policy.ok()) {
    tenant_.Audit(Event(tenant_, actor, "staff.password_change", target, "denied:policy"));
    return policy;
  }
  ASSIGN_OR_RETURN(const std::string hash, crypto::HashPassword(new_password, policy_.hash_limits));
  return tenant_.Commit([&](store::Transaction& tx) -> Status {
    RETURN_IF_ERROR(
        tx.Exec("UPDATE staff SET password_hash = ?, must_change_password = 0, failures = 0,"
                " password_changed_us = ? WHERE id = ?",
                {hash, now_us, row->member.id}));
    return Append(tenant_, tx, Event(tenant_, actor, "staff.password_change", target, "ok"));
  });
}

Result<bool> StaffDirectory::TotpForAll() {
  ASSIGN_OR_RETURN(std::unique_ptr<store::Transaction> tx, tenant_.db->BeginRead());
  return ReadTotpForAll(*tx);
}

Status StaffDirectory::SetTotpForAll(bool on, const std::string& actor) {
  const std::string value = on ? "on" : "off";
  return tenant_.Commit([&](store::Transaction& tx) -> Status {
    RETURN_IF_ERROR(
        tx.Exec("INSERT INTO staff_settings (name, value) VALUES ('totp_for_all', ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                {value}));
    return Append(
        tenant_, tx,
        Event(tenant_, actor, "staff.settings", "staff_settings totp_for_all=" + value, "ok"));
  });
}

}  // namespace chukan::server
