// The whole linkage across the loss of the database's primary (issue 15, "High availability of
// the database"): a hub and two intermediate servers as real processes (cli::LocalNetwork) with
// all their state on a Patroni cluster (scripts/with-patroni: a primary and a synchronous
// standby), reached through the multi-host connection string (target_session_attrs=read-write).
// While existing-system clients run linkages and a replica import is being written, the
// primary's machine is lost (SIGKILL of its Patroni and its postmaster); Patroni promotes the
// standby, and the nodes must find it by themselves.
//
// Runs only where CHUKAN_TEST_PATRONI_DSN is set (`make test-ha`, which also sets
// CHUKAN_REQUIRE_PATRONI so that it cannot skip); the other test runs skip it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "cli/local_network.h"
#include "common/status_matchers.h"
#include "common/test_util.h"
#include "http/client.h"
#include "network_test_util.h"
#include "store/database.h"
#include "store/store_test_util.h"
#include "test_people.h"

namespace chukan::testing {
namespace {

using cli::LocalNetwork;
using json = nlohmann::json;
using Role = cli::LocalNetwork::Role;
using Clock = std::chrono::steady_clock;

const OrgCode kCityA = OrgCode::Parse("0000000000000081").value();
const OrgCode kCityB = OrgCode::Parse("0000000000000082").value();
constexpr int kPerson = 11;
// Person p's taxable income in the provider's replica is kIncomeBase + p: kPerson's is the
// value every linkage must bring back.
constexpr long long kIncomeBase = 2'345'667;
const std::string kIncome = "2345678";
constexpr int kClients = 8;
// Linkages completed before the kill, and linkages begun after it that must complete before
// the run stops.
constexpr int kBefore = 100;
constexpr int kAfter = 100;
// The bound on the time from the kill to the first linkage begun after it completing.
constexpr auto kResumeBound = std::chrono::seconds(60);
const char kImportPath[] = "/api/v1/replica/imports?tm=TM00000000000002";
const char kImportKey[] = "failover-import-1";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// Rows of the replica import in flight at the kill: CHUKAN_FAILOVER_IMPORT_ROWS, or 200,000
// (its write transaction then lasts seconds on the 2-core machine).
int ImportRows() {
  const int n = std::atoi(Env("CHUKAN_FAILOVER_IMPORT_ROWS").c_str());
  return n > kPerson ? n : 200'000;
}

// Line `n` (1-based) of a file, or "".
std::string FileLine(const std::string& file, int n) {
  std::ifstream in(file);
  std::string line;
  for (int i = 0; i < n && std::getline(in, line); ++i) {
  }
  return in ? line : "";
}

// The first line where two sorted record lists differ, for a failure message.
std::string FirstDifference(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const auto [x, y] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return "\"" + (x == a.end() ? std::string("(end)") : *x) + "\" vs \"" +
         (y == b.end() ? std::string("(end)") : *y) + "\"";
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The records of a replica CSV (the lines after its header), each cut to its first 17 columns
// (atena_no and the 16 items; an export adds the publication period), sorted: the replica's
// content whatever the order.
std::vector<std::string> SortedRecords(const std::string& csv) {
  std::vector<std::string> lines;
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    size_t at = 0;
    for (int column = 0; column < 17 && at != std::string::npos; ++column) {
      at = line.find(',', at == 0 ? 0 : at + 1);
    }
    lines.push_back(line.substr(0, at));
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

// How the calls of the clients fared: what failed on the way and was tried again.
struct Retries {
  std::atomic<int> connection{0};   // the connection failed or timed out (no answer)
  std::atomic<int> unavailable{0};  // the server answered 503
  int total() const { return connection.load() + unavailable.load(); }
};

// Whether a call failed in a way an existing system tries again (counted in `retries`): no
// answer, or 503. Anything else is an answer.
bool Retryable(const Result<http::Response>& r, Retries& retries) {
  if (!r.ok()) {
    const StatusCode c = r.status().code();
    if (c != StatusCode::kUnavailable && c != StatusCode::kDeadlineExceeded) return false;
    retries.connection.fetch_add(1);
    return true;
  }
  if (r->status != 503) return false;
  retries.unavailable.fetch_add(1);
  return true;
}

std::string Describe(const Result<http::Response>& r) {
  return r.ok() ? "HTTP " + std::to_string(r->status) + " " + r->body.substr(0, 300)
                : r.status().ToString();
}

// One linkage as an existing system runs it: what it saw, and when.
struct Linkage {
  Clock::time_point begun;  // the first POST
  Clock::time_point ended;  // the answer "completed", or the failure
  std::string inquiry_id;
  std::string failure;  // empty when completed with the provider's value
};

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dsn_ = Env("CHUKAN_TEST_PATRONI_DSN");
    patroni_dir_ = Env("CHUKAN_TEST_PATRONI_DIR");
    if (dsn_.empty() || patroni_dir_.empty()) {
      dsn_.clear();
      if (!Env("CHUKAN_REQUIRE_PATRONI").empty()) FAIL() << "CHUKAN_TEST_PATRONI_DSN is not set";
      GTEST_SKIP() << "needs scripts/with-patroni (make test-ha)";
    }
    prefix_ = "fo_" + store::testing::RandomSuffix();
  }
  void TearDown() override {
    if (HasFailure() && net_ != nullptr) KeepNetworkLogs(dir_.path(), "chukan-failover-" + prefix_);
    net_.reset();
    if (!dsn_.empty()) store::testing::DropPgNamespace(dsn_, prefix_);
  }

  NetworkStore Store(const std::string& suffix) const { return {dsn_, prefix_ + "_" + suffix}; }

  // The Patroni node (1 or 2, <dir>/pg<n>) whose PostgreSQL the connection string reaches now
  // (the primary), and whether it has a synchronous standby.
  void FindPrimary(int* node, bool* synchronous) {
    store::PostgresOptions o;
    o.dsn = dsn_;
    o.pool_size = 1;
    ASSERT_OK_AND_ASSIGN(std::shared_ptr<store::Database> db, store::OpenPostgres(o));
    ASSERT_OK_AND_ASSIGN(auto tx, db->BeginRead());
    ASSERT_OK_AND_ASSIGN(std::optional<store::Row> port,
                         tx->QueryOne("SELECT inet_server_port()::bigint"));
    ASSERT_TRUE(port.has_value());
    ASSERT_OK_AND_ASSIGN(std::optional<store::Row> sync,
                         tx->QueryOne("SELECT count(*) FROM pg_stat_replication"
                                      " WHERE sync_state = 'sync'"));
    ASSERT_TRUE(sync.has_value());
    *synchronous = sync->GetInt(0).value() == 1;
    *node = 0;
    for (int n : {1, 2}) {
      // postmaster.pid: line 1 the PID, line 4 the port.
      const std::string pid_file = patroni_dir_ + "/pg" + std::to_string(n) + "/postmaster.pid";
      if (FileLine(pid_file, 4) == std::to_string(port->GetInt(0).value())) *node = n;
    }
    ASSERT_NE(*node, 0) << "no node of " << patroni_dir_ << " listens on the primary's port";
  }

  // Sends the replica import of `csv` to city B's server with the idempotency key kImportKey,
  // on a client that waits for as long as the import may take.
  Result<http::Response> Import(const std::string& csv) {
    if (import_client_ == nullptr) {
      http::ClientOptions co;
      co.request_timeout = std::chrono::seconds(150);
      ASSIGN_OR_RETURN(import_client_, http::Client::Create(co));
    }
    http::ClientRequest req{"POST", net_->ApiUrl(1) + kImportPath, {}, csv};
    req.headers.Set("Authorization", "Bearer " + net_->token(kCityB, Role::kSystem));
    req.headers.Set("Content-Type", "text/csv");
    req.headers.Set("Idempotency-Key", kImportKey);
    return import_client_->Send(req);
  }

  // City B's replica of the TM, as exported (CSV).
  Result<std::string> Export() {
    ASSIGN_OR_RETURN(http::Response r, net_->Call(kCityB, Role::kSystem, "GET",
                                                  "/api/v1/replica/export?tm=TM00000000000002"));
    if (r.status != 200) return InternalError("export: " + Describe(r));
    return r.body;
  }

  // One linkage, retried with its idempotency key while the calls fail retryably, for at most
  // two minutes.
  Linkage RunLinkage(int i, Retries& retries) {
    Linkage l;
    l.begun = Clock::now();
    const std::string body = TaxInquiryJson(kCityB, kPerson, "failover-" + std::to_string(i));
    std::string last;
    auto fail = [&](std::string why) {
      l.ended = Clock::now();
      l.failure = std::move(why);
      return l;
    };
    const auto deadline = l.begun + std::chrono::minutes(2);
    for (bool again = false; Clock::now() < deadline; again = true) {
      if (again) std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (l.inquiry_id.empty()) {
        Result<http::Response> r =
            net_->Call(kCityA, Role::kSystem, "POST", "/api/v1/inquiries", body);
        if (Retryable(r, retries)) {
          last = "POST " + Describe(r);
          continue;
        }
        if (!r.ok() || (r->status != 202 && r->status != 200)) return fail("POST " + Describe(r));
        l.inquiry_id = json::parse(r->body, nullptr, false).value("inquiry_id", "");
        if (l.inquiry_id.empty()) return fail("POST without an inquiry id: " + r->body);
      }
      Result<http::Response> g = net_->Call(kCityA, Role::kSystem, "GET",
                                            "/api/v1/inquiries/" + l.inquiry_id + "?wait_ms=2000");
      if (Retryable(g, retries)) {
        last = "GET " + Describe(g);
        continue;
      }
      if (!g.ok() || g->status != 200) return fail("GET " + Describe(g));
      const json j = json::parse(g->body, nullptr, false);
      const std::string state = j.is_discarded() ? "" : j.value("state", "");
      if (state == "accepted" || state == "permitted") {
        last = "still " + state;
        continue;  // a long poll that ran out: poll again (every 2 s, so that the clients
                   // keep calling while the database is away)
      }
      if (state != "completed") return fail("ended " + state + ": " + g->body.substr(0, 300));
      if (!AnswersIncome(j, kIncome)) {
        return fail("completed without the provider's value: " + g->body.substr(0, 300));
      }
      l.ended = Clock::now();
      return l;
    }
    return fail("gave up after two minutes: " + last + " (inquiry " + l.inquiry_id + ")");
  }

  std::string dsn_;
  std::string patroni_dir_;
  std::string prefix_;
  TempDir dir_;
  std::unique_ptr<LocalNetwork> net_;
  std::unique_ptr<http::Client> import_client_;
};

TEST_F(FailoverTest, LinkageAndAnImportSurviveTheLossOfThePrimary) {
  int primary = 0;
  bool synchronous = false;
  ASSERT_NO_FATAL_FAILURE(FindPrimary(&primary, &synchronous));
  ASSERT_TRUE(synchronous) << "the primary has no synchronous standby: nothing to fail over to";
  const std::string node_dir = patroni_dir_ + "/pg" + std::to_string(primary);
  const int patroni =
      std::atoi(FileLine(patroni_dir_ + "/patroni-" + std::to_string(primary) + ".pid", 1).c_str());
  const int postmaster = std::atoi(FileLine(node_dir + "/postmaster.pid", 1).c_str());
  ASSERT_GT(patroni, 1);
  ASSERT_GT(postmaster, 1);

  cli::LocalNetworkOptions o = PgNetworkOptions(dir_.path(), dsn_, prefix_);
  o.servers = 2;
  o.orgs = {{kCityA, "city-a", "municipality", 0, ""}, {kCityB, "city-b", "municipality", 1, ""}};
  o.server_workers = 16;
  o.server_delivery_threads = 2;
  o.hub_workers = 16;
  o.hub_delivery_threads = 2;
  ASSERT_OK_AND_ASSIGN(net_, LocalNetwork::Start(o));
  ASSERT_NO_FATAL_FAILURE(AddPersonCodes(*net_, kCityA, kCityB, kPerson));
  // The replica the linkages read: people 1..kPerson. The import in flight at the kill brings
  // people 1..ImportRows() with the same values for these.
  ASSERT_OK_AND_ASSIGN(http::Response small, net_->Call(kCityB, Role::kSystem, "POST", kImportPath,
                                                        TaxCsv(kPerson, kIncomeBase), "text/csv"));
  ASSERT_EQ(small.status, 201) << small.body;
  const std::string file = TaxCsv(ImportRows(), kIncomeBase);

  // The clients: linkage after linkage until told to stop.
  Retries retries;
  std::atomic<bool> stop{false};
  std::atomic<int> next{0};
  std::mutex mu;
  std::vector<Linkage> linkages;  // guarded by mu
  std::atomic<int> completed{0};
  std::atomic<int64_t> kill_ns{0};      // Clock's count at the kill; 0 before
  std::atomic<int> completed_after{0};  // linkages begun after the kill and completed
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      while (!stop.load()) {
        Linkage l = RunLinkage(next.fetch_add(1), retries);
        const int64_t killed = kill_ns.load();
        if (l.failure.empty()) {
          completed.fetch_add(1);
          if (killed != 0 && l.begun.time_since_epoch().count() > killed) {
            completed_after.fetch_add(1);
          }
        }
        std::lock_guard<std::mutex> lock(mu);
        linkages.push_back(std::move(l));
      }
    });
  }
  auto wait_until = [](const std::function<bool()>& done, std::chrono::seconds limit) {
    const auto until = Clock::now() + limit;
    while (!done() && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return done();
  };
  const bool warmed =
      wait_until([&] { return completed.load() >= kBefore; }, std::chrono::seconds(60));

  // The import, on a thread of its own; the kill comes once its write transaction is open (a
  // multi-row INSERT into replica_record seen in pg_stat_activity), so that it is cut.
  std::atomic<bool> import_done{false};
  Result<http::Response> first_import = InternalError("not sent");
  Clock::time_point import_begun = Clock::now(), import_ended;
  std::thread importer([&] {
    first_import = Import(file);
    import_ended = Clock::now();
    import_done = true;
  });
  bool import_writing = false;
  {
    store::PostgresOptions po;
    po.dsn = dsn_;
    po.pool_size = 1;
    Result<std::shared_ptr<store::Database>> watcher = store::OpenPostgres(po);
    EXPECT_OK(watcher.status());
    const auto until = Clock::now() + std::chrono::seconds(90);
    while (watcher.ok() && !import_done.load() && !import_writing && Clock::now() < until) {
      auto tx = (*watcher)->BeginRead();
      if (!tx.ok()) break;
      Result<std::optional<store::Row>> n = (*tx)->QueryOne(
          "SELECT count(*) FROM pg_stat_activity WHERE xact_start IS NOT NULL"
          " AND query LIKE 'INSERT INTO replica_record%'");
      import_writing = n.ok() && n->has_value() && (*n)->GetInt(0).value_or(0) > 0;
      if (!import_writing) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  // The primary's machine is lost: its Patroni and its postmaster die at once.
  const auto killed = Clock::now();
  kill_ns = killed.time_since_epoch().count();
  const int completed_at_kill = completed.load();
  const bool import_in_flight = !import_done.load();
  // (No ASSERT until the threads are joined.)
  EXPECT_EQ(kill(patroni, SIGKILL), 0);
  EXPECT_EQ(kill(postmaster, SIGKILL), 0);
  std::cerr << "failover: primary pg" << primary << " killed after " << completed_at_kill
            << " linkages, " << Seconds(killed - import_begun) << " s into the import\n";

  // Patroni's share of the outage: when the connection string reaches a primary again.
  std::optional<Clock::time_point> promoted;
  {
    store::PostgresOptions po;
    po.dsn = dsn_;
    po.pool_size = 1;
    while (!promoted && Clock::now() - killed < std::chrono::seconds(120)) {
      Result<std::shared_ptr<store::Database>> db = store::OpenPostgres(po);
      if (db.ok()) {
        Result<std::unique_ptr<store::Transaction>> tx = (*db)->Begin();
        if (tx.ok() && (*tx)->Exec("SELECT 1").ok() && (*tx)->Commit().ok()) {
          promoted = Clock::now();
        }
      }
      if (!promoted) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  // Linkage resumes on the promoted standby: kAfter linkages begun after the kill complete.
  const bool resumed =
      wait_until([&] { return completed_after.load() >= kAfter; }, std::chrono::seconds(150));
  stop = true;
  for (std::thread& t : clients) t.join();
  importer.join();

  EXPECT_TRUE(warmed) << "fewer than " << kBefore << " linkages in the first minute";
  EXPECT_TRUE(import_writing) << "the import's write transaction was not seen before the kill";
  EXPECT_TRUE(import_in_flight) << "the import ended before the kill: make it larger "
                                   "(CHUKAN_FAILOVER_IMPORT_ROWS)";
  ASSERT_TRUE(promoted.has_value()) << "no primary 120 s after the kill";
  ASSERT_TRUE(resumed) << "fewer than " << kAfter << " linkages after the kill in 150 s";

  // Every linkage completed with the provider's value, each with an inquiry of its own.
  std::vector<std::string> failures;
  std::set<std::string> acknowledged;
  int in_flight = 0;
  std::optional<Clock::time_point> first_resumed, last_in_flight;
  for (const Linkage& l : linkages) {
    if (!l.failure.empty()) {
      failures.push_back(l.failure);
      continue;
    }
    acknowledged.insert(l.inquiry_id);
    if (l.begun < killed && l.ended > killed) {
      ++in_flight;
      last_in_flight = std::max(last_in_flight.value_or(l.ended), l.ended);
    }
    if (l.begun > killed && (!first_resumed || l.ended < *first_resumed)) first_resumed = l.ended;
  }
  ASSERT_TRUE(failures.empty()) << failures.size()
                                << " linkages failed, first: " << failures.front();
  EXPECT_EQ(acknowledged.size(), linkages.size()) << "an inquiry answered two linkages";
  ASSERT_TRUE(first_resumed.has_value());
  const double resume_s = Seconds(*first_resumed - killed);
  std::cerr << "failover: " << linkages.size() << " linkages completed (" << completed_at_kill
            << " before the kill, " << in_flight << " in flight across it); " << retries.total()
            << " client retries (" << retries.connection.load() << " without an answer, "
            << retries.unavailable.load() << " answered 503)\n"
            << "failover: a primary again " << Seconds(*promoted - killed)
            << " s after the kill; the first linkage begun after the kill completed after "
            << resume_s << " s; the linkages in flight completed by "
            << Seconds(last_in_flight.value_or(killed) - killed) << " s\n";
  EXPECT_LT(*first_resumed - killed, kResumeBound);
  EXPECT_GT(in_flight, 0) << "no linkage was in flight at the kill";
  EXPECT_GT(retries.total(), 0) << "no call failed across the failover";

  // Every node tells a balancer again that it takes writes (its probe reached the new primary).
  {
    http::ClientOptions co;
    co.ca_file = net_->Path("pki/ca.crt");
    co.cert_file = net_->Path("pki/" + kCityA.str() + ".crt");
    co.key_file = net_->Path("pki/" + kCityA.str() + ".key");
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<http::Client> tls, http::Client::Create(co));
    const std::vector<std::pair<std::string, std::function<Result<http::Response>()>>> nodes = {
        {"server 1", [&] { return net_->Call(kCityA, Role::kSystem, "GET", "/readyz"); }},
        {"server 2", [&] { return net_->Call(kCityB, Role::kSystem, "GET", "/readyz"); }},
        {"hub", [&] {
           return tls->Send({"GET", net_->HubUrl() + "/readyz", {}, ""});
         }}};
    for (const auto& [name, ready] : nodes) {
      Result<http::Response> r = InternalError("not asked");
      wait_until([&] { return (r = ready()).ok() && r->status == 200; }, std::chrono::seconds(10));
      EXPECT_TRUE(r.ok() && r->status == 200) << name << ": " << Describe(r);
    }
  }

  // The records: the inquirer's completed inquiries are exactly the acknowledged ones, and their
  // permits are the provider's provisions and the hub's provided records, one to one.
  const NetworkStore inquirer_side = Store("s1"), provider_side = Store("s2"), hub = Store("hub");
  const auto city_a = TenantId::ForOrg(kCityA), city_b = TenantId::ForOrg(kCityB);
  EXPECT_EQ(inquirer_side.Texts(city_a, "SELECT inquiry_id FROM inquiries"), acknowledged);
  const std::set<std::string> permits = inquirer_side.Texts(
      city_a,
      "SELECT permit_id FROM inquiries WHERE state = 'completed' AND permit_id IS NOT NULL");
  EXPECT_EQ(permits.size(), acknowledged.size());
  EXPECT_EQ(provider_side.Texts(city_b, "SELECT permit_id FROM provisions"), permits);
  EXPECT_EQ(
      hub.Texts(std::nullopt, "SELECT permit_id FROM hub_record WHERE provided_at_us IS NOT NULL"),
      permits);
  // Nothing any outbox gave up on; what the failover cut was delivered again.
  std::string redelivered;
  for (const auto& [name, store, tenant] :
       {std::tuple{"inquirer", &inquirer_side, std::optional{city_a}},
        std::tuple{"provider", &provider_side, std::optional{city_b}},
        std::tuple{"hub", &hub, std::optional<TenantId>()}}) {
    EXPECT_EQ(store->Texts(tenant,
                           "SELECT topic || ' ' || dedupe_key FROM outbox"
                           " WHERE state = 'dead'"),
              std::set<std::string>())
        << name;
    redelivered += std::string(redelivered.empty() ? "" : ", ") + name + " " +
                   std::to_string(store
                                      ->Texts(tenant,
                                              "SELECT topic || ' ' || dedupe_key"
                                              " FROM outbox WHERE attempts > 1")
                                      .size());
  }
  std::cerr << "failover: outbox items delivered on a second attempt or later: " << redelivered
            << "\n";

  // The import: it completed, or it failed retryably and left the replica as it was.
  Retries import_retries;
  const bool first_ok = first_import.ok() && (first_import->status == 201);
  const bool first_retryable = !first_ok && Retryable(first_import, import_retries);
  std::cerr << "failover: the import in flight ended after " << Seconds(import_ended - import_begun)
            << " s: " << Describe(first_import).substr(0, 200) << "\n";
  EXPECT_TRUE(first_ok || first_retryable) << Describe(first_import);
  const std::vector<std::string> records = SortedRecords(file);
  if (!first_ok) {
    ASSERT_OK_AND_ASSIGN(std::string before, Export());
    const std::vector<std::string> now = SortedRecords(before);
    EXPECT_TRUE(now == SortedRecords(TaxCsv(kPerson, kIncomeBase)) || now == records)
        << "half an import: " << now.size() << " records; "
        << FirstDifference(now, SortedRecords(TaxCsv(kPerson, kIncomeBase)));
  }
  // The client sends it again with the same key: imported now (201), or found already
  // imported (200, replayed) when the first commit had gone through unseen.
  Result<http::Response> again = first_import;
  for (const auto until = Clock::now() + std::chrono::seconds(120);
       first_retryable && Clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    again = Import(file);
    if (!Retryable(again, import_retries)) break;
  }
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->status == 201 || again->status == 200) << Describe(again);
  ASSERT_OK_AND_ASSIGN(std::string exported, Export());
  EXPECT_TRUE(SortedRecords(exported) == records)
      << SortedRecords(exported).size() << " records, not the file's " << records.size() << "; "
      << FirstDifference(SortedRecords(exported), records);
  std::cerr << "failover: the import retried " << import_retries.total() << " times, then "
            << again->status << "; the replica holds the file's " << records.size() << " records\n";
}

}  // namespace
}  // namespace chukan::testing
