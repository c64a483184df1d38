#include "replica/replica_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <iconv.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/canary_matchers.h"
#include "common/status_matchers.h"
#include "layout/catalogue_loader.h"
#include "layout/test_catalogue.h"
#include "replica/replica_test_util.h"
#include "replica_io/byte_source.h"
#include "store/migrations.h"
#include "store/store_test_util.h"

namespace chukan::replica {
namespace {

using ::chukan::layout::testing::ShippedCatalogue;
using testing::InstallRepeatKeyTrigger;
using testing::kTax;
using testing::kTaxHeader;
using testing::RemoveRepeatKeyTrigger;

using ::chukan::testing::EchoesNoCanary;
using ::chukan::testing::kCanaryAtenaNo;
using ::chukan::testing::kCanaryName;
using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// One valid row of 地方税関係情報 version 0002.
std::string TaxRow(int person, int year, const std::string& income) {
  char atena[16];
  std::snprintf(atena, sizeof(atena), "%015d", person);
  return std::string(atena) + "," + std::to_string(year) + ",2026-01-01,1," + income +
         ",100000,50000,200000,30000,150000,20000,1,0,1,2,,10000\n";
}

// What the export writes for a file in kTaxHeader's columns: every item of version 0002, so the
// two items added after kTaxHeader was written (IT00000200000017 配偶者特別控除額, IT00000200000018
// 所得割額（定額減税前）) come out empty — an import that names only the older columns still works.
std::string AsExported(const std::string& csv) {
  std::string out;
  size_t start = 0;
  bool header = true;
  while (start < csv.size()) {
    const size_t end = csv.find('\n', start);
    out += csv.substr(start, end - start);
    out += header ? ",IT00000200000017,IT00000200000018\n" : ",,\n";
    header = false;
    start = end + 1;
  }
  return out;
}

class ReplicaStoreTest : public store::testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ts_ = OpenStore();
    ASSERT_NE(ts_, nullptr);
    ASSERT_OK(ts_->CreateTenant(tenant_));
    ASSERT_OK_AND_ASSIGN(db_, ts_->Tenant(tenant_));
    ASSERT_OK_AND_ASSIGN(store_,
                         ReplicaStore::Open(tenant_, db_, key_, ShippedCatalogue(), clock_));
  }

  Result<ImportReport> Import(const std::string& body, ImportMode mode = ImportMode::kUpsert,
                              const std::string& idem = "", FileFormat format = FileFormat::kCsv,
                              const std::string& charset = "utf-8") {
    ASSIGN_OR_RETURN(
        auto factory,
        MakeRecordSourceFactory(std::make_unique<replica_io::StringSource>(std::string(body)),
                                format, charset));
    audited_.clear();
    return store_->Import({kTax, "", mode, idem, "client:test", "req-1", {}}, *factory,
                          [this](store::Transaction* tx, const ImportReport& r) {
                            audited_.push_back((tx != nullptr ? "tx:" : "own:") +
                                               std::string(r.committed ? "ok" : "rejected"));
                            return Status();
                          });
  }

  // Imports `body` with an audit hook that fails inside the transaction (the entry the commit
  // would have carried, "audit log unavailable"); returns what the import returned.
  Status ImportFailingAtItsAuditEntry(const std::string& body,
                                      ImportMode mode = ImportMode::kUpsert) {
    ASSIGN_OR_RETURN(
        auto factory,
        MakeRecordSourceFactory(std::make_unique<replica_io::StringSource>(std::string(body)),
                                FileFormat::kCsv, "utf-8"));
    return store_
        ->Import({kTax, "", mode, "", "client:test", "req-2", {}}, *factory,
                 [](store::Transaction* tx, const ImportReport&) {
                   return tx == nullptr ? Status() : UnavailableError("audit log unavailable");
                 })
        .status();
  }

  std::string ExportAll(const std::string& version = "") {
    std::string out;
    auto n = store_->Export(kTax, version, [&](std::string_view c) {
      out.append(c);
      return Status();
    });
    EXPECT_OK(n);
    return out;
  }

  TenantId tenant_ = TenantId::ForOrg(OrgCode::Parse("0000000000000131").value());
  crypto::SecretBytes key_ = crypto::SecretBytes::Random(32);
  FakeClock clock_;
  store::TenantStore* ts_ = nullptr;
  std::shared_ptr<store::Database> db_;
  std::unique_ptr<ReplicaStore> store_;
  std::vector<std::string> audited_;
};

TEST_P(ReplicaStoreTest, ImportViewExportRoundTrip) {
  std::string file = kTaxHeader;
  for (int i = 1; i <= 50; ++i) file += TaxRow(i, 2026, std::to_string(1000000 + i));
  // A second record (another fiscal year) of person 1, with a loss in 合計所得金額 (signed).
  std::string loss = TaxRow(1, 2025, "5000");
  loss.replace(loss.find(",100000,"), 8, ",-250000,");
  file += loss;
  ASSERT_OK_AND_ASSIGN(ImportReport r, Import(file));
  if (GetParam() == store::Backend::kSqlite) {
    // The import's 64 MiB page cache was the writer connection's for the import only.
    ASSERT_OK_AND_ASSIGN(auto w, db_->Begin());
    ASSERT_OK_AND_ASSIGN(std::optional<store::Row> cache, w->QueryOne("PRAGMA cache_size"));
    ASSERT_TRUE(cache.has_value());
    EXPECT_EQ(cache->GetInt(0).value(), -2000);  // SQLite's default (2 MiB)
    // The key index's build sorted on two threads (a first import), for the build only.
    ASSERT_OK_AND_ASSIGN(std::optional<store::Row> threads, w->QueryOne("PRAGMA threads"));
    ASSERT_TRUE(threads.has_value());
    EXPECT_EQ(threads->GetInt(0).value(), 0);
    ASSERT_OK(w->Commit());
  }
  EXPECT_TRUE(r.committed);
  EXPECT_EQ(r.rows, 51);
  EXPECT_EQ(r.inserted, 51);
  EXPECT_EQ(r.updated, 0);
  EXPECT_EQ(r.problem_count, 0);
  EXPECT_EQ(r.version, "0002");
  EXPECT_TRUE(r.file_hash.starts_with("blake2b-256:"));
  EXPECT_THAT(audited_, ElementsAre("tx:ok"));

  ASSERT_OK_AND_ASSIGN(auto records, store_->Find(AtenaNo::Parse("000000000000001").value(), kTax));
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].atena_no, "000000000000001");
  EXPECT_EQ(records[0].values[0], "2026");
  EXPECT_EQ(records[0].values[3], "1000001");
  EXPECT_EQ(records[1].values[3], "5000");
  EXPECT_EQ(records[1].values[4], "-250000");
  ASSERT_OK_AND_ASSIGN(auto none,
                       store_->Find(AtenaNo::Parse("000000000000999").value(), std::nullopt));
  EXPECT_TRUE(none.empty());

  // Export is the import format, in import order: what went in, plus the newer items (empty).
  EXPECT_EQ(ExportAll(), AsExported(file));
  // Importing the export again changes nothing but updates every record in place.
  ASSERT_OK_AND_ASSIGN(ImportReport again, Import(ExportAll()));
  EXPECT_EQ(again.inserted, 0);
  EXPECT_EQ(again.updated, 51);
  EXPECT_EQ(ExportAll(), AsExported(file));
  EXPECT_EQ(*store_->Count(kTax), 51);
}

// The count ホーム shows is kept by each import in its own transaction: after upserts, a replace
// and a delete it equals the records actually stored, per TM and in all.
TEST_P(ReplicaStoreTest, FindResidentsWithAnItemValue) {
  std::string file = kTaxHeader;
  for (int i = 1; i <= 5; ++i) file += TaxRow(i, 2026, "1000000");
  file += TaxRow(4, 2025, "900000") + TaxRow(2, 2025, "800000");
  ASSERT_OK_AND_ASSIGN(ImportReport r, Import(file));
  ASSERT_TRUE(r.committed);
  ASSERT_OK_AND_ASSIGN(std::vector<AtenaNo> found,
                       store_->FindResidentsWith(kTax, "IT00000200000001", "2025", 10));
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].str(), "000000000000004");  // in import order
  EXPECT_EQ(found[1].str(), "000000000000002");
  EXPECT_THAT(store_->FindResidentsWith(kTax, "IT00000200000001", "2025", 1),
              StatusIs(StatusCode::kResourceExhausted, "more than 1 records match"));
  ASSERT_OK_AND_ASSIGN(found, store_->FindResidentsWith(kTax, "IT00000200000001", "2024", 10));
  EXPECT_TRUE(found.empty());
  ASSERT_OK_AND_ASSIGN(found, store_->FindResidentsWith(kTax, "IT00010100000009", "2025", 10));
  EXPECT_TRUE(found.empty());  // not an item of the TM
}

TEST_P(ReplicaStoreTest, CountFollowsEveryImportMode) {
  auto stored = [&]() -> int64_t {
    auto tx = db_->BeginRead();
    EXPECT_OK(tx);
    if (!tx.ok()) return -1;
    auto row = (*tx)->QueryOne("SELECT COUNT(*) FROM replica_record");
    EXPECT_OK(row);
    return row.ok() && *row ? (*row)->GetInt(0).value_or(-1) : -1;
  };
  EXPECT_EQ(*store_->Count(kTax), 0);
  EXPECT_EQ(*store_->Count(std::nullopt), 0);
  std::string first = kTaxHeader;
  for (int i = 1; i <= 300; ++i) first += TaxRow(i, 2026, "1000");
  ASSERT_OK(Import(first).status());
  std::string more = kTaxHeader;  // 100 existing, 50 new
  for (int i = 201; i <= 350; ++i) more += TaxRow(i, 2026, "2000");
  ASSERT_OK(Import(more).status());
  EXPECT_EQ(*store_->Count(kTax), 350);
  EXPECT_EQ(*store_->Count(std::nullopt), stored());
  std::string gone = kTaxHeader;  // 20 present, 5 not
  for (int i = 331; i <= 355; ++i) gone += TaxRow(i, 2026, "2000");
  ASSERT_OK_AND_ASSIGN(ImportReport d, Import(gone, ImportMode::kDelete));
  EXPECT_EQ(d.deleted, 20);
  EXPECT_EQ(*store_->Count(kTax), 330);
  EXPECT_EQ(*store_->Count(std::nullopt), stored());
  std::string replace = kTaxHeader;
  for (int i = 1000; i < 1040; ++i) replace += TaxRow(i, 2026, "3000");
  ASSERT_OK(Import(replace, ImportMode::kReplace).status());
  EXPECT_EQ(*store_->Count(kTax), 40);
  EXPECT_EQ(*store_->Count(std::nullopt), 40);
  EXPECT_EQ(stored(), 40);
  EXPECT_EQ(*store_->Count(TmCode::Parse("TM00000000000001").value()), 0);
}

// The existence check the linkage's code retention asks: a current record of the resident, or
// a superseded version of one in the history, and nothing of anyone else.
TEST_P(ReplicaStoreTest, HoldsResidentSeesCurrentRecordsAndTheHistory) {
  const AtenaNo one = AtenaNo::Parse("000000000000001").value();
  const AtenaNo two = AtenaNo::Parse("000000000000002").value();
  const AtenaNo three = AtenaNo::Parse("000000000000003").value();
  auto holds = [&](const AtenaNo& a) -> bool {
    auto tx = db_->BeginRead();
    EXPECT_OK(tx);
    if (!tx.ok()) return false;
    Result<bool> r = store_->HoldsResident(**tx, a);
    EXPECT_OK(r);
    return r.value_or(false);
  };
  EXPECT_FALSE(holds(one));
  ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, "1") + TaxRow(3, 2026, "1")).status());
  EXPECT_TRUE(holds(one));
  EXPECT_FALSE(holds(two));
  EXPECT_TRUE(holds(three));
  // Deleted: no current record, but the history keeps the version.
  ASSERT_OK_AND_ASSIGN(ImportReport d,
                       Import(kTaxHeader + TaxRow(1, 2026, "1"), ImportMode::kDelete));
  EXPECT_EQ(d.deleted, 1);
  ASSERT_OK_AND_ASSIGN(auto current, store_->Find(one, std::nullopt));
  EXPECT_TRUE(current.empty());
  EXPECT_TRUE(holds(one));
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
    ASSERT_OK(tx->Exec("DELETE FROM replica_history"));
    ASSERT_OK(tx->Commit());
  }
  EXPECT_FALSE(holds(one));
  EXPECT_TRUE(holds(three));
}

// A replica written before the count existed: the migration that adds it counts the records
// already there.
TEST_P(ReplicaStoreTest, TheCountMigrationCountsExistingRecords) {
  const TenantId old = TenantId::ForOrg(OrgCode::Parse("0000000000000132").value());
  ASSERT_OK(ts_->CreateTenant(old));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<store::Database> db, ts_->Tenant(old));
  ASSERT_OK(store::ApplyMigrations(*db, "replica", {ReplicaMigrations()[0]}, clock_));
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db->Begin());
    for (int i = 0; i < 7; ++i) {
      ASSERT_OK(tx->Exec(
          "INSERT INTO replica_record (key_hash, tm, version, sealed, import_id, updated_at_us) "
          "VALUES (?, ?, '0002', ?, 'i', 0)",
          {store::Bytes(16, static_cast<uint8_t>(i)),
           std::string(i < 5 ? "TM00000000000002" : "TM00000000000001"), store::Bytes{1}}));
    }
    ASSERT_OK(tx->Commit());
  }
  ASSERT_OK_AND_ASSIGN(auto reopened,
                       ReplicaStore::Open(old, db, key_, ShippedCatalogue(), clock_));
  EXPECT_EQ(*reopened->Count(kTax), 5);
  EXPECT_EQ(*reopened->Count(std::nullopt), 7);
}

// Several writer batches (256 records each) of mixed new and existing keys: every existing record
// gets its new value in place, new ones are appended, and each record keeps its own values.
TEST_P(ReplicaStoreTest, UpsertAcrossBatchesUpdatesInPlaceAndAppends) {
  std::string first = kTaxHeader;
  for (int i = 1; i <= 600; ++i) first += TaxRow(2 * i, 2026, std::to_string(1000 + i));
  ASSERT_OK_AND_ASSIGN(ImportReport r1, Import(first));
  EXPECT_EQ(r1.inserted, 600);

  // Odd persons are new; even persons 2..1200 exist and get a longer income value.
  std::string second = kTaxHeader;
  for (int i = 1; i <= 1200; ++i) second += TaxRow(i, 2026, std::to_string(7000000 + i));
  ASSERT_OK_AND_ASSIGN(ImportReport r2, Import(second));
  EXPECT_TRUE(r2.committed);
  EXPECT_EQ(r2.inserted, 600);
  EXPECT_EQ(r2.updated, 600);
  EXPECT_EQ(*store_->Count(kTax), 1200);

  // Export order is insertion order: the 600 updated records first, then the new ones.
  std::string want = kTaxHeader;
  for (int i = 2; i <= 1200; i += 2) want += TaxRow(i, 2026, std::to_string(7000000 + i));
  for (int i = 1; i <= 1200; i += 2) want += TaxRow(i, 2026, std::to_string(7000000 + i));
  EXPECT_EQ(ExportAll(), AsExported(want));
  ASSERT_OK_AND_ASSIGN(auto records, store_->Find(AtenaNo::Parse("000000000000778").value(), kTax));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].values[3], "7000778");
}

TEST_P(ReplicaStoreTest, BadRowDeepInFileLeavesStoreUnchanged) {
  ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, "1")));
  std::string file = kTaxHeader;
  for (int i = 1; i <= 3000; ++i) {
    std::string row = TaxRow(i + 10, 2026, "100");
    if (i == 2000) row.replace(row.find("2026-01-01"), 10, "2026-02-30");  // line 2001
    if (i == 2500) row.replace(row.find(",1,100,"), 7, ",9,100,");         // bad code
    file += row;
  }
  ASSERT_OK_AND_ASSIGN(ImportReport r, Import(file));
  EXPECT_FALSE(r.committed);
  EXPECT_EQ(r.rows, 3000);
  EXPECT_EQ(r.problem_count, 2);
  ASSERT_EQ(r.problems.size(), 2u);
  EXPECT_EQ(r.problems[0].line, 2001);
  EXPECT_EQ(r.problems[0].field, "IT00000200000002");
  EXPECT_EQ(r.problems[0].reason, "not_a_date");
  EXPECT_EQ(r.problems[1].line, 2501);
  EXPECT_EQ(r.problems[1].field, "IT00000200000003");
  EXPECT_EQ(r.problems[1].reason, "unknown_code");
  EXPECT_EQ(r.inserted, 0);
  EXPECT_THAT(audited_, ElementsAre("own:rejected"));
  EXPECT_EQ(*store_->Count(kTax), 1);  // unchanged
}

// An import holds the tenant's write lock while it reads its rows (local by then: the upload is
// received first); a file with a problem gives the lock back at its first problem, not after
// reading the rest. Here the reader, 8,192 rows past a bad line 2, waits until another write of
// the tenant commits — which it can only do once the import's transaction is gone.
TEST_P(ReplicaStoreTest, AFileWithAProblemGivesTheWriteLockBackAtItsFirstProblem) {
  std::string body = kTaxHeader;
  body += "not-an-atena-00" + TaxRow(1, 2026, "1").substr(15);
  for (int p = 2; p <= 30000; ++p) body += TaxRow(p, 2026, "1000");
  ASSERT_OK_AND_ASSIGN(
      auto factory,
      MakeRecordSourceFactory(std::make_unique<replica_io::StringSource>(std::move(body)),
                              FileFormat::kCsv, "utf-8"));
  std::promise<Status> written;
  std::future<Status> other_write = written.get_future();
  std::thread other;
  bool wrote_while_reading = false;
  ImportRequest request{kTax, "", ImportMode::kUpsert, "", "client:test", "req-1", {}};
  request.progress = [&](ImportPhase phase, int64_t rows) {
    if (phase != ImportPhase::kApplying || rows < 2 * kProgressRows || other.joinable()) return;
    other = std::thread([&] {
      Status s;
      if (Result<std::unique_ptr<store::Transaction>> tx = db_->Begin(); !tx.ok()) {
        s = tx.status();
      } else if (s = (*tx)->Exec("INSERT INTO replica_count (tm, records) VALUES (?, 0)",
                                 {std::string("TM99999999999999")});
                 s.ok()) {
        s = (*tx)->Commit();
      }
      written.set_value(s);
    });
    wrote_while_reading =
        other_write.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  };
  Result<ImportReport> report = store_->Import(request, *factory, nullptr);
  if (other.joinable()) other.join();
  ASSERT_OK(report.status());
  EXPECT_TRUE(wrote_while_reading);
  EXPECT_OK(other_write.get());
  EXPECT_FALSE(report->committed);
  EXPECT_EQ(report->rows, 30000);
  EXPECT_EQ(report->inserted, 0);
  ASSERT_EQ(report->problem_count, 1);
  EXPECT_EQ(report->problems[0].line, 2);
  EXPECT_EQ(report->problems[0].field, "atena_no");
  EXPECT_EQ(*store_->Count(kTax), 0);
}

// A write that fails while the rows are still being read (a disk error on SQLite, a lost
// connection on PostgreSQL): the import fails with that error at once — the reading thread is
// stopped, not left to read the rest of the file or wait on a full queue — nothing of it is
// committed, and the next import of the tenant works. The database refuses the first write of
// a record after the 3,000th (SQLite: a record an INSERT; PostgreSQL: a chunk of 8,192 a COPY,
// so its second chunk), with 30,000 rows in the file.
TEST_P(ReplicaStoreTest, AWriteThatFailsWhileTheRowsAreReadStopsTheReaderAndCommitsNothing) {
  std::string body = kTaxHeader;
  for (int p = 1; p <= 30000; ++p) body += TaxRow(p, 2026, "1000");
  std::atomic<int> records_written{0};
  auto failing = std::make_shared<store::testing::WatchedDatabase>(
      db_, nullptr, [&](std::string_view sql) -> Status {
        const bool record =
            sql.starts_with("INSERT INTO replica_record") || sql.starts_with("COPY replica_record");
        if (!record) return Status();
        const int before = records_written.fetch_add(sql.starts_with("COPY") ? 8192 : 1);
        return before >= 3000 ? UnavailableError("test: the disk went away") : Status();
      });
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ReplicaStore> store,
                       ReplicaStore::Open(tenant_, failing, key_, ShippedCatalogue(), clock_));
  ASSERT_OK_AND_ASSIGN(
      auto factory,
      MakeRecordSourceFactory(std::make_unique<replica_io::StringSource>(std::move(body)),
                              FileFormat::kCsv, "utf-8"));
  ImportRequest request{kTax, "", ImportMode::kUpsert, "", "client:test", "req-1", {}};
  std::atomic<int64_t> rows_read{0};
  request.progress = [&](ImportPhase phase, int64_t rows) {
    if (phase == ImportPhase::kApplying) rows_read = rows;
  };
  bool audited = false;
  EXPECT_THAT(store->Import(request, *factory,
                            [&](store::Transaction*, const ImportReport&) {
                              audited = true;
                              return Status();
                            }),
              StatusIs(StatusCode::kUnavailable, HasSubstr("the disk went away")));
  // The reader reads ahead of the writer by its queues only (a few batches of 256 rows; its
  // progress is told every kProgressRows): with neither the queue's cancellation nor the stop
  // flag the reader is not told, and the import never returns.
  const int64_t consumed = GetParam() == store::Backend::kSqlite ? 3000 : 2 * 8192;
  EXPECT_LE(rows_read.load(), consumed + kProgressRows);
  EXPECT_FALSE(audited);
  EXPECT_EQ(*store_->Count(kTax), 0);
  ASSERT_OK_AND_ASSIGN(ImportReport next, Import(kTaxHeader + TaxRow(1, 2026, "1")));
  EXPECT_TRUE(next.committed);
  EXPECT_EQ(*store_->Count(kTax), 1);
}

// An exception on the reading thread (std::bad_alloc, or one a callback throws) fails the import
// with kInternal — it would otherwise end the process (std::thread) — without quoting what(),
// which may hold input; the writer rolls back and the next import works. Here the progress
// callback, which the reading thread calls every kProgressRows rows, throws.
TEST_P(ReplicaStoreTest, AnExceptionOnTheReadingThreadFailsTheImportNotTheProcess) {
  std::string body = kTaxHeader;
  for (int p = 1; p <= 3 * kProgressRows; ++p) body += TaxRow(p, 2026, "1000");
  ASSERT_OK_AND_ASSIGN(
      auto factory,
      MakeRecordSourceFactory(std::make_unique<replica_io::StringSource>(std::move(body)),
                              FileFormat::kCsv, "utf-8"));
  ImportRequest request{kTax, "", ImportMode::kUpsert, "", "client:test", "req-1", {}};
  request.progress = [](ImportPhase phase, int64_t rows) {
    if (phase == ImportPhase::kApplying && rows >= kProgressRows) {
      throw std::runtime_error(std::string(kCanaryName));
    }
  };
  Result<ImportReport> r = store_->Import(request, *factory, nullptr);
  EXPECT_THAT(r, StatusIs(StatusCode::kInternal, HasSubstr("ended in an exception")));
  EXPECT_THAT(r.status().message(), Not(HasSubstr(kCanaryName)));
  EXPECT_EQ(*store_->Count(kTax), 0);
  ASSERT_OK_AND_ASSIGN(ImportReport next, Import(kTaxHeader + TaxRow(1, 2026, "1")));
  EXPECT_TRUE(next.committed);
  EXPECT_EQ(*store_->Count(kTax), 1);
}

// The upload goes to a temporary file in $TMPDIR first: a directory that cannot take it fails
// the import before anything is read or written, naming the directory (not the file's content).
TEST_P(ReplicaStoreTest, AnUploadThatCannotBeReceivedFailsNamingTheDirectory) {
  const char* before = std::getenv("TMPDIR");
  const std::string saved = before != nullptr ? before : "";
  const std::string missing = "/nonexistent-chukan-tmp";
  ::setenv("TMPDIR", missing.c_str(), 1);
  Result<ImportReport> r = Import(kTaxHeader + TaxRow(1, 2026, "1"));
  if (before != nullptr) {
    ::setenv("TMPDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  EXPECT_THAT(r, StatusIs(StatusCode::kUnavailable, HasSubstr(missing)));
  EXPECT_TRUE(audited_.empty());
  EXPECT_EQ(*store_->Count(kTax), 0);
  ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, "1")).status());
  EXPECT_EQ(*store_->Count(kTax), 1);
}

TEST_P(ReplicaStoreTest, ReportsFirstHundredProblemsAndTotal) {
  std::string file = kTaxHeader;
  for (int i = 1; i <= 150; ++i) file += "12345," + TaxRow(i, 2026, "1").substr(16);
  ASSERT_OK_AND_ASSIGN(ImportReport r, Import(file));
  EXPECT_EQ(r.problem_count, 150);
  EXPECT_EQ(r.problems.size(), 100u);
  EXPECT_EQ(r.problems[99].line, 101);
  EXPECT_EQ(r.problems[0].field, "atena_no");
}

TEST_P(ReplicaStoreTest, DuplicateKeyAndBrokenQuote) {
  ASSERT_OK_AND_ASSIGN(ImportReport dup, Import(kTaxHeader + TaxRow(1, 2026, "1") +
                                                TaxRow(2, 2026, "1") + TaxRow(1, 2026, "2")));
  EXPECT_FALSE(dup.committed);
  ASSERT_EQ(dup.problems.size(), 1u);
  EXPECT_EQ(dup.problems[0].line, 4);
  EXPECT_EQ(dup.problems[0].reason, "duplicate_key");
  EXPECT_THAT(dup.problems[0].message, HasSubstr("repeats line 2"));

  ASSERT_OK_AND_ASSIGN(ImportReport broken,
                       Import(kTaxHeader + TaxRow(1, 2026, "1") + "\"000000000000002,2026\n" +
                              TaxRow(3, 2026, "1")));
  EXPECT_FALSE(broken.committed);
  ASSERT_EQ(broken.problems.size(), 1u);
  EXPECT_EQ(broken.problems[0].reason, "malformed_file");
  EXPECT_EQ(broken.problems[0].line, 3);
  EXPECT_EQ(*store_->Count(kTax), 0);
}

TEST_P(ReplicaStoreTest, HeaderErrorsNameTheColumn) {
  EXPECT_THAT(Import("atena_no,IT00000200000001,XX00000000000000\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("line 1, column 3")));
  EXPECT_THAT(Import("IT00000200000001\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no atena_no column")));
}

// An outside review found that a CSV without its header row answered `line 1, column 1:
// "<the first cell>" is not an item …` — a resident's number or name. Every error and problem of
// an import or a reconcile names positions (line, column, member, item code), never the file's
// text; canaries stand in every cell, header and key.
void ExpectNoCanary(const std::vector<Problem>& problems) {
  for (const Problem& p : problems) {
    EXPECT_THAT(p.message, EchoesNoCanary()) << "line " << p.line;
    EXPECT_THAT(p.field, EchoesNoCanary()) << "line " << p.line;
  }
}

// kTaxHeader's 16 items plus atena_no, every one a canary.
std::string CanaryRow() {
  std::string row(kCanaryName);
  for (int i = 0; i < 16; ++i) row += "," + std::string(i % 2 == 0 ? kCanaryAtenaNo : kCanaryName);
  return row + "\n";
}

TEST_P(ReplicaStoreTest, HeaderErrorsNeverEchoTheHeader) {
  const std::string name(kCanaryName);
  const std::string number(kCanaryAtenaNo);
  const char* kNotAnItem = ": not an item of TM00000000000002 version 0002";
  struct Case {
    std::string file;
    std::string message;
  };
  const std::vector<Case> cases = {
      // No header row: the first record (a resident's) is read as the header.
      {number + ",2026,2026-01-01,1\n" + TaxRow(1, 2026, "1"),
       "line 1, column 1" + std::string(kNotAnItem)},
      {name + "\n", "line 1, column 1" + std::string(kNotAnItem)},
      {CanaryRow() + CanaryRow(), "line 1, column 1" + std::string(kNotAnItem)},
      // An unknown header after known ones.
      {"atena_no,IT00000200000001," + name + "\n", "line 1, column 3" + std::string(kNotAnItem)},
      {"IT00000200000001,atena_no," + number + "," + name + "\n",
       "line 1, column 3" + std::string(kNotAnItem)},
      // Broken header rows: the reader's own positions.
      {name + "\"" + number + "\n", "line 1: column 1: quote in unquoted field"},
      {"\"" + name + "\n" + number + "\n",
       "line 2: column 1: unterminated quoted field (opened on line 1)"},
      {name + "\xFF\n", "line 1: column 1: invalid UTF-8"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    Result<ImportReport> r = Import(c.file);
    EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument, c.message));
    EXPECT_THAT(r.status().message(), EchoesNoCanary());
    ASSERT_OK_AND_ASSIGN(auto factory,
                         MakeRecordSourceFactory(std::make_unique<replica_io::StringSource>(c.file),
                                                 FileFormat::kCsv, "utf-8"));
    EXPECT_THAT(store_->Reconcile(kTax, "", *factory),
                StatusIs(StatusCode::kInvalidArgument, c.message));
  }
  EXPECT_EQ(*store_->Count(kTax), 0);
}

TEST_P(ReplicaStoreTest, RowProblemsNeverEchoTheValues) {
  const std::string name(kCanaryName);
  const std::string number(kCanaryAtenaNo);
  // Every cell a canary: the atena_no and each item are named, none quoted.
  ASSERT_OK_AND_ASSIGN(ImportReport r, Import(kTaxHeader + CanaryRow()));
  EXPECT_FALSE(r.committed);
  ASSERT_EQ(r.problems.size(), 17u);
  EXPECT_EQ(r.problems[0].field, "atena_no");
  EXPECT_EQ(r.problems[0].reason, "bad_atena_no");
  EXPECT_EQ(r.problems[1].field, "IT00000200000001");
  EXPECT_EQ(r.problems[1].reason, "too_long");
  EXPECT_EQ(r.problems[1].message,
            "item IT00000200000001 \"課税年度\": 15 digits, at most 4 allowed");
  EXPECT_EQ(r.problems[2].field, "IT00000200000002");
  EXPECT_EQ(r.problems[2].reason, "not_a_date");
  EXPECT_EQ(r.problems[3].field, "IT00000200000003");
  EXPECT_EQ(r.problems[3].reason, "unknown_code");
  EXPECT_EQ(r.problems[4].reason, "not_a_number");
  for (const Problem& p : r.problems) EXPECT_EQ(p.line, 2);
  ExpectNoCanary(r.problems);

  // Short codes (printable ASCII, once quoted as codes) and the rest of the row valid.
  std::string row = TaxRow(1, 2026, "1");
  row.replace(row.find(",2026-01-01,1,"), 14, ",2026-01-01,CANARY,");
  ASSERT_OK_AND_ASSIGN(r, Import(kTaxHeader + row));
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].message,
            "item IT00000200000003 \"課税区分\": not in code list kazei_kubun (課税区分)");
  row = TaxRow(1, 2026, "1");
  row.replace(row.find(",2026-01-01,1,"), 14, ",2026-01-01," + number + ",");
  ASSERT_OK_AND_ASSIGN(r, Import(kTaxHeader + row));
  ASSERT_EQ(r.problems.size(), 1u);
  ExpectNoCanary(r.problems);

  // Wrong field count, then a broken quote that stops the reading.
  ASSERT_OK_AND_ASSIGN(
      r, Import(kTaxHeader + name + "," + number + "\n" + number + "\"" + name + "\n"));
  ASSERT_EQ(r.problems.size(), 2u);
  EXPECT_EQ(r.problems[0].reason, "field_count");
  EXPECT_EQ(r.problems[0].message, "expected 17 fields as in the header, found 2");
  EXPECT_EQ(r.problems[1].reason, "malformed_file");
  EXPECT_EQ(r.problems[1].message, "line 3: column 1: quote in unquoted field");
  ExpectNoCanary(r.problems);

  // Invalid UTF-8 inside a canary.
  ASSERT_OK_AND_ASSIGN(r,
                       Import(kTaxHeader + TaxRow(1, 2026, "1") + number + "," + name + "\xE5\n"));
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].message, "line 3: column 2: invalid UTF-8");
  ExpectNoCanary(r.problems);

  // CP932: the name in Shift_JIS, then bytes that are not CP932.
  const std::string cp932_name = "CANARY\x8E\x52\x93\x63\x91\xBE\x98\x59";
  ASSERT_OK_AND_ASSIGN(r, Import(kTaxHeader + TaxRow(1, 2026, "1") + cp932_name + "\x85\x40\n",
                                 ImportMode::kUpsert, "", FileFormat::kCsv, "Shift_JIS"));
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].line, 3);
  EXPECT_EQ(r.problems[0].message, "line 3, byte 15: invalid Shift_JIS (CP932) byte sequence");
  ExpectNoCanary(r.problems);
}

TEST_P(ReplicaStoreTest, JsonLinesProblemsNeverEchoKeysOrValues) {
  const std::string name(kCanaryName);
  const std::string number(kCanaryAtenaNo);
  const std::string valid =
      R"("IT00000200000001":2026,"IT00000200000002":"2026-01-01","IT00000200000003":"1")";
  // An unknown key (a name where an item code belongs), and a bad atena_no and bad values.
  ASSERT_OK_AND_ASSIGN(
      ImportReport r,
      Import("{\"atena_no\":\"000000000000001\"," + valid + ",\"" + name + "\":\"" + number +
                 "\"}\n" + "{\"atena_no\":\"" + name + "\",\"IT00000200000001\":\"" + name +
                 "\",\"IT00000200000002\":\"" + number + "\",\"IT00000200000003\":\"" + number +
                 "\"}\n",
             ImportMode::kUpsert, "", FileFormat::kJsonLines));
  EXPECT_FALSE(r.committed);
  ASSERT_EQ(r.problems.size(), 5u);
  EXPECT_EQ(r.problems[0].line, 1);
  EXPECT_EQ(r.problems[0].reason, "unknown_field");
  EXPECT_EQ(r.problems[0].field, "");
  EXPECT_EQ(r.problems[0].message, "member 5: not an item of TM00000000000002 version 0002");
  EXPECT_EQ(r.problems[1].field, "atena_no");
  EXPECT_EQ(r.problems[2].reason, "not_a_number");
  EXPECT_EQ(r.problems[3].reason, "not_a_date");
  EXPECT_EQ(r.problems[4].reason, "unknown_code");
  ExpectNoCanary(r.problems);

  // Errors that stop the reading: an item code is named, any other key only by position.
  struct Case {
    std::string line;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"{\"atena_no\":\"" + number + "\",\"IT00000200000001\":true}",
       "line 1, member 2 (IT00000200000001): boolean values are not allowed"},
      {"{\"atena_no\":\"" + number + "\",\"" + name + "\":[\"" + name + "\"]}",
       "line 1, member 2: array values are not allowed"},
      {"{\"atena_no\":\"" + number + "\",\"" + number + "\":\"1\",\"" + number + "\":\"2\"}",
       "line 1, member 3: duplicate key (the same as member 2)"},
      {"{\"atena_no\":\"" + number + "\",\"atena_no\":\"" + number + "\"}",
       "line 1, member 2 (atena_no): duplicate key (the same as member 1)"},
      {"[\"" + name + "\"]", "line 1: expected a JSON object"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    ASSERT_OK_AND_ASSIGN(r, Import(c.line + "\n", ImportMode::kUpsert, "", FileFormat::kJsonLines));
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_EQ(r.problems[0].reason, "malformed_file");
    EXPECT_EQ(r.problems[0].line, 1);
    EXPECT_EQ(r.problems[0].message, c.message);
    ExpectNoCanary(r.problems);
  }
  ASSERT_OK_AND_ASSIGN(r, Import("{\"atena_no\":\"" + name + "\" \"" + number + "\"}\n",
                                 ImportMode::kUpsert, "", FileFormat::kJsonLines));
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_THAT(r.problems[0].message, HasSubstr("line 1: invalid JSON: "));
  ExpectNoCanary(r.problems);
  EXPECT_EQ(*store_->Count(kTax), 0);
}

TEST_P(ReplicaStoreTest, ReconcileProblemsNeverEchoTheFile) {
  ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, "100")));
  const std::string name(kCanaryName);
  const std::string number(kCanaryAtenaNo);
  auto reconcile = [&](const std::string& body, FileFormat format,
                       const std::string& version = "") -> Result<ReconcileReport> {
    ASSIGN_OR_RETURN(
        auto factory,
        MakeRecordSourceFactory(std::make_unique<replica_io::StringSource>(body), format, "utf-8"));
    return store_->Reconcile(kTax, version, *factory);
  };
  ASSERT_OK_AND_ASSIGN(ReconcileReport r, reconcile(kTaxHeader + CanaryRow() + name + "\n" +
                                                        TaxRow(1, 2026, "100") + name + "\"\n",
                                                    FileFormat::kCsv));
  EXPECT_EQ(r.matching, 1);
  ASSERT_EQ(r.problems.size(), 3u);
  EXPECT_EQ(r.problems[0].reason, "bad_atena_no");
  EXPECT_EQ(r.problems[1].reason, "field_count");
  EXPECT_EQ(r.problems[2].reason, "malformed_file");
  EXPECT_EQ(r.problems[2].message, "line 5: column 1: quote in unquoted field");
  ExpectNoCanary(r.problems);

  ASSERT_OK_AND_ASSIGN(r, reconcile("{\"atena_no\":\"" + number + "\",\"" + name + "\":\"1\"}\n",
                                    FileFormat::kJsonLines));
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].message, "member 2: not an item of TM00000000000002 version 0002");
  ExpectNoCanary(r.problems);

  // The version asked for is not repeated either; the known ones are listed.
  Result<ReconcileReport> bad_version = reconcile(kTaxHeader, FileFormat::kCsv, "山田");
  EXPECT_THAT(bad_version, StatusIs(StatusCode::kNotFound,
                                    "tm TM00000000000002 has no such layout version (versions: "
                                    "0001, 0002)"));
}

TEST_P(ReplicaStoreTest, ReplaceAndDeleteModes) {
  ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, "1") + TaxRow(2, 2026, "1")));
  ASSERT_OK_AND_ASSIGN(ImportReport rep,
                       Import(kTaxHeader + TaxRow(3, 2026, "1"), ImportMode::kReplace));
  EXPECT_EQ(rep.deleted, 2);
  EXPECT_EQ(rep.inserted, 1);
  EXPECT_EQ(*store_->Count(kTax), 1);
  ASSERT_OK_AND_ASSIGN(
      ImportReport del,
      Import(kTaxHeader + TaxRow(3, 2026, "1") + TaxRow(4, 2026, "1"), ImportMode::kDelete));
  EXPECT_EQ(del.deleted, 1);
  EXPECT_EQ(del.not_found, 1);
  EXPECT_EQ(*store_->Count(kTax), 0);
}

// ---- version history (replica_history) ----

constexpr int64_t kStartUs = int64_t{1775001600} * 1'000'000;  // FakeClock's start
constexpr int64_t kHourUs = int64_t{3600} * 1'000'000;
const AtenaNo kPerson1 = AtenaNo::Parse("000000000000001").value();
const AtenaNo kPerson2 = AtenaNo::Parse("000000000000002").value();
const AtenaNo kPerson3 = AtenaNo::Parse("000000000000003").value();
const AtenaNo kPerson4 = AtenaNo::Parse("000000000000004").value();

// An upsert that overwrites a record keeps the version it overwrote, with the import that wrote
// it, the one that overwrote it and the period between; the newest version comes first.
TEST_P(ReplicaStoreTest, AnUpsertKeepsTheVersionItOverwrites) {
  ASSERT_OK_AND_ASSIGN(ImportReport a, Import(kTaxHeader + TaxRow(1, 2026, "1000") +
                                              TaxRow(2, 2026, "2000") + TaxRow(3, 2026, "3000")));
  ASSERT_OK_AND_ASSIGN(auto none, store_->History(kPerson1, kTax));
  EXPECT_TRUE(none.empty());  // an insert supersedes nothing

  clock_.Advance(std::chrono::hours(1));
  ASSERT_OK_AND_ASSIGN(ImportReport b,
                       Import(kTaxHeader + TaxRow(1, 2026, "1500") + TaxRow(2, 2026, "2000")));
  EXPECT_EQ(b.updated, 2);
  ASSERT_OK_AND_ASSIGN(auto h1, store_->History(kPerson1, kTax));
  ASSERT_EQ(h1.size(), 1u);
  EXPECT_EQ(h1[0].record.tm, kTax.str());
  EXPECT_EQ(h1[0].record.version, "0002");
  EXPECT_EQ(h1[0].record.atena_no, kPerson1.str());
  EXPECT_EQ(h1[0].record.values[0], "2026");
  EXPECT_EQ(h1[0].record.values[3], "1000");
  EXPECT_EQ(h1[0].import_id, a.import_id);
  EXPECT_EQ(h1[0].superseded_by, b.import_id);
  EXPECT_EQ(h1[0].valid_from_us, kStartUs);
  EXPECT_EQ(h1[0].valid_until_us, kStartUs + kHourUs);
  EXPECT_EQ(h1[0].end, VersionEnd::kUpdated);
  ASSERT_OK_AND_ASSIGN(auto now1, store_->Find(kPerson1, kTax));
  ASSERT_EQ(now1.size(), 1u);
  EXPECT_EQ(now1[0].values[3], "1500");

  // The store does not compare values: an upsert that brings the same values still supersedes
  // (and keeps) the version it overwrote.
  ASSERT_OK_AND_ASSIGN(auto h2, store_->History(kPerson2, kTax));
  ASSERT_EQ(h2.size(), 1u);
  EXPECT_EQ(h2[0].record.values[3], "2000");
  EXPECT_EQ(h2[0].superseded_by, b.import_id);
  // Person 3 was not in the second file: no history.
  ASSERT_OK_AND_ASSIGN(auto h3, store_->History(kPerson3, std::nullopt));
  EXPECT_TRUE(h3.empty());

  clock_.Advance(std::chrono::hours(1));
  ASSERT_OK_AND_ASSIGN(ImportReport c, Import(kTaxHeader + TaxRow(1, 2026, "1700")));
  ASSERT_OK_AND_ASSIGN(auto both, store_->History(kPerson1, std::nullopt));
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].record.values[3], "1500");
  EXPECT_EQ(both[0].import_id, b.import_id);
  EXPECT_EQ(both[0].superseded_by, c.import_id);
  EXPECT_EQ(both[0].valid_from_us, kStartUs + kHourUs);
  EXPECT_EQ(both[0].valid_until_us, kStartUs + 2 * kHourUs);
  EXPECT_EQ(both[1].record.values[3], "1000");
  EXPECT_EQ(both[1].superseded_by, b.import_id);
  // Another TM's history of the same resident is empty.
  ASSERT_OK_AND_ASSIGN(auto other_tm,
                       store_->History(kPerson1, TmCode::Parse("TM00000000000001").value()));
  EXPECT_TRUE(other_tm.empty());
}

// Retention of the history: versions that ended before the cutoff go, oldest first and at most
// `limit` at a time; versions that ended later, and the current records, stay.
TEST_P(ReplicaStoreTest, HistoryPurgeDeletesVersionsThatEndedBeforeTheCutoffOldestFirst) {
  ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, "1000") + TaxRow(2, 2026, "2000") +
                   TaxRow(3, 2026, "3000"))
                .status());
  clock_.Advance(std::chrono::hours(1));
  ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, "1100") + TaxRow(2, 2026, "2100")).status());
  clock_.Advance(std::chrono::hours(1));
  ASSERT_OK(Import(kTaxHeader + TaxRow(3, 2026, "3100")).status());  // ends 3000 at +2 h
  auto purge = [&](int64_t before_us, int64_t limit) -> Result<int64_t> {
    ASSIGN_OR_RETURN(auto tx, db_->Begin());
    ASSIGN_OR_RETURN(int64_t n, ReplicaStore::PurgeHistory(*tx, before_us, limit));
    RETURN_IF_ERROR(tx->Commit());
    return n;
  };
  auto due = [&](int64_t before_us) -> bool {
    auto tx = db_->BeginRead().value();
    bool d = ReplicaStore::HistoryDue(*tx, before_us).value();
    EXPECT_OK(tx->Commit());
    return d;
  };
  // Three versions: 1000 and 2000 ended at +1 h, 3000 at +2 h.
  EXPECT_FALSE(due(kStartUs + kHourUs));
  EXPECT_EQ(purge(kStartUs + kHourUs, 10).value(), 0);
  EXPECT_TRUE(due(kStartUs + kHourUs + 1));
  EXPECT_EQ(purge(kStartUs + kHourUs + 1, 1).value(), 1);   // the limit holds
  EXPECT_EQ(purge(kStartUs + 3 * kHourUs, 10).value(), 2);  // the other +1 h, then +2 h
  EXPECT_FALSE(due(kStartUs + 3 * kHourUs));
  for (const AtenaNo& p : {kPerson1, kPerson2, kPerson3}) {
    ASSERT_OK_AND_ASSIGN(auto h, store_->History(p, kTax));
    EXPECT_TRUE(h.empty());
    ASSERT_OK_AND_ASSIGN(auto current, store_->Find(p, kTax));
    EXPECT_EQ(current.size(), 1u);
  }
  ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
  EXPECT_THAT(ReplicaStore::PurgeHistory(*tx, kStartUs, 0),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("limit")));
}

// PostgreSQL: the history purge deletes by the primary key's index, not by a sequential scan
// of a history that grows to millions of versions. 20,000 ended versions, ANALYZEd; the DELETE
// PurgeHistory really sends is EXPLAINed with its parameters (a batch of 1,000).
TEST_P(ReplicaStoreTest, HistoryPurgeDeletesByTheKeyNotByAScanOnPostgres) {
  if (GetParam() != store::Backend::kPostgres) GTEST_SKIP() << "PostgreSQL's plan";
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
    ASSERT_OK(tx->Exec(
        "INSERT INTO replica_history (key_hash, tm, version, sealed, import_id, valid_from_us,"
        " superseded_by, valid_until_us, end_reason) SELECT sha256(g::text::bytea),"
        " 'TM00000000000002', '0002', '\\x00'::bytea, 'import', g, 'import-2', g, 'update'"
        " FROM generate_series(1, 20000) g"));
    ASSERT_OK(tx->ExecScript("ANALYZE replica_history"));
    ASSERT_OK(tx->Commit());
  }
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> plans,
                       store::testing::PlansOfStatementsSent(*db_, [](store::Transaction& tx) {
                         return ReplicaStore::PurgeHistory(tx, 20001, 1000).status();
                       }));
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_THAT(plans[0], ::testing::StartsWith("DELETE FROM replica_history WHERE")) << plans[0];
  EXPECT_THAT(plans[0], ::testing::Not(HasSubstr("Seq Scan"))) << plans[0];
  EXPECT_THAT(plans[0], HasSubstr("Index Scan using replica_history_pkey on replica_history"))
      << plans[0];
}

TEST_P(ReplicaStoreTest, DeleteModeKeepsTheDeletedVersion) {
  ASSERT_OK_AND_ASSIGN(ImportReport a,
                       Import(kTaxHeader + TaxRow(1, 2026, "1000") + TaxRow(2, 2026, "2000")));
  clock_.Advance(std::chrono::minutes(5));
  ASSERT_OK_AND_ASSIGN(
      ImportReport del,
      Import(kTaxHeader + TaxRow(1, 2026, "1000") + TaxRow(9, 2026, "1"), ImportMode::kDelete));
  EXPECT_EQ(del.deleted, 1);
  EXPECT_EQ(del.not_found, 1);
  ASSERT_OK_AND_ASSIGN(auto h1, store_->History(kPerson1, kTax));
  ASSERT_EQ(h1.size(), 1u);
  EXPECT_EQ(h1[0].end, VersionEnd::kDeleted);
  EXPECT_EQ(h1[0].record.values[3], "1000");
  EXPECT_EQ(h1[0].import_id, a.import_id);
  EXPECT_EQ(h1[0].superseded_by, del.import_id);
  EXPECT_EQ(h1[0].valid_until_us, kStartUs + int64_t{300} * 1'000'000);
  ASSERT_OK_AND_ASSIGN(auto current, store_->Find(kPerson1, kTax));
  EXPECT_TRUE(current.empty());
  // The key that was not found and the record that was not listed have no history.
  ASSERT_OK_AND_ASSIGN(auto h9, store_->History(AtenaNo::Parse("000000000000009").value(), kTax));
  EXPECT_TRUE(h9.empty());
  ASSERT_OK_AND_ASSIGN(auto h2, store_->History(kPerson2, kTax));
  EXPECT_TRUE(h2.empty());
}

// Replace drops the TM's set: the records the file brings back under the same key were updated,
// the others deleted. An earlier deletion of a key the file brings back stays a deletion.
TEST_P(ReplicaStoreTest, ReplaceModeKeepsUpdatedAndDroppedVersions) {
  ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, "100") + TaxRow(2, 2026, "200") +
                   TaxRow(3, 2026, "300") + TaxRow(5, 2026, "500")));
  ASSERT_OK_AND_ASSIGN(ImportReport del,
                       Import(kTaxHeader + TaxRow(5, 2026, "500"), ImportMode::kDelete));
  clock_.Advance(std::chrono::hours(2));
  ASSERT_OK_AND_ASSIGN(ImportReport rep, Import(kTaxHeader + TaxRow(2, 2026, "250") +
                                                    TaxRow(4, 2026, "400") + TaxRow(5, 2026, "550"),
                                                ImportMode::kReplace));
  EXPECT_EQ(rep.deleted, 3);  // the report counts the set dropped, as before
  EXPECT_EQ(rep.inserted, 3);
  ASSERT_OK_AND_ASSIGN(auto h1, store_->History(kPerson1, kTax));
  ASSERT_EQ(h1.size(), 1u);
  EXPECT_EQ(h1[0].end, VersionEnd::kDeleted);
  EXPECT_EQ(h1[0].record.values[3], "100");
  EXPECT_EQ(h1[0].superseded_by, rep.import_id);
  EXPECT_EQ(h1[0].valid_until_us, kStartUs + 2 * kHourUs);
  ASSERT_OK_AND_ASSIGN(auto h2, store_->History(kPerson2, kTax));
  ASSERT_EQ(h2.size(), 1u);
  EXPECT_EQ(h2[0].end, VersionEnd::kUpdated);
  EXPECT_EQ(h2[0].record.values[3], "200");
  EXPECT_EQ(h2[0].superseded_by, rep.import_id);
  ASSERT_OK_AND_ASSIGN(auto h3, store_->History(kPerson3, kTax));
  ASSERT_EQ(h3.size(), 1u);
  EXPECT_EQ(h3[0].end, VersionEnd::kDeleted);
  ASSERT_OK_AND_ASSIGN(auto h4, store_->History(kPerson4, kTax));
  EXPECT_TRUE(h4.empty());
  ASSERT_OK_AND_ASSIGN(auto h5, store_->History(AtenaNo::Parse("000000000000005").value(), kTax));
  ASSERT_EQ(h5.size(), 1u);
  EXPECT_EQ(h5[0].end, VersionEnd::kDeleted);
  EXPECT_EQ(h5[0].superseded_by, del.import_id);
  EXPECT_EQ(h5[0].record.values[3], "500");
}

// History answers at most kMaxHistoryVersions versions, the newest first.
TEST_P(ReplicaStoreTest, HistoryIsBoundedNewestFirst) {
  ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, "0")));
  for (int i = 1; i <= 101; ++i) {
    clock_.Advance(std::chrono::seconds(1));
    ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, std::to_string(i))));
  }
  ASSERT_OK_AND_ASSIGN(auto h, store_->History(kPerson1, kTax));
  ASSERT_EQ(h.size(), static_cast<size_t>(kMaxHistoryVersions));
  EXPECT_EQ(h.front().record.values[3], "100");  // 101 is current
  EXPECT_EQ(h.back().record.values[3], "1");     // "0" is the 101st: not answered
  EXPECT_EQ(h.front().valid_until_us, kStartUs + int64_t{101} * 1'000'000);
  if (GetParam() == store::Backend::kSqlite) {
    // The lookup's expression is the index's: a resident's history is a seek, not a scan.
    ASSERT_OK_AND_ASSIGN(auto tx, db_->BeginRead());
    ASSERT_OK_AND_ASSIGN(
        auto plan, tx->Query("EXPLAIN QUERY PLAN SELECT tm FROM replica_history WHERE "
                             "substr(key_hash, 1, 8) = ? AND tm = ? ORDER BY id DESC LIMIT 100",
                             {store::Bytes(8, 0), kTax.str()}));
    std::string details;
    for (const store::Row& row : plan) details += row.GetText(3).value_or("") + ";";
    EXPECT_THAT(details, HasSubstr("USING INDEX replica_history_resident")) << details;
  }
}

// The worst bug would be one tenant reading another's history: a history row opens only for the
// tenant, TM and record key it was sealed for.
TEST_P(ReplicaStoreTest, AnotherTenantCannotReadTheHistory) {
  ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, "1000") + TaxRow(2, 2026, "2000")));
  ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, "1500")));
  ASSERT_OK_AND_ASSIGN(auto mine, store_->History(kPerson1, kTax));
  ASSERT_EQ(mine.size(), 1u);

  // Another tenant's store over its own database (how tenants are kept) finds nothing.
  const TenantId other = TenantId::ForOrg(OrgCode::Parse("0000000000000133").value());
  ASSERT_OK(ts_->CreateTenant(other));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<store::Database> other_db, ts_->Tenant(other));
  ASSERT_OK_AND_ASSIGN(auto theirs,
                       ReplicaStore::Open(other, other_db, crypto::SecretBytes::Random(32),
                                          ShippedCatalogue(), clock_));
  ASSERT_OK_AND_ASSIGN(auto found, theirs->History(kPerson1, kTax));
  EXPECT_TRUE(found.empty());
  // Pointed at this tenant's rows: with its own key the blind index finds nothing ...
  ASSERT_OK_AND_ASSIGN(
      auto other_key,
      ReplicaStore::Open(other, db_, crypto::SecretBytes::Random(32), ShippedCatalogue(), clock_));
  ASSERT_OK_AND_ASSIGN(auto by_key, other_key->History(kPerson1, kTax));
  EXPECT_TRUE(by_key.empty());
  // ... and even with this tenant's key, the associated data (the tenant) does not match.
  ASSERT_OK_AND_ASSIGN(auto same_key,
                       ReplicaStore::Open(other, db_, key_, ShippedCatalogue(), clock_));
  EXPECT_THAT(same_key->History(kPerson1, kTax), StatusIs(StatusCode::kDataLoss));

  // A history row moved to another resident's key does not open either.
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->Begin());
    ASSERT_OK(tx->Exec(
        "UPDATE replica_history SET key_hash = (SELECT r.key_hash FROM replica_record r WHERE "
        "r.key_hash <> replica_history.key_hash)"));
    ASSERT_OK(tx->Commit());
  }
  EXPECT_THAT(store_->History(kPerson2, kTax), StatusIs(StatusCode::kDataLoss));
}

// History rows are written in the import's own transaction: a refused file writes none, and
// neither does an import whose transaction fails before it commits.
TEST_P(ReplicaStoreTest, AnImportThatFailsWritesNoHistory) {
  ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, "1000")));
  std::string refused = kTaxHeader + TaxRow(1, 2026, "1500") + TaxRow(2, 2026, "1");
  refused.replace(refused.rfind("2026-01-01"), 10, "2026-02-30");
  ASSERT_OK_AND_ASSIGN(ImportReport r, Import(refused));
  EXPECT_FALSE(r.committed);
  ASSERT_OK_AND_ASSIGN(auto h, store_->History(kPerson1, kTax));
  EXPECT_TRUE(h.empty());

  // The audit entry fails inside the transaction, after the history rows were written.
  for (ImportMode mode : {ImportMode::kUpsert, ImportMode::kReplace, ImportMode::kDelete}) {
    EXPECT_THAT(ImportFailingAtItsAuditEntry(kTaxHeader + TaxRow(1, 2026, "1500"), mode),
                StatusIs(StatusCode::kUnavailable))
        << ImportModeName(mode);
    ASSERT_OK_AND_ASSIGN(auto after, store_->History(kPerson1, kTax));
    EXPECT_TRUE(after.empty()) << ImportModeName(mode);
  }
  ASSERT_OK_AND_ASSIGN(auto current, store_->Find(kPerson1, kTax));
  ASSERT_EQ(current.size(), 1u);
  EXPECT_EQ(current[0].values[3], "1000");
}

// A file that switches between runs of existing and new keys (on SQLite each record tries first
// the statement the record before it needed: every switch is taken here, both ways): each key
// counted once, one history row per existing key, written in the file's order, none for a new
// key, records updated in place and the new ones appended in the file's order.
TEST_P(ReplicaStoreTest, RunsOfExistingAndNewKeysAreCountedAndKeptInTheFilesOrder) {
  std::string first = kTaxHeader;
  for (int p : {1, 2, 3, 7, 8}) first += TaxRow(p, 2026, std::to_string(1000 + p));
  ASSERT_OK_AND_ASSIGN(ImportReport a, Import(first));
  EXPECT_EQ(a.inserted, 5);

  clock_.Advance(std::chrono::hours(1));
  std::string second = kTaxHeader;
  for (int p = 1; p <= 9; ++p) second += TaxRow(p, 2026, std::to_string(5000 + p));
  ASSERT_OK_AND_ASSIGN(ImportReport b, Import(second));
  EXPECT_TRUE(b.committed);
  EXPECT_EQ(b.inserted, 4);
  EXPECT_EQ(b.updated, 5);
  EXPECT_EQ(*store_->Count(kTax), 9);

  std::string want = kTaxHeader;
  for (int p : {1, 2, 3, 7, 8, 4, 5, 6, 9}) want += TaxRow(p, 2026, std::to_string(5000 + p));
  EXPECT_EQ(ExportAll(), AsExported(want));

  // The history rows, in the order they were written, are of the first file's five records, in
  // that file's order (their record ids are the five lowest).
  ASSERT_OK_AND_ASSIGN(auto tx, db_->BeginRead());
  ASSERT_OK_AND_ASSIGN(std::vector<store::Row> history,
                       tx->Query("SELECT r.id, h.import_id, h.superseded_by, h.valid_until_us, "
                                 "h.end_reason FROM replica_history h JOIN replica_record r ON "
                                 "r.key_hash = h.key_hash ORDER BY h.id"));
  ASSERT_OK_AND_ASSIGN(std::vector<store::Row> oldest,
                       tx->Query("SELECT id FROM replica_record ORDER BY id LIMIT 5"));
  ASSERT_EQ(history.size(), 5u);
  ASSERT_EQ(oldest.size(), 5u);
  for (size_t i = 0; i < history.size(); ++i) {
    EXPECT_EQ(history[i].GetInt(0).value(), oldest[i].GetInt(0).value()) << i;
    EXPECT_EQ(history[i].GetText(1).value(), a.import_id) << i;
    EXPECT_EQ(history[i].GetText(2).value(), b.import_id) << i;
    EXPECT_EQ(history[i].GetInt(3).value(), kStartUs + kHourUs) << i;
    EXPECT_EQ(history[i].GetText(4).value(), "update") << i;
  }
  ASSERT_OK(tx->Commit());
  ASSERT_OK_AND_ASSIGN(auto h7, store_->History(AtenaNo::Parse("000000000000007").value(), kTax));
  ASSERT_EQ(h7.size(), 1u);
  EXPECT_EQ(h7[0].record.values[3], "1007");
  ASSERT_OK_AND_ASSIGN(auto h9, store_->History(AtenaNo::Parse("000000000000009").value(), kTax));
  EXPECT_TRUE(h9.empty());
}

// SQLite writes an update's history through a TEMP trigger on the import's (writer) connection:
// it exists only inside the import's transaction. After an import that commits and after one
// that fails, the connection has no temporary schema object, and an UPDATE of a record outside
// an import writes no history row.
TEST_P(ReplicaStoreTest, TheHistoryTriggerDoesNotOutliveTheImport) {
  if (GetParam() != store::Backend::kSqlite) GTEST_SKIP() << "SQLite's TEMP trigger";
  auto expect_no_trigger = [&](int64_t history_rows, const std::string& after) {
    ASSERT_OK_AND_ASSIGN(auto w, db_->Begin());
    ASSERT_OK_AND_ASSIGN(std::optional<store::Row> temp,
                         w->QueryOne("SELECT COUNT(*) FROM sqlite_temp_master"));
    ASSERT_TRUE(temp.has_value());
    EXPECT_EQ(temp->GetInt(0).value(), 0) << after;
    ASSERT_OK_AND_ASSIGN(int64_t changed,
                         w->ExecCount("UPDATE replica_record SET updated_at_us = updated_at_us"));
    EXPECT_EQ(changed, 2) << after;
    ASSERT_OK_AND_ASSIGN(std::optional<store::Row> count,
                         w->QueryOne("SELECT COUNT(*) FROM replica_history"));
    ASSERT_TRUE(count.has_value());
    EXPECT_EQ(count->GetInt(0).value(), history_rows) << after;
    // Rolled back: the records stay as the imports left them.
  };
  ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, "1000") + TaxRow(2, 2026, "2000")));
  ASSERT_OK_AND_ASSIGN(ImportReport updated,
                       Import(kTaxHeader + TaxRow(1, 2026, "1500") + TaxRow(2, 2026, "2500")));
  EXPECT_EQ(updated.updated, 2);
  expect_no_trigger(2, "a committed import");

  EXPECT_THAT(ImportFailingAtItsAuditEntry(kTaxHeader + TaxRow(1, 2026, "1700")),
              StatusIs(StatusCode::kUnavailable));
  expect_no_trigger(2, "a failed import");
  ASSERT_OK_AND_ASSIGN(auto current, store_->Find(kPerson1, kTax));
  ASSERT_EQ(current.size(), 1u);
  EXPECT_EQ(current[0].values[3], "1500");
}

// More records than one PostgreSQL staging chunk (8,192): a first import, then a file with as
// many new keys as existing ones interleaved, then the same file again (every record an update)
// — counts, history and export order as for a small file, on both backends; and a re-import whose
// transaction fails at its end (the audit entry) after every chunk was written leaves nothing.
TEST_P(ReplicaStoreTest, ImportsAcrossStagingChunksInsertUpdateAndKeepHistory) {
  constexpr int kHalf = 9000;
  std::string first = kTaxHeader;
  for (int i = 1; i <= kHalf; ++i) first += TaxRow(2 * i, 2026, std::to_string(1000 + i));
  ASSERT_OK_AND_ASSIGN(ImportReport a, Import(first));
  EXPECT_EQ(a.inserted, kHalf);
  EXPECT_EQ(a.updated, 0);

  clock_.Advance(std::chrono::hours(1));
  std::string second = kTaxHeader;
  for (int i = 1; i <= 2 * kHalf; ++i) second += TaxRow(i, 2026, std::to_string(7000000 + i));
  ASSERT_OK_AND_ASSIGN(ImportReport b, Import(second));
  EXPECT_TRUE(b.committed);
  EXPECT_EQ(b.inserted, kHalf);
  EXPECT_EQ(b.updated, kHalf);
  EXPECT_EQ(*store_->Count(kTax), 2 * kHalf);
  // Updated in place (the first file's order), new records appended in the file's order.
  std::string want = kTaxHeader;
  for (int i = 2; i <= 2 * kHalf; i += 2) want += TaxRow(i, 2026, std::to_string(7000000 + i));
  for (int i = 1; i <= 2 * kHalf; i += 2) want += TaxRow(i, 2026, std::to_string(7000000 + i));
  EXPECT_EQ(ExportAll(), AsExported(want));
  // The last existing key (person 18000) is in the last chunk.
  for (const AtenaNo& p : {kPerson2, AtenaNo::Parse("000000000018000").value()}) {
    ASSERT_OK_AND_ASSIGN(auto h, store_->History(p, kTax));
    ASSERT_EQ(h.size(), 1u) << p.str();
    EXPECT_EQ(h[0].record.values[3], std::to_string(1000 + std::stoi(p.str()) / 2));
    EXPECT_EQ(h[0].import_id, a.import_id);
    EXPECT_EQ(h[0].superseded_by, b.import_id);
    EXPECT_EQ(h[0].valid_until_us, kStartUs + kHourUs);
    EXPECT_EQ(h[0].end, VersionEnd::kUpdated);
  }
  ASSERT_OK_AND_ASSIGN(auto new_one, store_->History(kPerson1, kTax));
  EXPECT_TRUE(new_one.empty());

  clock_.Advance(std::chrono::hours(1));
  ASSERT_OK_AND_ASSIGN(ImportReport c, Import(second));
  EXPECT_EQ(c.inserted, 0);
  EXPECT_EQ(c.updated, 2 * kHalf);
  EXPECT_EQ(*store_->Count(kTax), 2 * kHalf);
  ASSERT_OK_AND_ASSIGN(auto h1, store_->History(kPerson1, kTax));
  ASSERT_EQ(h1.size(), 1u);
  EXPECT_EQ(h1[0].import_id, b.import_id);
  EXPECT_EQ(h1[0].superseded_by, c.import_id);

  std::string third = kTaxHeader;
  for (int i = 1; i <= 2 * kHalf; ++i) third += TaxRow(i, 2026, "5");
  ASSERT_OK_AND_ASSIGN(auto factory,
                       MakeRecordSourceFactory(std::make_unique<replica_io::StringSource>(third),
                                               FileFormat::kCsv, "utf-8"));
  EXPECT_THAT(
      store_->Import({kTax, "", ImportMode::kUpsert, "", "client:test", "req-3", {}}, *factory,
                     [](store::Transaction* tx, const ImportReport& r) {
                       EXPECT_EQ(r.updated, 2 * kHalf);
                       return tx == nullptr ? Status() : UnavailableError("audit log unavailable");
                     }),
      StatusIs(StatusCode::kUnavailable));
  EXPECT_EQ(*store_->Count(kTax), 2 * kHalf);
  ASSERT_OK_AND_ASSIGN(auto still, store_->History(kPerson1, kTax));
  EXPECT_EQ(still.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto current, store_->Find(kPerson1, kTax));
  ASSERT_EQ(current.size(), 1u);
  EXPECT_EQ(current[0].values[3], "7000001");
}

// A bad row deep in a file of several staging chunks: the file is refused with the problem's
// line and item, and nothing of it is committed. (Until 7 December 2026 the database was not
// even reached; now the rows before the problem are being written when it is found — on
// PostgreSQL the first chunk of 8,192 — and the transaction rolls back.)
TEST_P(ReplicaStoreTest, ABadRowPastTheFirstChunkCommitsNothing) {
  ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, "1")));
  std::string file = kTaxHeader;
  for (int i = 1; i <= 20000; ++i) {
    std::string row = TaxRow(i, 2026, "100");
    if (i == 15000) row.replace(row.find("2026-01-01"), 10, "2026-02-30");  // line 15001
    file += row;
  }
  ASSERT_OK_AND_ASSIGN(ImportReport r, Import(file));
  EXPECT_FALSE(r.committed);
  EXPECT_EQ(r.rows, 20000);
  EXPECT_EQ(r.inserted + r.updated, 0);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].line, 15001);
  EXPECT_EQ(r.problems[0].field, "IT00000200000002");
  EXPECT_EQ(r.problems[0].reason, "not_a_date");
  EXPECT_THAT(r.problems[0].message, ::testing::Not(HasSubstr("2026-02-30")));
  EXPECT_EQ(*store_->Count(kTax), 1);
  ASSERT_OK_AND_ASSIGN(auto h, store_->History(kPerson1, kTax));
  EXPECT_TRUE(h.empty());
}

// PostgreSQL, a re-import: the records go in by chunks of 8,192 through a binary COPY into the
// staging table and set-based statements, a handful of round trips each. The 256-record INSERTs
// before cost one round trip per 256 records and one more per updated record (over 20,000 here).
// (A first import takes the shorter path of the test below.)
TEST_P(ReplicaStoreTest, AReImportCostsAFewRoundTripsPerChunkOnPostgres) {
  if (GetParam() != store::Backend::kPostgres) GTEST_SKIP() << "round trips are PostgreSQL's";
  std::string file = kTaxHeader;
  for (int i = 1; i <= 20000; ++i) file += TaxRow(i, 2026, "100");
  ASSERT_OK_AND_ASSIGN(ImportReport a, Import(file));
  EXPECT_EQ(a.inserted, 20000);
  const int64_t before = db_->stats().round_trips;
  ASSERT_OK_AND_ASSIGN(ImportReport b, Import(file));
  EXPECT_EQ(b.updated, 20000);
  // 23: BEGIN with the count read, the staging table and the planner settings (3); per chunk the
  // COPY (2; the chunk before's TRUNCATE goes ahead of it, 1 more), history, UPDATE and INSERT
  // (3); the last TRUNCATE, the import's row and COMMIT at the end.
  EXPECT_EQ(db_->stats().round_trips - before, 23);
}

// PostgreSQL, a TM with no record yet: the records are copied straight into replica_record,
// with no staging table and no look-up of existing keys — one COPY (two round trips) per chunk of
// 8,192. Deletions of absent records in such an import are counted as not found, and a replace
// of a TM that holds records takes the same path after dropping them.
TEST_P(ReplicaStoreTest, AFirstImportIsCopiedStraightIntoTheRecordsOnPostgres) {
  if (GetParam() != store::Backend::kPostgres) GTEST_SKIP() << "round trips are PostgreSQL's";
  std::string file = kTaxHeader;
  for (int i = 1; i <= 20000; ++i) file += TaxRow(i, 2026, "100");
  int64_t before = db_->stats().round_trips;
  ASSERT_OK_AND_ASSIGN(ImportReport a, Import(file));
  EXPECT_EQ(a.inserted, 20000);
  // The count read (with BEGIN), 3 chunks of COPY (2 each), the count, the import and COMMIT.
  EXPECT_EQ(db_->stats().round_trips - before, 1 + 3 * 2 + 3);
  EXPECT_EQ(*store_->Count(kTax), 20000);
  // A replace: the old records go to the history as deleted, the same keys come back as updates
  // (the history says so), through the same copy.
  clock_.Advance(std::chrono::hours(1));
  std::string replace = kTaxHeader;
  for (int i = 1; i <= 10000; ++i) replace += TaxRow(i, 2026, "200");
  ASSERT_OK_AND_ASSIGN(ImportReport b, Import(replace, ImportMode::kReplace));
  EXPECT_EQ(b.inserted, 10000);
  EXPECT_EQ(b.deleted, 20000);
  EXPECT_EQ(*store_->Count(kTax), 10000);
  ASSERT_OK_AND_ASSIGN(auto kept, store_->History(kPerson1, kTax));
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].end, VersionEnd::kUpdated);
  EXPECT_EQ(kept[0].record.values[3], "100");
  ASSERT_OK_AND_ASSIGN(auto gone, store_->History(AtenaNo::Parse("000000000015000").value(), kTax));
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].end, VersionEnd::kDeleted);
  ASSERT_OK_AND_ASSIGN(auto current, store_->Find(kPerson1, kTax));
  ASSERT_EQ(current.size(), 1u);
  EXPECT_EQ(current[0].values[3], "200");
  EXPECT_EQ(ExportAll(), AsExported(replace));
}

// PostgreSQL: two imports of one empty TM at once, with a key in common. The second finds the TM
// empty (the first has not committed), copies, and waits on the common key; when the first
// commits, the second fails with a retryable conflict and writes nothing — no record twice, and
// the count is the first import's.
TEST_P(ReplicaStoreTest, TwoFirstImportsOfOneTmAtOnceConflictAndTheSecondWritesNothing) {
  if (GetParam() != store::Backend::kPostgres) GTEST_SKIP() << "SQLite has one writer at a time";
  std::string mine = kTaxHeader;
  for (int i = 1; i <= 100; ++i) mine += TaxRow(i, 2026, "1");
  std::string theirs = kTaxHeader;
  for (int i = 100; i <= 300; ++i) theirs += TaxRow(i, 2026, "2");
  Result<ImportReport> second = InternalError("not run");
  std::thread other;
  ASSERT_OK_AND_ASSIGN(auto factory,
                       MakeRecordSourceFactory(std::make_unique<replica_io::StringSource>(mine),
                                               FileFormat::kCsv, "utf-8"));
  ASSERT_OK_AND_ASSIGN(
      ImportReport first,
      store_->Import(
          {kTax, "", ImportMode::kUpsert, "", "client:test", "req-1", {}}, *factory,
          [&](store::Transaction* tx, const ImportReport&) -> Status {
            if (tx == nullptr) return Status();
            // Inside the first import's transaction, its records written: start the second and
            // wait until it waits for a lock (the common key).
            other = std::thread([&] {
              auto f = MakeRecordSourceFactory(std::make_unique<replica_io::StringSource>(theirs),
                                               FileFormat::kCsv, "utf-8");
              if (!f.ok()) {
                second = f.status();
                return;
              }
              second = store_->Import(
                  {kTax, "", ImportMode::kUpsert, "", "client:test", "req-2", {}}, **f, nullptr);
            });
            for (int tries = 0; tries < 1000; ++tries) {
              ASSIGN_OR_RETURN(auto rtx, db_->BeginRead());
              ASSIGN_OR_RETURN(std::optional<store::Row> waiting,
                               rtx->QueryOne("SELECT count(*) FROM pg_locks WHERE locktype = "
                                             "'transactionid' AND NOT granted"));
              if (waiting && waiting->GetInt(0).value_or(0) > 0) return Status();
              std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            return DeadlineExceededError("the second import never waited for the first");
          }));
  other.join();
  EXPECT_TRUE(first.committed);
  EXPECT_EQ(first.inserted, 100);
  EXPECT_THAT(second, StatusIs(StatusCode::kAborted, HasSubstr("retry")));
  EXPECT_EQ(*store_->Count(kTax), 100);
  ASSERT_OK_AND_ASSIGN(auto common, store_->Find(AtenaNo::Parse("000000000000100").value(), kTax));
  ASSERT_EQ(common.size(), 1u);
  EXPECT_EQ(common[0].values[3], "1");
  ASSERT_OK_AND_ASSIGN(auto theirs_only,
                       store_->Find(AtenaNo::Parse("000000000000200").value(), kTax));
  EXPECT_TRUE(theirs_only.empty());
}

TEST_P(ReplicaStoreTest, IdempotencyKey) {
  const std::string file = kTaxHeader + TaxRow(1, 2026, "1");
  ASSERT_OK_AND_ASSIGN(ImportReport first, Import(file, ImportMode::kUpsert, "batch-0001"));
  ASSERT_OK_AND_ASSIGN(ImportReport again, Import(file, ImportMode::kUpsert, "batch-0001"));
  EXPECT_TRUE(again.replayed);
  EXPECT_EQ(again.import_id, first.import_id);
  EXPECT_EQ(again.inserted, 1);
  EXPECT_EQ(again.file_hash, first.file_hash);
  EXPECT_EQ(*store_->Count(kTax), 1);
  EXPECT_THAT(Import(kTaxHeader + TaxRow(2, 2026, "1"), ImportMode::kUpsert, "batch-0001"),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("different file")));
}

TEST_P(ReplicaStoreTest, ShiftJisAndJsonLines) {
  // 住民票関係情報 would carry Japanese text; here the tax file is sent in CP932 with a
  // Japanese-free body except the charset, so the bytes are identical — the decoder must pass
  // ASCII through unchanged. A bad byte on line 3 must be named.
  ASSERT_OK_AND_ASSIGN(ImportReport sj,
                       Import(kTaxHeader + TaxRow(1, 2026, "1"), ImportMode::kUpsert, "",
                              FileFormat::kCsv, "Shift_JIS"));
  EXPECT_TRUE(sj.committed);
  ASSERT_OK_AND_ASSIGN(ImportReport bad,
                       Import(kTaxHeader + TaxRow(2, 2026, "1") + "\x81\x20\n", ImportMode::kUpsert,
                              "", FileFormat::kCsv, "cp932"));
  EXPECT_FALSE(bad.committed);
  ASSERT_EQ(bad.problems.size(), 1u);
  EXPECT_EQ(bad.problems[0].line, 3);
  EXPECT_THAT(bad.problems[0].message, HasSubstr("Shift_JIS"));

  const std::string jsonl =
      R"({"atena_no":"000000000000005","IT00000200000001":2026,"IT00000200000002":"2026-01-01",)"
      R"("IT00000200000003":"1","IT00000200000004":"777"})"
      "\n";
  ASSERT_OK_AND_ASSIGN(ImportReport j,
                       Import(jsonl, ImportMode::kUpsert, "", FileFormat::kJsonLines));
  EXPECT_TRUE(j.committed) << (j.problems.empty() ? "" : j.problems[0].message);
  ASSERT_OK_AND_ASSIGN(auto rec, store_->Find(AtenaNo::Parse("000000000000005").value(), kTax));
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0].values[3], "777");
  EXPECT_EQ(rec[0].values[4], "");

  ASSERT_OK_AND_ASSIGN(ImportReport unknown,
                       Import(R"({"atena_no":"000000000000006","IT99999999999999":"1"})"
                              "\n",
                              ImportMode::kUpsert, "", FileFormat::kJsonLines));
  EXPECT_FALSE(unknown.committed);
  EXPECT_EQ(unknown.problems[0].reason, "unknown_field");
}

TEST_P(ReplicaStoreTest, Reconcile) {
  ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, "100") + TaxRow(2, 2026, "200") +
                   TaxRow(3, 2026, "300")));
  // The original: 1 unchanged, 2 changed, 3 absent (extra in the replica), 4 new (missing).
  const std::string original =
      kTaxHeader + TaxRow(1, 2026, "100") + TaxRow(2, 2026, "999") + TaxRow(4, 2026, "400");
  ASSERT_OK_AND_ASSIGN(auto factory,
                       MakeRecordSourceFactory(std::make_unique<replica_io::StringSource>(original),
                                               FileFormat::kCsv, "utf-8"));
  ASSERT_OK_AND_ASSIGN(ReconcileReport r, store_->Reconcile(kTax, "", *factory));
  EXPECT_EQ(r.rows, 3);
  EXPECT_EQ(r.matching, 1);
  EXPECT_EQ(r.different, 1);
  EXPECT_EQ(r.missing, 1);
  EXPECT_EQ(r.extra, 1);
  ASSERT_EQ(r.differences.size(), 1u);
  EXPECT_EQ(r.differences[0].line, 3);
  EXPECT_THAT(r.differences[0].fields, ElementsAre("IT00000200000004"));
  EXPECT_THAT(r.missing_lines, ElementsAre(4));
  EXPECT_THAT(r.extra_atena_nos, ElementsAre("000000000000003"));
}

TEST_P(ReplicaStoreTest, AnotherKeyCannotReadAndMovedRowsDoNotOpen) {
  ASSERT_OK(Import(kTaxHeader + TaxRow(1, 2026, "1")));
  crypto::SecretBytes other = crypto::SecretBytes::Random(32);
  ASSERT_OK_AND_ASSIGN(auto wrong,
                       ReplicaStore::Open(tenant_, db_, other, ShippedCatalogue(), clock_));
  // With another key the blind index finds nothing.
  ASSERT_OK_AND_ASSIGN(auto found, wrong->Find(AtenaNo::Parse("000000000000001").value(), kTax));
  EXPECT_TRUE(found.empty());
  std::string out;
  EXPECT_THAT(wrong->Export(kTax, "",
                            [&](std::string_view c) {
                              out.append(c);
                              return Status();
                            }),
              StatusIs(StatusCode::kDataLoss));
}

TEST_P(ReplicaStoreTest, NoImportedValueIsStoredInPlaintext) {
  const std::string marker_income = "987654321012";
  const std::string marker_atena = "424242424242424";
  std::string file = kTaxHeader + TaxRow(7, 2026, marker_income);
  file += marker_atena + TaxRow(1, 2024, marker_income).substr(15);
  ASSERT_OK_AND_ASSIGN(ImportReport r, Import(file));
  ASSERT_TRUE(r.committed);
  // Imported again: the first versions go to replica_history, still sealed.
  ASSERT_OK_AND_ASSIGN(ImportReport again, Import(file));
  ASSERT_EQ(again.updated, 2);
  ASSERT_OK_AND_ASSIGN(auto versions, store_->History(AtenaNo::Parse(marker_atena).value(), kTax));
  ASSERT_EQ(versions.size(), 1u);
  std::string raw;
  if (GetParam() == store::Backend::kSqlite) {
    ASSERT_OK(db_->Close());
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir().path())) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      raw += ss.str();
    }
    ASSERT_GT(raw.size(), 1000u);
  } else {
    ASSERT_OK_AND_ASSIGN(auto tx, db_->BeginRead());
    for (const char* table : {"replica_record", "replica_import", "replica_history"}) {
      ASSERT_OK_AND_ASSIGN(auto rows,
                           tx->Query(std::string("SELECT t::text FROM ") + table + " t"));
      for (const auto& row : rows) raw += store::testing::DecodeByteaRuns(*row.GetText(0));
    }
    ASSERT_GT(raw.size(), 200u);
  }
  for (const std::string& marker : {marker_income, marker_atena, std::string("000000000000007")}) {
    EXPECT_EQ(raw.find(marker), std::string::npos) << marker;
    std::string hex;
    for (unsigned char c : marker) {
      static const char* kHex = "0123456789abcdef";
      hex += kHex[c >> 4];
      hex += kHex[c & 15];
    }
    EXPECT_EQ(raw.find(hex), std::string::npos) << hex;
  }
}

// SQLite's schema cookie: it moves when an import drops and rebuilds the key_hash index.
// PostgreSQL (which never does): 0.
int64_t SchemaVersion(store::Database& db) {
  auto tx = db.BeginRead();
  EXPECT_OK(tx);
  if (!tx.ok()) return -1;
  if ((*tx)->backend() != store::Backend::kSqlite) return 0;
  auto row = (*tx)->QueryOne("PRAGMA schema_version");
  EXPECT_OK(row);
  if (!row.ok() || !row->has_value()) return -1;
  return (**row).GetInt(0).value_or(-1);
}

// The named unique index of key_hash exists (and, on SQLite, no automatic one beside it).
void ExpectNamedKeyIndex(store::Database& db, const std::string& after) {
  ASSERT_OK_AND_ASSIGN(auto tx, db.BeginRead());
  if (tx->backend() == store::Backend::kSqlite) {
    ASSERT_OK_AND_ASSIGN(std::optional<store::Row> sql,
                         tx->QueryOne("SELECT sql FROM sqlite_master WHERE type = 'index' AND "
                                      "name = 'replica_record_key'"));
    ASSERT_TRUE(sql.has_value()) << after;
    EXPECT_THAT(*sql->GetText(0), HasSubstr("UNIQUE")) << after;
    ASSERT_OK_AND_ASSIGN(std::optional<store::Row> auto_index,
                         tx->QueryOne("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' "
                                      "AND tbl_name = 'replica_record' AND name LIKE "
                                      "'sqlite_autoindex%'"));
    EXPECT_EQ(auto_index->GetInt(0).value(), 0) << after;
  } else {
    ASSERT_OK_AND_ASSIGN(std::optional<store::Row> unique,
                         tx->QueryOne("SELECT COUNT(*) FROM pg_index WHERE indexrelid = "
                                      "to_regclass('replica_record_key') AND indisunique"));
    EXPECT_EQ(unique->GetInt(0).value(), 1) << after;
    ASSERT_OK_AND_ASSIGN(std::optional<store::Row> constraints,
                         tx->QueryOne("SELECT COUNT(*) FROM pg_constraint WHERE conrelid = "
                                      "'replica_record'::regclass AND contype = 'u'"));
    EXPECT_EQ(constraints->GetInt(0).value(), 0) << after;
  }
}

// Migration 6 on a database of the schema before it (migrations 1–5): the records keep their
// ids and values, key_hash's uniqueness is now the named index replica_record_key, and imports
// work on the migrated table (through the index: it holds records).
TEST_P(ReplicaStoreTest, TheKeyIndexMigrationKeepsTheRecordsOfAnOldDatabase) {
  const TenantId old = TenantId::ForOrg(OrgCode::Parse("0000000000000133").value());
  ASSERT_OK(ts_->CreateTenant(old));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<store::Database> db, ts_->Tenant(old));
  const std::vector<store::Migration> before(ReplicaMigrations().begin(),
                                             ReplicaMigrations().begin() + 5);
  ASSERT_EQ(before.back().version, 5);
  ASSERT_OK(store::ApplyMigrations(*db, "replica", before, clock_));
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db->Begin());
    for (int i = 0; i < 3; ++i) {
      ASSERT_OK(tx->Exec(
          "INSERT INTO replica_record (id, key_hash, tm, version, sealed, import_id, "
          "updated_at_us, publish_from, publish_until) VALUES (?, ?, ?, '0002', ?, 'i', ?, ?, ?)",
          {int64_t{10 + 5 * i}, store::Bytes(16, static_cast<uint8_t>(i + 1)),
           std::string("TM00000000000002"), store::Bytes{static_cast<uint8_t>(i), 2, 3},
           int64_t{100 + i},
           i == 1 ? store::Value(std::string("2026-04-01")) : store::Value(nullptr), nullptr}));
    }
    ASSERT_OK(tx->Commit());
  }
  ASSERT_OK_AND_ASSIGN(auto reopened,
                       ReplicaStore::Open(old, db, key_, ShippedCatalogue(), clock_));
  ExpectNamedKeyIndex(*db, "migration 6");
  {
    ASSERT_OK_AND_ASSIGN(auto tx, db->Begin());
    ASSERT_OK_AND_ASSIGN(auto rows,
                         tx->Query("SELECT id, key_hash, sealed, updated_at_us, publish_from FROM "
                                   "replica_record ORDER BY id"));
    ASSERT_EQ(rows.size(), 3u);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(rows[i].GetInt(0).value(), 10 + 5 * i);
      EXPECT_EQ(rows[i].GetBlob(1).value(), store::Bytes(16, static_cast<uint8_t>(i + 1)));
      EXPECT_EQ(rows[i].GetBlob(2).value(), (store::Bytes{static_cast<uint8_t>(i), 2, 3}));
      EXPECT_EQ(rows[i].GetInt(3).value(), 100 + i);
    }
    EXPECT_EQ(rows[1].GetText(4).value(), "2026-04-01");
    EXPECT_THAT(tx->Exec("INSERT INTO replica_record (key_hash, tm, version, sealed, import_id, "
                         "updated_at_us) VALUES (?, 'TM00000000000002', '0002', ?, 'j', 0)",
                         {store::Bytes(16, 2), store::Bytes{1}}),
                StatusIs(StatusCode::kAlreadyExists));
  }
  const int64_t migrated = SchemaVersion(*db);
  auto factory = MakeRecordSourceFactory(
      std::make_unique<replica_io::StringSource>(kTaxHeader + TaxRow(1, 2026, "1")),
      FileFormat::kCsv, "utf-8");
  ASSERT_OK(factory);
  ASSERT_OK_AND_ASSIGN(
      ImportReport r,
      reopened->Import({kTax, "", ImportMode::kUpsert, "", "client:test", "req-3", {}}, **factory,
                       nullptr));
  EXPECT_EQ(r.inserted, 1);
  EXPECT_EQ(SchemaVersion(*db), migrated);  // not a first import: the table held records
}

// A replace of a replica of some thousands of records (a defect until 2026-12-06): marking the
// history rows of the records the file brings back ("update", one statement after the load)
// journals the original of every history page it changes inside the import's transaction; past
// 2 MiB of journal SQLite failed the statement with SQLITE_FULL, "database or disk is full" —
// the spill size was larger than SQLite's unix VFS can write (docs/storage.md, "Savepoint
// journals"), and the import failed as "storage is unavailable" for any replace of more than
// a few thousand records.
TEST_P(ReplicaStoreTest, AReplaceOfTwentyThousandRecordsCommits) {
  std::string file = kTaxHeader;
  for (int i = 1; i <= 20'000; ++i) file += TaxRow(i, 2026, std::to_string(i));
  ASSERT_OK_AND_ASSIGN(ImportReport first, Import(file));
  ASSERT_TRUE(first.committed);
  ASSERT_OK_AND_ASSIGN(ImportReport replaced, Import(file, ImportMode::kReplace));
  EXPECT_TRUE(replaced.committed);
  EXPECT_EQ(replaced.deleted, 20'000);
  EXPECT_EQ(replaced.inserted, 20'000);
  EXPECT_EQ(*store_->Count(kTax), 20'000);
  ASSERT_OK_AND_ASSIGN(auto h, store_->History(kPerson1, kTax));
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].end, VersionEnd::kUpdated);
}

// ---- a first import into an empty table (SQLite): the key index after the load ----

// A first import drops key_hash's index, appends the records and builds the index after them,
// sorted (the schema cookie moves); what it stored reads back; an import into a table that holds
// records keeps the index (the cookie stays); a replace that drops every record is a first import
// again. PostgreSQL copies a first import instead (AFirstImportIsCopiedStraightIntoTheRecords...).
TEST_P(ReplicaStoreTest, AFirstImportBuildsTheKeyIndexAfterItsLoad) {
  if (GetParam() != store::Backend::kSqlite) GTEST_SKIP() << "SQLite only";
  const int64_t empty = SchemaVersion(*db_);
  std::string file = kTaxHeader;
  for (int i = 1; i <= 40; ++i) file += TaxRow(i, 2026, std::to_string(1000 + i));
  ASSERT_OK_AND_ASSIGN(ImportReport first, Import(file));
  ASSERT_TRUE(first.committed);
  EXPECT_EQ(first.inserted, 40);
  EXPECT_EQ(SchemaVersion(*db_), empty + 2);  // dropped, then created
  ExpectNamedKeyIndex(*db_, "a first import");
  EXPECT_EQ(ExportAll(), AsExported(file));
  ASSERT_OK_AND_ASSIGN(auto found, store_->Find(kPerson2, kTax));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].values[3], "1002");

  ASSERT_OK_AND_ASSIGN(ImportReport again,
                       Import(kTaxHeader + TaxRow(2, 2026, "7") + TaxRow(41, 2026, "8")));
  EXPECT_EQ(again.updated, 1);
  EXPECT_EQ(again.inserted, 1);
  EXPECT_EQ(SchemaVersion(*db_), empty + 2);  // the table held records: through the index
  EXPECT_EQ(*store_->Count(kTax), 41);

  ASSERT_OK_AND_ASSIGN(
      ImportReport replaced,
      Import(kTaxHeader + TaxRow(3, 2026, "9") + TaxRow(50, 2026, "10"), ImportMode::kReplace));
  EXPECT_EQ(replaced.deleted, 41);  // all dropped; the one the file brings back counts as new
  EXPECT_EQ(replaced.inserted, 2);
  EXPECT_EQ(SchemaVersion(*db_), empty + 4);
  ExpectNamedKeyIndex(*db_, "a replace of every record");
  EXPECT_EQ(*store_->Count(kTax), 2);
  ASSERT_OK_AND_ASSIGN(auto kept, store_->History(kPerson3, kTax));
  ASSERT_EQ(kept.size(), 1u);  // the version the replace overwrote
  EXPECT_EQ(kept[0].record.values[3], "1003");
}

// While a first import writes without the key index (its transaction open, the index dropped in
// it), another connection reads what was committed: the table with its index, here empty — and
// a resident's look-up, which goes through the index, works. Read from another thread in the
// middle of the apply phase.
TEST_P(ReplicaStoreTest, AReaderDuringAFirstImportSeesTheCommittedTableWithItsIndex) {
  if (GetParam() != store::Backend::kSqlite) GTEST_SKIP() << "SQLite only";
  std::string file = kTaxHeader;
  for (int i = 1; i <= 5000; ++i) file += TaxRow(i, 2026, std::to_string(i));
  ASSERT_OK_AND_ASSIGN(auto factory,
                       MakeRecordSourceFactory(std::make_unique<replica_io::StringSource>(file),
                                               FileFormat::kCsv, "utf-8"));
  int reads = 0;
  ImportRequest request{kTax, "", ImportMode::kUpsert, "", "client:test", "req-1", {}};
  request.progress = [&](ImportPhase phase, int64_t rows) {
    if (phase != ImportPhase::kApplying || rows < kProgressRows) return;
    std::thread reader([&] {
      Result<std::vector<Record>> found = store_->Find(kPerson1, kTax);
      EXPECT_OK(found);
      if (found.ok()) {
        EXPECT_TRUE(found->empty());
      }
      ExpectNamedKeyIndex(*db_, "beside a first import");
      ++reads;
    });
    reader.join();
  };
  ASSERT_OK_AND_ASSIGN(ImportReport r, store_->Import(request, *factory, nullptr));
  EXPECT_TRUE(r.committed);
  EXPECT_EQ(reads, 1);
  ASSERT_OK_AND_ASSIGN(auto found, store_->Find(kPerson1, kTax));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].values[3], "1");
}

// A first import that fails inside its transaction (here at its audit entry) leaves the empty
// table with its index, and the next import works.
TEST_P(ReplicaStoreTest, AFirstImportThatFailsLeavesTheEmptyTableWithItsIndex) {
  if (GetParam() != store::Backend::kSqlite) GTEST_SKIP() << "SQLite only";
  const int64_t empty = SchemaVersion(*db_);
  EXPECT_THAT(
      ImportFailingAtItsAuditEntry(kTaxHeader + TaxRow(1, 2026, "1") + TaxRow(2, 2026, "2")),
      StatusIs(StatusCode::kUnavailable));
  EXPECT_EQ(SchemaVersion(*db_), empty);
  ExpectNamedKeyIndex(*db_, "a failed first import");
  EXPECT_EQ(*store_->Count(kTax), 0);
  ASSERT_OK_AND_ASSIGN(ImportReport next, Import(kTaxHeader + TaxRow(1, 2026, "3")));
  EXPECT_EQ(next.inserted, 1);
}

// Should two records of one key reach the index build — the checks refuse such a file before any
// transaction, so a test trigger makes one: the third record's key becomes the first's as it is
// written — the build fails, the import fails naming the two records by their positions in the
// file and no value, and nothing is left: the table is empty, with its index.
TEST_P(ReplicaStoreTest, ARepeatedKeyThatReachesTheIndexBuildFailsTheImportByPosition) {
  if (GetParam() != store::Backend::kSqlite) GTEST_SKIP() << "SQLite only";
  InstallRepeatKeyTrigger(*db_);
  if (HasFatalFailure()) return;
  const Result<ImportReport> r =
      Import(kTaxHeader + TaxRow(1, 2026, "1") + TaxRow(2, 2026, "2") + TaxRow(3, 2026, "3"));
  EXPECT_THAT(r, StatusIs(StatusCode::kInternal,
                          HasSubstr("records 1 and 3 of the file have the same record key")));
  EXPECT_THAT(r.status().message(), Not(HasSubstr("000000000000001")));
  RemoveRepeatKeyTrigger(*db_);
  ExpectNamedKeyIndex(*db_, "a failed index build");
  EXPECT_EQ(*store_->Count(kTax), 0);
  ASSERT_OK_AND_ASSIGN(auto h, store_->History(kPerson1, kTax));
  EXPECT_TRUE(h.empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, ReplicaStoreTest,
                         ::testing::Values(store::Backend::kSqlite, store::Backend::kPostgres),
                         [](const auto& param_info) {
                           return std::string(store::BackendName(param_info.param));
                         });

}  // namespace
}  // namespace chukan::replica
