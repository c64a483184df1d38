// Server: an HTTP/1.1 server (Boost.Beast underneath, C++20 coroutines on an io_context thread
// pool) with keep-alive, optional TLS 1.3 and mutual TLS, size limits, header/idle timeouts,
// graceful shutdown, and built-in /healthz and /metrics. Handlers come from a Router.
//
// Limits and what happens when a client exceeds them:
//   header bigger than max_header_bytes        → 431, connection closed
//   body bigger than max_body_bytes            → 413, connection closed
//   header not complete within header_timeout  → connection closed (no response)
//   body not complete within body_timeout      → connection closed
//   no new request within idle_timeout         → keep-alive connection closed
//   max_requests_per_connection reached        → "Connection: close" on that response
//   max_connections open                       → new connections accepted and closed at once
//   malformed request                          → 400, connection closed
//
// Thread-safety: Start/Stop/port may be called from any one controlling thread; handlers run
// concurrently on the io threads (`threads`). Destroying a running Server stops it with a zero
// grace period.
#ifndef CHUKAN_HTTP_SERVER_H_
#define CHUKAN_HTTP_SERVER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "http/router.h"

namespace chukan::http {

struct TlsServerOptions {
  std::string cert_file;  // PEM certificate (chain), e.g. from `chukan pki issue --server`
  std::string key_file;   // PEM private key
  // Mutual TLS: when non-empty, client certificates are verified against this CA file and the
  // verified identity is put in Request::peer.identity.
  std::string client_ca_file;
  // With client_ca_file: refuse the handshake when the client sends no certificate.
  bool require_client_cert = true;
};

struct ServerLimits {
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 1 << 20;
  std::chrono::milliseconds header_timeout{10'000};  // also bounds the TLS handshake
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};
  uint32_t max_requests_per_connection = 10'000;
  uint32_t max_connections = 10'000;
};

struct ServerOptions {
  std::string host = "127.0.0.1";  // an IP address literal
  uint16_t port = 0;               // 0: an ephemeral port, see Server::port()
  int threads = 1;                 // io_context threads (1..256)
  bool tls = false;                // if true, `tls_options` must name the files
  TlsServerOptions tls_options;
  ServerLimits limits;
  // Log one line per request at debug level (never at info: it would cost throughput).
  bool log_requests = false;
};

class Server {
 public:
  // Validates the options, loads TLS material and binds the listening socket (so port() is
  // known before Start). Does not accept connections yet.
  // Errors: kInvalidArgument for a bad host or thread count; kInvalidArgument naming the file
  // for unreadable or mismatched certificate/key/CA files; kUnavailable if bind/listen fails
  // (port in use); kInvalidArgument if the router already uses /healthz or /metrics.
  static Result<std::unique_ptr<Server>> Create(ServerOptions options, Router router);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts the io threads and accepting. Errors: kFailedPrecondition if already started.
  Status Start();

  // The bound port (useful with port 0).
  uint16_t port() const;

  // Graceful stop: stops accepting, closes idle keep-alive connections, lets requests in
  // flight finish (their responses carry "Connection: close") for up to `grace`, then closes
  // whatever remains and joins the io threads. Blocks until done. Idempotent.
  void Stop(Duration grace);

  // Scrape text of /metrics (Prometheus text format 0.0.4).
  std::string MetricsText() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace chukan::http

#endif  // CHUKAN_HTTP_SERVER_H_
