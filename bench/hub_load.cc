// chukan_hub_load: permits per second through the whole hub path — permission check, code
// translation, signature, durable record (group commit), delivery over mutual TLS to the
// provider's server (a test node on loopback) — with a real `chukan hub` process.
//
//   chukan_hub_load --chukan build/release/src/cli/chukan --layout data/layout
//                   [--permits 20000] [--concurrency 64] [--persons 2000]
//                   [--backend sqlite|postgres] [--dsn DSN] [--rate R --duration S]
//                   [--workers N] [--peer-requests N] [--threads N]
//
// --workers sets the hub's [hub] workers (default: concurrency + 8, at most 256), and
// --peer-requests its [delivery] peer_requests (default: the hub's own), --threads its [hub]
// threads (I/O; default 2).
//
// Closed loop (default): --concurrency senders each send the next permit request when the last
// is answered. Latency of one permit = from sending POST /hub/v1/inquiries to the permit's
// arrival at the provider's node; also reported: the HTTP answer latency (the permit is durable
// by then). Throughput = permits / (last arrival − first send). Prints the hub's peak RSS, and
// the hub's CPU (user + system) from the first send to the last arrival, per delivered permit.
//
// Open loop (--rate R --duration S): R × S permits, permit i due at t0 + i / R whatever the hub
// answers, sent by whichever of the --concurrency senders is free; both latencies run from the
// due time, so a sender held up by a slow answer hides no queueing (docs/performance.md,
// "Open-loop runs"). Prints the delivered rate and how many were sent more than 1 ms late.
//
// The provider's node (tests/hub/test_node.h) checks each permit's expiry, addressee and
// repetition as it arrives and the hub's signature on every permit after the timed run; a bad
// one fails the run.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/latency_histogram.h"
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

// "p50 1.2 ms  p95 …" of `h` (µs).
std::string Percentiles(const LatencyHistogram& h) {
  char s[160];
  auto ms = [&](double p) { return static_cast<double>(h.ValueAtPercentile(p)) / 1000.0; };
  std::snprintf(s, sizeof(s), "p50 %.1f ms  p95 %.1f ms  p99 %.1f ms  p99.9 %.1f ms  max %.1f ms",
                ms(50), ms(95), ms(99), ms(99.9), ms(100));
  return s;
}

long PeakRssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// User + system CPU seconds `pid` has used so far (/proc/PID/stat, clock ticks).
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  long ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stol(field);  // utime, stime
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// CPU seconds of `pid`'s threads so far, summed by thread name (/proc/PID/task/*/comm).
std::map<std::string, double> CpuByThread(pid_t pid) {
  std::map<std::string, double> out;
  const std::string task = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& entry : std::filesystem::directory_iterator(task)) {
    std::string name;
    std::getline(std::ifstream(entry.path() / "comm"), name);
    std::ifstream in(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t close = stat.rfind(')');
    if (close == std::string::npos || name.empty()) continue;
    std::istringstream fields(stat.substr(close + 2));
    std::string field;
    long ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
      if (i == 14 || i == 15) ticks += std::stol(field);  // utime, stime
    }
    out[name] += static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  return out;
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
  double rate = 0;
  double duration = 0;
  app.add_option("--chukan", chukan_bin, "the chukan binary")->required();
  app.add_option("--layout", layout, "data/layout directory")->required();
  app.add_option("--permits", permits)->capture_default_str();
  app.add_option("--concurrency", concurrency)->capture_default_str();
  app.add_option("--persons", persons)->capture_default_str();
  app.add_option("--backend", backend)->capture_default_str();
  app.add_option("--dsn", dsn);
  app.add_option("--rate", rate, "open loop: permits due per second (with --duration)");
  app.add_option("--duration", duration, "open loop: seconds of sending (with --rate)");
  int peer_requests = 0;
  int io_threads = 2;
  app.add_option("--threads", io_threads, "the hub's [hub] threads (I/O)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  int workers = 0;
  app.add_option("--workers", workers, "the hub's request workers (0: concurrency + 8)");
  app.add_option("--peer-requests", peer_requests,
                 "the hub's [delivery] peer_requests (0: the hub's default)");
  CLI11_PARSE(app, argc, argv);
  const bool open = rate > 0;
  if (open != (duration > 0) || concurrency < 1 || (open && rate * duration > 10'000'000)) {
    std::fprintf(stderr, "--rate and --duration go together (at most 10 million permits)\n");
    return 2;
  }
  if (open) permits = std::max(1, static_cast<int>(std::llround(rate * duration)));

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
    c << "[hub]\nport = 0\nthreads = " << io_threads << "\nworkers = "
      << (workers > 0 ? std::min(workers, 256) : std::clamp(concurrency + 8, 16, 256)) << "\n"
      << "[tls]\ncert = \"pki/hub.crt\"\nkey = \"pki/hub.key\"\nclient_ca = \"pki/ca.crt\"\n"
      << "[store]\nbackend = \"" << backend << "\"\ndata_dir = \"state\"\n";
    if (!dsn.empty()) c << "dsn = \"" << dsn << "\"\npool_size = 16\n";
    c << "[layout]\ndir = \"" << layout << "\"\n"
      << "[delivery]\nthreads = 32\n";
    if (peer_requests > 0) c << "peer_requests = " << peer_requests << "\n";
    c << "[log]\nlevel = \"warn\"\npath = \"hub.log\"\n";
  }
  auto run = [&](const std::string& args) {
    const std::string cmd = chukan_bin + " " + args + " >/dev/null 2>&1";
    return std::system(cmd.c_str());
  };
  // Creates the hub's keys (and fails, as no list is loaded yet: only the keys are wanted).
  if (run("hub permissions show --config " + config) == -1) return 1;
  std::ifstream pub(dir.File("state/keys/hub-signing.pub"));
  std::string hub_hex;
  pub >> hub_hex;
  if (hub_hex.empty()) {
    std::fprintf(stderr, "the hub made no signing key: does `chukan hub` accept %s?\n",
                 config.c_str());
    return 1;
  }
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
  // The provider's signature checks (Ed25519, ~60 µs each: a quarter of a core at 4,000/s)
  // belong to the provider's machine, not the hub's: on this one they would take the hub's CPU,
  // so the stand-in checks every permit's signature after the timed run (below).
  no.verify_signatures_later = true;
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
  if (open) {
    std::printf(
        "open loop: %.0f permits/s for %.0f s (%d permits), at most %d in flight, backend "
        "%s …\n",
        rate, duration, permits, concurrency, backend.c_str());
  } else {
    std::printf("%d permits, concurrency %d, backend %s …\n", permits, concurrency,
                backend.c_str());
  }
  std::vector<Clock::time_point> sent(static_cast<size_t>(permits));
  std::vector<std::string> ids(static_cast<size_t>(permits));
  std::vector<double> answer_ms(static_cast<size_t>(permits), -1);
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::atomic<int> late{0};
  const double cpu0 = CpuSeconds(hub.pid());
  const std::map<std::string, double> threads0 = CpuByThread(hub.pid());
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
          // Open loop: latencies from the due time, even when every sender was busy then.
          sent[k] = Clock::now();
          if (open) {
            const auto due = t0 + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(i / rate));
            std::this_thread::sleep_until(due);
            if (Clock::now() - due > std::chrono::milliseconds(1)) late.fetch_add(1);
            sent[k] = due;
          }
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
  const double hub_cpu = CpuSeconds(hub.pid()) - cpu0;  // the permits' phase only
  std::map<std::string, double> threads = CpuByThread(hub.pid());
  for (const auto& [name, used] : threads0) threads[name] -= used;
  hub.Stop();
  int64_t signatures_checked = 0;
  const int64_t forged = node->VerifyDeferredSignatures(&signatures_checked);
  LatencyHistogram e2e;
  Clock::time_point last = t0;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (size_t k = 0; k < ids.size(); ++k) {
      auto it = arrivals.find(ids[k]);
      if (ids[k].empty() || it == arrivals.end()) continue;
      e2e.Record(
          std::chrono::duration_cast<std::chrono::microseconds>(it->second - sent[k]).count());
      last = std::max(last, it->second);
    }
  }
  LatencyHistogram answers;
  for (double v : answer_ms) {
    if (v >= 0) answers.Record(std::llround(v * 1000));
  }
  const double secs = std::chrono::duration<double>(last - t0).count();
  const double delivered_rate = static_cast<double>(e2e.Count()) / secs;
  if (open) {
    std::printf(
        "backend %s: offered %.0f permits/s for %.0f s; %lld permits delivered%s in %.2f s = %.0f "
        "permits/s delivered; %d sent more than 1 ms late%s\n",
        backend.c_str(), rate, duration, static_cast<long long>(e2e.Count()),
        all ? "" : " (INCOMPLETE)", secs, delivered_rate, late.load(),
        late.load() > std::max(1, permits / 20) ? " (driver could not keep up)" : "");
  } else {
    std::printf(
        "backend %s: %lld permits delivered%s in %.2f s = %.0f permits/s (answers in %.2f s)\n",
        backend.c_str(), static_cast<long long>(e2e.Count()), all ? "" : " (INCOMPLETE)", secs,
        delivered_rate, std::chrono::duration<double>(answered - t0).count());
  }
  const char* from = open ? "due " : "send";
  std::printf("  %s → delivered at provider: %s\n", from, Percentiles(e2e).c_str());
  std::printf("  %s → 201 (durable):         %s\n", from, Percentiles(answers).c_str());
  std::printf("  failures %d, wire deliveries %lld, hub peak RSS %.1f MiB\n", failures.load(),
              static_cast<long long>(node->wire_permits()), static_cast<double>(rss) / 1024.0);
  std::printf("  the hub's signature checked after the run on %lld permits: %lld bad\n",
              static_cast<long long>(signatures_checked), static_cast<long long>(forged));
  std::printf("  hub CPU %.2f s = %.3f ms a delivered permit\n", hub_cpu,
              e2e.Count() > 0 ? hub_cpu * 1000.0 / static_cast<double>(e2e.Count()) : 0.0);
  std::printf("   by thread (s):");
  for (const auto& [name, used] : threads) {
    if (used >= 0.01) std::printf(" %s %.2f", name.c_str(), used);
  }
  std::printf("\n");
  return all && failures.load() == 0 && forged == 0 ? 0 : 1;
}

}  // namespace
}  // namespace chukan

int main(int argc, char** argv) { return chukan::Run(argc, argv); }
