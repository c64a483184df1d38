// LinkageApi's handlers driven through the http::Router in-process: the route's gate (ApiAuth,
// with real client tokens) and then its handler, with a fake hub and a fake clock.
#include "server/linkage_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "common/status_matchers.h"
#include "http/client.h"
#include "http/server.h"
#include "server/api_auth.h"
#include "server/linkage_test_util.h"

namespace chukan::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace ::chukan::server::testing;  // NOLINT: the fixture's names

class LinkageApiTest : public LinkageTestBase {
 protected:
  void SetUp() override {
    LinkageTestBase::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auth_ = std::make_unique<ApiAuth>(*platform_);
    api_ = std::make_unique<LinkageApi>(*auth_, *linkage_, std::string(64, 'a'));
    ASSERT_OK(api_->Register(router_));
    ASSERT_OK(api_->RegisterNode(router_));
    ASSERT_OK_AND_ASSIGN(system_a_, platform_->AddClient(kCityA, "tax", "system", "test"));
    ASSERT_OK_AND_ASSIGN(approver_b_, platform_->AddClient(kCityB, "staff", "approver", "test"));
  }
  void TearDown() override {
    api_.reset();
    auth_.reset();
    LinkageTestBase::TearDown();
  }

  // One request through the router: the gate, then the handler (an asynchronous one is waited
  // for, up to 30 s).
  http::Response Call(std::string method, std::string target, std::string token,
                      std::string body = "") {
    http::Request req(RequestId::Generate());
    req.method = std::move(method);
    req.target = target;
    // As the server parses it (percent-decoding included).
    if (Status t = req.ParseTarget(); !t.ok()) {
      return http::Response::Error(400, "BAD_REQUEST", t.message(), req.request_id);
    }
    if (!token.empty()) req.headers.Set("Authorization", "Bearer " + token);
    req.peer.address = "127.0.0.1";
    http::Router::Match m = router_.Find(req.method, req.path, req.path_params);
    if (m.status != 200) return http::Response::Json(m.status, "{}");
    if (m.options->gate) {
      if (std::optional<http::Response> refused = m.options->gate(req)) return *refused;
    }
    if (body.size() > m.options->max_body_bytes) return http::Response::Json(413, "{}");
    req.body = std::move(body);
    if (m.handler != nullptr) return (*m.handler)(req);
    std::promise<http::Response> answered;
    (*m.async)(req, http::Responder::Calling(
                        [&answered](http::Response r) { answered.set_value(std::move(r)); }));
    std::future<http::Response> answer = answered.get_future();
    EXPECT_EQ(answer.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    return answer.get();
  }

  // The error code of an error response ({"error":{"code":…}}).
  static std::string ErrorCode(const http::Response& r) {
    Result<json::JsonObject> o = json::ParseJsonObject(r.body);
    if (!o.ok()) return "(not JSON)";
    Result<json::JsonObject> e = o->GetObject("error");
    if (!e.ok()) return "(no error)";
    return e->GetString("code", 64).value_or("(no code)");
  }

  int64_t AuditCount(const TenantId& tenant, std::string_view outcome) {
    auto st = platform_->Tenant(tenant).value();
    auto tx = st->db->BeginRead().value();
    return tx
        ->QueryOne("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'api.%' AND outcome = ?",
                   {std::string(outcome)})
        .value()
        ->GetInt(0)
        .value();
  }

  http::Router router_;
  std::unique_ptr<ApiAuth> auth_;
  std::unique_ptr<LinkageApi> api_;
  std::string system_a_;
  std::string approver_b_;
};

TEST_P(LinkageApiTest, RegisterCodeAnswersTheSubjectCodeAndAuditsTheCall) {
  http::Response r = Call("POST", "/api/v1/codes", system_a_,
                          R"({"atena_no":"000000000000101","resident_id":"12345678901"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(R"({"subject_code":")"));
  EXPECT_EQ(AuditCount(A(), "ok"), 1);
}

TEST_P(LinkageApiTest, RegisterCodeRefusesBadInputWithItsCode) {
  http::Response unknown = Call("POST", "/api/v1/codes", system_a_,
                                R"({"atena_no":"000000000000101","resident_id":"12345678901",)"
                                R"("name":"x"})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(ErrorCode(unknown), "INVALID_ARGUMENT");
  http::Response short_atena =
      Call("POST", "/api/v1/codes", system_a_, R"({"atena_no":"123","resident_id":"12345678901"})");
  EXPECT_EQ(short_atena.status, 400);
  EXPECT_THAT(short_atena.body, HasSubstr("atena_no"));
  http::Response not_json = Call("POST", "/api/v1/codes", system_a_, "atena_no=1");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_EQ(AuditCount(A(), "error:INVALID_ARGUMENT"), 3);
  hub_.SetCodesStatus(403);
  http::Response refused = Call("POST", "/api/v1/codes", system_a_,
                                R"({"atena_no":"000000000000101","resident_id":"12345678901"})");
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(ErrorCode(refused), "UNAVAILABLE");
}

TEST_P(LinkageApiTest, TheGateRefusesMissingTokensAndWrongRoles) {
  EXPECT_EQ(Call("POST", "/api/v1/codes", "", "{}").status, 401);
  EXPECT_EQ(Call("POST", "/api/v1/codes", "not-a-token", "{}").status, 401);
  // An approver token is not a business system's.
  EXPECT_EQ(Call("POST", "/api/v1/codes", approver_b_, "{}").status, 403);
  // A business system's token cannot decide approvals.
  EXPECT_EQ(Call("GET", "/api/v1/approvals", system_a_).status, 403);
}

TEST_P(LinkageApiTest, CodesBulkAnswersEachLine) {
  http::Response r = Call("POST", "/api/v1/codes/bulk", system_a_,
                          "000000000000101,12345678901\r\n\nnot a line\n123,12345678901\n");
  EXPECT_EQ(r.status, 207);
  ASSERT_OK_AND_ASSIGN(json::JsonObject o, json::ParseJsonObject(r.body));
  EXPECT_EQ(o.GetInt("lines", 0, 100).value_or(-1), 4);
  EXPECT_EQ(o.GetInt("registered", 0, 100).value_or(-1), 1);
  EXPECT_EQ(o.GetInt("failed", 0, 100).value_or(-1), 2);
  EXPECT_THAT(r.body, HasSubstr(R"({"line":3,"message":"expected atena_no,resident_id"})"));
}

TEST_P(LinkageApiTest, CreateInquiryAnswers202AndRefusesBadInput) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  const std::string good = R"({"atena_no":"000000000000101","procedure":"JT90000000000101",)"
                           R"("tm":"TM00000000000002","provider":"0000000000000012"})";
  http::Response r = Call("POST", "/api/v1/inquiries", system_a_, good);
  EXPECT_EQ(r.status, 202);
  EXPECT_THAT(r.body, HasSubstr(R"("state":"accepted")"));
  EXPECT_THAT(r.body, HasSubstr(R"("layout_version":"0002")"));

  http::Response unknown_field = Call("POST", "/api/v1/inquiries", system_a_,
                                      good.substr(0, good.size() - 1) + R"(,"extra":1})");
  EXPECT_EQ(unknown_field.status, 400);
  http::Response bad_tm = Call("POST", "/api/v1/inquiries", system_a_,
                               R"({"atena_no":"000000000000101","procedure":"JT90000000000101",)"
                               R"("tm":"TM99999999999999","provider":"0000000000000012"})");
  EXPECT_EQ(bad_tm.status, 404);
  EXPECT_EQ(ErrorCode(bad_tm), "NOT_FOUND");
  http::Response no_code = Call("POST", "/api/v1/inquiries", system_a_,
                                R"({"atena_no":"000000000000102","procedure":"JT90000000000101",)"
                                R"("tm":"TM00000000000002","provider":"0000000000000012"})");
  EXPECT_EQ(no_code.status, 412);
  http::Response timeout = Call("POST", "/api/v1/inquiries", system_a_,
                                good.substr(0, good.size() - 1) + R"(,"timeout_seconds":0})");
  EXPECT_EQ(timeout.status, 400);
  // The same idempotency key for another request: 409 with its reason code.
  ASSERT_EQ(Call("POST", "/api/v1/inquiries", system_a_,
                 good.substr(0, good.size() - 1) + R"(,"idempotency_key":"k"})")
                .status,
            202);
  http::Response reused =
      Call("POST", "/api/v1/inquiries", system_a_,
           good.substr(0, good.size() - 1) + R"(,"idempotency_key":"k","timeout_seconds":5})");
  EXPECT_EQ(reused.status, 409);
  EXPECT_EQ(ErrorCode(reused), "IDEMPOTENCY_KEY_REUSED");
  // Who asked (部署コード, ユーザーID) is kept with the inquiry and in its records.
  http::Response with_requester =
      Call("POST", "/api/v1/inquiries", system_a_,
           good.substr(0, good.size() - 1) + R"(,"department":"KAZEI01","user_id":"sato.h"})");
  ASSERT_EQ(with_requester.status, 202) << with_requester.body;
  EXPECT_THAT(with_requester.body, HasSubstr(R"("department":"KAZEI01","user_id":"sato.h")"));
  http::Response records = Call("GET", "/api/v1/records", system_a_);
  EXPECT_THAT(records.body, HasSubstr(R"("department":"KAZEI01","user_id":"sato.h")"));
  http::Response bad_department =
      Call("POST", "/api/v1/inquiries", system_a_,
           good.substr(0, good.size() - 1) + R"(,"department":"課税課"})");
  EXPECT_EQ(bad_department.status, 400);
  EXPECT_THAT(bad_department.body, HasSubstr("department: expected 0 to 20"));
  EXPECT_THAT(bad_department.body, Not(HasSubstr("課税課")));
  http::Response bad_user = Call("POST", "/api/v1/inquiries", system_a_,
                                 good.substr(0, good.size() - 1) + R"(,"user_id":"a b"})");
  EXPECT_EQ(bad_user.status, 400);
  EXPECT_THAT(bad_user.body, HasSubstr("user_id: expected 0 to 32"));
}

TEST_P(LinkageApiTest, ListInquiriesChecksItsQuery) {
  EXPECT_EQ(Call("GET", "/api/v1/inquiries?limit=0", system_a_).status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/inquiries?limit=abc", system_a_).status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/inquiries?since_us=-1", system_a_).status, 400);
  // An unknown state was answered with an empty list before; it is a caller's mistake.
  http::Response unknown = Call("GET", "/api/v1/inquiries?state=done", system_a_);
  EXPECT_EQ(unknown.status, 400);
  EXPECT_THAT(unknown.body, HasSubstr("query parameter state: not one of accepted"));
  EXPECT_THAT(unknown.body, Not(HasSubstr("done")));
  http::Response empty = Call("GET", "/api/v1/inquiries?state=completed", system_a_);
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(empty.body, R"({"inquiries":[]})");
}

TEST_P(LinkageApiTest, DecideApprovalChecksTheDecisionAndThePermit) {
  const std::string pid = PermitId::Generate().str();
  http::Response bad_decision =
      Call("POST", "/api/v1/approvals/" + pid, approver_b_, R"({"decision":"maybe"})");
  EXPECT_EQ(bad_decision.status, 400);
  EXPECT_THAT(bad_decision.body, HasSubstr("\\\"approve\\\" or \\\"reject\\\""));
  http::Response bad_id =
      Call("POST", "/api/v1/approvals/not-a-permit", approver_b_, R"({"decision":"approve"})");
  EXPECT_EQ(bad_id.status, 400);
  http::Response none =
      Call("POST", "/api/v1/approvals/" + pid, approver_b_, R"({"decision":"approve"})");
  EXPECT_EQ(none.status, 404);
  EXPECT_THAT(none.body, HasSubstr("awaits approval"));
  http::Response listed = Call("GET", "/api/v1/approvals", approver_b_);
  EXPECT_EQ(listed.status, 200);
  EXPECT_EQ(listed.body, R"({"approvals":[]})");
}

TEST_P(LinkageApiTest, RecordsAndStatus) {
  http::Response records = Call("GET", "/api/v1/records?limit=1001", system_a_);
  EXPECT_EQ(records.status, 400);
  http::Response none = Call("GET", "/api/v1/records?after_us=5", approver_b_);
  EXPECT_EQ(none.status, 200);
  EXPECT_EQ(none.body, R"({"records":[],"next_after_us":5})");
  http::Response status = Call("GET", "/api/v1/linkage/status", system_a_);
  EXPECT_EQ(status.status, 200);
  EXPECT_THAT(status.body, HasSubstr(R"({"permission_list":{"valid":true,"version":)"));
  // What the copy knows of the registry (LocalNetwork waits on it).
  ASSERT_OK_AND_ASSIGN(auto list, hub_.PermissionList());
  EXPECT_THAT(
      status.body,
      HasSubstr(",\"organisations\":" + std::to_string(list->classes().size()) +
                ",\"local_gov_codes\":" + std::to_string(list->local_gov_codes().size()) + ","));
  EXPECT_GE(list->classes().size(), 2u);
  hub_.DropPermissionList();
  http::Response invalid = Call("GET", "/api/v1/linkage/status", system_a_);
  EXPECT_THAT(invalid.body, HasSubstr(R"("valid":false,"error":"no permission list copy)"));
}

TEST_P(LinkageApiTest, NodeRoutesTakeOnlyThePinnedHubCertificate) {
  http::Response no_cert = Call("POST", "/node/v1/provision-requests", "", "{}");
  EXPECT_EQ(no_cert.status, 401);
}

TEST_P(LinkageApiTest, NodeRoutesRefuseMalformedMessages) {
  // Driven past the gate: the handler itself, with the hub's certificate.
  http::Request req(RequestId::Generate());
  req.method = "POST";
  req.path = "/node/v1/provision-requests";
  req.peer.identity = http::PeerIdentity{};
  req.peer.identity->cert_sha256 = std::string(64, 'a');
  http::Router::Match m = router_.Find(req.method, req.path, req.path_params);
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.options->gate(req), std::nullopt);
  req.body = R"({"permit":"{}","signature":"AAAA"})";
  http::Response r = (*m.handler)(req);
  EXPECT_EQ(r.status, 400);
  req.peer.identity->cert_sha256 = std::string(64, 'b');
  std::optional<http::Response> other = m.options->gate(req);
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->status, 403);
}

// The asynchronous GET /api/v1/inquiries/{id} needs a connection to answer on: a server on a
// loopback port, plain HTTP.
// Backpressure (issue 16): with [delivery] max_backlog = 2, a tenant with two messages waiting
// for the hub takes no new inquiry (503 BUSY, Retry-After, before the body is read; counted),
// and once the hub has taken the messages it takes inquiries again.
class LinkageApiBacklogTest : public LinkageApiTest {
 protected:
  LinkageApiBacklogTest() { max_backlog_ = 2; }
};

TEST_P(LinkageApiBacklogTest, AFullBacklogTurnsNewInquiriesAwayUntilTheHubTookThem) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  const std::string good = R"({"atena_no":"000000000000101","procedure":"JT90000000000101",)"
                           R"("tm":"TM00000000000002","provider":"0000000000000012"})";
  ASSERT_EQ(Call("POST", "/api/v1/inquiries", system_a_, good).status, 202);
  ASSERT_EQ(Call("POST", "/api/v1/inquiries", system_a_, good).status, 202);
  // The body is never looked at: not even a malformed one gets its 400.
  for (const std::string& body : {good, std::string("{not json")}) {
    http::Response busy = Call("POST", "/api/v1/inquiries", system_a_, body);
    EXPECT_EQ(busy.status, 503) << busy.body;
    EXPECT_EQ(busy.headers.Get("Retry-After").value_or(""), "1");
    EXPECT_EQ(ErrorCode(busy), "BUSY");
    EXPECT_THAT(busy.body, HasSubstr("BUSY: 2 or more messages wait to be delivered"));
  }
  EXPECT_EQ(Call("POST", "/api/v1/inquiries/batch", system_a_, "x").status, 503);
  // The other tenant is not held up by A's backlog: its call reaches the handler (which refuses
  // the malformed body on its own merits).
  ASSERT_OK_AND_ASSIGN(std::string system_b, platform_->AddClient(kCityB, "tax-b", "system", "t"));
  EXPECT_EQ(Call("POST", "/api/v1/inquiries", system_b, "{not json").status, 400);
  // Counted, not audited one by one (a durable write per call turned away is the load shed).
  EXPECT_EQ(platform_->Tenant(A()).value()->turned_away(), 3);
  EXPECT_EQ(AuditCount(A(), "error:BUSY"), 0);
  // Reads are not refused.
  EXPECT_EQ(Call("GET", "/api/v1/inquiries", system_a_).status, 200);

  // The hub refuses both permits for good: the messages are gone, the inquiries ended.
  hub_.SetPermitAnswer(http::Response::Json(403, R"({"error":{"reason":"NO_RULE"}})"));
  ASSERT_OK(DeliverAll(A()));
  EXPECT_EQ(Call("POST", "/api/v1/inquiries", system_a_, good).status, 202);
}

// The provider's side: B with two answers waiting for the hub turns the next provision request
// away (BUSY, before its signature is verified: a forged signature gets BUSY too), and takes it
// once the hub has taken the answers.
TEST_P(LinkageApiBacklogTest, AProviderWhoseAnswersCannotLeaveTurnsProvisionRequestsAway) {
  std::string id1, id2, id3;
  const linkage::ProvisionPermit p1 = InquireAndPermit(TaxInquiry("k1"), &id1);
  const linkage::ProvisionPermit p2 = InquireAndPermit(TaxInquiry("k2"), &id2);
  const linkage::ProvisionPermit p3 = InquireAndPermit(TaxInquiry("k3"), &id3);
  ASSERT_OK(linkage_->OnProvisionRequest(hub_.Sign(p1)).status());
  ASSERT_OK(linkage_->OnProvisionRequest(hub_.Sign(p2)).status());
  EXPECT_THAT(linkage_->OnProvisionRequest(hub_.Sign(p3)).status(),
              StatusIs(StatusCode::kUnavailable, HasSubstr("BUSY: 2 or more messages wait")));
  linkage::SignedDocument forged = hub_.Sign(p3);
  forged.signature[0] ^= 1;
  EXPECT_THAT(linkage_->OnProvisionRequest(forged).status(),
              StatusIs(StatusCode::kUnavailable, HasSubstr("BUSY")));
  EXPECT_EQ(platform_->Tenant(B()).value()->turned_away(), 2);
  ASSERT_OK(DeliverAll(B()));  // the hub takes both answers (202)
  ASSERT_OK(linkage_->OnProvisionRequest(hub_.Sign(p3)).status());
  // Once there is room, the forged one is what it is.
  EXPECT_THAT(linkage_->OnProvisionRequest(forged).status(),
              StatusIs(StatusCode::kUnauthenticated, HasSubstr("BAD_PERMIT_SIGNATURE")));
}

class LinkageApiServerTest : public LinkageApiTest {
 protected:
  void SetUp() override {
    LinkageApiTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    http::Router router;
    ASSERT_OK(api_->Register(router));
    ASSERT_OK_AND_ASSIGN(server_, http::Server::Create(http::ServerOptions{}, std::move(router)));
    ASSERT_OK(server_->Start());
    ASSERT_OK_AND_ASSIGN(client_, http::Client::Create({}));
  }
  void TearDown() override {
    if (one_worker_) one_worker_->Stop(std::chrono::seconds(5));
    one_worker_.reset();
    if (server_) server_->Stop(std::chrono::seconds(5));
    server_.reset();
    client_.reset();
    LinkageApiTest::TearDown();
  }
  // Starts a second server of the same API with one worker (stopped in TearDown); its base URL,
  // "http://127.0.0.1:port", is one_worker_url_.
  void StartOneWorkerServer() {
    http::Router router;
    ASSERT_OK(api_->Register(router));
    http::ServerOptions o;
    o.workers = 1;
    ASSERT_OK_AND_ASSIGN(one_worker_, http::Server::Create(o, std::move(router)));
    ASSERT_OK(one_worker_->Start());
    one_worker_url_ = "http://127.0.0.1:" + std::to_string(one_worker_->port());
  }
  // Expects a caller with an unknown token (refused without a write) to be answered 401 at
  // `url` within 5 s: the one worker is free to answer it.
  void ExpectAnsweredMeanwhile(const std::string& url) {
    http::ClientOptions co;
    co.request_timeout = std::chrono::seconds(5);
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<http::Client> other_client, http::Client::Create(co));
    std::string unknown = system_a_;
    unknown.back() = unknown.back() == 'A' ? 'B' : 'A';
    http::ClientRequest r;
    r.url = url;
    r.headers.Set("Authorization", "Bearer " + unknown);
    ASSERT_OK_AND_ASSIGN(http::Response refused, other_client->Send(r));
    EXPECT_EQ(refused.status, 401);
  }
  Result<http::Response> Get(const std::string& path) {
    http::ClientRequest r;
    r.url = "http://127.0.0.1:" + std::to_string(server_->port()) + path;
    r.headers.Set("Authorization", "Bearer " + system_a_);
    return client_->Send(r);
  }

  std::unique_ptr<http::Server> server_;
  std::unique_ptr<http::Client> client_;
  std::unique_ptr<http::Server> one_worker_;
  std::string one_worker_url_;
};

TEST_P(LinkageApiServerTest, GetInquiryChecksTheIdAndTheWait) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->CreateInquiry(A(), TaxInquiry()));
  // Not a 処理通番: no such inquiry, and the text is not echoed.
  ASSERT_OK_AND_ASSIGN(http::Response bad, Get("/api/v1/inquiries/%3Cscript%3E"));
  EXPECT_EQ(bad.status, 404);
  EXPECT_EQ(bad.body.find("script"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(http::Response other,
                       Get("/api/v1/inquiries/" + PermitId::Generate().str()));
  EXPECT_EQ(other.status, 404);
  ASSERT_OK_AND_ASSIGN(http::Response too_long,
                       Get("/api/v1/inquiries/" + v.inquiry_id + "?wait_ms=30001"));
  EXPECT_EQ(too_long.status, 400);
  ASSERT_OK_AND_ASSIGN(http::Response now, Get("/api/v1/inquiries/" + v.inquiry_id));
  EXPECT_EQ(now.status, 200);
  EXPECT_THAT(now.body, HasSubstr(R"("state":"accepted")"));
  EXPECT_THAT(now.body, HasSubstr(R"("result":null)"));
}

TEST_P(LinkageApiServerTest, ALongPollAnswersWhenTheInquiryEnds) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->CreateInquiry(A(), TaxInquiry()));
  // Whether the poll starts before or after the refusal, it answers with the ended inquiry —
  // well before its 30 s wait is up.
  std::future<Result<http::Response>> poll = std::async(std::launch::async, [&] {
    return Get("/api/v1/inquiries/" + v.inquiry_id + "?wait_ms=30000");
  });
  hub_.SetPermitAnswer(
      http::Response::Json(403, R"({"error":{"code":"PERMISSION_DENIED","reason":"NO_RULE"}})"));
  ASSERT_OK(DeliverAll(A()));
  ASSERT_EQ(poll.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  ASSERT_OK_AND_ASSIGN(http::Response r, poll.get());
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(R"("state":"refused","reason":"NO_RULE")"));
}

// AuditThen goes on (`then`) only once the entry is committed, on another thread than the
// caller's, which does not wait.
TEST_P(LinkageApiTest, AuditThenGoesOnOnceTheEntryIsCommitted) {
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> st, platform_->Tenant(A()));
  const int64_t before = AuditCount(A(), "ok");
  std::promise<std::thread::id> then_ran;
  std::future<std::thread::id> then_ran_seen = then_ran.get_future();
  {
    store::testing::HeldCommitter held(*st);
    st->AuditThen({A().str(), "client:tax", "api.GET", "/api/v1/test", "ok", ""},
                  [&then_ran] { then_ran.set_value(std::this_thread::get_id()); });
    // Queued behind the held write: not written, and `then` not called.
    EXPECT_EQ(AuditCount(A(), "ok"), before);
    EXPECT_EQ(then_ran_seen.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  }
  std::future<std::thread::id>& ran = then_ran_seen;
  ASSERT_EQ(ran.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_NE(ran.get(), std::this_thread::get_id());
  EXPECT_EQ(AuditCount(A(), "ok"), before + 1);
}

// An API call is answered only once its audit entry is durable, but no worker waits for that
// commit: with one worker and the tenant's committer held, a call waits for its entry while the
// worker goes on to answer another caller. Before, the worker itself waited (TenantContext::
// Audit), and nobody else was answered until the committer went on.
TEST_P(LinkageApiServerTest, AnAnswerWaitsForItsAuditEntryWithoutHoldingAWorker) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  ASSERT_OK_AND_ASSIGN(InquiryView v, linkage_->CreateInquiry(A(), TaxInquiry()));
  ASSERT_NO_FATAL_FAILURE(StartOneWorkerServer());
  const std::string url = one_worker_url_ + "/api/v1/inquiries/" + v.inquiry_id;
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> st, platform_->Tenant(A()));
  const int64_t audited_before = AuditCount(A(), "ok");
  std::future<Result<http::Response>> audited;
  {
    store::testing::HeldCommitter held(*st);
    audited = std::async(std::launch::async, [&] {
      http::ClientRequest r;
      r.url = url;
      r.headers.Set("Authorization", "Bearer " + system_a_);
      return client_->Send(r);
    });
    // Not answered while its entry cannot be written.
    EXPECT_EQ(audited.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout);
    ExpectAnsweredMeanwhile(url);
    EXPECT_EQ(audited.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  }
  ASSERT_EQ(audited.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  ASSERT_OK_AND_ASSIGN(http::Response answered, audited.get());
  EXPECT_EQ(answered.status, 200);
  EXPECT_EQ(AuditCount(A(), "ok"), audited_before + 1);
}

// POST /api/v1/inquiries holds no worker while its inquiry commits: with one worker and the
// tenant's committer held, the POST waits for its write while the worker answers another
// caller; once the committer goes on, the POST answers 202 with the inquiry as stored. Before,
// the worker waited for the commit (Inquiries::Create), and the other caller timed out.
TEST_P(LinkageApiServerTest, CreateInquiryHoldsNoWorkerWhileItsInquiryCommits) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  ASSERT_NO_FATAL_FAILURE(StartOneWorkerServer());
  const std::string url = one_worker_url_ + "/api/v1/inquiries";
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> st, platform_->Tenant(A()));
  std::future<Result<http::Response>> created;
  {
    store::testing::HeldCommitter held(*st);
    created = std::async(std::launch::async, [&] {
      http::ClientRequest r;
      r.method = "POST";
      r.url = url;
      r.headers.Set("Authorization", "Bearer " + system_a_);
      r.body = R"({"atena_no":"000000000000101","procedure":"JT90000000000101",)"
               R"("tm":"TM00000000000002","provider":"0000000000000012"})";
      return client_->Send(r);
    });
    // Not answered while its inquiry cannot be written.
    EXPECT_EQ(created.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout);
    ExpectAnsweredMeanwhile(url);
    EXPECT_EQ(created.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  }
  ASSERT_EQ(created.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  ASSERT_OK_AND_ASSIGN(http::Response answered, created.get());
  ASSERT_EQ(answered.status, 202) << answered.body;
  ASSERT_OK_AND_ASSIGN(json::JsonObject body, json::ParseJsonObject(answered.body));
  ASSERT_OK_AND_ASSIGN(std::string id, body.GetString("inquiry_id", 64));
  EXPECT_EQ(body.GetString("state", 32).value_or(""), "accepted");
  ASSERT_OK_AND_ASSIGN(InquiryView stored, linkage_->GetInquiry(A(), id));
  EXPECT_EQ(stored.tm, "TM00000000000002");
}

// The same idempotency key posted twice while the committer is held: both writes are queued,
// the second fails on the key (kAlreadyExists), and is finished off the committer's thread by
// reading the first — both answer 202 with the same inquiry. A different request under the
// same key, raced in the same way, answers 409 IDEMPOTENCY_KEY_REUSED (or, when it arrived
// first, is the one stored, and the two same requests answer 409).
TEST_P(LinkageApiServerTest, CreateInquiryRacingOnAnIdempotencyKeyAnswersTheFirst) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  const std::string url =
      "http://127.0.0.1:" + std::to_string(server_->port()) + "/api/v1/inquiries";
  auto post = [&](std::string body) {
    return std::async(std::launch::async, [this, url, body = std::move(body)] {
      http::ClientRequest r;
      r.method = "POST";
      r.url = url;
      r.headers.Set("Authorization", "Bearer " + system_a_);
      r.body = body;
      return client_->Send(r);
    });
  };
  const std::string same = R"({"atena_no":"000000000000101","procedure":"JT90000000000101",)"
                           R"("tm":"TM00000000000002","provider":"0000000000000012",)"
                           R"("idempotency_key":"race-1"})";
  const std::string other = R"({"atena_no":"000000000000101","procedure":"JT90000000000101",)"
                            R"("tm":"TM00000000000002","provider":"0000000000000012",)"
                            R"("idempotency_key":"race-1","timeout_seconds":5})";
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> st, platform_->Tenant(A()));
  std::vector<std::future<Result<http::Response>>> answers;
  {
    store::testing::HeldCommitter held(*st);
    answers.push_back(post(same));
    answers.push_back(post(same));
    answers.push_back(post(other));
    // All three are checked (the key is not stored yet) and their writes queued behind the
    // held one; none is answered meanwhile.
    EXPECT_EQ(answers[2].wait_for(std::chrono::milliseconds(500)), std::future_status::timeout);
  }
  std::vector<http::Response> got;
  for (auto& f : answers) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    ASSERT_OK_AND_ASSIGN(http::Response r, f.get());
    got.push_back(std::move(r));
  }
  auto id_of = [](const http::Response& r) {
    return json::ParseJsonObject(r.body).value().GetString("inquiry_id", 64).value_or("?");
  };
  // Which write the committer took first is up to the order the three calls arrived in: the
  // two same requests are answered alike, the other request the other way.
  std::string stored;
  if (got[2].status == 202) {
    stored = id_of(got[2]);
    for (int i : {0, 1}) {
      EXPECT_EQ(got[i].status, 409) << got[i].body;
      EXPECT_EQ(ErrorCode(got[i]), "IDEMPOTENCY_KEY_REUSED");
    }
  } else {
    ASSERT_EQ(got[0].status, 202) << got[0].body;
    ASSERT_EQ(got[1].status, 202) << got[1].body;
    stored = id_of(got[0]);
    EXPECT_EQ(id_of(got[1]), stored);
    EXPECT_EQ(got[2].status, 409) << got[2].body;
    EXPECT_EQ(ErrorCode(got[2]), "IDEMPOTENCY_KEY_REUSED");
  }
  ASSERT_OK_AND_ASSIGN(std::vector<InquiryView> all,
                       linkage_->ListInquiries(A(), std::nullopt, 0, 10));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].inquiry_id, stored);
}

// The call's own audit entry (api.POST) is appended in the inquiry's write: a created inquiry
// is one write and one commit of the tenant's committer, not two in a row (the second one the
// answer waited for). An idempotent repeat writes nothing but the call's entry, on its own.
TEST_P(LinkageApiTest, ACreatedInquiryAndItsCallsAuditEntryAreOneCommit) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> st, platform_->Tenant(A()));
  const std::string body = R"({"atena_no":"000000000000101","procedure":"JT90000000000101",)"
                           R"("tm":"TM00000000000002","provider":"0000000000000012",)"
                           R"("idempotency_key":"once"})";
  const store::GroupCommitter::Stats before = st->commit_stats();
  http::Response created = Call("POST", "/api/v1/inquiries", system_a_, body);
  ASSERT_EQ(created.status, 202) << created.body;
  const store::GroupCommitter::Stats after = st->commit_stats();
  EXPECT_EQ(after.writes - before.writes, 1);
  EXPECT_EQ(after.batches - before.batches, 1);
  EXPECT_EQ(after.lazy - before.lazy, 0);
  auto entries = [&] {
    auto tx = st->db->BeginRead().value();
    std::vector<std::string> out;
    std::vector<store::Row> rows =
        tx->Query(
              "SELECT action, outcome, request_id FROM audit_log"
              " WHERE action IN ('inquiry.create', 'api.POST') ORDER BY seq")
            .value();
    for (const store::Row& row : rows) {
      out.push_back(row.GetText(0).value() + " " + row.GetText(1).value() + " " +
                    (row.GetText(2).value().empty() ? "-" : "rid"));
    }
    return out;
  };
  EXPECT_THAT(entries(), ::testing::ElementsAre("inquiry.create ok -", "api.POST ok rid"));

  // The same key again answers the first inquiry and writes the call's entry alone.
  http::Response repeated = Call("POST", "/api/v1/inquiries", system_a_, body);
  ASSERT_EQ(repeated.status, 202) << repeated.body;
  EXPECT_EQ(st->commit_stats().writes - after.writes, 1);
  EXPECT_THAT(entries(),
              ::testing::ElementsAre("inquiry.create ok -", "api.POST ok rid", "api.POST ok rid"));
  // A refused call writes its entry alone too, with its outcome.
  http::Response refused = Call("POST", "/api/v1/inquiries", system_a_, "{}");
  ASSERT_EQ(refused.status, 400);
  EXPECT_THAT(entries(),
              ::testing::ElementsAre("inquiry.create ok -", "api.POST ok rid", "api.POST ok rid",
                                     "api.POST error:INVALID_ARGUMENT rid"));
}

// A write that fails (here: the inquiries table is away) is finished off the committer's
// thread: its failure is audited with the blocking TenantContext::Audit — on the committer's
// own thread that would wait for itself — and the caller gets the error.
TEST_P(LinkageApiTest, CreateInquiryWhoseWriteFailsAnswersTheErrorAndAuditsIt) {
  ASSERT_OK(linkage_->RegisterCode(A(), kAtena, kRid).status());
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<TenantContext> st, platform_->Tenant(A()));
  ASSERT_OK(st->Commit([](store::Transaction& tx) {
    return tx.Exec("ALTER TABLE inquiries RENAME TO inquiries_away");
  }));
  http::Response r = Call("POST", "/api/v1/inquiries", system_a_,
                          R"({"atena_no":"000000000000101","procedure":"JT90000000000101",)"
                          R"("tm":"TM00000000000002","provider":"0000000000000012"})");
  ASSERT_OK(st->Commit([](store::Transaction& tx) {
    return tx.Exec("ALTER TABLE inquiries_away RENAME TO inquiries");
  }));
  // The store's error (a statement the schema refuses), answered without its details.
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.body, HasSubstr("storage error"));
  auto tx = st->db->BeginRead().value();
  ASSERT_OK_AND_ASSIGN(auto row, tx->QueryOne("SELECT COUNT(*) FROM audit_log WHERE action = "
                                              "'inquiry.create' AND outcome LIKE 'error:%'",
                                              {}));
  EXPECT_EQ(row->GetInt(0).value(), 1);
  EXPECT_EQ(AuditCount(A(), "ok"), 0);
}

CHUKAN_INSTANTIATE_BOTH_BACKENDS(LinkageApiTest);
CHUKAN_INSTANTIATE_BOTH_BACKENDS(LinkageApiServerTest);
CHUKAN_INSTANTIATE_BOTH_BACKENDS(LinkageApiBacklogTest);

}  // namespace
}  // namespace chukan::server
