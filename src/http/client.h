// Client: a blocking HTTP/1.1 client with a keep-alive connection pool, TLS 1.3 and mutual
// TLS, and timeouts. One background io thread per Client does the I/O; Send() blocks the
// calling thread until the response arrives or fails.
//
// Thread-safety: Send() may be called concurrently from any number of threads; each call uses
// its own connection (taken from the pool or newly opened).
#ifndef CHUKAN_HTTP_CLIENT_H_
#define CHUKAN_HTTP_CLIENT_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "common/status.h"
#include "http/message.h"

namespace chukan::http {

struct ClientOptions {
  // PEM CA file to verify https servers against. Required for https URLs.
  std::string ca_file;
  // Mutual TLS: this client's certificate and key (e.g. `chukan pki issue --client`).
  std::string cert_file;
  std::string key_file;
  // Covers TCP connect and the TLS handshake.
  std::chrono::milliseconds connect_timeout{5'000};
  // Covers writing the request and reading the whole response.
  std::chrono::milliseconds request_timeout{30'000};
  size_t max_idle_per_host = 8;
  size_t max_response_bytes = 64 << 20;
};

struct ClientRequest {
  std::string method = "GET";
  // "http://HOST:PORT/path?query" or "https://…"; HOST is an IP literal (IPv6 in brackets) or
  // a DNS name. For https the server certificate must match HOST (DNS SAN or IP SAN).
  std::string url;
  Headers headers;
  std::string body;
};

class Client {
 public:
  // Loads TLS material. Errors: kInvalidArgument naming the file that cannot be read or a key
  // that does not match its certificate.
  static Result<std::unique_ptr<Client>> Create(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends one request and returns the response (any HTTP status is a successful Send).
  // Blocks. A pooled connection that turns out to be closed by the server is retried once on a
  // new connection for idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS).
  // Errors:
  //   kInvalidArgument   malformed URL, https without ca_file, CR/LF in a header
  //   kUnavailable       connection refused/reset/closed, DNS failure
  //   kDeadlineExceeded  connect_timeout or request_timeout elapsed
  //   kUnauthenticated   TLS failure: the server certificate does not verify against ca_file or
  //                      does not match the host, or the server rejected our certificate
  //                      (or sent none we accept) during the handshake
  //   kResourceExhausted response larger than max_response_bytes
  Result<Response> Send(const ClientRequest& request);

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace chukan::http

#endif  // CHUKAN_HTTP_CLIENT_H_
