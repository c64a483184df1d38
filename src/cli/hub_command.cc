// chukan hub — the reference network hub (情報提供ネットワークシステム) and its administration:
//   chukan hub --config FILE                      run until SIGINT/SIGTERM (SIGHUP: reload TLS)
//   chukan hub org add|list|disable --config FILE …   (add: --local-gov-code 13101|131016)
//   chukan hub org rotate-key|retire-key|disable-key|keys --config FILE …  (署名鍵の更新)
//   chukan hub permissions load|show --config FILE …
// Exit codes: 0 success, 1 operation failed, 2 usage error.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "common/log.h"
#include "crypto/bytes.h"
#include "crypto/process_hardening.h"
#include "hub/hub.h"
#include "hub/hub_config.h"
#include "hub/hub_process.h"
#include "hub/hub_store.h"
#include "layout/catalogue_loader.h"
#include "pki/certificate_authority.h"
#include "server/platform.h"

namespace chukan::cli {
namespace {

int Fail(const char* ja, const char* en, const Status& s) {
  std::fprintf(stderr, "chukan hub: %s / %s: %s\n", ja, en, s.ToString().c_str());
  return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

// HubProcess's errors name their step themselves.
int Fail(const Status& s) {
  std::fprintf(stderr, "chukan hub: %s\n", s.message().c_str());
  return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

// What the admin commands need: the configuration, the database and the store over it.
struct AdminContext {
  hub::HubConfig config;
  std::unique_ptr<store::TenantStore> owner;
  std::unique_ptr<hub::HubKeys> keys;
  std::unique_ptr<hub::HubStore> store;
};

Result<std::unique_ptr<AdminContext>> OpenAdmin(const std::string& config_path) {
  auto ctx = std::make_unique<AdminContext>();
  ASSIGN_OR_RETURN(ctx->config, hub::LoadHubConfig(config_path));
  ASSIGN_OR_RETURN(hub::HubKeys keys, hub::LoadHubKeys(ctx->config, true));
  ctx->keys = std::make_unique<hub::HubKeys>(std::move(keys));
  ASSIGN_OR_RETURN(std::shared_ptr<store::Database> db,
                   hub::OpenHubDatabase(ctx->config, &ctx->owner));
  ASSIGN_OR_RETURN(std::shared_ptr<audit::CheckpointSink> sink,
                   audit::OpenCheckpointSink(ctx->config.audit_checkpoint_dir, "hub"));
  ASSIGN_OR_RETURN(ctx->store,
                   hub::HubStore::Open(db, &ctx->keys->audit, SystemClock::Get(), sink));
  return ctx;
}

// A public key file: 64 hex digits (what `chukan pki sign-key` writes).
Result<crypto::Bytes> ReadPublicKeyFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFoundError(path + ": cannot open the file");
  std::string text;
  std::getline(in, text);
  Result<crypto::Bytes> key = crypto::FromHex(text);
  if (!key.ok() || key->size() != 32) {
    return InvalidArgumentError(path + ": expected an Ed25519 public key as 64 hex digits");
  }
  return key;
}

int RunHub(const std::string& config_path) {
  // Blocked before any thread starts (the hub's committer starts in HubProcess::Create), so
  // that a SIGTERM reaches sigwait below and never a worker thread, which would end the process
  // without a graceful stop.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // reload the TLS files (a renewed certificate)
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  Result<hub::HubConfig> cfg = hub::LoadHubConfig(config_path);
  if (!cfg.ok())
    return Fail("設定ファイルを読めません", "cannot load the configuration", cfg.status());
  if (Status s = log::Init(cfg->log); !s.ok())
    return Fail("ログを開けません", "cannot open the log", s);
  if (Status s = crypto::HardenProcess(); !s.ok()) {
    return Fail("プロセスを保護できません", "cannot harden the process", s);
  }
  Result<std::unique_ptr<hub::HubProcess>> hub = hub::HubProcess::Create(*cfg);
  if (!hub.ok()) return Fail(hub.status());
  if (Status s = (*hub)->Start(); !s.ok()) return Fail(s);
  std::printf("chukan hub: 起動しました / listening on %s\n", (*hub)->url().c_str());
  std::fflush(stdout);
  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    // The result is in the log (http.tls_reloaded / …_reload_failed); also said on stderr.
    if (Status s = (*hub)->ReloadTls(); !s.ok()) {
      std::fprintf(stderr,
                   "chukan hub: 証明書を再読込できません（以前のものを使い続けます） / "
                   "TLS files not reloaded, the previous ones stay in use: %s\n",
                   s.message().c_str());
    } else {
      std::printf("chukan hub: 証明書を再読込しました / TLS files reloaded\n");
      std::fflush(stdout);
    }
  }
  log::Info("hub.stopping", {{"signal", sig}});
  (*hub)->Stop();
  std::printf("chukan hub: 停止しました / stopped\n");
  return 0;
}

struct OrgArgs {
  std::string config;
  std::string code;
  std::string name;
  std::string org_class;
  std::string endpoint;
  std::string sign_key;
  std::string cert;
  std::string local_gov_code;  // empty: none
};

int OrgAdd(const OrgArgs& a) {
  Result<OrgCode> code = OrgCode::Parse(a.code);
  if (!code.ok()) return Fail("機関コードが不正です", "bad --code", code.status());
  std::optional<LocalGovCode> local_gov_code;
  if (!a.local_gov_code.empty()) {
    Result<LocalGovCode> parsed = LocalGovCode::Parse(a.local_gov_code);
    if (!parsed.ok()) {
      return Fail("地方公共団体コードが不正です", "bad --local-gov-code", parsed.status());
    }
    local_gov_code = *parsed;
  }
  Result<crypto::Bytes> key = ReadPublicKeyFile(a.sign_key);
  if (!key.ok()) return Fail("署名鍵を読めません", "cannot read --sign-key", key.status());
  Result<pki::CertificateInfo> cert = pki::ReadCertificateFile(a.cert);
  if (!cert.ok()) return Fail("証明書を読めません", "cannot read --cert", cert.status());
  if (!cert->org || *cert->org != *code) {
    return Fail("証明書の機関コードが一致しません", "the certificate is not for this organisation",
                InvalidArgumentError(a.cert + ": names organisation " +
                                     (cert->org ? cert->org->str() : std::string("(none)")) +
                                     ", not " + code->str()));
  }
  auto ctx = OpenAdmin(a.config);
  if (!ctx.ok())
    return Fail("ハブのデータを開けません", "cannot open the hub's data", ctx.status());
  hub::OrgRecord rec;
  rec.code = *code;
  rec.name = a.name;
  rec.org_class = a.org_class;
  rec.endpoint = a.endpoint;
  rec.sign_key = *key;
  rec.cert_sha256 = cert->sha256;
  rec.local_gov_code = local_gov_code;
  if (Status s = (*ctx)->store->AddOrg(rec, server::CliActor()); !s.ok()) {
    return Fail("機関を登録できません", "cannot register the organisation", s);
  }
  std::printf("機関を登録しました / registered: %s %s (%s) %s", code->str().c_str(), a.name.c_str(),
              a.org_class.c_str(), a.endpoint.c_str());
  if (local_gov_code) {
    std::printf(" 地方公共団体コード/local_gov_code %s", local_gov_code->str().c_str());
  }
  std::printf("\n");
  return 0;
}

int OrgList(const std::string& config) {
  auto ctx = OpenAdmin(config);
  if (!ctx.ok())
    return Fail("ハブのデータを開けません", "cannot open the hub's data", ctx.status());
  auto orgs = (*ctx)->store->ListOrgs();
  if (!orgs.ok()) return Fail("一覧を読めません", "cannot list", orgs.status());
  std::printf("%-16s  %-8s  %-14s  %-8s  %-32s  %s\n", "機関コード/org", "状態/state", "種別/class",
              "団体/lg", "接続先/endpoint", "名称/name");
  for (const hub::OrgRecord& o : *orgs) {
    std::printf("%-16s  %-8s  %-14s  %-8s  %-32s  %s\n", o.code.str().c_str(), o.state.c_str(),
                o.org_class.c_str(), o.local_gov_code ? o.local_gov_code->str().c_str() : "-",
                o.endpoint.c_str(), o.name.c_str());
  }
  std::printf("%zu 機関 / organisations\n", orgs->size());
  return 0;
}

int OrgDisable(const std::string& config, const std::string& code_text) {
  Result<OrgCode> code = OrgCode::Parse(code_text);
  if (!code.ok()) return Fail("機関コードが不正です", "bad --code", code.status());
  auto ctx = OpenAdmin(config);
  if (!ctx.ok())
    return Fail("ハブのデータを開けません", "cannot open the hub's data", ctx.status());
  if (Status s = (*ctx)->store->DisableOrg(*code, server::CliActor()); !s.ok()) {
    return Fail("機関を停止できません", "cannot disable the organisation", s);
  }
  std::printf(
      "機関を停止しました / disabled: %s (稼働中のハブには1秒以内に反映 / a running hub "
      "applies it within a second)\n",
      code->str().c_str());
  return 0;
}

struct KeyArgs {
  std::string config;
  std::string code;
  std::string sign_key;  // rotate-key: the new public key file
  std::string kid;       // retire-key, disable-key
  int64_t overlap_hours = 72;
};

std::string KeyTimes(const hub::OrgKey& k) {
  return (k.not_before_us == 0 ? std::string("-") : FormatRfc3339(FromUnixMicros(k.not_before_us)))
             .substr(0, 20) +
         " .. " +
         (k.not_after_us ? FormatRfc3339(FromUnixMicros(*k.not_after_us)).substr(0, 20)
                         : std::string("-"));
}

int OrgRotateKey(const KeyArgs& a) {
  Result<OrgCode> code = OrgCode::Parse(a.code);
  if (!code.ok()) return Fail("機関コードが不正です", "bad --code", code.status());
  Result<crypto::Bytes> key = ReadPublicKeyFile(a.sign_key);
  if (!key.ok()) return Fail("署名鍵を読めません", "cannot read --sign-key", key.status());
  auto ctx = OpenAdmin(a.config);
  if (!ctx.ok())
    return Fail("ハブのデータを開けません", "cannot open the hub's data", ctx.status());
  Result<hub::OrgKey> added = (*ctx)->store->RotateOrgKey(
      *code, *key, std::chrono::hours(a.overlap_hours), server::CliActor());
  if (!added.ok()) return Fail("署名鍵を登録できません", "cannot register the key", added.status());
  std::printf(
      "新しい署名鍵を登録しました / new signing key registered: %s %s\n"
      "旧鍵は %lld 時間後まで受け付けます (重複期間)。この間に機関側で chukan tenant "
      "activate-sign-key を実行してください / the old keys stay accepted for %lld hours (the "
      "overlap): the organisation must run chukan tenant activate-sign-key within it\n",
      code->str().c_str(), added->kid.c_str(), static_cast<long long>(a.overlap_hours),
      static_cast<long long>(a.overlap_hours));
  return 0;
}

int OrgRetireOrDisableKey(const KeyArgs& a, bool disable) {
  Result<OrgCode> code = OrgCode::Parse(a.code);
  if (!code.ok()) return Fail("機関コードが不正です", "bad --code", code.status());
  auto ctx = OpenAdmin(a.config);
  if (!ctx.ok())
    return Fail("ハブのデータを開けません", "cannot open the hub's data", ctx.status());
  Result<hub::OrgKey> key = disable ? (*ctx)->store->DisableOrgKey(*code, a.kid, server::CliActor())
                                    : (*ctx)->store->RetireOrgKey(*code, a.kid, server::CliActor());
  if (!key.ok()) {
    return disable ? Fail("署名鍵を停止できません", "cannot disable the key", key.status())
                   : Fail("署名鍵を廃止できません", "cannot retire the key", key.status());
  }
  std::printf(
      "%s / %s: %s %s (稼働中のハブには1秒以内に反映 / a running hub applies it within a "
      "second)\n",
      disable ? "署名鍵を停止しました" : "署名鍵を廃止しました",
      disable ? "signing key disabled" : "signing key retired", code->str().c_str(),
      key->kid.c_str());
  return 0;
}

int OrgKeys(const KeyArgs& a) {
  std::optional<OrgCode> code;
  if (!a.code.empty()) {
    Result<OrgCode> parsed = OrgCode::Parse(a.code);
    if (!parsed.ok()) return Fail("機関コードが不正です", "bad --code", parsed.status());
    code = *parsed;
  }
  auto ctx = OpenAdmin(a.config);
  if (!ctx.ok())
    return Fail("ハブのデータを開けません", "cannot open the hub's data", ctx.status());
  Result<std::vector<hub::OrgKey>> keys = (*ctx)->store->ListOrgKeys(code);
  if (!keys.ok()) return Fail("一覧を読めません", "cannot list", keys.status());
  const int64_t now = ToUnixMicros(SystemClock::Get().Now());
  std::printf("%-16s  %-16s  %-8s  %-9s  %s\n", "機関コード/org", "鍵ID/kid", "状態/state",
              "受付/now", "有効期間/valid (UTC)");
  for (const hub::OrgKey& k : *keys) {
    std::printf("%-16s  %-16s  %-8s  %-9s  %s\n", k.org.str().c_str(), k.kid.c_str(),
                k.state.c_str(), k.AcceptedAt(now) ? "yes" : "no", KeyTimes(k).c_str());
  }
  return 0;
}

int PermissionsLoad(const std::string& config, const std::string& file) {
  auto ctx = OpenAdmin(config);
  if (!ctx.ok())
    return Fail("ハブのデータを開けません", "cannot open the hub's data", ctx.status());
  auto catalogue = layout::LoadCatalogue((*ctx)->config.layout_dir);
  if (!catalogue.ok()) {
    return Fail("データ標準レイアウトが不正です", "the data standard layout is broken",
                catalogue.status());
  }
  std::string sha;
  auto list = hub::ReadPermissionListFile(file, **catalogue, &sha);
  if (!list.ok()) {
    return Fail("照会許可用照合リストが不正です", "the permission list is invalid", list.status());
  }
  auto version = (*ctx)->store->AddPermissionList(list->rules(), file, sha, server::CliActor());
  if (!version.ok()) return Fail("登録できません", "cannot store the list", version.status());
  std::printf(
      "照会許可用照合リストを登録しました / loaded permission list version %lld: %zu "
      "rules (sha256 %s)\n",
      static_cast<long long>(*version), list->rules().size(), sha.c_str());
  return 0;
}

int PermissionsShow(const std::string& config) {
  auto ctx = OpenAdmin(config);
  if (!ctx.ok())
    return Fail("ハブのデータを開けません", "cannot open the hub's data", ctx.status());
  auto latest = (*ctx)->store->LatestPermissionList();
  if (!latest.ok()) return Fail("読めません", "cannot read", latest.status());
  if (!*latest) {
    std::printf("照会許可用照合リストは未登録です / no permission list loaded\n");
    return 1;
  }
  const hub::PermissionListVersion& v = **latest;
  std::printf("版 / version %lld, %zu rules, %s, sha256 %s, loaded %s\n",
              static_cast<long long>(v.version), v.rules.size(), v.source_name.c_str(),
              v.source_sha256.c_str(), FormatRfc3339(FromUnixMicros(v.loaded_at_us)).c_str());
  for (const linkage::PermissionRule& r : v.rules) {
    std::printf("  %s %s -> %s %s  %s\n", r.inquirer.ToString().c_str(), r.procedure.str().c_str(),
                r.provider.ToString().c_str(), r.tm.str().c_str(), r.legal_basis.c_str());
  }
  return 0;
}

}  // namespace

void RegisterHubCommands(CLI::App& app, Action& action) {
  auto run_config = std::make_shared<std::string>();
  CLI::App* hub = app.add_subcommand(
      "hub", "情報提供ネットワークシステム (参照ハブ) / the reference network hub");
  hub->require_subcommand(0, 1);
  hub->add_option("--config", *run_config, "設定ファイル (TOML) / configuration file");
  hub->callback([hub, run_config, &action] {
    if (!hub->get_subcommands().empty()) return;
    if (run_config->empty()) throw CLI::RequiredError("--config");
    action.run = [run_config] { return RunHub(*run_config); };
  });

  CLI::App* org = hub->add_subcommand("org", "機関の登録簿 / the organisation registry");
  org->require_subcommand(1);
  auto oa = std::make_shared<OrgArgs>();
  CLI::App* add = org->add_subcommand("add", "機関を登録 / register an organisation");
  add->add_option("--config", oa->config, "ハブの設定ファイル / hub configuration")->required();
  add->add_option("--code", oa->code, "機関コード (16桁) / org code")->required();
  add->add_option("--name", oa->name, "名称 / name")->required();
  add->add_option("--class", oa->org_class, "機関種別 / organisation class (municipality, …)")
      ->required();
  add->add_option("--endpoint", oa->endpoint, "中間サーバーのURL / server base URL")->required();
  add->add_option("--sign-key", oa->sign_key, "署名公開鍵ファイル / signing public key file")
      ->required();
  add->add_option("--cert", oa->cert, "クライアント証明書 / the TLS client certificate")
      ->required();
  add->add_option("--local-gov-code", oa->local_gov_code,
                  "地方公共団体コード (6桁、または検査数字を除く5桁) / local government code "
                  "(6 digits, or the leading 5)");
  add->callback([oa, &action] { action.run = [oa] { return OrgAdd(*oa); }; });

  auto list_config = std::make_shared<std::string>();
  CLI::App* list = org->add_subcommand("list", "登録簿の一覧 / list organisations");
  list->add_option("--config", *list_config, "ハブの設定ファイル / hub configuration")->required();
  list->callback(
      [list_config, &action] { action.run = [list_config] { return OrgList(*list_config); }; });

  auto disable_config = std::make_shared<std::string>();
  auto disable_code = std::make_shared<std::string>();
  CLI::App* disable = org->add_subcommand("disable", "機関を停止 / disable an organisation");
  disable->add_option("--config", *disable_config, "ハブの設定ファイル / hub configuration")
      ->required();
  disable->add_option("--code", *disable_code, "機関コード / org code")->required();
  disable->callback([disable_config, disable_code, &action] {
    action.run = [disable_config, disable_code] {
      return OrgDisable(*disable_config, *disable_code);
    };
  });

  auto ka = std::make_shared<KeyArgs>();
  CLI::App* rotate = org->add_subcommand(
      "rotate-key",
      "新しい署名鍵を登録し旧鍵に重複期間を設定 / register a new signing key; the old ones stay "
      "accepted for the overlap");
  rotate->add_option("--config", ka->config, "ハブの設定ファイル / hub configuration")->required();
  rotate->add_option("--code", ka->code, "機関コード / org code")->required();
  rotate
      ->add_option("--sign-key", ka->sign_key,
                   "新しい署名公開鍵ファイル / the new signing public key file")
      ->required();
  rotate
      ->add_option("--overlap-hours", ka->overlap_hours,
                   "旧鍵を受け付ける時間 (1〜720、既定 72) / hours the old keys stay accepted "
                   "(1-720, default 72)")
      ->check(CLI::Range(1, 720));
  rotate->callback([ka, &action] { action.run = [ka] { return OrgRotateKey(*ka); }; });
  CLI::App* retire = org->add_subcommand(
      "retire-key", "署名鍵を今すぐ廃止 (重複期間の終了) / end a signing key now");
  retire->add_option("--config", ka->config, "ハブの設定ファイル / hub configuration")->required();
  retire->add_option("--code", ka->code, "機関コード / org code")->required();
  retire->add_option("--kid", ka->kid, "鍵ID / key id")->required();
  retire->callback(
      [ka, &action] { action.run = [ka] { return OrgRetireOrDisableKey(*ka, false); }; });
  CLI::App* disable_key = org->add_subcommand(
      "disable-key",
      "署名鍵を停止 (漏えいの疑い: 以後その署名を拒否) / disable a signing key (suspected "
      "compromise: its signatures are refused from now on)");
  disable_key->add_option("--config", ka->config, "ハブの設定ファイル / hub configuration")
      ->required();
  disable_key->add_option("--code", ka->code, "機関コード / org code")->required();
  disable_key->add_option("--kid", ka->kid, "鍵ID / key id")->required();
  disable_key->callback(
      [ka, &action] { action.run = [ka] { return OrgRetireOrDisableKey(*ka, true); }; });
  CLI::App* keys = org->add_subcommand("keys", "署名鍵の一覧 / list signing keys");
  keys->add_option("--config", ka->config, "ハブの設定ファイル / hub configuration")->required();
  keys->add_option("--code", ka->code, "機関コード / org code (all when omitted)");
  keys->callback([ka, &action] { action.run = [ka] { return OrgKeys(*ka); }; });

  CLI::App* perms =
      hub->add_subcommand("permissions", "照会許可用照合リスト / the permission list");
  perms->require_subcommand(1);
  auto load_config = std::make_shared<std::string>();
  auto load_file = std::make_shared<std::string>();
  CLI::App* load = perms->add_subcommand("load", "新しい版を登録 / load a new version");
  load->add_option("--config", *load_config, "ハブの設定ファイル / hub configuration")->required();
  load->add_option("file", *load_file, "リストのCSVファイル / the list (CSV)")->required();
  load->callback([load_config, load_file, &action] {
    action.run = [load_config, load_file] { return PermissionsLoad(*load_config, *load_file); };
  });
  auto show_config = std::make_shared<std::string>();
  CLI::App* show = perms->add_subcommand("show", "現在の版を表示 / show the current version");
  show->add_option("--config", *show_config, "ハブの設定ファイル / hub configuration")->required();
  show->callback([show_config, &action] {
    action.run = [show_config] { return PermissionsShow(*show_config); };
  });
}

}  // namespace chukan::cli
