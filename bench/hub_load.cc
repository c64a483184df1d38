// chukan_hub_load: permits per second through the whole hub path — permission check, code
// translation, signature, durable record (group commit), delivery over mutual TLS to the
// provider's server (a test node on loopback) — with a real `chukan hub` process.
//
//   chukan_hub_load --chukan build/release/src/cli/chukan --layout data/layout
//                   [--permits 20000] [--concurrency 64] [--persons 2000]
//                   [--backend sqlite|postgres] [--dsn DSN]
//
// Latency of one permit = from sending POST /hub/v1/inquiries to the permit's arrival at the
// provider's node; also reported: the HTTP answer latency (the permit is durable by then).
// Throughput = permits / (last arrival − first send). Prints the hub's peak RSS.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "common/test_util.h"
#include "crypto/bytes.h"
#include "crypto/sealed_box.h"
#include "http/client.h"
#include "json/json.h"
#include "pki/certificate_authority.h"
#include "server_process.h"
#include "test_node.h"

namespace chukan {
namespace {

using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

long PeakRssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

int Run(int argc, char** argv) {
  CLI::App app{"chukan_hub_load: permits/s through the whole hub path"};
  std::string chukan_bin;
  std::string layout;
  int permits = 20000;
  int concurrency = 64;
  int persons = 2000;
  std::string backend = "sqlite";
  std::string dsn;
  app.add_option("--chukan", chukan_bin, "the chukan binary")->required();
  app.add_option("--layout", layout, "data/layout directory")->required();
  app.add_option("--permits", permits)->capture_default_str();
  app.add_option("--concurrency", concurrency)->capture_default_str();
  app.add_option("--persons", persons)->capture_default_str();
  app.add_option("--backend", backend)->capture_default_str();
  app.add_option("--dsn", dsn);
  CLI11_PARSE(app, argc, argv);

  testing::TempDir dir;
  auto ca = pki::CertificateAuthority::Init(dir.File("pki")).value();
  const OrgCode inquirer = OrgCode::Parse("0000000000000101").value();
  const OrgCode provider = OrgCode::Parse("0000000000000102").value();
  for (const auto& [name, org] : {std::pair<std::string, std::optional<OrgCode>>{"hub", {}},
                                  {"inquirer", inquirer},
                                  {"provider", provider}}) {
    pki::IssueRequest req;
    req.name = name;
    req.org = org;
    req.client = true;
    req.server_hosts = {"127.0.0.1"};
    if (!ca->Issue(req).ok()) return 1;
    crypto::SigningKey k = crypto::SigningKey::Generate();
    std::ofstream(dir.File("pki/" + name + ".sign.pub"))
        << crypto::ToHex(k.verify_key().bytes()) << "\n";
  }
  const std::string config = dir.File("hub.toml");
  {
    std::ofstream c(config);
    c << "[hub]\nport = 0\nthreads = 2\nworkers = " << std::max(16, concurrency + 8) << "\n"
      << "[tls]\ncert = \"pki/hub.crt\"\nkey = \"pki/hub.key\"\nclient_ca = \"pki/ca.crt\"\n"
      << "[store]\nbackend = \"" << backend << "\"\ndata_dir = \"state\"\n";
    if (!dsn.empty()) c << "dsn = \"" << dsn << "\"\npool_size = 16\n";
    c << "[layout]\ndir = \"" << layout << "\"\n"
      << "[delivery]\nthreads = 32\n[log]\nlevel = \"warn\"\npath = \"hub.log\"\n";
  }
  auto run = [&](const std::string& args) {
    const std::string cmd = chukan_bin + " " + args + " >/dev/null 2>&1";
    return std::system(cmd.c_str());
  };
  if (run("hub permissions show --config " + config) == -1) return 1;  // creates the keys
  std::ifstream pub(dir.File("state/keys/hub-signing.pub"));
  std::string hub_hex;
  pub >> hub_hex;
  std::atomic<int64_t> arrived_count{0};
  std::mutex mu;
  std::map<std::string, Clock::time_point> arrivals;
  testing::TestNode::Options no;
  no.org = provider;
  no.cert_file = dir.File("pki/provider.crt");
  no.key_file = dir.File("pki/provider.key");
  no.ca_file = dir.File("pki/ca.crt");
  no.hub_key = crypto::FromHex(hub_hex).value();
  no.batches = true;  // as chukan's servers: the hub delivers up to 64 permits a request
  std::string error;
  auto node = testing::TestNode::Start(no, &error);
  if (!node) {
    std::fprintf(stderr, "node: %s\n", error.c_str());
    return 1;
  }
  node->set_on_permit([&](const linkage::ProvisionPermit& p) {
    const auto now = Clock::now();
    std::lock_guard<std::mutex> lock(mu);
    arrivals[p.id.str()] = now;
    arrived_count.fetch_add(1);
  });
  for (const auto& [name, org] :
       {std::pair{"inquirer", inquirer}, std::pair{"provider", provider}}) {
    if (run("hub org add --config " + config + " --code " + org.str() + " --name " + name +
            " --class municipality --endpoint " + node->endpoint() + " --sign-key " +
            dir.File(std::string("pki/") + name + ".sign.pub") + " --cert " +
            dir.File(std::string("pki/") + name + ".crt")) != 0) {
      std::fprintf(stderr, "org add failed\n");
      return 1;
    }
  }
  if (run("hub permissions load --config " + config + " " + layout +
          "/../permissions/sample.csv") != 0) {
    std::fprintf(stderr, "permissions load failed\n");
    return 1;
  }
  testing::ServerProcess hub;
  std::string log;
  if (!hub.Start(config, &log, "hub", chukan_bin.c_str())) {
    std::fprintf(stderr, "hub did not start: %s\n", log.c_str());
    return 1;
  }
  const std::string base = "https://127.0.0.1:" + std::to_string(hub.port());
  auto client_for = [&](const std::string& name) {
    http::ClientOptions o;
    o.ca_file = dir.File("pki/ca.crt");
    o.cert_file = dir.File("pki/" + name + ".crt");
    o.key_file = dir.File("pki/" + name + ".key");
    o.max_idle_per_host = static_cast<size_t>(concurrency);
    return http::Client::Create(o).value();
  };
  // Several clients: each has one io thread doing its TLS work.
  const int nclients = std::max(1, concurrency / 16);
  std::vector<std::unique_ptr<http::Client>> inquirers;
  for (int i = 0; i < nclients; ++i) inquirers.push_back(client_for("inquirer"));
  auto provider_client = client_for("provider");
  auto post = [&](http::Client& c, const std::string& path, const std::string& body) {
    http::ClientRequest req;
    req.method = "POST";
    req.url = base + path;
    req.body = body;
    return c.Send(req);
  };
  std::printf("codes for %d persons …\n", persons);
  std::vector<std::string> codes(static_cast<size_t>(persons));
  {
    std::atomic<int> next{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 16; ++t) {
      ts.emplace_back([&, t] {
        for (int i; (i = next.fetch_add(1)) < persons;) {
          const std::string body =
              R"({"resident_id":")" + std::to_string(40000000000LL + i) + "\"}";
          auto r =
              post(*inquirers[static_cast<size_t>(t) % inquirers.size()], "/hub/v1/codes", body);
          auto r2 = post(*provider_client, "/hub/v1/codes", body);
          if (!r.ok() || r->status != 200 || !r2.ok() || r2->status != 200) continue;
          codes[static_cast<size_t>(i)] =
              json::ParseJsonObject(r->body)->GetString("subject_code", 64).value_or("");
        }
      });
    }
    for (auto& t : ts) t.join();
  }
  const std::string reply = crypto::ToBase64Url(crypto::BoxKeyPair::Generate().public_key());
  std::printf("%d permits, concurrency %d, backend %s …\n", permits, concurrency, backend.c_str());
  std::vector<Clock::time_point> sent(static_cast<size_t>(permits));
  std::vector<std::string> ids(static_cast<size_t>(permits));
  std::vector<double> answer_ms(static_cast<size_t>(permits), -1);
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  const auto t0 = Clock::now();
  {
    std::vector<std::thread> ts;
    for (int t = 0; t < concurrency; ++t) {
      ts.emplace_back([&, t] {
        http::Client& c = *inquirers[static_cast<size_t>(t) % inquirers.size()];
        for (int i; (i = next.fetch_add(1)) < permits;) {
          const size_t k = static_cast<size_t>(i);
          const std::string body =
              R"({"provider":")" + provider.str() +
              R"(","procedure":"JT90000000000101","tm":"TM00000000000002","layout_version":"0001","subject_code":")" +
              codes[k % codes.size()] + R"(","reply_key":")" + reply + R"(","reference":"load-)" +
              std::to_string(i) + "\"}";
          sent[k] = Clock::now();
          auto r = post(c, "/hub/v1/inquiries", body);
          answer_ms[k] = std::chrono::duration<double, std::milli>(Clock::now() - sent[k]).count();
          if (!r.ok() || r->status != 201) {
            if (failures.fetch_add(1) < 5) {
              std::fprintf(stderr, "inquiry failed: %s\n",
                           r.ok() ? r->body.c_str() : r.status().ToString().c_str());
            }
            continue;
          }
          ids[k] = json::ParseJsonObject(r->body)->GetString("permit_id", 64).value_or("");
        }
      });
    }
    for (auto& t : ts) t.join();
  }
  const auto answered = Clock::now();
  const int expected = permits - failures.load();
  const bool all = node->WaitForPermits(static_cast<size_t>(expected), std::chrono::seconds(120));
  const long rss = PeakRssKib(hub.pid());
  hub.Stop();
  std::vector<double> e2e;
  Clock::time_point last = t0;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (size_t k = 0; k < ids.size(); ++k) {
      auto it = arrivals.find(ids[k]);
      if (ids[k].empty() || it == arrivals.end()) continue;
      e2e.push_back(std::chrono::duration<double, std::milli>(it->second - sent[k]).count());
      last = std::max(last, it->second);
    }
  }
  std::vector<double> answers;
  for (double v : answer_ms) {
    if (v >= 0) answers.push_back(v);
  }
  const double secs = std::chrono::duration<double>(last - t0).count();
  std::printf(
      "backend %s: %zu permits delivered%s in %.2f s = %.0f permits/s (answers in %.2f s)\n",
      backend.c_str(), e2e.size(), all ? "" : " (INCOMPLETE)", secs,
      static_cast<double>(e2e.size()) / secs, std::chrono::duration<double>(answered - t0).count());
  std::printf(
      "  send → delivered at provider: p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  max %.1f ms\n",
      Percentile(e2e, 0.5), Percentile(e2e, 0.95), Percentile(e2e, 0.99), Percentile(e2e, 1.0));
  std::printf("  send → 201 (durable):         p50 %.1f ms  p95 %.1f ms  p99 %.1f ms\n",
              Percentile(answers, 0.5), Percentile(answers, 0.95), Percentile(answers, 0.99));
  std::printf("  failures %d, wire deliveries %lld, hub peak RSS %.1f MiB\n", failures.load(),
              static_cast<long long>(node->wire_permits()), static_cast<double>(rss) / 1024.0);
  return all && failures.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace chukan

int main(int argc, char** argv) { return chukan::Run(argc, argv); }
