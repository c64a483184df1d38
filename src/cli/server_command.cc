// chukan server --config FILE — runs the intermediate server (中間サーバー) until SIGINT/SIGTERM,
// then stops gracefully. Exit codes: 0 stopped cleanly, 1 could not start, 2 usage.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "common/log.h"
#include "common/periodic.h"
#include "crypto/process_hardening.h"
#include "http/server.h"
#include "layout/catalogue_loader.h"
#include "linkage/envelope.h"
#include "pki/certificate_authority.h"
#include "server/api_auth.h"
#include "server/hub_link.h"
#include "server/linkage_api.h"
#include "server/linkage_sender.h"
#include "server/linkage_service.h"
#include "server/platform.h"
#include "server/replica_api.h"
#include "server/server_config.h"

namespace chukan::cli {
namespace {

int Fail(const char* ja, const char* en, const Status& s) {
  std::fprintf(stderr, "chukan server: %s / %s: %s\n", ja, en, s.ToString().c_str());
  return 1;
}

// Background work of the linkage: the permission list copy (at start, then every `refresh`;
// every second while there is no valid copy) and, every second, expiry and retention sweeps.
class LinkageHousekeeper {
 public:
  LinkageHousekeeper(server::Platform& platform, server::LinkageService& linkage,
                     server::HubLink& hub, std::chrono::seconds refresh)
      : platform_(platform), linkage_(linkage), hub_(hub), refresh_(refresh) {
    thread_ = std::thread([this] { Run(); });
  }
  ~LinkageHousekeeper() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Run() {
    auto next_list = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mu_);
    do {
      lock.unlock();
      Result<std::vector<server::TenantInfo>> tenants = platform_.ListTenants();
      if (tenants.ok()) {
        if (std::chrono::steady_clock::now() >= next_list) {
          bool fetched = false;
          Status last;
          for (const server::TenantInfo& t : *tenants) {
            if (t.state != "active") continue;
            last = hub_.RefreshPermissionList(t.org);
            if (last.ok()) {
              fetched = true;
              break;
            }
          }
          if (!fetched && !last.ok()) {
            log::Warn("server.permission_list_refresh_failed", {{"error", last.ToString()}});
          }
          next_list =
              std::chrono::steady_clock::now() + (fetched ? refresh_ : std::chrono::seconds(1));
        }
        for (const server::TenantInfo& t : *tenants) {
          if (t.state != "active") continue;
          Result<server::LinkageSweep> r = linkage_.Sweep(t.id);
          if (!r.ok()) {
            log::Warn("server.sweep_failed",
                      {{"tenant", t.id.str()}, {"error", r.status().ToString()}});
          }
        }
      }
      lock.lock();
    } while (!cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; }));
  }

  server::Platform& platform_;
  server::LinkageService& linkage_;
  server::HubLink& hub_;
  const std::chrono::seconds refresh_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

int RunServer(const std::string& config_path) {
  // Block the signals before any thread starts (every thread inherits the mask), so that only
  // sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  Result<server::ServerConfig> cfg = server::LoadServerConfig(config_path);
  if (!cfg.ok())
    return Fail("設定ファイルを読めません", "cannot load the configuration", cfg.status());
  if (Status s = log::Init(cfg->log); !s.ok()) {
    return Fail("ログを開けません", "cannot open the log", s);
  }
  if (Status s = crypto::HardenProcess(); !s.ok()) {
    return Fail("プロセスを保護できません", "cannot harden the process", s);
  }
  Result<std::shared_ptr<const layout::Catalogue>> catalogue =
      layout::LoadCatalogue(cfg->layout_dir);
  if (!catalogue.ok()) {
    return Fail("データ標準レイアウトが不正です", "the data standard layout is broken",
                catalogue.status());
  }
  Result<std::unique_ptr<server::Platform>> platform =
      server::Platform::Open(*cfg, false, SystemClock::Get(), *catalogue);
  if (!platform.ok()) {
    return Fail("プラットフォームを開けません", "cannot open the platform", platform.status());
  }
  server::ApiAuth api_auth(**platform);
  // The audit logs' heads are signed within a few seconds of their last entry, and at shutdown
  // (after the listeners and delivery stopped: see below).
  PeriodicTask audit_checkpoints(std::chrono::seconds(2), [&platform] {
    Status s = (*platform)->CheckpointAuditLogs();
    if (!s.ok()) log::Error("audit.checkpoint_failed", {log::StatusField(s)});
  });
  // Refused authentications are recorded in aggregate, once a minute and at shutdown.
  PeriodicTask auth_flush(std::chrono::seconds(60), [&api_auth] {
    Result<int64_t> n = api_auth.Flush();
    if (!n.ok()) log::Error("api.auth_failures_flush_failed", {log::StatusField(n.status())});
  });
  server::ReplicaApi replica_api(api_auth, *catalogue, cfg->max_body_bytes);
  http::Router router;
  if (Status s = replica_api.Register(router); !s.ok()) {
    return Fail("経路を登録できません", "cannot register routes", s);
  }

  // Linkage through the hub (情報照会・情報提供), when configured.
  std::unique_ptr<server::HubLink> hub_link;
  std::unique_ptr<server::LinkageService> linkage;
  std::unique_ptr<server::LinkageApi> linkage_api;
  std::unique_ptr<server::LinkageSender> sender;
  http::Router node_router;
  if (!cfg->hub_url.empty()) {
    server::HubLink::Options ho;
    ho.url = cfg->hub_url;
    ho.ca_file = cfg->hub_ca;
    ho.public_key_file = cfg->hub_public_key;
    ho.tenant_tls_dir = cfg->tenant_tls_dir;
    ho.timeout = std::chrono::milliseconds(cfg->delivery_timeout_ms);
    auto link = server::HubLink::Create(ho);
    if (!link.ok())
      return Fail("ハブの設定が不正です", "the [hub] settings are wrong", link.status());
    hub_link = std::move(*link);
    server::LinkageService::Options lo;
    lo.inquiry_timeout = std::chrono::seconds(cfg->inquiry_timeout_seconds);
    lo.result_days = cfg->result_days;
    lo.outbox.max_attempts = cfg->delivery_max_attempts;
    lo.outbox.backoff_base = std::chrono::milliseconds(cfg->delivery_backoff_base_ms);
    lo.outbox.backoff_cap = std::chrono::milliseconds(cfg->delivery_backoff_cap_ms);
    linkage = std::make_unique<server::LinkageService>(**platform, *catalogue, hub_link.get(), lo);
    Result<pki::CertificateInfo> hub_cert = pki::ReadCertificateFile(cfg->node_hub_cert);
    if (!hub_cert.ok()) {
      return Fail("ハブの証明書を読めません", "cannot read the hub's certificate ([node] hub_cert)",
                  hub_cert.status());
    }
    linkage_api = std::make_unique<server::LinkageApi>(api_auth, *linkage, hub_cert->sha256);
    if (Status s = linkage_api->Register(router); !s.ok()) {
      return Fail("経路を登録できません", "cannot register routes", s);
    }
    if (Status s = linkage_api->RegisterNode(node_router); !s.ok()) {
      return Fail("経路を登録できません", "cannot register routes", s);
    }
    auto made =
        server::LinkageSender::Create(**platform, *linkage, cfg->delivery_threads, cfg->instance,
                                      cfg->delivery_batch_items, cfg->delivery_peer_requests);
    if (!made.ok()) return Fail("送信を準備できません", "cannot set up delivery", made.status());
    sender = std::move(*made);
    linkage->SetNotifier([s = sender.get()] { s->Notify(); });
  }
  http::ServerOptions so;
  so.host = cfg->host;
  so.port = cfg->port;
  so.threads = cfg->threads;
  so.workers = cfg->workers;
  so.limits.stream_body_total_timeout = std::chrono::seconds(cfg->upload_timeout_seconds);
  so.metrics_access = cfg->metrics == "anyone"  ? http::MetricsAccess::kAnyone
                      : cfg->metrics == "token" ? http::MetricsAccess::kToken
                                                : http::MetricsAccess::kLoopback;
  so.metrics_token = cfg->metrics_token;
  if (!cfg->tls_cert.empty()) {
    so.tls = true;
    so.tls_options = {cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca, !cfg->tls_client_ca.empty()};
  }

  Result<std::unique_ptr<http::Server>> server = http::Server::Create(so, std::move(router));
  if (!server.ok()) return Fail("待ち受けできません", "cannot listen", server.status());
  if (Status s = (*server)->Start(); !s.ok()) {
    return Fail("起動できません", "cannot start", s);
  }
  std::unique_ptr<http::Server> node_server;
  std::unique_ptr<LinkageHousekeeper> housekeeper;
  if (linkage) {
    http::ServerOptions no;
    no.host = cfg->node_host;
    no.port = cfg->node_port;
    no.threads = cfg->threads;
    no.workers = cfg->workers;
    no.tls = true;
    no.tls_options = {cfg->node_cert, cfg->node_key, cfg->node_client_ca, true};
    auto ns = http::Server::Create(no, std::move(node_router));
    if (!ns.ok())
      return Fail("ハブ向けの待ち受けができません", "cannot listen for the hub", ns.status());
    node_server = std::move(*ns);
    if (Status s = node_server->Start(); !s.ok()) return Fail("起動できません", "cannot start", s);
    if (Status s = sender->Start(); !s.ok()) {
      return Fail("送信を開始できません", "cannot start delivery", s);
    }
    housekeeper = std::make_unique<LinkageHousekeeper>(
        **platform, *linkage, *hub_link, std::chrono::seconds(cfg->list_refresh_seconds));
    std::printf("chukan server: ハブ向け受付 / node endpoint https://%s:%u\n", no.host.c_str(),
                static_cast<unsigned>(node_server->port()));
  }
  // The port line is the readiness signal for scripts and tests (port 0 picks a free one).
  std::printf("chukan server: 起動しました / listening on %s://%s:%u\n", so.tls ? "https" : "http",
              so.host.c_str(), static_cast<unsigned>((*server)->port()));
  std::fflush(stdout);
  log::Info("server.started",
            {{"port", static_cast<int>((*server)->port())},
             {"tenants_backend", std::string(store::BackendName(cfg->store.backend))}});
  int sig = 0;
  sigwait(&signals, &sig);
  log::Info("server.stopping", {{"signal", sig}});
  (*server)->Stop(std::chrono::seconds(10));
  if (node_server) node_server->Stop(std::chrono::seconds(10));
  housekeeper.reset();
  if (sender) sender->Stop();
  auth_flush.Stop();
  audit_checkpoints.Stop();
  std::printf("chukan server: 停止しました / stopped\n");
  return 0;
}

}  // namespace

void RegisterServerCommands(CLI::App& app, Action& action) {
  auto config = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("server", "中間サーバーを起動 / run the intermediate server");
  cmd->add_option("--config", *config, "configuration file (TOML)")->required();
  cmd->callback([&action, config] { action.run = [config] { return RunServer(*config); }; });
}

}  // namespace chukan::cli
