// `chukan staff …` end to end: the real binary on a tenant made by `chukan tenant create`, on
// SQLite and on the private PostgreSQL (scripts/with-postgres).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "server_process.h"
#include "store/store_test_util.h"

namespace chukan {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kOrg[] = "0000000000000151";

class StaffCliTest : public store::testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    config_ = dir().File("chukan.toml");
    {
      std::ofstream out(config_);
      out << "[server]\nport = 0\n[layout]\ndir = \"" << CHUKAN_LAYOUT_DIR
          << "\"\n[log]\nlevel = \"warn\"\n[store]\n";
      if (GetParam() == store::Backend::kPostgres) {
        out << "backend = \"postgres\"\ndsn = \"" << dsn() << "\"\npg_prefix = \"" << prefix()
            << "\"\n";
      } else {
        out << "data_dir = \"" << dir().File("data") << "\"\n";
      }
      out << "[keys]\ndir = \"" << dir().File("keys") << "\"\n";
    }
    ASSERT_EQ(Run("tenant create --org " + std::string(kOrg) + " --name 札幌市").exit_code, 0);
  }

  testing::CommandOutput Run(const std::string& args) {
    return testing::RunChukan(args + " --config " + config_);
  }
  testing::CommandOutput Staff(const std::string& args) {
    return Run("staff " + args + " --tenant " + kOrg);
  }

  // `staff list --json`: one object per line.
  std::vector<json> ListJson() {
    testing::CommandOutput r = Staff("list --json");
    EXPECT_EQ(r.exit_code, 0);
    std::vector<json> out;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
      EXPECT_FALSE(j.is_discarded()) << line;
      out.push_back(std::move(j));
    }
    return out;
  }

  std::string config_;
};

TEST_P(StaffCliTest, AddListResetDisable) {
  testing::CommandOutput add =
      Staff("add --login yamada.t --name '山田 太郎' --role inquirer --dept K01 --json");
  ASSERT_EQ(add.exit_code, 0) << add.out;
  // Exactly one JSON object.
  const json created = json::parse(add.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(created.is_object()) << add.out;
  EXPECT_EQ(created.size(), 4u);
  EXPECT_EQ(created["login"], "yamada.t");
  const std::string first = created["initial_password"].get<std::string>();
  EXPECT_EQ(first.size(), 16u);
  EXPECT_TRUE(created["totp_uri"].is_null());
  EXPECT_TRUE(created["totp_secret"].is_null());

  testing::CommandOutput approver =
      Staff("add --login sato --name '佐藤 花子' --role approver,admin --json");
  ASSERT_EQ(approver.exit_code, 0);
  const json a = json::parse(approver.out, nullptr, false);
  ASSERT_TRUE(a.is_object()) << approver.out;
  EXPECT_THAT(a["totp_uri"].get<std::string>(),
              StartsWith("otpauth://totp/chukan%20" + std::string(kOrg) +
                         ":sato?secret=" + a["totp_secret"].get<std::string>()));

  std::vector<json> list = ListJson();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[1]["login"], "yamada.t");
  EXPECT_EQ(list[1]["name"], "山田 太郎");
  EXPECT_EQ(list[1]["dept"], "K01");
  EXPECT_EQ(list[1]["roles"], "inquirer");
  EXPECT_EQ(list[1]["state"], "active");
  EXPECT_EQ(list[1]["totp"], "not_required");
  EXPECT_EQ(list[0]["login"], "sato");
  EXPECT_EQ(list[0]["totp"], "pending");

  testing::CommandOutput reset = Staff("reset-password --login yamada.t --json");
  ASSERT_EQ(reset.exit_code, 0);
  const json r = json::parse(reset.out, nullptr, false);
  ASSERT_TRUE(r.is_object()) << reset.out;
  EXPECT_EQ(r["initial_password"].get<std::string>().size(), 16u);
  EXPECT_NE(r["initial_password"], first);

  ASSERT_EQ(Staff("disable --login yamada.t").exit_code, 0);
  list = ListJson();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[1]["state"], "disabled");
  testing::CommandOutput table = Staff("list");
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_THAT(table.out, HasSubstr("無効"));
  EXPECT_THAT(table.out, HasSubstr("山田 太郎"));
  EXPECT_THAT(table.out, HasSubstr("未確認"));
  ASSERT_EQ(Staff("enable --login yamada.t").exit_code, 0);
  EXPECT_EQ(ListJson()[1]["state"], "active");
}

TEST_P(StaffCliTest, TextOutputAndExitCodes) {
  testing::CommandOutput add = Staff("add --login kanri --name 管理 --role admin");
  ASSERT_EQ(add.exit_code, 0);
  EXPECT_THAT(add.out, HasSubstr("職員を追加しました / staff member added: kanri"));
  EXPECT_THAT(add.out, HasSubstr("otpauth://totp/"));
  EXPECT_THAT(Staff("reset-totp --login kanri").out, HasSubstr("otpauth://totp/"));
  // Usage: a bad role, a bad login, a bad setting value, a missing option.
  EXPECT_EQ(Staff("add --login x1 --name 某 --role boss").exit_code, 2);
  EXPECT_EQ(Staff("add --login X1 --name 某 --role inquirer").exit_code, 2);
  EXPECT_EQ(Staff("settings --totp-all maybe").exit_code, 2);
  EXPECT_EQ(Staff("add --login x1 --role inquirer").exit_code, 2);
  // Failures: a login in use, an unknown login, an unknown tenant.
  EXPECT_EQ(Staff("add --login kanri --name 別人 --role inquirer").exit_code, 1);
  EXPECT_EQ(Staff("disable --login nobody").exit_code, 1);
  EXPECT_EQ(Run("staff list --tenant 0000000000000999").exit_code, 1);
  // The setting: a new inquirer then gets a second factor.
  ASSERT_EQ(Staff("settings --totp-all on").exit_code, 0);
  testing::CommandOutput later = Staff("add --login suzuki --name 鈴木 --role inquirer --json");
  ASSERT_EQ(later.exit_code, 0);
  EXPECT_TRUE(json::parse(later.out, nullptr, false)["totp_uri"].is_string()) << later.out;
}

TEST_P(StaffCliTest, AtenaMappingSetting) {
  testing::CommandOutput r = Staff("settings --atena-mapping table --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "{\"atena_mapping\":\"table\"}\n");
  r = Staff("settings --atena-mapping identity --totp-all off");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(
      r.out,
      "二要素認証は承認者と管理者のみ必須です / a second factor is now required of approvers "
      "and admins only\n"
      "宛名番号をそのまま統合宛名番号とします (15桁に0埋め) / the 宛名番号, zero-padded to 15 "
      "digits, is the atena_no\n");
  // Usage: neither option, or a value that is not identity or table.
  EXPECT_EQ(Staff("settings").exit_code, 2);
  EXPECT_EQ(Staff("settings --atena-mapping tables").exit_code, 2);
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(StaffCliTest);

}  // namespace
}  // namespace chukan
