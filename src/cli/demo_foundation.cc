// `chukan demo`, steps 1–16: the foundation, in this process — a development CA and
// certificates, per-tenant storage on SQLite, an HTTPS server requiring mutual TLS that maps
// client certificates to organisations, refusal of clients without a certificate or from another
// CA, the cryptography a linkage uses (sealed payload, signed canonical permit, tenant data key
// wrapped under a master key), and hash-chained audit logs whose tampering is detected; then the
// intermediate server's provision database: tenants with client tokens, a replica import over
// the API, view and export (export = input), a bad file refused with line and item named, and
// tenant isolation. These exercise the components one by one, so they assemble them here
// rather than through IntermediateServer.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "audit/audit_log.h"
#include "cli/demo_steps.h"
#include "common/ids.h"
#include "crypto/aead.h"
#include "crypto/bytes.h"
#include "crypto/canonical_json.h"
#include "crypto/ed25519.h"
#include "crypto/key_wrap.h"
#include "crypto/sealed_box.h"
#include "crypto/secret_bytes.h"
#include "http/client.h"
#include "http/server.h"
#include "layout/catalogue_loader.h"
#include "pki/certificate_authority.h"
#include "server/api_auth.h"
#include "server/platform.h"
#include "server/replica_api.h"
#include "store/tenant_store.h"

namespace chukan::cli {

namespace fs = std::filesystem;

void RunFoundationSteps(Steps& steps, const DemoArgs& args, const fs::path& work) {
  const std::string pki_dir = (work / "pki").string();
  const std::string rogue_dir = (work / "rogue-pki").string();
  std::unique_ptr<store::TenantStore> tenants;
  crypto::SigningKey platform_key = crypto::SigningKey::Generate();
  std::unique_ptr<audit::AuditLog> platform_log;
  std::unique_ptr<http::Server> server;
  const OrgCode city_a = OrgCode::Parse(kCityA).value();
  const OrgCode city_b = OrgCode::Parse(kCityB).value();
  const OrgCode insurer = OrgCode::Parse(kInsurer).value();

  steps.Run(
      "開発用認証局と証明書の発行", "development CA and certificates",
      [&]() -> Result<std::string> {
        ASSIGN_OR_RETURN(auto ca, pki::CertificateAuthority::Init(pki_dir));
        RETURN_IF_ERROR(ca->Issue({"server", std::nullopt, {"127.0.0.1"}, false, 30}).status());
        RETURN_IF_ERROR(ca->Issue({"city-a", city_a, {}, true, 30}).status());
        RETURN_IF_ERROR(ca->Issue({"city-b", city_b, {}, true, 30}).status());
        ASSIGN_OR_RETURN(auto rogue, pki::CertificateAuthority::Init(rogue_dir, "rogue CA"));
        RETURN_IF_ERROR(rogue->Issue({"impostor", city_a, {}, true, 30}).status());
        return std::string("CA + server + city-a (" + city_a.str() + ") + city-b (" + city_b.str() +
                           "); a rogue CA for the refusal test");
      });

  steps.Run(
      "テナント別ストレージ (SQLite)", "per-tenant storage (SQLite)", [&]() -> Result<std::string> {
        store::StoreOptions o;
        o.data_dir = (work / "data").string();
        ASSIGN_OR_RETURN(tenants, store::TenantStore::Open(o));
        ASSIGN_OR_RETURN(auto platform, tenants->Platform());
        audit::AuditLog::Options lo;
        lo.checkpoint_key = &platform_key;
        lo.checkpoint_every = 4;
        ASSIGN_OR_RETURN(platform_log, audit::AuditLog::Open(platform, lo));
        for (const OrgCode& org : {city_a, city_b, insurer}) {
          RETURN_IF_ERROR(tenants->CreateTenant(TenantId::ForOrg(org)));
          RETURN_IF_ERROR(platform_log
                              ->Append({"platform", "cli:demo", "tenant.create",
                                        "tenant " + TenantId::ForOrg(org).str(), "ok", ""})
                              .status());
        }
        ASSIGN_OR_RETURN(auto list, tenants->ListTenants());
        RETURN_IF_ERROR(Check(list.size() == 3, "three tenants listed"));
        // A tenant handle cannot reach another tenant's file.
        ASSIGN_OR_RETURN(auto db_a, tenants->Tenant(TenantId::ForOrg(city_a)));
        ASSIGN_OR_RETURN(auto tx, db_a->Begin());
        Status attach = tx->Exec("ATTACH DATABASE '" +
                                 tenants->TenantPath(TenantId::ForOrg(city_b)) + "' AS other");
        RETURN_IF_ERROR(Check(attach.code() == StatusCode::kPermissionDenied,
                              "ATTACH of another tenant refused, got " + attach.ToString()));
        return std::string("3 tenants; city-a's handle refused to ATTACH city-b's file (") +
               std::string(StatusCodeName(attach.code())) + ")";
      });

  steps.Run(
      "相互TLSのHTTPSサーバー起動", "HTTPS server with mutual TLS", [&]() -> Result<std::string> {
        http::Router router;
        RETURN_IF_ERROR(router.Add("GET", "/demo/v1/whoami", [&](http::Request& req) {
          const auto& id = req.peer.identity;
          const std::string org = id && id->org ? id->org->str() : "";
          const std::string scope = org.empty() ? "platform" : TenantId::ForOrg(*id->org).str();
          (void)platform_log->Append({"platform", "org:" + (org.empty() ? "unknown" : org),
                                      "demo.whoami", scope, "ok", req.request_id.str()});
          return http::Response::Json(200, "{\"org_code\":\"" + org + "\"}");
        }));
        http::ServerOptions so;
        so.tls = true;
        so.tls_options = {pki_dir + "/server.crt", pki_dir + "/server.key", pki_dir + "/ca.crt",
                          true};
        ASSIGN_OR_RETURN(server, http::Server::Create(so, std::move(router)));
        RETURN_IF_ERROR(server->Start());
        return "listening on https://127.0.0.1:" + std::to_string(server->port()) +
               " (TLS 1.3, client certificate required)";
      });

  auto url = [&](const std::string& path) {
    return "https://127.0.0.1:" + std::to_string(server ? server->port() : 0) + path;
  };

  steps.Run(
      "証明書から機関を識別", "client certificate → organisation", [&]() -> Result<std::string> {
        ASSIGN_OR_RETURN(auto client,
                         http::Client::Create({pki_dir + "/ca.crt", pki_dir + "/city-a.crt",
                                               pki_dir + "/city-a.key"}));
        ASSIGN_OR_RETURN(http::Response health, client->Send({"GET", url("/healthz"), {}, ""}));
        RETURN_IF_ERROR(Check(health.status == 200, "/healthz answers 200"));
        ASSIGN_OR_RETURN(http::Response who, client->Send({"GET", url("/demo/v1/whoami"), {}, ""}));
        RETURN_IF_ERROR(Check(who.status == 200, "whoami answers 200"));
        RETURN_IF_ERROR(Check(who.body == std::string("{\"org_code\":\"") + kCityA + "\"}",
                              "server saw city-a's org code, got " + who.body));
        return "city-a's certificate was mapped to org " + std::string(kCityA);
      });

  steps.Run("証明書なしの接続を拒否", "client without a certificate refused",
            [&]() -> Result<std::string> {
              ASSIGN_OR_RETURN(auto client, http::Client::Create({pki_dir + "/ca.crt", "", ""}));
              Result<http::Response> r = client->Send({"GET", url("/demo/v1/whoami"), {}, ""});
              RETURN_IF_ERROR(Check(!r.ok(), "request without certificate must fail"));
              return "refused: " + r.status().ToString();
            });

  steps.Run("他の認証局の証明書を拒否", "certificate from another CA refused",
            [&]() -> Result<std::string> {
              ASSIGN_OR_RETURN(auto client, http::Client::Create({pki_dir + "/ca.crt",
                                                                  rogue_dir + "/impostor.crt",
                                                                  rogue_dir + "/impostor.key"}));
              Result<http::Response> r = client->Send({"GET", url("/demo/v1/whoami"), {}, ""});
              RETURN_IF_ERROR(Check(!r.ok(), "request with a rogue certificate must fail"));
              return "refused: " + r.status().ToString();
            });

  steps.Run(
      "照会結果の封緘と開封", "sealed answer: only the inquirer opens it",
      [&]() -> Result<std::string> {
        crypto::BoxKeyPair reply = crypto::BoxKeyPair::Generate();  // the inquiry's reply key
        const std::string answer =
            R"({"TM00000000000002":{"fiscal_year":2026,"taxable_income":3120000}})";
        ASSIGN_OR_RETURN(
            crypto::Bytes sealed,
            crypto::Seal(reply.public_key(), crypto::Bytes(answer.begin(), answer.end())));
        ASSIGN_OR_RETURN(crypto::SecretBytes opened, crypto::Open(reply, sealed));
        RETURN_IF_ERROR(
            Check(std::string(opened.AsStringView()) == answer, "opened equals original"));
        crypto::BoxKeyPair other = crypto::BoxKeyPair::Generate();  // e.g. the hub
        RETURN_IF_ERROR(Check(!crypto::Open(other, sealed).ok(), "another key cannot open it"));
        return std::to_string(sealed.size()) + "-byte envelope; a different key cannot open it";
      });

  steps.Run("提供許可証の署名と検証", "signed provision permit (canonical JSON)",
            [&]() -> Result<std::string> {
              crypto::SigningKey hub = crypto::SigningKey::Generate();
              const std::string permit =
                  R"({"permit_id":"01JD8Y3Q4M6Z","provider":")" + std::string(kCityB) +
                  R"(","inquirer":")" + std::string(kCityA) +
                  R"(","tm":"TM00000000000002","expires_at":"2026-04-01T00:10:00Z"})";
              ASSIGN_OR_RETURN(crypto::Bytes sig, crypto::SignCanonical(hub, permit));
              // The same object reformatted still verifies: the signature covers the canonical
              // form.
              std::string reformatted = permit;
              reformatted.insert(1, "\n  ");
              RETURN_IF_ERROR(crypto::VerifyCanonical(hub.verify_key(), reformatted, sig));
              std::string forged = permit;
              forged.replace(forged.find(kCityB), 16, kInsurer);
              Status bad = crypto::VerifyCanonical(hub.verify_key(), forged, sig);
              RETURN_IF_ERROR(Check(bad.code() == StatusCode::kUnauthenticated,
                                    "a permit with another provider must not verify"));
              return "verified after reformatting; a changed provider is refused (" +
                     std::string(StatusCodeName(bad.code())) + ")";
            });

  steps.Run(
      "テナント鍵による保存時暗号化", "data at rest under a wrapped tenant key",
      [&]() -> Result<std::string> {
        crypto::SecretBytes master = crypto::SecretBytes::Random(32);
        crypto::SecretBytes data_key = crypto::SecretBytes::Random(32);
        const std::string tenant = TenantId::ForOrg(city_a).str();
        ASSIGN_OR_RETURN(crypto::Bytes wrapped, crypto::WrapKey(master, data_key, tenant));
        const std::string value = "marker-3120000";
        const std::string ad = tenant + "/replica/row-1";
        ASSIGN_OR_RETURN(crypto::Bytes ct,
                         crypto::Encrypt(data_key, crypto::Bytes(value.begin(), value.end()),
                                         crypto::Bytes(ad.begin(), ad.end())));
        ASSIGN_OR_RETURN(crypto::SecretBytes unwrapped, crypto::UnwrapKey(master, wrapped, tenant));
        ASSIGN_OR_RETURN(crypto::SecretBytes pt,
                         crypto::Decrypt(unwrapped, ct, crypto::Bytes(ad.begin(), ad.end())));
        RETURN_IF_ERROR(Check(std::string(pt.AsStringView()) == value, "decrypts to the value"));
        const std::string other_ad = tenant + "/replica/row-2";
        RETURN_IF_ERROR(Check(
            !crypto::Decrypt(unwrapped, ct, crypto::Bytes(other_ad.begin(), other_ad.end())).ok(),
            "a ciphertext moved to another row must not decrypt"));
        return "value encrypted, key wrapped; a row moved elsewhere fails to decrypt";
      });

  steps.Run("監査ログの検証", "audit chains verify", [&]() -> Result<std::string> {
    ASSIGN_OR_RETURN(auto platform, tenants->Platform());
    ASSIGN_OR_RETURN(int64_t cp, platform_log->Checkpoint());
    ASSIGN_OR_RETURN(audit::VerifyReport r,
                     audit::Verify(*platform, {{platform_key.verify_key()}, 1000}));
    RETURN_IF_ERROR(Check(r.ok, "platform chain intact: " + r.problem));
    RETURN_IF_ERROR(Check(r.entries == 4, "4 entries (3 tenants created + 1 API call), got " +
                                              std::to_string(r.entries)));
    return std::to_string(r.entries) + " entries, " + std::to_string(r.checkpoints) +
           " signed checkpoints (last at seq " + std::to_string(cp) + ")";
  });

  steps.Run("改ざんの検出", "tampering detected", [&]() -> Result<std::string> {
    // Work on a copy: edit entry 2 as an attacker with file access would.
    const fs::path copy = work / "tampered-platform.db";
    ASSIGN_OR_RETURN(auto platform, tenants->Platform());
    // The server is stopped by now and nothing writes: copying the file and its WAL gives a
    // consistent snapshot, which SQLite recovers on open.
    RETURN_IF_ERROR(platform->Close());
    const std::string src = (work / "data" / "platform.db").string();
    for (const char* suffix : {"", "-wal"}) {
      std::error_code ec;
      if (fs::exists(src + suffix)) fs::copy_file(src + suffix, copy.string() + suffix, ec);
      if (ec) return InternalError("copy " + src + suffix + ": " + ec.message());
    }
    store::SqliteOptions o;
    o.path = copy.string();
    o.create = false;
    ASSIGN_OR_RETURN(auto db, store::OpenSqlite(o));
    {
      ASSIGN_OR_RETURN(auto tx, db->Begin());
      RETURN_IF_ERROR(tx->Exec("DROP TRIGGER audit_log_no_update"));
      RETURN_IF_ERROR(tx->Exec("UPDATE audit_log SET actor = 'staff:mallory' WHERE seq = 2"));
      RETURN_IF_ERROR(tx->Commit());
    }
    ASSIGN_OR_RETURN(audit::VerifyReport r, audit::Verify(*db));
    RETURN_IF_ERROR(Check(!r.ok && r.first_bad_seq == 2, "edit of entry 2 detected"));
    return "entry 2 edited in a copy → " + r.problem;
  });

  // 情報提供データベース (DBM): the intermediate server's replica API, as an existing system uses
  // it.
  std::unique_ptr<server::Platform> platform;
  std::shared_ptr<const layout::Catalogue> catalogue;
  std::unique_ptr<server::ApiAuth> api_auth;
  std::unique_ptr<server::ReplicaApi> replica_api;
  std::unique_ptr<http::Server> api_server;
  std::unique_ptr<http::Client> api_client;
  std::string token_a, token_b;
  auto api = [&](const std::string& token, const std::string& method, const std::string& path,
                 std::string body) -> Result<http::Response> {
    http::ClientRequest req{method,
                            "http://127.0.0.1:" + std::to_string(api_server->port()) + path,
                            {},
                            std::move(body)};
    req.headers.Set("Authorization", "Bearer " + token);
    if (!req.body.empty()) req.headers.Set("Content-Type", "text/csv");
    return api_client->Send(req);
  };

  steps.Run(
      "中間サーバーとテナント・利用者", "server with tenants and client tokens",
      [&]() -> Result<std::string> {
        server::ServerConfig cfg;
        cfg.store.data_dir = (work / "server-data").string();
        cfg.keys_dir = (work / "server-data" / "keys").string();
        ASSIGN_OR_RETURN(catalogue, layout::LoadCatalogue(args.layout_dir));
        ASSIGN_OR_RETURN(platform,
                         server::Platform::Open(cfg, true, SystemClock::Get(), catalogue));
        RETURN_IF_ERROR(platform->CreateTenant(city_a, "札幌市 (demo)", "cli:demo").status());
        RETURN_IF_ERROR(platform->CreateTenant(city_b, "函館市 (demo)", "cli:demo").status());
        ASSIGN_OR_RETURN(token_a, platform->AddClient(city_a, "juki", "system", "cli:demo"));
        ASSIGN_OR_RETURN(token_b, platform->AddClient(city_b, "juki", "system", "cli:demo"));
        api_auth = std::make_unique<server::ApiAuth>(*platform);
        replica_api = std::make_unique<server::ReplicaApi>(*api_auth, catalogue, uint64_t{1} << 30);
        http::Router router;
        RETURN_IF_ERROR(replica_api->Register(router));
        ASSIGN_OR_RETURN(api_server, http::Server::Create({}, std::move(router)));
        RETURN_IF_ERROR(api_server->Start());
        ASSIGN_OR_RETURN(api_client, http::Client::Create({}));
        return "catalogue with " + std::to_string(catalogue->infos().size()) +
               " TMs; 2 tenants; tokens issued; API on port " + std::to_string(api_server->port());
      });

  const std::string sample = SampleTaxCsv(50);
  steps.Run("副本の取込", "replica import (地方税関係情報)", [&]() -> Result<std::string> {
    if (!api_server) return FailedPreconditionError("the server did not start");
    ASSIGN_OR_RETURN(http::Response r,
                     api(token_a, "POST", "/api/v1/replica/imports?tm=TM00000000000002", sample));
    RETURN_IF_ERROR(Check(r.status == 201, "201 Created, got " + std::to_string(r.status) + ": " +
                                               r.body.substr(0, 300)));
    RETURN_IF_ERROR(Check(r.body.find("\"inserted\":50") != std::string::npos, "50 inserted"));
    return "50 records imported, validated against the layout and sealed at rest";
  });

  steps.Run(
      "副本の表示と照合用出力", "view and export (export = input)", [&]() -> Result<std::string> {
        if (!api_server) return FailedPreconditionError("the server did not start");
        ASSIGN_OR_RETURN(
            http::Response view,
            api(token_a, "GET", "/api/v1/replica/records?atena_no=000000000000007", ""));
        RETURN_IF_ERROR(
            Check(view.status == 200 && view.body.find("\"2007000\"") != std::string::npos,
                  "resident 7's income 2007000 shown"));
        ASSIGN_OR_RETURN(http::Response exp,
                         api(token_a, "GET", "/api/v1/replica/export?tm=TM00000000000002", ""));
        RETURN_IF_ERROR(
            Check(exp.status == 200 && exp.body == sample, "export identical to input"));
        return "resident 000000000000007 shown in layout terms; export is byte-identical to the "
               "file";
      });

  steps.Run("不正な行の拒否", "bad row refused, nothing changed", [&]() -> Result<std::string> {
    if (!api_server) return FailedPreconditionError("the server did not start");
    ASSIGN_OR_RETURN(
        http::Response r,
        api(token_a, "POST", "/api/v1/replica/imports?tm=TM00000000000002", SampleTaxCsv(80, 30)));
    RETURN_IF_ERROR(Check(r.status == 422, "422, got " + std::to_string(r.status)));
    RETURN_IF_ERROR(
        Check(r.body.find("\"line\":30,\"field\":\"IT00000200000002\"") != std::string::npos,
              "problem names line 30 and item IT00000200000002: " + r.body.substr(0, 300)));
    ASSIGN_OR_RETURN(http::Response exp,
                     api(token_a, "GET", "/api/v1/replica/export?tm=TM00000000000002", ""));
    RETURN_IF_ERROR(Check(exp.body == sample, "replica unchanged"));
    return "422: line 30, item IT00000200000002 (賦課期日) is not a real date; replica unchanged";
  });

  steps.Run("テナント間の分離", "another tenant sees nothing", [&]() -> Result<std::string> {
    if (!api_server) return FailedPreconditionError("the server did not start");
    ASSIGN_OR_RETURN(http::Response view,
                     api(token_b, "GET", "/api/v1/replica/records?atena_no=000000000000007", ""));
    RETURN_IF_ERROR(
        Check(view.status == 200 && view.body.find("\"records\":[]") != std::string::npos,
              "tenant B finds no record of tenant A's resident"));
    ASSIGN_OR_RETURN(http::Response bad, api("ck_not-a-token", "GET",
                                             "/api/v1/replica/export?tm=TM00000000000002", ""));
    RETURN_IF_ERROR(Check(bad.status == 401, "an unknown token gets 401"));
    ASSIGN_OR_RETURN(std::shared_ptr<server::TenantContext> ctx,
                     platform->Tenant(TenantId::ForOrg(city_a)));
    // The server signs each log's head from a timer; do it now rather than wait for it.
    RETURN_IF_ERROR(ctx->audit->CheckpointIfBehind().status());
    ASSIGN_OR_RETURN(audit::VerifyReport r,
                     audit::Verify(*ctx->db, {{platform->audit_verify_key()}, 1000}));
    RETURN_IF_ERROR(Check(r.ok, "tenant audit chain intact: " + r.problem));
    return "tenant B's token sees none of A's rows; unknown token 401; tenant A's audit log: " +
           std::to_string(r.entries) + " entries, intact";
  });

  if (api_server) api_server->Stop(std::chrono::seconds(2));
  api_server.reset();
  replica_api.reset();
  api_auth.reset();
  platform.reset();

  if (server) server->Stop(std::chrono::seconds(2));
  server.reset();
  platform_log.reset();
  if (tenants) (void)tenants->Close();
}

}  // namespace chukan::cli
