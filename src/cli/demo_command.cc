// chukan demo — walks through what chukan can do today, checking every step, and prints a
// summary (Japanese and English). It exits 0 only if every step behaved as expected (25 steps).
//
// Foundation (steps 1–16, in this process): a development CA and certificates, per-tenant
// storage on SQLite, an HTTPS server requiring mutual TLS that maps client certificates to
// organisations, refusal of clients without a certificate or from another CA, the cryptography
// a linkage uses (sealed payload, signed canonical permit, tenant data key wrapped under a master
// key), and hash-chained audit logs whose tampering is detected; then the intermediate server's
// provision database: tenants with client tokens, a replica import over the API, view and export
// (export = input), a bad file refused with line and item named, and tenant isolation.
//
// Linkage (steps 17–25, RunLinkageSteps, real processes): a hub and two intermediate servers
// started over mutual TLS by LocalNetwork with the operator's own commands (three tenants: city
// A and an insurer on server 1, city B on server 2); city B's replicas imported; subject codes
// from the hub (a bulk file too; one person, a different code at each organisation); an
// automatic inquiry whose answer equals city B's replica field by field; a 自動応答不可 inquiry
// that city B's approver sees and approves (a system token is refused); an inquiry the
// permission list refuses, never reaching city B; an unanswered inquiry that expires; a search
// of the hub's files for answer values and the resident identifier; every process stopped and
// every audit chain verified.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit_log.h"
#include "cli/commands.h"
#include "cli/local_network.h"
#include "common/ids.h"
#include "common/log.h"
#include "crypto/aead.h"
#include "crypto/bytes.h"
#include "crypto/canonical_json.h"
#include "crypto/ed25519.h"
#include "crypto/key_wrap.h"
#include "crypto/sealed_box.h"
#include "crypto/secret_bytes.h"
#include "http/client.h"
#include "http/server.h"
#include "layout/catalogue_loader.h"
#include "pki/certificate_authority.h"
#include "server/api_auth.h"
#include "server/platform.h"
#include "server/replica_api.h"
#include "store/tenant_store.h"

namespace chukan::cli {
namespace {

namespace fs = std::filesystem;

struct DemoArgs {
  std::string workdir;
  std::string layout_dir = "data/layout";
  std::string permissions_file = "data/permissions/sample.csv";
  bool keep = false;
};

// A small 地方税関係情報 file: `rows` residents, income given per row.
std::string SampleTaxCsv(int rows, int bad_line = 0) {
  std::string f = "atena_no";
  for (int i = 1; i <= 16; ++i) {
    char code[24];
    std::snprintf(code, sizeof(code), ",IT000002000000%02d", i);
    f += code;
  }
  f += "\n";
  for (int p = 1; p <= rows; ++p) {
    char row[200];
    std::snprintf(
        row, sizeof(row), "%015d,2026,%s,1,%d,%d,50000,200000,30000,150000,20000,1,0,1,2,,10000\n",
        p, p + 1 == bad_line ? "2026-02-30" : "2026-01-01", 2000000 + p * 1000, 1800000 + p * 1000);
    f += row;
  }
  return f;
}

struct StepResult {
  std::string ja;
  std::string en;
  bool ok = false;
  std::string detail;
  double ms = 0;
};

// Runs one step: `body` returns OK and a detail line, or the error that made it fail.
class Steps {
 public:
  void Run(std::string ja, std::string en, const std::function<Result<std::string>()>& body) {
    StepResult r;
    r.ja = std::move(ja);
    r.en = std::move(en);
    const auto t0 = std::chrono::steady_clock::now();
    Result<std::string> out = body();
    r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    r.ok = out.ok();
    r.detail = out.ok() ? *out : out.status().ToString();
    std::printf(" [%s] %2zu. %s / %s (%.1f ms)\n      %s\n", r.ok ? "ok" : "NG",
                results_.size() + 1, r.ja.c_str(), r.en.c_str(), r.ms, r.detail.c_str());
    std::fflush(stdout);
    results_.push_back(std::move(r));
  }
  bool all_ok() const {
    for (const auto& r : results_) {
      if (!r.ok) return false;
    }
    return !results_.empty();
  }
  size_t passed() const {
    size_t n = 0;
    for (const auto& r : results_) n += r.ok ? 1 : 0;
    return n;
  }
  size_t size() const { return results_.size(); }

 private:
  std::vector<StepResult> results_;
};

Status Check(bool condition, std::string what) {
  return condition ? Status() : InternalError("check failed: " + std::move(what));
}

const char kCityA[] = "0000000000000131";    // a city (市)
const char kCityB[] = "0000000000000132";    // another city
const char kInsurer[] = "0000000000000901";  // a health insurer (医療保険者)

// ---------------------------------------------------------------------------------------------
// The linkage (情報照会・情報提供) through a hub and two intermediate servers, all real processes.

// 生活保護関係情報 (TM90000000000102) for one resident; items 4, 9 and 10 are 自動応答不可.
std::string SampleWelfareCsv(int person) {
  std::string f = "atena_no";
  for (int i = 1; i <= 11; ++i) {
    char code[24];
    std::snprintf(code, sizeof(code), ",IT000102000000%02d", i);
    f += code;
  }
  char row[160];
  std::snprintf(row, sizeof(row), "\n%015d,2023-04-01,1,,,1,1,1,0,123456,30000,2\n", person);
  return f + row;
}

// The resident identifier (住民票コード) of demo person `p` (11 digits).
std::string DemoResidentId(int p) {
  char id[16];
  std::snprintf(id, sizeof(id), "%011lld", 20000000000LL + p);
  return id;
}

Result<nlohmann::json> JsonBody(const http::Response& r, int want_status, const std::string& what) {
  if (r.status != want_status) {
    return InternalError(what + ": HTTP " + std::to_string(r.status) + " (expected " +
                         std::to_string(want_status) + "): " + r.body.substr(0, 300));
  }
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return InternalError(what + ": the answer is not JSON");
  return j;
}

using Role = LocalNetwork::Role;

// Polls an inquiry until its state is one of `states` (or `timeout` passes).
Result<nlohmann::json> WaitForInquiry(LocalNetwork& net, const OrgCode& org, const std::string& id,
                                      std::initializer_list<std::string_view> states,
                                      std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  while (true) {
    ASSIGN_OR_RETURN(http::Response r,
                     net.Call(org, Role::kSystem, "GET", "/api/v1/inquiries/" + id));
    ASSIGN_OR_RETURN(nlohmann::json j, JsonBody(r, 200, "GET /api/v1/inquiries/" + id));
    last = j.value("state", "");
    for (std::string_view s : states) {
      if (last == s) return j;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return DeadlineExceededError("inquiry " + id + " still " + last + " after " +
                                   std::to_string(timeout.count()) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Result<std::string> PostInquiry(LocalNetwork& net, const OrgCode& org, const nlohmann::json& body) {
  ASSIGN_OR_RETURN(http::Response r,
                   net.Call(org, Role::kSystem, "POST", "/api/v1/inquiries", body.dump()));
  ASSIGN_OR_RETURN(nlohmann::json j, JsonBody(r, 202, "POST /api/v1/inquiries"));
  if (j.value("state", "") != "accepted") {
    return InternalError("a new inquiry should be accepted, got " + j.value("state", ""));
  }
  return j.value("inquiry_id", "");
}

// Every file under `dir` (to search a database, its WAL and logs for plaintext).
std::string ReadTree(const fs::path& dir) {
  std::string all;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    std::FILE* f = std::fopen(e.path().c_str(), "rb");
    if (f == nullptr) continue;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) all.append(buf, n);
    std::fclose(f);
  }
  return all;
}

void RunLinkageSteps(Steps& steps, const DemoArgs& args, const fs::path& work) {
  const OrgCode city_a = OrgCode::Parse(kCityA).value();
  const OrgCode city_b = OrgCode::Parse(kCityB).value();
  const OrgCode insurer = OrgCode::Parse(kInsurer).value();
  const int kPerson = 7;  // the resident the inquiries are about
  const std::string atena_at_a = "000000000000101";
  const std::string atena_at_b = "000000000000007";
  const std::string atena_at_insurer = "900000000000001";
  std::unique_ptr<LocalNetwork> net;
  const fs::path dir = work / "network";

  steps.Run("ハブと中間サーバーの起動 (相互TLS)",
            "hub and 2 intermediate servers as processes (mutual TLS)",
            [&]() -> Result<std::string> {
              std::error_code ec;
              fs::create_directories(dir, ec);
              LocalNetworkOptions o;
              o.binary = SelfExecutable();
              o.workdir = dir.string();
              o.layout_dir = args.layout_dir;
              o.permissions_file = args.permissions_file;
              o.servers = 2;
              o.orgs = {{city_a, "札幌市 (demo)", "municipality", 0},
                        {insurer, "全国健康保険協会 (demo)", "insurer", 0},
                        {city_b, "函館市 (demo)", "municipality", 1}};
              ASSIGN_OR_RETURN(net, LocalNetwork::Start(o));
              RETURN_IF_ERROR(net->WaitForPermissionLists(std::chrono::seconds(30)));
              return "hub " + std::to_string(net->hub()->pid()) + "; server 1 (" + kCityA + " + " +
                     kInsurer + ") " + net->ApiUrl(0) + "; server 2 (" + kCityB + ") " +
                     net->ApiUrl(1) + "; both hold the signed permission list";
            });
  auto need_net = [&]() -> Status {
    return net ? Status() : FailedPreconditionError("the network did not start");
  };

  steps.Run(
      "提供側の副本の取込", "provider's replicas imported (city B)", [&]() -> Result<std::string> {
        RETURN_IF_ERROR(need_net());
        ASSIGN_OR_RETURN(
            http::Response tax,
            net->Call(city_b, Role::kSystem, "POST", "/api/v1/replica/imports?tm=TM00000000000002",
                      SampleTaxCsv(50), "text/csv"));
        RETURN_IF_ERROR(JsonBody(tax, 201, "tax import").status());
        ASSIGN_OR_RETURN(
            http::Response welfare,
            net->Call(city_b, Role::kSystem, "POST", "/api/v1/replica/imports?tm=TM90000000000102",
                      SampleWelfareCsv(kPerson), "text/csv"));
        RETURN_IF_ERROR(JsonBody(welfare, 201, "welfare import").status());
        return std::string("50 地方税関係情報 records + 1 生活保護関係情報 record");
      });

  std::map<std::string, std::string> codes;
  steps.Run(
      "符号の取得 (3機関、一括登録を含む)", "subject codes from the hub (incl. bulk)",
      [&]() -> Result<std::string> {
        RETURN_IF_ERROR(need_net());
        std::string pairs;
        for (int p = 1; p <= 50; ++p) {
          char atena[16];
          std::snprintf(atena, sizeof(atena), "%015d", p);
          pairs += std::string(atena) + "," + DemoResidentId(p) + "\n";
        }
        ASSIGN_OR_RETURN(http::Response bulk, net->Call(city_b, Role::kSystem, "POST",
                                                        "/api/v1/codes/bulk", pairs, "text/csv"));
        ASSIGN_OR_RETURN(nlohmann::json b, JsonBody(bulk, 200, "bulk codes"));
        RETURN_IF_ERROR(Check(b.value("registered", 0) == 50, "50 codes registered"));
        for (const auto& [org, atena] :
             {std::pair{city_a, atena_at_a}, std::pair{insurer, atena_at_insurer},
              std::pair{city_b, atena_at_b}}) {
          nlohmann::json body = {{"atena_no", atena}, {"resident_id", DemoResidentId(kPerson)}};
          ASSIGN_OR_RETURN(http::Response r,
                           net->Call(org, Role::kSystem, "POST", "/api/v1/codes", body.dump()));
          ASSIGN_OR_RETURN(nlohmann::json j, JsonBody(r, 200, "POST /api/v1/codes"));
          codes[org.str()] = j.value("subject_code", "");
        }
        RETURN_IF_ERROR(Check(codes.size() == 3 && codes[kCityA] != codes[kCityB] &&
                                  codes[kCityA] != codes[kInsurer] &&
                                  codes[kCityB] != codes[kInsurer],
                              "one person, three different codes"));
        return "50 by file at city B; person 7 has a different code at each organisation (" +
               codes[kCityA].substr(0, 8) + "… / " + codes[kCityB].substr(0, 8) + "… / " +
               codes[kInsurer].substr(0, 8) + "…)";
      });

  steps.Run(
      "自動応答の照会 (地方税関係情報)", "automatic inquiry: answer equals the replica",
      [&]() -> Result<std::string> {
        RETURN_IF_ERROR(need_net());
        const auto t0 = std::chrono::steady_clock::now();
        ASSIGN_OR_RETURN(std::string id, PostInquiry(*net, city_a,
                                                     {{"atena_no", atena_at_a},
                                                      {"procedure", "JT90000000000101"},
                                                      {"tm", "TM00000000000002"},
                                                      {"provider", kCityB},
                                                      {"query", {{"IT00000200000001", "2026"}}},
                                                      {"idempotency_key", "demo-automatic-1"}}));
        ASSIGN_OR_RETURN(
            nlohmann::json done,
            WaitForInquiry(*net, city_a, id, {"completed", "refused", "failed", "expired"},
                           std::chrono::seconds(30)));
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        RETURN_IF_ERROR(Check(done.value("state", "") == "completed",
                              "completed, got " + done.dump().substr(0, 300)));
        // What the provider holds, in the provider's own view.
        ASSIGN_OR_RETURN(
            http::Response view,
            net->Call(city_b, Role::kSystem, "GET",
                      "/api/v1/replica/records?atena_no=" + atena_at_b + "&tm=TM00000000000002"));
        ASSIGN_OR_RETURN(nlohmann::json held, JsonBody(view, 200, "provider's records"));
        const nlohmann::json& records = done["result"]["records"];
        RETURN_IF_ERROR(
            Check(records.size() == 1 && held["records"].size() == 1, "one record each side"));
        size_t fields = 0;
        for (const auto& item : held["records"][0]["items"]) {
          const std::string code = item.value("code", "");
          const std::string value = item.value("value", "");
          const bool present = records[0].contains(code);
          if (value.empty()) {
            RETURN_IF_ERROR(Check(!present, code + " empty at the provider, absent in the answer"));
            continue;
          }
          RETURN_IF_ERROR(Check(present && records[0][code] == value,
                                code + ": the answer has the provider's value " + value));
          ++fields;
        }
        RETURN_IF_ERROR(Check(records[0].size() == fields, "no field the provider lacks"));
        char detail[200];
        std::snprintf(detail, sizeof(detail),
                      "inquiry %s completed in %.0f ms; %zu fields equal to city B's replica "
                      "(所得割額 etc.)",
                      id.c_str(), ms, fields);  // whole: its first digits are the time
        return std::string(detail);
      });

  std::string approval_id;
  steps.Run(
      "自動応答不可の照会を職員が承認", "自動応答不可 inquiry: staff sees the answer, approves",
      [&]() -> Result<std::string> {
        RETURN_IF_ERROR(need_net());
        ASSIGN_OR_RETURN(approval_id, PostInquiry(*net, city_a,
                                                  {{"atena_no", atena_at_a},
                                                   {"procedure", "JT90000000000402"},
                                                   {"tm", "TM90000000000102"},
                                                   {"provider", kCityB}}));
        RETURN_IF_ERROR(
            WaitForInquiry(*net, city_a, approval_id, {"permitted"}, std::chrono::seconds(30))
                .status());
        // The approver at city B sees exactly what would be sent.
        nlohmann::json pending;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (pending.is_null()) {
          ASSIGN_OR_RETURN(http::Response r,
                           net->Call(city_b, Role::kApprover, "GET", "/api/v1/approvals"));
          ASSIGN_OR_RETURN(nlohmann::json list, JsonBody(r, 200, "GET /api/v1/approvals"));
          for (const auto& a : list["approvals"]) {
            if (a.value("inquirer", "") == kCityA) pending = a;
          }
          if (pending.is_null() && std::chrono::steady_clock::now() > deadline) {
            return DeadlineExceededError("no approval request reached city B");
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        nlohmann::json answer =
            nlohmann::json::parse(pending.value("answer_json", ""), nullptr, false);
        RETURN_IF_ERROR(Check(!answer.is_discarded() &&
                                  answer["records"][0].value("IT00010200000009", "") == "123456",
                              "the approver sees 最低生活費月額 123456 before it is sent"));
        // A system token may not approve.
        ASSIGN_OR_RETURN(http::Response denied,
                         net->Call(city_b, Role::kSystem, "POST",
                                   "/api/v1/approvals/" + pending.value("permit_id", ""),
                                   R"({"decision":"approve"})"));
        RETURN_IF_ERROR(Check(denied.status == 403,
                              "a system token gets 403, got " + std::to_string(denied.status)));
        ASSIGN_OR_RETURN(http::Response ok,
                         net->Call(city_b, Role::kApprover, "POST",
                                   "/api/v1/approvals/" + pending.value("permit_id", ""),
                                   R"({"decision":"approve","comment":"demo: 確認済み"})"));
        RETURN_IF_ERROR(JsonBody(ok, 200, "approve").status());
        ASSIGN_OR_RETURN(nlohmann::json done,
                         WaitForInquiry(*net, city_a, approval_id, {"completed", "refused"},
                                        std::chrono::seconds(30)));
        RETURN_IF_ERROR(
            Check(done.value("state", "") == "completed" &&
                      done["result"]["records"][0].value("IT00010200000009", "") == "123456",
                  "city A reads the approved answer"));
        return "approver saw the answer, a system token was refused (403), city A read "
               "最低生活費月額 123456 after approval";
      });

  steps.Run("照会許可用照合リストによる拒否", "inquiry the permission list refuses",
            [&]() -> Result<std::string> {
              RETURN_IF_ERROR(need_net());
              ASSIGN_OR_RETURN(std::string id, PostInquiry(*net, insurer,
                                                           {{"atena_no", atena_at_insurer},
                                                            {"procedure", "JT90000000000402"},
                                                            {"tm", "TM90000000000102"},
                                                            {"provider", kCityB}}));
              ASSIGN_OR_RETURN(nlohmann::json done,
                               WaitForInquiry(*net, insurer, id, {"refused", "completed", "failed"},
                                              std::chrono::seconds(30)));
              RETURN_IF_ERROR(Check(done.value("state", "") == "refused",
                                    "refused, got " + done.dump().substr(0, 300)));
              ASSIGN_OR_RETURN(http::Response r,
                               net->Call(city_b, Role::kApprover, "GET", "/api/v1/approvals"));
              ASSIGN_OR_RETURN(nlohmann::json list, JsonBody(r, 200, "GET /api/v1/approvals"));
              for (const auto& a : list["approvals"]) {
                RETURN_IF_ERROR(Check(a.value("inquirer", "") != kInsurer,
                                      "city B never received the insurer's request"));
              }
              return "insurer → city B 生活保護関係情報: refused by the hub (" +
                     done.value("reason", "") + "); city B was never contacted";
            });

  steps.Run(
      "回答のない照会の期限切れ", "an unanswered inquiry expires", [&]() -> Result<std::string> {
        RETURN_IF_ERROR(need_net());
        ASSIGN_OR_RETURN(std::string id, PostInquiry(*net, city_a,
                                                     {{"atena_no", atena_at_a},
                                                      {"procedure", "JT90000000000402"},
                                                      {"tm", "TM90000000000102"},
                                                      {"provider", kCityB},
                                                      {"timeout_seconds", 2}}));
        ASSIGN_OR_RETURN(
            nlohmann::json done,
            WaitForInquiry(*net, city_a, id, {"expired", "completed"}, std::chrono::seconds(30)));
        RETURN_IF_ERROR(Check(done.value("state", "") == "expired" && done["result"].is_null(),
                              "expired without a result"));
        return "no approval within its 2 s → expired; its reply key destroyed";
      });

  steps.Run("ハブは中身を見ていない", "the hub never saw a payload or a resident id",
            [&]() -> Result<std::string> {
              RETURN_IF_ERROR(need_net());
              const std::string hub = ReadTree(net->hub_dir());
              for (const std::string& marker :
                   {std::string("123456,30000"), std::string("\"IT00010200000009\""),
                    std::string("2007000"), DemoResidentId(kPerson)}) {
                RETURN_IF_ERROR(
                    Check(hub.find(marker) == std::string::npos, "hub files free of " + marker));
              }
              return std::to_string(hub.size() / 1024) +
                     " KiB of hub database and logs searched: no answer value, no 住民票コード";
            });

  steps.Run(
      "全プロセスの停止と監査ログの検証", "all processes stopped; every audit chain verifies",
      [&]() -> Result<std::string> {
        RETURN_IF_ERROR(need_net());
        const int code = net->StopAll();
        RETURN_IF_ERROR(Check(code == 0, "every process exited 0, got " + std::to_string(code)));
        int chains = 0;
        int64_t entries = 0;
        std::error_code ec;
        for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
          if (!e.is_regular_file() || e.path().extension() != ".db") continue;
          ASSIGN_OR_RETURN(
              std::string out,
              RunCommand(SelfExecutable(), {"audit", "verify", "--db", e.path().string()},
                         (dir / "audit-verify.err").string()));
          const size_t at = out.find("entries: ");
          if (at != std::string::npos) entries += std::atoll(out.c_str() + at + 9);
          ++chains;
        }
        RETURN_IF_ERROR(
            Check(chains >= 6, "hub + 2 platforms + 3 tenants, got " + std::to_string(chains)));
        return std::to_string(chains) + " audit chains intact (" + std::to_string(entries) +
               " entries); nothing left running";
      });
}

int RunDemo(const DemoArgs& args) {
  bool made_temp = false;
  Result<std::string> dir = PrepareWorkdir(args.workdir, "chukan-demo", &made_temp);
  if (!dir.ok()) {
    std::fprintf(stderr, "chukan demo: %s\n", std::string(dir.status().message()).c_str());
    return dir.status().code() == StatusCode::kFailedPrecondition ? 2 : 1;
  }
  const fs::path work = *dir;
  std::printf("chukan demo — 基盤の動作確認 / foundation walkthrough\n作業場所 / workdir: %s\n\n",
              work.c_str());

  log::SetLevel(log::Level::kWarn);  // the summary is the output; keep info lines out of it
  Steps steps;
  const std::string pki_dir = (work / "pki").string();
  const std::string rogue_dir = (work / "rogue-pki").string();
  std::unique_ptr<store::TenantStore> tenants;
  crypto::SigningKey platform_key = crypto::SigningKey::Generate();
  std::unique_ptr<audit::AuditLog> platform_log;
  std::unique_ptr<http::Server> server;
  const OrgCode city_a = OrgCode::Parse(kCityA).value();
  const OrgCode city_b = OrgCode::Parse(kCityB).value();
  const OrgCode insurer = OrgCode::Parse(kInsurer).value();

  steps.Run(
      "開発用認証局と証明書の発行", "development CA and certificates",
      [&]() -> Result<std::string> {
        ASSIGN_OR_RETURN(auto ca, pki::CertificateAuthority::Init(pki_dir));
        RETURN_IF_ERROR(ca->Issue({"server", std::nullopt, {"127.0.0.1"}, false, 30}).status());
        RETURN_IF_ERROR(ca->Issue({"city-a", city_a, {}, true, 30}).status());
        RETURN_IF_ERROR(ca->Issue({"city-b", city_b, {}, true, 30}).status());
        ASSIGN_OR_RETURN(auto rogue, pki::CertificateAuthority::Init(rogue_dir, "rogue CA"));
        RETURN_IF_ERROR(rogue->Issue({"impostor", city_a, {}, true, 30}).status());
        return std::string("CA + server + city-a (" + city_a.str() + ") + city-b (" + city_b.str() +
                           "); a rogue CA for the refusal test");
      });

  steps.Run(
      "テナント別ストレージ (SQLite)", "per-tenant storage (SQLite)", [&]() -> Result<std::string> {
        store::StoreOptions o;
        o.data_dir = (work / "data").string();
        ASSIGN_OR_RETURN(tenants, store::TenantStore::Open(o));
        ASSIGN_OR_RETURN(auto platform, tenants->Platform());
        audit::AuditLog::Options lo;
        lo.checkpoint_key = &platform_key;
        lo.checkpoint_every = 4;
        ASSIGN_OR_RETURN(platform_log, audit::AuditLog::Open(platform, lo));
        for (const OrgCode& org : {city_a, city_b, insurer}) {
          RETURN_IF_ERROR(tenants->CreateTenant(TenantId::ForOrg(org)));
          RETURN_IF_ERROR(platform_log
                              ->Append({"platform", "cli:demo", "tenant.create",
                                        "tenant " + TenantId::ForOrg(org).str(), "ok", ""})
                              .status());
        }
        ASSIGN_OR_RETURN(auto list, tenants->ListTenants());
        RETURN_IF_ERROR(Check(list.size() == 3, "three tenants listed"));
        // A tenant handle cannot reach another tenant's file.
        ASSIGN_OR_RETURN(auto db_a, tenants->Tenant(TenantId::ForOrg(city_a)));
        ASSIGN_OR_RETURN(auto tx, db_a->Begin());
        Status attach = tx->Exec("ATTACH DATABASE '" +
                                 tenants->TenantPath(TenantId::ForOrg(city_b)) + "' AS other");
        RETURN_IF_ERROR(Check(attach.code() == StatusCode::kPermissionDenied,
                              "ATTACH of another tenant refused, got " + attach.ToString()));
        return std::string("3 tenants; city-a's handle refused to ATTACH city-b's file (") +
               std::string(StatusCodeName(attach.code())) + ")";
      });

  steps.Run(
      "相互TLSのHTTPSサーバー起動", "HTTPS server with mutual TLS", [&]() -> Result<std::string> {
        http::Router router;
        RETURN_IF_ERROR(router.Add("GET", "/demo/v1/whoami", [&](http::Request& req) {
          const auto& id = req.peer.identity;
          const std::string org = id && id->org ? id->org->str() : "";
          const std::string scope = org.empty() ? "platform" : TenantId::ForOrg(*id->org).str();
          (void)platform_log->Append({"platform", "org:" + (org.empty() ? "unknown" : org),
                                      "demo.whoami", scope, "ok", req.request_id.str()});
          return http::Response::Json(200, "{\"org_code\":\"" + org + "\"}");
        }));
        http::ServerOptions so;
        so.tls = true;
        so.tls_options = {pki_dir + "/server.crt", pki_dir + "/server.key", pki_dir + "/ca.crt",
                          true};
        ASSIGN_OR_RETURN(server, http::Server::Create(so, std::move(router)));
        RETURN_IF_ERROR(server->Start());
        return "listening on https://127.0.0.1:" + std::to_string(server->port()) +
               " (TLS 1.3, client certificate required)";
      });

  auto url = [&](const std::string& path) {
    return "https://127.0.0.1:" + std::to_string(server ? server->port() : 0) + path;
  };

  steps.Run(
      "証明書から機関を識別", "client certificate → organisation", [&]() -> Result<std::string> {
        ASSIGN_OR_RETURN(auto client,
                         http::Client::Create({pki_dir + "/ca.crt", pki_dir + "/city-a.crt",
                                               pki_dir + "/city-a.key"}));
        ASSIGN_OR_RETURN(http::Response health, client->Send({"GET", url("/healthz"), {}, ""}));
        RETURN_IF_ERROR(Check(health.status == 200, "/healthz answers 200"));
        ASSIGN_OR_RETURN(http::Response who, client->Send({"GET", url("/demo/v1/whoami"), {}, ""}));
        RETURN_IF_ERROR(Check(who.status == 200, "whoami answers 200"));
        RETURN_IF_ERROR(Check(who.body == std::string("{\"org_code\":\"") + kCityA + "\"}",
                              "server saw city-a's org code, got " + who.body));
        return "city-a's certificate was mapped to org " + std::string(kCityA);
      });

  steps.Run("証明書なしの接続を拒否", "client without a certificate refused",
            [&]() -> Result<std::string> {
              ASSIGN_OR_RETURN(auto client, http::Client::Create({pki_dir + "/ca.crt", "", ""}));
              Result<http::Response> r = client->Send({"GET", url("/demo/v1/whoami"), {}, ""});
              RETURN_IF_ERROR(Check(!r.ok(), "request without certificate must fail"));
              return "refused: " + r.status().ToString();
            });

  steps.Run("他の認証局の証明書を拒否", "certificate from another CA refused",
            [&]() -> Result<std::string> {
              ASSIGN_OR_RETURN(auto client, http::Client::Create({pki_dir + "/ca.crt",
                                                                  rogue_dir + "/impostor.crt",
                                                                  rogue_dir + "/impostor.key"}));
              Result<http::Response> r = client->Send({"GET", url("/demo/v1/whoami"), {}, ""});
              RETURN_IF_ERROR(Check(!r.ok(), "request with a rogue certificate must fail"));
              return "refused: " + r.status().ToString();
            });

  steps.Run(
      "照会結果の封緘と開封", "sealed answer: only the inquirer opens it",
      [&]() -> Result<std::string> {
        crypto::BoxKeyPair reply = crypto::BoxKeyPair::Generate();  // the inquiry's reply key
        const std::string answer =
            R"({"TM00000000000002":{"fiscal_year":2026,"taxable_income":3120000}})";
        ASSIGN_OR_RETURN(
            crypto::Bytes sealed,
            crypto::Seal(reply.public_key(), crypto::Bytes(answer.begin(), answer.end())));
        ASSIGN_OR_RETURN(crypto::SecretBytes opened, crypto::Open(reply, sealed));
        RETURN_IF_ERROR(
            Check(std::string(opened.AsStringView()) == answer, "opened equals original"));
        crypto::BoxKeyPair other = crypto::BoxKeyPair::Generate();  // e.g. the hub
        RETURN_IF_ERROR(Check(!crypto::Open(other, sealed).ok(), "another key cannot open it"));
        return std::to_string(sealed.size()) + "-byte envelope; a different key cannot open it";
      });

  steps.Run("提供許可証の署名と検証", "signed provision permit (canonical JSON)",
            [&]() -> Result<std::string> {
              crypto::SigningKey hub = crypto::SigningKey::Generate();
              const std::string permit =
                  R"({"permit_id":"01JD8Y3Q4M6Z","provider":")" + std::string(kCityB) +
                  R"(","inquirer":")" + std::string(kCityA) +
                  R"(","tm":"TM00000000000002","expires_at":"2026-04-01T00:10:00Z"})";
              ASSIGN_OR_RETURN(crypto::Bytes sig, crypto::SignCanonical(hub, permit));
              // The same object reformatted still verifies: the signature covers the canonical
              // form.
              std::string reformatted = permit;
              reformatted.insert(1, "\n  ");
              RETURN_IF_ERROR(crypto::VerifyCanonical(hub.verify_key(), reformatted, sig));
              std::string forged = permit;
              forged.replace(forged.find(kCityB), 16, kInsurer);
              Status bad = crypto::VerifyCanonical(hub.verify_key(), forged, sig);
              RETURN_IF_ERROR(Check(bad.code() == StatusCode::kUnauthenticated,
                                    "a permit with another provider must not verify"));
              return "verified after reformatting; a changed provider is refused (" +
                     std::string(StatusCodeName(bad.code())) + ")";
            });

  steps.Run(
      "テナント鍵による保存時暗号化", "data at rest under a wrapped tenant key",
      [&]() -> Result<std::string> {
        crypto::SecretBytes master = crypto::SecretBytes::Random(32);
        crypto::SecretBytes data_key = crypto::SecretBytes::Random(32);
        const std::string tenant = TenantId::ForOrg(city_a).str();
        ASSIGN_OR_RETURN(crypto::Bytes wrapped, crypto::WrapKey(master, data_key, tenant));
        const std::string value = "marker-3120000";
        const std::string ad = tenant + "/replica/row-1";
        ASSIGN_OR_RETURN(crypto::Bytes ct,
                         crypto::Encrypt(data_key, crypto::Bytes(value.begin(), value.end()),
                                         crypto::Bytes(ad.begin(), ad.end())));
        ASSIGN_OR_RETURN(crypto::SecretBytes unwrapped, crypto::UnwrapKey(master, wrapped, tenant));
        ASSIGN_OR_RETURN(crypto::SecretBytes pt,
                         crypto::Decrypt(unwrapped, ct, crypto::Bytes(ad.begin(), ad.end())));
        RETURN_IF_ERROR(Check(std::string(pt.AsStringView()) == value, "decrypts to the value"));
        const std::string other_ad = tenant + "/replica/row-2";
        RETURN_IF_ERROR(Check(
            !crypto::Decrypt(unwrapped, ct, crypto::Bytes(other_ad.begin(), other_ad.end())).ok(),
            "a ciphertext moved to another row must not decrypt"));
        return "value encrypted, key wrapped; a row moved elsewhere fails to decrypt";
      });

  steps.Run("監査ログの検証", "audit chains verify", [&]() -> Result<std::string> {
    ASSIGN_OR_RETURN(auto platform, tenants->Platform());
    ASSIGN_OR_RETURN(int64_t cp, platform_log->Checkpoint());
    ASSIGN_OR_RETURN(audit::VerifyReport r,
                     audit::Verify(*platform, {{platform_key.verify_key()}, 1000}));
    RETURN_IF_ERROR(Check(r.ok, "platform chain intact: " + r.problem));
    RETURN_IF_ERROR(Check(r.entries == 4, "4 entries (3 tenants created + 1 API call), got " +
                                              std::to_string(r.entries)));
    return std::to_string(r.entries) + " entries, " + std::to_string(r.checkpoints) +
           " signed checkpoints (last at seq " + std::to_string(cp) + ")";
  });

  steps.Run("改ざんの検出", "tampering detected", [&]() -> Result<std::string> {
    // Work on a copy: edit entry 2 as an attacker with file access would.
    const fs::path copy = work / "tampered-platform.db";
    ASSIGN_OR_RETURN(auto platform, tenants->Platform());
    // The server is stopped by now and nothing writes: copying the file and its WAL gives a
    // consistent snapshot, which SQLite recovers on open.
    RETURN_IF_ERROR(platform->Close());
    const std::string src = (work / "data" / "platform.db").string();
    for (const char* suffix : {"", "-wal"}) {
      std::error_code ec;
      if (fs::exists(src + suffix)) fs::copy_file(src + suffix, copy.string() + suffix, ec);
      if (ec) return InternalError("copy " + src + suffix + ": " + ec.message());
    }
    store::SqliteOptions o;
    o.path = copy.string();
    o.create = false;
    ASSIGN_OR_RETURN(auto db, store::OpenSqlite(o));
    {
      ASSIGN_OR_RETURN(auto tx, db->Begin());
      RETURN_IF_ERROR(tx->Exec("DROP TRIGGER audit_log_no_update"));
      RETURN_IF_ERROR(tx->Exec("UPDATE audit_log SET actor = 'staff:mallory' WHERE seq = 2"));
      RETURN_IF_ERROR(tx->Commit());
    }
    ASSIGN_OR_RETURN(audit::VerifyReport r, audit::Verify(*db));
    RETURN_IF_ERROR(Check(!r.ok && r.first_bad_seq == 2, "edit of entry 2 detected"));
    return "entry 2 edited in a copy → " + r.problem;
  });

  // 情報提供データベース (DBM): the intermediate server's replica API, as an existing system uses
  // it.
  std::unique_ptr<server::Platform> platform;
  std::shared_ptr<const layout::Catalogue> catalogue;
  std::unique_ptr<server::ApiAuth> api_auth;
  std::unique_ptr<server::ReplicaApi> replica_api;
  std::unique_ptr<http::Server> api_server;
  std::unique_ptr<http::Client> api_client;
  std::string token_a, token_b;
  auto api = [&](const std::string& token, const std::string& method, const std::string& path,
                 std::string body) -> Result<http::Response> {
    http::ClientRequest req{method,
                            "http://127.0.0.1:" + std::to_string(api_server->port()) + path,
                            {},
                            std::move(body)};
    req.headers.Set("Authorization", "Bearer " + token);
    if (!req.body.empty()) req.headers.Set("Content-Type", "text/csv");
    return api_client->Send(req);
  };

  steps.Run(
      "中間サーバーとテナント・利用者", "server with tenants and client tokens",
      [&]() -> Result<std::string> {
        server::ServerConfig cfg;
        cfg.store.data_dir = (work / "server-data").string();
        cfg.keys_dir = (work / "server-data" / "keys").string();
        ASSIGN_OR_RETURN(catalogue, layout::LoadCatalogue(args.layout_dir));
        ASSIGN_OR_RETURN(platform,
                         server::Platform::Open(cfg, true, SystemClock::Get(), catalogue));
        RETURN_IF_ERROR(platform->CreateTenant(city_a, "札幌市 (demo)", "cli:demo").status());
        RETURN_IF_ERROR(platform->CreateTenant(city_b, "函館市 (demo)", "cli:demo").status());
        ASSIGN_OR_RETURN(token_a, platform->AddClient(city_a, "juki", "system", "cli:demo"));
        ASSIGN_OR_RETURN(token_b, platform->AddClient(city_b, "juki", "system", "cli:demo"));
        api_auth = std::make_unique<server::ApiAuth>(*platform);
        replica_api = std::make_unique<server::ReplicaApi>(*api_auth, catalogue, uint64_t{1} << 30);
        http::Router router;
        RETURN_IF_ERROR(replica_api->Register(router));
        ASSIGN_OR_RETURN(api_server, http::Server::Create({}, std::move(router)));
        RETURN_IF_ERROR(api_server->Start());
        ASSIGN_OR_RETURN(api_client, http::Client::Create({}));
        return "catalogue with " + std::to_string(catalogue->infos().size()) +
               " TMs; 2 tenants; tokens issued; API on port " + std::to_string(api_server->port());
      });

  const std::string sample = SampleTaxCsv(50);
  steps.Run("副本の取込", "replica import (地方税関係情報)", [&]() -> Result<std::string> {
    if (!api_server) return FailedPreconditionError("the server did not start");
    ASSIGN_OR_RETURN(http::Response r,
                     api(token_a, "POST", "/api/v1/replica/imports?tm=TM00000000000002", sample));
    RETURN_IF_ERROR(Check(r.status == 201, "201 Created, got " + std::to_string(r.status) + ": " +
                                               r.body.substr(0, 300)));
    RETURN_IF_ERROR(Check(r.body.find("\"inserted\":50") != std::string::npos, "50 inserted"));
    return "50 records imported, validated against the layout and sealed at rest";
  });

  steps.Run(
      "副本の表示と照合用出力", "view and export (export = input)", [&]() -> Result<std::string> {
        if (!api_server) return FailedPreconditionError("the server did not start");
        ASSIGN_OR_RETURN(
            http::Response view,
            api(token_a, "GET", "/api/v1/replica/records?atena_no=000000000000007", ""));
        RETURN_IF_ERROR(
            Check(view.status == 200 && view.body.find("\"2007000\"") != std::string::npos,
                  "resident 7's income 2007000 shown"));
        ASSIGN_OR_RETURN(http::Response exp,
                         api(token_a, "GET", "/api/v1/replica/export?tm=TM00000000000002", ""));
        RETURN_IF_ERROR(
            Check(exp.status == 200 && exp.body == sample, "export identical to input"));
        return "resident 000000000000007 shown in layout terms; export is byte-identical to the "
               "file";
      });

  steps.Run("不正な行の拒否", "bad row refused, nothing changed", [&]() -> Result<std::string> {
    if (!api_server) return FailedPreconditionError("the server did not start");
    ASSIGN_OR_RETURN(
        http::Response r,
        api(token_a, "POST", "/api/v1/replica/imports?tm=TM00000000000002", SampleTaxCsv(80, 30)));
    RETURN_IF_ERROR(Check(r.status == 422, "422, got " + std::to_string(r.status)));
    RETURN_IF_ERROR(
        Check(r.body.find("\"line\":30,\"field\":\"IT00000200000002\"") != std::string::npos,
              "problem names line 30 and item IT00000200000002: " + r.body.substr(0, 300)));
    ASSIGN_OR_RETURN(http::Response exp,
                     api(token_a, "GET", "/api/v1/replica/export?tm=TM00000000000002", ""));
    RETURN_IF_ERROR(Check(exp.body == sample, "replica unchanged"));
    return "422: line 30, item IT00000200000002 (賦課期日) is not a real date; replica unchanged";
  });

  steps.Run("テナント間の分離", "another tenant sees nothing", [&]() -> Result<std::string> {
    if (!api_server) return FailedPreconditionError("the server did not start");
    ASSIGN_OR_RETURN(http::Response view,
                     api(token_b, "GET", "/api/v1/replica/records?atena_no=000000000000007", ""));
    RETURN_IF_ERROR(
        Check(view.status == 200 && view.body.find("\"records\":[]") != std::string::npos,
              "tenant B finds no record of tenant A's resident"));
    ASSIGN_OR_RETURN(http::Response bad, api("ck_not-a-token", "GET",
                                             "/api/v1/replica/export?tm=TM00000000000002", ""));
    RETURN_IF_ERROR(Check(bad.status == 401, "an unknown token gets 401"));
    ASSIGN_OR_RETURN(std::shared_ptr<server::TenantContext> ctx,
                     platform->Tenant(TenantId::ForOrg(city_a)));
    // The server signs each log's head from a timer; do it now rather than wait for it.
    RETURN_IF_ERROR(ctx->audit->CheckpointIfBehind().status());
    ASSIGN_OR_RETURN(audit::VerifyReport r,
                     audit::Verify(*ctx->db, {{platform->audit_verify_key()}, 1000}));
    RETURN_IF_ERROR(Check(r.ok, "tenant audit chain intact: " + r.problem));
    return "tenant B's token sees none of A's rows; unknown token 401; tenant A's audit log: " +
           std::to_string(r.entries) + " entries, intact";
  });

  if (api_server) api_server->Stop(std::chrono::seconds(2));
  api_server.reset();
  replica_api.reset();
  api_auth.reset();
  platform.reset();

  if (server) server->Stop(std::chrono::seconds(2));
  server.reset();
  platform_log.reset();
  if (tenants) (void)tenants->Close();

  std::printf("\n情報連携 / linkage (hub + intermediate servers as processes)\n");
  RunLinkageSteps(steps, args, work);
  std::printf("\n結果 / result: %zu/%zu 手順が成功 / steps passed — %s\n", steps.passed(),
              steps.size(), steps.all_ok() ? "すべて成功 / ALL OK" : "失敗あり / FAILED");

  if (made_temp && !args.keep) {
    std::error_code ec;
    fs::remove_all(work, ec);
  } else {
    std::printf("作業場所を残しました / workdir kept: %s\n", work.c_str());
  }
  return steps.all_ok() ? 0 : 1;
}

}  // namespace

void RegisterDemoCommands(CLI::App& app, Action& action) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* demo = app.add_subcommand(
      "demo", "デモを実行して結果を要約 / run the demonstration and summarise it");
  demo->add_option("--workdir", args->workdir,
                   "an empty directory to work in (default: a temp dir)");
  demo->add_flag("--keep", args->keep, "keep the temporary work directory");
  demo->add_option("--layout", args->layout_dir,
                   "data standard layout directory (default data/layout)");
  demo->add_option("--permissions", args->permissions_file,
                   "permission list for the hub (default data/permissions/sample.csv)");
  demo->callback([&action, args] { action.run = [args] { return RunDemo(*args); }; });
}

}  // namespace chukan::cli
