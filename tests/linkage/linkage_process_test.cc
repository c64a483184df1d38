// Over 600 lines: every linkage scenario through real processes (hub + two servers on loopback,
// one shared network setup per suite): inquiries, batches, approvals, refusals, expiry, kill -9
// recovery, records. Splitting it would start the network once per file.
//
// The linkage end to end with real processes: a hub (`chukan hub`) and two intermediate servers
// (`chukan server`) on loopback over mutual TLS, driven through the servers' /api/v1 API as an
// existing business system would (cli::LocalNetwork). Server 1 hosts city A and an insurer,
// server 2 hosts city B, the provider in these tests.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "cli/local_network.h"
#include "common/status_matchers.h"
#include "common/test_util.h"
#include "crypto/bytes.h"
#include "crypto/ed25519.h"
#include "crypto/hash.h"
#include "crypto/key_file.h"
#include "crypto/sealed_box.h"
#include "http/api_util.h"
#include "http/client.h"
#include "linkage/envelope.h"
#include "linkage/permit.h"
#include "server/platform.h"
#include "server/server_config.h"
#include "test_people.h"

namespace chukan::testing {
namespace {

using cli::LocalNetwork;
using Role = cli::LocalNetwork::Role;
using ::testing::HasSubstr;
using json = nlohmann::json;

const OrgCode kCityA = OrgCode::Parse("0000000000000041").value();
const OrgCode kCityB = OrgCode::Parse("0000000000000042").value();
const OrgCode kInsurer = OrgCode::Parse("0000000000000043").value();

constexpr int kPeople = 40;

// The provider's taxable income of a person: a marker that is searched for in the hub's files.
std::string Income(int person) { return std::to_string(918273000 + person); }

// 地方税関係情報 for people 1..kPeople at city B (atena_no = person number).
std::string TaxCsv() { return ::chukan::testing::TaxCsv(kPeople, 918273000); }

// 生活保護関係情報 (自動応答不可 items) for person 7.
std::string WelfareCsv() {
  std::string f = "atena_no";
  for (int i = 1; i <= 11; ++i) {
    char code[24];
    std::snprintf(code, sizeof(code), ",IT000102000000%02d", i);
    f += code;
  }
  return f + "\n" + Atena(7) + ",2023-04-01,1,,,1,1,1,0,123456,30000,2\n";
}

std::string ReadTree(const std::string& dir) {
  std::string all;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    all += ss.str();
  }
  return all;
}

class LinkageProcessTest : public ::testing::Test {
 protected:
  void StartNetwork(int64_t result_days = 30, const std::string& pg_dsn = "",
                    int64_t approval_permit_seconds = 0, int64_t inquiry_timeout_seconds = 3600) {
    cli::LocalNetworkOptions o;
    o.binary = CHUKAN_BINARY;
    o.workdir = dir_.path();
    o.layout_dir = CHUKAN_LAYOUT_DIR;
    o.permissions_file = CHUKAN_PERMISSIONS_FILE;
    o.servers = 2;
    o.result_days = result_days;
    o.pg_dsn = pg_dsn;
    o.approval_permit_seconds = approval_permit_seconds;
    o.inquiry_timeout_seconds = inquiry_timeout_seconds;
    o.pg_prefix = "lnk" + std::to_string(std::random_device{}() % 1'000'000'000u);
    o.orgs = {{kCityA, "city-a", "municipality", 0, ""},
              {kInsurer, "insurer", "insurer", 0, ""},
              {kCityB, "city-b", "municipality", 1, "13101"}};  // 地方公共団体コード 131016
    ASSERT_OK_AND_ASSIGN(net_, LocalNetwork::Start(o));
    ASSERT_OK(net_->WaitForPermissionLists(std::chrono::seconds(30)));
    // The provider's replicas and codes; the same people known to city A (atena 100+p) and to
    // the insurer (atena 500+p).
    ASSERT_EQ(
        Call(kCityB, "POST", "/api/v1/replica/imports?tm=TM00000000000002", TaxCsv(), "text/csv")
            .status,
        201);
    ASSERT_EQ(Call(kCityB, "POST", "/api/v1/replica/imports?tm=TM90000000000102", WelfareCsv(),
                   "text/csv")
                  .status,
              201);
    std::string pairs_b, pairs_a;
    for (int p = 1; p <= kPeople; ++p) {
      pairs_b += Atena(p) + "," + Resident(p) + "\n";
      pairs_a += Atena(100 + p) + "," + Resident(p) + "\r\n";
    }
    http::Response b = Call(kCityB, "POST", "/api/v1/codes/bulk", pairs_b, "text/csv");
    ASSERT_EQ(b.status, 200) << b.body;
    EXPECT_EQ(json::parse(b.body)["registered"], kPeople);
    http::Response a = Call(kCityA, "POST", "/api/v1/codes/bulk", pairs_a, "text/csv");
    ASSERT_EQ(a.status, 200) << a.body;
    http::Response i = Call(kInsurer, "POST", "/api/v1/codes",
                            json{{"atena_no", Atena(507)}, {"resident_id", Resident(7)}}.dump());
    ASSERT_EQ(i.status, 200) << i.body;
  }

  http::Response Call(const OrgCode& org, const std::string& method, const std::string& path,
                      std::string body = "", std::string_view type = "application/json",
                      Role role = Role::kSystem) {
    Result<http::Response> r = net_->Call(org, role, method, path, std::move(body), type);
    EXPECT_OK(r);
    return r.ok() ? *r : http::Response{};
  }

  // Creates an inquiry; returns its id (the test fails if it is not accepted).
  std::string Inquire(const OrgCode& org, json body) {
    http::Response r = Call(org, "POST", "/api/v1/inquiries", body.dump());
    EXPECT_EQ(r.status, 202) << r.body;
    json j = json::parse(r.body, nullptr, false);
    EXPECT_EQ(j.value("state", ""), "accepted") << r.body;
    return j.value("inquiry_id", "");
  }

  json TaxInquiry(int person, const std::string& key = "") {
    json j = {{"atena_no", Atena(100 + person)},
              {"procedure", "JT90000000000101"},
              {"tm", "TM00000000000002"},
              {"provider", kCityB.str()},
              {"query", {{"IT00000200000001", "2026"}}}};
    if (!key.empty()) j["idempotency_key"] = key;
    return j;
  }

  json WaitFor(const OrgCode& org, const std::string& id, std::set<std::string> states,
               std::chrono::seconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    json j;
    while (std::chrono::steady_clock::now() < deadline) {
      http::Response r = Call(org, "GET", "/api/v1/inquiries/" + id);
      j = json::parse(r.body, nullptr, false);
      if (r.status == 200 && states.count(j.value("state", ""))) return j;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "inquiry " << id << " did not reach the expected state: " << j.dump();
    return j;
  }

  // City B's approval queue as its approver sees it, polled until it holds `n` items (or
  // 10 s pass; the caller asserts the size).
  json ApprovalsAtCityB(size_t n, std::chrono::milliseconds within = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    json approvals;
    while (true) {
      http::Response r = Call(kCityB, "GET", "/api/v1/approvals", "", "", Role::kApprover);
      EXPECT_EQ(r.status, 200) << r.body;
      approvals = json::parse(r.body, nullptr, false)["approvals"];
      if (approvals.size() == n || std::chrono::steady_clock::now() > deadline) return approvals;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // City B's staff decide an approval: the HTTP status.
  int Decide(const std::string& permit_id, const std::string& decision = "approve") {
    return Call(kCityB, "POST", "/api/v1/approvals/" + permit_id,
                json{{"decision", decision}}.dump(), "", Role::kApprover)
        .status;
  }

  // A client that presents `org`'s certificate to the hub.
  std::unique_ptr<http::Client> AsOrg(const OrgCode& org) {
    http::ClientOptions co;
    co.ca_file = net_->Path("pki/ca.crt");
    co.cert_file = net_->Path("pki/" + org.str() + ".crt");
    co.key_file = net_->Path("pki/" + org.str() + ".key");
    auto c = http::Client::Create(co);
    EXPECT_OK(c);
    return c.ok() ? std::move(*c) : nullptr;
  }

  // The hub's records of provision as `org` sees them (its own only).
  json HubRecords(const OrgCode& org) {
    std::unique_ptr<http::Client> client = AsOrg(org);
    json all = json::array();
    int64_t after = 0;
    while (true) {
      auto r = client->Send(
          {"GET",
           net_->HubUrl() + "/hub/v1/records?limit=1000&after=" + std::to_string(after),
           {},
           ""});
      EXPECT_OK(r);
      if (!r.ok() || r->status != 200) break;
      json page = json::parse(r->body);
      for (auto& rec : page["records"]) all.push_back(rec);
      if (page["records"].empty()) break;
      after = page["next_after"].get<int64_t>();
    }
    return all;
  }

  // POSTs {"items":[…]} to `url` and returns the per-item results ({"status":…,"body":…}).
  static json PostBatch(http::Client& client, const std::string& url,
                        const std::vector<std::string>& items) {
    auto r = client.Send({"POST", url, {}, http::BatchRequestJson(items)});
    EXPECT_OK(r);
    if (!r.ok()) return json::array();
    EXPECT_EQ(r->status, 200) << r->body;
    json results = json::parse(r->body)["results"];
    EXPECT_EQ(results.size(), items.size());
    return results;
  }

  // Each result of a batch has the expected status, and its body names the expected text.
  static void ExpectResults(const json& each,
                            const std::vector<std::pair<int, std::string>>& expected) {
    ASSERT_EQ(each.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(each[i]["status"], expected[i].first) << i << ": " << each[i].dump();
      EXPECT_THAT(each[i]["body"].dump(), HasSubstr(expected[i].second)) << i;
    }
  }

  // A client that presents the hub's certificate to a server's node endpoint.
  std::unique_ptr<http::Client> AsHub() {
    http::ClientOptions co;
    co.ca_file = net_->Path("pki/ca.crt");
    co.cert_file = net_->Path("pki/hub.crt");
    co.key_file = net_->Path("pki/hub.key");
    auto c = http::Client::Create(co);
    EXPECT_OK(c);
    return c.ok() ? std::move(*c) : nullptr;
  }
  crypto::SigningKey HubKey() {
    auto seed =
        crypto::LoadOrCreateKeyFile(net_->Path("hub/state/keys/hub-signing.key"), 32, false);
    EXPECT_OK(seed);
    return crypto::SigningKey::FromSeed(*seed).value();
  }
  std::string NodeUrl(int server) {
    for (const std::string& line : net_->server(server)->lines()) {
      const size_t at = line.find("https://127.0.0.1:");
      if (line.find("node endpoint") != std::string::npos && at != std::string::npos) {
        return line.substr(at);
      }
    }
    ADD_FAILURE() << "no node endpoint";
    return "";
  }

  TempDir dir_;
  std::unique_ptr<LocalNetwork> net_;
};

TEST_F(LinkageProcessTest, AnswerEqualsTheProvidersReplicaAndTheHubNeverSeesIt) {
  StartNetwork();
  const std::string id = Inquire(kCityA, TaxInquiry(7, "key-7"));
  // The same idempotency key gives the same inquiry (in whatever state it has reached).
  http::Response again = Call(kCityA, "POST", "/api/v1/inquiries", TaxInquiry(7, "key-7").dump());
  EXPECT_EQ(again.status, 202);
  EXPECT_EQ(json::parse(again.body)["inquiry_id"], id);
  // The same key for another request is refused, naming why.
  http::Response reused = Call(kCityA, "POST", "/api/v1/inquiries", TaxInquiry(8, "key-7").dump());
  EXPECT_EQ(reused.status, 409);
  EXPECT_THAT(reused.body, HasSubstr("IDEMPOTENCY_KEY_REUSED"));
  json done = WaitFor(kCityA, id, {"completed", "refused", "failed", "expired"});
  ASSERT_EQ(done["state"], "completed") << done.dump();
  EXPECT_EQ(done["provider"], kCityB.str());
  EXPECT_EQ(done["tm"], "TM00000000000002");
  EXPECT_EQ(done["result"]["status"], "ok");
  EXPECT_FALSE(done["permitted_at"].is_null());
  EXPECT_FALSE(done["ended_at"].is_null());

  // Field by field, the answer is the provider's replica of person 7.
  http::Response view =
      Call(kCityB, "GET", "/api/v1/replica/records?atena_no=" + Atena(7) + "&tm=TM00000000000002");
  ASSERT_EQ(view.status, 200);
  json held = json::parse(view.body)["records"];
  ASSERT_EQ(held.size(), 1u);
  ASSERT_EQ(done["result"]["records"].size(), 1u);
  const json& got = done["result"]["records"][0];
  size_t compared = 0;
  for (const json& item : held[0]["items"]) {
    const std::string code = item["code"], value = item["value"];
    if (value.empty()) {
      EXPECT_FALSE(got.contains(code)) << code;
    } else {
      ASSERT_TRUE(got.contains(code)) << code;
      EXPECT_EQ(got[code], value) << code;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 15u);
  EXPECT_EQ(got.size(), compared);
  EXPECT_EQ(got["IT00000200000004"], Income(7));

  // The listing shows it, without the result.
  http::Response list = Call(kCityA, "GET", "/api/v1/inquiries?state=completed");
  ASSERT_EQ(list.status, 200);
  json l = json::parse(list.body)["inquiries"];
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0]["inquiry_id"], id);
  EXPECT_FALSE(l[0].contains("result"));

  // Each side's own records of provision (情報提供等記録), for any of its tokens.
  http::Response mine = Call(kCityA, "GET", "/api/v1/records", "", "", Role::kApprover);
  ASSERT_EQ(mine.status, 200) << mine.body;
  json a_own = json::parse(mine.body)["records"];
  ASSERT_EQ(a_own.size(), 1u);
  EXPECT_EQ(a_own[0]["role"], "inquirer");
  EXPECT_EQ(a_own[0]["id"], id);
  EXPECT_EQ(a_own[0]["counterpart"], kCityB.str());
  EXPECT_EQ(a_own[0]["state"], "completed");
  json b_own = json::parse(Call(kCityB, "GET", "/api/v1/records").body)["records"];
  ASSERT_EQ(b_own.size(), 1u);
  EXPECT_EQ(b_own[0]["role"], "provider");
  EXPECT_EQ(b_own[0]["permit_id"], done["permit_id"]);
  EXPECT_EQ(b_own[0]["counterpart"], kCityA.str());
  EXPECT_EQ(b_own[0]["state"], "answered");
  EXPECT_NE(b_own[0]["subject_code"], a_own[0]["subject_code"]);  // each side's own code
  EXPECT_EQ(Call(kCityB, "GET", "/api/v1/records?limit=0").status, 400);
  EXPECT_TRUE(json::parse(Call(kInsurer, "GET", "/api/v1/records").body)["records"].empty());

  // The hub recorded one provision on each side; it never held the answer, nor the resident id,
  // in its database, its WAL or its log. Neither did the inquirer's server in plaintext.
  json a_records = HubRecords(kCityA);
  ASSERT_EQ(a_records.size(), 1u);
  EXPECT_EQ(a_records[0]["outcome"], "provided");
  EXPECT_EQ(a_records[0]["reference"], id);
  ASSERT_EQ(net_->StopAll(), 0);
  const std::string hub = ReadTree(net_->hub_dir());
  const std::string inquirer = ReadTree(net_->server_dir(0));
  ASSERT_GT(hub.size(), 10'000u);
  for (const std::string& marker : {Income(7), Resident(7), std::string("IT00000200000005")}) {
    EXPECT_EQ(hub.find(marker), std::string::npos) << marker;
    EXPECT_EQ(inquirer.find(marker), std::string::npos) << marker;
  }
}

TEST_F(LinkageProcessTest, ApprovalQueueShowsTheAnswerAndOnlyAnApproverDecides) {
  StartNetwork();
  json welfare = {{"atena_no", Atena(107)},
                  {"procedure", "JT90000000000402"},
                  {"tm", "TM90000000000102"},
                  {"provider", kCityB.str()}};
  const std::string approved = Inquire(kCityA, welfare);
  const std::string rejected = Inquire(kCityA, welfare);
  WaitFor(kCityA, approved, {"permitted"});
  WaitFor(kCityA, rejected, {"permitted"});
  json approvals = ApprovalsAtCityB(2);
  ASSERT_EQ(approvals.size(), 2u);
  json answer = json::parse(approvals[0]["answer_json"].get<std::string>());
  EXPECT_EQ(answer["records"][0]["IT00010200000009"], "123456");
  EXPECT_EQ(approvals[0]["inquirer"], kCityA.str());

  // A system token cannot see or decide; an approver can.
  EXPECT_EQ(Call(kCityB, "GET", "/api/v1/approvals").status, 403);
  const std::string first = approvals[0]["permit_id"], second = approvals[1]["permit_id"];
  EXPECT_EQ(Call(kCityB, "POST", "/api/v1/approvals/" + first, R"({"decision":"approve"})").status,
            403);
  EXPECT_EQ(Call(kCityB, "POST", "/api/v1/approvals/" + first, R"({"decision":"maybe"})", "",
                 Role::kApprover)
                .status,
            400);
  EXPECT_EQ(Call(kCityB, "POST", "/api/v1/approvals/" + first, R"({"decision":"approve"})", "",
                 Role::kApprover)
                .status,
            200);
  EXPECT_EQ(Call(kCityB, "POST", "/api/v1/approvals/" + second,
                 R"({"decision":"reject","comment":"本人確認が取れないため"})", "", Role::kApprover)
                .status,
            200);
  // Deciding twice: nothing awaits any more.
  EXPECT_EQ(Call(kCityB, "POST", "/api/v1/approvals/" + first, R"({"decision":"approve"})", "",
                 Role::kApprover)
                .status,
            404);

  // Which inquiry got which permit is the hub's business; the outcomes are one of each.
  std::multiset<std::string> outcomes;
  for (const std::string& id : {approved, rejected}) {
    json j = WaitFor(kCityA, id, {"completed", "refused"});
    outcomes.insert(j.value("state", "") + "/" + j.value("reason", ""));
    if (j["state"] == "completed") {
      EXPECT_EQ(j["result"]["records"][0]["IT00010200000009"], "123456");
    }
  }
  EXPECT_THAT(outcomes, ::testing::ElementsAre("completed/", "refused/PROVIDER_REJECTED"));
}

// Issue 11, defect 4: long polls hold no thread. Before, each wait held one of the server's 64
// handler threads, so 64 waits of one tenant made another tenant's simple GET take 18 s. Now
// 80 concurrent waits of city A — 16 park (the per-client limit), the rest get 429 with
// Retry-After at once — leave the insurer (another tenant of the same server) answered at once,
// and the parked waits end as soon as the inquiry does.
TEST_F(LinkageProcessTest, LongPollsOfOneTenantDoNotSlowAnother) {
  StartNetwork();
  json welfare = {{"atena_no", Atena(107)},
                  {"procedure", "JT90000000000402"},
                  {"tm", "TM90000000000102"},
                  {"provider", kCityB.str()}};
  const std::string id = Inquire(kCityA, welfare);
  WaitFor(kCityA, id, {"permitted"});  // it now waits for city B's approver
  std::vector<std::future<http::Response>> waits;
  for (int i = 0; i < 80; ++i) {
    waits.push_back(std::async(std::launch::async, [&] {
      return Call(kCityA, "GET", "/api/v1/inquiries/" + id + "?wait_ms=20000");
    }));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto t0 = std::chrono::steady_clock::now();
  http::Response other = Call(kInsurer, "GET", "/api/v1/linkage/status");
  EXPECT_EQ(other.status, 200) << other.body;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  // City B approves: every parked wait answers with the completed inquiry, long before 20 s.
  json approvals = ApprovalsAtCityB(1);
  ASSERT_EQ(approvals.size(), 1u);
  const auto t1 = std::chrono::steady_clock::now();
  ASSERT_EQ(Decide(approvals[0]["permit_id"].get<std::string>(), "approve"), 200);
  int completed = 0, refused = 0;
  for (auto& f : waits) {
    http::Response r = f.get();
    if (r.status == 200) {
      EXPECT_EQ(json::parse(r.body)["state"], "completed") << r.body;
      ++completed;
    } else {
      EXPECT_EQ(r.status, 429) << r.body;
      EXPECT_EQ(r.headers.Get("Retry-After").value_or(""), "1");
      ++refused;
    }
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t1, std::chrono::seconds(10));
  EXPECT_EQ(completed, 16);
  EXPECT_EQ(refused, 64);
}

TEST_F(LinkageProcessTest, RefusedByThePermissionListNeverReachesTheProvider) {
  StartNetwork();
  const std::string id = Inquire(kInsurer, {{"atena_no", Atena(507)},
                                            {"procedure", "JT90000000000402"},
                                            {"tm", "TM90000000000102"},
                                            {"provider", kCityB.str()}});
  json j = WaitFor(kInsurer, id, {"refused", "completed", "failed"});
  EXPECT_EQ(j["state"], "refused");
  EXPECT_EQ(j["reason"], "NOT_PERMITTED");
  EXPECT_TRUE(j["result"].is_null());
  json provider = HubRecords(kCityB);
  EXPECT_TRUE(provider.empty()) << provider.dump();
  json mine = HubRecords(kInsurer);
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0]["outcome"], "refused");

  // Bad requests are refused at once, naming the field.
  http::Response bad = Call(kCityA, "POST", "/api/v1/inquiries",
                            json{{"atena_no", Atena(107)},
                                 {"procedure", "JT90000000000101"},
                                 {"tm", "TM00000000000002"},
                                 {"provider", "12345"}}
                                .dump());
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("provider"));
  http::Response unknown = Call(kCityA, "POST", "/api/v1/inquiries", TaxInquiry(0).dump());
  EXPECT_EQ(unknown.status, 412);  // atena 100 has no code
  EXPECT_THAT(unknown.body, HasSubstr("register it first"));
  http::Response too_long = Call(kCityA, "POST", "/api/v1/inquiries", [&] {
    json t = TaxInquiry(7);
    t["timeout_seconds"] = 7200;
    return t.dump();
  }());
  EXPECT_EQ(too_long.status, 400);
  EXPECT_THAT(too_long.body, HasSubstr("timeout_seconds"));

  // One person under a second atena_no: refused with a plain message, not a database error.
  http::Response twice = Call(kCityA, "POST", "/api/v1/codes",
                              json{{"atena_no", Atena(199)}, {"resident_id", Resident(7)}}.dump());
  EXPECT_EQ(twice.status, 409);
  EXPECT_THAT(twice.body, HasSubstr("already registered under another atena_no"));
  EXPECT_THAT(twice.body, ::testing::Not(HasSubstr("UNIQUE")));
  // An approver's token does not reach the replicas.
  http::Response staff =
      Call(kCityB, "GET", "/api/v1/replica/export?tm=TM00000000000002", "", "", Role::kApprover);
  EXPECT_EQ(staff.status, 403);
}

TEST_F(LinkageProcessTest, UnansweredInquiriesExpireAndResultsAreDeletedAfterRetention) {
  StartNetwork(/*result_days=*/0);
  const std::string waiting = Inquire(kCityA, {{"atena_no", Atena(107)},
                                               {"procedure", "JT90000000000402"},
                                               {"tm", "TM90000000000102"},
                                               {"provider", kCityB.str()},
                                               {"timeout_seconds", 1}});
  json expired = WaitFor(kCityA, waiting, {"expired", "completed"});
  EXPECT_EQ(expired["state"], "expired");
  // An approval that comes too late does not revive it.
  http::Response r = Call(kCityB, "GET", "/api/v1/approvals", "", "", Role::kApprover);
  json approvals = json::parse(r.body)["approvals"];
  ASSERT_EQ(approvals.size(), 1u);
  ASSERT_EQ(Decide(approvals[0]["permit_id"].get<std::string>()), 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(WaitFor(kCityA, waiting, {"expired"})["state"], "expired");

  // With result_days = 0 a completed result is deleted by the next sweep (about a second).
  const std::string id = Inquire(kCityA, TaxInquiry(3));
  json done = WaitFor(kCityA, id, {"completed"});
  json gone;
  for (int i = 0; i < 300; ++i) {
    gone = json::parse(Call(kCityA, "GET", "/api/v1/inquiries/" + id).body);
    if (gone["result_deleted"] == true) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(gone["state"], "completed");
  EXPECT_EQ(gone["result_deleted"], true);
  EXPECT_TRUE(gone["result"].is_null());
}

TEST_F(LinkageProcessTest, UndecidedApprovalsExpireWithTheirPermit) {
  StartNetwork(30, "", /*approval_permit_seconds=*/10);
  const std::string id = Inquire(kCityA, {{"atena_no", Atena(107)},
                                          {"procedure", "JT90000000000402"},
                                          {"tm", "TM90000000000102"},
                                          {"provider", kCityB.str()},
                                          {"timeout_seconds", 60}});
  json approvals = ApprovalsAtCityB(1);
  ASSERT_EQ(approvals.size(), 1u);
  const std::string permit = approvals[0]["permit_id"];
  // The permit is valid for 10 s; a sweep (every second) after that drops the item.
  approvals = ApprovalsAtCityB(0, std::chrono::seconds(20));
  EXPECT_TRUE(approvals.empty());
  EXPECT_EQ(Call(kCityB, "POST", "/api/v1/approvals/" + permit, R"({"decision":"approve"})", "",
                 Role::kApprover)
                .status,
            404);
  json records = json::parse(Call(kCityB, "GET", "/api/v1/records").body)["records"];
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["permit_id"], permit);
  EXPECT_EQ(records[0]["state"], "expired");
  // The inquirer's inquiry is still waiting (its own timeout is 60 s): nothing was sent.
  EXPECT_EQ(json::parse(Call(kCityA, "GET", "/api/v1/inquiries/" + id).body)["state"], "permitted");
}

TEST_F(LinkageProcessTest, NodeEndpointRefusesForgedTamperedExpiredMisdirectedAndReplayedPermits) {
  StartNetwork();
  auto hub = AsHub();
  const crypto::SigningKey hub_key = HubKey();
  const std::string url = NodeUrl(1) + "/node/v1/provision-requests";
  // A subject code that city B knows: ask the hub as city B for person 3's code.
  http::Response code = Call(kCityB, "POST", "/api/v1/codes",
                             json{{"atena_no", Atena(3)}, {"resident_id", Resident(3)}}.dump());
  ASSERT_EQ(code.status, 200) << code.body;
  linkage::ProvisionPermit p;
  p.issued_at_ms = ToUnixMicros(SystemClock::Get().Now()) / 1000;
  p.expires_at_ms = p.issued_at_ms + 60'000;
  p.inquirer = kCityA;
  p.provider = kCityB;
  p.procedure = JtCode::Parse("JT90000000000101").value();
  p.tm = TmCode::Parse("TM00000000000002").value();
  p.layout_version = "0001";
  p.subject = SubjectCode::Parse(json::parse(code.body)["subject_code"].get<std::string>()).value();
  p.reply_key = crypto::BoxKeyPair::Generate().public_key();
  p.reference = "test-ref-1";
  auto send = [&](const linkage::SignedDocument& d) {
    auto r = hub->Send({"POST", url, {}, linkage::SignedPermitJson(d)});
    EXPECT_OK(r);
    return r.ok() ? *r : http::Response{};
  };

  // Forged: signed by another key.
  http::Response forged = send(linkage::SignPermit(p, crypto::SigningKey::Generate()));
  EXPECT_EQ(forged.status, 401);
  EXPECT_THAT(forged.body, HasSubstr("BAD_PERMIT_SIGNATURE"));
  // Tampered: the provider-side code changed after signing.
  linkage::SignedDocument tampered = linkage::SignPermit(p, hub_key);
  const size_t at = tampered.document.find(p.subject.str());
  ASSERT_NE(at, std::string::npos);
  tampered.document[at] = tampered.document[at] == 'a' ? 'b' : 'a';
  http::Response t = send(tampered);
  EXPECT_EQ(t.status, 401);
  EXPECT_THAT(t.body, HasSubstr("BAD_PERMIT_SIGNATURE"));
  // Expired.
  linkage::ProvisionPermit old = p;
  old.id = PermitId::Generate();
  old.issued_at_ms -= 3'600'000;
  old.expires_at_ms = old.issued_at_ms + 60'000;
  http::Response e = send(linkage::SignPermit(old, hub_key));
  EXPECT_EQ(e.status, 412);
  EXPECT_THAT(e.body, HasSubstr("PERMIT_EXPIRED"));
  // Misdirected: for city A, which server 2 does not host.
  linkage::ProvisionPermit wrong = p;
  wrong.id = PermitId::Generate();
  wrong.provider = kCityA;
  wrong.inquirer = kCityB;
  http::Response m = send(linkage::SignPermit(wrong, hub_key));
  EXPECT_EQ(m.status, 403);
  EXPECT_THAT(m.body, HasSubstr("MISDIRECTED_PERMIT"));
  // A good permit is answered once; its replay is refused.
  http::Response ok = send(linkage::SignPermit(p, hub_key));
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_THAT(ok.body, HasSubstr("answered"));
  http::Response replay = send(linkage::SignPermit(p, hub_key));
  EXPECT_EQ(replay.status, 409);
  EXPECT_THAT(replay.body, HasSubstr("PERMIT_ALREADY_USED"));

  // The batch route answers each item as the single route would, in order, and one bad item
  // does not spoil the others.
  linkage::ProvisionPermit fresh = p;
  fresh.id = PermitId::Generate();
  fresh.reference = "test-ref-2";
  old.id = PermitId::Generate();
  wrong.id = PermitId::Generate();
  json each =
      PostBatch(*hub, NodeUrl(1) + "/node/v1/batch/provision-requests",
                {linkage::SignedPermitJson(linkage::SignPermit(p, crypto::SigningKey::Generate())),
                 linkage::SignedPermitJson(tampered),
                 linkage::SignedPermitJson(linkage::SignPermit(old, hub_key)),
                 linkage::SignedPermitJson(linkage::SignPermit(wrong, hub_key)),
                 linkage::SignedPermitJson(linkage::SignPermit(fresh, hub_key)),
                 linkage::SignedPermitJson(linkage::SignPermit(p, hub_key)), R"({"permit":1})"});
  ExpectResults(each, {{401, "BAD_PERMIT_SIGNATURE"},
                       {401, "BAD_PERMIT_SIGNATURE"},
                       {412, "PERMIT_EXPIRED"},
                       {403, "MISDIRECTED_PERMIT"},
                       {200, "answered"},
                       {409, "PERMIT_ALREADY_USED"},
                       {400, "INVALID_ARGUMENT"}});
  // A malformed batch is refused as a whole, naming the field.
  for (const auto& [body, message] :
       std::vector<std::pair<std::string, std::string>>{{R"({"items":[]})", "empty"},
                                                        {R"({"items":[1]})", "items[0]"},
                                                        {R"({"things":[]})", "unknown field #1"},
                                                        {"[", "body"}}) {
    auto r = hub->Send({"POST", NodeUrl(1) + "/node/v1/batch/provision-requests", {}, body});
    ASSERT_OK(r);
    EXPECT_EQ(r->status, 400) << body;
    EXPECT_THAT(r->body, HasSubstr(message)) << body;
  }
  std::vector<std::string> too_many(http::kMaxBatchItems + 1, "{}");
  auto many = hub->Send({"POST",
                         NodeUrl(1) + "/node/v1/batch/provision-requests",
                         {},
                         http::BatchRequestJson(too_many)});
  ASSERT_OK(many);
  EXPECT_EQ(many->status, 400);
  EXPECT_THAT(many->body, HasSubstr("more than 64 items"));
  // Without a client certificate the node endpoint is not reachable at all.
  http::ClientOptions anon;
  anon.ca_file = net_->Path("pki/ca.crt");
  auto nocert = http::Client::Create(anon);
  ASSERT_OK(nocert);
  EXPECT_FALSE((*nocert)->Send({"POST", url, {}, "{}"}).ok());
}

TEST_F(LinkageProcessTest, InquiryResultsWithBadSignaturesOrForOthersAreRefused) {
  StartNetwork();
  auto hub = AsHub();
  const crypto::SigningKey hub_key = HubKey();
  // An inquiry that stays permitted (its answer waits for approval at city B).
  const std::string id = Inquire(kCityA, {{"atena_no", Atena(107)},
                                          {"procedure", "JT90000000000402"},
                                          {"tm", "TM90000000000102"},
                                          {"provider", kCityB.str()}});
  json permitted = WaitFor(kCityA, id, {"permitted"});
  // The inquiry id (made by city A's server) and the permit id (made by the hub) both begin with
  // the millisecond they were made, as 12 hex digits.
  const int64_t now_ms = ToUnixMicros(SystemClock::Get().Now()) / 1000;
  for (const std::string& made : {id, permitted["permit_id"].get<std::string>()}) {
    const int64_t made_ms = std::stoll(made.substr(0, 12), nullptr, 16);
    EXPECT_LE(made_ms, now_ms) << made;
    EXPECT_GT(made_ms, now_ms - 60'000) << made;
  }
  linkage::ProvisionPermit p;
  p.id = PermitId::Parse(permitted["permit_id"].get<std::string>()).value();
  p.issued_at_ms = ToUnixMicros(SystemClock::Get().Now()) / 1000;
  p.expires_at_ms = p.issued_at_ms + 60'000;
  p.inquirer = kCityA;
  p.provider = kCityB;
  p.procedure = JtCode::Parse("JT90000000000402").value();
  p.tm = TmCode::Parse("TM90000000000102").value();
  p.layout_version = "0001";
  p.reply_key = crypto::BoxKeyPair::Generate().public_key();
  p.reference = id;
  linkage::Envelope env;
  env.permit_id = p.id;
  env.provider = kCityB;
  env.inquirer = kCityA;
  env.sealed_at_ms = p.issued_at_ms;
  env.sealed =
      crypto::Seal(p.reply_key, crypto::AsBytes(std::string(R"({"status":"ok","records":[]})")))
          .value();
  const std::string url = NodeUrl(0) + "/node/v1/inquiry-results";
  auto send = [&](const linkage::ProvisionPermit& permit, const crypto::SigningKey& permit_key,
                  const crypto::SigningKey& envelope_key) {
    linkage::ProvisionResult result{linkage::SignPermit(permit, permit_key),
                                    linkage::SignEnvelope(env, envelope_key)};
    auto r = hub->Send({"POST", url, {}, linkage::ProvisionResultJson(result)});
    EXPECT_OK(r);
    return r.ok() ? *r : http::Response{};
  };
  // An envelope not signed by city B's key.
  http::Response bad_env = send(p, hub_key, crypto::SigningKey::Generate());
  EXPECT_EQ(bad_env.status, 401);
  EXPECT_THAT(bad_env.body, HasSubstr("BAD_ENVELOPE_SIGNATURE"));
  // A permit not signed by the hub.
  http::Response bad_permit =
      send(p, crypto::SigningKey::Generate(), crypto::SigningKey::Generate());
  EXPECT_EQ(bad_permit.status, 401);
  EXPECT_THAT(bad_permit.body, HasSubstr("BAD_PERMIT_SIGNATURE"));
  // A result for an inquirer this server does not host.
  linkage::ProvisionPermit other = p;
  other.inquirer = kCityB;
  other.provider = kCityA;
  http::Response misdirected = send(other, hub_key, crypto::SigningKey::Generate());
  EXPECT_EQ(misdirected.status, 403);
  EXPECT_THAT(misdirected.body, HasSubstr("MISDIRECTED_RESULT"));
  // Issue 11, defect 5: a result whose permit has expired, although the hub signed it.
  linkage::ProvisionPermit expired = p;
  expired.issued_at_ms = p.issued_at_ms - 120'000;
  expired.expires_at_ms = p.issued_at_ms - 60'000;
  http::Response late = send(expired, hub_key, crypto::SigningKey::Generate());
  EXPECT_EQ(late.status, 412) << late.body;
  EXPECT_THAT(late.body, HasSubstr("PERMIT_EXPIRED"));
  // Issue 11, defect 5: another organisation's certificate (the same CA issued it) cannot use
  // the node routes: city B posting its result straight to city A, past the hub, is refused
  // before its body is read.
  {
    std::unique_ptr<http::Client> city_b = AsOrg(kCityB);
    linkage::ProvisionResult direct{linkage::SignPermit(p, hub_key),
                                    linkage::SignEnvelope(env, crypto::SigningKey::Generate())};
    auto r = city_b->Send({"POST", url, {}, linkage::ProvisionResultJson(direct)});
    ASSERT_OK(r);
    EXPECT_EQ(r->status, 403) << r->body;
    EXPECT_THAT(r->body, HasSubstr("node routes accept the hub's certificate only"));
  }
  // An unknown reference.
  linkage::ProvisionPermit unknown = p;
  unknown.reference = "no-such-inquiry";
  http::Response u = send(unknown, hub_key, crypto::SigningKey::Generate());
  EXPECT_EQ(u.status, 404);
  EXPECT_THAT(u.body, HasSubstr("UNKNOWN_INQUIRY"));
  // The same four in one batch: each answered as alone.
  auto item = [&](const linkage::ProvisionPermit& permit, const crypto::SigningKey& permit_key,
                  const crypto::SigningKey& envelope_key) {
    return linkage::ProvisionResultJson(
        {linkage::SignPermit(permit, permit_key), linkage::SignEnvelope(env, envelope_key)});
  };
  json each = PostBatch(*hub, NodeUrl(0) + "/node/v1/batch/inquiry-results",
                        {item(p, hub_key, crypto::SigningKey::Generate()),
                         item(p, crypto::SigningKey::Generate(), crypto::SigningKey::Generate()),
                         item(other, hub_key, crypto::SigningKey::Generate()),
                         item(unknown, hub_key, crypto::SigningKey::Generate())});
  ExpectResults(each, {{401, "BAD_ENVELOPE_SIGNATURE"},
                       {401, "BAD_PERMIT_SIGNATURE"},
                       {403, "MISDIRECTED_RESULT"},
                       {404, "UNKNOWN_INQUIRY"}});
  // The hub's batch route for provisions: an envelope for a permit city A never received, and
  // one that is not an envelope.
  auto as_b = AsOrg(kCityB);
  json hub_each = PostBatch(
      *as_b, net_->HubUrl() + "/hub/v1/batch/provisions",
      {linkage::SignedEnvelopeJson(linkage::SignEnvelope(env, crypto::SigningKey::Generate())),
       R"({"document":"x"})"});
  ExpectResults(hub_each, {{401, "BAD_SIGNATURE"}, {400, "MALFORMED_ENVELOPE"}});
  // An answer that city B really signed, for this very permit, but sealed to a key that is not
  // the inquiry's (the permit above carries a reply key of its own): it does not open. City B's
  // envelope key is taken from its server's store, opened here beside the running process.
  ASSERT_OK_AND_ASSIGN(server::ServerConfig b_config,
                       server::LoadServerConfig(net_->server_config(1)));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<server::Platform> b_platform,
                       server::Platform::Open(b_config, /*create_keys=*/false));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<server::TenantContext> b_tenant,
                       b_platform->Tenant(TenantId::ForOrg(kCityB)));
  // The hub gave city A, with the permit id, the SHA-256 of the permit it issued — the very
  // document city B received — so the real answer's permit is known by its digest (forged ones
  // above differ from it, and were verified in full).
  {
    ASSERT_OK_AND_ASSIGN(server::ServerConfig a_config,
                         server::LoadServerConfig(net_->server_config(0)));
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<server::Platform> a_platform,
                         server::Platform::Open(a_config, /*create_keys=*/false));
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<server::TenantContext> a_tenant,
                         a_platform->Tenant(TenantId::ForOrg(kCityA)));
    ASSERT_OK_AND_ASSIGN(auto a_tx, a_tenant->db->BeginRead());
    ASSERT_OK_AND_ASSIGN(auto a_row, a_tx->QueryOne("SELECT permit_sha256 FROM inquiries"
                                                    " WHERE inquiry_id = ?",
                                                    {id}));
    ASSERT_TRUE(a_row.has_value());
    ASSERT_OK_AND_ASSIGN(auto b_tx, b_tenant->db->BeginRead());
    ASSERT_OK_AND_ASSIGN(auto b_row, b_tx->QueryOne("SELECT permit FROM provisions"
                                                    " WHERE permit_id = ?",
                                                    {p.id.str()}));
    ASSERT_TRUE(b_row.has_value());
    EXPECT_EQ(a_row->GetBlob(0).value(),
              crypto::Sha256(crypto::AsBytes(b_row->GetText(0).value())));
  }
  http::Response wrong_key = send(p, hub_key, b_tenant->SignKey()->key);
  EXPECT_EQ(wrong_key.status, 400) << wrong_key.body;
  EXPECT_THAT(wrong_key.body, HasSubstr("SEALED_TO_WRONG_KEY"));
  // None of it changed the inquiry.
  EXPECT_EQ(WaitFor(kCityA, id, {"permitted"})["state"], "permitted");
  // And the real answer still ends it: city B's staff approve, the answer opens.
  json approvals = ApprovalsAtCityB(1);
  ASSERT_EQ(approvals.size(), 1u);
  EXPECT_EQ(Decide(approvals[0]["permit_id"].get<std::string>()), 200);
  EXPECT_EQ(WaitFor(kCityA, id, {"completed", "refused", "failed", "expired"})["state"],
            "completed");
}

TEST_F(LinkageProcessTest, HubBatchRouteAnswersEachPermitRequestAsAlone) {
  StartNetwork();
  // City A knows person 5 as atena 105 (registered by StartNetwork; asking again answers it).
  http::Response code = Call(kCityA, "POST", "/api/v1/codes",
                             json{{"atena_no", Atena(105)}, {"resident_id", Resident(5)}}.dump());
  ASSERT_EQ(code.status, 200) << code.body;
  const std::string subject = json::parse(code.body)["subject_code"].get<std::string>();
  auto request = [&](const std::string& provider, const std::string& reference) {
    return json{{"provider", provider},
                {"procedure", "JT90000000000101"},
                {"tm", "TM00000000000002"},
                {"layout_version", "0001"},
                {"subject_code", subject},
                {"reply_key", crypto::ToBase64Url(crypto::BoxKeyPair::Generate().public_key())},
                {"reference", reference}}
        .dump();
  };
  auto as_a = AsOrg(kCityA);
  const std::string url = net_->HubUrl() + "/hub/v1/batch/inquiries";
  json each =
      PostBatch(*as_a, url,
                {request(kCityB.str(), "batch-ref-1"), request("9999999999999999", "batch-ref-2"),
                 R"({"provider":"x"})", request(kCityB.str(), "batch-ref-1")});
  ASSERT_EQ(each.size(), 4u);
  EXPECT_EQ(each[0]["status"], 201) << each[0].dump();
  const std::string permit_id = each[0]["body"]["permit_id"].get<std::string>();
  EXPECT_EQ(each[1]["status"], 403) << each[1].dump();
  EXPECT_EQ(each[1]["body"]["error"]["reason"], "UNKNOWN_PROVIDER");
  EXPECT_EQ(each[2]["status"], 400) << each[2].dump();
  EXPECT_THAT(each[2]["body"].dump(), HasSubstr("provider"));
  // The same reference twice in one batch: one permit, the second answer says it again.
  EXPECT_EQ(each[3]["status"], 200) << each[3].dump();
  EXPECT_EQ(each[3]["body"]["permit_id"], permit_id);
  // The permit is recorded once at the hub, under city A's records.
  int found = 0;
  for (const json& r : HubRecords(kCityA)) found += r["permit_id"] == permit_id ? 1 : 0;
  EXPECT_EQ(found, 1);
  // Without a registered certificate the batch route refuses as the single one does.
  auto as_hub = AsHub();
  auto r = as_hub->Send({"POST", url, {}, http::BatchRequestJson({request("x", "y")})});
  ASSERT_OK(r);
  EXPECT_EQ(r->status, 401) << r->body;
}

// One line of a P640R110 batch inquiry file (docs/batch-inquiry-format.md) as municipal tools
// write it: the 宛名番号 given (mapped by identity), 統合宛名番号 and the optional codes empty,
// the padded fields padded; `provider` a 機関コード or a 地方公共団体コード padded to 16.
std::string BatchLine(const std::string& atena, const OrgCode& inquirer, const std::string& jt,
                      const std::string& provider, const std::string& tm,
                      const std::string& year_kind, const std::string& from,
                      const std::string& to = "", const std::string& condition_kind = "0") {
  auto pad = [](std::string v, size_t n) { return v + std::string(n - v.size(), ' '); };
  return "01," + atena + ",,20261127093000000," + pad("KAZEI01", 20) + "," +
         pad("tanaka.taro", 20) + "," + inquirer.str() + ",0,JM90000000000001," + jt + ",,," +
         pad(provider, 16) + "," + tm + "," + condition_kind + "," + year_kind + "," + from + "," +
         to;
}

TEST_F(LinkageProcessTest, BatchFileAnswersEveryLineAndLongPollsWaitForTheEnd) {
  StartNetwork();
  std::string file;
  file += BatchLine(Atena(101), kCityA, "JT90000000000101", kCityB.str(), "TM00000000000002", "1",
                    "20260401") +
          "\r\n";  // fiscal year 2026
  file += BatchLine(Atena(102), kCityA, "JT90000000000101", kCityB.str(), "TM00000000000002", "1",
                    "20250401") +
          "\r\n";  // fiscal year 2025: no such record
  file += BatchLine(Atena(103), kInsurer, "JT90000000000101", kCityB.str(), "TM00000000000002", "0",
                    "") +
          "\r\n";  // another organisation's line
  file += "01,short line\r\n";
  file += BatchLine(Atena(101), kCityA, "JT90000000000101", "01100", "TM00000000000002", "0",
                    "") +
          "\r\n";  // a 地方公共団体コード the hub's registry does not have
  http::Response r = Call(kCityA, "POST", "/api/v1/inquiries/batch", file, "text/plain");
  ASSERT_EQ(r.status, 207) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["lines"], 5);
  EXPECT_EQ(j["accepted"], 2);
  EXPECT_EQ(j["failed"], 3);
  ASSERT_EQ(j["results"].size(), 5u);
  EXPECT_EQ(j["results"][0]["state"], "accepted");
  EXPECT_EQ(j["results"][2]["errors"][0]["reason"],
            "情報照会者機関コード (inquirer): not this tenant's organisation");
  EXPECT_EQ(j["results"][3]["errors"][0]["field"], "レコード (record)");
  EXPECT_EQ(j["results"][4]["errors"][0]["reason"],
            "情報提供者機関コード (provider): the 地方公共団体コード is not in the hub's registry");
  // The same file again: the same inquiries, nothing new.
  json again =
      json::parse(Call(kCityA, "POST", "/api/v1/inquiries/batch", file, "text/plain").body);
  EXPECT_EQ(again["results"][0]["inquiry_id"], j["results"][0]["inquiry_id"]);
  EXPECT_EQ(again["results"][1]["inquiry_id"], j["results"][1]["inquiry_id"]);

  // One long poll returns when the inquiry has ended, with the answer.
  const std::string first = j["results"][0]["inquiry_id"];
  http::Response done = Call(kCityA, "GET", "/api/v1/inquiries/" + first + "?wait_ms=20000");
  ASSERT_EQ(done.status, 200);
  json d = json::parse(done.body);
  EXPECT_EQ(d["state"], "completed");
  EXPECT_EQ(d["department"], "KAZEI01");
  EXPECT_EQ(d["user_id"], "tanaka.taro");
  EXPECT_EQ(d["result"]["records"][0]["IT00000200000004"], Income(1));
  json none =
      json::parse(Call(kCityA, "GET",
                       "/api/v1/inquiries/" + j["results"][1]["inquiry_id"].get<std::string>() +
                           "?wait_ms=20000")
                      .body);
  EXPECT_EQ(none["state"], "completed");
  EXPECT_EQ(none["result"]["status"], "no_data");
  EXPECT_TRUE(none["result"]["records"].empty());
  EXPECT_EQ(Call(kCityA, "GET", "/api/v1/inquiries/" + first + "?wait_ms=99999").status, 400);
  // Query integers are whole: trailing characters are refused, naming the parameter.
  http::Response garbage = Call(kCityA, "GET", "/api/v1/inquiries?limit=100abc");
  EXPECT_EQ(garbage.status, 400);
  EXPECT_THAT(garbage.body, HasSubstr("query parameter limit"));
  // A charset the batch reader does not know is refused before any line is read.
  http::Response ebcdic =
      Call(kCityA, "POST", "/api/v1/inquiries/batch", file, "text/plain; charset=ebcdic");
  EXPECT_EQ(ebcdic.status, 400);
  EXPECT_THAT(ebcdic.body, HasSubstr("unsupported charset"));
}

// A P640R110 line (as BatchLine) with 照会側不開示コード `non_disclosure` and the two 委任元 codes
// (fields 8, 11 and 12; "" for none).
std::string DelegatedLine(const std::string& atena, const std::string& jt,
                          const std::string& non_disclosure, const std::string& inquirer_delegator,
                          const std::string& provider_delegator) {
  std::string line = BatchLine(atena, kCityA, jt, kCityB.str(), "TM00000000000002", "0", "");
  const std::string plain = "," + kCityA.str() + ",0,JM90000000000001," + jt + ",,,";
  const size_t at = line.find(plain);
  EXPECT_NE(at, std::string::npos);
  line.replace(at, plain.size(),
               "," + kCityA.str() + "," + non_disclosure + ",JM90000000000001," + jt + "," +
                   inquirer_delegator + "," + provider_delegator + ",");
  return line;
}

// 照会側不開示 and 委任元 end to end: from a P640R110 line (and the JSON API) into the inquiry, the
// permit, the hub's records and both servers' records of provision; a resident-facing view
// (resident_view=true) holds the 不開示 records back; the hub refuses an unknown 委任元 and one the
// permission list does not allow.
TEST_F(LinkageProcessTest, NonDisclosureAndDelegatorsReachEveryRecordAndBadDelegatorsAreRefused) {
  StartNetwork();
  // JT90000000000701 is allowed to insurers only: city A asks on the insurer's behalf, 不開示.
  std::string file =
      DelegatedLine(Atena(111), "JT90000000000701", "1", kInsurer.str(), "") + "\r\n";
  // An organisation the hub does not know.
  file += DelegatedLine(Atena(112), "JT90000000000701", "0", "0000000000000099", "") + "\r\n";
  // City B is a municipality: not allowed JT90000000000701 on its behalf either.
  file += DelegatedLine(Atena(113), "JT90000000000701", "0", kCityB.str(), "") + "\r\n";
  http::Response r = Call(kCityA, "POST", "/api/v1/inquiries/batch", file, "text/plain");
  ASSERT_EQ(r.status, 200) << r.body;
  json batch = json::parse(r.body);
  ASSERT_EQ(batch["accepted"], 3);
  const std::string hidden = batch["results"][0]["inquiry_id"];
  json done = WaitFor(kCityA, hidden, {"completed", "refused", "failed", "expired"});
  EXPECT_EQ(done["state"], "completed") << done.dump();
  EXPECT_EQ(done["result"]["records"][0]["IT00000200000004"], Income(11));
  EXPECT_EQ(done["non_disclosure"], true);
  EXPECT_EQ(done["inquirer_delegator"], kInsurer.str());
  EXPECT_EQ(done["provider_delegator"], "");
  json unknown = WaitFor(kCityA, batch["results"][1]["inquiry_id"], {"refused", "completed"});
  EXPECT_EQ(unknown["state"], "refused");
  EXPECT_EQ(unknown["reason"], "UNKNOWN_DELEGATOR");
  json not_permitted = WaitFor(kCityA, batch["results"][2]["inquiry_id"], {"refused", "completed"});
  EXPECT_EQ(not_permitted["state"], "refused");
  EXPECT_EQ(not_permitted["reason"], "DELEGATOR_NOT_PERMITTED");

  // The result file gives the 委任元 refusals 提供拒否 (04) with their reason code.
  http::Response rf =
      Call(kCityA, "GET",
           "/api/v1/inquiries/batch/" + batch["batch_id"].get<std::string>() + "/result-file");
  ASSERT_EQ(rf.status, 200) << rf.body;
  std::vector<std::vector<std::string>> rows;
  for (size_t start = 0, end; (end = rf.body.find("\r\n", start)) != std::string::npos;
       start = end + 2) {
    std::vector<std::string> cols;
    std::stringstream line(rf.body.substr(start, end - start));
    for (std::string col; std::getline(line, col, ',');) cols.push_back(col);
    rows.push_back(std::move(cols));
  }
  ASSERT_EQ(rows.size(), 3u);
  ASSERT_GE(rows[1].size(), 27u);
  ASSERT_GE(rows[2].size(), 27u);
  EXPECT_EQ(rows[0][23], "09");
  EXPECT_EQ(rows[0][7], "1");  // the line's 照会側不開示コード, echoed
  EXPECT_EQ(rows[1][23], "94");
  EXPECT_EQ(rows[1][24],
            "照会が拒否されました。（理由コード「ＵＮＫＮＯＷＮ＿ＤＥＬＥＧＡＴＯＲ」）");
  EXPECT_EQ(rows[1][25], "04");
  EXPECT_EQ(
      rows[2][24],
      "照会が拒否されました。（理由コード「ＤＥＬＥＧＡＴＯＲ＿ＮＯＴ＿ＰＥＲＭＩＴＴＥＤ」）");
  EXPECT_EQ(rows[2][25], "04");

  // The JSON API takes the same fields: city B answers on city A's behalf (provider's 委任元).
  json body = TaxInquiry(12);
  body["provider_delegator"] = kCityA.str();
  const std::string shown = Inquire(kCityA, body);
  json shown_done = WaitFor(kCityA, shown, {"completed", "refused", "failed", "expired"});
  EXPECT_EQ(shown_done["state"], "completed") << shown_done.dump();
  EXPECT_EQ(shown_done["non_disclosure"], false);
  EXPECT_EQ(shown_done["provider_delegator"], kCityA.str());
  json bad = TaxInquiry(13);
  bad["inquirer_delegator"] = "98765";
  http::Response refused = Call(kCityA, "POST", "/api/v1/inquiries", bad.dump());
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(json::parse(refused.body)["error"]["message"],
            "field \"inquirer_delegator\": org_code (機関コード): expected 16 digits, got 5 bytes");

  // The inquirer's records of provision (情報提供等記録).
  auto by_id = [](const json& records, const std::string& key, const std::string& id) {
    for (const json& e : records) {
      if (e.value(key, "") == id) return e;
    }
    ADD_FAILURE() << "no record " << id << " in " << records.dump();
    return json();
  };
  json a_all = json::parse(Call(kCityA, "GET", "/api/v1/records").body)["records"];
  ASSERT_EQ(a_all.size(), 4u);
  json a_hidden = by_id(a_all, "id", hidden);
  EXPECT_EQ(a_hidden["non_disclosure"], true);
  EXPECT_EQ(a_hidden["inquirer_non_disclosure"], true);
  EXPECT_EQ(a_hidden["inquirer_delegator"], kInsurer.str());
  EXPECT_EQ(by_id(a_all, "id", shown)["provider_delegator"], kCityA.str());
  EXPECT_EQ(by_id(a_all, "id", batch["results"][1]["inquiry_id"])["inquirer_delegator"],
            "0000000000000099");
  json a_resident =
      json::parse(Call(kCityA, "GET", "/api/v1/records?resident_view=true").body)["records"];
  ASSERT_EQ(a_resident.size(), 3u);
  for (const json& e : a_resident) EXPECT_NE(e["id"], hidden);
  EXPECT_EQ(Call(kCityA, "GET", "/api/v1/records?resident_view=yes").status, 400);

  // The provider's: one per permit received, the codes and the flag from the permit.
  const std::string hidden_permit = done["permit_id"];
  json b_all = json::parse(Call(kCityB, "GET", "/api/v1/records").body)["records"];
  ASSERT_EQ(b_all.size(), 2u);
  json b_hidden = by_id(b_all, "permit_id", hidden_permit);
  EXPECT_EQ(b_hidden["role"], "provider");
  EXPECT_EQ(b_hidden["state"], "answered");
  EXPECT_EQ(b_hidden["non_disclosure"], true);
  EXPECT_EQ(b_hidden["inquirer_non_disclosure"], true);
  EXPECT_EQ(b_hidden["inquirer_delegator"], kInsurer.str());
  EXPECT_EQ(by_id(b_all, "permit_id", shown_done["permit_id"])["provider_delegator"], kCityA.str());
  json b_resident =
      json::parse(Call(kCityB, "GET", "/api/v1/records?resident_view=true").body)["records"];
  ASSERT_EQ(b_resident.size(), 1u);
  EXPECT_EQ(b_resident[0]["permit_id"], shown_done["permit_id"]);

  // The hub's: both sides, refusals at the inquirer's only.
  json hub_a = HubRecords(kCityA);
  ASSERT_EQ(hub_a.size(), 4u);
  json hub_hidden = by_id(hub_a, "reference", hidden);
  EXPECT_EQ(hub_hidden["outcome"], "provided");
  EXPECT_EQ(hub_hidden["non_disclosure"], true);
  EXPECT_EQ(hub_hidden["inquirer_non_disclosure"], true);
  EXPECT_EQ(hub_hidden["inquirer_delegator"], kInsurer.str());
  EXPECT_EQ(by_id(hub_a, "reference", batch["results"][2]["inquiry_id"])["reason"],
            "DELEGATOR_NOT_PERMITTED");
  json hub_b = HubRecords(kCityB);
  ASSERT_EQ(hub_b.size(), 2u);
  json hub_b_hidden = by_id(hub_b, "permit_id", hidden_permit);
  EXPECT_EQ(hub_b_hidden["inquirer_non_disclosure"], true);
  EXPECT_EQ(hub_b_hidden["inquirer_delegator"], kInsurer.str());
  EXPECT_EQ(by_id(hub_b, "permit_id", shown_done["permit_id"])["provider_delegator"], kCityA.str());
  std::unique_ptr<http::Client> hub_client = AsOrg(kCityB);
  auto resident =
      hub_client->Send({"GET", net_->HubUrl() + "/hub/v1/records?resident_view=true", {}, ""});
  ASSERT_OK(resident);
  ASSERT_EQ(resident->status, 200) << resident->body;
  json hub_b_resident = json::parse(resident->body)["records"];
  ASSERT_EQ(hub_b_resident.size(), 1u);
  EXPECT_EQ(hub_b_resident[0]["permit_id"], shown_done["permit_id"]);
}

// The columns of one line of a result file (no quoting: split at commas).
std::vector<std::string> Columns(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t comma; (comma = line.find(',', start)) != std::string::npos; start = comma + 1) {
    out.push_back(line.substr(start, comma - start));
  }
  out.push_back(line.substr(start));
  return out;
}

TEST_F(LinkageProcessTest, BatchResultFileSaysWhichLinesGotNoAnswerInTime) {
  // Inquiries last 3 s here: a line whose answer waits for staff at city B (自動応答不可) expires.
  StartNetwork(30, "", 0, /*inquiry_timeout_seconds=*/3);
  std::string waiting =
      BatchLine(Atena(107), kCityA, "JT90000000000402", kCityB.str(), "TM90000000000102", "0", "");
  const std::string file =
      waiting + "\r\n" +
      BatchLine(Atena(101), kCityA, "JT90000000000101", kCityB.str(), "TM00000000000002", "0", "") +
      "\r\n";
  http::Response r = Call(kCityA, "POST", "/api/v1/inquiries/batch", file, "text/plain");
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string batch = json::parse(r.body)["batch_id"];
  http::Response early = Call(kCityA, "GET", "/api/v1/inquiries/batch/" + batch + "/result-file");
  EXPECT_EQ(early.status, 409);
  EXPECT_EQ(early.headers.Get("Retry-After").value_or(""), "5");
  EXPECT_THAT(early.body, HasSubstr("BATCH_NOT_ENDED"));
  json s;
  for (int i = 0; i < 1500; ++i) {
    s = json::parse(Call(kCityA, "GET", "/api/v1/inquiries/batch/" + batch).body);
    if (s["result_file"] == "ready") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(s["result_file"], "ready") << s.dump();
  EXPECT_EQ(s["inquiries"]["expired"], 1);
  EXPECT_EQ(s["inquiries"]["completed"], 1);
  http::Response f = Call(kCityA, "GET", "/api/v1/inquiries/batch/" + batch + "/result-file");
  ASSERT_EQ(f.status, 200);
  const size_t first_end = f.body.find("\r\n");
  ASSERT_NE(first_end, std::string::npos);
  const std::vector<std::string> expired = Columns(f.body.substr(0, first_end));
  ASSERT_GE(expired.size(), 27u);
  EXPECT_EQ(expired[23], "95");
  EXPECT_EQ(expired[24], "照会の有効期限までに情報提供者から応答がありませんでした。");
  EXPECT_EQ(expired[25], "05");
  const std::vector<std::string> done = Columns(f.body.substr(first_end + 2));
  EXPECT_EQ(done[23], "09");
  EXPECT_EQ(done[25], "01");
  // The file's name: none was given.
  EXPECT_EQ(f.headers.Get("Content-Disposition").value_or(""),
            "attachment; filename=\"batch_" + batch + "_RESULT.DAT\"");
}

TEST_F(LinkageProcessTest, BatchResultFileGivesEveryLineItsStatusOnceAllHaveEnded) {
  StartNetwork();
  const std::string tax = "TM00000000000002";
  const std::string l1 =
      BatchLine(Atena(101), kCityA, "JT90000000000101", kCityB.str(), tax, "1", "20260401");
  std::string file;
  file += l1 + "\r\n";  // completed: the 2026 record
  file += BatchLine(Atena(102), kCityA, "JT90000000000101", kCityB.str(), tax, "1", "20250401") +
          "\r\n";       // completed without data
  file += l1 + "\r\n";  // the same line again
  file += BatchLine(Atena(150), kCityA, "JT90000000000101", kCityB.str(), tax, "0", "") +
          "\r\n";  // no 符号 for atena 150
  file += "01,short line\r\n";
  file += BatchLine(Atena(101), kCityA, "JT90000000000101", "01100", tax, "0", "") +
          "\r\n";  // a 地方公共団体コード the hub's registry does not have
  file += BatchLine(Atena(103), kCityA, "JT90000000000301", kCityB.str(), tax, "0", "") +
          "\r\n";  // a procedure the permission list does not allow for this TM
  file += BatchLine(Atena(104), kCityA, "JT90000000000101", "13101", tax, "1", "20260401") +
          "\r\n";  // city B named by its 地方公共団体コード (131016 in the hub's registry)
  http::Response r =
      Call(kCityA, "POST", "/api/v1/inquiries/batch?name=P640R110_20261204093000.DAT", file,
           "text/plain");
  ASSERT_EQ(r.status, 207) << r.body;
  json j = json::parse(r.body);
  const std::string batch = j["batch_id"];
  EXPECT_EQ(batch.size(), 32u);
  EXPECT_EQ(j["accepted"], 4);
  EXPECT_EQ(j["duplicates"], 1);
  EXPECT_EQ(j["failed"], 3);
  EXPECT_EQ(j["results"][2]["duplicate_of"], 1);
  EXPECT_EQ(j["results"][3]["code"], "NO_SUBJECT_CODE");
  EXPECT_EQ(j["results"][4]["code"], "FORMAT");
  EXPECT_EQ(j["results"][5]["code"], "UNKNOWN_PROVIDER");
  // A name that is not a plain file name is refused before anything is stored.
  http::Response bad_name =
      Call(kCityA, "POST", "/api/v1/inquiries/batch?name=..%2Fx", file, "text/plain");
  EXPECT_EQ(bad_name.status, 400);
  EXPECT_THAT(bad_name.body, HasSubstr("query parameter name"));

  // Progress, until every line has ended.
  json s;
  for (int i = 0; i < 3000; ++i) {
    s = json::parse(Call(kCityA, "GET", "/api/v1/inquiries/batch/" + batch).body);
    if (s["result_file"] == "ready") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(s["result_file"], "ready") << s.dump();
  EXPECT_EQ(s["lines"], 8);
  EXPECT_EQ(s["open"], 0);
  EXPECT_EQ(s["duplicates"], 1);
  EXPECT_EQ(s["refused_lines"], 3);
  EXPECT_EQ(s["inquiries"]["completed"], 3);
  EXPECT_EQ(s["inquiries"]["refused"], 1);
  EXPECT_EQ(s["file_name"], "P640R110_20261204093000.DAT");
  EXPECT_EQ(s["result_file_name"], "P640R110_20261204093000_RESULT.DAT");
  // Another tenant's id names no batch (and city B cannot fetch city A's file).
  EXPECT_EQ(Call(kCityB, "GET", "/api/v1/inquiries/batch/" + batch).status, 404);
  EXPECT_EQ(Call(kCityB, "GET", "/api/v1/inquiries/batch/" + batch + "/result-file").status, 404);
  EXPECT_EQ(Call(kCityA, "GET", "/api/v1/inquiries/batch/not-an-id").status, 404);

  http::Response f = Call(kCityA, "GET", "/api/v1/inquiries/batch/" + batch + "/result-file");
  ASSERT_EQ(f.status, 200) << f.body;
  EXPECT_EQ(f.headers.Get("Content-Type").value_or(""), "text/plain; charset=utf-8");
  EXPECT_EQ(f.headers.Get("Content-Disposition").value_or(""),
            "attachment; filename=\"P640R110_20261204093000_RESULT.DAT\"");
  ASSERT_TRUE(f.body.ends_with("\r\n"));
  std::vector<std::vector<std::string>> rows;
  for (size_t start = 0, end; (end = f.body.find("\r\n", start)) != std::string::npos;
       start = end + 2) {
    rows.push_back(Columns(f.body.substr(start, end - start)));
  }
  ASSERT_EQ(rows.size(), 8u);
  // The columns of 地方税関係情報 (data/result_layout): 262, the line echoed in 1–18, the status
  // in 24–27, 市町村民税均等割額 (IT…08) in 231.
  const std::vector<std::string> given = Columns(l1);
  ASSERT_EQ(rows[0].size(), 262u);
  EXPECT_EQ(std::vector<std::string>(rows[0].begin(), rows[0].begin() + 18), given);
  EXPECT_EQ(rows[0][23], "09");
  EXPECT_EQ(rows[0][24], "正常終了");
  EXPECT_EQ(rows[0][25], "01");
  EXPECT_EQ(rows[0][26], "正常終了");
  EXPECT_EQ(rows[0][230], "30000");
  EXPECT_EQ(rows[1][23], "09");
  EXPECT_EQ(rows[1][25], "02");
  EXPECT_EQ(rows[1][26], "該当する特定個人情報がありません。");
  EXPECT_EQ(rows[1][230], "");
  EXPECT_EQ(rows[2][23], "92");
  EXPECT_EQ(rows[2][24], "「レコード識別番号」が既に存在しています。");
  EXPECT_EQ(rows[2][25], "");
  EXPECT_EQ(rows[3][23], "93");
  EXPECT_EQ(rows[3][24],
            "指定された団体内統合宛名番号「００００００００００００１５０」は符号が未取得です。");
  // The malformed line: the fields it has, echoed; the default columns of an unknown TM.
  ASSERT_EQ(rows[4].size(), 27u);
  EXPECT_EQ(rows[4][0], "01");
  EXPECT_EQ(rows[4][1], "short line");
  EXPECT_EQ(rows[4][23], "91");
  EXPECT_EQ(rows[4][24],
            "照会依頼の内容に誤りがあるため照会できません。（理由コード「ＦＯＲＭＡＴ」）");
  EXPECT_EQ(rows[5][23], "91");
  EXPECT_EQ(rows[5][24], "指定された情報提供者機関コードは登録されていません。");
  EXPECT_EQ(rows[6][23], "94");
  EXPECT_EQ(rows[6][25], "03");
  EXPECT_EQ(
      rows[6][24],
      "指定された特定個人情報名「ＴＭ０００００００００００００２」の照会は許可されていません。");

  EXPECT_EQ(rows[7][12], "13101           ");  // echoed as given
  EXPECT_EQ(rows[7][23], "09");
  EXPECT_EQ(rows[7][25], "01");
  EXPECT_EQ(rows[7][230], "30000");

  // The same file in Shift_JIS (CP932) on request: the same lines, every character kept.
  http::Response sjis =
      Call(kCityA, "GET", "/api/v1/inquiries/batch/" + batch + "/result-file?charset=shift_jis");
  ASSERT_EQ(sjis.status, 200);
  EXPECT_EQ(sjis.headers.Get("Content-Type").value_or(""), "text/plain; charset=Shift_JIS");
  EXPECT_EQ(sjis.headers.Get("X-Chukan-Substituted-Lines").value_or(""), "0");
  EXPECT_NE(sjis.body, f.body);
  EXPECT_NE(sjis.body.find("\x90\xb3\x8f\xed\x8f\x49\x97\xb9"), std::string::npos);  // 正常終了
  EXPECT_EQ(Call(kCityA, "GET", "/api/v1/inquiries/batch/" + batch + "/result-file?charset=ebcdic")
                .status,
            400);
}

// One 住民票関係情報 record of a DBM_20113 registration (docs/import-formats.md), with its
// 公開開始日 and (when not empty) 公開終了日.
std::string JuminEntry(int record, int person, const std::string& address,
                       const std::string& household, const std::string& from,
                       const std::string& until) {
  auto item = [](std::string_view code, std::string_view value) {
    return "<" + std::string(code) + " Version=\"0001\" TimeAndDateOfUpdate=\"2026-11-30\">" +
           std::string(value) + "</" + std::string(code) + ">";
  };
  return "<InformationOfSPIRegistrationDelete><RecordIdentificationNumber>" +
         std::to_string(record) + "</RecordIdentificationNumber><IntegratedAddressNumber>" +
         Atena(person) +
         "</IntegratedAddressNumber><SpecificPersonalInformationCode>TM90000000000101"
         "</SpecificPersonalInformationCode><SPIMajorVersion>0001</SPIMajorVersion>"
         "<PublicationDate>" +
         from + "</PublicationDate>" +
         (until.empty() ? "" : "<PublishedEndDate>" + until + "</PublishedEndDate>") +
         "<DuplicateCopyData><TM90000000000101>" + item("IT00010100000001", "番号 太郎") +
         item("IT00010100000003", "1980-01-01") + item("IT00010100000004", "1") +
         item("IT00010100000006", address) + item("IT00010100000009", household) +
         "</TM90000000000101></DuplicateCopyData></InformationOfSPIRegistrationDelete>\n";
}

std::string JuminFile(const std::string& entries) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SPIRegistrationDeleteList>\n" + entries +
         "<SegmentOfRegistrationDelete>1</SegmentOfRegistrationDelete>\n"
         "</SPIRegistrationDeleteList>\n";
}

// 照会年度区分 2 (a date range) and 1 over several fiscal years, and 照会条件区分 1 (the
// household), through the hub: each answered from the versions valid then, the household one
// result per member.
TEST_F(LinkageProcessTest, DateRangeFiscalYearsAndHouseholdAnswerFromTheVersionsValidThen) {
  StartNetwork();
  // City B's 住民票関係情報: person 5 moved on 2025-10-01 (the older version, 公開終了日
  // 2025-09-30, is superseded by the second import); persons 11, 12 and 41 share a household,
  // person 13 has their own. Person 41 has no 地方税関係情報.
  auto import = [&](const std::string& path, const std::string& body, const std::string& type) {
    http::Response r = Call(kCityB, "POST", path, body, type);
    ASSERT_EQ(r.status, 201) << r.body;
  };
  const std::string jumin = "/api/v1/replica/imports?tm=TM90000000000101&format=dbm20113";
  import(
      jumin,
      JuminFile(JuminEntry(1, 5, "千代田区一番町1", "900000000000005", "2025-04-01", "2025-09-30") +
                JuminEntry(2, 11, "千代田区三番町3", "900000000000011", "2020-01-01", "") +
                JuminEntry(3, 12, "千代田区三番町3", "900000000000011", "2020-01-01", "") +
                JuminEntry(4, 13, "千代田区四番町4", "900000000000013", "2020-01-01", "") +
                JuminEntry(5, 41, "千代田区三番町3", "900000000000011", "2020-01-01", "")),
      "application/xml");
  import(jumin, JuminFile(JuminEntry(6, 5, "千代田区二番町2", "900000000000005", "2025-10-01", "")),
         "application/xml");
  // Person 1's 地方税関係情報 for fiscal 2024 and 2025 beside 2026 (record key 課税年度).
  std::string tax = TaxCsv();
  tax = tax.substr(0, tax.find('\n') + 1);
  for (const std::string year : {"2024", "2025"}) {
    tax += Atena(1) + "," + year + ",2026-01-01,1,7000" + year +
           ",1800000,50000,200000,30000,150000,20000,1,0,1,2,,10000\n";
  }
  import("/api/v1/replica/imports?tm=TM00000000000002", tax, "text/csv");

  const std::string jt_jumin = "JT90000000000301";
  const std::string jt_tax = "JT90000000000101";
  const std::string b = kCityB.str();
  std::string file;
  file += BatchLine(Atena(105), kCityA, jt_jumin, b, "TM90000000000101", "2", "20250501",
                    "20250630") +
          "\r\n";  // before the move: the old address only
  file += BatchLine(Atena(105), kCityA, jt_jumin, b, "TM90000000000101", "2", "20250915",
                    "20251015") +
          "\r\n";  // across the move: both versions
  file += BatchLine(Atena(105), kCityA, jt_jumin, b, "TM90000000000101", "2", "20260101",
                    "20260131") +
          "\r\n";  // after it: the new address only
  file += BatchLine(Atena(101), kCityA, jt_tax, b, "TM00000000000002", "1", "20240401",
                    "20260331") +
          "\r\n";  // fiscal 2024 and 2025, not 2026
  file += BatchLine(Atena(111), kCityA, jt_tax, b, "TM00000000000002", "1", "20260401", "", "1") +
          "\r\n";  // the household of person 11: 11, 12 and 41
  file += BatchLine(Atena(111), kCityA, jt_tax, b, "TM00000000000002", "0", "", "", "2") +
          "\r\n";  // with dependants: not supported
  http::Response r =
      Call(kCityA, "POST", "/api/v1/inquiries/batch?name=P640R110_20261204100000.DAT", file,
           "text/plain");
  ASSERT_EQ(r.status, 207) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["accepted"], 5);
  EXPECT_EQ(j["results"][5]["code"], "UNSUPPORTED_CONDITION");
  std::vector<json> results;
  for (int i = 0; i < 5; ++i) {
    const std::string id = j["results"][i]["inquiry_id"];
    json d = json::parse(Call(kCityA, "GET", "/api/v1/inquiries/" + id + "?wait_ms=20000").body);
    ASSERT_EQ(d["state"], "completed") << i << ": " << d.dump();
    results.push_back(d["result"]);
  }
  auto addresses = [](const json& records) {
    std::vector<std::string> out;
    for (const json& rec : records) out.push_back(rec["IT00010100000006"]);
    return out;
  };
  EXPECT_EQ(addresses(results[0]["records"]), std::vector<std::string>{"千代田区一番町1"});
  EXPECT_EQ(addresses(results[1]["records"]),
            (std::vector<std::string>{"千代田区一番町1", "千代田区二番町2"}));
  EXPECT_EQ(addresses(results[2]["records"]), std::vector<std::string>{"千代田区二番町2"});
  ASSERT_EQ(results[3]["records"].size(), 2u);
  EXPECT_EQ(results[3]["records"][0]["IT00000200000001"], "2024");
  EXPECT_EQ(results[3]["records"][0]["IT00000200000004"], "70002024");
  EXPECT_EQ(results[3]["records"][1]["IT00000200000001"], "2025");
  const json& household = results[4];
  EXPECT_EQ(household["scope"], "household");
  EXPECT_EQ(household["status"], "ok");
  EXPECT_FALSE(household.contains("records"));
  ASSERT_EQ(household["members"].size(), 3u);
  EXPECT_EQ(household["members"][0]["self"], true);
  EXPECT_EQ(household["members"][0]["records"][0]["IT00000200000004"], Income(11));
  EXPECT_EQ(household["members"][1]["self"], false);
  EXPECT_EQ(household["members"][1]["records"][0]["IT00000200000004"], Income(12));
  EXPECT_EQ(household["members"][2]["self"], false);
  EXPECT_TRUE(household["members"][2]["records"].empty());
  // No member's 団体内統合宛名番号 travels.
  for (int person : {11, 12, 41}) {
    EXPECT_EQ(household.dump().find(Atena(person)), std::string::npos) << person;
  }

  // The same conditions through POST /api/v1/inquiries: person 11's household in 住民票関係情報.
  const std::string direct = Inquire(kCityA, {{"atena_no", Atena(111)},
                                              {"procedure", jt_jumin},
                                              {"tm", "TM90000000000101"},
                                              {"provider", b},
                                              {"query", {{"_scope", "household"}}}});
  json hd = WaitFor(kCityA, direct, {"completed"});
  ASSERT_EQ(hd["result"]["members"].size(), 3u) << hd.dump();
  for (int m = 0; m < 3; ++m) {
    EXPECT_EQ(addresses(hd["result"]["members"][m]["records"]),
              std::vector<std::string>{"千代田区三番町3"});
  }
  // A reserved key nobody defined, a fiscal item that is not an item: 400, naming no value.
  json bad_query = {{"atena_no", Atena(111)},
                    {"procedure", jt_jumin},
                    {"tm", "TM90000000000101"},
                    {"provider", b},
                    {"query", {{"_secret", "x"}}}};
  http::Response bad = Call(kCityA, "POST", "/api/v1/inquiries", bad_query.dump());
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("query: condition 1 in key order: not a reserved key"));
  bad_query["query"] = {
      {"_fiscal_item", "IT99999999999999"}, {"_from", "2025-04-01"}, {"_to", "2026-03-31"}};
  bad = Call(kCityA, "POST", "/api/v1/inquiries", bad_query.dump());
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body,
              HasSubstr("query: _fiscal_item is not an item of TM90000000000101 version 0001"));

  // The result file: one line per member for the household line (its fields echoed on each).
  std::string batch = j["batch_id"];
  json s;
  for (int i = 0; i < 3000; ++i) {
    s = json::parse(Call(kCityA, "GET", "/api/v1/inquiries/batch/" + batch).body);
    if (s["result_file"] == "ready") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(s["result_file"], "ready") << s.dump();
  http::Response f = Call(kCityA, "GET", "/api/v1/inquiries/batch/" + batch + "/result-file");
  ASSERT_EQ(f.status, 200) << f.body;
  std::vector<std::vector<std::string>> rows;
  for (size_t start = 0, end; (end = f.body.find("\r\n", start)) != std::string::npos;
       start = end + 2) {
    rows.push_back(Columns(f.body.substr(start, end - start)));
  }
  ASSERT_EQ(rows.size(), 8u);  // 6 lines, the household's as 3
  for (size_t i : {0, 1, 2, 3, 4, 5}) {
    EXPECT_EQ(rows[i][23], "09") << i;
  }
  EXPECT_EQ(rows[0][25], "01");
  EXPECT_EQ(rows[3][25], "01");
  const std::vector<std::string> household_line = Columns(
      BatchLine(Atena(111), kCityA, jt_tax, b, "TM00000000000002", "1", "20260401", "", "1"));
  for (size_t i : {4, 5, 6}) {
    EXPECT_EQ(std::vector<std::string>(rows[i].begin(), rows[i].begin() + 18), household_line) << i;
  }
  EXPECT_EQ(rows[4][25], "01");
  EXPECT_EQ(rows[5][25], "01");
  EXPECT_EQ(rows[6][23], "09");
  EXPECT_EQ(rows[6][25], "02");  // person 41: no 地方税関係情報
  EXPECT_EQ(rows[7][23], "91");
  // The multi-year line shows the later fiscal year, the date range across the move the new
  // address: one record per line each, the other counted.
  EXPECT_EQ(f.headers.Get("X-Chukan-Records-Not-Shown").value_or(""), "2");
}

// The same linkage with the hub and both servers on PostgreSQL (scripts/with-postgres sets
// CHUKAN_TEST_PG_DSN; in CI the test must run, never skip).
TEST_F(LinkageProcessTest, OnPostgreSqlTheAnswerEqualsTheReplicaAndSurvivesKillNine) {
  const char* dsn = std::getenv("CHUKAN_TEST_PG_DSN");
  if (dsn == nullptr || *dsn == '\0') {
    if (std::getenv("CI") != nullptr) FAIL() << "CHUKAN_TEST_PG_DSN is not set, and CI is";
    GTEST_SKIP() << "needs CHUKAN_TEST_PG_DSN: run with scripts/with-postgres";
  }
  StartNetwork(30, dsn);
  const std::string id = Inquire(kCityA, TaxInquiry(5));
  json done = WaitFor(kCityA, id, {"completed", "refused", "failed", "expired"});
  ASSERT_EQ(done["state"], "completed") << done.dump();
  ASSERT_EQ(done["result"]["records"].size(), 1u);
  EXPECT_EQ(done["result"]["records"][0]["IT00000200000004"], Income(5));
  // 自動応答不可: approved by staff.
  const std::string welfare = Inquire(kCityA, {{"atena_no", Atena(107)},
                                               {"procedure", "JT90000000000402"},
                                               {"tm", "TM90000000000102"},
                                               {"provider", kCityB.str()}});
  json approvals = ApprovalsAtCityB(1);
  ASSERT_EQ(approvals.size(), 1u);
  ASSERT_EQ(Decide(approvals[0]["permit_id"].get<std::string>()), 200);
  EXPECT_EQ(WaitFor(kCityA, welfare, {"completed"})["result"]["records"][0]["IT00010200000009"],
            "123456");
  // The provider killed in the middle of 40 inquiries: each completes, once.
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(Inquire(kCityA, TaxInquiry(i % kPeople + 1)));
  net_->KillServer(1);
  ASSERT_OK(net_->RestartServer(1));
  for (int i = 20; i < 40; ++i) ids.push_back(Inquire(kCityA, TaxInquiry(i % kPeople + 1)));
  for (size_t i = 0; i < ids.size(); ++i) {
    json j = WaitFor(kCityA, ids[i], {"completed", "refused", "failed", "expired"},
                     std::chrono::seconds(90));
    ASSERT_EQ(j["state"], "completed") << j.dump();
    EXPECT_EQ(j["result"]["records"][0]["IT00000200000004"],
              Income(static_cast<int>(i) % kPeople + 1));
  }
  EXPECT_EQ(HubRecords(kCityB).size(), 42u);
}

TEST_F(LinkageProcessTest, CodesLoadSendsAFileInChunksAndNamesBadLines) {
  StartNetwork();
  std::string file;
  for (int p = 1; p <= 20; ++p) {
    // People city A does not know yet (it registered residents 1–40 in StartNetwork).
    file += (p == 10 ? std::string("12345") : Atena(300 + p)) + "," + Resident(200 + p) + "\n";
  }
  const std::string path = net_->Path("pairs.csv");
  std::ofstream(path) << file;
  Result<std::string> out =
      cli::RunCommand(CHUKAN_BINARY,
                      {"codes", "load", "--server", net_->ApiUrl(0), "--token",
                       net_->token(kCityA, Role::kSystem), "--chunk", "7", path},
                      net_->Path("codes-load.err"));
  // One bad line: exit 1, and the summary names its line in the file (10, in the second chunk).
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("exit 1"));
  std::ifstream err(net_->Path("codes-load.err"));
  std::string progress((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  EXPECT_THAT(progress, HasSubstr("registering codes: 20 / 20 (100%)"));
  // The codes of the 19 good lines exist: an inquiry about atena 320 reaches the hub, which
  // refuses it because city B never obtained a code for that person.
  json body = TaxInquiry(0);
  body["atena_no"] = Atena(320);
  const std::string id = Inquire(kCityA, body);
  json done = WaitFor(kCityA, id, {"completed", "refused", "failed"});
  EXPECT_EQ(done["state"], "refused");
  EXPECT_EQ(done["reason"], "NO_SUBJECT_AT_PROVIDER");
  // The bad line's atena_no got no code.
  EXPECT_EQ(Call(kCityA, "POST", "/api/v1/inquiries",
                 [&] {
                   json b = TaxInquiry(0);
                   b["atena_no"] = Atena(310);
                   return b.dump();
                 }())
                .status,
            412);
}

TEST_F(LinkageProcessTest, InquiriesBatchCliSendsSplitFilesInNameOrder) {
  StartNetwork();
  // Two parts of one split P640R110 file, as the tools write them (CRLF after the last line
  // too), named on the command line in the wrong order and sent as Shift_JIS.
  const std::string part1 = net_->Path("P640R110_20261126145450_0001.DAT");
  const std::string part2 = net_->Path("P640R110_20261126145450_0002.DAT");
  std::ofstream(part1, std::ios::binary) << BatchLine(Atena(101), kCityA, "JT90000000000101",
                                                      kCityB.str(), "TM00000000000002", "0", "") +
                                                "\r\n";
  std::ofstream(part2, std::ios::binary)
      << BatchLine(Atena(102), kCityA, "JT90000000000101", kCityB.str(), "TM00000000000002", "0",
                   "") +
             "\r\n" +
             BatchLine(Atena(103), kCityA, "JT90000000000101", kCityB.str(), "TM00000000000002",
                       "0", "") +
             "\r\n";
  const std::vector<std::string> common = {"inquiries", "batch",
                                           "--server",  net_->ApiUrl(0),
                                           "--token",   net_->token(kCityA, Role::kSystem),
                                           "--charset", "shift_jis"};
  // With --results the command waits for every line and writes each part's result file.
  const std::string results = net_->Path("results");
  std::filesystem::create_directories(results);
  std::vector<std::string> args = common;
  args.insert(args.end(), {"--results", results, part2, part1});
  ASSERT_OK_AND_ASSIGN(std::string out,
                       cli::RunCommand(CHUKAN_BINARY, args, net_->Path("batch-cli.err")));
  const std::string result1 = results + "/P640R110_20261126145450_0001_RESULT.DAT";
  const std::string result2 = results + "/P640R110_20261126145450_0002_RESULT.DAT";
  EXPECT_EQ(out, part1 +
                     ": 行 / lines 1, 受付 / accepted 1, 重複 / duplicates 0, 失敗 / failed 0\n" +
                     part2 +
                     ": 行 / lines 2, 受付 / accepted 2, 重複 / duplicates 0, 失敗 / failed 0\n"
                     "すべての行を受け付けました / every line made an inquiry\n" +
                     part1 + " → " + result1 + " (1 行 / lines)\n" + part2 + " → " + result2 +
                     " (2 行 / lines)\n");
  // In the files' own charset (Shift_JIS): 09 / 正常終了 / 01 in columns 24–26 of every line.
  const std::string sjis_done = "09,\x90\xb3\x8f\xed\x8f\x49\x97\xb9,01,";
  std::string r2 = ReadTree(results);
  std::ifstream in2(result2, std::ios::binary);
  std::stringstream ss2;
  ss2 << in2.rdbuf();
  const std::string body2 = ss2.str();
  size_t lines2 = 0;
  for (size_t at = 0; (at = body2.find("\r\n", at)) != std::string::npos; at += 2) ++lines2;
  EXPECT_EQ(lines2, 2u);
  size_t done = 0;
  for (size_t at = 0; (at = r2.find(sjis_done, at)) != std::string::npos; at += 1) ++done;
  EXPECT_EQ(done, 3u);  // the three lines of both files
  EXPECT_FALSE(std::filesystem::exists(result1 + ".part"));

  // Without --charset: UTF-8 (the server's default; no empty charset parameter is sent).
  const std::string utf8 = net_->Path("P640R110_20261126146000.DAT");
  std::ofstream(utf8, std::ios::binary) << BatchLine(Atena(105), kCityA, "JT90000000000101",
                                                     kCityB.str(), "TM00000000000002", "0", "") +
                                               "\r\n";
  ASSERT_OK_AND_ASSIGN(std::string plain,
                       cli::RunCommand(CHUKAN_BINARY,
                                       {"inquiries", "batch", "--server", net_->ApiUrl(0),
                                        "--token", net_->token(kCityA, Role::kSystem), utf8},
                                       net_->Path("batch-cli.err")));
  EXPECT_EQ(plain, utf8 +
                       ": 行 / lines 1, 受付 / accepted 1, 重複 / duplicates 0, 失敗 / failed 0\n"
                       "すべての行を受け付けました / every line made an inquiry\n");

  // A line that makes no inquiry: exit 1.
  const std::string bad = net_->Path("P640R110_20261126150000.DAT");
  std::ofstream(bad, std::ios::binary) << BatchLine(Atena(104), kInsurer, "JT90000000000101",
                                                    kCityB.str(), "TM00000000000002", "0", "") +
                                              "\r\n";
  args = common;
  args.push_back(bad);
  Result<std::string> failed = cli::RunCommand(CHUKAN_BINARY, args, net_->Path("batch-cli.err"));
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("exit 1"));
  // No file: usage.
  Result<std::string> usage =
      cli::RunCommand(CHUKAN_BINARY,
                      {"inquiries", "batch", "--server", net_->ApiUrl(0), "--token",
                       net_->token(kCityA, Role::kSystem), net_->Path("none.DAT")},
                      net_->Path("batch-cli.err"));
  ASSERT_FALSE(usage.ok());
  EXPECT_THAT(usage.status().message(), HasSubstr("exit 2"));
}

TEST_F(LinkageProcessTest, AtenaMapTableTurnsBusinessNumbersIntoAtenaNos) {
  StartNetwork();
  // The tenant switches to a mapping table (the CLI on the server's configuration) and loads
  // one through the API with the CLI: 宛名番号 9101 of 番号体系 01 is the person Atena(101).
  ASSERT_OK(cli::RunCommand(CHUKAN_BINARY,
                            {"staff", "settings", "--config", net_->server_config(0), "--tenant",
                             kCityA.str(), "--atena-mapping", "table", "--json"},
                            net_->Path("settings.err"))
                .status());
  const std::string map = net_->Path("atena-map.csv");
  std::ofstream(map, std::ios::binary)
      << "番号体系,宛名番号,統合宛名番号\r\n01,9101," + Atena(101) + "\r\n";
  ASSERT_OK_AND_ASSIGN(std::string loaded,
                       cli::RunCommand(CHUKAN_BINARY,
                                       {"atena-map", "load", "--server", net_->ApiUrl(0), "--token",
                                        net_->token(kCityA, Role::kSystem), map},
                                       net_->Path("atena-map.err")));
  EXPECT_EQ(loaded, "行 / lines: 1, 登録 / upserted: 1\n");
  http::Response status = Call(kCityA, "GET", "/api/v1/atena-map");
  EXPECT_EQ(status.body, R"({"mapping":"table","rows":1})");
  // A bad mapping file stores nothing and names the line and field.
  http::Response refused = Call(kCityA, "POST", "/api/v1/atena-map", "01,9102,12345\n", "text/csv");
  EXPECT_EQ(refused.status, 422);
  EXPECT_EQ(
      refused.body,
      R"j({"lines":1,"upserted":0,"errors":[{"line":1,"field":"統合宛名番号 (atena_no)","reason":"must be 15 digits"}]})j");

  auto line = [&](const std::string& business_no, const std::string& atena) {
    std::string l = BatchLine(business_no, kCityA, "JT90000000000101", kCityB.str(),
                              "TM00000000000002", "1", "20260401");  // fiscal year 2026
    return l.replace(l.find(",,"), 2, "," + atena + ",") + "\r\n";
  };
  const std::string file =
      line("9101", "") + line("9102", "") + line("9101", Atena(102)) + line("9101", Atena(101));
  http::Response r = Call(kCityA, "POST", "/api/v1/inquiries/batch", file, "text/plain");
  ASSERT_EQ(r.status, 207) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["accepted"], 2);
  EXPECT_EQ(j["results"][0]["state"], "accepted");
  EXPECT_EQ(j["results"][1]["errors"][0]["reason"],
            "宛名番号 (business number): not in the tenant's mapping table for this 番号体系 "
            "(numbering scheme)");
  EXPECT_EQ(j["results"][2]["errors"][0]["reason"],
            "統合宛名番号 (atena_no): differs from the tenant's mapping of the 宛名番号 (business "
            "number)");
  EXPECT_EQ(j["results"][3]["state"], "accepted");
  // The mapped line asked about Atena(101): its answer is that person's.
  json done = WaitFor(kCityA, j["results"][0]["inquiry_id"], {"completed", "refused", "failed"});
  ASSERT_EQ(done["state"], "completed") << done.dump();
  EXPECT_EQ(done["result"]["records"][0]["IT00000200000004"], Income(1));
}

TEST_F(LinkageProcessTest, KillNineOfAnyProcessLosesNothingAndDuplicatesNothing) {
  StartNetwork();
  // A run of 5,000 inquiries from 8 concurrent submitters; the hub, then the provider's server,
  // then the inquirer's server are killed with SIGKILL in the middle of it and restarted. Each
  // submitter re-sends an inquiry with the same idempotency key until it is accepted, as a
  // business system would while its server is down.
  constexpr int kInquiries = 5000;
  constexpr int kSubmitters = 8;
  std::vector<std::string> ids(kInquiries);
  std::atomic<int> next{0};
  std::atomic<int> accepted{0};
  std::atomic<int> resent{0};
  std::atomic<bool> gave_up{false};
  auto submitter = [&] {
    for (int i; (i = next.fetch_add(1)) < kInquiries && !gave_up;) {
      const std::string body = TaxInquiry(i % kPeople + 1, "kill-" + std::to_string(i)).dump();
      for (int attempt = 0;; ++attempt) {
        Result<http::Response> r =
            net_->Call(kCityA, Role::kSystem, "POST", "/api/v1/inquiries", body);
        if (r.ok() && r->status == 202) {
          ids[static_cast<size_t>(i)] = json::parse(r->body)["inquiry_id"].get<std::string>();
          accepted.fetch_add(1);
          break;
        }
        resent.fetch_add(1);
        if (attempt == 600) {  // 30 s
          gave_up = true;
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kSubmitters; ++t) threads.emplace_back(submitter);
  auto join = [&] {
    for (std::thread& t : threads) {
      if (t.joinable()) t.join();
    }
  };
  struct Joiner {
    std::function<void()> f;
    ~Joiner() { f(); }
  } joiner{[&] {
    gave_up = true;
    join();
  }};
  auto until_accepted = [&](int n) {
    while (accepted < n && !gave_up) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  };
  // How many of city A's inquiries are in `state` now (up to 1000): each kill must find work
  // in flight, or it would prove nothing.
  auto in_state = [&](const std::string& state) -> size_t {
    http::Response r = Call(kCityA, "GET", "/api/v1/inquiries?limit=1000&state=" + state);
    return r.status == 200 ? json::parse(r.body)["inquiries"].size() : 0;
  };
  until_accepted(1000);
  const size_t before_hub = in_state("accepted") + in_state("permitted");
  net_->KillHub();  // permits requested, permits being delivered, answers being relayed
  until_accepted(1500);
  ASSERT_OK(net_->RestartHub());
  until_accepted(2500);
  const size_t before_provider = in_state("permitted");
  net_->KillServer(1);  // the provider, mid-provision
  ASSERT_OK(net_->RestartServer(1));
  until_accepted(3800);
  const size_t before_inquirer = in_state("accepted") + in_state("permitted");
  net_->KillServer(0);  // the inquirer, with inquiries in every state and submitters waiting
  ASSERT_OK(net_->RestartServer(0));
  EXPECT_GT(before_hub, 0u);
  EXPECT_GT(before_provider, 0u);
  EXPECT_GT(before_inquirer, 0u);
  std::printf("in flight when killed: hub %zu, provider %zu, inquirer %zu\n", before_hub,
              before_provider, before_inquirer);
  join();
  ASSERT_FALSE(gave_up) << "a submitter could not get an inquiry accepted for 30 s";
  ASSERT_EQ(accepted, kInquiries);
  EXPECT_GT(resent, 0);  // the inquirer really was down while inquiries were being sent
  // Re-sending with the same idempotency keys after the crash creates nothing new.
  for (int i = 0; i < 10; ++i) {
    http::Response again = Call(kCityA, "POST", "/api/v1/inquiries",
                                TaxInquiry(i % kPeople + 1, "kill-" + std::to_string(i)).dump());
    EXPECT_EQ(again.status, 202);
    EXPECT_EQ(json::parse(again.body)["inquiry_id"], ids[static_cast<size_t>(i)]);
  }
  std::set<std::string> distinct(ids.begin(), ids.end());
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kInquiries));
  for (size_t i = 0; i < ids.size(); ++i) {
    json j = WaitFor(kCityA, ids[i], {"completed", "refused", "failed", "expired"},
                     std::chrono::seconds(120));
    ASSERT_EQ(j["state"], "completed") << i << ": " << j.dump();
    ASSERT_EQ(j["result"]["records"].size(), 1u);
    ASSERT_EQ(j["result"]["records"][0]["IT00000200000004"],
              Income(static_cast<int>(i) % kPeople + 1))
        << i;
  }
  // Exactly one permit and one provision per inquiry, at the hub and at the provider.
  json records = HubRecords(kCityA);
  std::set<std::string> references, permits;
  for (const json& r : records) {
    EXPECT_EQ(r["outcome"], "provided") << r.dump();
    references.insert(r["reference"].get<std::string>());
    permits.insert(r["permit_id"].get<std::string>());
  }
  EXPECT_EQ(records.size(), static_cast<size_t>(kInquiries));
  EXPECT_EQ(references, distinct);
  EXPECT_EQ(permits.size(), static_cast<size_t>(kInquiries));
  EXPECT_EQ(HubRecords(kCityB).size(), static_cast<size_t>(kInquiries));
  // The inquirer's own records, paged 50 at a time, list every inquiry exactly once.
  std::multiset<std::string> paged;
  int64_t after = 0;
  for (int page = 0; page < 1000; ++page) {
    http::Response r =
        Call(kCityA, "GET", "/api/v1/records?limit=50&after_us=" + std::to_string(after));
    ASSERT_EQ(r.status, 200) << r.body;
    json body = json::parse(r.body);
    if (body["records"].empty()) break;
    for (const json& rec : body["records"]) paged.insert(rec["id"].get<std::string>());
    after = body["next_after_us"].get<int64_t>();
  }
  EXPECT_EQ(paged.size(), static_cast<size_t>(kInquiries));
  EXPECT_EQ(std::set<std::string>(paged.begin(), paged.end()), distinct);
}

}  // namespace
}  // namespace chukan::testing
