#include "pki/certificate_authority.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "common/status_matchers.h"
#include "common/test_util.h"
#include "pki/x509_test_util.h"

namespace chukan::pki {
namespace {

using ::chukan::testing::StatusIs;
using ::chukan::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using testing::X509Ptr;

X509Ptr ReadCert(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return nullptr;
  X509* c = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return X509Ptr(c);
}

// X509_verify_cert of `leaf` against the single trusted `ca`; returns the verify error code.
int Verify(X509* ca, X509* leaf, int purpose) {
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), &X509_STORE_free);
  X509_STORE_add_cert(store.get(), ca);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      &X509_STORE_CTX_free);
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  int ok = X509_verify_cert(ctx.get());
  int err = X509_STORE_CTX_get_error(ctx.get());
  return ok == 1 ? X509_V_OK : (err == X509_V_OK ? -1 : err);
}

std::vector<std::string> Sans(X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type == GEN_DNS) {
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(
                                 ASN1_STRING_get0_data(gn->d.dNSName))));
    } else if (gn->type == GEN_URI) {
      out.push_back("URI:" + std::string(reinterpret_cast<const char*>(
                                 ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier))));
    } else if (gn->type == GEN_IPADD) {
      out.push_back("IP:" + std::to_string(ASN1_STRING_length(gn->d.iPAddress)) + "bytes");
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

std::string SubjectField(X509* cert, int nid) {
  X509_NAME* name = X509_get_subject_name(cert);
  int idx = X509_NAME_get_index_by_NID(name, nid, -1);
  if (idx < 0) return "";
  ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
}

mode_t Mode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 0777;
}

OrgCode Org(const char* s) { return *OrgCode::Parse(s); }

IssueRequest Req(std::string name, bool client, std::vector<std::string> hosts = {},
                 std::optional<OrgCode> org = std::nullopt, int days = 825) {
  IssueRequest r;
  r.name = std::move(name);
  r.client = client;
  r.server_hosts = std::move(hosts);
  r.org = std::move(org);
  r.validity_days = days;
  return r;
}

TEST(CertificateAuthorityTest, InitCreatesSelfSignedCaWithPrivateKey) {
  TempDir tmp;
  const std::string dir = tmp.File("ca");
  ASSERT_OK_AND_ASSIGN(auto ca, CertificateAuthority::Init(dir));
  EXPECT_EQ(Mode(dir + "/ca.key"), 0600u);
  EXPECT_EQ(Mode(dir), 0700u);
  X509Ptr cert = ReadCert(dir + "/ca.crt");
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_check_ca(cert.get()), 1);
  EXPECT_NE(X509_get_key_usage(cert.get()) & KU_KEY_CERT_SIGN, 0u);
  EXPECT_EQ(Verify(cert.get(), cert.get(), X509_PURPOSE_ANY), X509_V_OK);
  EXPECT_EQ(SubjectField(cert.get(), NID_commonName), "chukan development CA");
}

TEST(CertificateAuthorityTest, InitRefusesExistingCa) {
  TempDir tmp;
  ASSERT_OK(CertificateAuthority::Init(tmp.path()).status());
  std::ifstream before(tmp.File("ca.crt"));
  std::string first((std::istreambuf_iterator<char>(before)), {});
  EXPECT_THAT(CertificateAuthority::Init(tmp.path()),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("already exists")));
  std::ifstream after(tmp.File("ca.crt"));
  std::string second((std::istreambuf_iterator<char>(after)), {});
  EXPECT_EQ(first, second);
}

TEST(CertificateAuthorityTest, LoadMissingIsNotFoundAndMismatchIsDataLoss) {
  TempDir tmp;
  EXPECT_THAT(CertificateAuthority::Load(tmp.path()), StatusIs(StatusCode::kNotFound));
  TempDir a, b;
  ASSERT_OK(CertificateAuthority::Init(a.path()).status());
  ASSERT_OK(CertificateAuthority::Init(b.path()).status());
  std::filesystem::copy_file(b.File("ca.key"), a.File("ca.key"),
                             std::filesystem::copy_options::overwrite_existing);
  EXPECT_THAT(CertificateAuthority::Load(a.path()),
              StatusIs(StatusCode::kDataLoss, HasSubstr("does not match")));
  std::ofstream(b.File("ca.crt")) << "garbage";
  EXPECT_THAT(CertificateAuthority::Load(b.path()),
              StatusIs(StatusCode::kDataLoss, HasSubstr("not a PEM certificate")));
}

TEST(CertificateAuthorityTest, IssuedServerCertVerifiesAndCarriesSansAndEku) {
  TempDir tmp;
  ASSERT_OK(CertificateAuthority::Init(tmp.path()).status());
  ASSERT_OK_AND_ASSIGN(auto ca, CertificateAuthority::Load(tmp.path()));
  ASSERT_OK_AND_ASSIGN(
      IssuedPaths paths,
      ca->Issue(Req("hub", false, {"localhost", "127.0.0.1", "::1"}, Org("1234567890123456"))));
  EXPECT_EQ(paths.key_file, tmp.File("hub.key"));
  EXPECT_EQ(paths.cert_file, tmp.File("hub.crt"));
  EXPECT_EQ(Mode(paths.key_file), 0600u);
  X509Ptr ca_cert = ReadCert(tmp.File("ca.crt"));
  X509Ptr cert = ReadCert(paths.cert_file);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(Verify(ca_cert.get(), cert.get(), X509_PURPOSE_SSL_SERVER), X509_V_OK);
  // Server-only: not valid for client authentication.
  EXPECT_EQ(Verify(ca_cert.get(), cert.get(), X509_PURPOSE_SSL_CLIENT), X509_V_ERR_INVALID_PURPOSE);
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()), static_cast<uint32_t>(XKU_SSL_SERVER));
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_THAT(Sans(cert.get()), ElementsAre("DNS:localhost", "IP:4bytes", "IP:16bytes",
                                            "URI:urn:chukan:org:1234567890123456"));
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(SubjectField(cert.get(), NID_commonName), "hub");
  EXPECT_EQ(SubjectField(cert.get(), NID_serialNumber), "1234567890123456");
}

TEST(CertificateAuthorityTest, IssuedClientCertIsClientOnly) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto ca, CertificateAuthority::Init(tmp.path()));
  ASSERT_OK_AND_ASSIGN(IssuedPaths paths,
                       ca->Issue(Req("city-a_1.client", true, {}, Org("0000000000000001"))));
  X509Ptr ca_cert = ReadCert(tmp.File("ca.crt"));
  X509Ptr cert = ReadCert(paths.cert_file);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(Verify(ca_cert.get(), cert.get(), X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(Verify(ca_cert.get(), cert.get(), X509_PURPOSE_SSL_SERVER), X509_V_ERR_INVALID_PURPOSE);
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()), static_cast<uint32_t>(XKU_SSL_CLIENT));
  EXPECT_THAT(Sans(cert.get()), ElementsAre("URI:urn:chukan:org:0000000000000001"));
}

TEST(CertificateAuthorityTest, CertFromAnotherCaDoesNotVerify) {
  TempDir a, b;
  ASSERT_OK_AND_ASSIGN(auto ca_a, CertificateAuthority::Init(a.path()));
  ASSERT_OK_AND_ASSIGN(auto ca_b, CertificateAuthority::Init(b.path()));
  ASSERT_OK_AND_ASSIGN(IssuedPaths paths, ca_b->Issue(Req("x", true)));
  X509Ptr ca_cert = ReadCert(a.File("ca.crt"));
  X509Ptr cert = ReadCert(paths.cert_file);
  EXPECT_EQ(Verify(ca_cert.get(), cert.get(), X509_PURPOSE_SSL_CLIENT),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST(CertificateAuthorityTest, IssueRejectsBadRequests) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto ca, CertificateAuthority::Init(tmp.path()));
  EXPECT_THAT(ca->Issue(Req("../evil", true)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("path separator")));
  EXPECT_THAT(ca->Issue(Req("a/b", true)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("path separator")));
  EXPECT_THAT(ca->Issue(Req("", true)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("must not be empty")));
  EXPECT_THAT(ca->Issue(Req(".hidden", true)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("must not start with '.'")));
  EXPECT_THAT(ca->Issue(Req("a b", true)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("[A-Za-z0-9._-]")));
  EXPECT_THAT(ca->Issue(Req(std::string(65, 'a'), true)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("longer than 64")));
  EXPECT_THAT(ca->Issue(Req("ca", true)),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("reserved")));
  EXPECT_THAT(ca->Issue(Req("nothing", false)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("neither")));
  EXPECT_THAT(ca->Issue(Req("h", false, {"bad host!"})),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("server host \"bad host!\"")));
  EXPECT_THAT(ca->Issue(Req("v", true, {}, std::nullopt, 0)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("validity_days")));
  ASSERT_OK(ca->Issue(Req("dup", true)).status());
  EXPECT_THAT(ca->Issue(Req("dup", true)), StatusIs(StatusCode::kAlreadyExists));
  // Nothing was written for the refused requests.
  EXPECT_FALSE(std::filesystem::exists(tmp.File("nothing.key")));
  EXPECT_FALSE(std::filesystem::exists(tmp.File("h.key")));
}

TEST(CertificateAuthorityTest, BadOrgCodeRefusedByItsType) {
  EXPECT_THAT(OrgCode::Parse("12345"), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace chukan::pki
