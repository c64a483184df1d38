#include "server/linkage_sender.h"

#include "common/log.h"

namespace chukan::server {

LinkageSender::LinkageSender(Platform& platform, LinkageService& linkage, int threads,
                             std::string instance, std::chrono::seconds lease)
    : platform_(platform),
      linkage_(linkage),
      threads_(threads),
      instance_(std::move(instance)),
      boot_(RequestId::Generate().str().substr(0, 12)),
      lease_(lease) {}

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
  for (int i = 0; i < threads_; ++i) workers_.emplace_back([this, i] { Work(i); });
  return Status();
}

void LinkageSender::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++wakeups_;
  }
  cv_.notify_all();
}

void LinkageSender::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

void LinkageSender::Work(int worker) {
  const std::string owner = instance_ + ":" + boot_ + ":" + std::to_string(worker);
  while (true) {
    uint64_t seen = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      seen = wakeups_;
    }
    bool found = false;
    Result<std::vector<TenantId>> tenants = Tenants();
    if (tenants.ok()) {
      for (const TenantId& t : *tenants) {
        Result<std::shared_ptr<TenantContext>> ctx = platform_.Tenant(t);
        if (!ctx.ok() || !linkage_.State(t).ok()) continue;
        Result<std::vector<store::OutboxItem>> items =
            linkage_.outbox().Claim(*(*ctx)->db, owner, 4, lease_);
        if (!items.ok()) {
          log::Warn("server.delivery_claim_failed",
                    {{"tenant", t.str()}, {"error", items.status().ToString()}});
          continue;
        }
        for (const store::OutboxItem& item : *items) {
          found = true;
          if (Status s = linkage_.Deliver(t, item, owner); !s.ok()) {
            log::Warn("server.delivery_record_failed",
                      {{"tenant", t.str()}, {"topic", item.topic}, {"error", s.ToString()}});
          }
        }
      }
    }
    if (found) continue;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(200),
                 [&] { return stopping_ || wakeups_ != seen; });
  }
}

}  // namespace chukan::server
