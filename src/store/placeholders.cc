#include "store/placeholders.h"

namespace chukan::store {

namespace {

// Walks `sql`, calling on_code(i) for each character outside literals and comments.
// Returns kInvalidArgument for an unterminated literal, identifier or block comment.
template <typename F>
Status Scan(std::string_view sql, F&& on_code) {
  size_t i = 0;
  const size_t n = sql.size();
  while (i < n) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {
      const char q = c;
      size_t j = i + 1;
      for (;;) {
        if (j >= n) {
          return InvalidArgumentError(q == '\'' ? "SQL: unterminated string literal"
                                                : "SQL: unterminated quoted identifier");
        }
        if (sql[j] == q) {
          if (j + 1 < n && sql[j + 1] == q) {  // doubled quote = escaped quote
            j += 2;
            continue;
          }
          break;
        }
        ++j;
      }
      i = j + 1;
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      while (i < n && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      const size_t end = sql.find("*/", i + 2);
      if (end == std::string_view::npos) {
        return InvalidArgumentError("SQL: unterminated block comment");
      }
      i = end + 2;
    } else {
      RETURN_IF_ERROR(on_code(i));
      ++i;
    }
  }
  return Status();
}

}  // namespace

Result<RewrittenSql> RewritePlaceholders(std::string_view sql) {
  RewrittenSql out;
  out.sql.reserve(sql.size() + 8);
  size_t copied = 0;  // sql[0, copied) is already in out.sql
  Status s = Scan(sql, [&](size_t i) -> Status {
    const char c = sql[i];
    if (c == '$' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      return InvalidArgumentError("SQL: use ? placeholders, not $n");
    }
    if (c == '?') {
      out.sql.append(sql.substr(copied, i - copied));
      out.sql += '$';
      out.sql += std::to_string(++out.parameters);
      copied = i + 1;
    }
    return Status();
  });
  RETURN_IF_ERROR(s);
  out.sql.append(sql.substr(copied));
  return out;
}

bool HasMultipleStatements(std::string_view sql) {
  bool after_semicolon = false;
  bool multiple = false;
  Status s = Scan(sql, [&](size_t i) -> Status {
    const char c = sql[i];
    if (c == ';') {
      after_semicolon = true;
    } else if (after_semicolon && c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      multiple = true;
    }
    return Status();
  });
  // A literal or comment after the ';' also makes a second statement (or a malformed one).
  if (!s.ok()) return after_semicolon;
  return multiple;
}

}  // namespace chukan::store
