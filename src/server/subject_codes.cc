#include "server/subject_codes.h"

#include "common/log.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "json/json.h"
#include "server/linkage_courier.h"

namespace chukan::server {

crypto::Bytes SubjectCodes::AtenaIndex(const TenantContext& st, const AtenaNo& atena) {
  return crypto::Blake2bKeyed(st.index_key, crypto::AsBytes(atena.str()), 32);
}

Result<std::optional<std::string>> SubjectCodes::FindCode(store::Transaction& tx,
                                                          const crypto::Bytes& index) {
  ASSIGN_OR_RETURN(
      auto row,
      tx.QueryOne("SELECT subject_code FROM subject_codes WHERE atena_index = ?", {index}));
  if (!row) return std::optional<std::string>();
  ASSIGN_OR_RETURN(std::string code, row->GetText(0));
  return std::optional<std::string>(std::move(code));
}

Result<std::optional<AtenaNo>> SubjectCodes::FindAtena(TenantContext& st,
                                                       const SubjectCode& code) const {
  ASSIGN_OR_RETURN(auto tx, st.db->BeginReadOnce());
  ASSIGN_OR_RETURN(
      auto row,
      tx->QueryOne("SELECT atena_sealed FROM subject_codes WHERE subject_code = ?", {code.str()}));
  if (!row) return std::optional<AtenaNo>();
  ASSIGN_OR_RETURN(crypto::Bytes sealed, row->GetBlob(0));
  ASSIGN_OR_RETURN(AtenaNo atena, OpenAtena(st, code.str(), sealed));
  return std::optional<AtenaNo>(std::move(atena));
}

Result<AtenaNo> SubjectCodes::OpenAtena(const TenantContext& st, std::string_view code,
                                        const crypto::Bytes& sealed) {
  ASSIGN_OR_RETURN(crypto::SecretBytes plain,
                   st.data_keys->Open(sealed, LinkageAad("atena", st.id, code)));
  return AtenaNo::Parse(plain.AsStringView());
}

Result<SubjectCode> SubjectCodes::Register(const TenantId& tenant, const AtenaNo& atena,
                                           const ResidentId& rid) {
  RETURN_IF_ERROR(env_.NeedHub());
  ASSIGN_OR_RETURN(std::shared_ptr<TenantContext> st, env_.Tenant(tenant));
  Result<http::Response> sent =
      env_.hub->Post(tenant.org(), "/hub/v1/codes", R"({"resident_id":")" + rid.str() + "\"}");
  if (!sent.ok()) {
    // A transport or TLS failure between this server and the hub: not the caller's fault. The
    // detail (addresses, certificate files) goes to the server log, not to the client.
    log::Warn("server.hub_unreachable",
              {{"tenant", tenant.str()}, {"error", sent.status().ToString().substr(0, 300)}});
    return UnavailableError("the hub cannot be reached (" +
                            std::string(StatusCodeName(sent.status().code())) +
                            "); the server log has the details");
  }
  const http::Response& r = *sent;
  if (r.status != 200) {
    return UnavailableError("the hub refused the code request: " + HubReason(r));
  }
  ASSIGN_OR_RETURN(json::JsonObject o, json::ParseJsonObject(r.body));
  ASSIGN_OR_RETURN(std::string code_text, o.GetString("subject_code", 64));
  ASSIGN_OR_RETURN(SubjectCode code, SubjectCode::Parse(code_text));
  const crypto::Bytes index = AtenaIndex(*st, atena);
  ASSIGN_OR_RETURN(
      crypto::Bytes sealed,
      st->data_keys->Seal(crypto::AsBytes(atena.str()), LinkageAad("atena", tenant, code.str())));
  const int64_t now = env_.NowUs();
  Status s = st->Commit([&](store::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(std::optional<std::string> existing, FindCode(tx, index));
    if (existing) {
      // The same pair again: registered again, so code retention counts its time from now.
      if (*existing == code.str()) {
        return tx.Exec("UPDATE subject_codes SET registered_at_us = ? WHERE subject_code = ?",
                       {now, code.str()});
      }
      return AlreadyExistsError("this atena_no already has another subject code");
    }
    ASSIGN_OR_RETURN(auto other, tx.QueryOne("SELECT 1 FROM subject_codes WHERE subject_code = ?",
                                             {code.str()}));
    if (other) {
      return AlreadyExistsError(
          "this person's subject code is already registered under another atena_no");
    }
    return tx.Exec(
        "INSERT INTO subject_codes (subject_code, atena_index, atena_sealed,"
        " created_at_us, registered_at_us) VALUES (?, ?, ?, ?, ?)",
        {code.str(), index, sealed, now, now});
  });
  AuditLinkage(*st, "system", "code.register", "subject_code " + code.str(), AuditOutcome(s));
  RETURN_IF_ERROR(s);
  return code;
}

}  // namespace chukan::server
