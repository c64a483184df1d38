// ServerConfig: the settings of one intermediate server (`chukan server --config FILE`), read
// from TOML. The admin commands (`chukan tenant …`, `chukan client …`) read the same file, so
// they act on the same data directory or database as the server. Unknown keys are refused.
//
//   [server]   host, port, threads, max_body_mb
//   [tls]      cert, key, client_ca            (optional: HTTPS when cert is set)
//   [store]    backend = "sqlite" | "postgres", data_dir, dsn, pg_prefix, pool_size
//   [keys]     dir (default <data_dir>/keys): master.key, audit-signing.key
//   [layout]   dir (default "data/layout")
//   [log]      level, path
//
// Relative paths are resolved against the directory of the configuration file.
// An immutable value type.
#ifndef CHUKAN_SERVER_SERVER_CONFIG_H_
#define CHUKAN_SERVER_SERVER_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/log.h"
#include "common/status.h"
#include "store/tenant_store.h"

namespace chukan::server {

struct ServerConfig {
  std::string source;  // the file it came from
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int threads = 2;
  // Largest request body accepted (imports stream; other requests are small).
  size_t max_body_bytes = size_t{1} << 30;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  store::StoreOptions store;
  std::string keys_dir;
  std::string layout_dir;
  log::Options log;

  std::string master_key_file() const { return keys_dir + "/master.key"; }
  std::string audit_key_file() const { return keys_dir + "/audit-signing.key"; }
};

// Reads and validates `path`. Errors name the file, line and key (common/config.h), e.g.
// "chukan.toml:4: key 'store.backend': expected \"sqlite\" or \"postgres\"".
Result<ServerConfig> LoadServerConfig(const std::string& path);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_SERVER_CONFIG_H_
