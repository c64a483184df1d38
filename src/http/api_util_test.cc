#include "http/api_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "common/status_matchers.h"

namespace chukan::http {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(BatchTest, RequestItemsRoundTripAsTheirOwnJson) {
  const std::string body = BatchRequestJson({R"({"a":1})", R"({"b":"x\u00e9","c":[1,2]})"});
  EXPECT_EQ(body, R"({"items":[{"a":1},{"b":"x\u00e9","c":[1,2]}]})");
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> items, ParseBatchRequest(body));
  EXPECT_THAT(items, ElementsAre(R"({"a":1})", R"({"b":"x\u00e9","c":[1,2]})"));
}

// The items are split off the body as the bytes they are, without a tree: braces and brackets
// inside strings, escaped quotes and backslashes do not end an item, and whitespace between the
// batch's own tokens is allowed.
TEST(BatchTest, ItemsAreTheirOwnBytesWhateverTheirStringsHold) {
  const std::string one = R"({"a":"}]\"{[","b":{"c":["\\",{}]}})";
  const std::string two = "{ \"d\" : \"\xE5\x89\xAF\xE6\x9C\xAC\" }";
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> items,
                       ParseBatchRequest(" {\n \"items\" : [ " + one + " ,\r\n\t" + two + " ] } "));
  EXPECT_THAT(items, ElementsAre(one, two));
  // What JSON allows beside the plain form goes through the full parse: an escaped key.
  ASSERT_OK_AND_ASSIGN(items, ParseBatchRequest(R"({"\u0069tems":[{"a":1}]})"));
  EXPECT_THAT(items, ElementsAre(R"({"a":1})"));
}

// An item is parsed by the route that takes it, as the single route parses its body: one whose
// text is not valid JSON is handed on as it is (and answered in its own result), while the
// batch's own structure around it is checked here.
TEST(BatchTest, AnItemThatIsNotJsonIsHandedOnForItsOwnAnswer) {
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> items,
                       ParseBatchRequest(R"({"items":[{"a":tru},{}]})"));
  EXPECT_THAT(items, ElementsAre(R"({"a":tru})", "{}"));
  for (const std::string body : {R"({"items":[{"a":"x}]})", R"({"items":[{"a":1]]})",
                                 R"({"items":[{}]]})", R"({"items":[{}]} x)", R"({"items":[{})"}) {
    EXPECT_THAT(ParseBatchRequest(body), StatusIs(StatusCode::kInvalidArgument)) << body;
  }
  // Deeper than the body's limit of 12 (the body and its array are two of them).
  std::string deep(10, '[');
  deep = "{\"a\":" + deep + std::string(10, ']') + "}";
  EXPECT_THAT(ParseBatchRequest(R"({"items":[)" + deep + "]}"),
              StatusIs(StatusCode::kInvalidArgument));
  deep = "{\"a\":" + std::string(9, '[') + std::string(9, ']') + "}";
  ASSERT_OK_AND_ASSIGN(items, ParseBatchRequest(R"({"items":[)" + deep + "]}"));
  EXPECT_THAT(items, ElementsAre(deep));
}

TEST(BatchTest, MalformedRequestsNameTheField) {
  struct Case {
    std::string body;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"items":[]})", "field \"items\": empty"},
           {R"({"items":{}})", "field \"items\": expected an array of objects"},
           {R"({"items":[{},2]})", "field \"items[1]\": expected an object"},
           {R"({"items":[{}],"extra":1})", "body: unknown field #1 in key order (allowed: items)"},
           {R"({})", "field \"items\": required"},
           {"[1]", "body"},
       }) {
    Result<std::vector<std::string>> r = ParseBatchRequest(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.body;
    EXPECT_THAT(r.status().message(), HasSubstr(c.message)) << c.body;
  }
  std::vector<std::string> many(kMaxBatchItems + 1, "{}");
  Result<std::vector<std::string>> r = ParseBatchRequest(BatchRequestJson(many));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("more than 64 items"));
}

TEST(BatchTest, ResponsesCarryEachItemsStatusAndBody) {
  std::vector<Response> answers = {Response::Json(201, R"({"permit_id":"p1"})"),
                                   Response::Error(403, "REFUSED", "no", RequestId::Generate())};
  const std::string text = BatchResponseJson(answers);
  ASSERT_OK_AND_ASSIGN(std::vector<Response> back, ParseBatchResponse(text, 2));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].status, 201);
  EXPECT_EQ(back[0].body, R"({"permit_id":"p1"})");
  EXPECT_EQ(back[1].status, 403);
  EXPECT_THAT(back[1].body, HasSubstr(R"("code":"REFUSED")"));
}

TEST(BatchTest, AResponseOfTheWrongShapeIsRefused) {
  // Fewer results than items: the sender must not acknowledge items it has no answer for.
  Result<std::vector<Response>> short_one =
      ParseBatchResponse(R"({"results":[{"status":200,"body":{}}]})", 2);
  ASSERT_FALSE(short_one.ok());
  EXPECT_THAT(short_one.status().message(), HasSubstr("1 results for 2 items"));
  EXPECT_FALSE(ParseBatchResponse(R"({"results":[{"status":99,"body":{}}]})", 1).ok());
  EXPECT_FALSE(ParseBatchResponse(R"({"results":[{"body":{}}]})", 1).ok());
  EXPECT_FALSE(ParseBatchResponse(R"({"results":[{"status":200,"body":"x"}]})", 1).ok());
  EXPECT_FALSE(ParseBatchResponse("<html>", 1).ok());
}

// A receiver for SendItems: records each request; answers the batch route as `batch` says.
struct FakePeer {
  std::function<Result<Response>(const std::string& body)> batch;
  std::vector<std::string> calls;  // "path item"
  Result<Response> Post(std::string_view path, const std::string& body, size_t item) {
    calls.push_back(std::string(path) + " " +
                    (item == kWholeBatch ? std::string("all") : std::to_string(item)));
    if (path == "/batch") return batch(body);
    return Response::Json(201, R"({"single":")" + body.substr(6, 1) + "\"}");
  }
  PostFn Fn() {
    return [this](std::string_view path, std::string body, size_t item) {
      return Post(path, body, item);
    };
  }
};

TEST(SendItemsTest, OneGoesAloneSeveralGoTogether) {
  FakePeer peer;
  peer.batch = [](const std::string& body) -> Result<Response> {
    EXPECT_EQ(body, R"({"items":[{"n":"a"},{"n":"b"}]})");
    return Response::Json(
        200, BatchResponseJson({Response::Json(201, "{}"), Response::Json(409, R"({"e":1})")}));
  };
  std::vector<Result<Response>> one = SendItems({R"({"n":"a"})"}, "/one", "/batch", peer.Fn());
  ASSERT_EQ(one.size(), 1u);
  ASSERT_OK(one[0]);
  EXPECT_EQ(one[0]->status, 201);
  std::vector<Result<Response>> two =
      SendItems({R"({"n":"a"})", R"({"n":"b"})"}, "/one", "/batch", peer.Fn());
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0]->status, 201);
  EXPECT_EQ(two[1]->status, 409);
  EXPECT_EQ(two[1]->body, R"({"e":1})");
  EXPECT_THAT(peer.calls, ElementsAre("/one 0", "/batch all"));
}

TEST(SendItemsTest, AReceiverWithoutBatchesGetsOneRequestPerItem) {
  FakePeer peer;
  peer.batch = [](const std::string&) -> Result<Response> { return Response::Json(404, "{}"); };
  std::vector<Result<Response>> r =
      SendItems({R"({"n":"a"})", R"({"n":"b"})"}, "/one", "/batch", peer.Fn());
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0]->body, R"({"single":"a"})");
  EXPECT_EQ(r[1]->body, R"({"single":"b"})");
  EXPECT_THAT(peer.calls, ElementsAre("/batch all", "/one 0", "/one 1"));
}

TEST(SendItemsTest, ABatchThatFailsAsAWholeIsRetriedForEveryItem) {
  for (auto answer : std::vector<std::function<Result<Response>(const std::string&)>>{
           [](const std::string&) -> Result<Response> { return UnavailableError("reset"); },
           [](const std::string&) -> Result<Response> { return Response::Json(400, "{}"); },
           [](const std::string&) -> Result<Response> { return Response::Json(500, "{}"); },
           [](const std::string&) -> Result<Response> {
             return Response::Json(200, BatchResponseJson({Response::Json(201, "{}")}));
           }}) {
    FakePeer peer;
    peer.batch = answer;
    std::vector<Result<Response>> r =
        SendItems({R"({"n":"a"})", R"({"n":"b"})"}, "/one", "/batch", peer.Fn());
    ASSERT_EQ(r.size(), 2u);
    for (const Result<Response>& each : r) {
      EXPECT_THAT(each, StatusIs(StatusCode::kUnavailable));
      EXPECT_EQ(Classify(each), Delivery::kRetry);
    }
  }
}

TEST(SendItemsTest, ABusyBatchGivesEveryItemTheBusyAnswerWithItsRetryAfter) {
  for (int status : {429, 503}) {
    FakePeer peer;
    peer.batch = [status](const std::string&) -> Result<Response> {
      Response busy = Response::Json(status, R"({"error":{"code":"BUSY","message":"BUSY: full"}})");
      busy.headers.Set("Retry-After", "7");
      return busy;
    };
    std::vector<Result<Response>> r =
        SendItems({R"({"n":"a"})", R"({"n":"b"})"}, "/one", "/batch", peer.Fn());
    ASSERT_EQ(r.size(), 2u);
    for (const Result<Response>& each : r) {
      ASSERT_OK(each);
      EXPECT_EQ(each->status, status);
      EXPECT_EQ(Classify(each), Delivery::kBusy);
      EXPECT_EQ(RetryAfter(*each), std::chrono::seconds(7));
    }
    EXPECT_THAT(peer.calls, ElementsAre("/batch all"));
  }
}

TEST(SendItemsTest, AnItemAnsweredBusyInsideABatchIsBusyAndTheOthersAreNot) {
  FakePeer peer;
  peer.batch = [](const std::string&) -> Result<Response> {
    // As a provider's batch route answers: the batch handled (200), one item turned away because
    // the provider is overloaded (its own JSON layout: spaces, the message first), one whose
    // storage is down.
    return Response::Json(200, R"({"results":[{"status":201,"body":{"status":"accepted"}},)"
                               R"({"status":503,"body":{ "error" : { "message" : "BUSY: full", )"
                               R"("code" : "BUSY", "request_id" : "req-1" } }},)"
                               R"({"status":503,"body":{"error":{"code":"UNAVAILABLE"}}}]})");
  };
  std::vector<Result<Response>> r =
      SendItems({R"({"n":"a"})", R"({"n":"b"})", R"({"n":"c"})"}, "/one", "/batch", peer.Fn());
  ASSERT_EQ(r.size(), 3u);
  for (const Result<Response>& each : r) ASSERT_OK(each);
  EXPECT_EQ(Classify(r[0]), Delivery::kDelivered);
  EXPECT_EQ(r[1]->status, 503);
  EXPECT_EQ(ErrorCode(*r[1]), "BUSY");
  EXPECT_EQ(Classify(r[1]), Delivery::kBusy);
  EXPECT_EQ(RetryAfter(*r[1]), std::chrono::seconds(1));  // an item has no headers of its own
  EXPECT_EQ(Classify(r[2]), Delivery::kRetry);
  EXPECT_THAT(peer.calls, ElementsAre("/batch all"));  // answered: nothing sent again
}

TEST(RetryAfterTest, DeltaSecondsClampedAndOneSecondWhenUnreadable) {
  auto with = [](std::optional<std::string> v) {
    Response r = Response::Json(503, "{}");
    if (v) r.headers.Set("Retry-After", *v);
    return RetryAfter(r);
  };
  EXPECT_EQ(with(std::nullopt), std::chrono::seconds(1));
  EXPECT_EQ(with("5"), std::chrono::seconds(5));
  EXPECT_EQ(with("0"), std::chrono::seconds(1));
  EXPECT_EQ(with("3600"), std::chrono::seconds(60));
  EXPECT_EQ(with("Wed, 21 Oct 2026 07:28:00 GMT"), std::chrono::seconds(1));
  EXPECT_EQ(with("-3"), std::chrono::seconds(1));
  EXPECT_EQ(with("99999999999999"), std::chrono::seconds(1));
  EXPECT_EQ(with(""), std::chrono::seconds(1));
}

TEST(ClassifyTest, DeliveredRefusedOrRetried) {
  EXPECT_EQ(Classify(Response::Json(200, "{}")), Delivery::kDelivered);
  EXPECT_EQ(Classify(Response::Json(202, "{}")), Delivery::kDelivered);
  EXPECT_EQ(Classify(Response::Json(409, "{}")), Delivery::kRefused);
  EXPECT_EQ(Classify(Response::Json(413, "{}")), Delivery::kRefused);
  EXPECT_EQ(Classify(Response::Json(408, "{}")), Delivery::kRetry);
  EXPECT_EQ(Classify(Response::Json(429, "{}")), Delivery::kBusy);
  EXPECT_EQ(Classify(Response::Json(503, R"({"error":{"code":"BUSY","message":"BUSY: x"}})")),
            Delivery::kBusy);
  // The code is read as JSON: any spacing and order of keys.
  EXPECT_EQ(Classify(Response::Json(503, R"({
  "error" : {
    "message" : "BUSY: 3 or more messages wait",
    "code" : "BUSY"
  }
})")),
            Delivery::kBusy);
  // A 503 of another kind (storage down, a deadlock) is a failed attempt, with backoff.
  EXPECT_EQ(Classify(Response::Json(503, R"({"error":{"code":"UNAVAILABLE"}})")), Delivery::kRetry);
  // …even when the body holds the text "code":"BUSY" elsewhere: in a message (escaped, as JSON
  // has it), in another object, after the JSON, or in a body that is not JSON at all.
  EXPECT_EQ(Classify(Response::Json(
                503, R"({"error":{"code":"UNAVAILABLE","message":"not \"code\":\"BUSY\""}})")),
            Delivery::kRetry);
  EXPECT_EQ(
      Classify(Response::Json(503, R"({"error":{"code":"UNAVAILABLE","detail":{"code":"BUSY"}}})")),
      Delivery::kRetry);
  EXPECT_EQ(Classify(Response::Json(503, R"({"error":{"code":"UNAVAILABLE"}}{"code":"BUSY"})")),
            Delivery::kRetry);
  EXPECT_EQ(Classify(Response::Text(503, R"(proxy: the upstream said "code":"BUSY")")),
            Delivery::kRetry);
  // BUSY on another 5xx is no overload said so.
  EXPECT_EQ(Classify(Response::Json(500, R"({"error":{"code":"BUSY"}})")), Delivery::kRetry);
  EXPECT_EQ(Classify(Response::Json(503, "{}")), Delivery::kRetry);
  EXPECT_EQ(Classify(Response::Json(500, "{}")), Delivery::kRetry);
  EXPECT_EQ(Classify(Response::Json(502, "{}")), Delivery::kRetry);
  EXPECT_EQ(Classify(Response::Json(302, "{}")), Delivery::kRetry);
  EXPECT_EQ(Classify(Result<Response>(DeadlineExceededError("timeout"))), Delivery::kRetry);
}

// A BodyReader over a fixed text, read in pieces of at most `piece` bytes.
class TextReader : public BodyReader {
 public:
  TextReader(std::string text, size_t piece) : text_(std::move(text)), piece_(piece) {}
  Result<size_t> Read(char* out, size_t max) override {
    const size_t n = std::min({max, piece_, text_.size() - at_});
    text_.copy(out, n, at_);
    at_ += n;
    return n;
  }

 private:
  std::string text_;
  size_t piece_;
  size_t at_ = 0;
};

TEST(ReadBodyTest, ReadsTheWholeBodyAndRefusesOneOverTheLimitWith413) {
  TextReader small(std::string(40'000, 'x'), 7'000);
  ASSERT_OK_AND_ASSIGN(std::string all, ReadBody(small, 40'000));
  EXPECT_EQ(all, std::string(40'000, 'x'));
  TextReader big(std::string(40'001, 'x'), 7'000);
  Result<std::string> over = ReadBody(big, 40'000);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kResourceExhausted);
  Response r = ReasonErrorResponse(over.status(), RequestId::Generate(), "test", false);
  EXPECT_EQ(r.status, 413);
  EXPECT_THAT(r.body, HasSubstr(R"("code":"BODY_TOO_LARGE")"));
  EXPECT_THAT(r.body, HasSubstr("larger than 40000 bytes"));
  // Other exhaustion is still 429.
  EXPECT_EQ(ReasonErrorResponse(ResourceExhaustedError("too many requests"), RequestId::Generate(),
                                "test", false)
                .status,
            429);
}

// Noticed in the fault-injection work: the server's linkage API answered a storage fault with
// the store's message — the database file's path and an excerpt of the SQL — to the client.
// A store's message goes to the log; the client gets the status and the request id.
TEST(ReasonErrorResponseTest, StorageMessagesStayInTheLog) {
  const RequestId rid = *RequestId::Parse("req-storage-1");
  const Status disk = UnavailableError(
      "tenant 0000000000000011: sqlite: /srv/chukan/data/t0000000000000011.db: commit "
      "(disk I/O error, code 1034: fsync failed) in: INSERT INTO inquiries");
  for (bool hide_unavailable : {false, true}) {
    Response r = ReasonErrorResponse(disk, rid, "test", hide_unavailable);
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.body, R"({"error":{"code":"UNAVAILABLE","message":"storage is unavailable; )"
                      R"(quote the request id to the operator","request_id":"req-storage-1"}})");
    EXPECT_EQ(r.headers.Get("Retry-After").value_or(""), "1");  // a failover: retry
  }
  Response pg = ReasonErrorResponse(
      FailedPreconditionError("postgres: ERROR: duplicate key (SQLSTATE 23505) in: UPDATE x"), rid,
      "test", false);
  EXPECT_EQ(pg.status, HttpStatusFor(StatusCode::kFailedPrecondition));
  EXPECT_THAT(pg.body, HasSubstr("storage error; quote the request id"));
  EXPECT_THAT(pg.body, Not(HasSubstr("UPDATE")));
  // A deadlock between two nodes' transactions is retried, not refused for good (the hub and the
  // servers take 4xx as final): 503 with Retry-After, the SQL in the log only.
  const Status deadlock = AbortedError(
      "postgres: ERROR:  deadlock detected (SQLSTATE 40P01) in: UPDATE inquiries SET state");
  for (bool hide_unavailable : {false, true}) {
    Response busy = ReasonErrorResponse(deadlock, rid, "test", hide_unavailable);
    EXPECT_EQ(busy.status, 503);
    EXPECT_EQ(busy.body, R"({"error":{"code":"UNAVAILABLE","message":"storage was busy with a )"
                         R"(conflicting change; retry","request_id":"req-storage-1"}})");
    EXPECT_EQ(busy.headers.Get("Retry-After").value_or(""), "1");
    EXPECT_EQ(Classify(busy), Delivery::kRetry);
  }
  // An aborted transaction that is not the store's (none today) keeps 409.
  EXPECT_EQ(ReasonErrorResponse(AbortedError("RACE: try later"), rid, "test", false).status, 409);
  Response dir = FromStatus(UnavailableError("store: cannot create directory /srv/x: EACCES"), rid);
  EXPECT_THAT(dir.body, Not(HasSubstr("/srv/x")));
  // Other unavailability keeps its message (it tells the client what to wait for), and a word
  // that only ends in "store" is not the store.
  EXPECT_THAT(ReasonErrorResponse(UnavailableError("the hub cannot be reached (timeout)"), rid,
                                  "test", false)
                  .body,
              HasSubstr("the hub cannot be reached (timeout)"));
  EXPECT_THAT(FromStatus(UnavailableError("datastore: busy"), rid).body,
              HasSubstr("datastore: busy"));
}

}  // namespace
}  // namespace chukan::http
