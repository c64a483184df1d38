// chukan bench overload [--factor 2] [--duration 60] — backpressure under overload (issue 16):
// with a hub and two servers as processes on loopback,
//   1. measures the rate the network sustains, S: a closed-loop run (--concurrency 64, 1,500
//      linkages);
//   2. sends open loop at factor · S for --duration seconds. An inquiry answered 503 "BUSY" with
//      Retry-After (the tenant's backlog of messages for the hub is full) is counted as turned
//      away and not sent again: a client would send it again after Retry-After, but a driver
//      that did so at twice the sustainable rate would only move the queue into itself;
//   3. checks the three things backpressure promises, and exits 1 unless all hold:
//      - nothing is lost: every admitted inquiry (202) completed with its record — none failed,
//        none left behind;
//      - latency stays bounded: the p99 of the admitted linkages' latency (from the 202 to the
//        completed answer) in the last third of the run is at most twice that of the first
//        third plus 2 s, and under --max-p99-ms;
//      - memory stays flat: each process's largest RSS in the last third is at most its largest
//        in the middle third plus --rss-slack-mib;
//      and that it was an overload at all (some inquiries were turned away).
// Bounds of the run's network: [delivery] max_backlog 50 per tenant and 100 at the hub (so
// that the admitted latency, backlog / S, stays within what 1,024 driver threads can hold).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "cli/bench_driver.h"
#include "cli/bench_network.h"
#include "common/latency_histogram.h"
#include "common/mutex.h"

namespace chukan::cli {
namespace {

namespace fs = std::filesystem;
using std::chrono::steady_clock;

struct OverloadArgs {
  BenchArgs net;
  double factor = 2;
  double duration_seconds = 60;
  int calibration = 1500;
  double max_p99_ms = 20'000;
  int64_t rss_slack_mib = 32;
};

// The admitted latency and each process's RSS, by third of the run.
class ByThird {
 public:
  ByThird(steady_clock::time_point t0, double seconds) : t0_(t0), seconds_(seconds) {}

  void Record(steady_clock::time_point at, steady_clock::duration latency) {
    MutexLock lock(mu_);
    latency_[Third(at)].Record(
        std::chrono::duration_cast<std::chrono::microseconds>(latency).count());
  }
  void Sample(steady_clock::time_point at, const std::array<int64_t, 3>& rss_kib) {
    MutexLock lock(mu_);
    std::array<int64_t, 3>& peak = rss_[Third(at)];
    for (size_t i = 0; i < 3; ++i) peak[i] = std::max(peak[i], rss_kib[i]);
  }
  double P99Ms(size_t third) {
    MutexLock lock(mu_);
    return static_cast<double>(latency_[third].ValueAtPercentile(99)) / 1000.0;
  }
  int64_t Count(size_t third) {
    MutexLock lock(mu_);
    return latency_[third].Count();
  }
  std::array<int64_t, 3> PeakKib(size_t third) {
    MutexLock lock(mu_);
    return rss_[third];
  }

 private:
  size_t Third(steady_clock::time_point at) const {
    const double s = std::chrono::duration<double>(at - t0_).count();
    return static_cast<size_t>(std::clamp(s * 3 / seconds_, 0.0, 2.0));
  }
  const steady_clock::time_point t0_;
  const double seconds_;
  Mutex mu_;
  std::array<LatencyHistogram, 3> latency_ GUARDED_BY(mu_);
  std::array<std::array<int64_t, 3>, 3> rss_ GUARDED_BY(mu_){};
};

int RunOverload(const OverloadArgs& args) {
  if (!(args.factor >= 1 && args.factor <= 10) ||
      !(args.duration_seconds >= 15 && args.duration_seconds <= 3600) || args.calibration < 100 ||
      !(args.max_p99_ms > 0) || args.rss_slack_mib < 1) {
    std::fprintf(stderr,
                 "chukan bench overload: --factor 1–10, --duration 15–3600 s, --calibration ≥ "
                 "100, --max-p99-ms > 0, --rss-slack-mib ≥ 1\n");
    return 2;
  }
  Result<std::unique_ptr<BenchWorkdir>> dir = BenchWorkdir::Create(args.net, "chukan-overload");
  if (!dir.ok()) {
    std::fprintf(stderr, "chukan bench overload: %s\n",
                 std::string(dir.status().message()).c_str());
    return dir.status().code() == StatusCode::kFailedPrecondition ? 2 : 1;
  }
  const fs::path& work = (*dir)->path();
  std::printf("chukan bench overload: %.1f× the sustainable rate for %.0f s\n", args.factor,
              args.duration_seconds);
  auto net = StartNetwork(args.net, work);
  if (!net.ok()) {
    std::fprintf(stderr, "chukan bench overload: %s\n", net.status().ToString().c_str());
    return 1;
  }
  DriveLinkages(**net, args.net.warmup, 32, args.net.people, 0);
  LinkageRun closed = DriveLinkages(**net, args.calibration, 64, args.net.people, args.net.warmup);
  const double sustainable = closed.completed / closed.seconds;
  std::printf(
      "  持続可能な到着率 / sustainable rate (closed loop, 64 in flight): %.0f linkages/s "
      "(%d failed)\n",
      sustainable, closed.failed);
  const double rate = args.factor * sustainable;

  const steady_clock::time_point t0 = steady_clock::now();
  ByThird thirds(t0, args.duration_seconds);
  Pace pace;
  pace.rate = rate;
  pace.deadline = t0 + std::chrono::duration_cast<steady_clock::duration>(
                           std::chrono::duration<double>(args.duration_seconds));
  pace.on_completed = [&thirds](steady_clock::time_point at, steady_clock::duration latency) {
    thirds.Record(at, latency);
  };
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    while (!done.load()) {
      const steady_clock::time_point now = steady_clock::now();
      thirds.Sample(
          now, {(*net)->hub()->RssKib(), (*net)->server(0)->RssKib(), (*net)->server(1)->RssKib()});
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
  });
  const int total = static_cast<int>(rate * args.duration_seconds);
  LinkageRun run = DriveLinkages(**net, total, args.net.concurrency, args.net.people,
                                 args.net.warmup + args.calibration, pace);
  done = true;
  sampler.join();
  const int stopped = (*net)->StopAll();
  net->reset();

  const int not_started = total - run.started;
  std::printf(
      "\n到着率 / offered: %.0f linkages/s for %.0f s (%d due, %d not started by the driver)\n"
      "受け付け / admitted: %d completed, %d failed; 断り / turned away (503 BUSY, Retry-After): "
      "%d\n"
      "完了率 / completed per second: %.0f (%.2f× the sustainable rate)\n"
      "受付後の遅延 / latency from admission: p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
      rate, args.duration_seconds, total, not_started, run.completed, run.failed, run.turned_away,
      run.completed / run.seconds, run.completed / run.seconds / sustainable,
      static_cast<double>(run.admitted_latency.ValueAtPercentile(50)) / 1000.0,
      static_cast<double>(run.admitted_latency.ValueAtPercentile(99)) / 1000.0,
      static_cast<double>(run.admitted_latency.Max()) / 1000.0);
  const char* names[3] = {"hub", "inquirer server", "provider server"};
  for (size_t t = 0; t < 3; ++t) {
    const std::array<int64_t, 3> peak = thirds.PeakKib(t);
    std::printf("  third %zu: %lld completed, admitted p99 %.0f ms, peak RSS %lld/%lld/%lld MiB\n",
                t + 1, static_cast<long long>(thirds.Count(t)), thirds.P99Ms(t),
                static_cast<long long>(peak[0] / 1024), static_cast<long long>(peak[1] / 1024),
                static_cast<long long>(peak[2] / 1024));
  }

  bool ok = true;
  auto check = [&ok](bool held, const std::string& what) {
    std::printf("[%s] %s\n", held ? "OK" : "NG", what.c_str());
    ok = ok && held;
  };
  check(run.failed == 0,
        "nothing lost: every admitted inquiry completed" +
            (run.first_failure.empty() ? std::string()
                                       : " (first failure: " + run.first_failure + ")"));
  const double first = thirds.P99Ms(0);
  const double last = thirds.P99Ms(2);
  char bound[200];
  std::snprintf(bound, sizeof(bound),
                "latency bounded: last third's admitted p99 %.0f ms ≤ 2 × first third's %.0f ms "
                "+ 2000 ms, and ≤ %.0f ms",
                last, first, args.max_p99_ms);
  check(thirds.Count(2) > 0 && last <= 2 * first + 2000 && last <= args.max_p99_ms, bound);
  const std::array<int64_t, 3> middle = thirds.PeakKib(1);
  const std::array<int64_t, 3> end = thirds.PeakKib(2);
  for (size_t i = 0; i < 3; ++i) {
    char line[200];
    std::snprintf(line, sizeof(line),
                  "memory flat: %s's peak RSS %lld MiB in the last third ≤ %lld MiB in the middle "
                  "third + %lld MiB",
                  names[i], static_cast<long long>(end[i] / 1024),
                  static_cast<long long>(middle[i] / 1024),
                  static_cast<long long>(args.rss_slack_mib));
    check(end[i] > 0 && end[i] <= middle[i] + args.rss_slack_mib * 1024, line);
  }
  check(run.turned_away > 0, "an overload: some inquiries were turned away with 503 BUSY");
  if (stopped != 0) {
    check(false, "every process stopped cleanly (exit " + std::to_string(stopped) + ")");
  }
  return ok ? 0 : 1;
}

}  // namespace

void RegisterOverloadBench(CLI::App& bench, Action& action) {
  auto args = std::make_shared<OverloadArgs>();
  args->net.concurrency = 1024;
  args->net.hub_max_backlog = 100;
  args->net.server_max_backlog = 50;
  CLI::App* cmd = bench.add_subcommand(
      "overload",
      "過負荷時の背圧の確認 / backpressure at a multiple of the sustainable rate: nothing lost, "
      "latency bounded, memory flat");
  cmd->add_option("--factor", args->factor, "multiple of the sustainable rate (default 2)");
  cmd->add_option("--duration", args->duration_seconds, "seconds of overload (default 60)");
  cmd->add_option("--calibration", args->calibration,
                  "closed-loop linkages that measure the sustainable rate (default 1500)");
  cmd->add_option("--max-p99-ms", args->max_p99_ms,
                  "largest admitted p99 allowed in the last third (default 20000)");
  cmd->add_option("--rss-slack-mib", args->rss_slack_mib,
                  "RSS growth allowed from the middle to the last third (default 32)");
  cmd->add_option("--people", args->net.people, "residents in the replica (default 1000)");
  cmd->add_option("--concurrency", args->net.concurrency,
                  "driver threads, the most linkages in flight (default 1024)");
  cmd->add_option("--server-max-backlog", args->net.server_max_backlog,
                  "[delivery] max_backlog of the servers (default 50)");
  cmd->add_option("--hub-max-backlog", args->net.hub_max_backlog,
                  "[delivery] max_backlog of the hub (default 100)");
  AddNetworkFileOptions(*cmd, args->net);
  cmd->callback([&action, args] { action.run = [args] { return RunOverload(*args); }; });
}

}  // namespace chukan::cli
