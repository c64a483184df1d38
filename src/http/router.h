// Router: maps (method, path) to a handler and its RouteOptions (a gate checked before the body
// is read, and the body's size limit). Patterns are exact segments and `{name}` segments
// ("/api/v1/items/{id}"); a `{name}` segment matches one non-empty path segment and its decoded
// value becomes a path parameter (a value that is not valid UTF-8, or holds a NUL, names no
// resource: 404). Exact segments win over parameters at the same position.
// An unknown path gives 404; a known path with the wrong method gives 405 with an Allow header.
//
// Thread-safety: build the router (Add) before handing it to the Server; afterwards it is
// immutable and Match() may be called from any thread.
#ifndef CHUKAN_HTTP_ROUTER_H_
#define CHUKAN_HTTP_ROUTER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "http/message.h"

namespace chukan::http {

// Every handler runs on one of the server's worker threads (ServerOptions::workers), never on an
// io thread, so it may block on storage or a lock without stalling other connections. A handler
// should report failures with FromStatus(); an exception escaping a handler is caught by the
// server, logged, and answered with a 500 carrying the request id. Its body (Request::body) has
// been read whole, up to the route's RouteOptions::max_body_bytes.
using Handler = std::function<Response(Request&)>;

// A handler that answers later, from any thread, through its Responder — for waits that must
// not hold a thread (long polls). It runs on a worker thread like Handler and should return
// quickly; the connection waits (holding no thread) until Send is called. A Responder dropped
// without Send answers 500. The Request lives until Send: copy what a later Send needs.
class Responder {
 public:
  struct Slot;
  Responder() = default;
  explicit Responder(std::shared_ptr<Slot> slot);
  // A Responder tied to no connection: Send (or dropping it unsent: a 500) calls `deliver` with
  // the response, on the sending thread — for calling an AsyncHandler in-process (tests).
  static Responder Calling(std::function<void(Response)> deliver);
  Responder(Responder&&) noexcept = default;
  Responder& operator=(Responder&&) noexcept = default;
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  ~Responder();
  // Hands the response to the connection. Only the first call counts; later ones are ignored.
  void Send(Response response);
  // False once Send was called (or for a default-constructed Responder).
  bool pending() const { return slot_ != nullptr; }

 private:
  std::shared_ptr<Slot> slot_;
};
using AsyncHandler = std::function<void(Request&, Responder)>;

// A handler whose request body is streamed rather than buffered: the server matches the route
// as soon as the header has arrived (and has passed the route's gate), then calls the handler
// on a worker thread — it may block — while the io thread feeds `body` through a bounded
// buffer. Request::body stays empty. The handler may stop reading early: the server then
// discards the rest of the body (up to ServerLimits::stream_discard_bytes, else it closes the
// connection after the response). Exceptions are turned into a 500 as for Handler. Errors the
// reader returns are listed in http/body.h; after kResourceExhausted the server answers 413 and
// after kDeadlineExceeded / kUnavailable it closes the connection, whatever the handler returns.
using StreamingHandler = std::function<Response(Request&, BodyReader& body)>;

// Decides from the request header alone (Request::body is still empty) whether the request may
// go on: nullopt lets it through — the gate may set Request::principal for the handler — and a
// Response refuses it. A refused request's body is never read (the connection is closed after
// the answer when a body was announced). Runs on a worker thread unless the route's
// RouteOptions::inline_gate says it neither blocks nor does I/O.
using Gate = std::function<std::optional<Response>(Request&)>;

// The default limit of a route's body: small, so that a route that does not ask for more can
// never be made to buffer much.
inline constexpr uint64_t kDefaultMaxBodyBytes = 64 * 1024;

struct RouteOptions {
  // Checked before any body byte is read (see Gate); empty: no check.
  Gate gate;
  // The gate neither blocks nor does I/O (a certificate check): run it on the io thread and
  // save a hand-off to a worker.
  bool inline_gate = false;
  // The largest body the route takes (decoded bytes); a larger Content-Length is answered with
  // 413 before the body is read, a chunked body when it crosses the limit.
  uint64_t max_body_bytes = kDefaultMaxBodyBytes;
};

class Router {
 public:
  // Registers `handler` for `method` (e.g. "GET") and `pattern` (must start with '/').
  // Errors: kInvalidArgument for a malformed pattern (empty segment, bad `{}`), or
  // kAlreadyExists if the same method and pattern shape are already registered.
  Status Add(std::string_view method, std::string_view pattern, Handler handler,
             RouteOptions options = {});
  // Registers an asynchronous handler (see AsyncHandler); same rules and errors as Add.
  Status AddAsync(std::string_view method, std::string_view pattern, AsyncHandler handler,
                  RouteOptions options = {});
  // Registers a streaming handler (see StreamingHandler); same rules and errors as Add.
  Status AddStreaming(std::string_view method, std::string_view pattern, StreamingHandler handler,
                      RouteOptions options = {});

  struct Match {
    // One of: 200 (found: exactly one of handler / async / streaming set, options and route),
    // 404 or 405 (allow set).
    int status = 404;
    const Handler* handler = nullptr;
    const AsyncHandler* async = nullptr;
    const StreamingHandler* streaming = nullptr;
    const RouteOptions* options = nullptr;
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
      AsyncHandler async;
      StreamingHandler streaming;
      RouteOptions options;
    };
    std::vector<Method> methods;
  };
  Status AddRoute(std::string_view method, std::string_view pattern, Pattern::Method m);
  std::vector<Pattern> patterns_;
};

}  // namespace chukan::http

#endif  // CHUKAN_HTTP_ROUTER_H_
