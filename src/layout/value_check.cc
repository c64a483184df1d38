#include "layout/value_check.h"

#include "common/utf8.h"

namespace chukan::layout {

std::string_view ValueErrorName(ValueError e) {
  switch (e) {
    case ValueError::kOk:
      return "ok";
    case ValueError::kRequired:
      return "required";
    case ValueError::kInvalidUtf8:
      return "invalid_utf8";
    case ValueError::kControlCharacter:
      return "control_character";
    case ValueError::kTooLong:
      return "too_long";
    case ValueError::kNotANumber:
      return "not_a_number";
    case ValueError::kNotADate:
      return "not_a_date";
    case ValueError::kUnknownCode:
      return "unknown_code";
    case ValueError::kNotInDataSet:
      return "not_in_data_set";
    case ValueError::kFieldCount:
      return "field_count";
  }
  return "unknown";
}

namespace {

// Counts code points of valid UTF-8 text without control characters. Returns the error, and the
// count in *chars (possibly partial on error). Stops early once the count exceeds `max`.
ValueError CheckText(std::string_view s, size_t max, size_t* chars) noexcept {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7F) return ValueError::kControlCharacter;
      ++i;
    } else {
      const size_t len = Utf8SequenceLength(s, i);
      if (len == 0) return ValueError::kInvalidUtf8;
      i += len;
    }
    if (++n > max) {
      *chars = n;
      return ValueError::kTooLong;
    }
  }
  *chars = n;
  return ValueError::kOk;
}

ValueError CheckNumber(std::string_view s, size_t max, bool allow_sign) noexcept {
  if (allow_sign && !s.empty() && s[0] == '-') s.remove_prefix(1);
  if (s.empty()) return ValueError::kNotANumber;
  for (char c : s) {
    if (c < '0' || c > '9') return ValueError::kNotANumber;
  }
  return s.size() > max ? ValueError::kTooLong : ValueError::kOk;
}

size_t CountChars(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) {
    const size_t len = Utf8SequenceLength(s, i);
    i += len == 0 ? 1 : len;
  }
  return n;
}

}  // namespace

ValueError CheckValueFormat(const Item& item, std::string_view value) noexcept {
  if (value.empty()) return ValueError::kOk;
  switch (item.type()) {
    case ValueType::kText: {
      size_t chars = 0;
      return CheckText(value, item.max_length(), &chars);
    }
    case ValueType::kNumber:
      return CheckNumber(value, item.max_length(), item.allow_sign());
    case ValueType::kDate:
      return Date::Parse(value) ? ValueError::kOk : ValueError::kNotADate;
    case ValueType::kCode:
      return item.code_list()->Contains(value) ? ValueError::kOk : ValueError::kUnknownCode;
  }
  return ValueError::kOk;
}

ValueError CheckValue(const Item& item, std::string_view value) noexcept {
  if (value.empty()) return item.required() ? ValueError::kRequired : ValueError::kOk;
  return CheckValueFormat(item, value);
}

std::string DescribeValueError(const Item& item, ValueError error, std::string_view value) {
  std::string msg = "item " + item.code() + " \"" + item.name() + "\": ";
  switch (error) {
    case ValueError::kOk:
      msg += "valid";
      break;
    case ValueError::kRequired:
      msg += "a value is required";
      break;
    case ValueError::kInvalidUtf8:
      msg += "not valid UTF-8";
      break;
    case ValueError::kControlCharacter:
      msg += "contains a control character";
      break;
    case ValueError::kTooLong:
      if (item.type() == ValueType::kNumber) {
        const size_t digits = value.size() - (!value.empty() && value[0] == '-' ? 1 : 0);
        msg += std::to_string(digits) + " digits, at most " + std::to_string(item.max_length()) +
               " allowed";
      } else {
        msg += std::to_string(CountChars(value)) + " characters, at most " +
               std::to_string(item.max_length()) + " allowed";
      }
      break;
    case ValueError::kNotANumber:
      msg += item.allow_sign() ? "not a number (digits, optionally preceded by '-')"
                               : "not a number (digits only)";
      break;
    case ValueError::kNotADate:
      msg += "not a real calendar date (expected YYYY-MM-DD)";
      break;
    case ValueError::kUnknownCode:
      // Not even a short code is quoted: what stands in a code column may be any text.
      msg += "not in code list " + item.code_list()->id() + " (" + item.code_list()->name() + ")";
      break;
    case ValueError::kNotInDataSet:
      msg += "belongs to data set " + item.data_set() +
             " and must be empty in a record of another data set";
      break;
    case ValueError::kFieldCount:
      msg += "wrong number of fields in the record";
      break;
  }
  return msg;
}

Status ValidateValue(const Item& item, std::string_view value) {
  const ValueError e = CheckValue(item, value);
  if (e == ValueError::kOk) return Status();
  return InvalidArgumentError(DescribeValueError(item, e, value));
}

bool IsValidAtenaNo(std::string_view s) noexcept {
  if (s.size() != 15) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

size_t CheckRecord(const LayoutVersion& version, std::span<const std::string_view> values,
                   std::vector<FieldProblem>& problems) {
  problems.clear();
  const auto items = version.items();
  if (values.size() != items.size()) {
    problems.push_back({values.size(), ValueError::kFieldCount});
    return problems.size();
  }
  std::string_view data_set;
  bool data_set_known = true;
  if (const auto ds = version.data_set_item_index()) {
    const ValueError e = CheckValue(*items[*ds], values[*ds]);
    data_set_known = e == ValueError::kOk;
    data_set = values[*ds];
  }
  for (size_t i = 0; i < items.size(); ++i) {
    const Item& item = *items[i];
    const std::string_view v = values[i];
    ValueError e;
    if (item.data_set().empty() || (data_set_known && item.data_set() == data_set)) {
      e = CheckValue(item, v);
    } else if (data_set_known) {
      e = v.empty() ? ValueError::kOk : ValueError::kNotInDataSet;
    } else {
      e = CheckValueFormat(item, v);
    }
    if (e != ValueError::kOk) problems.push_back({i, e});
  }
  return problems.size();
}

}  // namespace chukan::layout
