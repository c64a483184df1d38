// `chukan doctor` end to end: the real binary on a node made by `chukan pki` and `chukan tenant
// create` (SQLite and the private PostgreSQL), each kind of fault it must name, and a server
// and hub of a running local network (the hub reached over mutual TLS, the clocks compared).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cli/local_network.h"
#include "common/status_matchers.h"
#include "server_process.h"
#include "store/store_test_util.h"

namespace chukan {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kOrg[] = "0000000000000161";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class DoctorCliTest : public store::testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    pki_ = dir().File("pki");
    ASSERT_EQ(testing::RunChukan("pki init --dir " + pki_).exit_code, 0);
    // Valid for 10 days: inside the default warning window of 30.
    ASSERT_EQ(testing::RunChukan("pki issue --dir " + pki_ +
                                 " --name server --server 127.0.0.1 --days 10")
                  .exit_code,
              0);
    ASSERT_EQ(testing::RunChukan("pki issue --dir " + pki_ +
                                 " --name other --server 127.0.0.1 --days 400")
                  .exit_code,
              0);
    WriteConfig(pki_ + "/server.key");
    ASSERT_EQ(testing::RunChukan("tenant create --config " + config_ + " --org " + kOrg +
                                 " --name 札幌市")
                  .exit_code,
              0);
  }
  void WriteConfig(const std::string& tls_key, const std::string& extra = "") {
    config_ = dir().File("chukan.toml");
    std::ofstream out(config_);
    out << "[server]\nport = 0\n[tls]\ncert = \"" << pki_ << "/server.crt\"\nkey = \"" << tls_key
        << "\"\n[layout]\ndir = \"" << CHUKAN_LAYOUT_DIR << "\"\n[log]\nlevel = \"warn\"\npath = \""
        << dir().File("log/server.log") << "\"\n[store]\n";
    if (GetParam() == store::Backend::kPostgres) {
      out << "backend = \"postgres\"\ndsn = \"" << dsn() << "\"\npg_prefix = \"" << prefix()
          << "\"\n";
    } else {
      out << "data_dir = \"" << dir().File("data") << "\"\n";
    }
    out << "[keys]\ndir = \"" << dir().File("keys") << "\"\n" << extra;
  }
  testing::CommandOutput Doctor() { return testing::RunChukan("doctor --config " + config_); }

  std::string pki_;
  std::string config_;
};

TEST_P(DoctorCliTest, AHealthyNodePassesAndACertificateNearItsEndIsAWarning) {
  testing::CommandOutput r = Doctor();
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("OK    設定 / configuration"));
  EXPECT_THAT(r.out,
              HasSubstr("OK    鍵 / key master.key (" + dir().File("keys") + "/master.key)"));
  EXPECT_THAT(r.out, HasSubstr("OK    鍵 / key audit-signing.key"));
  EXPECT_THAT(r.out,
              HasSubstr(GetParam() == store::Backend::kPostgres
                            ? "OK    データベース / database: PostgreSQL primary, テナント / "
                              "tenants: 1"
                            : "OK    データベース / database: SQLite " + dir().File("data") +
                                  "/platform.db, テナント / tenants: 1"));
  EXPECT_THAT(r.out, HasSubstr("警告  WARN  証明書 / certificate [tls] cert (" + pki_ +
                               "/server.crt): 有効期限が近い / expires on"));
  EXPECT_THAT(r.out,
              HasSubstr("OK    ハブ / hub: 未設定 (連携なし) / not configured (no linkage)"));
  EXPECT_THAT(r.out,
              HasSubstr("問題 0 件、警告 1 件 / 0 failed, 1 warnings — 起動できます / ready"));
}

TEST_P(DoctorCliTest, AKeyReadableByOthersAMismatchedKeyAndABadSettingFailByName) {
  // The master key readable by others: named, with the fix; its bytes never printed.
  const std::string master = dir().File("keys") + "/master.key";
  const std::string secret = ReadAll(master).substr(0, 64);
  ASSERT_EQ(::chmod(master.c_str(), 0644), 0);
  testing::CommandOutput r = Doctor();
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("NG    FAIL  鍵 / key master.key (" + master +
                               "): グループ・他者が読めます / readable or writable by group or "
                               "others"));
  EXPECT_THAT(r.out, HasSubstr("対処 / fix: chmod 600 " + master));
  EXPECT_THAT(r.out, Not(HasSubstr(secret)));
  EXPECT_THAT(r.out, HasSubstr("問題 1 件"));
  ASSERT_EQ(::chmod(master.c_str(), 0600), 0);

  // The TLS key of another certificate.
  WriteConfig(pki_ + "/other.key");
  r = Doctor();
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("NG    FAIL  証明書 / certificate [tls] cert (" + pki_ +
                               "/server.crt): 秘密鍵 " + pki_ +
                               "/other.key と一致しません / does not match its private key"));

  // A setting out of range: the file, line and key, and nothing else checked.
  WriteConfig(pki_ + "/server.key", "[retention]\naudit_days = 30\n");
  r = Doctor();
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("NG    FAIL  設定 / configuration: " + config_ + ":"));
  EXPECT_THAT(r.out, HasSubstr("retention.audit_days"));
  EXPECT_THAT(r.out, Not(HasSubstr("鍵 / key")));
}

TEST_P(DoctorCliTest, AMissingDatabaseIsReportedNotCreated) {
  if (GetParam() == store::Backend::kPostgres) GTEST_SKIP() << "SQLite's file only";
  const std::string db = dir().File("data") + "/platform.db";
  fs::rename(db, db + ".away");
  testing::CommandOutput r = Doctor();
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out,
              HasSubstr("NG    FAIL  データベース / database " + db + ": ありません / missing"));
  EXPECT_FALSE(fs::exists(db));
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(DoctorCliTest);

// A server and the hub of a running network: the hub answers the server's tenant certificate over
// mutual TLS and the two clocks (one machine) agree.
TEST(DoctorNetworkTest, AServerReachesItsHubAndTheClocksAgree) {
  chukan::testing::TempDir dir;
  cli::LocalNetworkOptions o;
  o.binary = CHUKAN_BINARY;
  o.workdir = dir.File("net");
  fs::create_directories(o.workdir);
  o.layout_dir = CHUKAN_LAYOUT_DIR;
  o.permissions_file = CHUKAN_PERMISSIONS_FILE;
  o.servers = 1;
  o.orgs = {{OrgCode::Parse(kOrg).value(), "city", "municipality", 0, ""}};
  ASSERT_OK_AND_ASSIGN(auto net, cli::LocalNetwork::Start(o));
  testing::CommandOutput r = testing::RunChukan("doctor --config " + net->server_config(0));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("OK    ハブ / hub " + net->HubUrl() +
                               ": 応答あり (相互TLS) / answers over mutual TLS"));
  EXPECT_THAT(r.out, HasSubstr("時計 / clock: ハブとの差 / off from the hub's by"));
  r = testing::RunChukan("doctor --config " + net->hub_config());
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("chukan doctor: " + net->hub_config() + " (ハブ / hub)"));
  EXPECT_THAT(r.out, HasSubstr("OK    鍵 / key hub-signing.key"));
  EXPECT_THAT(r.out, HasSubstr("OK    鍵 / key code-secret.key"));
}

}  // namespace
}  // namespace chukan
