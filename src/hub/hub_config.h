// HubConfig: the settings of the reference network hub (`chukan hub --config FILE`), read from
// TOML; the hub's admin commands (`chukan hub org …`, `chukan hub permissions load`) read the
// same file, so they act on the same store. Unknown keys are refused; errors name file and key.
//
//   [hub]              host, port, threads (io), workers (request workers), instance
//   [tls]              cert, key, client_ca    (required: the hub speaks only mutual TLS)
//   [store]            as store/store_config.h (the hub's tables live in its "platform"
//                      database: <data_dir>/platform.db, or schema <pg_prefix>_platform)
//   [keys]             dir (default <data_dir>/keys): hub-signing.key, code-secret.key,
//                      audit-signing.key
//   [layout]           dir (default "data/layout")
//   [permits]          validity_seconds (600), approval_validity_seconds (259200: 3 days,
//                      for TMs whose answers wait for a staff approval)
//   [permission_list]  validity_seconds (86400): lifetime of each published, signed copy
//   [delivery]         threads (16), timeout_ms (10000), max_attempts (12),
//                      backoff_base_ms (1000), backoff_cap_ms (600000), lease_seconds (60),
//                      batch (256), batch_items (64), peer_requests (2), max_backlog (2000),
//                      poll_interval_ms (200)
//   [records]          retention_days (2557 = 7 years, the legal minimum), permit_days (30),
//                      delivered_hours (24), dead_days (30), audit_days (2557), sweep_batch (5000),
//                      sweep_interval_seconds (3600)
//   [log]              level, path
//
// An immutable value type.
#ifndef CHUKAN_HUB_HUB_CONFIG_H_
#define CHUKAN_HUB_HUB_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "common/log.h"
#include "common/status.h"
#include "store/tenant_store.h"

namespace chukan::hub {

struct DeliveryConfig {
  int threads = 16;
  std::chrono::milliseconds timeout{10'000};
  int max_attempts = 12;
  std::chrono::milliseconds backoff_base{1'000};
  std::chrono::milliseconds backoff_cap{600'000};
  std::chrono::seconds lease{60};
  int batch = 256;
  // Messages of one kind to one organisation travel together, at most `batch_items` per request
  // (1 = one message per request), with at most `peer_requests` such requests in flight.
  int batch_items = 64;
  int peer_requests = 2;
  // Backpressure: while this many messages or more wait to be delivered, new permit requests
  // are answered 503 with Retry-After (store::OutboxBacklog); 0 = never.
  int64_t max_backlog = 2000;
  // How often the outbox is looked at for messages nobody announced (retries that came due,
  // what another hub node queued); a commit that queues a message wakes delivery at once.
  std::chrono::milliseconds poll_interval{200};
};

struct HubConfig {
  std::string source;
  std::string host = "127.0.0.1";
  uint16_t port = 8443;
  int threads = 2;
  int workers = 64;
  // Names this hub process's outbox leases ("<instance>:<boot>"), so that a restarted hub
  // releases the leases of its previous run at once. Unique per hub process sharing a store.
  std::string instance = "hub-1";
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  store::StoreOptions store;
  std::string keys_dir;
  // [audit] checkpoint_dir: an exported copy of the hub's signed audit checkpoints
  // (<dir>/hub.checkpoints.jsonl); empty: none.
  std::string audit_checkpoint_dir;
  std::string layout_dir;
  std::chrono::seconds permit_validity{600};
  // For TMs with 自動応答不可 data, whose answers wait for a staff approval.
  std::chrono::seconds approval_permit_validity{259'200};
  std::chrono::seconds list_validity{86'400};
  DeliveryConfig delivery;
  // Retention (docs/storage.md, "Retention of every table"). Records of provision
  // (情報提供等記録) are kept `retention_days` after they were requested: 7 years at least.
  int64_t retention_days = 2557;
  // The hub's audit log entries: pruned this long after they were written, up to a signed
  // checkpoint (audit::AuditLog::Prune); 7 years at least, as the records they describe.
  int64_t audit_days = 2557;
  // Permits are kept this long after they expired, so that a late re-sent envelope is still
  // recognised as a replay rather than an unknown permit (the record keeps the permit id).
  int64_t permit_days = 30;
  // Delivered outbox rows (dedupe of a repeated send) and dead ones (for the operator).
  int64_t delivered_hours = 24;
  int64_t dead_days = 30;
  // Rows deleted per transaction: a purge of millions of rows goes in short transactions
  // between which linkage writes go on.
  int64_t sweep_batch = 5'000;
  std::chrono::seconds sweep_interval{3'600};
  log::Options log;

  std::string signing_key_file() const { return keys_dir + "/hub-signing.key"; }
  std::string code_secret_file() const { return keys_dir + "/code-secret.key"; }
  std::string audit_key_file() const { return keys_dir + "/audit-signing.key"; }
};

// Reads and validates `path`. Errors name the file, line and key.
Result<HubConfig> LoadHubConfig(const std::string& path);

}  // namespace chukan::hub

#endif  // CHUKAN_HUB_HUB_CONFIG_H_
