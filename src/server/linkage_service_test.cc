// LinkageService and its parts in-process: a real tenant store, a fake hub, a fake clock.
#include "server/linkage_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <future>

#include "common/status_matchers.h"
#include "crypto/aead.h"
#include "server/linkage_test_util.h"

namespace chukan::server {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;
using namespace ::chukan::server::testing;  // NOLINT: the fixture's names

class LinkageServiceTest : public LinkageTestBase {
 protected:
  int64_t OutboxCount(const TenantId& tenant) {
    auto st = platform_->Tenant(tenant).value();
    auto tx = st->db->BeginRead().value();
    return tx->QueryOne("SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'leased')")
        .value()
        ->GetInt(0)
        .value();
  }
};

// --- subject codes ------------------------------------------------------------------------

// HubPort::OrgByLocalGovCode answers from the port's permission list copy (here the fake's).
TEST(HubPortTest, OrgByLocalGovCodeResolvesFromTheListCopy) {
  FakeHub hub;
  auto org = [&](std::string_view code) {
    Result<OrgCode> r = hub.OrgByLocalGovCode(code);
    return r.ok() ? r->str() : r.status().ToString();
  };
  EXPECT_EQ(org("13101"), kCityB.str());
  EXPECT_EQ(org("131016"), kCityB.str());
  EXPECT_EQ(org("01100"), kCityA.str());
  EXPECT_THAT(hub.OrgByLocalGovCode("131017"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("check digit")));
  EXPECT_THAT(hub.OrgByLocalGovCode("14100"),
              StatusIs(StatusCode::kNotFound, "地方公共団体コード: not in the hub's registry"));
  hub.DropPermissionList();
  EXPECT_THAT(hub.OrgByLocalGovCode("13101"), StatusIs(StatusCode::kFailedPrecondition));
  // A malformed code is refused before the copy is consulted.
  EXPECT_THAT(hub.OrgByLocalGovCode("1310"), StatusIs(StatusCode::kInvalidArgument));
}

TEST_P(LinkageServiceTest, RegisterCodeKeepsTheHubsCodeAndFindsItBothWays) {
  ASSERT_OK_AND_ASSIGN(SubjectCode code, linkage_->RegisterCode(A(), kAtena, kRid));
  // The same pair again returns the same code (only its registration time changes).
  ASSERT_OK_AND_ASSIGN(SubjectCode again, linkage_->RegisterCode(A(), kAtena, kRid));
  EXPECT_EQ(again, code);
  ASSERT_EQ(hub_.Calls("/hub/v1/codes").size(), 2u);
  EXPECT_EQ(hub_.Calls("/hub/v1/codes")[0].body, R"({"resident_id":"12345678901"})");

  ASSERT_OK_AND_ASSIGN(auto st, platform_->Tenant(A()));
  ASSERT_OK_AND_ASSIGN(auto tx, st->db->BeginRead());
  ASSERT_OK_AND_ASSIGN(std::optional<std::string> found,
                       SubjectCodes::FindCode(*tx, SubjectCodes::AtenaIndex(*st, kAtena)));
  EXPECT_EQ(found, code.str());
  ASSERT_OK_AND_ASSIGN(std::optional<std::string> none,
                       SubjectCodes::FindCode(*tx, SubjectCodes::AtenaIndex(*st, kAtena2)));
  EXPECT_EQ(none, std::nullopt);
  ASSERT_OK(tx->Commit());

  LinkageEnv env{
      *platform_, FakeHub::Catalogue(), &hub_, clock_, linkage_->outbox(), [this](const TenantId&) {
        return std::make_shared<store::OutboxHandoff>(linkage_->outbox(), nullptr);
      }};
  SubjectCodes codes(env);
  ASSERT_OK_AND_ASSIGN(std::optional<AtenaNo> atena, codes.FindAtena(*st, code));
  EXPECT_EQ(atena, kAtena);
  ASSERT_OK_AND_ASSIGN(std::optional<AtenaNo> unknown,
                       codes.FindAtena(*st, SubjectCode::Generate()));
  EXPECT_EQ(unknown, std::nullopt);
  // The atena_no is never stored in clear.
  ASSERT_OK_AND_ASSIGN(auto tx2, st->db->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto row, tx2->QueryOne("SELECT atena_sealed FROM subject_codes"));
  ASSERT_TRUE(row.has_value());
  ASSERT_OK_AND_ASSIGN(crypto::Bytes sealed, row->GetBlob(0));
  EXPECT_EQ(std::string(sealed.begin(), sealed.end()).find(kAtena.str()), std::string::npos);
}

TEST_P(LinkageServiceTest, RegisterCodeRefusesASecondAtenaForTheSameCode) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  // The hub gives the same code for the same resident: another atena_no cannot take it.
  EXPECT_THAT(linkage_->RegisterCode(A(), kAtena2, kRid),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("under another atena_no")));
}

TEST_P(LinkageServiceTest, RegisterCodeErrorsFromTheHub) {
  hub_.SetCodesStatus(403);
  EXPECT_THAT(linkage_->RegisterCode(A(), kAtena, kRid),
              StatusIs(StatusCode::kUnavailable,
                       HasSubstr("the hub refused the code request: ORG_DISABLED")));
  hub_.SetReachable(false);
  EXPECT_THAT(linkage_->RegisterCode(A(), kAtena, kRid),
              StatusIs(StatusCode::kUnavailable, HasSubstr("the hub cannot be reached")));
  LinkageService no_hub(*platform_, FakeHub::Catalogue(), nullptr, {}, clock_);
  EXPECT_THAT(no_hub.RegisterCode(A(), kAtena, kRid),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("no hub is configured")));
}

// --- inquiries ----------------------------------------------------------------------------

TEST_P(LinkageServiceTest, CreateInquiryStoresItAcceptedAndQueuesAPermitRequest) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  int notified = 0;
  linkage_->SetNotifier([&notified] { ++notified; });
  const int64_t now = ToUnixMicros(clock_.Now());
  ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->CreateInquiry(A(), TaxInquiry()));
  EXPECT_EQ(v.state, "accepted");
  EXPECT_EQ(v.inquiry_id.size(), 32u);
  EXPECT_EQ(v.provider, kCityB.str());
  EXPECT_EQ(v.layout_version, "0002");  // the version valid on the fake clock's day
  EXPECT_EQ(v.created_at_us, now);
  EXPECT_EQ(v.expires_at_us, now + 600'000'000);  // the server's timeout
  EXPECT_EQ(notified, 1);
  ASSERT_OK_AND_ASSIGN(InquiryView got, linkage_->GetInquiry(A(), v.inquiry_id));
  EXPECT_EQ(got.state, "accepted");
  EXPECT_EQ(got.result_json, std::nullopt);
  ASSERT_OK_AND_ASSIGN(auto items,
                       linkage_->ClaimOutbox(A(), "test:1", 10, std::chrono::seconds(60)));
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].topic, kTopicPermitRequest);
  EXPECT_EQ(std::string(items[0].payload.begin(), items[0].payload.end()), v.inquiry_id);
  // Another tenant does not see it.
  EXPECT_THAT(linkage_->GetInquiry(B(), v.inquiry_id), StatusIs(StatusCode::kNotFound));
}

TEST_P(LinkageServiceTest, TheSameIdempotencyKeyGivesTheFirstInquiry) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  ASSERT_OK_AND_ASSIGN(InquiryView first, linkage_->CreateInquiry(A(), TaxInquiry("k-1")));
  clock_.Advance(std::chrono::seconds(5));
  ASSERT_OK_AND_ASSIGN(InquiryView second, linkage_->CreateInquiry(A(), TaxInquiry("k-1")));
  EXPECT_EQ(second.inquiry_id, first.inquiry_id);
  EXPECT_EQ(second.created_at_us, first.created_at_us);
  ASSERT_OK_AND_ASSIGN(auto all, linkage_->ListInquiries(A(), std::nullopt, 0, 100));
  EXPECT_EQ(all.size(), 1u);
  // The key used for a different request is refused.
  InquiryInput other = TaxInquiry("k-1");
  other.timeout_seconds = 60;
  EXPECT_THAT(linkage_->CreateInquiry(A(), other),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("IDEMPOTENCY_KEY_REUSED")));
  // A new key makes a new inquiry.
  ASSERT_OK_AND_ASSIGN(InquiryView third, linkage_->CreateInquiry(A(), TaxInquiry("k-2")));
  EXPECT_NE(third.inquiry_id, first.inquiry_id);
}

// A create whose write failed is finished on a waiters' thread (InquiryWaiters::Post); with none
// to take it (here: Options::settle_tasks 0), its caller is answered BUSY at once, and nothing is
// recorded for it: no inquiry.create entry, no second inquiry. Its retry under the same
// idempotency key finds the first inquiry.
TEST_P(LinkageServiceTest, AFailedCreateWithNoThreadToFinishItIsAnsweredBusy) {
  LinkageService::Options o;
  o.settle_tasks = 0;
  LinkageService limited(*platform_, FakeHub::Catalogue(), &hub_, o, clock_);
  ASSERT_OK(limited.RegisterCode(A(), kAtena, kRid).status());
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> st, platform_->Tenant(A()));
  auto created_entries = [&]() -> int64_t {
    auto tx = st->db->BeginRead().value();
    return tx->QueryOne("SELECT COUNT(*) FROM audit_log WHERE action = 'inquiry.create'", {})
        .value()
        ->GetInt(0)
        .value();
  };
  const int64_t entries_before = created_entries();
  std::promise<Result<InquiryView>> first_done;
  std::promise<Result<InquiryView>> second_done;
  {
    // Both get past the key's look-up before either is written: the second write fails on the
    // unique key, in the same batch as the first.
    store::testing::HeldCommitter held(*st);
    for (auto* done : {&first_done, &second_done}) {
      limited.CreateInquiryAsync(A(), TaxInquiry("k-busy"),
                                 [done](Result<InquiryView> r) { done->set_value(std::move(r)); });
    }
  }
  std::future<Result<InquiryView>> first = first_done.get_future();
  std::future<Result<InquiryView>> second = second_done.get_future();
  ASSERT_EQ(first.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  ASSERT_EQ(second.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  Result<InquiryView> one = first.get();
  ASSERT_OK(one.status());
  EXPECT_EQ(one->state, "accepted");
  EXPECT_THAT(second.get().status(),
              StatusIs(StatusCode::kUnavailable,
                       HasSubstr("BUSY: the inquiry could not be finished; retry later")));
  EXPECT_EQ(created_entries(), entries_before + 1);  // the first's only
  ASSERT_OK_AND_ASSIGN(auto all, limited.ListInquiries(A(), std::nullopt, 0, 100));
  EXPECT_EQ(all.size(), 1u);
  // The retry finds the first inquiry (no write of its own, so no thread is needed).
  ASSERT_OK_AND_ASSIGN(InquiryView again, limited.CreateInquiry(A(), TaxInquiry("k-busy")));
  EXPECT_EQ(again.inquiry_id, one->inquiry_id);
}

TEST_P(LinkageServiceTest, CreateInquiryRefusesBadInput) {
  InquiryInput in = TaxInquiry();
  EXPECT_THAT(linkage_->CreateInquiry(A(), in),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("register it first")));
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  in.tm = TmCode::Parse("TM99999999999999").value();
  EXPECT_THAT(linkage_->CreateInquiry(A(), in),
              StatusIs(StatusCode::kNotFound, HasSubstr("is not in the data standard layout")));
  in = TaxInquiry();
  in.layout_version = "0009";
  EXPECT_THAT(linkage_->CreateInquiry(A(), in),
              StatusIs(StatusCode::kNotFound, HasSubstr("(versions: 0001, 0002)")));
  in = TaxInquiry();
  in.procedure = JtCode::Parse("JT99999999999999").value();
  EXPECT_THAT(linkage_->CreateInquiry(A(), in), StatusIs(StatusCode::kNotFound));
  in = TaxInquiry();
  in.timeout_seconds = 601;
  EXPECT_THAT(linkage_->CreateInquiry(A(), in),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("expected 1 to 600")));
  in = TaxInquiry();
  in.query["IT99999999999999"] = "x";
  EXPECT_THAT(linkage_->CreateInquiry(A(), in),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("condition 1 in key order")));
  in = TaxInquiry(std::string(129, 'k'));
  EXPECT_THAT(linkage_->CreateInquiry(A(), in),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("at most 128 bytes")));
  EXPECT_THAT(linkage_->ListInquiries(A(), std::nullopt, 0, 0),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("limit")));
}

TEST_P(LinkageServiceTest, TheHubsPermitMovesTheInquiryToPermitted) {
  std::string id;
  linkage::ProvisionPermit permit = InquireAndPermit(TaxInquiry(), &id);
  ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->GetInquiry(A(), id));
  EXPECT_EQ(v.state, "permitted");
  EXPECT_EQ(v.permit_id, permit.id.str());
  EXPECT_EQ(v.permitted_at_us, ToUnixMicros(clock_.Now()));
  // The request carried the inquiry, not the atena_no.
  const std::string body = hub_.Calls("/hub/v1/inquiries").back().body;
  EXPECT_THAT(body, HasSubstr("\"reference\":\"" + id + "\""));
  EXPECT_EQ(body.find(kAtena.str()), std::string::npos);
  EXPECT_EQ(OutboxCount(A()), 0);
}

TEST_P(LinkageServiceTest, TheHubsRefusalEndsTheInquiryWithItsReason) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->CreateInquiry(A(), TaxInquiry()));
  hub_.SetPermitAnswer(
      http::Response::Json(403, R"({"error":{"code":"PERMISSION_DENIED","reason":"NO_RULE"}})"));
  ASSERT_OK(DeliverAll(A()));
  ASSERT_OK_AND_ASSIGN(InquiryView got, linkage_->GetInquiry(A(), v.inquiry_id));
  EXPECT_EQ(got.state, "refused");
  EXPECT_EQ(got.reason, "NO_RULE");
  EXPECT_EQ(got.ended_at_us, ToUnixMicros(clock_.Now()));
}

TEST_P(LinkageServiceTest, AnUnavailableHubLeavesTheInquiryAcceptedForARetry) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->CreateInquiry(A(), TaxInquiry()));
  hub_.SetPermitAnswer(http::Response::Json(503, "{}"));
  ASSERT_OK(DeliverAll(A()));
  ASSERT_OK_AND_ASSIGN(InquiryView got, linkage_->GetInquiry(A(), v.inquiry_id));
  EXPECT_EQ(got.state, "accepted");
  EXPECT_EQ(OutboxCount(A()), 1);  // failed, due again later
}

// A delivery's outcome that a repeat would get again (the hub answers a repeated permit request
// with the same permit, a repeated envelope with 202) is bookkeeping: recorded with its
// acknowledgement lazily, durable with the next durable commit. An outcome that ends an inquiry
// is recorded durably.
TEST_P(LinkageServiceTest, APermitOrAnAnswerTheHubTookIsRecordedLazilyAnEndDurably) {
  // The tenant committer's batches and lazy batches while the test delivers `t`'s outbox: the
  // test's claim (a commit of its own), then each outcome's record with its acknowledgement.
  auto deliver = [this](const TenantId& t) {
    auto stats = [&] { return platform_->Tenant(t).value()->commit_stats(); };
    const store::GroupCommitter::Stats before = stats();
    EXPECT_OK(DeliverAll(t));
    const store::GroupCommitter::Stats after = stats();
    return std::pair<int64_t, int64_t>(after.batches - before.batches, after.lazy - before.lazy);
  };
  const SubjectCode b_code = RegisterBoth();
  ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->CreateInquiry(A(), TaxInquiry()));
  const PermitId permit_id = PermitId::Generate();
  hub_.SetPermitAnswer(http::Response::Json(201, R"({"permit_id":")" + permit_id.str() + "\"}"));
  EXPECT_EQ(deliver(A()), (std::pair<int64_t, int64_t>(2, 1)));
  ASSERT_OK_AND_ASSIGN(InquiryView permitted, linkage_->GetInquiry(A(), v.inquiry_id));
  EXPECT_EQ(permitted.state, "permitted");
  const linkage::ProvisionPermit permit =
      PermitFor(hub_.Calls("/hub/v1/inquiries").back(), permit_id, b_code);
  ASSERT_OK_AND_ASSIGN(std::string outcome, linkage_->OnProvisionRequest(hub_.Sign(permit)));
  EXPECT_EQ(outcome, "answered");
  EXPECT_EQ(deliver(B()), (std::pair<int64_t, int64_t>(2, 1)));  // the hub answers 202
  EXPECT_EQ(OutboxCount(B()), 0);

  // A refused permit ends its inquiry: durable.
  ASSERT_OK_AND_ASSIGN(InquiryView refused, linkage_->CreateInquiry(A(), TaxInquiry()));
  hub_.SetPermitAnswer(http::Response::Json(403, R"({"error":{"reason":"NO_RULE"}})"));
  EXPECT_EQ(deliver(A()), (std::pair<int64_t, int64_t>(2, 0)));
  ASSERT_OK_AND_ASSIGN(InquiryView ended, linkage_->GetInquiry(A(), refused.inquiry_id));
  EXPECT_EQ(ended.state, "refused");
}

TEST_P(LinkageServiceTest, WatchesAreLimitedPerClientAndAnsweredWhenTheInquiryEnds) {
  LinkageService::Options o;
  o.waits_per_client = 1;
  LinkageService limited(*platform_, FakeHub::Catalogue(), &hub_, o, clock_);
  ASSERT_OK(limited.RegisterCode(A(), kAtena, kRid).status());
  ASSERT_OK_AND_ASSIGN(InquiryView v, limited.CreateInquiry(A(), TaxInquiry()));
  std::promise<Result<InquiryView>> first_done;
  std::promise<Result<InquiryView>> other_done;
  ASSERT_OK(limited.WatchInquiry(A(), v.inquiry_id, "tax", std::chrono::seconds(30),
                                 [&](Result<InquiryView> r) { first_done.set_value(r); }));
  EXPECT_THAT(limited.WatchInquiry(A(), v.inquiry_id, "tax", std::chrono::seconds(30),
                                   [](Result<InquiryView>) { ADD_FAILURE() << "refused wait"; }),
              StatusIs(StatusCode::kResourceExhausted));
  ASSERT_OK(limited.WatchInquiry(A(), v.inquiry_id, "welfare", std::chrono::seconds(30),
                                 [&](Result<InquiryView> r) { other_done.set_value(r); }));
  // The hub refuses the permit: both waits answer with the ended inquiry.
  hub_.SetPermitAnswer(http::Response::Json(403, R"({"error":{"reason":"NO_RULE"}})"));
  ASSERT_OK_AND_ASSIGN(auto items,
                       limited.ClaimOutbox(A(), "test:1", 10, std::chrono::seconds(60)));
  ASSERT_OK(limited.courier().Deliver(A(), items, "test:1"));
  for (std::promise<Result<InquiryView>>* done : {&first_done, &other_done}) {
    std::future<Result<InquiryView>> f = done->get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    ASSERT_OK_AND_ASSIGN(InquiryView ended, f.get());
    EXPECT_EQ(ended.state, "refused");
    EXPECT_EQ(ended.reason, "NO_RULE");
  }
}

TEST_P(LinkageServiceTest, SweepExpiresOpenInquiriesOnlyOnceTheirTimeIsUp) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  InquiryInput in = TaxInquiry();
  in.timeout_seconds = 60;
  ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->CreateInquiry(A(), in));
  clock_.Advance(std::chrono::seconds(59));
  ASSERT_OK_AND_ASSIGN(LinkageSweep early, linkage_->Sweep(A()));
  EXPECT_EQ(early.expired, 0);
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(LinkageSweep due, linkage_->Sweep(A()));
  EXPECT_EQ(due.expired, 1);
  ASSERT_OK_AND_ASSIGN(InquiryView got, linkage_->GetInquiry(A(), v.inquiry_id));
  EXPECT_EQ(got.state, "expired");
  EXPECT_EQ(got.reason, "NO_ANSWER");
  EXPECT_EQ(got.ended_at_us, ToUnixMicros(clock_.Now()));
  ASSERT_OK_AND_ASSIGN(LinkageSweep again, linkage_->Sweep(A()));
  EXPECT_EQ(again.expired, 0);
  // An expired inquiry is not asked for any more: the courier acknowledges its item unsent.
  hub_.SetPermitAnswer(http::Response::Json(201, R"({"permit_id":"x"})"));
  ASSERT_OK(DeliverAll(A()));
  EXPECT_TRUE(hub_.Calls("/hub/v1/inquiries").empty());
  EXPECT_EQ(OutboxCount(A()), 0);
}

TEST_P(LinkageServiceTest, AWholeExchangeCompletesTheInquiryWithTheAnswer) {
  std::string id;
  linkage::ProvisionPermit permit = InquireAndPermit(TaxInquiry(), &id);
  ASSERT_OK_AND_ASSIGN(std::string outcome, linkage_->OnProvisionRequest(hub_.Sign(permit)));
  EXPECT_EQ(outcome, "answered");
  ASSERT_OK(Relay(permit));
  ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->GetInquiry(A(), id));
  EXPECT_EQ(v.state, "completed");
  EXPECT_EQ(v.reason, "");
  ASSERT_TRUE(v.result_json.has_value());
  // B holds no replicas: a well-formed "no data" answer.
  EXPECT_EQ(*v.result_json,
            R"({"tm":"TM00000000000002","layout_version":"0002","records":[],"status":"no_data"})");
  // A repeated delivery of the same result is fine and changes nothing.
  ASSERT_OK(linkage_->OnInquiryResult(ResultFor(permit, hub_.Calls("/hub/v1/provisions").back())));
  // The records of provision: one entry on each side.
  ASSERT_OK_AND_ASSIGN(std::vector<RecordEntry> a_records, linkage_->ListRecords(A(), 0, 100));
  ASSERT_EQ(a_records.size(), 1u);
  EXPECT_EQ(a_records[0].role, "inquirer");
  EXPECT_EQ(a_records[0].id, id);
  EXPECT_EQ(a_records[0].counterpart, kCityB.str());
  EXPECT_EQ(a_records[0].state, "completed");
  ASSERT_OK_AND_ASSIGN(std::vector<RecordEntry> b_records, linkage_->ListRecords(B(), 0, 100));
  ASSERT_EQ(b_records.size(), 1u);
  EXPECT_EQ(b_records[0].role, "provider");
  EXPECT_EQ(b_records[0].id, permit.id.str());
  EXPECT_EQ(b_records[0].subject_code, linkage_->RegisterCode(B(), kAtena, kRid).value().str());
  EXPECT_EQ(b_records[0].state, "answered");
  EXPECT_EQ(b_records[0].ended_at_us, ToUnixMicros(clock_.Now()));  // sent
  EXPECT_THAT(linkage_->ListRecords(A(), 0, 1001), StatusIs(StatusCode::kInvalidArgument));
}

TEST_P(LinkageServiceTest, AResultForAnEndedInquiryIsRefused) {
  InquiryInput in = TaxInquiry();
  in.timeout_seconds = 60;
  std::string id;
  linkage::ProvisionPermit permit = InquireAndPermit(in, &id, std::chrono::seconds(300));
  ASSERT_OK(linkage_->OnProvisionRequest(hub_.Sign(permit)).status());
  clock_.Advance(std::chrono::seconds(61));
  ASSERT_OK_AND_ASSIGN(LinkageSweep swept, linkage_->Sweep(A()));
  EXPECT_EQ(swept.expired, 1);
  // expired → completed is no transition: the late answer is refused and the state stays.
  EXPECT_THAT(Relay(permit), StatusIs(StatusCode::kFailedPrecondition,
                                      HasSubstr("INQUIRY_ENDED: inquiry " + id + " is expired")));
  ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->GetInquiry(A(), id));
  EXPECT_EQ(v.state, "expired");
  EXPECT_EQ(v.result_json, std::nullopt);
}

TEST_P(LinkageServiceTest, ResultsAreDeletedAfterTheRetentionTime) {
  std::string id;
  linkage::ProvisionPermit permit = InquireAndPermit(TaxInquiry(), &id);
  ASSERT_OK(linkage_->OnProvisionRequest(hub_.Sign(permit)).status());
  ASSERT_OK(Relay(permit));
  // result_days = 2 (the fixture): kept until two days after the end, deleted at that moment.
  clock_.Advance(std::chrono::hours(48) - std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(LinkageSweep kept, linkage_->Sweep(A()));
  EXPECT_EQ(kept.results_deleted, 0);
  ASSERT_OK_AND_ASSIGN(InquiryView before, linkage_->GetInquiry(A(), id));
  EXPECT_TRUE(before.result_json.has_value());
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(LinkageSweep purged, linkage_->Sweep(A()));
  EXPECT_EQ(purged.results_deleted, 1);
  EXPECT_EQ(purged.expired, 0);
  ASSERT_OK_AND_ASSIGN(InquiryView after, linkage_->GetInquiry(A(), id));
  EXPECT_EQ(after.state, "completed");
  EXPECT_EQ(after.result_json, std::nullopt);
  EXPECT_TRUE(after.result_deleted);
}

// Deletion that erases (issue 14): a sweep that deleted a result erases it from the tenant's
// files too — the WAL truncated, the sealed bytes nowhere under the data directory.
TEST_P(LinkageServiceTest, ASweepThatDeletedAResultErasesItFromTheFiles) {
  if (GetParam() == store::Backend::kPostgres) {
    GTEST_SKIP() << "the files are PostgreSQL's own: crypto-erasure covers them (storage.md)";
  }
  std::string id;
  linkage::ProvisionPermit permit = InquireAndPermit(TaxInquiry(), &id);
  ASSERT_OK(linkage_->OnProvisionRequest(hub_.Sign(permit)).status());
  ASSERT_OK(Relay(permit));
  crypto::Bytes sealed;
  {
    ASSERT_OK_AND_ASSIGN(auto st, platform_->Tenant(A()));
    ASSERT_OK_AND_ASSIGN(auto tx, st->db->BeginRead());
    ASSERT_OK_AND_ASSIGN(auto row,
                         tx->QueryOne("SELECT result FROM inquiries WHERE inquiry_id = ?", {id}));
    ASSERT_TRUE(row.has_value());
    ASSERT_OK_AND_ASSIGN(sealed, row->GetBlob(0));
  }
  ASSERT_GE(sealed.size(), 32u);
  const std::string data_dir = Options().data_dir;
  const std::string wal = platform_->store().TenantPath(A()) + "-wal";
  EXPECT_THAT(store::testing::FilesHoldingAnyPiece(data_dir, sealed),
              ::testing::Contains("tenants/" + A().str() + ".db-wal"));
  EXPECT_GT(std::filesystem::file_size(wal), 0u);

  clock_.Advance(std::chrono::hours(48));  // result_days = 2
  ASSERT_OK_AND_ASSIGN(LinkageSweep purged, linkage_->Sweep(A()));
  EXPECT_EQ(purged.results_deleted, 1);
  EXPECT_EQ(std::filesystem::file_size(wal), 0u);
  EXPECT_THAT(store::testing::FilesHoldingAnyPiece(data_dir, sealed), ::testing::IsEmpty());
  ASSERT_OK_AND_ASSIGN(InquiryView after, linkage_->GetInquiry(A(), id));
  EXPECT_TRUE(after.result_deleted);
}

// --- provisions ---------------------------------------------------------------------------

TEST_P(LinkageServiceTest, APermitIsUsedOnce) {
  std::string id;
  linkage::ProvisionPermit permit = InquireAndPermit(TaxInquiry(), &id);
  ASSERT_OK_AND_ASSIGN(std::string first, linkage_->OnProvisionRequest(hub_.Sign(permit)));
  EXPECT_EQ(first, "answered");
  EXPECT_THAT(linkage_->OnProvisionRequest(hub_.Sign(permit)),
              StatusIs(StatusCode::kAlreadyExists,
                       HasSubstr("PERMIT_ALREADY_USED: permit " + permit.id.str())));
  EXPECT_EQ(OutboxCount(B()), 1);  // one answer only
}

TEST_P(LinkageServiceTest, PermitsAreCheckedBeforeAnythingIsAnswered) {
  std::string id;
  linkage::ProvisionPermit permit = InquireAndPermit(TaxInquiry(), &id);
  // Signed by someone else.
  EXPECT_THAT(
      linkage_->OnProvisionRequest(linkage::SignPermit(permit, crypto::SigningKey::Generate())),
      StatusIs(StatusCode::kUnauthenticated, HasSubstr("BAD_PERMIT_SIGNATURE")));
  // For an organisation this server does not host.
  linkage::ProvisionPermit elsewhere = permit;
  elsewhere.id = PermitId::Generate();
  elsewhere.provider = Org("0000000000000099");
  EXPECT_THAT(linkage_->OnProvisionRequest(hub_.Sign(elsewhere)),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("MISDIRECTED_PERMIT")));
  // Without a permission list copy.
  hub_.DropPermissionList();
  EXPECT_THAT(linkage_->OnProvisionRequest(hub_.Sign(permit)),
              StatusIs(StatusCode::kUnavailable, HasSubstr("NO_PERMISSION_LIST")));
  // Expired.
  clock_.Advance(std::chrono::seconds(301));
  EXPECT_THAT(linkage_->OnProvisionRequest(hub_.Sign(permit)),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("PERMIT_EXPIRED")));
  EXPECT_EQ(OutboxCount(B()), 0);
}

TEST_P(LinkageServiceTest, APermitTheLocalListDoesNotAllowIsAnsweredRefused) {
  std::string id;
  linkage::ProvisionPermit permit = InquireAndPermit(TaxInquiry(), &id);
  permit.procedure = JtCode::Parse("JT90000000000102").value();  // not in the fake's list
  ASSERT_OK_AND_ASSIGN(std::string outcome, linkage_->OnProvisionRequest(hub_.Sign(permit)));
  EXPECT_EQ(outcome, "refused");
  ASSERT_OK(Relay(permit));
  ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->GetInquiry(A(), id));
  EXPECT_EQ(v.state, "refused");
  EXPECT_EQ(v.reason, "NOT_PERMITTED_LOCALLY");
}

// 照会側不開示 and 委任元: stored with the inquiry, sent to the hub, carried by the permit into the
// provider's row; both sides' records show them and a resident-facing view holds the 不開示 entry
// back. The provider checks its list copy with the 委任元 in place of the inquirer.
TEST_P(LinkageServiceTest, NonDisclosureAndDelegatorsTravelInThePermitIntoBothSidesRecords) {
  InquiryInput in = TaxInquiry("held-back");
  in.non_disclosure = true;
  in.provider_delegator = kCityB;
  std::string id;
  linkage::ProvisionPermit permit = InquireAndPermit(in, &id);
  const std::string asked = hub_.Calls("/hub/v1/inquiries").back().body;
  EXPECT_THAT(asked,
              HasSubstr(R"("non_disclosure":true,"provider_delegator":"0000000000000012"})"));
  EXPECT_THAT(asked, ::testing::Not(HasSubstr("inquirer_delegator")));
  permit.non_disclosure = true;
  permit.provider_delegator = kCityB;
  ASSERT_OK_AND_ASSIGN(std::string outcome, linkage_->OnProvisionRequest(hub_.Sign(permit)));
  EXPECT_EQ(outcome, "answered");
  ASSERT_OK(Relay(permit));
  ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->GetInquiry(A(), id));
  EXPECT_EQ(v.state, "completed");
  EXPECT_TRUE(v.non_disclosure);
  EXPECT_EQ(v.inquirer_delegator, "");
  EXPECT_EQ(v.provider_delegator, kCityB.str());

  // On B's behalf as inquirer: B may not ask B in the provider's list copy.
  clock_.Advance(std::chrono::seconds(1));  // records are listed by time
  std::string other;
  linkage::ProvisionPermit delegated = InquireAndPermit(TaxInquiry("delegated"), &other);
  delegated.inquirer_delegator = kCityB;
  ASSERT_OK_AND_ASSIGN(std::string refused, linkage_->OnProvisionRequest(hub_.Sign(delegated)));
  EXPECT_EQ(refused, "refused");

  ASSERT_OK_AND_ASSIGN(std::vector<RecordEntry> a_records, linkage_->ListRecords(A(), 0, 100));
  ASSERT_EQ(a_records.size(), 2u);
  EXPECT_EQ(a_records[0].id, id);
  EXPECT_TRUE(a_records[0].non_disclosure);
  EXPECT_TRUE(a_records[0].inquirer_non_disclosure);
  EXPECT_EQ(a_records[0].provider_delegator, kCityB.str());
  EXPECT_FALSE(a_records[1].non_disclosure);
  ASSERT_OK_AND_ASSIGN(std::vector<RecordEntry> b_records, linkage_->ListRecords(B(), 0, 100));
  ASSERT_EQ(b_records.size(), 2u);
  EXPECT_EQ(b_records[0].id, permit.id.str());
  EXPECT_TRUE(b_records[0].non_disclosure);
  EXPECT_TRUE(b_records[0].inquirer_non_disclosure);
  EXPECT_EQ(b_records[0].inquirer_delegator, "");
  EXPECT_EQ(b_records[0].provider_delegator, kCityB.str());
  EXPECT_EQ(b_records[1].id, delegated.id.str());
  EXPECT_EQ(b_records[1].state, "refused");
  EXPECT_EQ(b_records[1].reason, "NOT_PERMITTED_LOCALLY");
  EXPECT_EQ(b_records[1].inquirer_delegator, kCityB.str());
  EXPECT_FALSE(b_records[1].inquirer_non_disclosure);
  std::vector<RecordEntry> shown = ResidentView(b_records);
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_EQ(shown[0].id, delegated.id.str());
  shown = ResidentView(a_records);
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_EQ(shown[0].id, other);
}

class LinkageApprovalTest : public LinkageServiceTest {
 protected:
  InquiryInput WelfareInquiry() const {
    InquiryInput in = TaxInquiry();
    in.procedure = kWelfareJt;
    in.tm = kWelfareTm;
    return in;
  }
  // A welfare inquiry of A whose permit (valid for `ttl`) B holds, its answer awaiting approval.
  linkage::ProvisionPermit AwaitingApproval(std::string* inquiry_id,
                                            std::chrono::seconds ttl = std::chrono::seconds(300)) {
    linkage::ProvisionPermit permit = InquireAndPermit(WelfareInquiry(), inquiry_id, ttl);
    Result<std::string> outcome = linkage_->OnProvisionRequest(hub_.Sign(permit));
    EXPECT_EQ(outcome.value_or(""), "awaiting_approval");
    return permit;
  }
};

TEST_P(LinkageApprovalTest, AnApprovedAnswerIsSentAndCompletesTheInquiry) {
  std::string id;
  linkage::ProvisionPermit permit = AwaitingApproval(&id);
  EXPECT_EQ(OutboxCount(B()), 0);  // nothing leaves before the decision
  ASSERT_OK_AND_ASSIGN(std::vector<ApprovalView> waiting, linkage_->ListApprovals(B()));
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_EQ(waiting[0].permit_id, permit.id.str());
  EXPECT_EQ(waiting[0].inquirer, kCityA.str());
  EXPECT_EQ(waiting[0].tm, kWelfareTm.str());
  EXPECT_THAT(waiting[0].answer_json, HasSubstr(R"("status":"no_data")"));
  ASSERT_OK(linkage_->DecideApproval(B(), permit.id, true, "", "staff:suzuki"));
  ASSERT_OK_AND_ASSIGN(std::vector<ApprovalView> after, linkage_->ListApprovals(B()));
  EXPECT_TRUE(after.empty());
  EXPECT_THAT(linkage_->DecideApproval(B(), permit.id, true, "", "staff:suzuki"),
              StatusIs(StatusCode::kNotFound, HasSubstr("awaits approval")));
  ASSERT_OK(Relay(permit));
  ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->GetInquiry(A(), id));
  EXPECT_EQ(v.state, "completed");
  EXPECT_EQ(v.result_json, waiting[0].answer_json);
  ASSERT_OK_AND_ASSIGN(std::vector<RecordEntry> records, linkage_->ListRecords(B(), 0, 10));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].decided_by, "staff:suzuki");
  EXPECT_EQ(records[0].state, "answered");
}

TEST_P(LinkageApprovalTest, ARejectionTellsTheInquirer) {
  std::string id;
  linkage::ProvisionPermit permit = AwaitingApproval(&id);
  EXPECT_THAT(linkage_->DecideApproval(B(), permit.id, false, std::string(1001, 'x'), "staff:s"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("comment")));
  ASSERT_OK(linkage_->DecideApproval(B(), permit.id, false, "not this person", "staff:s"));
  ASSERT_OK(Relay(permit));
  ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->GetInquiry(A(), id));
  EXPECT_EQ(v.state, "refused");
  EXPECT_EQ(v.reason, "PROVIDER_REJECTED");
  EXPECT_EQ(v.result_json, R"({"status":"rejected","comment":"not this person"})");
  // The hub re-sends a result it could not see acknowledged: the refusal, like a completed
  // answer, is acknowledged again and changes nothing (it was 412 INQUIRY_ENDED, which the hub
  // takes as final, before).
  ASSERT_OK(linkage_->OnInquiryResult(ResultFor(permit, hub_.Calls("/hub/v1/provisions").back())));
  ASSERT_OK_AND_ASSIGN(InquiryView again, linkage_->GetInquiry(A(), id));
  EXPECT_EQ(again.state, "refused");
  EXPECT_EQ(again.result_json, v.result_json);
}

TEST_P(LinkageApprovalTest, ADecisionAfterThePermitExpiredSendsNothing) {
  std::string id;
  linkage::ProvisionPermit permit = AwaitingApproval(&id, std::chrono::seconds(120));
  clock_.Advance(std::chrono::seconds(121));
  EXPECT_THAT(linkage_->DecideApproval(B(), permit.id, true, "", "staff:s"),
              StatusIs(StatusCode::kFailedPrecondition,
                       HasSubstr("PERMIT_EXPIRED: permit " + permit.id.str())));
  EXPECT_EQ(OutboxCount(B()), 0);
  ASSERT_OK_AND_ASSIGN(std::vector<ApprovalView> left, linkage_->ListApprovals(B()));
  EXPECT_TRUE(left.empty());
  ASSERT_OK_AND_ASSIGN(std::vector<RecordEntry> records, linkage_->ListRecords(B(), 0, 10));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].state, "expired");
}

// The permit's expiry millisecond itself is too late, for a decision as for the sweep and for
// linkage::VerifyPermit (a decision at exactly expires_at_ms was accepted before).
TEST_P(LinkageApprovalTest, ADecisionAtThePermitsExpiryMillisecondIsRefused) {
  std::string id;
  linkage::ProvisionPermit permit = AwaitingApproval(&id, std::chrono::seconds(120));
  clock_.Advance(
      std::chrono::milliseconds(permit.expires_at_ms) -
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch()));
  ASSERT_EQ(ToUnixMicros(clock_.Now()) / 1000, permit.expires_at_ms);
  EXPECT_THAT(linkage_->DecideApproval(B(), permit.id, true, "", "staff:s"),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("PERMIT_EXPIRED")));
  EXPECT_EQ(OutboxCount(B()), 0);
}

TEST_P(LinkageApprovalTest, TheSweepDropsUndecidedAnswersWhosePermitsExpired) {
  std::string id;
  linkage::ProvisionPermit permit = AwaitingApproval(&id, std::chrono::seconds(120));
  clock_.Advance(std::chrono::seconds(119));
  ASSERT_OK(linkage_->Sweep(B()).status());
  ASSERT_OK_AND_ASSIGN(std::vector<ApprovalView> still, linkage_->ListApprovals(B()));
  EXPECT_EQ(still.size(), 1u);
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_OK(linkage_->Sweep(B()).status());
  ASSERT_OK_AND_ASSIGN(std::vector<ApprovalView> gone, linkage_->ListApprovals(B()));
  EXPECT_TRUE(gone.empty());
  EXPECT_THAT(linkage_->DecideApproval(B(), permit.id, true, "", "staff:s"),
              StatusIs(StatusCode::kNotFound));
}

// --- the inquiry table's transitions -------------------------------------------------------

TEST_P(LinkageServiceTest, TheInquiryTableOnlyMovesAlongAllowedTransitions) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->CreateInquiry(A(), TaxInquiry()));
  ASSERT_OK_AND_ASSIGN(auto st, platform_->Tenant(A()));
  const int64_t now = ToUnixMicros(clock_.Now());
  ASSERT_OK_AND_ASSIGN(const crypto::Bytes sealed,
                       st->data_keys->Seal(crypto::AsBytes(R"({"status":"x"})"),
                                           LinkageAad("result", A(), v.inquiry_id)));
  auto in_tx = [&](auto fn) { return st->Commit([&](store::Transaction& tx) { return fn(tx); }); };
  // Not a state an unpermitted inquiry can end in.
  EXPECT_THAT(
      in_tx([&](store::Transaction& tx) {
        return EndUnpermittedInquiry(tx, v.inquiry_id, InquiryState::kPermitted, "", now).status();
      }),
      StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(in_tx([&](store::Transaction& tx) {
                return EndAnsweredInquiry(tx, v.inquiry_id, InquiryState::kAccepted, "", sealed,
                                          "p", now)
                    .status();
              }),
              StatusIs(StatusCode::kInvalidArgument));
  // accepted → permitted → failed; then nothing moves it.
  bool changed = false;
  ASSERT_OK(in_tx([&](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(changed, MarkInquiryPermitted(tx, v.inquiry_id, "p1", std::nullopt, now));
    return Status();
  }));
  EXPECT_TRUE(changed);
  ASSERT_OK(in_tx([&](store::Transaction& tx) -> Status {
    // Only from accepted: a permitted inquiry waits for its answer.
    ASSIGN_OR_RETURN(changed,
                     EndUnpermittedInquiry(tx, v.inquiry_id, InquiryState::kFailed, "X", now));
    return Status();
  }));
  EXPECT_FALSE(changed);
  ASSERT_OK(in_tx([&](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(changed, EndAnsweredInquiry(tx, v.inquiry_id, InquiryState::kFailed, "X",
                                                 sealed, "p1", now));
    return Status();
  }));
  EXPECT_TRUE(changed);
  ASSERT_OK(in_tx([&](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(changed, EndAnsweredInquiry(tx, v.inquiry_id, InquiryState::kCompleted, "",
                                                 sealed, "p1", now));
    return Status();
  }));
  EXPECT_FALSE(changed);
  ASSERT_OK(in_tx([&](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(changed, MarkInquiryPermitted(tx, v.inquiry_id, "p2", std::nullopt, now));
    return Status();
  }));
  EXPECT_FALSE(changed);
  ASSERT_OK(in_tx([&](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(int64_t n, ExpireInquiries(tx, now + 3'600'000'000));
    changed = n > 0;
    return Status();
  }));
  EXPECT_FALSE(changed);
  ASSERT_OK_AND_ASSIGN(InquiryView got, linkage_->GetInquiry(A(), v.inquiry_id));
  EXPECT_EQ(got.state, "failed");
  EXPECT_EQ(got.reason, "X");
  EXPECT_EQ(got.permit_id, "p1");
  EXPECT_EQ(got.result_json, R"({"status":"x"})");
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(LinkageServiceTest);
CHUKAN_INSTANTIATE_BOTH_BACKENDS(LinkageApprovalTest);

}  // namespace
}  // namespace chukan::server
