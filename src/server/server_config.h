// ServerConfig: the settings of one intermediate server (`chukan server --config FILE`), read
// from TOML. The admin commands (`chukan tenant …`, `chukan client …`) read the same file, so
// they act on the same data directory or database as the server. Unknown keys are refused.
//
//   [server]   host, port, threads, max_body_mb, workers, instance
//   [tls]      cert, key, client_ca            (optional: HTTPS when cert is set)
//   [store]    backend = "sqlite" | "postgres", data_dir, dsn, pg_prefix, pool_size
//   [keys]     dir (default <data_dir>/keys): master.key, audit-signing.key
//   [layout]   dir (default "data/layout"), result_dir (default "<dir>/../result_layout")
//   [log]      level, path
//   [hub]      url, ca, public_key, tenant_tls_dir, list_refresh_seconds — linkage with the hub
//              (optional: without url the server does no linkage)
//   [node]     host, port, cert, key, client_ca, hub_cert — the hub-facing listener (mutual
//              TLS; only the client certificate in hub_cert is accepted)
//   [inquiry]  timeout_seconds (3600): inquiries unanswered by then end as expired
//   [retention] result_days (30): results are deleted this long after their inquiry ends;
//              records_days (2557, at least 7 years): inquiry and provision rows (the records of
//              provision); code_days (365): unused subject codes; dead_days (30): dead outbox
//              items; audit_days (2557, at least 7 years): audit log entries (pruned up to a signed
//              checkpoint)
//   [delivery] threads, timeout_ms, max_attempts, backoff_base_ms, backoff_cap_ms, batch_items,
//              peer_requests, lease_seconds, max_backlog, poll_interval_ms
//
// Relative paths are resolved against the directory of the configuration file.
// An immutable value type.
#ifndef CHUKAN_SERVER_SERVER_CONFIG_H_
#define CHUKAN_SERVER_SERVER_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/log.h"
#include "common/status.h"
#include "store/tenant_store.h"

namespace chukan::server {

struct ServerConfig {
  std::string source;  // the file it came from
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  int threads = 2;
  // Threads that run API and node handlers (each may wait for a durable commit or a long poll).
  int workers = 64;
  // Names this process's outbox leases ("<instance>:<boot id>"). A starting server releases the
  // leases of its instance name: every process sharing one store (PostgreSQL) needs its own.
  std::string instance = "server";
  // Largest request body accepted (imports stream; other requests are small).
  size_t max_body_bytes = size_t{1} << 30;  // imports and reconcile uploads ([server] max_body_mb)
  // An upload must be complete within this time, however steadily it trickles.
  int64_t upload_timeout_seconds = 1800;
  // Plain HTTP on a non-loopback host (a TLS proxy in front); refused at load otherwise.
  bool allow_plain_http = false;
  // Who may read /metrics: "loopback" (default), "anyone", or "token" (metrics_token).
  std::string metrics = "loopback";
  std::string metrics_token;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  store::StoreOptions store;
  std::string keys_dir;
  // [audit] checkpoint_dir: exported copies of the signed audit checkpoints, one file per log
  // (<dir>/platform.checkpoints.jsonl, <dir>/<tenant>.checkpoints.jsonl); empty: none.
  std::string audit_checkpoint_dir;
  std::string layout_dir;
  // [layout] result_dir: the inquiry result file's layouts (chukan-result-layout/1 files);
  // default "<layout.dir>/../result_layout". Not set and missing: the default layouts (a
  // warning at start); set and missing: an error.
  std::string result_layout_dir;
  bool result_layout_dir_set = false;
  log::Options log;

  // Linkage (情報照会・情報提供) through the hub; disabled when hub_url is empty.
  std::string hub_url;
  std::string hub_ca;          // CA of the hub's server certificate
  std::string hub_public_key;  // file: the hub's Ed25519 public key, 64 hex digits
  std::string tenant_tls_dir;  // per tenant <org_code>.crt / .key: its client certificate
  int64_t list_refresh_seconds = 300;
  std::string node_host = "127.0.0.1";
  uint16_t node_port = 0;
  std::string node_cert;
  std::string node_key;
  std::string node_client_ca;  // CA of the hub's client certificate
  std::string node_hub_cert;   // the hub's client certificate itself (pinned by its SHA-256)
  int64_t inquiry_timeout_seconds = 3600;
  // Long polls (GET /api/v1/inquiries/{id}?wait_ms=…) waiting at once: per existing-system
  // client, and in all; one more is answered 429.
  int long_polls_per_client = 16;
  int long_polls_total = 10'000;
  int64_t result_days = 30;
  // Inquiry and provision rows — the records of provision (情報提供等記録), kept 7 years by law —
  // are deleted this long after the inquiry ended / the permit was received.
  int64_t records_days = 2557;
  // A subject code nothing names and whose resident has nothing in the replica goes this long
  // after it was last registered.
  int64_t code_days = 365;
  // Dead outbox items (never delivered) are kept this long for an operator.
  int64_t dead_days = 30;
  // Audit log entries (the tenants' and the platform's) are pruned this long after they were
  // written, up to a signed checkpoint (audit::AuditLog::Prune).
  int64_t audit_days = 2557;
  int delivery_threads = 8;
  int64_t delivery_timeout_ms = 10'000;
  int delivery_max_attempts = 12;
  int64_t delivery_backoff_base_ms = 1'000;
  int64_t delivery_backoff_cap_ms = 600'000;
  int delivery_batch_items = 64;  // messages of one kind per request to the hub (1 = no batches)
  // How long a node's claim on an outbox item lasts: when a node dies, the items it held are
  // delivered by another node this long after their claim at the latest (renewed while held).
  int64_t delivery_lease_seconds = 60;
  int delivery_peer_requests = 2;  // such requests in flight per tenant and kind
  // Backpressure: while this many messages or more of one tenant wait to be sent to the hub,
  // its new inquiries are answered 429 and provision requests for it 503, with Retry-After
  // (store::OutboxBacklog); 0 = never.
  int64_t delivery_max_backlog = 1000;
  // How often the outbox is looked at for messages nobody announced (retries that came due,
  // what another node queued); a commit that queues a message wakes delivery at once. 10 ms to
  // 1 h; the bench network of `chukan bench icount` sets it long, so that only linkages move.
  int64_t delivery_poll_interval_ms = 200;

  // [console]: the staff web console under /console/ (docs/console.md).
  bool console_enabled = true;
  int64_t console_idle_minutes = 15;     // a session unused this long ends
  int64_t console_absolute_hours = 8;    // a session ends this long after login whatever
  int64_t console_max_failures = 5;      // failed logins in a row that lock an account
  int64_t console_lockout_minutes = 15;  // how long the lock lasts
  int64_t console_password_checks = 4;   // argon2id checks at once (one organisation: half)
  int64_t console_uploads = 4;           // streamed uploads at once (one member: half)

  std::string master_key_file() const { return keys_dir + "/master.key"; }
  std::string audit_key_file() const { return keys_dir + "/audit-signing.key"; }
};

// Reads and validates `path`. Errors name the file, line and key (common/config.h), e.g.
// "chukan.toml:4: key 'store.backend': expected \"sqlite\" or \"postgres\"".
Result<ServerConfig> LoadServerConfig(const std::string& path);

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_SERVER_CONFIG_H_
