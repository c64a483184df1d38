#include "cli/local_network.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "hub/hub_config.h"
#include "hub/hub_process.h"
#include "json/json.h"
#include "pki/certificate_authority.h"
#include "server/hub_link.h"
#include "server/intermediate_server.h"
#include "server/server_config.h"

namespace chukan::cli {
namespace {

namespace fs = std::filesystem;

std::string Tail(const std::string& file, size_t max = 600) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > max) s = "…" + s.substr(s.size() - max);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string CommandLine(const std::string& binary, const std::vector<std::string>& args) {
  std::string s = fs::path(binary).filename().string();
  for (const std::string& a : args) s += " " + a;
  return s;
}

// fork + exec with standard output on `out_fd` (write end) and standard error appended to
// `stderr_file`. The child dies with its parent (PR_SET_PDEATHSIG), so nothing outlives an
// interrupted demo or test.
Result<pid_t> Spawn(const std::string& binary, const std::vector<std::string>& args, int out_fd,
                    const std::string& stderr_file) {
  const int err_fd = open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (err_fd < 0) {
    return InternalError(stderr_file + ": cannot open: " + std::strerror(errno));
  }
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(err_fd);
    return InternalError(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(err_fd);
  return pid;
}

int WaitExit(pid_t pid, std::chrono::milliseconds grace) {
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (true) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int64_t ProcStatusKib(pid_t pid, std::string_view field) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atoll(line.c_str() + field.size());
  }
  return -1;
}

// The port after "127.0.0.1:" in `line`, or 0.
int PortIn(const std::string& line) {
  const size_t at = line.find("127.0.0.1:");
  return at == std::string::npos ? 0 : std::atoi(line.c_str() + at + 10);
}

// Whether something accepts TCP connections on 127.0.0.1:port.
bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return InternalError(path + ": cannot write");
  return Status();
}

std::string Quote(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

}  // namespace

Result<int> ReservePort(int& fd) {
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return InternalError("socket: " + std::string(std::strerror(errno)));
  const int one = 1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  const bool ok = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
                  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  if (!ok) {
    close(fd);
    fd = -1;
    return InternalError("cannot reserve a free port on 127.0.0.1");
  }
  return static_cast<int>(ntohs(a.sin_port));
}

Result<std::unique_ptr<ChildProcess>> ChildProcess::Start(const std::string& binary,
                                                          const std::vector<std::string>& args,
                                                          const std::string& stderr_file,
                                                          std::string_view ready,
                                                          std::chrono::seconds timeout) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return InternalError(std::string("pipe: ") + strerror(errno));
  Result<pid_t> pid = Spawn(binary, args, fds[1], stderr_file);
  close(fds[1]);
  if (!pid.ok()) {
    close(fds[0]);
    return pid.status();
  }
  std::unique_ptr<ChildProcess> p(new ChildProcess());
  p->pid_ = *pid;
  p->out_fd_ = fds[0];
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string pending;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd pfd{p->out_fd_, POLLIN, 0};
    const int r = left.count() > 0 ? poll(&pfd, 1, static_cast<int>(left.count())) : 0;
    if (r < 0 && errno == EINTR) continue;
    char buf[4096];
    const ssize_t n = r > 0 ? read(p->out_fd_, buf, sizeof(buf)) : 0;
    if (n <= 0) {
      const bool silent = r == 0;
      const int code = p->Stop();
      return UnavailableError(CommandLine(binary, args) +
                              (silent
                                   ? ": not ready after " + std::to_string(timeout.count()) + " s"
                                   : ": exited with " + std::to_string(code)) +
                              ": " + Tail(stderr_file));
    }
    pending.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      p->lines_.push_back(pending.substr(0, nl));
      pending.erase(0, nl + 1);
      if (p->lines_.back().find(ready) != std::string::npos) return p;
    }
  }
}

ChildProcess::~ChildProcess() { Stop(); }

int ChildProcess::Stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    exit_code_ = WaitExit(pid_, std::chrono::seconds(20));
    pid_ = -1;
  }
  if (out_fd_ >= 0) {
    close(out_fd_);
    out_fd_ = -1;
  }
  return exit_code_;
}

bool ChildProcess::Exited() {
  if (pid_ <= 0) return true;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  pid_ = -1;
  return true;
}

void ChildProcess::Kill() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    exit_code_ = -1;
  }
  if (out_fd_ >= 0) {
    close(out_fd_);
    out_fd_ = -1;
  }
}

int64_t ChildProcess::RssKib() const { return ProcStatusKib(pid_, "VmRSS:"); }
int64_t ChildProcess::PeakRssKib() const { return ProcStatusKib(pid_, "VmHWM:"); }

Result<std::string> RunCommand(const std::string& binary, const std::vector<std::string>& args,
                               const std::string& stderr_file) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return InternalError(std::string("pipe: ") + strerror(errno));
  Result<pid_t> pid = Spawn(binary, args, fds[1], stderr_file);
  close(fds[1]);
  if (!pid.ok()) {
    close(fds[0]);
    return pid.status();
  }
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  const int code = WaitExit(*pid, std::chrono::minutes(10));
  if (code != 0) {
    return InternalError(CommandLine(binary, args) + ": exit " + std::to_string(code) + ": " +
                         Tail(stderr_file));
  }
  return out;
}

std::string SelfExecutable() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

Result<std::string> PrepareWorkdir(const std::string& requested, std::string_view prefix,
                                   bool* temporary) {
  *temporary = false;
  if (requested.empty()) {
    std::string tmpl = (fs::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      return InternalError("作業ディレクトリを作れません / cannot create a temporary directory: " +
                           std::string(std::strerror(errno)));
    }
    *temporary = true;
    return tmpl;
  }
  std::error_code ec;
  fs::create_directories(requested, ec);
  if (ec) return InternalError(requested + ": " + ec.message());
  if (!fs::is_empty(requested, ec)) {
    return FailedPreconditionError(requested + " は空ではありません / is not empty");
  }
  return requested;
}

// ---------------------------------------------------------------------------------------------

std::string LocalNetwork::Path(std::string_view relative) const {
  return (fs::path(options_.workdir) / relative).string();
}
std::string LocalNetwork::server_dir(int i) const {
  return Path("server-" + std::to_string(i + 1));
}
std::string LocalNetwork::server_config(int i) const { return server_dir(i) + "/server.toml"; }
std::string LocalNetwork::ApiUrl(int server) const {
  if (options_.balancer) {
    return "http://127.0.0.1:" +
           std::to_string(balancer_api_ports_.at(static_cast<size_t>(server)));
  }
  return "http://127.0.0.1:" + std::to_string(servers_.at(static_cast<size_t>(server)).api_port);
}

int LocalNetwork::HubEntryPort() const {
  return options_.balancer ? balancer_hub_port_ : hub_port_;
}

int LocalNetwork::NodeEntryPort(int i) const {
  return options_.balancer ? balancer_node_ports_.at(static_cast<size_t>(i))
                           : servers_.at(static_cast<size_t>(i)).node_port;
}

void LocalNetwork::Progress(const std::string& what) const {
  if (options_.progress) options_.progress(what);
}

Result<std::unique_ptr<LocalNetwork>> LocalNetwork::Start(LocalNetworkOptions options) {
  if (options.servers < 1 || options.servers > 16) {
    return InvalidArgumentError("servers: expected 1 to 16");
  }
  if (options.nodes_per_server < 1 || options.nodes_per_server > 8 || options.hub_nodes < 1 ||
      options.hub_nodes > 4) {
    return InvalidArgumentError("nodes_per_server: expected 1 to 8; hub_nodes: 1 to 4");
  }
  if ((options.nodes_per_server > 1 || options.hub_nodes > 1) &&
      (options.pg_dsn.empty() || !options.pg_servers.empty())) {
    return InvalidArgumentError("several nodes share one store: PostgreSQL for all (pg_dsn)");
  }
  for (const NetworkOrg& o : options.orgs) {
    if (o.server < 0 || o.server >= options.servers) {
      return InvalidArgumentError("org " + o.org.str() + ": no server " + std::to_string(o.server));
    }
  }
  std::error_code ec;
  options.workdir = fs::absolute(options.workdir, ec).string();
  options.layout_dir = fs::absolute(options.layout_dir, ec).string();
  options.permissions_file = fs::absolute(options.permissions_file, ec).string();
  std::unique_ptr<LocalNetwork> net(new LocalNetwork(std::move(options)));
  if (Status s = net->Build(); !s.ok()) {
    net->StopAll();
    return s;
  }
  return net;
}

LocalNetwork::LocalNetwork(LocalNetworkOptions options) : options_(std::move(options)) {}
LocalNetwork::~LocalNetwork() { StopAll(); }
LocalNetwork::Server::Server() = default;
LocalNetwork::Server::Server(Server&&) noexcept = default;
LocalNetwork::Server::~Server() = default;

Status LocalNetwork::Build() {
  const std::string& bin = options_.binary;
  for (const char* d : {"pki", "hub"}) fs::create_directories(Path(d));
  servers_.resize(static_cast<size_t>(options_.servers));
  more_nodes_.resize(static_cast<size_t>(options_.servers));
  for (auto& nodes : more_nodes_) nodes.resize(static_cast<size_t>(options_.nodes_per_server - 1));
  more_hub_nodes_.resize(static_cast<size_t>(options_.hub_nodes - 1));
  for (int i = 0; i < options_.servers; ++i) fs::create_directories(server_dir(i));

  // Certificates: the hub (server and client), each server's node listener, and one client
  // certificate per organisation (<org_code>.crt, the name the servers look for).
  {
    ASSIGN_OR_RETURN(auto ca, pki::CertificateAuthority::Init(Path("pki"), "chukan local CA"));
    RETURN_IF_ERROR(ca->Issue({"hub", std::nullopt, {"127.0.0.1"}, true, 30}).status());
    for (int i = 0; i < options_.servers; ++i) {
      RETURN_IF_ERROR(
          ca->Issue({"node-" + std::to_string(i + 1), std::nullopt, {"127.0.0.1"}, false, 30})
              .status());
    }
    for (const NetworkOrg& o : options_.orgs) {
      RETURN_IF_ERROR(ca->Issue({o.org.str(), o.org, {}, true, 30}).status());
    }
    // The balancer's health checks of the hub present a client certificate of no organisation.
    if (options_.balancer) {
      RETURN_IF_ERROR(ca->Issue({"balancer", std::nullopt, {}, true, 30}).status());
    }
  }
  Progress("certificates issued (CA, hub, " + std::to_string(options_.servers) + " nodes, " +
           std::to_string(options_.orgs.size()) + " organisations)");

  // The hub: its keys and the permission list, then the process.
  RETURN_IF_ERROR(WriteHubConfig(0));
  ASSIGN_OR_RETURN(std::string loaded, RunCommand(bin,
                                                  {"hub", "permissions", "load", "--config",
                                                   hub_config(), options_.permissions_file},
                                                  Path("hub/commands.err")));
  RETURN_IF_ERROR(StartHubProcess());
  Progress("hub listening on https://127.0.0.1:" + std::to_string(hub_port_) + "; " +
           loaded.substr(0, loaded.find('\n')));
  for (int n = 1; n < options_.hub_nodes; ++n) {
    RETURN_IF_ERROR(StartHubNode(n));
    Progress("hub node " + std::to_string(n + 1) + " listening on " + HubNodeUrl(n));
  }

  if (options_.balancer) {
    auto reserve = [this]() -> Result<int> {
      int fd = -1;
      Result<int> port = ReservePort(fd);
      if (fd >= 0) reserved_ports_.push_back(fd);
      return port;
    };
    ASSIGN_OR_RETURN(balancer_hub_port_, reserve());
    for (int i = 0; i < options_.servers; ++i) {
      ASSIGN_OR_RETURN(int api, reserve());
      ASSIGN_OR_RETURN(int node, reserve());
      balancer_api_ports_.push_back(api);
      balancer_node_ports_.push_back(node);
    }
  }

  // The servers: tenants, clients, signing keys, then the processes.
  for (int i = 0; i < options_.servers; ++i) {
    RETURN_IF_ERROR(WriteNodeConfig(i, 0, 0, 0));
    const std::string err = server_dir(i) + "/commands.err";
    for (const NetworkOrg& o : options_.orgs) {
      if (o.server != i) continue;
      const std::string org = o.org.str();
      RETURN_IF_ERROR(RunCommand(bin,
                                 {"tenant", "create", "--config", server_config(i), "--org", org,
                                  "--name", o.name},
                                 err)
                          .status());
      RETURN_IF_ERROR(AddClients(o, i));
      RETURN_IF_ERROR(RunCommand(bin,
                                 {"tenant", "show", "--config", server_config(i), "--org", org,
                                  "--sign-pub", Path("pki/" + org + ".sign.pub")},
                                 err)
                          .status());
    }
    for (int n = 0; n < options_.nodes_per_server; ++n) {
      if (n > 0) RETURN_IF_ERROR(WriteNodeConfig(i, n, 0, 0));
      RETURN_IF_ERROR(StartNodeProcess(i, n));
      Progress("server " + std::to_string(i + 1) +
               (n > 0 ? " node " + std::to_string(n + 1) : std::string()) + " listening on " +
               NodeApiUrl(i, n) +
               " (node https://127.0.0.1:" + std::to_string(NodeAt(i, n).node_port) + ")");
    }
  }

  if (options_.balancer) {
    RETURN_IF_ERROR(StartBalancer());
    Progress("balancer (haproxy) in front of the hub on https://127.0.0.1:" +
             std::to_string(balancer_hub_port_));
  }

  // The registry: each organisation with its server's node endpoint and its keys.
  for (const NetworkOrg& o : options_.orgs) {
    RETURN_IF_ERROR(RegisterAtHub(o));
  }
  Progress(std::to_string(options_.orgs.size()) + " organisations registered at the hub");
  http::ClientOptions co;
  co.max_idle_per_host = 64;
  ASSIGN_OR_RETURN(client_, http::Client::Create(co));
  // Ready when every server holds the permission list, which it can fetch only once the hub
  // knows its organisations.
  RETURN_IF_ERROR(WaitForPermissionLists(std::chrono::seconds(60)));
  Progress("every server holds the signed permission list");
  return Status();
}

Status LocalNetwork::AddClients(const NetworkOrg& o, int server) {
  const std::string org = o.org.str();
  const std::string err = server_dir(server) + "/commands.err";
  for (auto [role, name] :
       {std::pair{Role::kSystem, "gyomu"}, std::pair{Role::kApprover, "shonin"}}) {
    ASSIGN_OR_RETURN(
        std::string token,
        RunCommand(options_.binary,
                   {"client", "add", "--config", server_config(server), "--tenant", org, "--name",
                    name, "--role", role == Role::kSystem ? "system" : "approver"},
                   err));
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    tokens_[{o.org, role}] = token;
  }
  return Status();
}

Status LocalNetwork::RegisterAtHub(const NetworkOrg& o) {
  const std::string org = o.org.str();
  const std::string endpoint = "https://127.0.0.1:" + std::to_string(NodeEntryPort(o.server));
  std::vector<std::string> add = {"hub",
                                  "org",
                                  "add",
                                  "--config",
                                  hub_config(),
                                  "--code",
                                  org,
                                  "--name",
                                  o.name,
                                  "--class",
                                  o.org_class,
                                  "--endpoint",
                                  endpoint,
                                  "--sign-key",
                                  Path("pki/" + org + ".sign.pub"),
                                  "--cert",
                                  Path("pki/" + org + ".crt")};
  if (!o.local_gov_code.empty()) {
    add.insert(add.end(), {"--local-gov-code", o.local_gov_code});
  }
  return RunCommand(options_.binary, add, Path("hub/commands.err")).status();
}

Status LocalNetwork::MoveOrg(const OrgCode& org, int server) {
  for (NetworkOrg& o : options_.orgs) {
    if (o.org != org) continue;
    o.server = server;
    RETURN_IF_ERROR(AddClients(o, server));
    return RegisterAtHub(o);
  }
  return NotFoundError("org " + org.str() + " is not in this network");
}

std::string LocalNetwork::StoreSection(const std::string& data_dir, const std::string& suffix,
                                       bool postgres) const {
  std::string s = "[store]\ndata_dir = " + Quote(data_dir) + "\n";
  if (postgres) {
    s += "backend = \"postgres\"\ndsn = " + Quote(options_.pg_dsn) +
         "\npg_prefix = " + Quote(options_.pg_prefix + "_" + suffix) + "\n";
  }
  return s;
}

Status LocalNetwork::WriteHubConfig(int port) const { return WriteHubNodeConfig(0, port); }

std::string LocalNetwork::HubNodeConfig(int node) const {
  return node == 0 ? hub_config() : Path("hub/hub-" + std::to_string(node + 1) + ".toml");
}

Status LocalNetwork::WriteHubNodeConfig(int node, int port) const {
  const std::string n = std::to_string(node + 1);
  std::ostringstream c;
  c << "# written by chukan (local network)\n"
    << "[hub]\nhost = \"127.0.0.1\"\nport = " << port << "\nthreads = " << options_.hub_threads
    << "\nworkers = " << options_.hub_workers << "\n"
    << (node > 0 ? "instance = \"hub-" + n + "\"\n" : std::string())
    << "[tls]\ncert = " << Quote(Path("pki/hub.crt")) << "\nkey = " << Quote(Path("pki/hub.key"))
    << "\nclient_ca = " << Quote(Path("pki/ca.crt")) << "\n"
    << StoreSection("state", "hub", !options_.pg_dsn.empty() && options_.pg_servers.empty())
    << "[layout]\ndir = " << Quote(options_.layout_dir) << "\n"
    << "[delivery]\nthreads = " << options_.hub_delivery_threads
    << "\nbatch_items = " << options_.batch_items << "\npeer_requests = " << options_.peer_requests
    << "\nmax_backlog = " << options_.hub_max_backlog
    << "\nbackoff_base_ms = " << options_.backoff_base_ms
    << "\nbackoff_cap_ms = " << options_.backoff_cap_ms << "\ntimeout_ms = 5000\n"
    << "lease_seconds = " << options_.delivery_lease_seconds << "\n"
    << "poll_interval_ms = " << options_.poll_interval_ms << "\n"
    << (options_.approval_permit_seconds > 0
            ? "[permits]\napproval_validity_seconds = " +
                  std::to_string(options_.approval_permit_seconds) + "\n"
            : std::string())
    << "[log]\nlevel = " << Quote(options_.log_level)
    << "\npath = " << Quote(node > 0 ? "hub-" + n + ".log" : "hub.log") << "\n";
  return WriteFile(HubNodeConfig(node), c.str());
}

// [hub] list_refresh_seconds = 1: organisations register at the hub after the servers start
// (their node ports are known only then), so a server's first permission list copy may predate
// the last registration; the next second's copy knows it (WaitForPermissionLists waits for it).
std::string LocalNetwork::NodeConfig(int i, int node) const {
  return node == 0 ? server_config(i)
                   : server_dir(i) + "/server-node-" + std::to_string(node + 1) + ".toml";
}

Status LocalNetwork::WriteNodeConfig(int i, int node, int api_port, int node_port) const {
  const std::string n = std::to_string(i + 1);
  const std::string nn = std::to_string(node + 1);
  std::ostringstream c;
  c << "# written by chukan (local network)\n"
    << "[server]\nhost = \"127.0.0.1\"\nport = " << api_port
    << "\nthreads = " << options_.server_threads << "\nworkers = " << options_.server_workers
    << "\n"
    << (node > 0 ? "instance = \"server-" + nn + "\"\n" : std::string())
    << StoreSection("data", "s" + n,
                    !options_.pg_dsn.empty() &&
                        (options_.pg_servers.empty() ||
                         std::find(options_.pg_servers.begin(), options_.pg_servers.end(), i) !=
                             options_.pg_servers.end()))
    << "[layout]\ndir = " << Quote(options_.layout_dir) << "\n"
    << "[log]\nlevel = " << Quote(options_.log_level)
    << "\npath = " << Quote(node > 0 ? "server-node-" + nn + ".log" : "server.log") << "\n"
    << "[hub]\nurl = \"https://127.0.0.1:" << HubEntryPort() << "\"\n"
    << "ca = " << Quote(Path("pki/ca.crt")) << "\n"
    << "public_key = " << Quote(Path("hub/state/keys/hub-signing.pub")) << "\n"
    << "tenant_tls_dir = " << Quote(Path("pki"))
    << "\nlist_refresh_seconds = " << options_.list_refresh_seconds << "\n"
    << "[node]\nhost = \"127.0.0.1\"\nport = " << node_port << "\n"
    << "cert = " << Quote(Path("pki/node-" + n + ".crt")) << "\n"
    << "key = " << Quote(Path("pki/node-" + n + ".key")) << "\n"
    << "client_ca = " << Quote(Path("pki/ca.crt")) << "\n"
    << "hub_cert = " << Quote(Path("pki/hub.crt")) << "\n"
    << "[inquiry]\ntimeout_seconds = " << options_.inquiry_timeout_seconds
    << "\nlong_polls_per_client = " << options_.long_polls_per_client << "\n"
    << "[retention]\nresult_days = " << options_.result_days << "\n"
    << "[delivery]\nthreads = " << options_.server_delivery_threads
    << "\nbatch_items = " << options_.batch_items << "\npeer_requests = " << options_.peer_requests
    << "\nmax_backlog = " << options_.server_max_backlog
    << "\nbackoff_base_ms = " << options_.backoff_base_ms
    << "\nbackoff_cap_ms = " << options_.backoff_cap_ms << "\ntimeout_ms = 5000\n"
    << "lease_seconds = " << options_.delivery_lease_seconds << "\n"
    << "poll_interval_ms = " << options_.poll_interval_ms << "\n";
  return WriteFile(NodeConfig(i, node), c.str());
}

Status LocalNetwork::StartHubProcess() {
  if (options_.in_process) {
    hub_in_process_.reset();
    ASSIGN_OR_RETURN(hub::HubConfig cfg, hub::LoadHubConfig(hub_config()));
    ASSIGN_OR_RETURN(hub_in_process_, hub::HubProcess::Create(cfg, {options_.clock}));
    RETURN_IF_ERROR(hub_in_process_->Start());
    hub_port_ = hub_in_process_->port();
    return Status();
  }
  ASSIGN_OR_RETURN(
      hub_, ChildProcess::Start(options_.binary, {"hub", "--config", hub_config()},
                                Path("hub/stderr.log"), "listening on", std::chrono::seconds(60)));
  hub_port_ = PortIn(hub_->lines().back());
  if (hub_port_ == 0) return InternalError("hub: no port in \"" + hub_->lines().back() + "\"");
  return Status();
}

Status LocalNetwork::StartNodeProcess(int i, int node) {
  Server& s = NodeAt(i, node);
  const std::string stderr_file =
      node == 0 ? server_dir(i) + "/stderr.log"
                : server_dir(i) + "/stderr-node-" + std::to_string(node + 1) + ".log";
  if (options_.in_process) {
    s.in_process.reset();
    ASSIGN_OR_RETURN(server::ServerConfig cfg, server::LoadServerConfig(NodeConfig(i, node)));
    ASSIGN_OR_RETURN(s.in_process, server::IntermediateServer::Create(cfg, {options_.clock}));
    RETURN_IF_ERROR(s.in_process->Start());
    s.api_port = s.in_process->api_port();
    s.node_port = s.in_process->node_port();
    return Status();
  }
  ASSIGN_OR_RETURN(s.process,
                   ChildProcess::Start(options_.binary, {"server", "--config", NodeConfig(i, node)},
                                       stderr_file, "listening on", std::chrono::seconds(60)));
  s.api_port = PortIn(s.process->lines().back());
  for (const std::string& line : s.process->lines()) {
    if (line.find("node endpoint") != std::string::npos) s.node_port = PortIn(line);
  }
  if (s.api_port == 0 || s.node_port == 0) {
    return InternalError("server " + std::to_string(i + 1) + ": no API or node port in its output");
  }
  return Status();
}

Status LocalNetwork::StartBalancer() {
  fs::create_directories(Path("balancer"));
  // haproxy wants the client certificate and its key in one file.
  {
    std::ifstream crt(Path("pki/balancer.crt")), key(Path("pki/balancer.key"));
    std::ostringstream pem;
    pem << crt.rdbuf() << key.rdbuf();
    RETURN_IF_ERROR(WriteFile(Path("balancer/check-client.pem"), pem.str()));
  }
  // TCP passthrough everywhere; a node is taken out after two failed /readyz checks 300 ms
  // apart, and a connection that cannot be made is tried on another node (redispatch).
  std::ostringstream c;
  c << "# written by chukan (local network)\n"
    << "global\n  maxconn 4000\n"
    << "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 120s\n"
    << "  timeout server 120s\n  timeout check 1s\n  retries 3\n  option redispatch 1\n"
    << "  default-server inter 300ms fastinter 200ms downinter 500ms fall 2 rise 2"
    << " on-marked-down shutdown-sessions\n"
    << "frontend hub\n  bind 127.0.0.1:" << balancer_hub_port_ << "\n  default_backend hub\n"
    << "backend hub\n  balance roundrobin\n  option httpchk GET /readyz\n"
    << "  http-check expect status 200\n";
  for (int n = 0; n < options_.hub_nodes; ++n) {
    const int port = n == 0 ? hub_port_ : more_hub_nodes_[static_cast<size_t>(n - 1)].port;
    c << "  server hub" << n + 1 << " 127.0.0.1:" << port << " check check-ssl verify none crt "
      << Path("balancer/check-client.pem") << "\n";
  }
  for (int i = 0; i < options_.servers; ++i) {
    const std::string s = std::to_string(i + 1);
    c << "frontend api" << s << "\n  bind 127.0.0.1:" << balancer_api_ports_[static_cast<size_t>(i)]
      << "\n  default_backend api" << s << "\n"
      << "backend api" << s << "\n  balance roundrobin\n  option httpchk GET /readyz\n"
      << "  http-check expect status 200\n";
    for (int n = 0; n < options_.nodes_per_server; ++n) {
      c << "  server n" << n + 1 << " 127.0.0.1:" << NodeAt(i, n).api_port << " check\n";
    }
    c << "frontend node" << s
      << "\n  bind 127.0.0.1:" << balancer_node_ports_[static_cast<size_t>(i)]
      << "\n  default_backend node" << s << "\n"
      << "backend node" << s << "\n  balance roundrobin\n  option httpchk GET /readyz\n"
      << "  http-check expect status 200\n";
    for (int n = 0; n < options_.nodes_per_server; ++n) {
      const Server& node = NodeAt(i, n);
      c << "  server n" << n + 1 << " 127.0.0.1:" << node.node_port << " check port "
        << node.api_port << "\n";
    }
  }
  const std::string cfg = Path("balancer/haproxy.cfg");
  RETURN_IF_ERROR(WriteFile(cfg, c.str()));
  const std::string haproxy = options_.haproxy;
  ASSIGN_OR_RETURN(
      balancer_,
      ChildProcess::Start("/bin/sh",
                          {"-c",
                           "\"$0\" -c -q -f \"$1\" && echo balancer ready && "
                           "exec \"$0\" -db -f \"$1\"",
                           haproxy, cfg},
                          Path("balancer/stderr.log"), "balancer ready", std::chrono::seconds(30)));
  // Ready once every frontend accepts connections.
  std::vector<int> fronts = balancer_api_ports_;
  fronts.insert(fronts.end(), balancer_node_ports_.begin(), balancer_node_ports_.end());
  fronts.push_back(balancer_hub_port_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (int port : fronts) {
    while (!Accepts(port)) {
      const bool exited = balancer_->Exited();
      if (exited || std::chrono::steady_clock::now() > deadline) {
        return UnavailableError(
            "balancer: 127.0.0.1:" + std::to_string(port) + " does not accept connections" +
            (exited ? " (haproxy exited)" : "") + "; the end of " + Path("balancer/stderr.log") +
            ":\n" + Tail(Path("balancer/stderr.log")));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ReleasePorts();
  return Status();
}

void LocalNetwork::ReleasePorts() {
  for (int fd : reserved_ports_) close(fd);
  reserved_ports_.clear();
}

const std::string& LocalNetwork::token(const OrgCode& org, Role role) const {
  static const std::string kNone;
  auto it = tokens_.find({org, role});
  return it == tokens_.end() ? kNone : it->second;
}

Result<http::Response> LocalNetwork::Call(const OrgCode& org, Role role, const std::string& method,
                                          const std::string& path, std::string body,
                                          std::string_view content_type) {
  int server = -1;
  for (const NetworkOrg& o : options_.orgs) {
    if (o.org == org) server = o.server;
  }
  if (server < 0) return NotFoundError("org " + org.str() + " is not in this network");
  http::ClientRequest req{method, ApiUrl(server) + path, {}, std::move(body)};
  req.headers.Set("Authorization", "Bearer " + token(org, role));
  if (!req.body.empty()) req.headers.Set("Content-Type", std::string(content_type));
  return client_->Send(req);
}

Status LocalNetwork::WaitForPermissionLists(std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t local_gov_codes = 0;
  for (const NetworkOrg& o : options_.orgs) local_gov_codes += o.local_gov_code.empty() ? 0 : 1;
  for (int i = 0; i < server_count(); ++i) {
    const NetworkOrg* first = nullptr;
    for (const NetworkOrg& o : options_.orgs) {
      if (o.server == i && first == nullptr) first = &o;
    }
    if (first == nullptr) continue;
    for (int n = 0; n < options_.nodes_per_server; ++n) {
      std::string last;
      while (true) {
        Result<http::Response> r =
            CallNode(first->org, n, Role::kSystem, "GET", "/api/v1/linkage/status");
        // A valid copy that knows every organisation of the network and its 地方公共団体コード.
        if (r.ok() && r->status == 200 && r->body.find("\"valid\":true") != std::string::npos &&
            r->body.find("\"organisations\":" + std::to_string(options_.orgs.size())) !=
                std::string::npos &&
            r->body.find("\"local_gov_codes\":" + std::to_string(local_gov_codes)) !=
                std::string::npos) {
          break;
        }
        last = r.ok() ? r->body : r.status().ToString();
        // An in-process server is asked for a new copy at once: with a long list_refresh_seconds
        // (bench icount) its first copy, fetched before every organisation was registered,
        // would otherwise stand for that long.
        if (server::IntermediateServer* in = node_in_process(i, n);
            in != nullptr && in->hub_link() != nullptr) {
          (void)in->hub_link()->RefreshPermissionList(first->org);  // checked by the next look
        }
        if (std::chrono::steady_clock::now() > deadline) {
          return DeadlineExceededError("server " + std::to_string(i + 1) + " node " +
                                       std::to_string(n + 1) +
                                       " has no permission list copy: " + last);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }
  return Status();
}

int LocalNetwork::StopHub() {
  hub_in_process_.reset();  // its destructor stops it
  return hub_ ? hub_->Stop() : 0;
}
void LocalNetwork::KillHub() {
  hub_in_process_.reset();
  if (hub_) hub_->Kill();
}
Status LocalNetwork::RestartHub() {
  StopHub();
  RETURN_IF_ERROR(WriteHubConfig(hub_port_));
  return StartHubProcess();
}
int LocalNetwork::StopServer(int i) {
  Server& s = servers_.at(static_cast<size_t>(i));
  s.in_process.reset();
  return s.process ? s.process->Stop() : 0;
}
void LocalNetwork::KillServer(int i) {
  Server& s = servers_.at(static_cast<size_t>(i));
  s.in_process.reset();
  if (s.process) s.process->Kill();
}
Status LocalNetwork::RestartServer(int i) {
  Server& s = servers_.at(static_cast<size_t>(i));
  StopServer(i);
  RETURN_IF_ERROR(WriteNodeConfig(i, 0, s.api_port, s.node_port));
  return StartNodeProcess(i, 0);
}

LocalNetwork::Server& LocalNetwork::NodeAt(int i, int node) {
  if (node == 0) return servers_.at(static_cast<size_t>(i));
  return more_nodes_.at(static_cast<size_t>(i)).at(static_cast<size_t>(node - 1));
}

std::string LocalNetwork::NodeApiUrl(int i, int node) {
  return "http://127.0.0.1:" + std::to_string(NodeAt(i, node).api_port);
}

std::string LocalNetwork::HubNodeUrl(int node) const {
  const int port = node == 0 ? hub_port_ : more_hub_nodes_.at(static_cast<size_t>(node - 1)).port;
  return "https://127.0.0.1:" + std::to_string(port);
}

hub::HubProcess* LocalNetwork::hub_node_in_process(int node) {
  if (node == 0) return hub_in_process_.get();
  return more_hub_nodes_.at(static_cast<size_t>(node - 1)).in_process.get();
}

ChildProcess* LocalNetwork::hub_node(int node) {
  if (node == 0) return hub_.get();
  return more_hub_nodes_.at(static_cast<size_t>(node - 1)).process.get();
}

Status LocalNetwork::StartHubNode(int node) {
  HubNode& h = more_hub_nodes_.at(static_cast<size_t>(node - 1));
  RETURN_IF_ERROR(WriteHubNodeConfig(node, h.port));
  if (options_.in_process) {
    h.in_process.reset();
    ASSIGN_OR_RETURN(hub::HubConfig cfg, hub::LoadHubConfig(HubNodeConfig(node)));
    ASSIGN_OR_RETURN(h.in_process, hub::HubProcess::Create(cfg, {options_.clock}));
    RETURN_IF_ERROR(h.in_process->Start());
    h.port = h.in_process->port();
    return Status();
  }
  ASSIGN_OR_RETURN(h.process,
                   ChildProcess::Start(options_.binary, {"hub", "--config", HubNodeConfig(node)},
                                       Path("hub/stderr-" + std::to_string(node + 1) + ".log"),
                                       "listening on", std::chrono::seconds(60)));
  h.port = PortIn(h.process->lines().back());
  if (h.port == 0) return InternalError("hub node: no port in its output");
  return Status();
}

Result<http::Response> LocalNetwork::CallNode(const OrgCode& org, int node, Role role,
                                              const std::string& method, const std::string& path,
                                              std::string body, std::string_view content_type) {
  int server = -1;
  for (const NetworkOrg& o : options_.orgs) {
    if (o.org == org) server = o.server;
  }
  if (server < 0) return NotFoundError("org " + org.str() + " is not in this network");
  http::ClientRequest req{method, NodeApiUrl(server, node) + path, {}, std::move(body)};
  req.headers.Set("Authorization", "Bearer " + token(org, role));
  if (!req.body.empty()) req.headers.Set("Content-Type", std::string(content_type));
  return client_->Send(req);
}

void LocalNetwork::KillNode(int i, int node) {
  Server& s = NodeAt(i, node);
  s.in_process.reset();
  if (s.process) s.process->Kill();
}

void LocalNetwork::KillHubNode(int node) {
  if (node == 0) return KillHub();
  HubNode& h = more_hub_nodes_.at(static_cast<size_t>(node - 1));
  h.in_process.reset();
  if (h.process) h.process->Kill();
}

int LocalNetwork::StopAll() {
  int first = 0;
  for (auto& nodes : more_nodes_) {
    for (Server& s : nodes) {
      s.in_process.reset();
      const int code = s.process ? s.process->Stop() : 0;
      if (first == 0 && code != 0) first = code;
    }
  }
  for (HubNode& h : more_hub_nodes_) {
    h.in_process.reset();
    const int code = h.process ? h.process->Stop() : 0;
    if (first == 0 && code != 0) first = code;
  }
  for (int i = 0; i < server_count(); ++i) {
    const int code = StopServer(i);
    if (first == 0 && code != 0) first = code;
  }
  const int code = StopHub();
  if (first == 0 && code != 0) first = code;
  if (balancer_) balancer_->Stop();  // haproxy's own exit code on SIGTERM is not ours to report
  ReleasePorts();
  return first;
}

}  // namespace chukan::cli
