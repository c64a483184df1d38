// LinkageSender: delivers the tenants' outboxes to the hub — permit requests of new inquiries
// and the sealed answers of provisions. It is the server's store::OutboxCourier: its sources are
// the active tenants' databases (claims and records through each tenant's group committer), and
// it hands each batch of one tenant and topic to LinkageService::Deliver, which sends it (alone,
// or several items in one request) and records each outcome together with the acknowledgement.
// A store::OutboxPump does the rest: threads, wake-ups (a write that queued something hands
// it over, store::OutboxHandoff), polling, claims in batches from every tenant, lanes (one per
// tenant and kind of message: a tenant's slow deliveries hold up no other tenant), lease renewal,
// and retries by the topics' DeliveryPolicy (LinkageService::Options::outbox).
//
// Thread-safety: Stop is thread-safe.
#ifndef CHUKAN_SERVER_LINKAGE_SENDER_H_
#define CHUKAN_SERVER_LINKAGE_SENDER_H_

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/mutex.h"
#include "server/linkage_service.h"
#include "server/platform.h"
#include "store/outbox_pump.h"

namespace chukan::server {

class LinkageSender final : public store::OutboxCourier {
 public:
  // `instance` names this process's leases ("<instance>:<boot>"). `platform`, `linkage` and
  // `clock` must outlive the sender. kInvalidArgument for threads, batch_items or peer_requests
  // below 1.
  static Result<std::unique_ptr<LinkageSender>> Create(Platform& platform, LinkageService& linkage,
                                                       int threads, std::string instance,
                                                       int batch_items = 64, int peer_requests = 2,
                                                       const Clock& clock = SystemClock::Get());
  ~LinkageSender() override;
  LinkageSender(const LinkageSender&) = delete;
  LinkageSender& operator=(const LinkageSender&) = delete;

  // Releases this instance's stale leases in every tenant, then starts the workers.
  Status Start();
  // Stops claiming; deliveries in hand finish. Idempotent.
  void Stop();
  // The pump (for tests: RunOnce with a fake clock, stats).
  store::OutboxPump& pump() { return *pump_; }

  // store::OutboxCourier. Sources are the active tenants (by TenantId) whose context opens.
  Result<std::vector<std::string>> Sources() override EXCLUDES(mu_);
  void SubmitAsync(const std::string& source, WriteFn write, DoneFn done) override;
  std::vector<store::Delivery> Deliver(const std::string& source,
                                       const std::vector<store::OutboxItem>& items,
                                       const std::string& owner) override;

 private:
  LinkageSender(Platform& platform, LinkageService& linkage, const Clock& clock);
  // The active tenants, from the platform's registry at most every 2 s.
  Result<std::vector<TenantId>> Tenants() EXCLUDES(mu_);

  Platform& platform_;
  LinkageService& linkage_;
  const Clock& clock_;
  std::unique_ptr<store::OutboxPump> pump_;
  Mutex mu_;
  std::vector<TenantId> tenants_ GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point tenants_loaded_ GUARDED_BY(mu_);
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_LINKAGE_SENDER_H_
