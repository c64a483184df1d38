#include "store/sql_util.h"

#include <gtest/gtest.h>

namespace chukan::store {
namespace {

TEST(KeyInTest, SqliteKeepsInAndPostgresLooksTheKeysUpByArray) {
  EXPECT_EQ(KeyIn(Backend::kSqlite, "permit_id", "SELECT permit_id FROM t LIMIT ?"),
            "permit_id IN (SELECT permit_id FROM t LIMIT ?)");
  EXPECT_EQ(KeyIn(Backend::kPostgres, "permit_id", "SELECT permit_id FROM t LIMIT ?"),
            "permit_id = ANY(ARRAY(SELECT permit_id FROM t LIMIT ?))");
}

}  // namespace
}  // namespace chukan::store
