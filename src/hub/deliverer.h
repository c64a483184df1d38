// Deliverer: sends the hub's outbox — provision permits to providers' servers
// (POST /node/v1/provision-requests) and sealed envelopes to inquirers' servers
// (POST /node/v1/inquiry-results) — over mutual TLS, with retry and exponential backoff.
//
// Delivery is at-least-once: an item is acknowledged only after the receiver answered 2xx (or
// refused it for good with a 4xx other than 408/429, which is logged and not retried), so a hub
// that stops at any point re-sends what was not acknowledged; receivers are idempotent on the
// permit id. Acknowledgements go through the hub's GroupCommitter, so they share commits.
// On Start() the leases this instance's previous run held are released at once.
//
// Threads: one dispatcher claims items from the outbox (woken by Notify() after a commit, or
// every 250 ms) into a LaneBatcher with one lane per receiving organisation and kind of message;
// `threads` workers send. A worker takes the oldest item whose lane has fewer than
// `peer_requests` requests in flight, with the other items waiting in that lane (up to
// `batch_items`): alone it goes to the single-item route, together to the batch route
// (POST /node/v1/batch/…, http::ParseBatchRequest), whose per-item answers are treated exactly as
// single answers. A batch the receiver cannot take as a whole (no answer, 5xx, a 4xx for the
// batch) is retried item by item later; a 404/405 for the batch route (a receiver without it)
// makes the worker send those items one by one at once.
//
// Thread-safety: Notify/Stop/stats are thread-safe.
#ifndef CHUKAN_HUB_DELIVERER_H_
#define CHUKAN_HUB_DELIVERER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/lane_batcher.h"
#include "common/status.h"
#include "http/client.h"
#include "hub/hub.h"
#include "hub/hub_config.h"
#include "store/outbox.h"

namespace chukan::hub {

class Deliverer {
 public:
  struct Options {
    DeliveryConfig config;
    // The hub process's instance name (HubConfig::instance): leases are taken as
    // "<instance>:<random boot id>".
    std::string instance = "hub-1";
    // CA for the nodes' server certificates, and the hub's own client certificate.
    http::ClientOptions client;
  };
  struct Stats {
    int64_t delivered = 0;  // acknowledged after a 2xx
    int64_t refused = 0;    // acknowledged after a permanent 4xx
    int64_t retried = 0;    // failed attempts scheduled for retry
  };

  // `hub` must outlive the Deliverer. Errors: those of http::Client::Create.
  static Result<std::unique_ptr<Deliverer>> Create(Hub& hub, Options options);
  ~Deliverer();
  Deliverer(const Deliverer&) = delete;
  Deliverer& operator=(const Deliverer&) = delete;

  // Releases this instance's stale leases and starts the threads.
  Status Start();
  // Wakes the dispatcher (something was queued).
  void Notify();
  // Stops claiming, lets the workers finish the deliveries in hand, joins. Idempotent.
  void Stop();
  Stats stats() const;

 private:
  Deliverer(Hub& hub, Options options, std::unique_ptr<http::Client> client);
  void Dispatch();
  // Outbox::Claim inside a group commit; returns once it is durable.
  Result<std::vector<store::OutboxItem>> ClaimThroughCommitter(int limit);
  void Work();
  // Sends one lane's items (one request, or one per item) and records each outcome.
  void DeliverBatch(std::vector<store::OutboxItem>& items);
  // Records an answer by http::Classify: acknowledged (delivered or refused for good), or
  // failed to be retried.
  void Record(const store::OutboxItem& item, const std::string& to,
              const Result<http::Response>& resp);
  // Ack, or Fail with `error`, through the group committer.
  void Finish(const store::OutboxItem& item, bool ack, const std::string& error);

  Hub& hub_;
  const Options options_;
  std::unique_ptr<http::Client> client_;
  std::string owner_;

  std::mutex mu_;
  std::condition_variable dispatch_cv_;
  std::condition_variable work_cv_;
  LaneBatcher<store::OutboxItem> queue_;  // GUARDED_BY(mu_)
  bool notified_ = false;                 // GUARDED_BY(mu_)
  bool stopping_ = false;                 // GUARDED_BY(mu_)
  std::thread dispatcher_;
  std::vector<std::thread> workers_;

  std::atomic<int64_t> delivered_{0};
  std::atomic<int64_t> refused_{0};
  std::atomic<int64_t> retried_{0};
};

}  // namespace chukan::hub

#endif  // CHUKAN_HUB_DELIVERER_H_
