#include "cli/bench_driver.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "http/message.h"
#include "json/json.h"

namespace chukan::cli {
namespace {

using json = nlohmann::json;
using Role = LocalNetwork::Role;

// utime + stime of a process, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields;
  std::string f;
  for (size_t i = close + 2; i < stat.size(); ++i) {
    if (stat[i] == ' ') {
      fields.push_back(f);
      f.clear();
    } else {
      f += stat[i];
    }
  }
  // After ")": state is field 3; utime and stime are fields 14 and 15 (1-based in proc(5)).
  if (fields.size() < 13) return 0;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
}

// This process's utime + stime, in seconds.
double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// What became of one linkage.
struct Outcome {
  std::string error;  // empty when it completed with the person's record
  // The server answered 503 with Retry-After (backpressure): nothing was stored; not an error.
  bool turned_away = false;
  std::chrono::steady_clock::time_point accepted_at;  // when the POST was answered 202
};

// One linkage of `person`: POST the inquiry, then long-poll it until it ends.
Outcome OneLinkage(LocalNetwork& net, int person) {
  Outcome out;
  auto failed = [&out](std::string error) {
    out.error = std::move(error);
    return out;
  };
  json body = {{"atena_no", BenchAtena(100000 + person)},
               {"procedure", "JT90000000000101"},
               {"tm", "TM00000000000002"},
               {"provider", kBenchProvider.str()},
               {"query", {{"IT00000200000001", "2026"}}}};
  Result<http::Response> r =
      net.Call(kBenchInquirer, Role::kSystem, "POST", "/api/v1/inquiries", body.dump());
  if (r.ok() && r->status == 503 && http::ErrorCode(*r) == "BUSY") {
    if (!r->headers.Get("Retry-After")) return failed("POST: HTTP 503 BUSY without Retry-After");
    out.turned_away = true;
    return out;
  }
  if (!r.ok() || r->status != 202) {
    return failed(r.ok() ? "POST: HTTP " + std::to_string(r->status) + " " + r->body.substr(0, 200)
                         : r.status().ToString());
  }
  out.accepted_at = std::chrono::steady_clock::now();
  // The answers are read with the servers' own reader (json::ParseJsonObject), not nlohmann's
  // parser: the driver shares the machine's two cores with the servers it measures.
  Result<chukan::json::JsonObject> posted = chukan::json::ParseJsonObject(r->body);
  if (!posted.ok()) return failed("POST: " + posted.status().message());
  Result<std::string> id = posted->GetString("inquiry_id", 128);
  if (!id.ok()) return failed("POST: " + id.status().message());
  while (true) {
    Result<http::Response> g = net.Call(kBenchInquirer, Role::kSystem, "GET",
                                        "/api/v1/inquiries/" + *id + "?wait_ms=10000");
    if (!g.ok() || g->status != 200) {
      return failed(g.ok() ? "GET: HTTP " + std::to_string(g->status) : g.status().ToString());
    }
    Result<chukan::json::JsonObject> j = chukan::json::ParseJsonObject(g->body);
    if (!j.ok()) return failed("GET: " + j.status().message());
    Result<std::optional<std::string>> state = j->GetOptionalString("state", 32);
    if (!state.ok()) return failed("GET: " + state.status().message());
    if (*state == "completed") {
      Result<chukan::json::JsonObject> result = j->GetObject("result");
      if (!result.ok()) return failed("GET: " + result.status().message());
      Result<std::vector<chukan::json::JsonObject>> records = result->GetObjectArray("records", 16);
      if (!records.ok()) return failed("GET: " + records.status().message());
      return records->size() == 1 ? out : failed("completed without the record");
    }
    if (*state == "refused" || *state == "failed" || *state == "expired") {
      Result<std::optional<std::string>> reason = j->GetOptionalString("reason", 1024);
      return failed("ended " + **state + " " + (reason.ok() ? reason->value_or("") : ""));
    }
  }
}

}  // namespace

const OrgCode kBenchInquirer = OrgCode::Parse("0000000000000131").value();
const OrgCode kBenchProvider = OrgCode::Parse("0000000000000132").value();

std::string BenchAtena(int n) {
  char s[16];
  std::snprintf(s, sizeof(s), "%015d", n);
  return s;
}

void LinkageRun::Merge(const LinkageRun& other) {
  latency.Merge(other.latency);
  admitted_latency.Merge(other.admitted_latency);
  turned_away += other.turned_away;
  completed += other.completed;
  failed += other.failed;
  started += other.started;
  late += other.late;
  if (first_failure.empty()) first_failure = other.first_failure;
}

double LatencyMs(const LinkageRun& run, double p) {
  return static_cast<double>(run.latency.ValueAtPercentile(p)) / 1000.0;
}

LinkageRun DriveLinkages(LocalNetwork& net, int total, int concurrency, int people, int offset,
                         const Pace& pace) {
  using std::chrono::steady_clock;
  std::atomic<int> next{0};
  Mutex mu;  // guards run (a local: no GUARDED_BY possible)
  LinkageRun run;
  const auto t0 = steady_clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < concurrency; ++w) {
    workers.emplace_back([&] {
      LinkageRun mine;
      while (true) {
        const int i = next.fetch_add(1);
        if (i >= total) break;
        auto start = steady_clock::now();
        if (pace.rate > 0) {
          start = t0 + std::chrono::duration_cast<steady_clock::duration>(
                           std::chrono::duration<double>(i / pace.rate));
          std::this_thread::sleep_until(start);
        }
        const auto now = steady_clock::now();
        if (now >= pace.deadline) break;
        ++mine.started;
        if (pace.rate > 0 && now - start > std::chrono::milliseconds(1)) ++mine.late;
        const Outcome o = OneLinkage(net, (offset + i) % people + 1);
        if (o.turned_away) {
          ++mine.turned_away;
          continue;
        }
        if (pace.completed != nullptr) {
          (o.error.empty() ? pace.completed : pace.failed)->fetch_add(1);
        }
        if (o.error.empty()) {
          const auto end = steady_clock::now();
          ++mine.completed;
          mine.latency.Record(
              std::chrono::duration_cast<std::chrono::microseconds>(end - start).count());
          mine.admitted_latency.Record(
              std::chrono::duration_cast<std::chrono::microseconds>(end - o.accepted_at).count());
          if (pace.on_completed) pace.on_completed(end, end - o.accepted_at);
        } else {
          ++mine.failed;
          if (mine.first_failure.empty()) mine.first_failure = o.error;
        }
      }
      MutexLock lock(mu);
      run.Merge(mine);
    });
  }
  for (std::thread& t : workers) t.join();
  run.seconds = std::chrono::duration<double>(steady_clock::now() - t0).count();
  return run;
}

ProcessMeter::ProcessMeter(LocalNetwork& net, int server_nodes)
    : net_(net), pids_{{{net.hub()->pid()}}} {
  for (int i = 0; i < 2; ++i) {
    for (int n = 0; n < server_nodes; ++n) {
      pids_[static_cast<size_t>(i) + 1].push_back(net.node(i, n)->pid());
    }
  }
  for (size_t g = 0; g < pids_.size(); ++g) cpu0_[g] = CpuOf(g);
  driver0_ = SelfCpuSeconds();
  sampler_ = std::thread([this] {
    while (!done_.load()) {
      ChildProcess* procs[3] = {net_.hub(), net_.server(0), net_.server(1)};
      for (size_t i = 0; i < 3; ++i) peak_[i] = std::max(peak_[i], procs[i]->RssKib());
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
}

ProcessMeter::Reading ProcessMeter::Stop() {
  if (sampler_.joinable()) {
    done_ = true;
    sampler_.join();
    for (size_t g = 0; g < pids_.size(); ++g) reading_.cpu[g] = CpuOf(g) - cpu0_[g];
    reading_.peak_kib = peak_;
    reading_.driver_cpu = SelfCpuSeconds() - driver0_;
  }
  return reading_;
}

double ProcessMeter::CpuMsPerLinkage(const Reading& use, int completed) {
  return 1000.0 * (use.cpu[0] + use.cpu[1] + use.cpu[2]) / std::max(1, completed);
}

double ProcessMeter::CpuOf(size_t group) const {
  double sum = 0;
  for (pid_t p : pids_[group]) sum += CpuSeconds(p);
  return sum;
}

}  // namespace chukan::cli
