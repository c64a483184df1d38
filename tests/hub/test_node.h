// Tests and benchmarks only: a small stand-in for an organisation's server on the node side of
// the linkage protocol — it receives provision permits (POST /node/v1/provision-requests) and
// relayed answers (POST /node/v1/inquiry-results) from the hub over mutual TLS, verifies them
// as a real server must (hub signature, expiry, addressee), and hands each permit id to its
// "application" exactly once however often the hub re-sends it.
#ifndef CHUKAN_TESTS_HUB_TEST_NODE_H_
#define CHUKAN_TESTS_HUB_TEST_NODE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "crypto/ed25519.h"
#include "http/api_util.h"
#include "http/router.h"
#include "http/server.h"
#include "linkage/envelope.h"
#include "linkage/permit.h"

namespace chukan::testing {

class TestNode {
 public:
  struct Options {
    OrgCode org = OrgCode::Parse("0000000000000000").value();
    std::string cert_file;
    std::string key_file;
    std::string ca_file;
    crypto::Bytes hub_key;  // the hub's Ed25519 public key (32 bytes)
    // Each delivery waits this long before it is answered (a slow receiver).
    std::chrono::milliseconds delay{0};
    // Also take permits in batches (POST /node/v1/batch/provision-requests), as chukan's
    // servers do; without, the hub finds no batch route (404) and sends them one by one.
    bool batches = false;
    // Benchmarks only: each permit's expiry, addressee and repetition are checked on arrival,
    // its hub signature later, by VerifyDeferredSignatures() (every one of them). A load
    // generator sharing the hub's two cores sets this so that the stand-in provider's Ed25519
    // checks (the real provider's work, on its own machine) do not take the hub's CPU during
    // the timed run.
    bool verify_signatures_later = false;
  };

  // Starts the node on 127.0.0.1 (a free port). nullptr (and `error` set) when it cannot start.
  static std::unique_ptr<TestNode> Start(Options options, std::string* error) {
    std::unique_ptr<TestNode> node(new TestNode(std::move(options)));
    Result<crypto::VerifyKey> hub_key = crypto::VerifyKey::FromBytes(node->options_.hub_key);
    if (!hub_key.ok()) {
      *error = hub_key.status().ToString();
      return nullptr;
    }
    node->hub_key_ = *hub_key;
    http::Router router;
    TestNode* self = node.get();
    Status s = router.AddStreaming(
        "POST", "/node/v1/provision-requests",
        [self](http::Request& req, http::BodyReader& body) { return self->OnPermit(req, body); });
    if (s.ok()) {
      s = router.AddStreaming(
          "POST", "/node/v1/inquiry-results",
          [self](http::Request& req, http::BodyReader& body) { return self->OnResult(req, body); });
    }
    if (s.ok() && node->options_.batches) {
      http::RouteOptions ro;
      ro.max_body_bytes = http::kMaxBatchBytes;
      s = router.Add(
          "POST", "/node/v1/batch/provision-requests",
          [self](http::Request& req) {
            Result<std::vector<std::string>> items = http::ParseBatchRequest(req.body);
            if (!items.ok()) return self->Refuse(400, "malformed");
            std::vector<http::Response> answers;
            for (const std::string& item : *items) {
              http::Response a = self->HandlePermit(item);
              if (a.status == 503) self->busy_in_batches_.fetch_add(1);
              // A batch's answers are JSON (a busy answer already is); a refusal's reason is one
              // plain ASCII word.
              if (a.content_type != "application/json")
                a = http::Response::Json(a.status, R"({"error":")" + a.body + "\"}");
              answers.push_back(std::move(a));
            }
            return http::Response::Json(200, http::BatchResponseJson(answers));
          },
          ro);
    }
    if (!s.ok()) {
      *error = s.ToString();
      return nullptr;
    }
    http::ServerOptions so;
    so.threads = 2;
    so.workers = 32;
    so.tls = true;
    so.tls_options = {self->options_.cert_file, self->options_.key_file, self->options_.ca_file,
                      true};
    auto server = http::Server::Create(so, std::move(router));
    if (!server.ok()) {
      *error = server.status().ToString();
      return nullptr;
    }
    node->server_ = std::move(*server);
    if (Status st = node->server_->Start(); !st.ok()) {
      *error = st.ToString();
      return nullptr;
    }
    return node;
  }

  ~TestNode() {
    if (server_) server_->Stop(std::chrono::seconds(1));
  }

  int port() const { return server_->port(); }
  std::string endpoint() const { return "https://127.0.0.1:" + std::to_string(port()); }

  // Called once per new permit (after verification), on a server worker thread.
  void set_on_permit(std::function<void(const linkage::ProvisionPermit&)> f) {
    std::lock_guard<std::mutex> lock(mu_);
    on_permit_ = std::move(f);
  }
  // Called once per new answer, with the permit and the signed envelope.
  void set_on_result(
      std::function<void(const linkage::ProvisionPermit&, const linkage::SignedDocument&)> f) {
    std::lock_guard<std::mutex> lock(mu_);
    on_result_ = std::move(f);
  }

  // While busy, every permit is answered 503 with Retry-After: 1 (an overloaded node); inside a
  // batch, each item is answered so, in a batch answered 200.
  void set_busy(bool busy) { busy_.store(busy); }
  // Items answered 503 BUSY inside a batch.
  int64_t busy_in_batches() const { return busy_in_batches_.load(); }

  // Permit ids handed to the application, in arrival order (each once).
  std::vector<std::string> permits() const {
    std::lock_guard<std::mutex> lock(mu_);
    return permit_order_;
  }
  std::map<std::string, linkage::SignedDocument> results() const {
    std::lock_guard<std::mutex> lock(mu_);
    return results_;
  }
  int64_t wire_permits() const { return wire_permits_.load(); }
  int64_t wire_results() const { return wire_results_.load(); }
  // Deliveries refused by verification, by reason ("signature", "expired", "addressee", …).
  std::map<std::string, int> refused() const {
    std::lock_guard<std::mutex> lock(mu_);
    return refused_;
  }

  // With Options::verify_signatures_later: checks the hub's signature on every permit handed to
  // the application so far and forgets them. Returns how many failed (a hub that delivered a
  // forged or altered permit), and sets `checked` to how many were checked.
  int64_t VerifyDeferredSignatures(int64_t* checked) {
    std::vector<linkage::SignedDocument> docs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      docs.swap(deferred_);
    }
    std::atomic<size_t> next{0};
    std::atomic<int64_t> bad{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 2; ++t) {
      ts.emplace_back([&] {
        for (size_t i; (i = next.fetch_add(1)) < docs.size();) {
          if (!linkage::VerifyDocument(docs[i], *hub_key_, "permit").ok()) bad.fetch_add(1);
        }
      });
    }
    for (std::thread& t : ts) t.join();
    *checked = static_cast<int64_t>(docs.size());
    return bad.load();
  }

  // Waits until the application has `n` permits (true) or `timeout` passes (false).
  bool WaitForPermits(size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return permit_order_.size() >= n; });
  }
  bool WaitForResults(size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return results_.size() >= n; });
  }

 private:
  explicit TestNode(Options options) : options_(std::move(options)) {}

  static std::string ReadBody(http::BodyReader& body) {
    std::string out;
    char buf[16384];
    while (out.size() < (16u << 20)) {
      Result<size_t> n = body.Read(buf, sizeof(buf));
      if (!n.ok() || *n == 0) break;
      out.append(buf, *n);
    }
    return out;
  }

  http::Response Refuse(int status, const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu_);
    ++refused_[reason];
    return http::Response::Text(status, reason);
  }

  http::Response OnPermit(http::Request&, http::BodyReader& body) {
    return HandlePermit(ReadBody(body));
  }

  http::Response HandlePermit(const std::string& text) {
    wire_permits_.fetch_add(1);
    if (busy_.load()) {
      http::Response busy =
          http::Response::Json(503, R"({"error":{"code":"BUSY","message":"BUSY: test"}})");
      busy.headers.Set("Retry-After", "1");
      return busy;
    }
    if (options_.delay.count() > 0) std::this_thread::sleep_for(options_.delay);
    Result<linkage::SignedDocument> doc = linkage::ParseSignedPermitJson(text);
    if (!doc.ok()) return Refuse(400, "malformed");
    Result<linkage::ProvisionPermit> permit =
        options_.verify_signatures_later
            ? ParseUnexpired(doc->document)
            : linkage::VerifyPermit(*doc, *hub_key_, SystemClock::Get().Now());
    if (!permit.ok()) {
      return Refuse(
          permit.status().code() == StatusCode::kFailedPrecondition ? 412 : 401,
          permit.status().code() == StatusCode::kFailedPrecondition ? "expired" : "signature");
    }
    if (!linkage::CheckAddressedTo(*permit, options_.org).ok()) return Refuse(403, "addressee");
    std::function<void(const linkage::ProvisionPermit&)> hook;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // A re-delivery of a permit already handed to the application is acknowledged (the hub
      // must stop re-sending it) but not handed over again.
      if (!ledger_.Use(*permit, SystemClock::Get().Now()).ok()) {
        return http::Response::Json(200, R"({"status":"duplicate"})");
      }
      permit_order_.push_back(permit->id.str());
      if (options_.verify_signatures_later) deferred_.push_back(std::move(*doc));
      hook = on_permit_;
    }
    cv_.notify_all();
    if (hook) hook(*permit);
    return http::Response::Json(200, R"({"status":"accepted"})");
  }

  // VerifyPermit's checks but the signature's (Options::verify_signatures_later).
  static Result<linkage::ProvisionPermit> ParseUnexpired(const std::string& document) {
    Result<linkage::ProvisionPermit> p = linkage::ParsePermitDocument(document);
    if (!p.ok()) return InvalidArgumentError("permit: " + p.status().message());
    if (ToUnixMicros(SystemClock::Get().Now()) / 1000 >= p->expires_at_ms) {
      return FailedPreconditionError("permit " + p->id.str() + ": expired");
    }
    return p;
  }

  http::Response OnResult(http::Request&, http::BodyReader& body) {
    wire_results_.fetch_add(1);
    const std::string text = ReadBody(body);
    Result<linkage::ProvisionResult> result = linkage::ParseProvisionResultJson(text);
    if (!result.ok()) return Refuse(400, "malformed");
    // An answer may arrive after its permit expired: check the signature only, via an instant
    // just after issue.
    Result<linkage::ProvisionPermit> unverified =
        linkage::ParsePermitDocument(result->permit.document);
    if (!unverified.ok()) return Refuse(400, "malformed");
    Result<linkage::ProvisionPermit> permit = linkage::VerifyPermit(
        result->permit, *hub_key_, FromUnixMicros(unverified->issued_at_ms * 1000));
    if (!permit.ok()) return Refuse(401, "signature");
    if (permit->inquirer != options_.org) return Refuse(403, "addressee");
    std::function<void(const linkage::ProvisionPermit&, const linkage::SignedDocument&)> hook;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!results_.emplace(permit->id.str(), result->envelope).second) {
        return http::Response::Json(200, R"({"status":"duplicate"})");
      }
      hook = on_result_;
    }
    cv_.notify_all();
    if (hook) hook(*permit, result->envelope);
    return http::Response::Json(200, R"({"status":"accepted"})");
  }

  Options options_;
  std::optional<crypto::VerifyKey> hub_key_;
  std::unique_ptr<http::Server> server_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  linkage::PermitLedger ledger_;
  std::vector<std::string> permit_order_;
  std::vector<linkage::SignedDocument> deferred_;  // signatures not yet checked
  std::map<std::string, linkage::SignedDocument> results_;
  std::map<std::string, int> refused_;
  std::function<void(const linkage::ProvisionPermit&)> on_permit_;
  std::function<void(const linkage::ProvisionPermit&, const linkage::SignedDocument&)> on_result_;
  std::atomic<int64_t> wire_permits_{0};
  std::atomic<bool> busy_{false};
  std::atomic<int64_t> busy_in_batches_{0};
  std::atomic<int64_t> wire_results_{0};
};

}  // namespace chukan::testing

#endif  // CHUKAN_TESTS_HUB_TEST_NODE_H_
