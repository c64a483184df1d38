// Server: an HTTP/1.1 server (Boost.Beast underneath, C++20 coroutines on io threads, each
// running an io_context of its own that holds its share of the connections) with keep-alive,
// optional TLS 1.3 and mutual TLS, size limits, header/idle timeouts, graceful shutdown, and
// built-in /healthz and /metrics. Handlers come from a Router.
//
// Threads: the io threads (`threads`) only move bytes and parse; they never run a handler, a
// gate or anything that may block. Every handler, gate (unless inline) and response producer
// runs on the `workers` threads; an io coroutine waiting for one holds no thread. An
// AsyncHandler (a long poll) holds no worker either while it waits.
//
// Order of work for a request: the header is read and parsed; the route is matched (unknown
// paths, wrong methods, /healthz and /metrics are answered from the header alone, and their body
// is never read); a Content-Length over the route's max_body_bytes is answered 413; the route's
// gate (authentication) runs — a refusal is answered without reading the body; only then is
// the body read (up to the route's limit) or streamed, and the handler run. A connection whose
// announced body was not read is closed after the answer.
//
// Limits and what happens when a client exceeds them:
//   header bigger than max_header_bytes        → 431, connection closed
//   Content-Length over the route's limit      → 413 before any body byte is read, closed
//   buffered body crossing the route's limit   → 413, connection closed
//   Transfer-Encoding other than "chunked", or
//   both Transfer-Encoding and Content-Length  → 400, connection closed (RFC 9112 §6.1, §6.3)
//   header not complete within header_timeout  → connection closed (no response)
//   body not complete within body_timeout      → connection closed
//   no new request within idle_timeout         → keep-alive connection closed
//   max_requests_per_connection reached        → "Connection: close" on that response
//   max_connections open                       → new connections accepted and closed at once
//   malformed request                          → 400, connection closed
//   streamed body over the route's limit       → 413, connection closed (a chunked body when
//                                                it crosses the limit: the reader fails with
//                                                kResourceExhausted)
//   streamed body idle for body_timeout, or not
//   complete within stream_body_total_timeout  → reader fails (kDeadlineExceeded), connection
//                                                closed (no response)
//   streaming handler returned before the end  → the rest is read and discarded, up to
//                                                stream_discard_bytes; beyond that the response
//                                                carries "Connection: close" and the connection
//                                                is closed after it
//
// Every response carries "Cache-Control: no-store" (unless the handler set its own) and
// "X-Content-Type-Options: nosniff": API answers may carry personal data.
//
// Streaming: routes added with Router::AddStreaming get their body through a BodyReader; any
// Response may carry a `stream` producer (sent chunked). Bytes cross through a bounded buffer of
// 4 × 256 KiB per stream, with backpressure on the socket.
//
// Thread-safety: Start/Stop/port may be called from any one controlling thread. Destroying a
// running Server stops it with a zero grace period.
#ifndef CHUKAN_HTTP_SERVER_H_
#define CHUKAN_HTTP_SERVER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
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
  // (Body limits are per route: RouteOptions::max_body_bytes.)
  // What the server reads and throws away after a streaming handler returned before the end
  // of its body, to keep the connection usable; a longer rest closes the connection instead.
  uint64_t stream_discard_bytes = uint64_t{1} << 20;
  std::chrono::milliseconds header_timeout{10'000};  // also bounds the TLS handshake
  // Buffered bodies: the whole body must arrive within this time. Streamed bodies: no new
  // bytes for this long (an idle timeout, as a large upload legitimately takes long).
  std::chrono::milliseconds body_timeout{30'000};
  // A streamed body must be complete within this time however steadily it trickles (a client
  // sending a byte every few seconds is cut here).
  std::chrono::milliseconds stream_body_total_timeout{30 * 60'000};
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};
  uint32_t max_requests_per_connection = 10'000;
  uint32_t max_connections = 10'000;
};

enum class MetricsAccess { kLoopback, kAnyone, kToken };

struct ServerOptions {
  std::string host = "127.0.0.1";  // an IP address literal
  uint16_t port = 0;               // 0: an ephemeral port, see Server::port()
  int threads = 1;                 // io threads (1..256), each with its own io_context
  // Worker threads (1..256) that run handlers, gates and response producers. Work waits for a
  // free worker when all are busy (holding no io thread meanwhile).
  int workers = 2;
  bool tls = false;  // if true, `tls_options` must name the files
  TlsServerOptions tls_options;
  ServerLimits limits;
  // Log one line per request at debug level (never at info: it would cost throughput).
  bool log_requests = false;
  // Who may read /metrics: peers on a loopback address (the default), anyone, or callers with
  // "Authorization: Bearer <metrics_token>". Others get 403.
  MetricsAccess metrics_access = MetricsAccess::kLoopback;
  std::string metrics_token;
  // /readyz, for a load balancer: whether this node can take requests now (its database takes
  // writes). OK → 200 {"status":"ready"}; an error → 503 {"status":"not_ready","reason":…} with
  // the error's message. Called on an io thread for each probe: it must not block (read a flag
  // kept by a background loop). Unset: /readyz answers as /healthz.
  std::function<Status()> readiness;
};

class Server {
 public:
  // Validates the options, loads TLS material and binds the listening socket (so port() is
  // known before Start). Does not accept connections yet.
  // Errors: kInvalidArgument for a bad host or thread count; kInvalidArgument naming the file
  // for unreadable or mismatched certificate/key/CA files; kUnavailable if bind/listen fails
  // (port in use); kInvalidArgument if the router already uses /healthz, /readyz or /metrics.
  static Result<std::unique_ptr<Server>> Create(ServerOptions options, Router router);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts the io threads and accepting. Errors: kFailedPrecondition if already started.
  Status Start();

  // Reads the TLS files named in the options again (a renewed certificate, key or client CA)
  // and makes new connections use them; connections already open keep the ones they started
  // with. On an error nothing changes (the previous files stay in use) and the error names the
  // file; logged either way ("http.tls_reloaded" with the new certificate's expiry, or
  // "http.tls_reload_failed"). kFailedPrecondition for a listener without TLS. Thread-safe.
  Status ReloadTls();

  // The bound port (useful with port 0).
  uint16_t port() const;

  // Graceful stop: stops accepting, closes idle keep-alive connections, lets requests in
  // flight finish (their responses carry "Connection: close") for up to `grace`, then closes
  // whatever remains and joins the io threads. Blocks until done. Idempotent.
  void Stop(Duration grace);

  // Scrape text of /metrics (Prometheus text format 0.0.4).
  std::string MetricsText() const;

  // The most body bytes ever buffered at once by one stream (request or response) — bounded
  // by 4 × 256 KiB whatever the body size; exported as chukan_http_stream_buffered_bytes_max.
  uint64_t MaxStreamBufferedBytes() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace chukan::http

#endif  // CHUKAN_HTTP_SERVER_H_
