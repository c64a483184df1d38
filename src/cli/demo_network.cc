// `chukan demo`, step 17: the network the linkage steps use — a hub and two intermediate servers
// started as processes over mutual TLS by LocalNetwork with the operator's own commands (three
// tenants: city A and an insurer on server 1, city B on server 2). Processes rather than
// HubProcess/IntermediateServer in this process: the demo shows the deployment an operator runs,
// and its last step checks that every process stops cleanly on SIGTERM (docs/architecture.md).
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "cli/demo_steps.h"
#include "cli/local_network.h"
#include "common/ids.h"

namespace chukan::cli {

namespace fs = std::filesystem;

std::unique_ptr<LocalNetwork> RunNetworkStep(Steps& steps, const DemoArgs& args,
                                             const fs::path& dir) {
  const OrgCode city_a = OrgCode::Parse(kCityA).value();
  const OrgCode city_b = OrgCode::Parse(kCityB).value();
  const OrgCode insurer = OrgCode::Parse(kInsurer).value();
  std::unique_ptr<LocalNetwork> net;
  steps.Run("ハブと中間サーバーの起動 (相互TLS)",
            "hub and 2 intermediate servers as processes (mutual TLS)",
            [&]() -> Result<std::string> {
              std::error_code ec;
              fs::create_directories(dir, ec);
              LocalNetworkOptions o;
              o.binary = SelfExecutable();
              o.workdir = dir.string();
              o.layout_dir = args.layout_dir;
              o.permissions_file = args.permissions_file;
              o.servers = 2;
              // 地方公共団体コード of the two cities in the hub's registry (札幌市 011002,
              // 函館市 012025): a batch file may name the provider by it.
              o.orgs = {{city_a, "札幌市 (demo)", "municipality", 0, "01100"},
                        {insurer, "全国健康保険協会 (demo)", "insurer", 0, ""},
                        {city_b, "函館市 (demo)", "municipality", 1, "01202"}};
              ASSIGN_OR_RETURN(net, LocalNetwork::Start(o));
              RETURN_IF_ERROR(net->WaitForPermissionLists(std::chrono::seconds(30)));
              return "hub " + std::to_string(net->hub()->pid()) + "; server 1 (" + kCityA + " + " +
                     kInsurer + ") " + net->ApiUrl(0) + "; server 2 (" + kCityB + ") " +
                     net->ApiUrl(1) + "; both hold the signed permission list";
            });
  return net;
}

}  // namespace chukan::cli
