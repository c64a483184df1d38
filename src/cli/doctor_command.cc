// chukan doctor --config FILE [--warn-days N]: checks a node before (or while) it runs and says,
// in Japanese and English, what to fix. For an intermediate server's configuration (it has a
// [server] table) and for a hub's (otherwise):
//   - the configuration loads (errors name the file, line and key);
//   - the key files exist, hold a key of the right size, and no group or other can read them;
//   - the database is there and answers; on PostgreSQL, the node reaches the primary (it can take
//     writes), not a standby;
//   - every certificate file of the configuration is readable, not expired, not expiring within
//     --warn-days (30), and its private key matches it; the per-tenant client certificates too;
//   - the log file's and the audit checkpoints' directories can be written;
//   - a server with linkage: the hub answers over mutual TLS (GET /healthz with a tenant's client
//     certificate), and its clock agrees with this machine's (the hub's Date header): permits
//     and envelopes carry times, so a clock off by more than a minute makes them fail.
// Nothing is written except what opening the store itself does (it never creates a missing
// SQLite database: that is reported). Exit 0 when nothing failed (warnings allowed), 1 when
// something did, 2 for usage errors. Secrets and personal data are never printed: only paths,
// names, counts and dates.
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/clock.h"
#include "common/ids.h"
#include "crypto/key_file.h"
#include "http/client.h"
#include "hub/hub_config.h"
#include "server/server_config.h"
#include "store/tenant_store.h"

namespace chukan::cli {
namespace {

namespace fs = std::filesystem;

struct DoctorArgs {
  std::string config;
  int warn_days = 30;
};

// Prints each finding as it is made and counts them.
class Report {
 public:
  void Ok(const std::string& what) { std::printf("  OK    %s\n", what.c_str()); }
  void Warn(const std::string& what, const std::string& fix) {
    ++warnings_;
    std::printf("  警告  WARN  %s\n        対処 / fix: %s\n", what.c_str(), fix.c_str());
  }
  void Fail(const std::string& what, const std::string& fix) {
    ++failures_;
    std::printf("  NG    FAIL  %s\n        対処 / fix: %s\n", what.c_str(), fix.c_str());
  }
  int failures() const { return failures_; }
  int warnings() const { return warnings_; }

 private:
  int failures_ = 0;
  int warnings_ = 0;
};

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct FileClose {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

std::unique_ptr<X509, X509Free> ReadCert(const std::string& path) {
  std::unique_ptr<std::FILE, FileClose> f(std::fopen(path.c_str(), "r"));
  if (!f) return nullptr;
  return std::unique_ptr<X509, X509Free>(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
}

std::unique_ptr<EVP_PKEY, PkeyFree> ReadKey(const std::string& path) {
  std::unique_ptr<std::FILE, FileClose> f(std::fopen(path.c_str(), "r"));
  if (!f) return nullptr;
  return std::unique_ptr<EVP_PKEY, PkeyFree>(
      PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr));
}

// "2026-12-05" of a certificate time.
std::string DateOf(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return "?";
  char buf[16];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d", &tm);
  return buf;
}

// `label` names the setting ("[tls] cert"); `key_path` empty: a CA or a pinned certificate.
void CheckCertificate(Report& r, const std::string& label, const std::string& path,
                      const std::string& key_path, int warn_days) {
  const std::string what = "証明書 / certificate " + label + " (" + path + ")";
  auto cert = ReadCert(path);
  if (!cert) {
    r.Fail(what + ": 読めません / cannot be read as a PEM certificate",
           "ファイルとパスを確認 / check the file and the path in the configuration");
    return;
  }
  const ASN1_TIME* not_after = X509_get0_notAfter(cert.get());
  const ASN1_TIME* not_before = X509_get0_notBefore(cert.get());
  int days = 0, seconds = 0;
  if (ASN1_TIME_diff(&days, &seconds, nullptr, not_after) != 1) {
    r.Fail(what + ": 有効期限を読めません / its expiry cannot be read",
           "証明書を発行し直す / issue it again");
    return;
  }
  const std::string until = DateOf(not_after);
  if (days < 0 || (days == 0 && seconds < 0)) {
    r.Fail(what + ": 期限切れ / expired on " + until,
           "chukan pki issue で更新し、SIGHUP (systemctl reload) で読み込ませる / renew it "
           "(chukan pki issue) and reload with SIGHUP");
    return;
  }
  int b_days = 0, b_seconds = 0;
  if (ASN1_TIME_diff(&b_days, &b_seconds, nullptr, not_before) == 1 &&
      (b_days > 0 || b_seconds > 0)) {
    r.Fail(what + ": まだ有効ではありません / not valid before " + DateOf(not_before),
           "時計か証明書を確認 / check this machine's clock or the certificate");
    return;
  }
  if (!key_path.empty()) {
    auto key = ReadKey(key_path);
    if (!key) {
      r.Fail(what + ": 秘密鍵を読めません / its private key " + key_path + " cannot be read",
             "鍵ファイルとパスを確認 / check the key file and its path");
      return;
    }
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
      r.Fail(what + ": 秘密鍵 " + key_path + " と一致しません / does not match its private key",
             "証明書と鍵を同じ発行のものにそろえる / use the key issued with this certificate");
      return;
    }
  }
  if (days < warn_days) {
    r.Warn(what + ": 有効期限が近い / expires on " + until + " (" + std::to_string(days) +
               " 日 / days)",
           "期限前に更新 (chukan pki issue) し、SIGHUP で読み込ませる / renew it before then and "
           "reload with SIGHUP");
    return;
  }
  r.Ok(what + ": 有効期限 / valid until " + until);
}

void CheckKeyFile(Report& r, const std::string& label, const std::string& path, size_t size) {
  const std::string what = "鍵 / key " + label + " (" + path + ")";
  Result<crypto::SecretBytes> key = crypto::LoadOrCreateKeyFile(path, size, false);
  if (key.ok()) {
    r.Ok(what);
    return;
  }
  switch (key.status().code()) {
    case StatusCode::kNotFound:
      r.Fail(what + ": ありません / missing",
             "別保管の鍵の写しから戻す。新規導入なら chukan tenant create が作る / restore it "
             "from the copy kept apart; a new installation creates it with chukan tenant create");
      break;
    case StatusCode::kPermissionDenied:
      r.Fail(what + ": グループ・他者が読めます / readable or writable by group or others",
             "chmod 600 " + path);
      break;
    default:
      r.Fail(what + ": 読めません / cannot be read: " + key.status().ToString(),
             "別保管の鍵の写しと照合 / compare with the copy kept apart");
  }
}

void CheckWritableDir(Report& r, const std::string& label, const std::string& dir) {
  const std::string what = label + " (" + dir + ")";
  std::error_code ec;
  // The directory, or the nearest existing parent (the server creates the rest).
  fs::path p = dir;
  while (!p.empty() && !fs::exists(p, ec)) p = p.parent_path();
  if (p.empty()) p = ".";
  if (::access(p.c_str(), W_OK) != 0) {
    r.Fail(what + ": 書き込めません / not writable by this user",
           "所有者を実行ユーザー (chukan) にする / make the service's user its owner");
    return;
  }
  r.Ok(what + ": 書き込み可 / writable");
}

// Where the node writes: its log file's directory and the audit checkpoints' directory.
void CheckOutputDirs(Report& r, const std::string& log_path, const std::string& checkpoint_dir) {
  if (log_path.empty()) {
    r.Ok("ログ / log: 標準エラー出力 / standard error");
  } else {
    CheckWritableDir(r, "ログ / log", fs::path(log_path).parent_path().string());
  }
  if (!checkpoint_dir.empty()) {
    CheckWritableDir(r, "監査チェックポイント / audit checkpoints", checkpoint_dir);
  }
}

void CheckStore(Report& r, const store::StoreOptions& options, bool is_hub) {
  if (options.backend == store::Backend::kSqlite) {
    const std::string db = options.data_dir + "/platform.db";
    if (!fs::exists(db)) {
      r.Fail("データベース / database " + db + ": ありません / missing",
             is_hub
                 ? "[store] data_dir を確認。新規なら chukan hub org add 等が作る / check [store] "
                   "data_dir; a new hub creates it at its first command"
                 : "[store] data_dir を確認。新規なら chukan tenant create が作る / check [store] "
                   "data_dir; a new installation creates it with chukan tenant create");
      return;
    }
  }
  Result<std::unique_ptr<store::TenantStore>> ts = store::TenantStore::Open(options);
  if (!ts.ok()) {
    r.Fail("データベース / database: 開けません / cannot be opened: " + ts.status().ToString(),
           "[store] の設定と、データベースが動いているかを確認 / check [store] and that the "
           "database runs");
    return;
  }
  Result<std::shared_ptr<store::Database>> db = (*ts)->Platform();
  Status s = db.status();
  std::string detail;
  if (s.ok()) {
    Result<std::unique_ptr<store::Transaction>> tx = (*db)->BeginRead();
    s = tx.status();
    if (s.ok() && options.backend == store::Backend::kPostgres) {
      Result<std::optional<store::Row>> row =
          (*tx)->QueryOne("SELECT CASE WHEN pg_is_in_recovery() THEN 1 ELSE 0 END");
      s = row.status();
      if (s.ok() && *row && (*row)->GetInt(0).value_or(1) != 0) {
        r.Fail(
            "データベース / database: スタンバイに接続しています / connected to a standby "
            "(read-only)",
            "プライマリに接続する (libpq target_session_attrs=read-write) / connect to the "
            "primary");
        (void)(*tx)->Commit();
        return;
      }
      detail = "PostgreSQL primary";
    } else if (s.ok()) {
      detail = "SQLite " + options.data_dir + "/platform.db";
    }
    if (s.ok() && !is_hub) {
      Result<std::optional<store::Row>> row =
          (*tx)->QueryOne("SELECT COUNT(*) FROM tenants WHERE state = 'active'");
      if (row.ok() && *row) {
        detail += ", テナント / tenants: " + std::to_string((*row)->GetInt(0).value_or(0));
      }
    }
    if (s.ok()) s = (*tx)->Commit();
  }
  if (!s.ok()) {
    r.Fail("データベース / database: 応答がありません / does not answer: " + s.ToString(),
           "データベースのログを確認 / check the database's log");
    return;
  }
  r.Ok("データベース / database: " + detail);
}

// Seconds between this machine's clock and an HTTP Date header ("Sat, 05 Dec 2026 01:20:00
// GMT"); nullopt when it cannot be parsed.
std::optional<int64_t> SkewSeconds(const std::string& date) {
  std::tm tm{};
  const char* end = strptime(date.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const int64_t theirs = static_cast<int64_t>(timegm(&tm));
  const int64_t ours = static_cast<int64_t>(std::time(nullptr));
  return ours - theirs;
}

// The tenants' client certificates in [hub] tenant_tls_dir: <org_code>.crt with its .key
// (other files there — a CA, a node's certificate — are not a tenant's).
std::vector<std::pair<fs::path, fs::path>> TenantCertificates(const std::string& dir) {
  std::vector<std::pair<fs::path, fs::path>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".crt" || !OrgCode::Parse(e.path().stem().string()).ok()) continue;
    fs::path k = e.path();
    k.replace_extension(".key");
    out.emplace_back(e.path(), k);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void CheckHub(Report& r, const server::ServerConfig& cfg) {
  // A tenant's client certificate: the hub speaks only mutual TLS.
  std::string cert, key;
  for (const auto& [c, k] : TenantCertificates(cfg.tenant_tls_dir)) {
    std::error_code ec;
    if (fs::exists(k, ec)) {
      cert = c.string();
      key = k.string();
      break;
    }
  }
  const std::string what = "ハブ / hub " + cfg.hub_url;
  if (cert.empty()) {
    r.Fail(what +
               ": 接続に使うテナントのクライアント証明書がありません / no tenant client "
               "certificate in " +
               cfg.tenant_tls_dir,
           "<機関コード>.crt と .key を [hub] tenant_tls_dir に置く / put <org_code>.crt and "
           ".key there");
    return;
  }
  http::ClientOptions o;
  o.ca_file = cfg.hub_ca;
  o.cert_file = cert;
  o.key_file = key;
  o.connect_timeout = std::chrono::seconds(5);
  o.request_timeout = std::chrono::seconds(10);
  Result<std::unique_ptr<http::Client>> client = http::Client::Create(o);
  if (!client.ok()) {
    r.Fail(what + ": " + client.status().ToString(),
           "[hub] ca と証明書を確認 / check [hub] ca and the certificate");
    return;
  }
  http::ClientRequest req{"GET", cfg.hub_url + "/healthz", {}, ""};
  Result<http::Response> res = (*client)->Send(req);
  if (!res.ok() || res->status != 200) {
    r.Fail(what + ": 応答がありません / does not answer: " +
               (res.ok() ? "HTTP " + std::to_string(res->status) : res.status().ToString()),
           "ネットワーク経路・ハブの稼働・証明書の登録を確認 / check the route, that the hub runs "
           "and that this organisation's certificate is registered there");
    return;
  }
  r.Ok(what + ": 応答あり (相互TLS) / answers over mutual TLS");
  const std::optional<int64_t> skew =
      SkewSeconds(std::string(res->headers.Get("Date").value_or("")));
  if (!skew) {
    r.Warn("時計 / clock: ハブの時刻を読めません / the hub sent no readable Date",
           "ハブのバージョンを確認 / check the hub's version");
    return;
  }
  const int64_t off = *skew < 0 ? -*skew : *skew;
  const std::string text =
      "時計 / clock: ハブとの差 / off from the hub's by " + std::to_string(*skew) + " s";
  if (off > 60) {
    r.Fail(text,
           "NTP (systemd-timesyncd, chrony) で時刻を合わせる / synchronise the clock "
           "(NTP): permits and envelopes carry times");
  } else if (off > 5) {
    r.Warn(text, "NTP で時刻を合わせる / synchronise the clock with NTP");
  } else {
    r.Ok(text);
  }
}

void CheckServer(Report& r, const server::ServerConfig& cfg, int warn_days) {
  CheckKeyFile(r, "master.key", cfg.master_key_file(), 32);
  CheckKeyFile(r, "audit-signing.key", cfg.audit_key_file(), 32);
  CheckStore(r, cfg.store, false);
  if (!cfg.tls_cert.empty())
    CheckCertificate(r, "[tls] cert", cfg.tls_cert, cfg.tls_key, warn_days);
  if (!cfg.tls_client_ca.empty()) {
    CheckCertificate(r, "[tls] client_ca", cfg.tls_client_ca, "", warn_days);
  }
  CheckOutputDirs(r, cfg.log.path, cfg.audit_checkpoint_dir);
  if (cfg.hub_url.empty()) {
    r.Ok("ハブ / hub: 未設定 (連携なし) / not configured (no linkage)");
    return;
  }
  CheckCertificate(r, "[hub] ca", cfg.hub_ca, "", warn_days);
  if (!cfg.node_cert.empty())
    CheckCertificate(r, "[node] cert", cfg.node_cert, cfg.node_key, warn_days);
  if (!cfg.node_client_ca.empty()) {
    CheckCertificate(r, "[node] client_ca", cfg.node_client_ca, "", warn_days);
  }
  if (!cfg.node_hub_cert.empty()) {
    CheckCertificate(r, "[node] hub_cert", cfg.node_hub_cert, "", warn_days);
  }
  for (const auto& [c, k] : TenantCertificates(cfg.tenant_tls_dir)) {
    CheckCertificate(r, "[hub] tenant_tls_dir " + c.filename().string(), c.string(), k.string(),
                     warn_days);
  }
  CheckHub(r, cfg);
}

void CheckHubNode(Report& r, const hub::HubConfig& cfg, int warn_days) {
  CheckKeyFile(r, "hub-signing.key", cfg.signing_key_file(), 32);
  CheckKeyFile(r, "code-secret.key", cfg.code_secret_file(), 32);
  CheckKeyFile(r, "audit-signing.key", cfg.audit_key_file(), 32);
  CheckStore(r, cfg.store, true);
  CheckCertificate(r, "[tls] cert", cfg.tls_cert, cfg.tls_key, warn_days);
  CheckCertificate(r, "[tls] client_ca", cfg.tls_client_ca, "", warn_days);
  CheckOutputDirs(r, cfg.log.path, cfg.audit_checkpoint_dir);
}

// A server's configuration has a [server] table; a hub's has none.
bool IsServerConfig(const std::string& path) {
  std::unique_ptr<std::FILE, FileClose> f(std::fopen(path.c_str(), "r"));
  if (!f) return true;  // LoadServerConfig names the missing file
  char line[512];
  while (std::fgets(line, sizeof(line), f.get()) != nullptr) {
    std::string s = line;
    const size_t start = s.find_first_not_of(" \t");
    if (start != std::string::npos && s.compare(start, 8, "[server]") == 0) return true;
  }
  return false;
}

int RunDoctor(const DoctorArgs& args) {
  Report r;
  const bool server = IsServerConfig(args.config);
  std::printf("chukan doctor: %s (%s)\n", args.config.c_str(),
              server ? "中間サーバー / intermediate server" : "ハブ / hub");
  if (server) {
    Result<server::ServerConfig> cfg = server::LoadServerConfig(args.config);
    if (!cfg.ok()) {
      r.Fail("設定 / configuration: " + cfg.status().message(),
             "示された行とキーを直す / fix the line and key named");
    } else {
      r.Ok("設定 / configuration");
      CheckServer(r, *cfg, args.warn_days);
    }
  } else {
    Result<hub::HubConfig> cfg = hub::LoadHubConfig(args.config);
    if (!cfg.ok()) {
      r.Fail("設定 / configuration: " + cfg.status().message(),
             "示された行とキーを直す / fix the line and key named");
    } else {
      r.Ok("設定 / configuration");
      CheckHubNode(r, *cfg, args.warn_days);
    }
  }
  std::printf("診断結果 / result: 問題 %d 件、警告 %d 件 / %d failed, %d warnings — %s\n",
              r.failures(), r.warnings(), r.failures(), r.warnings(),
              r.failures() == 0 ? "起動できます / ready" : "直してから起動 / fix before starting");
  return r.failures() == 0 ? 0 : 1;
}

}  // namespace

void RegisterDoctorCommands(CLI::App& app, Action& action) {
  auto args = std::make_shared<DoctorArgs>();
  CLI::App* doctor =
      app.add_subcommand("doctor",
                         "設定・鍵・証明書・データベース・ハブ接続・時計を点検 / check a node's "
                         "configuration, keys, certificates, database, hub and clock");
  doctor
      ->add_option("--config", args->config,
                   "server.toml または hub.toml / the node's configuration")
      ->required();
  doctor
      ->add_option("--warn-days", args->warn_days,
                   "この日数以内に期限が来る証明書を警告 / warn of certificates expiring within "
                   "this many days (default 30)")
      ->check(CLI::Range(1, 3650));
  doctor->callback([&action, args] { action.run = [args] { return RunDoctor(*args); }; });
}

}  // namespace chukan::cli
