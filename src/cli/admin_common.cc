#include "cli/admin_common.h"

#include <cstdio>

#include "server/server_config.h"

namespace chukan::cli {

void PrintError(const char* what_ja, const char* what_en, const Status& s) {
  std::fprintf(stderr, "chukan: %s / %s: %s\n", what_ja, what_en, s.ToString().c_str());
}

Result<std::unique_ptr<server::Platform>> OpenPlatform(const std::string& config_path,
                                                       bool create_keys) {
  Result<server::ServerConfig> cfg = server::LoadServerConfig(config_path);
  if (!cfg.ok()) {
    PrintError("設定ファイルを読めません", "cannot load the configuration", cfg.status());
    return cfg.status();
  }
  Result<std::unique_ptr<server::Platform>> p = server::Platform::Open(*cfg, create_keys);
  if (!p.ok()) PrintError("プラットフォームを開けません", "cannot open the platform", p.status());
  return p;
}

Result<OrgCode> ParseOrgFlag(const char* flag, const std::string& text) {
  Result<OrgCode> org = OrgCode::Parse(text);
  if (!org.ok()) {
    std::fprintf(stderr, "chukan: %s が不正です / bad %s: %s\n", flag, flag,
                 org.status().ToString().c_str());
  }
  return org;
}

}  // namespace chukan::cli
