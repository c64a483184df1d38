// Linkage under injected disk faults (store/fault_vfs.h, SQLite): while the inquirer's or the
// provider's database fails its fsyncs, finds its disk full or stores short writes, the call
// that needed a durable write fails with kUnavailable (HTTP 503) naming the tenant's file and
// the cause; nothing acknowledged is lost, nothing failed is half there; and once the fault
// clears the same service — no restart — takes every inquiry to its end exactly once.
// docs/storage.md, "Faults and recovery".
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "http/message.h"
#include "json/json.h"
#include "server/linkage_service.h"
#include "server/linkage_test_util.h"
#include "store/fault_vfs.h"

namespace chukan::server {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using namespace ::chukan::server::testing;  // NOLINT: the fixture's names
using store::FaultVfs;

class LinkageFaultTest : public LinkageTestBase {
 protected:
  void SetUp() override {
    FaultVfs::Get();  // registered before the first open
    sqlite_vfs_ = FaultVfs::kName;
    LinkageTestBase::SetUp();
  }
  void TearDown() override {
    FaultVfs::Get().Disarm();
    LinkageTestBase::TearDown();
  }

  // The tenant's database file, as errors name it.
  std::string FileOf(const TenantId& t) const { return "tenants/" + t.str() + ".db"; }

  // Arms `op` on the WAL of `t`'s database; for writes, the first `skip` succeed.
  void Arm(FaultVfs::Op op, const TenantId& t, int64_t skip) {
    FaultVfs::Fault f;
    f.op = op;
    f.file_suffix = "-wal";
    f.path_contains = dir().path() + "/data/" + FileOf(t);
    f.skip = skip;
    FaultVfs::Get().Arm(f);
  }

  // What a call that met the fault on `t` must answer: kUnavailable, the file, the cause; the
  // API answers it with 503.
  ::testing::Matcher<const Status&> FailedOn(const TenantId& t, const char* detail) const {
    return StatusIs(StatusCode::kUnavailable, AllOf(HasSubstr(FileOf(t)), HasSubstr(detail)));
  }

  // Claims one due permit request of A and delivers it; returns the inquiry it was for ("" if
  // none was due) and sets *call to the hub's request.
  Result<std::string> DeliverOnePermitRequest(std::optional<FakeHub::Call>* call) {
    const size_t before = hub_.Calls("/hub/v1/inquiries").size();
    ASSIGN_OR_RETURN(std::vector<store::OutboxItem> items,
                     linkage_->ClaimOutbox(A(), "test:1", 1, std::chrono::seconds(60)));
    if (items.empty()) return std::string();
    Status delivered = linkage_->courier().Deliver(A(), items, "test:1");
    std::vector<FakeHub::Call> calls = hub_.Calls("/hub/v1/inquiries");
    if (calls.size() != before + 1) return InternalError("expected one permit request");
    call->emplace(calls.back());
    RETURN_IF_ERROR(delivered);
    ASSIGN_OR_RETURN(json::JsonObject o, json::ParseJsonObject((*call)->body));
    return o.GetString("reference", 64);
  }

  // The whole scenario for one kind of fault (`skip`: WAL writes that succeed before it hits,
  // so that it lands inside a commit; `detail`: the cause the message names).
  void RunUnderFault(FaultVfs::Op op, int64_t skip, const char* detail) {
    const SubjectCode b_code = RegisterBoth();
    ASSERT_NE(ImportTaxReplica(B(), kAtena, "1234567", replica::ImportMode::kUpsert), "");
    std::vector<std::string> acknowledged;
    for (int i = 0; i < 2; ++i) {
      ASSERT_OK_AND_ASSIGN(InquiryView v,
                           linkage_->CreateInquiry(A(), TaxInquiry("before-" + std::to_string(i))));
      acknowledged.push_back(v.inquiry_id);
    }

    // 1. A new inquiry while A's disk fails: refused with 503, naming A's file.
    Arm(op, A(), skip);
    Result<InquiryView> refused = linkage_->CreateInquiry(A(), TaxInquiry("during"));
    EXPECT_THAT(refused.status(), FailedOn(A(), detail));
    EXPECT_EQ(http::HttpStatusFor(refused.status().code()), 503);
    EXPECT_GE(FaultVfs::Get().injected(), 1);
    // The acknowledged ones are still readable meanwhile.
    ASSERT_OK_AND_ASSIGN(InquiryView first, linkage_->GetInquiry(A(), acknowledged[0]));
    EXPECT_EQ(first.state, "accepted");
    FaultVfs::Get().Disarm();
    // The client's retry with the same key, and a new one, are taken by the same service.
    ASSERT_OK_AND_ASSIGN(InquiryView retried, linkage_->CreateInquiry(A(), TaxInquiry("during")));
    acknowledged.push_back(retried.inquiry_id);
    ASSERT_OK_AND_ASSIGN(InquiryView after, linkage_->CreateInquiry(A(), TaxInquiry("after")));
    acknowledged.push_back(after.inquiry_id);

    // 2. A's record of the hub's permit fails: the request was sent, its outcome not recorded;
    // the item stays claimed until its lease ends and is sent again — the inquiry is not lost.
    // The record is a lazy commit (docs/storage.md, "Lazy commits"), which syncs nothing: a
    // failing fsync does not meet it, and the permit is recorded (`early`).
    const PermitId first_permit = PermitId::Generate();
    hub_.SetPermitAnswer(
        http::Response::Json(201, R"({"permit_id":")" + first_permit.str() + "\"}"));
    ASSERT_OK_AND_ASSIGN(std::vector<store::OutboxItem> claimed,
                         linkage_->ClaimOutbox(A(), "test:1", 1, std::chrono::seconds(60)));
    ASSERT_EQ(claimed.size(), 1u);
    Arm(op, A(), skip);
    const Status recorded = linkage_->courier().Deliver(A(), claimed, "test:1");
    EXPECT_EQ(hub_.Calls("/hub/v1/inquiries").size(), 1u);  // sent
    std::optional<std::pair<std::string, linkage::ProvisionPermit>> early;
    if (op == FaultVfs::Op::kSync) {
      ASSERT_OK(recorded);
      const FakeHub::Call call = hub_.Calls("/hub/v1/inquiries").back();
      ASSERT_OK_AND_ASSIGN(json::JsonObject o, json::ParseJsonObject(call.body));
      ASSERT_OK_AND_ASSIGN(std::string id, o.GetString("reference", 64));
      early.emplace(id, PermitFor(call, first_permit, b_code));
      ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->GetInquiry(A(), id));
      EXPECT_EQ(v.state, "permitted");
    } else {
      EXPECT_THAT(recorded, FailedOn(A(), detail));  // its outcome not recorded
    }
    FaultVfs::Get().Disarm();
    clock_.Advance(std::chrono::seconds(61));  // the lease of the item whose record failed

    // 3. Each inquiry through the exchange; the first answer and the first result meet the
    // fault once, on B's file and on A's.
    std::set<std::string> permitted;
    std::map<std::string, PermitId> permit_of;
    bool faulted_b = false;
    bool faulted_a = false;
    for (size_t n = 0; n < acknowledged.size(); ++n) {
      std::string id;
      linkage::ProvisionPermit permit;
      if (n == 0 && early) {
        std::tie(id, permit) = *early;  // permitted in step 2
        permit_of.emplace(id, first_permit);
      } else {
        const PermitId permit_id = PermitId::Generate();
        hub_.SetPermitAnswer(
            http::Response::Json(201, R"({"permit_id":")" + permit_id.str() + "\"}"));
        std::optional<FakeHub::Call> call;
        ASSERT_OK_AND_ASSIGN(id, DeliverOnePermitRequest(&call));
        ASSERT_NE(id, "") << "a permit request is missing after " << n;
        permit = PermitFor(*call, permit_id, b_code);
        permit_of.emplace(id, permit_id);
      }
      EXPECT_TRUE(permitted.insert(id).second) << "permit request delivered twice: " << id;

      if (!faulted_b) {
        Arm(op, B(), skip);
        EXPECT_THAT(linkage_->OnProvisionRequest(hub_.Sign(permit)).status(),
                    FailedOn(B(), detail));
        FaultVfs::Get().Disarm();
        faulted_b = true;
      }
      // The failed answer did not use the permit up: the hub's retry is answered.
      ASSERT_OK_AND_ASSIGN(std::string outcome, linkage_->OnProvisionRequest(hub_.Sign(permit)));
      EXPECT_EQ(outcome, "answered");
      ASSERT_OK(DeliverAll(B()));
      std::vector<FakeHub::Call> sent = hub_.Calls("/hub/v1/provisions");
      ASSERT_FALSE(sent.empty());
      const linkage::ProvisionResult result = ResultFor(permit, sent.back());
      if (!faulted_a) {
        Arm(op, A(), skip);
        EXPECT_THAT(linkage_->OnInquiryResult(result), FailedOn(A(), detail));
        FaultVfs::Get().Disarm();
        ASSERT_OK_AND_ASSIGN(InquiryView still, linkage_->GetInquiry(A(), id));
        EXPECT_EQ(still.state, "permitted");
        faulted_a = true;
      }
      ASSERT_OK(linkage_->OnInquiryResult(result));
    }
    std::optional<FakeHub::Call> none;
    ASSERT_OK_AND_ASSIGN(std::string left, DeliverOnePermitRequest(&none));
    EXPECT_EQ(left, "");

    // Every acknowledged inquiry ended, once, with B's answer; nothing else exists.
    for (const std::string& id : acknowledged) {
      ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->GetInquiry(A(), id));
      EXPECT_EQ(v.state, "completed") << id;
      ASSERT_EQ(permit_of.count(id), 1u) << id;
      EXPECT_EQ(v.permit_id, permit_of.at(id).str()) << id;
      ASSERT_TRUE(v.result_json.has_value()) << id;
      EXPECT_THAT(*v.result_json, HasSubstr("1234567")) << id;
    }
    ASSERT_OK_AND_ASSIGN(auto all, linkage_->ListInquiries(A(), std::nullopt, 0, 100));
    EXPECT_EQ(all.size(), acknowledged.size());
    ASSERT_OK_AND_ASSIGN(std::vector<RecordEntry> a_records, linkage_->ListRecords(A(), 0, 100));
    std::multiset<std::string> a_ids;
    for (const RecordEntry& r : a_records) a_ids.insert(r.id);
    EXPECT_EQ(a_ids, std::multiset<std::string>(acknowledged.begin(), acknowledged.end()));
    ASSERT_OK_AND_ASSIGN(std::vector<RecordEntry> b_records, linkage_->ListRecords(B(), 0, 100));
    EXPECT_EQ(b_records.size(), acknowledged.size());
    for (const RecordEntry& r : b_records) EXPECT_EQ(r.state, "answered") << r.id;
  }
};

TEST_P(LinkageFaultTest, AFailedFsyncFailsTheCallsThatMetItAndLinkageResumesAfterIt) {
  RunUnderFault(FaultVfs::Op::kSync, 0, "fsync failed");
}

TEST_P(LinkageFaultTest, AFullDiskFailsTheCallsThatMetItAndLinkageResumesAfterIt) {
  RunUnderFault(FaultVfs::Op::kFull, 1, "disk full");
}

TEST_P(LinkageFaultTest, AShortWriteFailsTheCallsThatMetItAndLinkageResumesAfterIt) {
  RunUnderFault(FaultVfs::Op::kShortWrite, 1, "write failed");
}

// The VFS exists for SQLite only; PostgreSQL's faults are a cut connection
// (store/postgres_fault_test.cc).
INSTANTIATE_TEST_SUITE_P(Backends, LinkageFaultTest,
                         ::testing::Values(::chukan::store::Backend::kSqlite),
                         store::testing::BackendParamName);

}  // namespace
}  // namespace chukan::server
