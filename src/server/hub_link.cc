#include "server/hub_link.h"

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <vector>

#include "common/log.h"
#include "crypto/bytes.h"
#include "json/json.h"

namespace chukan::server {

Result<std::unique_ptr<HubLink>> HubLink::Create(Options options, const Clock& clock) {
  std::ifstream in(options.public_key_file);
  if (!in) return NotFoundError(options.public_key_file + ": cannot open the hub's public key");
  std::string hex;
  in >> hex;
  Result<crypto::Bytes> raw = crypto::FromHex(hex);
  if (!raw.ok() || raw->size() != 32) {
    return InvalidArgumentError(options.public_key_file +
                                ": expected the hub's Ed25519 public key as 64 hex digits");
  }
  ASSIGN_OR_RETURN(crypto::VerifyKey key, crypto::VerifyKey::FromBytes(*raw));
  return std::unique_ptr<HubLink>(new HubLink(std::move(options), std::move(key), clock));
}

Result<std::shared_ptr<http::Client>> HubLink::MakeClient(const OrgCode& as) const {
  http::ClientOptions o;
  o.ca_file = options_.ca_file;
  o.cert_file = options_.tenant_tls_dir + "/" + as.str() + ".crt";
  o.key_file = options_.tenant_tls_dir + "/" + as.str() + ".key";
  o.request_timeout = options_.timeout;
  o.max_idle_per_host = 32;
  struct stat st;
  if (::stat(o.cert_file.c_str(), &st) != 0) {
    return FailedPreconditionError("tenant " + as.str() + " has no TLS certificate for the hub (" +
                                   o.cert_file + ")");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<http::Client> client, http::Client::Create(o));
  return std::shared_ptr<http::Client>(std::move(client));
}

Result<std::shared_ptr<http::Client>> HubLink::ClientFor(const OrgCode& as) {
  {
    MutexLock lock(mu_);
    if (auto it = clients_.find(as); it != clients_.end()) return it->second;
  }
  ASSIGN_OR_RETURN(std::shared_ptr<http::Client> made, MakeClient(as));
  MutexLock lock(mu_);
  // Another thread may have made one meanwhile: the first kept wins.
  return clients_.emplace(as, std::move(made)).first->second;
}

Result<int> HubLink::ReloadTls() {
  std::vector<OrgCode> orgs;
  {
    MutexLock lock(mu_);
    for (const auto& [org, client] : clients_) orgs.push_back(org);
  }
  std::map<OrgCode, std::shared_ptr<http::Client>> fresh;
  for (const OrgCode& org : orgs) {
    Result<std::shared_ptr<http::Client>> c = MakeClient(org);
    if (!c.ok()) {
      return c.status().WithContext("hub link: TLS not reloaded, the previous files stay in use");
    }
    fresh.emplace(org, std::move(*c));
  }
  MutexLock lock(mu_);
  for (auto& [org, client] : fresh) clients_[org] = std::move(client);
  return static_cast<int>(fresh.size());
}

Result<http::Response> HubLink::Post(const OrgCode& as, std::string_view path, std::string body) {
  ASSIGN_OR_RETURN(std::shared_ptr<http::Client> client, ClientFor(as));
  http::ClientRequest req;
  req.method = "POST";
  req.url = options_.url + std::string(path);
  req.headers.Add("Content-Type", "application/json");
  req.body = std::move(body);
  return client->Send(req);
}

Result<http::Response> HubLink::Get(const OrgCode& as, std::string_view path) {
  ASSIGN_OR_RETURN(std::shared_ptr<http::Client> client, ClientFor(as));
  http::ClientRequest req;
  req.url = options_.url + std::string(path);
  return client->Send(req);
}

Status HubLink::RefreshPermissionList(const OrgCode& as) {
  auto fail = [&](Status s) {
    MutexLock lock(mu_);
    list_error_ = s.message();
    return s;
  };
  std::string held_etag;
  {
    MutexLock lock(mu_);
    if (list_) held_etag = list_etag_;
  }
  Result<std::shared_ptr<http::Client>> client = ClientFor(as);
  if (!client.ok()) return fail(client.status().WithContext("fetching the permission list"));
  http::ClientRequest req;
  req.url = options_.url + "/hub/v1/permission-list";
  if (!held_etag.empty()) req.headers.Set("If-None-Match", held_etag);
  Result<http::Response> r = (*client)->Send(req);
  if (!r.ok()) return fail(r.status().WithContext("fetching the permission list"));
  if (r->status == 304 && !held_etag.empty()) {
    MutexLock lock(mu_);
    list_error_.clear();
    ++list_fetches_.not_modified;
    return Status();
  }
  if (r->status != 200) {
    return fail(
        UnavailableError("fetching the permission list: HTTP " + std::to_string(r->status)));
  }
  Result<linkage::PermissionList> list =
      linkage::VerifyPublishedList(r->body, hub_key_, clock_.Now());
  if (!list.ok()) return fail(list.status().WithContext("the hub's permission list"));
  MutexLock lock(mu_);
  const bool changed = !list_ || list_->version() != list->version();
  list_ = std::make_shared<linkage::PermissionList>(std::move(*list));
  list_etag_ = std::string(r->headers.Get("ETag").value_or(""));
  list_error_.clear();
  ++list_fetches_.verified;
  if (changed) {
    log::Info("server.permission_list_loaded", {{"version", list_->version()}});
  }
  return Status();
}

HubLink::ListFetches HubLink::list_fetches() const {
  MutexLock lock(mu_);
  return list_fetches_;
}

Result<std::shared_ptr<const linkage::PermissionList>> HubLink::PermissionList() const {
  MutexLock lock(mu_);
  if (!list_) {
    return FailedPreconditionError(
        "no valid permission list copy (照会許可用照合リストがありません): " + list_error_);
  }
  if (ToUnixMicros(clock_.Now()) / 1000 >= list_->expires_at_ms()) {
    return FailedPreconditionError("the permission list copy expired at " +
                                   FormatRfc3339(FromUnixMicros(list_->expires_at_ms() * 1000)) +
                                   " (照会許可用照合リストの有効期限切れ): " + list_error_);
  }
  return list_;
}

namespace {

// The keys of GET /hub/v1/orgs/{org}: "sign_keys" [{kid, key, not_before_ms, not_after_ms?}], or
// a hub's before key rotation: the one "sign_key".
Result<std::vector<OrgKeyRecord>> ParseOrgKeys(const json::JsonObject& o) {
  std::vector<OrgKeyRecord> out;
  if (!o.Has("sign_keys")) {
    ASSIGN_OR_RETURN(std::string key_text, o.GetString("sign_key", 64));
    ASSIGN_OR_RETURN(crypto::Bytes raw, crypto::FromBase64Url(key_text));
    ASSIGN_OR_RETURN(crypto::VerifyKey key, crypto::VerifyKey::FromBytes(raw));
    out.push_back({{linkage::KeyIdOf(key), key}, 0, std::nullopt});
    return out;
  }
  ASSIGN_OR_RETURN(std::vector<json::JsonObject> keys, o.GetObjectArray("sign_keys", 16));
  for (const json::JsonObject& k : keys) {
    ASSIGN_OR_RETURN(std::string key_text, k.GetString("key", 64));
    ASSIGN_OR_RETURN(crypto::Bytes raw, crypto::FromBase64Url(key_text));
    ASSIGN_OR_RETURN(crypto::VerifyKey key, crypto::VerifyKey::FromBytes(raw));
    ASSIGN_OR_RETURN(std::string kid, k.GetString("kid", 16));
    if (kid != linkage::KeyIdOf(key)) {
      return InvalidArgumentError("sign_keys: a kid is not its key's id");
    }
    OrgKeyRecord r{{std::move(kid), std::move(key)}, 0, std::nullopt};
    ASSIGN_OR_RETURN(r.not_before_ms, k.GetInt("not_before_ms", 0, int64_t{1} << 53));
    ASSIGN_OR_RETURN(r.not_after_ms, k.GetOptionalInt("not_after_ms", 0, int64_t{1} << 53));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace

Result<std::vector<OrgKeyRecord>> HubLink::OrgKeys(const OrgCode& as, const OrgCode& org,
                                                   std::string_view kid) {
  const TimePoint now = clock_.Now();
  {
    MutexLock lock(mu_);
    if (auto it = org_keys_.find(org);
        it != org_keys_.end() && now - it->second.fetched < kOrgKeyLifetime) {
      const std::vector<OrgKeyRecord>& keys = it->second.keys;
      const bool known = kid.empty() || std::any_of(keys.begin(), keys.end(), [&](const auto& k) {
                           return k.key.kid == kid;
                         });
      if (known || now - it->second.fetched < kOrgKeyRefetch) return keys;
    }
  }
  ASSIGN_OR_RETURN(http::Response r, Get(as, "/hub/v1/orgs/" + org.str()));
  if (r.status != 200) {
    return UnavailableError("the hub did not give the keys of " + org.str() + ": HTTP " +
                            std::to_string(r.status));
  }
  ASSIGN_OR_RETURN(json::JsonObject o, json::ParseJsonObject(r.body));
  ASSIGN_OR_RETURN(std::string state, o.GetString("state", 32));
  if (state != "active") {
    MutexLock lock(mu_);
    org_keys_.erase(org);
    return PermissionDeniedError("organisation " + org.str() + " is " + state + " at the hub");
  }
  Result<std::vector<OrgKeyRecord>> keys = ParseOrgKeys(o);
  if (!keys.ok()) return keys.status().WithContext("the hub's keys of " + org.str());
  MutexLock lock(mu_);
  org_keys_.insert_or_assign(org, CachedKeys{*keys, now});
  return keys;
}

}  // namespace chukan::server
