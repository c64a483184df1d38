#include "server/tenant_transfer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "audit/audit_log.h"
#include "common/status_matchers.h"
#include "server/linkage_test_util.h"
#include "store/table_copy.h"

namespace chukan::server::testing {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

using TableRows = std::map<std::string, std::vector<std::vector<store::Value>>>;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

// Every table's rows (schema_migrations, which each backend records with its own checksums,
// by component and version only).
TableRows Dump(store::Database& db) {
  TableRows out;
  auto tx = db.BeginRead().value();
  const std::vector<store::TableSchema> tables = store::ListTables(*tx).value();
  for (const store::TableSchema& t : tables) {
    auto& rows = out[t.name];
    EXPECT_OK(store::ScanTable(*tx, t, 7, [&](std::vector<store::Value>&& v) -> Status {
      if (t.name == "schema_migrations") {
        std::vector<store::Value> kept;
        for (size_t i = 0; i < t.columns.size(); ++i) {
          if (t.columns[i] == "component" || t.columns[i] == "version") kept.push_back(v[i]);
        }
        v = std::move(kept);
      }
      rows.push_back(std::move(v));
      return Status();
    }));
  }
  return out;
}

// Source: the linkage fixture's platform (city A inquired of city B, both have records), on
// GetParam()'s backend; destination: a second platform on the other backend.
class TenantTransferTest : public LinkageTestBase {
 protected:
  void SetUp() override {
    LinkageTestBase::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    dest_backend_ =
        GetParam() == store::Backend::kSqlite ? store::Backend::kPostgres : store::Backend::kSqlite;
    ServerConfig c;
    c.store.backend = dest_backend_;
    c.store.data_dir = dir().File("dest-data");
    c.keys_dir = dir().File("dest-keys");
    if (dest_backend_ == store::Backend::kPostgres) {
      const char* dsn = std::getenv("CHUKAN_TEST_PG_DSN");
      if (dsn == nullptr || *dsn == '\0') {
        if (std::getenv("CI") != nullptr) FAIL() << "CHUKAN_TEST_PG_DSN is not set under CI";
        GTEST_SKIP() << "needs CHUKAN_TEST_PG_DSN (scripts/with-postgres)";
      }
      dest_dsn_ = dsn;
      dest_prefix_ = "ct_" + store::testing::RandomSuffix();
      c.store.dsn = dest_dsn_;
      c.store.pg_prefix = dest_prefix_;
    }
    dest_config_ = c;
    ASSERT_OK_AND_ASSIGN(dest_, Platform::Open(c, true, clock_, FakeHub::Catalogue()));
    ASSERT_OK_AND_ASSIGN(crypto::BoxKeyPair k, dest_->TransferKey(true, "cli:test"));
    dest_key_ = k.public_key();
  }
  void TearDown() override {
    dest_.reset();
    if (!dest_prefix_.empty()) store::testing::DropPgNamespace(dest_dsn_, dest_prefix_);
    LinkageTestBase::TearDown();
  }

  // A whole exchange: B's replica answers A's inquiry; both sides keep their records.
  void Populate() {
    ImportTaxReplica(B(), kAtena, "7654321", replica::ImportMode::kUpsert);
    std::string id;
    linkage::ProvisionPermit permit = InquireAndPermit(TaxInquiry("k1"), &id);
    ASSERT_OK_AND_ASSIGN(std::string outcome, linkage_->OnProvisionRequest(hub_.Sign(permit)));
    ASSERT_EQ(outcome, "answered");
    ASSERT_OK(Relay(permit));
    ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->GetInquiry(A(), id));
    ASSERT_EQ(v.state, "completed");
  }

  Result<ExportReport> Export(const OrgCode& org, const std::string& out,
                              const crypto::Bytes& key) {
    ExportOptions o{.org = org,
                    .destination_key = key,
                    .out_path = out,
                    .actor = "cli:test",
                    .chukan_version = "test",
                    .limits = {},
                    .progress = {}};
    return ExportTenant(*platform_, o);
  }
  Result<ImportReport> Import(const std::string& in) {
    ImportOptions o{
        .in_path = in, .actor = "cli:test", .source_key = {}, .limits = {}, .progress = {}};
    return ImportTenant(*dest_, o);
  }
  // The destination holds nothing of `org`: no registration, no storage, no KEK file.
  void ExpectNothingAt(const OrgCode& org) {
    EXPECT_THAT(dest_->GetTenant(org), StatusIs(StatusCode::kNotFound));
    ASSERT_OK_AND_ASSIGN(std::vector<TenantId> stored, dest_->store().ListTenants());
    EXPECT_TRUE(stored.empty());
    std::vector<std::string> keks;
    for (const auto& e : fs::directory_iterator(dest_config_.keys_dir + "/tenants")) {
      keks.push_back(e.path().filename().string());
    }
    EXPECT_THAT(keks, ::testing::ElementsAre("transfer.kek"));
  }

  store::Backend dest_backend_ = store::Backend::kSqlite;
  ServerConfig dest_config_;
  std::string dest_dsn_;
  std::string dest_prefix_;
  std::unique_ptr<Platform> dest_;
  crypto::Bytes dest_key_;
};

TEST_P(TenantTransferTest, MovesEveryTableToTheOtherBackendAndTheChainStillVerifies) {
  ASSERT_NO_FATAL_FAILURE(Populate());
  const std::string file = dir().File("b.export");
  ASSERT_OK_AND_ASSIGN(auto src_ctx, platform_->Tenant(B()));
  ASSERT_OK_AND_ASSIGN(ExportReport ex, Export(kCityB, file, dest_key_));
  EXPECT_GT(ex.rows, 10);
  const TableRows before = Dump(*src_ctx->db);
  // The source's chain ends with the export (recorded before the snapshot).
  const auto& src_audit = before.at("audit_log");
  ASSERT_FALSE(src_audit.empty());
  for (const char* table : {"replica_record", "subject_codes", "provisions", "outbox"}) {
    EXPECT_FALSE(before.at(table).empty()) << table;
  }
  // Nothing of the tenant is readable in the file.
  const std::string bytes = ReadAll(file);
  EXPECT_EQ(bytes.find("7654321"), std::string::npos);
  EXPECT_EQ(bytes.find(kAtena.str()), std::string::npos);

  ASSERT_OK_AND_ASSIGN(ImportReport im, Import(file));
  EXPECT_EQ(im.export_id, ex.export_id);
  EXPECT_EQ(im.rows, ex.rows);
  EXPECT_EQ(im.source_fingerprint, PlatformKeyFingerprint(platform_->audit_verify_key()));
  ASSERT_TRUE(im.tenant.has_value());
  EXPECT_EQ(im.tenant->name, "city B");
  ASSERT_OK_AND_ASSIGN(auto dst_ctx, dest_->Tenant(B()));
  // Same data key, so the same organisation key the hub has registered.
  EXPECT_TRUE(dst_ctx->data_keys->Snapshot()->CloneCurrentForExport().ConstantTimeEquals(
      src_ctx->data_keys->Snapshot()->CloneCurrentForExport()));
  EXPECT_EQ(dst_ctx->SignKey()->key.verify_key(), src_ctx->SignKey()->key.verify_key());
  TableRows after = Dump(*dst_ctx->db);
  // The destination's chain goes on with the import and its checkpoint by the destination.
  auto& dst_audit = after.at("audit_log");
  ASSERT_EQ(dst_audit.size(), src_audit.size() + 1);
  EXPECT_EQ(std::get<std::string>(dst_audit.back()[4]), "tenant.import");
  dst_audit.pop_back();
  after.at("audit_head") = before.at("audit_head");
  auto& cps = after.at("audit_checkpoint");
  ASSERT_EQ(cps.size(), before.at("audit_checkpoint").size() + 1);
  cps.pop_back();
  EXPECT_EQ(after, before);

  // Verified with both platforms' keys trusted; the destination's alone does not vouch for the
  // source's checkpoints.
  audit::VerifyOptions both;
  both.trusted_keys = {platform_->audit_verify_key(), dest_->audit_verify_key()};
  ASSERT_OK_AND_ASSIGN(audit::VerifyReport r, audit::Verify(*dst_ctx->db, both));
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.last_seq, static_cast<int64_t>(src_audit.size()) + 1);
  audit::VerifyOptions dest_only;
  dest_only.trusted_keys = {dest_->audit_verify_key()};
  ASSERT_OK_AND_ASSIGN(r, audit::Verify(*dst_ctx->db, dest_only));
  EXPECT_FALSE(r.ok);

  // The moved provider answers again at the destination: its replica reads under the key.
  ASSERT_OK_AND_ASSIGN(replica::ReplicaStore * replicas, dst_ctx->Replicas());
  (void)replicas;
  // New rows get ids after the moved ones (sequences advanced on PostgreSQL).
  ASSERT_OK(dst_ctx->Commit([&](store::Transaction& tx) -> Status {
    return dst_ctx->audit->Append(tx, {B().str(), "cli:test", "test.after", "", "ok", ""}).status();
  }));
  // Both platforms audited it.
  auto platform_actions = [](Platform& p) {
    auto tx = p.store().Platform().value()->BeginRead().value();
    std::vector<std::string> out;
    const std::vector<store::Row> rows =
        tx->Query(
              "SELECT action, outcome FROM audit_log WHERE action LIKE 'tenant.%port' ORDER "
              "BY seq")
            .value();
    for (const store::Row& row : rows) {
      out.push_back(row.GetText(0).value() + ":" + row.GetText(1).value());
    }
    return out;
  };
  EXPECT_THAT(platform_actions(*platform_), ::testing::ElementsAre("tenant.export:ok"));
  EXPECT_THAT(platform_actions(*dest_), ::testing::ElementsAre("tenant.import:ok"));

  // Importing again over the moved tenant is refused.
  EXPECT_THAT(Import(file), StatusIs(StatusCode::kAlreadyExists, HasSubstr("already exists")));
  // The source deletes it: it opens no more there, and the destination still serves it.
  ASSERT_OK(platform_->DeleteTenant(kCityB, "cli:test"));
  EXPECT_THAT(platform_->Tenant(B()), StatusIs(StatusCode::kNotFound));
  ASSERT_OK(dest_->Tenant(B()).status());
}

TEST_P(TenantTransferTest, RefusesTamperedTruncatedAndForeignFilesAndLeavesNothing) {
  ASSERT_NO_FATAL_FAILURE(Populate());
  const std::string good_path = dir().File("a.export");
  ASSERT_OK(Export(kCityA, good_path, dest_key_).status());
  const std::string good = ReadAll(good_path);
  const size_t header_end = good.find('\n') + 1;
  auto refused = [&](const std::string& name, const std::string& bytes, StatusCode code,
                     const std::string& says) {
    SCOPED_TRACE(name);
    const std::string path = dir().File(name);
    WriteAll(path, bytes);
    EXPECT_THAT(Import(path), StatusIs(code, HasSubstr(says)));
    ExpectNothingAt(kCityA);
  };
  std::string body = good;
  body[header_end + 40] ^= 1;
  refused("body", body, StatusCode::kDataLoss, "authentication failed at chunk 0");
  std::string header = good;
  const size_t at = header.find("\"name\":\"city A\"");
  ASSERT_NE(at, std::string::npos);
  header.replace(at, 15, "\"name\":\"city X\"");
  refused("header", header, StatusCode::kUnauthenticated, "signature does not verify");
  refused("cut", good.substr(0, good.size() - 100), StatusCode::kDataLoss, dir().File("cut"));
  refused("cut-header", good.substr(0, header_end - 10), StatusCode::kDataLoss, "no header line");

  // Sealed to another platform's key.
  const std::string foreign = dir().File("foreign.export");
  ASSERT_OK(Export(kCityA, foreign, crypto::BoxKeyPair::Generate().public_key()).status());
  EXPECT_THAT(Import(foreign), StatusIs(StatusCode::kFailedPrecondition,
                                        HasSubstr("sealed to another platform's transfer key")));
  ExpectNothingAt(kCityA);
  // Signed by another platform than the one named.
  ImportOptions pinned{.in_path = good_path,
                       .actor = "cli:test",
                       .source_key = dest_->audit_verify_key(),
                       .limits = {},
                       .progress = {}};
  EXPECT_THAT(ImportTenant(*dest_, pinned),
              StatusIs(StatusCode::kUnauthenticated, HasSubstr("not by the expected")));
  ExpectNothingAt(kCityA);
  // A limit: a table over the row limit is refused, and nothing stays.
  ImportOptions small{.in_path = good_path,
                      .actor = "cli:test",
                      .source_key = {},
                      .limits = {.max_rows_per_table = 1},
                      .progress = {}};
  EXPECT_THAT(ImportTenant(*dest_, small), StatusIs(StatusCode::kDataLoss));
  ExpectNothingAt(kCityA);
  // The export never overwrites a file.
  EXPECT_THAT(Export(kCityA, good_path, dest_key_), StatusIs(StatusCode::kAlreadyExists));
  EXPECT_EQ(ReadAll(good_path), good);
  // And the good file still imports after all that.
  ASSERT_OK(Import(good_path).status());
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(TenantTransferTest);

}  // namespace
}  // namespace chukan::server::testing
