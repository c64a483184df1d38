#include "server/tenant_context.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <thread>

#include "common/status_matchers.h"
#include "crypto/ed25519.h"
#include "crypto/secret_bytes.h"
#include "store/store_test_util.h"

namespace chukan::server {
namespace {

const OrgCode kContextTestCity = OrgCode::Parse("0000000000000141").value();

class TenantContextTest : public store::testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    db_ = NewDatabase();
    ASSERT_NE(db_, nullptr);
  }
  Result<std::shared_ptr<TenantContext>> OpenContext() {
    TenantContext::Parts parts{.id = TenantId::ForOrg(kContextTestCity)};
    parts.db = db_;
    parts.data_key = crypto::SecretBytes::Random(32);
    parts.checkpoint_key = &checkpoint_key_;
    return TenantContext::Open(std::move(parts));
  }
  // Whether every part of the context that held the database (its committer, audit log,
  // replica store) has let go of it: how the tests see that a context was destroyed.
  bool OnlyTheStoreHoldsTheDatabase(long held_before) const {
    return db_.use_count() == held_before;
  }
  const crypto::SigningKey checkpoint_key_ = crypto::SigningKey::Generate();
  std::shared_ptr<store::Database> db_;
};

// The last reference to a context may go on its own committer's thread: here a completion owns
// it while everything else lets go (as when a tenant is evicted with a write in flight). The
// context is then destroyed on a thread of its own. Before, its destructor stopped the
// committer from the committer's thread, which joined itself: std::terminate.
TEST_P(TenantContextTest, ALastReferenceDroppedOnItsCommitThreadDoesNotStopTheProcess) {
  const long held_before = db_.use_count();
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> ctx, OpenContext());
  ASSERT_GT(db_.use_count(), held_before);
  const std::thread::id test_thread = std::this_thread::get_id();
  std::promise<std::thread::id> done_ran;
  std::future<std::thread::id> done_seen = done_ran.get_future();
  std::weak_ptr<TenantContext> watch = ctx;
  {
    store::testing::HeldCommitter held(*ctx);  // the completion below runs after we let go
    ctx->SubmitAsync([](store::Transaction&) { return Status(); },
                     [keep = ctx, &done_ran](Status s) {
                       EXPECT_OK(s);
                       done_ran.set_value(std::this_thread::get_id());
                     });
    ctx.reset();
    EXPECT_FALSE(watch.expired());  // the completion owns the last reference
  }
  ASSERT_EQ(done_seen.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_NE(done_seen.get(), test_thread);
  // Destroyed soon after, on a thread of its own: everything that held the database let go.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!OnlyTheStoreHoldsTheDatabase(held_before) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(db_.use_count(), held_before);
}

// Dropped anywhere else, a context is destroyed at once, on the dropping thread.
TEST_P(TenantContextTest, ALastReferenceDroppedElsewhereIsDestroyedAtOnce) {
  const long held_before = db_.use_count();
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> ctx, OpenContext());
  ASSERT_OK(ctx->Submit([](store::Transaction&) { return Status(); }).get());
  ASSERT_GT(db_.use_count(), held_before);
  ctx.reset();
  EXPECT_EQ(db_.use_count(), held_before);
}

// AuditThen goes on once the entry is durable, on the committer's thread; once the tenant is
// closed (deleted, or its server stopping: its database is closed too), nothing is submitted and
// `then` runs at once on the caller's thread, so that the call it holds is still answered.
TEST_P(TenantContextTest, AuditThenOnAClosedTenantGoesOnAtOnce) {
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> ctx, OpenContext());
  auto entries = [&]() -> Result<int64_t> {
    ASSIGN_OR_RETURN(auto tx, db_->BeginRead());
    ASSIGN_OR_RETURN(std::optional<store::Row> row,
                     tx->QueryOne("SELECT COUNT(*) FROM audit_log WHERE action = 'api.GET'"));
    if (!row) return InternalError("no row");
    return row->GetInt(0);
  };
  const audit::AuditEvent event{ctx->id.str(),       "client:tax", "api.GET",
                                "/api/v1/inquiries", "ok",         ""};
  const std::thread::id test_thread = std::this_thread::get_id();
  std::promise<std::thread::id> written;
  std::future<std::thread::id> written_seen = written.get_future();
  ctx->AuditThen(event, [&written] { written.set_value(std::this_thread::get_id()); });
  ASSERT_EQ(written_seen.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_NE(written_seen.get(), test_thread);
  ASSERT_OK_AND_ASSIGN(int64_t written_entries, entries());
  EXPECT_EQ(written_entries, 1);

  ctx->Close();
  std::optional<std::thread::id> went_on;
  ctx->AuditThen(event, [&went_on] { went_on = std::this_thread::get_id(); });
  ASSERT_TRUE(went_on.has_value());  // before AuditThen returned
  EXPECT_EQ(*went_on, test_thread);
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(TenantContextTest);

}  // namespace
}  // namespace chukan::server
