// chukan platform transfer-key, chukan tenant export and chukan tenant import — moving a tenant
// to another platform (テナントの移行, server/tenant_transfer.h; the operator's procedure:
// docs/operations.md, "Moving a tenant to another platform"). Every action is audited in the
// platform audit log (and the tenant's). Exit codes: 0 done, 1 failed, 2 usage.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "cli/admin_common.h"
#include "cli/commands.h"
#include "common/version.h"
#include "crypto/bytes.h"
#include "server/platform.h"
#include "server/tenant_transfer.h"

namespace chukan::cli {
namespace {

struct TransferArgs {
  std::string config;
  std::string org;
  std::string out;         // transfer-key: public key file; export: the export file
  std::string to_key;      // export: the destination's public key file
  std::string in;          // import: the export file
  std::string source_key;  // import: the source platform's key (hex), optional
};

void Progress(const server::TransferProgress& p) {
  std::fprintf(stderr, "  %-32s %lld 行 / rows\n", p.table.c_str(), static_cast<long long>(p.rows));
}

int TransferKey(const TransferArgs& args) {
  auto p = cli::OpenPlatform(args.config, /*create_keys=*/false);
  if (!p.ok()) return 1;
  Result<crypto::BoxKeyPair> key = (*p)->TransferKey(/*create=*/true, server::CliActor());
  if (!key.ok()) {
    PrintError("移行用の鍵を用意できません", "cannot make the transfer key", key.status());
    return 1;
  }
  const std::string pub = crypto::ToHex(key->public_key());
  if (!args.out.empty()) {
    std::ofstream out(args.out, std::ios::trunc);
    out << pub << "\n";
    if (!out) {
      PrintError("公開鍵を書けません", "cannot write the public key",
                 InternalError(args.out + ": write failed"));
      return 1;
    }
  }
  std::printf(
      "移行用公開鍵 / transfer public key: %s\n"
      "指紋 / fingerprint: %s\n"
      "移行元の運用者に公開鍵ファイルを渡し、指紋を電話か書面で読み合わせてください / give the "
      "public key file to the source platform's operator and compare the fingerprint by "
      "telephone or on paper\n",
      pub.c_str(), server::TransferKeyFingerprint(key->public_key()).c_str());
  return 0;
}

int TenantExport(const TransferArgs& args) {
  Result<OrgCode> org = ParseOrgFlag("--org", args.org);
  if (!org.ok()) return 2;
  std::ifstream in(args.to_key);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) {
    PrintError("移行先の公開鍵を読めません", "cannot read the destination's public key",
               NotFoundError(args.to_key + ": cannot read"));
    return 1;
  }
  Result<crypto::Bytes> key = server::ParseTransferPublicKey(text.str(), args.to_key);
  if (!key.ok()) {
    PrintError("移行先の公開鍵が不正です", "not a transfer public key", key.status());
    return 1;
  }
  auto p = cli::OpenPlatform(args.config, false);
  if (!p.ok()) return 1;
  std::fprintf(stderr,
               "移行先の鍵の指紋 / destination key fingerprint: %s\n"
               "テナント %s を書き出しています (この時点の内容です。以後の更新は含まれません) / "
               "exporting tenant %s (a snapshot: later writes are not in it)…\n",
               server::TransferKeyFingerprint(*key).c_str(), org->str().c_str(),
               org->str().c_str());
  server::ExportOptions o{.org = *org,
                          .destination_key = *key,
                          .out_path = args.out,
                          .actor = server::CliActor(),
                          .chukan_version = kChukanVersion,
                          .limits = {},
                          .progress = Progress};
  Result<server::ExportReport> r = server::ExportTenant(**p, o);
  if (!r.ok()) {
    PrintError("テナントを書き出せません", "cannot export the tenant", r.status());
    return 1;
  }
  std::printf(
      "テナントを書き出しました / tenant exported: %s (%lld tables, %lld rows, %lld bytes, "
      "export %s)\n移行先で chukan tenant import を実行し、確認が済むまで移行元のテナントは"
      "削除しないでください / run chukan tenant import at the destination; do not delete the "
      "tenant here until the destination has checked it\n",
      args.out.c_str(), static_cast<long long>(r->tables), static_cast<long long>(r->rows),
      static_cast<long long>(r->bytes), r->export_id.c_str());
  return 0;
}

int TenantImport(const TransferArgs& args) {
  std::optional<crypto::VerifyKey> pinned;
  if (!args.source_key.empty()) {
    Result<crypto::Bytes> raw = crypto::FromHex(args.source_key);
    Result<crypto::VerifyKey> k =
        raw.ok() ? crypto::VerifyKey::FromBytes(*raw) : Result<crypto::VerifyKey>(raw.status());
    if (!k.ok()) {
      PrintError("--source-key が不正です", "bad --source-key", k.status());
      return 2;
    }
    pinned = *k;
  }
  auto p = cli::OpenPlatform(args.config, false);
  if (!p.ok()) return 1;
  std::fprintf(stderr, "取り込んでいます / importing %s…\n", args.in.c_str());
  server::ImportOptions o{.in_path = args.in,
                          .actor = server::CliActor(),
                          .source_key = pinned,
                          .limits = {},
                          .progress = Progress};
  Result<server::ImportReport> r = server::ImportTenant(**p, o);
  if (!r.ok()) {
    PrintError("テナントを取り込めません (何も登録されていません)",
               "cannot import the tenant (nothing was registered)", r.status());
    return 1;
  }
  std::printf(
      "テナントを取り込みました / tenant imported: %s %s (%lld tables, %lld rows, export %s)\n"
      "移行元プラットフォームの鍵 / source platform key: %s\n"
      "  指紋 / fingerprint: %s (移行元の運用者と読み合わせてください / compare with the source's "
      "operator)\n",
      r->tenant->org.str().c_str(), r->tenant->name.c_str(), static_cast<long long>(r->tables),
      static_cast<long long>(r->rows), r->export_id.c_str(), r->source_key_hex.c_str(),
      r->source_fingerprint.c_str());
  return 0;
}

}  // namespace

void RegisterTransferCommands(CLI::App& app, Action& action) {
  auto args = std::make_shared<TransferArgs>();
  CLI::App* platform = app.add_subcommand("platform", "プラットフォームの管理 / platform");
  platform->require_subcommand(1);
  CLI::App* tk = platform->add_subcommand(
      "transfer-key",
      "テナント移行の受け入れ用の鍵 (初回に作成) / the key tenants moving here are sealed to "
      "(made on first use)");
  tk->add_option("--config", args->config, "server configuration file (TOML)")->required();
  tk->add_option("--out", args->out, "公開鍵をこのファイルに書く / write the public key here");
  tk->callback([&action, args] { action.run = [args] { return TransferKey(*args); }; });

  CLI::App* tenant = app.get_subcommand("tenant");
  CLI::App* ex = tenant->add_subcommand(
      "export", "テナントを移行用に書き出す / export a tenant to move it to another platform");
  ex->add_option("--config", args->config, "server configuration file (TOML)")->required();
  ex->add_option("--org", args->org, "機関コード (16 digits)")->required();
  ex->add_option("--to-platform-key", args->to_key,
                 "移行先の公開鍵ファイル / the destination's transfer public key file")
      ->required();
  ex->add_option("--out", args->out, "書き出すファイル (新規) / the export file (new)")->required();
  ex->callback([&action, args] { action.run = [args] { return TenantExport(*args); }; });
  CLI::App* im = tenant->add_subcommand(
      "import", "移行されたテナントを取り込む / import a tenant exported to this platform");
  im->add_option("--config", args->config, "server configuration file (TOML)")->required();
  im->add_option("file", args->in, "書き出されたファイル / the export file")->required();
  im->add_option("--source-key", args->source_key,
                 "移行元プラットフォームの鍵 (hex)。指定するとその鍵の署名だけを受け入れる / the "
                 "source platform's key (hex): accept only its signature");
  im->callback([&action, args] { action.run = [args] { return TenantImport(*args); }; });
}

}  // namespace chukan::cli
