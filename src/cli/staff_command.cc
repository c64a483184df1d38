// chukan staff add|list|disable|enable|reset-password|reset-totp|settings — the staff (職員)
// accounts of one tenant's console, administered by the operator on the data directory or
// database named by the server's configuration file. Every change is audited in the tenant's
// audit log with the actor "cli:<OS user>". docs/staff.md describes the accounts.
// Exit codes: 0 done, 1 failed, 2 usage.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/admin_common.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "server/atena_map.h"
#include "server/platform.h"
#include "server/staff_directory.h"
#include "server/tenant_context.h"

namespace chukan::cli {
namespace {

struct StaffArgs {
  std::string config;
  std::string org;
  std::string login;
  std::string name;
  std::string roles;
  std::string dept;
  std::string totp_all;
  std::string atena_mapping;
  bool json = false;
};

// The platform and the tenant's context, opened for one command (the platform owns the context
// and must outlive it).
struct OpenTenant {
  std::unique_ptr<server::Platform> platform;
  std::shared_ptr<server::TenantContext> tenant;
};

// Exit code 2 for a bad --tenant, 1 when the platform or tenant cannot be opened.
int Open(const StaffArgs& args, OpenTenant& out) {
  Result<OrgCode> org = ParseOrgFlag("--tenant", args.org);
  if (!org.ok()) return 2;
  Result<std::unique_ptr<server::Platform>> p = OpenPlatform(args.config, false);
  if (!p.ok()) return 1;
  out.platform = std::move(p).value();
  // The operator realm (運用者) is made on first use: it is not a real organisation.
  if (org->str() == server::kOperatorOrg && !out.platform->Tenant(TenantId::ForOrg(*org)).ok()) {
    Result<server::TenantInfo> realm =
        out.platform->CreateTenant(*org, "運用者 / platform operators", server::CliActor());
    if (!realm.ok()) {
      PrintError("運用者の領域を作れません", "cannot create the operator realm", realm.status());
      return 1;
    }
  }
  Result<std::shared_ptr<server::TenantContext>> t = out.platform->Tenant(TenantId::ForOrg(*org));
  if (!t.ok()) {
    PrintError("テナントを開けません", "cannot open the tenant", t.status());
    return 1;
  }
  out.tenant = std::move(t).value();
  return 0;
}

server::StaffDirectory Directory(server::TenantContext& tenant) {
  return server::StaffDirectory(tenant, server::StaffDirectory::Policy{}, SystemClock::Get());
}

// 2 for an argument the directory refused (usage), 1 otherwise.
int Failed(const char* what_ja, const char* what_en, const Status& s) {
  PrintError(what_ja, what_en, s);
  return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

nlohmann::json NullOr(const std::optional<std::string>& s) {
  return s.has_value() ? nlohmann::json(*s) : nlohmann::json(nullptr);
}

void PrintEnrolment(const server::TotpEnrolment& e) {
  std::printf(
      "二要素認証の登録 URI (認証アプリで QR コードとして読み取る) / TOTP enrolment URI (scan as "
      "a QR code in an authenticator app):\n  %s\n"
      "二要素認証の秘密鍵 (手入力用 base32) / TOTP secret (base32, for typing in):\n  %s\n",
      e.uri.c_str(), e.secret_base32.c_str());
}

int StaffAdd(const StaffArgs& args) {
  Result<server::StaffRoles> roles = server::ParseStaffRoles(args.roles);
  if (!roles.ok()) {
    PrintError("--role が不正です", "bad --role", roles.status());
    return 2;
  }
  OpenTenant t;
  if (int rc = Open(args, t); rc != 0) return rc;
  server::StaffDirectory dir = Directory(*t.tenant);
  Result<server::StaffCreated> c =
      dir.Add(args.login, args.name, args.dept, *roles, server::CliActor());
  if (!c.ok()) return Failed("職員を追加できません", "cannot add the staff member", c.status());
  if (args.json) {
    nlohmann::json j;
    j["login"] = c->member.login;
    j["initial_password"] = c->initial_password;
    j["totp_uri"] = NullOr(c->enrolment ? std::optional(c->enrolment->uri) : std::nullopt);
    j["totp_secret"] =
        NullOr(c->enrolment ? std::optional(c->enrolment->secret_base32) : std::nullopt);
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("職員を追加しました / staff member added: %s (%s)\n", c->member.login.c_str(),
              server::StaffRolesText(c->member.roles).c_str());
  std::printf(
      "初期パスワード (今回だけ表示。初回ログインで変更が必要) / one-time password (shown only "
      "this once; to be changed at the first login):\n  %s\n",
      c->initial_password.c_str());
  if (c->enrolment.has_value()) PrintEnrolment(*c->enrolment);
  return 0;
}

// Display width: CJK and other non-ASCII characters take two columns in a terminal.
size_t DisplayWidth(const std::string& s) {
  size_t w = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      ++w;
    } else if ((b & 0xc0u) != 0x80u) {
      w += 2;
    }
  }
  return w;
}

std::string Pad(const std::string& s, size_t width) {
  const size_t w = DisplayWidth(s);
  return w >= width ? s + " " : s + std::string(width - w, ' ');
}

const char* StateJa(const server::StaffMember& m) {
  if (m.disabled) return "無効";
  if (m.locked_until_us != 0) return "ロック中";
  return "有効";
}
const char* StateEn(const server::StaffMember& m) {
  if (m.disabled) return "disabled";
  if (m.locked_until_us != 0) return "locked";
  return "active";
}
const char* TotpJa(const server::StaffMember& m) {
  if (m.totp_confirmed) return "登録済";
  if (m.totp_required || m.totp_enrolled) return "未確認";
  return "不要";
}
const char* TotpEn(const server::StaffMember& m) {
  if (m.totp_confirmed) return "confirmed";
  if (m.totp_required || m.totp_enrolled) return "pending";
  return "not_required";
}

int StaffList(const StaffArgs& args) {
  OpenTenant t;
  if (int rc = Open(args, t); rc != 0) return rc;
  server::StaffDirectory dir = Directory(*t.tenant);
  Result<std::vector<server::StaffMember>> list = dir.List();
  if (!list.ok()) return Failed("一覧を取得できません", "cannot list staff", list.status());
  if (args.json) {
    for (const server::StaffMember& m : *list) {
      nlohmann::json j;
      j["login"] = m.login;
      j["name"] = m.name;
      j["dept"] = m.dept;
      j["roles"] = server::StaffRolesText(m.roles);
      j["state"] = StateEn(m);
      j["totp"] = TotpEn(m);
      j["must_change_password"] = m.must_change_password;
      j["failures"] = m.failures;
      j["locked_until"] = m.locked_until_us == 0
                              ? nlohmann::json(nullptr)
                              : nlohmann::json(FormatRfc3339(FromUnixMicros(m.locked_until_us)));
      j["last_login"] = m.last_login_us == 0
                            ? nlohmann::json(nullptr)
                            : nlohmann::json(FormatRfc3339(FromUnixMicros(m.last_login_us)));
      j["created"] = FormatRfc3339(FromUnixMicros(m.created_us));
      std::printf("%s\n", j.dump().c_str());
    }
    return 0;
  }
  std::printf("%s%s%s%s%s%s\n", Pad("ログインID", 18).c_str(), Pad("氏名", 20).c_str(),
              Pad("役割", 34).c_str(), Pad("部署コード", 12).c_str(), Pad("状態", 10).c_str(),
              "二要素");
  std::printf("%s%s%s%s%s%s\n", Pad("login", 18).c_str(), Pad("name", 20).c_str(),
              Pad("roles", 34).c_str(), Pad("dept", 12).c_str(), Pad("state", 10).c_str(), "TOTP");
  for (const server::StaffMember& m : *list) {
    std::printf("%s%s%s%s%s%s\n", Pad(m.login, 18).c_str(), Pad(m.name, 20).c_str(),
                Pad(server::StaffRolesText(m.roles), 34).c_str(),
                Pad(m.dept.empty() ? "-" : m.dept, 12).c_str(), Pad(StateJa(m), 10).c_str(),
                TotpJa(m));
  }
  std::printf("%zu 名 / staff members\n", list->size());
  return 0;
}

int StaffSetDisabled(const StaffArgs& args, bool disabled) {
  OpenTenant t;
  if (int rc = Open(args, t); rc != 0) return rc;
  server::StaffDirectory dir = Directory(*t.tenant);
  Status s = dir.SetDisabled(args.login, disabled, server::CliActor());
  if (!s.ok()) {
    return disabled ? Failed("職員を無効にできません", "cannot disable the staff member", s)
                    : Failed("職員を有効にできません", "cannot enable the staff member", s);
  }
  if (args.json) {
    std::printf("%s\n",
                nlohmann::json{{"login", args.login}, {"disabled", disabled}}.dump().c_str());
  } else if (disabled) {
    std::printf("職員 %s を無効にしました / staff member disabled\n", args.login.c_str());
  } else {
    std::printf("職員 %s を有効にしました / staff member enabled\n", args.login.c_str());
  }
  return 0;
}

int StaffResetPassword(const StaffArgs& args) {
  OpenTenant t;
  if (int rc = Open(args, t); rc != 0) return rc;
  server::StaffDirectory dir = Directory(*t.tenant);
  Result<std::string> pw = dir.ResetPassword(args.login, server::CliActor());
  if (!pw.ok()) {
    return Failed("パスワードを再発行できません", "cannot reset the password", pw.status());
  }
  if (args.json) {
    std::printf("%s\n",
                nlohmann::json{{"login", args.login}, {"initial_password", *pw}}.dump().c_str());
    return 0;
  }
  std::printf(
      "職員 %s のパスワードを再発行しました (ロックも解除)。今回だけ表示。次回ログインで変更が必要 "
      "/ password reset (and unlocked); shown only this once, to be changed at the next login:\n"
      "  %s\n",
      args.login.c_str(), pw->c_str());
  return 0;
}

int StaffResetTotp(const StaffArgs& args) {
  OpenTenant t;
  if (int rc = Open(args, t); rc != 0) return rc;
  server::StaffDirectory dir = Directory(*t.tenant);
  Result<server::TotpEnrolment> e = dir.ResetTotp(args.login, server::CliActor());
  if (!e.ok()) {
    return Failed("二要素認証を再設定できません", "cannot reset the second factor", e.status());
  }
  if (args.json) {
    std::printf("%s\n",
                nlohmann::json{
                    {"login", args.login}, {"totp_uri", e->uri}, {"totp_secret", e->secret_base32}}
                    .dump()
                    .c_str());
    return 0;
  }
  std::printf(
      "職員 %s の二要素認証を再設定しました。次回ログイン時に登録します / second factor reset; "
      "enrolled at the next login\n",
      args.login.c_str());
  PrintEnrolment(*e);
  return 0;
}

int StaffSettings(const StaffArgs& args) {
  if (args.totp_all.empty() && args.atena_mapping.empty()) {
    std::fprintf(stderr,
                 "chukan: --totp-all か --atena-mapping を指定してください / give --totp-all or "
                 "--atena-mapping\n");
    return 2;
  }
  if (!args.totp_all.empty() && args.totp_all != "on" && args.totp_all != "off") {
    std::fprintf(stderr, "chukan: --totp-all は on か off / --totp-all takes on or off\n");
    return 2;
  }
  Result<server::AtenaMapping> mapping = server::AtenaMapping::kIdentity;
  if (!args.atena_mapping.empty()) {
    mapping = server::ParseAtenaMapping(args.atena_mapping);
    if (!mapping.ok()) {
      std::fprintf(stderr,
                   "chukan: --atena-mapping は identity か table / --atena-mapping takes identity "
                   "or table\n");
      return 2;
    }
  }
  OpenTenant t;
  if (int rc = Open(args, t); rc != 0) return rc;
  nlohmann::json out = nlohmann::json::object();
  if (!args.totp_all.empty()) {
    server::StaffDirectory dir = Directory(*t.tenant);
    const bool on = args.totp_all == "on";
    Status s = dir.SetTotpForAll(on, server::CliActor());
    if (!s.ok()) return Failed("設定を変更できません", "cannot change the setting", s);
    out["totp_for_all"] = on;
    if (!args.json) {
      std::printf("%s\n", on ? "全職員に二要素認証を求めます / a second factor is now required "
                               "of every staff member"
                             : "二要素認証は承認者と管理者のみ必須です / a second factor is now "
                               "required of approvers and admins only");
    }
  }
  if (!args.atena_mapping.empty()) {
    server::AtenaMap map(*t.tenant);
    Status s = map.SetMode(*mapping, server::CliActor());
    if (!s.ok()) return Failed("設定を変更できません", "cannot change the setting", s);
    out["atena_mapping"] = std::string(server::AtenaMappingName(*mapping));
    if (!args.json) {
      std::printf("%s\n", *mapping == server::AtenaMapping::kTable
                              ? "宛名番号は変換表で統合宛名番号に変換します / 宛名番号 are mapped "
                                "by the tenant's table"
                              : "宛名番号をそのまま統合宛名番号とします (15桁に0埋め) / the "
                                "宛名番号, zero-padded to 15 digits, is the atena_no");
    }
  }
  if (args.json) std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

void RegisterStaffCommands(CLI::App& app, Action& action) {
  auto args = std::make_shared<StaffArgs>();
  auto common = [&](CLI::App* cmd) {
    cmd->add_option("--config", args->config, "server configuration file (TOML)")->required();
    cmd->add_option("--tenant", args->org, "機関コード (16 digits)")->required();
    cmd->add_flag("--json", args->json, "JSON で出力 / print JSON");
  };
  auto add_login = [&](CLI::App* cmd) {
    cmd->add_option("--login", args->login, "ログインID / login id")->required();
  };
  CLI::App* staff = app.add_subcommand("staff", "職員アカウント / staff accounts of the console");
  staff->require_subcommand(1);

  CLI::App* add = staff->add_subcommand("add", "職員を追加 / add a staff member");
  common(add);
  add_login(add);
  add->add_option("--name", args->name, "氏名 / name")->required();
  add->add_option("--role", args->roles,
                  "役割 / roles: inquirer,approver,replica,auditor,admin (comma separated)")
      ->required();
  add->add_option("--dept", args->dept, "部署コード / department code");
  add->callback([&action, args] { action.run = [args] { return StaffAdd(*args); }; });

  CLI::App* list = staff->add_subcommand("list", "職員一覧 / list staff members");
  common(list);
  list->callback([&action, args] { action.run = [args] { return StaffList(*args); }; });

  CLI::App* disable = staff->add_subcommand("disable", "職員を無効に / disable a staff member");
  common(disable);
  add_login(disable);
  disable->callback(
      [&action, args] { action.run = [args] { return StaffSetDisabled(*args, true); }; });

  CLI::App* enable = staff->add_subcommand("enable", "職員を有効に / enable a staff member");
  common(enable);
  add_login(enable);
  enable->callback(
      [&action, args] { action.run = [args] { return StaffSetDisabled(*args, false); }; });

  CLI::App* reset_pw = staff->add_subcommand(
      "reset-password", "パスワードを再発行 (ロック解除) / reset the password (and unlock)");
  common(reset_pw);
  add_login(reset_pw);
  reset_pw->callback(
      [&action, args] { action.run = [args] { return StaffResetPassword(*args); }; });

  CLI::App* reset_totp =
      staff->add_subcommand("reset-totp", "二要素認証を再設定 / reset the second factor");
  common(reset_totp);
  add_login(reset_totp);
  reset_totp->callback([&action, args] { action.run = [args] { return StaffResetTotp(*args); }; });

  CLI::App* settings = staff->add_subcommand("settings", "テナントの設定 / the tenant's settings");
  common(settings);
  settings->add_option("--totp-all", args->totp_all,
                       "全職員に二要素認証 / a second factor for every staff member: on|off");
  settings->add_option(
      "--atena-mapping", args->atena_mapping,
      "宛名番号→統合宛名番号 / how 宛名番号 become atena_no: identity (default) | table");
  settings->callback([&action, args] { action.run = [args] { return StaffSettings(*args); }; });
}

}  // namespace chukan::cli
