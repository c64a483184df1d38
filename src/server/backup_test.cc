// Backup and restore of a platform's SQLite databases (backup.h, restore.h, backup_manifest.h):
// SQLite only — on PostgreSQL chukan refuses and the engine's own tools are tested instead
// (tests/server/pg_basebackup_test.cc).
#include "server/backup.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/status_matchers.h"
#include "crypto/bytes.h"
#include "server/linkage_test_util.h"
#include "server/restore.h"

namespace chukan::server {
namespace {

namespace fs = std::filesystem;
using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using namespace ::chukan::server::testing;  // NOLINT: the fixture's names

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every regular file under `dir`, relative names.
std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    out.push_back(fs::relative(e.path(), dir).string() + (e.is_directory() ? "/" : ""));
  }
  return out;
}

bool AnyFileContains(const std::string& dir, const std::string& needle) {
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && ReadAll(e.path()).find(needle) != std::string::npos) return true;
  }
  return false;
}

class BackupTest : public LinkageTestBase {
 protected:
  ServerConfig LiveConfig() const {
    ServerConfig c;
    c.store = Options();
    c.keys_dir = dir().File("keys");
    return c;
  }
  // A fresh data directory, the same keys: what an operator restores into.
  ServerConfig RestoredConfig() const {
    ServerConfig c = LiveConfig();
    c.store.data_dir = dir().File("restored");
    return c;
  }
  std::string BackupDir() const { return dir().File("backup"); }

  // The restored platform's "backup.restore" audit entries: "<target> <outcome>" each.
  static std::string RestoreRecords(Platform& platform) {
    auto db = platform.store().Platform().value();
    auto txn = db->BeginRead().value();
    const std::vector<store::Row> rows =
        txn->Query("SELECT target, outcome FROM audit_log WHERE action = 'backup.restore'").value();
    std::string out;
    for (const store::Row& r : rows) {
      out += (out.empty() ? "" : "; ") + r.GetText(0).value() + " " + r.GetText(1).value();
    }
    return out;
  }

  Result<BackupReport> Backup() {
    return CreateBackup(LiveConfig(), BackupDir(), key_, clock_, "test", {});
  }

  crypto::SecretBytes key_ = crypto::SecretBytes::Random(kBackupKeyBytes);
};

TEST_P(BackupTest, RestoredTenantReadsBackItsReplicaCodesAndAuditThroughTheNormalApis) {
  ASSERT_NE(ImportTaxReplica(B(), kAtena, "7654321", replica::ImportMode::kUpsert), "");
  RegisterBoth();
  std::vector<BackupProgress> seen;
  ASSERT_OK_AND_ASSIGN(BackupReport report,
                       CreateBackup(LiveConfig(), BackupDir(), key_, clock_, "9.9.9",
                                    [&](const BackupProgress& p) { seen.push_back(p); }));
  ASSERT_EQ(report.manifest.files.size(), 3u);
  EXPECT_EQ(report.manifest.files[0].name, "platform.db.enc");
  EXPECT_EQ(report.manifest.files[1].name, "t0000000000000011.db.enc");
  EXPECT_EQ(report.manifest.files[2].org, kCityB);
  EXPECT_EQ(report.manifest.chukan_version, "9.9.9");
  EXPECT_EQ(seen.size(), 6u);  // started + done per file
  EXPECT_THAT(FilesUnder(BackupDir()),
              UnorderedElementsAre("manifest.json", "platform.db.enc", "t0000000000000011.db.enc",
                                   "t0000000000000012.db.enc"));
  for (const std::string& f : FilesUnder(BackupDir())) {
    struct stat st {};
    ASSERT_EQ(::stat((BackupDir() + "/" + f).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }

  ASSERT_OK_AND_ASSIGN(RestoreReport restored, RestoreBackup(RestoredConfig(), BackupDir(), key_));
  EXPECT_TRUE(restored.all_ok());
  EXPECT_TRUE(restored.platform_audit.ok);
  EXPECT_GT(restored.platform_audit.entries, 0);
  ASSERT_EQ(restored.tenants.size(), 2u);
  for (const RestoredTenant& t : restored.tenants) {
    EXPECT_EQ(t.state, RestoredTenant::State::kOk) << t.org.str() << " " << t.error.ToString();
    ASSERT_TRUE(t.audit.has_value());
    EXPECT_GT(t.audit->entries, 0);
  }
  struct stat st {};
  ASSERT_EQ(::stat(RestoredConfig().store.data_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((RestoredConfig().store.data_dir + "/platform.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // The restored platform, opened as the server opens it, serves B's replica and codes.
  ASSERT_OK_AND_ASSIGN(auto platform,
                       Platform::Open(RestoredConfig(), false, clock_, FakeHub::Catalogue()));
  ASSERT_OK_AND_ASSIGN(auto b, platform->Tenant(B()));
  ASSERT_OK_AND_ASSIGN(replica::ReplicaStore * replicas, b->Replicas());
  ASSERT_OK_AND_ASSIGN(std::vector<replica::Record> records, replicas->Find(kAtena, kTaxTm));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].values.at(3), "7654321");  // IT00000200000004, the income
  ASSERT_OK_AND_ASSIGN(auto txn, b->db->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto codes, txn->QueryOne("SELECT COUNT(*) FROM subject_codes"));
  EXPECT_EQ(codes->GetInt(0).value(), 1);
  ASSERT_OK_AND_ASSIGN(std::vector<TenantInfo> tenants, platform->ListTenants());
  EXPECT_EQ(tenants.size(), 2u);
  EXPECT_EQ(RestoreRecords(*platform), "backup " + report.manifest.backup_id + " ok");
}

TEST_P(BackupTest, ACopyTakenDuringConcurrentCommitsIsOneConsistentSnapshot) {
  ASSERT_OK_AND_ASSIGN(auto a, platform_->Tenant(A()));
  {
    ASSERT_OK_AND_ASSIGN(auto txn, a->db->Begin());
    ASSERT_OK(
        txn->ExecScript("CREATE TABLE probe (n INTEGER PRIMARY KEY, pad BLOB);"
                        "CREATE TABLE probe_counter (id INTEGER PRIMARY KEY, n INTEGER);"
                        "INSERT INTO probe_counter VALUES (1, 0);"));
    ASSERT_OK(txn->Commit());
  }
  // Each transaction adds row n and sets the counter to n: any copy that is not one snapshot
  // (a torn file copy, pages from two moments) breaks count == counter == max.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> committed{0};
  std::thread writer([&] {
    for (int64_t n = 1; !stop.load(); ++n) {
      auto txn = a->db->Begin();
      if (!txn.ok()) break;
      if (!(*txn)->Exec("INSERT INTO probe VALUES (?, randomblob(3000))", {n}).ok()) break;
      if (!(*txn)->Exec("UPDATE probe_counter SET n = ? WHERE id = 1", {n}).ok()) break;
      if (!(*txn)->Commit().ok()) break;
      committed.store(n);
    }
  });
  while (committed.load() < 200) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const int64_t before = committed.load();
  Result<BackupReport> report = Backup();
  const int64_t after = committed.load();
  stop.store(true);
  writer.join();
  ASSERT_OK(report.status());
  EXPECT_GT(after, before) << "the writer committed nothing while the backup ran";

  ASSERT_OK_AND_ASSIGN(RestoreReport restored, RestoreBackup(RestoredConfig(), BackupDir(), key_));
  EXPECT_TRUE(restored.all_ok());
  ASSERT_OK_AND_ASSIGN(auto platform, Platform::Open(RestoredConfig(), false, clock_));
  ASSERT_OK_AND_ASSIGN(auto copy, platform->Tenant(A()));
  ASSERT_OK_AND_ASSIGN(auto txn, copy->db->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto row,
                       txn->QueryOne("SELECT (SELECT n FROM probe_counter), COUNT(*), MIN(n), "
                                     "MAX(n) FROM probe"));
  const int64_t counter = row->GetInt(0).value();
  EXPECT_GE(counter, before);
  EXPECT_LE(counter, committed.load());
  EXPECT_EQ(row->GetInt(1).value(), counter);
  EXPECT_EQ(row->GetInt(2).value(), 1);
  EXPECT_EQ(row->GetInt(3).value(), counter);
}

TEST_P(BackupTest, DeletedContentLeftInTheSourcesFreePagesIsNotCopied) {
  // A row written and deleted with secure_delete off (as by a chukan before it was on): its bytes
  // stay in the live file's free space — then a backup, restored, must not carry them.
  const std::string canary = "deleted-" + crypto::ToHex(crypto::RandomBytes(16));
  const std::string path = platform_->store().TenantPath(A());
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
  sqlite3_busy_timeout(db.get(), 5000);
  const std::string rows = "INSERT INTO gone VALUES ('" + canary + "'), ('" + canary + "')";
  for (const std::string& sql :
       {std::string("PRAGMA secure_delete=OFF"), std::string("CREATE TABLE gone (v TEXT)"), rows,
        std::string("DELETE FROM gone"), std::string("PRAGMA wal_checkpoint(TRUNCATE)")}) {
    ASSERT_EQ(sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db.get());
  }
  db.reset();
  ASSERT_TRUE(AnyFileContains(LiveConfig().store.data_dir, canary)) << "the test cannot fail";
  ASSERT_OK(Backup().status());
  ASSERT_OK(RestoreBackup(RestoredConfig(), BackupDir(), key_).status());
  EXPECT_FALSE(AnyFileContains(RestoredConfig().store.data_dir, canary));
}

TEST_P(BackupTest, NoPlaintextIsLeftInTheBackupDirectory) {
  // A value the platform and the tenant hold in the clear (a tenant name; a row of a table of
  // the tenant's own): it is in the live files, so the scan below can fail.
  const std::string canary = "canary-" + crypto::ToHex(crypto::RandomBytes(12));
  const OrgCode kCityC = Org("0000000000000013");
  ASSERT_OK(platform_->CreateTenant(kCityC, canary, "test").status());
  ASSERT_OK_AND_ASSIGN(auto c, platform_->Tenant(TenantId::ForOrg(kCityC)));
  {
    ASSERT_OK_AND_ASSIGN(auto txn, c->db->Begin());
    ASSERT_OK(txn->ExecScript("CREATE TABLE clear_probe (v TEXT)"));
    ASSERT_OK(txn->Exec("INSERT INTO clear_probe VALUES (?)", {canary + "-tenant"}));
    ASSERT_OK(txn->Commit());
  }
  ASSERT_TRUE(AnyFileContains(LiveConfig().store.data_dir, canary));
  ASSERT_TRUE(AnyFileContains(LiveConfig().store.data_dir, canary + "-tenant"));
  ASSERT_OK(Backup().status());
  EXPECT_FALSE(AnyFileContains(BackupDir(), canary));
  EXPECT_THAT(FilesUnder(BackupDir()),
              UnorderedElementsAre("manifest.json", "platform.db.enc", "t0000000000000011.db.enc",
                                   "t0000000000000012.db.enc", "t0000000000000013.db.enc"));

  // And after a failed backup (the platform copy fails: the platform database is not one).
  ServerConfig broken = LiveConfig();
  broken.store.data_dir = dir().File("broken");
  fs::create_directories(broken.store.data_dir);
  std::ofstream(broken.store.data_dir + "/platform.db") << canary << std::string(4096, 'x');
  EXPECT_THAT(CreateBackup(broken, dir().File("backup2"), key_, clock_, "test", {}),
              StatusIs(StatusCode::kDataLoss, HasSubstr("platform.db")));
  EXPECT_THAT(FilesUnder(dir().File("backup2")), ::testing::IsEmpty());
}

TEST_P(BackupTest, AlteredFilesOrManifestAreRefusedNamingTheFileAndNothingIsWritten) {
  ASSERT_OK(Backup().status());
  const std::string manifest = ReadAll(BackupDir() + "/manifest.json");
  const std::string tenant_file = BackupDir() + "/t0000000000000012.db.enc";
  const std::string good = ReadAll(tenant_file);
  const std::string data_dir = RestoredConfig().store.data_dir;
  auto write = [](const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  };
  auto expect_refused = [&](StatusCode code, const std::string& names) {
    EXPECT_THAT(RestoreBackup(RestoredConfig(), BackupDir(), key_),
                StatusIs(code, HasSubstr(names)));
    EXPECT_THAT(FilesUnder(data_dir), ::testing::IsEmpty());
  };

  std::string flipped = good;
  flipped[flipped.size() / 2] = static_cast<char>(flipped[flipped.size() / 2] ^ 0x10);
  write(tenant_file, flipped);
  expect_refused(StatusCode::kDataLoss, "t0000000000000012.db.enc: BLAKE2b does not match");
  write(tenant_file, good.substr(0, good.size() - 1));
  expect_refused(StatusCode::kDataLoss, "t0000000000000012.db.enc: size does not match");
  write(tenant_file, good);

  // A digit of the manifest changed (still valid JSON): its MAC no longer matches.
  std::string edited = manifest;
  const size_t at = edited.find("\"plain_bytes\":") + 14;
  edited[at] = edited[at] == '9' ? '8' : static_cast<char>(edited[at] + 1);
  write(BackupDir() + "/manifest.json", edited);
  expect_refused(StatusCode::kDataLoss, "manifest.json: field \"mac\"");
  write(BackupDir() + "/manifest.json", manifest.substr(0, manifest.size() / 2));
  expect_refused(StatusCode::kDataLoss, "manifest.json");
  fs::remove(BackupDir() + "/manifest.json");
  expect_refused(StatusCode::kNotFound, "manifest.json: no manifest");

  // Restored intact, the same backup still restores.
  write(BackupDir() + "/manifest.json", manifest);
  ASSERT_OK_AND_ASSIGN(RestoreReport r, RestoreBackup(RestoredConfig(), BackupDir(), key_));
  EXPECT_TRUE(r.all_ok());
}

TEST_P(BackupTest, AFileMovedFromAnotherBackupDoesNotDecrypt) {
  ASSERT_OK(Backup().status());
  ASSERT_OK(CreateBackup(LiveConfig(), dir().File("backup2"), key_, clock_, "test", {}).status());
  // Backup 2's tenant file under backup 1's name, and backup 1's manifest re-made (with the
  // right key) to carry its size and hash: only the associated data (backup id) can tell.
  ASSERT_OK_AND_ASSIGN(BackupManifest m, ReadBackupManifest(BackupDir(), key_));
  ASSERT_OK_AND_ASSIGN(BackupManifest m2, ReadBackupManifest(dir().File("backup2"), key_));
  fs::copy_file(dir().File("backup2") + "/t0000000000000012.db.enc",
                BackupDir() + "/t0000000000000012.db.enc", fs::copy_options::overwrite_existing);
  m.files[2] = m2.files[2];
  fs::remove(BackupDir() + "/manifest.json");
  ASSERT_OK(WriteBackupManifest(BackupDir(), m, key_));
  EXPECT_THAT(RestoreBackup(RestoredConfig(), BackupDir(), key_),
              StatusIs(StatusCode::kDataLoss,
                       HasSubstr("t0000000000000012.db.enc: authentication failed")));
  EXPECT_THAT(FilesUnder(RestoredConfig().store.data_dir), ::testing::IsEmpty());
}

TEST_P(BackupTest, AnotherBackupKeyIsRefusedNamingBothKeyIds) {
  ASSERT_OK(Backup().status());
  const crypto::SecretBytes other = crypto::SecretBytes::Random(kBackupKeyBytes);
  EXPECT_THAT(RestoreBackup(RestoredConfig(), BackupDir(), other),
              StatusIs(StatusCode::kUnauthenticated,
                       HasSubstr("manifest.json: field \"manifest.key_id\": the backup was made "
                                 "with another backup key (key id " +
                                 BackupKeyId(key_) + "; the given key is " + BackupKeyId(other))));
  EXPECT_THAT(FilesUnder(RestoredConfig().store.data_dir), ::testing::IsEmpty());
}

TEST_P(BackupTest, ATenantDeletedAfterTheBackupCannotBeRestoredByAnyone) {
  ASSERT_NE(ImportTaxReplica(B(), kAtena, "7654321", replica::ImportMode::kUpsert), "");
  ASSERT_OK(Backup().status());
  ASSERT_OK(platform_->DeleteTenant(kCityB, "test"));  // destroys its KEK

  ASSERT_OK_AND_ASSIGN(RestoreReport r, RestoreBackup(RestoredConfig(), BackupDir(), key_));
  EXPECT_FALSE(r.all_ok());
  ASSERT_EQ(r.tenants.size(), 2u);
  EXPECT_EQ(r.tenants[0].org, kCityA);
  EXPECT_EQ(r.tenants[0].state, RestoredTenant::State::kOk);
  EXPECT_EQ(r.tenants[1].org, kCityB);
  EXPECT_EQ(r.tenants[1].state, RestoredTenant::State::kKeyDestroyed);
  EXPECT_THAT(r.tenants[1].error, StatusIs(StatusCode::kNotFound, HasSubstr(".kek")));

  // The restored registry still lists B; the platform refuses to open it, and deleting it there
  // finishes the job.
  ASSERT_OK_AND_ASSIGN(auto platform, Platform::Open(RestoredConfig(), false, clock_));
  EXPECT_THAT(RestoreRecords(*platform), HasSubstr(" error:KEY_DESTROYED"));
  EXPECT_FALSE(platform->Tenant(B()).ok());
  ASSERT_OK(platform->DeleteTenant(kCityB, "test"));
  EXPECT_FALSE(fs::exists(RestoredConfig().store.data_dir + "/tenants/t0000000000000012.db"));
  ASSERT_OK(platform->Tenant(A()).status());
}

TEST_P(BackupTest, ATenantWhoseDatabaseWentBeforeItsCopyIsLeftOutAndReported) {
  const OrgCode kCityC = Org("0000000000000013");
  ASSERT_OK(platform_->CreateTenant(kCityC, "C", "test").status());
  // As when `tenant delete` unlinks the file between the platform's copy and the tenant's.
  fs::remove(platform_->store().TenantPath(TenantId::ForOrg(kCityC)));
  std::vector<BackupProgress> skipped;
  ASSERT_OK_AND_ASSIGN(
      BackupReport report,
      CreateBackup(LiveConfig(), BackupDir(), key_, clock_, "test", [&](const BackupProgress& p) {
        if (p.event == BackupProgress::Event::kTenantSkipped) skipped.push_back(p);
      }));
  EXPECT_THAT(report.skipped, ::testing::ElementsAre(kCityC));
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].org, kCityC);
  EXPECT_EQ(report.manifest.files.size(), 3u);
}

TEST_P(BackupTest, RestoreRefusesADataDirectoryThatHoldsData) {
  ASSERT_OK(Backup().status());
  // The live data directory itself.
  EXPECT_THAT(RestoreBackup(LiveConfig(), BackupDir(), key_),
              StatusIs(StatusCode::kFailedPrecondition,
                       HasSubstr(LiveConfig().store.data_dir + "/platform.db: exists")));
  fs::create_directories(RestoredConfig().store.data_dir + "/tenants");
  EXPECT_THAT(RestoreBackup(RestoredConfig(), BackupDir(), key_),
              StatusIs(StatusCode::kFailedPrecondition,
                       HasSubstr(RestoredConfig().store.data_dir + "/tenants: exists")));
}

TEST_P(BackupTest, BackupRefusesANonEmptyDirectoryAndPostgres) {
  fs::create_directories(BackupDir());
  std::ofstream(BackupDir() + "/other") << "x";
  EXPECT_THAT(Backup(),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr(BackupDir() + ": not empty")));
  ServerConfig pg = LiveConfig();
  pg.store.backend = store::Backend::kPostgres;
  EXPECT_THAT(CreateBackup(pg, dir().File("b2"), key_, clock_, "test", {}),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("docs/operations.md")));
  EXPECT_THAT(RestoreBackup(pg, BackupDir(), key_),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("docs/operations.md")));
  EXPECT_FALSE(fs::exists(dir().File("b2")));
}

TEST_P(BackupTest, BackupKeyFileIsPrivateAndNeverOverwritten) {
  const std::string path = dir().File("keyring/backup.key");
  ASSERT_OK(CreateBackupKeyFile(path));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes key, LoadBackupKey(path));
  EXPECT_EQ(key.size(), kBackupKeyBytes);
  const std::string before = ReadAll(path);
  EXPECT_THAT(CreateBackupKeyFile(path), StatusIs(StatusCode::kAlreadyExists, HasSubstr(path)));
  EXPECT_EQ(ReadAll(path), before);
  EXPECT_THAT(LoadBackupKey(dir().File("none.key")), StatusIs(StatusCode::kNotFound));
}

INSTANTIATE_TEST_SUITE_P(Sqlite, BackupTest, ::testing::Values(store::Backend::kSqlite),
                         store::testing::BackendParamName);

}  // namespace
}  // namespace chukan::server
