// Several nodes of each server and of the hub on one PostgreSQL database, in this process
// (cli::LocalNetwork with nodes_per_server and hub_nodes): what one node does, the others see.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/local_network.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status_matchers.h"
#include "common/test_util.h"
#include "store/store_test_util.h"
#include "store/tenant_store.h"
#include "test_people.h"

namespace chukan::testing {
namespace {

using cli::LocalNetwork;
using json = nlohmann::json;
using Role = cli::LocalNetwork::Role;

const OrgCode kCityA = OrgCode::Parse("0000000000000061").value();
const OrgCode kCityB = OrgCode::Parse("0000000000000062").value();
constexpr int kPerson = 9;

class MultiNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dsn = std::getenv("CHUKAN_TEST_PG_DSN");
    if (dsn == nullptr || *dsn == '\0') {
      const char* ci = std::getenv("CI");
      if (ci != nullptr && *ci != '\0') FAIL() << "CHUKAN_TEST_PG_DSN is not set, and CI is";
      GTEST_SKIP() << "needs CHUKAN_TEST_PG_DSN (scripts/with-postgres)";
    }
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
    o.orgs = {{kCityA, "city-a", "municipality", 0, ""}, {kCityB, "city-b", "municipality", 1, ""}};
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
    for (const auto& [org, atena] :
         {std::pair{kCityA, Atena(100 + kPerson)}, std::pair{kCityB, Atena(kPerson)}}) {
      const http::Response r =
          Call(org, 1, "POST", "/api/v1/codes",
               json{{"atena_no", atena}, {"resident_id", Resident(kPerson)}}.dump());
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
  csv += "\n" + Atena(kPerson) +
         ",2026,2026-01-01,1,2345678,1800000,50000,200000,30000,150000,20000,1,0,1,2,,10000\n";
  const http::Response imported =
      Call(kCityB, 1, "POST", "/api/v1/replica/imports?tm=TM00000000000002", csv, "text/csv");
  ASSERT_EQ(imported.status, 201) << imported.body;
  const http::Response created = Call(kCityA, 1, "POST", "/api/v1/inquiries",
                                      json{{"atena_no", Atena(100 + kPerson)},
                                           {"procedure", "JT90000000000101"},
                                           {"tm", "TM00000000000002"},
                                           {"provider", kCityB.str()},
                                           {"query", {{"IT00000200000001", "2026"}}}}
                                          .dump());
  ASSERT_EQ(created.status, 202) << created.body;
  const std::string id = json::parse(created.body).value("inquiry_id", "");
  const auto start = std::chrono::steady_clock::now();
  const http::Response polled =
      Call(kCityA, 1, "GET", "/api/v1/inquiries/" + id + "?wait_ms=30000");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(polled.status, 200) << polled.body;
  const json j = json::parse(polled.body);
  EXPECT_EQ(j.value("state", ""), "completed") << polled.body;
  EXPECT_LT(took, std::chrono::seconds(15)) << "the poll waited for its deadline";
  EXPECT_NE(j.dump().find("2345678"), std::string::npos) << polled.body;
  // Both nodes tell a balancer they take requests (their database took a write just now).
  for (int node : {0, 1}) {
    const http::Response ready = Call(kCityA, node, "GET", "/readyz");
    EXPECT_EQ(ready.status, 200) << ready.body;
    EXPECT_EQ(ready.body, "{\"status\":\"ready\"}");
  }
}

// The whole cluster as real processes: three server nodes (both organisations' tenants) and two
// hub nodes on one PostgreSQL database behind haproxy. CHUKAN_CLUSTER_LINKAGES (20,000) linkages
// by 24 existing-system clients that retry with their idempotency key when a node goes away;
// one server node is killed (SIGKILL) a quarter of the way in, one hub node halfway. Every
// linkage must end exactly once with the provider's value, and the records of provision of the
// inquirer, the provider and the hub must match one to one.
class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* dsn = std::getenv("CHUKAN_TEST_PG_DSN");
    if (dsn == nullptr || *dsn == '\0') {
      const char* ci = std::getenv("CI");
      if (ci != nullptr && *ci != '\0') FAIL() << "CHUKAN_TEST_PG_DSN is not set, and CI is";
      GTEST_SKIP() << "needs CHUKAN_TEST_PG_DSN (scripts/with-postgres)";
    }
    dsn_ = dsn;
    prefix_ = "cl_" + store::testing::RandomSuffix();
  }
  void TearDown() override {
    net_.reset();
    if (!dsn_.empty()) store::testing::DropPgNamespace(dsn_, prefix_);
  }

  // The permit ids of the rows `sql` selects in one of the network's databases.
  std::set<std::string> PermitIds(const std::string& suffix, std::optional<TenantId> tenant,
                                  const std::string& sql) {
    store::StoreOptions o;
    o.backend = store::Backend::kPostgres;
    o.dsn = dsn_;
    o.pg_prefix = prefix_ + "_" + suffix;
    o.pool_size = 1;
    std::set<std::string> ids;
    Result<std::unique_ptr<store::TenantStore>> ts = store::TenantStore::Open(o);
    EXPECT_OK(ts.status());
    if (!ts.ok()) return ids;
    Result<std::shared_ptr<store::Database>> db =
        tenant ? (*ts)->Tenant(*tenant) : (*ts)->Platform();
    EXPECT_OK(db.status());
    if (!db.ok()) return ids;
    auto tx = (*db)->BeginRead();
    EXPECT_OK(tx.status());
    if (!tx.ok()) return ids;
    Result<std::vector<store::Row>> rows = (*tx)->Query(sql);
    EXPECT_OK(rows.status());
    if (!rows.ok()) return ids;
    for (const store::Row& r : *rows) {
      Result<std::string> id = r.GetText(0);
      ids.insert(id.ok() ? *id : "<null>");
    }
    EXPECT_EQ(ids.size(), rows->size()) << "duplicate permit ids: " << sql;
    (void)(*db)->Close();
    return ids;
  }

  std::string dsn_;
  std::string prefix_;
  TempDir dir_;
  std::unique_ptr<LocalNetwork> net_;
};

TEST_F(ClusterTest, KilledServerAndHubNodesLoseNoLinkageAndDuplicateNone) {
  const char* env = std::getenv("CHUKAN_CLUSTER_LINKAGES");
  const int total = env != nullptr && std::atoi(env) > 0 ? std::atoi(env) : 20'000;
  cli::LocalNetworkOptions o;
  o.binary = CHUKAN_BINARY;
  o.workdir = dir_.path();
  o.layout_dir = CHUKAN_LAYOUT_DIR;
  o.permissions_file = CHUKAN_PERMISSIONS_FILE;
  o.servers = 1;
  o.nodes_per_server = 3;
  o.hub_nodes = 2;
  o.balancer = true;
  o.orgs = {{kCityA, "city-a", "municipality", 0, ""}, {kCityB, "city-b", "municipality", 0, ""}};
  o.server_threads = 1;
  o.server_workers = 32;
  o.server_delivery_threads = 2;
  o.hub_threads = 1;
  o.hub_workers = 32;
  o.hub_delivery_threads = 4;
  o.log_level = "warn";
  o.pg_dsn = dsn_;
  o.pg_prefix = prefix_;
  o.delivery_lease_seconds = 10;
  ASSERT_OK_AND_ASSIGN(net_, LocalNetwork::Start(o));
  for (const auto& [org, atena] :
       {std::pair{kCityA, Atena(100 + kPerson)}, std::pair{kCityB, Atena(kPerson)}}) {
    ASSERT_OK_AND_ASSIGN(
        http::Response r,
        net_->Call(org, Role::kSystem, "POST", "/api/v1/codes",
                   json{{"atena_no", atena}, {"resident_id", Resident(kPerson)}}.dump()));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  std::string csv = "atena_no";
  for (int i = 1; i <= 16; ++i) {
    csv += ",IT000002000000" + std::string(i < 10 ? "0" : "") + std::to_string(i);
  }
  csv += "\n" + Atena(kPerson) +
         ",2026,2026-01-01,1,2345678,1800000,50000,200000,30000,150000,20000,1,0,1,2,,10000\n";
  ASSERT_OK_AND_ASSIGN(http::Response imported,
                       net_->Call(kCityB, Role::kSystem, "POST",
                                  "/api/v1/replica/imports?tm=TM00000000000002", csv, "text/csv"));
  ASSERT_EQ(imported.status, 201) << imported.body;

  std::atomic<int> next{0}, done{0}, retries{0};
  std::mutex mu;
  std::vector<std::string> ids(static_cast<size_t>(total));
  std::vector<std::string> failures;
  auto linkage = [&](int i) -> std::string {  // the inquiry id, or "" with a failure recorded
    const json body = {{"atena_no", Atena(100 + kPerson)},
                       {"procedure", "JT90000000000101"},
                       {"tm", "TM00000000000002"},
                       {"provider", kCityB.str()},
                       {"query", {{"IT00000200000001", "2026"}}},
                       {"idempotency_key", "cluster-" + std::to_string(i)}};
    std::string id, last;
    // A node that dies takes its connections with it: the client tries again (the same key
    // returns the same inquiry), for up to a minute.
    for (int attempt = 0; attempt < 300; ++attempt) {
      if (attempt > 0) {
        retries.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      if (id.empty()) {
        Result<http::Response> r =
            net_->Call(kCityA, Role::kSystem, "POST", "/api/v1/inquiries", body.dump());
        if (!r.ok() || r->status >= 500) {
          last = r.ok() ? "POST HTTP " + std::to_string(r->status) : r.status().ToString();
          continue;
        }
        if (r->status != 202 && r->status != 200) return "!POST HTTP " + std::to_string(r->status) + " " + r->body;
        id = json::parse(r->body).value("inquiry_id", "");
      }
      Result<http::Response> g = net_->Call(kCityA, Role::kSystem, "GET",
                                            "/api/v1/inquiries/" + id + "?wait_ms=10000");
      if (!g.ok() || g->status >= 500) {
        last = g.ok() ? "GET HTTP " + std::to_string(g->status) : g.status().ToString();
        continue;
      }
      const json j = json::parse(g->body, nullptr, false);
      const std::string state = j.is_discarded() ? "" : j.value("state", "");
      if (state == "accepted" || state == "permitted") {
        --attempt;  // a long poll that timed out is no failure
        continue;
      }
      if (state != "completed") return "!ended " + state + " " + j.value("reason", "");
      if (j["result"]["records"].size() != 1 ||
          j["result"]["records"][0].value("IT00000200000004", "") != "2345678") {
        return "!completed without the provider's value";
      }
      return id;
    }
    return "!gave up: " + last;
  };
  std::vector<std::thread> workers;
  for (int w = 0; w < 24; ++w) {
    workers.emplace_back([&] {
      for (int i = next.fetch_add(1); i < total; i = next.fetch_add(1)) {
        const std::string r = linkage(i);
        std::lock_guard<std::mutex> lock(mu);
        if (!r.empty() && r[0] == '!') {
          failures.push_back("linkage " + std::to_string(i) + ": " + r.substr(1));
        } else {
          ids[static_cast<size_t>(i)] = r;
        }
        done.fetch_add(1);
      }
    });
  }
  // One server node dies a quarter of the way in, one hub node halfway.
  while (done.load() < total / 4) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  net_->KillNode(0, 1);
  while (done.load() < total / 2) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  net_->KillHubNode(1);
  for (std::thread& t : workers) t.join();
  ASSERT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
  const std::set<std::string> distinct(ids.begin(), ids.end());
  EXPECT_EQ(distinct.size(), static_cast<size_t>(total)) << "an inquiry answered two linkages";
  std::cerr << "cluster: " << total << " linkages, " << retries.load() << " retries\n";

  // Exactly once, one to one: the inquirer's completed inquiries, the provider's answered
  // provisions and the hub's provided records carry the same permits, each once.
  const std::set<std::string> inquirer = PermitIds(
      "s1", TenantId::ForOrg(kCityA),
      "SELECT permit_id FROM inquiries WHERE state = 'completed' AND permit_id IS NOT NULL");
  const std::set<std::string> provider =
      PermitIds("s1", TenantId::ForOrg(kCityB), "SELECT permit_id FROM provisions");
  const std::set<std::string> hub = PermitIds(
      "hub", std::nullopt, "SELECT permit_id FROM hub_record WHERE provided_at_us IS NOT NULL");
  EXPECT_EQ(inquirer.size(), static_cast<size_t>(total));
  EXPECT_TRUE(inquirer == provider) << inquirer.size() << " vs " << provider.size();
  EXPECT_TRUE(inquirer == hub) << inquirer.size() << " vs " << hub.size();
  const std::set<std::string> all = PermitIds("s1", TenantId::ForOrg(kCityA),
                                              "SELECT inquiry_id FROM inquiries");
  EXPECT_EQ(all.size(), static_cast<size_t>(total)) << "inquiries beyond the linkages";
}

}  // namespace
}  // namespace chukan::testing
