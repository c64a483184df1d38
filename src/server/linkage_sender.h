// LinkageSender: delivers the tenants' outboxes to the hub — permit requests of new inquiries
// and the sealed answers of provisions — with retry and backoff (LinkageService::Deliver records
// each outcome together with the acknowledgement). One dispatcher thread goes round the active
// tenants and claims due items in batches (one write transaction per tenant and claim, however
// many items) into a LaneBatcher, one lane per tenant and kind of message; worker threads take
// the oldest item whose lane has fewer than `peer_requests` requests in flight, together with the
// other items waiting in that lane (up to `batch_items`), and deliver them in one request.
// Notify() wakes the dispatcher after a commit that queued something.
//
// Thread-safety: Notify/Stop are thread-safe.
#ifndef CHUKAN_SERVER_LINKAGE_SENDER_H_
#define CHUKAN_SERVER_LINKAGE_SENDER_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/lane_batcher.h"
#include "server/linkage_service.h"
#include "server/platform.h"

namespace chukan::server {

class LinkageSender {
 public:
  // `instance` names this process's leases ("<instance>:<boot>").
  LinkageSender(Platform& platform, LinkageService& linkage, int threads, std::string instance,
                int batch_items = 64, int peer_requests = 2,
                std::chrono::seconds lease = std::chrono::seconds(60));
  ~LinkageSender();
  // Releases this instance's stale leases in every tenant, then starts the workers.
  Status Start();
  void Notify();
  // Stops claiming; deliveries in hand finish. Idempotent.
  void Stop();

 private:
  void Dispatch();
  void Work();
  Result<std::vector<TenantId>> Tenants();

  struct Job {
    TenantId tenant;
    store::OutboxItem item;
  };

  Platform& platform_;
  LinkageService& linkage_;
  const int threads_;
  const std::string instance_;
  const std::string boot_;
  const std::chrono::seconds lease_;
  const std::string owner_;
  std::mutex mu_;
  std::condition_variable dispatch_cv_;  // the dispatcher: new items, or room in the queue
  std::condition_variable work_cv_;      // the workers: jobs
  bool stopping_ = false;                // GUARDED_BY(mu_)
  uint64_t wakeups_ = 0;                 // GUARDED_BY(mu_)
  LaneBatcher<Job> jobs_;                // GUARDED_BY(mu_)
  const size_t in_hand_;                 // claimed items waiting for a worker, at most
  std::vector<TenantId> tenants_;        // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point tenants_loaded_;  // GUARDED_BY(mu_)
  std::thread dispatcher_;
  std::vector<std::thread> workers_;
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_LINKAGE_SENDER_H_
