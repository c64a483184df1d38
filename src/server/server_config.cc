#include "server/server_config.h"

#include <filesystem>

#include "common/config.h"

namespace chukan::server {
namespace {

std::string Resolve(const std::filesystem::path& base, const std::string& p) {
  if (p.empty()) return p;
  std::filesystem::path path(p);
  if (path.is_absolute()) return p;
  return (base / path).lexically_normal().string();
}

}  // namespace

Result<ServerConfig> LoadServerConfig(const std::string& path) {
  ASSIGN_OR_RETURN(Config c, Config::LoadFile(path));
  RETURN_IF_ERROR(
      c.CheckKnownKeys({"server.host", "server.port", "server.threads", "server.max_body_mb",
                        "tls.cert", "tls.key", "tls.client_ca", "store.backend", "store.data_dir",
                        "store.dsn", "store.pg_prefix", "store.pool_size", "store.synchronous_full",
                        "keys.dir", "layout.dir", "log.level", "log.path"}));
  const std::filesystem::path base =
      std::filesystem::absolute(std::filesystem::path(path)).parent_path();
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
  cfg.tls_cert = Resolve(base, cert);
  cfg.tls_key = Resolve(base, key);
  cfg.tls_client_ca = Resolve(base, client_ca);
  if (cfg.tls_cert.empty() != cfg.tls_key.empty()) {
    return InvalidArgumentError(path + ": keys 'tls.cert' and 'tls.key' must be given together");
  }

  ASSIGN_OR_RETURN(std::string backend, c.GetString("store.backend", "sqlite"));
  if (backend == "sqlite") {
    cfg.store.backend = store::Backend::kSqlite;
  } else if (backend == "postgres") {
    cfg.store.backend = store::Backend::kPostgres;
  } else {
    return InvalidArgumentError(path +
                                ": key 'store.backend': expected \"sqlite\" or "
                                "\"postgres\", got \"" +
                                backend.substr(0, 32) + "\"");
  }
  ASSIGN_OR_RETURN(std::string data_dir, c.GetString("store.data_dir", "data"));
  cfg.store.data_dir = Resolve(base, data_dir);
  ASSIGN_OR_RETURN(cfg.store.dsn, c.GetString("store.dsn", ""));
  if (cfg.store.backend == store::Backend::kPostgres && cfg.store.dsn.empty()) {
    return InvalidArgumentError(path +
                                ": key 'store.dsn' is required when store.backend is "
                                "\"postgres\"");
  }
  ASSIGN_OR_RETURN(cfg.store.pg_prefix, c.GetString("store.pg_prefix", "chukan"));
  ASSIGN_OR_RETURN(int64_t pool, c.GetInt("store.pool_size", 4, 1, 256));
  cfg.store.pool_size = static_cast<int>(pool);
  ASSIGN_OR_RETURN(cfg.store.synchronous_full, c.GetBool("store.synchronous_full", true));

  ASSIGN_OR_RETURN(std::string keys_dir, c.GetString("keys.dir", ""));
  cfg.keys_dir = keys_dir.empty() ? cfg.store.data_dir + "/keys" : Resolve(base, keys_dir);
  ASSIGN_OR_RETURN(std::string layout_dir, c.GetString("layout.dir", "data/layout"));
  cfg.layout_dir = Resolve(base, layout_dir);

  ASSIGN_OR_RETURN(std::string level, c.GetString("log.level", "info"));
  Result<log::Level> lv = log::ParseLevel(level);
  if (!lv.ok()) return lv.status().WithContext(path + ": key 'log.level'");
  cfg.log.level = *lv;
  ASSIGN_OR_RETURN(std::string log_path, c.GetString("log.path", ""));
  cfg.log.path = Resolve(base, log_path);
  return cfg;
}

}  // namespace chukan::server
