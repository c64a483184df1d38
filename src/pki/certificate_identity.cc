#include "pki/certificate_identity.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace chukan::pki {

namespace {

std::string_view View(const ASN1_STRING* s) {
  return std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                          static_cast<size_t>(ASN1_STRING_length(s)));
}

std::optional<std::string_view> SubjectEntry(const X509_NAME* name, int nid) {
  const int idx = X509_NAME_get_index_by_NID(name, nid, -1);
  if (idx < 0) return std::nullopt;
  return View(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
}

std::optional<OrgCode> OrgFromSans(const X509* cert) {
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans == nullptr) return std::nullopt;
  std::optional<OrgCode> org;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans) && !org; ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
    if (gn->type != GEN_URI) continue;
    const std::string_view uri = View(gn->d.uniformResourceIdentifier);
    if (uri.substr(0, kOrgUriPrefix.size()) != kOrgUriPrefix) continue;
    if (auto code = OrgCode::Parse(uri.substr(kOrgUriPrefix.size())); code.ok()) org = *code;
  }
  GENERAL_NAMES_free(sans);
  return org;
}

}  // namespace

Result<CertificateInfo> DescribeCertificate(const x509_st* cert) {
  CertificateInfo info;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &md_len) != 1) {
    ERR_clear_error();
    return InternalError("pki: the certificate could not be digested");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  info.sha256.reserve(2 * md_len);
  for (unsigned int i = 0; i < md_len; ++i) {
    info.sha256.push_back(kHex[md[i] >> 4]);
    info.sha256.push_back(kHex[md[i] & 0xf]);
  }
  const X509_NAME* name = X509_get_subject_name(cert);
  if (auto cn = SubjectEntry(name, NID_commonName)) info.common_name.assign(*cn);
  info.org = OrgFromSans(cert);
  if (!info.org) {
    if (auto serial = SubjectEntry(name, NID_serialNumber)) {
      if (auto code = OrgCode::Parse(*serial); code.ok()) info.org = *code;
    }
  }
  return info;
}

}  // namespace chukan::pki
