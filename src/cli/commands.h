// The `chukan` command line: one binary whose subcommands are registered by each component's
// command file (pki_command.cc, audit_command.cc, …). Messages for staff are Japanese first,
// with English after a slash; `--lang en` would be the place to switch (not yet needed).
#ifndef CHUKAN_CLI_COMMANDS_H_
#define CHUKAN_CLI_COMMANDS_H_

#include <functional>
#include <memory>

namespace CLI {
class App;
}

namespace chukan::cli {

// A registered subcommand sets `run` to the action to perform once parsing succeeds; the
// action returns the process exit code (0 success, 1 operation failed, 2 usage error).
struct Action {
  std::function<int()> run;
};

// Each adds its subcommands to `app`; `action` is filled by whichever subcommand was chosen.
void RegisterPkiCommands(CLI::App& app, Action& action);
void RegisterAuditCommands(CLI::App& app, Action& action);
void RegisterDemoCommands(CLI::App& app, Action& action);
void RegisterTenantCommands(CLI::App& app, Action& action);
// platform transfer-key, tenant export, tenant import (after RegisterTenantCommands).
void RegisterTransferCommands(CLI::App& app, Action& action);
void RegisterStaffCommands(CLI::App& app, Action& action);
void RegisterServerCommands(CLI::App& app, Action& action);
void RegisterReplicaCommands(CLI::App& app, Action& action);
void RegisterHubCommands(CLI::App& app, Action& action);
void RegisterBenchCommands(CLI::App& app, Action& action);
// chukan backup [keygen] and chukan restore (backup_command.cc).
void RegisterBackupCommands(CLI::App& app, Action& action);
// chukan doctor (doctor_command.cc).
void RegisterDoctorCommands(CLI::App& app, Action& action);

}  // namespace chukan::cli

#endif  // CHUKAN_CLI_COMMANDS_H_
