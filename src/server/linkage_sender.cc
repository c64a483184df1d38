#include "server/linkage_sender.h"

#include <algorithm>
#include <optional>

#include "common/log.h"
#include "http/api_util.h"

namespace chukan::server {

LinkageSender::LinkageSender(Platform& platform, LinkageService& linkage, int threads,
                             std::string instance, int batch_items, int peer_requests,
                             std::chrono::seconds lease)
    : platform_(platform),
      linkage_(linkage),
      threads_(threads),
      instance_(std::move(instance)),
      boot_(RequestId::Generate().str().substr(0, 12)),
      lease_(lease),
      owner_(instance_ + ":" + boot_),
      jobs_(static_cast<size_t>(peer_requests), static_cast<size_t>(batch_items),
            http::kMaxBatchBytes / 2),
      in_hand_(std::max<size_t>(2 * static_cast<size_t>(threads),
                                4 * static_cast<size_t>(std::max(batch_items, 1)))) {}

LinkageSender::~LinkageSender() { Stop(); }

Result<std::vector<TenantId>> LinkageSender::Tenants() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (std::chrono::steady_clock::now() - tenants_loaded_ < std::chrono::seconds(2)) {
      return tenants_;
    }
  }
  ASSIGN_OR_RETURN(std::vector<TenantInfo> all, platform_.ListTenants());
  std::vector<TenantId> active;
  for (const TenantInfo& t : all) {
    if (t.state == "active") active.push_back(t.id);
  }
  std::lock_guard<std::mutex> lock(mu_);
  tenants_ = active;
  tenants_loaded_ = std::chrono::steady_clock::now();
  return active;
}

Status LinkageSender::Start() {
  ASSIGN_OR_RETURN(std::vector<TenantId> tenants, Tenants());
  for (const TenantId& t : tenants) {
    ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> ctx, platform_.Tenant(t));
    ASSIGN_OR_RETURN(int64_t released, linkage_.outbox().ReleaseLeases(*ctx->db, instance_ + ":"));
    if (released > 0)
      log::Info("server.delivery_leases_released", {{"tenant", t.str()}, {"items", released}});
  }
  for (int i = 0; i < threads_; ++i) workers_.emplace_back([this] { Work(); });
  dispatcher_ = std::thread([this] { Dispatch(); });
  return Status();
}

void LinkageSender::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakeups_;
  }
  dispatch_cv_.notify_one();
}

void LinkageSender::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  dispatch_cv_.notify_all();
  work_cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  // Jobs still queued keep their leases; the next start releases them (ReleaseLeases).
  std::lock_guard<std::mutex> lock(mu_);
  jobs_.Clear();
}

void LinkageSender::Dispatch() {
  const size_t in_hand = in_hand_;
  while (true) {
    uint64_t seen = 0;
    size_t room = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Claim only what the workers can take soon: a claimed item's lease runs meanwhile.
      dispatch_cv_.wait(lock, [&] { return stopping_ || jobs_.size() < in_hand; });
      if (stopping_) return;
      seen = wakeups_;
      room = in_hand - jobs_.size();
    }
    bool found = false;
    Result<std::vector<TenantId>> tenants = Tenants();
    if (tenants.ok()) {
      for (const TenantId& t : *tenants) {
        if (room == 0) break;
        if (!linkage_.State(t).ok()) continue;  // not open (yet): skipped quietly, as before
        Result<std::vector<store::OutboxItem>> items =
            linkage_.ClaimOutbox(t, owner_, static_cast<int>(room), lease_);
        if (!items.ok()) {
          log::Warn("server.delivery_claim_failed",
                    {{"tenant", t.str()}, {"error", items.status().ToString()}});
          continue;
        }
        if (items->empty()) continue;
        found = true;
        room -= std::min(room, items->size());
        {
          std::lock_guard<std::mutex> lock(mu_);
          for (store::OutboxItem& item : *items) {
            std::string lane = t.str() + "\n" + item.topic;
            const size_t bytes = item.payload.size();
            jobs_.Add(std::move(lane), bytes, Job{t, std::move(item)});
          }
        }
        work_cv_.notify_all();
      }
    }
    if (found) continue;
    std::unique_lock<std::mutex> lock(mu_);
    dispatch_cv_.wait_for(lock, std::chrono::milliseconds(200),
                          [&] { return stopping_ || wakeups_ != seen; });
    if (stopping_) return;
  }
}

void LinkageSender::Work() {
  while (true) {
    LaneBatcher<Job>::Batch batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || jobs_.Ready(); });
      if (stopping_) return;
      batch = std::move(*jobs_.Take());
    }
    dispatch_cv_.notify_one();  // room for more
    const TenantId tenant = batch.items.front().tenant;
    std::vector<store::OutboxItem> items;
    items.reserve(batch.items.size());
    for (Job& job : batch.items) items.push_back(std::move(job.item));
    if (Status s = linkage_.courier().Deliver(tenant, items, owner_); !s.ok()) {
      log::Warn("server.delivery_record_failed", {{"tenant", tenant.str()},
                                                  {"topic", items.front().topic},
                                                  {"items", static_cast<int64_t>(items.size())},
                                                  {"error", s.ToString()}});
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.Done(batch.lane);
    }
    work_cv_.notify_all();  // the lane has room again
  }
}

}  // namespace chukan::server
