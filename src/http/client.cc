// The HTTP client. All Beast/Asio code of the client side lives in this file (compile time).
// Why ~700 lines: like server.cc, every Beast/Asio template of the client side (connection
// pool, TLS, timeouts, streamed bodies) is instantiated in this one translation unit, because
// each unit that includes Beast costs about a minute on a 2-core build.
#include "http/client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cerrno>
#include <charconv>
#include <future>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "common/thread_name.h"
#include "http/asio_waker.h"
#include "http/stream_pipe.h"

namespace chukan::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using internal::StreamPipe;
using internal::WaitForWake;
using internal::WakeFn;
using internal::Waker;

namespace {

constexpr auto kUse = asio::as_tuple(asio::use_awaitable);

struct ParsedUrl {
  bool tls = false;
  std::string host;  // without brackets
  uint16_t port = 0;
  std::string target;  // "/path?query"
  bool host_is_ip = false;
  std::string key() const { return (tls ? "s:" : "p:") + host + ":" + std::to_string(port); }
};

Result<ParsedUrl> ParseUrl(std::string_view url) {
  ParsedUrl u;
  std::string_view rest;
  if (url.substr(0, 8) == "https://") {
    u.tls = true;
    rest = url.substr(8);
  } else if (url.substr(0, 7) == "http://") {
    rest = url.substr(7);
  } else {
    return InvalidArgumentError("url: must start with http:// or https://");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  std::string_view port_sv;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return InvalidArgumentError("url: unclosed '['");
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return InvalidArgumentError("url: bad authority");
      port_sv = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_sv = authority.substr(colon + 1);
  }
  if (u.host.empty()) return InvalidArgumentError("url: empty host");
  if (port_sv.empty()) {
    u.port = u.tls ? 443 : 80;
  } else {
    unsigned long p = 0;
    for (char c : port_sv) {
      if (c < '0' || c > '9') return InvalidArgumentError("url: bad port");
      p = p * 10 + static_cast<unsigned long>(c - '0');
      if (p > 65535) return InvalidArgumentError("url: bad port");
    }
    if (p == 0) return InvalidArgumentError("url: bad port");
    u.port = static_cast<uint16_t>(p);
  }
  for (char c : u.target) {
    if (c == '\r' || c == '\n' || c == ' ' || c == '\0')
      return InvalidArgumentError("url: invalid character in path");
  }
  boost::system::error_code ec;
  asio::ip::make_address(u.host, ec);
  u.host_is_ip = !ec;
  return u;
}

bool Idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE" || m == "OPTIONS";
}

// Closed-by-peer conditions that make a reused connection worth one retry.
bool PeerClosed(const boost::system::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == ssl::error::stream_truncated;
}

Status MapError(const boost::system::error_code& ec, const std::string& what) {
  const std::string msg = what + ": " + ec.message();
  if (ec == beast::error::timeout) return DeadlineExceededError(what + ": timed out");
  if (ec == ssl::error::stream_truncated || PeerClosed(ec) ||
      ec == asio::error::connection_refused || ec == asio::error::host_unreachable ||
      ec == asio::error::network_unreachable || ec == asio::error::host_not_found)
    return UnavailableError(msg);
  if (ec.category() == asio::error::get_ssl_category()) return UnauthenticatedError(msg);
  if (ec == bhttp::error::body_limit) return ResourceExhaustedError(what + ": response too large");
  return UnavailableError(msg);
}

struct Conn {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point idle_since{};  // set when it goes back to the pool
  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  // False if the server has closed (or started closing) the idle connection.
  bool LooksAlive() {
    if (buffer.size() != 0) return false;
    char c;
    ssize_t n = ::recv(lowest().socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

}  // namespace

struct Client::Impl {
  explicit Impl(ClientOptions o) : options(std::move(o)) {}

  ClientOptions options;
  std::unique_ptr<ssl::context> tls;
  Mutex mu;
  std::map<std::string, std::vector<std::unique_ptr<Conn>>> idle GUARDED_BY(mu);

  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  // Ended once the io thread is joined (asio_waker.h).
  const std::shared_ptr<internal::IoLife> io_life = std::make_shared<internal::IoLife>();

  std::unique_ptr<Conn> TakeIdle(const std::string& key) EXCLUDES(mu) {
    MutexLock lock(mu);
    auto it = idle.find(key);
    while (it != idle.end() && !it->second.empty()) {
      std::unique_ptr<Conn> c = std::move(it->second.back());
      it->second.pop_back();
      const bool fresh = std::chrono::steady_clock::now() - c->idle_since < options.max_idle_reuse;
      if (fresh && c->LooksAlive()) return c;
    }
    return nullptr;
  }
  void PutIdle(const std::string& key, std::unique_ptr<Conn> c) EXCLUDES(mu) {
    MutexLock lock(mu);
    auto& v = idle[key];
    c->idle_since = std::chrono::steady_clock::now();
    if (v.size() < options.max_idle_per_host) v.push_back(std::move(c));
  }

  asio::awaitable<Result<std::unique_ptr<Conn>>> Connect(const ParsedUrl& url);
  template <class Stream>
  asio::awaitable<boost::system::error_code> Exchange(Stream& stream, Conn& conn,
                                                      const std::string& wire, bool head,
                                                      Response& out, bool& keep_alive,
                                                      bool& got_response);
  asio::awaitable<void> DoSend(ParsedUrl url, std::string wire, std::string method,
                               Result<Response>* out);

  // The io side of SendStreaming (see there).
  struct StreamExchange {
    ParsedUrl url;
    std::string head;  // request line and header, framing included
    std::string method;
    std::shared_ptr<StreamPipe> upload;  // null: no upload
    bool upload_chunked = false;
    uint64_t upload_length = 0;
    std::shared_ptr<StreamPipe> response;  // null: collect into Response::body
    std::shared_ptr<Waker> waker;
  };
  asio::awaitable<void> DoStream(StreamExchange ex, Result<Response>* out);
  template <class Stream>
  asio::awaitable<Status> StreamOn(Stream& stream, Conn& conn, StreamExchange& ex,
                                   Response& response, bool& keep_alive, bool& got_response);
};

asio::awaitable<Result<std::unique_ptr<Conn>>> Client::Impl::Connect(const ParsedUrl& url) {
  const std::string where = url.host + ":" + std::to_string(url.port);
  std::vector<tcp::endpoint> endpoints;
  if (url.host_is_ip) {
    endpoints.emplace_back(asio::ip::make_address(url.host), url.port);
  } else {
    tcp::resolver resolver(io);
    auto [ec, results] = co_await resolver.async_resolve(url.host, std::to_string(url.port), kUse);
    if (ec) co_return UnavailableError("resolve " + url.host + ": " + ec.message());
    for (const auto& r : results) endpoints.push_back(r.endpoint());
  }
  auto conn = std::make_unique<Conn>();
  // Beast receives at most the buffer's free capacity per call (512 bytes minimum).
  conn->buffer.reserve(64 * 1024);
  if (url.tls) {
    if (!tls) co_return InvalidArgumentError("https needs ClientOptions::ca_file");
    conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(io, *tls);
  } else {
    conn->plain = std::make_unique<beast::tcp_stream>(io);
  }
  beast::tcp_stream& lowest = conn->lowest();
  lowest.expires_after(options.connect_timeout);
  auto [cec, ep] = co_await lowest.async_connect(endpoints, kUse);
  if (cec) co_return MapError(cec, "connect " + where);
  boost::system::error_code ignored;
  lowest.socket().set_option(tcp::no_delay(true), ignored);
  if (conn->tls) {
    SSL* ssl_handle = conn->tls->native_handle();
    if (url.host_is_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_handle), url.host.c_str());
    } else {
      // SSL_set_tlsext_host_name is a macro with a C cast; this is what it expands to.
      SSL_ctrl(ssl_handle, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(url.host.c_str()));
      SSL_set1_host(ssl_handle, url.host.c_str());
    }
    auto [hec] = co_await conn->tls->async_handshake(ssl::stream_base::client, kUse);
    if (hec) {
      Status st = MapError(hec, "TLS handshake with " + where);
      long verify = SSL_get_verify_result(ssl_handle);
      if (verify != X509_V_OK && hec != beast::error::timeout)
        st = UnauthenticatedError("TLS handshake with " + where +
                                  ": server certificate: " + X509_verify_cert_error_string(verify));
      co_return st;
    }
  }
  co_return std::move(conn);
}

template <class Stream>
asio::awaitable<boost::system::error_code> Client::Impl::Exchange(Stream& stream, Conn& conn,
                                                                  const std::string& wire,
                                                                  bool head, Response& out,
                                                                  bool& keep_alive,
                                                                  bool& got_response) {
  conn.lowest().expires_after(options.request_timeout);
  auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(wire), kUse);
  if (wec) co_return wec;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(64 * 1024);
  parser.body_limit(options.max_response_bytes);
  if (head) parser.skip(true);
  auto [rec, rn] = co_await bhttp::async_read(stream, conn.buffer, parser, kUse);
  got_response = parser.got_some();
  if (rec) co_return rec;
  auto& msg = parser.get();
  out.status = static_cast<int>(msg.result_int());
  out.content_type.clear();
  for (const auto& f : msg) {
    std::string_view name(f.name_string().data(), f.name_string().size());
    std::string_view value(f.value().data(), f.value().size());
    if (EqualsIgnoreCase(name, "Content-Type")) out.content_type.assign(value);
    out.headers.Add(name, value);
  }
  out.body = std::move(msg.body());
  keep_alive = msg.keep_alive();
  co_return boost::system::error_code();
}

asio::awaitable<void> Client::Impl::DoSend(ParsedUrl url, std::string wire, std::string method,
                                           Result<Response>* out) {
  const std::string key = url.key();
  const std::string where = url.host + ":" + std::to_string(url.port);
  std::unique_ptr<Conn> conn = TakeIdle(key);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = conn != nullptr;
    if (!conn) {
      auto c = co_await Connect(url);
      if (!c.ok()) {
        *out = c.status();
        co_return;
      }
      conn = std::move(*c);
    }
    Response response;
    bool keep_alive = false;
    bool got_response = false;
    boost::system::error_code ec;
    if (conn->tls) {
      ec = co_await Exchange(*conn->tls, *conn, wire, method == "HEAD", response, keep_alive,
                             got_response);
    } else {
      ec = co_await Exchange(*conn->plain, *conn, wire, method == "HEAD", response, keep_alive,
                             got_response);
    }
    if (ec) {
      conn.reset();
      // A stale pooled connection: retried, unless part of a response came (then the server
      // did act on the request and ended it early).
      if (reused && !got_response && PeerClosed(ec) && Idempotent(method)) continue;
      *out = MapError(ec, method + " " + where);
      co_return;
    }
    if (keep_alive) PutIdle(key, std::move(conn));
    *out = std::move(response);
    co_return;
  }
  *out = UnavailableError(method + " " + where + ": connection closed");
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() {
  impl_->work.reset();
  {
    MutexLock lock(impl_->mu);
    impl_->idle.clear();
  }
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->io_life->End();
}

Result<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  const ClientOptions& o = impl->options;
  if (!o.ca_file.empty()) {
    boost::system::error_code ec;
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_3_VERSION);
    ctx->load_verify_file(o.ca_file, ec);
    if (ec) return InvalidArgumentError("http client: CA file " + o.ca_file + ": " + ec.message());
    ctx->set_verify_mode(ssl::verify_peer);
    X509_VERIFY_PARAM_set_purpose(SSL_CTX_get0_param(ctx->native_handle()),
                                  X509_PURPOSE_SSL_SERVER);
    if (!o.cert_file.empty() || !o.key_file.empty()) {
      ctx->use_certificate_chain_file(o.cert_file, ec);
      if (ec)
        return InvalidArgumentError("http client: certificate file " + o.cert_file + ": " +
                                    ec.message());
      ctx->use_private_key_file(o.key_file, ssl::context::pem, ec);
      if (ec)
        return InvalidArgumentError("http client: key file " + o.key_file + ": " + ec.message());
      if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
        return InvalidArgumentError("http client: key file " + o.key_file + " does not match " +
                                    o.cert_file);
    }
    impl->tls = std::move(ctx);
  } else if (!o.cert_file.empty()) {
    return InvalidArgumentError("http client: a client certificate needs ca_file as well");
  }
  impl->work.emplace(impl->io.get_executor());
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    NameThisThread("http-client");
    raw->io.run();
  });
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

namespace {

// The request line and header fields (Host first), without the framing fields and the blank
// line. Errors: kInvalidArgument for a bad method or header.
Status BuildHead(const ClientRequest& request, const ParsedUrl& url, std::string& wire) {
  if (request.method.empty() || request.method.find_first_of(" \r\n\t") != std::string::npos)
    return InvalidArgumentError("method: invalid");
  wire += request.method;
  wire += ' ';
  wire += url.target;
  wire += " HTTP/1.1\r\nHost: ";
  wire += url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  wire += ':';
  wire += std::to_string(url.port);
  wire += "\r\n";
  for (const auto& [k, v] : request.headers.fields()) {
    if (k.empty() || k.find_first_of("\r\n: ") != std::string::npos ||
        v.find_first_of("\r\n") != std::string::npos)
      return InvalidArgumentError("header \"" + k.substr(0, 64) + "\": invalid name or value");
    if (EqualsIgnoreCase(k, "Host") || EqualsIgnoreCase(k, "Content-Length") ||
        EqualsIgnoreCase(k, "Transfer-Encoding"))
      continue;
    wire += k;
    wire += ": ";
    wire += v;
    wire += "\r\n";
  }
  return Status::Ok();
}

}  // namespace

Result<Response> Client::Send(const ClientRequest& request) {
  ASSIGN_OR_RETURN(ParsedUrl url, ParseUrl(request.url));
  if (url.tls && !impl_->tls) return InvalidArgumentError("https needs ClientOptions::ca_file");
  std::string wire;
  wire.reserve(256 + request.body.size());
  RETURN_IF_ERROR(BuildHead(request, url, wire));
  if (!request.body.empty() || (request.method != "GET" && request.method != "HEAD")) {
    wire += "Content-Length: ";
    wire += std::to_string(request.body.size());
    wire += "\r\n";
  }
  wire += "\r\n";
  wire += request.body;

  Result<Response> result = InternalError("http client: no result");
  std::promise<void> done;
  asio::co_spawn(impl_->io, impl_->DoSend(std::move(url), std::move(wire), request.method, &result),
                 [&done](std::exception_ptr) { done.set_value(); });
  done.get_future().wait();
  return result;
}

asio::awaitable<void> Client::Impl::DoStream(StreamExchange ex, Result<Response>* out) {
  // Whatever happens, release the caller's thread if it is blocked on a pipe.
  struct ReleaseCaller {
    StreamExchange& ex;
    Result<Response>* out;
    ~ReleaseCaller() {
      if (ex.upload) ex.upload->CloseConsumer(UnavailableError("http client: connection ended"));
      if (ex.response) ex.response->CloseProducer(out->ok() ? Status::Ok() : out->status());
    }
  } release{ex, out};
  const std::string key = ex.url.key();
  std::unique_ptr<Conn> conn = TakeIdle(key);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = conn != nullptr;
    if (!conn) {
      auto c = co_await Connect(ex.url);
      if (!c.ok()) {
        *out = c.status();
        co_return;
      }
      conn = std::move(*c);
    }
    Response response;
    bool keep_alive = false;
    bool retryable = false;
    Status st;
    // (No co_await inside ?: — GCC 12 destroys such temporaries twice.)
    if (conn->tls) {
      st = co_await StreamOn(*conn->tls, *conn, ex, response, keep_alive, retryable);
    } else {
      st = co_await StreamOn(*conn->plain, *conn, ex, response, keep_alive, retryable);
    }
    if (!st.ok()) {
      conn.reset();
      // Only a request without upload can be sent again (a source cannot be replayed).
      if (reused && retryable && !ex.upload && Idempotent(ex.method)) continue;
      *out = std::move(st);
      co_return;
    }
    if (keep_alive) PutIdle(key, std::move(conn));
    *out = std::move(response);
    co_return;
  }
  *out = UnavailableError(ex.method + " " + ex.url.host + ":" + std::to_string(ex.url.port) +
                          ": connection closed");
}

template <class Stream>
asio::awaitable<Status> Client::Impl::StreamOn(Stream& stream, Conn& conn, StreamExchange& ex,
                                               Response& response, bool& keep_alive,
                                               bool& retryable) {
  const std::string what = ex.method + " " + ex.url.host + ":" + std::to_string(ex.url.port);
  auto& lowest = conn.lowest();
  const auto idle_timeout = options.request_timeout;
  lowest.expires_after(idle_timeout);
  auto [hec, hn] = co_await asio::async_write(stream, asio::buffer(ex.head), kUse);
  if (hec) {
    retryable = PeerClosed(hec);
    co_return MapError(hec, what);
  }

  // Upload: the caller's thread fills the pipe; each chunk is written as it comes.
  boost::system::error_code write_error;
  if (ex.upload) {
    uint64_t sent = 0;
    std::string chunk;
    static constexpr std::string_view kCrLf = "\r\n";
    for (;;) {
      auto state = ex.upload->Pop(chunk, /*arm=*/true);
      if (state == StreamPipe::IoState::kWait) {
        co_await WaitForWake(*ex.waker);
        continue;
      }
      if (state == StreamPipe::IoState::kClosed) {
        Status ps = ex.upload->producer_status();
        if (!ps.ok()) co_return ps;  // the source failed: the connection is dropped
        if (!ex.upload_chunked && sent != ex.upload_length)
          co_return InvalidArgumentError("upload: the source produced " + std::to_string(sent) +
                                         " bytes, upload_length is " +
                                         std::to_string(ex.upload_length));
        if (ex.upload_chunked) {
          static constexpr std::string_view kLast = "0\r\n\r\n";
          lowest.expires_after(idle_timeout);
          auto [ec, n] = co_await asio::async_write(stream, asio::buffer(kLast), kUse);
          write_error = ec;
        }
        break;
      }
      sent += chunk.size();
      if (!ex.upload_chunked && sent > ex.upload_length) {
        ex.upload->Release(chunk.size());
        Status too_long =
            InvalidArgumentError("upload: the source produced more than " +
                                 std::to_string(ex.upload_length) + " bytes (upload_length)");
        ex.upload->CloseConsumer(too_long);
        co_return too_long;
      }
      lowest.expires_after(idle_timeout);
      boost::system::error_code ec;
      if (ex.upload_chunked) {
        char size_line[24];
        auto res = std::to_chars(size_line, size_line + sizeof(size_line) - 2, chunk.size(), 16);
        *res.ptr++ = '\r';
        *res.ptr++ = '\n';
        std::array<asio::const_buffer, 3> bufs = {
            asio::buffer(size_line, static_cast<size_t>(res.ptr - size_line)), asio::buffer(chunk),
            asio::buffer(kCrLf)};
        auto [wec, n] = co_await asio::async_write(stream, bufs, kUse);
        ec = wec;
      } else {
        auto [wec, n] = co_await asio::async_write(stream, asio::buffer(chunk), kUse);
        ec = wec;
      }
      ex.upload->Release(chunk.size());
      chunk.clear();
      if (ec) {
        // The server may have answered early (e.g. 413) and closed: try to read that answer.
        write_error = ec;
        ex.upload->CloseConsumer(MapError(ec, what));
        break;
      }
    }
  }

  bhttp::response_parser<bhttp::buffer_body> parser;
  parser.header_limit(64 * 1024);
  parser.body_limit(boost::none);  // decided below, once the status is known
  if (ex.method == "HEAD") parser.skip(true);
  lowest.expires_after(idle_timeout);
  auto [rec, rn] = co_await bhttp::async_read_header(stream, conn.buffer, parser, kUse);
  if (rec) {
    if (write_error) co_return MapError(write_error, what);
    retryable = !parser.got_some() && PeerClosed(rec);
    co_return MapError(rec, what);
  }
  {
    auto& msg = parser.get();
    response.status = static_cast<int>(msg.result_int());
    response.content_type.clear();
    for (const auto& f : msg) {
      std::string_view name(f.name_string().data(), f.name_string().size());
      std::string_view value(f.value().data(), f.value().size());
      if (EqualsIgnoreCase(name, "Content-Type")) response.content_type.assign(value);
      response.headers.Add(name, value);
    }
    keep_alive = msg.keep_alive() && !write_error;
  }
  // Only a 2xx body goes to the callback; any other (an error document) is collected into
  // Response::body, limited like Send's.
  const bool to_callback = ex.response && response.status >= 200 && response.status < 300;
  if (!to_callback) {
    auto length = parser.content_length();
    if (length && *length > options.max_response_bytes) {
      keep_alive = false;
      co_return ResourceExhaustedError(what + ": response too large");
    }
    parser.body_limit(options.max_response_bytes);
  }

  // Beast reads at most the buffer's free capacity per receive call (512 bytes minimum): give
  // it room, or a large body costs one recvmsg per few hundred bytes.
  if (!parser.is_done()) conn.buffer.reserve(64 * 1024);
  std::string chunk;
  while (!parser.is_done()) {
    char* base = nullptr;
    size_t cap = 0;
    size_t old_size = 0;
    if (to_callback) {
      auto state = ex.response->CanPush(/*arm=*/true);
      if (state == StreamPipe::IoState::kWait) {
        co_await WaitForWake(*ex.waker);
        continue;
      }
      if (state == StreamPipe::IoState::kClosed) {  // the caller's callback failed
        keep_alive = false;
        co_return ex.response->consumer_status();
      }
      // No bigger than what is still to come (see the server's body reader).
      size_t want = internal::kStreamChunkBytes;
      if (auto left = parser.content_length_remaining(); left && *left > 0 && *left < want) {
        want = static_cast<size_t>(*left);
      }
      chunk.resize(want);
      base = chunk.data();
      cap = chunk.size();
    } else {
      cap = 64 * 1024;
      if (auto left = parser.content_length_remaining(); left && *left > 0 && *left < cap) {
        cap = static_cast<size_t>(*left);
      }
      old_size = response.body.size();
      response.body.resize(old_size + cap);
      base = response.body.data() + old_size;
    }
    size_t filled = 0;
    boost::system::error_code ec;
    while (filled < cap && !parser.is_done()) {
      parser.get().body().data = base + filled;
      parser.get().body().size = cap - filled;
      lowest.expires_after(idle_timeout);
      auto [rec2, n] = co_await bhttp::async_read_some(stream, conn.buffer, parser, kUse);
      filled = cap - parser.get().body().size;
      ec = rec2;
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) break;
      // Hand a partial chunk over when the caller has nothing to do.
      if (to_callback && filled > 0 && filled < cap && ex.response->buffered_bytes() == 0) break;
    }
    if (to_callback) {
      if (filled > 0) {
        chunk.resize(filled);
        ex.response->Push(std::move(chunk));
        chunk.clear();
      }
    } else {
      response.body.resize(old_size + filled);
    }
    if (ec) {
      keep_alive = false;
      if (ec == bhttp::error::partial_message || ec == bhttp::error::end_of_stream ||
          ec == asio::error::eof || ec == asio::error::connection_reset ||
          ec == ssl::error::stream_truncated)
        co_return UnavailableError(what + ": response body truncated (" + ec.message() + ")");
      co_return MapError(ec, what);
    }
  }
  if (ex.response) ex.response->CloseProducer(Status::Ok());
  co_return Status::Ok();
}

Result<Response> Client::SendStreaming(
    const ClientRequest& request, BodySource* upload, std::optional<uint64_t> upload_length,
    const std::function<Status(std::string_view)>& on_response_body,
    const std::function<void(uint64_t sent)>& on_progress) {
  ASSIGN_OR_RETURN(ParsedUrl url, ParseUrl(request.url));
  if (url.tls && !impl_->tls) return InvalidArgumentError("https needs ClientOptions::ca_file");
  if (upload != nullptr && !request.body.empty())
    return InvalidArgumentError("http client: an upload source and a request body together");
  Impl::StreamExchange ex;
  RETURN_IF_ERROR(BuildHead(request, url, ex.head));
  if (upload != nullptr) {
    if (upload_length) {
      ex.head += "Content-Length: " + std::to_string(*upload_length) + "\r\n";
      ex.upload_length = *upload_length;
    } else {
      ex.head += "Transfer-Encoding: chunked\r\n";
      ex.upload_chunked = true;
    }
  } else if (!request.body.empty() || (request.method != "GET" && request.method != "HEAD")) {
    ex.head += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  }
  ex.head += "\r\n";
  if (upload == nullptr) ex.head += request.body;
  ex.url = std::move(url);
  ex.method = request.method;
  ex.waker = std::make_shared<Waker>(impl_->io.get_executor());
  if (upload != nullptr) {
    ex.upload = std::make_shared<StreamPipe>();
    ex.upload->SetWake(WakeFn(ex.waker, impl_->io_life));
  }
  if (on_response_body) {
    ex.response = std::make_shared<StreamPipe>();
    ex.response->SetWake(WakeFn(ex.waker, impl_->io_life));
  }
  std::shared_ptr<StreamPipe> upload_pipe = ex.upload;
  std::shared_ptr<StreamPipe> response_pipe = ex.response;

  Result<Response> result = InternalError("http client: no result");
  std::promise<void> done;
  asio::co_spawn(impl_->io, impl_->DoStream(std::move(ex), &result),
                 [&done](std::exception_ptr) { done.set_value(); });
  Status local;  // the source's or the callback's own error wins over the connection's
  if (upload_pipe) {
    std::string buf(internal::kStreamChunkBytes, '\0');
    uint64_t sent = 0;
    for (;;) {
      Result<size_t> n = upload->Read(buf.data(), buf.size());
      if (!n.ok()) {
        local = n.status().WithContext("upload source");
        upload_pipe->CloseProducer(local);
        break;
      }
      if (*n == 0) {
        upload_pipe->CloseProducer(Status::Ok());
        break;
      }
      if (!upload_pipe->Write(std::string_view(buf.data(), *n)).ok()) break;  // see result
      sent += *n;
      if (on_progress) on_progress(sent);
    }
  }
  if (response_pipe) {
    std::string buf(internal::kStreamChunkBytes, '\0');
    for (;;) {
      Result<size_t> n = response_pipe->Read(buf.data(), buf.size());
      if (!n.ok() || *n == 0) break;  // the result tells why
      Status cs = on_response_body(std::string_view(buf.data(), *n));
      if (!cs.ok()) {
        local = cs;
        response_pipe->CloseConsumer(cs);
        break;
      }
    }
  }
  done.get_future().wait();
  if (!local.ok()) return local;
  return result;
}

}  // namespace chukan::http
