#include "hub/deliverer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>

#include "common/mutex.h"
#include "crypto/sealed_box.h"
#include "http/api_util.h"
#include "hub/hub_test_util.h"
#include "layout/catalogue_loader.h"
#include "store/store_test_util.h"

namespace chukan::hub {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;

using testing::kCityA;
using testing::kCityB;
using testing::kRid;
using testing::Org;

// The hub on a fake clock, with a deliverer whose requests go to `answer` instead of the
// network; the pump runs on the test's thread (RunOnce).
class DelivererTest : public testing::HubTestBase {
 protected:
  void SetUp() override {
    HubTestBase::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    for (const OrgCode& org : {kCityA, kCityB}) {
      ASSERT_OK(testing::AddTestOrg(*hub_, org, "municipality",
                                    "https://node-" + org.str().substr(14) + ".example:8443",
                                    crypto::SigningKey::Generate()));
    }
    ASSERT_OK(testing::LoadSamplePermissionList(*hub_, *catalogue_));
    ASSERT_OK(hub_->IssueCode(kCityB, kRid).status());
    ASSERT_OK_AND_ASSIGN(SubjectCode a, hub_->IssueCode(kCityA, kRid));
    subject_ = a;

    Deliverer::Options o;
    o.config = config_.delivery;
    o.send = [this](const http::ClientRequest& req) -> Result<http::Response> {
      MutexLock lock(mu_);
      sent_.push_back(req);
      return answer_(req);
    };
    ASSERT_OK_AND_ASSIGN(deliverer_, Deliverer::Create(*hub_, o));
  }
  void TearDown() override {
    deliverer_.reset();
    HubTestBase::TearDown();
  }

  // A permit A → B (queued for B); returns its id.
  std::string Permit(const std::string& reference) {
    PermitRequest r;
    r.provider = kCityB;
    r.procedure = JtCode::Parse("JT90000000000101").value();
    r.tm = TmCode::Parse("TM00000000000002").value();
    r.layout_version = "0001";
    r.subject = *subject_;
    r.reply_key = reply_.public_key();
    r.reference = reference;
    Result<PermitOutcome> out = hub_->RequestPermit(kCityA, r);
    EXPECT_OK(out);
    if (!out.ok() || !out->permit_id) return "";
    EXPECT_TRUE(out->permitted) << out->reason;
    return out->permit_id->str();
  }

  // The outbox item of `permit_id`, and its body as sent ("<org>\n<body>" stored).
  store::OutboxItem Item(const std::string& permit_id) {
    auto tx = db_->BeginRead().value();
    auto row = tx->QueryOne("SELECT id FROM outbox WHERE dedupe_key = ?", {permit_id}).value();
    EXPECT_TRUE(row.has_value()) << permit_id;
    if (!row) return {};
    return hub_->outbox().Get(*db_, row->GetInt(0).value()).value();
  }

  // The deliverer's counts: delivered, refused, retried.
  std::vector<int64_t> counts() const {
    const Deliverer::Stats st = deliverer_->stats();
    return {st.delivered, st.refused, st.retried};
  }

  std::vector<http::ClientRequest> sent() {
    MutexLock lock(mu_);
    return sent_;
  }

  std::optional<SubjectCode> subject_;  // A's code of the resident
  crypto::BoxKeyPair reply_ = crypto::BoxKeyPair::Generate();
  std::unique_ptr<Deliverer> deliverer_;
  std::function<Result<http::Response>(const http::ClientRequest&)> answer_ =
      [](const http::ClientRequest&) { return http::Response::Json(200, "{}"); };
  Mutex mu_;
  std::vector<http::ClientRequest> sent_ GUARDED_BY(mu_);
};

TEST_P(DelivererTest, SendsAPermitToTheProvidersNodeAndAcknowledgesIt) {
  const std::string permit = Permit("ref-1");
  const store::OutboxItem queued = Item(permit);
  const std::string stored(queued.payload.begin(), queued.payload.end());
  const store::GroupCommitter::Stats before = hub_->committer().stats();
  EXPECT_EQ(deliverer_->pump().RunOnce(), 1);
  // The claim and the acknowledgement, each a commit of its own here, both lazy: bookkeeping
  // (docs/storage.md, "Lazy commits").
  const store::GroupCommitter::Stats after = hub_->committer().stats();
  EXPECT_GE(after.lazy - before.lazy, 2);
  EXPECT_EQ(after.lazy - before.lazy, after.batches - before.batches);
  const std::vector<http::ClientRequest> requests = sent();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].url, "https://node-12.example:8443/node/v1/provision-requests");
  EXPECT_EQ(requests[0].headers.Get("X-Chukan-Permit-Id"), permit);
  EXPECT_EQ(requests[0].headers.Get("Content-Type"), "application/json");
  EXPECT_EQ(requests[0].body, stored.substr(stored.find('\n') + 1));  // the signed permit
  const store::OutboxItem done = Item(permit);
  EXPECT_EQ(done.state, store::OutboxState::kDone);
  EXPECT_EQ(done.attempts, 1);
  EXPECT_THAT(counts(), ElementsAre(1, 0, 0));
}

TEST_P(DelivererTest, ItemsForOneNodeGoTogetherAndARefusalIsAcknowledged) {
  const std::string p1 = Permit("ref-1");
  const std::string p2 = Permit("ref-2");
  answer_ = [](const http::ClientRequest&) {
    return http::Response::Json(
        200, http::BatchResponseJson(
                 {http::Response::Json(201, "{}"),
                  http::Response::Json(403, R"({"error":{"code":"PERMIT_EXPIRED"}})")}));
  };
  EXPECT_EQ(deliverer_->pump().RunOnce(), 2);
  const std::vector<http::ClientRequest> requests = sent();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].url, "https://node-12.example:8443/node/v1/batch/provision-requests");
  EXPECT_FALSE(requests[0].headers.Get("X-Chukan-Permit-Id").has_value());
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> items, http::ParseBatchRequest(requests[0].body));
  EXPECT_EQ(items.size(), 2u);
  // The refusal is for good: acknowledged, counted, never sent again.
  EXPECT_EQ(Item(p1).state, store::OutboxState::kDone);
  EXPECT_EQ(Item(p2).state, store::OutboxState::kDone);
  EXPECT_THAT(counts(), ElementsAre(1, 1, 0));
}

TEST_P(DelivererTest, ABusyReceiverGetsTheItemAgainAfterItsRetryAfterWithNoAttemptCounted) {
  const std::string permit = Permit("ref-1");
  answer_ = [](const http::ClientRequest&) {
    http::Response busy =
        http::Response::Json(503, R"({"error":{"code":"BUSY","message":"BUSY: full"}})");
    busy.headers.Set("Retry-After", "3");
    return busy;
  };
  const TimePoint t0 = clock_.Now();
  EXPECT_EQ(deliverer_->pump().RunOnce(), 1);
  const store::OutboxItem deferred = Item(permit);
  EXPECT_EQ(deferred.state, store::OutboxState::kPending);
  EXPECT_EQ(deferred.attempts, 0);
  EXPECT_EQ(deferred.last_error, "HTTP 503");
  EXPECT_EQ(deferred.not_before, t0 + seconds(3));  // Retry-After, not the 1 s backoff
  EXPECT_EQ(deliverer_->stats().busy, 1);
  EXPECT_EQ(deliverer_->stats().retried, 0);
  clock_.Advance(seconds(2));
  EXPECT_EQ(deliverer_->pump().RunOnce(), 0);
  answer_ = [](const http::ClientRequest&) { return http::Response::Json(201, "{}"); };
  clock_.Advance(seconds(1));
  EXPECT_EQ(deliverer_->pump().RunOnce(), 1);
  EXPECT_EQ(Item(permit).state, store::OutboxState::kDone);
  EXPECT_EQ(Item(permit).attempts, 1);
}

// A provider's batch route answers 200 and turns one item away as busy: that item waits a second
// (an item carries no Retry-After of its own) with no attempt counted, the other is done.
TEST_P(DelivererTest, AnItemAnsweredBusyInsideABatchWaitsWithNoAttemptCounted) {
  const std::string p1 = Permit("ref-1");
  const std::string p2 = Permit("ref-2");
  answer_ = [](const http::ClientRequest&) {
    return http::Response::Json(
        200, http::BatchResponseJson(
                 {http::Response::Json(200, R"({"status":"accepted"})"),
                  http::Response::Error(503, "BUSY", "BUSY: full", RequestId::Generate())}));
  };
  const TimePoint t0 = clock_.Now();
  EXPECT_EQ(deliverer_->pump().RunOnce(), 2);
  ASSERT_EQ(sent().size(), 1u);
  EXPECT_EQ(sent()[0].url, "https://node-12.example:8443/node/v1/batch/provision-requests");
  EXPECT_EQ(Item(p1).state, store::OutboxState::kDone);
  const store::OutboxItem deferred = Item(p2);
  EXPECT_EQ(deferred.state, store::OutboxState::kPending);
  EXPECT_EQ(deferred.attempts, 0);
  EXPECT_EQ(deferred.last_error, "HTTP 503");
  EXPECT_EQ(deferred.not_before, t0 + seconds(1));  // not the backoff: 0.8–1 s with jitter
  EXPECT_EQ(deliverer_->stats().busy, 1);
  EXPECT_THAT(counts(), ElementsAre(1, 0, 0));
  EXPECT_EQ(deliverer_->pump().stats().deferred, 1);
  EXPECT_EQ(deliverer_->pump().stats().retried, 0);

  answer_ = [](const http::ClientRequest&) { return http::Response::Json(201, "{}"); };
  clock_.Advance(seconds(1));
  EXPECT_EQ(deliverer_->pump().RunOnce(), 1);
  ASSERT_EQ(sent().size(), 2u);
  EXPECT_EQ(sent()[1].url, "https://node-12.example:8443/node/v1/provision-requests");
  EXPECT_EQ(sent()[1].headers.Get("X-Chukan-Permit-Id"), p2);
  EXPECT_EQ(Item(p2).state, store::OutboxState::kDone);
  EXPECT_EQ(Item(p2).attempts, 1);
  EXPECT_THAT(counts(), ElementsAre(2, 0, 0));
}

TEST_P(DelivererTest, AFailedAnswerIsRetriedAfterTheConfiguredBackoff) {
  const std::string permit = Permit("ref-1");
  answer_ = [](const http::ClientRequest&) { return http::Response::Json(503, "{}"); };
  const TimePoint t0 = clock_.Now();
  EXPECT_EQ(deliverer_->pump().RunOnce(), 1);
  const store::OutboxItem failed = Item(permit);
  EXPECT_EQ(failed.state, store::OutboxState::kPending);
  EXPECT_EQ(failed.attempts, 1);
  EXPECT_EQ(failed.last_error, "HTTP 503");
  // [delivery] backoff_base_ms = 1000, shortened by up to 20 % of jitter.
  EXPECT_GT(failed.not_before, t0 + milliseconds(800));
  EXPECT_LE(failed.not_before, t0 + milliseconds(1000));
  EXPECT_EQ(deliverer_->stats().retried, 1);

  answer_ = [](const http::ClientRequest&) { return http::Response::Json(201, "{}"); };
  clock_.Advance(seconds(1));
  EXPECT_EQ(deliverer_->pump().RunOnce(), 1);
  const store::OutboxItem done = Item(permit);
  EXPECT_EQ(done.state, store::OutboxState::kDone);
  EXPECT_EQ(done.attempts, 2);
  EXPECT_EQ(sent().size(), 2u);
  EXPECT_EQ(deliverer_->stats().delivered, 1);
}

TEST_P(DelivererTest, ADisabledNodeIsNotContactedAndItsItemsWait) {
  const std::string permit = Permit("ref-1");
  ASSERT_OK(hub_->store().DisableOrg(kCityB, "test"));
  ASSERT_OK(hub_->Refresh());
  EXPECT_EQ(deliverer_->pump().RunOnce(), 1);
  EXPECT_TRUE(sent().empty());
  const store::OutboxItem item = Item(permit);
  EXPECT_EQ(item.state, store::OutboxState::kPending);
  EXPECT_EQ(item.last_error, "organisation 0000000000000012 is disabled");
  EXPECT_EQ(deliverer_->stats().retried, 1);
}

TEST_P(DelivererTest, AnItemTheHubCannotReadIsDeadAtOnce) {
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
    ASSERT_OK(hub_->outbox().Enqueue(*tx, kTopicProvisionRequest, "garbage",
                                     store::ToBytes("no organisation here"), clock_.Now()));
    ASSERT_OK(tx->Commit());
  }
  EXPECT_EQ(deliverer_->pump().RunOnce(), 1);
  EXPECT_TRUE(sent().empty());
  const store::OutboxItem item = Item("garbage");
  EXPECT_EQ(item.state, store::OutboxState::kDead);
  EXPECT_EQ(item.attempts, 1);  // of [delivery] max_attempts = 12
  EXPECT_EQ(item.last_error, "malformed outbox item");
  EXPECT_EQ(deliverer_->pump().stats().dead, 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, DelivererTest,
                         ::testing::Values(store::Backend::kSqlite, store::Backend::kPostgres));

}  // namespace
}  // namespace chukan::hub
