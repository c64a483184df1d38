// chukan demo — walks through what chukan can do today, checking every step, and prints a
// summary (Japanese and English). It exits 0 only if every step behaved as expected (26 steps):
// the foundation (steps 1–16, demo_foundation.cc), the network up (step 17, demo_network.cc)
// and the linkage through it (steps 18–26, demo_linkage.cc); demo_steps.h says what each does.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "cli/demo_steps.h"
#include "cli/local_network.h"
#include "common/log.h"

namespace chukan::cli {
namespace {

namespace fs = std::filesystem;

int RunDemo(const DemoArgs& args) {
  bool made_temp = false;
  Result<std::string> dir = PrepareWorkdir(args.workdir, "chukan-demo", &made_temp);
  if (!dir.ok()) {
    std::fprintf(stderr, "chukan demo: %s\n", std::string(dir.status().message()).c_str());
    return dir.status().code() == StatusCode::kFailedPrecondition ? 2 : 1;
  }
  const fs::path work = *dir;
  std::printf("chukan demo — 基盤の動作確認 / foundation walkthrough\n作業場所 / workdir: %s\n\n",
              work.c_str());

  log::SetLevel(log::Level::kWarn);  // the summary is the output; keep info lines out of it
  Steps steps;
  RunFoundationSteps(steps, args, work);

  std::printf("\n情報連携 / linkage (hub + intermediate servers as processes)\n");
  const fs::path net_dir = work / "network";
  std::unique_ptr<LocalNetwork> net = RunNetworkStep(steps, args, net_dir);
  RunLinkageSteps(steps, net.get(), net_dir);
  std::printf("\n結果 / result: %zu/%zu 手順が成功 / steps passed — %s\n", steps.passed(),
              steps.size(), steps.all_ok() ? "すべて成功 / ALL OK" : "失敗あり / FAILED");
  int code = steps.all_ok() ? 0 : 1;
  if (args.serve && steps.all_ok() && net != nullptr) code = ServeDemo(*net);

  if (made_temp && !args.keep) {
    std::error_code ec;
    fs::remove_all(work, ec);
  } else {
    std::printf("作業場所を残しました / workdir kept: %s\n", work.c_str());
  }
  return code;
}

}  // namespace

void RegisterDemoCommands(CLI::App& app, Action& action) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* demo = app.add_subcommand(
      "demo", "デモを実行して結果を要約 / run the demonstration and summarise it");
  demo->add_option("--workdir", args->workdir,
                   "an empty directory to work in (default: a temp dir)");
  demo->add_flag("--keep", args->keep, "keep the temporary work directory");
  demo->add_flag(
      "--serve", args->serve,
      "その後もネットワークを動かし続け、職員画面の URL とログインを表示 (Ctrl-C で終了) / "
      "then leave the network running and print the console URLs and logins, until "
      "Ctrl-C");
  demo->add_option("--layout", args->layout_dir,
                   "data standard layout directory (default data/layout)");
  demo->add_option("--permissions", args->permissions_file,
                   "permission list for the hub (default data/permissions/sample.csv)");
  demo->callback([&action, args] { action.run = [args] { return RunDemo(*args); }; });
}

}  // namespace chukan::cli
