// libFuzzer target for chukan::Config, the TOML configuration loader (toml++) of the server, the
// hub and the admin commands: Config::Parse over the input, then every getter on the keys the
// server and hub read, and on keys taken from the input itself. Properties:
//  - a syntax error is kInvalidArgument "SOURCE:LINE:COLUMN: reason" with LINE and COLUMN
//    within the input (line ≥ 1, column ≥ 1);
//  - every getter's and CheckKnownKeys's error names the source first; a required getter
//    fails with kNotFound exactly when Has() is false, a getter with a fallback returns the
//    fallback then; an integer returned lies within the asked range;
//  - CheckKnownKeys with no known key fails exactly when the document has a key.
//
// Run it: scripts/fuzz [SECONDS] config_toml. Every build replays fuzz/corpus/config_toml/ in
// `make test`.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"

namespace {

using chukan::Config;
using chukan::Result;
using chukan::Status;
using chukan::StatusCode;

constexpr std::string_view kSource = "fuzz.toml";

void Check(bool ok) {
  if (!ok) std::abort();
}

// An error names the source first ("fuzz.toml: …" or "fuzz.toml:LINE: …").
void CheckError(const Status& s) {
  if (s.ok()) return;
  Check(s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kNotFound);
  Check(s.message().starts_with(std::string(kSource) + ":"));
}

// Keys the server and the hub read (server_config.cc, hub_config.cc, store_config.cc).
const std::vector<std::string>& KnownKeys() {
  static const std::vector<std::string> keys = {"server.host",
                                                "server.port",
                                                "server.threads",
                                                "server.max_body_mb",
                                                "server.metrics",
                                                "server.instance",
                                                "server.allow_plain_http",
                                                "tls.cert",
                                                "tls.key",
                                                "tls.client_ca",
                                                "keys.dir",
                                                "layout.dir",
                                                "log.level",
                                                "log.path",
                                                "hub.url",
                                                "hub.port",
                                                "hub.list_refresh_seconds",
                                                "node.port",
                                                "inquiry.timeout_seconds",
                                                "console.enabled",
                                                "delivery.threads",
                                                "store.backend",
                                                "store.pool_size",
                                                "store.synchronous_full",
                                                "permits.validity_seconds",
                                                "records.retention_days"};
  return keys;
}

// Dotted keys as the input spells them: "k" and "table.k" for each `k = …` line under a
// `[table]` or `[[table]]` header, and array indexes ("table[0].k") for good measure.
std::vector<std::string> KeysOf(std::string_view text) {
  std::vector<std::string> out;
  std::string table;
  while (!text.empty() && out.size() < 48) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.starts_with("[")) {
      const size_t open = line.find_first_not_of('[');
      const size_t close = line.find(']');
      if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
        continue;
      }
      table = std::string(line.substr(open, close - open));
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = line.substr(0, eq);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.remove_suffix(1);
    out.emplace_back(key);
    if (!table.empty()) {
      out.push_back(table + "." + std::string(key));
      out.push_back(table + "[0]." + std::string(key));
    }
  }
  return out;
}

void CheckKey(const Config& c, const std::string& key) {
  const bool has = c.Has(key);
  Result<std::string> s = c.GetString(key);
  CheckError(s.status());
  Check(s.ok() || (s.status().code() == StatusCode::kNotFound) == !has);
  Result<std::string> s2 = c.GetString(key, "fallback");
  CheckError(s2.status());
  if (!has) Check(s2.ok() && *s2 == "fallback");
  Result<int64_t> n = c.GetInt(key, -5, 70000);
  CheckError(n.status());
  Check(n.ok() || (n.status().code() == StatusCode::kNotFound) == !has);
  if (n.ok()) Check(*n >= -5 && *n <= 70000);
  Result<int64_t> n2 = c.GetInt(key, 7, 1, 256);
  CheckError(n2.status());
  if (n2.ok()) Check(*n2 >= 1 && *n2 <= 256);
  if (!has) Check(n2.ok() && *n2 == 7);
  Result<bool> b = c.GetBool(key);
  CheckError(b.status());
  Check(b.ok() || (b.status().code() == StatusCode::kNotFound) == !has);
  Result<bool> b2 = c.GetBool(key, true);
  CheckError(b2.status());
  if (!has) Check(b2.ok() && *b2);
  Result<std::vector<std::string>> a = c.GetStringArray(key);
  CheckError(a.status());
  Check(a.ok() || (a.status().code() == StatusCode::kNotFound) == !has);
  // At most one kind of value.
  Check((s.ok() ? 1 : 0) + (n.ok() ? 1 : 0) + (b.ok() ? 1 : 0) + (a.ok() ? 1 : 0) <= 1);
  CheckError(c.CheckKnownKeys({key}));
  CheckError(c.CheckKnownKeys({key + ".*"}));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<Config> c = Config::Parse(text, std::string(kSource));
  if (!c.ok()) {
    const Status& s = c.status();
    Check(s.code() == StatusCode::kInvalidArgument);
    const std::string prefix = std::string(kSource) + ":";
    Check(s.message().starts_with(prefix));
    size_t used = 0;
    const std::string rest = s.message().substr(prefix.size());
    const unsigned long line = std::stoul(rest, &used);
    Check(used > 0 && rest[used] == ':');
    const unsigned long column = std::stoul(rest.substr(used + 1));
    const size_t lines = 1 + static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
    Check(line >= 1 && line <= lines && column >= 1 && column <= text.size() + 1);
    return 0;
  }
  Check(c->source() == kSource);
  const Status all = c->CheckKnownKeys({});
  CheckError(all);
  Check(all.ok() == c->CheckKnownKeys({"*"}).ok());
  for (const std::string& key : KnownKeys()) CheckKey(*c, key);
  for (const std::string& key : KeysOf(text)) {
    CheckKey(*c, key);
    if (c->Has(key)) Check(!all.ok());
  }
  return 0;
}
