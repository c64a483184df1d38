// The tenant's linkage writes are submitted as safe to run twice (GroupCommitter::Rerun::kSafe):
// on PostgreSQL a batch of them is tried at once and, when one of them fails, run again
// carefully (a savepoint per write). What the server's writes leave must then be what one run
// leaves: one row, one outbox item and one audit entry per write that succeeded, nothing of the
// write that failed, and the chain of the audit log intact.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "common/status_matchers.h"
#include "server/linkage_env.h"
#include "server/linkage_service.h"
#include "server/linkage_test_util.h"

namespace chukan::server {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;
using namespace ::chukan::server::testing;  // NOLINT: the fixture's names

class LinkageRerunTest : public LinkageTestBase {
 protected:
  // One number `sql` reads from tenant A's database.
  int64_t Count(const std::string& sql, std::vector<store::Value> params = {}) {
    auto st = platform_->Tenant(A());
    EXPECT_OK(st);
    if (!st.ok()) return -1;
    auto tx = (*st)->db->BeginRead();
    EXPECT_OK(tx);
    if (!tx.ok()) return -1;
    auto row = (*tx)->QueryOne(sql, params);
    EXPECT_OK(row);
    return row.ok() && *row ? (*row)->GetInt(0).value_or(-1) : -1;
  }
};

// One batch of tenant A's committer: an audit append (counted), three inquiries created by the
// server (inquiry row, permit request in the outbox, audit entry: one write each), a write that
// appends to the audit log and then fails, and a fourth inquiry whose idempotency key the second
// one took in the same batch (its INSERT fails on the unique key). All are marked kSafe, so on
// PostgreSQL the batch is tried at once, fails, and runs again carefully.
TEST_P(LinkageRerunTest, ASafeBatchRunAgainLeavesEachLinkageWriteOnce) {
  using Rerun = store::GroupCommitter::Rerun;
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> st, platform_->Tenant(A()));
  const int64_t audit_before = Count("SELECT COUNT(*) FROM audit_log");
  std::atomic<int> counted_runs{0};
  std::atomic<int> failing_runs{0};
  std::future<Status> counted;
  std::future<Status> failing;
  std::vector<LinkageService::PendingInquiry> pending;
  {
    // Holds the committer until the whole batch is queued behind it.
    store::testing::HeldCommitter held(*st);
    counted = st->Submit(
        [&](store::Transaction& tx) -> Status {
          ++counted_runs;
          return st->audit->Append(tx, {A().str(), "test", "test.counted", "x", "ok", ""}).status();
        },
        Rerun::kSafe);
    for (const char* key : {"k-1", "k-2", "k-3"}) {
      ASSERT_OK_AND_ASSIGN(LinkageService::PendingInquiry p,
                           linkage_->StartCreateInquiry(A(), TaxInquiry(key)));
      pending.push_back(std::move(p));
    }
    failing = st->Submit(
        [&](store::Transaction& tx) -> Status {
          ++failing_runs;
          RETURN_IF_ERROR(
              st->audit->Append(tx, {A().str(), "test", "test.failing", "x", "ok", ""}).status());
          return FailedPreconditionError("test: this write fails");
        },
        Rerun::kSafe);
    ASSERT_OK_AND_ASSIGN(LinkageService::PendingInquiry again,
                         linkage_->StartCreateInquiry(A(), TaxInquiry("k-2")));
    pending.push_back(std::move(again));
    EXPECT_OK(held.Release());
  }
  const bool pg = GetParam() == store::Backend::kPostgres;
  EXPECT_OK(counted.get());
  EXPECT_THAT(failing.get(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("test: this write fails")));
  std::vector<InquiryView> views;
  for (auto& p : pending) {
    Result<InquiryView> v = p();
    EXPECT_OK(v.status());
    views.push_back(v.ok() ? *v : InquiryView{});
  }
  ASSERT_EQ(views.size(), 4u);
  // The batch ran twice on PostgreSQL (at once up to the failing write, then carefully), once
  // on SQLite.
  EXPECT_EQ(counted_runs.load(), pg ? 2 : 1);
  EXPECT_EQ(failing_runs.load(), pg ? 2 : 1);
  // The fourth inquiry's INSERT failed on its own (kAlreadyExists): the server answered with
  // the inquiry the key was first used for.
  EXPECT_EQ(views[3].inquiry_id, views[1].inquiry_id);
  EXPECT_NE(views[0].inquiry_id, views[1].inquiry_id);
  EXPECT_NE(views[1].inquiry_id, views[2].inquiry_id);

  EXPECT_EQ(Count("SELECT COUNT(*) FROM inquiries"), 3);
  EXPECT_EQ(
      Count("SELECT COUNT(*) FROM outbox WHERE topic = ?", {std::string(kTopicPermitRequest)}), 3);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM audit_log WHERE action = 'inquiry.create'"), 3);
  for (size_t i = 0; i < 3; ++i) {
    const std::string& id = views[i].inquiry_id;
    EXPECT_EQ(Count("SELECT COUNT(*) FROM inquiries WHERE inquiry_id = ?", {id}), 1) << id;
    EXPECT_EQ(Count("SELECT COUNT(*) FROM outbox WHERE dedupe_key = ?", {id}), 1) << id;
    EXPECT_EQ(Count("SELECT COUNT(*) FROM audit_log WHERE action = 'inquiry.create'"
                    " AND target LIKE ?",
                    {"inquiry " + id + " %"}),
              1)
        << id;
  }
  EXPECT_EQ(Count("SELECT COUNT(*) FROM audit_log WHERE action = 'test.counted'"), 1);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM audit_log WHERE action = 'test.failing'"), 0);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM audit_log") - audit_before, 4);
  // The chain: sequence numbers without a gap, each entry's hash over the one before.
  audit::VerifyOptions vo;
  vo.max_unprotected = 1000;
  ASSERT_OK_AND_ASSIGN(audit::VerifyReport report, audit::Verify(*st->db, vo));
  EXPECT_TRUE(report.ok) << report.problem;
  EXPECT_EQ(report.entries, audit_before + 4);
  EXPECT_EQ(report.last_seq, audit_before + 4);
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(LinkageRerunTest);

}  // namespace
}  // namespace chukan::server
