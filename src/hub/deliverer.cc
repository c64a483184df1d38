#include "hub/deliverer.h"

#include <algorithm>
#include <chrono>

#include "common/log.h"
#include "crypto/bytes.h"
#include "http/api_util.h"

namespace chukan::hub {

Result<std::unique_ptr<Deliverer>> Deliverer::Create(Hub& hub, Options options) {
  http::ClientOptions co = options.client;
  co.request_timeout = options.config.timeout;
  co.connect_timeout = std::min(options.config.timeout, std::chrono::milliseconds(5000));
  co.max_idle_per_host = static_cast<size_t>(options.config.threads);
  co.max_response_bytes = 1 << 20;  // a batch's answers: 64 small JSON objects
  ASSIGN_OR_RETURN(std::unique_ptr<http::Client> client, http::Client::Create(co));
  return std::unique_ptr<Deliverer>(new Deliverer(hub, std::move(options), std::move(client)));
}

Deliverer::Deliverer(Hub& hub, Options options, std::unique_ptr<http::Client> client)
    : hub_(hub),
      options_(std::move(options)),
      client_(std::move(client)),
      owner_(options_.instance + ":" + RequestId::Generate().str().substr(0, 12)),
      queue_(static_cast<size_t>(options_.config.peer_requests),
             static_cast<size_t>(options_.config.batch_items), http::kMaxBatchBytes / 2) {}

Deliverer::~Deliverer() { Stop(); }

Status Deliverer::Start() {
  ASSIGN_OR_RETURN(int64_t released,
                   hub_.outbox().ReleaseLeases(*hub_.db(), options_.instance + ":"));
  if (released > 0) {
    log::Info("hub.delivery_leases_released", {{"items", released}});
  }
  dispatcher_ = std::thread([this] { Dispatch(); });
  for (int i = 0; i < options_.config.threads; ++i) {
    workers_.emplace_back([this] { Work(); });
  }
  return Status();
}

void Deliverer::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
  }
  dispatch_cv_.notify_one();
}

void Deliverer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !dispatcher_.joinable()) return;
    stopping_ = true;
  }
  dispatch_cv_.notify_all();
  work_cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  // Items still queued stay leased by this owner; the next Start() releases them.
}

Deliverer::Stats Deliverer::stats() const {
  return {delivered_.load(), refused_.load(), retried_.load()};
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

Result<std::vector<store::OutboxItem>> Deliverer::ClaimThroughCommitter(int limit) {
  auto items = std::make_shared<std::vector<store::OutboxItem>>();
  store::Outbox& outbox = hub_.outbox();
  const std::string owner = owner_;
  const auto lease = options_.config.lease;
  RETURN_IF_ERROR(
      hub_.committer()
          .Submit([&outbox, items, owner, limit, lease](store::Transaction& tx) -> Status {
            ASSIGN_OR_RETURN(*items, outbox.Claim(tx, owner, limit, lease));
            return Status();
          })
          .get());
  return std::move(*items);
}

void Deliverer::Dispatch() {
  const size_t capacity = std::max<size_t>(2 * static_cast<size_t>(options_.config.threads),
                                           4 * static_cast<size_t>(options_.config.batch_items));
  while (true) {
    size_t room = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      dispatch_cv_.wait_for(lock, std::chrono::milliseconds(250),
                            [&] { return stopping_ || (notified_ && queue_.size() < capacity); });
      if (stopping_) return;
      notified_ = false;
      if (queue_.size() >= capacity) continue;
      room = capacity - queue_.size();
    }
    const int limit = static_cast<int>(std::min<size_t>(room, options_.config.batch));
    // Through the group committer: the claim shares a durable commit with the hub's other
    // writes instead of paying one of its own each time the dispatcher wakes.
    Result<std::vector<store::OutboxItem>> items = ClaimThroughCommitter(limit);
    if (!items.ok()) {
      log::Warn("hub.delivery_claim_failed", {{"error", items.status().ToString()}});
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (items->empty()) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (store::OutboxItem& item : *items) {
        std::string lane = item.topic + "\n" + std::string(PayloadOrg(item));
        const size_t bytes = item.payload.size();
        queue_.Add(std::move(lane), bytes, std::move(item));
      }
      // A full claim suggests more is waiting: claim again as soon as there is room.
      if (static_cast<int>(items->size()) == limit) notified_ = true;
    }
    work_cv_.notify_all();
  }
}

void Deliverer::Work() {
  while (true) {
    LaneBatcher<store::OutboxItem>::Batch batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || queue_.Ready(); });
      if (stopping_) return;
      batch = std::move(*queue_.Take());
      notified_ = true;  // room again: let the dispatcher top the queue up
    }
    dispatch_cv_.notify_one();
    DeliverBatch(batch.items);
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.Done(batch.lane);
    }
    work_cv_.notify_all();  // the lane has room again
  }
}

void Deliverer::DeliverBatch(std::vector<store::OutboxItem>& items) {
  const store::OutboxItem& first = items.front();
  const std::string to_text(PayloadOrg(first));
  const bool requests = first.topic == kTopicProvisionRequest;
  const bool results = first.topic == kTopicInquiryResult;
  Result<OrgCode> to = OrgCode::Parse(to_text);
  std::string error;
  std::string endpoint;
  if (!to.ok() || (!requests && !results)) {
    // Not something this hub wrote: park it for an operator.
    error = "malformed outbox item";
  } else if (Result<OrgRecord> org = hub_.FindOrg(*to); !org.ok()) {
    error = org.status().message();
  } else if (org->state != "active") {
    error = "organisation " + to->str() + " is disabled";
  } else {
    endpoint = org->endpoint;
  }
  if (!error.empty()) {
    for (const store::OutboxItem& item : items) Finish(item, false, error);
    return;
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
                        return client_->Send(req);
                      });
  for (size_t i = 0; i < items.size(); ++i) Record(items[i], to_text, answers[i]);
}

void Deliverer::Record(const store::OutboxItem& item, const std::string& to,
                       const Result<http::Response>& resp) {
  switch (http::Classify(resp)) {
    case http::Delivery::kDelivered:
      delivered_.fetch_add(1);
      Finish(item, true, "");
      return;
    case http::Delivery::kRefused:
      // The receiver refuses this message for good (e.g. an expired permit): retrying cannot
      // help. Acknowledge, and leave a trace for the operator.
      refused_.fetch_add(1);
      log::Warn("hub.delivery_refused", {{"topic", item.topic},
                                         {"permit_id", item.dedupe_key},
                                         {"org", to},
                                         {"status", resp->status}});
      Finish(item, true, "");
      return;
    case http::Delivery::kRetry:
      Finish(item, false,
             resp.ok() ? "HTTP " + std::to_string(resp->status) : resp.status().ToString());
      return;
  }
}

void Deliverer::Finish(const store::OutboxItem& item, bool ack, const std::string& error) {
  if (!ack) {
    retried_.fetch_add(1);
    log::Warn("hub.delivery_failed", {{"topic", item.topic},
                                      {"permit_id", item.dedupe_key},
                                      {"attempt", item.attempts},
                                      {"error", error}});
  }
  const int64_t id = item.id;
  const std::string owner = owner_;
  store::Outbox& outbox = hub_.outbox();
  hub_.committer().SubmitAsync(
      [&outbox, id, owner, ack, error](store::Transaction& tx) {
        return ack ? outbox.Ack(tx, id, owner) : outbox.Fail(tx, id, owner, error);
      },
      [id](Status s) {
        // A lost lease means another claimer took the item over; it will be delivered again
        // (receivers are idempotent), so this is only worth a note.
        if (!s.ok()) log::Warn("hub.delivery_ack_failed", {{"id", id}, {"error", s.ToString()}});
      });
}

}  // namespace chukan::hub
