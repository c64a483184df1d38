// Helpers for tests that talk to a server on the wire with a raw socket (to misbehave, or to see
// exactly what the server sends): loopback only.
#ifndef CHUKAN_TESTS_HTTP_WIRE_UTIL_H_
#define CHUKAN_TESTS_HTTP_WIRE_UTIL_H_

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status_matchers.h"
#include "http/server.h"

namespace chukan::http::testing {

// A TCP connection to 127.0.0.1:port, or -1.
inline int RawConnect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads until EOF or error (or `timeout_s` seconds without data); returns what arrived.
inline std::string ReadAll(int fd, int timeout_s = 5) {
  timeval tv{timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// A started plain-HTTP server on 127.0.0.1, port 0 (null after a failed expectation).
inline std::unique_ptr<Server> StartPlain(Router r, ServerOptions o = {}) {
  auto s = Server::Create(std::move(o), std::move(r));
  EXPECT_OK(s.status());
  if (!s.ok()) return nullptr;
  EXPECT_OK((*s)->Start());
  return std::move(*s);
}

// The common name of the certificate the server presents to a new connection ("" when the
// handshake fails).
inline std::string PresentedCommonName(uint16_t port) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        &SSL_CTX_free);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  const int fd = RawConnect(port);
  if (fd < 0) return "";
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), &SSL_free);
  SSL_set_fd(ssl.get(), fd);
  std::string cn;
  if (SSL_connect(ssl.get()) == 1) {
    if (X509* cert = SSL_get1_peer_certificate(ssl.get()); cert != nullptr) {
      char buf[256] = {};
      if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof(buf)) >
          0) {
        cn = buf;
      }
      X509_free(cert);
    }
  }
  ERR_clear_error();
  ::close(fd);
  return cn;
}

}  // namespace chukan::http::testing

#endif  // CHUKAN_TESTS_HTTP_WIRE_UTIL_H_
