// Backup and restore of chukan on PostgreSQL with the engine's own tools, as docs/operations.md
// ("Backup and restore on PostgreSQL") tells an operator: `pg_basebackup -X stream` of the
// running cluster, more writes, the WAL segments as archiving would have kept them, then the
// copy recovered to a point in time between two writes (restore_command, recovery_target_lsn)
// as a second postgres (Unix socket only, in a temp dir), and chukan's platform and tenant
// opened there with the same keys directory — the tenant's sealed rows up to the target must
// read back, the one after it must not be there. Needs scripts/with-postgres (its cluster allows
// local replication connections); skipped, saying why, when the cluster or the PostgreSQL binaries
// are missing.
#include <gtest/gtest.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "common/status_matchers.h"
#include "crypto/aead.h"
#include "crypto/bytes.h"
#include "server/backup.h"
#include "server/platform.h"
#include "store/database.h"
#include "store/store_test_util.h"

namespace chukan::server {
namespace {

namespace fs = std::filesystem;

const OrgCode kCity = OrgCode::Parse("0000000000000131").value();

std::string PgBin() {
  const char* env = std::getenv("PG_BIN");
  return env && *env ? env : "/usr/lib/postgresql/15/bin";
}

std::string DsnField(const std::string& dsn, const std::string& key) {
  std::smatch m;
  if (std::regex_search(dsn, m, std::regex("(^| )" + key + "=([^ ]+)"))) return m[2];
  return "";
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class PgBaseBackupTest : public store::testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    for (const char* tool : {"pg_basebackup", "pg_ctl", "postgres"}) {
      if (::access((PgBin() + "/" + tool).c_str(), X_OK) != 0) {
        GTEST_SKIP() << PgBin() << "/" << tool << " is missing (set PG_BIN; postgresql-15)";
      }
    }
    // The copy is made and served by the cluster's OS user: as root, `postgres` (as
    // scripts/with-postgres does), so its own temp dir belongs to that user.
    std::string tmpl =
        std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/chukan-pgbb-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    work_ = tmpl;
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("postgres");
      ASSERT_NE(pw, nullptr) << "running as root needs the postgres OS user";
      ASSERT_EQ(::chown(work_.c_str(), pw->pw_uid, pw->pw_gid), 0);
      run_as_ = "runuser -u postgres -- ";
    }
  }

  void TearDown() override {
    if (copy_started_) Run(PgBin() + "/pg_ctl -D " + work_ + "/copy -m fast -w -t 30 stop");
    if (!work_.empty()) fs::remove_all(work_);
    StoreTest::TearDown();
  }

  // Runs `cmd` as the cluster's OS user; its output goes to a log in the work dir.
  int Run(const std::string& cmd) {
    const std::string log = work_ + "/cmd.log";
    const int rc = std::system((run_as_ + cmd + " >" + log + " 2>&1").c_str());
    last_output_ = ReadAll(log);
    return rc;
  }

  ServerConfig Config(const std::string& dsn) const {
    ServerConfig c;
    c.store = Options();
    c.store.dsn = dsn;
    c.keys_dir = dir().File("keys");
    return c;
  }

  std::string work_;
  std::string run_as_;
  std::string last_output_;
  bool copy_started_ = false;
  FakeClock clock_;
};

TEST_P(PgBaseBackupTest, ABaseBackupAndArchivedWalRecoverTheTenantToAPointInTime) {
  const std::string ad = "probe";
  std::string token;
  ASSERT_OK_AND_ASSIGN(auto platform, Platform::Open(Config(dsn()), true, clock_));
  ASSERT_OK(platform->CreateTenant(kCity, "札幌市", "test").status());
  ASSERT_OK_AND_ASSIGN(token, platform->AddClient(kCity, "juki", "system", "test"));
  ASSERT_OK_AND_ASSIGN(auto live, platform->Tenant(TenantId::ForOrg(kCity)));
  // Row n holds "canary-n" sealed under the tenant's data key.
  auto insert = [&](int64_t n) -> Status {
    ASSIGN_OR_RETURN(
        crypto::Bytes sealed,
        live->data_keys->Seal(crypto::AsBytes("canary-" + std::to_string(n)), crypto::AsBytes(ad)));
    ASSIGN_OR_RETURN(auto txn, live->db->Begin());
    RETURN_IF_ERROR(txn->Exec("INSERT INTO probe VALUES (?, ?)", {n, sealed}));
    return txn->Commit();
  };
  {
    ASSERT_OK_AND_ASSIGN(auto txn, live->db->Begin());
    ASSERT_OK(txn->ExecScript("CREATE TABLE probe (id BIGINT PRIMARY KEY, sealed BYTEA)"));
    ASSERT_OK(txn->Commit());
  }
  ASSERT_OK(insert(1));
  ASSERT_OK(platform->CheckpointAuditLogs());
  // chukan backup refuses PostgreSQL and points here.
  EXPECT_THAT(CreateBackup(Config(dsn()), work_ + "/refused", crypto::SecretBytes::Random(32),
                           clock_, "test"),
              chukan::testing::StatusIs(StatusCode::kFailedPrecondition,
                                        ::testing::HasSubstr("pg_basebackup")));

  // A base backup of the running cluster, with the WAL it needs (docs/operations.md step 2).
  const std::string host = DsnField(dsn(), "host");
  const std::string port = DsnField(dsn(), "port");
  const std::string user = DsnField(dsn(), "user");
  ASSERT_EQ(Run(PgBin() + "/pg_basebackup -h " + host + " -p " + port + " -U " + user + " -D " +
                work_ + "/copy -X stream -c fast --no-password"),
            0)
      << "pg_basebackup failed (the cluster must allow replication connections: "
         "scripts/with-postgres does): "
      << last_output_;
  ASSERT_TRUE(fs::exists(work_ + "/copy/backup_label"));

  // Work after the backup: row 2, the recovery target, then row 3.
  store::PostgresOptions admin_options;
  admin_options.dsn = dsn();
  admin_options.pool_size = 1;
  ASSERT_OK_AND_ASSIGN(auto admin, store::OpenPostgres(admin_options));
  auto scalar = [&](const std::string& sql) -> std::string {
    auto txn = admin->Begin();
    if (!txn.ok()) return "";
    auto row = (*txn)->QueryOne(sql);
    return row.ok() && row->has_value() ? (*row)->GetText(0).value_or("") : "";
  };
  ASSERT_OK(insert(2));
  const std::string target_lsn = scalar("SELECT pg_current_wal_insert_lsn()::text");
  ASSERT_FALSE(target_lsn.empty());
  ASSERT_OK(insert(3));
  ASSERT_FALSE(scalar("SELECT pg_switch_wal()::text").empty());
  // What `archive_command = 'cp %p /archive/%f'` would hold by now: every WAL segment the
  // cluster wrote (the test cluster runs without archive_mode, so they are copied here).
  // Only the segments from the backup's start to the current one: the test cluster is shared
  // with the other tests, and its pg_wal may hold many more (recycled ones among them).
  const std::string label = ReadAll(work_ + "/copy/backup_label");
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(label, m, std::regex("START WAL LOCATION: .* \\(file ([0-9A-F]{24})\\)")))
      << label;
  const std::string first_segment = m[1];
  const std::string last_segment = scalar("SELECT pg_walfile_name(pg_current_wal_lsn())");
  ASSERT_EQ(last_segment.size(), 24u);
  const std::string pg_wal = scalar("SELECT current_setting('data_directory')") + "/pg_wal";
  const std::string archive = work_ + "/archive";
  fs::create_directories(archive);
  int segments = 0;
  for (const auto& e : fs::directory_iterator(pg_wal)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name.size() != 24) continue;
    if (name < first_segment || name > last_segment) continue;
    fs::copy_file(e.path(), archive + "/" + name);
    ++segments;
  }
  ASSERT_GT(segments, 0);
  const std::string max_connections = scalar("SHOW max_connections");
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    for (const auto& e : fs::recursive_directory_iterator(archive)) {
      ASSERT_EQ(::chown(e.path().c_str(), pw->pw_uid, pw->pw_gid), 0);
    }
    ASSERT_EQ(::chown(archive.c_str(), pw->pw_uid, pw->pw_gid), 0);
  }

  // Recovery to the target from the archive (step 4), the copy on its own: no TCP, its socket
  // in the work dir, local trust.
  {
    std::ofstream hba(work_ + "/copy/pg_hba.conf", std::ios::trunc);
    hba << "local all all trust\n";
    std::ofstream conf(work_ + "/copy/postgresql.conf", std::ios::app);
    conf << "restore_command = 'cp " << archive << "/%f %p'\n"
         << "recovery_target_lsn = '" << target_lsn << "'\n"
         << "recovery_target_action = 'promote'\n"
         // Recovery refuses settings below the primary's (scripts/with-postgres sets this one on
         // its command line, so the copied postgresql.conf does not have it).
         << "max_connections = " << max_connections << "\n";
    std::ofstream signal(work_ + "/copy/recovery.signal");
  }
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    for (const char* f : {"/copy/pg_hba.conf", "/copy/recovery.signal"}) {
      ASSERT_EQ(::chown((work_ + f).c_str(), pw->pw_uid, pw->pw_gid), 0);
    }
  }
  ASSERT_EQ(Run(PgBin() + "/pg_ctl -D " + work_ + "/copy -l " + work_ +
                "/copy.log -w -t 60 -o \"-c listen_addresses='' -k " + work_ +
                " -p 5499 -c fsync=off\" start"),
            0)
      << last_output_ << ReadAll(work_ + "/copy.log");
  copy_started_ = true;

  // chukan on the copy, with the same keys directory: rows 1 and 2, not 3.
  const std::string copy_dsn = "host=" + work_ + " port=5499 user=" + user + " dbname=postgres";
  {
    // Hot standby accepts read-only connections while it replays; the target reached, it
    // promotes itself (recovery_target_action) and chukan can open it.
    store::PostgresOptions copy_options;
    copy_options.dsn = copy_dsn;
    copy_options.pool_size = 1;
    ASSERT_OK_AND_ASSIGN(auto copy, store::OpenPostgres(copy_options));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::string in_recovery = "true";
    while (in_recovery != "false" && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      auto txn = copy->BeginRead();
      if (!txn.ok()) continue;
      auto row = (*txn)->QueryOne(
          "SELECT CASE WHEN pg_is_in_recovery() THEN 'true' ELSE "
          "'false' END");
      if (row.ok() && row->has_value()) in_recovery = (*row)->GetText(0).value_or("true");
    }
    ASSERT_EQ(in_recovery, "false") << ReadAll(work_ + "/copy.log");
  }
  ASSERT_OK_AND_ASSIGN(auto restored, Platform::Open(Config(copy_dsn), false, clock_));
  ASSERT_OK_AND_ASSIGN(ClientIdentity who, restored->Authenticate(token));
  EXPECT_EQ(who.org, kCity);
  ASSERT_OK_AND_ASSIGN(auto ctx, restored->Tenant(TenantId::ForOrg(kCity)));
  ASSERT_OK_AND_ASSIGN(auto txn, ctx->db->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto rows, txn->Query("SELECT id, sealed FROM probe ORDER BY id"));
  ASSERT_EQ(rows.size(), 2u) << ReadAll(work_ + "/copy.log");
  for (int64_t n : {1, 2}) {
    const store::Row& row = rows[static_cast<size_t>(n - 1)];
    EXPECT_EQ(row.GetInt(0).value(), n);
    ASSERT_OK_AND_ASSIGN(crypto::SecretBytes plain,
                         ctx->data_keys->Open(row.GetBlob(1).value(), crypto::AsBytes(ad)));
    EXPECT_EQ(plain.AsStringView(), "canary-" + std::to_string(n));
  }
  audit::VerifyOptions verify;
  verify.trusted_keys.push_back(restored->audit_verify_key());
  ASSERT_OK_AND_ASSIGN(audit::VerifyReport chain, audit::Verify(*ctx->db, verify));
  EXPECT_TRUE(chain.ok) << chain.problem;
  EXPECT_GT(chain.entries, 0);
}

INSTANTIATE_TEST_SUITE_P(Postgres, PgBaseBackupTest, ::testing::Values(store::Backend::kPostgres),
                         store::testing::BackendParamName);

}  // namespace
}  // namespace chukan::server
