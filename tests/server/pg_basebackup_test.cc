// Backup and restore of chukan on PostgreSQL with the engine's own tools, as docs/operations.md
// ("Backup and restore on PostgreSQL") tells an operator: `pg_basebackup -X stream` of the
// running cluster, a second postgres started on the copy (Unix socket only, in a temp dir), and
// chukan's platform and tenant opened there with the same keys directory — the tenant's sealed
// data must read back. Needs scripts/with-postgres (its cluster allows local replication
// connections); skipped, saying why, when the cluster or the PostgreSQL binaries are missing.
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

#include "common/status_matchers.h"
#include "crypto/aead.h"
#include "crypto/bytes.h"
#include "server/backup.h"
#include "server/platform.h"
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

TEST_P(PgBaseBackupTest, ABaseBackupStartedOnItsOwnServesTheTenantsSealedData) {
  const std::string canary = "pg-canary-" + crypto::ToHex(crypto::RandomBytes(8));
  const std::string ad = "probe:1";
  std::string token;
  {
    ASSERT_OK_AND_ASSIGN(auto platform, Platform::Open(Config(dsn()), true, clock_));
    ASSERT_OK(platform->CreateTenant(kCity, "札幌市", "test").status());
    ASSERT_OK_AND_ASSIGN(token, platform->AddClient(kCity, "juki", "system", "test"));
    ASSERT_OK_AND_ASSIGN(auto ctx, platform->Tenant(TenantId::ForOrg(kCity)));
    ASSERT_OK_AND_ASSIGN(
        crypto::Bytes sealed,
        crypto::Encrypt(ctx->data_key, crypto::AsBytes(canary), crypto::AsBytes(ad)));
    ASSERT_OK_AND_ASSIGN(auto txn, ctx->db->Begin());
    ASSERT_OK(txn->ExecScript("CREATE TABLE probe (id BIGINT PRIMARY KEY, sealed BYTEA)"));
    ASSERT_OK(txn->Exec("INSERT INTO probe VALUES (1, ?)", {sealed}));
    ASSERT_OK(txn->Commit());
    ASSERT_OK(platform->CheckpointAuditLogs());
  }
  // chukan backup refuses PostgreSQL and points here.
  EXPECT_THAT(CreateBackup(Config(dsn()), work_ + "/refused", crypto::SecretBytes::Random(32),
                           clock_, "test"),
              chukan::testing::StatusIs(StatusCode::kFailedPrecondition,
                                        ::testing::HasSubstr("pg_basebackup")));

  // Step 1 of the procedure: a base backup of the running cluster, with the WAL it needs.
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

  // Step 2: the copy started on its own — no TCP, its socket in the work dir, local trust.
  {
    std::ofstream hba(work_ + "/copy/pg_hba.conf", std::ios::trunc);
    hba << "local all all trust\n";
  }
  ASSERT_EQ(Run(PgBin() + "/pg_ctl -D " + work_ + "/copy -l " + work_ +
                "/copy.log -w -t 60 -o \"-c listen_addresses='' -k " + work_ +
                " -p 5499 -c fsync=off\" start"),
            0)
      << last_output_ << ReadAll(work_ + "/copy.log");
  copy_started_ = true;

  // Step 3: chukan on the copy, with the same keys directory.
  const std::string copy_dsn = "host=" + work_ + " port=5499 user=" + user + " dbname=postgres";
  ASSERT_OK_AND_ASSIGN(auto restored, Platform::Open(Config(copy_dsn), false, clock_));
  ASSERT_OK_AND_ASSIGN(ClientIdentity who, restored->Authenticate(token));
  EXPECT_EQ(who.org, kCity);
  ASSERT_OK_AND_ASSIGN(auto ctx, restored->Tenant(TenantId::ForOrg(kCity)));
  ASSERT_OK_AND_ASSIGN(auto txn, ctx->db->BeginRead());
  ASSERT_OK_AND_ASSIGN(auto row, txn->QueryOne("SELECT sealed FROM probe WHERE id = 1"));
  ASSERT_TRUE(row.has_value());
  ASSERT_OK_AND_ASSIGN(
      crypto::SecretBytes plain,
      crypto::Decrypt(ctx->data_key, row->GetBlob(0).value(), crypto::AsBytes(ad)));
  EXPECT_EQ(plain.AsStringView(), canary);
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
