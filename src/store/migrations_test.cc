#include "store/migrations.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store/store_test_util.h"

namespace chukan::store {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

std::vector<Migration> Widgets() {
  return {
      {1, "create widgets", "CREATE TABLE widgets (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
       "CREATE TABLE widgets (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL);"},
      {2, "add colour",
       "ALTER TABLE widgets ADD COLUMN colour TEXT; CREATE INDEX widgets_colour ON widgets "
       "(colour);",
       "ALTER TABLE widgets ADD COLUMN colour TEXT; CREATE INDEX widgets_colour ON widgets "
       "(colour);"},
  };
}

class MigrationsTest : public testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    db_ = NewDatabase();
    ASSERT_NE(db_, nullptr);
  }
  std::shared_ptr<Database> db_;
  FakeClock clock_;
};

TEST_P(MigrationsTest, AppliesInOrderAndRecordsThem) {
  ASSERT_OK(ApplyMigrations(*db_, "widgets", Widgets(), clock_));
  ASSERT_OK_AND_ASSIGN(auto applied, ListAppliedMigrations(*db_, "widgets"));
  ASSERT_EQ(applied.size(), 2u);
  EXPECT_EQ(applied[0].version, 1);
  EXPECT_EQ(applied[0].name, "create widgets");
  EXPECT_EQ(applied[0].checksum, MigrationChecksum(Widgets()[0], GetParam()));
  EXPECT_EQ(applied[0].checksum.size(), 64u);
  EXPECT_EQ(applied[1].version, 2);
  EXPECT_EQ(applied[1].applied_at_us, ToUnixMicros(clock_.Now()));
  // The schema works: column from migration 2 exists.
  ASSERT_OK_AND_ASSIGN(auto txn, db_->Begin());
  ASSERT_OK(txn->Exec("INSERT INTO widgets (name, colour) VALUES (?, ?)", {"w", "red"}));
  ASSERT_OK(txn->Commit());
}

TEST_P(MigrationsTest, ReapplyingIsANoOp) {
  ASSERT_OK(ApplyMigrations(*db_, "widgets", Widgets(), clock_));
  clock_.Advance(std::chrono::hours(1));
  ASSERT_OK(ApplyMigrations(*db_, "widgets", Widgets(), clock_));
  ASSERT_OK_AND_ASSIGN(auto applied, ListAppliedMigrations(*db_, "widgets"));
  ASSERT_EQ(applied.size(), 2u);
  EXPECT_EQ(applied[1].applied_at_us, ToUnixMicros(clock_.Now() - std::chrono::hours(1)));
}

TEST_P(MigrationsTest, AppliesOnlyTheMissingOnes) {
  auto first = Widgets();
  first.pop_back();
  ASSERT_OK(ApplyMigrations(*db_, "widgets", first, clock_));
  ASSERT_OK_AND_ASSIGN(auto applied, ListAppliedMigrations(*db_, "widgets"));
  EXPECT_EQ(applied.size(), 1u);
  ASSERT_OK(ApplyMigrations(*db_, "widgets", Widgets(), clock_));
  ASSERT_OK_AND_ASSIGN(applied, ListAppliedMigrations(*db_, "widgets"));
  EXPECT_EQ(applied.size(), 2u);
}

TEST_P(MigrationsTest, ChangedChecksumIsRefused) {
  ASSERT_OK(ApplyMigrations(*db_, "widgets", Widgets(), clock_));
  auto changed = Widgets();
  changed[0].sqlite_sql += " ";
  changed[0].postgres_sql += " ";
  EXPECT_THAT(
      ApplyMigrations(*db_, "widgets", changed, clock_),
      StatusIs(StatusCode::kFailedPrecondition,
               HasSubstr("component widgets version 1 (create widgets): checksum changed")));
}

TEST_P(MigrationsTest, NewerDatabaseIsRefused) {
  ASSERT_OK(ApplyMigrations(*db_, "widgets", Widgets(), clock_));
  auto older = Widgets();
  older.pop_back();
  EXPECT_THAT(ApplyMigrations(*db_, "widgets", older, clock_),
              StatusIs(StatusCode::kFailedPrecondition,
                       HasSubstr("database is newer than the code: component widgets has "
                                 "version 2")));
}

TEST_P(MigrationsTest, ComponentsAreIndependent) {
  ASSERT_OK(ApplyMigrations(*db_, "widgets", Widgets(), clock_));
  std::vector<Migration> other = {{1, "create gadgets", "CREATE TABLE gadgets (id INTEGER);",
                                   "CREATE TABLE gadgets (id INTEGER);"}};
  ASSERT_OK(ApplyMigrations(*db_, "gadgets", other, clock_));
  ASSERT_OK_AND_ASSIGN(auto all, ListAppliedMigrations(*db_));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].component, "gadgets");
}

TEST_P(MigrationsTest, FailingMigrationIsRolledBackAndNamed) {
  auto bad = Widgets();
  bad[1].sqlite_sql = "ALTER TABLE widgets ADD COLUMN colour TEXT; THIS IS NOT SQL;";
  bad[1].postgres_sql = bad[1].sqlite_sql;
  EXPECT_THAT(ApplyMigrations(*db_, "widgets", bad, clock_),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("component widgets version 2 (add colour)")));
  ASSERT_OK_AND_ASSIGN(auto applied, ListAppliedMigrations(*db_, "widgets"));
  EXPECT_EQ(applied.size(), 1u);
  // The half-run migration left nothing behind: the correct one applies cleanly.
  ASSERT_OK(ApplyMigrations(*db_, "widgets", Widgets(), clock_));
}

TEST_P(MigrationsTest, BadVersionsAreInvalidArgument) {
  auto bad = Widgets();
  bad[1].version = 1;
  EXPECT_THAT(ApplyMigrations(*db_, "widgets", bad, clock_),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ApplyMigrations(*db_, "", Widgets(), clock_), StatusIs(StatusCode::kInvalidArgument));
}

TEST_P(MigrationsTest, ListOnAFreshDatabaseIsEmpty) {
  ASSERT_OK_AND_ASSIGN(auto applied, ListAppliedMigrations(*db_));
  EXPECT_TRUE(applied.empty());
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(MigrationsTest);

}  // namespace
}  // namespace chukan::store
