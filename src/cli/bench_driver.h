// The load driver of `chukan bench linkage` and `chukan bench soak`: linkages sent through a
// LocalNetwork's inquirer server by a pool of worker threads, closed loop (each worker starts the
// next when its last one ends) or open loop (linkage i due at t0 + i / rate, its latency from
// then), latencies recorded in a LatencyHistogram per worker; and ProcessMeter, the CPU time and
// peak RSS of the network's processes over one measurement.
#ifndef CHUKAN_CLI_BENCH_DRIVER_H_
#define CHUKAN_CLI_BENCH_DRIVER_H_

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "cli/local_network.h"
#include "common/ids.h"
#include "common/latency_histogram.h"

namespace chukan::cli {

// The two municipalities of every bench network: the inquirer (照会機関) and the provider
// (提供機関) of the one procedure benched.
extern const OrgCode kBenchInquirer;
extern const OrgCode kBenchProvider;

// 宛名番号 (atena number) `n` as 15 digits.
std::string BenchAtena(int n);

// What a run of DriveLinkages did.
struct LinkageRun {
  LatencyHistogram latency;  // µs, of the completed linkages
  // µs, of the completed linkages from the 202 that admitted them: the latency the system holds
  // itself to under overload (backpressure), without the time a client waits to be let in.
  LatencyHistogram admitted_latency;
  // Answered 503 BUSY with Retry-After (backpressure) and not sent again: nothing was stored.
  // Neither completed nor failed.
  int turned_away = 0;
  int completed = 0;
  int failed = 0;
  int started = 0;
  // Paced runs: linkages started more than 1 ms after they were due, because every worker was
  // busy (or the driver was not scheduled in time). Their latency still runs from the due time.
  int late = 0;
  std::string first_failure;
  double seconds = 0;  // from the start to the last linkage's end

  void Merge(const LinkageRun& other);
};

// Milliseconds at percentile `p` (0–100) of `run`'s latencies.
double LatencyMs(const LinkageRun& run, double p);

// How a run paces and bounds its linkages (DriveLinkages's defaults: as fast as the workers go,
// until `total`).
struct Pace {
  // Linkages started per second in all (linkage i is due at t0 + i / rate, and its latency runs
  // from then, so a slow answer delays no measurement); 0: each worker starts the next at once.
  double rate = 0;
  // No linkage starts after this.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // Counters for a progress reporter, when given.
  std::atomic<int>* completed = nullptr;
  std::atomic<int>* failed = nullptr;
  // Called on the worker's thread for each completed linkage: when it ended, and how long it
  // took from its admission (202). Must be thread-safe.
  std::function<void(std::chrono::steady_clock::time_point, std::chrono::steady_clock::duration)>
      on_completed;
};

// `total` linkages by `concurrency` worker threads (the most in flight at once), person numbers
// (offset + i) mod `people` + 1, the provider's replica and both sides' codes already loaded.
// Blocks until every worker has ended. A linkage is completed when a long poll sees it completed
// with the person's one record; anything else (an HTTP error, refused, failed, expired) counts as
// failed, the first such reason kept.
LinkageRun DriveLinkages(LocalNetwork& net, int total, int concurrency, int people, int offset,
                         const Pace& pace = {});

// CPU time and peak RSS of the hub's and both servers' processes (every node) and of this
// driver over one measurement: CPU from construction to Stop(), RSS sampled every 100 ms in
// between by a thread of its own. `net` must outlive it. Not thread-safe (one measurement, one
// thread).
class ProcessMeter {
 public:
  struct Reading {
    std::array<double, 3> cpu{};        // s: the hub, the inquirer's nodes, the provider's
    std::array<int64_t, 3> peak_kib{};  // the hub, the inquirer server, the provider server
    double driver_cpu = 0;              // s: its HTTP clients and JSON share the same cores
  };

  ProcessMeter(LocalNetwork& net, int server_nodes);
  ~ProcessMeter() { Stop(); }
  ProcessMeter(const ProcessMeter&) = delete;
  ProcessMeter& operator=(const ProcessMeter&) = delete;

  // Ends the measurement (blocks up to 100 ms for the sampler); later calls return the same.
  Reading Stop();

  // CPU of the three processes' groups per completed linkage, in ms.
  static double CpuMsPerLinkage(const Reading& use, int completed);

 private:
  double CpuOf(size_t group) const;

  LocalNetwork& net_;
  std::array<std::vector<pid_t>, 3> pids_;
  std::array<double, 3> cpu0_{};
  double driver0_ = 0;
  std::array<int64_t, 3> peak_{};  // written by the sampler, read after its join
  std::atomic<bool> done_{false};
  std::thread sampler_;
  Reading reading_;
};

}  // namespace chukan::cli

#endif  // CHUKAN_CLI_BENCH_DRIVER_H_
