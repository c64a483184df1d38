#include "store/placeholders.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"

namespace chukan::store {
namespace {

using ::chukan::testing::StatusIs;

TEST(RewritePlaceholdersTest, NumbersPlaceholdersInOrder) {
  auto r = RewritePlaceholders("SELECT a FROM t WHERE b = ? AND c IN (?, ?)");
  ASSERT_OK(r);
  EXPECT_EQ(r->sql, "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)");
  EXPECT_EQ(r->parameters, 3);
}

TEST(RewritePlaceholdersTest, LeavesLiteralsIdentifiersAndCommentsAlone) {
  auto r =
      RewritePlaceholders("SELECT '?', 'it''s ?', \"col?\" -- what?\n FROM t /* ? */ WHERE x = ?");
  ASSERT_OK(r);
  EXPECT_EQ(r->sql, "SELECT '?', 'it''s ?', \"col?\" -- what?\n FROM t /* ? */ WHERE x = $1");
  EXPECT_EQ(r->parameters, 1);
}

TEST(RewritePlaceholdersTest, NoPlaceholders) {
  auto r = RewritePlaceholders("SELECT 1");
  ASSERT_OK(r);
  EXPECT_EQ(r->sql, "SELECT 1");
  EXPECT_EQ(r->parameters, 0);
}

TEST(RewritePlaceholdersTest, RejectsUnterminatedAndMixedStyles) {
  EXPECT_THAT(RewritePlaceholders("SELECT 'abc"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(RewritePlaceholders("SELECT \"abc"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(RewritePlaceholders("SELECT 1 /* x"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(RewritePlaceholders("SELECT $1, ?"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(HasMultipleStatementsTest, DetectsASecondStatement) {
  EXPECT_FALSE(HasMultipleStatements("SELECT 1"));
  EXPECT_FALSE(HasMultipleStatements("SELECT 1;  \n"));
  EXPECT_FALSE(HasMultipleStatements("SELECT ';' FROM t"));
  EXPECT_TRUE(HasMultipleStatements("SELECT 1; SELECT 2"));
}

}  // namespace
}  // namespace chukan::store
