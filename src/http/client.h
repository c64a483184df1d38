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
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "http/body.h"
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
  // Send: covers writing the request and reading the whole response.
  // SendStreaming: an idle timeout instead — each socket read or write (of up to 256 KiB) must
  // make progress within this time, however long the whole exchange takes.
  std::chrono::milliseconds request_timeout{30'000};
  size_t max_idle_per_host = 8;
  // A pooled connection idle longer than this is closed instead of reused. Kept well below
  // servers' keep-alive idle timeouts (chukan's: 60 s, ServerLimits::idle_timeout): a request
  // sent on a connection at the moment the server closes it fails (EPIPE), and a POST is not
  // retried — the soak saw a replica import, sent every 60 s, fail so.
  std::chrono::milliseconds max_idle_reuse{20'000};
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

  // Like Send, but the request body and/or the response body are streamed through a bounded
  // buffer (4 × 256 KiB) instead of being held whole in memory. Blocks; runs `upload->Read`,
  // `on_response_body` and `on_progress` on the calling thread.
  //   upload           nullable. When set, the body is read from it until it returns 0, and
  //                    `request.body` must be empty. When null, `request.body` is sent as by
  //                    Send.
  //   upload_length    with `upload`: sent as Content-Length, and the source must produce
  //                    exactly that many bytes (else kInvalidArgument, connection dropped);
  //                    nullopt: "Transfer-Encoding: chunked".
  //   on_response_body nullable. When set and the status is 2xx, receives the response body
  //                    in pieces, in order, and Response::body stays empty; max_response_bytes
  //                    does not apply. Any other status (an error document) is collected into
  //                    Response::body as by Send, without calling it. A non-OK return stops
  //                    the exchange (the connection is dropped) and is returned by
  //                    SendStreaming. When null, every body is collected into Response::body
  //                    (limited by max_response_bytes).
  //   on_progress      nullable. Called after each piece of the upload is handed to the
  //                    connection, with the total bytes so far: non-decreasing, the last call
  //                    equals the whole upload. (It runs at most 1 MiB ahead of the socket.)
  // Timeouts: connect_timeout as for Send; request_timeout is an idle timeout here (see
  // ClientOptions). A pooled connection is used if it looks alive; a request with an upload
  // is never retried (the source cannot be replayed); one without is retried once like Send
  // when a pooled connection turns out closed before any response byte.
  // Errors: those of Send, and
  //   kInvalidArgument  upload together with a non-empty request.body; upload shorter or
  //                     longer than upload_length
  //   kUnavailable      the response body ended early (the server aborted a streamed
  //                     response: a truncated body is never returned as a success)
  //   the source's error when upload->Read fails; the callback's error when on_response_body
  //   fails.
  // If the server answers before the upload is complete (e.g. 413) and closes, the response is
  // returned when it could still be read, else the write error (kUnavailable).
  Result<Response> SendStreaming(const ClientRequest& request, BodySource* upload,
                                 std::optional<uint64_t> upload_length,
                                 const std::function<Status(std::string_view)>& on_response_body,
                                 const std::function<void(uint64_t sent)>& on_progress);

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace chukan::http

#endif  // CHUKAN_HTTP_CLIENT_H_
