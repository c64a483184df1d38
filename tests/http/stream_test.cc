// Over 600 lines: the streamed request and response bodies of http::Server and http::Client —
// backpressure, limits, timeouts, aborts — each case on its own loopback server.
//
// Streaming request and response bodies on real loopback sockets (port 0), plain and TLS:
// bounded buffering of large bodies, chunked framing, limits, timeouts, early handler returns,
// disconnects, producer failures, and the client's streaming API.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "common/status_matchers.h"
#include "common/test_util.h"
#include "http/client.h"
#include "http/server.h"
#include "pki/certificate_authority.h"
#include "wire_util.h"

namespace chukan::http {
namespace {

using ::chukan::http::testing::RawConnect;
using ::chukan::http::testing::ReadAll;
using ::chukan::http::testing::SendAll;
using ::chukan::http::testing::StartPlain;
using ::chukan::testing::StatusIs;
using ::chukan::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace std::chrono_literals;

constexpr uint64_t kMiB = 1024 * 1024;
// The large bodies: 64 MiB, or 16 MiB under a sanitizer (TSan runs this 5–10× slower, and a
// 16 MiB body is still 16 times the bound on what a stream may buffer).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr uint64_t kLargeBody = 16 * kMiB;
#else
constexpr uint64_t kLargeBody = 64 * kMiB;
#endif

// The options of a route that takes large bodies (routes default to a small limit).
RouteOptions Large(uint64_t max_body_bytes = uint64_t{4} << 30) {
  RouteOptions o;
  o.max_body_bytes = max_body_bytes;
  return o;
}
constexpr uint64_t kBufferBound = 4 * 256 * 1024;  // the documented per-stream bound

// SHA-256, hex.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  }
  void Update(std::string_view d) { EVP_DigestUpdate(ctx_.get(), d.data(), d.size()); }
  std::string Hex() {
    unsigned char md[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &len);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out.push_back(kHex[md[i] >> 4]);
      out.push_back(kHex[md[i] & 0xf]);
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

// Deterministic pseudo-random bytes (splitmix64 of the 8-byte block index), so that 64 MiB
// bodies never have to be held in memory by the test either.
class GenSource final : public BodySource {
 public:
  GenSource(uint64_t total, uint64_t seed) : total_(total), seed_(seed) {}
  Result<size_t> Read(char* buf, size_t n) override {
    size_t k = static_cast<size_t>(std::min<uint64_t>(n, total_ - pos_));
    for (size_t i = 0; i < k; ++i, ++pos_) {
      if (pos_ % 8 == 0) block_ = Mix(seed_ + pos_ / 8);
      buf[i] = static_cast<char>(block_ >> (8 * (pos_ % 8)));
    }
    return k;
  }
  static uint64_t Mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t total_;
  uint64_t seed_;
  uint64_t pos_ = 0;
  uint64_t block_ = 0;
};

std::string ExpectedHash(uint64_t total, uint64_t seed) {
  GenSource src(total, seed);
  Sha256 h;
  std::string buf(256 * 1024, '\0');
  for (;;) {
    size_t n = *src.Read(buf.data(), buf.size());
    if (n == 0) break;
    h.Update(std::string_view(buf.data(), n));
  }
  return h.Hex();
}

// Reads a whole body in pieces of `piece` bytes: "<bytes> <sha256>", or the error.
std::string HashBody(BodyReader& body, size_t piece = 64 * 1024) {
  Sha256 h;
  std::string buf(piece, '\0');
  uint64_t total = 0;
  for (;;) {
    Result<size_t> n = body.Read(buf.data(), buf.size());
    if (!n.ok()) return "error " + n.status().ToString();
    if (*n == 0) break;
    total += *n;
    h.Update(std::string_view(buf.data(), *n));
  }
  return std::to_string(total) + " " + h.Hex();
}

uint64_t MetricValue(const std::string& text, const std::string& series) {
  size_t pos = text.find("\n" + series + " ");
  if (pos == std::string::npos) return 0;
  return std::stoull(text.substr(pos + series.size() + 2));
}

// What a streaming handler saw, for the test thread to wait on.
struct Seen {
  std::promise<std::string> result;
  std::atomic<int> calls{0};
};

// ---- the fixture: plain or TLS ---------------------------------------------------------------

class HttpStreamTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (tls()) {
      ASSERT_OK_AND_ASSIGN(ca_, pki::CertificateAuthority::Init(dir_.File("ca")));
      pki::IssueRequest req;
      req.name = "server";
      req.server_hosts = {"127.0.0.1"};
      ASSERT_OK(ca_->Issue(req).status());
    }
  }
  bool tls() const { return GetParam(); }

  std::unique_ptr<Server> Start(Router r, ServerOptions o = {}) {
    if (tls()) {
      o.tls = true;
      o.tls_options.cert_file = dir_.File("ca/server.crt");
      o.tls_options.key_file = dir_.File("ca/server.key");
    }
    auto s = Server::Create(std::move(o), std::move(r));
    EXPECT_OK(s.status());
    if (!s.ok()) return nullptr;
    EXPECT_OK((*s)->Start());
    return std::move(*s);
  }
  std::unique_ptr<Client> MakeClient(ClientOptions o = {}) {
    if (tls()) o.ca_file = dir_.File("ca/ca.crt");
    auto c = Client::Create(std::move(o));
    EXPECT_OK(c.status());
    return c.ok() ? std::move(*c) : nullptr;
  }
  std::string Url(const Server& s, const std::string& path) const {
    return std::string(tls() ? "https" : "http") + "://127.0.0.1:" + std::to_string(s.port()) +
           path;
  }
  ClientRequest Req(const Server& s, std::string method, const std::string& path) const {
    ClientRequest r;
    r.method = std::move(method);
    r.url = Url(s, path);
    return r;
  }

  TempDir dir_;
  std::unique_ptr<pki::CertificateAuthority> ca_;
};

Router HashRouter() {
  Router r;
  EXPECT_OK(r.AddStreaming(
      "POST", "/upload",
      [](Request& req, BodyReader& body) {
        std::string seen = HashBody(body);
        // Request::body stays empty for streaming routes.
        return Response::Text(200, seen + (req.body.empty() ? "" : " (body not empty!)"));
      },
      Large()));
  return r;
}

TEST_P(HttpStreamTest, LargeUploadIsStreamedWithBoundedBufferAndProgress) {
  auto server = Start(HashRouter());
  ASSERT_NE(server, nullptr);
  auto client = MakeClient();
  const uint64_t size = kLargeBody;
  const std::string expected = std::to_string(size) + " " + ExpectedHash(size, 7);
  for (bool chunked : {false, true}) {
    SCOPED_TRACE(chunked ? "chunked" : "content-length");
    GenSource src(size, 7);
    std::vector<uint64_t> progress;
    ASSERT_OK_AND_ASSIGN(
        Response r,
        client->SendStreaming(Req(*server, "POST", "/upload"), &src,
                              chunked ? std::nullopt : std::optional<uint64_t>(size), nullptr,
                              [&](uint64_t sent) { progress.push_back(sent); }));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, expected);
    ASSERT_FALSE(progress.empty());
    EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
    EXPECT_EQ(progress.back(), size);
    // Reported as it goes (once per chunk of at most 256 KiB), not once at the end.
    EXPECT_GE(progress.size(), size / (256 * 1024));
  }
  // Never more than 4 × 256 KiB of the body buffered at once.
  EXPECT_GT(server->MaxStreamBufferedBytes(), 0u);
  EXPECT_LE(server->MaxStreamBufferedBytes(), kBufferBound);
  // Scraped over the same connection: both uploads are counted by then.
  ASSERT_OK_AND_ASSIGN(Response metrics, client->Send(Req(*server, "GET", "/metrics")));
  const std::string& m = metrics.body;
  EXPECT_EQ(MetricValue(m, "chukan_http_streamed_requests_total"), 2u);
  EXPECT_EQ(
      MetricValue(m, R"(chukan_http_requests_total{method="POST",route="/upload",code="2xx"})"),
      2u);
  EXPECT_EQ(MetricValue(m, "chukan_http_connections_total"), 1u);  // kept alive
}

TEST_P(HttpStreamTest, LargeResponseIsStreamedChunkByChunk) {
  const uint64_t size = kLargeBody;
  Router r;
  // An ordinary route whose response streams; odd write sizes exercise coalescing.
  ASSERT_OK(r.Add("GET", "/export", [size](Request&) {
    Response resp(200, "application/octet-stream", "");
    resp.headers.Set("X-Kind", "export");
    resp.stream = [size](BodyWriter& w) -> Status {
      GenSource src(size, 11);
      std::string buf(100'003, '\0');
      for (;;) {
        size_t n = *src.Read(buf.data(), buf.size());
        if (n == 0) return Status::Ok();
        RETURN_IF_ERROR(w.Write(std::string_view(buf.data(), n)));
      }
    };
    return resp;
  }));
  auto server = Start(std::move(r));
  auto client = MakeClient();
  Sha256 h;
  uint64_t received = 0;
  int pieces = 0;
  ASSERT_OK_AND_ASSIGN(Response resp, client->SendStreaming(
                                          Req(*server, "GET", "/export"), nullptr, std::nullopt,
                                          [&](std::string_view piece) {
                                            h.Update(piece);
                                            received += piece.size();
                                            ++pieces;
                                            return Status::Ok();
                                          },
                                          nullptr));
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "");
  EXPECT_EQ(resp.headers.Get("Transfer-Encoding"), "chunked");
  EXPECT_EQ(resp.headers.Get("X-Kind"), "export");
  EXPECT_FALSE(resp.headers.Has("Content-Length"));
  EXPECT_EQ(received, size);
  EXPECT_GE(pieces, 64);  // delivered as it came, at most 256 KiB at a time
  EXPECT_EQ(h.Hex(), ExpectedHash(size, 11));
  // Scraped over the same connection, so the streamed response is complete on the server too.
  ASSERT_OK_AND_ASSIGN(Response metrics, client->Send(Req(*server, "GET", "/metrics")));
  EXPECT_EQ(MetricValue(metrics.body, "chukan_http_streamed_responses_total"), 1u);
  EXPECT_EQ(MetricValue(metrics.body, "chukan_http_connections_total"), 1u);
  const uint64_t peak = MetricValue(metrics.body, "chukan_http_stream_buffered_bytes_max");
  EXPECT_GT(peak, 0u);
  EXPECT_LE(peak, kBufferBound);
  EXPECT_EQ(server->MaxStreamBufferedBytes(), peak);

  // The ordinary Send reassembles a chunked response into Response::body.
  ClientOptions big;
  big.max_response_bytes = 128 * kMiB;
  auto client2 = MakeClient(big);
  ASSERT_OK_AND_ASSIGN(Response whole, client2->Send(Req(*server, "GET", "/export")));
  EXPECT_EQ(whole.body.size(), size);
  Sha256 h2;
  h2.Update(whole.body);
  EXPECT_EQ(h2.Hex(), ExpectedHash(size, 11));
}

TEST_P(HttpStreamTest, StreamingRouteCanStreamItsResponseToo) {
  Router r;
  ASSERT_OK(r.AddStreaming(
      "POST", "/transform",
      [](Request&, BodyReader& body) {
        std::string seen = HashBody(body, 1000);
        Response resp(200, "text/plain", "");
        resp.stream = [seen](BodyWriter& w) -> Status {
          for (int i = 0; i < 3; ++i) RETURN_IF_ERROR(w.Write(seen + "\n"));
          w.Flush();
          return Status::Ok();
        };
        return resp;
      },
      Large()));
  auto server = Start(std::move(r));
  auto client = MakeClient();
  GenSource src(3 * kMiB + 5, 3);
  ASSERT_OK_AND_ASSIGN(Response resp, client->SendStreaming(Req(*server, "POST", "/transform"),
                                                            &src, 3 * kMiB + 5, nullptr, nullptr));
  const std::string line = std::to_string(3 * kMiB + 5) + " " + ExpectedHash(3 * kMiB + 5, 3);
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, line + "\n" + line + "\n" + line + "\n");
}

TEST_P(HttpStreamTest, ProducerErrorMidResponseIsAnErrorForTheClient) {
  Router r;
  ASSERT_OK(r.Add("GET", "/broken", [](Request&) {
    Response resp(200, "application/octet-stream", "");
    resp.stream = [](BodyWriter& w) -> Status {
      std::string mib(kMiB, 'x');
      for (int i = 0; i < 2; ++i) RETURN_IF_ERROR(w.Write(mib));
      return DataLossError("store: cursor failed");
    };
    return resp;
  }));
  auto server = Start(std::move(r));
  auto client = MakeClient();
  uint64_t received = 0;
  auto streamed = client->SendStreaming(
      Req(*server, "GET", "/broken"), nullptr, std::nullopt,
      [&](std::string_view piece) {
        received += piece.size();
        return Status::Ok();
      },
      nullptr);
  EXPECT_THAT(streamed, StatusIs(StatusCode::kUnavailable));
  EXPECT_LE(received, 2 * kMiB);
  // Plain Send: an error too, never a silently short body.
  EXPECT_THAT(client->Send(Req(*server, "GET", "/broken")), StatusIs(StatusCode::kUnavailable));
}

TEST_P(HttpStreamTest, ResponseCallbackErrorStopsTheExchange) {
  Router r;
  ASSERT_OK(r.Add("GET", "/big", [](Request&) {
    Response resp(200, "application/octet-stream", "");
    resp.stream = [](BodyWriter& w) -> Status {
      std::string mib(kMiB, 'y');
      for (int i = 0; i < 32; ++i) RETURN_IF_ERROR(w.Write(mib));
      return Status::Ok();
    };
    return resp;
  }));
  auto server = Start(std::move(r));
  auto client = MakeClient();
  EXPECT_THAT(client->SendStreaming(
                  Req(*server, "GET", "/big"), nullptr, std::nullopt,
                  [](std::string_view) { return ResourceExhaustedError("disk full"); }, nullptr),
              StatusIs(StatusCode::kResourceExhausted, HasSubstr("disk full")));
  // The client and server are still usable.
  ASSERT_OK_AND_ASSIGN(Response h, client->Send(Req(*server, "GET", "/healthz")));
  EXPECT_EQ(h.status, 200);
  // An error document is not given to the callback: it lands in Response::body.
  int calls = 0;
  ASSERT_OK_AND_ASSIGN(Response nf, client->SendStreaming(
                                        Req(*server, "GET", "/nope"), nullptr, std::nullopt,
                                        [&](std::string_view) {
                                          ++calls;
                                          return Status::Ok();
                                        },
                                        nullptr));
  EXPECT_EQ(nf.status, 404);
  EXPECT_THAT(nf.body, HasSubstr("NOT_FOUND"));
  EXPECT_EQ(calls, 0);
}

TEST_P(HttpStreamTest, ChunkedUploadOverTheStreamLimitGets413) {
  std::promise<std::string> seen;
  Router r;
  ASSERT_OK(r.AddStreaming(
      "POST", "/upload",
      [&seen](Request&, BodyReader& body) {
        seen.set_value(HashBody(body));
        return Response::Text(200, "accepted");
      },
      Large(2 * kMiB)));
  ServerOptions o;
  auto server = Start(std::move(r), o);
  auto client = MakeClient();
  GenSource src(3 * kMiB, 1);
  auto resp =
      client->SendStreaming(Req(*server, "POST", "/upload"), &src, std::nullopt, nullptr, nullptr);
  EXPECT_THAT(seen.get_future().get(), HasSubstr("RESOURCE_EXHAUSTED"));
  // The server answers 413 and closes; the client reads that answer although its upload was
  // cut short.
  ASSERT_OK(resp.status());
  EXPECT_EQ(resp->status, 413);
  EXPECT_THAT(resp->body, HasSubstr("BODY_TOO_LARGE"));
  EXPECT_EQ(resp->headers.Get("Connection"), "close");
}

TEST_P(HttpStreamTest, ServerSideErrorsOfTheClientApi) {
  auto server = Start(HashRouter());
  auto client = MakeClient();
  // Upload length mismatch: refused by the client, the source produced more.
  GenSource longer(1000, 1);
  EXPECT_THAT(
      client->SendStreaming(Req(*server, "POST", "/upload"), &longer, 999, nullptr, nullptr),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("upload_length")));
  GenSource shorter(1000, 1);
  EXPECT_THAT(
      client->SendStreaming(Req(*server, "POST", "/upload"), &shorter, 1001, nullptr, nullptr),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("upload_length")));
  // The source's own error is returned as is.
  class Failing final : public BodySource {
   public:
    Result<size_t> Read(char* buf, size_t n) override {
      if (calls_++ == 0) {
        std::fill(buf, buf + std::min<size_t>(n, 10), 'a');
        return std::min<size_t>(n, 10);
      }
      return DataLossError("disk read failed");
    }
    int calls_ = 0;
  } failing;
  EXPECT_THAT(client->SendStreaming(Req(*server, "POST", "/upload"), &failing, std::nullopt,
                                    nullptr, nullptr),
              StatusIs(StatusCode::kDataLoss, HasSubstr("disk read failed")));
  ClientRequest both = Req(*server, "POST", "/upload");
  both.body = "x";
  GenSource src(1, 1);
  EXPECT_THAT(client->SendStreaming(both, &src, 1, nullptr, nullptr),
              StatusIs(StatusCode::kInvalidArgument));
  // After all that, an ordinary exchange works.
  GenSource ok(10, 2);
  ASSERT_OK_AND_ASSIGN(Response r, client->SendStreaming(Req(*server, "POST", "/upload"), &ok, 10,
                                                         nullptr, nullptr));
  EXPECT_EQ(r.body, "10 " + ExpectedHash(10, 2));
}

INSTANTIATE_TEST_SUITE_P(PlainAndTls, HttpStreamTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Tls" : "Plain";
                         });

// ---- wire-level cases (plain TCP, raw sockets) ------------------------------------------------

TEST(HttpStreamWireTest, ChunkedRequestBodyWithExtensionsAndTrailers) {
  Router r;
  ASSERT_OK(r.AddStreaming(
      "POST", "/echo",
      [](Request& req, BodyReader& body) {
        std::string all;
        char buf[3];  // tiny reads across chunk boundaries
        for (;;) {
          auto n = body.Read(buf, sizeof(buf));
          if (!n.ok()) return FromStatus(n.status(), req.request_id);
          if (*n == 0) break;
          all.append(buf, *n);
        }
        return Response::Text(200, all);
      },
      Large()));
  auto server = StartPlain(std::move(r));
  int fd = RawConnect(server->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd,
                      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                      "Connection: close\r\n\r\n"
                      "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"));
  std::string resp = ReadAll(fd);
  ::close(fd);
  EXPECT_THAT(resp, StartsWith("HTTP/1.1 200 "));
  EXPECT_THAT(resp, HasSubstr("\r\n\r\nhello, world"));
}

TEST(HttpStreamWireTest, ContentLengthOverTheStreamLimitIsRefusedBeforeTheHandler) {
  std::atomic<int> calls{0};
  Router r;
  ASSERT_OK(r.AddStreaming(
      "POST", "/upload",
      [&](Request&, BodyReader&) {
        ++calls;
        return Response::Text(200, "ran");
      },
      Large(1000)));
  ServerOptions o;
  auto server = StartPlain(std::move(r), o);
  int fd = RawConnect(server->port());
  ASSERT_TRUE(SendAll(fd, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n"));
  std::string resp = ReadAll(fd);
  ::close(fd);
  EXPECT_THAT(resp, StartsWith("HTTP/1.1 413 "));
  EXPECT_THAT(resp, HasSubstr("Connection: close"));
  EXPECT_EQ(calls.load(), 0);
  fd = RawConnect(server->port());
  ASSERT_TRUE(SendAll(fd,
                      "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
                      "Connection: close\r\n\r\n" +
                          std::string(1000, 'z')));
  resp = ReadAll(fd);
  ::close(fd);
  EXPECT_THAT(resp, StartsWith("HTTP/1.1 200 "));
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpStreamWireTest, StalledBodyFailsTheReaderWithDeadlineAndClosesTheConnection) {
  std::promise<std::string> seen;
  Router r;
  ASSERT_OK(r.AddStreaming(
      "POST", "/upload",
      [&seen](Request&, BodyReader& body) {
        seen.set_value(HashBody(body));
        return Response::Text(200, "should not be sent");
      },
      Large()));
  ServerOptions o;
  o.limits.body_timeout = 200ms;
  auto server = StartPlain(std::move(r), o);
  int fd = RawConnect(server->port());
  ASSERT_TRUE(SendAll(fd, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab"));
  auto t0 = std::chrono::steady_clock::now();
  std::string resp = ReadAll(fd);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ::close(fd);
  EXPECT_THAT(seen.get_future().get(), HasSubstr("DEADLINE_EXCEEDED"));
  EXPECT_EQ(resp, "");  // closed without a response
  EXPECT_GE(elapsed, 150ms);
  EXPECT_LT(elapsed, 3s);
}

TEST(HttpStreamWireTest, ClientDisconnectMidUploadIsUnavailableInTheHandler) {
  std::promise<std::string> seen;
  std::promise<void> got_some;
  Router r;
  ASSERT_OK(r.AddStreaming(
      "POST", "/upload",
      [&](Request&, BodyReader& body) {
        char buf[100];
        auto first = body.Read(buf, sizeof(buf));
        got_some.set_value();
        if (!first.ok()) {
          seen.set_value("first read: " + first.status().ToString());
        } else {
          seen.set_value(HashBody(body));
        }
        return Response::Text(200, "unused");
      },
      Large()));
  auto server = StartPlain(std::move(r));
  int fd = RawConnect(server->port());
  ASSERT_TRUE(SendAll(fd, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n" +
                              std::string(1000, 'q')));
  got_some.get_future().wait();
  ::close(fd);
  EXPECT_THAT(seen.get_future().get(), HasSubstr("UNAVAILABLE"));
}

TEST(HttpStreamWireTest, HandlerStoppingEarlyWithinTheDiscardLimitKeepsTheConnection) {
  std::atomic<int> calls{0};
  Router r;
  ASSERT_OK(r.AddStreaming(
      "POST", "/peek",
      [&](Request&, BodyReader& body) {
        ++calls;
        char c;
        auto n = body.Read(&c, 1);
        return Response::Text(200, n.ok() && *n == 1 ? std::string("peeked ") + c : "no byte");
      },
      Large()));
  auto server = StartPlain(std::move(r));
  auto client = *Client::Create({});
  const std::string url = "http://127.0.0.1:" + std::to_string(server->port()) + "/peek";
  for (int i = 0; i < 3; ++i) {
    GenSource src(512 * 1024, 5);  // < stream_discard_bytes (1 MiB)
    ClientRequest req;
    req.method = "POST";
    req.url = url;
    ASSERT_OK_AND_ASSIGN(Response resp,
                         client->SendStreaming(req, &src, 512 * 1024, nullptr, nullptr));
    EXPECT_EQ(resp.status, 200);
    EXPECT_THAT(resp.body, StartsWith("peeked "));
    EXPECT_FALSE(resp.headers.Has("Connection"));
  }
  EXPECT_EQ(calls.load(), 3);
  // The rest of each body was discarded and the connection reused.
  EXPECT_EQ(MetricValue(server->MetricsText(), "chukan_http_connections_total"), 1u);
}

TEST(HttpStreamWireTest, HandlerStoppingEarlyBeyondTheDiscardLimitClosesAfterTheResponse) {
  Router r;
  ASSERT_OK(r.AddStreaming(
      "POST", "/reject",
      [](Request& req, BodyReader&) {
        return Response::Error(403, "PERMISSION_DENIED", "not allowed", req.request_id);
      },
      Large()));
  ServerOptions o;
  o.limits.stream_discard_bytes = 64 * 1024;
  auto server = StartPlain(std::move(r), o);
  int fd = RawConnect(server->port());
  // 8 MiB announced, 100 KiB sent: the server answers without waiting for the rest.
  ASSERT_TRUE(SendAll(fd, "POST /reject HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n" +
                              std::string(100 * 1024, 'r')));
  std::string resp = ReadAll(fd);
  ::close(fd);
  EXPECT_THAT(resp, StartsWith("HTTP/1.1 403 "));
  EXPECT_THAT(resp, HasSubstr("Connection: close"));
  EXPECT_THAT(resp, HasSubstr("PERMISSION_DENIED"));
}

TEST(HttpStreamWireTest, Http10ClientGetsAStreamedBodyEndedByClose) {
  Router r;
  std::atomic<int> produced{0};
  auto handler = [&produced](Request&) {
    Response resp(200, "text/plain", "");
    resp.stream = [&produced](BodyWriter& w) {
      ++produced;
      return w.Write("streamed body");
    };
    return resp;
  };
  ASSERT_OK(r.Add("GET", "/s", handler));
  ASSERT_OK(r.Add("HEAD", "/s", handler));
  auto server = StartPlain(std::move(r));
  int fd = RawConnect(server->port());
  ASSERT_TRUE(SendAll(fd, "GET /s HTTP/1.0\r\n\r\n"));
  std::string resp = ReadAll(fd);
  ::close(fd);
  EXPECT_THAT(resp, StartsWith("HTTP/1.1 200 "));
  EXPECT_EQ(resp.find("Transfer-Encoding"), std::string::npos);
  EXPECT_THAT(resp, HasSubstr("Connection: close"));
  EXPECT_THAT(resp, ::testing::EndsWith("\r\n\r\nstreamed body"));
  // HEAD: the header only, and the producer is not run.
  fd = RawConnect(server->port());
  ASSERT_TRUE(SendAll(fd, "HEAD /s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  resp = ReadAll(fd);
  ::close(fd);
  EXPECT_THAT(resp, StartsWith("HTTP/1.1 200 "));
  EXPECT_THAT(resp, HasSubstr("Transfer-Encoding: chunked"));
  EXPECT_THAT(resp, ::testing::EndsWith("\r\n\r\n"));
  EXPECT_EQ(produced.load(), 1);  // only for the GET
}

TEST(HttpStreamWireTest, StopUnblocksAHandlerWaitingForBody) {
  std::promise<std::string> seen;
  std::promise<void> entered;
  Router r;
  ASSERT_OK(r.AddStreaming(
      "POST", "/upload",
      [&](Request&, BodyReader& body) {
        entered.set_value();
        seen.set_value(HashBody(body));
        return Response::Text(200, "late");
      },
      Large()));
  auto server = StartPlain(std::move(r));
  int fd = RawConnect(server->port());
  ASSERT_TRUE(SendAll(fd, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab"));
  entered.get_future().wait();
  server->Stop(0s);  // returns: the handler is failed rather than left blocked
  EXPECT_THAT(seen.get_future().get(), HasSubstr("UNAVAILABLE"));
  ::close(fd);
}

}  // namespace
}  // namespace chukan::http
