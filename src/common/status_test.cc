#include "common/status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"

namespace chukan {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  RETURN_IF_ERROR(Half(x));
  return Status();
}

TEST(StatusTest, OkHasNoMessage) {
  Status s(StatusCode::kOk, "ignored");
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, WithContextPrependsAndKeepsCode) {
  Status s = NotFoundError("no such row").WithContext("tenant t1").WithContext("import");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "import: tenant t1: no such row");
  EXPECT_EQ(s.ToString(), "NOT_FOUND: import: tenant t1: no such row");
}

TEST(StatusTest, AssignOrReturnPropagatesFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_THAT(Quarter(6), StatusIs(StatusCode::kInvalidArgument, HasSubstr("odd: 3")));
  EXPECT_THAT(Quarter(5), StatusIs(StatusCode::kInvalidArgument, HasSubstr("odd: 5")));
}

TEST(StatusTest, ReturnIfErrorReturnsError) {
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_THAT(CheckEven(3), StatusIs(StatusCode::kInvalidArgument));
}

TEST(StatusTest, ResultFromOkStatusBecomesInternal) {
  Result<int> r{Status()};
  EXPECT_THAT(r, StatusIs(StatusCode::kInternal));
}

TEST(StatusTest, CodeNamesMatchGrpc) {
  EXPECT_EQ(StatusCodeName(StatusCode::kPermissionDenied), "PERMISSION_DENIED");
  EXPECT_EQ(StatusCodeName(StatusCode::kUnauthenticated), "UNAUTHENTICATED");
  EXPECT_EQ(static_cast<int>(StatusCode::kUnauthenticated), 16);
}

}  // namespace
}  // namespace chukan
