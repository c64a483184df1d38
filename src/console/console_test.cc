// The console driven in process through the http::Router as a browser would drive it (a cookie
// jar, forms with their CSRF token, redirects read from Location), over a real Platform and
// LinkageService with a fake hub and a fake clock, on SQLite and PostgreSQL. What it checks: the
// login flow (password, TOTP enrolment, forced password change), the cookie and the security
// headers, lockout, CSRF, idle expiry, the screen × role matrix over every route, the approval
// screen end to end and the replica screen's audited showing of values.
#include "console/console.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "common/status_matchers.h"
#include "console/console_impl.h"
#include "console/test_browser.h"
#include "crypto/totp.h"
#include "replica/record_source.h"
#include "replica_io/byte_source.h"
#include "server/atena_map.h"
#include "server/linkage_test_util.h"
#include "server/staff_directory.h"

namespace chukan::console {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace ::chukan::server::testing;  // NOLINT: the fixture's names
using ::chukan::console::testing::Browser;
using ::chukan::console::testing::kNewPassword;
using ::chukan::console::testing::Location;
using server::StaffRole;

const OrgCode kOperatorRealm = OrgCode::Parse(server::kOperatorOrg).value();

class ConsoleTest : public LinkageTestBase {
 protected:
  void SetUp() override {
    LinkageTestBase::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ConsoleOptions o;
    o.staff.hash_limits = crypto::PwhashLimits::MinimumForTests();
    policy_ = o.staff;
    console_ =
        std::make_unique<Console>(*platform_, linkage_.get(), FakeHub::Catalogue(), o, clock_);
    ASSERT_OK(console_->Register(router_));
  }
  void TearDown() override {
    console_.reset();
    LinkageTestBase::TearDown();
  }

  struct Member {
    std::string login;
    std::string password;
    std::string secret;  // base32, empty without TOTP
    OrgCode org = kCityB;
  };
  // A member of city B with `roles`, its password already changed and its TOTP confirmed by
  // a first login (so later logins take password and code only).
  Member AddMember(const std::string& login, server::StaffRoles roles,
                   const OrgCode& org = kCityB) {
    auto ctx = platform_->Tenant(TenantId::ForOrg(org)).value();
    server::StaffDirectory dir(*ctx, policy_, clock_);
    Result<server::StaffCreated> c = dir.Add(login, "試験 職員", "0001", roles, "test");
    EXPECT_OK(c.status());
    if (!c.ok()) return {};
    Member m{login, c->initial_password, c->enrolment ? c->enrolment->secret_base32 : "", org};
    Browser b(router_);
    EXPECT_EQ(LogIn(b, m).headers.Get("Location").value_or(""), "/console/password");
    http::Response changed = b.Post("/console/password", {{"old", m.password},
                                                          {"new", std::string(kNewPassword)},
                                                          {"again", std::string(kNewPassword)}});
    EXPECT_EQ(Location(changed), "/console/home?changed=1") << changed.body;
    m.password = kNewPassword;
    clock_.Advance(std::chrono::seconds(30));  // the next code is of a later step
    return m;
  }

  std::string Code(const Member& m) {
    auto key = crypto::Base32Decode(m.secret).value();
    return crypto::Totp(key.span(), ToUnixMicros(clock_.Now()) / 1'000'000).value();
  }

  // Password (and code when the member has a secret); returns the last answer.
  http::Response LogIn(Browser& b, const Member& m) {
    EXPECT_EQ(b.Get("/console/login").status, 200);
    http::Response r = b.Post("/console/login",
                              {{"org", m.org.str()}, {"login", m.login}, {"password", m.password}});
    if (r.status != 303 || m.secret.empty()) return r;
    EXPECT_EQ(Location(r), "/console/totp");
    EXPECT_EQ(b.Get("/console/totp").status, 200);
    return b.Post("/console/totp", {{"code", Code(m)}});
  }

  // One 地方税関係情報 record of kAtena in city B's replica (income 3141592).
  void ImportTaxRecord() { ImportTax("3141592", replica::ImportMode::kUpsert); }

  // kAtena's 地方税関係情報 record of 2026 with this income, imported into city B's replica in
  // `mode`; returns the import id ("" after a failure, which the test reports).
  std::string ImportTax(const std::string& income, replica::ImportMode mode) {
    return ImportTaxReplica(B(), kAtena, income, mode);
  }

  int64_t AuditCount(const TenantId& t, std::string_view action, std::string_view actor) {
    auto ctx = platform_->Tenant(t).value();
    auto tx = ctx->db->BeginRead().value();
    return tx
        ->QueryOne("SELECT COUNT(*) FROM audit_log WHERE action = ? AND actor = ?",
                   {std::string(action), std::string(actor)})
        .value()
        ->GetInt(0)
        .value();
  }

  http::Router router_;
  server::StaffDirectory::Policy policy_;
  std::unique_ptr<Console> console_;
};

TEST_P(ConsoleTest, FirstLoginEnrolsTheSecondFactorThenForcesAPasswordChange) {
  auto ctx = platform_->Tenant(B()).value();
  server::StaffDirectory dir(*ctx, policy_, clock_);
  ASSERT_OK_AND_ASSIGN(
      server::StaffCreated c,
      dir.Add("sato", "佐藤 花子", "0001", static_cast<uint32_t>(StaffRole::kApprover), "test"));
  ASSERT_TRUE(c.enrolment.has_value());
  Browser b(router_);
  // Without a session every screen leads to the login page.
  EXPECT_EQ(Location(b.Get("/console/home")), "/console/login");
  ASSERT_EQ(b.Get("/console/login").status, 200);
  http::Response pw =
      b.Post("/console/login",
             {{"org", kCityB.str()}, {"login", "sato"}, {"password", c.initial_password}});
  ASSERT_EQ(pw.status, 303);
  EXPECT_EQ(Location(pw), "/console/totp");
  // Half logged in: the screens still refuse.
  EXPECT_EQ(Location(b.Get("/console/approvals")), "/console/totp");
  http::Response enrol = b.Get("/console/totp");
  EXPECT_EQ(enrol.status, 200);
  EXPECT_THAT(enrol.body, HasSubstr("<svg"));
  EXPECT_THAT(enrol.body, HasSubstr(c.enrolment->secret_base32));
  Member m{"sato", c.initial_password, c.enrolment->secret_base32, kCityB};
  http::Response totp = b.Post("/console/totp", {{"code", Code(m)}});
  ASSERT_EQ(totp.status, 303);
  EXPECT_EQ(Location(totp), "/console/password");
  EXPECT_EQ(Location(b.Get("/console/home")), "/console/password");
  http::Response weak = b.Post("/console/password",
                               {{"old", c.initial_password}, {"new", "short"}, {"again", "short"}});
  EXPECT_EQ(weak.status, 400);
  http::Response changed = b.Post("/console/password", {{"old", c.initial_password},
                                                        {"new", std::string(kNewPassword)},
                                                        {"again", std::string(kNewPassword)}});
  ASSERT_EQ(changed.status, 303);
  http::Response home = b.Get("/console/home");
  EXPECT_EQ(home.status, 200);
  EXPECT_THAT(home.body, HasSubstr("佐藤 花子"));
  EXPECT_THAT(home.body, HasSubstr("承認待ち"));
  EXPECT_EQ(AuditCount(B(), "staff.login", "staff:sato"), 1);
  // Logout ends the session on the server.
  const size_t before = console_->sessions().size();
  EXPECT_EQ(b.Post("/console/logout", {}).status, 303);
  EXPECT_EQ(console_->sessions().size(), before - 1);
  EXPECT_EQ(Location(b.Get("/console/home")), "/console/login");
  EXPECT_EQ(AuditCount(B(), "staff.logout", "staff:sato"), 1);
}

TEST_P(ConsoleTest, CookieAndHeadersFollowThePolicy) {
  Member m = AddMember("suzuki", static_cast<uint32_t>(StaffRole::kInquirer));
  Browser b(router_);
  http::Response login = b.Get("/console/login");
  EXPECT_THAT(std::string(login.headers.Get("Content-Security-Policy").value_or("")),
              AllOf(HasSubstr("script-src 'self'"), HasSubstr("frame-ancestors 'none'"),
                    Not(HasSubstr("unsafe-inline"))));
  EXPECT_EQ(login.headers.Get("Referrer-Policy").value_or(""), "no-referrer");
  EXPECT_EQ(login.headers.Get("X-Frame-Options").value_or(""), "DENY");
  EXPECT_EQ(login.headers.Get("Cache-Control").value_or(""), "no-store");
  EXPECT_THAT(login.body, Not(HasSubstr("<script>")));  // no inline script
  http::Response r = b.Post("/console/login",
                            {{"org", kCityB.str()}, {"login", m.login}, {"password", m.password}});
  ASSERT_EQ(Location(r), "/console/home");
  std::string session_cookie;
  for (const std::string& c : b.set_cookies()) {
    if (c.starts_with("chukan_session=")) session_cookie = c;
  }
  EXPECT_THAT(session_cookie, AllOf(HasSubstr("; Path=/console"), HasSubstr("; HttpOnly"),
                                    HasSubstr("; SameSite=Strict"), Not(HasSubstr("Secure"))));
  // 256 bits, base64url: 43 characters.
  EXPECT_EQ(b.cookies()["chukan_session"].size(), 43u);
}

TEST_P(ConsoleTest, UnknownLoginsAndWrongPasswordsLookTheSameAndFiveFailuresLock) {
  Member m = AddMember("tanaka", static_cast<uint32_t>(StaffRole::kInquirer));
  Browser b(router_);
  b.Get("/console/login");
  http::Response unknown =
      b.Post("/console/login", {{"org", kCityB.str()}, {"login", "nobody"}, {"password", "x"}});
  b.Get("/console/login");
  http::Response wrong =
      b.Post("/console/login", {{"org", kCityB.str()}, {"login", m.login}, {"password", "x"}});
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_THAT(wrong.body, HasSubstr("いずれかが違います"));
  for (int i = 0; i < 4; ++i) {
    b.Get("/console/login");
    b.Post("/console/login", {{"org", kCityB.str()}, {"login", m.login}, {"password", "x"}});
  }
  b.Get("/console/login");
  http::Response locked = b.Post(
      "/console/login", {{"org", kCityB.str()}, {"login", m.login}, {"password", m.password}});
  EXPECT_EQ(locked.status, 429);
  EXPECT_THAT(locked.body, HasSubstr("ロック"));
  clock_.Advance(std::chrono::minutes(16));
  b.Get("/console/login");
  EXPECT_EQ(Location(b.Post("/console/login",
                            {{"org", kCityB.str()}, {"login", m.login}, {"password", m.password}})),
            "/console/home");
}

TEST_P(ConsoleTest, FormsWithoutTheSessionsTokenOrFromAnotherSiteAreRefused) {
  Member m = AddMember("ito", static_cast<uint32_t>(StaffRole::kInquirer));
  Browser b(router_);
  ASSERT_EQ(Location(LogIn(b, m)), "/console/home");
  b.Get("/console/home");
  http::Response forged = b.Post("/console/logout", {{"csrf", "forged"}}, false);
  EXPECT_EQ(forged.status, 403);
  EXPECT_EQ(AuditCount(B(), "console.csrf", "staff:ito"), 1);
  b.site = "cross-site";
  EXPECT_EQ(b.Post("/console/logout", {}).status, 403);
  b.site = "same-origin";
  // Still logged in: neither request ended the session.
  EXPECT_EQ(b.Get("/console/home").status, 200);
  // The login form has its own token, bound to a cookie.
  Browser other(router_);
  EXPECT_EQ(other
                .Post("/console/login",
                      {{"org", kCityB.str()},
                       {"login", m.login},
                       {"password", m.password},
                       {"login_csrf", "x"}},
                      false)
                .status,
            403);
}

TEST_P(ConsoleTest, AnIdleSessionExpiresAndTheExpiryIsRecorded) {
  Member m = AddMember("kato", static_cast<uint32_t>(StaffRole::kInquirer));
  Browser b(router_);
  ASSERT_EQ(Location(LogIn(b, m)), "/console/home");
  clock_.Advance(std::chrono::minutes(14));
  EXPECT_EQ(b.Get("/console/home").status, 200);  // used: the idle time starts again
  clock_.Advance(std::chrono::minutes(15));
  EXPECT_EQ(Location(b.Get("/console/home")), "/console/login?expired=1");
  EXPECT_EQ(AuditCount(B(), "staff.session_expired", "staff:kato"), 1);
  // Another member's forgotten session is ended by the sweep.
  Browser c(router_);
  ASSERT_EQ(Location(LogIn(c, m)), "/console/home");
  clock_.Advance(std::chrono::hours(9));
  console_->Sweep();
  EXPECT_EQ(console_->sessions().size(), 0u);
  // c's, and the one AddMember opened to change the password.
  EXPECT_EQ(AuditCount(B(), "staff.session_expired", "staff:kato"), 3);
}

// Every console route, for a member holding exactly one role: allowed when the route takes any
// member or that role, refused (403, audited) otherwise.
TEST_P(ConsoleTest, EveryRouteAllowsExactlyItsRoles) {
  ASSERT_OK(platform_->CreateTenant(kOperatorRealm, "operators", "test").status());
  const StaffRole all[] = {StaffRole::kInquirer, StaffRole::kApprover, StaffRole::kReplica,
                           StaffRole::kAuditor,  StaffRole::kAdmin,    StaffRole::kOperator};
  for (StaffRole role : all) {
    const auto bits = static_cast<server::StaffRoles>(role);
    const bool op = role == StaffRole::kOperator;
    Member m = AddMember("r" + std::to_string(bits), bits, op ? kOperatorRealm : kCityB);
    for (const RouteSpec& spec : Console::Routes()) {
      if (spec.open || spec.login_stage) continue;
      Browser b(router_);
      ASSERT_EQ(Location(LogIn(b, m)), "/console/home");
      clock_.Advance(std::chrono::seconds(30));
      b.Get("/console/home");
      std::string path(spec.pattern);
      if (const size_t p = path.find("{permit}"); p != std::string::npos) {
        path.replace(p, 8, PermitId::Generate().str());
      }
      if (const size_t p = path.find("{id}"); p != std::string::npos) {
        path.replace(p, 4, "0000");
      }
      if (const size_t p = path.find("{login}"); p != std::string::npos) {
        path.replace(p, 7, "nobody");
      }
      http::Response r = spec.method == "GET" ? b.Get(path) : b.Post(path, {});
      // An operator reaches the operator's routes only (ホーム sends them to theirs).
      const bool allowed = op ? spec.roles == bits || spec.pattern == "/console/home"
                              : spec.roles == 0 || (spec.roles & bits) != 0;
      if (allowed) {
        EXPECT_NE(r.status, 403) << spec.method << " " << spec.pattern << " role " << bits;
      } else {
        EXPECT_EQ(r.status, 403) << spec.method << " " << spec.pattern << " role " << bits;
      }
    }
  }
  EXPECT_GT(AuditCount(B(), "console.denied", "staff:r1"), 0);
  EXPECT_GT(AuditCount(TenantId::ForOrg(kOperatorRealm), "console.denied", "staff:r32"), 0);
}

TEST_P(ConsoleTest, TheOperatorSeesTenantsAndNoPersonalData) {
  ImportTaxRecord();
  {
    auto ctx = platform_->Tenant(B()).value();
    server::StaffDirectory dir(*ctx, policy_, clock_);
    ASSERT_OK(
        dir.Add("takahashi", "高橋 次郎", "", static_cast<uint32_t>(StaffRole::kInquirer), "test")
            .status());
  }
  ASSERT_OK(platform_->CreateTenant(kOperatorRealm, "operators", "test").status());
  Member op = AddMember("unyo", static_cast<uint32_t>(StaffRole::kOperator), kOperatorRealm);
  ASSERT_FALSE(op.secret.empty());  // a second factor is mandatory for operators
  Browser b(router_);
  ASSERT_EQ(Location(LogIn(b, op)), "/console/home");
  EXPECT_EQ(Location(b.Get("/console/home")), "/console/operator");
  http::Response list = b.Get("/console/operator");
  EXPECT_EQ(list.status, 200);
  EXPECT_THAT(list.body, HasSubstr("city A"));
  EXPECT_THAT(list.body, HasSubstr(kCityB.str()));
  EXPECT_THAT(list.body, Not(HasSubstr(">operators<")));  // the realm is not listed
  EXPECT_THAT(list.body, Not(HasSubstr("3141592")));
  EXPECT_THAT(list.body, Not(HasSubstr("高橋")));  // no tenant's staff member's name
  // Nothing of a tenant's: not its replica, its history, its staff.
  for (const char* path : {"/console/replica?atena_no=000000000000101", "/console/history",
                           "/console/staff", "/console/inquiries", "/console/imports"}) {
    EXPECT_EQ(b.Get(path).status, 403) << path;
  }
  EXPECT_EQ(
      b.Post("/console/replica/show", {{"atena_no", kAtena.str()}, {"tm", kTaxTm.str()}}).status,
      403);
  // And a tenant's admin does not reach the operator's screen.
  Member admin = AddMember("kanri", static_cast<uint32_t>(StaffRole::kAdmin));
  Browser a(router_);
  ASSERT_EQ(Location(LogIn(a, admin)), "/console/home");
  EXPECT_EQ(a.Get("/console/operator").status, 403);
}

TEST_P(ConsoleTest, OperatorIsARoleOfTheOperatorRealmOnly) {
  ASSERT_OK(platform_->CreateTenant(kOperatorRealm, "operators", "test").status());
  auto b = platform_->Tenant(B()).value();
  auto realm = platform_->Tenant(TenantId::ForOrg(kOperatorRealm)).value();
  server::StaffDirectory in_b(*b, policy_, clock_);
  server::StaffDirectory in_realm(*realm, policy_, clock_);
  const auto op = static_cast<server::StaffRoles>(StaffRole::kOperator);
  const auto admin = static_cast<server::StaffRoles>(StaffRole::kAdmin);
  EXPECT_THAT(in_b.Add("x", "x", "", op, "test"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("operator realm only")));
  EXPECT_THAT(in_realm.Add("y", "y", "", admin, "test"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("holds operators only")));
  EXPECT_THAT(in_realm.Add("z", "z", "", op | admin, "test"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("roles")));
  EXPECT_OK(in_realm.Add("w", "w", "", op, "test").status());
}

TEST_P(ConsoleTest, TheApproverSeesExactlyWhatWillBeSentAndDecides) {
  Member m = AddMember("approver", static_cast<uint32_t>(StaffRole::kApprover));
  std::string inquiry_id;
  server::InquiryInput welfare = TaxInquiry();
  welfare.procedure = kWelfareJt;
  welfare.tm = kWelfareTm;
  linkage::ProvisionPermit permit = InquireAndPermit(welfare, &inquiry_id);
  ASSERT_OK_AND_ASSIGN(std::string outcome, linkage_->OnProvisionRequest(hub_.Sign(permit)));
  ASSERT_EQ(outcome, "awaiting_approval");
  ASSERT_OK_AND_ASSIGN(auto waiting, linkage_->ListApprovals(B()));
  ASSERT_EQ(waiting.size(), 1u);
  Browser b(router_);
  ASSERT_EQ(Location(LogIn(b, m)), "/console/home");
  http::Response list = b.Get("/console/approvals");
  EXPECT_EQ(list.status, 200);
  EXPECT_THAT(list.body, HasSubstr("/console/approvals/" + permit.id.str()));
  EXPECT_THAT(list.body, HasSubstr(kWelfareTm.str()));
  EXPECT_EQ(AuditCount(B(), "approval.show", "staff:approver"), 0);
  http::Response detail = b.Get("/console/approvals/" + permit.id.str());
  EXPECT_EQ(detail.status, 200);
  EXPECT_THAT(detail.body, HasSubstr(Escape(waiting[0].answer_json)));
  EXPECT_EQ(AuditCount(B(), "approval.show", "staff:approver"), 1);
  http::Response decided = b.Post("/console/approvals/" + permit.id.str(),
                                  {{"decision", "approve"}, {"comment", "確認済み"}});
  EXPECT_EQ(Location(decided), "/console/approvals?done=approved");
  ASSERT_OK_AND_ASSIGN(auto after, linkage_->ListApprovals(B()));
  EXPECT_TRUE(after.empty());
  // The decision is recorded under the member's name.
  auto ctx = platform_->Tenant(B()).value();
  auto tx = ctx->db->BeginRead().value();
  ASSERT_OK_AND_ASSIGN(auto row, tx->QueryOne("SELECT COUNT(*) FROM audit_log WHERE actor = ? "
                                              "AND action LIKE 'approval.%' AND outcome = 'ok'",
                                              {std::string("staff:approver")}));
  EXPECT_GE(row->GetInt(0).value(), 2);
}

TEST_P(ConsoleTest, ReplicaValuesAreHiddenUntilShownAndEachShowingIsAudited) {
  ImportTaxRecord();
  auto ctx = platform_->Tenant(B()).value();
  Member m = AddMember("fukuhon", static_cast<uint32_t>(StaffRole::kReplica));
  Browser b(router_);
  ASSERT_EQ(Location(LogIn(b, m)), "/console/home");
  http::Response found = b.Get("/console/replica?atena_no=" + kAtena.str());
  EXPECT_EQ(found.status, 200);
  EXPECT_THAT(found.body, HasSubstr("（非表示）"));
  EXPECT_THAT(found.body, Not(HasSubstr("3141592")));
  EXPECT_EQ(AuditCount(B(), "replica.lookup", "staff:fukuhon"), 1);
  http::Response shown =
      b.Post("/console/replica/show", {{"atena_no", kAtena.str()}, {"tm", kTaxTm.str()}});
  EXPECT_EQ(shown.status, 200);
  EXPECT_THAT(shown.body, HasSubstr("3141592"));
  EXPECT_EQ(AuditCount(B(), "replica.show", "staff:fukuhon"), 1);
  // The audit entry names the resident by a keyed hash, never the number itself.
  auto tx = ctx->db->BeginRead().value();
  ASSERT_OK_AND_ASSIGN(auto row, tx->QueryOne("SELECT target FROM audit_log WHERE action = "
                                              "'replica.show'"));
  const std::string target = row->GetText(0).value();
  EXPECT_THAT(target, HasSubstr("atena#"));
  EXPECT_THAT(target, Not(HasSubstr(kAtena.str())));
  // An auditor (no replica role) is refused the same form.
  Member a = AddMember("kansa", static_cast<uint32_t>(StaffRole::kAuditor) |
                                    static_cast<uint32_t>(StaffRole::kAdmin));
  Browser ab(router_);
  ASSERT_EQ(Location(LogIn(ab, a)), "/console/home");
  ab.Get("/console/home");
  http::Response refused =
      ab.Post("/console/replica/show", {{"atena_no", kAtena.str()}, {"tm", kTaxTm.str()}});
  EXPECT_EQ(refused.status, 403);
  EXPECT_THAT(refused.body, Not(HasSubstr("3141592")));
}

// 副本's 履歴: the earlier versions of a resident's record listed with their period, imports and
// how they ended, values hidden; 表示 shows them, newest first, and is audited by resident.
TEST_P(ConsoleTest, ReplicaHistoryIsHiddenUntilShownAndTheShowingIsAudited) {
  const std::string first = ImportTax("3141592", replica::ImportMode::kUpsert);  // 09:00 JST
  clock_.Advance(std::chrono::hours(1));
  const std::string second = ImportTax("2718281", replica::ImportMode::kUpsert);  // 10:00
  auto ctx = platform_->Tenant(B()).value();
  const std::string resident = Console::Impl::ResidentRef(*ctx, kAtena.str());
  Member m = AddMember("fukuhon", static_cast<uint32_t>(StaffRole::kReplica));
  Browser b(router_);
  ASSERT_EQ(Location(LogIn(b, m)), "/console/home");

  // The search: the current record and one earlier version, every value hidden.
  http::Response found = b.Get("/console/replica?atena_no=" + kAtena.str());
  EXPECT_EQ(found.status, 200);
  EXPECT_THAT(found.body, HasSubstr("id=\"history-" + kTaxTm.str() + "\""));
  EXPECT_THAT(found.body, HasSubstr("履歴: " + kTaxTm.str()));
  EXPECT_THAT(found.body,
              HasSubstr("<td>2026-04-01 09:00</td><td>2026-04-01 10:00</td>"
                        "<td>0002</td><td class=\"import-id\">" +
                        first + "</td><td class=\"import-id\">" + second +
                        "</td><td>更新</td><td class=\"hidden-value\">（非表示）</td>"));
  EXPECT_THAT(found.body, HasSubstr("action=\"/console/replica/history\""));
  EXPECT_THAT(found.body, Not(HasSubstr("3141592")));
  EXPECT_THAT(found.body, Not(HasSubstr("2718281")));
  {
    auto tx = ctx->db->BeginRead().value();
    ASSERT_OK_AND_ASSIGN(auto row, tx->QueryOne("SELECT target FROM audit_log WHERE action = "
                                                "'replica.lookup'"));
    EXPECT_EQ(row->GetText(0).value(), resident + " found=1 history=1");
  }
  EXPECT_EQ(AuditCount(B(), "replica.history.show", "staff:fukuhon"), 0);

  // 表示 for the history: the earlier values, with the period and imports, audited.
  http::Response shown =
      b.Post("/console/replica/history", {{"atena_no", kAtena.str()}, {"tm", kTaxTm.str()}});
  EXPECT_EQ(shown.status, 200);
  EXPECT_THAT(shown.body, HasSubstr("<td class=\"value\">3141592</td>"));
  EXPECT_THAT(shown.body, Not(HasSubstr("2718281")));  // the current record is not history
  EXPECT_THAT(shown.body, HasSubstr("<dd>2026-04-01 09:00 〜 2026-04-01 10:00</dd>"));
  EXPECT_THAT(shown.body, HasSubstr("<dt>書き込んだ取込</dt><dd>" + first + "</dd>"));
  EXPECT_THAT(shown.body, HasSubstr("<dt>終了させた取込</dt><dd>" + second + "</dd>"));
  EXPECT_THAT(shown.body, HasSubstr("<dt>終了</dt><dd>更新</dd>"));
  EXPECT_EQ(AuditCount(B(), "replica.history.show", "staff:fukuhon"), 1);
  {
    auto tx = ctx->db->BeginRead().value();
    ASSERT_OK_AND_ASSIGN(auto row, tx->QueryOne("SELECT target, outcome FROM audit_log WHERE "
                                                "action = 'replica.history.show'"));
    EXPECT_EQ(row->GetText(0).value(), resident + " tm=" + kTaxTm.str() + " versions=1");
    EXPECT_EQ(row->GetText(1).value(), "ok");
  }

  // Deleted at 11:00: no current record, two earlier versions, the newest first.
  clock_.Advance(std::chrono::hours(1));
  const std::string third = ImportTax("2718281", replica::ImportMode::kDelete);
  ASSERT_EQ(Location(LogIn(b, m)), "/console/home");  // the idle session has ended
  found = b.Get("/console/replica?atena_no=" + kAtena.str());
  EXPECT_EQ(found.status, 200);
  EXPECT_THAT(found.body, HasSubstr("この宛名番号の副本はありません。"));
  EXPECT_THAT(found.body,
              HasSubstr("<td>2026-04-01 10:00</td><td>2026-04-01 11:00</td>"
                        "<td>0002</td><td class=\"import-id\">" +
                        second + "</td><td class=\"import-id\">" + third + "</td><td>削除</td>"));
  EXPECT_THAT(found.body, Not(HasSubstr("2718281")));
  shown = b.Post("/console/replica/history", {{"atena_no", kAtena.str()}, {"tm", kTaxTm.str()}});
  EXPECT_EQ(shown.status, 200);
  const size_t newer = shown.body.find("<td class=\"value\">2718281</td>");
  const size_t older = shown.body.find("<td class=\"value\">3141592</td>");
  ASSERT_NE(newer, std::string::npos);
  ASSERT_NE(older, std::string::npos);
  EXPECT_LT(newer, older);
  EXPECT_THAT(shown.body, HasSubstr("<dt>終了</dt><dd>削除</dd>"));
  EXPECT_EQ(AuditCount(B(), "replica.history.show", "staff:fukuhon"), 2);
  // A malformed form is refused without a showing.
  EXPECT_EQ(b.Post("/console/replica/history", {{"atena_no", "12x"}, {"tm", kTaxTm.str()}}).status,
            400);
  EXPECT_EQ(AuditCount(B(), "replica.history.show", "staff:fukuhon"), 2);
}

// Only the replica role sees history: an auditor, an admin and the platform operator are refused
// the 表示 form (and the refusal is recorded), and no value reaches them.
TEST_P(ConsoleTest, ReplicaHistoryIsRefusedToAuditorAdminAndOperator) {
  ImportTax("3141592", replica::ImportMode::kUpsert);
  ImportTax("2718281", replica::ImportMode::kUpsert);
  ASSERT_OK(platform_->CreateTenant(kOperatorRealm, "operators", "test").status());
  const std::pair<const char*, StaffRole> members[] = {
      {"kansa", StaffRole::kAuditor}, {"kanri", StaffRole::kAdmin}, {"unyo", StaffRole::kOperator}};
  for (const auto& [login, role] : members) {
    const bool op = role == StaffRole::kOperator;
    Member m = AddMember(login, static_cast<uint32_t>(role), op ? kOperatorRealm : kCityB);
    Browser b(router_);
    ASSERT_EQ(Location(LogIn(b, m)), "/console/home") << login;
    b.Get("/console/password");  // a page that carries the session's CSRF token
    http::Response refused =
        b.Post("/console/replica/history", {{"atena_no", kAtena.str()}, {"tm", kTaxTm.str()}});
    EXPECT_EQ(refused.status, 403) << login;
    EXPECT_THAT(refused.body, Not(HasSubstr("3141592"))) << login;
    EXPECT_EQ(AuditCount(op ? TenantId::ForOrg(kOperatorRealm) : B(), "console.denied",
                         std::string("staff:") + login),
              1)
        << login;
  }
  EXPECT_EQ(AuditCount(B(), "replica.history.show", "staff:kansa"), 0);
  EXPECT_EQ(AuditCount(B(), "replica.history.show", "staff:kanri"), 0);
}

TEST_P(ConsoleTest, TheAuditorSearchesTheAccessHistoryByResidentAndIsAlerted) {
  ImportTaxRecord();
  Member m = AddMember("fukuhon", static_cast<uint32_t>(StaffRole::kReplica));
  Browser b(router_);
  ASSERT_EQ(Location(LogIn(b, m)), "/console/home");
  b.Get("/console/replica?atena_no=" + kAtena.str());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(
        b.Post("/console/replica/show", {{"atena_no", kAtena.str()}, {"tm", kTaxTm.str()}}).status,
        200);
  }
  Member a = AddMember("kansa", static_cast<uint32_t>(StaffRole::kAuditor));
  Browser ab(router_);
  ASSERT_EQ(Location(LogIn(ab, a)), "/console/home");
  http::Response mine = ab.Get("/console/history?atena_no=" + kAtena.str());
  EXPECT_EQ(mine.status, 200);
  EXPECT_THAT(mine.body, HasSubstr("6 件"));  // one lookup and five showings
  EXPECT_THAT(mine.body, HasSubstr("staff:fukuhon"));
  EXPECT_THAT(mine.body, Not(HasSubstr("3141592")));
  // Five showings of one resident within the hour: the auditor is alerted.
  EXPECT_THAT(mine.body, HasSubstr("id=\"alerts\""));
  http::Response other = ab.Get("/console/history?atena_no=000000000000999");
  EXPECT_THAT(other.body, HasSubstr("0 件"));
  http::Response by_staff = ab.Get("/console/history?staff=fukuhon&action=replica.show");
  EXPECT_THAT(by_staff.body, HasSubstr("5 件"));
  http::Response csv = ab.Get("/console/history?format=csv&staff=fukuhon&action=replica.show");
  EXPECT_EQ(csv.content_type, "text/csv; charset=utf-8");
  EXPECT_TRUE(csv.body.starts_with("\xEF\xBB\xBF番号,日時,操作者,操作,対象,結果\r\n"));
  EXPECT_EQ(std::count(csv.body.begin(), csv.body.end(), '\n'), 6);
  EXPECT_THAT(ab.Get("/console/history?atena_no=12x").status, 400);
  // The filters go into the CSV link as they are: only plain ids and action prefixes.
  EXPECT_THAT(ab.Get("/console/history?staff=a%26format%3Dcsv").status, 400);
  EXPECT_THAT(ab.Get("/console/history?action=%3Cx").status, 400);
  ab.Get("/console/history");
  http::Response verified = ab.Post("/console/history/verify", {});
  EXPECT_EQ(verified.status, 200);
  EXPECT_THAT(verified.body, HasSubstr("チェーンは正常です"));
  EXPECT_THAT(ab.Get("/console/home").body, HasSubstr("id=\"audit-head\""));
  // The auditor's own reading is recorded too.
  EXPECT_GE(AuditCount(B(), "history.list", "staff:kansa"), 3);
  EXPECT_EQ(AuditCount(B(), "history.download", "staff:kansa"), 1);
}

TEST_P(ConsoleTest, AnInquiryMadeOnScreenOffersOnlyPermittedChoicesAndShowsItsResultOnRequest) {
  const SubjectCode b_code = RegisterBoth();
  Member m = AddMember("shokai", static_cast<uint32_t>(StaffRole::kInquirer), kCityA);
  Browser b(router_);
  ASSERT_EQ(Location(LogIn(b, m)), "/console/home");
  http::Response form = b.Get("/console/inquiries");
  ASSERT_EQ(form.status, 200);
  // The fake hub's list allows A two combinations, both with B.
  const std::string tax = kTaxJt.str() + "|" + kCityB.str() + "|" + kTaxTm.str();
  EXPECT_THAT(form.body, HasSubstr("value=\"" + tax + "\""));
  EXPECT_THAT(form.body, HasSubstr("value=\"" + kWelfareJt.str() + "|" + kCityB.str() + "|" +
                                   kWelfareTm.str() + "\""));
  EXPECT_EQ(std::count(form.body.begin(), form.body.end(), '|'), 4);
  http::Response created =
      b.Post("/console/inquiries", {{"atena_no", kAtena.str()}, {"choice", tax}});
  ASSERT_EQ(created.status, 303) << created.body;
  const std::string path = Location(created);
  ASSERT_TRUE(path.starts_with("/console/inquiries/"));
  const std::string id = path.substr(std::string("/console/inquiries/").size());
  EXPECT_THAT(b.Get(path).body, HasSubstr("data-refresh"));
  // The linkage runs: permit, B's answer, the relay.
  const PermitId permit_id = PermitId::Generate();
  hub_.SetPermitAnswer(http::Response::Json(201, R"({"permit_id":")" + permit_id.str() + "\"}"));
  ASSERT_OK(DeliverAll(A()));
  linkage::ProvisionPermit permit =
      PermitFor(hub_.Calls("/hub/v1/inquiries").back(), permit_id, b_code);
  ASSERT_OK_AND_ASSIGN(std::string outcome, linkage_->OnProvisionRequest(hub_.Sign(permit)));
  ASSERT_EQ(outcome, "answered");
  ASSERT_OK(Relay(permit));
  http::Response done = b.Get(path);
  EXPECT_THAT(done.body, HasSubstr("結果を表示"));
  EXPECT_THAT(done.body, Not(HasSubstr("id=\"result\"")));
  EXPECT_EQ(AuditCount(A(), "inquiry.result_show", "staff:shokai"), 0);
  http::Response shown = b.Post(path, {});
  EXPECT_EQ(shown.status, 200);
  EXPECT_THAT(shown.body, HasSubstr("id=\"result\""));
  EXPECT_EQ(AuditCount(A(), "inquiry.result_show", "staff:shokai"), 1);
  // A choice the list does not allow is refused by the linkage, whatever the form says.
  http::Response forged = b.Post(
      "/console/inquiries", {{"atena_no", kAtena.str()},
                             {"choice", "JT90000000000102|" + kCityB.str() + "|" + kTaxTm.str()}});
  EXPECT_EQ(forged.status, 403);
  // The list shows the inquiry.
  EXPECT_THAT(b.Get("/console/inquiries?state=completed").body, HasSubstr(id));
  EXPECT_EQ(b.Get("/console/inquiries?state=bogus").status, 400);
  // ホーム counts today's inquiries by state.
  EXPECT_THAT(b.Get("/console/home").body, HasSubstr("<li>completed: 1</li>"));
  // The inquiry carries the member's 部署コード and ユーザーID, and so do its records.
  ASSERT_OK_AND_ASSIGN(server::InquiryView stored, linkage_->GetInquiry(A(), id));
  EXPECT_EQ(stored.department, "0001");
  EXPECT_EQ(stored.user_id, "shokai");
  ASSERT_OK_AND_ASSIGN(auto records, linkage_->ListRecords(A(), 0, 10));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].role, "inquirer");
  EXPECT_EQ(records[0].department, "0001");
  EXPECT_EQ(records[0].user_id, "shokai");
}

// 記録 shows each record's 委任元 and 不開示 — every record, as staff see them all — and the CSV
// carries them in its last columns.
TEST_P(ConsoleTest, TheRecordsScreenShowsDelegatorsAndNonDisclosure) {
  RegisterBoth();
  server::InquiryInput in = TaxInquiry("nd-1");
  in.non_disclosure = true;
  in.inquirer_delegator = kCityA;
  in.provider_delegator = kCityB;
  ASSERT_OK(linkage_->CreateInquiry(A(), in).status());
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_OK(linkage_->CreateInquiry(A(), TaxInquiry("nd-2")).status());
  Member a = AddMember("kansa", static_cast<uint32_t>(StaffRole::kAuditor), kCityA);
  Browser b(router_);
  ASSERT_EQ(Location(LogIn(b, a)), "/console/home");
  http::Response page = b.Get("/console/records");
  ASSERT_EQ(page.status, 200);
  EXPECT_THAT(page.body, HasSubstr("2 件"));
  EXPECT_THAT(page.body, HasSubstr("<td>照会 0000000000000011 / 提供 0000000000000012</td>"));
  EXPECT_THAT(page.body, HasSubstr("<td>不開示（照会側）</td>"));
  http::Response csv = b.Get("/console/records?format=csv");
  ASSERT_EQ(csv.status, 200);
  EXPECT_THAT(csv.body, HasSubstr(",不開示,照会側不開示,情報照会者機関コード（委任元）,"
                                  "情報提供者機関コード（委任元）\r\n"));
  EXPECT_THAT(csv.body, HasSubstr(",1,1,0000000000000011,0000000000000012\r\n"));
  EXPECT_THAT(csv.body, HasSubstr(",0,0,,\r\n"));
}

TEST_P(ConsoleTest, AFileUploadedOnTheImportScreenIsImportedWithProgressOrRefusedByLine) {
  Member m = AddMember("torikomi", static_cast<uint32_t>(StaffRole::kReplica));
  Browser b(router_);
  ASSERT_EQ(Location(LogIn(b, m)), "/console/home");
  http::Response page = b.Get("/console/imports");
  ASSERT_EQ(page.status, 200);
  EXPECT_THAT(page.body, HasSubstr("data-csrf="));
  std::string csv =
      "atena_no,IT00000200000001,IT00000200000002,IT00000200000003,IT00000200000004,"
      "IT00000200000005,IT00000200000006,IT00000200000007,IT00000200000008,IT00000200000009,"
      "IT00000200000010,IT00000200000011,IT00000200000012,IT00000200000013,IT00000200000014,"
      "IT00000200000015,IT00000200000016\n";
  for (int i = 1; i <= 5000; ++i) {
    char atena[16];
    std::snprintf(atena, sizeof atena, "%015d", i);
    csv += std::string(atena) +
           ",2026,2026-01-01,1,1000,100000,50000,200000,30000,150000,20000,1,0,1,2,,10000\n";
  }
  const std::string job = "0123456789abcdef0123456789abcdef";
  http::Response ok = b.Upload(
      "/console/imports/upload?job=" + job + "&tm=" + kTaxTm.str() + "&mode=upsert&format=csv", csv,
      "text/csv; charset=utf-8");
  EXPECT_EQ(ok.status, 201) << ok.body;
  EXPECT_THAT(ok.body, HasSubstr("\"rows\":5000"));
  EXPECT_THAT(ok.body, HasSubstr("\"inserted\":5000"));
  http::Response progress = b.Get("/console/imports/progress?job=" + job);
  EXPECT_EQ(progress.body, R"({"phase":"done","rows":5000})");  // the committing step's total
  // The same job id again is refused; another member cannot see this one's progress.
  EXPECT_EQ(b.Upload("/console/imports/upload?job=" + job + "&tm=" + kTaxTm.str() + "&mode=upsert",
                     csv, "text/csv")
                .status,
            409);
  // A file with a bad line: nothing imported, the line and field named, the value not echoed.
  const std::string bad = csv.substr(0, csv.find('\n') + 1) +
                          "000000000000001,2026,2026-13-45,1,777777,100000,50000,200000,30000,"
                          "150000,20000,1,0,1,2,,10000\n";
  http::Response refused =
      b.Upload("/console/imports/upload?job=" + job + "x&tm=" + kTaxTm.str() + "&mode=upsert", bad,
               "text/csv");
  EXPECT_EQ(refused.status, 422);
  EXPECT_THAT(refused.body, HasSubstr("\"line\":2"));
  EXPECT_THAT(refused.body, HasSubstr("IT00000200000002"));
  EXPECT_THAT(refused.body, Not(HasSubstr("2026-13-45")));
  // The history lists both, by the member.
  http::Response history = b.Get("/console/imports");
  EXPECT_THAT(history.body, HasSubstr("staff:torikomi"));
  EXPECT_EQ(AuditCount(B(), "replica.import", "staff:torikomi"), 2);
  // ホーム shows the last one (refused).
  EXPECT_THAT(b.Get("/console/home").body, HasSubstr("（失敗）"));
  // A DBM_20113 registration says 登録 or 削除 per record: replace or delete is refused before
  // the body is read (no job started, nothing audited), in Japanese first.
  for (const std::string mode : {"replace", "delete"}) {
    http::Response dbm = b.Upload("/console/imports/upload?job=" + job + "dbm" + mode +
                                      "&tm=" + kTaxTm.str() + "&mode=" + mode + "&format=dbm20113",
                                  "<SPIRegistrationDeleteList/>", "application/xml");
    EXPECT_EQ(dbm.status, 400) << mode;
    EXPECT_EQ(
        dbm.body,
        "{\"error\":\"DBM_20113 の登録依頼はレコードごとに登録・削除を指定するため、取込方法は"
        "「追加・更新（upsert）」だけを使えます。(A DBM_20113 registration says 登録 or 削除 "
        "per record: use mode upsert.)\"}")
        << mode;
    // Told by the Content-Type alone, the same.
    EXPECT_EQ(b.Upload("/console/imports/upload?job=" + job + "ct" + mode + "&tm=" + kTaxTm.str() +
                           "&mode=" + mode,
                       "<SPIRegistrationDeleteList/>", "application/xml; charset=utf-8")
                  .status,
              400)
        << mode;
  }
  EXPECT_EQ(AuditCount(B(), "replica.import", "staff:torikomi"), 2);
  // Without the header token the upload is refused before its body is read.
  b.site = "same-origin";
  Browser other(router_);
  ASSERT_EQ(Location(LogIn(other, m)), "/console/home");
}

TEST_P(ConsoleTest, TheOriginalFileIsReconciledWithTheReplicaAndTheShowingRecorded) {
  ImportTaxRecord();  // kAtena, income 3141592
  Member m = AddMember("shogo", static_cast<uint32_t>(StaffRole::kReplica));
  Browser b(router_);
  ASSERT_EQ(Location(LogIn(b, m)), "/console/home");
  EXPECT_EQ(b.Get("/console/reconcile").status, 200);
  const std::string original =
      "atena_no,IT00000200000001,IT00000200000002,IT00000200000003,IT00000200000004,"
      "IT00000200000005,IT00000200000006,IT00000200000007,IT00000200000008,IT00000200000009,"
      "IT00000200000010,IT00000200000011,IT00000200000012,IT00000200000013,IT00000200000014,"
      "IT00000200000015,IT00000200000016\n" +
      kAtena.str() +
      ",2026,2026-01-01,1,3141593,100000,50000,200000,30000,150000,20000,1,0,1,2,,10000\n" +
      kAtena2.str() +
      ",2026,2026-01-01,1,1000,100000,50000,200000,30000,150000,20000,1,0,1,2,,10000\n";
  http::Response r = b.Upload("/console/reconcile/upload?tm=" + kTaxTm.str() + "&format=csv",
                              original, "text/csv; charset=utf-8");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.body,
              HasSubstr("\"rows\":2,\"matching\":0,\"missing\":1,\"extra\":0,\"different\":1"));
  EXPECT_THAT(r.body,
              HasSubstr("\"differences\":[{\"line\":2,\"fields\":[\"IT00000200000004\"]}]"));
  EXPECT_THAT(r.body, Not(HasSubstr("3141592")));  // differences name fields, not values
  EXPECT_EQ(AuditCount(B(), "replica.reconcile", "staff:shogo"), 1);
}

TEST_P(ConsoleTest, ABatchInquiryFileSentFromTheScreenAnswersEachLine) {
  const SubjectCode b_code = RegisterBoth();
  Member m = AddMember("ikkatsu", static_cast<uint32_t>(StaffRole::kInquirer), kCityA);
  Browser b(router_);
  ASSERT_EQ(Location(LogIn(b, m)), "/console/home");
  EXPECT_THAT(b.Get("/console/inquiries").body, HasSubstr("id=\"batch-form\""));
  auto pad = [](std::string v, size_t n) { return v + std::string(n - v.size(), ' '); };
  // P640R110 lines as the tools write them: the 宛名番号 given (mapped by identity, the
  // default), 統合宛名番号 and the optional codes empty, the padded fields padded.
  auto line = [&](const OrgCode& inquirer) {
    return "01," + kAtena.str() + ",,20261127093000000," + pad("KAZEI01", 20) + "," +
           pad("tanaka.taro", 20) + "," + inquirer.str() + ",0,JM90000000000001," + kTaxJt.str() +
           ",,," + kCityB.str() + "," + kTaxTm.str() + ",0,0,,\r\n";
  };
  // One good line, one of another organisation, one too short.
  const std::string file = line(kCityA) + line(kCityB) + "01,short\r\n";
  http::Response r = b.Upload("/console/inquiries/batch?name=P640R110_20261127093000.DAT", file,
                              "text/plain; charset=utf-8");
  EXPECT_EQ(r.status, 207) << r.body;
  EXPECT_THAT(r.body, HasSubstr("\"lines\":3,\"accepted\":1,\"duplicates\":0,\"failed\":2"));
  const size_t at = r.body.find("\"batch_id\":\"");
  ASSERT_NE(at, std::string::npos);
  const std::string batch_id = r.body.substr(at + 12, 32);
  EXPECT_THAT(r.body, HasSubstr("not this tenant's organisation"));
  EXPECT_EQ(AuditCount(A(), "inquiry.batch", "staff:ikkatsu"), 1);
  // The inquiry is the member's: the list shows it.
  ASSERT_OK_AND_ASSIGN(auto list, linkage_->ListInquiries(A(), std::nullopt, 0, 10));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_THAT(b.Get("/console/inquiries").body, HasSubstr(list[0].inquiry_id));
  // The line's 部署コード and ユーザーID (padding removed) are the inquiry's, not the uploader's.
  EXPECT_EQ(list[0].department, "KAZEI01");
  EXPECT_EQ(list[0].user_id, "tanaka.taro");

  // The result file (照会結果ファイル): pending while the line waits, then offered.
  const std::string status_path = "/console/inquiries/batch/" + batch_id;
  http::Response pending = b.Get(status_path);
  ASSERT_EQ(pending.status, 200) << pending.body;
  EXPECT_THAT(pending.body, HasSubstr("\"open\":1"));
  EXPECT_THAT(pending.body, HasSubstr("\"result_file\":\"pending\""));
  EXPECT_EQ(b.Get(status_path + "/result-file").status, 409);
  const PermitId permit_id = PermitId::Generate();
  hub_.SetPermitAnswer(http::Response::Json(201, R"({"permit_id":")" + permit_id.str() + "\"}"));
  ASSERT_OK(DeliverAll(A()));
  linkage::ProvisionPermit permit =
      PermitFor(hub_.Calls("/hub/v1/inquiries").back(), permit_id, b_code);
  ASSERT_OK_AND_ASSIGN(std::string outcome, linkage_->OnProvisionRequest(hub_.Sign(permit)));
  ASSERT_EQ(outcome, "answered");
  ASSERT_OK(Relay(permit));
  EXPECT_THAT(b.Get(status_path).body, HasSubstr("\"result_file\":\"ready\""));
  http::Response file_answer = b.Get(status_path + "/result-file");
  ASSERT_EQ(file_answer.status, 200) << file_answer.body;
  EXPECT_EQ(file_answer.headers.Get("Content-Disposition").value_or(""),
            "attachment; filename=\"P640R110_20261127093000_RESULT.DAT\"");
  EXPECT_EQ(std::count(file_answer.body.begin(), file_answer.body.end(), '\n'), 3);
  // B holds no record for the person: answered, no data.
  EXPECT_THAT(file_answer.body, HasSubstr(",09,正常終了,02,該当する特定個人情報がありません。,"));
  EXPECT_THAT(file_answer.body, HasSubstr(",91,照会依頼の内容に誤りがあるため照会できません。"));
  // Fetching it is recorded, the refusal while open too; another member's tenant sees nothing.
  EXPECT_EQ(AuditCount(A(), "inquiry.batch_result_file", "staff:ikkatsu"), 2);
  EXPECT_EQ(b.Get("/console/inquiries/batch/0123456789abcdef0123456789abcdef").status, 404);
}

TEST_P(ConsoleTest, EnglishLabelsAreOneLinkAway) {
  Member m = AddMember("eigo", static_cast<uint32_t>(StaffRole::kInquirer), kCityA);
  Browser b(router_);
  http::Response login = b.Get("/console/login");
  EXPECT_THAT(login.body, HasSubstr("<html lang=\"ja\">"));
  EXPECT_THAT(login.body, HasSubstr("href=\"/console/lang?to=en\""));
  EXPECT_THAT(login.body, HasSubstr(">機関コード（16桁）</label>"));
  EXPECT_EQ(b.Get("/console/lang?to=fr").status, 400);
  http::Response chosen = b.Get("/console/lang?to=en");
  EXPECT_EQ(Location(chosen), "/console/home");
  ASSERT_EQ(b.set_cookies().size(), 1u);
  EXPECT_EQ(b.set_cookies()[0],
            "chukan_lang=en; Path=/console; Max-Age=31536000; HttpOnly; SameSite=Strict");
  http::Response english = b.Get("/console/login");
  EXPECT_THAT(english.body, HasSubstr("<html lang=\"en\">"));
  EXPECT_THAT(english.body, HasSubstr("<h1>Log in（ログイン）</h1>"));
  EXPECT_THAT(english.body, HasSubstr(">Organisation code (16 digits)</label>"));
  EXPECT_THAT(english.body, HasSubstr("href=\"/console/lang?to=ja\""));
  // Logged in: the menu, the header and the titles in English; the contents stay Japanese.
  ASSERT_EQ(Location(LogIn(b, m)), "/console/home");
  http::Response home = b.Get("/console/home");
  EXPECT_THAT(home.body, HasSubstr("<a href=\"/console/inquiries\">Inquiries</a>"));
  EXPECT_THAT(home.body, HasSubstr("<a href=\"/console/password\">Change password</a>"));
  EXPECT_THAT(home.body, HasSubstr(">Log out</button>"));
  EXPECT_THAT(home.body, HasSubstr("<h1>Home（ホーム）</h1>"));
  EXPECT_THAT(b.Get("/console/approvals").body,
              HasSubstr("<h1>Not permitted（権限がありません）</h1>"));
  // And back.
  EXPECT_EQ(Location(b.Get("/console/lang?to=ja")), "/console/home");
  EXPECT_THAT(b.Get("/console/home").body, HasSubstr("<h1>ホーム</h1>"));
}

TEST(EnglishLabelTest, KnownHeadsAndTailsOnly) {
  EXPECT_EQ(EnglishLabel("情報照会"), "Inquiries");
  EXPECT_EQ(EnglishLabel("副本: 000000000000101"), "Replica: 000000000000101");
  EXPECT_EQ(EnglishLabel("承認: 内容の確認"), "Approvals: Review");
  EXPECT_EQ(EnglishLabel("未知の画面"), "");
  EXPECT_EQ(EnglishLabel("未知: 副本"), "");
}

TEST_P(ConsoleTest, TheAdminIssuesAndRevokesAnExistingSystemsToken) {
  Member admin = AddMember("kanri", static_cast<uint32_t>(StaffRole::kAdmin));
  Browser b(router_);
  ASSERT_EQ(Location(LogIn(b, admin)), "/console/home");
  b.Get("/console/staff");
  http::Response issued = b.Post("/console/clients", {{"name", "juki"}, {"role", "system"}});
  ASSERT_EQ(issued.status, 200) << issued.body;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(issued.body, m, std::regex(R"re(id="client-token">([^<]+)<)re")));
  const std::string token = m[1];
  ASSERT_OK_AND_ASSIGN(server::ClientIdentity who, platform_->Authenticate(token));
  EXPECT_EQ(who.name, "juki");
  EXPECT_EQ(who.tenant, B());
  http::Response page = b.Get("/console/staff");
  EXPECT_THAT(page.body, HasSubstr(">juki<"));
  EXPECT_THAT(page.body, Not(HasSubstr(token)));  // shown once only
  EXPECT_EQ(Location(b.Post("/console/clients/revoke", {{"name", "juki"}})),
            "/console/staff?done=revoke");
  EXPECT_THAT(platform_->Authenticate(token), StatusIs(StatusCode::kUnauthenticated));
  EXPECT_EQ(b.Post("/console/clients", {{"name", "juki"}, {"role", "root"}}).status, 400);
}

TEST_P(ConsoleTest, TheAdminChoosesHowBatchFilesMapTheirAtenaNumbers) {
  Member admin = AddMember("kanri", static_cast<uint32_t>(StaffRole::kAdmin));
  Browser b(router_);
  ASSERT_EQ(Location(LogIn(b, admin)), "/console/home");
  http::Response page = b.Get("/console/staff");
  EXPECT_THAT(page.body, HasSubstr("<option value=\"identity\" selected=\"selected\">"));
  EXPECT_THAT(page.body, HasSubstr("<option value=\"table\">"));
  EXPECT_THAT(page.body, HasSubstr("変換表: 0 件"));
  EXPECT_EQ(Location(b.Post("/console/staff/settings", {{"atena_mapping", "table"}})),
            "/console/staff?done=settings");
  ASSERT_OK_AND_ASSIGN(auto tenant, platform_->Tenant(B()));
  ASSERT_OK_AND_ASSIGN(server::AtenaMapping m, server::AtenaMap(*tenant).Mode());
  EXPECT_EQ(m, server::AtenaMapping::kTable);
  EXPECT_THAT(b.Get("/console/staff").body,
              HasSubstr("<option value=\"table\" selected=\"selected\">"));
  EXPECT_EQ(AuditCount(B(), "atena_map.settings", "staff:kanri"), 1);
  EXPECT_EQ(b.Post("/console/staff/settings", {{"atena_mapping", "both"}}).status, 400);
}

TEST_P(ConsoleTest, ADeletedTenantsSessionsEnd) {
  Member m = AddMember("yamada", static_cast<uint32_t>(StaffRole::kInquirer));
  Browser b(router_);
  ASSERT_EQ(Location(LogIn(b, m)), "/console/home");
  ASSERT_OK(platform_->DeleteTenant(kCityB, "test"));
  EXPECT_EQ(Location(b.Get("/console/home")), "/console/login");
  EXPECT_EQ(console_->sessions().size(), 0u);
}

TEST(ConsoleFormTest, ParsesUrlEncodedFormsAndRefusesBadEscapes) {
  ASSERT_OK_AND_ASSIGN(Form f, ParseForm("a=1&b=%E4%BD%90+%E8%97%A4&&c="));
  EXPECT_EQ(FormValue(f, "a"), "1");
  EXPECT_EQ(FormValue(f, "b"), "佐 藤");
  EXPECT_EQ(FormValue(f, "c"), "");
  EXPECT_EQ(FormValue(f, "missing"), "");
  EXPECT_THAT(ParseForm("a=1&b=%ZZ"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("field 2")));
  std::string many;
  for (int i = 0; i < 65; ++i) many += "f=1&";
  EXPECT_THAT(ParseForm(many), StatusIs(StatusCode::kInvalidArgument, HasSubstr("64")));
}

TEST(ConsoleHtmlTest, EveryValueIsEscaped) {
  Html h;
  h.Element("p", {{"title", "\"><script>"}}, "<b>&'");
  EXPECT_EQ(h.str(), "<p title=\"&quot;&gt;&lt;script&gt;\">&lt;b&gt;&amp;&#39;</p>");
  EXPECT_EQ(FormatJst(0), "1970-01-01 09:00");
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(ConsoleTest);

}  // namespace
}  // namespace chukan::console
