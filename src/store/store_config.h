// Reading the [store] section of a TOML configuration into StoreOptions — shared by the
// intermediate server and the hub, so both accept the same keys with the same errors:
//   backend = "sqlite" | "postgres", data_dir, dsn, pg_prefix, pool_size, synchronous_full
//
// Thread-safety: a pure function.
#ifndef CHUKAN_STORE_STORE_CONFIG_H_
#define CHUKAN_STORE_STORE_CONFIG_H_

#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "store/tenant_store.h"

namespace chukan::store {

// The keys ReadStoreOptions understands, for Config::CheckKnownKeys.
std::vector<std::string> StoreConfigKeys();

// Reads [store] from `c`; relative paths resolve against `base_dir`; `default_prefix` is the
// PostgreSQL schema/role prefix when pg_prefix is absent. Errors name the file and key
// ("chukan.toml: key 'store.dsn' is required when store.backend is \"postgres\"").
Result<StoreOptions> ReadStoreOptions(const Config& c, const std::string& base_dir,
                                      const std::string& default_prefix);

}  // namespace chukan::store

#endif  // CHUKAN_STORE_STORE_CONFIG_H_
