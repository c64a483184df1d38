// IntermediateServer: one intermediate server (中間サーバー) assembled from its configuration —
// the platform (tenants, keys, audit logs), the existing systems' API (/api/v1: replicas and,
// with a [hub] section, the linkage), the node listener the hub delivers to (mutual TLS), the
// sender that delivers to the hub, and the background work (permission list copy, expiry and
// retention sweeps, audit checkpoints, the aggregate of refused authentications).
//
// `chukan server` runs one per process; tests run several in one process with a FakeClock.
// Nothing here touches signals, the log's destination or process hardening: the caller owns
// the process.
//
// Thread-safety: Create, Start and Stop from one controlling thread; the accessors may be used
// from any thread while the server runs (the objects they return are thread-safe).
#ifndef CHUKAN_SERVER_INTERMEDIATE_SERVER_H_
#define CHUKAN_SERVER_INTERMEDIATE_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"
#include "server/server_config.h"

namespace chukan {
class BackgroundLoop;
class PeriodicTask;
namespace http {
class Router;
class Server;
}  // namespace http
namespace console {
class Console;
}  // namespace console
namespace layout {
class Catalogue;
}  // namespace layout
namespace store {
class NodeProbe;
class PgBroadcast;
}  // namespace store
}  // namespace chukan

namespace chukan::server {

class ApiAuth;
class HubLink;
class LinkageApi;
class LinkageSender;
class LinkageService;
class Platform;
class ReplicaApi;

class IntermediateServer {
 public:
  struct Options {
    // Every time the server stores, signs or checks; must outlive the server.
    const Clock* clock = &SystemClock::Get();
  };

  // Loads the data standard layout, opens the platform (its keys must exist: `chukan tenant
  // create` makes them) and, with a [hub] section, reads the hub's key and certificate. Does not
  // listen yet. Errors carry the failed step in Japanese and English ("ハブの設定が不正です /
  // the [hub] settings are wrong: …") with the cause's own code: kNotFound for a missing file,
  // kInvalidArgument for a broken layout or setting, those of Platform::Open.
  static Result<std::unique_ptr<IntermediateServer>> Create(const ServerConfig& config,
                                                            Options options);
  static Result<std::unique_ptr<IntermediateServer>> Create(const ServerConfig& config) {
    return Create(config, Options());
  }
  // Stop().
  ~IntermediateServer();
  IntermediateServer(const IntermediateServer&) = delete;
  IntermediateServer& operator=(const IntermediateServer&) = delete;

  // Binds the API listener ([server] host/port; port 0 picks a free one) and, with linkage, the
  // node listener ([node]), starts delivery and the background work, and logs server.started.
  // Returns once both accept connections. On failure whatever started is stopped again.
  // Errors (step named as in Create): kUnavailable/kInvalidArgument from http::Server (port in
  // use, TLS files), kFailedPrecondition when called twice or after Stop.
  Status Start();
  // Stops accepting and lets requests in hand finish (up to 10 s each listener), stops
  // delivery and the background work, then signs the audit logs' heads and records the refused
  // authentications a last time. Blocks until done. Idempotent; safe without Start.
  void Stop();

  // Reads every TLS file again — a renewed certificate, key or CA, taken without a restart
  // (`chukan server` does it on SIGHUP): the API listener's ([tls], when set), the node
  // listener's ([node]) and the tenants' client certificates for the hub ([hub]
  // tenant_tls_dir). New connections use them; open ones keep theirs. Each part is all or
  // nothing and all are tried; the first error is returned (naming the part and the file) and
  // the part it names keeps its previous files. kFailedPrecondition unless running. Call it
  // from one thread at a time (the process's signal loop), not concurrently with Stop.
  Status ReloadTls();

  // The bound ports (valid after Start): the API, and the node listener (0 without linkage).
  uint16_t api_port() const;
  uint16_t node_port() const;
  // "http://host:port" ("https" with [tls]) and "https://host:port" (empty without linkage).
  std::string api_url() const;
  std::string node_url() const;

  const ServerConfig& config() const { return config_; }
  Platform& platform() { return *platform_; }
  // The linkage, or nullptr without a [hub] section.
  LinkageService* linkage() { return linkage_.get(); }
  HubLink* hub_link() { return hub_link_.get(); }
  // The sender of the tenants' outboxes, or nullptr without a [hub] section.
  LinkageSender* sender() { return sender_.get(); }

 private:
  explicit IntermediateServer(ServerConfig config);
  Status StartListeners();
  // The staff console on the API router ([console] enabled).
  Status AddConsole(const Clock& clock);
  void RunHousekeeping();
  // Whether this node leads `job` now (Platform::LeadJob); logs when that changes.
  bool Leads(std::string_view job, bool* was_leading);
  // Runs a few re-encryption batches of every tenant whose data key is rotating (a thread of
  // its own: a long re-encryption never delays the sweeps).
  void RunRekey();

  const ServerConfig config_;
  std::shared_ptr<const layout::Catalogue> catalogue_;
  // Declared in dependency order: each member may use those above it, and is destroyed first.
  std::unique_ptr<Platform> platform_;
  std::unique_ptr<ApiAuth> api_auth_;
  std::unique_ptr<ReplicaApi> replica_api_;
  std::unique_ptr<HubLink> hub_link_;
  std::unique_ptr<LinkageService> linkage_;
  std::unique_ptr<LinkageApi> linkage_api_;
  std::unique_ptr<LinkageSender> sender_;
  std::unique_ptr<console::Console> console_;
  std::unique_ptr<http::Router> router_;       // handed to api_server_ by Start
  std::unique_ptr<http::Router> node_router_;  // handed to node_server_ by Start
  std::unique_ptr<PeriodicTask> audit_checkpoints_;
  std::unique_ptr<PeriodicTask> auth_flush_;
  std::unique_ptr<PeriodicTask> console_sweep_;
  std::unique_ptr<http::Server> api_server_;
  std::unique_ptr<http::Server> node_server_;
  std::unique_ptr<BackgroundLoop> housekeeper_;
  std::unique_ptr<BackgroundLoop> rekeyer_;
  // On PostgreSQL: the other nodes sharing the store, told when an inquiry ends here (and
  // telling when one ended there), so that long polls are answered on any node.
  std::unique_ptr<store::PgBroadcast> peers_;
  std::chrono::steady_clock::time_point next_list_refresh_;  // housekeeper thread only
  // This process among the nodes sharing the store: "<[server] instance>:<boot id>", the owner
  // of the jobs' leases (Platform::LeadJob).
  std::string node_id_;
  bool leads_sweeps_ = false;  // housekeeper thread only (logs a change of leader)
  // This node's lease of its name, renewed every second by prober_: /readyz answers from it.
  std::unique_ptr<store::NodeProbe> probe_;
  std::unique_ptr<BackgroundLoop> prober_;
  bool housekeeping_started_ = false;  // the controlling thread only
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_INTERMEDIATE_SERVER_H_
