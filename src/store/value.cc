#include "store/value.h"

#include <cmath>

namespace chukan::store {

Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::string_view ValueKindName(const Value& v) {
  switch (v.index()) {
    case 0:
      return "NULL";
    case 1:
      return "INTEGER";
    case 2:
      return "DOUBLE";
    case 3:
      return "TEXT";
    default:
      return "BLOB";
  }
}

Row::Row(std::shared_ptr<const std::vector<std::string>> column_names, std::vector<Value> values)
    : names_(std::move(column_names)), values_(std::move(values)) {}

bool Row::IsNull(size_t i) const {
  return i < values_.size() && std::holds_alternative<std::nullptr_t>(values_[i]);
}

std::string_view Row::ColumnName(size_t i) const {
  if (!names_ || i >= names_->size()) return {};
  return (*names_)[i];
}

Status Row::CheckIndex(size_t i) const {
  if (i < values_.size()) return Status();
  return OutOfRangeError("column index " + std::to_string(i) + " out of range: the row has " +
                         std::to_string(values_.size()) + " columns");
}

Status Row::WrongKind(size_t i, std::string_view wanted) const {
  return InternalError("column " + std::to_string(i) + " (" + std::string(ColumnName(i)) +
                       "): expected " + std::string(wanted) + ", found " +
                       std::string(ValueKindName(values_[i])));
}

Result<Value> Row::GetValue(size_t i) const {
  RETURN_IF_ERROR(CheckIndex(i));
  return values_[i];
}

Result<int64_t> Row::GetInt(size_t i) const {
  RETURN_IF_ERROR(CheckIndex(i));
  if (const auto* v = std::get_if<int64_t>(&values_[i])) return *v;
  return WrongKind(i, "INTEGER");
}

Result<double> Row::GetDouble(size_t i) const {
  RETURN_IF_ERROR(CheckIndex(i));
  if (const auto* v = std::get_if<double>(&values_[i])) return *v;
  if (const auto* v = std::get_if<int64_t>(&values_[i])) return static_cast<double>(*v);
  return WrongKind(i, "DOUBLE");
}

Result<std::string> Row::GetText(size_t i) const {
  RETURN_IF_ERROR(CheckIndex(i));
  if (const auto* v = std::get_if<std::string>(&values_[i])) return *v;
  return WrongKind(i, "TEXT");
}

Result<Bytes> Row::GetBlob(size_t i) const {
  RETURN_IF_ERROR(CheckIndex(i));
  if (const auto* v = std::get_if<Bytes>(&values_[i])) return *v;
  return WrongKind(i, "BLOB");
}

Result<std::optional<int64_t>> Row::GetOptionalInt(size_t i) const {
  RETURN_IF_ERROR(CheckIndex(i));
  if (IsNull(i)) return std::optional<int64_t>();
  ASSIGN_OR_RETURN(int64_t v, GetInt(i));
  return std::optional<int64_t>(v);
}

Result<std::optional<std::string>> Row::GetOptionalText(size_t i) const {
  RETURN_IF_ERROR(CheckIndex(i));
  if (IsNull(i)) return std::optional<std::string>();
  ASSIGN_OR_RETURN(std::string v, GetText(i));
  return std::optional<std::string>(std::move(v));
}

Result<std::optional<Bytes>> Row::GetOptionalBlob(size_t i) const {
  RETURN_IF_ERROR(CheckIndex(i));
  if (IsNull(i)) return std::optional<Bytes>();
  ASSIGN_OR_RETURN(Bytes v, GetBlob(i));
  return std::optional<Bytes>(std::move(v));
}

}  // namespace chukan::store
