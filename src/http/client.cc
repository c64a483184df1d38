// The HTTP client. All Beast/Asio code of the client side lives in this file (compile time).
#include "http/client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

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
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cerrno>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace chukan::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

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
  std::mutex mu;
  std::map<std::string, std::vector<std::unique_ptr<Conn>>> idle;  // GUARDED_BY(mu)

  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;

  std::unique_ptr<Conn> TakeIdle(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = idle.find(key);
    while (it != idle.end() && !it->second.empty()) {
      std::unique_ptr<Conn> c = std::move(it->second.back());
      it->second.pop_back();
      if (c->LooksAlive()) return c;
    }
    return nullptr;
  }
  void PutIdle(const std::string& key, std::unique_ptr<Conn> c) {
    std::lock_guard<std::mutex> lock(mu);
    auto& v = idle[key];
    if (v.size() < options.max_idle_per_host) v.push_back(std::move(c));
  }

  asio::awaitable<Result<std::unique_ptr<Conn>>> Connect(const ParsedUrl& url);
  template <class Stream>
  asio::awaitable<boost::system::error_code> Exchange(Stream& stream, Conn& conn,
                                                      const std::string& wire, bool head,
                                                      Response& out, bool& keep_alive);
  asio::awaitable<void> DoSend(ParsedUrl url, std::string wire, std::string method,
                               Result<Response>* out);
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
                                                                  bool& keep_alive) {
  conn.lowest().expires_after(options.request_timeout);
  auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(wire), kUse);
  if (wec) co_return wec;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.header_limit(64 * 1024);
  parser.body_limit(options.max_response_bytes);
  if (head) parser.skip(true);
  auto [rec, rn] = co_await bhttp::async_read(stream, conn.buffer, parser, kUse);
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
    boost::system::error_code ec;
    if (conn->tls) {
      ec = co_await Exchange(*conn->tls, *conn, wire, method == "HEAD", response, keep_alive);
    } else {
      ec = co_await Exchange(*conn->plain, *conn, wire, method == "HEAD", response, keep_alive);
    }
    if (ec) {
      conn.reset();
      if (reused && PeerClosed(ec) && Idempotent(method)) continue;  // stale pooled connection
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
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->idle.clear();
  }
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
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
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Result<Response> Client::Send(const ClientRequest& request) {
  ASSIGN_OR_RETURN(ParsedUrl url, ParseUrl(request.url));
  if (url.tls && !impl_->tls) return InvalidArgumentError("https needs ClientOptions::ca_file");
  if (request.method.empty() || request.method.find_first_of(" \r\n\t") != std::string::npos)
    return InvalidArgumentError("method: invalid");
  std::string wire;
  wire.reserve(256 + request.body.size());
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
    if (EqualsIgnoreCase(k, "Host") || EqualsIgnoreCase(k, "Content-Length")) continue;
    wire += k;
    wire += ": ";
    wire += v;
    wire += "\r\n";
  }
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

}  // namespace chukan::http
