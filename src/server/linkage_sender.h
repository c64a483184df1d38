// LinkageSender: delivers the tenants' outboxes to the hub — permit requests of new inquiries
// and the sealed answers of provisions — with retry and backoff (LinkageService::Deliver records
// each outcome together with the acknowledgement). Worker threads go round the active tenants,
// claiming a few items from each; Notify() wakes them after a commit.
//
// Thread-safety: Notify/Stop are thread-safe.
#ifndef CHUKAN_SERVER_LINKAGE_SENDER_H_
#define CHUKAN_SERVER_LINKAGE_SENDER_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/linkage_service.h"
#include "server/platform.h"

namespace chukan::server {

class LinkageSender {
 public:
  // `instance` names this process's leases ("<instance>:<boot>:<worker>").
  LinkageSender(Platform& platform, LinkageService& linkage, int threads, std::string instance,
                std::chrono::seconds lease = std::chrono::seconds(60));
  ~LinkageSender();
  // Releases this instance's stale leases in every tenant, then starts the workers.
  Status Start();
  void Notify();
  // Stops claiming; deliveries in hand finish. Idempotent.
  void Stop();

 private:
  void Work(int worker);
  Result<std::vector<TenantId>> Tenants();

  Platform& platform_;
  LinkageService& linkage_;
  const int threads_;
  const std::string instance_;
  const std::string boot_;
  const std::chrono::seconds lease_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                                 // GUARDED_BY(mu_)
  uint64_t wakeups_ = 0;                                  // GUARDED_BY(mu_)
  std::vector<TenantId> tenants_;                         // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point tenants_loaded_;  // GUARDED_BY(mu_)
  std::vector<std::thread> workers_;
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_LINKAGE_SENDER_H_
