// A whole network in one process: a HubProcess and two IntermediateServers on 127.0.0.1 (port
// 0) in a temporary directory, all on one FakeClock, built by cli::LocalNetwork (its
// certificates, configuration files and operator commands; only the hub and the servers run
// in this process). City A (server 1) asks city B (server 2).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>

#include "cli/local_network.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status_matchers.h"
#include "common/test_util.h"
#include "hub/deliverer.h"
#include "hub/hub_process.h"
#include "pki/certificate_authority.h"
#include "server/data_key_rotation.h"
#include "server/intermediate_server.h"
#include "server/linkage_sender.h"
#include "server/linkage_service.h"
#include "server/platform.h"
#include "store/node_lease.h"
#include "store/store_test_util.h"
#include "store/tenant_store.h"
#include "test_people.h"
#include "wire_util.h"

namespace chukan::testing {
namespace {

using cli::LocalNetwork;
using ::testing::AllOf;
using ::testing::HasSubstr;
using Role = cli::LocalNetwork::Role;
using json = nlohmann::json;

const OrgCode kCityA = OrgCode::Parse("0000000000000051").value();
const OrgCode kCityB = OrgCode::Parse("0000000000000052").value();
constexpr int kPerson = 7;
constexpr int64_t kInquiryTimeoutSeconds = 600;

// 地方税関係情報 for kPerson at city B: 所得割額 (IT00000200000004) 2345678.
std::string TaxCsv() {
  std::string f = "atena_no";
  for (int i = 1; i <= 16; ++i)
    f += ",IT000002000000" + std::string(i < 10 ? "0" : "") + std::to_string(i);
  return f + "\n" + Atena(kPerson) +
         ",2026,2026-01-01,1,2345678,1800000,50000,200000,30000,150000,20000,1,0,1,2,,10000\n";
}

// 生活保護関係情報 for kPerson at city B: 自動応答不可 items, so an answer waits for approval.
std::string WelfareCsv() {
  std::string f = "atena_no";
  for (int i = 1; i <= 11; ++i)
    f += ",IT000102000000" + std::string(i < 10 ? "0" : "") + std::to_string(i);
  return f + "\n" + Atena(kPerson) + ",2023-04-01,1,,,1,1,1,0,123456,30000,2\n";
}

class InProcessNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetLevel(log::Level::kWarn);  // the hub and servers log into this process's stderr
    cli::LocalNetworkOptions o;
    o.binary = CHUKAN_BINARY;  // the operator's setup commands (tenant create, hub org add …)
    o.workdir = dir_.path();
    o.layout_dir = CHUKAN_LAYOUT_DIR;
    o.permissions_file = CHUKAN_PERMISSIONS_FILE;
    o.servers = 2;
    o.orgs = {{kCityA, "city-a", "municipality", 0, ""}, {kCityB, "city-b", "municipality", 1, ""}};
    o.inquiry_timeout_seconds = kInquiryTimeoutSeconds;
    o.server_threads = 1;
    o.server_workers = 4;
    o.server_delivery_threads = 1;
    o.hub_threads = 1;
    o.hub_workers = 4;
    o.hub_delivery_threads = 1;
    o.log_level = "warn";
    o.in_process = true;
    o.clock = &clock_;
    Configure(o);
    ASSERT_OK_AND_ASSIGN(net_, LocalNetwork::Start(o));
    ASSERT_NE(net_->hub_in_process(), nullptr);
    ASSERT_EQ(net_->hub(), nullptr);  // no child process
    ASSERT_NE(net_->server_in_process(0), nullptr);
    ASSERT_NE(net_->server_in_process(1), nullptr);
    // The person's codes at both organisations (the hub needs both to route).
    for (const auto& [org, atena] :
         {std::pair{kCityA, Atena(100 + kPerson)}, std::pair{kCityB, Atena(kPerson)}}) {
      const http::Response r =
          Call(org, "POST", "/api/v1/codes",
               json{{"atena_no", atena}, {"resident_id", Resident(kPerson)}}.dump());
      ASSERT_EQ(r.status, 200) << r.body;
    }
  }

  // The fixture's options, changed by a fixture that derives from this one.
  virtual void Configure(cli::LocalNetworkOptions& /*o*/) {}

  http::Response Call(const OrgCode& org, const std::string& method, const std::string& path,
                      std::string body = "", std::string_view type = "application/json") {
    Result<http::Response> r = net_->Call(org, Role::kSystem, method, path, std::move(body), type);
    EXPECT_OK(r.status());
    return r.ok() ? *r : http::Response{};
  }

  std::string PostInquiry(const json& body) {
    const http::Response r = Call(kCityA, "POST", "/api/v1/inquiries", body.dump());
    EXPECT_EQ(r.status, 202) << r.body;
    return json::parse(r.body, nullptr, false).value("inquiry_id", "");
  }

  json GetInquiry(const std::string& id) {
    const http::Response r = Call(kCityA, "GET", "/api/v1/inquiries/" + id);
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  }

  // Polls until the inquiry reaches one of `states`: delivery between the three parties is
  // asynchronous (worker threads), which no clock drives. Gives up after 30 s.
  json WaitForState(const std::string& id, std::initializer_list<std::string_view> states) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    json j;
    while (std::chrono::steady_clock::now() < deadline) {
      j = GetInquiry(id);
      for (std::string_view s : states) {
        if (j.value("state", "") == s) return j;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "inquiry " << id << " still " << j.dump();
    return j;
  }

  void RotateDataKeysWhileLinkageRuns();

  TempDir dir_;
  // Starts at the real time: the TLS certificates (checked by OpenSSL on the real clock) are
  // valid from now, and permits and deadlines follow this clock.
  FakeClock clock_{SystemClock::Get().Now()};
  std::unique_ptr<LocalNetwork> net_;
};

TEST_F(InProcessNetworkTest, InquiryReturnsTheProvidersReplicaValue) {
  const http::Response imported =
      Call(kCityB, "POST", "/api/v1/replica/imports?tm=TM00000000000002", TaxCsv(), "text/csv");
  ASSERT_EQ(imported.status, 201) << imported.body;
  EXPECT_EQ(json::parse(imported.body).value("inserted", 0), 1);

  const std::string id = PostInquiry({{"atena_no", Atena(100 + kPerson)},
                                      {"procedure", "JT90000000000101"},
                                      {"tm", "TM00000000000002"},
                                      {"provider", kCityB.str()},
                                      {"query", {{"IT00000200000001", "2026"}}}});
  ASSERT_FALSE(id.empty());
  const json done = WaitForState(id, {"completed", "refused", "failed", "expired"});
  ASSERT_EQ(done.value("state", ""), "completed") << done.dump();
  const json& records = done["result"]["records"];
  ASSERT_EQ(records.size(), 1u) << done.dump();
  EXPECT_EQ(records[0].value("IT00000200000004", ""), "2345678");  // 所得割額
  EXPECT_EQ(records[0].value("IT00000200000001", ""), "2026");     // 賦課年度
  // Each of the four messages went from the write that queued it to its pump in memory: none
  // was claimed (the inquirer's permit request, the hub's permit and result, the provider's
  // answer). The fake clock never moves, so no poll could have found them either.
  const store::OutboxPump::Stats hub = net_->hub_in_process()->deliverer().pump().stats();
  const store::OutboxPump::Stats inquirer = net_->server_in_process(0)->sender()->pump().stats();
  const store::OutboxPump::Stats provider = net_->server_in_process(1)->sender()->pump().stats();
  EXPECT_EQ(hub.handed, 2);
  EXPECT_EQ(hub.claimed, 0);
  EXPECT_EQ(inquirer.handed, 1);
  EXPECT_EQ(inquirer.claimed, 0);
  EXPECT_EQ(provider.handed, 1);
  EXPECT_EQ(provider.claimed, 0);
  // Nothing expires: the fake clock did not move.
  EXPECT_EQ(net_->server_in_process(0)->linkage()->Sweep(TenantId::ForOrg(kCityA))->expired, 0);
  // Running objects refuse a second Start.
  EXPECT_THAT(net_->server_in_process(1)->Start(), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(net_->hub_in_process()->Start(), StatusIs(StatusCode::kFailedPrecondition));
}

// Certificate renewal without a restart (issue 14): the provider's server reloads its node
// listener's renewed certificate (what `chukan server` does on SIGHUP); the hub's next delivery
// meets the new one and the inquiry completes. A tenant's half-written client certificate is
// refused as a whole and the previous one stays in use.
TEST_F(InProcessNetworkTest, RenewedCertificatesAreReloadedWithoutARestart) {
  server::IntermediateServer& provider = *net_->server_in_process(1);
  const uint16_t node_port = provider.node_port();
  EXPECT_EQ(http::testing::PresentedCommonName(node_port), "node-2");
  ASSERT_OK_AND_ASSIGN(auto ca, pki::CertificateAuthority::Load(net_->Path("pki")));
  ASSERT_OK(ca->Issue({"node-2-renewed", std::nullopt, {"127.0.0.1"}, false, 30}).status());
  namespace fs = std::filesystem;
  for (const char* ext : {".crt", ".key"}) {
    fs::copy_file(net_->Path(std::string("pki/node-2-renewed") + ext),
                  net_->Path(std::string("pki/node-2") + ext),
                  fs::copy_options::overwrite_existing);
  }
  EXPECT_EQ(http::testing::PresentedCommonName(node_port), "node-2");  // read on reload only
  ASSERT_OK(provider.ReloadTls());
  EXPECT_EQ(http::testing::PresentedCommonName(node_port), "node-2-renewed");

  // The inquirer's client certificate for the hub, half-written: refused, naming the file.
  server::IntermediateServer& inquirer = *net_->server_in_process(0);
  const std::string key_file = net_->Path("pki/" + kCityA.str() + ".key");
  const std::string saved_key = [&] {
    std::ifstream in(key_file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }();
  std::ofstream(key_file, std::ios::trunc) << "-----BEGIN PRIVATE KEY-----\n";
  EXPECT_THAT(inquirer.ReloadTls(), StatusIs(StatusCode::kInvalidArgument,
                                             AllOf(HasSubstr(kCityA.str() + ".key"),
                                                   HasSubstr("the previous files stay in use"))));

  // Linkage goes on: the inquirer's client keeps its loaded certificate, and the hub delivers
  // to the provider's renewed node certificate (it trusts the CA, not one certificate).
  const http::Response imported =
      Call(kCityB, "POST", "/api/v1/replica/imports?tm=TM00000000000002", TaxCsv(), "text/csv");
  ASSERT_EQ(imported.status, 201) << imported.body;
  const std::string id = PostInquiry({{"atena_no", Atena(100 + kPerson)},
                                      {"procedure", "JT90000000000101"},
                                      {"tm", "TM00000000000002"},
                                      {"provider", kCityB.str()},
                                      {"query", {{"IT00000200000001", "2026"}}}});
  ASSERT_FALSE(id.empty());
  const json done = WaitForState(id, {"completed", "refused", "failed", "expired"});
  EXPECT_EQ(done.value("state", ""), "completed") << done.dump();
  std::ofstream(key_file, std::ios::trunc | std::ios::binary) << saved_key;
  EXPECT_OK(inquirer.ReloadTls());
}

// Master-key rotation with linkage running (issue 14): `chukan key rotate-master` on the
// provider's platform while inquiries are answered. Every inquiry completes, before, during and
// after; the server is not told and needs nothing (it reads the master key's file at each use).
TEST_F(InProcessNetworkTest, MasterKeyRotatedWhileLinkageRunsNeedsNoRestart) {
  const http::Response imported =
      Call(kCityB, "POST", "/api/v1/replica/imports?tm=TM00000000000002", TaxCsv(), "text/csv");
  ASSERT_EQ(imported.status, 201) << imported.body;
  const json inquiry = {{"atena_no", Atena(100 + kPerson)},
                        {"procedure", "JT90000000000101"},
                        {"tm", "TM00000000000002"},
                        {"provider", kCityB.str()},
                        {"query", {{"IT00000200000001", "2026"}}}};
  ASSERT_OK_AND_ASSIGN(server::ServerConfig config,
                       server::LoadServerConfig(net_->server_config(1)));
  const std::string master_file = config.master_key_file();
  auto slurp = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  const std::string before = slurp(master_file);
  ASSERT_EQ(before.size(), 65u);

  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(PostInquiry(inquiry));
  ASSERT_OK_AND_ASSIGN(
      std::string out,
      cli::RunCommand(CHUKAN_BINARY, {"key", "rotate-master", "--config", net_->server_config(1)},
                      dir_.File("rotate.err")));
  EXPECT_THAT(out, HasSubstr("KEK files rewrapped: 1, already done: 0"));
  for (int i = 0; i < 4; ++i) ids.push_back(PostInquiry(inquiry));
  for (const std::string& id : ids) {
    ASSERT_FALSE(id.empty());
    const json done = WaitForState(id, {"completed", "refused", "failed", "expired"});
    EXPECT_EQ(done.value("state", ""), "completed") << done.dump();
  }
  const std::string after = slurp(master_file);
  EXPECT_EQ(after.size(), 65u);
  EXPECT_NE(after, before);
  EXPECT_FALSE(std::filesystem::exists(master_file + ".next"));
}

// The data-key rotation (データ鍵の更新) of both cities with linkage running (issue 14): each
// operator runs `chukan tenant rotate-data-key` (its own process) beside the running servers
// while inquiries flow; the servers load the new key, re-encrypt in the background and finish
// by themselves once kDataKeyFinishGrace has passed on the (fake) clock. Every inquiry — before,
// during and after — completes with the provider's value, and the results of all of them are
// read again at the end, under the new key alone.
void InProcessNetworkTest::RotateDataKeysWhileLinkageRuns() {
  constexpr int kPeople = 12'000;  // city B's replica: 12,000 rows, more than one pass (10,000)
  constexpr long long kIncomeBase = 700'000'000;
  const std::string income = std::to_string(kIncomeBase + kPerson);
  const http::Response imported =
      Call(kCityB, "POST", "/api/v1/replica/imports?tm=TM00000000000002",
           chukan::testing::TaxCsv(kPeople, kIncomeBase), "text/csv");
  ASSERT_EQ(imported.status, 201) << imported.body;
  ASSERT_EQ(json::parse(imported.body).value("inserted", 0), kPeople);
  const json inquiry = {{"atena_no", Atena(100 + kPerson)},
                        {"procedure", "JT90000000000101"},
                        {"tm", "TM00000000000002"},
                        {"provider", kCityB.str()},
                        {"query", {{"IT00000200000001", "2026"}}}};
  auto completed = [&](const std::string& id) {
    const json done = WaitForState(id, {"completed", "refused", "failed", "expired"});
    EXPECT_EQ(done.value("state", ""), "completed") << done.dump();
    const json& records = done["result"]["records"];
    EXPECT_EQ(records.size(), 1u) << done.dump();
    if (records.size() == 1) {
      EXPECT_EQ(records[0].value("IT00000200000004", ""), income);
    }
  };
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(PostInquiry(inquiry));
  for (const std::string& id : ids) completed(id);  // results stored under the old key

  // Two more in flight, then the operators start the rotations.
  for (int i = 0; i < 2; ++i) ids.push_back(PostInquiry(inquiry));
  const OrgCode orgs[] = {kCityA, kCityB};
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string out,
                         cli::RunCommand(CHUKAN_BINARY,
                                         {"tenant", "rotate-data-key", "--config",
                                          net_->server_config(i), "--org", orgs[i].str()},
                                         dir_.File("rotate.err")));
    EXPECT_THAT(out, HasSubstr("data-key rotation started: v2"));
  }
  auto state = [&](int i) {
    return net_->server_in_process(i)->platform().GetDataKeyState(orgs[i]).value();
  };
  auto progress = [&](int i) {
    server::Platform& p = net_->server_in_process(i)->platform();
    auto ctx = p.Tenant(TenantId::ForOrg(orgs[i])).value();
    return server::ReadRekeyStatus(*ctx->db, state(i).version).value();
  };
  // Linkage goes on while the servers re-encrypt (20 × 500 rows a second): an inquiry at a
  // time, until both have re-encrypted every row.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int during = 0;
  while (!(progress(0).all_columns_done() && progress(1).all_columns_done())) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "re-encryption did not end";
    ids.push_back(PostInquiry(inquiry));
    completed(ids.back());
    ++during;
  }
  EXPECT_GE(during, 1);
  EXPECT_GE(progress(1).rows_done(), kPeople);
  // Re-encrypted, but the old keys stay until the grace period has passed on the servers'
  // clock (the command wrote its start on the real clock, which the fake one lags behind).
  int64_t finish_at_us = 0;
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(state(i).rotating);
    finish_at_us = std::max(finish_at_us, server::DataKeyFinishAtUs(state(i).started_at_us));
  }
  for (int i = 0; i < 2; ++i) ids.push_back(PostInquiry(inquiry));  // sealed under v2 only
  clock_.Set(FromUnixMicros(finish_at_us));
  // The servers finish by themselves (the rekeyer runs every second); linkage goes on.
  while (state(0).rotating || state(1).rotating) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the rotation did not finish";
    ids.push_back(PostInquiry(inquiry));
    completed(ids.back());
  }
  for (int i = 0; i < 2; ++i) ids.push_back(PostInquiry(inquiry));
  // Every inquiry, old and new, completed with the value; all read again under v2 alone.
  for (const std::string& id : ids) completed(id);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(state(i).version, 2);
    server::Platform& p = net_->server_in_process(i)->platform();
    auto ctx = p.Tenant(TenantId::ForOrg(orgs[i])).value();
    EXPECT_FALSE(ctx->data_keys->Snapshot()->has_previous());
    EXPECT_EQ(*server::CountNotUnderCurrentKey(*ctx), 0);
    EXPECT_TRUE(progress(i).finished);
  }
  EXPECT_GE(ids.size(), 12u);
}

TEST_F(InProcessNetworkTest, DataKeysRotatedWhileLinkageRuns) { RotateDataKeysWhileLinkageRuns(); }

// The same with the hub and both servers on PostgreSQL (scripts/with-postgres).
class InProcessNetworkPostgresTest : public InProcessNetworkTest {
 protected:
  void SetUp() override {
    const char* dsn = std::getenv("CHUKAN_TEST_PG_DSN");
    if (dsn == nullptr || *dsn == '\0') {
      if (std::getenv("CI") != nullptr) FAIL() << "CHUKAN_TEST_PG_DSN is not set under CI";
      GTEST_SKIP() << "needs CHUKAN_TEST_PG_DSN (scripts/with-postgres)";
    }
    dsn_ = dsn;
    prefix_ = "cipn_" + store::testing::RandomSuffix();
    InProcessNetworkTest::SetUp();
  }
  void TearDown() override {
    net_.reset();
    if (!prefix_.empty()) store::testing::DropPgNamespace(dsn_, prefix_);
  }
  void Configure(cli::LocalNetworkOptions& o) override {
    o.pg_dsn = dsn_;
    o.pg_prefix = prefix_;
  }
  std::string dsn_;
  std::string prefix_;
};

TEST_F(InProcessNetworkPostgresTest, DataKeysRotatedWhileLinkageRuns) {
  RotateDataKeysWhileLinkageRuns();
}

TEST_F(InProcessNetworkTest, UnansweredInquiryExpiresWhenTheFakeClockPassesItsTimeout) {
  const http::Response imported =
      Call(kCityB, "POST", "/api/v1/replica/imports?tm=TM90000000000102", WelfareCsv(), "text/csv");
  ASSERT_EQ(imported.status, 201) << imported.body;
  const std::string id = PostInquiry({{"atena_no", Atena(100 + kPerson)},
                                      {"procedure", "JT90000000000402"},
                                      {"tm", "TM90000000000102"},
                                      {"provider", kCityB.str()}});
  ASSERT_FALSE(id.empty());
  // The hub permitted it; city B holds the answer for a staff approval that never comes.
  ASSERT_EQ(WaitForState(id, {"permitted", "completed", "refused"}).value("state", ""),
            "permitted");
  server::LinkageService* linkage = net_->server_in_process(0)->linkage();
  ASSERT_NE(linkage, nullptr);
  const TenantId tenant = TenantId::ForOrg(kCityA);

  // One second before its deadline on the fake clock: still waiting.
  clock_.Advance(std::chrono::seconds(kInquiryTimeoutSeconds - 1));
  ASSERT_OK_AND_ASSIGN(server::LinkageSweep early, linkage->Sweep(tenant));
  EXPECT_EQ(early.expired, 0);
  EXPECT_EQ(GetInquiry(id).value("state", ""), "permitted");

  // Past it: the sweep ends it (this one, or the server's own sweep that ran meanwhile).
  clock_.Advance(std::chrono::seconds(2));
  ASSERT_OK(linkage->Sweep(tenant).status());
  const json expired = GetInquiry(id);
  EXPECT_EQ(expired.value("state", ""), "expired") << expired.dump();
  EXPECT_EQ(expired.value("reason", ""), "NO_ANSWER");
  EXPECT_TRUE(expired["result"].is_null()) << expired.dump();
}

// An answer that waited for approval (自動応答不可) goes from the approver's decision to the
// provider's running pump in memory, unclaimed; a decision taken after the server stopped adds
// its answer pending, for the next start's pump to claim (none leased by the stopped one).
TEST_F(InProcessNetworkTest, AnApprovedAnswerIsHandedToThePumpAndOneApprovedAfterStopWaitsPending) {
  const http::Response imported =
      Call(kCityB, "POST", "/api/v1/replica/imports?tm=TM90000000000102", WelfareCsv(), "text/csv");
  ASSERT_EQ(imported.status, 201) << imported.body;
  const json inquiry = {{"atena_no", Atena(100 + kPerson)},
                        {"procedure", "JT90000000000402"},
                        {"tm", "TM90000000000102"},
                        {"provider", kCityB.str()}};
  const std::string first = PostInquiry(inquiry);
  const std::string second = PostInquiry(inquiry);
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  ASSERT_EQ(WaitForState(first, {"permitted", "completed", "refused"}).value("state", ""),
            "permitted");
  ASSERT_EQ(WaitForState(second, {"permitted", "completed", "refused"}).value("state", ""),
            "permitted");
  // Both answers wait at city B: nothing was queued for them, so nothing handed over.
  const store::OutboxPump& provider = net_->server_in_process(1)->sender()->pump();
  EXPECT_EQ(provider.stats().handed, 0);
  std::vector<std::string> permits;
  for (int i = 0; i < 500 && permits.size() < 2; ++i) {
    permits.clear();
    const Result<http::Response> list =
        net_->Call(kCityB, Role::kApprover, "GET", "/api/v1/approvals", "", "application/json");
    ASSERT_OK(list.status());
    ASSERT_EQ(list->status, 200) << list->body;
    const json body = json::parse(list->body);
    for (const json& a : body["approvals"]) permits.push_back(a["permit_id"]);
    if (permits.size() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(permits.size(), 2u);

  const Result<http::Response> approved =
      net_->Call(kCityB, Role::kApprover, "POST", "/api/v1/approvals/" + permits[0],
                 R"({"decision":"approve"})", "application/json");
  ASSERT_OK(approved.status());
  ASSERT_EQ(approved->status, 200) << approved->body;
  // Whichever of the two that permit was for completes; the other still waits.
  std::string states;
  for (int i = 0; i < 1500; ++i) {
    states = GetInquiry(first).value("state", "") + " " + GetInquiry(second).value("state", "");
    if (states != "permitted permitted") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_THAT(states, ::testing::AnyOf("completed permitted", "permitted completed"));
  EXPECT_EQ(provider.stats().handed, 1);
  EXPECT_EQ(provider.stats().claimed, 0);

  server::IntermediateServer* b = net_->server_in_process(1);
  b->Stop();
  const TenantId tenant = TenantId::ForOrg(kCityB);
  ASSERT_OK(b->linkage()->DecideApproval(tenant, PermitId::Parse(permits[1]).value(), true, "",
                                         "staff:test"));
  ASSERT_OK_AND_ASSIGN(std::vector<store::OutboxItem> waiting,
                       b->linkage()->ClaimOutbox(tenant, "probe", 10, std::chrono::seconds(30)));
  ASSERT_EQ(waiting.size(), 1u);  // pending, so claimable: not leased by the stopped pump
  EXPECT_EQ(waiting[0].dedupe_key, permits[1]);
  EXPECT_EQ(waiting[0].attempts, 1);  // this claim's
  EXPECT_EQ(provider.stats().handed, 1);
}

// Several nodes sharing one store sweep once: only the node holding the "server.sweep" lease
// expires inquiries. Another node (here a foreign owner of the lease) holds it first: the
// server's own sweeps leave the overdue inquiry alone; once that node steps down, the server
// takes the lease over and expires it.
TEST_F(InProcessNetworkTest, OnlyTheNodeLeadingTheSweepsExpiresInquiries) {
  const http::Response imported =
      Call(kCityB, "POST", "/api/v1/replica/imports?tm=TM90000000000102", WelfareCsv(), "text/csv");
  ASSERT_EQ(imported.status, 201) << imported.body;
  const std::string id = PostInquiry({{"atena_no", Atena(100 + kPerson)},
                                      {"procedure", "JT90000000000402"},
                                      {"tm", "TM90000000000102"},
                                      {"provider", kCityB.str()}});
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(WaitForState(id, {"permitted", "completed", "refused"}).value("state", ""),
            "permitted");
  server::Platform& platform = net_->server_in_process(0)->platform();
  // The server has led the sweeps since it started; its lease runs 15 s on the fake clock.
  ASSERT_OK_AND_ASSIGN(std::optional<store::NodeLease> mine,
                       store::ReadNodeLease(*platform.store().Platform().value(), "server.sweep"));
  ASSERT_TRUE(mine.has_value());
  EXPECT_THAT(mine->owner, ::testing::StartsWith("server:"));
  // Once it has run out, another node takes it (the server renews every second: retry).
  bool taken = false;
  for (int i = 0; i < 50 && !taken; ++i) {
    clock_.Advance(std::chrono::seconds(16));
    ASSERT_OK_AND_ASSIGN(taken,
                         platform.LeadJob("server.sweep", "other-node:1", std::chrono::hours(2)));
  }
  ASSERT_TRUE(taken);
  clock_.Advance(std::chrono::seconds(kInquiryTimeoutSeconds + 1));
  // Three rounds of the server's housekeeping: the inquiry is overdue but not its to expire.
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  EXPECT_EQ(GetInquiry(id).value("state", ""), "permitted");
  ASSERT_OK(platform.StepDown("server.sweep", "other-node:1"));
  const json expired = WaitForState(id, {"expired"});
  EXPECT_EQ(expired.value("state", ""), "expired") << expired.dump();
  ASSERT_OK_AND_ASSIGN(mine,
                       store::ReadNodeLease(*platform.store().Platform().value(), "server.sweep"));
  ASSERT_TRUE(mine.has_value());
  EXPECT_THAT(mine->owner, ::testing::StartsWith("server:"));
}

// Two live nodes with one [server] instance name would release each other's outbox leases: the
// probe finds the name held by another live node, and /readyz keeps the balancer away from this
// one (503, with the reason) until the name is free again.
TEST_F(InProcessNetworkTest, ANodeWhoseInstanceNameAnotherLiveNodeHoldsIsNotReady) {
  server::Platform& platform = net_->server_in_process(0)->platform();
  auto ready = [&] {
    const http::Response r = Call(kCityA, "GET", "/readyz");
    return r;
  };
  EXPECT_EQ(ready().status, 200);
  // Another node with the same name takes the name once this node's lease ran out (the probe
  // renews it every second: retry).
  bool taken = false;
  for (int i = 0; i < 50 && !taken; ++i) {
    clock_.Advance(std::chrono::seconds(16));
    ASSERT_OK_AND_ASSIGN(taken,
                         platform.LeadJob("node:server", "server:other", std::chrono::hours(1)));
  }
  ASSERT_TRUE(taken);
  http::Response r;
  for (int i = 0; i < 100; ++i) {  // the probe's next round (every second)
    r = ready();
    if (r.status == 503) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(r.body, HasSubstr("another running node uses [server] instance \\\"server\\\""));
  ASSERT_OK(platform.StepDown("node:server", "server:other"));
  for (int i = 0; i < 100; ++i) {
    r = ready();
    if (r.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(r.status, 200) << r.body;
}

// What `chukan server` and `chukan hub` print when they cannot start: the step in both
// languages, then the cause with its own code.
TEST(InProcessCreateTest, ErrorsNameTheFailedStep) {
  TempDir dir;
  const std::string expected =
      "データ標準レイアウトが不正です / the data standard layout is broken: NOT_FOUND: " +
      dir.File("no-layout") + ": layout catalogue directory not found";
  server::ServerConfig sc;
  sc.store.data_dir = dir.File("server");
  sc.layout_dir = dir.File("no-layout");
  EXPECT_THAT(server::IntermediateServer::Create(sc), StatusIs(StatusCode::kNotFound, expected));
  hub::HubConfig hc;
  hc.store.data_dir = dir.File("hub");
  hc.keys_dir = dir.File("hub/keys");
  hc.layout_dir = dir.File("no-layout");
  EXPECT_THAT(hub::HubProcess::Create(hc), StatusIs(StatusCode::kNotFound, expected));
}

}  // namespace
}  // namespace chukan::testing
