#include "server/staff_directory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/status_matchers.h"
#include "crypto/totp.h"
#include "server/platform.h"
#include "server/tenant_context.h"
#include "store/store_test_util.h"

namespace chukan::server {
namespace {

using ::chukan::testing::IsOk;
using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const OrgCode kOrg = OrgCode::Parse("0000000000000141").value();
constexpr char kName[] = "山田 太郎";
constexpr char kNewPassword[] = "Sapporo-2026-kita";

struct AuditRow {
  std::string actor, action, target, outcome;
};

class StaffDirectoryTest : public store::testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ServerConfig c;
    c.store = Options();
    c.keys_dir = dir().File("keys");
    ASSERT_OK_AND_ASSIGN(platform_, Platform::Open(c, true, clock_));
    ASSERT_OK(platform_->CreateTenant(kOrg, "札幌市", "cli:test").status());
    ASSERT_OK_AND_ASSIGN(tenant_, platform_->Tenant(TenantId::ForOrg(kOrg)));
  }
  void TearDown() override {
    tenant_.reset();
    platform_.reset();
    StoreTest::TearDown();
  }

  StaffDirectory Directory() {
    StaffDirectory::Policy policy;
    policy.hash_limits = crypto::PwhashLimits::MinimumForTests();
    return StaffDirectory(*tenant_, policy, clock_);
  }

  // Adds `login` and changes its one-time password to kNewPassword.
  void AddActive(const std::string& login, StaffRoles roles) {
    StaffDirectory dir = Directory();
    ASSERT_OK_AND_ASSIGN(StaffCreated c, dir.Add(login, kName, "K01", roles, "cli:test"));
    ASSERT_OK(dir.ChangePassword(login, c.initial_password, kNewPassword));
  }

  // The code an authenticator app shows for `enrolment` at the fake clock's time (+ offset).
  std::string CodeNow(const TotpEnrolment& enrolment, int64_t offset_seconds = 0) {
    auto secret = crypto::Base32Decode(enrolment.secret_base32);
    EXPECT_OK(secret);
    const int64_t now = ToUnixMicros(clock_.Now()) / 1'000'000 + offset_seconds;
    auto code = crypto::Totp(secret->span(), now);
    EXPECT_OK(code);
    return code.ok() ? *code : "";
  }

  std::vector<AuditRow> AuditRows() {
    std::vector<AuditRow> out;
    auto tx = tenant_->db->BeginRead();
    EXPECT_OK(tx);
    if (!tx.ok()) return out;
    auto rows = (*tx)->Query("SELECT actor, action, target, outcome FROM audit_log ORDER BY seq");
    EXPECT_OK(rows);
    if (!rows.ok()) return out;
    for (const store::Row& r : *rows) {
      out.push_back({*r.GetText(0), *r.GetText(1), *r.GetText(2), *r.GetText(3)});
    }
    return out;
  }
  std::vector<AuditRow> AuditOf(std::string_view action) {
    std::vector<AuditRow> out;
    for (AuditRow& r : AuditRows()) {
      if (r.action == action) out.push_back(std::move(r));
    }
    return out;
  }

  // Every byte of every text and blob cell of table staff, concatenated.
  std::string RawStaffBytes() {
    std::string out;
    auto tx = tenant_->db->BeginRead();
    EXPECT_OK(tx);
    if (!tx.ok()) return out;
    auto rows = (*tx)->Query("SELECT * FROM staff");
    EXPECT_OK(rows);
    if (!rows.ok()) return out;
    for (const store::Row& r : *rows) {
      for (const store::Value& v : r.values()) {
        if (const auto* s = std::get_if<std::string>(&v)) out += *s + "|";
        if (const auto* b = std::get_if<store::Bytes>(&v)) {
          out += std::string(b->begin(), b->end()) + "|";
        }
      }
    }
    return out;
  }

  FakeClock clock_;
  std::unique_ptr<Platform> platform_;
  std::shared_ptr<TenantContext> tenant_;
};

TEST_P(StaffDirectoryTest, AddedMemberLogsInWithTheOneTimePasswordAndMustChangeIt) {
  StaffDirectory dir = Directory();
  ASSERT_OK_AND_ASSIGN(
      StaffCreated c,
      dir.Add("yamada.t", kName, "K01", static_cast<StaffRoles>(StaffRole::kInquirer), "cli:test"));
  EXPECT_EQ(c.member.login, "yamada.t");
  EXPECT_EQ(c.member.name, kName);
  EXPECT_EQ(c.member.dept, "K01");
  EXPECT_TRUE(c.member.must_change_password);
  EXPECT_FALSE(c.enrolment.has_value());
  EXPECT_EQ(c.initial_password.size(), 16u);
  EXPECT_OK(StaffDirectory::CheckPasswordPolicy("yamada.t", c.initial_password));
  EXPECT_EQ(c.initial_password.find_first_of("IOlo01"), std::string::npos);

  ASSERT_OK_AND_ASSIGN(PasswordAccepted a,
                       dir.CheckPassword("yamada.t", c.initial_password, "::1"));
  EXPECT_TRUE(a.must_change_password);
  EXPECT_FALSE(a.needs_totp);
  EXPECT_EQ(a.member.name, kName);

  ASSERT_OK(dir.ChangePassword("yamada.t", c.initial_password, kNewPassword));
  ASSERT_OK_AND_ASSIGN(a, dir.CheckPassword("yamada.t", kNewPassword, "::1"));
  EXPECT_FALSE(a.must_change_password);
  EXPECT_EQ(a.member.last_login_us, ToUnixMicros(clock_.Now()));
  EXPECT_THAT(dir.CheckPassword("yamada.t", c.initial_password, "::1"),
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(dir.ChangePassword("yamada.t", "wrong-Password-1", "Another-Pass-2026"),
              StatusIs(StatusCode::kUnauthenticated));
}

TEST_P(StaffDirectoryTest, AddErrorsNameTheFieldAndNeverEchoTheName) {
  StaffDirectory dir = Directory();
  const StaffRoles inquirer = static_cast<StaffRoles>(StaffRole::kInquirer);
  EXPECT_THAT(dir.Add("Yamada", kName, "", inquirer, "cli:test"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("login")));
  EXPECT_THAT(dir.Add(".yamada", kName, "", inquirer, "cli:test"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("login")));
  EXPECT_THAT(dir.Add(std::string(33, 'a'), kName, "", inquirer, "cli:test"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("login")));
  const std::string bad_name = std::string(kName) + "\n";
  const auto r = dir.Add("yamada", bad_name, "", inquirer, "cli:test");
  EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument, HasSubstr("name")));
  EXPECT_THAT(r.status().message(), Not(HasSubstr("山田")));
  EXPECT_THAT(dir.Add("yamada", "", "", inquirer, "cli:test"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("name")));
  std::string long_name;
  for (int i = 0; i < 65; ++i) long_name += "山";
  EXPECT_THAT(dir.Add("yamada", long_name, "", inquirer, "cli:test"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("name")));
  EXPECT_THAT(dir.Add("yamada", kName, "K-01", inquirer, "cli:test"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("dept")));
  EXPECT_THAT(dir.Add("yamada", kName, std::string(21, 'K'), inquirer, "cli:test"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("dept")));
  EXPECT_THAT(dir.Add("yamada", kName, "", 0, "cli:test"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("roles")));
  EXPECT_THAT(dir.Add("yamada", kName, "", 64, "cli:test"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("roles")));
  ASSERT_OK(dir.Add("yamada", kName, "", inquirer, "cli:test").status());
  const auto again = dir.Add("yamada", "佐藤 花子", "", inquirer, "cli:test");
  EXPECT_THAT(again, StatusIs(StatusCode::kAlreadyExists, HasSubstr("login")));
  EXPECT_THAT(again.status().message(), Not(HasSubstr("佐藤")));
  EXPECT_THAT(dir.Get("nobody"), StatusIs(StatusCode::kNotFound));
}

TEST_P(StaffDirectoryTest, PasswordPolicyErrorsNameTheRule) {
  EXPECT_THAT(StaffDirectory::CheckPasswordPolicy("yamada", "Short-1"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("12 to 128 characters")));
  EXPECT_THAT(StaffDirectory::CheckPasswordPolicy("yamada", std::string(120, 'a') + "Bb1-Cc2-D"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("12 to 128 characters")));
  EXPECT_THAT(StaffDirectory::CheckPasswordPolicy("yamada", "onlylowercase1"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("at least three")));
  EXPECT_THAT(StaffDirectory::CheckPasswordPolicy("yamada.taro12", "Yamada.Taro12"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("login id")));
  EXPECT_OK(StaffDirectory::CheckPasswordPolicy("yamada", "correct-Horse-7"));
  // Japanese characters count as "other", and by character, not by byte.
  EXPECT_OK(StaffDirectory::CheckPasswordPolicy("yamada", "さっぽろ時計台abcd12"));
  EXPECT_THAT(StaffDirectory::CheckPasswordPolicy("yamada", "さっぽろ時計台ab1"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("12 to 128")));

  AddActive("yamada", static_cast<StaffRoles>(StaffRole::kInquirer));
  StaffDirectory dir = Directory();
  EXPECT_THAT(dir.ChangePassword("yamada", kNewPassword, kNewPassword),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("differ from the old")));
  const Status weak = dir.ChangePassword("yamada", kNewPassword, "weakpassword");
  EXPECT_THAT(weak, StatusIs(StatusCode::kInvalidArgument, HasSubstr("at least three")));
  EXPECT_THAT(weak.message(), Not(HasSubstr("weakpassword")));
  ASSERT_EQ(AuditOf("staff.password_change").back().outcome, "denied:policy");
}

TEST(StaffRolesTest, ParseTextAndLabels) {
  ASSERT_OK_AND_ASSIGN(StaffRoles r, ParseStaffRoles("approver,inquirer"));
  EXPECT_EQ(r, 3u);
  EXPECT_EQ(StaffRolesText(r), "inquirer,approver");
  ASSERT_OK_AND_ASSIGN(r, ParseStaffRoles(" admin , auditor,承認者"));
  EXPECT_EQ(StaffRolesText(r), "approver,auditor,admin");
  EXPECT_EQ(StaffRolesText(kAllStaffRoles), "inquirer,approver,replica,auditor,admin");
  EXPECT_THAT(ParseStaffRoles("inquirer,boss,admin"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("role 2 of 3")));
  EXPECT_THAT(ParseStaffRoles("inquirer,"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("role 2 of 2")));
  EXPECT_THAT(ParseStaffRoles(""), StatusIs(StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_EQ(StaffRoleLabelJa(StaffRole::kInquirer), "照会担当");
  EXPECT_EQ(StaffRoleLabelJa(StaffRole::kApprover), "承認者");
  EXPECT_EQ(StaffRoleLabelJa(StaffRole::kReplica), "副本担当");
  EXPECT_EQ(StaffRoleLabelJa(StaffRole::kAuditor), "監査担当");
  EXPECT_EQ(StaffRoleLabelJa(StaffRole::kAdmin), "管理者");
  EXPECT_TRUE(RolesNeedTotp(static_cast<StaffRoles>(StaffRole::kApprover)));
  EXPECT_TRUE(RolesNeedTotp(static_cast<StaffRoles>(StaffRole::kAdmin)));
  EXPECT_FALSE(RolesNeedTotp(static_cast<StaffRoles>(StaffRole::kInquirer) |
                             static_cast<StaffRoles>(StaffRole::kReplica) |
                             static_cast<StaffRoles>(StaffRole::kAuditor)));
}

TEST_P(StaffDirectoryTest, ApproverAndAdminGetAnEnrolmentInquirerOnlyWithTotpForAll) {
  StaffDirectory dir = Directory();
  ASSERT_OK_AND_ASSIGN(
      StaffCreated approver,
      dir.Add("sato", kName, "", static_cast<StaffRoles>(StaffRole::kApprover), "cli:test"));
  ASSERT_TRUE(approver.enrolment.has_value());
  EXPECT_EQ(approver.enrolment->secret_base32.size(), 32u);
  EXPECT_THAT(approver.enrolment->uri,
              StartsWith("otpauth://totp/chukan%200000000000000141:sato?secret=" +
                         approver.enrolment->secret_base32 + "&"));
  EXPECT_TRUE(approver.member.totp_required);
  EXPECT_TRUE(approver.member.totp_enrolled);
  EXPECT_FALSE(approver.member.totp_confirmed);
  ASSERT_OK_AND_ASSIGN(
      StaffCreated admin,
      dir.Add("kanri", kName, "", static_cast<StaffRoles>(StaffRole::kAdmin), "cli:test"));
  EXPECT_TRUE(admin.enrolment.has_value());
  ASSERT_OK_AND_ASSIGN(
      StaffCreated inquirer,
      dir.Add("suzuki", kName, "", static_cast<StaffRoles>(StaffRole::kInquirer), "cli:test"));
  EXPECT_FALSE(inquirer.enrolment.has_value());
  EXPECT_FALSE(inquirer.member.totp_required);
  EXPECT_THAT(dir.PendingEnrolment("suzuki"), StatusIs(StatusCode::kFailedPrecondition));

  ASSERT_OK_AND_ASSIGN(bool all, dir.TotpForAll());
  EXPECT_FALSE(all);
  ASSERT_OK(dir.SetTotpForAll(true, "cli:test"));
  ASSERT_OK_AND_ASSIGN(all, dir.TotpForAll());
  EXPECT_TRUE(all);
  ASSERT_OK_AND_ASSIGN(
      StaffCreated later,
      dir.Add("tanaka", kName, "", static_cast<StaffRoles>(StaffRole::kReplica), "cli:test"));
  EXPECT_TRUE(later.enrolment.has_value());
  // The inquirer added before the setting now needs a second factor: its secret is made at
  // its next correct password, and the console shows it.
  ASSERT_OK_AND_ASSIGN(StaffMember s, dir.Get("suzuki"));
  EXPECT_TRUE(s.totp_required);
  EXPECT_FALSE(s.totp_enrolled);
  ASSERT_OK_AND_ASSIGN(PasswordAccepted a,
                       dir.CheckPassword("suzuki", inquirer.initial_password, "::1"));
  EXPECT_TRUE(a.needs_totp);
  EXPECT_TRUE(a.needs_enrolment);
  ASSERT_OK_AND_ASSIGN(TotpEnrolment pending, dir.PendingEnrolment("suzuki"));
  EXPECT_OK(dir.CheckTotp("suzuki", CodeNow(pending), "::1"));
  ASSERT_EQ(AuditOf("staff.settings").size(), 1u);
  EXPECT_EQ(AuditOf("staff.settings")[0].target, "staff_settings totp_for_all=on");
}

TEST_P(StaffDirectoryTest, TotpCodeConfirmsTheSecretAndIsGoodOnce) {
  StaffDirectory dir = Directory();
  ASSERT_OK_AND_ASSIGN(
      StaffCreated c,
      dir.Add("sato", kName, "", static_cast<StaffRoles>(StaffRole::kApprover), "cli:test"));
  ASSERT_OK_AND_ASSIGN(PasswordAccepted a, dir.CheckPassword("sato", c.initial_password, "::1"));
  EXPECT_TRUE(a.needs_totp);
  EXPECT_TRUE(a.needs_enrolment);
  EXPECT_EQ(a.member.last_login_us, 0);  // not logged in until the code
  ASSERT_OK_AND_ASSIGN(TotpEnrolment pending, dir.PendingEnrolment("sato"));
  EXPECT_EQ(pending.secret_base32, c.enrolment->secret_base32);
  EXPECT_EQ(pending.uri, c.enrolment->uri);

  const std::string code = CodeNow(*c.enrolment);
  ASSERT_OK(dir.CheckTotp("sato", code, "::1"));
  ASSERT_OK_AND_ASSIGN(StaffMember m, dir.Get("sato"));
  EXPECT_TRUE(m.totp_confirmed);
  EXPECT_EQ(m.last_login_us, ToUnixMicros(clock_.Now()));
  EXPECT_THAT(dir.PendingEnrolment("sato"), StatusIs(StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(a, dir.CheckPassword("sato", c.initial_password, "::1"));
  EXPECT_TRUE(a.needs_totp);
  EXPECT_FALSE(a.needs_enrolment);

  // The same code again, within its step: refused, and counted.
  EXPECT_THAT(dir.CheckTotp("sato", code, "::1"),
              StatusIs(StatusCode::kUnauthenticated, HasSubstr("one-time code is wrong")));
  ASSERT_OK_AND_ASSIGN(m, dir.Get("sato"));
  EXPECT_EQ(m.failures, 1);
  // The previous step's code is inside the window, but older than the one used: refused.
  EXPECT_THAT(dir.CheckTotp("sato", CodeNow(*c.enrolment, -30), "::1"),
              StatusIs(StatusCode::kUnauthenticated));
  // The next step's code is new.
  clock_.Advance(std::chrono::seconds(30));
  EXPECT_OK(dir.CheckTotp("sato", CodeNow(*c.enrolment), "::1"));
  ASSERT_OK_AND_ASSIGN(m, dir.Get("sato"));
  EXPECT_EQ(m.failures, 0);
  // A malformed code is a wrong code, and is not quoted.
  const Status malformed = dir.CheckTotp("sato", "12ab56", "::1");
  EXPECT_THAT(malformed, StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(malformed.message(), Not(HasSubstr("12ab56")));

  EXPECT_EQ(AuditOf("staff.totp_confirm").size(), 1u);
  const auto totp_entries = AuditOf("staff.login_totp");
  ASSERT_EQ(totp_entries.size(), 5u);
  EXPECT_EQ(totp_entries[0].outcome, "ok");
  EXPECT_EQ(totp_entries[1].outcome, "denied");
  EXPECT_EQ(totp_entries[3].outcome, "ok");
  for (const AuditRow& r : AuditRows()) {
    EXPECT_THAT(r.target, Not(HasSubstr(code)));
    EXPECT_THAT(r.outcome, Not(HasSubstr(code)));
  }
}

TEST_P(StaffDirectoryTest, ResetTotpGivesANewUnconfirmedSecret) {
  StaffDirectory dir = Directory();
  ASSERT_OK_AND_ASSIGN(
      StaffCreated c,
      dir.Add("sato", kName, "", static_cast<StaffRoles>(StaffRole::kAdmin), "cli:test"));
  ASSERT_OK(dir.CheckTotp("sato", CodeNow(*c.enrolment), "::1"));
  clock_.Advance(std::chrono::seconds(60));
  ASSERT_OK_AND_ASSIGN(TotpEnrolment fresh, dir.ResetTotp("sato", "staff:kanri"));
  EXPECT_NE(fresh.secret_base32, c.enrolment->secret_base32);
  ASSERT_OK_AND_ASSIGN(StaffMember m, dir.Get("sato"));
  EXPECT_FALSE(m.totp_confirmed);
  EXPECT_THAT(dir.CheckTotp("sato", CodeNow(*c.enrolment), "::1"),
              StatusIs(StatusCode::kUnauthenticated));
  EXPECT_OK(dir.CheckTotp("sato", CodeNow(fresh), "::1"));
  ASSERT_EQ(AuditOf("staff.totp_reset").size(), 1u);
  EXPECT_EQ(AuditOf("staff.totp_reset")[0].actor, "staff:kanri");
  EXPECT_THAT(dir.ResetTotp("nobody", "staff:kanri"), StatusIs(StatusCode::kNotFound));
}

TEST_P(StaffDirectoryTest, FiveFailuresLockForFifteenMinutes) {
  AddActive("yamada", static_cast<StaffRoles>(StaffRole::kInquirer));
  StaffDirectory dir = Directory();
  for (int i = 0; i < 5; ++i) {
    EXPECT_THAT(dir.CheckPassword("yamada", "Wrong-password-" + std::to_string(i), "10.0.0.7"),
                StatusIs(StatusCode::kUnauthenticated))
        << i;
  }
  // Locked: the right password is not even checked.
  EXPECT_THAT(dir.CheckPassword("yamada", kNewPassword, "10.0.0.7"),
              StatusIs(StatusCode::kResourceExhausted, HasSubstr("locked")));
  ASSERT_OK_AND_ASSIGN(StaffMember m, dir.Get("yamada"));
  EXPECT_EQ(m.locked_until_us, ToUnixMicros(clock_.Now() + std::chrono::minutes(15)));
  clock_.Advance(std::chrono::minutes(14) + std::chrono::seconds(59));
  EXPECT_THAT(dir.CheckPassword("yamada", kNewPassword, "10.0.0.7"),
              StatusIs(StatusCode::kResourceExhausted));
  EXPECT_THAT(dir.ChangePassword("yamada", kNewPassword, "Another-Pass-2026"),
              StatusIs(StatusCode::kResourceExhausted));
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_OK(dir.CheckPassword("yamada", kNewPassword, "10.0.0.7").status());
  ASSERT_OK_AND_ASSIGN(m, dir.Get("yamada"));
  EXPECT_EQ(m.locked_until_us, 0);
  EXPECT_EQ(m.failures, 0);

  const auto lockouts = AuditOf("staff.lockout");
  ASSERT_EQ(lockouts.size(), 1u);
  EXPECT_THAT(lockouts[0].target, StartsWith("staff:yamada until "));
  const auto logins = AuditOf("staff.login");
  ASSERT_EQ(logins.size(), 8u);
  EXPECT_EQ(logins[0].outcome, "denied");
  EXPECT_EQ(logins[0].actor, "staff:yamada");
  EXPECT_EQ(logins[0].target, "staff:yamada from 10.0.0.7");
  EXPECT_EQ(logins[5].outcome, "denied:locked");
  EXPECT_EQ(logins[7].outcome, "ok");
}

TEST_P(StaffDirectoryTest, FailuresInARowOnlyLockAndASuccessResetsTheCount) {
  AddActive("yamada", static_cast<StaffRoles>(StaffRole::kInquirer));
  StaffDirectory dir = Directory();
  for (int i = 0; i < 4; ++i) {
    ASSERT_THAT(dir.CheckPassword("yamada", "Wrong-password-1", "::1"),
                StatusIs(StatusCode::kUnauthenticated));
  }
  ASSERT_OK(dir.CheckPassword("yamada", kNewPassword, "::1").status());
  for (int i = 0; i < 4; ++i) {
    ASSERT_THAT(dir.CheckPassword("yamada", "Wrong-password-1", "::1"),
                StatusIs(StatusCode::kUnauthenticated));
  }
  EXPECT_OK(dir.CheckPassword("yamada", kNewPassword, "::1").status());
}

TEST_P(StaffDirectoryTest, UnknownLoginAndWrongPasswordGiveTheSameError) {
  AddActive("yamada", static_cast<StaffRoles>(StaffRole::kInquirer));
  StaffDirectory dir = Directory();
  const Status wrong = dir.CheckPassword("yamada", "Wrong-password-1", "::1").status();
  const Status unknown = dir.CheckPassword("nobody", "Wrong-password-1", "::1").status();
  const Status malformed = dir.CheckPassword("Robert'); --", kNewPassword, "::1").status();
  EXPECT_THAT(wrong, StatusIs(StatusCode::kUnauthenticated, "login or password is wrong"));
  EXPECT_EQ(unknown, wrong);
  EXPECT_EQ(malformed, wrong);
  const auto logins = AuditOf("staff.login");
  ASSERT_EQ(logins.size(), 3u);
  EXPECT_EQ(logins[1].target, "staff:nobody from ::1");
  EXPECT_EQ(logins[2].actor, "staff:(malformed login)");
  for (const AuditRow& r : logins) EXPECT_EQ(r.outcome, "denied");
}

TEST_P(StaffDirectoryTest, DisabledAccountAnswersAsUnknown) {
  AddActive("yamada", static_cast<StaffRoles>(StaffRole::kInquirer));
  StaffDirectory dir = Directory();
  ASSERT_OK(dir.SetDisabled("yamada", true, "cli:test"));
  const Status disabled = dir.CheckPassword("yamada", kNewPassword, "::1").status();
  const Status unknown = dir.CheckPassword("nobody", kNewPassword, "::1").status();
  EXPECT_THAT(disabled, StatusIs(StatusCode::kUnauthenticated));
  EXPECT_EQ(disabled, unknown);
  ASSERT_OK_AND_ASSIGN(std::vector<StaffMember> list, dir.List());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_TRUE(list[0].disabled);
  EXPECT_EQ(list[0].failures, 0);  // not counted: it answers as an unknown login
  ASSERT_OK(dir.SetDisabled("yamada", false, "cli:test"));
  EXPECT_OK(dir.CheckPassword("yamada", kNewPassword, "::1").status());
  EXPECT_THAT(dir.SetDisabled("nobody", true, "cli:test"), StatusIs(StatusCode::kNotFound));
  ASSERT_EQ(AuditOf("staff.disable").size(), 2u);
  EXPECT_EQ(AuditOf("staff.disable")[0].outcome, "ok");
  EXPECT_EQ(AuditOf("staff.disable")[1].outcome, "error:NOT_FOUND");
  ASSERT_EQ(AuditOf("staff.enable").size(), 1u);
}

TEST_P(StaffDirectoryTest, ResetPasswordUnlocksAndForcesAChange) {
  AddActive("yamada", static_cast<StaffRoles>(StaffRole::kInquirer));
  StaffDirectory dir = Directory();
  for (int i = 0; i < 5; ++i) {
    ASSERT_THAT(dir.CheckPassword("yamada", "Wrong-password-1", "::1"),
                StatusIs(StatusCode::kUnauthenticated));
  }
  ASSERT_THAT(dir.CheckPassword("yamada", kNewPassword, "::1"),
              StatusIs(StatusCode::kResourceExhausted));
  ASSERT_OK_AND_ASSIGN(std::string fresh, dir.ResetPassword("yamada", "staff:kanri"));
  EXPECT_EQ(fresh.size(), 16u);
  EXPECT_NE(fresh, kNewPassword);
  EXPECT_THAT(dir.CheckPassword("yamada", kNewPassword, "::1"),
              StatusIs(StatusCode::kUnauthenticated));
  ASSERT_OK_AND_ASSIGN(PasswordAccepted a, dir.CheckPassword("yamada", fresh, "::1"));
  EXPECT_TRUE(a.must_change_password);
  ASSERT_OK_AND_ASSIGN(std::string again, dir.ResetPassword("yamada", "staff:kanri"));
  EXPECT_NE(again, fresh);
  EXPECT_THAT(dir.ResetPassword("nobody", "staff:kanri"), StatusIs(StatusCode::kNotFound));
  EXPECT_EQ(AuditOf("staff.password_reset")[0].actor, "staff:kanri");
}

TEST_P(StaffDirectoryTest, SetRolesToAdminAsksForASecondFactor) {
  AddActive("yamada", static_cast<StaffRoles>(StaffRole::kInquirer));
  StaffDirectory dir = Directory();
  ASSERT_OK(dir.SetRoles(
      "yamada",
      static_cast<StaffRoles>(StaffRole::kInquirer) | static_cast<StaffRoles>(StaffRole::kAdmin),
      "cli:test"));
  EXPECT_THAT(dir.SetRoles("yamada", 0, "cli:test"), StatusIs(StatusCode::kInvalidArgument));
  ASSERT_OK_AND_ASSIGN(PasswordAccepted a, dir.CheckPassword("yamada", kNewPassword, "::1"));
  EXPECT_TRUE(a.needs_totp);
  EXPECT_TRUE(a.needs_enrolment);
  EXPECT_EQ(a.member.roles, 17u);
  ASSERT_EQ(AuditOf("staff.roles").size(), 1u);
  EXPECT_EQ(AuditOf("staff.roles")[0].target, "staff:yamada roles=inquirer,admin");
}

TEST_P(StaffDirectoryTest, NameAndSecretAreNotStoredInClear) {
  StaffDirectory dir = Directory();
  ASSERT_OK_AND_ASSIGN(
      StaffCreated c,
      dir.Add("sato", kName, "K01", static_cast<StaffRoles>(StaffRole::kApprover), "cli:test"));
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes secret,
                       crypto::Base32Decode(c.enrolment->secret_base32));
  const std::string raw = RawStaffBytes();
  EXPECT_THAT(raw, HasSubstr("sato"));  // the read works: the login is there
  EXPECT_THAT(raw, Not(HasSubstr(kName)));
  EXPECT_THAT(raw, Not(HasSubstr("山田")));
  EXPECT_THAT(raw, Not(HasSubstr(std::string(secret.AsStringView()))));
  EXPECT_THAT(raw, Not(HasSubstr(c.enrolment->secret_base32)));
  EXPECT_THAT(raw, Not(HasSubstr(c.initial_password)));
}

TEST_P(StaffDirectoryTest, AuditEntriesNameTheActionAndNeverThePassword) {
  StaffDirectory dir = Directory();
  ASSERT_OK_AND_ASSIGN(
      StaffCreated c,
      dir.Add("yamada", kName, "K01", static_cast<StaffRoles>(StaffRole::kInquirer), "cli:alice"));
  ASSERT_OK(dir.CheckPassword("yamada", c.initial_password, "::1").status());
  ASSERT_OK(dir.ChangePassword("yamada", c.initial_password, kNewPassword));
  ASSERT_THAT(dir.CheckPassword("yamada", "Wrong-password-1", "::1"), Not(IsOk()));
  const auto add = AuditOf("staff.add");
  ASSERT_EQ(add.size(), 1u);
  EXPECT_EQ(add[0].actor, "cli:alice");
  EXPECT_EQ(add[0].target, "staff:yamada roles=inquirer");
  EXPECT_EQ(add[0].outcome, "ok");
  ASSERT_EQ(AuditOf("staff.password_change").size(), 1u);
  EXPECT_EQ(AuditOf("staff.password_change")[0].actor, "staff:yamada");
  const auto logins = AuditOf("staff.login");
  ASSERT_EQ(logins.size(), 2u);
  EXPECT_EQ(logins[0].outcome, "ok");
  EXPECT_EQ(logins[1].outcome, "denied");
  for (const AuditRow& r : AuditRows()) {
    for (const std::string* field : {&r.actor, &r.action, &r.target, &r.outcome}) {
      EXPECT_THAT(*field, Not(HasSubstr(c.initial_password)));
      EXPECT_THAT(*field, Not(HasSubstr(kNewPassword)));
      EXPECT_THAT(*field, Not(HasSubstr("Wrong-password-1")));
      EXPECT_THAT(*field, Not(HasSubstr("山田")));
    }
  }
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(StaffDirectoryTest);

}  // namespace
}  // namespace chukan::server
