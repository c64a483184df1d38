#include "server/linkage_sender.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"
#include "store/store_test_util.h"

namespace chukan::server {
namespace {

using ::chukan::testing::StatusIs;
using std::chrono::seconds;
using ::testing::ElementsAre;

const OrgCode kCityA = OrgCode::Parse("0000000000000131").value();
const OrgCode kCityB = OrgCode::Parse("0000000000000132").value();

// The sender's own part: its sources (the tenants) and its writes (each tenant's committer).
// Sending itself needs a hub (LinkageService::Deliver): the linkage process tests cover it.
class LinkageSenderTest : public store::testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ServerConfig c;
    c.store = Options();
    c.keys_dir = dir().File("keys");
    ASSERT_OK_AND_ASSIGN(platform_, Platform::Open(c, true, clock_));
    ASSERT_OK(platform_->CreateTenant(kCityA, "A", "cli:test"));
    ASSERT_OK(platform_->CreateTenant(kCityB, "B", "cli:test"));
    linkage_ = std::make_unique<LinkageService>(*platform_, nullptr, nullptr,
                                                LinkageService::Options{}, clock_);
    ASSERT_OK_AND_ASSIGN(sender_,
                         LinkageSender::Create(*platform_, *linkage_, 1, "srv", 64, 2, clock_));
  }
  void TearDown() override {
    sender_.reset();
    linkage_.reset();
    platform_.reset();
    StoreTest::TearDown();
  }

  // Queues an item of a topic the pump does not deliver (nothing is sent: there is no hub
  // here), written through the sender's Submit, i.e. the tenant's committer.
  Status Park(const std::string& key) {
    const store::Outbox& outbox = linkage_->outbox();
    return sender_
        ->Submit(TenantId::ForOrg(kCityA).str(),
                 [&outbox, key, this](store::Transaction& tx) {
                   return outbox.Enqueue(tx, "parked", key, store::ToBytes("x"), clock_.Now());
                 })
        .get();
  }

  FakeClock clock_;
  std::unique_ptr<Platform> platform_;
  std::unique_ptr<LinkageService> linkage_;
  std::unique_ptr<LinkageSender> sender_;
};

TEST_P(LinkageSenderTest, ItsSourcesAreTheOpenTenantsAndADeletedOneLeavesAtOnce) {
  const std::string a = TenantId::ForOrg(kCityA).str();
  const std::string b = TenantId::ForOrg(kCityB).str();
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> sources, sender_->Sources());
  EXPECT_THAT(sources, ElementsAre(a, b));
  ASSERT_OK(platform_->DeleteTenant(kCityB, "cli:test"));
  // Within the 2 s the tenant list is kept: each tenant is checked against the registry anyway.
  ASSERT_OK_AND_ASSIGN(sources, sender_->Sources());
  EXPECT_THAT(sources, ElementsAre(a));
  EXPECT_THAT(sender_->Submit(b, [](store::Transaction&) { return Status(); }).get(),
              StatusIs(StatusCode::kNotFound));
}

// The pump's writes (claims, renewals, acknowledgements) are its bookkeeping: the tenant's
// committer commits them lazily (docs/storage.md, "Lazy commits"), and they are committed.
TEST_P(LinkageSenderTest, ThePumpsWritesAreCommittedLazilyInTheTenantsCommitter) {
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> ctx,
                       platform_->Tenant(TenantId::ForOrg(kCityA)));
  const store::GroupCommitter::Stats before = ctx->commit_stats();
  ASSERT_OK(Park("k1"));
  const store::GroupCommitter::Stats after = ctx->commit_stats();
  EXPECT_EQ(after.batches - before.batches, 1);
  EXPECT_EQ(after.lazy - before.lazy, 1);
  ASSERT_OK_AND_ASSIGN(auto held, linkage_->outbox().Claim(*ctx->db, "srv:other", 10, seconds(60)));
  EXPECT_EQ(held.size(), 1u);
}

TEST_P(LinkageSenderTest, StartReleasesThePreviousRunsLeasesInEachTenant) {
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> ctx,
                       platform_->Tenant(TenantId::ForOrg(kCityA)));
  ASSERT_OK(Park("k1"));
  ASSERT_OK_AND_ASSIGN(auto held,
                       linkage_->outbox().Claim(*ctx->db, "srv:before", 10, seconds(60)));
  ASSERT_EQ(held.size(), 1u);
  ASSERT_OK(sender_->Start());
  sender_->Stop();
  ASSERT_OK_AND_ASSIGN(store::OutboxItem item, linkage_->outbox().Get(*ctx->db, held[0].id));
  EXPECT_EQ(item.state, store::OutboxState::kPending);  // claimable at once again
  EXPECT_EQ(item.attempts, 1);
  EXPECT_EQ(item.not_before, clock_.Now());
}

INSTANTIATE_TEST_SUITE_P(Backends, LinkageSenderTest,
                         ::testing::Values(store::Backend::kSqlite, store::Backend::kPostgres));

}  // namespace
}  // namespace chukan::server
