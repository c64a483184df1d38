// libFuzzer target for HTTP request parsing as chukan's server does it (src/http/server.cc,
// Server::Impl::Serve). The server's read loop is a coroutine on a socket, so this target runs
// the same steps on bytes instead: Boost.Beast's request_parser<empty_body> with the server's
// header limit and no body limit, fed in chunks until the header is done, and the whole
// header's size checked against the limit; then chukan's own
// parsing of the header (Request::ParseTarget, the header fields copied into Request::headers,
// X-Request-Id through RequestId::Parse, BearerToken for Authorization); then, as for a buffered
// route, the body through request_parser<string_body> with the route's body limit, unless
// Content-Length already exceeds it (answered 413 unread).
//
// The first byte picks the header limit (64..16 KiB, the server's default max_header_bytes at
// the top), the second the route's body limit (0..4080 bytes), the third the chunk size in which
// the bytes arrive (1..256); the rest is what the client sends. Properties:
//  - no header longer than the header limit is accepted, nor a body longer than the body limit;
//    an accepted body with a Content-Length has exactly that length. (Beast holds each parse
//    step — the request line, then the fields read so far — to the header limit, not the whole
//    header: this target found that; Serve now checks the whole header's size, as here);
//  - a header accepted holds no CR, LF or NUL in any field name or value (handlers read values
//    such as Idempotency-Key straight into JSON, logs and databases);
//  - Content-Length, when Beast reports one, is the decimal value of the field;
//  - ParseTarget's path starts with '/' and holds no NUL, query names are non-empty, and its
//    errors are kInvalidArgument, leaving the query (and for a bad path, the path) empty;
//  - BearerToken answers kInvalidArgument exactly when Authorization appears more than once, a
//    token only of token68 characters when it succeeds, kUnauthenticated otherwise;
//  - an X-Request-Id that parses is 8..64 characters of [A-Za-z0-9_-].
// The framing check of Serve (Transfer-Encoding other than chunked alone) is private to server.cc
// and not reached here; tests/http covers it.
//
// Boost.Beast is included here only, like in src/http/server.cc and client.cc.
// Run it: scripts/fuzz [SECONDS] http_request. Every build replays fuzz/corpus/http_request/.
#include <algorithm>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "common/ids.h"
#include "http/message.h"
#include "http/server.h"

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using chukan::Result;
using chukan::StatusCode;
using chukan::http::Request;

void Check(bool ok) {
  if (!ok) std::abort();
}

std::string_view View(beast::string_view s) { return std::string_view(s.data(), s.size()); }

bool HasCrLfNul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != s.npos;
}

// Feeds `in` to `parser` through `buffer`, `chunk` bytes at a time, until `done(parser)` or an
// error other than need_more. Returns the error, and adds the bytes the parser consumed to
// `consumed`.
template <class Parser, class Done>
boost::system::error_code Feed(Parser& parser, beast::flat_buffer& buffer, std::string_view& in,
                               size_t chunk, size_t& consumed, Done done) {
  boost::system::error_code ec;
  for (;;) {
    if (buffer.size() > 0) {
      const size_t used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      consumed += used;
      if (ec == bhttp::error::need_more) {
        ec = {};
      } else if (ec) {
        return ec;
      }
      if (done(parser)) return ec;
    }
    if (in.empty()) {
      // The end of the stream, as Beast's read algorithms report it: a parser that has seen no
      // byte must not be told (put_eof asserts got_some()); the server sees end_of_stream.
      if (!parser.got_some()) return bhttp::error::end_of_stream;
      parser.put_eof(ec);
      return ec;
    }
    const size_t n = std::min(chunk, in.size());
    auto space = buffer.prepare(n);
    std::copy_n(in.data(), n, static_cast<char*>(space.data()));
    buffer.commit(n);
    in.remove_prefix(n);
  }
}

void CheckChukanHeaderParsing(const bhttp::request_parser<bhttp::empty_body>& hparser) {
  const auto& hmsg = hparser.get();
  Request req(chukan::RequestId::Generate());
  req.method = std::string(View(hmsg.method_string()));
  req.target = std::string(View(hmsg.target()));
  chukan::Status t = req.ParseTarget();
  if (t.ok()) {
    Check(!req.path.empty() && req.path.front() == '/');
    Check(req.path.find('\0') == std::string::npos);
    for (const auto& [k, v] : req.query) {
      Check(!k.empty() && k.find('\0') == std::string::npos && v.find('\0') == std::string::npos);
    }
  } else {
    // A malformed target leaves path and query empty; a malformed query string leaves query so.
    Check(t.code() == StatusCode::kInvalidArgument && req.query.empty());
    Check(req.path.empty() == (t.message() == "malformed request target"));
  }
  size_t authorizations = 0;
  size_t content_lengths = 0;
  for (const auto& f : hmsg) {
    const std::string_view name = View(f.name_string());
    const std::string_view value = View(f.value());
    Check(!name.empty() && !HasCrLfNul(name) && !HasCrLfNul(value));
    if (chukan::http::EqualsIgnoreCase(name, "Authorization")) ++authorizations;
    if (chukan::http::EqualsIgnoreCase(name, "Content-Length")) ++content_lengths;
    req.headers.Add(name, value);
  }
  Check(req.headers.size() == static_cast<size_t>(std::distance(hmsg.begin(), hmsg.end())));

  Result<std::optional<std::string_view>> token = chukan::http::BearerToken(req);
  if (authorizations > 1) {
    Check(!token.ok() && token.status().code() == StatusCode::kInvalidArgument);
  } else if (token.ok()) {
    Check(token->has_value() == (authorizations == 1));
    if (token->has_value()) {
      const std::string_view tok = **token;
      Check(!tok.empty() && tok.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                                                  "vwxyz0123456789-._~+/=") == tok.npos);
    }
  } else {
    Check(token.status().code() == StatusCode::kUnauthenticated && authorizations == 1);
  }

  const auto xrid = hmsg["X-Request-Id"];
  if (!xrid.empty()) {
    Result<chukan::RequestId> rid = chukan::RequestId::Parse(View(xrid));
    if (rid.ok()) {
      const std::string& s = rid->str();
      Check(s.size() >= 8 && s.size() <= 64 &&
            s.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == s.npos);
    }
  }

  if (hparser.content_length() && content_lengths == 1) {
    const std::string_view text = View(hmsg[bhttp::field::content_length]);
    uint64_t n = 0;
    for (char c : text) {
      if (c >= '0' && c <= '9') n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    Check(n == *hparser.content_length());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const size_t server_limit = chukan::http::ServerLimits{}.max_header_bytes;
  const size_t header_limit = data[0] == 0xFF ? server_limit : 64 + size_t{data[0]} * 64;
  const uint64_t body_limit = uint64_t{data[1]} * 16;
  const size_t chunk = 1 + size_t{data[2]};
  std::string_view in(reinterpret_cast<const char*>(data) + 3, size - 3);

  beast::flat_buffer buffer;
  bhttp::request_parser<bhttp::empty_body> hparser;
  hparser.header_limit(static_cast<std::uint32_t>(header_limit));
  hparser.body_limit(boost::none);
  size_t header_bytes = 0;
  const boost::system::error_code hec = Feed(hparser, buffer, in, chunk, header_bytes,
                                             [](const auto& p) { return p.is_header_done(); });
  if (!hparser.is_header_done()) return 0;  // 400, 431, or the client went away
  Check(!hec || hec == bhttp::error::need_more || hparser.is_done());
  // Beast holds each parse step (the request line, the fields read so far) to the limit, not the
  // whole header; Serve holds the whole header to it (431), as here.
  if (header_bytes > header_limit) return 0;
  CheckChukanHeaderParsing(hparser);

  if (hparser.is_done()) return 0;  // no body announced
  if (hparser.content_length() && *hparser.content_length() > body_limit) return 0;  // 413 unread
  std::optional<uint64_t> content_length;
  if (hparser.content_length()) content_length = *hparser.content_length();
  bhttp::request_parser<bhttp::string_body> parser(std::move(hparser));
  parser.body_limit(body_limit);
  size_t body_bytes = 0;
  const boost::system::error_code bec =
      Feed(parser, buffer, in, chunk, body_bytes, [](const auto& p) { return p.is_done(); });
  if (bec || !parser.is_done()) return 0;  // 413, 400, or the client went away
  const std::string& body = parser.get().body();
  Check(body.size() <= body_limit);
  if (content_length) Check(body.size() == *content_length);
  return 0;
}
