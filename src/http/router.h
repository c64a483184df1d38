// Router: maps (method, path) to a handler. Patterns are exact segments and `{name}` segments
// ("/api/v1/items/{id}"); a `{name}` segment matches one non-empty path segment and its decoded
// value becomes a path parameter. Exact segments win over parameters at the same position.
// An unknown path gives 404; a known path with the wrong method gives 405 with an Allow header.
//
// Thread-safety: build the router (Add) before handing it to the Server; afterwards it is
// immutable and Match() may be called from any thread.
#ifndef CHUKAN_HTTP_ROUTER_H_
#define CHUKAN_HTTP_ROUTER_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "http/message.h"

namespace chukan::http {

// Runs on a server io thread: must not block for long (hand long work to another executor).
// A handler should report failures with FromStatus(); an exception escaping a handler is
// caught by the server, logged, and answered with a 500 carrying the request id.
using Handler = std::function<Response(Request&)>;

// A handler whose request body is streamed rather than buffered: the server matches the route
// as soon as the header has arrived, then calls the handler on a stream worker thread (see
// ServerOptions::stream_threads) — it may block — while the io thread feeds `body` through a
// bounded buffer. Request::body stays empty. The handler may stop reading early: the server then
// discards the rest of the body (up to ServerLimits::stream_discard_bytes, else it closes the
// connection after the response). Exceptions are turned into a 500 as for Handler. Errors the
// reader returns are listed in http/body.h; after kResourceExhausted the server answers 413 and
// after kDeadlineExceeded / kUnavailable it closes the connection, whatever the handler returns.
using StreamingHandler = std::function<Response(Request&, BodyReader& body)>;

class Router {
 public:
  // Registers `handler` for `method` (e.g. "GET") and `pattern` (must start with '/').
  // Errors: kInvalidArgument for a malformed pattern (empty segment, bad `{}`), or
  // kAlreadyExists if the same method and pattern shape are already registered.
  Status Add(std::string_view method, std::string_view pattern, Handler handler);
  // Registers a streaming handler (see StreamingHandler); same rules and errors as Add.
  Status AddStreaming(std::string_view method, std::string_view pattern, StreamingHandler handler);

  struct Match {
    // One of: 200 (found: exactly one of handler / streaming set, and route), 404 or 405
    // (allow set).
    int status = 404;
    const Handler* handler = nullptr;
    const StreamingHandler* streaming = nullptr;
    // Index of the matched route pattern (0..route_count()-1) when status != 404 — used to
    // label metrics with the pattern rather than the raw path. -1 for 404.
    int route = -1;
    std::string allow;  // for 405: "GET, POST"
  };
  // Matches `path` (already percent-decoded per segment by the caller: pass the raw path and
  // the router decodes parameter values). Fills `params` on success.
  Match Find(std::string_view method, std::string_view path,
             std::vector<std::pair<std::string, std::string>>& params) const;

  // Distinct patterns, in registration order (metrics labels).
  size_t route_count() const { return patterns_.size(); }
  const std::string& pattern(size_t i) const { return patterns_[i].text; }

 private:
  struct Segment {
    bool param = false;
    std::string text;  // literal, or parameter name
  };
  struct Pattern {
    std::string text;
    std::vector<Segment> segments;
    struct Method {
      std::string method;
      Handler handler;
      StreamingHandler streaming;
    };
    std::vector<Method> methods;
  };
  Status AddRoute(std::string_view method, std::string_view pattern, Handler handler,
                  StreamingHandler streaming);
  std::vector<Pattern> patterns_;
};

}  // namespace chukan::http

#endif  // CHUKAN_HTTP_ROUTER_H_
