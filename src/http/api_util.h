// Helpers shared by the JSON APIs: the server's /api/v1 and /node/v1 routes and the hub's
// /hub/v1 routes. Streaming handlers read their bodies, parse query integers and answer errors
// the same way everywhere.
//
// Thread-safety: free functions, no shared state.
#ifndef CHUKAN_HTTP_API_UTIL_H_
#define CHUKAN_HTTP_API_UTIL_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "http/body.h"
#include "http/message.h"

namespace chukan::http {

// Reads a whole request body of at most `max` bytes.
// Errors: kResourceExhausted "BODY_TOO_LARGE: body: larger than N bytes" (ReasonErrorResponse
// answers it 413); the reader's own errors.
Result<std::string> ReadBody(BodyReader& body, size_t max);

// The query parameter `name` as an integer in [min, max], or `fallback` when absent.
// Errors: kInvalidArgument "query parameter NAME: expected an integer MIN..MAX" (also for
// trailing characters such as "100abc").
Result<int64_t> QueryInt(const Request& req, std::string_view name, int64_t fallback, int64_t min,
                         int64_t max);

// The query parameter `name` as a boolean: "true" or "false"; false when absent.
// Errors: kInvalidArgument "query parameter NAME: expected true or false".
Result<bool> QueryBool(const Request& req, std::string_view name);

// An error response for `s`. A message of the form "REASON_CODE: text" puts REASON_CODE in the
// error's code, otherwise the status code's name is used; BODY_TOO_LARGE is answered 413. Internal
// failures (kInternal, kUnknown, kDataLoss, and kUnavailable when `hide_unavailable`) are logged as
// `log_event` and answered without their message; so is a store's message with any status
// (FromStatus: logged as `http.storage_error`). A 503 carries `Retry-After: 1`.
Response ReasonErrorResponse(const Status& s, const RequestId& rid, std::string_view log_event,
                             bool hide_unavailable);

// Batches: one request that carries several items of one kind between the same two parties
// (the hub and a node), so that many messages share one round trip, one handler and one group
// commit. Request: {"items":[<item>, …]}, each item exactly the JSON object the single-item
// route takes. Response 200: {"results":[{"status":<the item's HTTP status>,"body":<the item's
// JSON answer>}, …]}, one per item, in order. An error of the batch as a whole (not
// authenticated, malformed) is an ordinary error response.
inline constexpr size_t kMaxBatchItems = 64;
inline constexpr size_t kMaxBatchBytes = 16 << 20;

// `items` must be JSON objects (from JsonWriter or a stored JSON text).
std::string BatchRequestJson(const std::vector<std::string>& items);
// The items of a batch request, each as JSON text: for a body of the plain form (the key
// "items" as such, JSON whitespace between the tokens) the bytes each item is in the body, split
// off without building a tree and not checked inside (the route parses each, as the single route
// parses its body); anything else goes through the full JSON parse. Errors: kInvalidArgument
// naming the field ("field \"items[3]\": expected an object", "more than 64 items", unknown
// fields).
Result<std::vector<std::string>> ParseBatchRequest(std::string_view body);
// Each response's body must be JSON text.
std::string BatchResponseJson(const std::vector<Response>& results);
// A receiver's whole batch: `start` runs for every item first (checks, signatures, and handing
// its write to a group committer), then each returned call runs in order and waits for its
// outcome; a failed start or call becomes `error(status)`. Returns the 200 batch response.
using BatchFinish = std::function<Result<Response>()>;
Response AnswerBatch(const std::vector<std::string>& items,
                     const std::function<Result<BatchFinish>(const std::string&)>& start,
                     const std::function<Response(const Status&)>& error);
// The per-item answers of a batch response; `expected` items. Errors: kInvalidArgument when the
// response is not a batch response of that many items.
Result<std::vector<Response>> ParseBatchResponse(std::string_view body, size_t expected);

// The sender's side. `bodies` go alone to `single_path` when there is one, else together as one
// batch to `batch_path`; `post(path, body, item)` sends one request (`item` is the body's index,
// or kWholeBatch). Returns one answer per body: the batch's per-item results; the batch's own
// failure (no answer, or a status other than 200 — then nothing was handled) for every item, as
// kUnavailable, so that none is acknowledged unseen — except a busy answer (Classify says kBusy),
// which every item gets as it came, Retry-After included; and for a 404/405
// to the batch route (a receiver without batches) the answers of one request per body.
inline constexpr size_t kWholeBatch = static_cast<size_t>(-1);
using PostFn =
    std::function<Result<Response>(std::string_view path, std::string body, size_t item)>;
std::vector<Result<Response>> SendItems(const std::vector<std::string>& bodies,
                                        std::string_view single_path, std::string_view batch_path,
                                        const PostFn& post);

// What a sender does with one answer: kDelivered on 2xx; kRefused on a 4xx other than 408 and
// 429 (the receiver refuses the message for good: retrying cannot help); kBusy on 429 and on a
// 503 whose error code is BUSY (the receiver is overloaded and says so: the message is sent
// again after RetryAfter, and the try does not count as a failed attempt); kRetry otherwise (no
// answer, any other 5xx — a receiver whose storage is down keeps its backoff and its attempts —,
// 408, or any other status).
enum class Delivery { kDelivered, kRefused, kBusy, kRetry };
Delivery Classify(const Result<Response>& answer);

// How long a busy receiver asked to be left alone: its Retry-After in seconds (delta-seconds
// only; an HTTP date or anything else unreadable counts as absent), clamped to 1–60 s; 1 s when
// absent.
std::chrono::seconds RetryAfter(const Response& answer);

}  // namespace chukan::http

#endif  // CHUKAN_HTTP_API_UTIL_H_
