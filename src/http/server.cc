// The HTTP server. All Beast/Asio code of the server side lives in this file (compile time).
//
// Why one file of ~1,300 lines: Beast's templates dominate a 2-core build, and every translation
// unit that includes them costs about a minute; the session loop, the streamed request and
// response pumps and the dispatch to workers are instantiated together here. The parts that
// need no Beast live apart: router.cc, message.cc, stream_pipe.cc, server_metrics.cc, and the
// certificate → organisation rule in pki/certificate_identity.cc.
#include "http/server.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/mutex.h"
#include "common/thread_name.h"
#include "http/asio_waker.h"
#include "http/server_metrics.h"
#include "http/stream_pipe.h"
#include "pki/certificate_identity.h"

namespace chukan::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using internal::WaitForWake;
using internal::WakeFn;
using internal::Waker;

namespace {

constexpr auto kUse = asio::as_tuple(asio::use_awaitable);

// The status a worker's gate check answers with when the gate let the request through (never
// sent to a client).
constexpr int kGatePassed = 0;

// ---- small helpers ---------------------------------------------------------------------------

// "Date: Thu, 26 Nov 2026 15:23:46 GMT\r\n", recomputed at most once per second per thread.
std::string_view DateHeader() {
  thread_local std::time_t cached_second = 0;
  thread_local char buf[64];
  thread_local size_t len = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    len = std::strftime(buf, sizeof(buf), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    cached_second = now;
  }
  return std::string_view(buf, len);
}

bool HasCrLf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// Compares without an early exit, so the time taken does not tell how much of a secret matched.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(static_cast<unsigned char>(a[i]) ^
                                       static_cast<unsigned char>(b[i]));
  }
  return diff == 0;
}

// Request ids: a random per-server prefix and a counter. Unique per server run and cheap (no
// syscall per request); they are correlation handles, not secrets.
class RequestIdSource {
 public:
  RequestIdSource() : prefix_(RequestId::Generate().str().substr(0, 16)) {}
  RequestId Next() {
    uint64_t n = counter_.fetch_add(1, std::memory_order_relaxed);
    static constexpr char kHex[] = "0123456789abcdef";
    char buf[32];
    std::memcpy(buf, prefix_.data(), 16);
    for (int i = 31; i >= 16; --i, n >>= 4) buf[i] = kHex[n & 0xf];
    auto id = RequestId::Parse(std::string_view(buf, sizeof(buf)));
    return id.ok() ? *id : RequestId::Generate();
  }

 private:
  const std::string prefix_;
  std::atomic<uint64_t> counter_{0};
};

// The verified client certificate's identity, read by the one rule the PKI also uses
// (pki::DescribeCertificate); nothing when the client sent none or it did not verify.
std::optional<PeerIdentity> IdentityFromSsl(SSL* ssl_handle) {
  X509* cert = SSL_get0_peer_certificate(ssl_handle);
  if (cert == nullptr || SSL_get_verify_result(ssl_handle) != X509_V_OK) return std::nullopt;
  Result<pki::CertificateInfo> info = pki::DescribeCertificate(cert);
  if (!info.ok()) return std::nullopt;
  return PeerIdentity{std::move(info->common_name), info->org, std::move(info->sha256)};
}

// The paths the server answers itself, from the header alone.
bool IsBuiltIn(std::string_view path) {
  return path == "/healthz" || path == "/readyz" || path == "/metrics";
}

// The label of each route index the metrics count: the router's patterns, then the built-in
// routes in the order of healthz_route(), readyz_route(), metrics_route() and unmatched_route().
std::vector<std::string> RouteLabels(const Router& router) {
  std::vector<std::string> labels;
  labels.reserve(router.route_count() + 4);
  for (size_t r = 0; r < router.route_count(); ++r) labels.emplace_back(router.pattern(r));
  labels.emplace_back("/healthz");
  labels.emplace_back("/readyz");
  labels.emplace_back("/metrics");
  labels.emplace_back("unmatched");
  return labels;
}

// One connection's state as seen by Stop(): touched only on the connection's io thread.
struct ConnState {
  explicit ConnState(asio::any_io_executor ex) : executor(std::move(ex)) {}
  asio::any_io_executor executor;
  tcp::socket* socket = nullptr;  // null once the session has ended
  bool idle = false;              // waiting for the first byte of a request
  bool abort = false;             // close without a graceful (TLS) shutdown: truncated response
};

// The stream worker threads: a FIFO of tasks. Stop() runs what is queued, then joins.
class StreamPool {
 public:
  void Start(int n) {
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this] {
        NameThisThread("http-work");
        Run();
      });
    }
  }
  void Submit(std::function<void()> task) EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.Signal();
  }
  void Stop() EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      stopping_ = true;
    }
    cv_.SignalAll();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

 private:
  void Run() EXCLUDES(mu_) {
    for (;;) {
      std::function<void()> task;
      {
        MutexLock lock(mu_);
        while (!stopping_ && tasks_.empty()) cv_.Wait(lock);
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  Mutex mu_;
  CondVar cv_;
  std::deque<std::function<void()>> tasks_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // Start and Stop only, from the server's owner
};

// The socket a streamed request's body pump is reading from, if it is; touched only on the
// connection's executor.
struct PendingBodyRead {
  tcp::socket* socket = nullptr;
};

// Why the read loop ended early with a response to send before closing.
struct EarlyReply {
  int status = 0;
  std::string_view code;
  std::string_view message;
};

// "chunked" as the only transfer coding (RFC 9112 §6.1: the final coding must be chunked, and
// chukan knows no other coding to apply before it).
bool IsChunkedOnly(std::string_view te) {
  while (!te.empty() && (te.front() == ' ' || te.front() == '\t')) te.remove_prefix(1);
  while (!te.empty() && (te.back() == ' ' || te.back() == '\t')) te.remove_suffix(1);
  return EqualsIgnoreCase(te, "chunked");
}

// One io_context for each io thread (at least one), each run by that thread alone.
std::vector<std::unique_ptr<asio::io_context>> MakeIoContexts(int threads) {
  std::vector<std::unique_ptr<asio::io_context>> ios;
  for (int i = 0; i < std::max(threads, 1); ++i)
    ios.push_back(std::make_unique<asio::io_context>(1));
  return ios;
}

}  // namespace

// Where a worker (or any thread, for an AsyncHandler) leaves a response for the connection's
// io coroutine, which polls it without blocking and is woken when it arrives.
struct Responder::Slot {
  Mutex mu;
  std::optional<Response> response GUARDED_BY(mu);
  bool armed GUARDED_BY(mu) = false;
  bool done GUARDED_BY(mu) = false;
  std::function<void()> wake;  // set before the slot is shared

  // io side: takes the response if there is one; otherwise arms the wake-up.
  std::optional<Response> Take() EXCLUDES(mu) {
    MutexLock lock(mu);
    if (!response) {
      armed = true;
      return std::nullopt;
    }
    std::optional<Response> out = std::move(response);
    response.reset();
    return out;
  }
  // Any thread: the first response wins.
  bool Put(Response r) EXCLUDES(mu) {
    bool wake_now = false;
    {
      MutexLock lock(mu);
      if (done) return false;
      done = true;
      response = std::move(r);
      wake_now = armed;
      armed = false;
    }
    if (wake_now && wake) wake();
    return true;
  }
};

Responder::Responder(std::shared_ptr<Slot> slot) : slot_(std::move(slot)) {}

Responder Responder::Calling(std::function<void(Response)> deliver) {
  auto slot = std::make_shared<Slot>();
  // Armed from the start, so that Put wakes at once; the wake takes what Put stored (the slot
  // outlives its own Put).
  slot->Take();
  slot->wake = [raw = slot.get(), deliver = std::move(deliver)] {
    if (std::optional<Response> r = raw->Take()) deliver(std::move(*r));
  };
  return Responder(std::move(slot));
}

Responder::~Responder() {
  if (slot_) {
    slot_->Put(
        Response::Error(500, "INTERNAL", "the request was not answered", RequestId::Generate()));
  }
}

void Responder::Send(Response response) {
  if (!slot_) return;
  std::shared_ptr<Slot> slot = std::move(slot_);
  slot_.reset();
  slot->Put(std::move(response));
}

struct Server::Impl {
  Impl(ServerOptions o, Router r)
      : options(std::move(o)), router(std::move(r)), metrics(RouteLabels(router)) {}

  // Declared before io so that they outlive every coroutine frame, which the io_context
  // destroys in its destructor.
  ServerOptions options;
  Router router;
  internal::ServerMetrics metrics;
  RequestIdSource ids;
  // The TLS context new connections are made with; ReloadTls() replaces it, and each
  // connection keeps the one it started with (a copy of the pointer) until it ends.
  Mutex tls_mu;
  std::shared_ptr<ssl::context> tls GUARDED_BY(tls_mu);
  std::atomic<bool> stopping{false};
  bool started = false;
  bool stopped = false;
  uint16_t bound_port = 0;

  Mutex mu;
  CondVar cv;
  std::set<std::shared_ptr<ConnState>> conns GUARDED_BY(mu);

  // Streams in use, so that Stop() can fail the workers blocked on them once the io threads
  // are gone. The pool is joined before `io` is destroyed (handlers use coroutine frames).
  Mutex streams_mu;
  std::set<std::shared_ptr<internal::StreamPipe>> streams GUARDED_BY(streams_mu);
  StreamPool pool;

  // One io_context per io thread, each run by its thread alone (the concurrency hint 1 lets Asio
  // skip the bookkeeping of several threads), a connection on one of them for its whole life
  // (round robin). Several threads sharing one io_context passed its reactor from one to the
  // other by futex: 17 wake-ups a linkage at 200/s (docs/performance.md, "One io_context per
  // io thread").
  std::vector<std::unique_ptr<asio::io_context>> ios = MakeIoContexts(options.threads);
  size_t next_io = 0;  // the Accept coroutine's: where the next connection goes
  tcp::acceptor acceptor{*ios[0]};
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  // Ended by Stop() once the io threads are joined: wake functions held by workers and parked
  // long polls stop touching this io_context's timers (see asio_waker.h).
  const std::shared_ptr<internal::IoLife> io_life = std::make_shared<internal::IoLife>();

  int healthz_route() const { return static_cast<int>(router.route_count()); }
  int readyz_route() const { return healthz_route() + 1; }
  int metrics_route() const { return healthz_route() + 2; }
  int unmatched_route() const { return healthz_route() + 3; }

  asio::awaitable<void> Accept();
  asio::awaitable<void> Session(tcp::socket socket);
  template <class Stream>
  asio::awaitable<void> Serve(Stream& stream, tcp::socket& socket, ConnState& conn, Peer peer);

  class StreamRegistration;
  struct StreamedRequest {
    Response response;
    bool keep_alive = true;  // false: "Connection: close" on the response
    bool close_now = false;  // close without a response (client gone, body stalled)
  };
  // Runs a streaming handler on the pool while feeding it the body; see StreamingHandler.
  template <class Stream>
  asio::awaitable<StreamedRequest> ServeStreamedRequest(
      Stream& stream, beast::flat_buffer& buffer, bhttp::request_parser<bhttp::empty_body>& hparser,
      Request& req, const StreamingHandler& handler, uint64_t max_body_bytes, Waker& waker,
      std::shared_ptr<Waker> waker_ref);
  // Runs `producer` on the pool and writes what it produces (chunked unless `chunked` is
  // false). Returns false when the body could not be completed (producer error or client
  // gone): the connection must then be aborted.
  template <class Stream>
  asio::awaitable<bool> WriteStreamedBody(Stream& stream, BodyProducer producer, bool chunked,
                                          const Request& req, Waker& waker,
                                          std::shared_ptr<Waker> waker_ref);
  // The answers given from the header alone: /healthz, /metrics, 404 and 405.
  Response Dispatch(Request& req, std::string_view raw_path, const Router::Match& m, int& route);
  bool MetricsAllowed(const Request& req) const;
  // Runs a route's gate; an exception becomes a 500.
  std::optional<Response> RunGate(const Gate& gate, Request& req);
  // Runs the matched handler (or async handler) with `out`; an exception becomes a 500.
  void CallHandler(const Router::Match& m, int route, Request& req, Responder out);
  // Runs `fn(Responder)` on a worker and waits, holding no thread, for the response it sends
  // (now, or later from any thread).
  template <class Fn>
  asio::awaitable<Response> OnWorker(Fn fn, Waker& waker, std::shared_ptr<Waker> waker_ref);
  void SerializeHead(const Response& res, bool keep_alive, bool head_request, bool chunked_ok,
                     std::string& out);
  std::string MetricsText() const;
};

namespace {

// The server's TLS context from the files `t` names: TLS 1.3 only, the certificate chain and
// its key (checked to match), and with a client CA, client certificates required and verified.
// Errors (kInvalidArgument) name the file.
Result<std::shared_ptr<ssl::context>> MakeTlsContext(const TlsServerOptions& t) {
  boost::system::error_code ec;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression, ec);
  ctx->use_certificate_chain_file(t.cert_file, ec);
  if (ec)
    return InvalidArgumentError("http server: certificate file " + t.cert_file + ": " +
                                ec.message());
  ctx->use_private_key_file(t.key_file, ssl::context::pem, ec);
  if (ec) return InvalidArgumentError("http server: key file " + t.key_file + ": " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1)
    return InvalidArgumentError("http server: key file " + t.key_file + " does not match " +
                                t.cert_file);
  if (!t.client_ca_file.empty()) {
    ctx->load_verify_file(t.client_ca_file, ec);
    if (ec)
      return InvalidArgumentError("http server: client CA file " + t.client_ca_file + ": " +
                                  ec.message());
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(t.client_ca_file.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(native, names);
    ssl::verify_mode mode = ssl::verify_peer;
    if (t.require_client_cert) mode |= ssl::verify_fail_if_no_peer_cert;
    ctx->set_verify_mode(mode);
    // Client certificates must carry the clientAuth purpose.
    X509_VERIFY_PARAM_set_purpose(SSL_CTX_get0_param(native), X509_PURPOSE_SSL_CLIENT);
    static constexpr unsigned char kSidCtx[] = "chukan";
    SSL_CTX_set_session_id_context(native, kSidCtx, sizeof(kSidCtx) - 1);
  }
  return ctx;
}

}  // namespace

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Stop(Duration::zero()); }

Result<std::unique_ptr<Server>> Server::Create(ServerOptions options, Router router) {
  if (options.threads < 1 || options.threads > 256)
    return InvalidArgumentError("http server: threads must be between 1 and 256");
  if (options.workers < 1 || options.workers > 256)
    return InvalidArgumentError("http server: workers must be between 1 and 256");
  if (options.metrics_access == MetricsAccess::kToken && options.metrics_token.size() < 16)
    return InvalidArgumentError("http server: a metrics token must have at least 16 characters");
  std::vector<std::pair<std::string, std::string>> unused;
  if (router.Find("GET", "/healthz", unused).status != 404 ||
      router.Find("GET", "/readyz", unused).status != 404 ||
      router.Find("GET", "/metrics", unused).status != 404)
    return InvalidArgumentError("http server: /healthz, /readyz and /metrics are built in");
  boost::system::error_code ec;
  auto address = asio::ip::make_address(options.host, ec);
  if (ec)
    return InvalidArgumentError("http server: host \"" + options.host + "\": not an IP address");

  auto impl = std::make_unique<Impl>(std::move(options), std::move(router));
  const ServerOptions& o = impl->options;
  if (o.tls) {
    ASSIGN_OR_RETURN(std::shared_ptr<ssl::context> ctx, MakeTlsContext(o.tls_options));
    MutexLock lock(impl->tls_mu);
    impl->tls = std::move(ctx);
  }

  tcp::endpoint endpoint(address, o.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return UnavailableError("http server: listen on " + o.host + ":" + std::to_string(o.port) +
                            ": " + ec.message());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Status Server::ReloadTls() {
  Impl& s = *impl_;
  if (!s.options.tls) return FailedPreconditionError("http server: not a TLS listener");
  Result<std::shared_ptr<ssl::context>> ctx = MakeTlsContext(s.options.tls_options);
  if (!ctx.ok()) {
    log::Error("http.tls_reload_failed",
               {{"port", static_cast<int>(port())}, log::StatusField(ctx.status())});
    return ctx.status().WithContext(
        "http server: TLS not reloaded, the previous files stay in use");
  }
  // When the new certificate stops being valid, for the operator's log.
  std::string not_after;
  if (X509* cert = SSL_CTX_get0_certificate((*ctx)->native_handle()); cert != nullptr) {
    if (BIO* bio = BIO_new(BIO_s_mem()); bio != nullptr) {
      if (ASN1_TIME_print(bio, X509_get0_notAfter(cert)) == 1) {
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio, &data);
        if (n > 0) not_after.assign(data, static_cast<size_t>(n));
      }
      BIO_free(bio);
    }
  }
  {
    MutexLock lock(s.tls_mu);
    s.tls = std::move(*ctx);
  }
  log::Info("http.tls_reloaded", {{"port", static_cast<int>(port())},
                                  {"cert", s.options.tls_options.cert_file},
                                  {"not_after", not_after}});
  return Status();
}

Status Server::Start() {
  Impl& s = *impl_;
  if (s.started) return FailedPreconditionError("http server: already started");
  s.started = true;
  s.bound_port = port();
  for (const auto& io : s.ios) s.work.push_back(asio::make_work_guard(*io));
  s.pool.Start(s.options.workers);
  asio::co_spawn(*s.ios[0], s.Accept(), asio::detached);
  for (const auto& io : s.ios) {
    s.threads.emplace_back([io = io.get()] {
      NameThisThread("http-io");
      io->run();
    });
  }
  log::Info("http.listen", {{"host", s.options.host},
                            {"port", static_cast<int>(port())},
                            {"tls", s.options.tls},
                            {"threads", s.options.threads}});
  return Status::Ok();
}

uint16_t Server::port() const {
  boost::system::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void Server::Stop(Duration grace) {
  Impl& s = *impl_;
  if (s.stopped) return;
  s.stopped = true;
  s.stopping.store(true);
  if (!s.started) return;
  asio::post(s.acceptor.get_executor(), [&s] {
    boost::system::error_code ec;
    s.acceptor.close(ec);
  });
  auto close_idle = [](const std::shared_ptr<ConnState>& c, bool all) {
    asio::post(c->executor, [c, all] {
      if (c->socket != nullptr && (all || c->idle)) {
        boost::system::error_code ec;
        c->socket->close(ec);
      }
    });
  };
  {
    MutexLock lock(s.mu);
    for (const auto& c : s.conns) close_idle(c, false);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (!s.conns.empty() && s.cv.WaitUntil(lock, deadline)) {
    }
    for (const auto& c : s.conns) close_idle(c, true);
  }
  s.work.clear();
  // Give the closes a moment to run, then stop whatever is left.
  {
    MutexLock lock(s.mu);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
    while (!s.conns.empty() && s.cv.WaitUntil(lock, deadline)) {
    }
  }
  for (const auto& io : s.ios) io->stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  s.io_life->End();
  // No coroutine will move a stream forward any more: fail the workers waiting on one.
  {
    MutexLock streams_lock(s.streams_mu);
    for (const auto& p : s.streams) p->Abort(UnavailableError("http: server stopping"));
  }
  s.pool.Stop();
  log::Info("http.stopped", {{"port", static_cast<int>(s.bound_port)}});
}

std::string Server::MetricsText() const { return impl_->MetricsText(); }

uint64_t Server::MaxStreamBufferedBytes() const {
  return impl_->metrics.stream_buffered_max.load(std::memory_order_relaxed);
}

asio::awaitable<void> Server::Impl::Accept() {
  for (;;) {
    // Each io_context has one thread: a connection needs no strand (nor its mutex).
    asio::io_context& conn_io = *ios[next_io];
    next_io = (next_io + 1) % ios.size();
    auto [ec, socket] = co_await acceptor.async_accept(conn_io.get_executor(), kUse);
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping.load()) co_return;
      // EMFILE and friends: back off briefly instead of spinning.
      log::Warn("http.accept_error", {{"error", ec.message()}});
      asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(kUse);
      continue;
    }
    if (stopping.load()) co_return;
    if (metrics.connections_open.load(std::memory_order_relaxed) >=
        static_cast<int64_t>(options.limits.max_connections)) {
      metrics.connections_rejected.fetch_add(1, std::memory_order_relaxed);
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    asio::any_io_executor ex = socket.get_executor();
    asio::co_spawn(ex, Session(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> Server::Impl::Session(tcp::socket socket) {
  metrics.connections_total.fetch_add(1, std::memory_order_relaxed);
  metrics.connections_open.fetch_add(1, std::memory_order_relaxed);
  auto conn = std::make_shared<ConnState>(socket.get_executor());
  {
    MutexLock lock(mu);
    conns.insert(conn);
  }
  Peer peer;
  boost::system::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (!ec) {
    peer.address = remote.address().to_string();
    peer.port = remote.port();
  }
  socket.set_option(tcp::no_delay(true), ec);

  std::shared_ptr<ssl::context> tls_now;  // the context at accept time, kept for the session
  {
    MutexLock lock(tls_mu);
    tls_now = tls;
  }
  if (tls_now) {
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls_now);
    tcp::socket& raw = beast::get_lowest_layer(stream).socket();
    conn->socket = &raw;
    peer.tls = true;
    beast::get_lowest_layer(stream).expires_after(options.limits.header_timeout);
    auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, kUse);
    if (!hec) {
      peer.identity = IdentityFromSsl(stream.native_handle());
      co_await Serve(stream, raw, *conn, std::move(peer));
      if (conn->abort) {
        raw.close(ec);  // no close_notify: the client must see a truncated response
      } else {
        beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
        auto [sec] = co_await stream.async_shutdown(kUse);
        (void)sec;  // the peer may already be gone
      }
    } else {
      log::Debug("http.tls_handshake_failed", {{"peer", peer.address}, {"error", hec.message()}});
      // Lingering close: stop sending, then drain what the client already sent, so the kernel
      // does not answer with a reset that would destroy our TLS alert before the client reads
      // it.
      raw.shutdown(tcp::socket::shutdown_send, ec);
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
      std::array<char, 1024> sink;
      for (;;) {
        auto [rec, n] =
            co_await beast::get_lowest_layer(stream).async_read_some(asio::buffer(sink), kUse);
        if (rec) break;
      }
    }
    conn->socket = nullptr;
  } else {
    beast::tcp_stream stream(std::move(socket));
    tcp::socket& raw = stream.socket();
    conn->socket = &raw;
    co_await Serve(stream, raw, *conn, std::move(peer));
    if (conn->abort) {
      // A reset rather than a clean end of stream: the response was truncated.
      raw.set_option(asio::socket_base::linger(true, 0), ec);
      raw.close(ec);
    } else {
      raw.shutdown(tcp::socket::shutdown_send, ec);
      // Lingering close: a client may still be sending a body we refused to read (413, 401).
      // Closing with unread bytes would make the kernel answer with a reset that can destroy
      // our answer before the client reads it; read and drop a bounded amount first.
      stream.expires_after(std::chrono::seconds(1));
      std::array<char, 16 * 1024> sink;
      size_t drained = 0;
      while (drained < 4 * 1024 * 1024 && !stopping.load(std::memory_order_relaxed)) {
        auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), kUse);
        if (rec) break;
        drained += n;
      }
    }
    conn->socket = nullptr;
  }
  metrics.connections_open.fetch_sub(1, std::memory_order_relaxed);
  {
    MutexLock lock(mu);
    conns.erase(conn);
  }
  cv.SignalAll();
}

template <class Stream>
asio::awaitable<void> Server::Impl::Serve(Stream& stream, tcp::socket& socket, ConnState& conn,
                                          Peer peer) {
  auto& lowest = beast::get_lowest_layer(stream);
  const ServerLimits& limits = options.limits;
  beast::flat_buffer buffer;
  std::string head;  // reused for every response head
  head.reserve(512);
  uint32_t served = 0;
  std::shared_ptr<Waker> waker;  // made on the first streamed request or response
  (void)socket;

  for (;;) {
    // Wait for the first byte of the next request: the idle (keep-alive) timeout, or for a
    // new connection the header timeout, which then also covers the rest of the header.
    if (buffer.size() == 0) {
      if (stopping.load(std::memory_order_relaxed)) co_return;
      conn.idle = true;
      lowest.expires_after(served == 0 ? limits.header_timeout : limits.idle_timeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kUse);
      conn.idle = false;
      if (ec) co_return;  // closed, timed out, or Stop()
      buffer.commit(n);
      if (served != 0) lowest.expires_after(limits.header_timeout);
    } else {
      lowest.expires_after(limits.header_timeout);
    }

    // The header is parsed alone; the body limit depends on the route, which is known only
    // once the header is (Content-Length is checked by hand below, before any body byte).
    bhttp::request_parser<bhttp::empty_body> hparser;
    hparser.header_limit(static_cast<std::uint32_t>(
        std::min<size_t>(limits.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    hparser.body_limit(boost::none);
    EarlyReply early;
    {
      // Fast path: the whole header is usually in the buffer already (it arrived with the
      // first read), so parse it in place and skip an asynchronous operation.
      boost::system::error_code ec;
      size_t used = hparser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == bhttp::error::need_more) ec = {};
      if (!ec && !hparser.is_header_done()) {
        auto [rec, n] = co_await bhttp::async_read_header(stream, buffer, hparser, kUse);
        ec = rec;
        used += n;
      }
      // Beast applies header_limit to each parse step (the request line, then the fields read
      // so far), not to the whole header, so a longer header got through (found by
      // fuzz/http_request_fuzz.cc): the whole header is held to the limit here. (`n` counts
      // the bytes the parser consumed — the header only, not a body read with it — whatever
      // Beast's comment on "bytes transferred" says: see read_some_op in http/impl/read.hpp.)
      if (!ec && used > limits.max_header_bytes) ec = bhttp::error::header_limit;
      if (ec == bhttp::error::header_limit) {
        early = {431, "HEADER_TOO_LARGE", "request header too large"};
      } else if (ec == beast::error::timeout || ec == asio::error::operation_aborted ||
                 ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                 ec == asio::error::connection_reset) {
        co_return;
      } else if (ec) {
        early = {400, "BAD_REQUEST", "malformed request"};
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    ++served;
    metrics.in_flight.fetch_add(1, std::memory_order_relaxed);

    const auto& hmsg = hparser.get();
    const std::string method(hmsg.method_string().data(), hmsg.method_string().size());
    const bool head_request = hmsg.method() == bhttp::verb::head;
    const bool http10 = hmsg.version() < 11;
    bool keep_alive = early.status == 0 && hmsg.keep_alive() &&
                      served < limits.max_requests_per_connection &&
                      !stopping.load(std::memory_order_relaxed);
    std::optional<RequestId> rid;
    auto xrid = hmsg["X-Request-Id"];
    if (!xrid.empty()) {
      auto parsed = RequestId::Parse(std::string_view(xrid.data(), xrid.size()));
      if (parsed.ok()) rid = std::move(*parsed);
    }
    Request req(rid ? std::move(*rid) : ids.Next());
    Response response;
    int route = unmatched_route();

    // Target, query and route need only the header.
    std::optional<Response> target_error;
    std::string_view raw_path;
    Router::Match match;
    std::vector<std::pair<std::string, std::string>> params;
    if (early.status == 0) {
      req.method = method;
      req.target.assign(hmsg.target().data(), hmsg.target().size());
      raw_path = std::string_view(req.target).substr(0, req.target.find('?'));
      if (Status t = req.ParseTarget(); !t.ok()) {
        target_error = Response::Error(400, "BAD_REQUEST", t.message(), req.request_id);
      } else if (!IsBuiltIn(raw_path)) {
        match = router.Find(req.method, raw_path, params);
      }
      for (const auto& f : hmsg) {
        req.headers.Add(std::string_view(f.name_string().data(), f.name_string().size()),
                        std::string_view(f.value().data(), f.value().size()));
      }
      req.peer = peer;
      // Framing (RFC 9112 §6.1, §6.3): a Transfer-Encoding other than chunked alone, or one
      // beside a Content-Length, could be framed differently by a proxy in front of us (request
      // smuggling): refuse it and close.
      const size_t te_fields = hmsg.count(bhttp::field::transfer_encoding);
      if (te_fields > 1 ||
          (te_fields == 1 &&
           (hmsg.count(bhttp::field::content_length) > 0 ||
            !IsChunkedOnly(std::string_view(hmsg[bhttp::field::transfer_encoding].data(),
                                            hmsg[bhttp::field::transfer_encoding].size()))))) {
        early = {400, "BAD_REQUEST", "malformed request framing"};
        keep_alive = false;
      }
    }
    // The header parser is done at the end of the header when no body follows.
    const bool body_announced = early.status == 0 && !hparser.is_done();

    bool close_now = false;  // end the connection without writing a response
    if (early.status == 0 && (target_error || match.status != 200)) {
      // Malformed targets, the built-in routes, unknown paths and wrong methods: answered from
      // the header alone. Their body is never read, so the connection cannot carry another
      // request after them.
      response = target_error ? std::move(*target_error) : Dispatch(req, raw_path, match, route);
      if (body_announced) keep_alive = false;
    } else if (early.status == 0) {
      route = match.route;
      req.path_params = std::move(params);
      const RouteOptions& ro = *match.options;
      if (!waker) waker = std::make_shared<Waker>(stream.get_executor());
      // A body that has arrived whole with its header costs no wait: it is parsed from the
      // buffer and the gate runs on the worker together with the handler (one hand-off).
      const bool body_here = !body_announced || (hparser.content_length() &&
                                                 buffer.size() >= *hparser.content_length());
      const bool fuse_gate = ro.gate && !ro.inline_gate && !match.streaming && body_here;
      std::optional<Response> refused;
      if (hparser.content_length() && *hparser.content_length() > ro.max_body_bytes) {
        refused = Response::Error(413, "BODY_TOO_LARGE", "request body too large", req.request_id);
      } else if (ro.gate && ro.inline_gate) {
        refused = RunGate(ro.gate, req);
      } else if (ro.gate && !fuse_gate) {
        Response r = co_await OnWorker(
            [this, &ro, &req](Responder out) {
              std::optional<Response> no = RunGate(ro.gate, req);
              out.Send(no ? std::move(*no) : Response(kGatePassed, "", ""));
            },
            *waker, waker);
        if (r.status != kGatePassed) refused = std::move(r);
      }
      if (refused) {
        // Refused before its body was read: the rest of the connection is that unread body.
        response = std::move(*refused);
        if (body_announced) keep_alive = false;
      } else if (match.streaming != nullptr) {
        metrics.streamed_requests.fetch_add(1, std::memory_order_relaxed);
        StreamedRequest sr = co_await ServeStreamedRequest(
            stream, buffer, hparser, req, *match.streaming, ro.max_body_bytes, *waker, waker);
        response = std::move(sr.response);
        close_now = sr.close_now;
        if (!sr.keep_alive) keep_alive = false;
      } else {
        // Buffered body, up to the route's limit.
        bhttp::request_parser<bhttp::string_body> parser(std::move(hparser));
        parser.body_limit(ro.max_body_bytes);
        if (!parser.is_done()) {
          auto expect = parser.get()[bhttp::field::expect];
          if (!expect.empty() && EqualsIgnoreCase(expect, "100-continue")) {
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            lowest.expires_after(limits.write_timeout);
            auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(kContinue), kUse);
            if (wec) close_now = true;
          }
          if (!close_now) {
            lowest.expires_after(limits.body_timeout);
            auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, kUse);
            if (ec == bhttp::error::body_limit) {
              early = {413, "BODY_TOO_LARGE", "request body too large"};
            } else if (ec == beast::error::timeout || ec == asio::error::operation_aborted ||
                       ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
                       ec == bhttp::error::partial_message || ec == asio::error::connection_reset) {
              close_now = true;
            } else if (ec) {
              early = {400, "BAD_REQUEST", "malformed request"};
            }
            if (early.status != 0) keep_alive = false;
          }
        }
        if (!close_now && early.status == 0) {
          req.body = std::move(parser.get().body());
          const bool run_gate = fuse_gate;
          response = co_await OnWorker(
              [this, &ro, &req, &match, run_gate, route](Responder out) {
                if (run_gate) {
                  if (std::optional<Response> no = RunGate(ro.gate, req)) {
                    out.Send(std::move(*no));
                    return;
                  }
                }
                CallHandler(match, route, req, std::move(out));
              },
              *waker, waker);
        }
      }
    }
    if (early.status != 0) {
      route = unmatched_route();
      response = Response::Error(early.status, early.code, early.message, req.request_id);
    }
    if (close_now) {
      metrics.in_flight.fetch_sub(1, std::memory_order_relaxed);
      co_return;
    }

    // Re-checked after the handler: a Stop() during the request closes after this response.
    keep_alive = keep_alive && !stopping.load(std::memory_order_relaxed);
    // RFC 9110 §15: a 1xx, 204 or 304 has no content, whatever a handler put in it (the head
    // then has no Content-Length either: SerializeHead).
    if (response.status < 200 || response.status == 204 || response.status == 304) {
      response.body.clear();
      response.stream = nullptr;
    }
    const bool streamed = static_cast<bool>(response.stream);
    if (streamed && http10) keep_alive = false;  // the body ends with the connection
    SerializeHead(response, keep_alive, head_request, !http10, head);
    const bool inline_body = !streamed && !head_request && response.body.size() <= 16 * 1024;
    if (inline_body) head.append(response.body);
    lowest.expires_after(limits.write_timeout);
    boost::system::error_code wec;
    if (inline_body || head_request || streamed) {
      auto [ec, n] = co_await asio::async_write(stream, asio::buffer(head), kUse);
      wec = ec;
    } else {
      // Head and body as two writes: a two-buffer write through beast::ssl_stream stalled after
      // the head for bodies over 16 KiB (tests/http: LargeBodiesArriveWhole).
      auto [ec, n] = co_await asio::async_write(stream, asio::buffer(head), kUse);
      wec = ec;
      if (!wec) {
        lowest.expires_after(limits.write_timeout);
        auto [bec, bn] = co_await asio::async_write(stream, asio::buffer(response.body), kUse);
        wec = bec;
      }
    }
    bool abort = false;
    if (streamed && !head_request && !wec) {
      metrics.streamed_responses.fetch_add(1, std::memory_order_relaxed);
      if (!waker) waker = std::make_shared<Waker>(stream.get_executor());
      abort = !co_await WriteStreamedBody(stream, std::move(response.stream), !http10, req, *waker,
                                          waker);
    }
    metrics.Record(route, internal::ServerMetrics::MethodIndex(method), response.status,
                   std::chrono::steady_clock::now() - t0);
    metrics.in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (options.log_requests && log::Enabled(log::Level::kDebug)) {
      log::Debug("http.request", {{"method", method},
                                  {"route", route < static_cast<int>(router.route_count())
                                                ? router.pattern(static_cast<size_t>(route))
                                                : std::string("-")},
                                  {"status", response.status},
                                  log::RequestIdField(req.request_id)});
    }
    if (abort) conn.abort = true;
    if (wec || abort || !keep_alive) co_return;
  }
}

// Registers a pipe for Stop() to abort (its worker may be blocked on it) while it is in use.
class Server::Impl::StreamRegistration {
 public:
  StreamRegistration(Impl& impl, std::shared_ptr<internal::StreamPipe> pipe)
      : impl_(impl), pipe_(std::move(pipe)) {
    MutexLock lock(impl_.streams_mu);
    impl_.streams.insert(pipe_);
  }
  ~StreamRegistration() {
    impl_.metrics.RecordStreamPeak(pipe_->peak_bytes());
    MutexLock lock(impl_.streams_mu);
    impl_.streams.erase(pipe_);
  }
  StreamRegistration(const StreamRegistration&) = delete;
  StreamRegistration& operator=(const StreamRegistration&) = delete;

 private:
  Impl& impl_;
  std::shared_ptr<internal::StreamPipe> pipe_;
};

template <class Stream>
asio::awaitable<Server::Impl::StreamedRequest> Server::Impl::ServeStreamedRequest(
    Stream& stream, beast::flat_buffer& buffer, bhttp::request_parser<bhttp::empty_body>& hparser,
    Request& req, const StreamingHandler& handler, uint64_t max_body_bytes, Waker& waker,
    std::shared_ptr<Waker> waker_ref) {
  auto& lowest = beast::get_lowest_layer(stream);
  const ServerLimits& limits = options.limits;
  StreamedRequest out;
  bhttp::request_parser<bhttp::buffer_body> parser(std::move(hparser));
  parser.body_limit(max_body_bytes);
  // However steadily it trickles, a body must be complete within this time.
  const auto body_deadline = std::chrono::steady_clock::now() + limits.stream_body_total_timeout;
  auto pipe = std::make_shared<internal::StreamPipe>();
  pipe->SetWake(WakeFn(waker_ref, io_life));
  StreamRegistration registration(*this, pipe);

  if (!parser.is_done()) {
    // Beast reads at most the buffer's free capacity per receive call: give it room.
    buffer.reserve(64 * 1024);
    auto expect = parser.get()[bhttp::field::expect];
    if (!expect.empty() && EqualsIgnoreCase(expect, "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      lowest.expires_after(limits.write_timeout);
      auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(kContinue), kUse);
      if (wec) pipe->CloseProducer(UnavailableError("http: client connection lost"));
    }
  } else {
    pipe->CloseProducer(Status::Ok());
  }

  // The handler owns the response slot until it closes the consumer side of the pipe; the
  // pipe's mutex orders the write before our read.
  auto result = std::make_shared<Response>();
  // When the handler returns while the pump waits for body bytes that a client may never send
  // (it may be waiting for our answer), that read is cancelled so the answer goes out at once.
  auto pending_read = std::make_shared<PendingBodyRead>();
  asio::any_io_executor executor = stream.get_executor();
  pool.Submit([this, pipe, result, pending_read, executor, &req, &handler] {
    try {
      *result = handler(req, *pipe);
    } catch (const std::exception& e) {
      log::Error("http.handler_exception", {{"route", req.path.substr(0, 200)},
                                            {"error", std::string(e.what()).substr(0, 200)},
                                            log::RequestIdField(req.request_id)});
      *result = FromStatus(InternalError("handler failed"), req.request_id);
    } catch (...) {
      log::Error("http.handler_exception", {{"route", req.path.substr(0, 200)},
                                            {"error", "non-standard exception"},
                                            log::RequestIdField(req.request_id)});
      *result = FromStatus(InternalError("handler failed"), req.request_id);
    }
    pipe->CloseConsumer(Status::Ok());
    asio::post(executor, [pending_read] {
      if (pending_read->socket != nullptr) {
        boost::system::error_code ignored;
        pending_read->socket->cancel(ignored);
      }
    });
  });

  // Pump the body into the pipe while the handler reads it.
  std::optional<Response> replacement;
  bool body_failed = false;
  std::string chunk;
  while (!parser.is_done() && !body_failed) {
    auto state = pipe->CanPush(/*arm=*/true);
    if (state == internal::StreamPipe::IoState::kClosed) break;  // handler returned
    if (state == internal::StreamPipe::IoState::kWait) {
      co_await WaitForWake(waker);
      continue;
    }
    if (chunk.empty()) {
      // No bigger than what is still to come: a small body must not cost a 256 KiB allocation
      // and its zero-filling (an mmap and page faults) per request.
      size_t want = internal::kStreamChunkBytes;
      if (auto left = parser.content_length_remaining(); left && *left > 0 && *left < want) {
        want = static_cast<size_t>(*left);
      }
      chunk.resize(want);
    }
    size_t filled = 0;
    // Fill the chunk; hand over a partial one only when the handler is starving.
    while (filled < chunk.size() && !parser.is_done()) {
      // Checked in the same executor turn as the read starts: see pending_read.
      if (pipe->ConsumerClosed(false) == internal::StreamPipe::IoState::kClosed) break;
      parser.get().body().data = chunk.data() + filled;
      parser.get().body().size = chunk.size() - filled;
      lowest.expires_at(
          std::min(std::chrono::steady_clock::now() + limits.body_timeout, body_deadline));
      pending_read->socket = &lowest.socket();
      auto [ec, n] = co_await bhttp::async_read_some(stream, buffer, parser, kUse);
      pending_read->socket = nullptr;
      filled = chunk.size() - parser.get().body().size;
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec == asio::error::operation_aborted &&
          pipe->ConsumerClosed(false) == internal::StreamPipe::IoState::kClosed &&
          !stopping.load(std::memory_order_relaxed)) {
        break;  // cancelled because the handler returned
      }
      if (ec) {
        body_failed = true;
        Status st;
        if (ec == bhttp::error::body_limit) {
          st = ResourceExhaustedError("http: request body larger than " +
                                      std::to_string(max_body_bytes) + " bytes");
          replacement =
              Response::Error(413, "BODY_TOO_LARGE", "request body too large", req.request_id);
        } else if (ec == beast::error::timeout) {
          st = std::chrono::steady_clock::now() >= body_deadline
                   ? DeadlineExceededError(
                         "http: request body not complete within " +
                         std::to_string(limits.stream_body_total_timeout.count() / 1000) + " s")
                   : DeadlineExceededError("http: request body stalled");
          out.close_now = true;
        } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_chunk).category() &&
                   ec != bhttp::error::partial_message && ec != bhttp::error::end_of_stream) {
          st = InvalidArgumentError("http: malformed request body: " + ec.message());
          replacement = Response::Error(400, "BAD_REQUEST", "malformed request", req.request_id);
        } else {
          // Closed, reset, TLS failure, or the socket closed by Stop().
          st = UnavailableError("http: client connection lost: " + ec.message());
          out.close_now = true;
        }
        if (filled > 0) {
          chunk.resize(filled);
          pipe->Push(std::move(chunk));
          chunk.clear();
        }
        pipe->CloseProducer(std::move(st));
        break;
      }
      if (filled > 0 && filled < chunk.size() && pipe->buffered_bytes() == 0) {
        break;  // the handler has nothing to read: hand over what arrived
      }
    }
    if (!body_failed && filled > 0) {
      chunk.resize(filled);
      pipe->Push(std::move(chunk));
      chunk.clear();
    }
  }
  if (!body_failed && parser.is_done()) pipe->CloseProducer(Status::Ok());
  while (pipe->ConsumerClosed(/*arm=*/true) != internal::StreamPipe::IoState::kClosed)
    co_await WaitForWake(waker);

  if (!body_failed && !parser.is_done()) {
    // The handler returned early: read and drop the rest, within limits, so the connection can
    // carry the next request; otherwise close it after the response.
    uint64_t discarded = 0;
    auto cl = parser.content_length_remaining();
    if (cl && *cl > limits.stream_discard_bytes) {
      out.keep_alive = false;
    } else {
      std::string sink(64 * 1024, '\0');
      while (!parser.is_done()) {
        parser.get().body().data = sink.data();
        parser.get().body().size = sink.size();
        lowest.expires_after(limits.body_timeout);
        auto [ec, n] = co_await bhttp::async_read_some(stream, buffer, parser, kUse);
        if (ec == bhttp::error::need_buffer) ec = {};
        if (ec) {
          out.close_now = true;
          break;
        }
        discarded += sink.size() - parser.get().body().size;
        if (discarded > limits.stream_discard_bytes && !parser.is_done()) {
          out.keep_alive = false;
          break;
        }
      }
    }
  }
  out.response = replacement ? std::move(*replacement) : std::move(*result);
  if (replacement) out.keep_alive = false;
  co_return out;
}

template <class Stream>
asio::awaitable<bool> Server::Impl::WriteStreamedBody(Stream& stream, BodyProducer producer,
                                                      bool chunked, const Request& req,
                                                      Waker& waker,
                                                      std::shared_ptr<Waker> waker_ref) {
  auto& lowest = beast::get_lowest_layer(stream);
  auto pipe = std::make_shared<internal::StreamPipe>();
  pipe->SetWake(WakeFn(waker_ref, io_life));
  StreamRegistration registration(*this, pipe);
  pool.Submit([pipe, producer = std::move(producer)]() mutable {
    Status st;
    try {
      st = producer(*pipe);
    } catch (const std::exception& e) {
      st = InternalError(std::string("response producer threw: ") + e.what());
    } catch (...) {
      st = InternalError("response producer threw");
    }
    producer = nullptr;  // release what it captured before the connection moves on
    pipe->CloseProducer(std::move(st));
  });
  bool ok = true;
  std::string chunk;
  for (;;) {
    auto state = pipe->Pop(chunk, /*arm=*/true);
    if (state == internal::StreamPipe::IoState::kWait) {
      co_await WaitForWake(waker);
      continue;
    }
    if (state == internal::StreamPipe::IoState::kClosed) {
      Status st = pipe->producer_status();
      if (!st.ok()) {
        log::Warn("http.stream_producer_failed",
                  {{"error", st.ToString().substr(0, 300)}, log::RequestIdField(req.request_id)});
        ok = false;
      } else if (chunked) {
        static constexpr std::string_view kLast = "0\r\n\r\n";
        lowest.expires_after(options.limits.write_timeout);
        auto [ec, n] = co_await asio::async_write(stream, asio::buffer(kLast), kUse);
        if (ec) ok = false;
      }
      break;
    }
    char size_line[24];
    auto res = std::to_chars(size_line, size_line + sizeof(size_line) - 2, chunk.size(), 16);
    *res.ptr++ = '\r';
    *res.ptr++ = '\n';
    static constexpr std::string_view kCrLf = "\r\n";
    lowest.expires_after(options.limits.write_timeout);
    boost::system::error_code ec;
    if (chunked) {
      std::array<asio::const_buffer, 3> bufs = {
          asio::buffer(size_line, static_cast<size_t>(res.ptr - size_line)), asio::buffer(chunk),
          asio::buffer(kCrLf)};
      auto [wec, n] = co_await asio::async_write(stream, bufs, kUse);
      ec = wec;
    } else {
      auto [wec, n] = co_await asio::async_write(stream, asio::buffer(chunk), kUse);
      ec = wec;
    }
    pipe->Release(chunk.size());
    chunk.clear();
    if (ec) {
      pipe->CloseConsumer(UnavailableError("http: client connection lost: " + ec.message()));
      ok = false;
      break;
    }
  }
  // The producer may still be running (client gone): wait, since it may use the Request.
  while (pipe->ProducerClosed(/*arm=*/true) != internal::StreamPipe::IoState::kClosed)
    co_await WaitForWake(waker);
  co_return ok;
}

Response Server::Impl::Dispatch(Request& req, std::string_view raw_path, const Router::Match& m,
                                int& route) {
  if (IsBuiltIn(raw_path)) {
    const bool healthz = raw_path == "/healthz";
    const bool readyz = raw_path == "/readyz";
    route = healthz ? healthz_route() : readyz ? readyz_route() : metrics_route();
    if (req.method != "GET" && req.method != "HEAD") {
      Response r = Response::Error(405, "METHOD_NOT_ALLOWED", "method not allowed", req.request_id);
      r.headers.Set("Allow", "GET, HEAD");
      return r;
    }
    if (healthz) return Response::Json(200, "{\"status\":\"ok\"}");
    if (readyz) {
      Status ready = options.readiness ? options.readiness() : Status();
      if (ready.ok()) return Response::Json(200, "{\"status\":\"ready\"}");
      std::string body = "{\"status\":\"not_ready\",\"reason\":";
      log::AppendJsonString(body, ready.message());
      body += "}";
      Response r = Response::Json(503, std::move(body));
      r.headers.Set("Retry-After", "1");
      return r;
    }
    if (!MetricsAllowed(req)) {
      return Response::Error(403, "PERMISSION_DENIED", "metrics are not served to this client",
                             req.request_id);
    }
    return Response(200, "text/plain; version=0.0.4; charset=utf-8", MetricsText());
  }
  if (m.status == 404) {
    route = unmatched_route();
    return Response::Error(404, "NOT_FOUND", "no such resource", req.request_id);
  }
  route = m.route;
  Response r = Response::Error(405, "METHOD_NOT_ALLOWED", "method not allowed", req.request_id);
  r.headers.Set("Allow", m.allow);
  return r;
}

bool Server::Impl::MetricsAllowed(const Request& req) const {
  switch (options.metrics_access) {
    case MetricsAccess::kAnyone:
      return true;
    case MetricsAccess::kLoopback: {
      boost::system::error_code ec;
      const asio::ip::address a = asio::ip::make_address(req.peer.address, ec);
      return !ec && a.is_loopback();
    }
    case MetricsAccess::kToken: {
      Result<std::optional<std::string_view>> token = BearerToken(req);
      return token.ok() && token->has_value() && !options.metrics_token.empty() &&
             ConstantTimeEquals(**token, options.metrics_token);
    }
  }
  return false;
}

std::optional<Response> Server::Impl::RunGate(const Gate& gate, Request& req) {
  try {
    return gate(req);
  } catch (const std::exception& e) {
    log::Error("http.gate_exception", {{"route", req.path.substr(0, 200)},
                                       {"error", std::string(e.what()).substr(0, 200)},
                                       log::RequestIdField(req.request_id)});
  } catch (...) {
    log::Error("http.gate_exception", {{"route", req.path.substr(0, 200)},
                                       {"error", "non-standard exception"},
                                       log::RequestIdField(req.request_id)});
  }
  return FromStatus(InternalError("authentication failed"), req.request_id);
}

void Server::Impl::CallHandler(const Router::Match& m, int route, Request& req, Responder out) {
  const char* what = nullptr;
  std::string error;
  try {
    if (m.async != nullptr) {
      (*m.async)(req, std::move(out));
    } else {
      out.Send((*m.handler)(req));
    }
    return;
  } catch (const std::exception& e) {
    error = std::string(e.what()).substr(0, 200);
  } catch (...) {
    what = "non-standard exception";
  }
  log::Error("http.handler_exception", {{"route", router.pattern(static_cast<size_t>(route))},
                                        {"error", what != nullptr ? std::string(what) : error},
                                        log::RequestIdField(req.request_id)});
  out.Send(FromStatus(InternalError("handler failed"), req.request_id));
}

template <class Fn>
asio::awaitable<Response> Server::Impl::OnWorker(Fn fn, Waker& waker,
                                                 std::shared_ptr<Waker> waker_ref) {
  auto slot = std::make_shared<Responder::Slot>();
  slot->wake = WakeFn(waker_ref, io_life);
  pool.Submit([slot, fn = std::move(fn)]() mutable { fn(Responder(slot)); });
  for (;;) {
    if (std::optional<Response> r = slot->Take()) co_return std::move(*r);
    co_await WaitForWake(waker);
  }
}

void Server::Impl::SerializeHead(const Response& res, bool keep_alive, bool head_request,
                                 bool chunked_ok, std::string& out) {
  (void)head_request;  // HEAD: same head (with the body's Content-Length), no body
  out.clear();
  char num[24];
  int status = (res.status >= 100 && res.status <= 999) ? res.status : 500;
  out.append("HTTP/1.1 ");
  out.append(num, static_cast<size_t>(std::to_chars(num, num + sizeof(num), status).ptr - num));
  out.push_back(' ');
  out.append(ReasonPhrase(status));
  out.append("\r\n");
  out.append(DateHeader());
  if (!HasCrLf(res.content_type)) {
    out.append("Content-Type: ");
    out.append(res.content_type);
    out.append("\r\n");
  }
  if (res.stream) {
    // HTTP/1.0 has no chunked coding: the body ends when the connection closes.
    if (chunked_ok) out.append("Transfer-Encoding: chunked\r\n");
  } else if (status >= 200 && status != 204 && status != 304) {
    // RFC 9110 §8.6: none in a 1xx or 204, and a 304's would have to be the 200's length.
    out.append("Content-Length: ");
    out.append(
        num, static_cast<size_t>(std::to_chars(num, num + sizeof(num), res.body.size()).ptr - num));
    out.append("\r\n");
  }
  if (!keep_alive) out.append("Connection: close\r\n");
  // Answers may carry personal data: no cache keeps them, and no browser guesses their type.
  if (!res.headers.Has("Cache-Control")) out.append("Cache-Control: no-store\r\n");
  out.append("X-Content-Type-Options: nosniff\r\n");
  for (const auto& [k, v] : res.headers.fields()) {
    if (HasCrLf(k) || HasCrLf(v) || k.empty() || EqualsIgnoreCase(k, "Content-Length") ||
        EqualsIgnoreCase(k, "Connection") || EqualsIgnoreCase(k, "Transfer-Encoding"))
      continue;  // never let a handler split or desynchronise the response
    out.append(k);
    out.append(": ");
    out.append(v);
    out.append("\r\n");
  }
  out.append("\r\n");
}

std::string Server::Impl::MetricsText() const { return metrics.Text(); }

}  // namespace chukan::http
