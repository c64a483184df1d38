// What every `chukan bench` command that drives linkages shares: its arguments (BenchArgs) and
// the network it drives — a hub and two servers as processes (or, for `bench icount`, in this
// process) with the provider's replica and both sides' codes loaded.
#ifndef CHUKAN_CLI_BENCH_NETWORK_H_
#define CHUKAN_CLI_BENCH_NETWORK_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "cli/local_network.h"
#include "common/status.h"

namespace chukan::cli {

struct BenchArgs {
  int inquiries = 5000;
  int concurrency = 32;
  int people = 1000;
  int warmup = 300;
  int server_threads = 2;  // [server] threads (I/O threads of each listener)
  int hub_threads = 2;     // [hub] threads
  int server_workers = 64;
  int hub_workers = 64;
  int delivery_threads = 8;
  int hub_delivery_threads = 16;
  int batch_items = 64;
  int peer_requests = 2;
  std::string workdir;
  std::string layout_dir = "data/layout";
  std::string permissions_file = "data/permissions/sample.csv";
  bool keep = false;
  // PostgreSQL for the hub and both servers (a libpq connection string; empty: SQLite), and
  // nodes per server on it (2 or more: behind haproxy).
  std::string pg_dsn;
  int server_nodes = 1;
  // Open loop (bench linkage --rate or --rates with --duration; 0 and empty: closed loop), and
  // bench soak's rate.
  double rate = 0;
  std::vector<double> rates;
  double duration_seconds = 0;
  double p99_goal_ms = 50;
  // bench soak
  int minutes = 60;
  int import_every_seconds = 60;
  // [delivery] max_backlog of the hub and the servers (backpressure; bench overload lowers them)
  int64_t hub_max_backlog = 2000;
  int64_t server_max_backlog = 1000;
  // [delivery] poll_interval_ms and [hub] list_refresh_seconds of the network (LocalNetworkOptions;
  // bench icount sets both long, so that its windows hold no timed polls).
  int64_t poll_interval_ms = 200;
  int64_t list_refresh_seconds = 1;
};

// A bench command's work directory, owned for the length of its run: the one given with
// --workdir (created when missing; it must be empty), which stays; or a new temporary directory
// <tmp>/<prefix>-XXXXXX, removed with everything in it when the BenchWorkdir is destroyed — on
// every return, the early ones included — unless --keep was given. Declare it before the network
// that runs in it, so that the network has stopped before its files go. Thread-compatible.
class BenchWorkdir {
 public:
  // Errors: those of PrepareWorkdir (kFailedPrecondition: the --workdir is not empty).
  static Result<std::unique_ptr<BenchWorkdir>> Create(const BenchArgs& args,
                                                      std::string_view prefix);
  // Removes a temporary directory unless --keep; a failure to remove it is ignored (a bench's
  // leftovers in the temp directory are no reason to fail its run).
  ~BenchWorkdir();
  BenchWorkdir(const BenchWorkdir&) = delete;
  BenchWorkdir& operator=(const BenchWorkdir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  BenchWorkdir(std::filesystem::path path, bool remove) : path_(std::move(path)), remove_(remove) {}

  const std::filesystem::path path_;
  const bool remove_;
};

// The provider's replica file: one 地方税関係情報 record of 2026 per person; `round` changes the
// amounts, so that a re-import updates every record.
std::string ReplicaCsv(int people, int round);

// The provider's replica and both sides' codes for `people` residents; then waits for both
// servers' permission-list copies.
Status PrepareLinkage(LocalNetwork& net, int people);

// A hub and two servers as processes in `work` (`in_process`: objects in this process), the
// provider's replica and both sides' codes loaded (PrepareLinkage).
Result<std::unique_ptr<LocalNetwork>> StartNetwork(const BenchArgs& args,
                                                   const std::filesystem::path& work,
                                                   bool in_process = false);

// Adds --workdir, --keep, --layout and --permissions, for `args`, to a bench command.
void AddNetworkFileOptions(CLI::App& cmd, BenchArgs& args);

// `chukan bench overload` (bench_overload.cc) and `chukan bench icount` (bench_icount.cc), added
// to the `bench` command.
void RegisterOverloadBench(CLI::App& bench, Action& action);
void RegisterIcountBench(CLI::App& bench, Action& action);

}  // namespace chukan::cli

#endif  // CHUKAN_CLI_BENCH_NETWORK_H_
