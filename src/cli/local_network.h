// LocalNetwork: a whole linkage network on one machine — a hub (`chukan hub`) and intermediate
// servers (`chukan server`) as real child processes on 127.0.0.1 with mutual TLS (or, with
// `in_process`, as HubProcess and IntermediateServer objects in this process), SQLite state
// in a work directory, certificates from a development CA, tenants, client tokens, the
// organisations registered at the hub and the permission list loaded. `chukan demo`,
// `chukan bench linkage` and the end-to-end tests drive it through the servers' HTTP API, as an
// existing business system would.
//
// Every step runs the same `chukan` commands an operator would (hub permissions load, tenant
// create, client add, tenant show --sign-pub, hub org add), so the network is built the way the
// operations guide says. In-process, only the hub and the servers move into this process: the
// setup commands still run as `chukan` processes, on the same files.
//
// Thread-safety: Call() may be used from any number of threads; everything else from one.
#ifndef CHUKAN_CLI_LOCAL_NETWORK_H_
#define CHUKAN_CLI_LOCAL_NETWORK_H_

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "http/client.h"

namespace chukan::hub {
class HubProcess;
}  // namespace chukan::hub
namespace chukan::server {
class IntermediateServer;
}  // namespace chukan::server

namespace chukan::cli {

// A child process running `binary args…` with its standard output on a pipe and its standard
// error in a file.
class ChildProcess {
 public:
  // Starts the process and waits up to `timeout` for a line of its standard output that
  // contains `ready`. Errors: kUnavailable naming the command, its exit and the end of its
  // standard error when it exits or stays silent.
  static Result<std::unique_ptr<ChildProcess>> Start(const std::string& binary,
                                                     const std::vector<std::string>& args,
                                                     const std::string& stderr_file,
                                                     std::string_view ready,
                                                     std::chrono::seconds timeout);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The lines read up to and including the ready line.
  const std::vector<std::string>& lines() const { return lines_; }
  // SIGTERM, then waits. Returns the exit code (-1 when killed by a signal); repeated calls
  // return the first result.
  int Stop();
  // Whether the process has exited (reaped here; Stop then returns its exit code).
  bool Exited();
  // SIGKILL: the process dies wherever it is.
  void Kill();
  pid_t pid() const { return pid_; }
  // Resident and peak resident memory from /proc (KiB), or -1 when the process is gone.
  int64_t RssKib() const;
  int64_t PeakRssKib() const;

 private:
  ChildProcess() = default;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int exit_code_ = -1;
  std::vector<std::string> lines_;
};

// Reserves a free TCP port on 127.0.0.1 for a listener that cannot bind port 0 and say which it
// got (the balancer's frontends). The socket stays bound, not listening, with SO_REUSEADDR, until
// the caller closes `fd`: a listener that sets SO_REUSEADDR too (haproxy does) may bind and
// listen beside it, while the kernel gives the port to no bind(0), no outgoing connection and no
// bind without SO_REUSEADDR meanwhile. (A port found free and closed at once stayed free for
// the minute until haproxy started; once in CI a server node's own bind(0) took it first.)
// Returns the port; on success the caller owns `fd`, on an error it is -1.
Result<int> ReservePort(int& fd);

// Runs `binary args…` to completion and returns its standard output. Errors: kInternal with
// the exit code and the end of its standard error (kept in `stderr_file`).
Result<std::string> RunCommand(const std::string& binary, const std::vector<std::string>& args,
                               const std::string& stderr_file);

// The running executable (/proc/self/exe), to start more of itself; empty if unreadable.
std::string SelfExecutable();

// A work directory: `requested` (created when missing; it must be empty) or, when `requested`
// is empty, a new temporary directory <tmp>/<prefix>-XXXXXX, and then `*temporary` is set.
// Errors: kFailedPrecondition "<dir> は空ではありません / is not empty"; kInternal when a
// directory cannot be created.
Result<std::string> PrepareWorkdir(const std::string& requested, std::string_view prefix,
                                   bool* temporary);

struct NetworkOrg {
  OrgCode org;
  std::string name;       // shown in the hub's registry and the tenant list
  std::string org_class;  // the hub's organisation class ("municipality", "insurer", …)
  int server = 0;         // which intermediate server hosts it (0-based)
  std::string local_gov_code;  // 地方公共団体コード in the hub's registry (5 or 6 digits); "": none
};

struct LocalNetworkOptions {
  std::string binary;            // the chukan executable
  std::string workdir;           // an existing, empty directory
  std::string layout_dir;        // data standard layout
  std::string permissions_file;  // the permission list to load at the hub
  std::vector<NetworkOrg> orgs;
  int servers = 2;
  int64_t inquiry_timeout_seconds = 3600;
  int64_t result_days = 30;        // [retention] result_days of the servers
  int long_polls_per_client = 16;  // [inquiry] long_polls_per_client of the servers
  // [permits] approval_validity_seconds of the hub (10 or more); 0: the hub's default.
  int64_t approval_permit_seconds = 0;
  int server_threads = 2;
  int server_workers = 64;
  int server_delivery_threads = 8;
  int hub_threads = 2;
  int hub_workers = 64;
  int hub_delivery_threads = 16;
  // [delivery] batch_items and peer_requests of the hub and the servers.
  int batch_items = 64;
  int peer_requests = 2;
  // [delivery] max_backlog of the hub and of the servers (per tenant): backpressure's bounds.
  int64_t hub_max_backlog = 2000;
  int64_t server_max_backlog = 1000;
  int64_t backoff_base_ms = 100;
  int64_t backoff_cap_ms = 2'000;
  // [delivery] poll_interval_ms of the hub and the servers: how often their outboxes are looked
  // at for what no commit announced.
  int64_t poll_interval_ms = 200;
  // [hub] list_refresh_seconds of the servers. Organisations register at the hub after the
  // servers start, so a server's first copy may not know them all; with the 1 s default the
  // next copy does. Longer is for in-process networks only, whose servers
  // WaitForPermissionLists asks for a new copy itself.
  int64_t list_refresh_seconds = 1;
  std::string log_level = "info";
  // PostgreSQL instead of SQLite for the hub and every server: a libpq connection string, and
  // a prefix ([a-z0-9_]) for their schemas (<prefix>_hub, <prefix>_s1, …). Empty: SQLite.
  std::string pg_dsn;
  std::string pg_prefix = "chukan_net";
  // With pg_dsn: only these servers (0-based) keep their state in PostgreSQL, the hub and the
  // others in SQLite — a network of mixed backends. Empty: all of them in PostgreSQL.
  std::vector<int> pg_servers;
  // Nodes of each server and of the hub sharing one store (PostgreSQL: pg_dsn for all, no
  // pg_servers): node 1 is the server / hub above; nodes 2… run with the same keys and database
  // under `[server] instance = "server-<n>"` / `[hub] instance = "hub-<n>"`, on ports of their
  // own. The hub's registry names each organisation's node 1, and the servers reach hub node 1.
  int nodes_per_server = 1;
  int hub_nodes = 1;
  // A load balancer in front (haproxy, from Debian): one TCP frontend for the hub nodes, and for
  // each server one for its API and one for its node listener, passing TLS through (mutual TLS
  // stays end to end) to the nodes that answer /readyz with 200. The servers reach the hub, the
  // hub reaches the organisations, and Call() reaches the servers through it. Its configuration
  // is <workdir>/balancer/haproxy.cfg (docs/operations.md shows the production one).
  bool balancer = false;
  std::string haproxy = "haproxy";
  // [delivery] lease_seconds of the servers and the hub: how soon another node delivers what a
  // killed node had claimed.
  int delivery_lease_seconds = 10;
  // The hub and the servers as objects in this process (HubProcess, IntermediateServer) on
  // `clock`, instead of child processes; hub() and server() are then null, Kill* stops.
  bool in_process = false;
  const Clock* clock = &SystemClock::Get();
  // Told of each setup step ("hub started on …"); may be empty.
  std::function<void(const std::string&)> progress;
};

class LocalNetwork {
 public:
  // Builds and starts the network; returns once every server holds the permission list. On
  // failure everything started is stopped again and the error names the step.
  static Result<std::unique_ptr<LocalNetwork>> Start(LocalNetworkOptions options);
  // Stops every process still running.
  ~LocalNetwork();

  enum class Role { kSystem, kApprover };
  // One call to the /api/v1 API of the org's server with the org's token for `role`.
  Result<http::Response> Call(const OrgCode& org, Role role, const std::string& method,
                              const std::string& path, std::string body = "",
                              std::string_view content_type = "application/json");
  const std::string& token(const OrgCode& org, Role role) const;
  std::string ApiUrl(int server) const;
  std::string HubUrl() const { return "https://127.0.0.1:" + std::to_string(hub_port_); }

  // Waits until every server holds a valid copy of the permission list. kDeadlineExceeded
  // with the last answer otherwise.
  Status WaitForPermissionLists(std::chrono::seconds timeout);

  // After the organisation's tenant was moved to `server` (chukan tenant export / import, done
  // by the caller): adds its clients there (new tokens, which Call uses from now on) and
  // re-registers it at the hub with that server's node endpoint — steps 6 and 7 of
  // docs/operations.md, "Moving a tenant to another platform". Errors name the command.
  Status MoveOrg(const OrgCode& org, int server);

  // Stops (SIGTERM) or kills (SIGKILL) a process; Restart* brings it back on the same ports.
  int StopHub();
  void KillHub();
  Status RestartHub();
  int StopServer(int server);
  void KillServer(int server);
  Status RestartServer(int server);
  // Stops everything; returns the first non-zero exit code, or 0.
  int StopAll();

  ChildProcess* hub() { return hub_.get(); }
  ChildProcess* server(int i) { return servers_.at(static_cast<size_t>(i)).process.get(); }
  // In-process only (null otherwise, or while stopped).
  hub::HubProcess* hub_in_process() { return hub_in_process_.get(); }
  server::IntermediateServer* server_in_process(int i) {
    return servers_.at(static_cast<size_t>(i)).in_process.get();
  }
  int server_count() const { return static_cast<int>(servers_.size()); }
  // Node `node` (0-based; 0 is server(i) itself) of server `i`, and of the hub.
  ChildProcess* node(int i, int node) { return NodeAt(i, node).process.get(); }
  server::IntermediateServer* node_in_process(int i, int node) {
    return NodeAt(i, node).in_process.get();
  }
  hub::HubProcess* hub_node_in_process(int node);
  ChildProcess* hub_node(int node);
  std::string NodeApiUrl(int i, int node);
  std::string HubNodeUrl(int node) const;
  // One call to the /api/v1 API of node `node` of the org's server.
  Result<http::Response> CallNode(const OrgCode& org, int node, Role role,
                                  const std::string& method, const std::string& path,
                                  std::string body = "",
                                  std::string_view content_type = "application/json");
  void KillNode(int i, int node);
  void KillHubNode(int node);
  // The balancer's process (null without one).
  ChildProcess* balancer() { return balancer_.get(); }
  const LocalNetworkOptions& options() const { return options_; }
  std::string hub_config() const { return Path("hub/hub.toml"); }
  std::string hub_dir() const { return Path("hub"); }
  std::string server_config(int i) const;
  std::string server_dir(int i) const;
  std::string Path(std::string_view relative) const;

 private:
  explicit LocalNetwork(LocalNetworkOptions options);
  struct Server {
    Server();
    Server(Server&&) noexcept;
    ~Server();
    std::unique_ptr<ChildProcess> process;
    std::unique_ptr<server::IntermediateServer> in_process;
    int api_port = 0;
    int node_port = 0;
  };
  struct HubNode {
    std::unique_ptr<ChildProcess> process;
    std::unique_ptr<hub::HubProcess> in_process;
    int port = 0;
  };
  std::string NodeConfig(int i, int node) const;
  Status WriteNodeConfig(int i, int node, int api_port, int node_port) const;
  Status StartNodeProcess(int i, int node);
  std::string HubNodeConfig(int node) const;
  Status StartHubNode(int node);
  // The port the servers reach the hub on (the balancer's hub frontend, or hub node 1), and the
  // port the registry names for server `i`'s organisations.
  int HubEntryPort() const;
  int NodeEntryPort(int i) const;
  Status StartBalancer();
  Status Build();
  std::string StoreSection(const std::string& data_dir, const std::string& suffix,
                           bool postgres) const;
  // Adds the org's two clients on `server` (tokens_) and registers it at the hub with
  // `server`'s node endpoint.
  Status AddClients(const NetworkOrg& o, int server);
  Status RegisterAtHub(const NetworkOrg& o);
  Status WriteHubConfig(int port) const;
  Status WriteHubNodeConfig(int node, int port) const;
  Server& NodeAt(int i, int node);
  Status StartHubProcess();
  void Progress(const std::string& what) const;
  // Closes the sockets in reserved_ports_.
  void ReleasePorts();

  LocalNetworkOptions options_;
  std::unique_ptr<ChildProcess> hub_;
  std::unique_ptr<hub::HubProcess> hub_in_process_;
  int hub_port_ = 0;
  std::vector<Server> servers_;
  std::vector<std::vector<Server>> more_nodes_;  // [server][node - 1]
  std::vector<HubNode> more_hub_nodes_;          // [node - 1]
  std::unique_ptr<ChildProcess> balancer_;
  int balancer_hub_port_ = 0;
  std::vector<int> balancer_api_ports_;   // [server]
  std::vector<int> balancer_node_ports_;  // [server]
  // Bound sockets holding the balancer's ports until haproxy has bound them (ReservePort).
  std::vector<int> reserved_ports_;
  std::map<std::pair<OrgCode, Role>, std::string> tokens_;
  std::unique_ptr<http::Client> client_;
};

}  // namespace chukan::cli

#endif  // CHUKAN_CLI_LOCAL_NETWORK_H_
