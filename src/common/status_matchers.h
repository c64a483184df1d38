// GoogleMock matchers for Status and Result<T>, for tests only:
//   EXPECT_THAT(f(), StatusIs(StatusCode::kNotFound));
//   EXPECT_THAT(f(), StatusIs(StatusCode::kInvalidArgument, HasSubstr("line 7")));
//   ASSERT_OK(f());   ASSERT_OK_AND_ASSIGN(auto v, g());
#ifndef CHUKAN_COMMON_STATUS_MATCHERS_H_
#define CHUKAN_COMMON_STATUS_MATCHERS_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status.h"

namespace chukan::testing {

inline const Status& GetStatus(const Status& s) { return s; }
template <typename T>
Status GetStatus(const Result<T>& r) {
  return r.status();
}

MATCHER_P(StatusIs, code, "has status code " + std::string(::chukan::StatusCodeName(code))) {
  const ::chukan::Status s = ::chukan::testing::GetStatus(arg);
  *result_listener << "whose status is " << s.ToString();
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has status code " + std::string(::chukan::StatusCodeName(code))) {
  const ::chukan::Status s = ::chukan::testing::GetStatus(arg);
  *result_listener << "whose status is " << s.ToString();
  return s.code() == code &&
         ::testing::ExplainMatchResult(message_matcher, s.message(), result_listener);
}

MATCHER(IsOk, "is OK") {
  const ::chukan::Status s = ::chukan::testing::GetStatus(arg);
  *result_listener << "whose status is " << s.ToString();
  return s.ok();
}

}  // namespace chukan::testing

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::chukan::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::chukan::testing::IsOk())
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  CHUKAN_ASSERT_OK_AND_ASSIGN_IMPL_(CHUKAN_CONCAT_(chukan_test_result_, __LINE__), lhs, rexpr)
#define CHUKAN_ASSERT_OK_AND_ASSIGN_IMPL_(r, lhs, rexpr) \
  auto r = (rexpr);                                      \
  ASSERT_THAT(r, ::chukan::testing::IsOk());             \
  lhs = std::move(r).value()

#endif  // CHUKAN_COMMON_STATUS_MATCHERS_H_
