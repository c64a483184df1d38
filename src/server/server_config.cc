#include "server/server_config.h"

#include <filesystem>

#include "common/config.h"
#include "store/store_config.h"

namespace chukan::server {
namespace {

// 127.0.0.0/8, ::1 and localhost, as the server's host setting writes them.
bool IsLoopbackHost(const std::string& host) {
  return host == "::1" || host == "localhost" || host.starts_with("127.");
}

}  // namespace

Result<ServerConfig> LoadServerConfig(const std::string& path) {
  ASSIGN_OR_RETURN(Config c, Config::LoadFile(path));
  std::vector<std::string> known = {"server.host",
                                    "server.port",
                                    "server.threads",
                                    "server.max_body_mb",
                                    "server.upload_timeout_seconds",
                                    "server.allow_plain_http",
                                    "server.metrics",
                                    "server.metrics_token",
                                    "server.workers",
                                    "server.instance",
                                    "tls.cert",
                                    "tls.key",
                                    "tls.client_ca",
                                    "keys.dir",
                                    "audit.checkpoint_dir",
                                    "layout.dir",
                                    "layout.result_dir",
                                    "log.level",
                                    "log.path",
                                    "hub.url",
                                    "hub.ca",
                                    "hub.public_key",
                                    "hub.tenant_tls_dir",
                                    "hub.list_refresh_seconds",
                                    "node.host",
                                    "node.port",
                                    "node.cert",
                                    "node.key",
                                    "node.client_ca",
                                    "node.hub_cert",
                                    "inquiry.timeout_seconds",
                                    "inquiry.long_polls_per_client",
                                    "console.enabled",
                                    "console.idle_minutes",
                                    "console.absolute_hours",
                                    "console.max_failures",
                                    "console.lockout_minutes",
                                    "console.password_checks",
                                    "console.uploads",
                                    "inquiry.long_polls_total",
                                    "retention.result_days",
                                    "retention.records_days",
                                    "retention.code_days",
                                    "retention.dead_days",
                                    "retention.audit_days",
                                    "delivery.threads",
                                    "delivery.timeout_ms",
                                    "delivery.max_attempts",
                                    "delivery.backoff_base_ms",
                                    "delivery.backoff_cap_ms",
                                    "delivery.batch_items",
                                    "delivery.peer_requests",
                                    "delivery.max_backlog",
                                    "delivery.lease_seconds",
                                    "delivery.poll_interval_ms"};
  for (std::string& k : store::StoreConfigKeys()) known.push_back(std::move(k));
  RETURN_IF_ERROR(c.CheckKnownKeys(known));
  const std::string base = ConfigDirectory(path);
  ServerConfig cfg;
  cfg.source = path;
  ASSIGN_OR_RETURN(cfg.host, c.GetString("server.host", "127.0.0.1"));
  ASSIGN_OR_RETURN(int64_t port, c.GetInt("server.port", 8080, 0, 65535));
  cfg.port = static_cast<uint16_t>(port);
  ASSIGN_OR_RETURN(int64_t threads, c.GetInt("server.threads", 2, 1, 256));
  cfg.threads = static_cast<int>(threads);
  ASSIGN_OR_RETURN(cfg.instance, c.GetString("server.instance", "server"));
  if (cfg.instance.empty() || cfg.instance.size() > 64 ||
      cfg.instance.find(':') != std::string::npos) {
    return InvalidArgumentError(path + ": key 'server.instance': 1 to 64 characters, no ':'");
  }
  ASSIGN_OR_RETURN(int64_t workers, c.GetInt("server.workers", 64, 1, 256));
  cfg.workers = static_cast<int>(workers);
  ASSIGN_OR_RETURN(int64_t max_body_mb, c.GetInt("server.max_body_mb", 1024, 1, 65536));
  cfg.max_body_bytes = static_cast<size_t>(max_body_mb) << 20;
  ASSIGN_OR_RETURN(std::string cert, c.GetString("tls.cert", ""));
  ASSIGN_OR_RETURN(std::string key, c.GetString("tls.key", ""));
  ASSIGN_OR_RETURN(std::string client_ca, c.GetString("tls.client_ca", ""));
  cfg.tls_cert = ResolvePath(base, cert);
  cfg.tls_key = ResolvePath(base, key);
  cfg.tls_client_ca = ResolvePath(base, client_ca);
  if (cfg.tls_cert.empty() != cfg.tls_key.empty()) {
    return InvalidArgumentError(path + ": keys 'tls.cert' and 'tls.key' must be given together");
  }
  ASSIGN_OR_RETURN(cfg.upload_timeout_seconds,
                   c.GetInt("server.upload_timeout_seconds", 1800, 10, 86'400));
  // Bearer tokens in clear text over a network are credentials for anyone on the path: beyond
  // loopback, plain HTTP needs TLS or an explicit, deliberate yes (a TLS proxy in front).
  ASSIGN_OR_RETURN(cfg.allow_plain_http, c.GetBool("server.allow_plain_http", false));
  if (cfg.tls_cert.empty() && !cfg.allow_plain_http && !IsLoopbackHost(cfg.host)) {
    return InvalidArgumentError(
        path + ": key 'server.host': " + cfg.host +
        " is not a loopback address and no [tls] cert is set; bearer tokens would cross the "
        "network in clear text. Set [tls] cert and key, or server.allow_plain_http = true when a "
        "TLS proxy terminates in front (平文HTTPでの公開には TLS か allow_plain_http が必要です)");
  }
  ASSIGN_OR_RETURN(cfg.metrics, c.GetString("server.metrics", "loopback"));
  if (cfg.metrics != "loopback" && cfg.metrics != "anyone" && cfg.metrics != "token") {
    return InvalidArgumentError(path +
                                ": key 'server.metrics': expected \"loopback\", \"anyone\" or "
                                "\"token\"");
  }
  ASSIGN_OR_RETURN(cfg.metrics_token, c.GetString("server.metrics_token", ""));
  if (cfg.metrics == "token" && cfg.metrics_token.size() < 16) {
    return InvalidArgumentError(path +
                                ": key 'server.metrics_token': at least 16 characters "
                                "when server.metrics = \"token\"");
  }

  ASSIGN_OR_RETURN(cfg.store, store::ReadStoreOptions(c, base, "chukan"));

  ASSIGN_OR_RETURN(std::string keys_dir, c.GetString("keys.dir", ""));
  cfg.keys_dir = keys_dir.empty() ? cfg.store.data_dir + "/keys" : ResolvePath(base, keys_dir);
  // Where the signed audit checkpoints are also written (best outside the data directory, on
  // storage the operator of the database does not control); empty: not exported.
  ASSIGN_OR_RETURN(std::string checkpoint_dir, c.GetString("audit.checkpoint_dir", ""));
  cfg.audit_checkpoint_dir = checkpoint_dir.empty() ? "" : ResolvePath(base, checkpoint_dir);
  ASSIGN_OR_RETURN(std::string layout_dir, c.GetString("layout.dir", "data/layout"));
  cfg.layout_dir = ResolvePath(base, layout_dir);
  ASSIGN_OR_RETURN(std::string result_dir, c.GetString("layout.result_dir", ""));
  cfg.result_layout_dir_set = !result_dir.empty();
  cfg.result_layout_dir =
      result_dir.empty()
          ? (std::filesystem::path(cfg.layout_dir).parent_path() / "result_layout").string()
          : ResolvePath(base, result_dir);

  ASSIGN_OR_RETURN(std::string level, c.GetString("log.level", "info"));
  Result<log::Level> lv = log::ParseLevel(level);
  if (!lv.ok()) return lv.status().WithContext(path + ": key 'log.level'");
  cfg.log.level = *lv;
  ASSIGN_OR_RETURN(std::string log_path, c.GetString("log.path", ""));
  cfg.log.path = ResolvePath(base, log_path);

  ASSIGN_OR_RETURN(cfg.hub_url, c.GetString("hub.url", ""));
  if (!cfg.hub_url.empty()) {
    if (cfg.hub_url.rfind("https://", 0) != 0 || cfg.hub_url.back() == '/') {
      return InvalidArgumentError(path + ": key 'hub.url': expected https://host:port");
    }
    ASSIGN_OR_RETURN(std::string hub_ca, c.GetString("hub.ca"));
    cfg.hub_ca = ResolvePath(base, hub_ca);
    ASSIGN_OR_RETURN(std::string hub_key, c.GetString("hub.public_key"));
    cfg.hub_public_key = ResolvePath(base, hub_key);
    ASSIGN_OR_RETURN(std::string tls_dir, c.GetString("hub.tenant_tls_dir"));
    cfg.tenant_tls_dir = ResolvePath(base, tls_dir);
    ASSIGN_OR_RETURN(std::string node_cert, c.GetString("node.cert"));
    ASSIGN_OR_RETURN(std::string node_key, c.GetString("node.key"));
    ASSIGN_OR_RETURN(std::string node_ca, c.GetString("node.client_ca"));
    cfg.node_cert = ResolvePath(base, node_cert);
    cfg.node_key = ResolvePath(base, node_key);
    cfg.node_client_ca = ResolvePath(base, node_ca);
    // The hub's certificate, pinned: the node routes refuse every other client certificate
    // that the same CA issued (another organisation's, say).
    ASSIGN_OR_RETURN(std::string hub_cert, c.GetString("node.hub_cert"));
    cfg.node_hub_cert = ResolvePath(base, hub_cert);
  }
  ASSIGN_OR_RETURN(cfg.list_refresh_seconds, c.GetInt("hub.list_refresh_seconds", 300, 1, 86'400));
  ASSIGN_OR_RETURN(cfg.node_host, c.GetString("node.host", "127.0.0.1"));
  ASSIGN_OR_RETURN(int64_t node_port, c.GetInt("node.port", 0, 0, 65535));
  cfg.node_port = static_cast<uint16_t>(node_port);
  ASSIGN_OR_RETURN(cfg.inquiry_timeout_seconds,
                   c.GetInt("inquiry.timeout_seconds", 3600, 1, 30 * 86'400));
  ASSIGN_OR_RETURN(int64_t polls_per_client,
                   c.GetInt("inquiry.long_polls_per_client", 16, 1, 10'000));
  cfg.long_polls_per_client = static_cast<int>(polls_per_client);
  ASSIGN_OR_RETURN(int64_t polls_total,
                   c.GetInt("inquiry.long_polls_total", 10'000, polls_per_client, 100'000));
  cfg.long_polls_total = static_cast<int>(polls_total);
  ASSIGN_OR_RETURN(cfg.console_enabled, c.GetBool("console.enabled", true));
  ASSIGN_OR_RETURN(cfg.console_idle_minutes, c.GetInt("console.idle_minutes", 15, 1, 480));
  ASSIGN_OR_RETURN(cfg.console_absolute_hours, c.GetInt("console.absolute_hours", 8, 1, 24));
  ASSIGN_OR_RETURN(cfg.console_max_failures, c.GetInt("console.max_failures", 5, 1, 100));
  ASSIGN_OR_RETURN(cfg.console_lockout_minutes, c.GetInt("console.lockout_minutes", 15, 1, 1440));
  ASSIGN_OR_RETURN(cfg.console_password_checks, c.GetInt("console.password_checks", 4, 1, 64));
  ASSIGN_OR_RETURN(cfg.console_uploads, c.GetInt("console.uploads", 4, 1, 64));
  ASSIGN_OR_RETURN(cfg.result_days, c.GetInt("retention.result_days", 30, 0, 3650));
  // 2557 days: 7 years with their leap days, the legal period of the records of provision.
  ASSIGN_OR_RETURN(cfg.records_days, c.GetInt("retention.records_days", 2557, 2557, 36'500));
  ASSIGN_OR_RETURN(cfg.code_days, c.GetInt("retention.code_days", 365, 30, 36'500));
  ASSIGN_OR_RETURN(cfg.dead_days, c.GetInt("retention.dead_days", 30, 1, 3650));
  // The audit log records who did what with the records of provision: kept as long as they.
  ASSIGN_OR_RETURN(cfg.audit_days, c.GetInt("retention.audit_days", 2557, 2557, 36'500));
  ASSIGN_OR_RETURN(int64_t dthreads, c.GetInt("delivery.threads", 8, 1, 256));
  cfg.delivery_threads = static_cast<int>(dthreads);
  ASSIGN_OR_RETURN(cfg.delivery_timeout_ms, c.GetInt("delivery.timeout_ms", 10'000, 100, 600'000));
  ASSIGN_OR_RETURN(int64_t attempts, c.GetInt("delivery.max_attempts", 12, 1, 1000));
  cfg.delivery_max_attempts = static_cast<int>(attempts);
  ASSIGN_OR_RETURN(cfg.delivery_backoff_base_ms,
                   c.GetInt("delivery.backoff_base_ms", 1'000, 1, 3'600'000));
  ASSIGN_OR_RETURN(cfg.delivery_backoff_cap_ms, c.GetInt("delivery.backoff_cap_ms", 600'000,
                                                         cfg.delivery_backoff_base_ms, 86'400'000));
  ASSIGN_OR_RETURN(int64_t batch_items, c.GetInt("delivery.batch_items", 64, 1, 64));
  cfg.delivery_batch_items = static_cast<int>(batch_items);
  ASSIGN_OR_RETURN(int64_t peer_requests, c.GetInt("delivery.peer_requests", 2, 1, 256));
  cfg.delivery_peer_requests = static_cast<int>(peer_requests);
  ASSIGN_OR_RETURN(cfg.delivery_max_backlog, c.GetInt("delivery.max_backlog", 1000, 0, 10'000'000));
  ASSIGN_OR_RETURN(cfg.delivery_lease_seconds, c.GetInt("delivery.lease_seconds", 60, 1, 3600));
  ASSIGN_OR_RETURN(cfg.delivery_poll_interval_ms,
                   c.GetInt("delivery.poll_interval_ms", 200, 10, 3'600'000));
  if (cfg.delivery_lease_seconds * 1000 <= cfg.delivery_timeout_ms) {
    return InvalidArgumentError(cfg.source +
                                ": key 'delivery.lease_seconds' must exceed delivery.timeout_ms");
  }
  return cfg;
}

}  // namespace chukan::server
