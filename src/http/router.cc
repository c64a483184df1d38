#include "http/router.h"

#include "common/utf8.h"

namespace chukan::http {
namespace {

// Splits "/a/b/c" into {"a","b","c"}; "/" gives {}. A trailing slash gives an empty segment.
void SplitPath(std::string_view path, std::vector<std::string_view>& out) {
  out.clear();
  if (path.empty() || path.front() != '/') return;
  path.remove_prefix(1);
  if (path.empty()) return;
  while (true) {
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
}

bool SameShape(const std::vector<std::string_view>& a, const std::vector<std::string_view>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    bool pa = a[i].front() == '{';
    bool pb = b[i].front() == '{';
    if (pa != pb || (!pa && a[i] != b[i])) return false;
  }
  return true;
}

}  // namespace

Status Router::Add(std::string_view method, std::string_view pattern, Handler handler,
                   RouteOptions options) {
  if (!handler) return InvalidArgumentError("router: empty handler");
  Pattern::Method m;
  m.handler = std::move(handler);
  m.options = std::move(options);
  return AddRoute(method, pattern, std::move(m));
}

Status Router::AddAsync(std::string_view method, std::string_view pattern, AsyncHandler handler,
                        RouteOptions options) {
  if (!handler) return InvalidArgumentError("router: empty handler");
  Pattern::Method m;
  m.async = std::move(handler);
  m.options = std::move(options);
  return AddRoute(method, pattern, std::move(m));
}

Status Router::AddStreaming(std::string_view method, std::string_view pattern,
                            StreamingHandler handler, RouteOptions options) {
  if (!handler) return InvalidArgumentError("router: empty handler");
  Pattern::Method m;
  m.streaming = std::move(handler);
  m.options = std::move(options);
  return AddRoute(method, pattern, std::move(m));
}

Status Router::AddRoute(std::string_view method, std::string_view pattern, Pattern::Method m) {
  m.method = std::string(method);
  if (method.empty()) return InvalidArgumentError("router: empty method");
  if (pattern.empty() || pattern.front() != '/')
    return InvalidArgumentError("router: pattern must start with '/': " + std::string(pattern));
  std::vector<std::string_view> parts;
  SplitPath(pattern, parts);
  std::vector<Segment> segments;
  for (std::string_view part : parts) {
    if (part.empty())
      return InvalidArgumentError("router: empty segment in " + std::string(pattern));
    bool open = part.front() == '{';
    bool close = part.back() == '}';
    if (open != close || (open && part.size() < 3) ||
        part.substr(open ? 1 : 0, part.size() - (open ? 2 : 0)).find_first_of("{}") !=
            std::string_view::npos)
      return InvalidArgumentError("router: bad segment \"" + std::string(part) + "\" in " +
                                  std::string(pattern));
    segments.push_back(open ? Segment{true, std::string(part.substr(1, part.size() - 2))}
                            : Segment{false, std::string(part)});
  }
  for (Pattern& p : patterns_) {
    std::vector<std::string_view> existing;
    SplitPath(p.text, existing);
    if (!SameShape(existing, parts)) continue;
    for (const auto& existing_method : p.methods) {
      if (existing_method.method == method)
        return AlreadyExistsError("router: " + std::string(method) + " " + std::string(pattern) +
                                  " is already registered (as " + p.text + ")");
    }
    p.methods.push_back(std::move(m));
    return Status::Ok();
  }
  Pattern p;
  p.text = std::string(pattern);
  p.segments = std::move(segments);
  p.methods.push_back(std::move(m));
  patterns_.push_back(std::move(p));
  return Status::Ok();
}

Router::Match Router::Find(std::string_view method, std::string_view path,
                           std::vector<std::pair<std::string, std::string>>& params) const {
  Match result;
  // Small paths: a stack array of views avoids a heap allocation per request.
  std::string_view parts[16];
  size_t n = 0;
  if (path.empty() || path.front() != '/') return result;
  std::string_view rest = path.substr(1);
  if (!rest.empty()) {
    while (true) {
      if (n == 16) return result;  // deeper than any route
      size_t slash = rest.find('/');
      parts[n++] = rest.substr(0, slash);
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
    }
  }
  // Best match: the pattern with the most literal segments matched earliest (literal beats
  // parameter at the first differing position).
  const Pattern* best = nullptr;
  int best_index = -1;
  for (size_t pi = 0; pi < patterns_.size(); ++pi) {
    const Pattern& p = patterns_[pi];
    if (p.segments.size() != n) continue;
    bool ok = true;
    for (size_t i = 0; i < n && ok; ++i) {
      const Segment& s = p.segments[i];
      ok = s.param ? !parts[i].empty() : s.text == parts[i];
    }
    if (!ok) continue;
    if (best != nullptr) {
      bool better = false;
      for (size_t i = 0; i < n; ++i) {
        if (best->segments[i].param != p.segments[i].param) {
          better = !p.segments[i].param;
          break;
        }
      }
      if (!better) continue;
    }
    best = &p;
    best_index = static_cast<int>(pi);
  }
  if (best == nullptr) return result;
  result.route = best_index;
  for (const auto& m : best->methods) {
    if (m.method == method) {
      params.clear();
      for (size_t i = 0; i < n; ++i) {
        if (!best->segments[i].param) continue;
        auto decoded = PercentDecode(parts[i], false);
        if (!decoded.ok() || !IsValidUtf8(*decoded)) {
          // A malformed escape or bytes that are not text cannot name any resource (and would
          // otherwise reach handlers, logs and audit entries).
          result.route = -1;
          return result;
        }
        params.emplace_back(best->segments[i].text, std::move(*decoded));
      }
      result.status = 200;
      result.options = &m.options;
      if (m.streaming) {
        result.streaming = &m.streaming;
      } else if (m.async) {
        result.async = &m.async;
      } else {
        result.handler = &m.handler;
      }
      return result;
    }
  }
  result.status = 405;
  for (const auto& m : best->methods) {
    if (!result.allow.empty()) result.allow += ", ";
    result.allow += m.method;
  }
  return result;
}

}  // namespace chukan::http
