// chukan tenant create|list|show|rotate-sign-key|activate-sign-key|sign-keys|rotate-data-key|delete
// and chukan
// client add|revoke — platform administration
// on the data directory or database named by the server's configuration file. Every action is
// audited in the platform audit log. Exit codes: 0 done, 1 failed, 2 usage.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "cli/admin_common.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "crypto/bytes.h"
#include "server/data_key_rotation.h"
#include "server/platform.h"
#include "server/server_config.h"

namespace chukan::cli {
namespace {

struct AdminArgs {
  std::string config;
  std::string org;
  std::string name;
  std::string role = "system";
  bool yes = false;
  std::string sign_pub;  // tenant show / rotate-sign-key: write the signing public key here
  std::string kid;       // tenant activate-sign-key: the key expected to be next
  bool status = false;   // tenant rotate-data-key --status: show the progress only
  bool wait = false;     // tenant rotate-data-key --wait: re-encrypt here until finished
};

// Writes a signing public key as 64 hex digits and a newline (what `hub org add --sign-key` and
// `hub org rotate-key --sign-key` read). Prints the error.
bool WritePublicKeyFile(const std::string& path, const crypto::Bytes& public_key) {
  std::ofstream out(path, std::ios::trunc);
  out << crypto::ToHex(public_key) << "\n";
  out.close();
  if (!out) {
    PrintError("公開鍵を書けません", "cannot write the public key",
               InternalError(path + ": write failed"));
    return false;
  }
  return true;
}

// The context of the active tenant `org`. Prints errors.
Result<std::shared_ptr<server::TenantContext>> OpenTenant(server::Platform& p, const OrgCode& org) {
  Result<std::shared_ptr<server::TenantContext>> ctx = p.Tenant(TenantId::ForOrg(org));
  if (!ctx.ok()) PrintError("テナントを開けません", "cannot open the tenant", ctx.status());
  return ctx;
}

// Loads the config and opens the platform. Prints errors.
Result<std::unique_ptr<server::Platform>> OpenPlatform(const AdminArgs& args, bool create_keys) {
  return cli::OpenPlatform(args.config, create_keys);
}

Result<OrgCode> ParseOrg(const AdminArgs& args) { return ParseOrgFlag("--org", args.org); }

void PrintTenant(const server::TenantInfo& t) {
  std::printf("%s  %-8s  %-18s  clients=%lld  %s  %s\n", t.org.str().c_str(),
              t.state == "active" ? "有効" : "削除済", t.id.str().c_str(),
              static_cast<long long>(t.active_clients),
              FormatRfc3339(FromUnixMicros(t.created_at_us)).substr(0, 19).c_str(), t.name.c_str());
}

int TenantCreate(const AdminArgs& args) {
  Result<OrgCode> org = ParseOrg(args);
  if (!org.ok()) return 2;
  auto p = OpenPlatform(args, /*create_keys=*/true);
  if (!p.ok()) return 1;
  Result<server::TenantInfo> t = (*p)->CreateTenant(*org, args.name, server::CliActor());
  if (!t.ok()) {
    PrintError("テナントを作成できません", "cannot create the tenant", t.status());
    return 1;
  }
  std::printf("テナントを作成しました / tenant created:\n");
  PrintTenant(*t);
  return 0;
}

int TenantList(const AdminArgs& args) {
  auto p = OpenPlatform(args, false);
  if (!p.ok()) return 1;
  Result<std::vector<server::TenantInfo>> list = (*p)->ListTenants();
  if (!list.ok()) {
    PrintError("一覧を取得できません", "cannot list tenants", list.status());
    return 1;
  }
  std::printf(
      "機関コード        状態      テナントID          利用者    作成日時             名称\n"
      "org code          state     tenant id           clients   created (UTC)        name\n");
  for (const auto& t : *list) PrintTenant(t);
  std::printf("%zu 件 / tenants\n", list->size());
  return 0;
}

int Percent(int64_t done, int64_t total) {
  return total <= 0 ? 100 : static_cast<int>(done * 100 / total);
}

// The data key's version and the progress of its latest rotation. Prints errors.
bool PrintDataKey(server::Platform& p, server::TenantContext& ctx, bool per_column) {
  Result<server::Platform::DataKeyState> st = p.GetDataKeyState(ctx.org);
  Result<server::RekeyStatus> rk = st.ok() ? server::ReadRekeyStatus(*ctx.db, st->version)
                                           : Result<server::RekeyStatus>(st.status());
  if (!rk.ok()) {
    PrintError("データ鍵の状態を読めません", "cannot read the data key's state", rk.status());
    return false;
  }
  if (st->rotating) {
    std::printf("データ鍵 / data key: v%lld → v%lld 更新中 / rotating (開始 / started %s)\n",
                static_cast<long long>(st->version), static_cast<long long>(st->version + 1),
                FormatRfc3339(FromUnixMicros(st->started_at_us)).substr(0, 19).c_str());
    const std::string earliest =
        FormatRfc3339(FromUnixMicros(server::DataKeyFinishAtUs(st->started_at_us))).substr(0, 19);
    std::printf("旧鍵の破棄は早くとも %s 以降 / the old key is destroyed at %s at the earliest\n",
                earliest.c_str(), earliest.c_str());
  } else {
    std::printf("データ鍵 / data key: v%lld\n", static_cast<long long>(st->version));
  }
  if (rk->target_version == 0) return true;
  std::printf("再暗号化 (v%lld) / re-encrypted: %lld / %lld 行 rows (%d%%)%s\n",
              static_cast<long long>(rk->target_version), static_cast<long long>(rk->rows_done()),
              static_cast<long long>(rk->rows_total()), Percent(rk->rows_done(), rk->rows_total()),
              rk->finished ? " 完了 / finished" : "");
  if (!per_column) return true;
  for (const server::RekeyColumnProgress& c : rk->columns) {
    const int64_t done = std::min(c.rows_done, c.rows_total);
    std::printf("  %-32s %10lld / %-10lld %3d%%  %s\n", (c.table + "." + c.column).c_str(),
                static_cast<long long>(done), static_cast<long long>(c.rows_total),
                Percent(done, c.rows_total), c.done ? "完了 / done" : "");
  }
  return true;
}

int TenantRotateDataKey(const AdminArgs& args) {
  Result<OrgCode> org = ParseOrg(args);
  if (!org.ok()) return 2;
  auto p = OpenPlatform(args, false);
  if (!p.ok()) return 1;
  Result<std::shared_ptr<server::TenantContext>> ctx = OpenTenant(**p, *org);
  if (!ctx.ok()) return 1;
  if (args.status) return PrintDataKey(**p, **ctx, true) ? 0 : 1;
  bool started = false;
  Result<server::Platform::DataKeyState> st =
      (*p)->StartDataKeyRotation(*org, server::CliActor(), &started);
  if (!st.ok()) {
    PrintError("データ鍵を更新できません", "cannot rotate the data key", st.status());
    return 1;
  }
  if (!st->rotating) {  // finished by a server between the two reads
    std::printf("データ鍵の更新は完了しています / the data-key rotation has finished\n");
    return PrintDataKey(**p, **ctx, true) ? 0 : 1;
  }
  std::printf("%s / %s: v%lld\n",
              started ? "データ鍵の更新を開始しました" : "データ鍵は既に更新中です",
              started ? "data-key rotation started" : "a data-key rotation is already in progress",
              static_cast<long long>(st->version + 1));
  if (!args.wait) {
    if (!PrintDataKey(**p, **ctx, true)) return 1;
    std::printf(
        "新しい書き込みは新しい鍵で暗号化されます。稼働中のサーバーが既存の行をバックグラウンドで"
        "再暗号化し、終わると旧鍵を破棄します。サーバーを停止している場合は --wait を付けて実行して"
        "ください / new writes are sealed under the new key; a running server re-encrypts the "
        "existing rows in the background and destroys the old key when done. With no server "
        "running, run again with --wait\n");
    return 0;
  }
  server::RekeyOptions options;
  options.max_batches = 20;
  options.actor = server::CliActor();
  while (true) {
    Result<server::RekeyStatus> rk = server::RunRekey(**p, *org, options);
    if (!rk.ok() && rk.status().code() == StatusCode::kFailedPrecondition) {
      // Finished by a running server meanwhile.
      Result<server::Platform::DataKeyState> now = (*p)->GetDataKeyState(*org);
      if (now.ok() && !now->rotating) break;
    }
    if (!rk.ok()) {
      PrintError("再暗号化できません (もう一度実行すると続きから再開します)",
                 "cannot re-encrypt (run again to resume)", rk.status());
      return 1;
    }
    std::printf("再暗号化 / re-encrypted: %lld / %lld 行 rows (%d%%)\n",
                static_cast<long long>(rk->rows_done()), static_cast<long long>(rk->rows_total()),
                Percent(rk->rows_done(), rk->rows_total()));
    std::fflush(stdout);
    if (rk->finished) break;
    if (rk->all_columns_done()) {
      // The old key goes only kDataKeyFinishGrace after the start: running servers load the
      // new key first.
      Result<server::Platform::DataKeyState> now = (*p)->GetDataKeyState(*org);
      if (!now.ok()) {
        PrintError("データ鍵の状態を読めません", "cannot read the data key's state", now.status());
        return 1;
      }
      if (!now->rotating) break;  // finished by a running server meanwhile
      const int64_t left_us =
          server::DataKeyFinishAtUs(now->started_at_us) - ToUnixMicros((*p)->clock().Now());
      if (left_us > 0) {
        const long long grace = std::chrono::seconds(server::kDataKeyFinishGrace).count();
        const long long left = (left_us + 999'999) / 1'000'000;
        std::printf(
            "旧鍵は更新開始から %lld 秒たってから破棄します (稼働中のサーバーが新しい鍵を読み込む"
            "ため)。あと %lld 秒待ちます / the old key is destroyed %lld s after the rotation "
            "started (running servers load the new key first): waiting %lld s\n",
            grace, left, grace, left);
        std::fflush(stdout);
        std::this_thread::sleep_for(std::chrono::microseconds(left_us));
      }
    }
  }
  std::printf(
      "データ鍵の更新が完了し、旧鍵を破棄しました / data-key rotation finished; the old "
      "key is destroyed\n");
  return PrintDataKey(**p, **ctx, true) ? 0 : 1;
}

int TenantShow(const AdminArgs& args) {
  Result<OrgCode> org = ParseOrg(args);
  if (!org.ok()) return 2;
  auto p = OpenPlatform(args, false);
  if (!p.ok()) return 1;
  Result<server::TenantInfo> t = (*p)->GetTenant(*org);
  if (!t.ok()) {
    PrintError("テナントがありません", "no such tenant", t.status());
    return 1;
  }
  std::printf(
      "機関コード / org code:   %s\n名称 / name:            %s\n"
      "テナントID / tenant id: %s\n状態 / state:           %s\n"
      "有効な利用者 / active clients: %lld\n作成 / created:         %s\n",
      t->org.str().c_str(), t->name.c_str(), t->id.str().c_str(), t->state.c_str(),
      static_cast<long long>(t->active_clients),
      FormatRfc3339(FromUnixMicros(t->created_at_us)).c_str());
  if (t->state == "active") {
    Result<std::shared_ptr<server::TenantContext>> ctx = (*p)->Tenant(t->id);
    if (!ctx.ok()) {
      PrintError("テナントを開けません", "cannot open the tenant", ctx.status());
      return 1;
    }
    const std::shared_ptr<const server::OrgSignKey> key = (*ctx)->SignKey();
    const crypto::Bytes pub = key->key.verify_key().bytes();
    std::printf("署名公開鍵 / signing public key: %s\n署名鍵ID / signing key id: %s\n",
                crypto::ToHex(pub).c_str(), key->kid.c_str());
    if (!args.sign_pub.empty() && !WritePublicKeyFile(args.sign_pub, pub)) return 1;
    if (!PrintDataKey(**p, **ctx, false)) return 1;
  }
  return 0;
}

int TenantRotateSignKey(const AdminArgs& args) {
  Result<OrgCode> org = ParseOrg(args);
  if (!org.ok()) return 2;
  auto p = OpenPlatform(args, false);
  if (!p.ok()) return 1;
  Result<std::shared_ptr<server::TenantContext>> ctx = OpenTenant(**p, *org);
  if (!ctx.ok()) return 1;
  bool created = false;
  Result<server::TenantKeyInfo> next = (*ctx)->RotateSignKey(server::CliActor(), &created);
  if (!next.ok()) {
    PrintError("次の署名鍵を作成できません", "cannot make the next signing key", next.status());
    return 1;
  }
  std::printf("%s / %s: %s\n署名公開鍵 / signing public key: %s\n",
              created ? "次の署名鍵を作成しました" : "次の署名鍵は作成済みです",
              created ? "next signing key made" : "a next signing key was already waiting",
              next->kid.c_str(), crypto::ToHex(next->public_key).c_str());
  if (!args.sign_pub.empty() && !WritePublicKeyFile(args.sign_pub, next->public_key)) return 1;
  std::printf(
      "まだ使われていません。ハブに登録 (chukan hub org rotate-key) してから "
      "chukan tenant activate-sign-key で切り替えてください / not in use yet: register it at the "
      "hub (chukan hub org rotate-key), then switch with chukan tenant activate-sign-key\n");
  return 0;
}

int TenantActivateSignKey(const AdminArgs& args) {
  Result<OrgCode> org = ParseOrg(args);
  if (!org.ok()) return 2;
  auto p = OpenPlatform(args, false);
  if (!p.ok()) return 1;
  Result<std::shared_ptr<server::TenantContext>> ctx = OpenTenant(**p, *org);
  if (!ctx.ok()) return 1;
  const std::string old_kid = (*ctx)->SignKey()->kid;
  Result<server::TenantKeyInfo> active = (*ctx)->ActivateSignKey(server::CliActor(), args.kid);
  if (!active.ok()) {
    PrintError("署名鍵を切り替えられません", "cannot activate the signing key", active.status());
    return 1;
  }
  std::printf(
      "署名鍵を切り替えました / signing key activated: %s (旧 / retired: %s)\n"
      "稼働中のサーバーは 1 秒以内に新しい鍵で署名します。重複期間が終わったら旧鍵をハブで廃止"
      "してください (chukan hub org retire-key) / running servers sign with it within a second; "
      "after the overlap, retire the old key at the hub (chukan hub org retire-key)\n",
      active->kid.c_str(), old_kid.c_str());
  return 0;
}

int TenantSignKeys(const AdminArgs& args) {
  Result<OrgCode> org = ParseOrg(args);
  if (!org.ok()) return 2;
  auto p = OpenPlatform(args, false);
  if (!p.ok()) return 1;
  Result<std::shared_ptr<server::TenantContext>> ctx = OpenTenant(**p, *org);
  if (!ctx.ok()) return 1;
  Result<std::vector<server::TenantKeyInfo>> keys = (*ctx)->ListKeys();
  if (!keys.ok()) {
    PrintError("鍵の一覧を取得できません", "cannot list the keys", keys.status());
    return 1;
  }
  auto when = [](const std::optional<int64_t>& us) {
    return us ? FormatRfc3339(FromUnixMicros(*us)).substr(0, 19) : std::string("-");
  };
  std::printf(
      "用途          鍵ID              状態      作成                 有効化               廃止\n"
      "purpose       key id            state     created (UTC)        activated            "
      "retired\n");
  for (const server::TenantKeyInfo& k : *keys) {
    std::printf("%-13s %-17s %-9s %-20s %-20s %s\n", k.purpose.c_str(), k.kid.c_str(),
                k.state.c_str(), when(k.created_at_us).c_str(), when(k.activated_at_us).c_str(),
                when(k.retired_at_us).c_str());
  }
  return 0;
}

int TenantDelete(const AdminArgs& args) {
  Result<OrgCode> org = ParseOrg(args);
  if (!org.ok()) return 2;
  if (!args.yes) {
    std::fprintf(stderr,
                 "chukan tenant delete: テナントの鍵とデータを完全に消去します。--yes を付けて"
                 "再実行してください / this destroys the tenant's key and data for good; "
                 "re-run with --yes\n");
    return 2;
  }
  auto p = OpenPlatform(args, false);
  if (!p.ok()) return 1;
  Status s = (*p)->DeleteTenant(*org, server::CliActor());
  if (!s.ok()) {
    PrintError("テナントを削除できません", "cannot delete the tenant", s);
    return 1;
  }
  std::printf("テナント %s の鍵を破棄し、データを削除しました / key destroyed and data removed\n",
              org->str().c_str());
  return 0;
}

int ClientAdd(const AdminArgs& args) {
  Result<OrgCode> org = ParseOrg(args);
  if (!org.ok()) return 2;
  auto p = OpenPlatform(args, false);
  if (!p.ok()) return 1;
  Result<std::string> token = (*p)->AddClient(*org, args.name, args.role, server::CliActor());
  if (!token.ok()) {
    PrintError("利用者を追加できません", "cannot add the client", token.status());
    return 1;
  }
  std::fprintf(
      stderr,
      "利用者 \"%s\" を追加しました。トークンは今回だけ表示されます。安全に保管してください"
      " / client added; the token is shown only this once — store it safely:\n",
      args.name.c_str());
  std::printf("%s\n", token->c_str());
  return 0;
}

int ClientRevoke(const AdminArgs& args) {
  Result<OrgCode> org = ParseOrg(args);
  if (!org.ok()) return 2;
  auto p = OpenPlatform(args, false);
  if (!p.ok()) return 1;
  Status s = (*p)->RevokeClient(*org, args.name, server::CliActor());
  if (!s.ok()) {
    PrintError("利用者を失効できません", "cannot revoke the client", s);
    return 1;
  }
  std::printf("利用者 \"%s\" を失効させました / client revoked\n", args.name.c_str());
  return 0;
}

int KeyRotateMaster(const AdminArgs& args) {
  auto p = OpenPlatform(args, false);
  if (!p.ok()) return 1;
  std::fprintf(stderr,
               "マスター鍵を更新しています (テナントごとの鍵暗号化鍵を新しい鍵で包み直します) / "
               "rotating the master key (rewrapping every tenant's key-encryption key)…\n");
  Result<server::TenantKeks::Rotation> done = (*p)->RotateMasterKey(server::CliActor());
  if (!done.ok()) {
    PrintError("マスター鍵を更新できません (もう一度実行すると続きから再開します)",
               "cannot rotate the master key (running it again resumes)", done.status());
    return 1;
  }
  std::printf(
      "マスター鍵を更新しました: 包み直した鍵 %lld 件、更新済み %lld 件。keys/ の控えを取り直し、"
      "古い控えは廃棄してください / master key rotated: KEK files rewrapped: %lld, already done: "
      "%lld. Take a new copy of keys/ and destroy the old copies.\n",
      static_cast<long long>(done->rewrapped), static_cast<long long>(done->already),
      static_cast<long long>(done->rewrapped), static_cast<long long>(done->already));
  return 0;
}

}  // namespace

void RegisterTenantCommands(CLI::App& app, Action& action) {
  auto args = std::make_shared<AdminArgs>();
  auto add_config = [&](CLI::App* cmd) {
    cmd->add_option("--config", args->config, "server configuration file (TOML)")->required();
  };
  CLI::App* tenant = app.add_subcommand("tenant", "テナント管理 / tenant administration");
  tenant->require_subcommand(1);
  CLI::App* create = tenant->add_subcommand("create", "テナントを作成 / create a tenant");
  add_config(create);
  create->add_option("--org", args->org, "機関コード (16 digits)")->required();
  create->add_option("--name", args->name, "名称 / name")->required();
  create->callback([&action, args] { action.run = [args] { return TenantCreate(*args); }; });
  CLI::App* list = tenant->add_subcommand("list", "テナント一覧 / list tenants");
  add_config(list);
  list->callback([&action, args] { action.run = [args] { return TenantList(*args); }; });
  CLI::App* show = tenant->add_subcommand("show", "テナントを表示 / show a tenant");
  add_config(show);
  show->add_option("--org", args->org, "機関コード (16 digits)")->required();
  show->add_option("--sign-pub", args->sign_pub,
                   "署名公開鍵をこのファイルに書く (ハブへの登録用) / write the signing public key "
                   "here (for registering with the hub)");
  show->callback([&action, args] { action.run = [args] { return TenantShow(*args); }; });
  CLI::App* rotate = tenant->add_subcommand(
      "rotate-sign-key",
      "次の署名鍵を作成 (まだ使わない) / make the next signing key (not used yet)");
  add_config(rotate);
  rotate->add_option("--org", args->org, "機関コード (16 digits)")->required();
  rotate->add_option("--out", args->sign_pub,
                     "次の署名公開鍵をこのファイルに書く (ハブへの登録用) / write the next signing "
                     "public key here (for the hub)");
  rotate->callback([&action, args] { action.run = [args] { return TenantRotateSignKey(*args); }; });
  CLI::App* activate = tenant->add_subcommand(
      "activate-sign-key",
      "次の署名鍵に切り替え (ハブ登録後) / sign with the next key from now (after registering it "
      "at the hub)");
  add_config(activate);
  activate->add_option("--org", args->org, "機関コード (16 digits)")->required();
  activate->add_option("--kid", args->kid,
                       "切り替える鍵ID (確認用) / the key id expected to be next (a check)");
  activate->callback(
      [&action, args] { action.run = [args] { return TenantActivateSignKey(*args); }; });
  CLI::App* sign_keys =
      tenant->add_subcommand("sign-keys", "テナントの鍵の一覧 / list the tenant's keys");
  add_config(sign_keys);
  sign_keys->add_option("--org", args->org, "機関コード (16 digits)")->required();
  sign_keys->callback([&action, args] { action.run = [args] { return TenantSignKeys(*args); }; });
  CLI::App* rotate_data = tenant->add_subcommand(
      "rotate-data-key",
      "データ鍵を更新 (無停止で再暗号化) / rotate the tenant's data key (re-encrypted online)");
  add_config(rotate_data);
  rotate_data->add_option("--org", args->org, "機関コード (16 digits)")->required();
  CLI::Option* status = rotate_data->add_flag("--status", args->status,
                                              "進み具合を表示するだけ / show the progress only");
  rotate_data
      ->add_flag("--wait", args->wait,
                 "このコマンドで最後まで再暗号化する (サーバー停止中に) / re-encrypt here "
                 "until finished (when no server runs)")
      ->excludes(status);
  rotate_data->callback(
      [&action, args] { action.run = [args] { return TenantRotateDataKey(*args); }; });
  CLI::App* del = tenant->add_subcommand(
      "delete", "鍵を破棄してテナントを削除 / destroy the key and delete the tenant");
  add_config(del);
  del->add_option("--org", args->org, "機関コード (16 digits)")->required();
  del->add_flag("--yes", args->yes, "confirm");
  del->callback([&action, args] { action.run = [args] { return TenantDelete(*args); }; });

  CLI::App* key = app.add_subcommand("key", "鍵の管理 / key management");
  key->require_subcommand(1);
  CLI::App* rotate_master = key->add_subcommand(
      "rotate-master",
      "マスター鍵を更新 (稼働中のサーバーはそのまま) / rotate the platform master key (running "
      "servers need no restart)");
  add_config(rotate_master);
  rotate_master->callback(
      [&action, args] { action.run = [args] { return KeyRotateMaster(*args); }; });

  CLI::App* client = app.add_subcommand("client", "既存システムの利用者 / existing-system clients");
  client->require_subcommand(1);
  CLI::App* cadd = client->add_subcommand("add", "利用者を追加しトークンを発行 / add a client");
  add_config(cadd);
  cadd->add_option("--tenant", args->org, "機関コード (16 digits)")->required();
  cadd->add_option("--name", args->name, "利用者名 / client name")->required();
  cadd->add_option("--role", args->role, "system (default) or approver");
  cadd->callback([&action, args] { action.run = [args] { return ClientAdd(*args); }; });
  CLI::App* crev = client->add_subcommand("revoke", "利用者を失効 / revoke a client");
  add_config(crev);
  crev->add_option("--tenant", args->org, "機関コード (16 digits)")->required();
  crev->add_option("--name", args->name, "利用者名 / client name")->required();
  crev->callback([&action, args] { action.run = [args] { return ClientRevoke(*args); }; });
}

}  // namespace chukan::cli
