// A calendar date (proleptic Gregorian, years 1..9999) as the data standard layout uses it:
// layout validity dates and replica values of type `date`, written YYYY-MM-DD.
//
// Value type; thread-compatible. Parsing never allocates.
#ifndef CHUKAN_LAYOUT_DATE_H_
#define CHUKAN_LAYOUT_DATE_H_

#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace chukan::layout {

struct Date {
  int year = 1;   // 1..9999
  int month = 1;  // 1..12
  int day = 1;    // 1..DaysInMonth(year, month)

  // Parses exactly "YYYY-MM-DD" (10 ASCII characters, zero-padded) naming a real calendar day:
  // 2024-02-29 is accepted, 2026-02-29, 2025-04-31, 0000-01-01 and 2025-1-01 are not.
  // Returns nullopt for anything else. Never allocates.
  static std::optional<Date> Parse(std::string_view s) noexcept;

  // The date for year/month/day, or nullopt if it is not a real calendar day.
  static std::optional<Date> FromYmd(int year, int month, int day) noexcept;

  // "YYYY-MM-DD".
  std::string ToString() const;

  friend auto operator<=>(const Date&, const Date&) = default;
};

bool IsLeapYear(int year) noexcept;
// 28..31 for month 1..12; 0 for a month outside 1..12.
int DaysInMonth(int year, int month) noexcept;

}  // namespace chukan::layout

#endif  // CHUKAN_LAYOUT_DATE_H_
