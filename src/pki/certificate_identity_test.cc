#include "pki/certificate_identity.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <vector>

#include "pki/x509_test_util.h"

namespace chukan::pki {
namespace {

using testing::X509Ptr;

// A self-signed certificate (Ed25519: fast to make) with the given subject entries and
// subjectAltName ("URI:…", "DNS:…" in OpenSSL's config syntax; empty: no extension).
X509Ptr MakeCert(const std::string& cn, const std::string& serial_number, const std::string& san) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), &EVP_PKEY_free);
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  auto add = [&](const char* field, const std::string& value) {
    X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(value.data()),
                               static_cast<int>(value.size()), -1, 0);
  };
  if (!cn.empty()) add("CN", cn);
  if (!serial_number.empty()) add("serialNumber", serial_number);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  if (!san.empty()) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
    EXPECT_NE(ext, nullptr) << san;
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  EXPECT_GT(X509_sign(cert.get(), key.get(), nullptr), 0);
  return cert;
}

// SHA-256 of the DER encoding, computed apart from the code under test.
std::string DerSha256Hex(X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert, &der);
  unsigned char md[32];
  unsigned int md_len = 0;
  EVP_Digest(der, static_cast<size_t>(len), md, &md_len, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  std::string hex;
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned int i = 0; i < md_len; ++i) {
    hex.push_back(kHex[md[i] >> 4]);
    hex.push_back(kHex[md[i] & 0xf]);
  }
  return hex;
}

TEST(CertificateIdentityTest, OrganisationFromTheSanUriWinsOverTheSerialNumber) {
  X509Ptr cert = MakeCert("server-1", "2222222222222222", "URI:urn:chukan:org:1111111111111111");
  Result<CertificateInfo> info = DescribeCertificate(cert.get());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->common_name, "server-1");
  ASSERT_TRUE(info->org.has_value());
  EXPECT_EQ(info->org->str(), "1111111111111111");
  EXPECT_EQ(info->sha256, DerSha256Hex(cert.get()));
  EXPECT_EQ(info->sha256.size(), 64u);
}

TEST(CertificateIdentityTest, AnInvalidSanCodeFallsBackToTheSerialNumber) {
  X509Ptr cert =
      MakeCert("x", "2222222222222222", "URI:urn:chukan:org:12345,URI:https://example.invalid/");
  Result<CertificateInfo> info = DescribeCertificate(cert.get());
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_TRUE(info->org.has_value());
  EXPECT_EQ(info->org->str(), "2222222222222222");
}

TEST(CertificateIdentityTest, TheSecondSanUriIsUsedWhenTheFirstIsNotACode) {
  X509Ptr cert = MakeCert("x", "", "URI:urn:chukan:org:abc,URI:urn:chukan:org:3333333333333333");
  Result<CertificateInfo> info = DescribeCertificate(cert.get());
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_TRUE(info->org.has_value());
  EXPECT_EQ(info->org->str(), "3333333333333333");
}

TEST(CertificateIdentityTest, ACodeInADnsNameOrAnInvalidSerialNumberIsNoOrganisation) {
  X509Ptr cert = MakeCert("", "not-a-code", "DNS:urn.chukan.org.1111111111111111");
  Result<CertificateInfo> info = DescribeCertificate(cert.get());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->org.has_value());
  EXPECT_EQ(info->common_name, "");
}

TEST(CertificateIdentityTest, NoSanAndNoSerialNumberIsNoOrganisation) {
  X509Ptr cert = MakeCert("client", "", "");
  Result<CertificateInfo> info = DescribeCertificate(cert.get());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->org.has_value());
  EXPECT_EQ(info->common_name, "client");
}

}  // namespace
}  // namespace chukan::pki
