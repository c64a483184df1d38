// Retention of the linkage's rows (LinkageService::Sweep): inquiry and provision rows (the records
// of provision), subject codes, outbox items — on both backends, with the fake clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/status_matchers.h"
#include "server/linkage_service.h"
#include "server/linkage_test_util.h"

namespace chukan::server {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using namespace ::chukan::server::testing;  // NOLINT: the fixture's names

constexpr auto kDay = std::chrono::hours(24);
constexpr auto kRecordsDays = 2557 * kDay;  // the default records_days: 7 years
constexpr auto kCodeDays = 365 * kDay;      // the default code_days

class LinkageRetentionTest : public LinkageTestBase {
 protected:
  void SetUp() override {
    LinkageTestBase::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Restart(10'000);
  }

  // A new service with the default retention and `delete_batch` rows per kind per sweep.
  void Restart(int64_t delete_batch) {
    LinkageService::Options o;
    o.inquiry_timeout = std::chrono::seconds(600);
    o.result_days = 2;
    o.delete_batch = delete_batch;
    linkage_.reset();
    linkage_ = std::make_unique<LinkageService>(*platform_, FakeHub::Catalogue(), &hub_, o, clock_);
  }

  // A's inquiry about `atena`, expired (NO_ANSWER) by a sweep 60 seconds later; returns its id.
  std::string EndedInquiry(const AtenaNo& atena = kAtena) {
    InquiryInput in = TaxInquiry();
    in.atena = atena;
    in.timeout_seconds = 60;
    Result<InquiryView> v = linkage_->CreateInquiry(A(), in);
    EXPECT_OK(v.status());
    clock_.Advance(std::chrono::seconds(60));
    Result<LinkageSweep> s = linkage_->Sweep(A());
    EXPECT_OK(s.status());
    EXPECT_EQ(s.ok() ? s->expired : -1, 1);
    return v.ok() ? v->inquiry_id : "";
  }

  int64_t Count(const TenantId& t, const std::string& sql, const std::vector<store::Value>& args) {
    auto st = platform_->Tenant(t).value();
    auto tx = st->db->BeginRead().value();
    return tx->QueryOne(sql, args).value()->GetInt(0).value();
  }
  bool HasCode(const TenantId& t, const SubjectCode& code) {
    return Count(t, "SELECT COUNT(*) FROM subject_codes WHERE subject_code = ?", {code.str()}) == 1;
  }
  // The targets of the tenant's `action` audit entries (actor system), oldest first.
  std::vector<std::string> Audited(const TenantId& t, const std::string& action) {
    auto st = platform_->Tenant(t).value();
    auto tx = st->db->BeginRead().value();
    std::vector<std::string> out;
    Result<std::vector<store::Row>> rows = tx->Query(
        "SELECT target FROM audit_log WHERE action = ? AND actor = 'system'"
        " AND outcome = 'ok' ORDER BY seq",
        {action});
    EXPECT_OK(rows.status());
    if (rows.ok()) {
      for (const store::Row& r : *rows) out.push_back(r.GetText(0).value());
    }
    return out;
  }
};

// The tenant's audit log: entries go audit_days (7 years) after they were written, up to a
// signed checkpoint that then anchors the chain; the prune is itself recorded, and the chain
// still verifies against the platform's key.
TEST_P(LinkageRetentionTest, AuditEntriesGoAuditDaysLaterUpToASignedCheckpoint) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  EndedInquiry();
  const int64_t written = Count(A(), "SELECT COUNT(*) FROM audit_log", {});
  ASSERT_GT(written, 0);
  clock_.Advance(kRecordsDays - kDay);
  ASSERT_OK_AND_ASSIGN(LinkageSweep early, linkage_->Sweep(A()));
  EXPECT_EQ(early.audit_pruned, 0);
  EXPECT_TRUE(Audited(A(), "audit.prune").empty());
  clock_.Advance(2 * kDay);
  ASSERT_OK_AND_ASSIGN(LinkageSweep swept, linkage_->Sweep(A()));
  EXPECT_EQ(swept.audit_pruned, written);
  EXPECT_THAT(
      Audited(A(), "audit.prune"),
      ElementsAre(std::to_string(written) + " entries up to seq " + std::to_string(written)));
  EXPECT_EQ(Count(A(), "SELECT MIN(seq) FROM audit_log", {}), written + 1);
  auto st = platform_->Tenant(A()).value();
  ASSERT_OK(st->audit->Checkpoint().status());
  audit::VerifyOptions o;
  o.trusted_keys = {platform_->audit_verify_key()};
  o.pruned_not_after_us = ToUnixMicros(clock_.Now()) - 2557 * int64_t{86'400'000'000};
  ASSERT_OK_AND_ASSIGN(audit::VerifyReport r, audit::Verify(*st->db, o));
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.anchor_seq, written);
  ASSERT_OK_AND_ASSIGN(LinkageSweep again, linkage_->Sweep(A()));
  EXPECT_EQ(again.audit_pruned, 0);
}

TEST_P(LinkageRetentionTest, InquiryRowsGoRecordsDaysAfterTheyEnded) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  const std::string old_id = EndedInquiry();
  clock_.Advance(kDay);
  const std::string young_id = EndedInquiry();
  // One second before the old row's time: both kept.
  clock_.Advance(kRecordsDays - kDay - std::chrono::seconds(60) - std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(LinkageSweep kept, linkage_->Sweep(A()));
  EXPECT_EQ(kept.inquiries_deleted, 0);
  ASSERT_OK(linkage_->GetInquiry(A(), old_id).status());
  // Something written meanwhile, so that the erase below has a WAL to truncate.
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(LinkageSweep swept, linkage_->Sweep(A()));
  EXPECT_EQ(swept.inquiries_deleted, 1);
  EXPECT_THAT(linkage_->GetInquiry(A(), old_id), StatusIs(StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(InquiryView young, linkage_->GetInquiry(A(), young_id));
  EXPECT_EQ(young.state, "expired");
  EXPECT_THAT(Audited(A(), "inquiry.delete"), ElementsAre("1 inquiries past records retention"));
  if (GetParam() == store::Backend::kSqlite) {
    // The deletion is erased from the files as the other deletions are (EraseFreed).
    EXPECT_EQ(std::filesystem::file_size(platform_->store().TenantPath(A()) + "-wal"), 0u);
  }
  ASSERT_OK_AND_ASSIGN(LinkageSweep again, linkage_->Sweep(A()));
  EXPECT_EQ(again.inquiries_deleted, 0);
  clock_.Advance(kDay + std::chrono::seconds(60));  // the young one ended a day and a minute later
  ASSERT_OK_AND_ASSIGN(LinkageSweep later, linkage_->Sweep(A()));
  EXPECT_EQ(later.inquiries_deleted, 1);
  EXPECT_THAT(linkage_->GetInquiry(A(), young_id), StatusIs(StatusCode::kNotFound));
}

// The records of provision page from the oldest row still kept.
TEST_P(LinkageRetentionTest, RecordsPagingStartsAtTheOldestRowKept) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(EndedInquiry());
    clock_.Advance(kDay);
  }
  clock_.Advance(kRecordsDays - 3 * kDay);  // only the first ended 2557 days ago or more
  ASSERT_OK_AND_ASSIGN(LinkageSweep swept, linkage_->Sweep(A()));
  EXPECT_EQ(swept.inquiries_deleted, 1);
  std::vector<std::string> paged;
  int64_t after = 0;
  for (int page = 0; page < 5; ++page) {
    ASSERT_OK_AND_ASSIGN(std::vector<RecordEntry> got, linkage_->ListRecords(A(), after, 1));
    if (got.empty()) break;
    ASSERT_EQ(got.size(), 1u);
    paged.push_back(got[0].id);
    after = got[0].at_us;
  }
  EXPECT_THAT(paged, ElementsAre(ids[1], ids[2]));
}

TEST_P(LinkageRetentionTest, FinalProvisionRowsGoNeverOneAwaitingApproval) {
  // An answered provision, and one awaiting approval whose permit is valid 3000 days (so that it
  // still awaits when the first one's time comes).
  std::string answered_inquiry;
  linkage::ProvisionPermit answered = InquireAndPermit(TaxInquiry(), &answered_inquiry);
  ASSERT_OK_AND_ASSIGN(std::string outcome, linkage_->OnProvisionRequest(hub_.Sign(answered)));
  EXPECT_EQ(outcome, "answered");
  InquiryInput welfare = TaxInquiry();
  welfare.procedure = kWelfareJt;
  welfare.tm = kWelfareTm;
  std::string waiting_inquiry;
  linkage::ProvisionPermit waiting =
      InquireAndPermit(welfare, &waiting_inquiry, 3000 * std::chrono::seconds(kDay));
  ASSERT_OK_AND_ASSIGN(outcome, linkage_->OnProvisionRequest(hub_.Sign(waiting)));
  EXPECT_EQ(outcome, "awaiting_approval");
  auto provisions = [&] { return Count(B(), "SELECT COUNT(*) FROM provisions", {}); };

  clock_.Advance(kRecordsDays - std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(LinkageSweep kept, linkage_->Sweep(B()));
  EXPECT_EQ(kept.provisions_deleted, 0);
  EXPECT_EQ(provisions(), 2);
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(LinkageSweep swept, linkage_->Sweep(B()));
  EXPECT_EQ(swept.provisions_deleted, 1);
  ASSERT_OK_AND_ASSIGN(std::vector<RecordEntry> left, linkage_->ListRecords(B(), 0, 10));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].id, waiting.id.str());
  EXPECT_EQ(left[0].state, "awaiting_approval");
  ASSERT_OK_AND_ASSIGN(std::vector<ApprovalView> approvals, linkage_->ListApprovals(B()));
  EXPECT_EQ(approvals.size(), 1u);
  EXPECT_THAT(Audited(B(), "provision.delete"), ElementsAre("1 provisions past records retention"));
  // Well past its time, still awaiting: kept.
  clock_.Advance(400 * kDay);
  ASSERT_OK_AND_ASSIGN(LinkageSweep waited, linkage_->Sweep(B()));
  EXPECT_EQ(waited.provisions_deleted, 0);
  EXPECT_EQ(provisions(), 1);
  // Its permit expires (3000 days): the sweep marks it expired, and the next one deletes it.
  clock_.Advance(3000 * kDay - kRecordsDays - 400 * kDay);
  ASSERT_OK_AND_ASSIGN(LinkageSweep expired, linkage_->Sweep(B()));
  EXPECT_EQ(expired.provisions_deleted, 0);
  ASSERT_OK_AND_ASSIGN(std::vector<RecordEntry> last, linkage_->ListRecords(B(), 0, 10));
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].state, "expired");
  ASSERT_OK_AND_ASSIGN(LinkageSweep next, linkage_->Sweep(B()));
  EXPECT_EQ(next.provisions_deleted, 1);
  EXPECT_EQ(provisions(), 0);
}

TEST_P(LinkageRetentionTest, SubjectCodesGoOnlyWhenNothingNeedsThem) {
  const AtenaNo named_atena = kAtena;                                       // an inquiry names it
  const AtenaNo replica_atena = kAtena2;                                    // in the replica
  const AtenaNo unused_atena = AtenaNo::Parse("000000000000103").value();   // nothing
  const AtenaNo recent_atena = AtenaNo::Parse("000000000000104").value();   // registered late
  const AtenaNo renewed_atena = AtenaNo::Parse("000000000000105").value();  // registered again
  auto rid = [](int i) { return ResidentId::Parse("1234567890" + std::to_string(i)).value(); };
  ASSERT_OK_AND_ASSIGN(SubjectCode named, linkage_->RegisterCode(A(), named_atena, rid(1)));
  ASSERT_OK_AND_ASSIGN(SubjectCode in_replica, linkage_->RegisterCode(A(), replica_atena, rid(2)));
  ASSERT_OK_AND_ASSIGN(SubjectCode unused, linkage_->RegisterCode(A(), unused_atena, rid(3)));
  ASSERT_OK_AND_ASSIGN(SubjectCode renewed, linkage_->RegisterCode(A(), renewed_atena, rid(5)));
  EndedInquiry(named_atena);  // kept 7 years
  ASSERT_NE(ImportTaxReplica(A(), replica_atena, "1000000", replica::ImportMode::kUpsert), "");
  clock_.Advance(300 * kDay);
  ASSERT_OK_AND_ASSIGN(SubjectCode recent, linkage_->RegisterCode(A(), recent_atena, rid(4)));
  ASSERT_OK_AND_ASSIGN(SubjectCode again, linkage_->RegisterCode(A(), renewed_atena, rid(5)));
  EXPECT_EQ(again, renewed);

  // One second before the first codes' time: a walk runs and finds no candidate.
  clock_.Advance(kCodeDays - 300 * kDay - std::chrono::seconds(61));
  ASSERT_OK_AND_ASSIGN(LinkageSweep early, linkage_->Sweep(A()));
  EXPECT_EQ(early.codes_checked, 0);
  EXPECT_EQ(early.codes_deleted, 0);
  // Their time has come, but the next walk starts a day after that one: no code is examined
  // every second.
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(LinkageSweep waiting, linkage_->Sweep(A()));
  EXPECT_EQ(waiting.codes_checked, 0);
  EXPECT_TRUE(HasCode(A(), unused));
  clock_.Advance(kDay - std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(LinkageSweep walked, linkage_->Sweep(A()));
  EXPECT_EQ(walked.codes_checked, 3);  // named, in_replica, unused: the other two are younger
  EXPECT_EQ(walked.codes_deleted, 1);
  EXPECT_TRUE(HasCode(A(), named));
  EXPECT_TRUE(HasCode(A(), in_replica));
  EXPECT_FALSE(HasCode(A(), unused));
  EXPECT_TRUE(HasCode(A(), recent));
  EXPECT_TRUE(HasCode(A(), renewed));
  EXPECT_THAT(Audited(A(), "code.delete"), ElementsAre("1 subject codes no longer needed"));
  // The walk is over: the next sweep examines nothing.
  ASSERT_OK_AND_ASSIGN(LinkageSweep after, linkage_->Sweep(A()));
  EXPECT_EQ(after.codes_checked, 0);

  // Without its code the resident cannot be asked about; registering again brings it back.
  InquiryInput in = TaxInquiry();
  in.atena = unused_atena;
  EXPECT_THAT(linkage_->CreateInquiry(A(), in), StatusIs(StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(SubjectCode back, linkage_->RegisterCode(A(), unused_atena, rid(3)));
  EXPECT_EQ(back, unused);
  EXPECT_TRUE(HasCode(A(), unused));
  ASSERT_OK(linkage_->CreateInquiry(A(), in).status());

  // A year after their (re-)registration, the recent and the renewed code go too.
  clock_.Advance(300 * kDay);
  ASSERT_OK_AND_ASSIGN(LinkageSweep last, linkage_->Sweep(A()));
  EXPECT_EQ(last.codes_deleted, 2);
  EXPECT_FALSE(HasCode(A(), recent));
  EXPECT_FALSE(HasCode(A(), renewed));
  EXPECT_TRUE(HasCode(A(), named));
  EXPECT_TRUE(HasCode(A(), in_replica));
  EXPECT_TRUE(HasCode(A(), unused));  // registered again, and named by the new inquiry
}

// A 副本 version an import superseded is kept records_days (as long as the records of
// provision that may name what was provided from it), then deleted by the sweep and audited.
TEST_P(LinkageRetentionTest, SupersededReplicaVersionsGoRecordsDaysAfterTheyEnded) {
  ASSERT_NE(ImportTaxReplica(A(), kAtena2, "1000000", replica::ImportMode::kUpsert), "");
  clock_.Advance(kDay);
  ASSERT_NE(ImportTaxReplica(A(), kAtena2, "1100000", replica::ImportMode::kUpsert), "");
  auto history = [&] { return Count(A(), "SELECT COUNT(*) FROM replica_history", {}); };
  ASSERT_EQ(history(), 1);
  clock_.Advance(kRecordsDays - std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(LinkageSweep early, linkage_->Sweep(A()));
  EXPECT_EQ(early.history_deleted, 0);
  EXPECT_EQ(history(), 1);
  clock_.Advance(std::chrono::seconds(2));
  ASSERT_OK_AND_ASSIGN(LinkageSweep due, linkage_->Sweep(A()));
  EXPECT_EQ(due.history_deleted, 1);
  EXPECT_EQ(history(), 0);
  EXPECT_EQ(Count(A(), "SELECT COUNT(*) FROM replica_record", {}), 1);  // the current one stays
  EXPECT_THAT(Audited(A(), "history.delete"),
              ElementsAre("1 replica versions past records retention"));
}

TEST_P(LinkageRetentionTest, DeliveredOutboxItemsGoAfterADayDeadOnesAfterDeadDays) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  // One permit request delivered, one dead.
  ASSERT_OK(linkage_->CreateInquiry(A(), TaxInquiry()).status());
  hub_.SetPermitAnswer(http::Response::Json(201, R"({"permit_id":"p1"})"));
  ASSERT_OK(DeliverAll(A()));
  ASSERT_OK(linkage_->CreateInquiry(A(), TaxInquiry()).status());
  ASSERT_OK_AND_ASSIGN(std::vector<store::OutboxItem> claimed,
                       linkage_->ClaimOutbox(A(), "test:2", 10, std::chrono::seconds(60)));
  ASSERT_EQ(claimed.size(), 1u);
  {
    ASSERT_OK_AND_ASSIGN(auto st, platform_->Tenant(A()));
    ASSERT_OK_AND_ASSIGN(auto tx, st->db->Begin());
    ASSERT_OK(linkage_->outbox().Bury(*tx, claimed[0].id, "test:2", "HTTP 400"));
    ASSERT_OK(tx->Commit());
  }
  auto items = [&](const char* state) {
    return Count(A(), "SELECT COUNT(*) FROM outbox WHERE state = ?", {std::string(state)});
  };
  ASSERT_EQ(items("done"), 1);
  ASSERT_EQ(items("dead"), 1);
  // Purged once older than a day (done) and 30 days (dead): at that very moment still kept.
  auto purged_after = [&](Duration wait) -> int64_t {
    clock_.Advance(wait);
    Result<LinkageSweep> s = linkage_->Sweep(A());
    EXPECT_OK(s.status());
    return s.ok() ? s->outbox_purged : -1;
  };
  EXPECT_EQ(purged_after(kDay), 0);
  EXPECT_EQ(purged_after(std::chrono::seconds(1)), 1);
  EXPECT_EQ(items("done"), 0);
  EXPECT_EQ(items("dead"), 1);
  EXPECT_EQ(purged_after(29 * kDay - std::chrono::seconds(1)), 0);
  EXPECT_EQ(purged_after(std::chrono::seconds(1)), 1);
  EXPECT_EQ(items("dead"), 0);
  EXPECT_EQ(Count(A(), "SELECT COUNT(*) FROM outbox_payload", {}), 0);
  EXPECT_THAT(Audited(A(), "outbox.purge"),
              ElementsAre("1 delivered or dead outbox items past retention",
                          "1 delivered or dead outbox items past retention"));
}

// At most delete_batch rows per kind per sweep: with 3, seven due rows take three sweeps.
TEST_P(LinkageRetentionTest, EachSweepDeletesAtMostABatch) {
  Restart(3);
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  for (int i = 0; i < 7; ++i) EndedInquiry();
  clock_.Advance(kRecordsDays);
  std::vector<int64_t> deleted;
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK_AND_ASSIGN(LinkageSweep s, linkage_->Sweep(A()));
    deleted.push_back(s.inquiries_deleted);
  }
  EXPECT_THAT(deleted, ElementsAre(3, 3, 1, 0));
  EXPECT_EQ(Count(A(), "SELECT COUNT(*) FROM inquiries", {}), 0);
  EXPECT_THAT(Audited(A(), "inquiry.delete"), ElementsAre("3 inquiries past records retention",
                                                          "3 inquiries past records retention",
                                                          "1 inquiries past records retention"));
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(LinkageRetentionTest);

}  // namespace
}  // namespace chukan::server
