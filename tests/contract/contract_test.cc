// Over 600 lines: one test walks every documented operation of both OpenAPI files to every
// documented status, in one sequence on one network, so that an operation missing from the
// walk shows in check-records.mjs rather than in a second file.
//
// The API documents as a contract: real processes — a `chukan server` without a hub, and a hub
// with two servers (cli::LocalNetwork) — are driven through every operation of
// docs/api/openapi.yaml and docs/api/hub-openapi.yaml, to every status the documents give them
// (except the few listed, with reasons, in unexercised.mjs). Each answer (status, headers,
// body) is recorded; check-records.mjs then checks every answer against the documents — status,
// media type, schema, headers — and that every documented answer was seen. So the test fails
// when a server answers something undocumented and when the documents promise an answer that
// never comes.
//
// Requests that must not send a body (413 probes, two Authorization headers) go over raw
// sockets (plain or TLS), so that only the header reaches the server.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/local_network.h"
#include "common/status_matchers.h"
#include "common/test_util.h"
#include "crypto/bytes.h"
#include "crypto/ed25519.h"
#include "crypto/key_file.h"
#include "crypto/sealed_box.h"
#include "http/api_util.h"
#include "http/client.h"
#include "linkage/envelope.h"
#include "linkage/permit.h"
#include "server/platform.h"
#include "server/server_config.h"
#include "server_process.h"
#include "test_people.h"

namespace chukan::testing {
namespace {

using json = nlohmann::json;
using cli::LocalNetwork;
using Role = cli::LocalNetwork::Role;

const OrgCode kCityA = OrgCode::Parse("0000000000000041").value();
const OrgCode kCityB = OrgCode::Parse("0000000000000042").value();
const OrgCode kInsurer = OrgCode::Parse("0000000000000043").value();
const char kUnknownOrg[] = "9999999999999999";
const char kUnknownTm[] = "TM99999999999999";
const char kTax[] = "TM00000000000002";
const char kWelfare[] = "TM90000000000102";

// Route body limits (docs/api: the introductions).
constexpr uint64_t kSmall = 16 * 1024;
constexpr uint64_t kBulk = 64ull << 20;
constexpr uint64_t kUpload = 1024ull << 20;  // [server] max_body_mb default
constexpr uint64_t kEnvelope = linkage::kMaxEnvelopeMessageBytes;
constexpr uint64_t kBatch = http::kMaxBatchBytes;

std::string TaxCsv(int first, int count) {
  std::string f = "atena_no";
  for (int i = 1; i <= 16; ++i) {
    char code[24];
    std::snprintf(code, sizeof(code), ",IT000002000000%02d", i);
    f += code;
  }
  f += "\n";
  for (int p = first; p < first + count; ++p) {
    f += Atena(p) +
         ",2026,2026-01-01,1,3120000,100000,50000,200000,30000,150000,20000,1,0,1,2,,"
         "10000\n";
  }
  return f;
}
std::string WelfareCsv(int person) {
  std::string f = "atena_no";
  for (int i = 1; i <= 11; ++i) {
    char code[24];
    std::snprintf(code, sizeof(code), ",IT000102000000%02d", i);
    f += code;
  }
  return f + "\n" + Atena(person) + ",2023-04-01,1,,,1,1,1,0,123456,30000,2\n";
}
// One line of a P640R110 batch inquiry file (docs/batch-inquiry-format.md), the 宛名番号 given.
std::string BatchLine(const std::string& atena, const OrgCode& inquirer, const OrgCode& provider) {
  auto pad = [](std::string v, size_t n) { return v + std::string(n - v.size(), ' '); };
  return "01," + atena + ",,20261127093000000," + pad("KAZEI01", 20) + ",tanaka.taro," +
         inquirer.str() + ",0,JM90000000000001,JT90000000000101,,," + provider.str() + "," + kTax +
         ",0,0,,";
}

// An answer as recorded: header names in lower case.
struct Answer {
  int status = 0;
  std::string content_type;
  std::map<std::string, std::string> headers;
  std::string body;
};

Answer FromResponse(const http::Response& r) {
  Answer a;
  a.status = r.status;
  a.content_type = r.content_type;
  a.body = r.body;
  for (const auto& [k, v] : r.headers.fields()) {
    std::string name = k;
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    a.headers[name] = v;
  }
  return a;
}

// Parses "HTTP/1.1 …" text read until the server closed the connection.
std::optional<Answer> ParseRaw(const std::string& text, bool head) {
  const size_t end = text.find("\r\n\r\n");
  if (text.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return std::nullopt;
  Answer a;
  a.status = std::atoi(text.c_str() + 9);
  size_t pos = text.find("\r\n") + 2;
  while (pos < end) {
    const size_t eol = text.find("\r\n", pos);
    const std::string line = text.substr(pos, eol - pos);
    const size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    a.headers[name] = value;
    pos = eol + 2;
  }
  a.content_type = a.headers["content-type"];
  a.body = text.substr(end + 4);
  if (!head && a.headers.count("content-length")) {
    a.body.resize(std::min<size_t>(a.body.size(), std::stoul(a.headers["content-length"])));
  }
  return a;
}

// A client certificate for raw TLS requests.
struct Tls {
  std::string cert;
  std::string key;
};

// Sends `request` as it is over a new connection to 127.0.0.1:port (TLS 1.3 with a client
// certificate when `tls` is set) and reads until the server closes it.
std::optional<Answer> RawExchange(int port, const std::string& request, const Tls* tls, bool head) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::nullopt;
  timeval tv{20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string text;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    if (tls == nullptr) {
      if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
        char buf[16384];
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
      }
    } else {
      std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                            SSL_CTX_free);
      SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
      SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);  // loopback test peer
      if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls->cert.c_str()) == 1 &&
          SSL_CTX_use_PrivateKey_file(ctx.get(), tls->key.c_str(), SSL_FILETYPE_PEM) == 1) {
        std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
        SSL_set_fd(ssl.get(), fd);
        if (SSL_connect(ssl.get()) == 1 &&
            SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) ==
                static_cast<int>(request.size())) {
          char buf[16384];
          int n;
          while ((n = SSL_read(ssl.get(), buf, sizeof(buf))) > 0) {
            text.append(buf, static_cast<size_t>(n));
          }
        }
      }
      ERR_clear_error();
    }
  }
  close(fd);
  return ParseRaw(text, head);
}

class ContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "node and npm are needed to check the API contract "
                      "(scripts/install-deps installs them)";
    }
    ASSERT_OK_AND_ASSIGN(plain_, http::Client::Create(http::ClientOptions{}));
  }

  // Records one answer. `spec` is "server" (openapi.yaml) or "hub" (hub-openapi.yaml), `path`
  // the documented path template.
  void Record(const std::string& spec, const std::string& method, const std::string& path,
              const Answer& a, const std::string& note, const std::string& kind = "") {
    json r = {{"spec", spec},
              {"method", method},
              {"path", path},
              {"status", a.status},
              {"content_type", a.content_type},
              {"headers", a.headers},
              {"body", a.body},
              {"note", note}};
    if (!kind.empty()) r["kind"] = kind;
    records_.push_back(std::move(r));
  }

  // A request through http::Client; the answer is recorded and must have status `expect`.
  Answer Call(const std::string& spec, http::Client& client, const std::string& base,
              const std::string& method, const std::string& path, const std::string& target,
              int expect, const std::string& note, std::string body = "",
              const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    http::ClientRequest req{method, base + target, {}, std::move(body)};
    for (const auto& [k, v] : headers) req.headers.Add(k, v);
    Result<http::Response> r = client.Send(req);
    EXPECT_OK(r) << method << " " << target << " (" << note << ")";
    if (!r.ok()) return Answer{};
    Answer a = FromResponse(*r);
    EXPECT_EQ(a.status, expect) << method << " " << target << " (" << note << "): " << a.body;
    Record(spec, method, path, a, note);
    return a;
  }

  // A request whose header alone is sent (no body, whatever Content-Length says).
  Answer Raw(const std::string& spec, int port, const Tls* tls, const std::string& method,
             const std::string& path, const std::string& target, int expect,
             const std::string& note, const std::vector<std::string>& header_lines = {},
             const std::string& kind = "") {
    std::string req =
        method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    for (const std::string& h : header_lines) req += h + "\r\n";
    req += "\r\n";
    std::optional<Answer> a = RawExchange(port, req, tls, method == "HEAD");
    EXPECT_TRUE(a.has_value()) << method << " " << target << " (" << note << "): no answer";
    if (!a) return Answer{};
    EXPECT_EQ(a->status, expect) << method << " " << target << " (" << note << "): " << a->body;
    Record(spec, method, path, *a, note, kind);
    return *a;
  }

  // The checks every /api/v1 route makes before reading a body (docs/api/openapi.yaml).
  void ApiGate(int port, const std::string& method, const std::string& path,
               const std::string& target, uint64_t limit, const std::string& token,
               const std::string& wrong_role_token) {
    const std::string auth = "Authorization: Bearer " + token;
    Raw("server", port, nullptr, method, path, target, 401, "no token");
    Raw("server", port, nullptr, method, path, target, 401, "unknown token",
        {"Authorization: Bearer ck_notatoken"});
    Raw("server", port, nullptr, method, path, target, 400, "two Authorization headers",
        {auth, auth});
    if (!wrong_role_token.empty()) {
      Raw("server", port, nullptr, method, path, target, 403, "wrong role",
          {"Authorization: Bearer " + wrong_role_token});
    }
    Raw("server", port, nullptr, method, path, target, 413, "Content-Length over the limit",
        {auth, "Content-Length: " + std::to_string(limit + 1)});
  }

  // /healthz, /readyz and /metrics, GET and HEAD, on a listener.
  void BuiltIns(const std::string& spec, int port, const Tls* tls) {
    for (const char* p : {"/healthz", "/readyz", "/metrics"}) {
      Raw(spec, port, tls, "GET", p, p, 200, "built-in");
      Raw(spec, port, tls, "HEAD", p, p, 200, "built-in");
      Raw(spec, port, tls, "DELETE", p, p, 405, "wrong method", {}, "wrong-method");
    }
  }

  // Runs check-records.mjs on what was recorded.
  void CheckContract() {
    // CHUKAN_CONTRACT_ANSWERS=FILE keeps the answers (to run check-records.mjs on them again).
    const char* keep = std::getenv("CHUKAN_CONTRACT_ANSWERS");
    const std::string file = keep != nullptr && *keep != '\0' ? keep : dir_.File("answers.jsonl");
    {
      std::ofstream out(file);
      for (const json& r : records_) out << r.dump() << "\n";
    }
    const std::string cmd = std::string(CHUKAN_RUN_NODE) + " check-records.mjs " + file + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
    const int status = pclose(p);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::printf("%s", out.c_str());
    if (code == 77) GTEST_SKIP() << out;
    EXPECT_EQ(code, 0) << out;
  }

  TempDir dir_;
  std::unique_ptr<http::Client> plain_;
  std::vector<json> records_;
};

TEST_F(ContractTest, EveryDocumentedAnswerAndNothingElse) {
  // ---- A server without a hub: the replica API, and linkage routes that do not exist. ----
  const std::string config = dir_.File("solo/chukan.toml");
  std::filesystem::create_directories(dir_.File("solo"));
  {
    std::ofstream out(config);
    out << "[server]\nport = 0\nthreads = 2\n[layout]\ndir = \"" << CHUKAN_LAYOUT_DIR
        << "\"\n[log]\nlevel = \"warn\"\n[store]\ndata_dir = \"" << dir_.File("solo/data")
        << "\"\n[keys]\ndir = \"" << dir_.File("solo/keys") << "\"\n";
  }
  auto admin = [&](const std::string& args) {
    CommandOutput r = RunChukan(args + " --config " + config);
    EXPECT_EQ(r.exit_code, 0) << args;
    std::string t = r.out;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
    return t;
  };
  admin("tenant create --org 0000000000000131 --name 札幌市");
  const std::string sys = admin("client add --tenant 0000000000000131 --name juki");
  const std::string appr =
      admin("client add --tenant 0000000000000131 --name staff --role approver");
  ServerProcess solo;
  std::string log;
  ASSERT_TRUE(solo.Start(config, &log)) << log;
  const int sp = solo.port();
  const std::string su = solo.url();
  const std::vector<std::pair<std::string, std::string>> auth = {
      {"Authorization", "Bearer " + sys}};
  auto with = [&](std::vector<std::pair<std::string, std::string>> h, const std::string& k,
                  const std::string& v) {
    h.emplace_back(k, v);
    return h;
  };
  const auto csv = with(auth, "Content-Type", "text/csv");

  {
    const std::string imp = "/api/v1/replica/imports";
    const std::string file = TaxCsv(1, 3);
    Call("server", *plain_, su, "POST", imp, imp + "?tm=" + kTax, 201, "import", file,
         with(csv, "Idempotency-Key", "k1"));
    Call("server", *plain_, su, "POST", imp, imp + "?tm=" + kTax, 200, "replayed import", file,
         with(csv, "Idempotency-Key", "k1"));
    Call("server", *plain_, su, "POST", imp, imp + "?tm=" + kTax, 409, "key reused", TaxCsv(1, 2),
         with(csv, "Idempotency-Key", "k1"));
    Call("server", *plain_, su, "POST", imp, imp + "?tm=" + kTax, 422, "bad row",
         TaxCsv(1, 1) + "12,x\n", csv);
    Call("server", *plain_, su, "POST", imp, imp, 400, "no tm", file, csv);
    Call("server", *plain_, su, "POST", imp, imp + "?tm=" + kUnknownTm, 404, "unknown TM", file,
         csv);
    ApiGate(sp, "POST", imp, imp + "?tm=" + kTax, kUpload, sys, appr);

    const std::string rec = "/api/v1/replica/records";
    Call("server", *plain_, su, "GET", rec, rec + "?atena_no=" + Atena(1), 200, "view", "", auth);
    Call("server", *plain_, su, "GET", rec, rec, 400, "no atena_no", "", auth);
    ApiGate(sp, "GET", rec, rec + "?atena_no=" + Atena(1), 0, sys, appr);

    const std::string exp = "/api/v1/replica/export";
    Call("server", *plain_, su, "GET", exp, exp + "?tm=" + kTax, 200, "export", "", auth);
    Call("server", *plain_, su, "GET", exp, exp, 400, "no tm", "", auth);
    Call("server", *plain_, su, "GET", exp, exp + "?tm=" + kUnknownTm, 404, "unknown TM", "", auth);
    ApiGate(sp, "GET", exp, exp + "?tm=" + kTax, 0, sys, appr);

    const std::string rc = "/api/v1/replica/reconcile";
    Call("server", *plain_, su, "POST", rc, rc + "?tm=" + kTax, 200, "reconcile", file, csv);
    Call("server", *plain_, su, "POST", rc, rc, 400, "no tm", file, csv);
    Call("server", *plain_, su, "POST", rc, rc + "?tm=" + kUnknownTm, 404, "unknown TM", file, csv);
    ApiGate(sp, "POST", rc, rc + "?tm=" + kTax, kUpload, sys, appr);
    for (const std::string& p : {imp, rec, exp, rc}) {
      Raw("server", sp, nullptr, "DELETE", p, p, 405, "wrong method", {}, "wrong-method");
    }
  }
  // Without a hub the linkage routes do not exist, whoever asks.
  for (const auto& [method, path, target] : std::vector<std::array<std::string, 3>>{
           {"POST", "/api/v1/codes", "/api/v1/codes"},
           {"POST", "/api/v1/codes/bulk", "/api/v1/codes/bulk"},
           {"POST", "/api/v1/inquiries", "/api/v1/inquiries"},
           {"GET", "/api/v1/inquiries", "/api/v1/inquiries"},
           {"GET", "/api/v1/inquiries/{id}", "/api/v1/inquiries/0123456789abcdef0123456789abcdef"},
           {"POST", "/api/v1/inquiries/batch", "/api/v1/inquiries/batch"},
           {"GET", "/api/v1/inquiries/batch/{id}",
            "/api/v1/inquiries/batch/0123456789abcdef0123456789abcdef"},
           {"GET", "/api/v1/inquiries/batch/{id}/result-file",
            "/api/v1/inquiries/batch/0123456789abcdef0123456789abcdef/result-file"},
           {"POST", "/api/v1/atena-map", "/api/v1/atena-map"},
           {"GET", "/api/v1/atena-map", "/api/v1/atena-map"},
           {"GET", "/api/v1/approvals", "/api/v1/approvals"},
           {"POST", "/api/v1/approvals/{permit_id}",
            "/api/v1/approvals/0123456789abcdef0123456789abcdef"},
           {"GET", "/api/v1/records", "/api/v1/records"},
           {"GET", "/api/v1/linkage/status", "/api/v1/linkage/status"}}) {
    Raw("server", sp, nullptr, method, path, target, 404, "no hub configured",
        {"Authorization: Bearer " + sys});
  }
  BuiltIns("server", sp, nullptr);
  Raw("server", sp, nullptr, "GET", "/api/v1/nothing", "/api/v1/nothing", 404, "unknown path", {},
      "unknown-path");
  EXPECT_EQ(solo.Stop(), 0);

  // ---- A hub and two servers: city A and an insurer on server 1, city B on server 2. ----
  cli::LocalNetworkOptions o;
  o.binary = CHUKAN_BINARY;
  std::filesystem::create_directories(dir_.File("net"));
  o.workdir = dir_.File("net");
  o.layout_dir = CHUKAN_LAYOUT_DIR;
  o.permissions_file = CHUKAN_PERMISSIONS_FILE;
  o.servers = 2;
  o.log_level = "warn";
  o.approval_permit_seconds = 10;  // so that a permit expires within the test (hub 412)
  o.orgs = {{kCityA, "city-a", "municipality", 0, ""},
            {kInsurer, "insurer", "insurer", 0, ""},
            {kCityB, "city-b", "municipality", 1, ""}};
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LocalNetwork> net, LocalNetwork::Start(o));
  ASSERT_OK(net->WaitForPermissionLists(std::chrono::seconds(30)));
  const std::string a_url = net->ApiUrl(0);
  const std::string b_url = net->ApiUrl(1);
  const int ap = std::stoi(a_url.substr(a_url.rfind(':') + 1));
  const std::string a_sys = net->token(kCityA, Role::kSystem);
  const std::string a_appr = net->token(kCityA, Role::kApprover);
  const std::string b_sys = net->token(kCityB, Role::kSystem);
  const std::string b_appr = net->token(kCityB, Role::kApprover);
  auto bearer = [](const std::string& t) {
    return std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer " + t}};
  };
  auto api = [&](const std::string& base, const std::string& token, const std::string& method,
                 const std::string& path, const std::string& target, int expect,
                 const std::string& note, std::string body = "",
                 const std::string& type = "application/json") {
    auto h = bearer(token);
    if (!body.empty()) h.emplace_back("Content-Type", type);
    return Call("server", *plain_, base, method, path, target, expect, note, std::move(body), h);
  };
  auto body_of = [](const Answer& a) { return json::parse(a.body, nullptr, false); };

  // City B's replicas and codes; city A knows the same people as atena 100 + n.
  api(b_url, b_sys, "POST", "/api/v1/replica/imports",
      std::string("/api/v1/replica/imports?tm=") + kTax, 201, "provider's replica", TaxCsv(1, 5),
      "text/csv");
  api(b_url, b_sys, "POST", "/api/v1/replica/imports",
      std::string("/api/v1/replica/imports?tm=") + kWelfare, 201, "provider's replica",
      WelfareCsv(7), "text/csv");
  std::string pairs_a, pairs_b;
  for (int p = 1; p <= 8; ++p) {
    pairs_b += Atena(p) + "," + Resident(p) + "\n";
    pairs_a += Atena(100 + p) + "," + Resident(p) + "\n";
  }
  api(b_url, b_sys, "POST", "/api/v1/codes/bulk", "/api/v1/codes/bulk", 200, "all lines", pairs_b,
      "text/csv");
  api(a_url, a_sys, "POST", "/api/v1/codes/bulk", "/api/v1/codes/bulk", 200, "all lines", pairs_a,
      "text/csv");
  api(a_url, a_sys, "POST", "/api/v1/codes/bulk", "/api/v1/codes/bulk", 207, "a bad line",
      Atena(101) + "," + Resident(1) + "\nnot a pair\n", "text/csv");
  ApiGate(ap, "POST", "/api/v1/codes/bulk", "/api/v1/codes/bulk", kBulk, a_sys, a_appr);

  // Codes.
  const std::string codes = "/api/v1/codes";
  const Answer code_101 = api(a_url, a_sys, "POST", codes, codes, 200, "registered again",
                              json{{"atena_no", Atena(101)}, {"resident_id", Resident(1)}}.dump());
  const std::string subject_a1 = body_of(code_101).value("subject_code", "");
  api(a_url, a_sys, "POST", codes, codes, 400, "not JSON", "{");
  api(a_url, a_sys, "POST", codes, codes, 409, "atena_no has another code",
      json{{"atena_no", Atena(101)}, {"resident_id", Resident(2)}}.dump());
  ApiGate(ap, "POST", codes, codes, kSmall, a_sys, a_appr);
  const Answer code_b3 = api(b_url, b_sys, "POST", codes, codes, 200, "provider's code",
                             json{{"atena_no", Atena(3)}, {"resident_id", Resident(3)}}.dump());
  const std::string subject_b3 = body_of(code_b3).value("subject_code", "");

  // Inquiries.
  const std::string inq = "/api/v1/inquiries";
  auto tax_inquiry = [&](int person, const std::string& key) {
    return json{{"atena_no", Atena(100 + person)},
                {"procedure", "JT90000000000101"},
                {"tm", kTax},
                {"provider", kCityB.str()},
                {"idempotency_key", key}};
  };
  const std::string tax_id =
      body_of(api(a_url, a_sys, "POST", inq, inq, 202, "new", tax_inquiry(1, "c-1").dump()))
          .value("inquiry_id", "");
  api(a_url, a_sys, "POST", inq, inq, 409, "key reused", tax_inquiry(2, "c-1").dump());
  api(a_url, a_sys, "POST", inq, inq, 400, "unknown field", R"({"what":1})");
  json unknown_tm = tax_inquiry(1, "c-2");
  unknown_tm["tm"] = kUnknownTm;
  api(a_url, a_sys, "POST", inq, inq, 404, "TM not in the layout", unknown_tm.dump());
  json no_code = tax_inquiry(1, "c-3");
  no_code["atena_no"] = Atena(999);
  api(a_url, a_sys, "POST", inq, inq, 412, "no subject code", no_code.dump());
  json unknown_provider = tax_inquiry(3, "c-4");
  unknown_provider["provider"] = kUnknownOrg;
  const std::string refused_id = body_of(api(a_url, a_sys, "POST", inq, inq, 202,
                                             "to be refused by the hub", unknown_provider.dump()))
                                     .value("inquiry_id", "");
  ApiGate(ap, "POST", inq, inq, kSmall, a_sys, a_appr);
  api(a_url, a_sys, "GET", inq, inq + "?limit=10", 200, "list");
  api(a_url, a_sys, "GET", inq, inq + "?limit=0", 400, "bad limit");
  ApiGate(ap, "GET", inq, inq, 0, a_sys, a_appr);

  const std::string one = "/api/v1/inquiries/{id}";
  const Answer done = api(a_url, a_sys, "GET", one, inq + "/" + tax_id + "?wait_ms=20000", 200,
                          "long poll to the end");
  ASSERT_EQ(body_of(done).value("state", ""), "completed") << done.body;
  const std::string tax_permit = body_of(done).value("permit_id", "");
  api(a_url, a_sys, "GET", one, inq + "/" + tax_id + "?wait_ms=x", 400, "bad wait_ms");
  api(a_url, a_sys, "GET", one, inq + "/0123456789abcdef0123456789abcdef", 404, "no such inquiry");
  ApiGate(ap, "GET", one, inq + "/" + tax_id, 0, a_sys, a_appr);
  const Answer refused = api(a_url, a_sys, "GET", one, inq + "/" + refused_id + "?wait_ms=20000",
                             200, "refused by the hub");
  EXPECT_EQ(body_of(refused).value("state", ""), "refused") << refused.body;

  const std::string batch = "/api/v1/inquiries/batch";
  const std::string ended_batch =
      body_of(api(a_url, a_sys, "POST", batch, batch, 200, "one good line",
                  BatchLine(Atena(102), kCityA, kCityB) + "\r\n", "text/plain"))
          .value("batch_id", "");
  api(a_url, a_sys, "POST", batch, batch, 207, "a line of another organisation",
      BatchLine(Atena(102), kInsurer, kCityB) + "\r\n", "text/plain");
  api(a_url, a_sys, "POST", batch, batch, 400, "unsupported charset", "x\n",
      "text/plain; charset=latin-9");
  api(a_url, a_sys, "POST", batch, batch, 429, "a line over 1,024 bytes",
      std::string(1100, '2') + "\n", "text/plain");
  ApiGate(ap, "POST", batch, batch, kBulk, a_sys, a_appr);

  // The 宛名番号 mapping table of batch files.
  const std::string amap = "/api/v1/atena-map";
  api(a_url, a_sys, "POST", amap, amap, 200, "mapping loaded",
      "番号体系,宛名番号,統合宛名番号\r\n01,9101," + Atena(101) + "\r\n", "text/csv");
  api(a_url, a_sys, "POST", amap, amap, 422, "a bad line", "01,9102,12345\r\n", "text/csv");
  api(a_url, a_sys, "POST", amap, amap, 400, "unsupported charset", "x\n",
      "text/csv; charset=latin-9");
  api(a_url, a_sys, "POST", amap, amap, 429, "a line over 256 bytes", std::string(300, '1') + "\n",
      "text/csv");
  ApiGate(ap, "POST", amap, amap, kBulk, a_sys, a_appr);
  api(a_url, a_sys, "GET", amap, amap, 200, "setting and rows");
  ApiGate(ap, "GET", amap, amap, 0, a_sys, a_appr);

  // A batch's progress and result file. A line that waits for staff at city B (生活保護関係情報,
  // 自動応答不可) keeps its batch open.
  std::string waiting_line = BatchLine(Atena(107), kCityA, kCityB);
  waiting_line.replace(waiting_line.find("JT90000000000101"), 16, "JT90000000000402");
  waiting_line.replace(waiting_line.find(kTax), 16, kWelfare);
  const std::string open_batch =
      body_of(api(a_url, a_sys, "POST", batch, batch + "?name=P640R110_20261204093000.DAT", 200,
                  "a line that waits for staff", waiting_line + "\r\n", "text/plain"))
          .value("batch_id", "");
  api(a_url, a_sys, "POST", batch, batch + "?name=..%2Fetc", 400, "not a plain file name",
      waiting_line + "\r\n", "text/plain");
  const std::string one_batch = "/api/v1/inquiries/batch/{id}";
  const std::string result_file = "/api/v1/inquiries/batch/{id}/result-file";
  api(a_url, a_sys, "GET", one_batch, batch + "/" + open_batch, 200, "progress");
  api(a_url, a_sys, "GET", one_batch, batch + "/0123456789abcdef0123456789abcdef", 404,
      "no such batch");
  ApiGate(ap, "GET", one_batch, batch + "/" + open_batch, 0, a_sys, a_appr);
  api(a_url, a_sys, "GET", result_file, batch + "/" + open_batch + "/result-file", 409,
      "a line still open");
  for (int i = 0; i < 500; ++i) {
    json j = body_of(api(a_url, a_sys, "GET", one_batch, batch + "/" + ended_batch, 200,
                         "progress of the ended batch"));
    if (j.value("result_file", "") == "ready") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  api(a_url, a_sys, "GET", result_file, batch + "/" + ended_batch + "/result-file", 200,
      "every line ended");
  api(a_url, a_sys, "GET", result_file, batch + "/" + ended_batch + "/result-file?charset=x", 400,
      "unknown charset");
  api(a_url, a_sys, "GET", result_file, batch + "/0123456789abcdef0123456789abcdef/result-file",
      404, "no such batch");
  ApiGate(ap, "GET", result_file, batch + "/" + ended_batch + "/result-file", 0, a_sys, a_appr);

  // An answer that waits for staff at city B (生活保護関係情報, 自動応答不可).
  const std::string welfare_id = body_of(api(a_url, a_sys, "POST", inq, inq, 202, "自動応答不可",
                                             json{{"atena_no", Atena(107)},
                                                  {"procedure", "JT90000000000402"},
                                                  {"tm", kWelfare},
                                                  {"provider", kCityB.str()}}
                                                 .dump()))
                                     .value("inquiry_id", "");
  std::string welfare_permit;
  for (int i = 0; i < 500 && welfare_permit.empty(); ++i) {
    json j = body_of(api(a_url, a_sys, "GET", one, inq + "/" + welfare_id, 200, "waiting"));
    if (j.value("state", "") == "permitted") welfare_permit = j.value("permit_id", "");
    if (welfare_permit.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(welfare_permit.empty());

  // The node listeners, as the hub calls them.
  const Tls hub_tls{net->Path("pki/hub.crt"), net->Path("pki/hub.key")};
  const Tls a_tls{net->Path("pki/" + kCityA.str() + ".crt"),
                  net->Path("pki/" + kCityA.str() + ".key")};
  const Tls b_tls{net->Path("pki/" + kCityB.str() + ".crt"),
                  net->Path("pki/" + kCityB.str() + ".key")};
  const Tls insurer_tls{net->Path("pki/" + kInsurer.str() + ".crt"),
                        net->Path("pki/" + kInsurer.str() + ".key")};
  auto tls_client = [&](const Tls& t) {
    http::ClientOptions co;
    co.ca_file = net->Path("pki/ca.crt");
    co.cert_file = t.cert;
    co.key_file = t.key;
    auto c = http::Client::Create(co);
    EXPECT_OK(c);
    return std::move(*c);
  };
  auto as_hub = tls_client(hub_tls);
  auto as_a = tls_client(a_tls);
  auto as_b = tls_client(b_tls);
  auto as_insurer = tls_client(insurer_tls);
  auto node_url = [&](int server) {
    for (const std::string& line : net->server(server)->lines()) {
      const size_t at = line.find("https://127.0.0.1:");
      if (line.find("node endpoint") != std::string::npos && at != std::string::npos) {
        std::string u = line.substr(at);
        while (!u.empty() && (u.back() == '\n' || u.back() == '\r')) u.pop_back();
        return u;
      }
    }
    ADD_FAILURE() << "no node endpoint";
    return std::string();
  };
  const std::string node_a = node_url(0), node_b = node_url(1);
  const int node_a_port = std::stoi(node_a.substr(node_a.rfind(':') + 1));
  const int node_b_port = std::stoi(node_b.substr(node_b.rfind(':') + 1));
  auto seed = crypto::LoadOrCreateKeyFile(net->Path("hub/state/keys/hub-signing.key"), 32, false);
  ASSERT_OK(seed);
  const crypto::SigningKey hub_key = crypto::SigningKey::FromSeed(*seed).value();
  const int64_t now_ms = ToUnixMicros(SystemClock::Get().Now()) / 1000;
  auto permit_for = [&](const OrgCode& inquirer, const OrgCode& provider, const std::string& tm,
                        const std::string& subject, const std::string& reference) {
    linkage::ProvisionPermit p;
    p.issued_at_ms = now_ms;
    p.expires_at_ms = now_ms + 600'000;
    p.inquirer = inquirer;
    p.provider = provider;
    p.procedure = JtCode::Parse(tm == kTax ? "JT90000000000101" : "JT90000000000402").value();
    p.tm = TmCode::Parse(tm).value();
    p.layout_version = "0001";
    p.subject = SubjectCode::Parse(subject).value();
    p.reply_key = crypto::BoxKeyPair::Generate().public_key();
    p.reference = reference;
    return p;
  };
  auto node = [&](http::Client& c, const std::string& base, const std::string& path, int expect,
                  const std::string& note, std::string body) {
    return Call("server", c, base, "POST", path, path, expect, note, std::move(body));
  };
  {
    const std::string pr = "/node/v1/provision-requests";
    linkage::ProvisionPermit p = permit_for(kCityA, kCityB, kTax, subject_b3, "contract-1");
    const std::string good = linkage::SignedPermitJson(linkage::SignPermit(p, hub_key));
    node(*as_hub, node_b, pr, 200, "answered", good);
    node(*as_hub, node_b, pr, 409, "replayed", good);
    node(*as_hub, node_b, pr, 400, "not a permit message", "{}");
    p.id = PermitId::Generate();
    node(*as_hub, node_b, pr, 401, "forged",
         linkage::SignedPermitJson(linkage::SignPermit(p, crypto::SigningKey::Generate())));
    linkage::ProvisionPermit old = p;
    old.issued_at_ms -= 3'600'000;
    old.expires_at_ms = old.issued_at_ms + 60'000;
    node(*as_hub, node_b, pr, 412, "expired",
         linkage::SignedPermitJson(linkage::SignPermit(old, hub_key)));
    linkage::ProvisionPermit misdirected = permit_for(kCityB, kCityA, kTax, subject_b3, "c-5");
    node(*as_hub, node_b, pr, 403, "misdirected",
         linkage::SignedPermitJson(linkage::SignPermit(misdirected, hub_key)));
    node(*as_a, node_b, pr, 403, "not the hub's certificate", good);
    Raw("server", node_b_port, &hub_tls, "POST", pr, pr, 413, "over the limit",
        {"Content-Length: " + std::to_string(kEnvelope + 1)});

    const std::string bpr = "/node/v1/batch/provision-requests";
    p.id = PermitId::Generate();
    node(*as_hub, node_b, bpr, 200, "one item",
         http::BatchRequestJson({linkage::SignedPermitJson(linkage::SignPermit(p, hub_key))}));
    node(*as_hub, node_b, bpr, 400, "empty", R"({"items":[]})");
    node(*as_a, node_b, bpr, 403, "not the hub's certificate", R"({"items":[{}]})");
    Raw("server", node_b_port, &hub_tls, "POST", bpr, bpr, 413, "over the limit",
        {"Content-Length: " + std::to_string(kBatch + 1)});
  }
  {
    const std::string ir = "/node/v1/inquiry-results";
    linkage::Envelope env;
    env.permit_id = PermitId::Generate();
    env.provider = kCityB;
    env.inquirer = kCityA;
    env.sealed_at_ms = now_ms;
    env.sealed = crypto::Seal(crypto::BoxKeyPair::Generate().public_key(),
                              crypto::AsBytes(std::string(R"({"status":"no_data","records":[]})")))
                     .value();
    auto result = [&](const linkage::ProvisionPermit& p, const crypto::SigningKey& key) {
      return linkage::ProvisionResultJson(
          {linkage::SignPermit(p, key),
           linkage::SignEnvelope(env, crypto::SigningKey::Generate())});
    };
    // A completed inquiry's answer again (the permit it completed with): acknowledged.
    linkage::ProvisionPermit again = permit_for(kCityA, kCityB, kTax, subject_a1, tax_id);
    again.id = PermitId::Parse(tax_permit).value();
    node(*as_hub, node_a, ir, 200, "a repeated delivery", result(again, hub_key));
    node(*as_hub, node_a, ir, 400, "not a result message", "{}");
    node(*as_hub, node_a, ir, 401, "forged permit", result(again, crypto::SigningKey::Generate()));
    linkage::ProvisionPermit other = permit_for(kCityB, kCityA, kTax, subject_a1, tax_id);
    node(*as_hub, node_a, ir, 403, "misdirected", result(other, hub_key));
    node(*as_a, node_a, ir, 403, "not the hub's certificate", result(again, hub_key));
    linkage::ProvisionPermit unknown = permit_for(kCityA, kCityB, kTax, subject_a1, "no-such");
    node(*as_hub, node_a, ir, 404, "unknown inquiry", result(unknown, hub_key));
    linkage::ProvisionPermit ended = permit_for(kCityA, kCityB, kTax, subject_a1, refused_id);
    node(*as_hub, node_a, ir, 412, "the inquiry was refused", result(ended, hub_key));
    // The welfare inquiry is open; a permit naming a provider the hub does not know: the
    // provider's key cannot be had.
    linkage::ProvisionPermit keyless = permit_for(kCityA, kCityB, kWelfare, subject_a1, welfare_id);
    keyless.id = PermitId::Parse(welfare_permit).value();
    keyless.provider = OrgCode::Parse(kUnknownOrg).value();
    node(*as_hub, node_a, ir, 503, "provider's key unavailable", result(keyless, hub_key));
    Raw("server", node_a_port, &hub_tls, "POST", ir, ir, 413, "over the limit",
        {"Content-Length: " + std::to_string(kEnvelope + 1)});

    const std::string bir = "/node/v1/batch/inquiry-results";
    node(*as_hub, node_a, bir, 200, "one item", http::BatchRequestJson({result(unknown, hub_key)}));
    node(*as_hub, node_a, bir, 400, "not a batch", "[");
    node(*as_a, node_a, bir, 403, "not the hub's certificate", R"({"items":[{}]})");
    Raw("server", node_a_port, &hub_tls, "POST", bir, bir, 413, "over the limit",
        {"Content-Length: " + std::to_string(kBatch + 1)});
    for (const std::string& p : {std::string("/node/v1/provision-requests"),
                                 std::string("/node/v1/batch/provision-requests"), ir, bir}) {
      Raw("server", node_b_port, &hub_tls, "GET", p, p, 405, "wrong method", {}, "wrong-method");
    }
  }

  // Approvals at city B.
  const std::string approvals = "/api/v1/approvals";
  const std::string decide = "/api/v1/approvals/{permit_id}";
  bool queued = false;
  for (int i = 0; i < 250 && !queued; ++i) {
    Answer q = api(b_url, b_appr, "GET", approvals, approvals, 200, "the queue");
    for (const json& item : body_of(q).value("approvals", json::array())) {
      queued = queued || item.value("permit_id", "") == welfare_permit;
    }
    if (!queued) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(queued);
  api(b_url, b_appr, "POST", decide, approvals + "/" + welfare_permit, 400, "bad decision",
      R"({"decision":"maybe"})");
  api(b_url, b_appr, "POST", decide, approvals + "/" + welfare_permit, 200, "approved",
      R"({"decision":"approve"})");
  api(b_url, b_appr, "POST", decide, approvals + "/" + welfare_permit, 404, "decided already",
      R"({"decision":"approve"})");
  ApiGate(ap, "GET", approvals, approvals, 0, a_appr, a_sys);
  ApiGate(ap, "POST", decide, approvals + "/" + welfare_permit, kSmall, a_appr, a_sys);

  // Records and status.
  const std::string records = "/api/v1/records";
  api(a_url, a_sys, "GET", records, records + "?limit=100", 200, "system token");
  api(b_url, b_appr, "GET", records, records, 200, "approver token");
  api(a_url, a_sys, "GET", records, records + "?limit=0", 400, "bad limit");
  ApiGate(ap, "GET", records, records, 0, a_sys, "");
  const std::string status = "/api/v1/linkage/status";
  api(a_url, a_sys, "GET", status, status, 200, "valid copy");
  ApiGate(ap, "GET", status, status, 0, a_sys, a_appr);

  for (const std::string& p :
       {codes, std::string("/api/v1/codes/bulk"), inq, std::string("/api/v1/inquiries/") + tax_id,
        batch, batch + "/" + ended_batch, batch + "/" + ended_batch + "/result-file", amap,
        approvals, approvals + "/" + welfare_permit, records, status}) {
    std::string path = p;
    if (p == std::string("/api/v1/inquiries/") + tax_id) path = one;
    if (p == batch + "/" + ended_batch) path = one_batch;
    if (p == batch + "/" + ended_batch + "/result-file") path = result_file;
    if (p == approvals + "/" + welfare_permit) path = decide;
    Raw("server", ap, nullptr, "DELETE", path, p, 405, "wrong method", {}, "wrong-method");
  }
  BuiltIns("server", ap, nullptr);

  // ---- The hub, as the servers call it. ----
  const std::string hub = net->HubUrl();
  const int hp = std::stoi(hub.substr(hub.rfind(':') + 1));
  auto at_hub = [&](http::Client& c, const std::string& method, const std::string& path,
                    const std::string& target, int expect, const std::string& note,
                    std::string body = "") {
    return Call("hub", c, hub, method, path, target, expect, note, std::move(body));
  };
  // The hub's gate, for the organisation's certificate `good`.
  auto hub_gate = [&](const std::string& method, const std::string& path, const std::string& target,
                      uint64_t limit) {
    Raw("hub", hp, &hub_tls, method, path, target, 401, "a certificate of no organisation");
    Raw("hub", hp, &a_tls, method, path, target, 413, "Content-Length over the limit",
        {"Content-Length: " + std::to_string(limit + 1)});
    Raw("hub", hp, &a_tls, "DELETE", path, target, 405, "wrong method", {}, "wrong-method");
  };
  const std::string hcodes = "/hub/v1/codes";
  at_hub(*as_a, "POST", hcodes, hcodes, 200, "a code", json{{"resident_id", Resident(1)}}.dump());
  at_hub(*as_a, "POST", hcodes, hcodes, 400, "no resident_id", "{}");
  hub_gate("POST", hcodes, hcodes, kSmall);

  const std::string hinq = "/hub/v1/inquiries";
  auto permit_request = [&](const std::string& provider, const std::string& tm,
                            const std::string& reference, const crypto::BoxKeyPair& reply) {
    return json{{"provider", provider},
                {"procedure", tm == kTax ? "JT90000000000101" : "JT90000000000402"},
                {"tm", tm},
                {"layout_version", "0001"},
                {"subject_code", subject_a1},
                {"reply_key", crypto::ToBase64Url(reply.public_key())},
                {"reference", reference}}
        .dump();
  };
  const crypto::BoxKeyPair reply = crypto::BoxKeyPair::Generate();
  const json permitted = body_of(at_hub(*as_a, "POST", hinq, hinq, 201, "permitted",
                                        permit_request(kCityB.str(), kWelfare, "hub-1", reply)));
  at_hub(*as_a, "POST", hinq, hinq, 200, "the same reference",
         permit_request(kCityB.str(), kWelfare, "hub-1", reply));
  const json to_expire = body_of(at_hub(*as_a, "POST", hinq, hinq, 201, "permitted (to expire)",
                                        permit_request(kCityB.str(), kWelfare, "hub-2", reply)));
  at_hub(*as_a, "POST", hinq, hinq, 403, "refused",
         permit_request(kUnknownOrg, kTax, "hub-3", reply));
  at_hub(*as_a, "POST", hinq, hinq, 400, "malformed", R"({"provider":"x"})");
  hub_gate("POST", hinq, hinq, kSmall);
  at_hub(*as_a, "POST", "/hub/v1/batch/inquiries", "/hub/v1/batch/inquiries", 200, "one item",
         http::BatchRequestJson({permit_request(kCityB.str(), kTax, "hub-4", reply)}));
  at_hub(*as_a, "POST", "/hub/v1/batch/inquiries", "/hub/v1/batch/inquiries", 400, "empty",
         R"({"items":[]})");
  hub_gate("POST", "/hub/v1/batch/inquiries", "/hub/v1/batch/inquiries", kBatch);

  // Envelopes signed with city B's key, taken from its server's store beside the process.
  ASSERT_OK_AND_ASSIGN(server::ServerConfig b_config,
                       server::LoadServerConfig(net->server_config(1)));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<server::Platform> b_platform,
                       server::Platform::Open(b_config, /*create_keys=*/false));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<server::TenantContext> b_tenant,
                       b_platform->Tenant(TenantId::ForOrg(kCityB)));
  auto envelope = [&](const std::string& permit_id, const std::string& answer,
                      const crypto::SigningKey& key) {
    linkage::Envelope env;
    env.permit_id = PermitId::Parse(permit_id).value();
    env.provider = kCityB;
    env.inquirer = kCityA;
    env.sealed_at_ms = ToUnixMicros(SystemClock::Get().Now()) / 1000;
    env.sealed = crypto::Seal(reply.public_key(), crypto::AsBytes(answer)).value();
    return linkage::SignedEnvelopeJson(linkage::SignEnvelope(env, key));
  };
  const std::string hprov = "/hub/v1/provisions";
  const std::string permit_1 = permitted.value("permit_id", "");
  const std::string no_data = R"({"status":"no_data","records":[]})";
  at_hub(*as_b, "POST", hprov, hprov, 401, "forged",
         envelope(permit_1, no_data, crypto::SigningKey::Generate()));
  at_hub(*as_a, "POST", hprov, hprov, 403, "not the permit's provider",
         envelope(permit_1, no_data, b_tenant->SignKey()->key));
  at_hub(*as_b, "POST", hprov, hprov, 202, "accepted",
         envelope(permit_1, no_data, b_tenant->SignKey()->key));
  at_hub(*as_b, "POST", hprov, hprov, 409, "another envelope",
         envelope(permit_1, R"({"status":"ok","records":[]})", b_tenant->SignKey()->key));
  at_hub(*as_b, "POST", hprov, hprov, 404, "unknown permit",
         envelope(PermitId::Generate().str(), no_data, b_tenant->SignKey()->key));
  at_hub(*as_b, "POST", hprov, hprov, 400, "not an envelope", "{}");
  hub_gate("POST", hprov, hprov, kEnvelope);
  const std::string hbprov = "/hub/v1/batch/provisions";
  at_hub(*as_b, "POST", hbprov, hbprov, 200, "one item",
         http::BatchRequestJson(
             {envelope(PermitId::Generate().str(), no_data, b_tenant->SignKey()->key)}));
  at_hub(*as_b, "POST", hbprov, hbprov, 400, "not a batch", "[");
  hub_gate("POST", hbprov, hbprov, kBatch);

  const std::string hrec = "/hub/v1/records";
  at_hub(*as_a, "GET", hrec, hrec + "?limit=10", 200, "records");
  at_hub(*as_a, "GET", hrec, hrec + "?limit=0", 400, "bad limit");
  hub_gate("GET", hrec, hrec, 0);
  const std::string hlist = "/hub/v1/permission-list";
  const Answer the_list = at_hub(*as_a, "GET", hlist, hlist, 200, "the list");
  const auto etag = the_list.headers.find("etag");
  ASSERT_NE(etag, the_list.headers.end());
  Call("hub", *as_a, hub, "GET", hlist, hlist, 304, "the caller's copy is current", "",
       {{"If-None-Match", etag->second}});
  hub_gate("GET", hlist, hlist, 0);
  const std::string horg = "/hub/v1/orgs/{org_code}";
  at_hub(*as_a, "GET", horg, "/hub/v1/orgs/" + kCityB.str(), 200, "registered");
  at_hub(*as_a, "GET", horg, "/hub/v1/orgs/12", 400, "not an org code");
  at_hub(*as_a, "GET", horg, std::string("/hub/v1/orgs/") + kUnknownOrg, 404, "not registered");
  hub_gate("GET", horg, "/hub/v1/orgs/" + kCityB.str(), 0);
  BuiltIns("hub", hp, &a_tls);
  Raw("hub", hp, &a_tls, "GET", "/hub/v1/nothing", "/hub/v1/nothing", 404, "unknown path", {},
      "unknown-path");

  // A disabled organisation is refused by every hub route.
  ASSERT_OK(cli::RunCommand(
      CHUKAN_BINARY,
      {"hub", "org", "disable", "--config", net->hub_config(), "--code", kInsurer.str()},
      dir_.File("disable.err")));
  for (int i = 0; i < 250; ++i) {
    auto r = as_insurer->Send({"GET", hub + hrec, {}, ""});
    if (r.ok() && r->status == 403) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const auto& [method, path, target] : std::vector<std::array<std::string, 3>>{
           {"POST", hcodes, hcodes},
           {"POST", hinq, hinq},
           {"POST", "/hub/v1/batch/inquiries", "/hub/v1/batch/inquiries"},
           {"POST", hprov, hprov},
           {"POST", hbprov, hbprov},
           {"GET", hrec, hrec},
           {"GET", hlist, hlist},
           {"GET", horg, "/hub/v1/orgs/" + kCityB.str()}}) {
    at_hub(*as_insurer, method, path, target, 403, "organisation disabled",
           method == "POST" ? "{}" : "");
  }

  // A permit that expired before its answer came (the hub gives approval permits 10 s here).
  const int64_t expires = to_expire.value("expires_at_ms", int64_t{0});
  while (ToUnixMicros(SystemClock::Get().Now()) / 1000 <= expires + 50) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  at_hub(*as_b, "POST", hprov, hprov, 412, "permit expired",
         envelope(to_expire.value("permit_id", ""), no_data, b_tenant->SignKey()->key));

  // The hub cannot be reached: a code cannot be had.
  EXPECT_EQ(net->StopHub(), 0);
  api(a_url, a_sys, "POST", codes, codes, 503, "hub stopped",
      json{{"atena_no", Atena(108)}, {"resident_id", Resident(8)}}.dump());

  CheckContract();
}

}  // namespace
}  // namespace chukan::testing
