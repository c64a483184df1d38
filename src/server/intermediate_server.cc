#include "server/intermediate_server.h"

#include <chrono>
#include <filesystem>
#include <utility>
#include <vector>

#include "common/background_loop.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/periodic.h"
#include "console/console.h"
#include "http/router.h"
#include "http/server.h"
#include "layout/catalogue_loader.h"
#include "layout/result_layout.h"
#include "pki/certificate_authority.h"
#include "server/api_auth.h"
#include "server/data_key_rotation.h"
#include "server/hub_link.h"
#include "server/linkage_api.h"
#include "server/linkage_sender.h"
#include "server/linkage_service.h"
#include "server/platform.h"
#include "server/replica_api.h"
#include "store/node_lease.h"
#include "store/pg_broadcast.h"

namespace chukan::server {
namespace {

// The failed step in both languages, ahead of the cause: what `chukan server` prints.
Status StepError(const char* ja, const char* en, const Status& cause) {
  return Status(cause.code(), std::string(ja) + " / " + en + ": " + cause.ToString());
}

constexpr std::chrono::seconds kListenerGrace(10);

// Jobs that run once across the nodes sharing the store, and how long a node's lease on one
// lasts: renewed every second while the node runs, so another node takes a job over within this
// long of its leader's death (at once after a clean stop).
constexpr std::string_view kSweepJob = "server.sweep";
constexpr std::string_view kRekeyJob = "server.rekey";
constexpr std::chrono::seconds kJobLease(15);

}  // namespace

IntermediateServer::IntermediateServer(ServerConfig config)
    : config_(std::move(config)),
      node_id_(config_.instance + ":" + RequestId::Generate().str().substr(0, 12)) {}

IntermediateServer::~IntermediateServer() { Stop(); }

Result<std::unique_ptr<IntermediateServer>> IntermediateServer::Create(const ServerConfig& config,
                                                                       Options options) {
  std::unique_ptr<IntermediateServer> s(new IntermediateServer(config));
  const ServerConfig& cfg = s->config_;
  Result<std::shared_ptr<const layout::Catalogue>> catalogue =
      layout::LoadCatalogue(cfg.layout_dir);
  if (!catalogue.ok()) {
    return StepError("データ標準レイアウトが不正です", "the data standard layout is broken",
                     catalogue.status());
  }
  s->catalogue_ = std::move(*catalogue);
  Result<std::unique_ptr<Platform>> platform =
      Platform::Open(cfg, false, *options.clock, s->catalogue_);
  if (!platform.ok()) {
    return StepError("プラットフォームを開けません", "cannot open the platform", platform.status());
  }
  s->platform_ = std::move(*platform);
  s->api_auth_ = std::make_unique<ApiAuth>(*s->platform_);
  s->replica_api_ = std::make_unique<ReplicaApi>(*s->api_auth_, s->catalogue_, cfg.max_body_bytes);
  s->router_ = std::make_unique<http::Router>();
  s->node_router_ = std::make_unique<http::Router>();
  if (Status st = s->replica_api_->Register(*s->router_); !st.ok()) {
    return StepError("経路を登録できません", "cannot register routes", st);
  }
  if (cfg.hub_url.empty()) {
    RETURN_IF_ERROR(s->AddConsole(*options.clock));
    return s;
  }

  // Linkage through the hub (情報照会・情報提供).
  HubLink::Options ho;
  ho.url = cfg.hub_url;
  ho.ca_file = cfg.hub_ca;
  ho.public_key_file = cfg.hub_public_key;
  ho.tenant_tls_dir = cfg.tenant_tls_dir;
  ho.timeout = std::chrono::milliseconds(cfg.delivery_timeout_ms);
  Result<std::unique_ptr<HubLink>> link = HubLink::Create(ho, *options.clock);
  if (!link.ok()) {
    return StepError("ハブの設定が不正です", "the [hub] settings are wrong", link.status());
  }
  s->hub_link_ = std::move(*link);
  LinkageService::Options lo;
  lo.inquiry_timeout = std::chrono::seconds(cfg.inquiry_timeout_seconds);
  lo.result_days = cfg.result_days;
  lo.records_days = cfg.records_days;
  lo.code_days = cfg.code_days;
  lo.dead_days = cfg.dead_days;
  lo.audit_days = cfg.audit_days;
  lo.waits_per_client = cfg.long_polls_per_client;
  lo.waits_total = cfg.long_polls_total;
  lo.outbox.max_attempts = cfg.delivery_max_attempts;
  lo.outbox.backoff_base = std::chrono::milliseconds(cfg.delivery_backoff_base_ms);
  lo.outbox.backoff_cap = std::chrono::milliseconds(cfg.delivery_backoff_cap_ms);
  // Both topics with the configured retries, the node's lease and the poll interval ([delivery]
  // lease_seconds, poll_interval_ms).
  store::DeliveryPolicy policy;
  policy.max_attempts = lo.outbox.max_attempts;
  policy.backoff_base = lo.outbox.backoff_base;
  policy.backoff_cap = lo.outbox.backoff_cap;
  policy.lease = std::chrono::seconds(cfg.delivery_lease_seconds);
  policy.poll_interval = std::chrono::milliseconds(cfg.delivery_poll_interval_ms);
  lo.outbox.topics.emplace(kTopicPermitRequest, policy);
  lo.outbox.topics.emplace(kTopicProvision, policy);
  // The inquiry result file's layouts. Not configured and not there: the defaults (every item
  // of the information name, in catalogue order), said once at start.
  std::string result_dir = cfg.result_layout_dir;
  if (std::error_code ec; !cfg.result_layout_dir_set && !std::filesystem::exists(result_dir, ec)) {
    log::Warn("server.result_layouts_default", {{"dir", result_dir}});
    result_dir.clear();
  }
  Result<std::shared_ptr<const layout::ResultLayouts>> result_layouts =
      layout::LoadResultLayouts(result_dir, s->catalogue_);
  if (!result_layouts.ok()) {
    return StepError("照会結果ファイルのレイアウトが不正です",
                     "the inquiry result file layouts ([layout] result_dir) are broken",
                     result_layouts.status());
  }
  lo.result_layouts = std::move(*result_layouts);
  s->linkage_ = std::make_unique<LinkageService>(*s->platform_, s->catalogue_, s->hub_link_.get(),
                                                 lo, *options.clock);
  Result<pki::CertificateInfo> hub_cert = pki::ReadCertificateFile(cfg.node_hub_cert);
  if (!hub_cert.ok()) {
    return StepError("ハブの証明書を読めません",
                     "cannot read the hub's certificate ([node] hub_cert)", hub_cert.status());
  }
  s->linkage_api_ = std::make_unique<LinkageApi>(*s->api_auth_, *s->linkage_, hub_cert->sha256);
  if (Status st = s->linkage_api_->Register(*s->router_); !st.ok()) {
    return StepError("経路を登録できません", "cannot register routes", st);
  }
  if (Status st = s->linkage_api_->RegisterNode(*s->node_router_); !st.ok()) {
    return StepError("経路を登録できません", "cannot register routes", st);
  }
  Result<std::unique_ptr<LinkageSender>> sender =
      LinkageSender::Create(*s->platform_, *s->linkage_, cfg.delivery_threads, cfg.instance,
                            cfg.delivery_batch_items, cfg.delivery_peer_requests, *options.clock);
  if (!sender.ok()) {
    return StepError("送信を準備できません", "cannot set up delivery", sender.status());
  }
  s->sender_ = std::move(*sender);
  s->linkage_->SetPump(&s->sender_->pump());
  RETURN_IF_ERROR(s->AddConsole(*options.clock));
  return s;
}

Status IntermediateServer::AddConsole(const Clock& clock) {
  if (!config_.console_enabled) return Status::Ok();
  console::ConsoleOptions co;
  co.sessions.idle = std::chrono::minutes(config_.console_idle_minutes);
  co.sessions.absolute = std::chrono::hours(config_.console_absolute_hours);
  co.staff.max_failures = static_cast<int>(config_.console_max_failures);
  co.staff.lockout = std::chrono::minutes(config_.console_lockout_minutes);
  co.password_checks = static_cast<int>(config_.console_password_checks);
  co.uploads = static_cast<int>(config_.console_uploads);
  co.secure_cookie = !config_.tls_cert.empty();
  co.max_upload_bytes = config_.max_body_bytes;
  console_ = std::make_unique<console::Console>(*platform_, linkage_.get(), catalogue_,
                                                std::move(co), clock);
  if (Status st = console_->Register(*router_); !st.ok()) {
    return StepError("経路を登録できません", "cannot register routes", st);
  }
  return Status::Ok();
}

Status IntermediateServer::Start() {
  if (started_ || stopped_) {
    return FailedPreconditionError("the intermediate server was already started");
  }
  started_ = true;
  // The audit logs' heads are signed within a few seconds of their last entry, and at Stop
  // (after the listeners and delivery stopped).
  audit_checkpoints_ = std::make_unique<PeriodicTask>(std::chrono::seconds(2), [this] {
    Status s = platform_->CheckpointAuditLogs();
    if (!s.ok()) log::Error("audit.checkpoint_failed", {log::StatusField(s)});
  });
  // Refused authentications are recorded in aggregate, once a minute and at Stop.
  auth_flush_ = std::make_unique<PeriodicTask>(std::chrono::seconds(60), [this] {
    Result<int64_t> n = api_auth_->Flush();
    if (!n.ok()) log::Error("api.auth_failures_flush_failed", {log::StatusField(n.status())});
  });
  // Expired console sessions are ended and recorded every 30 s (and when next used).
  if (console_ != nullptr) {
    console_sweep_ =
        std::make_unique<PeriodicTask>(std::chrono::seconds(30), [this] { console_->Sweep(); });
  }
  if (Status s = StartListeners(); !s.ok()) {
    Stop();
    return s;
  }
  log::Info("server.started",
            {{"port", static_cast<int>(api_server_->port())},
             {"tenants_backend", std::string(store::BackendName(config_.store.backend))}});
  return Status();
}

Status IntermediateServer::StartListeners() {
  const ServerConfig& cfg = config_;
  http::ServerOptions so;
  so.host = cfg.host;
  so.port = cfg.port;
  so.threads = cfg.threads;
  so.workers = cfg.workers;
  so.limits.stream_body_total_timeout = std::chrono::seconds(cfg.upload_timeout_seconds);
  so.metrics_access = cfg.metrics == "anyone"  ? http::MetricsAccess::kAnyone
                      : cfg.metrics == "token" ? http::MetricsAccess::kToken
                                               : http::MetricsAccess::kLoopback;
  so.metrics_token = cfg.metrics_token;
  so.readiness = [this] { return probe_->Readiness(); };
  if (!cfg.tls_cert.empty()) {
    so.tls = true;
    so.tls_options = {cfg.tls_cert, cfg.tls_key, cfg.tls_client_ca, !cfg.tls_client_ca.empty()};
  }
  // The probe first: /readyz answers from what it found.
  Result<std::shared_ptr<store::Database>> platform_db = platform_->store().Platform();
  if (!platform_db.ok()) return StepError("起動できません", "cannot start", platform_db.status());
  probe_ = std::make_unique<store::NodeProbe>(std::move(*platform_db), "server", cfg.instance,
                                              node_id_, platform_->clock());
  prober_ = std::make_unique<BackgroundLoop>(std::chrono::milliseconds(0), std::chrono::seconds(1),
                                             [this] { probe_->Probe(); });
  Result<std::unique_ptr<http::Server>> api = http::Server::Create(so, std::move(*router_));
  if (!api.ok()) return StepError("待ち受けできません", "cannot listen", api.status());
  api_server_ = std::move(*api);
  if (Status s = api_server_->Start(); !s.ok()) {
    return StepError("起動できません", "cannot start", s);
  }
  if (!linkage_) return Status();
  http::ServerOptions no;
  no.host = cfg.node_host;
  no.port = cfg.node_port;
  no.threads = cfg.threads;
  no.workers = cfg.workers;
  no.tls = true;
  no.tls_options = {cfg.node_cert, cfg.node_key, cfg.node_client_ca, true};
  no.readiness = [this] { return probe_->Readiness(); };
  Result<std::unique_ptr<http::Server>> node = http::Server::Create(no, std::move(*node_router_));
  if (!node.ok()) {
    return StepError("ハブ向けの待ち受けができません", "cannot listen for the hub", node.status());
  }
  node_server_ = std::move(*node);
  if (Status s = node_server_->Start(); !s.ok()) {
    return StepError("起動できません", "cannot start", s);
  }
  if (cfg.store.backend == store::Backend::kPostgres) {
    // Other nodes may share the store: an inquiry that ends on one wakes the long polls of all.
    store::PgBroadcast::Options bo;
    bo.dsn = cfg.store.dsn;
    bo.channel = cfg.store.pg_prefix + "_inquiries";
    bo.on_message = [linkage = linkage_.get()](std::string_view m) { linkage->PeerChanged(m); };
    // Messages may have been lost while the connection was down: every wait looks again.
    bo.on_gap = [linkage = linkage_.get()] { linkage->PeerChanged("*"); };
    Result<std::unique_ptr<store::PgBroadcast>> peers = store::PgBroadcast::Open(std::move(bo));
    if (!peers.ok()) {
      return StepError("他のノードへの通知を準備できません", "cannot listen for the other nodes",
                       peers.status());
    }
    peers_ = std::move(*peers);
    linkage_->SetPeers([peers = peers_.get()](const std::string& m) {
      if (Status s = peers->Publish(m); !s.ok()) {
        log::Warn("server.peer_publish_failed", {log::StatusField(s)});
      }
    });
  }
  if (Status s = sender_->Start(); !s.ok()) {
    return StepError("送信を開始できません", "cannot start delivery", s);
  }
  // The permission list copy at once, then every `refresh` (every second while there is no
  // valid copy); expiry and retention sweeps every second.
  next_list_refresh_ = std::chrono::steady_clock::now();
  housekeeper_ = std::make_unique<BackgroundLoop>(
      std::chrono::milliseconds(0), std::chrono::seconds(1), [this] { RunHousekeeping(); });
  housekeeping_started_ = true;
  rekeyer_ = std::make_unique<BackgroundLoop>(std::chrono::seconds(1), std::chrono::seconds(1),
                                              [this] { RunRekey(); });
  return Status();
}

bool IntermediateServer::Leads(std::string_view job, bool* was_leading) {
  Result<bool> lead = platform_->LeadJob(job, node_id_, kJobLease);
  if (!lead.ok()) {
    log::Warn("server.job_lease_failed",
              {{"job", std::string(job)}, log::StatusField(lead.status())});
  }
  const bool leads = lead.ok() && *lead;
  if (was_leading != nullptr && leads != *was_leading) {
    log::Info(leads ? "server.job_led" : "server.job_left",
              {{"job", std::string(job)}, {"node", node_id_}});
    *was_leading = leads;
  }
  return leads;
}

void IntermediateServer::RunRekey() {
  // A data-key rotation started elsewhere is loaded here too: this loop does storage only, so a
  // housekeeping pass held up by the hub cannot delay it past kDataKeyFinishGrace.
  (void)platform_->ReloadDataKeys();  // failures are logged per tenant
  Result<std::vector<TenantInfo>> tenants = platform_->ListTenants();
  if (!tenants.ok()) return;
  std::vector<OrgCode> rotating;
  for (const TenantInfo& t : *tenants) {
    if (t.state != "active") continue;
    Result<Platform::DataKeyState> st = platform_->GetDataKeyState(t.org);
    if (st.ok() && st->rotating) rotating.push_back(t.org);
  }
  // One node of those sharing the store re-encrypts (two would race for the same rows); the
  // lease is only taken while there is something to do.
  if (rotating.empty() || !Leads(kRekeyJob, nullptr)) return;
  for (const OrgCode& org : rotating) {
    // 20 batches of 500 rows per tenant and second at most: imports and linkage keep the
    // database between them (each batch is one short write through the group committer).
    RekeyOptions options;
    options.max_batches = 20;
    Result<RekeyStatus> done = server::RunRekey(*platform_, org, options);
    if (!done.ok()) {
      log::Error("tenant.data_key_rekey_failed",
                 {{"tenant", TenantId::ForOrg(org).str()}, log::StatusField(done.status())});
    }
  }
}

void IntermediateServer::RunHousekeeping() {
  // A signing key activated by `chukan tenant activate-sign-key` signs from the next second.
  (void)platform_->ReloadSignKeys();  // failures are logged per tenant
  // A data-key rotation started or finished by `chukan tenant rotate-data-key`, likewise.
  (void)platform_->ReloadDataKeys();
  // Whether this node runs the sweeps below, asked before the hub is (a slow hub must not let
  // the lease run out).
  const bool leads = Leads(kSweepJob, &leads_sweeps_);
  Result<std::vector<TenantInfo>> tenants = platform_->ListTenants();
  if (!tenants.ok()) return;
  if (std::chrono::steady_clock::now() >= next_list_refresh_) {
    bool fetched = false;
    Status last;
    for (const TenantInfo& t : *tenants) {
      if (t.state != "active") continue;
      last = hub_link_->RefreshPermissionList(t.org);
      if (last.ok()) {
        fetched = true;
        break;
      }
    }
    if (!fetched && !last.ok()) {
      log::Warn("server.permission_list_refresh_failed", {{"error", last.ToString()}});
    }
    next_list_refresh_ =
        std::chrono::steady_clock::now() +
        (fetched ? std::chrono::seconds(config_.list_refresh_seconds) : std::chrono::seconds(1));
  }
  // The sweeps below run on one node of those sharing the store.
  if (!leads) return;
  // The platform's own audit log keeps the tenants' period ([retention] audit_days).
  if (Result<int64_t> pruned =
          platform_->PruneAuditLog(config_.audit_days, LinkageService::Options().delete_batch);
      !pruned.ok()) {
    log::Warn("server.platform_audit_prune_failed", {log::StatusField(pruned.status())});
  } else if (*pruned > 0) {
    log::Info("server.platform_audit_pruned", {{"entries", std::to_string(*pruned)}});
  }
  for (const TenantInfo& t : *tenants) {
    if (t.state != "active") continue;
    Result<LinkageSweep> r = linkage_->Sweep(t.id);
    if (!r.ok()) {
      log::Warn("server.sweep_failed", {{"tenant", t.id.str()}, {"error", r.status().ToString()}});
    }
  }
}

void IntermediateServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (api_server_) api_server_->Stop(kListenerGrace);
  if (node_server_) node_server_->Stop(kListenerGrace);
  housekeeper_.reset();
  rekeyer_.reset();
  if (prober_) {
    prober_.reset();
    probe_->Release();  // the name is free for this node's next run at once
  }
  if (peers_) {
    linkage_->SetPeers(nullptr);
    peers_.reset();
  }
  if (housekeeping_started_) {
    // Another node takes the jobs over at once instead of after the lease has run out.
    for (std::string_view job : {kSweepJob, kRekeyJob}) {
      if (Status s = platform_->StepDown(job, node_id_); !s.ok()) {
        log::Warn("server.job_release_failed", {{"job", std::string(job)}, log::StatusField(s)});
      }
    }
  }
  if (sender_) {
    linkage_->SetPump(nullptr);  // a late write adds its item pending, for the next start
    sender_->Stop();
  }
  if (auth_flush_) auth_flush_->Stop();
  if (console_sweep_) console_sweep_->Stop();
  if (audit_checkpoints_) audit_checkpoints_->Stop();
}

Status IntermediateServer::ReloadTls() {
  if (!started_ || stopped_) return FailedPreconditionError("server: not running");
  Status first;
  auto keep = [&](Status s) {
    if (!s.ok() && first.ok()) first = std::move(s);
  };
  if (api_server_ != nullptr && !config_.tls_cert.empty()) {
    keep(api_server_->ReloadTls().WithContext("API listener"));
  }
  if (node_server_ != nullptr) keep(node_server_->ReloadTls().WithContext("node listener"));
  if (hub_link_ != nullptr) {
    Result<int> n = hub_link_->ReloadTls();
    if (n.ok()) {
      log::Info("server.hub_tls_reloaded", {{"tenants", *n}});
    } else {
      log::Error("server.hub_tls_reload_failed", {log::StatusField(n.status())});
      keep(n.status());
    }
  }
  return first;
}

uint16_t IntermediateServer::api_port() const { return api_server_ ? api_server_->port() : 0; }
uint16_t IntermediateServer::node_port() const { return node_server_ ? node_server_->port() : 0; }

std::string IntermediateServer::api_url() const {
  return std::string(config_.tls_cert.empty() ? "http" : "https") + "://" + config_.host + ":" +
         std::to_string(api_port());
}

std::string IntermediateServer::node_url() const {
  if (!node_server_) return "";
  return "https://" + config_.node_host + ":" + std::to_string(node_port());
}

}  // namespace chukan::server
