#include "http/api_util.h"

#include <charconv>

#include "common/log.h"

namespace chukan::http {

Result<std::string> ReadBody(BodyReader& body, size_t max) {
  std::string out;
  char buf[16 * 1024];
  while (true) {
    ASSIGN_OR_RETURN(size_t n, body.Read(buf, sizeof(buf)));
    if (n == 0) return out;
    if (out.size() + n > max) {
      return ResourceExhaustedError("body: larger than " + std::to_string(max) + " bytes");
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

Response ReasonErrorResponse(const Status& s, const RequestId& rid, std::string_view log_event,
                             bool hide_unavailable) {
  if (s.code() == StatusCode::kInternal || s.code() == StatusCode::kUnknown ||
      s.code() == StatusCode::kDataLoss ||
      (hide_unavailable && s.code() == StatusCode::kUnavailable)) {
    log::Error(std::string(log_event), {{"error", s.ToString()}, log::RequestIdField(rid)});
    return FromStatus(s, rid);
  }
  std::string_view message = s.message();
  std::string code(StatusCodeName(s.code()));
  const size_t colon = message.find(": ");
  if (colon != std::string_view::npos && colon > 0 &&
      message.substr(0, colon).find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") ==
          std::string_view::npos) {
    code = std::string(message.substr(0, colon));
  }
  return Response::Error(HttpStatusFor(s.code()), code, message, rid);
}

}  // namespace chukan::http
