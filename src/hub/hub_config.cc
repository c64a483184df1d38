#include "hub/hub_config.h"

#include <vector>

#include "common/config.h"
#include "store/store_config.h"

namespace chukan::hub {

Result<HubConfig> LoadHubConfig(const std::string& path) {
  ASSIGN_OR_RETURN(Config c, Config::LoadFile(path));
  std::vector<std::string> known = {"hub.host",
                                    "hub.port",
                                    "hub.threads",
                                    "hub.workers",
                                    "hub.instance",
                                    "tls.cert",
                                    "tls.key",
                                    "tls.client_ca",
                                    "keys.dir",
                                    "audit.checkpoint_dir",
                                    "layout.dir",
                                    "permits.validity_seconds",
                                    "permits.approval_validity_seconds",
                                    "permission_list.validity_seconds",
                                    "delivery.threads",
                                    "delivery.timeout_ms",
                                    "delivery.max_attempts",
                                    "delivery.backoff_base_ms",
                                    "delivery.backoff_cap_ms",
                                    "delivery.lease_seconds",
                                    "delivery.batch",
                                    "delivery.batch_items",
                                    "delivery.peer_requests",
                                    "delivery.max_backlog",
                                    "delivery.poll_interval_ms",
                                    "records.retention_days",
                                    "records.permit_days",
                                    "records.delivered_hours",
                                    "records.dead_days",
                                    "records.audit_days",
                                    "records.sweep_batch",
                                    "records.sweep_interval_seconds",
                                    "log.level",
                                    "log.path"};
  for (std::string& k : store::StoreConfigKeys()) known.push_back(std::move(k));
  RETURN_IF_ERROR(c.CheckKnownKeys(known));
  const std::string base = ConfigDirectory(path);
  HubConfig cfg;
  cfg.source = path;
  ASSIGN_OR_RETURN(cfg.host, c.GetString("hub.host", "127.0.0.1"));
  ASSIGN_OR_RETURN(int64_t port, c.GetInt("hub.port", 8443, 0, 65535));
  cfg.port = static_cast<uint16_t>(port);
  ASSIGN_OR_RETURN(int64_t threads, c.GetInt("hub.threads", 2, 1, 256));
  cfg.threads = static_cast<int>(threads);
  ASSIGN_OR_RETURN(int64_t workers, c.GetInt("hub.workers", 64, 1, 256));
  cfg.workers = static_cast<int>(workers);
  ASSIGN_OR_RETURN(cfg.instance, c.GetString("hub.instance", "hub-1"));
  if (cfg.instance.empty() || cfg.instance.size() > 64 ||
      cfg.instance.find(':') != std::string::npos) {
    return InvalidArgumentError(path + ": key 'hub.instance': 1 to 64 characters, no ':'");
  }
  ASSIGN_OR_RETURN(std::string cert, c.GetString("tls.cert"));
  ASSIGN_OR_RETURN(std::string key, c.GetString("tls.key"));
  ASSIGN_OR_RETURN(std::string client_ca, c.GetString("tls.client_ca"));
  cfg.tls_cert = ResolvePath(base, cert);
  cfg.tls_key = ResolvePath(base, key);
  cfg.tls_client_ca = ResolvePath(base, client_ca);
  ASSIGN_OR_RETURN(cfg.store, store::ReadStoreOptions(c, base, "chukan_hub"));
  ASSIGN_OR_RETURN(std::string keys_dir, c.GetString("keys.dir", ""));
  cfg.keys_dir = keys_dir.empty() ? cfg.store.data_dir + "/keys" : ResolvePath(base, keys_dir);
  // Where the signed audit checkpoints are also written (best outside the data directory, on
  // storage the operator of the database does not control); empty: not exported.
  ASSIGN_OR_RETURN(std::string checkpoint_dir, c.GetString("audit.checkpoint_dir", ""));
  cfg.audit_checkpoint_dir = checkpoint_dir.empty() ? "" : ResolvePath(base, checkpoint_dir);
  ASSIGN_OR_RETURN(std::string layout_dir, c.GetString("layout.dir", "data/layout"));
  cfg.layout_dir = ResolvePath(base, layout_dir);

  ASSIGN_OR_RETURN(int64_t permit_s, c.GetInt("permits.validity_seconds", 600, 10, 86'400));
  cfg.permit_validity = std::chrono::seconds(permit_s);
  ASSIGN_OR_RETURN(int64_t approval_s,
                   c.GetInt("permits.approval_validity_seconds", 259'200, 10, 30 * 86'400));
  cfg.approval_permit_validity = std::chrono::seconds(approval_s);
  ASSIGN_OR_RETURN(int64_t list_s,
                   c.GetInt("permission_list.validity_seconds", 86'400, 60, 30 * 86'400));
  cfg.list_validity = std::chrono::seconds(list_s);

  DeliveryConfig& d = cfg.delivery;
  ASSIGN_OR_RETURN(int64_t dthreads, c.GetInt("delivery.threads", 16, 1, 256));
  d.threads = static_cast<int>(dthreads);
  ASSIGN_OR_RETURN(int64_t timeout, c.GetInt("delivery.timeout_ms", 10'000, 100, 600'000));
  d.timeout = std::chrono::milliseconds(timeout);
  ASSIGN_OR_RETURN(int64_t attempts, c.GetInt("delivery.max_attempts", 12, 1, 1000));
  d.max_attempts = static_cast<int>(attempts);
  ASSIGN_OR_RETURN(int64_t base_ms, c.GetInt("delivery.backoff_base_ms", 1'000, 1, 3'600'000));
  d.backoff_base = std::chrono::milliseconds(base_ms);
  ASSIGN_OR_RETURN(int64_t cap_ms,
                   c.GetInt("delivery.backoff_cap_ms", 600'000, base_ms, 86'400'000));
  d.backoff_cap = std::chrono::milliseconds(cap_ms);
  ASSIGN_OR_RETURN(int64_t lease_s, c.GetInt("delivery.lease_seconds", 60, 1, 3600));
  d.lease = std::chrono::seconds(lease_s);
  if (d.lease <= d.timeout) {
    return InvalidArgumentError(path +
                                ": key 'delivery.lease_seconds' must exceed delivery.timeout_ms");
  }
  ASSIGN_OR_RETURN(int64_t batch, c.GetInt("delivery.batch", 256, 1, 10'000));
  d.batch = static_cast<int>(batch);
  ASSIGN_OR_RETURN(int64_t batch_items, c.GetInt("delivery.batch_items", 64, 1, 64));
  d.batch_items = static_cast<int>(batch_items);
  ASSIGN_OR_RETURN(int64_t peer_requests, c.GetInt("delivery.peer_requests", 2, 1, 256));
  d.peer_requests = static_cast<int>(peer_requests);
  ASSIGN_OR_RETURN(d.max_backlog, c.GetInt("delivery.max_backlog", 2000, 0, 10'000'000));
  ASSIGN_OR_RETURN(int64_t poll_ms, c.GetInt("delivery.poll_interval_ms", 200, 10, 3'600'000));
  d.poll_interval = std::chrono::milliseconds(poll_ms);

  // 7 years: the legal retention of records of provision (情報提供等記録) is a minimum.
  ASSIGN_OR_RETURN(cfg.retention_days, c.GetInt("records.retention_days", 2557, 2557, 36'500));
  ASSIGN_OR_RETURN(cfg.permit_days, c.GetInt("records.permit_days", 30, 1, 3'650));
  ASSIGN_OR_RETURN(cfg.delivered_hours, c.GetInt("records.delivered_hours", 24, 1, 8'760));
  ASSIGN_OR_RETURN(cfg.dead_days, c.GetInt("records.dead_days", 30, 1, 3'650));
  ASSIGN_OR_RETURN(cfg.audit_days, c.GetInt("records.audit_days", 2557, 2557, 36'500));
  ASSIGN_OR_RETURN(cfg.sweep_batch, c.GetInt("records.sweep_batch", 5'000, 1, 100'000));
  ASSIGN_OR_RETURN(int64_t sweep_s, c.GetInt("records.sweep_interval_seconds", 3'600, 1, 86'400));
  cfg.sweep_interval = std::chrono::seconds(sweep_s);

  ASSIGN_OR_RETURN(std::string level, c.GetString("log.level", "info"));
  Result<log::Level> lv = log::ParseLevel(level);
  if (!lv.ok()) return lv.status().WithContext(path + ": key 'log.level'");
  cfg.log.level = *lv;
  ASSIGN_OR_RETURN(std::string log_path, c.GetString("log.path", ""));
  cfg.log.path = ResolvePath(base, log_path);
  return cfg;
}

}  // namespace chukan::hub
