#include "pki/certificate_authority.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace chukan::pki {
namespace {

struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Deleter {
  void operator()(X509* p) const { X509_free(p); }
};
struct BioDeleter {
  void operator()(BIO* p) const { BIO_free_all(p); }
};
struct X509ExtDeleter {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
struct BnDeleter {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, X509ExtDeleter>;
using BnPtr = std::unique_ptr<BIGNUM, BnDeleter>;

// The OpenSSL error queue as text (and cleared), for error messages.
std::string OpenSslError(std::string_view what) {
  std::string out(what);
  unsigned long e = 0;
  bool first = true;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    out += first ? ": " : "; ";
    out += buf;
    first = false;
  }
  return out;
}

Status SslFailure(std::string_view what) { return InternalError(OpenSslError(what)); }

Result<PkeyPtr> GenerateP256() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return SslFailure("pki: generating an ECDSA P-256 key");
  return key;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return NotFoundError(path + ": no such file");
    return InternalError(path + ": " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes `data` to a new file with `mode`; refuses to replace an existing file (O_EXCL).
Status WriteNewFile(const std::string& path, std::string_view data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return AlreadyExistsError(path + ": already exists; not overwritten");
    return InternalError(path + ": " + std::strerror(errno));
  }
  // The umask may have cleared bits; make the mode exact (0600 for keys).
  if (::fchmod(fd, mode) != 0) {
    int err = errno;
    ::close(fd);
    return InternalError(path + ": chmod: " + std::strerror(err));
  }
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return InternalError(path + ": write: " + std::strerror(err));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return InternalError(path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Result<std::string> BioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len < 0) return SslFailure("pki: reading a memory BIO");
  return std::string(data, static_cast<size_t>(len));
}

Result<std::string> KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return SslFailure("pki: encoding a private key");
  return BioToString(bio.get());
}

Result<std::string> CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
    return SslFailure("pki: encoding a certificate");
  return BioToString(bio.get());
}

// Adds one extension given in OpenSSL's config syntax, with issuer/subject context.
Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext) return SslFailure("pki: building extension " + std::string(OBJ_nid2sn(nid)));
  if (X509_add_ext(cert, ext.get(), -1) != 1) return SslFailure("pki: adding an extension");
  return Status::Ok();
}

Status SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return SslFailure("pki: random serial");
  bytes[0] &= 0x7f;  // positive
  bytes[0] |= 0x01;  // and 16 bytes long, never a leading zero
  BnPtr bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr)
    return SslFailure("pki: setting the serial number");
  return Status::Ok();
}

Status AddNameEntry(X509_NAME* name, const char* field, const std::string& value) {
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                 0) != 1)
    return SslFailure(std::string("pki: setting subject ") + field);
  return Status::Ok();
}

// A certificate with version 3, random serial, validity [now-5min, now+days], the subject
// "CN=cn" (+ serialNumber) and `key`'s public key. Not yet signed.
Result<X509Ptr> NewCert(EVP_PKEY* key, const std::string& cn, const std::optional<OrgCode>& org,
                        int days) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1)
    return SslFailure("pki: new certificate");
  RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  // Backdated a few minutes so that a certificate issued just now verifies on a machine whose
  // clock is slightly behind.
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400) == nullptr)
    return SslFailure("pki: setting the validity");
  X509_NAME* name = X509_get_subject_name(cert.get());
  RETURN_IF_ERROR(AddNameEntry(name, "CN", cn));
  if (org) RETURN_IF_ERROR(AddNameEntry(name, "serialNumber", org->str()));
  if (X509_set_pubkey(cert.get(), key) != 1) return SslFailure("pki: setting the public key");
  return cert;
}

bool IsIpAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// A DNS name: labels of [A-Za-z0-9-] (a leading "*." wildcard allowed), 1..253 characters.
bool IsDnsName(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  std::string_view rest = host;
  if (rest.substr(0, 2) == "*.") rest.remove_prefix(2);
  size_t label_len = 0;
  for (char c : rest) {
    if (c == '.') {
      if (label_len == 0) return false;
      label_len = 0;
      continue;
    }
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok || ++label_len > 63) return false;
  }
  return label_len > 0;
}

}  // namespace

struct CertificateAuthority::Keys {
  PkeyPtr key;
  X509Ptr cert;
};

CertificateAuthority::CertificateAuthority(std::string dir, std::unique_ptr<Keys> keys)
    : dir_(std::move(dir)), keys_(std::move(keys)) {}
CertificateAuthority::~CertificateAuthority() = default;

Status ValidateCertName(std::string_view name) {
  if (name.empty()) return InvalidArgumentError("name: must not be empty");
  if (name.size() > 64) return InvalidArgumentError("name: longer than 64 characters");
  if (name.find('/') != std::string_view::npos || name.find('\\') != std::string_view::npos)
    return InvalidArgumentError("name: must not contain a path separator");
  if (name.front() == '.') return InvalidArgumentError("name: must not start with '.'");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return InvalidArgumentError("name: only [A-Za-z0-9._-] allowed");
  }
  return Status::Ok();
}

Result<std::unique_ptr<CertificateAuthority>> CertificateAuthority::Init(
    const std::string& dir, const std::string& common_name) {
  if (dir.empty()) return InvalidArgumentError("pki init: directory must not be empty");
  std::error_code ec;
  const bool created = std::filesystem::create_directories(dir, ec);
  if (ec) return InternalError(dir + ": " + ec.message());
  if (created) {
    // Only the owner may list or enter a new CA directory; an existing one is left as it is.
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, ec);
    if (ec) return InternalError(dir + ": chmod: " + ec.message());
  }
  const std::string key_path = dir + "/ca.key";
  const std::string cert_path = dir + "/ca.crt";
  if (std::filesystem::exists(key_path, ec) || std::filesystem::exists(cert_path, ec))
    return AlreadyExistsError(dir + ": a CA already exists (ca.key or ca.crt); not overwritten");

  auto keys = std::make_unique<Keys>();
  ASSIGN_OR_RETURN(keys->key, GenerateP256());
  ASSIGN_OR_RETURN(keys->cert, NewCert(keys->key.get(), common_name, std::nullopt, 3650));
  X509* cert = keys->cert.get();
  if (X509_set_issuer_name(cert, X509_get_subject_name(cert)) != 1)
    return SslFailure("pki: setting the issuer");
  RETURN_IF_ERROR(AddExt(cert, cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  RETURN_IF_ERROR(AddExt(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign"));
  RETURN_IF_ERROR(AddExt(cert, cert, NID_subject_key_identifier, "hash"));
  if (X509_sign(cert, keys->key.get(), EVP_sha256()) == 0)
    return SslFailure("pki: signing the CA certificate");

  ASSIGN_OR_RETURN(std::string key_pem, KeyToPem(keys->key.get()));
  ASSIGN_OR_RETURN(std::string cert_pem, CertToPem(cert));
  RETURN_IF_ERROR(WriteNewFile(key_path, key_pem, 0600));
  RETURN_IF_ERROR(WriteNewFile(cert_path, cert_pem, 0644));
  return std::unique_ptr<CertificateAuthority>(new CertificateAuthority(dir, std::move(keys)));
}

Result<std::unique_ptr<CertificateAuthority>> CertificateAuthority::Load(const std::string& dir) {
  const std::string key_path = dir + "/ca.key";
  const std::string cert_path = dir + "/ca.crt";
  ASSIGN_OR_RETURN(std::string key_pem, ReadFile(key_path));
  ASSIGN_OR_RETURN(std::string cert_pem, ReadFile(cert_path));
  auto keys = std::make_unique<Keys>();
  {
    BioPtr bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
    keys->key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!keys->key) return DataLossError(OpenSslError(key_path + ": not a PEM private key"));
  }
  {
    BioPtr bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())));
    keys->cert.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!keys->cert) return DataLossError(OpenSslError(cert_path + ": not a PEM certificate"));
  }
  if (X509_check_private_key(keys->cert.get(), keys->key.get()) != 1) {
    ERR_clear_error();
    return DataLossError(dir + ": ca.key does not match ca.crt");
  }
  return std::unique_ptr<CertificateAuthority>(new CertificateAuthority(dir, std::move(keys)));
}

Result<IssuedPaths> CertificateAuthority::Issue(const IssueRequest& request) const {
  RETURN_IF_ERROR(ValidateCertName(request.name));
  if (request.name == "ca") return AlreadyExistsError("name: \"ca\" is reserved for the CA itself");
  if (request.server_hosts.empty() && !request.client)
    return InvalidArgumentError("request: neither a server host nor client use was requested");
  if (request.validity_days < 1 || request.validity_days > 3650)
    return InvalidArgumentError("validity_days: must be between 1 and 3650");
  std::string san;
  for (const std::string& host : request.server_hosts) {
    if (!san.empty()) san += ",";
    if (IsIpAddress(host)) {
      san += "IP:" + host;
    } else if (IsDnsName(host)) {
      san += "DNS:" + host;
    } else {
      return InvalidArgumentError("server host \"" + host.substr(0, 64) +
                                  "\": not a DNS name or an IP address");
    }
  }
  if (request.org) {
    if (!san.empty()) san += ",";
    san += "URI:" + std::string(kOrgUriPrefix) + request.org->str();
  }
  IssuedPaths paths{dir_ + "/" + request.name + ".key", dir_ + "/" + request.name + ".crt"};
  std::error_code ec;
  if (std::filesystem::exists(paths.key_file, ec) || std::filesystem::exists(paths.cert_file, ec))
    return AlreadyExistsError(dir_ + "/" + request.name + ".{key,crt}: already exists");

  ASSIGN_OR_RETURN(PkeyPtr key, GenerateP256());
  ASSIGN_OR_RETURN(X509Ptr cert,
                   NewCert(key.get(), request.name, request.org, request.validity_days));
  X509* ca = keys_->cert.get();
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(ca)) != 1)
    return SslFailure("pki: setting the issuer");
  RETURN_IF_ERROR(AddExt(cert.get(), ca, NID_basic_constraints, "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExt(cert.get(), ca, NID_key_usage, "critical,digitalSignature"));
  std::string eku;
  if (!request.server_hosts.empty()) eku = "serverAuth";
  if (request.client) eku += eku.empty() ? "clientAuth" : ",clientAuth";
  RETURN_IF_ERROR(AddExt(cert.get(), ca, NID_ext_key_usage, eku));
  RETURN_IF_ERROR(AddExt(cert.get(), ca, NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExt(cert.get(), ca, NID_authority_key_identifier, "keyid:always"));
  if (!san.empty()) RETURN_IF_ERROR(AddExt(cert.get(), ca, NID_subject_alt_name, san));
  if (X509_sign(cert.get(), keys_->key.get(), EVP_sha256()) == 0)
    return SslFailure("pki: signing the certificate");

  ASSIGN_OR_RETURN(std::string key_pem, KeyToPem(key.get()));
  ASSIGN_OR_RETURN(std::string cert_pem, CertToPem(cert.get()));
  RETURN_IF_ERROR(WriteNewFile(paths.key_file, key_pem, 0600));
  Status st = WriteNewFile(paths.cert_file, cert_pem, 0644);
  if (!st.ok()) {
    std::filesystem::remove(paths.key_file, ec);  // leave no half-issued pair behind
    return st;
  }
  return paths;
}

Result<CertificateInfo> ReadCertificateFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string pem, ReadFile(path));
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return SslFailure("pki: BIO_new_mem_buf");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    ERR_clear_error();
    return InvalidArgumentError(path + ": no PEM certificate in the file");
  }
  return DescribeCertificate(cert.get());
}

}  // namespace chukan::pki
