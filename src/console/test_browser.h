// Tests and benchmarks only: a browser's view of the console — a cookie jar, the CSRF token of
// the last page (the hidden "csrf" or "login_csrf" field, and for uploads the X-CSRF-Token
// header the 取込 page's script sends), redirects followed once the way a browser does. The
// requests reach the console through a Transport: in process through an http::Router (the
// gate, the body limit and the handler called directly), or over a socket to a running
// http::Server through an http::Client.
//
// Thread-safety: one Browser per thread; the transports are safe to share.
#ifndef CHUKAN_CONSOLE_TEST_BROWSER_H_
#define CHUKAN_CONSOLE_TEST_BROWSER_H_

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/ids.h"
#include "http/body.h"
#include "http/client.h"
#include "http/message.h"
#include "http/router.h"

namespace chukan::console::testing {

// The new password the tests' members choose at their first login.
inline constexpr std::string_view kNewPassword = "Kyou-no-Tenki-42";

// The Location header of a response ("" without one).
inline std::string Location(const http::Response& r) {
  return std::string(r.headers.Get("Location").value_or(""));
}

// Delivers `req` (method, target, path, query, headers, peer set) with `body`. A transport
// that cannot deliver answers status 0 with the error in the body.
using Transport = std::function<http::Response(http::Request& req, std::string body)>;

// In process: the route's gate, then its body limit (413), then the handler (a streaming
// handler reads `body` from memory). Unknown routes answer the router's 404/405, empty.
inline Transport RouterTransport(const http::Router& router) {
  // A streamed body from memory.
  class StringBody final : public http::BodyReader {
   public:
    explicit StringBody(std::string s) : s_(std::move(s)) {}
    Result<size_t> Read(char* buf, size_t n) override {
      const size_t k = std::min(n, s_.size() - pos_);
      std::memcpy(buf, s_.data() + pos_, k);
      pos_ += k;
      return k;
    }

   private:
    std::string s_;
    size_t pos_ = 0;
  };
  return [&router](http::Request& req, std::string body) {
    http::Router::Match m = router.Find(req.method, req.path, req.path_params);
    if (m.status != 200) return http::Response::Text(m.status, "");
    if (m.options->gate) {
      if (std::optional<http::Response> refused = m.options->gate(req)) return *refused;
    }
    if (body.size() > m.options->max_body_bytes) return http::Response::Text(413, "");
    if (m.streaming != nullptr) {
      StringBody reader(std::move(body));
      return (*m.streaming)(req, reader);
    }
    req.body = std::move(body);
    return (*m.handler)(req);
  };
}

// Over the wire to http://127.0.0.1:`port` with `client` (which must outlive the transport).
// The peer address is the socket's, whatever the request says.
inline Transport ServerTransport(http::Client& client, uint16_t port) {
  return [&client, port](http::Request& req, std::string body) {
    http::ClientRequest r;
    r.method = req.method;
    r.url = "http://127.0.0.1:" + std::to_string(port) + req.target;
    for (const auto& [k, v] : req.headers.fields()) r.headers.Add(k, v);
    r.body = std::move(body);
    Result<http::Response> res = client.Send(r);
    if (!res.ok()) return http::Response(0, "text/plain", res.status().ToString());
    return *std::move(res);
  };
}

class Browser {
 public:
  using Steady = std::chrono::steady_clock;

  explicit Browser(Transport transport) : transport_(std::move(transport)) {}
  explicit Browser(const http::Router& router) : Browser(RouterTransport(router)) {}

  http::Response Get(const std::string& target) { return Send("GET", target, ""); }
  // A raw body, as the 取込 page's script sends a file.
  http::Response Upload(const std::string& target, std::string body, std::string type) {
    content_type_ = std::move(type);
    http::Response r = Send("POST", target, std::move(body));
    content_type_.clear();
    return r;
  }
  // Posts `fields` (url-encoded here) with the CSRF token of the last page unless told not to.
  http::Response Post(const std::string& path,
                      std::vector<std::pair<std::string, std::string>> fields,
                      bool with_csrf = true) {
    std::string body;
    if (with_csrf && !csrf_.empty()) fields.emplace_back(csrf_name_, csrf_);
    for (const auto& [k, v] : fields) {
      if (!body.empty()) body += '&';
      body += Encode(k) + "=" + Encode(v);
    }
    return Send("POST", path, body);
  }

  std::map<std::string, std::string>& cookies() { return cookies_; }
  // The Cookie header the next request carries ("" when the jar is empty).
  std::string CookieHeader() const {
    std::string jar;
    for (const auto& [k, v] : cookies_) jar += (jar.empty() ? "" : "; ") + k + "=" + v;
    return jar;
  }
  // The CSRF token of the last page ("" before one was seen).
  const std::string& csrf() const { return csrf_; }
  const std::vector<std::string>& set_cookies() const { return set_cookies_; }
  // How long the last request took to answer (its redirect, if any, not counted).
  Steady::duration last_time() const { return last_time_; }

  std::string site = "same-origin";  // Sec-Fetch-Site of POSTs
  std::string peer = "127.0.0.1";    // in process only: the peer address the console sees

 private:
  static std::string Encode(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
        out += static_cast<char>(c);
      } else {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%%%02X", c);
        out += buf;
      }
    }
    return out;
  }

  http::Response Send(const std::string& method, const std::string& target, std::string body) {
    http::Request req(RequestId::Generate());
    req.method = method;
    req.target = target;
    // As the server parses it (percent-decoding included).
    if (Status t = req.ParseTarget(); !t.ok()) {
      return http::Response::Error(400, "BAD_REQUEST", t.message(), req.request_id);
    }
    const std::string jar = CookieHeader();
    if (!jar.empty()) req.headers.Set("Cookie", jar);
    if (!content_type_.empty()) req.headers.Set("Content-Type", content_type_);
    if (method == "POST") {
      req.headers.Set("Sec-Fetch-Site", site);
      // What the 取込 page's script sends with an upload.
      if (!csrf_.empty() && csrf_name_ == "csrf") req.headers.Set("X-CSRF-Token", csrf_);
    }
    req.peer.address = peer;
    const Steady::time_point start = Steady::now();
    http::Response r = transport_(req, std::move(body));
    last_time_ = Steady::now() - start;
    set_cookies_.clear();
    for (const auto& [k, v] : r.headers.fields()) {
      if (!http::EqualsIgnoreCase(k, "Set-Cookie")) continue;
      set_cookies_.push_back(v);
      const size_t eq = v.find('=');
      const size_t semi = v.find(';');
      std::string name = v.substr(0, eq);
      std::string value = v.substr(eq + 1, semi - eq - 1);
      if (v.find("Max-Age=0") != std::string::npos) {
        cookies_.erase(name);
      } else {
        cookies_[name] = value;
      }
    }
    // Like a browser, follow a redirect (the page it leads to carries the next form's token),
    // and give the caller the redirect itself.
    if (r.status == 303 && follow_) {
      const std::string to(r.headers.Get("Location").value_or(""));
      std::vector<std::string> cookies = set_cookies_;
      const Steady::duration own = last_time_;
      follow_ = false;
      Send("GET", to, "");
      follow_ = true;
      set_cookies_ = std::move(cookies);
      last_time_ = own;
      return r;
    }
    std::smatch m;
    static const std::regex kCsrf(R"re(name="(csrf|login_csrf)" value="([A-Za-z0-9_-]+)")re");
    if (std::regex_search(r.body, m, kCsrf)) {
      csrf_name_ = m[1];
      csrf_ = m[2];
    }
    return r;
  }

  Transport transport_;
  std::map<std::string, std::string> cookies_;
  std::vector<std::string> set_cookies_;
  std::string csrf_name_;
  std::string csrf_;
  bool follow_ = true;
  std::string content_type_;
  Steady::duration last_time_{};
};

}  // namespace chukan::console::testing

#endif  // CHUKAN_CONSOLE_TEST_BROWSER_H_
