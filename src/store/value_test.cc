#include "store/value.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"

namespace chukan::store {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

Row MakeRow() {
  auto names =
      std::make_shared<std::vector<std::string>>(std::vector<std::string>{"n", "d", "t", "b", "z"});
  return Row(names,
             {int64_t{42}, 2.5, std::string("text"), ToBytes(std::string("\0a", 2)), nullptr});
}

TEST(RowTest, TypedGettersReturnTheValue) {
  Row r = MakeRow();
  EXPECT_EQ(r.size(), 5u);
  EXPECT_EQ(r.GetInt(0).value(), 42);
  EXPECT_EQ(r.GetDouble(1).value(), 2.5);
  EXPECT_EQ(r.GetDouble(0).value(), 42.0);  // INTEGER widens to DOUBLE
  EXPECT_EQ(r.GetText(2).value(), "text");
  EXPECT_EQ(r.GetBlob(3).value(), (Bytes{0x00, 'a'}));
  EXPECT_TRUE(r.IsNull(4));
  EXPECT_FALSE(r.IsNull(0));
  EXPECT_FALSE(r.IsNull(99));
  EXPECT_EQ(r.GetOptionalInt(4).value(), std::nullopt);
  EXPECT_EQ(r.GetOptionalInt(0).value(), std::optional<int64_t>(42));
}

TEST(RowTest, WrongKindNamesTheColumn) {
  Row r = MakeRow();
  EXPECT_THAT(r.GetInt(2), StatusIs(StatusCode::kInternal,
                                    HasSubstr("column 2 (t): expected INTEGER, found TEXT")));
  EXPECT_THAT(r.GetText(4), StatusIs(StatusCode::kInternal, HasSubstr("found NULL")));
  EXPECT_THAT(r.GetBlob(2), StatusIs(StatusCode::kInternal, HasSubstr("expected BLOB")));
  EXPECT_THAT(r.GetOptionalText(0), StatusIs(StatusCode::kInternal));
}

TEST(RowTest, IndexOutOfRange) {
  Row r = MakeRow();
  EXPECT_THAT(r.GetInt(5), StatusIs(StatusCode::kOutOfRange, HasSubstr("index 5")));
  EXPECT_THAT(r.GetValue(7), StatusIs(StatusCode::kOutOfRange));
  EXPECT_EQ(r.ColumnName(7), "");
}

}  // namespace
}  // namespace chukan::store
