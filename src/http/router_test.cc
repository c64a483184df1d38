#include "http/router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"

namespace chukan::http {
namespace {

using ::chukan::testing::StatusIs;
using Params = std::vector<std::pair<std::string, std::string>>;

Handler Named(std::string name) {
  return [name](Request&) { return Response::Text(200, name); };
}

std::string Call(const Router::Match& m) {
  Request req(RequestId::Generate());
  return (*m.handler)(req).body;
}

TEST(ResponderTest, CallingHandsTheFirstSentResponseToItsFunctionOnTheSendingThread) {
  std::vector<Response> got;
  Responder out = Responder::Calling([&](Response r) { got.push_back(std::move(r)); });
  EXPECT_TRUE(out.pending());
  out.Send(Response::Text(202, "first"));
  out.Send(Response::Text(200, "second"));  // ignored: only the first counts
  EXPECT_FALSE(out.pending());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, 202);
  EXPECT_EQ(got[0].body, "first");
}

TEST(ResponderTest, ACallingResponderDroppedUnsentAnswers500) {
  std::vector<Response> got;
  {
    Responder out = Responder::Calling([&](Response r) { got.push_back(std::move(r)); });
  }
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, 500);
}

TEST(RouterTest, ExactAndParamSegments) {
  Router r;
  ASSERT_OK(r.Add("GET", "/api/v1/items/{id}", Named("item")));
  ASSERT_OK(r.Add("GET", "/api/v1/items/special", Named("special")));
  ASSERT_OK(r.Add("POST", "/api/v1/items", Named("create")));
  Params p;
  auto m = r.Find("GET", "/api/v1/items/a%2Fb", p);
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(Call(m), "item");
  EXPECT_EQ(p, (Params{{"id", "a/b"}}));
  EXPECT_EQ(r.pattern(static_cast<size_t>(m.route)), "/api/v1/items/{id}");
  m = r.Find("GET", "/api/v1/items/special", p);
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(Call(m), "special");
}

TEST(RouterTest, NotFoundAndMethodNotAllowed) {
  Router r;
  ASSERT_OK(r.Add("GET", "/a/{x}", Named("get")));
  ASSERT_OK(r.Add("DELETE", "/a/{y}", Named("del")));
  Params p;
  EXPECT_EQ(r.Find("GET", "/a", p).status, 404);
  EXPECT_EQ(r.Find("GET", "/a/1/2", p).status, 404);
  EXPECT_EQ(r.Find("GET", "/a/", p).status, 404);
  auto m = r.Find("POST", "/a/1", p);
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "GET, DELETE");
}

TEST(RouterTest, RejectsBadPatternsAndDuplicates) {
  Router r;
  EXPECT_THAT(r.Add("GET", "nope", Named("x")), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(r.Add("GET", "/a//b", Named("x")), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(r.Add("GET", "/a/{b", Named("x")), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(r.Add("GET", "/a/{}", Named("x")), StatusIs(StatusCode::kInvalidArgument));
  ASSERT_OK(r.Add("GET", "/a/{b}", Named("x")));
  EXPECT_THAT(r.Add("GET", "/a/{c}", Named("x")), StatusIs(StatusCode::kAlreadyExists));
}

TEST(RouterTest, StreamingRoutesShareTheTableWithOrdinaryOnes) {
  Router r;
  ASSERT_OK(r.Add("GET", "/imports/{id}", Named("get")));
  ASSERT_OK(r.AddStreaming("POST", "/imports/{id}", [](Request& req, BodyReader&) {
    return Response::Text(200, "stream " + std::string(*req.PathParam("id")));
  }));
  EXPECT_THAT(
      r.AddStreaming("POST", "/imports/{x}", [](Request&, BodyReader&) { return Response(); }),
      StatusIs(StatusCode::kAlreadyExists));
  EXPECT_THAT(r.AddStreaming("PUT", "/x", nullptr), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(r.Add("PUT", "/x", nullptr), StatusIs(StatusCode::kInvalidArgument));
  Params p;
  auto post = r.Find("POST", "/imports/7", p);
  ASSERT_EQ(post.status, 200);
  EXPECT_EQ(post.handler, nullptr);
  ASSERT_NE(post.streaming, nullptr);
  EXPECT_EQ(p, (Params{{"id", "7"}}));
  auto get = r.Find("GET", "/imports/7", p);
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.streaming, nullptr);
  EXPECT_EQ(Call(get), "get");
  EXPECT_EQ(post.route, get.route);
  auto del = r.Find("DELETE", "/imports/7", p);
  EXPECT_EQ(del.status, 405);
  EXPECT_EQ(del.allow, "GET, POST");
}

}  // namespace
}  // namespace chukan::http
