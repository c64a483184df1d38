// SignedDocument: a canonical JSON document (docs/canonical-json.md) together with an Ed25519
// signature over exactly its bytes — the form in which the linkage protocol carries provision
// permits (提供許可証), envelopes and the permission list (照会許可用照合リスト). On the wire the
// document travels as a JSON *string* next to its signature, so that no party ever has to
// re-serialise a parsed object to check a signature (docs/linkage-protocol.md).
//
// Thread-safety: plain value type; the functions are thread-safe.
#ifndef CHUKAN_LINKAGE_SIGNED_DOCUMENT_H_
#define CHUKAN_LINKAGE_SIGNED_DOCUMENT_H_

#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/bytes.h"
#include "crypto/ed25519.h"

namespace chukan::linkage {

struct SignedDocument {
  std::string document;     // canonical JSON text
  crypto::Bytes signature;  // 64 bytes, Ed25519 over `document`
};

// Canonicalises `json_text` and signs the result. Errors: those of crypto::CanonicalizeJson.
Result<SignedDocument> SignDocument(std::string_view json_text, const crypto::SigningKey& key);

// Checks that `doc.document` is in canonical form and that `doc.signature` is `key`'s signature
// over it. Errors, each naming `what` ("permit", "envelope", …):
//   kInvalidArgument   the document is not canonical JSON; the signature is not 64 bytes
//   kUnauthenticated   "<what>: signature verification failed" (forged or altered)
Status VerifyDocument(const SignedDocument& doc, const crypto::VerifyKey& key,
                      std::string_view what);

}  // namespace chukan::linkage

#endif  // CHUKAN_LINKAGE_SIGNED_DOCUMENT_H_
