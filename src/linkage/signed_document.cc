#include "linkage/signed_document.h"

#include "crypto/canonical_json.h"

namespace chukan::linkage {

Result<SignedDocument> SignDocument(std::string_view json_text, const crypto::SigningKey& key) {
  ASSIGN_OR_RETURN(std::string canonical, crypto::CanonicalizeJson(json_text));
  SignedDocument out;
  out.signature = key.Sign(crypto::AsBytes(canonical));
  out.document = std::move(canonical);
  return out;
}

Status VerifyDocument(const SignedDocument& doc, const crypto::VerifyKey& key,
                      std::string_view what) {
  Result<std::string> canonical = crypto::CanonicalizeJson(doc.document);
  if (!canonical.ok()) {
    return InvalidArgumentError(std::string(what) + ": " + canonical.status().message());
  }
  if (*canonical != doc.document) {
    return InvalidArgumentError(std::string(what) + ": document is not in canonical form");
  }
  Status s = key.Verify(crypto::AsBytes(doc.document), doc.signature);
  if (s.code() == StatusCode::kUnauthenticated) {
    return UnauthenticatedError(std::string(what) + ": signature verification failed");
  }
  if (!s.ok()) return InvalidArgumentError(std::string(what) + ": " + s.message());
  return Status();
}

}  // namespace chukan::linkage
