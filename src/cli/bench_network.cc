#include "cli/bench_network.h"

#include <chrono>
#include <cstdio>

#include "cli/bench_driver.h"

namespace chukan::cli {

namespace fs = std::filesystem;
using Role = LocalNetwork::Role;

namespace {

std::string Resident(int p) {
  char s[16];
  std::snprintf(s, sizeof(s), "%011lld", 40000000000LL + p);
  return s;
}

}  // namespace

// The provider's replica file: one 地方税関係情報 record of 2026 per person; `round` changes the
// amounts, so that a re-import updates every record.
std::string ReplicaCsv(int people, int round) {
  std::string csv = "atena_no";
  for (int i = 1; i <= 16; ++i) {
    char code[24];
    std::snprintf(code, sizeof(code), ",IT000002000000%02d", i);
    csv += code;
  }
  csv += "\n";
  for (int p = 1; p <= people; ++p) {
    csv += BenchAtena(p) + ",2026,2026-01-01,1," + std::to_string(2000000 + p + round) +
           ",1800000,50000,200000,30000,150000,20000,1,0,1,2,,10000\n";
  }
  return csv;
}

Status PrepareLinkage(LocalNetwork& net, int people) {
  const std::string csv = ReplicaCsv(people, 0);
  // Codes in requests of 1,000 (as `chukan codes load` sends them): each stays well inside the
  // client's timeout on a busy machine.
  constexpr int kCodesPerRequest = 1000;
  std::vector<std::string> pairs_provider, pairs_inquirer;
  for (int p = 1; p <= people; ++p) {
    if ((p - 1) % kCodesPerRequest == 0) {
      pairs_provider.emplace_back();
      pairs_inquirer.emplace_back();
    }
    pairs_provider.back() += BenchAtena(p) + "," + Resident(p) + "\n";
    pairs_inquirer.back() += BenchAtena(100000 + p) + "," + Resident(p) + "\n";
  }
  auto r = net.Call(kBenchProvider, Role::kSystem, "POST",
                    "/api/v1/replica/imports?tm=TM00000000000002", csv, "text/csv");
  if (!r.ok() || r->status != 201) return InternalError("replica import failed");
  for (auto [org, chunks] :
       {std::pair{kBenchProvider, &pairs_provider}, std::pair{kBenchInquirer, &pairs_inquirer}}) {
    for (const std::string& pairs : *chunks) {
      auto c = net.Call(org, Role::kSystem, "POST", "/api/v1/codes/bulk", pairs, "text/csv");
      if (!c.ok() || c->status != 200) {
        return InternalError("codes: " + (c.ok() ? c->body.substr(0, 300) : c.status().ToString()));
      }
    }
  }
  return net.WaitForPermissionLists(std::chrono::seconds(30));
}

Result<std::unique_ptr<BenchWorkdir>> BenchWorkdir::Create(const BenchArgs& args,
                                                           std::string_view prefix) {
  bool temporary = false;
  ASSIGN_OR_RETURN(std::string dir, PrepareWorkdir(args.workdir, prefix, &temporary));
  // Private constructor: not reachable through make_unique.
  return std::unique_ptr<BenchWorkdir>(new BenchWorkdir(dir, temporary && !args.keep));
}

BenchWorkdir::~BenchWorkdir() {
  if (!remove_) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

Result<std::unique_ptr<LocalNetwork>> StartNetwork(const BenchArgs& args, const fs::path& work,
                                                   bool in_process) {
  LocalNetworkOptions o;
  o.binary = SelfExecutable();
  o.workdir = work.string();
  o.layout_dir = args.layout_dir;
  o.permissions_file = args.permissions_file;
  o.servers = 2;
  o.log_level = "warn";
  o.server_threads = args.server_threads;
  o.hub_threads = args.hub_threads;
  o.server_workers = args.server_workers;
  o.hub_workers = args.hub_workers;
  o.server_delivery_threads = args.delivery_threads;
  o.hub_delivery_threads = args.hub_delivery_threads;
  o.batch_items = args.batch_items;
  o.peer_requests = args.peer_requests;
  // One client (token) drives every worker: each may hold a long poll.
  o.long_polls_per_client = args.concurrency;
  o.orgs = {{kBenchInquirer, "bench-inquirer", "municipality", 0, ""},
            {kBenchProvider, "bench-provider", "municipality", 1, ""}};
  if (!args.pg_dsn.empty()) {
    o.pg_dsn = args.pg_dsn;
    // Schemas of their own for each run: <prefix>_hub, <prefix>_s1, … (left for the operator
    // of the database to drop; the run prints the prefix).
    o.pg_prefix =
        "bench_" + std::to_string(std::chrono::system_clock::now().time_since_epoch().count() %
                                  1'000'000'000'000);
    std::printf("  setup: PostgreSQL schemas %s_*\n", o.pg_prefix.c_str());
  }
  o.nodes_per_server = args.server_nodes;
  o.balancer = args.server_nodes > 1;
  o.hub_max_backlog = args.hub_max_backlog;
  o.server_max_backlog = args.server_max_backlog;
  o.poll_interval_ms = args.poll_interval_ms;
  o.list_refresh_seconds = args.list_refresh_seconds;
  o.in_process = in_process;
  o.progress = [](const std::string& s) { std::printf("  setup: %s\n", s.c_str()); };
  ASSIGN_OR_RETURN(std::unique_ptr<LocalNetwork> net, LocalNetwork::Start(o));
  RETURN_IF_ERROR(PrepareLinkage(*net, args.people));
  std::printf("  setup: %d replica records and %d codes on each side\n", args.people, args.people);
  return net;
}

void AddNetworkFileOptions(CLI::App& cmd, BenchArgs& args) {
  cmd.add_option("--workdir", args.workdir, "directory to work in (default: a temp dir)");
  cmd.add_flag("--keep", args.keep, "keep the work directory");
  cmd.add_option("--layout", args.layout_dir, "data standard layout (default data/layout)");
  cmd.add_option("--permissions", args.permissions_file,
                 "permission list (default data/permissions/sample.csv)");
}

}  // namespace chukan::cli
