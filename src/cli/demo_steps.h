// What the parts of `chukan demo` share: its arguments, the step runner that prints each step
// and the summary, and the made-up organisations and data. The walkthrough itself is in three
// files, run in this order by demo_command.cc:
//   demo_foundation.cc  steps 1–16, in this process: PKI and mutual TLS, cryptography, audit
//                       chains, and the provision database behind the replica API;
//   demo_network.cc     step 17: the network up — a hub and two intermediate servers as
//                       processes (certificates, tenants, organisations registered);
//   demo_linkage.cc     steps 18–26 against that network: imports, codes, inquiries, an
//                       approval, a refusal, an expiry, records, every audit chain verified.
//
// Thread-safety: none; one thread runs the demo.
#ifndef CHUKAN_CLI_DEMO_STEPS_H_
#define CHUKAN_CLI_DEMO_STEPS_H_

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace chukan::cli {

class LocalNetwork;

struct DemoArgs {
  std::string workdir;
  std::string layout_dir = "data/layout";
  std::string permissions_file = "data/permissions/sample.csv";
  bool keep = false;
  // After the steps, restart the network and leave it running with demo staff in every tenant,
  // printing the console URLs and logins, until Ctrl-C (demo_serve.cc).
  bool serve = false;
};

struct StepResult {
  std::string ja;
  std::string en;
  bool ok = false;
  std::string detail;
  double ms = 0;
};

// Runs and prints the steps, numbered in the order they run.
class Steps {
 public:
  // Runs one step: `body` returns OK and a detail line, or the error that made it fail.
  void Run(std::string ja, std::string en, const std::function<Result<std::string>()>& body);
  // True when there was at least one step and every step passed.
  bool all_ok() const;
  size_t passed() const;
  size_t size() const { return results_.size(); }

 private:
  std::vector<StepResult> results_;
};

// OK, or kInternal "check failed: <what>".
Status Check(bool condition, std::string what);

inline constexpr char kCityA[] = "0000000000000131";    // a city (市)
inline constexpr char kCityB[] = "0000000000000132";    // another city
inline constexpr char kInsurer[] = "0000000000000901";  // a health insurer (医療保険者)

// A small 地方税関係情報 file: `rows` residents, income given per row; the row on file line
// `bad_line` (the header is line 1) gets a 賦課期日 that does not exist.
std::string SampleTaxCsv(int rows, int bad_line = 0);

// Steps 1–16 in this process, in `work`; everything they start is stopped before they return.
void RunFoundationSteps(Steps& steps, const DemoArgs& args, const std::filesystem::path& work);
// Step 17: the hub and two servers as processes in `dir` (city A and the insurer on server 1,
// city B on server 2). Null when the step failed.
std::unique_ptr<LocalNetwork> RunNetworkStep(Steps& steps, const DemoArgs& args,
                                             const std::filesystem::path& dir);
// Steps 18–26 against `net` (each fails at once when `net` is null); the last one stops it.
void RunLinkageSteps(Steps& steps, LocalNetwork* net, const std::filesystem::path& dir);

// `--serve`: restarts the network that the steps stopped, adds one staff member holding every
// role to each tenant, prints each server's console URL and the logins (one-time passwords and
// TOTP secrets), and waits for SIGINT or SIGTERM, then stops everything. Returns the exit code.
int ServeDemo(LocalNetwork& net);

}  // namespace chukan::cli

#endif  // CHUKAN_CLI_DEMO_STEPS_H_
