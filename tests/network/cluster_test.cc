// The whole cluster as real processes on one PostgreSQL database behind haproxy (cli::
// LocalNetwork with nodes_per_server, hub_nodes and balancer), nodes killed mid-run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli/local_network.h"
#include "common/status_matchers.h"
#include "common/test_util.h"
#include "network_test_util.h"
#include "store/store_test_util.h"
#include "store/tenant_store.h"
#include "test_people.h"

namespace chukan::testing {
namespace {

using cli::LocalNetwork;
using json = nlohmann::json;
using Role = cli::LocalNetwork::Role;

const OrgCode kCityA = OrgCode::Parse("0000000000000071").value();
const OrgCode kCityB = OrgCode::Parse("0000000000000072").value();
constexpr int kPerson = 11;

// Linkages in the run: CHUKAN_CLUSTER_LINKAGES, or 20,000 (2,000 in a sanitizer's build, which
// runs several times slower; the dev tree's run is the one at full size).
int Linkages() {
  const char* env = std::getenv("CHUKAN_CLUSTER_LINKAGES");
  if (env != nullptr && std::atoi(env) > 0) return std::atoi(env);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return 2'000;
#else
  return 20'000;
#endif
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
    const std::string dsn = store::testing::PgDsnForTest();
    if (dsn.empty()) GTEST_SKIP() << "needs CHUKAN_TEST_PG_DSN (scripts/with-postgres)";
    dsn_ = dsn;
    prefix_ = "cl_" + store::testing::RandomSuffix();
  }
  void TearDown() override {
    if (HasFailure() && net_ != nullptr)
      KeepNetworkLogs(dir_.path(), "chukan-cluster-failed-" + prefix_);
    net_.reset();
    if (!dsn_.empty()) store::testing::DropPgNamespace(dsn_, prefix_);
  }

  // The hub's store ("hub") or server i's ("s<i>").
  NetworkStore Store(const std::string& suffix) const { return {dsn_, prefix_ + "_" + suffix}; }
  std::string Rows(const std::string& suffix, std::optional<TenantId> tenant,
                   const std::string& sql, const std::vector<store::Value>& params) {
    return Store(suffix).Rows(tenant, sql, params);
  }

  // Where one stuck inquiry is: its row, its permit at the hub and the provider, the outboxes.
  void Explain(const std::string& inquiry_id) {
    const std::string permit = [&] {
      std::string r = Rows("s1", TenantId::ForOrg(kCityA),
                           "SELECT permit_id FROM inquiries WHERE inquiry_id = ?", {inquiry_id});
      const size_t a = r.find('['), b = r.find(']');
      return a == std::string::npos ? std::string() : r.substr(a + 1, b - a - 1);
    }();
    std::cerr << "inquiry " << inquiry_id << ":\n"
              << Rows("s1", TenantId::ForOrg(kCityA),
                      "SELECT state, permit_id, reason FROM inquiries WHERE inquiry_id = ?",
                      {inquiry_id})
              << "inquirer outbox:\n"
              << Rows("s1", TenantId::ForOrg(kCityA),
                      "SELECT topic, state, attempts, last_error FROM outbox WHERE dedupe_key = ?",
                      {inquiry_id})
              << "hub record / permit:\n"
              << Rows("hub", std::nullopt,
                      "SELECT outcome, provided_at_us FROM hub_record WHERE permit_id = ?",
                      {permit})
              << "hub outbox:\n"
              << Rows("hub", std::nullopt,
                      "SELECT topic, state, attempts, lease_owner, last_error FROM outbox"
                      " WHERE dedupe_key = ?",
                      {permit})
              << "provider provision:\n"
              << Rows("s1", TenantId::ForOrg(kCityB),
                      "SELECT state, reason FROM provisions WHERE permit_id = ?", {permit})
              << "provider outbox:\n"
              << Rows("s1", TenantId::ForOrg(kCityB),
                      "SELECT topic, state, attempts, lease_owner, last_error FROM outbox"
                      " WHERE dedupe_key = ?",
                      {permit});
  }

  // The permit ids of the rows `sql` selects in one of the network's databases.
  std::set<std::string> PermitIds(const std::string& suffix, std::optional<TenantId> tenant,
                                  const std::string& sql) {
    return Store(suffix).Texts(tenant, sql);
  }

  std::string dsn_;
  std::string prefix_;
  TempDir dir_;
  std::unique_ptr<LocalNetwork> net_;
};

TEST_F(ClusterTest, KilledServerAndHubNodesLoseNoLinkageAndDuplicateNone) {
  const int total = Linkages();
  cli::LocalNetworkOptions o = PgNetworkOptions(dir_.path(), dsn_, prefix_);
  o.servers = 1;
  o.nodes_per_server = 3;
  o.hub_nodes = 2;
  o.balancer = true;
  o.orgs = {{kCityA, "city-a", "municipality", 0, ""}, {kCityB, "city-b", "municipality", 0, ""}};
  o.server_workers = 32;
  o.server_delivery_threads = 2;
  o.hub_workers = 32;
  o.hub_delivery_threads = 4;
  o.delivery_lease_seconds = 10;
  ASSERT_OK_AND_ASSIGN(net_, LocalNetwork::Start(o));
  ASSERT_NO_FATAL_FAILURE(AddPersonCodes(*net_, kCityA, kCityB, kPerson));
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
    const std::string body = TaxInquiryJson(kCityB, kPerson, "cluster-" + std::to_string(i));
    std::string id, last;
    // A node that dies takes its connections with it: the client tries again (the same key
    // returns the same inquiry). A linkage not ended within two minutes has failed.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    for (int attempt = 0; std::chrono::steady_clock::now() < deadline; ++attempt) {
      if (attempt > 0) {
        retries.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      if (id.empty()) {
        Result<http::Response> r =
            net_->Call(kCityA, Role::kSystem, "POST", "/api/v1/inquiries", body);
        if (!r.ok() || r->status >= 500) {
          last = r.ok() ? "POST HTTP " + std::to_string(r->status) : r.status().ToString();
          continue;
        }
        if (r->status != 202 && r->status != 200)
          return "!POST HTTP " + std::to_string(r->status) + " " + r->body;
        id = json::parse(r->body).value("inquiry_id", "");
      }
      Result<http::Response> g =
          net_->Call(kCityA, Role::kSystem, "GET", "/api/v1/inquiries/" + id + "?wait_ms=10000");
      if (!g.ok() || g->status >= 500) {
        last = g.ok() ? "GET HTTP " + std::to_string(g->status) : g.status().ToString();
        continue;
      }
      const json j = json::parse(g->body, nullptr, false);
      const std::string state = j.is_discarded() ? "" : j.value("state", "");
      if (state == "accepted" || state == "permitted") {
        last = "still " + state + " (inquiry " + id + ")";
        attempt = 0;  // a long poll that timed out is no failure
        continue;
      }
      if (state != "completed") return "!ended " + state + " " + j.value("reason", "");
      if (!AnswersIncome(j, "2345678")) return "!completed without the provider's value";
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
  // One server node dies a quarter of the way in, one hub node halfway; progress every 5 s.
  const auto t0 = std::chrono::steady_clock::now();
  auto next_report = t0;
  bool server_killed = false, hub_killed = false;
  while (done.load() < total) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!server_killed && done.load() >= total / 4) {
      net_->KillNode(0, 1);
      server_killed = true;
      std::cerr << "cluster: server node 2 killed at " << done.load() << "\n";
    }
    if (!hub_killed && done.load() >= total / 2) {
      net_->KillHubNode(1);
      hub_killed = true;
      std::cerr << "cluster: hub node 2 killed at " << done.load() << "\n";
    }
    if (std::chrono::steady_clock::now() >= next_report) {
      std::lock_guard<std::mutex> lock(mu);
      std::cerr << "cluster: " << done.load() << "/" << total << " ended, " << retries.load()
                << " retries, " << failures.size() << " failed\n";
      next_report += std::chrono::seconds(5);
    }
  }
  for (std::thread& t : workers) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!failures.empty()) {
    const std::string& f = failures.front();
    const size_t at = f.find("(inquiry ");
    if (at != std::string::npos) Explain(f.substr(at + 9, 32));
  }
  ASSERT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
  const std::set<std::string> distinct(ids.begin(), ids.end());
  EXPECT_EQ(distinct.size(), static_cast<size_t>(total)) << "an inquiry answered two linkages";
  std::cerr << "cluster: " << total << " linkages in " << seconds << " s, " << retries.load()
            << " retries\n";

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
  const std::set<std::string> all =
      PermitIds("s1", TenantId::ForOrg(kCityA), "SELECT inquiry_id FROM inquiries");
  EXPECT_EQ(all.size(), static_cast<size_t>(total)) << "inquiries beyond the linkages";
}

}  // namespace
}  // namespace chukan::testing
