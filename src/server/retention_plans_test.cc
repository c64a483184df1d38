// PostgreSQL: the retention sweeps' batched deletes of inquiries and provisions look their keys
// up in the primary key's index, never by a sequential scan of a table that grows to millions
// of rows. Each test fills its table, runs ANALYZE, and EXPLAINs the statement the code really
// sends (store::testing::PlansOfStatementsSent).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"
#include "server/inquiry_table.h"
#include "server/linkage_schema.h"
#include "server/provisions.h"
#include "store/migrations.h"
#include "store/store_test_util.h"

namespace chukan::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr int kRows = 20000;  // every one past retention
constexpr int64_t kBatch = 1000;

class RetentionPlanTest : public store::testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (GetParam() != store::Backend::kPostgres) GTEST_SKIP() << "PostgreSQL's plans";
    db_ = NewDatabase();
    ASSERT_NE(db_, nullptr);
    ASSERT_OK(store::ApplyMigrations(*db_, "linkage", LinkageMigrations()));
  }

  void Fill(const std::string& insert, const std::string& table) {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
    ASSERT_OK(tx->Exec(insert, {int64_t{kRows}}));
    ASSERT_OK(tx->ExecScript("ANALYZE " + table));
    ASSERT_OK(tx->Commit());
  }

  // The one statement `call` sends, planned: a DELETE from `table` by its key `index`.
  void ExpectAnIndexedDelete(const std::function<Status(store::Transaction&)>& call,
                             const std::string& table, const std::string& index) {
    ASSERT_OK_AND_ASSIGN(std::vector<std::string> plans,
                         store::testing::PlansOfStatementsSent(*db_, call));
    ASSERT_EQ(plans.size(), 1u);
    const std::string& plan = plans[0];
    EXPECT_THAT(plan, StartsWith("DELETE FROM " + table + " WHERE")) << plan;
    EXPECT_THAT(plan, Not(HasSubstr("Seq Scan"))) << plan;
    EXPECT_THAT(plan, HasSubstr("Index Scan using " + index + " on " + table)) << plan;
  }

  std::shared_ptr<store::Database> db_;
};

TEST_P(RetentionPlanTest, EndedInquiriesAreDeletedByTheirKeyNotByAScan) {
  Fill(
      "INSERT INTO inquiries (inquiry_id, client, subject_code, procedure_code, tm,"
      " layout_version, provider, query, state, reply_public, created_at_us, ended_at_us,"
      " expires_at_us) SELECT 'inquiry-' || g, 'client', 'subject-' || g, 'JT', 'TM', '0001',"
      " 'provider', 'q', 'answered', '\\x00'::bytea, g, g, g FROM generate_series(1, ?) g",
      "inquiries");
  ExpectAnIndexedDelete(
      [](store::Transaction& tx) { return DeleteEndedInquiries(tx, kRows, kBatch).status(); },
      "inquiries", "inquiries_pkey");
}

TEST_P(RetentionPlanTest, FinalProvisionsAreDeletedByTheirKeyNotByAScan) {
  Fill(
      "INSERT INTO provisions (permit_id, inquirer, procedure_code, tm, layout_version,"
      " subject_code, permit, state, received_at_us) SELECT 'permit-' || g, 'inquirer', 'JT',"
      " 'TM', '0001', 'subject-' || g, 'permit', 'provided', g FROM generate_series(1, ?) g",
      "provisions");
  ExpectAnIndexedDelete(
      [](store::Transaction& tx) { return DeleteFinalProvisions(tx, kRows, kBatch).status(); },
      "provisions", "provisions_pkey");
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(RetentionPlanTest);

}  // namespace
}  // namespace chukan::server
