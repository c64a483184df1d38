#include "hub/hub_process.h"

#include <utility>

#include "common/background_loop.h"
#include "common/ids.h"
#include "common/log.h"
#include "crypto/bytes.h"
#include "http/router.h"
#include "http/server.h"
#include "hub/deliverer.h"
#include "hub/hub.h"
#include "hub/hub_api.h"
#include "layout/catalogue_loader.h"
#include "store/node_lease.h"
#include "store/tenant_store.h"

namespace chukan::hub {
namespace {

// The failed step in both languages, ahead of the cause: what `chukan hub` prints.
Status StepError(const char* ja, const char* en, const Status& cause) {
  return Status(cause.code(), std::string(ja) + " / " + en + ": " + cause.ToString());
}

}  // namespace

// The sweep runs on one hub node of those sharing the database: the holder of this lease, taken
// for one sweep interval and this much more, and renewed at each of its sweeps.
constexpr std::string_view kSweepJob = "hub.sweep";
constexpr std::chrono::seconds kSweepLeaseMargin(15);

HubProcess::HubProcess(HubConfig config)
    : config_(std::move(config)),
      node_id_(config_.instance + ":" + RequestId::Generate().str().substr(0, 12)) {}

HubProcess::~HubProcess() { Stop(); }

Result<std::unique_ptr<HubProcess>> HubProcess::Create(const HubConfig& config, Options options) {
  std::unique_ptr<HubProcess> p(new HubProcess(config));
  const HubConfig& cfg = p->config_;
  auto catalogue = layout::LoadCatalogue(cfg.layout_dir);
  if (!catalogue.ok()) {
    return StepError("データ標準レイアウトが不正です", "the data standard layout is broken",
                     catalogue.status());
  }
  Result<HubKeys> keys = LoadHubKeys(cfg, true);
  if (!keys.ok()) return StepError("鍵を読めません", "cannot load the keys", keys.status());
  auto db = OpenHubDatabase(cfg, &p->owner_);
  if (!db.ok()) {
    return StepError("データベースを開けません", "cannot open the database", db.status());
  }
  auto hub = Hub::Open(cfg, *db, std::move(*keys), *catalogue, *options.clock);
  if (!hub.ok()) return StepError("ハブを開けません", "cannot open the hub", hub.status());
  p->hub_ = std::move(*hub);

  Deliverer::Options dopt;
  dopt.config = cfg.delivery;
  dopt.instance = cfg.instance;
  dopt.client.ca_file = cfg.tls_client_ca;
  dopt.client.cert_file = cfg.tls_cert;
  dopt.client.key_file = cfg.tls_key;
  auto deliverer = Deliverer::Create(*p->hub_, dopt);
  if (!deliverer.ok()) {
    return StepError("配送を準備できません", "cannot set up delivery", deliverer.status());
  }
  p->deliverer_ = std::move(*deliverer);
  p->hub_->SetDeliveryPump(&p->deliverer_->pump());

  p->router_ = std::make_unique<http::Router>();
  p->api_ = std::make_unique<HubApi>(*p->hub_);
  if (Status s = p->api_->Register(*p->router_); !s.ok()) {
    return StepError("経路を登録できません", "cannot register routes", s);
  }
  return p;
}

Status HubProcess::Start() {
  if (started_ || stopped_) return FailedPreconditionError("the hub was already started");
  started_ = true;
  http::ServerOptions so;
  so.host = config_.host;
  so.port = config_.port;
  so.threads = config_.threads;
  so.workers = config_.workers;
  so.tls = true;
  so.tls_options = {config_.tls_cert, config_.tls_key, config_.tls_client_ca, true};
  probe_ = std::make_unique<store::NodeProbe>(hub_->store().db(), "hub", config_.instance, node_id_,
                                              hub_->clock());
  so.readiness = [this] { return probe_->Readiness(); };
  prober_ = std::make_unique<BackgroundLoop>(std::chrono::milliseconds(0), std::chrono::seconds(1),
                                             [this] { probe_->Probe(); });
  auto server = http::Server::Create(so, std::move(*router_));
  if (!server.ok()) return StepError("待ち受けできません", "cannot listen", server.status());
  server_ = std::move(*server);
  if (Status s = deliverer_->Start(); !s.ok()) {
    Stop();
    return StepError("配送を開始できません", "cannot start delivery", s);
  }
  if (Status s = server_->Start(); !s.ok()) {
    Stop();
    return StepError("起動できません", "cannot start", s);
  }
  // Registry and permission-list changes every second, the audit log's head signed within a
  // second or two of its last entry, records swept every [sweep] interval.
  next_sweep_ = std::chrono::steady_clock::now();
  housekeeper_ = std::make_unique<BackgroundLoop>(std::chrono::seconds(1), std::chrono::seconds(1),
                                                  [this] { RunHousekeeping(); });
  backlog_counter_ = std::make_unique<BackgroundLoop>(
      std::chrono::milliseconds(250), std::chrono::milliseconds(250),
      [this, failing = false]() mutable {
        // Logged when it starts and stops failing, not four times a second.
        const Status s = hub_->RecountBacklog();
        if (s.ok() == !failing) return;
        failing = !s.ok();
        if (failing) {
          log::Warn("hub.backlog_count_failed", {log::StatusField(s)});
        } else {
          log::Info("hub.backlog_counted_again", {});
        }
      });
  running_ = true;
  log::Info("hub.started", {{"port", static_cast<int>(server_->port())},
                            {"hub_key", crypto::ToHex(hub_->verify_key().bytes())}});
  return Status();
}

void HubProcess::RunHousekeeping() {
  if (Status s = hub_->Refresh(); !s.ok()) {
    log::Warn("hub.refresh_failed", {{"error", s.ToString()}});
  }
  if (Status s = hub_->store().audit().CheckpointIfBehind().status(); !s.ok()) {
    log::Error("audit.checkpoint_failed", {log::StatusField(s)});
  }
  if (std::chrono::steady_clock::now() < next_sweep_) return;
  next_sweep_ = std::chrono::steady_clock::now() + config_.sweep_interval;
  Result<bool> lead =
      store::AcquireNodeLease(*hub_->store().db(), kSweepJob, node_id_,
                              config_.sweep_interval + kSweepLeaseMargin, hub_->clock());
  if (!lead.ok()) {
    log::Warn("hub.job_lease_failed",
              {{"job", std::string(kSweepJob)}, log::StatusField(lead.status())});
    return;
  }
  if (!*lead) return;  // another hub node sweeps
  Result<SweepReport> r = hub_->Sweep();
  if (!r.ok()) {
    log::Warn("hub.sweep_failed", {{"error", r.status().ToString()}});
  } else if (r->records_purged + r->permits_purged + r->outbox_purged > 0) {
    log::Info("hub.swept", {{"records", r->records_purged},
                            {"permits", r->permits_purged},
                            {"outbox", r->outbox_purged}});
  }
}

Status HubProcess::ReloadTls() {
  if (!running_ || stopped_) return FailedPreconditionError("hub: not running");
  Status listener = server_->ReloadTls().WithContext("listener");
  Status delivery = deliverer_->ReloadTls();
  if (delivery.ok()) {
    log::Info("hub.delivery_tls_reloaded", {});
  } else {
    log::Error("hub.delivery_tls_reload_failed", {log::StatusField(delivery)});
  }
  return listener.ok() ? delivery : listener;
}

void HubProcess::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (!started_) return;
  if (server_) server_->Stop(std::chrono::seconds(10));
  hub_->SetDeliveryPump(nullptr);  // a late write adds its item pending, for the next start
  deliverer_->Stop();
  housekeeper_.reset();
  backlog_counter_.reset();
  if (prober_) {
    prober_.reset();
    probe_->Release();
  }
  if (!running_) return;  // a failed Start: nothing ran
  // Another hub node takes the sweep over at its next one instead of after the lease ran out.
  if (Result<bool> r = store::ReleaseNodeLease(*hub_->store().db(), kSweepJob, node_id_); !r.ok()) {
    log::Warn("hub.job_release_failed",
              {{"job", std::string(kSweepJob)}, log::StatusField(r.status())});
  }
  const Deliverer::Stats st = deliverer_->stats();
  log::Info("hub.stopped", {{"delivered", st.delivered},
                            {"refused", st.refused},
                            {"retried", st.retried},
                            {"busy", st.busy}});
}

uint16_t HubProcess::port() const { return server_ ? server_->port() : 0; }

std::string HubProcess::url() const {
  return "https://" + config_.host + ":" + std::to_string(port());
}

}  // namespace chukan::hub
