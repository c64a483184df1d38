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

class Router {
 public:
  // Registers `handler` for `method` (e.g. "GET") and `pattern` (must start with '/').
  // Errors: kInvalidArgument for a malformed pattern (empty segment, bad `{}`), or
  // kAlreadyExists if the same method and pattern shape are already registered.
  Status Add(std::string_view method, std::string_view pattern, Handler handler);

  struct Match {
    // One of: 200 (found: handler and route set), 404 or 405 (allow set).
    int status = 404;
    const Handler* handler = nullptr;
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
    std::vector<std::pair<std::string, Handler>> methods;
  };
  std::vector<Pattern> patterns_;
};

}  // namespace chukan::http

#endif  // CHUKAN_HTTP_ROUTER_H_
