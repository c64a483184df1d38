// HTTP round trip on loopback with chukan's own client and server: plain and TLS 1.3, over a
// keep-alive connection (the handshake is paid once, outside the timed loop).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/log.h"
#include "http/client.h"
#include "http/server.h"
#include "pki/certificate_authority.h"

namespace chukan::http {
namespace {

Router BenchRouter() {
  Router r;
  (void)r.Add("GET", "/hello", [](Request&) { return Response::Text(200, "hello"); });
  (void)r.Add("POST", "/echo", [](Request& req) { return Response::Json(200, req.body); });
  return r;
}

std::string MakePki() {
  std::string dir = std::filesystem::temp_directory_path() / "chukan-http-bench-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) std::abort();
  auto ca = pki::CertificateAuthority::Init(dir + "/ca");
  if (!ca.ok()) std::abort();
  pki::IssueRequest req;
  req.name = "server";
  req.server_hosts = {"127.0.0.1"};
  if (!(*ca)->Issue(req).ok()) std::abort();
  return dir;
}

void RoundTrip(benchmark::State& state, bool tls, size_t body_size) {
  (void)log::Init({.level = log::Level::kWarn, .path = ""});
  std::string dir;
  ServerOptions so;
  ClientOptions co;
  if (tls) {
    dir = MakePki();
    so.tls = true;
    so.tls_options.cert_file = dir + "/ca/server.crt";
    so.tls_options.key_file = dir + "/ca/server.key";
    co.ca_file = dir + "/ca/ca.crt";
  }
  auto server = Server::Create(so, BenchRouter());
  if (!server.ok() || !(*server)->Start().ok()) {
    state.SkipWithError("server start failed");
    return;
  }
  auto client = Client::Create(co);
  if (!client.ok()) {
    state.SkipWithError("client create failed");
    return;
  }
  ClientRequest req;
  std::string base =
      std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string((*server)->port());
  if (body_size == 0) {
    req.url = base + "/hello";
  } else {
    req.method = "POST";
    req.url = base + "/echo";
    req.body = "\"" + std::string(body_size - 2, 'x') + "\"";
  }
  if (!(*client)->Send(req).ok()) {  // warm-up: connection and handshake
    state.SkipWithError("warm-up request failed");
    return;
  }
  for (auto _ : state) {
    auto r = (*client)->Send(req);
    if (!r.ok() || r->status != 200) {
      state.SkipWithError("request failed");
      break;
    }
    benchmark::DoNotOptimize(r->body.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body_size));
  client->reset();
  (*server)->Stop(std::chrono::seconds(1));
  if (!dir.empty()) std::filesystem::remove_all(dir);
}

void BM_HttpRoundTripPlain(benchmark::State& s) { RoundTrip(s, false, 0); }
void BM_HttpRoundTripTls(benchmark::State& s) { RoundTrip(s, true, 0); }
void BM_HttpPost16KiBPlain(benchmark::State& s) { RoundTrip(s, false, 16 * 1024); }
void BM_HttpPost16KiBTls(benchmark::State& s) { RoundTrip(s, true, 16 * 1024); }
BENCHMARK(BM_HttpRoundTripPlain)->UseRealTime();
BENCHMARK(BM_HttpRoundTripTls)->UseRealTime();
BENCHMARK(BM_HttpPost16KiBPlain)->UseRealTime();
BENCHMARK(BM_HttpPost16KiBTls)->UseRealTime();

}  // namespace
}  // namespace chukan::http

BENCHMARK_MAIN();
