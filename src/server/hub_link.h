// HubLink: the intermediate server's side of the connection to the hub (情報提供ネットワーク
// システム). Each tenant talks to the hub as its own organisation, over mutual TLS with its own
// client certificate (<tenant_tls_dir>/<org_code>.crt/.key), so the hub authenticates the
// organisation and not the platform. HubLink also holds the hub's public key (the trust anchor
// of permits and of the permission list), the verified copy of the permission list, and a
// cache of other organisations' envelope-signing keys.
//
// Thread-safety: thread-safe. Calls block (HTTP round trips).
#ifndef CHUKAN_SERVER_HUB_LINK_H_
#define CHUKAN_SERVER_HUB_LINK_H_

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/ids.h"
#include "common/mutex.h"
#include "common/status.h"
#include "crypto/ed25519.h"
#include "http/client.h"
#include "linkage/permission_list.h"
#include "server/hub_port.h"

namespace chukan::server {

class HubLink final : public HubPort {
 public:
  struct Options {
    std::string url;              // https://host:port
    std::string ca_file;          // CA of the hub's server certificate
    std::string public_key_file;  // the hub's Ed25519 public key, 64 hex digits
    std::string tenant_tls_dir;   // <org_code>.crt / <org_code>.key per tenant
    std::chrono::milliseconds timeout{10'000};
  };

  // Reads the hub's public key. Errors: kNotFound / kInvalidArgument naming the file.
  static Result<std::unique_ptr<HubLink>> Create(Options options,
                                                 const Clock& clock = SystemClock::Get());

  // One request to the hub as organisation `as`. Errors: those of http::Client (transport);
  // kFailedPrecondition when the tenant has no certificate in tenant_tls_dir.
  Result<http::Response> Post(const OrgCode& as, std::string_view path, std::string body) override
      EXCLUDES(mu_);
  Result<http::Response> Get(const OrgCode& as, std::string_view path) EXCLUDES(mu_);

  const crypto::VerifyKey& hub_key() const override { return hub_key_; }

  // Fetches the permission list as `as`, verifies the hub's signature and expiry, and keeps
  // it. On failure the previous copy stays (and keeps expiring). Errors name the cause.
  // Asks with If-None-Match (the ETag of the copy held): a hub that answers 304 has nothing
  // newer, and the copy verified before is kept without parsing or verifying anything. The hub
  // re-signs at a tenth of the list's validity, so a 304 never outlives the copy's expiry.
  Status RefreshPermissionList(const OrgCode& as) EXCLUDES(mu_);
  // How the refreshes ended: copies verified (a 200), and answers that the copy held is
  // current (a 304).
  struct ListFetches {
    int64_t verified = 0;
    int64_t not_modified = 0;
  };
  ListFetches list_fetches() const EXCLUDES(mu_);
  // The current copy, if it is still valid now. kFailedPrecondition saying why otherwise
  // ("no permission list copy has been fetched: <last error>" / "… expired at <time>").
  Result<std::shared_ptr<const linkage::PermissionList>> PermissionList() const override
      EXCLUDES(mu_);

  // The envelope-signing keys of `org`, from GET /hub/v1/orgs/{org} (asked as `as`: its
  // `sign_keys`, or the one `sign_key` of a hub that predates them), cached for kOrgKeyLifetime:
  // a key the hub's registry disabled, or an organisation it disabled, stops being trusted
  // within that time. A `kid` the cached list lacks (a key registered since) is asked again at
  // once, at most once per kOrgKeyRefetch per organisation. kPermissionDenied when the hub says
  // the organisation is not active; kUnavailable when the hub cannot be asked; kInvalidArgument
  // for an answer that does not parse.
  static constexpr std::chrono::seconds kOrgKeyLifetime{60};
  static constexpr std::chrono::seconds kOrgKeyRefetch{1};
  Result<std::vector<OrgKeyRecord>> OrgKeys(const OrgCode& as, const OrgCode& org,
                                            std::string_view kid) override EXCLUDES(mu_);

  // Reads the TLS files again (the hub's CA, each tenant's certificate and key in
  // tenant_tls_dir): the next requests use them, requests in flight finish with the old ones.
  // All or nothing: when one tenant's files do not load, nothing changes and the error names
  // the file. Returns how many tenants' clients were remade.
  Result<int> ReloadTls() EXCLUDES(mu_);

 private:
  HubLink(Options options, crypto::VerifyKey hub_key, const Clock& clock)
      : options_(std::move(options)), hub_key_(std::move(hub_key)), clock_(clock) {}
  // The tenant's client, made on first use (outside the lock: it reads files).
  Result<std::shared_ptr<http::Client>> ClientFor(const OrgCode& as) EXCLUDES(mu_);
  Result<std::shared_ptr<http::Client>> MakeClient(const OrgCode& as) const;

  const Options options_;
  const crypto::VerifyKey hub_key_;
  const Clock& clock_;
  mutable Mutex mu_;
  // The map is guarded; a client is thread-safe and lives while the map or a request holds it
  // (ReloadTls replaces it).
  std::map<OrgCode, std::shared_ptr<http::Client>> clients_ GUARDED_BY(mu_);
  std::shared_ptr<const linkage::PermissionList> list_ GUARDED_BY(mu_);
  std::string list_error_ GUARDED_BY(mu_) = "not fetched yet";
  std::string list_etag_ GUARDED_BY(mu_);  // of list_; empty when the hub sent none
  ListFetches list_fetches_ GUARDED_BY(mu_);
  struct CachedKeys {
    std::vector<OrgKeyRecord> keys;
    TimePoint fetched;
  };
  std::map<OrgCode, CachedKeys> org_keys_ GUARDED_BY(mu_);
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_HUB_LINK_H_
