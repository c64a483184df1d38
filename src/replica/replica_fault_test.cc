// A replica (副本) import under injected disk faults (store/fault_vfs.h, SQLite): the import
// fails with kUnavailable naming the tenant's database file and the cause, none of it is
// visible (the records before it are intact), and the same import sent again once the fault
// clears — same idempotency key — imports every row. docs/storage.md, "Faults and recovery".
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <ostream>

#include "common/status_matchers.h"
#include "common/test_util.h"
#include "layout/catalogue_loader.h"
#include "layout/test_catalogue.h"
#include "replica/replica_store.h"
#include "replica/replica_test_util.h"
#include "replica_io/byte_source.h"
#include "store/fault_vfs.h"
#include "store/tenant_store.h"

namespace chukan::replica {
namespace {

using ::chukan::layout::testing::ShippedCatalogue;
using testing::kTax;
using testing::kTaxHeader;

using ::chukan::testing::StatusIs;
using store::FaultVfs;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string TaxRows(int first, int n) {
  std::string out = kTaxHeader;
  for (int person = first; person < first + n; ++person) {
    char atena[16];
    std::snprintf(atena, sizeof(atena), "%015d", person);
    out += std::string(atena) +
           ",2026,2026-01-01,1,1000,100000,50000,200000,30000,150000,20000,1,0,1,2,,10000\n";
  }
  return out;
}

struct ImportFault {
  const char* name;
  FaultVfs::Op op;
  int64_t skip;  // WAL writes that succeed first: the fault hits in the middle of the import
  const char* detail;
};

const ImportFault kImportFaults[] = {
    {"fsync", FaultVfs::Op::kSync, 0, "fsync failed"},
    {"full", FaultVfs::Op::kFull, 100, "disk full"},
    {"short_write", FaultVfs::Op::kShortWrite, 100, "write failed"},
};

// GoogleTest printer: ctest names and failure messages show the fault's name, not its bytes.
void PrintTo(const ImportFault& f, std::ostream* os) { *os << f.name; }

constexpr int kRows = 2000;

class ReplicaFaultTest : public ::testing::TestWithParam<ImportFault> {
 protected:
  void SetUp() override {
    FaultVfs::Get();  // registered before the first open
    ASSERT_NO_FATAL_FAILURE(Open());
    ASSERT_OK(ts_->CreateTenant(tenant_));
    ASSERT_NO_FATAL_FAILURE(OpenReplicas());
  }
  void TearDown() override { FaultVfs::Get().Disarm(); }

  void Open() {
    store::StoreOptions o;
    o.data_dir = dir_.File("data");
    o.sqlite_vfs = FaultVfs::kName;
    ASSERT_OK_AND_ASSIGN(ts_, store::TenantStore::Open(o));
  }
  void OpenReplicas() {
    ASSERT_OK_AND_ASSIGN(db_, ts_->Tenant(tenant_));
    ASSERT_OK_AND_ASSIGN(replicas_,
                         ReplicaStore::Open(tenant_, db_, key_, ShippedCatalogue(), clock_));
  }

  Result<ImportReport> Import(const std::string& body, const std::string& idem) {
    ASSIGN_OR_RETURN(auto factory,
                     MakeRecordSourceFactory(std::make_unique<replica_io::StringSource>(body),
                                             FileFormat::kCsv, "utf-8"));
    return replicas_->Import({kTax, "", ImportMode::kUpsert, idem, "client:test", "req", {}},
                             *factory,
                             [](store::Transaction*, const ImportReport&) { return Status(); });
  }

  chukan::testing::TempDir dir_;
  TenantId tenant_ = TenantId::ForOrg(OrgCode::Parse("0000000000000131").value());
  crypto::SecretBytes key_ = crypto::SecretBytes::Random(32);
  FakeClock clock_;
  std::unique_ptr<store::TenantStore> ts_;
  std::shared_ptr<store::Database> db_;
  std::unique_ptr<ReplicaStore> replicas_;
};

// The same store, for tests of one fault of their own.
class ReplicaFaultIndexTest : public ReplicaFaultTest {};

TEST_P(ReplicaFaultTest, AnImportThatMeetsTheFaultIsRefusedWholeAndItsRetryImportsEveryRow) {
  const ImportFault& f = GetParam();
  ASSERT_OK_AND_ASSIGN(ImportReport before, Import(TaxRows(900'001, 3), "before"));
  ASSERT_TRUE(before.committed);

  const std::string file = ts_->TenantPath(tenant_);
  FaultVfs::Fault fault;
  fault.op = f.op;
  fault.file_suffix = "-wal";
  fault.path_contains = file;
  fault.skip = f.skip;
  FaultVfs::Get().Arm(fault);
  const std::string body = TaxRows(1, kRows);
  EXPECT_THAT(Import(body, "batch-1"),
              StatusIs(StatusCode::kUnavailable, AllOf(HasSubstr(file), HasSubstr(f.detail))));
  EXPECT_GE(FaultVfs::Get().injected(), 1);
  // None of it is visible; what was there before is.
  ASSERT_OK_AND_ASSIGN(int64_t count, replicas_->Count(kTax));
  EXPECT_EQ(count, 3);
  ASSERT_OK_AND_ASSIGN(auto none, replicas_->Find(AtenaNo::Parse("000000000000001").value(), kTax));
  EXPECT_TRUE(none.empty());

  FaultVfs::Get().Disarm();
  // The client sends the same file again: imported in full (not a replay of a failed import).
  ASSERT_OK_AND_ASSIGN(ImportReport retry, Import(body, "batch-1"));
  EXPECT_TRUE(retry.committed);
  EXPECT_FALSE(retry.replayed);
  EXPECT_EQ(retry.inserted, kRows);

  // And so it is after a restart.
  replicas_.reset();
  ASSERT_OK(db_->Close());
  db_.reset();
  ASSERT_OK(ts_->Close());
  ts_.reset();
  ASSERT_NO_FATAL_FAILURE(Open());
  ASSERT_NO_FATAL_FAILURE(OpenReplicas());
  ASSERT_OK_AND_ASSIGN(int64_t after, replicas_->Count(kTax));
  EXPECT_EQ(after, kRows + 3);
  ASSERT_OK_AND_ASSIGN(auto last, replicas_->Find(AtenaNo::Parse("000000000002000").value(), kTax));
  EXPECT_EQ(last.size(), 1u);
}

// A first import into an empty table builds the key index after its load (docs/replica.md). A
// disk that fills while the index is built fails the import with the disk's error — not as a
// repeated key — and leaves the empty table with its index; sent again, every row is imported
// and indexed. 100,000 rows: the build's 8 MiB page cache spills to the WAL, where the fault is.
TEST_F(ReplicaFaultIndexTest, ADiskFullWhileTheKeyIndexIsBuiltFailsTheImportAndLeavesTheIndex) {
  constexpr int kMany = 100'000;
  auto index_count = [&]() -> int64_t {
    auto tx = db_->BeginRead();
    EXPECT_OK(tx);
    auto row = (*tx)->QueryOne(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'replica_record_key'");
    EXPECT_OK(row);
    return row.ok() && *row ? (*row)->GetInt(0).value_or(-1) : -1;
  };
  ASSERT_EQ(index_count(), 1);
  const std::string file = ts_->TenantPath(tenant_);
  FaultVfs::Fault fault;
  fault.op = FaultVfs::Op::kFull;
  fault.file_suffix = "-wal";
  fault.path_contains = file;
  FaultVfs::Get().Arm(fault);
  const std::string body = TaxRows(1, kMany);
  const Result<ImportReport> failed = Import(body, "first");
  // In the build itself (the statement named), as the disk's error.
  EXPECT_THAT(failed, StatusIs(StatusCode::kUnavailable,
                               AllOf(HasSubstr(file), HasSubstr("disk full"),
                                     HasSubstr("CREATE UNIQUE INDEX replica_record_key"))));
  EXPECT_GE(FaultVfs::Get().injected(), 1);
  FaultVfs::Get().Disarm();
  ASSERT_OK_AND_ASSIGN(int64_t count, replicas_->Count(kTax));
  EXPECT_EQ(count, 0);
  EXPECT_EQ(index_count(), 1);  // the rollback brought the dropped index back

  ASSERT_OK_AND_ASSIGN(ImportReport retry, Import(body, "first"));
  EXPECT_TRUE(retry.committed);
  EXPECT_EQ(retry.inserted, kMany);
  EXPECT_EQ(index_count(), 1);
  ASSERT_OK_AND_ASSIGN(auto found,
                       replicas_->Find(AtenaNo::Parse("000000000054321").value(), kTax));
  EXPECT_EQ(found.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Faults, ReplicaFaultTest, ::testing::ValuesIn(kImportFaults),
                         [](const ::testing::TestParamInfo<ImportFault>& param) {
                           return std::string(param.param.name);
                         });

}  // namespace
}  // namespace chukan::replica
