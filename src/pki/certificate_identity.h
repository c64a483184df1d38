// The one rule that maps an X.509 certificate to its holder: common name, organisation (機関コード)
// and fingerprint. The TLS server reads a verified client certificate with it
// (http::PeerIdentity), and `chukan pki`/the hub's organisation registry read certificate files
// with it, so an organisation is recognised the same way everywhere.
//
// The organisation is taken from the first subjectAltName URI "urn:chukan:org:<16 digits>" that
// holds a valid code, else from the subject serialNumber attribute when it is a valid code, else
// it is absent. The certificate authority writes both (certificate_authority.h).
//
// Thread-safety: stateless.
#ifndef CHUKAN_PKI_CERTIFICATE_IDENTITY_H_
#define CHUKAN_PKI_CERTIFICATE_IDENTITY_H_

#include <optional>
#include <string>
#include <string_view>

#include "common/ids.h"
#include "common/status.h"

struct x509_st;  // OpenSSL's X509, kept out of this header

namespace chukan::pki {

// The SAN URI prefix that carries an organisation code.
inline constexpr std::string_view kOrgUriPrefix = "urn:chukan:org:";

// What a certificate says about its holder.
struct CertificateInfo {
  std::string common_name;     // subject CN; empty when there is none
  std::optional<OrgCode> org;  // by the rule above
  // Lower-case hex SHA-256 of the DER encoding: what the hub pins for an organisation and the
  // server pins for the hub (http::PeerIdentity::cert_sha256 carries the same value).
  std::string sha256;
};

// Reads `cert` (not taken over; must not be null). Errors: kInternal when OpenSSL cannot digest
// it. A certificate without an organisation is not an error (org is empty).
Result<CertificateInfo> DescribeCertificate(const x509_st* cert);

}  // namespace chukan::pki

#endif  // CHUKAN_PKI_CERTIFICATE_IDENTITY_H_
