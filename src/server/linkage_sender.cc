#include "server/linkage_sender.h"

#include "common/log.h"
#include "http/api_util.h"

namespace chukan::server {

namespace {

// The tenant list is read again at most this often (each tenant is still checked against the
// registry on every round, by LinkageService::State).
constexpr std::chrono::seconds kTenantListLifetime{2};

}  // namespace

Result<std::unique_ptr<LinkageSender>> LinkageSender::Create(Platform& platform,
                                                             LinkageService& linkage, int threads,
                                                             std::string instance, int batch_items,
                                                             int peer_requests,
                                                             const Clock& clock) {
  std::unique_ptr<LinkageSender> s(new LinkageSender(platform, linkage, clock));  // private
  store::OutboxPumpOptions po;
  po.topics = {std::string(kTopicPermitRequest), std::string(kTopicProvision)};
  po.instance = std::move(instance);
  po.log_prefix = "server";
  po.threads = threads;
  po.batch_items = batch_items;
  po.peer_requests = peer_requests;
  po.batch_bytes = http::kMaxBatchBytes / 2;
  ASSIGN_OR_RETURN(s->pump_, store::OutboxPump::Create(linkage.outbox(), *s, po, clock));
  return s;
}

LinkageSender::LinkageSender(Platform& platform, LinkageService& linkage, const Clock& clock)
    : platform_(platform), linkage_(linkage), clock_(clock) {}

LinkageSender::~LinkageSender() { Stop(); }

Status LinkageSender::Start() { return pump_->Start(); }

void LinkageSender::Stop() {
  // Items claimed but not sent are released by the pump for the next claim.
  if (pump_) pump_->Stop();
}

Result<std::vector<TenantId>> LinkageSender::Tenants() {
  {
    MutexLock lock(mu_);
    if (clock_.SteadyNow() - tenants_loaded_ < kTenantListLifetime) {
      return tenants_;
    }
  }
  ASSIGN_OR_RETURN(std::vector<TenantInfo> all, platform_.ListTenants());
  std::vector<TenantId> active;
  for (const TenantInfo& t : all) {
    if (t.state == "active") active.push_back(t.id);
  }
  MutexLock lock(mu_);
  tenants_ = active;
  tenants_loaded_ = clock_.SteadyNow();
  return active;
}

Result<std::vector<std::string>> LinkageSender::Sources() {
  ASSIGN_OR_RETURN(std::vector<TenantId> tenants, Tenants());
  std::vector<std::string> open;
  for (const TenantId& t : tenants) {
    if (!linkage_.State(t).ok()) continue;  // not open (yet), or gone: skipped quietly
    open.push_back(t.str());
  }
  return open;
}

void LinkageSender::SubmitAsync(const std::string& source, WriteFn write, DoneFn done) {
  // The pump's writes are made to run twice, and are its bookkeeping: lazy (outbox_pump.h,
  // OutboxCourier::SubmitAsync).
  Result<TenantId> tenant = TenantId::Parse(source);
  if (!tenant.ok()) return done(tenant.status());
  Result<std::shared_ptr<TenantContext>> ctx = linkage_.State(*tenant);
  if (!ctx.ok()) return done(ctx.status());
  (*ctx)->SubmitAsync(std::move(write), std::move(done), store::GroupCommitter::Rerun::kSafe,
                      store::GroupCommitter::Durability::kLazy);
}

std::vector<store::Delivery> LinkageSender::Deliver(const std::string& source,
                                                    const std::vector<store::OutboxItem>& items,
                                                    const std::string& owner) {
  const std::vector<store::Delivery> recorded(items.size(),
                                              {store::DeliveryOutcome::kRecorded, ""});
  Result<TenantId> tenant = TenantId::Parse(source);
  if (!tenant.ok()) return recorded;  // never: the sources are tenant ids
  // Sends and records each outcome with its acknowledgement, in the tenant's own writes (the
  // state change an answer causes and the acknowledgement commit together). What it could not
  // record stays leased and is delivered again once the lease ends.
  if (Status s = linkage_.courier().Deliver(*tenant, items, owner); !s.ok()) {
    log::Warn("server.delivery_record_failed", {{"tenant", tenant->str()},
                                                {"topic", items.front().topic},
                                                {"items", static_cast<int64_t>(items.size())},
                                                {"error", s.ToString()}});
  }
  return recorded;
}

}  // namespace chukan::server
