// chukan bench icount — the work whose instruction counts guard against regressions (issue 16),
// run so that callgrind (valgrind) can count it:
//
//   valgrind --tool=callgrind --instr-atstart=no chukan bench icount --workdir DIR
//
// Three pieces of work, each counted in a window of its own (callgrind's client requests start
// the instrumentation, zero the counts and dump them, one file per window):
//   linkage  one complete linkage through a whole network in this process (a hub and two
//            servers as objects, TLS on loopback; the existing system's POST and long poll
//            included), 20 of them one after another, after 5 unmeasured;
//   import   one replica import of 10,000 rows (地方税関係情報, CSV) through the server's API;
//   permit   one provision permit decided, signed and durably recorded by a hub object (no
//            HTTP, no delivery), 1,000 of them: the hub's WAL checkpoints (one every 300-odd
//            permits, about 20 M instructions each) then fall into every window by the same
//            count give or take one, where with 200 a window held none or one, and the median
//            moved by 100 k a permit with where the checkpoints fell.
// After each window comes an idle window of the same length: its count (the timers and
// housekeeping of the idle threads) is what the work's window holds besides the work, and is
// subtracted by tests/perf/icount_test.sh. Each pair runs three times (rounds); the script takes
// the median. Dump names: "<what> work <n> <round>" and "<what> idle <n> <round>".
// Outside valgrind the client requests do nothing and the command just runs the work.
#include <valgrind/callgrind.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "cli/bench_driver.h"
#include "cli/bench_network.h"
#include "crypto/sealed_box.h"
#include "hub/hub.h"
#include "hub/hub_store.h"
#include "layout/catalogue_loader.h"
#include "store/tenant_store.h"

namespace chukan::cli {
namespace {

namespace fs = std::filesystem;
using Role = LocalNetwork::Role;

struct IcountArgs {
  BenchArgs net;
  int linkages = 20;
  int import_rows = 10'000;
  int permits = 1000;
};

// Rounds of each window: the guard takes the median of their counts, which one round whose idle
// threads woke more than usual does not move.
constexpr int kRounds = 3;

// Counts `work` (done `n` times) in a window of its own, then an idle window as long; kRounds
// times. `work(round)` must do new work each round (new references, new people).
void Window(const std::string& what, int n, const std::function<Status(int round)>& work,
            bool* ok) {
  for (int round = 1; round <= kRounds; ++round) {
    CALLGRIND_START_INSTRUMENTATION;
    CALLGRIND_ZERO_STATS;
    const auto t0 = std::chrono::steady_clock::now();
    const Status s = work(round);
    const auto took = std::chrono::steady_clock::now() - t0;
    // The names must outlive the macros' statements (a temporary's c_str() does not).
    const std::string tail = " " + std::to_string(n) + " " + std::to_string(round);
    const std::string work_name = what + " work" + tail;
    const std::string idle_name = what + " idle" + tail;
    CALLGRIND_DUMP_STATS_AT(work_name.c_str());
    std::this_thread::sleep_for(took);
    CALLGRIND_DUMP_STATS_AT(idle_name.c_str());
    CALLGRIND_STOP_INSTRUMENTATION;
    std::printf("icount %s, round %d: %d in %.2f s%s%s\n", what.c_str(), round, n,
                std::chrono::duration<double>(took).count(),
                s.ok() ? "" : " — failed: ", s.ok() ? "" : s.ToString().c_str());
    if (!s.ok()) *ok = false;
  }
}

// A hub object on SQLite in `dir` with the two bench organisations, the sample permission list
// and one person's code at each: what RequestPermit needs.
struct PermitHub {
  std::unique_ptr<store::TenantStore> owner;
  std::unique_ptr<hub::Hub> hub;
  SubjectCode inquirer_code = SubjectCode::Generate();
};

Result<PermitHub> OpenPermitHub(const IcountArgs& args, const fs::path& dir) {
  PermitHub p;
  hub::HubConfig config;
  config.store.data_dir = (dir / "hub").string();
  ASSIGN_OR_RETURN(std::shared_ptr<const layout::Catalogue> catalogue,
                   layout::LoadCatalogue(args.net.layout_dir));
  ASSIGN_OR_RETURN(std::shared_ptr<store::Database> db, hub::OpenHubDatabase(config, &p.owner));
  hub::HubKeys keys{crypto::SigningKey::Generate(), crypto::SecretBytes::Random(32),
                    crypto::SigningKey::Generate()};
  ASSIGN_OR_RETURN(p.hub, hub::Hub::Open(config, db, std::move(keys), catalogue));
  for (const OrgCode& org : {kBenchInquirer, kBenchProvider}) {
    hub::OrgRecord rec;
    rec.code = org;
    rec.name = "icount " + org.str();
    rec.org_class = "municipality";
    rec.endpoint = "https://127.0.0.1:1";
    rec.sign_key = crypto::SigningKey::Generate().verify_key().bytes();
    rec.cert_sha256 = std::string(48, 'a') + org.str();
    RETURN_IF_ERROR(p.hub->store().AddOrg(rec, "icount"));
  }
  std::string sha;
  ASSIGN_OR_RETURN(linkage::PermissionList list,
                   hub::ReadPermissionListFile(args.net.permissions_file, *catalogue, &sha));
  RETURN_IF_ERROR(
      p.hub->store().AddPermissionList(list.rules(), "sample.csv", sha, "icount").status());
  RETURN_IF_ERROR(p.hub->Refresh());
  const ResidentId rid = ResidentId::Parse("40000000001").value();
  ASSIGN_OR_RETURN(p.inquirer_code, p.hub->IssueCode(kBenchInquirer, rid));
  RETURN_IF_ERROR(p.hub->IssueCode(kBenchProvider, rid).status());
  return p;
}

int RunIcount(const IcountArgs& args) {
  Result<std::unique_ptr<BenchWorkdir>> dir = BenchWorkdir::Create(args.net, "chukan-icount");
  if (!dir.ok()) {
    std::fprintf(stderr, "chukan bench icount: %s\n", std::string(dir.status().message()).c_str());
    return dir.status().code() == StatusCode::kFailedPrecondition ? 2 : 1;
  }
  const fs::path& work = (*dir)->path();
  bool ok = true;
  {
    fs::create_directories(work / "net");
    auto net = StartNetwork(args.net, work / "net", /*in_process=*/true);
    if (!net.ok()) {
      std::fprintf(stderr, "chukan bench icount: %s\n", net.status().ToString().c_str());
      return 1;
    }
    LinkageRun warm = DriveLinkages(**net, 5, 1, args.net.people, 0);
    if (warm.failed > 0) ok = false;
    Window(
        "linkage", args.linkages,
        [&](int round) -> Status {
          LinkageRun run =
              DriveLinkages(**net, args.linkages, 1, args.net.people, 5 + round * args.linkages);
          if (run.failed > 0 || run.completed != args.linkages) {
            return InternalError(std::to_string(run.failed) + " failed: " + run.first_failure);
          }
          return Status();
        },
        &ok);
    Window(
        "import", 1,
        [&](int round) -> Status {
          // Each round changes every record's amounts: the same work (10,000 updates but for the
          // first round's new records) with new values.
          const std::string csv = ReplicaCsv(args.import_rows, round);
          Result<http::Response> r =
              (*net)->Call(kBenchProvider, Role::kSystem, "POST",
                           "/api/v1/replica/imports?tm=TM00000000000002", csv, "text/csv");
          if (!r.ok()) return r.status();
          if (r->status != 201) return InternalError("import: HTTP " + std::to_string(r->status));
          return Status();
        },
        &ok);
    (*net)->StopAll();
  }
  {
    Result<PermitHub> hub = OpenPermitHub(args, work);
    if (!hub.ok()) {
      std::fprintf(stderr, "chukan bench icount: %s\n", hub.status().ToString().c_str());
      return 1;
    }
    const crypto::BoxKeyPair reply = crypto::BoxKeyPair::Generate();
    Window(
        "permit", args.permits,
        [&](int round) -> Status {
          for (int i = 0; i < args.permits; ++i) {
            hub::PermitRequest r;
            r.provider = kBenchProvider;
            r.procedure = JtCode::Parse("JT90000000000101").value();
            r.tm = TmCode::Parse("TM00000000000002").value();
            r.layout_version = "0001";
            r.subject = hub->inquirer_code;
            r.reply_key = reply.public_key();
            r.reference = "icount-" + std::to_string(round) + "-" + std::to_string(i);
            ASSIGN_OR_RETURN(hub::PermitOutcome out, hub->hub->RequestPermit(kBenchInquirer, r));
            if (!out.permitted) return InternalError("permit refused: " + out.reason);
          }
          return Status();
        },
        &ok);
  }
  return ok ? 0 : 1;
}

}  // namespace

void RegisterIcountBench(CLI::App& bench, Action& action) {
  auto args = std::make_shared<IcountArgs>();
  args->net.people = 100;
  args->net.concurrency = 4;
  args->net.server_workers = 8;
  args->net.hub_workers = 8;
  args->net.delivery_threads = 2;
  args->net.hub_delivery_threads = 2;
  // No timed polls in the windows: the outboxes are looked at every minute and the permission
  // list fetched every hour (WaitForPermissionLists fetches the first complete copy), so a
  // linkage moves only by the commits that announce its messages (Notify), and what the pumps'
  // and refreshes' timers cost does not grow with a window's wall time. What is left on a timer
  // is the servers' housekeeping (sweeps, leases, key reloads) every second.
  args->net.poll_interval_ms = 60'000;
  args->net.list_refresh_seconds = 3'600;
  CLI::App* cmd = bench.add_subcommand(
      "icount",
      "命令数の計測（valgrind の callgrind の下で）/ the work whose instruction counts guard "
      "against regressions, under callgrind (tests/perf/icount_test.sh)");
  cmd->add_option("--linkages", args->linkages, "linkages counted (default 20)");
  cmd->add_option("--import-rows", args->import_rows, "rows of the import counted (default 10000)");
  cmd->add_option("--permits", args->permits, "permits counted (default 1000)");
  AddNetworkFileOptions(*cmd, args->net);
  cmd->callback([&action, args] { action.run = [args] { return RunIcount(*args); }; });
}

}  // namespace chukan::cli
