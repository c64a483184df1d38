// Deliverer: sends the hub's outbox — provision permits to providers' servers
// (POST /node/v1/provision-requests) and sealed envelopes to inquirers' servers
// (POST /node/v1/inquiry-results) — over mutual TLS. It is the hub's store::OutboxCourier: it
// says what a message is and how it is sent; a store::OutboxPump does the rest (threads,
// wake-ups, polling, claims, leases, retries with the topics' DeliveryPolicy, see Hub::Open).
//
// Delivery is at-least-once: an item is acknowledged only after the receiver answered 2xx (or
// refused it for good with a 4xx other than 408/429, which is logged and not retried), so a hub
// that stops at any point re-sends what was not acknowledged; receivers are idempotent on the
// permit id. Claims and acknowledgements go through the hub's GroupCommitter, so they share
// commits. On Start() the leases this instance's previous run held are released at once.
//
// Items travel in lanes, one per receiving organisation and kind of message: the items waiting
// in a lane (up to `batch_items`) go together to the batch route (POST /node/v1/batch/…,
// http::ParseBatchRequest), whose per-item answers are treated exactly as single answers; one
// item goes to the single-item route. A batch the receiver cannot take as a whole (no answer,
// 5xx, a 4xx for the batch) is retried item by item later; a 404/405 for the batch route (a
// receiver without it) makes the deliverer send those items one by one at once. An item this hub
// cannot read is dead at once; one for an unknown or disabled organisation is retried (it may be
// registered or enabled again).
//
// Thread-safety: Stop/stats are thread-safe.
#ifndef CHUKAN_HUB_DELIVERER_H_
#define CHUKAN_HUB_DELIVERER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "http/client.h"
#include "hub/hub.h"
#include "hub/hub_config.h"
#include "store/outbox.h"
#include "store/outbox_pump.h"

namespace chukan::hub {

class Deliverer final : public store::OutboxCourier {
 public:
  using SendFn = std::function<Result<http::Response>(const http::ClientRequest&)>;
  struct Options {
    DeliveryConfig config;
    // The hub process's instance name (HubConfig::instance): leases are taken as
    // "<instance>:<random boot id>".
    std::string instance = "hub-1";
    // CA for the nodes' server certificates, and the hub's own client certificate.
    http::ClientOptions client;
    // Sends one request. Empty: an http::Client made from `client` (tests pass a fake).
    SendFn send;
  };
  struct Stats {
    int64_t delivered = 0;  // acknowledged after a 2xx
    int64_t refused = 0;    // acknowledged after a permanent 4xx
    int64_t retried = 0;    // failed attempts scheduled for retry
    int64_t busy = 0;       // 429/503 answers: sent again after the receiver's Retry-After
  };

  // `hub` must outlive the Deliverer. Errors: those of http::Client::Create and
  // store::OutboxPump::Create.
  static Result<std::unique_ptr<Deliverer>> Create(Hub& hub, Options options);
  ~Deliverer() override;
  Deliverer(const Deliverer&) = delete;
  Deliverer& operator=(const Deliverer&) = delete;

  // Releases this instance's stale leases and starts the threads.
  Status Start();
  // Stops claiming, lets the deliveries in hand finish, joins. Idempotent.
  void Stop();
  Stats stats() const;
  // Reads the client certificate, key and CA files again: the next deliveries use them,
  // deliveries in flight finish with the old ones. On an error nothing changes and the error
  // names the file; kFailedPrecondition with a test's `send` instead of a client.
  Status ReloadTls() EXCLUDES(client_mu_);
  // The pump (for tests: RunOnce with the hub's fake clock, stats).
  store::OutboxPump& pump() { return *pump_; }

  // store::OutboxCourier: the hub's one database, through its group committer.
  Result<std::vector<std::string>> Sources() override;
  void SubmitAsync(const std::string& source, WriteFn write, DoneFn done) override;
  // The receiving organisation.
  std::string Lane(const store::OutboxItem& item) override;
  // Sends one lane's items (one request, or one per item) and says what became of each.
  std::vector<store::Delivery> Deliver(const std::string& source,
                                       const std::vector<store::OutboxItem>& items,
                                       const std::string& owner) override;

 private:
  Deliverer(Hub& hub, Options options);
  // What an answer means for its item, by http::Classify.
  store::Delivery Record(const store::OutboxItem& item, const std::string& to,
                         const Result<http::Response>& resp);

  Hub& hub_;
  const Options options_;
  // The client deliveries use (null with Options::send); ReloadTls replaces it.
  http::ClientOptions client_options_;
  mutable Mutex client_mu_;
  std::shared_ptr<http::Client> client_ GUARDED_BY(client_mu_);
  SendFn send_;
  std::unique_ptr<store::OutboxPump> pump_;

  std::atomic<int64_t> delivered_{0};
  std::atomic<int64_t> refused_{0};
  std::atomic<int64_t> retried_{0};
  std::atomic<int64_t> busy_{0};
};

}  // namespace chukan::hub

#endif  // CHUKAN_HUB_DELIVERER_H_
