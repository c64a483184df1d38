// The linkage's tables in each tenant's database (component "linkage"): subject codes,
// inquiries, provisions, the atena map — their schema and its migrations. docs/linkage.md describes
// the columns.
#ifndef CHUKAN_SERVER_LINKAGE_SCHEMA_H_
#define CHUKAN_SERVER_LINKAGE_SCHEMA_H_

#include <vector>

#include "store/migrations.h"

namespace chukan::server {

// The migrations of the linkage tables (component "linkage", tenant databases).
const std::vector<store::Migration>& LinkageMigrations();

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_LINKAGE_SCHEMA_H_
