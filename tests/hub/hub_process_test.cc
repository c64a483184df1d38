// The hub as a real process (`chukan hub`) over mutual TLS on loopback, with the test nodes of
// test_node.h standing in for organisations' servers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "common/status_matchers.h"
#include "common/test_util.h"
#include "crypto/bytes.h"
#include "crypto/sealed_box.h"
#include "http/client.h"
#include "json/json.h"
#include "linkage/envelope.h"
#include "linkage/permission_list.h"
#include "linkage/permit.h"
#include "pki/certificate_authority.h"
#include "server/hub_link.h"
#include "server_process.h"
#include "store/database.h"
#include "store/node_lease.h"
#include "test_node.h"
#include "wire_util.h"

namespace chukan::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const OrgCode kCityA = OrgCode::Parse("0000000000000021").value();
const OrgCode kCityB = OrgCode::Parse("0000000000000022").value();
const OrgCode kInsurer = OrgCode::Parse("0000000000000023").value();
const OrgCode kStranger = OrgCode::Parse("0000000000000029").value();

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every file under `dir`, concatenated (to search a database and its WAL for plaintext).
std::string ReadTree(const std::string& dir) {
  std::string all;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) all += ReadFile(e.path().string());
  }
  return all;
}

class HubProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(ca_, pki::CertificateAuthority::Init(dir_.File("pki")));
    Issue("hub", std::nullopt, true);
    for (const auto& [name, org] :
         {std::pair{"city-a", kCityA}, std::pair{"city-b", kCityB}, std::pair{"insurer", kInsurer},
          std::pair{"stranger", kStranger}}) {
      Issue(name, org, true);
      sign_keys_.emplace(org, crypto::SigningKey::Generate());
      std::ofstream(dir_.File(std::string("pki/") + name + ".sign.pub"))
          << crypto::ToHex(sign_keys_.at(org).verify_key().bytes()) << "\n";
    }
    config_ = dir_.File("hub.toml");
    std::ofstream(config_) << "[hub]\nport = 0\nworkers = 16\n"
                           << "[tls]\ncert = \"pki/hub.crt\"\nkey = \"pki/hub.key\"\n"
                           << "client_ca = \"pki/ca.crt\"\n"
                           << "[store]\ndata_dir = \"state\"\n"
                           << "[layout]\ndir = \"" << CHUKAN_LAYOUT_DIR << "\"\n"
                           << "[delivery]\nthreads = 8\nbackoff_base_ms = 50\n"
                           << "backoff_cap_ms = 500\ntimeout_ms = 3000\nlease_seconds = 10\n"
                           << "[log]\nlevel = \"info\"\npath = \"hub.log\"\n";
    // The hub's keys exist once any hub command ran; nodes need the public key first.
    CommandOutput show = RunChukan("hub permissions show --config " + config_);
    ASSERT_EQ(show.exit_code, 1) << show.out;  // no list yet
    ASSERT_OK_AND_ASSIGN(
        hub_key_, crypto::FromHex(ReadFile(dir_.File("state/keys/hub-signing.pub")).substr(0, 64)));
    StartNode(kCityA, "city-a");
    StartNode(kCityB, "city-b");
    StartNode(kInsurer, "insurer");
    // 千代田区 given with its check digit, 札幌市 by its leading 5 digits.
    Register(kCityA, "city-a", "municipality", "131016");
    Register(kCityB, "city-b", "municipality", "01100");
    Register(kInsurer, "insurer", "insurer");
    CommandOutput load = RunChukan("hub permissions load --config " + config_ + " " +
                                   CHUKAN_LAYOUT_DIR + "/../permissions/sample.csv");
    ASSERT_EQ(load.exit_code, 0) << load.out;
    EXPECT_THAT(load.out, HasSubstr("version 1: 15 rules"));
    StartHub();
  }

  void Issue(const std::string& name, std::optional<OrgCode> org, bool server) {
    pki::IssueRequest req;
    req.name = name;
    req.org = org;
    req.client = true;
    if (server) req.server_hosts = {"127.0.0.1"};
    ASSERT_OK(ca_->Issue(req).status());
  }

  void StartNode(const OrgCode& org, const std::string& name, std::chrono::milliseconds delay = {},
                 bool batches = false) {
    TestNode::Options o;
    o.org = org;
    o.cert_file = dir_.File("pki/" + name + ".crt");
    o.key_file = dir_.File("pki/" + name + ".key");
    o.ca_file = dir_.File("pki/ca.crt");
    o.hub_key = hub_key_;
    o.delay = delay;
    o.batches = batches;
    std::string error;
    nodes_[org] = TestNode::Start(o, &error);
    ASSERT_NE(nodes_[org], nullptr) << error;
  }

  // The arguments of `hub org add` for the organisation of certificate `name`.
  std::string OrgAddArgs(const OrgCode& org, const std::string& name, const std::string& cls,
                         const std::string& endpoint, const std::string& local_gov_code) {
    return "hub org add --config " + config_ + " --code " + org.str() + " --name " + name +
           " --class " + cls + " --endpoint " + endpoint + " --sign-key " +
           dir_.File("pki/" + name + ".sign.pub") + " --cert " + dir_.File("pki/" + name + ".crt") +
           (local_gov_code.empty() ? "" : " --local-gov-code " + local_gov_code);
  }

  void Register(const OrgCode& org, const std::string& name, const std::string& cls,
                const std::string& local_gov_code = "") {
    CommandOutput r =
        RunChukan(OrgAddArgs(org, name, cls, nodes_[org]->endpoint(), local_gov_code));
    ASSERT_EQ(r.exit_code, 0) << r.out;
  }

  void StartHub() {
    std::string log;
    ASSERT_TRUE(hub_.Start(config_, &log, "hub")) << log;
  }

  // A server's link to a hub on `port`, as city A (its certificate under tenant_tls_dir),
  // checking permission lists with the hub's public key.
  Result<std::unique_ptr<server::HubLink>> LinkAsCityA(int port) {
    std::filesystem::create_directories(dir_.File("tls"));
    for (const char* ext : {".crt", ".key"}) {
      std::filesystem::copy_file(dir_.File(std::string("pki/city-a") + ext),
                                 dir_.File("tls/" + kCityA.str() + ext),
                                 std::filesystem::copy_options::skip_existing);
    }
    server::HubLink::Options o;
    o.url = "https://127.0.0.1:" + std::to_string(port);
    o.ca_file = dir_.File("pki/ca.crt");
    o.public_key_file = dir_.File("state/keys/hub-signing.pub");
    o.tenant_tls_dir = dir_.File("tls");
    return server::HubLink::Create(o);
  }

  std::unique_ptr<http::Client> ClientFor(const std::string& name) {
    http::ClientOptions o;
    o.ca_file = dir_.File("pki/ca.crt");
    o.cert_file = dir_.File("pki/" + name + ".crt");
    o.key_file = dir_.File("pki/" + name + ".key");
    auto c = http::Client::Create(o);
    EXPECT_OK(c);
    return c.ok() ? std::move(*c) : nullptr;
  }

  http::Response Post(http::Client& c, const std::string& path, const std::string& body) {
    http::ClientRequest req;
    req.method = "POST";
    req.url = "https://127.0.0.1:" + std::to_string(hub_.port()) + path;
    req.body = body;
    req.headers.Add("Content-Type", "application/json");
    Result<http::Response> r = c.Send(req);
    EXPECT_OK(r);
    return r.ok() ? *r : http::Response(0, "", r.status().ToString());
  }

  http::Response Get(http::Client& c, const std::string& path) {
    http::ClientRequest req;
    req.url = "https://127.0.0.1:" + std::to_string(hub_.port()) + path;
    Result<http::Response> r = c.Send(req);
    EXPECT_OK(r);
    return r.ok() ? *r : http::Response(0, "", r.status().ToString());
  }

  std::string Code(http::Client& c, const std::string& rid) {
    http::Response r = Post(c, "/hub/v1/codes", R"({"resident_id":")" + rid + R"("})");
    EXPECT_EQ(r.status, 200) << r.body;
    auto o = json::ParseJsonObject(r.body);
    return o.ok() ? o->GetString("subject_code", 64).value_or("") : "";
  }

  std::string InquiryBody(const OrgCode& provider, const std::string& jt, const std::string& tm,
                          const std::string& code, const std::string& reference) {
    return R"({"provider":")" + provider.str() + R"(","procedure":")" + jt + R"(","tm":")" + tm +
           R"(","layout_version":"0001","subject_code":")" + code + R"(","reply_key":")" +
           crypto::ToBase64Url(reply_.public_key()) + R"(","reference":")" + reference + "\"}";
  }

  TempDir dir_;
  std::unique_ptr<pki::CertificateAuthority> ca_;
  std::map<OrgCode, crypto::SigningKey> sign_keys_;
  std::map<OrgCode, std::unique_ptr<TestNode>> nodes_;
  std::string config_;
  crypto::Bytes hub_key_;
  ServerProcess hub_;
  crypto::BoxKeyPair reply_ = crypto::BoxKeyPair::Generate();
};

TEST_F(HubProcessTest, InquiryPermitProvisionAndBlindRelayEndToEnd) {
  auto a = ClientFor("city-a");
  auto b = ClientFor("city-b");
  const std::string code_a = Code(*a, "12345678901");
  const std::string code_b = Code(*b, "12345678901");
  ASSERT_EQ(code_a.size(), 32u);
  EXPECT_NE(code_a, code_b);
  EXPECT_EQ(Code(*a, "12345678901"), code_a);

  // B answers each permit it receives: the marker sealed to the permit's reply key.
  const std::string marker = "MARKER-e2e-5d21-課税標準額-9876543";
  nodes_[kCityB]->set_on_permit([&](const linkage::ProvisionPermit& p) {
    linkage::Envelope e;
    e.permit_id = p.id;
    e.provider = kCityB;
    e.inquirer = p.inquirer;
    e.sealed_at_ms = ToUnixMicros(SystemClock::Get().Now()) / 1000;
    e.sealed = crypto::Seal(p.reply_key, crypto::AsBytes(marker)).value();
    auto client = ClientFor("city-b");
    http::Response r =
        Post(*client, "/hub/v1/provisions",
             linkage::SignedEnvelopeJson(linkage::SignEnvelope(e, sign_keys_.at(kCityB))));
    EXPECT_EQ(r.status, 202) << r.body;
  });
  http::Response r =
      Post(*a, "/hub/v1/inquiries",
           InquiryBody(kCityB, "JT90000000000101", "TM00000000000002", code_a, "inq-0001"));
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_OK_AND_ASSIGN(json::JsonObject permitted, json::ParseJsonObject(r.body));
  const std::string permit_id = permitted.GetString("permit_id", 64).value();

  ASSERT_TRUE(nodes_[kCityA]->WaitForResults(1, std::chrono::seconds(20)));
  // The provider got the permit with its own code for the person.
  ASSERT_EQ(nodes_[kCityB]->permits(), std::vector<std::string>{permit_id});
  auto results = nodes_[kCityA]->results();
  ASSERT_EQ(results.count(permit_id), 1u);
  ASSERT_OK_AND_ASSIGN(
      linkage::Envelope env,
      linkage::VerifyEnvelope(results.at(permit_id), sign_keys_.at(kCityB).verify_key()));
  ASSERT_OK_AND_ASSIGN(crypto::SecretBytes plain, crypto::Open(reply_, env.sealed));
  EXPECT_EQ(plain.AsStringView(), marker);

  // Records: A sees its inquiry as provided, with its own code.
  http::Response records = Get(*a, "/hub/v1/records");
  ASSERT_EQ(records.status, 200) << records.body;
  EXPECT_THAT(records.body, HasSubstr("\"outcome\":\"provided\""));
  EXPECT_THAT(records.body, HasSubstr(code_a));
  EXPECT_THAT(records.body, ::testing::Not(HasSubstr(code_b)));

  // The published list verifies with the hub key.
  http::Response list = Get(*a, "/hub/v1/permission-list");
  ASSERT_EQ(list.status, 200);
  ASSERT_OK_AND_ASSIGN(crypto::VerifyKey hub_key, crypto::VerifyKey::FromBytes(hub_key_));
  ASSERT_OK_AND_ASSIGN(linkage::PermissionList copy,
                       linkage::VerifyPublishedList(list.body, hub_key, SystemClock::Get().Now()));
  EXPECT_EQ(copy.version(), 1);
  // With its entity tag the hub answers 304, no content and no Content-Length (RFC 9110: it
  // would have to be the 200's); with any other tag, the body again.
  const std::string etag(list.headers.Get("ETag").value_or(""));
  ASSERT_EQ(etag.size(), 34u) << etag;  // a quoted 128-bit hex prefix of the body's SHA-256
  auto conditional = [&](const std::string& tag) {
    http::ClientRequest req;
    req.url = "https://127.0.0.1:" + std::to_string(hub_.port()) + "/hub/v1/permission-list";
    req.headers.Set("If-None-Match", tag);
    Result<http::Response> answer = a->Send(req);
    EXPECT_OK(answer);
    return answer.ok() ? *answer : http::Response(0, "", answer.status().ToString());
  };
  http::Response same = conditional(etag);
  EXPECT_EQ(same.status, 304);
  EXPECT_EQ(same.body, "");
  EXPECT_EQ(same.headers.Get("ETag").value_or(""), etag);
  EXPECT_FALSE(same.headers.Has("Content-Length"));
  http::Response other = conditional("\"00000000000000000000000000000000\"");
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.body, list.body);

  // Neither the marker nor the resident identifier is anywhere in the hub's files (database,
  // WAL, keys) or its log.
  hub_.Stop();
  const std::string state = ReadTree(dir_.File("state")) + ReadFile(dir_.File("hub.log"));
  EXPECT_GT(state.size(), 10000u);
  EXPECT_EQ(state.find("MARKER-e2e"), std::string::npos);
  EXPECT_EQ(state.find("9876543"), std::string::npos);
  EXPECT_EQ(state.find("12345678901"), std::string::npos);
  EXPECT_NE(state.find(permit_id), std::string::npos);  // the search itself works
}

// Certificate renewal without a restart (issue 14): on SIGHUP the hub reads its TLS files again;
// new connections get the renewed certificate and linkage goes on. A broken renewal is refused,
// logged, and the certificate before it stays in use.
// The hub's sweep runs on one node of those sharing its database: the one holding the
// "hub.sweep" lease, which a running hub takes at its first sweep and gives up when it stops,
// so that another hub node takes the sweep over at once.
TEST_F(HubProcessTest, TheHubLeadsTheSweepWhileItRunsAndStepsDownWhenItStops) {
  store::SqliteOptions so;
  so.path = dir_.File("state/platform.db");
  so.create = false;
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<store::Database> db, store::OpenSqlite(so));
  std::optional<store::NodeLease> lease;
  for (int i = 0; i < 100 && !lease; ++i) {  // the first sweep runs as the hub starts
    ASSERT_OK_AND_ASSIGN(lease, store::ReadNodeLease(*db, "hub.sweep"));
    if (!lease) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(lease.has_value());
  EXPECT_THAT(lease->owner, ::testing::StartsWith("hub-1:"));
  // An hour's sweep interval and 15 s more.
  EXPECT_EQ(lease->until_us - lease->since_us, (3600 + 15) * int64_t{1'000'000});
  // Ready for a balancer while its database answers.
  std::unique_ptr<http::Client> c = ClientFor("city-a");
  ASSERT_NE(c, nullptr);
  const http::Response ready = Get(*c, "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(ready.body, "{\"status\":\"ready\"}");
  // Its probe holds the lease of its name (the live hub nodes are listed in node_lease).
  ASSERT_OK_AND_ASSIGN(std::optional<store::NodeLease> name,
                       store::ReadNodeLease(*db, "node:hub-1"));
  ASSERT_TRUE(name.has_value());
  EXPECT_THAT(name->owner, ::testing::StartsWith("hub-1:"));
  EXPECT_EQ(hub_.Stop(), 0);
  ASSERT_OK_AND_ASSIGN(lease, store::ReadNodeLease(*db, "hub.sweep"));
  EXPECT_FALSE(lease.has_value());
  ASSERT_OK_AND_ASSIGN(name, store::ReadNodeLease(*db, "node:hub-1"));
  EXPECT_FALSE(name.has_value());
}

TEST_F(HubProcessTest, SighupReloadsTheRenewedCertificateWithoutARestart) {
  using http::testing::PresentedCommonName;
  const uint16_t port = static_cast<uint16_t>(hub_.port());
  EXPECT_EQ(PresentedCommonName(port), "hub");
  auto city = ClientFor("city-a");
  const std::string before = Code(*city, "98765432109");
  ASSERT_FALSE(before.empty());

  Issue("hub-renewed", std::nullopt, true);
  namespace fs = std::filesystem;
  for (const char* ext : {".crt", ".key"}) {
    fs::copy_file(dir_.File(std::string("pki/hub-renewed") + ext),
                  dir_.File(std::string("pki/hub") + ext), fs::copy_options::overwrite_existing);
  }
  EXPECT_EQ(PresentedCommonName(port), "hub");  // nothing is read until the signal
  EXPECT_EQ(hub_.SignalAndReadLine(SIGHUP),
            "chukan hub: 証明書を再読込しました / TLS files reloaded");
  EXPECT_EQ(PresentedCommonName(port), "hub-renewed");
  EXPECT_EQ(Code(*ClientFor("city-a"), "98765432109"), before);  // the same process, state
  EXPECT_EQ(Code(*city, "98765432109"), before);                 // and the connection made before

  std::ofstream(dir_.File("pki/hub.key"), std::ios::trunc) << "half-written";
  ::kill(hub_.pid(), SIGHUP);
  // The refusal is in the log as it happens (stdout says nothing; stderr has the message).
  std::string log;
  for (int i = 0; i < 200 && log.find("http.tls_reload_failed") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    log = ReadFile(dir_.File("hub.log"));
  }
  EXPECT_THAT(log, HasSubstr("http.tls_reload_failed"));
  EXPECT_THAT(log, HasSubstr("hub.key"));
  EXPECT_EQ(PresentedCommonName(port), "hub-renewed");
  EXPECT_EQ(Code(*ClientFor("city-a"), "98765432109"), before);
}

TEST_F(HubProcessTest, RefusedCombinationIsRecordedAndTheProviderNeverContacted) {
  auto insurer = ClientFor("insurer");
  auto a = ClientFor("city-a");
  auto b = ClientFor("city-b");
  const std::string code_i = Code(*insurer, "22222222222");
  const std::string code_a = Code(*a, "22222222222");
  Code(*b, "22222222222");
  http::Response refused =
      Post(*insurer, "/hub/v1/inquiries",
           InquiryBody(kCityB, "JT90000000000402", "TM90000000000102", code_i, "ins-1"));
  EXPECT_EQ(refused.status, 403);
  EXPECT_THAT(refused.body, HasSubstr(R"("code":"REFUSED")"));
  EXPECT_THAT(refused.body, HasSubstr(R"("reason":"NOT_PERMITTED")"));
  // A permitted inquiry afterwards: once it arrived, B has received exactly that one.
  http::Response ok =
      Post(*a, "/hub/v1/inquiries",
           InquiryBody(kCityB, "JT90000000000101", "TM00000000000002", code_a, "a-1"));
  ASSERT_EQ(ok.status, 201) << ok.body;
  ASSERT_TRUE(nodes_[kCityB]->WaitForPermits(1, std::chrono::seconds(20)));
  EXPECT_EQ(nodes_[kCityB]->wire_permits(), 1);
  http::Response records = Get(*insurer, "/hub/v1/records");
  EXPECT_THAT(records.body, HasSubstr(R"("outcome":"refused","reason":"NOT_PERMITTED")"));
  EXPECT_THAT(Get(*b, "/hub/v1/records").body, ::testing::Not(HasSubstr("refused")));
}

// A batch of permit requests is answered item by item, in order, once every permitted item is
// durable (each from its commit, POST /hub/v1/batch/inquiries): permits 201, the same reference
// twice in one batch one permit (the second item answered with the first's id), a refusal 403
// with its reason, a malformed item 400, an item that is not JSON 400 in its own result (the
// batch's other items answered all the same) — and only the permit is delivered, once.
TEST_F(HubProcessTest, ABatchIsAnsweredItemByItemInOrderOnceItsPermitsAreDurable) {
  auto a = ClientFor("city-a");
  Code(*ClientFor("city-b"), "55555555555");
  const std::string code_a = Code(*a, "55555555555");
  const std::vector<std::string> items = {
      InquiryBody(kCityB, "JT90000000000101", "TM00000000000002", code_a, "mixed-1"),
      R"({"provider":"not a code"})",
      InquiryBody(kCityB, "JT90000000000102", "TM00000000000004", code_a, "mixed-2"),
      InquiryBody(kCityB, "JT90000000000101", "TM00000000000002", code_a, "mixed-1"),
      R"({"provider":tru})",
  };
  http::Response posted = Post(*a, "/hub/v1/batch/inquiries", http::BatchRequestJson(items));
  ASSERT_EQ(posted.status, 200) << posted.body;
  ASSERT_OK_AND_ASSIGN(std::vector<http::Response> answers,
                       http::ParseBatchResponse(posted.body, items.size()));
  ASSERT_EQ(answers[0].status, 201) << answers[0].body;
  const std::string permit_id =
      json::ParseJsonObject(answers[0].body)->GetString("permit_id", 64).value();
  EXPECT_EQ(answers[1].status, 400) << answers[1].body;
  EXPECT_EQ(answers[2].status, 403) << answers[2].body;
  EXPECT_THAT(answers[2].body, HasSubstr(R"("reason":"NOT_PERMITTED")"));
  // Decided before the first item's write committed (a race with itself) or after it: either
  // way a repeat (200) with the recorded permit.
  ASSERT_EQ(answers[3].status, 200) << answers[3].body;
  EXPECT_EQ(json::ParseJsonObject(answers[3].body)->GetString("permit_id", 64).value(), permit_id);
  EXPECT_EQ(answers[4].status, 400) << answers[4].body;
  EXPECT_THAT(answers[4].body, HasSubstr("invalid JSON"));
  ASSERT_TRUE(nodes_[kCityB]->WaitForPermits(1, std::chrono::seconds(20)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a second delivery, if any
  EXPECT_EQ(nodes_[kCityB]->permits(), std::vector<std::string>{permit_id});
  EXPECT_THAT(Get(*a, "/hub/v1/records").body,
              HasSubstr(R"("outcome":"refused","reason":"NOT_PERMITTED")"));
}

// Backpressure (issue 16): while [delivery] max_backlog messages wait to be delivered (here the
// provider answers every permit 503 with Retry-After), a new permit request is answered 503 with
// Retry-After before it is decided; the waiting messages go again after the provider's
// Retry-After without counting attempts, and once they are delivered the hub takes requests
// again. Nothing is lost and nothing delivered twice.
TEST_F(HubProcessTest, AFullDeliveryBacklogTurnsNewPermitRequestsAwayUntilItDrains) {
  hub_.Stop();
  std::string config = ReadFile(config_);
  const size_t at = config.find("[delivery]\n");
  ASSERT_NE(at, std::string::npos);
  config.insert(at + 11, "max_backlog = 3\n");
  std::ofstream(config_) << config;
  StartHub();
  nodes_[kCityB]->set_busy(true);
  auto a = ClientFor("city-a");
  Code(*ClientFor("city-b"), "33333333333");
  const std::string code_a = Code(*a, "33333333333");
  auto inquiry = [&](int n) {
    return InquiryBody(kCityB, "JT90000000000101", "TM00000000000002", code_a,
                       "busy-" + std::to_string(n));
  };
  for (int n = 1; n <= 3; ++n) {
    http::Response r = Post(*a, "/hub/v1/inquiries", inquiry(n));
    ASSERT_EQ(r.status, 201) << "permit " << n << ": " << r.body;
  }
  http::Response busy = Post(*a, "/hub/v1/inquiries", inquiry(4));
  EXPECT_EQ(busy.status, 503) << busy.body;
  EXPECT_EQ(busy.headers.Get("Retry-After").value_or(""), "1");
  EXPECT_THAT(busy.body, HasSubstr("BUSY: 3 or more messages wait to be delivered"));
  // The provider turned the three away at least once each, and has none of them yet.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (nodes_[kCityB]->wire_permits() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GE(nodes_[kCityB]->wire_permits(), 3);
  EXPECT_TRUE(nodes_[kCityB]->permits().empty());
  // Still full a second later (the busy answers keep them waiting, and the count sees them).
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_EQ(Post(*a, "/hub/v1/inquiries", inquiry(4)).status, 503);

  nodes_[kCityB]->set_busy(false);
  ASSERT_TRUE(nodes_[kCityB]->WaitForPermits(3, std::chrono::seconds(20)));
  // Drained: the fourth is taken once the count has seen the deliveries.
  http::Response taken;
  while (std::chrono::steady_clock::now() < deadline + std::chrono::seconds(10)) {
    taken = Post(*a, "/hub/v1/inquiries", inquiry(4));
    if (taken.status != 503) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(taken.status, 201) << taken.body;
  ASSERT_TRUE(nodes_[kCityB]->WaitForPermits(4, std::chrono::seconds(20)));
  EXPECT_EQ(nodes_[kCityB]->permits().size(), 4u);  // each once
  hub_.Stop();
  const std::string log = ReadFile(dir_.File("hub.log"));
  EXPECT_EQ(log.find("hub.delivery_dead"), std::string::npos);
  EXPECT_EQ(log.find("hub.delivery_failed"), std::string::npos);  // busy is no failure
}

// A provider that takes batches and, overloaded, answers each item 503 BUSY inside a batch
// answered 200: the hub rebuilds each item's answer from the batch and defers it (no failed
// attempt, no backoff) until the provider recovers; then each permit arrives once.
TEST_F(HubProcessTest, ItemsAnsweredBusyInsideABatchWaitUntilTheProviderRecovers) {
  hub_.Stop();
  nodes_.erase(kCityB);
  StartNode(kCityB, "city-b", {}, /*batches=*/true);
  Register(kCityB, "city-b", "municipality");
  StartHub();
  nodes_[kCityB]->set_busy(true);
  auto a = ClientFor("city-a");
  Code(*ClientFor("city-b"), "44444444444");
  const std::string code_a = Code(*a, "44444444444");
  constexpr int kPermits = 3;
  std::vector<std::string> items;
  for (int n = 0; n < kPermits; ++n) {
    items.push_back(InquiryBody(kCityB, "JT90000000000101", "TM00000000000002", code_a,
                                "batch-busy-" + std::to_string(n)));
  }
  // One request, so that the permits wait in the outbox together and travel as one batch.
  http::Response posted = Post(*a, "/hub/v1/batch/inquiries", http::BatchRequestJson(items));
  ASSERT_EQ(posted.status, 200) << posted.body;
  ASSERT_OK_AND_ASSIGN(std::vector<http::Response> answers,
                       http::ParseBatchResponse(posted.body, kPermits));
  std::set<std::string> issued;
  for (const http::Response& r : answers) {
    ASSERT_EQ(r.status, 201) << r.body;
    issued.insert(json::ParseJsonObject(r.body)->GetString("permit_id", 64).value());
  }
  // Turned away inside batches, round after round (each round a Retry-After later).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (nodes_[kCityB]->busy_in_batches() < 2 * kPermits &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GE(nodes_[kCityB]->busy_in_batches(), 2 * kPermits);
  EXPECT_TRUE(nodes_[kCityB]->permits().empty());

  nodes_[kCityB]->set_busy(false);
  ASSERT_TRUE(nodes_[kCityB]->WaitForPermits(kPermits, std::chrono::seconds(20)));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // late duplicates, if any
  const std::vector<std::string> got = nodes_[kCityB]->permits();
  EXPECT_EQ(got.size(), static_cast<size_t>(kPermits));  // each once
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), issued);
  EXPECT_TRUE(nodes_[kCityB]->refused().empty());
  hub_.Stop();
  const std::string log = ReadFile(dir_.File("hub.log"));
  EXPECT_EQ(log.find("hub.delivery_dead"), std::string::npos);
  EXPECT_EQ(log.find("hub.delivery_failed"), std::string::npos);  // busy is no failed attempt
  // The hub's own count, logged as it stopped: every busy answer deferred, none retried.
  const size_t stopped = log.rfind(R"("event":"hub.stopped")");
  ASSERT_NE(stopped, std::string::npos);
  const std::string line = log.substr(stopped, log.find('\n', stopped) - stopped);
  EXPECT_THAT(line, HasSubstr(R"("retried":0,)")) << line;
  EXPECT_THAT(line, Not(HasSubstr(R"("busy":0})"))) << line;
  EXPECT_THAT(line, HasSubstr(R"("delivered":3,)")) << line;
}

TEST_F(HubProcessTest, UnknownForeignAndDisabledOrganisationsAreRefused) {
  // A certificate of the right CA for an organisation that is not registered.
  auto stranger = ClientFor("stranger");
  http::Response r = Post(*stranger, "/hub/v1/codes", R"({"resident_id":"12345678901"})");
  EXPECT_EQ(r.status, 401);
  // A certificate from another CA never gets through the handshake.
  ASSERT_OK_AND_ASSIGN(auto other, pki::CertificateAuthority::Init(dir_.File("other")));
  pki::IssueRequest req;
  req.name = "intruder";
  req.org = kCityA;
  req.client = true;
  ASSERT_OK(other->Issue(req).status());
  http::ClientOptions o;
  o.ca_file = dir_.File("pki/ca.crt");
  o.cert_file = dir_.File("other/intruder.crt");
  o.key_file = dir_.File("other/intruder.key");
  ASSERT_OK_AND_ASSIGN(auto intruder, http::Client::Create(o));
  http::ClientRequest get;
  get.url = "https://127.0.0.1:" + std::to_string(hub_.port()) + "/hub/v1/permission-list";
  EXPECT_THAT(intruder->Send(get), StatusIs(StatusCode::kUnauthenticated));
  // Bad input names the field.
  auto a = ClientFor("city-a");
  http::Response bad = Post(*a, "/hub/v1/codes", R"({"resident_id":"123"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("resident_id"));
  // Disabled: refused within about a second, by the running hub.
  CommandOutput d = RunChukan("hub org disable --config " + config_ + " --code " + kCityA.str());
  ASSERT_EQ(d.exit_code, 0) << d.out;
  int status = 0;
  for (int i = 0; i < 50 && status != 403; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    status = Get(*a, "/hub/v1/records").status;
  }
  EXPECT_EQ(status, 403);
}

// `chukan ARGS` with standard error captured too (RunChukan keeps standard output only).
CommandOutput RunChukanWithStderr(const std::string& args) {
  CommandOutput r;
  FILE* p = popen((std::string(ChukanBinary()) + " " + args + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// 地方公共団体コード: registered with `hub org add`, listed, unique, and resolved by a server's
// HubLink from its verified copy of the permission list.
TEST_F(HubProcessTest, LocalGovCodesAreRegisteredUniqueAndResolvedThroughHubLink) {
  CommandOutput list = RunChukan("hub org list --config " + config_);
  ASSERT_EQ(list.exit_code, 0) << list.out;
  EXPECT_THAT(list.out, HasSubstr("団体/lg"));
  EXPECT_THAT(list.out, HasSubstr(kCityA.str() + "  active    municipality    131016    https://"));
  EXPECT_THAT(list.out, HasSubstr(kCityB.str() + "  active    municipality    011002    https://"));
  EXPECT_THAT(list.out,
              HasSubstr(kInsurer.str() + "  active    insurer         -         https://"));

  // Another organisation may not take 千代田区's code (5 digits or 6); a wrong check digit is a
  // usage error that does not repeat the code.
  for (const std::string code : {"131016", "13101"}) {
    CommandOutput dup = RunChukanWithStderr(
        OrgAddArgs(kStranger, "stranger", "municipality", "https://127.0.0.1:1", code));
    EXPECT_EQ(dup.exit_code, 1) << dup.out;
    EXPECT_EQ(dup.out,
              "chukan hub: 機関を登録できません / cannot register the organisation: "
              "ALREADY_EXISTS: local_gov_code (地方公共団体コード): already registered to "
              "organisation 0000000000000021 (他の機関に登録済みです)\n");
  }
  CommandOutput bad = RunChukanWithStderr(
      OrgAddArgs(kStranger, "stranger", "municipality", "https://127.0.0.1:1", "131017"));
  EXPECT_EQ(bad.exit_code, 2) << bad.out;
  EXPECT_EQ(bad.out,
            "chukan hub: 地方公共団体コードが不正です / bad --local-gov-code: INVALID_ARGUMENT: "
            "local_gov_code (地方公共団体コード): the 6th digit is not the check digit of the "
            "first 5 (検査数字が一致しません)\n");
  list = RunChukan("hub org list --config " + config_);
  EXPECT_THAT(list.out, HasSubstr("3 機関 / organisations"));

  // A server's link to the hub, as city A.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<server::HubLink> link, LinkAsCityA(hub_.port()));
  EXPECT_THAT(
      link->OrgByLocalGovCode("13101"),
      StatusIs(StatusCode::kFailedPrecondition, HasSubstr("照会許可用照合リストがありません")));
  ASSERT_OK(link->RefreshPermissionList(kCityA));
  // Asked again with nothing new, the hub answers 304 and the copy verified is kept as it is.
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const linkage::PermissionList> first,
                       link->PermissionList());
  ASSERT_OK(link->RefreshPermissionList(kCityA));
  EXPECT_EQ(link->list_fetches().verified, 1);
  EXPECT_EQ(link->list_fetches().not_modified, 1);
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const linkage::PermissionList> kept, link->PermissionList());
  EXPECT_EQ(kept, first);
  auto org = [&](std::string_view code) {
    Result<OrgCode> r = link->OrgByLocalGovCode(code);
    return r.ok() ? r->str() : r.status().ToString();
  };
  EXPECT_EQ(org("13101"), kCityA.str());
  EXPECT_EQ(org("131016"), kCityA.str());
  EXPECT_EQ(org("01100"), kCityB.str());
  EXPECT_EQ(org("011002"), kCityB.str());
  EXPECT_EQ(org("131017"),
            "INVALID_ARGUMENT: local_gov_code (地方公共団体コード): the 6th digit is not the "
            "check digit of the first 5 (検査数字が一致しません)");
  EXPECT_EQ(org("141003"), "NOT_FOUND: 地方公共団体コード: not in the hub's registry");
  EXPECT_EQ(org("1410"),
            "INVALID_ARGUMENT: local_gov_code (地方公共団体コード): expected 6 digits with the "
            "check digit, or the leading 5, got 4 bytes");

  // A code registered while the hub runs reaches the server with its next copy.
  Register(kInsurer, "insurer", "insurer", "141003");
  std::string found;
  for (int i = 0; i < 50 && found != kInsurer.str(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_OK(link->RefreshPermissionList(kCityA));
    found = org("14100");
  }
  EXPECT_EQ(found, kInsurer.str());
  // The new copy came as a 200 and was verified.
  EXPECT_EQ(link->list_fetches().verified, 2);
}

// The load generator's stand-in provider (TestNode::Options::verify_signatures_later) takes a
// permit whose signature is not the hub's on arrival, as it must to keep the check off the
// timed run, and VerifyDeferredSignatures then finds it: the benchmark fails such a run. A node
// that checks on arrival refuses the same permit.
TEST_F(HubProcessTest, ADeferredSignatureCheckFindsAPermitTheHubDidNotSign) {
  linkage::ProvisionPermit p;
  p.id = PermitId::Parse("00112233445566778899aabbccddeeff").value();
  p.issued_at_ms = ToUnixMicros(SystemClock::Get().Now()) / 1000;
  p.expires_at_ms = p.issued_at_ms + 600'000;
  p.inquirer = kCityA;
  p.provider = kCityB;
  p.procedure = JtCode::Parse("JT90000000000101").value();
  p.tm = TmCode::Parse("TM00000000000002").value();
  p.layout_version = "0001";
  p.subject = SubjectCode::Parse("ffeeddccbbaa99887766554433221100").value();
  p.reply_key = crypto::Bytes(32, 7);
  p.reference = "forged-1";
  const std::string forged = linkage::SignedPermitJson(
      linkage::SignPermit(p, crypto::SigningKey::Generate()));  // not the hub's key
  auto client = ClientFor("city-a");
  auto post_to = [&](TestNode& node) {
    http::ClientRequest req;
    req.method = "POST";
    req.url = node.endpoint() + "/node/v1/provision-requests";
    req.body = forged;
    Result<http::Response> r = client->Send(req);
    return r.ok() ? r->status : -1;
  };
  TestNode::Options o;
  o.org = kCityB;
  o.cert_file = dir_.File("pki/city-b.crt");
  o.key_file = dir_.File("pki/city-b.key");
  o.ca_file = dir_.File("pki/ca.crt");
  o.hub_key = hub_key_;
  std::string error;
  std::unique_ptr<TestNode> checking = TestNode::Start(o, &error);
  ASSERT_NE(checking, nullptr) << error;
  EXPECT_EQ(post_to(*checking), 401);
  o.verify_signatures_later = true;
  std::unique_ptr<TestNode> deferring = TestNode::Start(o, &error);
  ASSERT_NE(deferring, nullptr) << error;
  EXPECT_EQ(post_to(*deferring), 200);
  EXPECT_EQ(deferring->permits(), std::vector<std::string>{p.id.str()});
  int64_t checked = -1;
  EXPECT_EQ(deferring->VerifyDeferredSignatures(&checked), 1);
  EXPECT_EQ(checked, 1);
  EXPECT_EQ(deferring->VerifyDeferredSignatures(&checked), 0);  // checked once, then forgotten
  EXPECT_EQ(checked, 0);
}

// A 304 answers a copy the server asked about (If-None-Match). A hub (or anything in its place)
// that answers 304 to a server holding no copy has said nothing: the refresh fails, naming the
// status, and no copy appears.
TEST_F(HubProcessTest, A304ToAServerThatHoldsNoCopyIsAFailedRefresh) {
  http::Router router;
  std::atomic<int> asked_with_etag{0};
  ASSERT_OK(router.Add("GET", "/hub/v1/permission-list", [&](http::Request& req) {
    if (req.Header("If-None-Match")) asked_with_etag.fetch_add(1);
    return http::Response::Json(304, "");
  }));
  http::ServerOptions so;
  so.threads = 1;
  so.tls = true;
  so.tls_options = {dir_.File("pki/hub.crt"), dir_.File("pki/hub.key"), dir_.File("pki/ca.crt"),
                    true};
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<http::Server> fake,
                       http::Server::Create(so, std::move(router)));
  ASSERT_OK(fake->Start());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<server::HubLink> link, LinkAsCityA(fake->port()));
  EXPECT_THAT(
      link->RefreshPermissionList(kCityA),
      StatusIs(StatusCode::kUnavailable, HasSubstr("fetching the permission list: HTTP 304")));
  EXPECT_EQ(asked_with_etag.load(), 0);  // it held no copy, so it named none
  EXPECT_EQ(link->list_fetches().not_modified, 0);
  EXPECT_EQ(link->list_fetches().verified, 0);
  EXPECT_THAT(link->PermissionList(), StatusIs(StatusCode::kFailedPrecondition));
  fake->Stop(std::chrono::seconds(1));
}

TEST_F(HubProcessTest, HubKilledMidDeliveryDeliversEachPermitExactlyOnceAfterRestart) {
  // A slow provider, so that deliveries are in flight when the hub dies.
  nodes_.erase(kCityB);
  StartNode(kCityB, "city-b", std::chrono::milliseconds(20));
  Register(kCityB, "city-b", "municipality");
  auto a = ClientFor("city-a");
  auto b = ClientFor("city-b");
  constexpr int kPermits = 120;
  std::vector<std::string> codes;
  for (int i = 0; i < kPermits; ++i) {
    const std::string rid = std::to_string(30000000000LL + i);
    codes.push_back(Code(*a, rid));
    Code(*b, rid);
  }
  // Wait until the running hub has picked up B's new endpoint.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  std::set<std::string> issued;
  for (int i = 0; i < kPermits; ++i) {
    http::Response r = Post(*a, "/hub/v1/inquiries",
                            InquiryBody(kCityB, "JT90000000000101", "TM00000000000002", codes[i],
                                        "crash-" + std::to_string(i)));
    ASSERT_EQ(r.status, 201) << r.body;
    issued.insert(json::ParseJsonObject(r.body)->GetString("permit_id", 64).value());
  }
  ASSERT_TRUE(nodes_[kCityB]->WaitForPermits(10, std::chrono::seconds(20)));
  hub_.Kill();
  const size_t before_restart = nodes_[kCityB]->permits().size();
  EXPECT_LT(before_restart, static_cast<size_t>(kPermits)) << "the crash came too late to test";
  StartHub();
  ASSERT_TRUE(nodes_[kCityB]->WaitForPermits(kPermits, std::chrono::seconds(60)))
      << nodes_[kCityB]->permits().size() << " of " << kPermits;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // late duplicates, if any
  const std::vector<std::string> got = nodes_[kCityB]->permits();
  EXPECT_EQ(got.size(), static_cast<size_t>(kPermits));
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), issued);
  EXPECT_GE(nodes_[kCityB]->wire_permits(), kPermits);
  EXPECT_TRUE(nodes_[kCityB]->refused().empty());
}

// A stop signal while permit requests are committing (the permit routes answer from their
// commit, holding no worker): the hub exits 0; each request in flight is either answered — and
// then its permit is durable — or its connection fails. After a restart every permit that was
// answered 201 reaches the provider, once.
TEST_F(HubProcessTest, AStopWithPermitsCommittingLosesNoAnsweredPermit) {
  auto b = ClientFor("city-b");
  constexpr int kSenders = 6;
  constexpr int kResidents = 10;
  std::vector<std::unique_ptr<http::Client>> senders;
  for (int t = 0; t < kSenders; ++t) senders.push_back(ClientFor("city-a"));
  std::vector<std::string> codes;
  for (int i = 0; i < kResidents; ++i) {
    const std::string rid = std::to_string(40000000000LL + i);
    codes.push_back(Code(*senders[0], rid));
    Code(*b, rid);
  }
  std::mutex mu;
  std::set<std::string> answered;  // permit ids answered 201
  int failed = 0;                  // requests whose connection failed (the hub stopping)
  std::map<int, int> other;        // any other status, by status
  std::atomic<bool> go_on{true};
  // The stop signal's time (steady clock, ns; 0 before it), and the requests sent before it that
  // ended — answered or failed — after it: those the stop met in flight.
  std::atomic<int64_t> stop_at{0};
  int in_flight_at_stop = 0;
  auto now_ns = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kSenders; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; go_on.load() && i < 2000; ++i) {
        http::ClientRequest req;
        req.method = "POST";
        req.url = "https://127.0.0.1:" + std::to_string(hub_.port()) + "/hub/v1/inquiries";
        req.headers.Add("Content-Type", "application/json");
        req.body =
            InquiryBody(kCityB, "JT90000000000101", "TM00000000000002", codes[i % kResidents],
                        "stop-" + std::to_string(t) + "-" + std::to_string(i));
        const int64_t sent = now_ns();
        Result<http::Response> r = senders[t]->Send(req);
        const int64_t ended = now_ns();
        std::lock_guard<std::mutex> lock(mu);
        const int64_t stopped = stop_at.load();
        if (stopped != 0 && sent < stopped && ended >= stopped) ++in_flight_at_stop;
        if (!r.ok()) {
          ++failed;
          return;  // the hub is gone
        }
        if (r->status == 201) {
          answered.insert(json::ParseJsonObject(r->body)->GetString("permit_id", 64).value());
        } else {
          ++other[r->status];
        }
      }
    });
  }
  // Stop once some permits are answered, with the senders still sending.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (answered.size() >= 100) break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no permits answered";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop_at.store(now_ns());
  EXPECT_EQ(hub_.Stop(), 0);
  go_on.store(false);
  for (std::thread& t : threads) t.join();
  // The stop met requests in flight (else this tests an idle stop): with six senders sending
  // back to back, nearly always all six.
  EXPECT_GE(in_flight_at_stop, 1);
  // Refused while stopping, if at all, with 503.
  for (const auto& [status, n] : other) EXPECT_EQ(status, 503) << n << " answered " << status;
  EXPECT_LT(answered.size(), static_cast<size_t>(kSenders * 2000)) << "the stop came too late";
  StartHub();
  ASSERT_TRUE(nodes_[kCityB]->WaitForPermits(answered.size(), std::chrono::seconds(60)))
      << nodes_[kCityB]->permits().size() << " of " << answered.size();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // late ones, if any
  const std::vector<std::string> got = nodes_[kCityB]->permits();
  const std::set<std::string> delivered(got.begin(), got.end());
  EXPECT_EQ(delivered.size(), got.size());
  // Every answered permit delivered; beyond them, at most the requests whose answer was lost
  // with the connection (committed, then not answered).
  for (const std::string& id : answered) EXPECT_TRUE(delivered.count(id)) << id;
  EXPECT_LE(delivered.size(), answered.size() + static_cast<size_t>(failed));
  EXPECT_TRUE(nodes_[kCityB]->refused().empty());
}

}  // namespace
}  // namespace chukan::testing
