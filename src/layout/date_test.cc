#include "layout/date.h"

#include <gtest/gtest.h>

namespace chukan::layout {
namespace {

TEST(DateTest, ParsesRealDates) {
  auto d = Date::Parse("2024-02-29");
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->year, 2024);
  EXPECT_EQ(d->month, 2);
  EXPECT_EQ(d->day, 29);
  EXPECT_EQ(d->ToString(), "2024-02-29");
  EXPECT_TRUE(Date::Parse("2000-02-29").has_value());  // divisible by 400
  EXPECT_TRUE(Date::Parse("0001-01-01").has_value());
  EXPECT_TRUE(Date::Parse("9999-12-31").has_value());
  EXPECT_TRUE(Date::Parse("2025-12-31").has_value());
}

TEST(DateTest, RejectsImpossibleDates) {
  EXPECT_FALSE(Date::Parse("2026-02-29").has_value());
  EXPECT_FALSE(Date::Parse("1900-02-29").has_value());  // divisible by 100, not 400
  EXPECT_FALSE(Date::Parse("2025-04-31").has_value());
  EXPECT_FALSE(Date::Parse("2025-13-01").has_value());
  EXPECT_FALSE(Date::Parse("2025-00-10").has_value());
  EXPECT_FALSE(Date::Parse("2025-01-00").has_value());
  EXPECT_FALSE(Date::Parse("0000-01-01").has_value());
}

TEST(DateTest, RejectsOtherSpellings) {
  for (const char* s : {"2025-1-01", "2025/01/01", "20250101", "2025-01-01 ", " 2025-01-01",
                        "2025-01-0a", "+025-01-01", "", "2025-01-011"}) {
    EXPECT_FALSE(Date::Parse(s).has_value()) << s;
  }
}

TEST(DateTest, OrdersChronologically) {
  EXPECT_LT(*Date::Parse("2024-12-31"), *Date::Parse("2025-01-01"));
  EXPECT_LT(*Date::Parse("2025-01-31"), *Date::Parse("2025-02-01"));
  EXPECT_EQ(*Date::Parse("2025-03-04"), (Date{2025, 3, 4}));
}

TEST(DateTest, DaysInMonth) {
  EXPECT_EQ(DaysInMonth(2024, 2), 29);
  EXPECT_EQ(DaysInMonth(2025, 2), 28);
  EXPECT_EQ(DaysInMonth(2025, 11), 30);
  EXPECT_EQ(DaysInMonth(2025, 13), 0);
}

}  // namespace
}  // namespace chukan::layout
