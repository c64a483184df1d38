// Small SQL fragments that differ between the backends, for statements built by the store's
// users. Pure functions, thread-safe.
#ifndef CHUKAN_STORE_SQL_UTIL_H_
#define CHUKAN_STORE_SQL_UTIL_H_

#include <string>
#include <string_view>

#include "store/database.h"

namespace chukan::store {

// "<column> IN (<subquery>)" on SQLite; on PostgreSQL "<column> = ANY(ARRAY(<subquery>))", which
// looks the sub-select's keys up one by one in `column`'s index. Given `IN (SELECT … ORDER BY …
// LIMIT ?)`, PostgreSQL's planner may instead join the sub-select to a sequential scan of the
// whole table (a hash semi join: on a table of millions, every batch of a purge reads all of
// it). Use it for batched deletes and updates by key; `column` and `subquery` are SQL, not
// values, so never pass them anything untrusted.
std::string KeyIn(Backend backend, std::string_view column, std::string_view subquery);

}  // namespace chukan::store

#endif  // CHUKAN_STORE_SQL_UTIL_H_
