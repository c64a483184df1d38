#include "server/linkage_sender.h"

#include <algorithm>
#include <optional>

#include "common/log.h"

namespace chukan::server {

LinkageSender::LinkageSender(Platform& platform, LinkageService& linkage, int threads,
                             std::string instance, std::chrono::seconds lease)
    : platform_(platform),
      linkage_(linkage),
      threads_(threads),
      instance_(std::move(instance)),
      boot_(RequestId::Generate().str().substr(0, 12)),
      lease_(lease),
      owner_(instance_ + ":" + boot_) {}

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
    ASSIGN_OR_RETURN(LinkageService::TenantState * st, linkage_.State(t));
    (void)st;
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
  jobs_.clear();
}

void LinkageSender::Dispatch() {
  const size_t in_hand = 2 * static_cast<size_t>(threads_);
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
        Result<std::shared_ptr<TenantContext>> ctx = platform_.Tenant(t);
        if (!ctx.ok() || !linkage_.State(t).ok()) continue;
        Result<std::vector<store::OutboxItem>> items =
            linkage_.outbox().Claim(*(*ctx)->db, owner_, static_cast<int>(room), lease_);
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
          for (store::OutboxItem& item : *items) jobs_.push_back({t, std::move(item)});
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
    std::optional<Job> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job.emplace(std::move(jobs_.front()));
      jobs_.pop_front();
    }
    dispatch_cv_.notify_one();  // room for more
    if (Status s = linkage_.Deliver(job->tenant, job->item, owner_); !s.ok()) {
      log::Warn(
          "server.delivery_record_failed",
          {{"tenant", job->tenant.str()}, {"topic", job->item.topic}, {"error", s.ToString()}});
    }
  }
}

}  // namespace chukan::server
