#include "http/message.h"

#include "common/log.h"
#include "json/json.h"

namespace chukan::http {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::optional<std::string_view> FindParam(
    const std::vector<std::pair<std::string, std::string>>& params, std::string_view name) {
  for (const auto& [k, v] : params) {
    if (k == name) return std::string_view(v);
  }
  return std::nullopt;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

void Headers::Add(std::string_view name, std::string_view value) {
  fields_.emplace_back(std::string(name), std::string(value));
}

void Headers::Set(std::string_view name, std::string_view value) {
  Remove(name);
  Add(name, value);
}

void Headers::Remove(std::string_view name) {
  std::erase_if(fields_, [&](const Field& f) { return EqualsIgnoreCase(f.first, name); });
}

std::optional<std::string_view> Headers::Get(std::string_view name) const {
  for (const Field& f : fields_) {
    if (EqualsIgnoreCase(f.first, name)) return std::string_view(f.second);
  }
  return std::nullopt;
}

Status Request::ParseTarget() {
  path.clear();
  query.clear();
  const std::string_view t = target;
  const size_t q = t.find('?');
  const std::string_view raw_path = t.substr(0, q);
  Result<std::string> decoded = PercentDecode(raw_path, false);
  if (!decoded.ok() || raw_path.empty() || raw_path.front() != '/') {
    return InvalidArgumentError("malformed request target");
  }
  path = std::move(*decoded);
  if (q != std::string_view::npos) {
    std::string_view qs = t.substr(q + 1);
    while (!qs.empty()) {
      const size_t amp = qs.find('&');
      const std::string_view pair = qs.substr(0, amp);
      const size_t eq = pair.find('=');
      Result<std::string> k = PercentDecode(pair.substr(0, eq), true);
      Result<std::string> v =
          PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
      if (!k.ok() || !v.ok()) {
        query.clear();
        return InvalidArgumentError("malformed query string");
      }
      if (!k->empty()) query.emplace_back(std::move(*k), std::move(*v));
      if (amp == std::string_view::npos) break;
      qs.remove_prefix(amp + 1);
    }
  }
  return Status();
}

std::optional<std::string_view> Request::Query(std::string_view name) const {
  return FindParam(query, name);
}
std::optional<std::string_view> Request::PathParam(std::string_view name) const {
  return FindParam(path_params, name);
}

Response Response::Json(int status, std::string json_text) {
  return Response(status, "application/json", std::move(json_text));
}

Response Response::Text(int status, std::string text) {
  return Response(status, "text/plain; charset=utf-8", std::move(text));
}

Response Response::Error(int status, std::string_view code, std::string_view message,
                         const RequestId& request_id) {
  std::string body;
  body.reserve(64 + code.size() + message.size() + request_id.str().size());
  body += "{\"error\":{\"code\":";
  log::AppendJsonString(body, code);
  body += ",\"message\":";
  log::AppendJsonString(body, message);
  body += ",\"request_id\":";
  log::AppendJsonString(body, request_id.str());
  body += "}}";
  return Json(status, std::move(body));
}

std::string ErrorCode(const Response& response) {
  // An error body is a few hundred bytes, two levels deep; room for fields a peer may add.
  constexpr json::JsonLimits kLimits{64 << 10, 4};
  Result<json::JsonObject> body = json::ParseJsonObject(response.body, kLimits);
  if (!body.ok()) return "";
  Result<json::JsonObject> error = body->GetObject("error");
  if (!error.ok()) return "";
  Result<std::string> code = error->GetString("code", 64);
  return code.ok() ? std::move(*code) : std::string();
}

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kAborted:
      return 409;
    case StatusCode::kFailedPrecondition:
      return 412;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kCancelled:
      return 499;
    case StatusCode::kUnimplemented:
      return 501;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kUnknown:
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
      return 500;
  }
  return 500;
}

bool IsStorageMessage(std::string_view message) {
  for (std::string_view prefix : {"sqlite: ", "postgres: ", "store: "}) {
    for (size_t at = message.find(prefix); at != std::string_view::npos;
         at = message.find(prefix, at + 1)) {
      if (at == 0 || message[at - 1] == ' ' || message[at - 1] == '(') return true;
    }
  }
  return false;
}

Response FromStatus(const Status& status, const RequestId& request_id) {
  if (status.ok()) {
    return Response::Error(500, "INTERNAL", "internal error", request_id);
  }
  // A transaction the database aborted (a deadlock between nodes, a serialization failure)
  // succeeds when tried again: 503, which every client retries — not 409, which the hub and the
  // servers take as a refusal for good. Found by the cluster test: a deadlock between two server
  // nodes answered the hub's result 409, and the inquiry stayed without its answer.
  if (status.code() == StatusCode::kAborted && IsStorageMessage(status.message())) {
    log::Warn("http.storage_conflict", {log::StatusField(status), log::RequestIdField(request_id)});
    Response r = Response::Error(503, "UNAVAILABLE",
                                 "storage was busy with a conflicting change; retry", request_id);
    r.headers.Set("Retry-After", "1");
    return r;
  }
  const int http_status = HttpStatusFor(status.code());
  std::string_view message = status.message();
  if (http_status == 500) {
    message = "internal error; quote the request id to the operator";
  } else if (IsStorageMessage(message)) {
    log::Error("http.storage_error", {log::StatusField(status), log::RequestIdField(request_id)});
    message = http_status == 503 ? "storage is unavailable; quote the request id to the operator"
                                 : "storage error; quote the request id to the operator";
  }
  Response r = Response::Error(http_status, StatusCodeName(status.code()), message, request_id);
  if (http_status == 503) {
    // Every 503 says when to come back: a lost database connection or a failover in progress
    // (found by the failover test: this 503 came without it), or a receiver whose backlog is
    // full (backpressure: the sender waits this long before it sends again).
    r.headers.Set("Retry-After", "1");
  }
  return r;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 499:
      return "Client Closed Request";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

Result<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) {
        return InvalidArgumentError("malformed percent escape");
      }
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return InvalidArgumentError("malformed percent escape");
      char d = static_cast<char>(hi * 16 + lo);
      if (d == '\0') return InvalidArgumentError("percent-encoded NUL");
      out.push_back(d);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<std::optional<std::string_view>> BearerToken(const Request& req) {
  std::optional<std::string_view> value;
  for (const auto& [name, v] : req.headers.fields()) {
    if (!EqualsIgnoreCase(name, "Authorization")) continue;
    if (value) return InvalidArgumentError("more than one Authorization header");
    value = v;
  }
  if (!value) return std::optional<std::string_view>();
  std::string_view text = *value;
  constexpr std::string_view kScheme = "bearer";
  if (text.size() <= kScheme.size() || !EqualsIgnoreCase(text.substr(0, kScheme.size()), kScheme) ||
      text[kScheme.size()] != ' ') {
    return UnauthenticatedError("a bearer token is required (Authorization: Bearer …)");
  }
  text.remove_prefix(kScheme.size());
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  // token68 (RFC 9110 §11.2): 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
  size_t i = 0;
  auto token_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
  };
  while (i < text.size() && token_char(text[i])) ++i;
  const size_t body = i;
  while (i < text.size() && text[i] == '=') ++i;
  if (body == 0 || i != text.size()) {
    return UnauthenticatedError("a bearer token is required (Authorization: Bearer …)");
  }
  return std::optional<std::string_view>(text);
}

}  // namespace chukan::http
