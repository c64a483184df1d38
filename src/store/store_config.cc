#include "store/store_config.h"

namespace chukan::store {

std::vector<std::string> StoreConfigKeys() {
  return {"store.backend",   "store.data_dir",  "store.dsn",
          "store.pg_prefix", "store.pool_size", "store.synchronous_full"};
}

Result<StoreOptions> ReadStoreOptions(const Config& c, const std::string& base_dir,
                                      const std::string& default_prefix) {
  const std::string& path = c.source();
  StoreOptions o;
  ASSIGN_OR_RETURN(std::string backend, c.GetString("store.backend", "sqlite"));
  if (backend == "sqlite") {
    o.backend = Backend::kSqlite;
  } else if (backend == "postgres") {
    o.backend = Backend::kPostgres;
  } else {
    return InvalidArgumentError(path +
                                ": key 'store.backend': expected \"sqlite\" or "
                                "\"postgres\", got \"" +
                                backend.substr(0, 32) + "\"");
  }
  ASSIGN_OR_RETURN(std::string data_dir, c.GetString("store.data_dir", "data"));
  o.data_dir = ResolvePath(base_dir, data_dir);
  ASSIGN_OR_RETURN(o.dsn, c.GetString("store.dsn", ""));
  if (o.backend == Backend::kPostgres && o.dsn.empty()) {
    return InvalidArgumentError(path +
                                ": key 'store.dsn' is required when store.backend is "
                                "\"postgres\"");
  }
  ASSIGN_OR_RETURN(o.pg_prefix, c.GetString("store.pg_prefix", default_prefix));
  ASSIGN_OR_RETURN(int64_t pool, c.GetInt("store.pool_size", 4, 1, 256));
  o.pool_size = static_cast<int>(pool);
  ASSIGN_OR_RETURN(o.synchronous_full, c.GetBool("store.synchronous_full", true));
  return o;
}

}  // namespace chukan::store
