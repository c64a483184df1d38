// A tenant moved between two running servers of different backends, end to end with real
// processes (cli::LocalNetwork: a hub and three servers on loopback; servers 1 and 2 on SQLite,
// server 3 on PostgreSQL): city B, the provider, answers city A from server 2; its operator
// exports it while server 2 runs, server 3's imports it, the hub is pointed at server 3 — and
// A's inquiries are answered from the moved replica. Then the source deletes its copy, which no
// longer opens there. docs/operations.md, "Moving a tenant to another platform".
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/local_network.h"
#include "common/status_matchers.h"
#include "common/test_util.h"
#include "store/store_test_util.h"
#include "tax_linkage_test.h"
#include "test_people.h"

namespace chukan::testing {
namespace {

namespace fs = std::filesystem;
using cli::LocalNetwork;
using ::testing::HasSubstr;

const OrgCode kCityA = OrgCode::Parse("0000000000000061").value();
const OrgCode kCityB = OrgCode::Parse("0000000000000062").value();
const OrgCode kCityC = OrgCode::Parse("0000000000000063").value();
constexpr int kPeople = 3;

constexpr long long kIncomeBase = 715364000;
std::string Income(int person) { return std::to_string(kIncomeBase + person); }

class TransferProcessTest : public TaxLinkageTest {
 protected:
  void SetUp() override {
    const char* dsn = std::getenv("CHUKAN_TEST_PG_DSN");
    if (dsn == nullptr || *dsn == '\0') {
      if (std::getenv("CI") != nullptr) FAIL() << "CHUKAN_TEST_PG_DSN is not set under CI";
      GTEST_SKIP() << "needs CHUKAN_TEST_PG_DSN (scripts/with-postgres)";
    }
    dsn_ = dsn;
    prefix_ = "ctp_" + store::testing::RandomSuffix();
  }
  void TearDown() override {
    net_.reset();
    if (!prefix_.empty()) store::testing::DropPgNamespace(dsn_, prefix_);
  }
  json Inquire(int person) { return TaxLinkageTest::Inquire(kCityA, kCityB, person); }

  Result<std::string> Run(const std::vector<std::string>& args, const std::string& err) {
    return cli::RunCommand(CHUKAN_BINARY, args, dir_.File(err));
  }

  std::string dsn_;
  std::string prefix_;
};

TEST_F(TransferProcessTest, AProviderMovedFromSqliteToPostgresAnswersFromItsMovedReplica) {
  cli::LocalNetworkOptions o;
  o.binary = CHUKAN_BINARY;
  o.workdir = dir_.File("net");
  fs::create_directories(o.workdir);
  o.layout_dir = CHUKAN_LAYOUT_DIR;
  o.permissions_file = CHUKAN_PERMISSIONS_FILE;
  o.servers = 3;
  o.pg_dsn = dsn_;
  o.pg_prefix = prefix_;
  o.pg_servers = {2};
  o.orgs = {{kCityA, "city-a", "municipality", 0, ""},
            {kCityB, "city-b", "municipality", 1, "13101"},
            {kCityC, "city-c", "municipality", 2, ""}};
  ASSERT_OK_AND_ASSIGN(net_, LocalNetwork::Start(o));
  ASSERT_OK(net_->WaitForPermissionLists(std::chrono::seconds(30)));
  ASSERT_EQ(Call(kCityB, "POST", "/api/v1/replica/imports?tm=TM00000000000002",
                 TaxCsv(kPeople, kIncomeBase), "text/csv")
                .status,
            201);
  ASSERT_NO_FATAL_FAILURE(LoadCodes(kCityA, kCityB, kPeople));
  json before = Inquire(1);
  ASSERT_EQ(before.value("state", ""), "completed") << before.dump();

  // 移行先 (server 3, PostgreSQL): its transfer key.
  const std::string pub = dir_.File("dest.transfer.pub");
  ASSERT_OK_AND_ASSIGN(std::string out, Run({"platform", "transfer-key", "--config",
                                             net_->server_config(2), "--out", pub},
                                            "key.err"));
  EXPECT_THAT(out, HasSubstr("指紋 / fingerprint: "));
  // 移行元 (server 2, SQLite, running): the export.
  const std::string file = dir_.File("b.transfer");
  ASSERT_OK_AND_ASSIGN(out, Run({"tenant", "export", "--config", net_->server_config(1), "--org",
                                 kCityB.str(), "--to-platform-key", pub, "--out", file},
                                "export.err"));
  EXPECT_THAT(out, HasSubstr("テナントを書き出しました / tenant exported"));
  // 移行先: the import, once.
  ASSERT_OK_AND_ASSIGN(
      out, Run({"tenant", "import", "--config", net_->server_config(2), file}, "import.err"));
  EXPECT_THAT(out, HasSubstr("テナントを取り込みました / tenant imported: " + kCityB.str()));
  Result<std::string> again =
      Run({"tenant", "import", "--config", net_->server_config(2), file}, "again.err");
  EXPECT_THAT(again.status(), StatusIs(StatusCode::kInternal, HasSubstr("already exists")));

  // Its clients and the hub's registration move to server 3, which serves it after a restart.
  ASSERT_OK(net_->RestartServer(2));
  ASSERT_OK(net_->MoveOrg(kCityB, 2));
  ASSERT_OK(net_->WaitForPermissionLists(std::chrono::seconds(30)));
  for (int p : {1, 3}) {
    json after = Inquire(p);
    ASSERT_EQ(after.value("state", ""), "completed") << after.dump();
    EXPECT_EQ(after["result"]["records"][0]["IT00000200000004"], Income(p));
  }

  // 移行元: deleted; it opens no more there.
  ASSERT_OK(
      Run({"tenant", "delete", "--config", net_->server_config(1), "--org", kCityB.str(), "--yes"},
          "delete.err")
          .status());
  ASSERT_OK_AND_ASSIGN(
      out, Run({"tenant", "show", "--config", net_->server_config(1), "--org", kCityB.str()},
               "show.err"));
  EXPECT_THAT(out, HasSubstr("deleted"));
  EXPECT_FALSE(fs::exists(net_->server_dir(1) + "/data/tenants/t" + kCityB.str() + ".db"));
  EXPECT_EQ(net_->StopAll(), 0);

  // The moved tenant's audit chain verifies at the destination (the source's checkpoints, then
  // the import's, signed by the destination).
  const std::string schema = prefix_ + "_s3_t" + kCityB.str();
  ASSERT_OK_AND_ASSIGN(
      out,
      Run({"audit", "verify", "--dsn", dsn_, "--schema", schema, "--role", schema}, "verify.err"));
  EXPECT_THAT(out, HasSubstr("監査ログは正常です / audit chain intact"));
}

}  // namespace
}  // namespace chukan::testing
