// Several nodes of each server and of the hub on one PostgreSQL database, in this process
// (cli::LocalNetwork with nodes_per_server and hub_nodes): what one node does, the others see.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/local_network.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status_matchers.h"
#include "common/test_util.h"
#include "store/store_test_util.h"
#include "test_people.h"

namespace chukan::testing {
namespace {

using cli::LocalNetwork;
using json = nlohmann::json;
using Role = cli::LocalNetwork::Role;

const OrgCode kMultiNodeCityA = OrgCode::Parse("0000000000000061").value();
const OrgCode kMultiNodeCityB = OrgCode::Parse("0000000000000062").value();
constexpr int kMultiNodePerson = 9;

class MultiNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dsn = store::testing::PgDsnForTest();
    if (dsn.empty()) GTEST_SKIP() << "needs CHUKAN_TEST_PG_DSN (scripts/with-postgres)";
    dsn_ = dsn;
    prefix_ = "mn_" + store::testing::RandomSuffix();
    log::SetLevel(log::Level::kWarn);
    cli::LocalNetworkOptions o;
    o.binary = CHUKAN_BINARY;
    o.workdir = dir_.path();
    o.layout_dir = CHUKAN_LAYOUT_DIR;
    o.permissions_file = CHUKAN_PERMISSIONS_FILE;
    o.servers = 2;
    o.nodes_per_server = 2;
    o.hub_nodes = 2;
    o.orgs = {{kMultiNodeCityA, "city-a", "municipality", 0, ""},
              {kMultiNodeCityB, "city-b", "municipality", 1, ""}};
    o.server_threads = 1;
    o.server_workers = 8;
    o.server_delivery_threads = 1;
    o.hub_threads = 1;
    o.hub_workers = 8;
    o.hub_delivery_threads = 1;
    o.log_level = "warn";
    o.pg_dsn = dsn_;
    o.pg_prefix = prefix_;
    o.in_process = true;
    ASSERT_OK_AND_ASSIGN(net_, LocalNetwork::Start(o));
    for (const auto& [org, atena] : {std::pair{kMultiNodeCityA, Atena(100 + kMultiNodePerson)},
                                     std::pair{kMultiNodeCityB, Atena(kMultiNodePerson)}}) {
      const http::Response r =
          Call(org, 1, "POST", "/api/v1/codes",
               json{{"atena_no", atena}, {"resident_id", Resident(kMultiNodePerson)}}.dump());
      ASSERT_EQ(r.status, 200) << r.body;
    }
  }

  void TearDown() override {
    net_.reset();
    if (!dsn_.empty()) store::testing::DropPgNamespace(dsn_, prefix_);
  }

  http::Response Call(const OrgCode& org, int node, const std::string& method,
                      const std::string& path, std::string body = "",
                      std::string_view type = "application/json") {
    Result<http::Response> r =
        net_->CallNode(org, node, Role::kSystem, method, path, std::move(body), type);
    EXPECT_OK(r.status());
    return r.ok() ? *r : http::Response{};
  }

  TempDir dir_;
  std::string dsn_;
  std::string prefix_;
  std::unique_ptr<LocalNetwork> net_;
};

// The hub delivers city A's answers to A's registered endpoint, node 1; the existing system's
// long poll waits on node 2. Node 1 tells node 2 (PostgreSQL NOTIFY) and the poll answers at
// once, not when its 30 s are up.
TEST_F(MultiNodeTest, ALongPollOnOneNodeIsAnsweredWhenTheAnswerArrivesAtAnother) {
  std::string csv = "atena_no";
  for (int i = 1; i <= 16; ++i) {
    csv += ",IT000002000000" + std::string(i < 10 ? "0" : "") + std::to_string(i);
  }
  csv += "\n" + Atena(kMultiNodePerson) +
         ",2026,2026-01-01,1,2345678,1800000,50000,200000,30000,150000,20000,1,0,1,2,,10000\n";
  const http::Response imported = Call(
      kMultiNodeCityB, 1, "POST", "/api/v1/replica/imports?tm=TM00000000000002", csv, "text/csv");
  ASSERT_EQ(imported.status, 201) << imported.body;
  const http::Response created = Call(kMultiNodeCityA, 1, "POST", "/api/v1/inquiries",
                                      json{{"atena_no", Atena(100 + kMultiNodePerson)},
                                           {"procedure", "JT90000000000101"},
                                           {"tm", "TM00000000000002"},
                                           {"provider", kMultiNodeCityB.str()},
                                           {"query", {{"IT00000200000001", "2026"}}}}
                                          .dump());
  ASSERT_EQ(created.status, 202) << created.body;
  const std::string id = json::parse(created.body).value("inquiry_id", "");
  const auto start = std::chrono::steady_clock::now();
  const http::Response polled =
      Call(kMultiNodeCityA, 1, "GET", "/api/v1/inquiries/" + id + "?wait_ms=30000");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(polled.status, 200) << polled.body;
  const json j = json::parse(polled.body);
  EXPECT_EQ(j.value("state", ""), "completed") << polled.body;
  EXPECT_LT(took, std::chrono::seconds(15)) << "the poll waited for its deadline";
  EXPECT_NE(j.dump().find("2345678"), std::string::npos) << polled.body;
  // Both nodes tell a balancer they take requests (their database took a write just now).
  for (int node : {0, 1}) {
    const http::Response ready = Call(kMultiNodeCityA, node, "GET", "/readyz");
    EXPECT_EQ(ready.status, 200) << ready.body;
    EXPECT_EQ(ready.body, "{\"status\":\"ready\"}");
  }
}

}  // namespace
}  // namespace chukan::testing
