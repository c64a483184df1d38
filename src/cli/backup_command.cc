// chukan backup keygen | chukan backup | chukan restore — the encrypted online backup of a
// server's SQLite databases and its restore (server/backup.h, server/restore.h; the operator's
// procedure: docs/operations.md, "Backup and restore"). Progress goes to stderr, one line per
// file, Japanese first with English after a slash; the summary to stdout.
// Exit codes: 0 done, 1 failed (restore: a tenant that does not open for another reason than a
// destroyed key, or an audit chain that does not verify), 2 usage.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/admin_common.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/version.h"
#include "server/backup.h"
#include "server/platform.h"
#include "server/restore.h"
#include "server/server_config.h"

namespace chukan::cli {
namespace {

struct BackupArgs {
  std::string config;
  std::string dir;  // --to (backup) or --from (restore)
  std::string key_file;
  std::string out;  // keygen
};

double Mb(int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

int Keygen(const BackupArgs& args) {
  Status s = server::CreateBackupKeyFile(args.out);
  if (!s.ok()) {
    PrintError("バックアップ鍵を作成できません", "cannot create the backup key", s);
    return 1;
  }
  std::printf(
      "バックアップ鍵を作成しました / backup key created: %s\n"
      "  この鍵はデータとも keys/ とも別の場所に保管してください。失うとバックアップは読めません"
      " / keep it apart from the data and from keys/; without it no backup can be read\n",
      args.out.c_str());
  return 0;
}

// Loads the configuration and the backup key; prints what fails.
bool Load(const BackupArgs& args, server::ServerConfig* cfg, crypto::SecretBytes* key) {
  Result<server::ServerConfig> c = server::LoadServerConfig(args.config);
  if (!c.ok()) {
    PrintError("設定ファイルを読めません", "cannot load the configuration", c.status());
    return false;
  }
  Result<crypto::SecretBytes> k = server::LoadBackupKey(args.key_file);
  if (!k.ok()) {
    PrintError("バックアップ鍵を読めません", "cannot load the backup key", k.status());
    return false;
  }
  *cfg = std::move(*c);
  *key = std::move(*k);
  return true;
}

int Backup(const BackupArgs& args) {
  if (args.config.empty() || args.dir.empty() || args.key_file.empty()) {
    std::fprintf(stderr,
                 "chukan backup: --config, --to と --backup-key を指定してください / --config, "
                 "--to and --backup-key are required (or: chukan backup keygen --out FILE)\n");
    return 2;
  }
  log::SetLevel(log::Level::kWarn);  // the progress lines are the output
  server::ServerConfig cfg;
  crypto::SecretBytes key;
  if (!Load(args, &cfg, &key)) return 1;
  auto progress = [](const server::BackupProgress& p) {
    const std::string org = p.org ? p.org->str() : std::string("platform");
    switch (p.event) {
      case server::BackupProgress::Event::kFileStarted:
        std::fprintf(stderr, "バックアップ中 / backing up: %s (%s)\n", p.file.c_str(), org.c_str());
        break;
      case server::BackupProgress::Event::kFileDone:
        std::fprintf(stderr, "  暗号化して保存しました / encrypted and written: %s (%.1f MiB)\n",
                     p.file.c_str(), Mb(p.bytes));
        break;
      case server::BackupProgress::Event::kTenantSkipped:
        std::fprintf(stderr, "  テナント %s を含めません（削除済み） / tenant %s left out: %s\n",
                     org.c_str(), org.c_str(), p.reason.c_str());
        break;
    }
  };
  // Recorded in the platform's audit log: "backup.start" before the copy (so the backup holds
  // the record of its own making), "backup.create" with the outcome after it. Without a
  // platform database there is nothing to record in (CreateBackup says so).
  auto audit = [&](const char* action, const std::string& target, const std::string& outcome) {
    Result<std::unique_ptr<server::Platform>> p = server::Platform::Open(cfg, false);
    Status s = p.ok() ? (*p)->audit()
                            .Append({"platform", server::CliActor(), action, target, outcome, ""})
                            .status()
                      : p.status();
    if (!s.ok()) PrintError("監査ログに記録できません", "cannot write the audit log", s);
    return s;
  };
  std::error_code ec;
  const bool audited = cfg.store.backend == store::Backend::kSqlite &&
                       std::filesystem::is_regular_file(cfg.store.data_dir + "/platform.db", ec);
  if (audited && !audit("backup.start", "backup to " + args.dir, "ok").ok()) return 1;
  Result<server::BackupReport> r =
      server::CreateBackup(cfg, args.dir, key, SystemClock::Get(), kChukanVersion, progress);
  if (!r.ok()) {
    PrintError("バックアップできません", "backup failed", r.status());
    if (audited) {
      audit("backup.create", "backup to " + args.dir,
            "error:" + std::string(StatusCodeName(r.status().code())))
          .IgnoreError();  // printed already
    }
    return 1;
  }
  if (audited && !audit("backup.create", "backup " + r->manifest.backup_id, "ok").ok()) return 1;
  int64_t total = 0;
  for (const server::BackupFile& f : r->manifest.files) total += f.plain_bytes;
  std::printf(
      "バックアップを作成しました / backup created: %s\n"
      "  バックアップID / backup id: %s\n  鍵ID / key id: %s\n"
      "  ファイル / files: %zu (テナント / tenants: %zu, 除外 / left out: %zu)\n"
      "  %.1f MiB, %.2f s\n"
      "  鍵ファイル (keys/) は含まれません。別に保管してください / key files (keys/) are not "
      "in the backup: keep them apart\n",
      args.dir.c_str(), r->manifest.backup_id.c_str(), r->manifest.key_id.c_str(),
      r->manifest.files.size(), r->manifest.files.size() - 1, r->skipped.size(), Mb(total),
      r->seconds);
  return 0;
}

int Restore(const BackupArgs& args) {
  log::SetLevel(log::Level::kWarn);
  server::ServerConfig cfg;
  crypto::SecretBytes key;
  if (!Load(args, &cfg, &key)) return 1;
  auto progress = [](const server::RestoreProgress& p) {
    if (p.event == server::RestoreProgress::Event::kFileVerified) {
      std::fprintf(stderr, "検証して復号しました / verified and decrypted: %s (%.1f MiB)\n",
                   p.file.c_str(), Mb(p.plain_bytes));
    } else {
      std::fprintf(stderr, "ファイルを配置しました / files in place\n");
    }
  };
  Result<server::RestoreReport> r =
      server::RestoreBackup(cfg, args.dir, key, progress, server::CliActor());
  if (!r.ok()) {
    PrintError("リストアできません", "restore failed", r.status());
    return 1;
  }
  std::printf("リストアしました / restored: %s → %s (backup id %s, %s)\n", args.dir.c_str(),
              cfg.store.data_dir.c_str(), r->manifest.backup_id.c_str(),
              FormatRfc3339(FromUnixMicros(r->manifest.created_at_us)).c_str());
  auto chain = [](const audit::VerifyReport& a) {
    char buf[256];
    if (a.ok) {
      std::snprintf(buf, sizeof(buf),
                    "監査ログ正常 / audit chain intact (%lld entries, %lld after the last "
                    "signed checkpoint)",
                    static_cast<long long>(a.entries),
                    static_cast<long long>(a.unprotected_entries));
    } else {
      std::snprintf(buf, sizeof(buf), "監査ログ不正 / AUDIT CHAIN BROKEN at seq %lld: %s",
                    static_cast<long long>(a.first_bad_seq), a.problem.c_str());
    }
    return std::string(buf);
  };
  std::printf("  プラットフォーム / platform: %s\n", chain(r->platform_audit).c_str());
  bool failed = !r->platform_audit.ok;
  for (const server::RestoredTenant& t : r->tenants) {
    switch (t.state) {
      case server::RestoredTenant::State::kOk:
        std::printf("  テナント %s: 復元しました / restored; %s\n", t.org.str().c_str(),
                    chain(*t.audit).c_str());
        break;
      case server::RestoredTenant::State::kKeyDestroyed:
        std::printf(
            "  テナント %s: 復元できません（鍵 KEK が破棄済み：バックアップ後に削除されたテナント、"
            "設計どおりの暗号消去） / unrecoverable by design: its KEK is gone (deleted after the "
            "backup; crypto-erasure). Remove it from the restored platform with: chukan tenant "
            "delete --config %s --org %s --yes\n",
            t.org.str().c_str(), args.config.c_str(), t.org.str().c_str());
        break;
      case server::RestoredTenant::State::kFailed:
        failed = true;
        std::printf("  テナント %s: 開けません / DOES NOT OPEN: %s\n", t.org.str().c_str(),
                    t.audit ? chain(*t.audit).c_str() : t.error.ToString().c_str());
        break;
    }
  }
  return failed ? 1 : 0;
}

}  // namespace

void RegisterBackupCommands(CLI::App& app, Action& action) {
  auto args = std::make_shared<BackupArgs>();
  CLI::App* backup = app.add_subcommand(
      "backup", "暗号化オンラインバックアップ (SQLite) / encrypted online backup (SQLite)");
  backup->add_option("--config", args->config, "server configuration file (TOML)");
  backup->add_option("--to", args->dir,
                     "バックアップ先 (新規または空のディレクトリ) / backup "
                     "directory (new or empty)");
  backup->add_option("--backup-key", args->key_file,
                     "バックアップ鍵ファイル (chukan backup keygen) / backup key file");
  CLI::App* keygen = backup->add_subcommand(
      "keygen", "バックアップ鍵を作成 / create a backup key file (0600, never overwritten)");
  keygen->add_option("--out", args->out, "鍵ファイル / key file")->required();
  keygen->callback([&action, args] { action.run = [args] { return Keygen(*args); }; });
  backup->callback([&action, args, keygen] {
    if (!keygen->parsed()) action.run = [args] { return Backup(*args); };
  });

  CLI::App* restore = app.add_subcommand(
      "restore",
      "バックアップから空のデータディレクトリへ復元 / restore a backup into an empty "
      "data directory");
  restore->add_option("--config", args->config, "server configuration file (TOML)")->required();
  restore->add_option("--from", args->dir, "バックアップ / backup directory")->required();
  restore->add_option("--backup-key", args->key_file, "バックアップ鍵ファイル / backup key file")
      ->required();
  restore->callback([&action, args] { action.run = [args] { return Restore(*args); }; });
}

}  // namespace chukan::cli
