// `chukan backup` of a running `chukan server` and `chukan restore` into a fresh data directory,
// end to end with real processes (cli::LocalNetwork: a hub and two servers on loopback): the
// provider's server is backed up while it serves, stopped, its data directory replaced by an
// empty one holding only the keys (as an operator restores keys/ from where they are kept
// apart), restored with the CLI, started again — and an inquiry from the other server is
// answered from the restored replica.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/local_network.h"
#include "common/status_matchers.h"
#include "common/test_util.h"
#include "store/database.h"
#include "tax_linkage_test.h"
#include "test_people.h"

namespace chukan::testing {
namespace {

namespace fs = std::filesystem;
using cli::LocalNetwork;
using ::testing::HasSubstr;

const OrgCode kCityA = OrgCode::Parse("0000000000000051").value();
const OrgCode kCityB = OrgCode::Parse("0000000000000052").value();
constexpr int kPeople = 5;

constexpr long long kIncomeBase = 827364000;
std::string Income(int person) { return std::to_string(kIncomeBase + person); }

class BackupProcessTest : public TaxLinkageTest {
 protected:
  json Inquire(int person) { return TaxLinkageTest::Inquire(kCityA, kCityB, person); }
};

TEST_F(BackupProcessTest, ARunningServerBackedUpAndRestoredServesLinkageFromItsReplica) {
  cli::LocalNetworkOptions o;
  o.binary = CHUKAN_BINARY;
  o.workdir = dir_.File("net");
  fs::create_directories(o.workdir);
  o.layout_dir = CHUKAN_LAYOUT_DIR;
  o.permissions_file = CHUKAN_PERMISSIONS_FILE;
  o.servers = 2;
  o.orgs = {{kCityA, "city-a", "municipality", 0, ""},
            {kCityB, "city-b", "municipality", 1, "13101"}};
  ASSERT_OK_AND_ASSIGN(net_, LocalNetwork::Start(o));
  ASSERT_OK(net_->WaitForPermissionLists(std::chrono::seconds(30)));
  ASSERT_EQ(Call(kCityB, "POST", "/api/v1/replica/imports?tm=TM00000000000002",
                 TaxCsv(kPeople, kIncomeBase), "text/csv")
                .status,
            201);
  ASSERT_NO_FATAL_FAILURE(LoadCodes(kCityA, kCityB, kPeople));
  // Linkage works before the backup.
  json before = Inquire(1);
  ASSERT_EQ(before.value("state", ""), "completed") << before.dump();

  // The backup, while server 2 (city B, the provider) runs.
  const std::string key = dir_.File("backup.key");
  const std::string backup = dir_.File("backup");
  ASSERT_OK(
      cli::RunCommand(CHUKAN_BINARY, {"backup", "keygen", "--out", key}, dir_.File("keygen.err"))
          .status());
  ASSERT_OK_AND_ASSIGN(std::string out,
                       cli::RunCommand(CHUKAN_BINARY,
                                       {"backup", "--config", net_->server_config(1), "--to",
                                        backup, "--backup-key", key},
                                       dir_.File("backup.err")));
  EXPECT_THAT(out, HasSubstr("バックアップを作成しました / backup created"));
  EXPECT_THAT(out, HasSubstr("(テナント / tenants: 1, 除外 / left out: 0)"));

  // The server goes, and with it its data; the keys come back from their own copy.
  ASSERT_EQ(net_->StopServer(1), 0);
  const std::string data = net_->server_dir(1) + "/data";
  fs::rename(data, data + ".lost");
  fs::create_directories(data);
  fs::copy(data + ".lost/keys", data + "/keys", fs::copy_options::recursive);
  fs::remove_all(data + ".lost");

  ASSERT_OK_AND_ASSIGN(out, cli::RunCommand(CHUKAN_BINARY,
                                            {"restore", "--config", net_->server_config(1),
                                             "--from", backup, "--backup-key", key},
                                            dir_.File("restore.err")));
  EXPECT_THAT(out, HasSubstr("テナント " + kCityB.str() + ": 復元しました / restored"));
  {
    // The backup holds the record of its own start; the restore records itself after it.
    store::SqliteOptions so;
    so.path = data + "/platform.db";
    so.create = false;
    ASSERT_OK_AND_ASSIGN(auto db, store::OpenSqlite(so));
    ASSERT_OK_AND_ASSIGN(auto txn, db->BeginRead());
    ASSERT_OK_AND_ASSIGN(auto rows, txn->Query("SELECT action, outcome FROM audit_log WHERE "
                                               "action LIKE 'backup.%' ORDER BY seq"));
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].GetText(0).value(), "backup.start");
    EXPECT_EQ(rows[1].GetText(0).value(), "backup.restore");
    EXPECT_EQ(rows[1].GetText(1).value(), "ok");
  }
  ASSERT_OK(net_->RestartServer(1));
  ASSERT_OK(net_->WaitForPermissionLists(std::chrono::seconds(30)));

  // The restored provider answers from its restored replica, through its restored codes.
  for (int p : {1, 3}) {
    json after = Inquire(p);
    ASSERT_EQ(after.value("state", ""), "completed") << after.dump();
    EXPECT_EQ(after["result"]["records"][0]["IT00000200000004"], Income(p));
  }
  EXPECT_EQ(net_->StopAll(), 0);
}

}  // namespace
}  // namespace chukan::testing
