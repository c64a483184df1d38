// chukan — the single binary: hub, server, demo, and the admin and client subcommands.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "common/version.h"

int main(int argc, char** argv) {
  // The long-running commands print their progress as they go: line by line even when stdout is
  // a file or a pipe (ctest, `make demo > log`), so that a run killed at a time limit leaves
  // what it had reached. (Not for the others: an export to stdout stays block-buffered.)
  if (argc > 1 && (std::string(argv[1]) == "bench" || std::string(argv[1]) == "demo")) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
  }
  CLI::App app{
      "chukan — 中間サーバー (intermediate server) and reference hub / 中間サーバーと参照ハブ"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("chukan ") + chukan::kChukanVersion);
  chukan::cli::Action action;
  chukan::cli::RegisterPkiCommands(app, action);
  chukan::cli::RegisterAuditCommands(app, action);
  chukan::cli::RegisterDemoCommands(app, action);
  chukan::cli::RegisterTenantCommands(app, action);
  chukan::cli::RegisterTransferCommands(app, action);
  chukan::cli::RegisterStaffCommands(app, action);
  chukan::cli::RegisterServerCommands(app, action);
  chukan::cli::RegisterReplicaCommands(app, action);
  chukan::cli::RegisterHubCommands(app, action);
  chukan::cli::RegisterBenchCommands(app, action);
  chukan::cli::RegisterBackupCommands(app, action);
  chukan::cli::RegisterDoctorCommands(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!action.run) {
    std::fprintf(stderr, "chukan: サブコマンドを指定してください / a subcommand is required\n");
    return 2;
  }
  return action.run();
}
