// Inquiry batches in-process: a real tenant store (both backends), a fake hub, a fake clock.
#include "server/inquiry_batches.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/status_matchers.h"
#include "server/linkage_test_util.h"

namespace chukan::server {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;
using namespace ::chukan::server::testing;  // NOLINT: the fixture's names

class InquiryBatchesTest : public LinkageTestBase {
 protected:
  BatchHeader Header(const std::string& file_key) {
    BatchHeader h;
    h.batch_id = PermitId::Generate().str();
    h.file_key = file_key;
    h.file_name = "P640R110_20261203093000.DAT";
    h.client = "tax-system";
    h.charset = "utf-8";
    h.lines = 4;
    h.created_at_us = ToUnixMicros(clock_.Now());
    return h;
  }
  // Four lines: an inquiry, the same line again, a refused line, an inquiry for a person
  // without a subject code.
  std::vector<BatchLinePlan> Plans(const std::string& file_key) {
    std::vector<BatchLinePlan> p(4);
    for (int i = 0; i < 4; ++i) p[i].line = i + 1;
    p[0].text = "line one 000000000000101";
    p[0].input = TaxInquiry("batch:" + file_key + ":1");
    p[1].text = p[0].text;
    p[1].input = TaxInquiry("batch:" + file_key + ":2");
    p[2].text = "line three";
    p[2].error_field = "事務コード (affair)";
    p[2].error_reason = "must be \"JM\" + 14 digits";
    p[3].text = "line four 000000000000102";
    p[3].input = TaxInquiry("batch:" + file_key + ":4");
    p[3].input->atena = kAtena2;
    return p;
  }
};

TEST_P(InquiryBatchesTest, LinesBecomeInquiriesDuplicatesAndRefusalsAndAreReadBack) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  const BatchHeader header = Header("k1");
  ASSERT_OK_AND_ASSIGN(BatchRun run, RunInquiryBatch(*linkage_, A(), header, Plans("k1")));
  EXPECT_EQ(run.batch_id, header.batch_id);
  ASSERT_EQ(run.lines.size(), 4u);
  EXPECT_EQ(run.lines[0].outcome, BatchLineOutcome::kInquiry);
  ASSERT_TRUE(run.lines[0].inquiry.has_value());
  EXPECT_EQ(run.lines[0].inquiry->state, "accepted");
  EXPECT_EQ(run.lines[1].outcome, BatchLineOutcome::kDuplicate);
  EXPECT_EQ(run.lines[1].duplicate_of, 1);
  EXPECT_EQ(run.lines[2].outcome, BatchLineOutcome::kRefused);
  EXPECT_EQ(run.lines[2].error_field, "事務コード (affair)");
  EXPECT_EQ(run.lines[3].outcome, BatchLineOutcome::kRefused);
  EXPECT_THAT(run.lines[3].error_reason, HasSubstr("no subject code"));

  ASSERT_OK_AND_ASSIGN(BatchNow now, ReadInquiryBatch(*linkage_, A(), run.batch_id));
  EXPECT_EQ(now.header.file_name, "P640R110_20261203093000.DAT");
  EXPECT_EQ(now.header.lines, 4);
  EXPECT_EQ(now.open, 1);
  ASSERT_EQ(now.lines.size(), 4u);
  EXPECT_EQ(now.lines[0].text, "line one 000000000000101");
  EXPECT_EQ(now.lines[1].text, "line one 000000000000101");
  EXPECT_EQ(now.lines[2].text, "line three");
  ASSERT_TRUE(now.lines[0].inquiry.has_value());
  EXPECT_EQ(now.lines[0].inquiry->inquiry_id, run.lines[0].inquiry->inquiry_id);
  EXPECT_EQ(now.lines[1].duplicate_of, 1);
  EXPECT_EQ(now.lines[2].error_reason, "must be \"JM\" + 14 digits");
  // The lines' text (a resident's number in it) is not stored in clear.
  ASSERT_OK_AND_ASSIGN(auto st, platform_->Tenant(A()));
  ASSERT_OK_AND_ASSIGN(auto tx, st->db->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto rows, tx->Query("SELECT text_sealed FROM inquiry_batch_lines"));
  ASSERT_EQ(rows.size(), 4u);
  for (const store::Row& r : rows) {
    ASSERT_OK_AND_ASSIGN(crypto::Bytes sealed, r.GetBlob(0));
    EXPECT_EQ(std::string(sealed.begin(), sealed.end()).find("000000000000101"), std::string::npos);
  }
  ASSERT_OK(tx->Commit());
  // Another tenant does not see it; an unknown id is not found.
  EXPECT_THAT(ReadInquiryBatch(*linkage_, B(), run.batch_id),
              StatusIs(StatusCode::kNotFound, "no such batch"));
  EXPECT_THAT(ReadInquiryBatch(*linkage_, A(), PermitId::Generate().str()),
              StatusIs(StatusCode::kNotFound, "no such batch"));
}

TEST_P(InquiryBatchesTest, TheSameFileAgainKeepsItsIdAndItsInquiries) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  ASSERT_OK_AND_ASSIGN(BatchRun first, RunInquiryBatch(*linkage_, A(), Header("k2"), Plans("k2")));
  // Meanwhile the fourth line's person got a code: sent again, that line now makes an inquiry.
  ASSERT_OK(
      linkage_->RegisterCode(A(), kAtena2, ResidentId::Parse("12345678902").value()).status());
  clock_.Advance(std::chrono::seconds(3));
  ASSERT_OK_AND_ASSIGN(BatchRun again, RunInquiryBatch(*linkage_, A(), Header("k2"), Plans("k2")));
  EXPECT_EQ(again.batch_id, first.batch_id);
  ASSERT_TRUE(again.lines[0].inquiry.has_value());
  EXPECT_EQ(again.lines[0].inquiry->inquiry_id, first.lines[0].inquiry->inquiry_id);
  EXPECT_EQ(again.lines[3].outcome, BatchLineOutcome::kInquiry);
  ASSERT_OK_AND_ASSIGN(BatchNow now, ReadInquiryBatch(*linkage_, A(), first.batch_id));
  EXPECT_EQ(now.open, 2);
  EXPECT_EQ(now.lines[3].outcome, BatchLineOutcome::kInquiry);
  EXPECT_EQ(now.lines[3].text, "line four 000000000000102");
}

TEST_P(InquiryBatchesTest, RefusedLinesKeepTheirCodeAndTheSummaryCountsOneRead) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  std::vector<BatchLinePlan> plans = Plans("k3");
  plans[2].error_code = "FORMAT";
  ASSERT_OK_AND_ASSIGN(BatchRun run, RunInquiryBatch(*linkage_, A(), Header("k3"), plans));
  EXPECT_EQ(run.lines[2].error_code, "FORMAT");
  EXPECT_EQ(run.lines[3].error_code, "NO_SUBJECT_CODE");
  ASSERT_OK_AND_ASSIGN(BatchNow now, ReadInquiryBatch(*linkage_, A(), run.batch_id));
  EXPECT_EQ(now.lines[2].error_code, "FORMAT");
  EXPECT_EQ(now.lines[3].error_code, "NO_SUBJECT_CODE");
  ASSERT_OK_AND_ASSIGN(BatchSummary s, ReadBatchSummary(*linkage_, A(), run.batch_id));
  EXPECT_EQ(s.header.file_name, "P640R110_20261203093000.DAT");
  EXPECT_EQ(s.open, 1);
  EXPECT_EQ(s.progress.duplicate, 1);
  EXPECT_EQ(s.progress.refused, 2);
  EXPECT_EQ(s.progress.states, (std::map<std::string, int64_t>{{"accepted", 1}}));
  // Another tenant's id is no batch.
  EXPECT_THAT(ReadBatchSummary(*linkage_, B(), run.batch_id),
              StatusIs(StatusCode::kNotFound, "no such batch"));
  EXPECT_THAT(ReadInquiryBatch(*linkage_, B(), run.batch_id),
              StatusIs(StatusCode::kNotFound, "no such batch"));
}

TEST_P(InquiryBatchesTest, ARepeatOfARefusedLineIsRefusedTheSameWayNotADuplicate) {
  // Line 4's person has no subject code: its repeat (line 5) gets the same refusal.
  std::vector<BatchLinePlan> plans = Plans("k5");
  plans.push_back(plans[3]);
  plans[4].line = 5;
  BatchHeader h = Header("k5");
  h.lines = 5;
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  ASSERT_OK_AND_ASSIGN(BatchRun run, RunInquiryBatch(*linkage_, A(), h, plans));
  EXPECT_EQ(run.lines[1].outcome, BatchLineOutcome::kDuplicate);  // of an inquiry: a duplicate
  EXPECT_EQ(run.lines[1].duplicate_of, 1);
  EXPECT_EQ(run.lines[4].outcome, BatchLineOutcome::kRefused);
  EXPECT_EQ(run.lines[4].duplicate_of, 0);
  EXPECT_EQ(run.lines[4].error_code, "NO_SUBJECT_CODE");
  ASSERT_OK_AND_ASSIGN(BatchNow now, ReadInquiryBatch(*linkage_, A(), run.batch_id));
  EXPECT_EQ(now.lines[4].outcome, BatchLineOutcome::kRefused);
  EXPECT_EQ(now.lines[4].error_code, "NO_SUBJECT_CODE");
}

TEST_P(InquiryBatchesTest, TheSameFileStoredUnderTwoIdsAtOnceIsAborted) {
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> st, linkage_->State(A()));
  BatchHeader first = Header("k4");
  BatchHeader second = Header("k4");  // another id: a request that raced the first
  ASSERT_OK(
      st->Commit([&](store::Transaction& tx) { return UpsertBatch(tx, first, {}).status(); }));
  EXPECT_THAT(
      st->Commit([&](store::Transaction& tx) { return UpsertBatch(tx, second, {}).status(); }),
      StatusIs(StatusCode::kAborted, "the same batch file was sent twice at once: send it again"));
}

TEST_P(InquiryBatchesTest, BatchesAreDeletedOnceTheirResultsMayBeGone) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  ASSERT_OK_AND_ASSIGN(BatchRun run, RunInquiryBatch(*linkage_, A(), Header("k3"), Plans("k3")));
  // The fixture: timeout 600 s, result_days 2. Kept until 2 days + 600 s after it was stored.
  clock_.Advance(std::chrono::hours(48) + std::chrono::seconds(599));
  ASSERT_OK_AND_ASSIGN(LinkageSweep kept, linkage_->Sweep(A()));
  EXPECT_EQ(kept.batches_deleted, 0);
  ASSERT_OK(ReadInquiryBatch(*linkage_, A(), run.batch_id).status());
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_OK_AND_ASSIGN(LinkageSweep swept, linkage_->Sweep(A()));
  EXPECT_EQ(swept.batches_deleted, 1);
  EXPECT_THAT(ReadInquiryBatch(*linkage_, A(), run.batch_id),
              StatusIs(StatusCode::kNotFound, "no such batch"));
  ASSERT_OK_AND_ASSIGN(auto st, platform_->Tenant(A()));
  ASSERT_OK_AND_ASSIGN(auto tx, st->db->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto left, tx->QueryOne("SELECT COUNT(*) FROM inquiry_batch_lines"));
  EXPECT_EQ(left->GetInt(0).value(), 0);
  ASSERT_OK(tx->Commit());
}

// Deletion that erases (issue 14): the sweep that purges a batch file's lines (DELETE) leaves
// the tenant's WAL truncated and none of their sealed texts in any file under the data
// directory — with secure_delete off they stay in the database file's free space.
TEST_P(InquiryBatchesTest, PurgedBatchLinesAreErasedFromTheFiles) {
  if (GetParam() == store::Backend::kPostgres) {
    GTEST_SKIP() << "the files are PostgreSQL's own: crypto-erasure covers them (storage.md)";
  }
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  ASSERT_OK_AND_ASSIGN(BatchRun run, RunInquiryBatch(*linkage_, A(), Header("k6"), Plans("k6")));
  std::vector<crypto::Bytes> sealed;
  {
    ASSERT_OK_AND_ASSIGN(auto st, platform_->Tenant(A()));
    ASSERT_OK_AND_ASSIGN(auto tx, st->db->BeginRead());
    ASSERT_OK_AND_ASSIGN(auto rows, tx->Query("SELECT text_sealed FROM inquiry_batch_lines "
                                              "WHERE batch_id = ? ORDER BY line",
                                              {run.batch_id}));
    for (const store::Row& r : rows) sealed.push_back(r.GetBlob(0).value());
  }
  ASSERT_EQ(sealed.size(), 4u);
  const std::string data_dir = Options().data_dir;
  const std::string tenant_file = "tenants/" + A().str() + ".db";
  for (const crypto::Bytes& line : sealed) {
    ASSERT_GE(line.size(), 32u);
    EXPECT_THAT(store::testing::FilesHoldingAnyPiece(data_dir, line),
                ::testing::Contains(::testing::StartsWith(tenant_file)));
  }
  clock_.Advance(std::chrono::hours(48) + std::chrono::seconds(600));
  ASSERT_OK_AND_ASSIGN(LinkageSweep swept, linkage_->Sweep(A()));
  EXPECT_EQ(swept.batches_deleted, 1);
  EXPECT_EQ(std::filesystem::file_size(data_dir + "/" + tenant_file + "-wal"), 0u);
  for (size_t i = 0; i < sealed.size(); ++i) {
    SCOPED_TRACE("line " + std::to_string(i + 1));
    EXPECT_THAT(store::testing::FilesHoldingAnyPiece(data_dir, sealed[i]), ::testing::IsEmpty());
  }
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(InquiryBatchesTest);

}  // namespace
}  // namespace chukan::server
