#include "store/sql_util.h"

namespace chukan::store {

std::string KeyIn(Backend backend, std::string_view column, std::string_view subquery) {
  std::string sql(column);
  sql += backend == Backend::kPostgres ? " = ANY(ARRAY(" : " IN (";
  sql += subquery;
  sql += backend == Backend::kPostgres ? "))" : ")";
  return sql;
}

}  // namespace chukan::store
