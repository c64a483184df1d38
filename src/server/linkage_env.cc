#include "server/linkage_env.h"

namespace chukan::server {

Status LinkageEnv::NeedHub() const {
  if (hub == nullptr) return FailedPreconditionError("no hub is configured ([hub] url)");
  return Status();
}

crypto::Bytes LinkageAad(std::string_view kind, const TenantId& tenant, std::string_view id) {
  return crypto::ToBytes("chukan-linkage-v1\n" + std::string(kind) + "\n" + tenant.str() + "\n" +
                         std::string(id));
}

crypto::Bytes BatchLineAad(const TenantId& tenant, std::string_view batch_id, int64_t line) {
  return LinkageAad("batch-line", tenant, std::string(batch_id) + ":" + std::to_string(line));
}

std::string AuditOutcome(const Status& s) {
  return s.ok() ? "ok" : "error:" + std::string(StatusCodeName(s.code()));
}

void AuditLinkage(TenantContext& st, const std::string& actor, const std::string& action,
                  const std::string& target, const std::string& outcome) {
  // Through the group committer: concurrent entries share one durable commit.
  st.Audit({st.id.str(), actor, action, target, outcome, ""});
}

}  // namespace chukan::server
