#include "http/api_util.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include "common/log.h"
#include "json/json.h"

namespace chukan::http {

Result<std::string> ReadBody(BodyReader& body, size_t max) {
  std::string out;
  char buf[16 * 1024];
  while (true) {
    ASSIGN_OR_RETURN(size_t n, body.Read(buf, sizeof(buf)));
    if (n == 0) return out;
    if (out.size() + n > max) {
      return ResourceExhaustedError("BODY_TOO_LARGE: body: larger than " + std::to_string(max) +
                                    " bytes");
    }
    out.append(buf, n);
  }
}

Result<int64_t> QueryInt(const Request& req, std::string_view name, int64_t fallback, int64_t min,
                         int64_t max) {
  std::optional<std::string_view> v = req.Query(name);
  if (!v) return fallback;
  int64_t out = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || end != v->data() + v->size() || out < min || out > max) {
    return InvalidArgumentError("query parameter " + std::string(name) + ": expected an integer " +
                                std::to_string(min) + ".." + std::to_string(max));
  }
  return out;
}

Result<bool> QueryBool(const Request& req, std::string_view name) {
  std::optional<std::string_view> v = req.Query(name);
  if (!v) return false;
  if (*v == "true") return true;
  if (*v == "false") return false;
  return InvalidArgumentError("query parameter " + std::string(name) + ": expected true or false");
}

Response ReasonErrorResponse(const Status& s, const RequestId& rid, std::string_view log_event,
                             bool hide_unavailable) {
  if (s.code() == StatusCode::kInternal || s.code() == StatusCode::kUnknown ||
      s.code() == StatusCode::kDataLoss ||
      (hide_unavailable && s.code() == StatusCode::kUnavailable)) {
    log::Error(std::string(log_event), {{"error", s.ToString()}, log::RequestIdField(rid)});
    return FromStatus(s, rid);
  }
  if (IsStorageMessage(s.message())) return FromStatus(s, rid);  // logs it, answers without it
  std::string_view message = s.message();
  std::string code(StatusCodeName(s.code()));
  const size_t colon = message.find(": ");
  if (colon != std::string_view::npos && colon > 0 &&
      message.substr(0, colon).find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") ==
          std::string_view::npos) {
    code = std::string(message.substr(0, colon));
  }
  // A body over a route's limit is the client's to shorten (413, as the HTTP server answers a
  // body over its own limit), not a moment of overload to wait out (429).
  const int status = code == "BODY_TOO_LARGE" ? 413 : HttpStatusFor(s.code());
  Response r = Response::Error(status, code, message, rid);
  // As FromStatus: every 503 says when to come back (e.g. BUSY, a full backlog: backpressure).
  if (status == 503) r.headers.Set("Retry-After", "1");
  return r;
}

std::string BatchRequestJson(const std::vector<std::string>& items) {
  size_t size = 16;
  for (const std::string& i : items) size += i.size() + 1;
  std::string out;
  out.reserve(size);
  out += R"({"items":[)";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += items[i];
  }
  out += "]}";
  return out;
}

namespace {

constexpr int kMaxBatchDepth = 12;  // of the whole body, as ParseJsonObject counts it

// The batch's items as the bytes they are in `body`, for a body of exactly the form
// {"items":[{…},{…},…]} with JSON whitespace between its tokens and 1 to kMaxBatchItems items;
// nullopt for anything else (left to the full parse, which names what is wrong). An item is
// the text of one object, up to the brace that balances its first, with strings (and their
// escapes) skipped; its contents are not checked here: the route parses each item in full, as
// the single route parses its body, so an item that is not valid JSON is answered in its own
// result, as it would be alone. No tree is built, and no item is written out again.
std::optional<std::vector<std::string>> SplitBatchItems(std::string_view body) {
  size_t i = 0;
  auto skip_space = [&] {
    while (i < body.size() &&
           (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r')) {
      ++i;
    }
  };
  auto take = [&](std::string_view token) {
    skip_space();
    if (body.substr(i, token.size()) != token) return false;
    i += token.size();
    return true;
  };
  if (!take("{") || !take("\"items\"") || !take(":") || !take("[")) return std::nullopt;
  std::vector<std::string> items;
  do {
    skip_space();
    if (i >= body.size() || body[i] != '{' || items.size() == kMaxBatchItems) return std::nullopt;
    const size_t start = i;
    int depth = 0;
    bool in_string = false;
    for (; i < body.size(); ++i) {
      const char c = body[i];
      if (in_string) {
        if (c == '\\') {
          ++i;  // the escaped character, whatever it is
        } else if (c == '"') {
          in_string = false;
        }
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        if (++depth > kMaxBatchDepth - 2) return std::nullopt;  // the body and its array
      } else if (c == '}' || c == ']') {
        if (--depth == 0) break;
      }
    }
    if (i >= body.size() || body[i] != '}') return std::nullopt;
    ++i;
    items.emplace_back(body.substr(start, i - start));
  } while (take(","));
  if (!take("]") || !take("}")) return std::nullopt;
  skip_space();
  if (i != body.size()) return std::nullopt;
  return items;
}

}  // namespace

Result<std::vector<std::string>> ParseBatchRequest(std::string_view body) {
  if (body.size() <= kMaxBatchBytes) {
    if (std::optional<std::vector<std::string>> items = SplitBatchItems(body)) {
      return std::move(*items);
    }
  }
  // Not of the plain form: the full parse accepts what JSON allows beside it (an escaped key)
  // and names what is wrong.
  ASSIGN_OR_RETURN(json::JsonObject o,
                   json::ParseJsonObject(body, {kMaxBatchBytes, kMaxBatchDepth}));
  RETURN_IF_ERROR(o.RejectUnknownFields({"items"}));
  ASSIGN_OR_RETURN(std::vector<json::JsonObject> items, o.GetObjectArray("items", kMaxBatchItems));
  if (items.empty()) return InvalidArgumentError("field \"items\": empty");
  std::vector<std::string> out;
  out.reserve(items.size());
  for (const json::JsonObject& item : items) out.push_back(item.Text());
  return out;
}

std::string BatchResponseJson(const std::vector<Response>& results) {
  std::string out = R"({"results":[)";
  for (size_t i = 0; i < results.size(); ++i) {
    if (i > 0) out += ',';
    out += R"({"status":)" + std::to_string(results[i].status) + R"(,"body":)";
    out += results[i].body.empty() ? std::string("null") : results[i].body;
    out += '}';
  }
  out += "]}";
  return out;
}

Response AnswerBatch(const std::vector<std::string>& items,
                     const std::function<Result<BatchFinish>(const std::string&)>& start,
                     const std::function<Response(const Status&)>& error) {
  std::vector<Result<BatchFinish>> pending;
  pending.reserve(items.size());
  for (const std::string& item : items) pending.push_back(start(item));
  std::vector<Response> results;
  results.reserve(pending.size());
  for (Result<BatchFinish>& p : pending) {
    Result<Response> r = p.ok() ? (*p)() : Result<Response>(p.status());
    results.push_back(r.ok() ? std::move(*r) : error(r.status()));
  }
  return Response::Json(200, BatchResponseJson(results));
}

std::vector<Result<Response>> SendItems(const std::vector<std::string>& bodies,
                                        std::string_view single_path, std::string_view batch_path,
                                        const PostFn& post) {
  std::vector<Result<Response>> answers;
  answers.reserve(bodies.size());
  auto one_by_one = [&] {
    for (size_t i = 0; i < bodies.size(); ++i) answers.push_back(post(single_path, bodies[i], i));
  };
  if (bodies.size() <= 1) {
    one_by_one();
    return answers;
  }
  Result<Response> r = post(batch_path, BatchRequestJson(bodies), kWholeBatch);
  if (r.ok() && (r->status == 404 || r->status == 405)) {
    one_by_one();
    return answers;
  }
  if (r.ok() && Classify(r) == Delivery::kBusy) {
    // Busy: nothing was handled; each item waits as the receiver asked.
    answers.assign(bodies.size(), Result<Response>(*r));
    return answers;
  }
  Result<std::vector<Response>> each =
      !r.ok()            ? Result<std::vector<Response>>(UnavailableError(r.status().ToString()))
      : r->status != 200 ? Result<std::vector<Response>>(
                               UnavailableError("batch answered HTTP " + std::to_string(r->status)))
                         : ParseBatchResponse(r->body, bodies.size());
  for (size_t i = 0; i < bodies.size(); ++i) {
    answers.push_back(each.ok() ? Result<Response>(std::move((*each)[i]))
                                : Result<Response>(UnavailableError(each.status().message())));
  }
  return answers;
}

Delivery Classify(const Result<Response>& answer) {
  if (!answer.ok()) return Delivery::kRetry;
  const int s = answer->status;
  if (s >= 200 && s < 300) return Delivery::kDelivered;
  // Overload, said so: 429, or a 503 whose error code is BUSY (a full backlog). Any other 503 (a
  // receiver whose storage is down) keeps the backoff and the attempts, so that it ends. The code
  // is the error body's field, not a text that a message or another field could also hold.
  if (s == 429 || (s == 503 && ErrorCode(*answer) == "BUSY")) return Delivery::kBusy;
  if (s >= 400 && s < 500 && s != 408) return Delivery::kRefused;
  return Delivery::kRetry;
}

std::chrono::seconds RetryAfter(const Response& answer) {
  constexpr std::chrono::seconds kDefault(1);
  constexpr int64_t kMax = 60;
  const std::optional<std::string_view> v = answer.headers.Get("Retry-After");
  if (!v || v->empty() || v->size() > 10) return kDefault;
  int64_t n = 0;
  for (char c : *v) {
    if (c < '0' || c > '9') return kDefault;
    n = n * 10 + (c - '0');
  }
  return std::chrono::seconds(std::clamp<int64_t>(n, 1, kMax));
}

Result<std::vector<Response>> ParseBatchResponse(std::string_view body, size_t expected) {
  ASSIGN_OR_RETURN(json::JsonObject o, json::ParseJsonObject(body, {kMaxBatchBytes, 12}));
  ASSIGN_OR_RETURN(std::vector<json::JsonObject> results,
                   o.GetObjectArray("results", kMaxBatchItems));
  if (results.size() != expected) {
    return InvalidArgumentError("batch response: " + std::to_string(results.size()) +
                                " results for " + std::to_string(expected) + " items");
  }
  std::vector<Response> out;
  out.reserve(results.size());
  for (const json::JsonObject& r : results) {
    ASSIGN_OR_RETURN(int64_t status, r.GetInt("status", 100, 599));
    std::string text;
    if (r.Has("body")) {
      ASSIGN_OR_RETURN(json::JsonObject b, r.GetObject("body"));
      text = b.Text();
    }
    out.push_back(Response::Json(static_cast<int>(status), std::move(text)));
  }
  return out;
}

}  // namespace chukan::http
