// The platform operator's (運用者) screen テナント一覧: every tenant registered on this platform —
// its organisation code and name, state, registration time, active existing-system clients,
// the fingerprint of its organisation signing key (the key the hub registers), and the storage
// it uses. Nothing here opens a tenant's personal data: the key fingerprint comes from the
// tenant's context (its public half only), the storage figure from the file system (SQLite) or
// the catalogue (PostgreSQL).
#include <filesystem>
#include <string>

#include "console/console_impl.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "server/platform.h"
#include "server/staff_directory.h"
#include "server/tenant_context.h"

namespace chukan::console {
namespace {

// Bytes of the SQLite file and its WAL; nullopt on PostgreSQL or when unreadable.
std::optional<int64_t> SqliteBytes(const std::string& path) {
  if (path.empty()) return std::nullopt;
  std::error_code ec;
  int64_t total = 0;
  for (const std::string& p : {path, path + "-wal"}) {
    const auto n = std::filesystem::file_size(p, ec);
    if (!ec) total += static_cast<int64_t>(n);
  }
  return total;
}

std::string Mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

}  // namespace

http::Response Console::Impl::OperatorTenants(http::Request& req) {
  const Caller& caller = CallerOf(req);
  Result<std::vector<server::TenantInfo>> tenants = platform.ListTenants();
  if (!tenants.ok()) return ErrorPage(&caller, 503, "テナント一覧", "一覧を読み込めませんでした。");
  Audit(caller, req, "platform.tenants", "count " + std::to_string(tenants->size()), "ok");
  Html b;
  b.Open("table", {{"class", "list"}, {"id", "tenants"}}).Open("thead").Open("tr");
  for (std::string_view h :
       {"機関コード", "名称", "状態", "登録日時", "既存システム", "署名鍵の指紋", "使用容量"}) {
    b.Element("th", h);
  }
  b.Close("tr").Close("thead").Open("tbody");
  for (const server::TenantInfo& t : *tenants) {
    if (t.org.str() == server::kOperatorOrg) continue;  // the realm itself is no tenant
    std::string fingerprint = "—";
    std::string storage = "—";
    if (t.state == "active") {
      if (Result<std::shared_ptr<server::TenantContext>> ctx = platform.Tenant(t.id); ctx.ok()) {
        // SHA-256 of the public key, first 16 hex digits: what the hub's registry shows.
        fingerprint = (*ctx)->SignKey()->kid;
      }
      if (std::optional<int64_t> n = SqliteBytes(platform.store().TenantPath(t.id))) {
        storage = Mib(*n);
      } else if (!platform.store().SchemaName(t.id).empty()) {
        storage = "PostgreSQL スキーマ " + platform.store().SchemaName(t.id);
      }
    }
    b.Open("tr")
        .Element("td", t.org.str())
        .Element("td", t.name)
        .Element("td", t.state == "active" ? "稼働中" : "削除済")
        .Element("td", FormatJst(t.created_at_us))
        .Element("td", std::to_string(t.active_clients))
        .Element("td", {{"class", "mono"}}, fingerprint)
        .Element("td", storage)
        .Close("tr");
  }
  b.Close("tbody").Close("table");
  b.Element("p", {{"class", "hint"}},
            "運用者は各テナントの個人情報（副本、照会結果、職員の氏名など）を見ることはできません。"
            "テナントの作成・削除は chukan tenant コマンドで行います。");
  return Page(200, Frame(&caller, "テナント一覧", b.str()));
}

}  // namespace chukan::console
