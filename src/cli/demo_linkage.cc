// `chukan demo`, steps 18–25: the linkage (情報照会・情報提供) through the network of step 17 —
// city B's replicas imported; subject codes from the hub (a bulk file too; one person, a different
// code at each organisation); an automatic inquiry whose answer equals city B's replica field by
// field; a 自動応答不可 inquiry that city B's approver sees and approves (a system token is
// refused); an inquiry the permission list refuses, never reaching city B; an unanswered inquiry
// that expires; a search of the hub's files for answer values and the resident identifier;
// every process stopped and every audit chain verified.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli/demo_steps.h"
#include "cli/local_network.h"
#include "common/ids.h"
#include "http/client.h"

namespace chukan::cli {
namespace {

namespace fs = std::filesystem;

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
}  // namespace

void RunLinkageSteps(Steps& steps, LocalNetwork* net, const fs::path& dir) {
  const OrgCode city_a = OrgCode::Parse(kCityA).value();
  const OrgCode city_b = OrgCode::Parse(kCityB).value();
  const OrgCode insurer = OrgCode::Parse(kInsurer).value();
  const int kPerson = 7;  // the resident the inquiries are about
  const std::string atena_at_a = "000000000000101";
  const std::string atena_at_b = "000000000000007";
  const std::string atena_at_insurer = "900000000000001";
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
      "一括照会ファイル (P640R110) と照会結果ファイル",
      "a P640R110 batch file in, its result file out", [&]() -> Result<std::string> {
        RETURN_IF_ERROR(need_net());
        // As municipal tools write it: 18 fields, padded or empty, CRLF after every line.
        // The provider named by its 地方公共団体コード (函館市 01202), looked up in the hub's
        // registry.
        auto line = [&](const std::string& atena) {
          return "01," + atena + ",,20261204093000000,KAZEI01             ,," +
                 std::string(kCityA) +
                 ",0,JM90000000000001,JT90000000000101,,,01202           ,TM00000000000002,0,1,"
                 "20260401,\r\n";
        };
        const std::string file = line(atena_at_a) + line(atena_at_a) + line("000000000000999");
        ASSIGN_OR_RETURN(http::Response posted,
                         net->Call(city_a, Role::kSystem, "POST",
                                   "/api/v1/inquiries/batch?name=P640R110_20261204093000.DAT", file,
                                   "text/plain"));
        ASSIGN_OR_RETURN(nlohmann::json j, JsonBody(posted, 207, "POST /api/v1/inquiries/batch"));
        const std::string batch = j.value("batch_id", "");
        RETURN_IF_ERROR(Check(j.value("accepted", 0) == 1 && j.value("duplicates", 0) == 1 &&
                                  j.value("failed", 0) == 1,
                              "1 inquiry, 1 duplicate, 1 without a subject code"));
        nlohmann::json progress = nlohmann::json::object();
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (progress.value("result_file", "") != "ready") {
          if (std::chrono::steady_clock::now() > deadline) {
            return DeadlineExceededError("the batch did not end within 30 s");
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          ASSIGN_OR_RETURN(http::Response g, net->Call(city_a, Role::kSystem, "GET",
                                                       "/api/v1/inquiries/batch/" + batch));
          ASSIGN_OR_RETURN(progress, JsonBody(g, 200, "GET /api/v1/inquiries/batch/{id}"));
        }
        ASSIGN_OR_RETURN(http::Response f,
                         net->Call(city_a, Role::kSystem, "GET",
                                   "/api/v1/inquiries/batch/" + batch + "/result-file"));
        RETURN_IF_ERROR(Check(f.status == 200, "result file: HTTP " + std::to_string(f.status)));
        // Columns 24 and 26 of each line: 照会ステータス (明細, 特定個人情報名).
        std::vector<std::string> statuses;
        size_t columns = 0;
        for (size_t at = 0, end; (end = f.body.find("\r\n", at)) != std::string::npos;
             at = end + 2) {
          std::vector<std::string> cols;
          for (size_t b = at, c;; b = c + 1) {
            c = f.body.find(',', b);
            if (c == std::string::npos || c > end) {
              cols.push_back(f.body.substr(b, end - b));
              break;
            }
            cols.push_back(f.body.substr(b, c - b));
          }
          if (columns == 0) columns = cols.size();
          statuses.push_back(cols.size() > 25 ? cols[23] + "/" + cols[25] : "?");
        }
        RETURN_IF_ERROR(Check(statuses == std::vector<std::string>{"09/01", "92/", "93/"},
                              "statuses 09/01, 92, 93 in file order"));
        RETURN_IF_ERROR(Check(columns == 262, "262 columns of 地方税関係情報"));
        return progress.value("result_file_name", "") +
               ": 3 lines to 地方公共団体コード 01202, 262 columns — 09/01 照会完了, 92 重複, "
               "93 符号未取得";
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

}  // namespace chukan::cli
