// Validation of replica (副本) values against the data standard layout.
//
// The fast path — CheckValue, CheckRecord, IsValidAtenaNo — never allocates (CheckRecord reuses
// the caller's vector) and uses no regular expressions; messages are built only on failure by
// DescribeValueError. Error messages never echo a value, nor any part of one (replica values are
// personal data): they name the item and the reason, and at most the value's length.
//
// Normalisation policy: none. Values are stored and exported exactly as given — no trimming, no
// width or case folding, no numeric reformatting ("007" stays "007"). Number, date and code values
// with spaces are rejected rather than trimmed; text keeps its spaces. An absent field (JSON
// Lines) and an empty field (CSV) are the same: the empty value. ValuesEqual is the comparison
// reconcile and the round-trip tests use.
//
// Pure functions; thread-safe.
#ifndef CHUKAN_LAYOUT_VALUE_CHECK_H_
#define CHUKAN_LAYOUT_VALUE_CHECK_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "layout/catalogue.h"

namespace chukan::layout {

enum class ValueError : uint8_t {
  kOk = 0,
  kRequired,          // empty, but the item is required
  kInvalidUtf8,       // not valid UTF-8
  kControlCharacter,  // text contains U+0000..U+001F or U+007F
  kTooLong,           // more characters (text) or digits (number) than max_length
  kNotANumber,        // not [-]digits (sign only where allowed)
  kNotADate,          // not YYYY-MM-DD or not a real calendar date
  kUnknownCode,       // not in the item's code list
  kNotInDataSet,      // a value for an item of another data set than the record's
  kFieldCount,        // CheckRecord: the number of values differs from the number of items
};

// Stable machine names for API error bodies: "required", "invalid_utf8", "control_character",
// "too_long", "not_a_number", "not_a_date", "unknown_code", "not_in_data_set", "field_count", "ok".
std::string_view ValueErrorName(ValueError e);

// Checks one value of `item`. Never allocates.
ValueError CheckValue(const Item& item, std::string_view value) noexcept;

// Like CheckValue but without the required check (an empty value is kOk).
ValueError CheckValueFormat(const Item& item, std::string_view value) noexcept;

// English message naming the item code, its Japanese name and the reason, e.g.
//   item IT00000200000002 "賦課期日": not a real calendar date (expected YYYY-MM-DD)
// `value` is used only to state its length (kTooLong); no part of it is echoed.
std::string DescribeValueError(const Item& item, ValueError error, std::string_view value);

// CheckValue as a Status: OK, or kInvalidArgument with DescribeValueError's message.
Status ValidateValue(const Item& item, std::string_view value);

// 団体内統合宛名番号: exactly 15 ASCII digits. Never allocates.
bool IsValidAtenaNo(std::string_view s) noexcept;

// One problem found by CheckRecord: the column position (into version.items()) and the error.
// For kFieldCount, index is the number of values given.
struct FieldProblem {
  size_t index;
  ValueError error;
};

// Checks a record's values, given in version.items() order (atena_no not included). Clears
// `problems` and appends one entry per bad field, in column order; returns problems.size().
// Data sets: when the version has a data-set item, items of other data sets must be empty and
// their `required` does not apply; if the data-set value itself is bad (reported), items of any
// data set are only format-checked. Allocates only if `problems` must grow.
size_t CheckRecord(const LayoutVersion& version, std::span<const std::string_view> values,
                   std::vector<FieldProblem>& problems);

// Value identity for reconcile and export: byte equality (see the policy above).
inline bool ValuesEqual(const Item&, std::string_view a, std::string_view b) { return a == b; }

}  // namespace chukan::layout

#endif  // CHUKAN_LAYOUT_VALUE_CHECK_H_
