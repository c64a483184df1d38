// Values and rows: the typed data that crosses the storage interface.
//
// A Value is one SQL parameter or one result cell: NULL, a 64-bit integer, a double, UTF-8 text
// or a byte string (BLOB in SQLite, BYTEA in PostgreSQL). A Row is one result row: its values
// plus the (shared) column names, with typed getters that fail with a specific error instead of
// converting silently. Both backends map their column types onto these five kinds the same way
// (docs/storage.md), so code written against a Row does not know which backend produced it.
//
// Value and Row are thread-compatible value types.
#ifndef CHUKAN_STORE_VALUE_H_
#define CHUKAN_STORE_VALUE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"

namespace chukan::store {

using Bytes = std::vector<uint8_t>;
using Value = std::variant<std::nullptr_t, int64_t, double, std::string, Bytes>;

// Convenience for building a Bytes value from text (tests, fixed payloads).
Bytes ToBytes(std::string_view s);

// "NULL", "INTEGER", "DOUBLE", "TEXT" or "BLOB": the kind of a value, for error messages.
std::string_view ValueKindName(const Value& v);

class Row {
 public:
  Row() = default;
  Row(std::shared_ptr<const std::vector<std::string>> column_names, std::vector<Value> values);

  // Number of columns.
  size_t size() const { return values_.size(); }

  // True iff column `i` is NULL. An index >= size() is not NULL (it is absent): returns false;
  // the typed getters report such an index as kOutOfRange.
  bool IsNull(size_t i) const;

  // Typed getters. Each fails with
  //   kOutOfRange  when i >= size() (the message gives the index and the column count);
  //   kInternal    when the column is NULL or holds another kind (the message names the column
  //                index and name, and the kind found). Reading NULL is an error: check IsNull()
  //                first, or use the Optional* getters.
  // GetDouble also accepts an INTEGER column (converted exactly when |v| <= 2^53).
  Result<int64_t> GetInt(size_t i) const;
  Result<double> GetDouble(size_t i) const;
  Result<std::string> GetText(size_t i) const;
  Result<Bytes> GetBlob(size_t i) const;

  // As above, but NULL yields std::nullopt instead of an error.
  Result<std::optional<int64_t>> GetOptionalInt(size_t i) const;
  Result<std::optional<std::string>> GetOptionalText(size_t i) const;
  Result<std::optional<Bytes>> GetOptionalBlob(size_t i) const;

  // The raw cell. kOutOfRange when i >= size().
  Result<Value> GetValue(size_t i) const;

  // The column's name as the backend reported it ("" when unknown or out of range).
  std::string_view ColumnName(size_t i) const;

  const std::vector<Value>& values() const { return values_; }

 private:
  Status CheckIndex(size_t i) const;
  Status WrongKind(size_t i, std::string_view wanted) const;

  std::shared_ptr<const std::vector<std::string>> names_;
  std::vector<Value> values_;
};

}  // namespace chukan::store

#endif  // CHUKAN_STORE_VALUE_H_
