// HubProcess: the reference network hub (情報提供ネットワークシステム) assembled from its
// configuration — its keys, database and Hub, the HTTPS listener with mutual TLS (HubApi), the
// Deliverer that relays to the organisations' servers, and the housekeeping (registry and
// permission-list changes picked up every second, audit checkpoints, record sweeps).
//
// `chukan hub` runs one per process; tests run it beside intermediate servers in one process
// with a FakeClock. Nothing here touches signals, the log's destination or process hardening:
// the caller owns the process.
//
// Thread-safety: Create, Start and Stop from one controlling thread; hub() may be used from any
// thread while the hub runs (Hub is thread-safe).
#ifndef CHUKAN_HUB_HUB_PROCESS_H_
#define CHUKAN_HUB_HUB_PROCESS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "hub/hub_config.h"

namespace chukan {
class BackgroundLoop;
namespace http {
class Router;
class Server;
}  // namespace http
namespace store {
class NodeProbe;
class TenantStore;
}  // namespace store
}  // namespace chukan

namespace chukan::hub {

class Deliverer;
class Hub;
class HubApi;

class HubProcess {
 public:
  struct Options {
    // Every time the hub stores, signs or checks; must outlive the hub.
    const Clock* clock = &SystemClock::Get();
  };

  // Loads the layout, the keys (created when missing, as `chukan hub` does), the database and
  // the hub's state, and prepares delivery. Does not listen yet. Errors carry the failed step in
  // Japanese and English ("鍵を読めません / cannot load the keys: …") with the cause's own code
  // (kInvalidArgument for a broken layout or key file, those of the store otherwise).
  static Result<std::unique_ptr<HubProcess>> Create(const HubConfig& config, Options options);
  static Result<std::unique_ptr<HubProcess>> Create(const HubConfig& config) {
    return Create(config, Options());
  }
  // Stop().
  ~HubProcess();
  HubProcess(const HubProcess&) = delete;
  HubProcess& operator=(const HubProcess&) = delete;

  // Binds the listener ([hub] host/port; port 0 picks a free one), starts delivery and the
  // housekeeping, and logs hub.started. Returns once it accepts connections. On failure
  // whatever started is stopped again. Errors (step named as in Create): those of
  // http::Server and Deliverer::Start; kFailedPrecondition when called twice or after Stop.
  Status Start();
  // Stops accepting (requests in hand finish, up to 10 s), stops delivery (deliveries in hand
  // finish) and the housekeeping, and logs hub.stopped with the delivery counts. Blocks until
  // done. Idempotent; safe without Start.
  void Stop();

  // Reads the TLS files again ([tls] cert, key, client_ca; `chukan hub` does it on SIGHUP):
  // the listener's — new connections use them, open ones keep theirs — and the client
  // certificate deliveries use. Both are tried; the first error is returned, naming the part
  // and the file, and that part keeps its previous files. kFailedPrecondition unless running.
  // Call it from one thread at a time, not concurrently with Stop.
  Status ReloadTls();

  // The bound port (valid after Start) and "https://host:port".
  uint16_t port() const;
  std::string url() const;
  const HubConfig& config() const { return config_; }
  Hub& hub() { return *hub_; }
  Deliverer& deliverer() { return *deliverer_; }

 private:
  explicit HubProcess(HubConfig config);
  void RunHousekeeping();

  const HubConfig config_;
  // Declared in dependency order: each member may use those above it, and is destroyed first.
  std::unique_ptr<store::TenantStore> owner_;  // owns the database file(s) of hub_
  std::unique_ptr<Hub> hub_;
  std::unique_ptr<Deliverer> deliverer_;
  std::unique_ptr<HubApi> api_;
  std::unique_ptr<http::Router> router_;  // handed to server_ by Start
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<BackgroundLoop> housekeeper_;
  // Counts the delivery backlog every 250 ms (Hub::RecountBacklog), apart from the housekeeping,
  // whose sweeps may take long.
  std::unique_ptr<BackgroundLoop> backlog_counter_;
  std::chrono::steady_clock::time_point next_sweep_;  // housekeeper thread only
  // This process among the hub nodes sharing the database: "<[hub] instance>:<boot id>".
  std::string node_id_;
  // This node's lease of its name, renewed every second by prober_: /readyz answers from it.
  std::unique_ptr<store::NodeProbe> probe_;
  std::unique_ptr<BackgroundLoop> prober_;
  bool started_ = false;  // Start was called
  bool running_ = false;  // Start succeeded
  bool stopped_ = false;
};

}  // namespace chukan::hub

#endif  // CHUKAN_HUB_HUB_PROCESS_H_
