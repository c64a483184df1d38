// HTTP round trip on loopback with chukan's own client and server: plain and TLS 1.3, over a
// keep-alive connection (the handshake is paid once, outside the timed loop).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "common/log.h"
#include "http/api_util.h"
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

// Streaming: a 64 MiB body through Client::SendStreaming and a streaming route (upload), or
// through a Response::stream producer (download); the bytes come from / go to memory, so this
// measures the HTTP path (pipes, worker hand-off, chunked framing, TLS).
class RepeatSource final : public BodySource {
 public:
  explicit RepeatSource(uint64_t total) : left_(total), block_(256 * 1024, 'c') {}
  Result<size_t> Read(char* buf, size_t n) override {
    size_t k = static_cast<size_t>(std::min<uint64_t>({n, left_, block_.size()}));
    std::memcpy(buf, block_.data(), k);
    left_ -= k;
    return k;
  }

 private:
  uint64_t left_;
  std::string block_;
};

void Stream(benchmark::State& state, bool tls, bool upload, bool chunked) {
  constexpr uint64_t kSize = 64 << 20;
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
  Router r;
  (void)r.AddStreaming("POST", "/sink", [](Request&, BodyReader& body) {
    std::string buf(256 * 1024, '\0');
    uint64_t total = 0;
    for (;;) {
      auto n = body.Read(buf.data(), buf.size());
      if (!n.ok()) return Response::Text(500, n.status().ToString());
      if (*n == 0) break;
      total += *n;
    }
    return Response::Text(200, std::to_string(total));
  });
  (void)r.Add("GET", "/source", [](Request&) {
    Response resp(200, "application/octet-stream", "");
    resp.stream = [](BodyWriter& w) -> Status {
      const std::string block(256 * 1024, 's');
      for (uint64_t sent = 0; sent < kSize; sent += block.size()) RETURN_IF_ERROR(w.Write(block));
      return Status::Ok();
    };
    return resp;
  });
  auto server = Server::Create(so, std::move(r));
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
  req.method = upload ? "POST" : "GET";
  req.url = base + (upload ? "/sink" : "/source");
  for (auto _ : state) {
    uint64_t received = 0;
    RepeatSource src(kSize);
    auto resp = (*client)->SendStreaming(
        req, upload ? &src : nullptr,
        upload && !chunked ? std::optional<uint64_t>(kSize) : std::nullopt,
        upload ? std::function<Status(std::string_view)>()
               : [&](std::string_view piece) {
                   received += piece.size();
                   return Status::Ok();
                 },
        nullptr);
    if (!resp.ok() || resp->status != 200 ||
        (upload ? resp->body != std::to_string(kSize) : received != kSize)) {
      state.SkipWithError("stream failed");
      break;
    }
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kSize));
  state.counters["max_buffered_bytes"] = static_cast<double>((*server)->MaxStreamBufferedBytes());
  client->reset();
  (*server)->Stop(std::chrono::seconds(1));
  if (!dir.empty()) std::filesystem::remove_all(dir);
}

void BM_HttpStreamUpload64MiBPlain(benchmark::State& s) { Stream(s, false, true, false); }
void BM_HttpStreamUpload64MiBChunkedPlain(benchmark::State& s) { Stream(s, false, true, true); }
void BM_HttpStreamUpload64MiBTls(benchmark::State& s) { Stream(s, true, true, false); }
void BM_HttpStreamDownload64MiBPlain(benchmark::State& s) { Stream(s, false, false, false); }
void BM_HttpStreamDownload64MiBTls(benchmark::State& s) { Stream(s, true, false, false); }
BENCHMARK(BM_HttpStreamUpload64MiBPlain)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HttpStreamUpload64MiBChunkedPlain)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HttpStreamUpload64MiBTls)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HttpStreamDownload64MiBPlain)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HttpStreamDownload64MiBTls)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_HttpRoundTripPlain(benchmark::State& s) { RoundTrip(s, false, 0); }
void BM_HttpRoundTripTls(benchmark::State& s) { RoundTrip(s, true, 0); }
void BM_HttpPost16KiBPlain(benchmark::State& s) { RoundTrip(s, false, 16 * 1024); }
void BM_HttpPost16KiBTls(benchmark::State& s) { RoundTrip(s, true, 16 * 1024); }
BENCHMARK(BM_HttpRoundTripPlain)->UseRealTime();
BENCHMARK(BM_HttpRoundTripTls)->UseRealTime();
BENCHMARK(BM_HttpPost16KiBPlain)->UseRealTime();
BENCHMARK(BM_HttpPost16KiBTls)->UseRealTime();

// Splitting a batch of 64 items shaped as a provision's envelope (a signed document of about
// 1.3 KB of base64url text, its signature and key id) into the items' texts, as each batch route
// does before it starts the items (docs/linkage-protocol.md, "Batches").
void BM_ParseBatchRequest64Envelopes(benchmark::State& state) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string document;
  for (size_t i = 0; i < 1300; ++i) document += kAlphabet[i % kAlphabet.size()];
  std::vector<std::string> items;
  for (int i = 0; i < 64; ++i) {
    items.push_back(R"({"document":")" + document + R"(","key_id":"k)" + std::to_string(i) +
                    R"(","signature":")" + document.substr(0, 86) + R"("})");
  }
  const std::string body = BatchRequestJson(items);
  for (auto _ : state) {
    Result<std::vector<std::string>> out = ParseBatchRequest(body);
    if (!out.ok() || out->size() != 64) state.SkipWithError("the batch did not parse");
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ParseBatchRequest64Envelopes)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace chukan::http

BENCHMARK_MAIN();
