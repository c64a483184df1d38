// chukan server --config FILE — runs the intermediate server (中間サーバー) until SIGINT/SIGTERM,
// then stops gracefully. Exit codes: 0 stopped cleanly, 1 could not start, 2 usage.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "common/log.h"
#include "crypto/process_hardening.h"
#include "http/server.h"
#include "layout/catalogue_loader.h"
#include "server/platform.h"
#include "server/replica_api.h"
#include "server/server_config.h"

namespace chukan::cli {
namespace {

int Fail(const char* ja, const char* en, const Status& s) {
  std::fprintf(stderr, "chukan server: %s / %s: %s\n", ja, en, s.ToString().c_str());
  return 1;
}

int RunServer(const std::string& config_path) {
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
  Result<std::unique_ptr<server::Platform>> platform = server::Platform::Open(*cfg, false);
  if (!platform.ok()) {
    return Fail("プラットフォームを開けません", "cannot open the platform", platform.status());
  }
  server::ReplicaApi replica_api(**platform, *catalogue);
  http::Router router;
  if (Status s = replica_api.Register(router); !s.ok()) {
    return Fail("経路を登録できません", "cannot register routes", s);
  }
  http::ServerOptions so;
  so.host = cfg->host;
  so.port = cfg->port;
  so.threads = cfg->threads;
  so.limits.max_body_bytes = cfg->max_body_bytes;
  if (!cfg->tls_cert.empty()) {
    so.tls = true;
    so.tls_options = {cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca, !cfg->tls_client_ca.empty()};
  }
  // Block the signals before any thread starts, so only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Result<std::unique_ptr<http::Server>> server = http::Server::Create(so, std::move(router));
  if (!server.ok()) return Fail("待ち受けできません", "cannot listen", server.status());
  if (Status s = (*server)->Start(); !s.ok()) {
    return Fail("起動できません", "cannot start", s);
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
