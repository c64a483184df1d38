// chukan server --config FILE — runs the intermediate server (中間サーバー) until SIGINT/SIGTERM
// (SIGHUP reloads its TLS files: IntermediateServer::ReloadTls),
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
#include "server/intermediate_server.h"
#include "server/server_config.h"

namespace chukan::cli {
namespace {

int Fail(const char* ja, const char* en, const Status& s) {
  std::fprintf(stderr, "chukan server: %s / %s: %s\n", ja, en, s.ToString().c_str());
  return 1;
}

// IntermediateServer's errors name their step themselves.
int Fail(const Status& s) {
  std::fprintf(stderr, "chukan server: %s\n", s.message().c_str());
  return 1;
}

int RunServer(const std::string& config_path) {
  // Block the signals before any thread starts (every thread inherits the mask), so that only
  // sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // reload the TLS files (a renewed certificate)
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
  Result<std::unique_ptr<server::IntermediateServer>> server =
      server::IntermediateServer::Create(*cfg);
  if (!server.ok()) return Fail(server.status());
  if (Status s = (*server)->Start(); !s.ok()) return Fail(s);
  if ((*server)->linkage() != nullptr) {
    std::printf("chukan server: ハブ向け受付 / node endpoint %s\n", (*server)->node_url().c_str());
  }
  // The port line is the readiness signal for scripts and tests (port 0 picks a free one).
  std::printf("chukan server: 起動しました / listening on %s\n", (*server)->api_url().c_str());
  std::fflush(stdout);
  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    // The result is in the log (http.tls_reloaded / …_reload_failed); also said on stderr.
    if (Status s = (*server)->ReloadTls(); !s.ok()) {
      std::fprintf(stderr,
                   "chukan server: 証明書を再読込できません（以前のものを使い続けます） / "
                   "TLS files not reloaded, the previous ones stay in use: %s\n",
                   s.message().c_str());
    } else {
      std::printf("chukan server: 証明書を再読込しました / TLS files reloaded\n");
      std::fflush(stdout);
    }
  }
  log::Info("server.stopping", {{"signal", sig}});
  (*server)->Stop();
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
