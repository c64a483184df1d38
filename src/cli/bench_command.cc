// chukan bench linkage --inquiries N --concurrency C — drives the whole linkage path (an
// existing system's POST /api/v1/inquiries at the inquirer's server → permit at the hub →
// provision request to the provider's server → answer from its replica, sealed and signed →
// blind relay by the hub → result opened at the inquirer's server) with a hub and two servers
// as real processes on loopback, durable commits everywhere, and prints throughput, latency
// percentiles and each process's memory and CPU time.
//
// Closed loop (--inquiries N --concurrency C): C workers each keep one linkage in flight: POST
// the inquiry, then long-poll it (GET /api/v1/inquiries/{id}?wait_ms=…) until it ends. Latency
// is from the POST to the answer of the long poll that sees it completed. A closed loop slows
// its own arrivals when the system slows, so it hides queueing (coordinated omission).
//
// Open loop (--rate R --duration S): linkage i is due at t0 + i / R whatever the answers do, and
// its latency runs from the due time, even when no worker was free to start it then; up to
// --concurrency (default 512) are in flight. --rates R1,R2,… runs one such step per rate and
// reports the highest rate whose p99 met --p99-goal-ms.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/bench_driver.h"
#include "cli/bench_network.h"
#include "cli/commands.h"
#include "cli/local_network.h"
#include "common/ids.h"
#include "common/latency_histogram.h"
#include "common/mutex.h"

namespace chukan::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Role = LocalNetwork::Role;

void PrintResources(const ProcessMeter::Reading& use, int completed, int server_nodes) {
  std::printf(
      "メモリ / peak RSS under load: hub %.0f MiB, inquirer server %.0f MiB, provider server "
      "%.0f MiB\n"
      "CPU: hub %.2f s, inquirer server %.2f s, provider server %.2f s (%.2f ms of CPU per "
      "linkage; %s); this driver %.2f s\n",
      use.peak_kib[0] / 1024.0, use.peak_kib[1] / 1024.0, use.peak_kib[2] / 1024.0, use.cpu[0],
      use.cpu[1], use.cpu[2], ProcessMeter::CpuMsPerLinkage(use, completed),
      server_nodes > 1 ? (std::to_string(server_nodes) + " nodes each server").c_str()
                       : "one node each",
      use.driver_cpu);
}

// One open-loop measurement: `rate` linkages/s due over args.duration_seconds, at most
// args.concurrency in flight. A linkage not started by 3 × the duration + 10 s is left out
// (counted by due − run.started), so that an overloaded step ends.
struct OpenStep {
  double rate = 0;
  int due = 0;
  LinkageRun run;
  ProcessMeter::Reading use;

  int not_started() const { return due - run.started; }
  // More than 5 % of the linkages started over 1 ms late: the latencies measured are still
  // from the due times, but the offered rate was not what the driver sent.
  bool driver_behind() const { return run.late > std::max(1, run.started / 20); }
};

OpenStep DriveOpen(LocalNetwork& net, const BenchArgs& args, double rate, int offset) {
  OpenStep step;
  step.rate = rate;
  step.due = std::max(1, static_cast<int>(std::llround(rate * args.duration_seconds)));
  Pace pace;
  pace.rate = rate;
  pace.deadline = std::chrono::steady_clock::now() +
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                      std::chrono::duration<double>(3 * args.duration_seconds + 10));
  ProcessMeter meter(net, args.server_nodes);
  step.run = DriveLinkages(net, step.due, args.concurrency, args.people, offset, pace);
  step.use = meter.Stop();
  return step;
}

void PrintOpenReport(const OpenStep& s, const BenchArgs& args) {
  std::printf(
      "\n到着率 / offered rate: %.1f linkages/s for %.0f s (%d due)\n"
      "完了した連携 / completed linkages: %d (%d failed, %d not started by the deadline)%s%s\n"
      "達成率 / achieved completion rate: %.1f linkages/s over %.2f s\n"
      "遅延 / latency from the scheduled start: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, p99.9 "
      "%.1f ms, max %.1f ms\n"
      "開始遅れ / started more than 1 ms late: %d of %d%s\n",
      s.rate, args.duration_seconds, s.due, s.run.completed, s.run.failed, s.not_started(),
      s.run.first_failure.empty() ? "" : " — first: ", s.run.first_failure.c_str(),
      s.run.completed / s.run.seconds, s.run.seconds, LatencyMs(s.run, 50), LatencyMs(s.run, 90),
      LatencyMs(s.run, 99), LatencyMs(s.run, 99.9), LatencyMs(s.run, 100), s.run.late,
      s.run.started, s.driver_behind() ? " — 送信が追いつかない / driver could not keep up" : "");
  PrintResources(s.use, s.run.completed, args.server_nodes);
}

// --rates R1,R2,…: one open-loop step per rate, one line each, until a step's p99 passes 10 ×
// the goal; then the highest rate whose p99 met the goal with no failure. True when one did.
bool RunRateSteps(LocalNetwork& net, const BenchArgs& args) {
  std::printf("\n%9s %10s %6s %5s %8s %8s %8s %8s %8s %8s  %s\n", "offered/s", "achieved/s",
              "failed", "late", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "CPU ms/l",
              "peak RSS hub/inq/prov MiB");
  double best = 0;
  int offset = args.warmup;
  for (double rate : args.rates) {
    const OpenStep s = DriveOpen(net, args, rate, offset);
    offset += s.due;
    const double p99 = LatencyMs(s.run, 99);
    std::printf(
        "%9.1f %10.1f %6d %5d %8.1f %8.1f %8.1f %8.1f %8.1f %8.2f  %.0f/%.0f/%.0f%s%s\n", rate,
        s.run.completed / s.run.seconds, s.run.failed + s.not_started(), s.run.late,
        LatencyMs(s.run, 50), LatencyMs(s.run, 90), p99, LatencyMs(s.run, 99.9),
        LatencyMs(s.run, 100), ProcessMeter::CpuMsPerLinkage(s.use, s.run.completed),
        s.use.peak_kib[0] / 1024.0, s.use.peak_kib[1] / 1024.0, s.use.peak_kib[2] / 1024.0,
        s.driver_behind() ? "  driver could not keep up" : "",
        s.run.first_failure.empty() ? "" : ("  first failure: " + s.run.first_failure).c_str());
    std::fflush(stdout);
    const bool met =
        s.run.failed == 0 && s.not_started() == 0 && s.run.completed > 0 && p99 < args.p99_goal_ms;
    if (met) best = std::max(best, rate);
    if (s.not_started() > 0) {
      std::printf(
          "  期限までに開始できない連携ありのため打ち切り / stopped: %d linkages not "
          "started by the deadline\n",
          s.not_started());
      break;
    }
    if (p99 > 10 * args.p99_goal_ms) {
      std::printf("  p99 が目標の10倍を超えたため打ち切り / stopped: p99 above 10 × the goal\n");
      break;
    }
  }
  if (best > 0) {
    std::printf("\np99 < %g ms を満たす最高の到着率 / highest rate with p99 < %g ms: %.0f/s\n",
                args.p99_goal_ms, args.p99_goal_ms, best);
  } else {
    std::printf("\np99 < %g ms を満たす到着率なし / no rate with p99 < %g ms\n", args.p99_goal_ms,
                args.p99_goal_ms);
  }
  return best > 0;
}

int RunLinkageBench(const BenchArgs& args) {
  auto in = [](int v, int lo, int hi) { return v >= lo && v <= hi; };
  const bool open = args.rate > 0 || !args.rates.empty();
  if (args.inquiries < 1 || !in(args.concurrency, 1, open ? 1024 : 256) ||
      !in(args.people, 1, 100'000) || !in(args.server_workers, 1, 256) ||
      !in(args.server_threads, 1, 64) || !in(args.hub_threads, 1, 64) ||
      !in(args.hub_workers, 1, 256) || !in(args.delivery_threads, 1, 256) ||
      !in(args.hub_delivery_threads, 1, 256) || !in(args.batch_items, 1, 64) ||
      !in(args.peer_requests, 1, 256) || !in(args.server_nodes, 1, 4) ||
      (args.server_nodes > 1 && args.pg_dsn.empty())) {
    std::fprintf(stderr,
                 "chukan bench linkage: --inquiries ≥ 1, --concurrency 1–256 (1–1024 with "
                 "--rate), --people 1–100000, I/O threads 1–64, worker and delivery thread counts "
                 "1–256, "
                 "--batch-items 1–64, --peer-requests 1–256, --server-nodes 1–4 (2 or more "
                 "with --pg-dsn)\n");
    return 2;
  }
  std::vector<double> rates = args.rates;
  if (args.rate > 0) rates.push_back(args.rate);
  const bool rates_ok = std::all_of(rates.begin(), rates.end(), [&](double r) {
    return r >= 0.1 && r <= 100'000 && r * args.duration_seconds <= 10'000'000;
  });
  if (open != (args.duration_seconds > 0) ||
      (open && (args.duration_seconds < 1 || args.duration_seconds > 3600)) || !rates_ok ||
      !(args.p99_goal_ms > 0)) {
    std::fprintf(stderr,
                 "chukan bench linkage: --rate R or --rates R1,R2,… (0.1–100000 linkages/s) and "
                 "--duration 1–3600 s go together (at most 10 million linkages a step); "
                 "--p99-goal-ms > 0\n");
    return 2;
  }
  Result<std::unique_ptr<BenchWorkdir>> dir = BenchWorkdir::Create(args, "chukan-bench");
  if (!dir.ok()) {
    std::fprintf(stderr, "chukan bench linkage: %s\n", std::string(dir.status().message()).c_str());
    return dir.status().code() == StatusCode::kFailedPrecondition ? 2 : 1;
  }
  const fs::path& work = (*dir)->path();
  auto fail = [&](const std::string& what) {
    std::fprintf(stderr, "chukan bench linkage: %s\n", what.c_str());
    return 1;
  };
  if (!open) {
    std::printf("chukan bench linkage: %d inquiries, concurrency %d, %d people\n", args.inquiries,
                args.concurrency, args.people);
  } else {
    std::string list;
    for (double r : rates) {
      char one[32];
      std::snprintf(one, sizeof(one), "%s%g", list.empty() ? "" : ", ", r);
      list += one;
    }
    std::printf(
        "chukan bench linkage: open loop, %s linkages/s for %.0f s%s, at most %d in flight, %d "
        "people\n",
        list.c_str(), args.duration_seconds, rates.size() > 1 ? " each" : "", args.concurrency,
        args.people);
  }
  auto net = StartNetwork(args, work);
  if (!net.ok()) return fail(net.status().ToString());
  if (args.warmup > 0) {
    // Closed loop; an open run's hundreds of workers would start the warm-up all at once.
    LinkageRun warm = DriveLinkages(**net, args.warmup, std::min(args.concurrency, open ? 32 : 256),
                                    args.people, 0);
    std::printf("  warm-up: %d linkages, %d failed\n", warm.completed, warm.failed);
  }
  bool passed = false;
  std::optional<OpenStep> single;
  LinkageRun run;
  ProcessMeter::Reading use;
  if (!args.rates.empty()) {
    passed = RunRateSteps(**net, args);
  } else if (open) {
    single = DriveOpen(**net, args, args.rate, args.warmup);
    passed = single->run.failed == 0 && single->not_started() == 0;
  } else {
    ProcessMeter meter(**net, args.server_nodes);
    run = DriveLinkages(**net, args.inquiries, args.concurrency, args.people, args.warmup);
    use = meter.Stop();
    passed = run.failed == 0;
  }
  const int stopped = (*net)->StopAll();

  if (single) {
    PrintOpenReport(*single, args);
  } else if (args.rates.empty()) {
    std::printf(
        "\n完了した連携 / completed linkages: %d of %d (%d failed)%s%s\n"
        "スループット / throughput: %.0f linkages/s over %.2f s\n"
        "遅延 / latency (POST → completed seen): p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f "
        "ms\n",
        run.completed, args.inquiries, run.failed,
        run.first_failure.empty() ? "" : " — first: ", run.first_failure.c_str(),
        run.completed / run.seconds, run.seconds, LatencyMs(run, 50), LatencyMs(run, 95),
        LatencyMs(run, 99), LatencyMs(run, 100));
    PrintResources(use, run.completed, args.server_nodes);
  }
  net->reset();
  if (stopped != 0)
    return fail("a process did not stop cleanly (exit " + std::to_string(stopped) + ")");
  return passed ? 0 : 1;
}

// chukan bench soak --minutes M --rate R: linkages at a fixed rate for M minutes with the
// provider's replica re-imported (every record updated) every --import-every seconds, while the
// servers' sweeps run as always; each process's RSS sampled and printed at regular intervals.
// Passes (exit 0) when every linkage completed, every import succeeded and no process's RSS grew
// by more than 8 MiB between the end of the first quarter (warmed up: caches filled) and the
// end (docs/performance.md, "Soak"). scripts/soak runs it from the release tree.
int RunSoak(const BenchArgs& args) {
  auto in = [](int v, int lo, int hi) { return v >= lo && v <= hi; };
  if (!in(args.minutes, 1, 24 * 60) || !(args.rate >= 1 && args.rate <= 10'000) ||
      !in(args.concurrency, 1, 256) || !in(args.people, 1, 100'000) ||
      !in(args.import_every_seconds, 5, 3600)) {
    std::fprintf(stderr,
                 "chukan bench soak: --minutes 1–1440, --rate 1–10000, --concurrency 1–256, "
                 "--people 1–100000, --import-every 5–3600\n");
    return 2;
  }
  Result<std::unique_ptr<BenchWorkdir>> dir = BenchWorkdir::Create(args, "chukan-soak");
  if (!dir.ok()) {
    std::fprintf(stderr, "chukan bench soak: %s\n", std::string(dir.status().message()).c_str());
    return dir.status().code() == StatusCode::kFailedPrecondition ? 2 : 1;
  }
  const fs::path& work = (*dir)->path();
  std::printf("chukan bench soak: %d min at %.0f linkages/s, re-import of %d records every %d s\n",
              args.minutes, args.rate, args.people, args.import_every_seconds);
  auto net = StartNetwork(args, work);
  if (!net.ok()) {
    std::fprintf(stderr, "chukan bench soak: %s\n", net.status().ToString().c_str());
    return 1;
  }
  ChildProcess* procs[3] = {(*net)->hub(), (*net)->server(0), (*net)->server(1)};
  const auto t0 = std::chrono::steady_clock::now();
  const auto deadline = t0 + std::chrono::minutes(args.minutes);
  std::atomic<int> completed{0}, failed{0}, imports_ok{0}, imports_failed{0};
  std::atomic<bool> done{false};
  Mutex wake_mu;  // wakes the helper threads at the end
  CondVar wake;
  auto sleep_for = [&](std::chrono::steady_clock::duration d) {
    const auto until = std::chrono::steady_clock::now() + d;
    MutexLock lock(wake_mu);
    while (!done.load() && wake.WaitUntil(lock, until)) {
    }
  };
  std::thread importer([&] {
    for (int round = 1; !done.load(); ++round) {
      sleep_for(std::chrono::seconds(args.import_every_seconds));
      if (done.load()) return;
      Result<http::Response> r = (*net)->Call(kBenchProvider, Role::kSystem, "POST",
                                              "/api/v1/replica/imports?tm=TM00000000000002",
                                              ReplicaCsv(args.people, round), "text/csv");
      if (r.ok() && r->status == 201) {
        imports_ok.fetch_add(1);
      } else {
        imports_failed.fetch_add(1);
        std::fprintf(
            stderr, "  import %d failed: %s\n", round,
            r.ok() ? ("HTTP " + std::to_string(r->status)).c_str() : r.status().ToString().c_str());
      }
    }
  });
  // RSS samples (MiB) of hub, inquirer, provider, twelve per run (at least every 10 s).
  const auto interval = std::max<std::chrono::steady_clock::duration>(
      std::chrono::seconds(10), std::chrono::minutes(args.minutes) / 12);
  std::vector<std::array<double, 3>> rss;
  std::thread reporter([&] {
    int last = 0;
    while (!done.load()) {
      sleep_for(interval);
      std::array<double, 3> sample{};
      for (int i = 0; i < 3; ++i) sample[static_cast<size_t>(i)] = procs[i]->RssKib() / 1024.0;
      rss.push_back(sample);
      const int now = completed.load();
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf(
          "  %6.0f s: %d linkages (%.0f/s), %d failed, imports %d (%d failed); RSS hub %.0f"
          ", inquirer %.0f, provider %.0f MiB\n",
          elapsed, now, (now - last) / std::chrono::duration<double>(interval).count(),
          failed.load(), imports_ok.load(), imports_failed.load(), sample[0], sample[1], sample[2]);
      std::fflush(stdout);
      last = now;
    }
  });
  Pace pace;
  pace.rate = args.rate;
  pace.deadline = deadline;
  pace.completed = &completed;
  pace.failed = &failed;
  LinkageRun run =
      DriveLinkages(**net, std::numeric_limits<int>::max(), args.concurrency, args.people, 0, pace);
  {
    MutexLock lock(wake_mu);
    done = true;
  }
  wake.SignalAll();
  importer.join();
  reporter.join();
  const int stopped = (*net)->StopAll();

  std::printf(
      "\n完了した連携 / completed linkages: %d (%d failed)%s%s over %.0f s (%.1f/s)\n"
      "遅延 / latency from the scheduled start: p50 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max "
      "%.1f ms\n"
      "副本の再取込 / re-imports: %d (%d failed)\n",
      run.completed, run.failed,
      run.first_failure.empty() ? "" : " — first: ", run.first_failure.c_str(), run.seconds,
      run.completed / run.seconds, LatencyMs(run, 50), LatencyMs(run, 99), LatencyMs(run, 99.9),
      LatencyMs(run, 100), imports_ok.load(), imports_failed.load());
  bool flat = true;
  if (rss.size() >= 4) {
    const size_t from = rss.size() / 4 - 1;
    const char* names[3] = {"hub", "inquirer server", "provider server"};
    for (size_t i = 0; i < 3; ++i) {
      const double growth = rss.back()[i] - rss[from][i];
      const bool ok = growth <= 8.0;
      flat = flat && ok;
      std::printf(
          "メモリ / RSS %s: %.0f MiB after the first quarter, %.0f MiB at the end (%+.0f MiB)"
          " — %s\n",
          names[i], rss[from][i], rss.back()[i], growth, ok ? "横ばい / flat" : "増加 / GROWING");
    }
  } else {
    std::printf("メモリ / RSS: too few samples to judge\n");
  }
  net->reset();
  const bool passed =
      run.failed == 0 && run.completed > 0 && imports_failed.load() == 0 && flat && stopped == 0;
  std::printf("%s\n", passed ? "soak: 合格 / passed" : "soak: 不合格 / FAILED");
  return passed ? 0 : 1;
}

// chukan bench batch --lines N: one P640R110 batch inquiry file of N lines (one per person, by
// 宛名番号) sent to the inquirer's server, followed until every line has ended, then its result
// file read back; prints the time of each step and checks every line completed.
int RunBatchBench(const BenchArgs& args) {
  if (args.people < 1 || args.people > 100'000) {
    std::fprintf(stderr, "chukan bench batch: --lines 1–100000\n");
    return 2;
  }
  Result<std::unique_ptr<BenchWorkdir>> dir = BenchWorkdir::Create(args, "chukan-bench");
  if (!dir.ok()) {
    std::fprintf(stderr, "chukan bench batch: %s\n", std::string(dir.status().message()).c_str());
    return dir.status().code() == StatusCode::kFailedPrecondition ? 2 : 1;
  }
  const fs::path& work = (*dir)->path();
  auto fail = [&](const std::string& what) {
    std::fprintf(stderr, "chukan bench batch: %s\n", what.c_str());
    return 1;
  };
  std::printf("chukan bench batch: one P640R110 file of %d lines\n", args.people);
  auto net = StartNetwork(args, work);
  if (!net.ok()) return fail(net.status().ToString());
  // The file as municipal tools write it: 18 fields, CRLF after every line.
  std::string file;
  for (int p = 1; p <= args.people; ++p) {
    file += "01," + BenchAtena(100000 + p) + ",,20261203093000000,3595115400          ,," +
            kBenchInquirer.str() + ",0,JM90000000000001,JT90000000000101,,," +
            kBenchProvider.str() + ",TM00000000000002,0,0,,\r\n";
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto seconds_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  Result<http::Response> posted =
      (*net)->Call(kBenchInquirer, Role::kSystem, "POST",
                   "/api/v1/inquiries/batch?name=P640R110_20261203093000.DAT", file, "text/plain");
  if (!posted.ok() || posted->status != 200) {
    return fail("POST: " + (posted.ok() ? "HTTP " + std::to_string(posted->status) + " " +
                                              posted->body.substr(0, 300)
                                        : posted.status().ToString()));
  }
  const double accepted_s = seconds_since(t0);
  const std::string batch_id = json::parse(posted->body).value("batch_id", "");
  int64_t open = -1;
  while (open != 0) {
    if (seconds_since(t0) > 600) return fail("not every line ended within 600 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    Result<http::Response> g =
        (*net)->Call(kBenchInquirer, Role::kSystem, "GET", "/api/v1/inquiries/batch/" + batch_id);
    if (!g.ok() || g->status != 200) return fail("GET batch failed");
    open = json::parse(g->body).value("open", int64_t{-1});
  }
  const double ended_s = seconds_since(t0);
  Result<http::Response> result = (*net)->Call(
      kBenchInquirer, Role::kSystem, "GET", "/api/v1/inquiries/batch/" + batch_id + "/result-file");
  if (!result.ok() || result->status != 200) return fail("GET result-file failed");
  const double result_s = seconds_since(t0);
  // Every line completed with its record: 明細 status 09 and TM status 01 (columns 24, 26).
  int lines = 0, completed = 0;
  for (size_t at = 0; at < result->body.size();) {
    size_t end = result->body.find("\r\n", at);
    if (end == std::string::npos) return fail("result file: a line without CRLF");
    std::vector<std::string> cols;
    std::string_view line(result->body.data() + at, end - at);
    for (size_t b = 0;;) {
      size_t c = line.find(',', b);
      cols.emplace_back(line.substr(b, c == std::string_view::npos ? line.npos : c - b));
      if (c == std::string_view::npos) break;
      b = c + 1;
    }
    ++lines;
    if (cols.size() > 26 && cols[23] == "09" && cols[25] == "01") ++completed;
    at = end + 2;
  }
  const int stopped = (*net)->StopAll();
  std::printf(
      "\n受付 / accepted: %d lines in %.2f s (%.0f lines/s)\n"
      "全行終了 / every line ended: %.2f s after the POST\n"
      "結果ファイル / result file: %d lines (%d completed), %.1f MiB, read at %.2f s\n",
      args.people, accepted_s, args.people / accepted_s, ended_s, lines, completed,
      static_cast<double>(result->body.size()) / (1024.0 * 1024.0), result_s);
  net->reset();
  if (stopped != 0) return fail("a process did not stop cleanly");
  return lines == args.people && completed == args.people ? 0 : 1;
}

}  // namespace

void RegisterBenchCommands(CLI::App& app, Action& action) {
  CLI::App* bench = app.add_subcommand("bench", "性能測定 / benchmarks");
  bench->require_subcommand(1);
  RegisterOverloadBench(*bench, action);
  RegisterIcountBench(*bench, action);
  auto args = std::make_shared<BenchArgs>();
  CLI::App* linkage = bench->add_subcommand(
      "linkage", "照会から回答までの全経路 / the whole linkage path (hub + 2 servers)");
  CLI::Option* inquiries =
      linkage->add_option("--inquiries", args->inquiries, "measured linkages (default 5000)");
  CLI::Option* concurrency = linkage->add_option(
      "--concurrency", args->concurrency,
      "linkages in flight at once (default 32); with --rate, the most in flight (default 512)");
  CLI::Option* rate = linkage->add_option(
      "--rate", args->rate,
      "開ループ / open loop: linkages due per second, latency from the due time (with "
      "--duration)");
  CLI::Option* rates =
      linkage
          ->add_option("--rates", args->rates,
                       "開ループの段階 / open-loop steps: R1,R2,… each for --duration, on one "
                       "network")
          ->delimiter(',');
  rate->excludes(inquiries)->excludes(rates);
  rates->excludes(inquiries);
  linkage->add_option("--duration", args->duration_seconds,
                      "seconds of each open-loop run (with --rate or --rates)");
  linkage->add_option("--p99-goal-ms", args->p99_goal_ms,
                      "--rates: the p99 a step must stay under (default 50)");
  linkage->add_option("--people", args->people, "residents in the replica (default 1000)");
  linkage->add_option("--warmup", args->warmup, "unmeasured linkages first (default 300)");
  linkage->add_option("--server-threads", args->server_threads,
                      "[server] threads (I/O) of both servers (default 2)");
  linkage->add_option("--hub-threads", args->hub_threads, "[hub] threads (I/O) (default 2)");
  linkage->add_option("--server-workers", args->server_workers,
                      "[server] workers of both servers (default 64)");
  linkage->add_option("--hub-workers", args->hub_workers, "[hub] workers (default 64)");
  linkage->add_option("--delivery-threads", args->delivery_threads,
                      "[delivery] threads of the servers (default 8)");
  linkage->add_option("--hub-delivery-threads", args->hub_delivery_threads,
                      "[delivery] threads of the hub (default 16)");
  linkage->add_option("--batch-items", args->batch_items,
                      "[delivery] batch_items everywhere: messages per request, 1 = no batches "
                      "(default 64)");
  linkage->add_option("--peer-requests", args->peer_requests,
                      "[delivery] peer_requests everywhere (default 2)");
  AddNetworkFileOptions(*linkage, *args);
  linkage->add_option("--pg-dsn", args->pg_dsn,
                      "PostgreSQL connection string for the hub and both servers (default: "
                      "SQLite)");
  linkage->add_option("--server-nodes", args->server_nodes,
                      "nodes of each server on the one PostgreSQL, behind haproxy (default 1; "
                      "2 or more need --pg-dsn)");
  linkage->callback([&action, args, concurrency] {
    if ((args->rate > 0 || !args->rates.empty()) && concurrency->count() == 0) {
      args->concurrency = 512;
    }
    action.run = [args] { return RunLinkageBench(*args); };
  });

  auto bargs = std::make_shared<BenchArgs>();
  bargs->people = 10'000;
  auto sargs = std::make_shared<BenchArgs>();
  sargs->concurrency = 256;
  sargs->rate = 150;
  CLI::App* soak = bench->add_subcommand(
      "soak",
      "一定の到着率で長時間の連携と再取込 / linkage at a fixed rate, with re-imports, for "
      "a long time");
  soak->add_option("--minutes", sargs->minutes, "duration (default 60)");
  soak->add_option("--rate", sargs->rate, "linkages started per second (default 150)");
  soak->add_option("--concurrency", sargs->concurrency,
                   "most linkages in flight at once (default 256)");
  soak->add_option("--people", sargs->people, "residents in the replica (default 1000)");
  soak->add_option("--import-every", sargs->import_every_seconds,
                   "seconds between re-imports of the replica (default 60)");
  AddNetworkFileOptions(*soak, *sargs);
  soak->callback([&action, sargs] { action.run = [sargs] { return RunSoak(*sargs); }; });

  CLI::App* batch = bench->add_subcommand(
      "batch", "一括照会ファイルの全経路 / a P640R110 batch file through the hub, end to end");
  batch->add_option("--lines", bargs->people, "lines of the file, one per person (default 10000)");
  AddNetworkFileOptions(*batch, *bargs);
  batch->callback([&action, bargs] { action.run = [bargs] { return RunBatchBench(*bargs); }; });
}

}  // namespace chukan::cli
