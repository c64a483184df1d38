// chukan_console_bench: issue 12's console goals, measured in process through the http::Router
// as console_test.cc drives it (a cookie jar, forms with their CSRF token), over a real Platform
// with one tenant on SQLite in a temp dir and no hub:
//   1. server time of every console page (p50 / p99 / max) with --rows replica records;
//   2. the byte size of the embedded assets and of a typical page;
//   3. a --rows import uploaded through the console's own route while a second thread polls
//      /console/imports/progress every 100 ms: the largest gap between changes of the value.
//
//   chukan_console_bench [--rows 1000000] [--requests 300] [--audit 0] [--layout data/layout]
//
// --audit N writes N audit entries (a year of the tenant's work) before the console's own, so
// that the screens reading the audit log (操作履歴, 取込's history) are timed against a large
// log.
//
// Server time is the router's gate plus the handler (what a worker thread spends on the
// request), measured around the dispatch; logins (password hashing) are outside it. The clock
// the console sees is a fake one (sessions never expire during the run); times are measured with
// std::chrono::steady_clock.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_log.h"
#include "common/clock.h"
#include "common/test_util.h"
#include "console/console.h"
#include "console/console_impl.h"
#include "console/test_browser.h"
#include "crypto/bytes.h"
#include "crypto/totp.h"
#include "http/router.h"
#include "layout/catalogue_loader.h"
#include "replica/replica_store.h"
#include "server/platform.h"
#include "server/staff_directory.h"
#include "server/tenant_context.h"
#include "store/database.h"

namespace chukan {
namespace {

using Steady = std::chrono::steady_clock;
using console::testing::Browser;

const OrgCode kOrg = OrgCode::Parse("0000000000000012").value();
const TmCode kTaxTm = TmCode::Parse("TM00000000000002").value();
constexpr std::string_view kPassword = "Kyou-no-Tenki-42";

double Ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string Atena(int64_t i) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%015lld", static_cast<long long>(i));
  return buf;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "console_bench: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.status().ToString());
  return std::move(r).value();
}

int Run(int64_t rows, int requests, int64_t audit_entries_before, const std::string& layout_dir) {
  testing::TempDir dir;
  FakeClock clock;
  std::shared_ptr<const layout::Catalogue> catalogue =
      Must(layout::LoadCatalogue(layout_dir), "layout");
  server::ServerConfig config;
  config.store.backend = store::Backend::kSqlite;
  config.store.data_dir = dir.File("data");
  config.keys_dir = dir.File("keys");
  std::unique_ptr<server::Platform> platform =
      Must(server::Platform::Open(config, true, clock, catalogue), "platform");
  Must(platform->CreateTenant(kOrg, "bench city", "bench"), "tenant");
  std::shared_ptr<server::TenantContext> ctx =
      Must(platform->Tenant(TenantId::ForOrg(kOrg)), "tenant context");

  // A tenant that has been working for a while: --audit entries over the past year (one every
  // 30 s), a third of them a staff member looking up a resident (keyed hash, as the console
  // writes them), the rest linkage and login entries; all older than the alert window.
  if (audit_entries_before > 0) {
    const Steady::time_point start = Steady::now();
    const TimePoint now = clock.Now();
    clock.Set(now - std::chrono::seconds(30) * audit_entries_before);
    std::mt19937_64 gen(7);
    for (int64_t done = 0; done < audit_entries_before;) {
      std::unique_ptr<store::Transaction> tx = Must(ctx->db->Begin(), "begin");
      for (int i = 0; i < 10000 && done < audit_entries_before; ++i, ++done) {
        audit::AuditEvent e{
            TenantId::ForOrg(kOrg).str(), "client:tax", "inquiry.answer", "", "ok", "req"};
        uint8_t h[16];
        for (uint8_t& c : h) c = static_cast<uint8_t>(gen());
        switch (done % 3) {
          case 0:
            e.actor = "staff:clerk" + std::to_string(done % 50);
            e.action = done % 2 ? "replica.lookup" : "replica.show";
            e.target = "atena#" + crypto::ToHex(std::span<const uint8_t>(h, 16));
            break;
          case 1:
            e.target = "permit:" + crypto::ToHex(std::span<const uint8_t>(h, 16));
            break;
          default:
            e.actor = "staff:clerk" + std::to_string(done % 50);
            e.action = "staff.login";
            break;
        }
        Must(ctx->audit->Append(*tx, e), "audit append");
        clock.Advance(std::chrono::seconds(30));
      }
      if (Status s = tx->Commit(); !s.ok()) Die("commit: " + s.ToString());
    }
    clock.Set(now);
    std::printf("# %lld audit entries written beforehand in %.1f s\n",
                static_cast<long long>(audit_entries_before),
                std::chrono::duration<double>(Steady::now() - start).count());
  }

  console::ConsoleOptions options;
  options.staff.hash_limits = crypto::PwhashLimits::MinimumForTests();
  console::Console console(*platform, nullptr, catalogue, options, clock);
  http::Router router;
  if (Status s = console.Register(router); !s.ok()) Die("register: " + s.ToString());

  // One member holding every role (so ホーム shows everything), logged in through the forms.
  server::StaffDirectory staff(*ctx, options.staff, clock);
  server::StaffCreated created =
      Must(staff.Add("bench", "計測 職員", "0001", 31, "bench"), "staff add");
  Browser b(router);
  b.Get("/console/login");
  http::Response r =
      b.Post("/console/login",
             {{"org", kOrg.str()}, {"login", "bench"}, {"password", created.initial_password}});
  if (created.enrolment) {
    auto key = Must(crypto::Base32Decode(created.enrolment->secret_base32), "base32");
    const std::string code =
        Must(crypto::Totp(key.span(), ToUnixMicros(clock.Now()) / 1'000'000), "totp");
    r = b.Post("/console/totp", {{"code", code}});
  }
  r = b.Post("/console/password", {{"old", created.initial_password},
                                   {"new", std::string(kPassword)},
                                   {"again", std::string(kPassword)}});
  if (b.Get("/console/home").status != 200) Die("login failed");

  // Goal 3: the import through the console's upload route, progress polled every 100 ms.
  std::string csv =
      "atena_no,IT00000200000001,IT00000200000002,IT00000200000003,IT00000200000004,"
      "IT00000200000005,IT00000200000006,IT00000200000007,IT00000200000008,IT00000200000009,"
      "IT00000200000010,IT00000200000011,IT00000200000012,IT00000200000013,IT00000200000014,"
      "IT00000200000015,IT00000200000016\n";
  csv.reserve(static_cast<size_t>(rows) * 100);
  for (int64_t i = 1; i <= rows; ++i) {
    csv += Atena(i) + ",2026,2026-01-01,1," + std::to_string(1000 + i % 9000000) +
           ",100000,50000,200000,30000,150000,20000,1,0,1,2,,10000\n";
  }
  const double csv_mib = static_cast<double>(csv.size()) / (1 << 20);
  const std::string job = "bench0123456789abcdef";
  std::atomic<bool> finished{false};
  std::vector<std::pair<Steady::time_point, std::string>> changes;
  std::vector<double> poll_ms;
  const Steady::time_point upload_start = Steady::now();
  std::thread poller([&] {
    Browser p(router);
    p.cookies() = b.cookies();
    std::string last;
    Steady::time_point next = Steady::now();
    while (true) {
      next += std::chrono::milliseconds(100);
      std::this_thread::sleep_until(next);
      const bool was_finished = finished.load();
      http::Response pr = p.Get("/console/imports/progress?job=" + job);
      poll_ms.push_back(Ms(p.last_time()));
      if (pr.body != last) {
        changes.emplace_back(Steady::now(), pr.body);
        last = pr.body;
      }
      if (was_finished) break;
    }
  });
  http::Response up = b.Upload(
      "/console/imports/upload?job=" + job + "&tm=" + kTaxTm.str() + "&mode=upsert&format=csv",
      std::move(csv), "text/csv; charset=utf-8");
  const Steady::time_point upload_end = Steady::now();
  finished = true;
  poller.join();
  if (up.status != 201) Die("import: " + std::to_string(up.status) + " " + up.body);
  const double import_s = std::chrono::duration<double>(upload_end - upload_start).count();
  double max_gap = 0;
  double max_gap_before_commit = 0;  // staging and applying
  std::string gap_from, gap_to;
  for (size_t i = 1; i < changes.size(); ++i) {
    const double g = Ms(changes[i].first - changes[i - 1].first);
    if (changes[i].second.find("\"committing\"") == std::string::npos &&
        changes[i].second.find("\"done\"") == std::string::npos) {
      max_gap_before_commit = std::max(max_gap_before_commit, g);
    }
    if (g > max_gap) {
      max_gap = g;
      gap_from = changes[i - 1].second;
      gap_to = changes[i].second;
    }
  }
  std::printf("# import through POST /console/imports/upload\n");
  std::printf("rows %lld, CSV %.1f MiB, %.2f s, %.0f rows/s; answer %s\n",
              static_cast<long long>(rows), csv_mib, import_s, static_cast<double>(rows) / import_s,
              up.body.c_str());
  std::printf(
      "progress polled every 100 ms: %zu polls, %zu changes, first change %.0f ms after the "
      "upload began; largest gap between changes %.0f ms (%s -> %s); poll p99 %.3f ms\n",
      poll_ms.size(), changes.size(),
      changes.empty() ? 0.0 : Ms(changes.front().first - upload_start), max_gap, gap_from.c_str(),
      gap_to.c_str(), Percentile(poll_ms, 0.99));
  std::string phases;
  std::string last_phase;
  for (const auto& [t, body] : changes) {
    const size_t at = body.find("\"phase\":\"");
    const std::string phase = at == std::string::npos ? body : body.substr(at + 9, 4);
    if (phase == last_phase) continue;
    last_phase = phase;
    char buf[64];
    std::snprintf(buf, sizeof buf, " %s at %.2f s", phase.c_str(),
                  std::chrono::duration<double>(t - upload_start).count());
    phases += buf;
  }
  std::printf("phases (first seen):%s; largest gap while staging and applying %.0f ms\n",
              phases.c_str(), max_gap_before_commit);
  std::fflush(stdout);

  // Goal 1: page times.
  std::mt19937_64 rng(12);
  auto present = [&] { return Atena(std::uniform_int_distribution<int64_t>(1, rows)(rng)); };
  struct Page {
    std::string name;
    std::function<http::Response()> send;
  };
  std::string last_atena = present();
  const std::vector<Page> pages = {
      {"GET /console/home", [&] { return b.Get("/console/home"); }},
      {"GET /console/replica?atena_no=",
       [&] {
         last_atena = present();
         return b.Get("/console/replica?atena_no=" + last_atena);
       }},
      {"POST /console/replica/show",
       [&] {
         return b.Post("/console/replica/show", {{"atena_no", last_atena}, {"tm", kTaxTm.str()}});
       }},
      {"GET /console/history", [&] { return b.Get("/console/history"); }},
      {"GET /console/history?atena_no=",
       [&] { return b.Get("/console/history?atena_no=" + present()); }},
      {"GET /console/records (no hub)", [&] { return b.Get("/console/records"); }},
      {"GET /console/staff", [&] { return b.Get("/console/staff"); }},
      {"GET /console/imports", [&] { return b.Get("/console/imports"); }},
      {"GET /console/inquiries (no hub)", [&] { return b.Get("/console/inquiries"); }},
      {"GET /console/approvals (no hub)", [&] { return b.Get("/console/approvals"); }},
      {"GET /console/assets/console.css", [&] { return b.Get("/console/assets/console.css"); }},
      {"GET /console/assets/console.js", [&] { return b.Get("/console/assets/console.js"); }},
  };
  auto audit_entries = [&]() -> int64_t {
    auto tx = Must(ctx->db->BeginRead(), "read");
    auto row = Must(tx->QueryOne("SELECT COUNT(*) FROM audit_log"), "count");
    return row ? row->GetInt(0).value_or(-1) : -1;
  };
  std::printf("\n# page server time, %d requests each, %lld replica records\n", requests,
              static_cast<long long>(rows));
  std::printf("%-36s %6s %9s %9s %9s %9s %s\n", "page", "status", "p50 ms", "p99 ms", "max ms",
              "bytes", "audit entries at start");
  for (const Page& page : pages) {
    const int64_t entries = audit_entries();
    std::vector<double> t;
    int status = 0;
    size_t bytes = 0;
    for (int i = 0; i < requests; ++i) {
      http::Response pr = page.send();
      t.push_back(Ms(b.last_time()));
      status = pr.status;
      bytes = pr.body.size();
    }
    std::printf("%-36s %6d %9.3f %9.3f %9.3f %9zu %lld\n", page.name.c_str(), status,
                Percentile(t, 0.5), Percentile(t, 0.99), *std::max_element(t.begin(), t.end()),
                bytes, static_cast<long long>(entries));
    std::fflush(stdout);
  }
  std::printf("audit entries at the end: %lld\n", static_cast<long long>(audit_entries()));

  // Goal 2: asset sizes.
  const size_t css = console::ConsoleCss().size();
  const size_t js = console::ConsoleJs().size();
  std::printf("\n# assets\nconsole.css %zu B, console.js %zu B, together %zu B = %.1f KiB\n", css,
              js, css + js, static_cast<double>(css + js) / 1024);
  return 0;
}

}  // namespace
}  // namespace chukan

int main(int argc, char** argv) {
  CLI::App app("chukan_console_bench: the console's page times, asset sizes and import progress");
  int64_t rows = 1'000'000;
  int requests = 300;
  int64_t audit = 0;
  std::string layout = CHUKAN_LAYOUT_DIR;
  app.add_option("--rows", rows, "replica records imported through the console")
      ->check(CLI::Range(int64_t{1}, int64_t{10'000'000}));
  app.add_option("--requests", requests, "requests per page")->check(CLI::Range(1, 100000));
  app.add_option("--audit", audit, "audit entries written beforehand (a year of the tenant's work)")
      ->check(CLI::Range(int64_t{0}, int64_t{100'000'000}));
  app.add_option("--layout", layout, "the layout catalogue directory");
  CLI11_PARSE(app, argc, argv);
  return chukan::Run(rows, requests, audit, layout);
}
