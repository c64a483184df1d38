// SubjectCodes: the tenant's subject codes (機関別符号 / 符号, FGU) — the pseudonymous code the
// hub issues for a person and this organisation, kept beside the person's AtenaNo in the
// tenant's subject_codes table. The atena_no is stored sealed under the tenant's data key and
// found by a keyed hash (AtenaIndex); the resident identifier used to obtain a code is sent to
// the hub once and never stored.
//
// Thread-safety: thread-safe (state lives in the tenants' databases).
#ifndef CHUKAN_SERVER_SUBJECT_CODES_H_
#define CHUKAN_SERVER_SUBJECT_CODES_H_

#include <optional>
#include <string>
#include <string_view>

#include "common/ids.h"
#include "common/status.h"
#include "crypto/bytes.h"
#include "server/linkage_env.h"
#include "server/tenant_context.h"
#include "store/database.h"

namespace chukan::server {

class SubjectCodes {
 public:
  // `env` must outlive this.
  explicit SubjectCodes(const LinkageEnv& env) : env_(env) {}

  // Asks the hub for the tenant's code of the person and keeps atena_no ↔ code (audited).
  // Re-registering the same pair changes only its registration time (registered_at_us, from
  // which code retention counts: CodeRetention). Errors: kFailedPrecondition (no hub),
  // kUnavailable (the hub cannot be reached or refused), kAlreadyExists when the atena_no
  // already has another code or the code another atena_no. Blocks (a hub round trip).
  Result<SubjectCode> Register(const TenantId& tenant, const AtenaNo& atena, const ResidentId& rid);

  // The keyed hash (the tenant's index key) the atena_no is found by.
  static crypto::Bytes AtenaIndex(const TenantContext& st, const AtenaNo& atena);
  // The code registered for the atena_no with `index`, read in `tx`; nullopt when none.
  static Result<std::optional<std::string>> FindCode(store::Transaction& tx,
                                                     const crypto::Bytes& index);
  // The atena_no registered for `code` in the tenant, unsealed; nullopt when none.
  Result<std::optional<AtenaNo>> FindAtena(TenantContext& st, const SubjectCode& code) const;
  // The atena_no of a subject_codes row from its atena_sealed column. Errors: kDataLoss (or
  // kInvalidArgument) for a value that does not open under the tenant's key for this code.
  static Result<AtenaNo> OpenAtena(const TenantContext& st, std::string_view code,
                                   const crypto::Bytes& sealed);

 private:
  const LinkageEnv& env_;
};

}  // namespace chukan::server

#endif  // CHUKAN_SERVER_SUBJECT_CODES_H_
