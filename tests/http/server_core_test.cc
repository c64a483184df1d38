// The server core's guarantees, tried as an attacker would: handlers never run on (or block) an
// io thread; a gate refuses before any body byte is read; unknown paths never read a body;
// asynchronous handlers hold no thread while they wait; framing that a proxy could read
// differently is refused; uploads have a total-time limit; answers are marked no-store.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "common/status_matchers.h"
#include "http/client.h"
#include "http/server.h"
#include "wire_util.h"

namespace chukan::http {
namespace {

using ::chukan::http::testing::RawConnect;
using ::chukan::http::testing::ReadAll;
using ::chukan::http::testing::SendAll;
using ::chukan::http::testing::StartPlain;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using namespace std::chrono_literals;

std::string Url(const Server& s, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(s.port()) + path;
}

std::unique_ptr<Client> MakeClient() {
  auto c = Client::Create({});
  EXPECT_OK(c.status());
  return c.ok() ? std::move(*c) : nullptr;
}

Result<Response> Get(Client& c, const std::string& url) {
  ClientRequest r;
  r.url = url;
  return c.Send(r);
}

// A gate that lets through only "Authorization: Bearer good-token".
RouteOptions TokenGate(std::atomic<int>* gate_calls = nullptr) {
  RouteOptions o;
  o.gate = [gate_calls](Request& req) -> std::optional<Response> {
    if (gate_calls != nullptr) ++*gate_calls;
    Result<std::optional<std::string_view>> token = BearerToken(req);
    if (token.ok() && token->has_value() && **token == "good-token") return std::nullopt;
    return Response::Error(401, "UNAUTHENTICATED", "no", req.request_id);
  };
  o.max_body_bytes = 64 * 1024 * 1024;
  return o;
}

// Defect 0 (the whole-server deadlock): with one io thread, a handler that blocks (as the
// replica views did, waiting for the tenant's write lock) must not stop the server from
// answering anything else. Before the rebuild, handlers ran on the io thread and /healthz hung.
TEST(HttpServerCoreTest, ABlockedHandlerDoesNotStopTheIoThread) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> entered{0};
  Router r;
  ASSERT_OK(r.Add("GET", "/blocked", [&](Request&) {
    ++entered;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
    return Response::Text(200, "released");
  }));
  ServerOptions o;
  o.threads = 1;
  o.workers = 3;
  auto server = StartPlain(std::move(r), o);
  auto c1 = MakeClient();
  auto c2 = MakeClient();
  auto a = std::async(std::launch::async, [&] { return Get(*c1, Url(*server, "/blocked")); });
  auto b = std::async(std::launch::async, [&] { return Get(*c2, Url(*server, "/blocked")); });
  while (entered.load() < 2) std::this_thread::sleep_for(1ms);
  // Both blocked handlers hold workers; the io thread still serves.
  auto c3 = MakeClient();
  ASSERT_OK_AND_ASSIGN(Response health, Get(*c3, Url(*server, "/healthz")));
  EXPECT_EQ(health.status, 200);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_OK_AND_ASSIGN(Response ra, a.get());
  ASSERT_OK_AND_ASSIGN(Response rb, b.get());
  EXPECT_EQ(ra.body, "released");
  EXPECT_EQ(rb.body, "released");
}

// Defect 2: the gate runs when the header has arrived; a refused request's body is never read.
// The client announces 50 MB and sends none of it: the 401 comes at once and the connection is
// closed (before, the server waited for the body, reading up to the limit first).
TEST(HttpServerCoreTest, GateRefusesBeforeAnyBodyByteIsRead) {
  std::atomic<int> handler_calls{0};
  std::atomic<int> gate_calls{0};
  Router r;
  ASSERT_OK(r.Add(
      "POST", "/api",
      [&](Request&) {
        ++handler_calls;
        return Response::Text(200, "ran");
      },
      TokenGate(&gate_calls)));
  auto server = StartPlain(std::move(r));
  int fd = RawConnect(server->port());
  ASSERT_GE(fd, 0);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(SendAll(fd, "POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n"));
  std::string resp = ReadAll(fd);
  ::close(fd);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);  // not the 30 s body timeout
  EXPECT_THAT(resp, StartsWith("HTTP/1.1 401 "));
  EXPECT_THAT(resp, HasSubstr("Connection: close"));
  EXPECT_EQ(gate_calls.load(), 1);
  EXPECT_EQ(handler_calls.load(), 0);

  // With the right token the same route reads its body and runs.
  fd = RawConnect(server->port());
  ASSERT_TRUE(SendAll(fd,
                      "POST /api HTTP/1.1\r\nHost: x\r\nAuthorization: bearer good-token\r\n"
                      "Content-Length: 5\r\nConnection: close\r\n\r\nhello"));
  resp = ReadAll(fd);
  ::close(fd);
  EXPECT_THAT(resp, StartsWith("HTTP/1.1 200 "));
  EXPECT_EQ(handler_calls.load(), 1);
}

// A refused upload to a streaming route: the handler never starts and no body is pumped.
TEST(HttpServerCoreTest, GateRefusesAStreamingRouteBeforeItsBody) {
  std::atomic<int> handler_calls{0};
  Router r;
  ASSERT_OK(r.AddStreaming(
      "POST", "/upload",
      [&](Request&, BodyReader&) {
        ++handler_calls;
        return Response::Text(200, "ran");
      },
      TokenGate()));
  auto server = StartPlain(std::move(r));
  int fd = RawConnect(server->port());
  ASSERT_TRUE(SendAll(fd,
                      "POST /upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer bad\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"));
  std::string resp = ReadAll(fd);
  ::close(fd);
  EXPECT_THAT(resp, StartsWith("HTTP/1.1 401 "));
  EXPECT_EQ(handler_calls.load(), 0);
}

// Defect 2: unknown paths and wrong methods are answered from the header; their body is never
// read (before: read whole, up to the 1 GiB limit), and the connection is closed after them.
TEST(HttpServerCoreTest, UnknownPathsAndWrongMethodsNeverReadABody) {
  Router r;
  ASSERT_OK(r.Add("GET", "/known", [](Request&) { return Response::Text(200, "k"); }));
  auto server = StartPlain(std::move(r));
  for (const std::string head :
       {"POST /nowhere HTTP/1.1", "POST /known HTTP/1.1", "POST /healthz HTTP/1.1"}) {
    int fd = RawConnect(server->port());
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(SendAll(fd, head + "\r\nHost: x\r\nContent-Length: 1100000000\r\n\r\nabc"));
    std::string resp = ReadAll(fd);
    ::close(fd);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s) << head;
    EXPECT_THAT(resp, HasSubstr("Connection: close")) << head;
    if (head.find("nowhere") != std::string::npos) {
      EXPECT_THAT(resp, StartsWith("HTTP/1.1 404 "));
    } else {
      EXPECT_THAT(resp, StartsWith("HTTP/1.1 405 ")) << head;
    }
  }
}

// A Content-Length over the route's limit is refused before any body byte, and the client,
// still sending, reads the 413 rather than a connection reset (lingering close).
TEST(HttpServerCoreTest, OversizedUploadGets413NotAReset) {
  Router r;
  RouteOptions small;
  small.max_body_bytes = 1000;
  ASSERT_OK(r.Add(
      "POST", "/small", [](Request&) { return Response::Text(200, "ok"); }, small));
  auto server = StartPlain(std::move(r));
  int fd = RawConnect(server->port());
  ASSERT_TRUE(SendAll(fd, "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n"));
  // Keep sending while the server answers: without a lingering close, the unread bytes make
  // the kernel reset the connection and the answer can be lost.
  std::string chunk(64 * 1024, 'x');
  for (int i = 0; i < 30; ++i) {
    if (!SendAll(fd, chunk)) break;
  }
  std::string resp = ReadAll(fd);
  ::close(fd);
  EXPECT_THAT(resp, StartsWith("HTTP/1.1 413 "));
  EXPECT_THAT(resp, HasSubstr("BODY_TOO_LARGE"));
}

// Defect 4: an asynchronous handler holds no worker while it waits. With one worker, 50
// parked long polls do not delay an ordinary request, and each is answered when released.
TEST(HttpServerCoreTest, AsyncWaitsHoldNoThread) {
  std::mutex mu;
  std::vector<Responder> parked;
  Router r;
  ASSERT_OK(r.AddAsync("GET", "/wait", [&](Request& req, Responder out) {
    (void)req;
    std::lock_guard<std::mutex> lock(mu);
    parked.push_back(std::move(out));
  }));
  ASSERT_OK(r.Add("GET", "/quick", [](Request&) { return Response::Text(200, "quick"); }));
  ServerOptions o;
  o.threads = 1;
  o.workers = 1;
  auto server = StartPlain(std::move(r), o);
  constexpr int kWaits = 50;
  std::vector<int> fds;
  for (int i = 0; i < kWaits; ++i) {
    int fd = RawConnect(server->port());
    ASSERT_TRUE(SendAll(fd, "GET /wait HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    fds.push_back(fd);
  }
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (parked.size() == kWaits) break;
    }
    std::this_thread::sleep_for(1ms);
  }
  auto c = MakeClient();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(Response quick, Get(*c, Url(*server, "/quick")));
  EXPECT_EQ(quick.body, "quick");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  {
    std::lock_guard<std::mutex> lock(mu);
    for (size_t i = 0; i < parked.size(); ++i) {
      parked[i].Send(Response::Text(200, "answer " + std::to_string(i)));
    }
  }
  for (int fd : fds) {
    std::string resp = ReadAll(fd);
    ::close(fd);
    EXPECT_THAT(resp, StartsWith("HTTP/1.1 200 "));
    EXPECT_THAT(resp, HasSubstr("answer "));
  }
}

// A graceful stop waits for an asynchronous answer still to come, as for a handler still running
// (the hub's permit routes answer from their commit): sent within the grace, it reaches the
// caller, marked "Connection: close". One that comes after the grace ran out — even after the
// server is gone, as when a group committer drains its last writes at shutdown — is dropped
// without harm (under ASan, a use after free would end the test).
TEST(HttpServerCoreTest, AStopWaitsForAnAsyncAnswerWithinItsGraceAndDropsALateOne) {
  std::mutex mu;
  std::vector<Responder> parked;
  auto park = [&](Request&, Responder out) {
    std::lock_guard<std::mutex> lock(mu);
    parked.push_back(std::move(out));
  };
  auto wait_parked = [&](size_t n) {
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (parked.size() == n) return;
      }
      std::this_thread::sleep_for(1ms);
    }
  };
  Router r;
  ASSERT_OK(r.AddAsync("GET", "/wait", park));
  auto server = StartPlain(std::move(r));
  auto client = MakeClient();
  auto in_flight =
      std::async(std::launch::async, [&] { return Get(*client, Url(*server, "/wait")); });
  wait_parked(1);
  auto stopping = std::async(std::launch::async, [&] { server->Stop(10s); });
  std::this_thread::sleep_for(100ms);  // Stop has closed the listener and waits
  EXPECT_EQ(stopping.wait_for(0s), std::future_status::timeout);
  {
    std::lock_guard<std::mutex> lock(mu);
    parked[0].Send(Response::Text(200, "committed"));
  }
  Result<Response> answered = in_flight.get();
  ASSERT_EQ(stopping.wait_for(5s), std::future_status::ready);  // not the whole 10 s
  ASSERT_OK(answered.status());
  EXPECT_EQ(answered->status, 200);
  EXPECT_EQ(answered->body, "committed");
  EXPECT_EQ(answered->headers.Get("Connection"), "close");

  // The grace runs out first: the caller's connection is closed unanswered, and the answer,
  // sent once the server is destroyed, goes nowhere.
  parked.clear();
  Router r2;
  ASSERT_OK(r2.AddAsync("GET", "/wait", park));
  auto second = StartPlain(std::move(r2));
  auto other = MakeClient();
  auto late = std::async(std::launch::async, [&] { return Get(*client, Url(*second, "/wait")); });
  auto dropped = std::async(std::launch::async, [&] { return Get(*other, Url(*second, "/wait")); });
  wait_parked(2);
  second->Stop(200ms);
  EXPECT_FALSE(late.get().ok());
  EXPECT_FALSE(dropped.get().ok());
  second.reset();
  std::lock_guard<std::mutex> lock(mu);
  parked[0].Send(Response::Text(200, "too late"));
  EXPECT_FALSE(parked[0].pending());
  parked.clear();  // the other dropped unsent: its 500 goes nowhere either
}

// A Responder dropped without Send answers 500 instead of leaving the connection hanging.
TEST(HttpServerCoreTest, ADroppedResponderAnswers500) {
  Router r;
  ASSERT_OK(r.AddAsync("GET", "/drop", [](Request&, Responder) {}));
  auto server = StartPlain(std::move(r));
  auto c = MakeClient();
  ASSERT_OK_AND_ASSIGN(Response resp, Get(*c, Url(*server, "/drop")));
  EXPECT_EQ(resp.status, 500);
}

// Defect 7: Transfer-Encoding other than chunked together with Content-Length: a proxy could
// frame it by the coding and we by the length, so what follows would be served as a second
// request (smuggling). Answer 400 and close, and serve nothing after it.
TEST(HttpServerCoreTest, AmbiguousFramingIsRefusedAndNothingIsSmuggled) {
  std::atomic<int> calls{0};
  Router r;
  ASSERT_OK(r.Add("POST", "/echo", [&](Request& req) {
    ++calls;
    return Response::Text(200, req.body);
  }));
  ASSERT_OK(r.Add("GET", "/secret", [&](Request&) {
    ++calls;
    return Response::Text(200, "smuggled");
  }));
  auto server = StartPlain(std::move(r));
  const std::string smuggled = "GET /secret HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const std::string te : {"gzip", "chunked, identity", "identity"}) {
    int fd = RawConnect(server->port());
    ASSERT_TRUE(SendAll(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te +
                                "\r\nContent-Length: " + std::to_string(smuggled.size()) +
                                "\r\n\r\n" + smuggled));
    std::string resp = ReadAll(fd);
    ::close(fd);
    EXPECT_THAT(resp, StartsWith("HTTP/1.1 400 ")) << te;
    EXPECT_THAT(resp, Not(HasSubstr("smuggled"))) << te;
    EXPECT_THAT(resp, HasSubstr("Connection: close")) << te;
  }
  // Two Transfer-Encoding fields, and an unknown coding without a length, likewise.
  int fd = RawConnect(server->port());
  ASSERT_TRUE(SendAll(fd,
                      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
  EXPECT_THAT(ReadAll(fd), StartsWith("HTTP/1.1 400 "));
  ::close(fd);
  EXPECT_EQ(calls.load(), 0);
}

// Defect 7: answers carry no-store and nosniff (they may hold personal data).
TEST(HttpServerCoreTest, AnswersAreNotCachedNorSniffed) {
  Router r;
  ASSERT_OK(r.Add("GET", "/data", [](Request&) { return Response::Json(200, "{}"); }));
  auto server = StartPlain(std::move(r));
  auto c = MakeClient();
  for (const std::string path : {"/data", "/nowhere", "/healthz"}) {
    ASSERT_OK_AND_ASSIGN(Response resp, Get(*c, Url(*server, path)));
    EXPECT_EQ(resp.headers.Get("Cache-Control"), "no-store") << path;
    EXPECT_EQ(resp.headers.Get("X-Content-Type-Options"), "nosniff") << path;
  }
}

// A body trickled a byte at a time, never idle long enough for body_timeout, is still cut by
// the total-time limit (before, a client sending one byte every 5 s held an import forever).
TEST(HttpServerCoreTest, ATrickledUploadIsCutByTheTotalTimeLimit) {
  std::promise<Status> seen;
  Router r;
  RouteOptions big;
  big.max_body_bytes = 1 << 20;
  ASSERT_OK(r.AddStreaming(
      "POST", "/upload",
      [&](Request&, BodyReader& body) {
        char buf[64];
        for (;;) {
          Result<size_t> n = body.Read(buf, sizeof(buf));
          if (!n.ok()) {
            seen.set_value(n.status());
            break;
          }
          if (*n == 0) {
            seen.set_value(Status());
            break;
          }
        }
        return Response::Text(200, "done");
      },
      big));
  ServerOptions o;
  o.limits.body_timeout = 5s;
  o.limits.stream_body_total_timeout = 400ms;
  auto server = StartPlain(std::move(r), o);
  int fd = RawConnect(server->port());
  ASSERT_TRUE(SendAll(fd, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"));
  auto result = seen.get_future();
  for (int i = 0; i < 100; ++i) {
    if (result.wait_for(50ms) == std::future_status::ready) break;
    if (!SendAll(fd, "x")) break;
  }
  ASSERT_EQ(result.wait_for(5s), std::future_status::ready);
  Status st = result.get();
  EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(std::string(st.message()), HasSubstr("not complete within"));
  ::close(fd);
}

// /metrics is served to loopback peers by default, and with kToken only to the token.
TEST(HttpServerCoreTest, MetricsNeedTheTokenWhenConfigured) {
  ServerOptions o;
  o.metrics_access = MetricsAccess::kToken;
  o.metrics_token = "metrics-token-0123456789";
  auto server = StartPlain(Router(), o);
  auto c = MakeClient();
  ASSERT_OK_AND_ASSIGN(Response denied, Get(*c, Url(*server, "/metrics")));
  EXPECT_EQ(denied.status, 403);
  ClientRequest req;
  req.url = Url(*server, "/metrics");
  req.headers.Add("Authorization", "Bearer metrics-token-0123456789");
  ASSERT_OK_AND_ASSIGN(Response ok, c->Send(req));
  EXPECT_EQ(ok.status, 200);
  EXPECT_THAT(ok.body, HasSubstr("chukan_http_requests_total"));
  ServerOptions short_token;
  short_token.metrics_access = MetricsAccess::kToken;
  short_token.metrics_token = "short";
  EXPECT_THAT(Server::Create(short_token, Router()).status(),
              ::chukan::testing::StatusIs(StatusCode::kInvalidArgument));
}

// /readyz tells a load balancer whether the node takes requests: the owner's readiness
// function, asked at each probe, never routed to a handler; a router may not take the path.
TEST(HttpServerCoreTest, ReadyzAnswersFromTheReadinessFunction) {
  std::atomic<bool> ready{true};
  ServerOptions o;
  o.readiness = [&ready]() -> Status {
    if (ready.load()) return Status();
    return UnavailableError("the database does not take writes (last write 7 s ago)");
  };
  auto server = StartPlain(Router(), o);
  auto c = MakeClient();
  ASSERT_OK_AND_ASSIGN(Response yes, Get(*c, Url(*server, "/readyz")));
  EXPECT_EQ(yes.status, 200);
  EXPECT_EQ(yes.body, "{\"status\":\"ready\"}");
  ready.store(false);
  ASSERT_OK_AND_ASSIGN(Response no, Get(*c, Url(*server, "/readyz")));
  EXPECT_EQ(no.status, 503);
  EXPECT_EQ(no.body,
            "{\"status\":\"not_ready\",\"reason\":\"the database does not take writes (last "
            "write 7 s ago)\"}");
  EXPECT_EQ(no.headers.Get("Retry-After").value_or(""), "1");
  // /healthz stays 200: the process lives, it only should not get traffic.
  ASSERT_OK_AND_ASSIGN(Response health, Get(*c, Url(*server, "/healthz")));
  EXPECT_EQ(health.status, 200);
  // Without a readiness function, ready as soon as it listens.
  auto plain = StartPlain(Router(), ServerOptions());
  ASSERT_OK_AND_ASSIGN(Response always, Get(*c, Url(*plain, "/readyz")));
  EXPECT_EQ(always.status, 200);
  Router taken;
  ASSERT_OK(taken.Add("GET", "/readyz", [](Request&) { return Response::Text(200, "mine"); }));
  EXPECT_THAT(Server::Create(ServerOptions(), std::move(taken)).status(),
              ::chukan::testing::StatusIs(StatusCode::kInvalidArgument, HasSubstr("/readyz")));
}

// Found by fuzzing (fuzz/http_request_fuzz.cc, `make test-fuzz`): an empty chunked body whose
// last-chunk arrived on its own ("0\r\n") and then one more byte made Boost.Beast 1.81's chunk
// parser fail an assertion (basic_parser.ipp: `n >= 5`) and abort the whole process — in a
// build with assertions, from two TCP segments any client can send. chukan_http is compiled
// with BOOST_DISABLE_ASSERTS, so every build parses it as a release build does: correctly.
TEST(HttpServerCoreTest, ALastChunkSplitAcrossReadsIsParsedNotAsserted) {
  Router r;
  ASSERT_OK(r.Add("POST", "/echo", [](Request& req) {
    return Response::Text(200, "len=" + std::to_string(req.body.size()));
  }));
  ASSERT_OK(r.AddStreaming("POST", "/upload", [](Request&, BodyReader& body) {
    std::string all;
    char buf[64];
    for (;;) {
      Result<size_t> n = body.Read(buf, sizeof(buf));
      if (!n.ok()) return Response::Text(400, "read failed");
      if (*n == 0) break;
      all.append(buf, *n);
    }
    return Response::Text(200, "len=" + std::to_string(all.size()));
  }));
  auto server = StartPlain(std::move(r));
  for (const std::string path : {"/echo", "/upload"}) {
    int fd = RawConnect(server->port());
    ASSERT_TRUE(SendAll(fd, "POST " + path +
                                " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                "Transfer-Encoding: chunked\r\n\r\n0\r\n"));
    std::this_thread::sleep_for(150ms);  // the server reads the last-chunk alone
    ASSERT_TRUE(SendAll(fd, "\r"));
    std::this_thread::sleep_for(150ms);  // and then one byte: the parser sees 4 bytes
    ASSERT_TRUE(SendAll(fd, "\n"));
    std::string resp = ReadAll(fd);
    ::close(fd);
    EXPECT_THAT(resp, StartsWith("HTTP/1.1 200 ")) << path;
    EXPECT_THAT(resp, HasSubstr("len=0")) << path;
  }
}

}  // namespace
}  // namespace chukan::http
