// Placeholder rewriting for PostgreSQL: chukan SQL uses `?`; libpq wants `$1, $2, …`.
// A `?` is a placeholder only outside 'string literals' (with '' escapes), "quoted identifiers",
// -- line comments and /* block comments */. Exposed for tests; used by the PostgreSQL backend.
// Pure functions, thread-safe.
#ifndef CHUKAN_STORE_PLACEHOLDERS_H_
#define CHUKAN_STORE_PLACEHOLDERS_H_

#include <string>
#include <string_view>

#include "common/status.h"

namespace chukan::store {

struct RewrittenSql {
  std::string sql;     // with $n
  int parameters = 0;  // number of placeholders found
};

// Rewrites `?` to `$n`. kInvalidArgument if the SQL already contains a `$n` placeholder outside
// literals (mixing styles), or a literal, quoted identifier or block comment is not terminated.
Result<RewrittenSql> RewritePlaceholders(std::string_view sql);

// True iff `sql` holds more than one statement: a `;` outside literals and comments followed by
// anything but whitespace/comments.
bool HasMultipleStatements(std::string_view sql);

}  // namespace chukan::store

#endif  // CHUKAN_STORE_PLACEHOLDERS_H_
