#include "server/server_config.h"

#include <filesystem>

#include "common/config.h"
#include "store/store_config.h"

namespace chukan::server {

Result<ServerConfig> LoadServerConfig(const std::string& path) {
  ASSIGN_OR_RETURN(Config c, Config::LoadFile(path));
  std::vector<std::string> known = {"server.host", "server.port",   "server.threads",
                                    "server.max_body_mb", "tls.cert", "tls.key",
                                    "tls.client_ca", "keys.dir", "layout.dir",
                                    "log.level", "log.path"};
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

  ASSIGN_OR_RETURN(cfg.store, store::ReadStoreOptions(c, base, "chukan"));

  ASSIGN_OR_RETURN(std::string keys_dir, c.GetString("keys.dir", ""));
  cfg.keys_dir = keys_dir.empty() ? cfg.store.data_dir + "/keys" : ResolvePath(base, keys_dir);
  ASSIGN_OR_RETURN(std::string layout_dir, c.GetString("layout.dir", "data/layout"));
  cfg.layout_dir = ResolvePath(base, layout_dir);

  ASSIGN_OR_RETURN(std::string level, c.GetString("log.level", "info"));
  Result<log::Level> lv = log::ParseLevel(level);
  if (!lv.ok()) return lv.status().WithContext(path + ": key 'log.level'");
  cfg.log.level = *lv;
  ASSIGN_OR_RETURN(std::string log_path, c.GetString("log.path", ""));
  cfg.log.path = ResolvePath(base, log_path);
  return cfg;
}

}  // namespace chukan::server
