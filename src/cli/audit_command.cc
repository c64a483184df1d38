// chukan audit verify — checks an audit chain (監査ログの検証) in a SQLite file or a PostgreSQL
// schema and names the first bad entry; by default it also requires a signed checkpoint covering
// the head, and with --checkpoints it checks the chain against an exported copy of the
// checkpoints. Exit codes: 0 intact, 1 broken, not covered or unreadable, 2 usage.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "crypto/bytes.h"
#include "store/database.h"

namespace chukan::cli {
namespace {

struct VerifyArgs {
  std::string db_path;
  std::string dsn;
  std::string schema;
  std::string role;
  std::vector<std::string> verify_keys;  // hex
  std::string checkpoints_path;          // exported checkpoint file (JSON lines), optional
  int64_t allow_unprotected = 0;
  int64_t retention_days = 2557;  // the shortest retention ([retention] audit_days) allows
};

int RunVerify(const VerifyArgs& args) {
  if (args.db_path.empty() == args.dsn.empty()) {
    std::fprintf(stderr,
                 "chukan audit verify: --db か --dsn のどちらか一方を指定してください / "
                 "give exactly one of --db or --dsn\n");
    return 2;
  }
  audit::VerifyOptions options;
  for (const std::string& hex : args.verify_keys) {
    Result<std::vector<uint8_t>> raw = crypto::FromHex(hex);
    Result<crypto::VerifyKey> key =
        raw.ok() ? crypto::VerifyKey::FromBytes(*raw) : Result<crypto::VerifyKey>(raw.status());
    if (!key.ok()) {
      std::fprintf(stderr, "chukan audit verify: --verify-key が不正です / bad --verify-key: %s\n",
                   key.status().ToString().c_str());
      return 2;
    }
    options.trusted_keys.push_back(*key);
  }
  options.max_unprotected = args.allow_unprotected;
  // A chain pruned by retention must have been pruned no sooner than the retention allowed.
  options.pruned_not_after_us =
      ToUnixMicros(SystemClock::Get().Now()) - args.retention_days * int64_t{86'400'000'000};
  if (!args.checkpoints_path.empty()) {
    Result<std::vector<audit::CheckpointRecord>> records =
        audit::ReadCheckpointFile(args.checkpoints_path);
    if (!records.ok()) {
      std::fprintf(stderr,
                   "chukan audit verify: チェックポイントファイルを読めません / cannot read the "
                   "checkpoint file: %s\n",
                   records.status().message().c_str());
      return 1;
    }
    options.external_checkpoints = std::move(*records);
  }

  Result<std::shared_ptr<store::Database>> db = Status();
  std::string where;
  if (!args.db_path.empty()) {
    where = args.db_path;
    if (!std::filesystem::exists(args.db_path)) {
      std::fprintf(stderr, "chukan audit verify: %s: ファイルがありません / no such file\n",
                   args.db_path.c_str());
      return 1;
    }
    store::SqliteOptions o;
    o.path = args.db_path;
    o.create = false;
    db = store::OpenSqlite(o);
  } else {
    where = "schema " + (args.schema.empty() ? std::string("(default)") : args.schema);
    store::PostgresOptions o;
    o.dsn = args.dsn;
    o.schema = args.schema;
    o.role = args.role;
    o.pool_size = 1;
    db = store::OpenPostgres(o);
  }
  if (!db.ok()) {
    std::fprintf(stderr, "chukan audit verify: %s: 開けません / cannot open: %s\n", where.c_str(),
                 db.status().ToString().c_str());
    return 1;
  }
  Result<audit::VerifyReport> report = audit::Verify(**db, options);
  if (!report.ok()) {
    std::fprintf(stderr, "chukan audit verify: %s: 読み取りに失敗しました / cannot read: %s\n",
                 where.c_str(), report.status().ToString().c_str());
    return 1;
  }
  if (!report->ok && report->head_unprotected) {
    std::printf(
        "監査ログの末尾が署名で保護されていません / AUDIT CHAIN NOT COVERED: %s\n"
        "  内容 / problem: %s\n"
        "  検証済み / verified: %lld entries, %lld checkpoints (last at seq %lld)\n"
        "  稼働中のサーバは数秒ごとと停止時に署名します。停止後に再検証するか、"
        "--allow-unprotected N で許容してください / a running server signs its head every few "
        "seconds and at shutdown: verify again after it stopped, or allow N entries with "
        "--allow-unprotected N\n",
        where.c_str(), report->problem.c_str(), static_cast<long long>(report->entries),
        static_cast<long long>(report->checkpoints),
        static_cast<long long>(report->last_checkpoint_seq));
    return 1;
  }
  if (!report->ok) {
    std::printf(
        "監査ログの改ざんを検出しました / AUDIT CHAIN BROKEN: %s\n"
        "  最初の不正なエントリ / first bad entry: seq %lld\n"
        "  内容 / problem: %s\n"
        "  検証済み / verified before it: %lld entries, %lld checkpoints\n",
        where.c_str(), static_cast<long long>(report->first_bad_seq), report->problem.c_str(),
        static_cast<long long>(report->entries), static_cast<long long>(report->checkpoints));
    return 1;
  }
  std::printf(
      "監査ログは正常です / audit chain intact: %s\n"
      "  エントリ / entries: %lld (last seq %lld)\n"
      "  署名付きチェックポイント / signed checkpoints: %lld (%s)\n",
      where.c_str(), static_cast<long long>(report->entries),
      static_cast<long long>(report->last_seq), static_cast<long long>(report->checkpoints),
      report->keys_pinned ? "指定の鍵で検証 / verified with the given key"
                          : "DB内の鍵で検証、--verify-key で固定可能 / checked against keys "
                            "stored in the database; pin with --verify-key");
  if (report->anchor_seq > 0) {
    std::printf(
        "  保存期間により削除済み / pruned by retention: entries up to seq %lld (the chain starts "
        "after a checkpoint signed %s, checked)\n",
        static_cast<long long>(report->anchor_seq),
        FormatRfc3339(FromUnixMicros(report->anchor_time_us)).c_str());
  }
  if (report->unprotected_entries > 0) {
    std::printf(
        "  署名のない末尾 / not covered by a signed checkpoint: %lld entries (seq %lld..%lld), "
        "--allow-unprotected により許容 / allowed by --allow-unprotected\n",
        static_cast<long long>(report->unprotected_entries),
        static_cast<long long>(report->last_checkpoint_seq + 1),
        static_cast<long long>(report->last_seq));
  }
  if (!args.checkpoints_path.empty()) {
    std::printf("  外部保管のチェックポイント / exported checkpoints: %lld checked against %s\n",
                static_cast<long long>(report->external_checkpoints),
                args.checkpoints_path.c_str());
  } else {
    std::printf(
        "  外部保管のチェックポイント / exported checkpoints: not checked (--checkpoints FILE "
        "also detects deleted checkpoints and truncation)\n");
  }
  return 0;
}

}  // namespace

void RegisterAuditCommands(CLI::App& app, Action& action) {
  CLI::App* audit = app.add_subcommand("audit", "監査ログ / audit log");
  audit->require_subcommand(1);
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* verify = audit->add_subcommand(
      "verify", "ハッシュ連鎖と署名を検証 / verify the hash chain and checkpoint signatures");
  verify->add_option("--db", args->db_path, "SQLite database file (platform.db or a tenant's)");
  verify->add_option("--dsn", args->dsn, "PostgreSQL connection string");
  verify->add_option("--schema", args->schema, "PostgreSQL schema holding the audit tables");
  verify->add_option("--role", args->role, "PostgreSQL role to SET ROLE to before reading");
  verify->add_option("--verify-key", args->verify_keys,
                     "trusted checkpoint public key (hex, 64 characters); repeatable");
  verify->add_option("--checkpoints", args->checkpoints_path,
                     "exported checkpoint file (JSON lines) to check the chain against");
  verify
      ->add_option("--allow-unprotected", args->allow_unprotected,
                   "accept up to N trailing entries not covered by a signed checkpoint "
                   "(default 0)")
      ->check(CLI::NonNegativeNumber);
  verify
      ->add_option("--retention-days", args->retention_days,
                   "a chain pruned by retention must have been pruned at least this many days "
                   "after its entries were written (default 2557, [retention] audit_days)")
      ->check(CLI::Range(int64_t{1}, int64_t{36'500}));
  verify->callback([&action, args] { action.run = [args] { return RunVerify(*args); }; });
}

}  // namespace chukan::cli
