#include "http/api_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "common/status_matchers.h"

namespace chukan::http {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(BatchTest, RequestItemsRoundTripAsTheirOwnJson) {
  const std::string body = BatchRequestJson({R"({"a":1})", R"({"b":"x\u00e9","c":[1,2]})"});
  EXPECT_EQ(body, R"({"items":[{"a":1},{"b":"x\u00e9","c":[1,2]}]})");
  ASSERT_OK_AND_ASSIGN(std::vector<std::string> items, ParseBatchRequest(body));
  EXPECT_THAT(items, ElementsAre(R"({"a":1})", "{\"b\":\"x\xC3\xA9\",\"c\":[1,2]}"));
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
           {R"({"items":[{}],"extra":1})", "field \"extra\": unknown field"},
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

}  // namespace
}  // namespace chukan::http
