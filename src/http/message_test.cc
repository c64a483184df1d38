#include "http/message.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"

namespace chukan::http {
namespace {

using ::chukan::testing::StatusIs;
using ::testing::HasSubstr;

TEST(HeadersTest, CaseInsensitiveLookupFirstWins) {
  Headers h;
  h.Add("Content-Type", "a");
  h.Add("content-type", "b");
  EXPECT_EQ(h.Get("CONTENT-TYPE"), "a");
  h.Set("CONTENT-type", "c");
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(h.Get("content-type"), "c");
  EXPECT_EQ(h.Get("missing"), std::nullopt);
}

TEST(StatusMapTest, OnePlaceMapping) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kAborted), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kFailedPrecondition), 412);
  EXPECT_EQ(HttpStatusFor(StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusFor(StatusCode::kDataLoss), 500);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500);
}

TEST(StatusMapTest, FromStatusBodyAndHidesInternalDetails) {
  auto id = *RequestId::Parse("req-12345678");
  Response r = FromStatus(NotFoundError("tenant \"x\" not found"), id);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, R"({"error":{"code":"NOT_FOUND","message":"tenant \"x\" not found",)"
                    R"("request_id":"req-12345678"}})");
  Response internal = FromStatus(InternalError("db at /secret/path failed"), id);
  EXPECT_EQ(internal.status, 500);
  EXPECT_EQ(internal.body.find("/secret/path"), std::string::npos);
  EXPECT_NE(internal.body.find("\"code\":\"INTERNAL\""), std::string::npos);
}

TEST(ErrorCodeTest, TheCodeOfAnErrorBodyReadAsJson) {
  const RequestId id = *RequestId::Parse("req-12345678");
  EXPECT_EQ(ErrorCode(Response::Error(503, "BUSY", "BUSY: full", id)), "BUSY");
  EXPECT_EQ(ErrorCode(FromStatus(NotFoundError("no such tenant"), id)), "NOT_FOUND");
  EXPECT_EQ(ErrorCode(Response::Json(503,
                                     "{ \"error\" : {\n  \"message\" : \"x\",\n"
                                     "  \"code\" : \"BUSY\" } }")),
            "BUSY");
  // Whatever is not an error object with a string code: "".
  EXPECT_EQ(ErrorCode(Response::Json(200, R"({"status":"accepted"})")), "");
  EXPECT_EQ(ErrorCode(Response::Json(503, R"({"error":"BUSY"})")), "");
  EXPECT_EQ(ErrorCode(Response::Json(503, R"({"error":{"code":7}})")), "");
  EXPECT_EQ(ErrorCode(Response::Json(503, R"({"error":{"message":"\"code\":\"BUSY\""}})")), "");
  EXPECT_EQ(ErrorCode(Response::Json(503, R"({"detail":{"code":"BUSY"}})")), "");
  EXPECT_EQ(ErrorCode(Response::Json(503, R"({"error":{"code":"BUSY"}} trailing)")), "");
  EXPECT_EQ(ErrorCode(Response::Text(503, R"(upstream: "code":"BUSY")")), "");
  EXPECT_EQ(ErrorCode(Response::Json(503, R"({"error":{"code":")" + std::string(65, 'A') + "\"}}")),
            "");
  // A body larger than 64 KiB is not read.
  EXPECT_EQ(ErrorCode(Response::Json(503, R"({"error":{"code":"BUSY","message":")" +
                                              std::string(64 << 10, 'x') + "\"}}")),
            "");
  EXPECT_EQ(ErrorCode(Response()), "");
}

TEST(PercentDecodeTest, DecodesAndRejectsMalformed) {
  EXPECT_EQ(*PercentDecode("a%20b+c", false), "a b+c");
  EXPECT_EQ(*PercentDecode("a%20b+c", true), "a b c");
  EXPECT_THAT(PercentDecode("%2", false), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(PercentDecode("%zz", false), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(PercentDecode("%00", false), StatusIs(StatusCode::kInvalidArgument));
}

TEST(RequestTest, ParseTargetDecodesThePathAndTheQuery) {
  Request req(RequestId::Generate());
  req.target = "/console/a%20b?atena_no=0001&q=x+y%21&=dropped&flag";
  ASSERT_OK(req.ParseTarget());
  EXPECT_EQ(req.path, "/console/a b");
  ASSERT_EQ(req.query.size(), 3u);
  EXPECT_EQ(req.Query("atena_no").value_or(""), "0001");
  EXPECT_EQ(req.Query("q").value_or(""), "x y!");
  EXPECT_EQ(req.Query("flag").value_or("-"), "");
  req.target = "/ok?bad=%zz";
  EXPECT_THAT(req.ParseTarget(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("malformed query string")));
  EXPECT_EQ(req.path, "/ok");
  EXPECT_TRUE(req.query.empty());
  req.target = "relative";
  EXPECT_THAT(req.ParseTarget(),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("malformed request target")));
  EXPECT_EQ(req.path, "");
}

}  // namespace
}  // namespace chukan::http
