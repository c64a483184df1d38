#include "hub/deliverer.h"

#include <algorithm>
#include <chrono>

#include "common/log.h"
#include "http/api_util.h"

namespace chukan::hub {

Result<std::unique_ptr<Deliverer>> Deliverer::Create(Hub& hub, Options options) {
  std::unique_ptr<Deliverer> d(new Deliverer(hub, std::move(options)));  // private constructor
  if (d->options_.send) {
    d->send_ = d->options_.send;
  } else {
    http::ClientOptions co = d->options_.client;
    co.request_timeout = d->options_.config.timeout;
    co.connect_timeout = std::min(d->options_.config.timeout, std::chrono::milliseconds(5000));
    co.max_idle_per_host = static_cast<size_t>(d->options_.config.threads);
    co.max_response_bytes = 1 << 20;  // a batch's answers: 64 small JSON objects
    ASSIGN_OR_RETURN(std::unique_ptr<http::Client> client, http::Client::Create(co));
    d->client_options_ = co;
    {
      MutexLock lock(d->client_mu_);
      d->client_ = std::move(client);
    }
    Deliverer* self = d.get();
    d->send_ = [self](const http::ClientRequest& req) {
      std::shared_ptr<http::Client> c;
      {
        MutexLock lock(self->client_mu_);
        c = self->client_;
      }
      return c->Send(req);
    };
  }
  store::OutboxPumpOptions po;
  po.topics = {std::string(kTopicProvisionRequest), std::string(kTopicInquiryResult)};
  po.instance = d->options_.instance;
  po.log_prefix = "hub";
  po.threads = d->options_.config.threads;
  po.batch_items = d->options_.config.batch_items;
  po.peer_requests = d->options_.config.peer_requests;
  po.batch_bytes = http::kMaxBatchBytes / 2;
  ASSIGN_OR_RETURN(d->pump_, store::OutboxPump::Create(hub.outbox(), *d, po, hub.clock()));
  return d;
}

Deliverer::Deliverer(Hub& hub, Options options) : hub_(hub), options_(std::move(options)) {}

Deliverer::~Deliverer() { Stop(); }

Status Deliverer::Start() { return pump_->Start(); }

void Deliverer::Stop() {
  // Items still queued are released by the pump for the next claim.
  if (pump_) pump_->Stop();
}

Status Deliverer::ReloadTls() {
  if (options_.send) return FailedPreconditionError("deliverer: no TLS client (a test's send)");
  Result<std::unique_ptr<http::Client>> client = http::Client::Create(client_options_);
  if (!client.ok()) {
    return client.status().WithContext(
        "hub deliverer: TLS not reloaded, the previous files stay in use");
  }
  MutexLock lock(client_mu_);
  client_ = std::move(*client);
  return Status();
}

Deliverer::Stats Deliverer::stats() const {
  return {delivered_.load(), refused_.load(), retried_.load(), busy_.load()};
}

Result<std::vector<std::string>> Deliverer::Sources() { return std::vector<std::string>{""}; }

void Deliverer::SubmitAsync(const std::string& /*source*/, WriteFn write, DoneFn done) {
  // Through the group committer: claims and acknowledgements share commits with the hub's other
  // writes, and a commit of nothing else waits for no disk (outbox_pump.h,
  // OutboxCourier::SubmitAsync).
  hub_.committer().SubmitAsync(std::move(write), std::move(done),
                               store::GroupCommitter::Rerun::kOnce,
                               store::GroupCommitter::Durability::kLazy);
}

namespace {

// "<org>\n<body>": the receiving organisation, then what to send it.
std::string_view PayloadOrg(const store::OutboxItem& item) {
  const std::string_view p(reinterpret_cast<const char*>(item.payload.data()), item.payload.size());
  const size_t nl = p.find('\n');
  return nl == std::string_view::npos ? std::string_view() : p.substr(0, nl);
}

std::string_view PayloadBody(const store::OutboxItem& item) {
  const std::string_view p(reinterpret_cast<const char*>(item.payload.data()), item.payload.size());
  const size_t nl = p.find('\n');
  return nl == std::string_view::npos ? std::string_view() : p.substr(nl + 1);
}

}  // namespace

std::string Deliverer::Lane(const store::OutboxItem& item) { return std::string(PayloadOrg(item)); }

std::vector<store::Delivery> Deliverer::Deliver(const std::string& /*source*/,
                                                const std::vector<store::OutboxItem>& items,
                                                const std::string& /*owner*/) {
  const store::OutboxItem& first = items.front();
  const std::string to_text(PayloadOrg(first));
  const bool requests = first.topic == kTopicProvisionRequest;
  const bool results = first.topic == kTopicInquiryResult;
  Result<OrgCode> to = OrgCode::Parse(to_text);
  if (!to.ok() || (!requests && !results)) {
    // Not something this hub wrote: retrying cannot help; park it for an operator.
    return std::vector<store::Delivery>(
        items.size(), store::Delivery{store::DeliveryOutcome::kGiveUp, "malformed outbox item"});
  }
  std::string error;
  std::string endpoint;
  if (Result<OrgRecord> org = hub_.FindOrg(*to); !org.ok()) {
    error = org.status().message();
  } else if (org->state != "active") {
    error = "organisation " + to->str() + " is disabled";
  } else {
    endpoint = org->endpoint;
  }
  if (!error.empty()) {
    retried_.fetch_add(static_cast<int64_t>(items.size()));
    return std::vector<store::Delivery>(items.size(),
                                        store::Delivery{store::DeliveryOutcome::kRetry, error});
  }
  std::vector<std::string> bodies;
  bodies.reserve(items.size());
  for (const store::OutboxItem& item : items) bodies.emplace_back(PayloadBody(item));
  std::vector<Result<http::Response>> answers =
      http::SendItems(bodies, requests ? kProvisionRequestPath : kInquiryResultPath,
                      requests ? kProvisionRequestBatchPath : kInquiryResultBatchPath,
                      [&](std::string_view path, std::string body, size_t i) {
                        http::ClientRequest req;
                        req.method = "POST";
                        req.url = endpoint + std::string(path);
                        req.headers.Add("Content-Type", "application/json");
                        if (i != http::kWholeBatch)
                          req.headers.Add("X-Chukan-Permit-Id", items[i].dedupe_key);
                        req.body = std::move(body);
                        return send_(req);
                      });
  std::vector<store::Delivery> outcomes;
  outcomes.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    outcomes.push_back(Record(items[i], to_text, answers[i]));
  }
  return outcomes;
}

store::Delivery Deliverer::Record(const store::OutboxItem& item, const std::string& to,
                                  const Result<http::Response>& resp) {
  switch (http::Classify(resp)) {
    case http::Delivery::kDelivered:
      delivered_.fetch_add(1);
      hub_.Delivered(1);
      return {store::DeliveryOutcome::kDone, ""};
    case http::Delivery::kBusy:
      // The receiver is overloaded: again after its Retry-After, no attempt counted.
      busy_.fetch_add(1);
      return {store::DeliveryOutcome::kBusy, "HTTP " + std::to_string(resp->status),
              http::RetryAfter(*resp)};
    case http::Delivery::kRefused:
      // The receiver refuses this message for good (e.g. an expired permit): retrying cannot
      // help. Acknowledge, and leave a trace for the operator.
      refused_.fetch_add(1);
      hub_.Delivered(1);
      log::Warn("hub.delivery_refused", {{"topic", item.topic},
                                         {"permit_id", item.dedupe_key},
                                         {"org", to},
                                         {"status", resp->status}});
      return {store::DeliveryOutcome::kDone, ""};
    case http::Delivery::kRetry:
      break;
  }
  retried_.fetch_add(1);
  return {store::DeliveryOutcome::kRetry,
          resp.ok() ? "HTTP " + std::to_string(resp->status) : resp.status().ToString()};
}

}  // namespace chukan::hub
