// CertificateAuthority: a small X.509 certificate authority for development, tests and the demo
// (the `chukan pki` commands). It creates a self-signed ECDSA P-256 CA in a directory and issues
// server and/or client certificates signed by it, for TLS 1.3 and mutual TLS between chukan
// servers, the hub and existing systems (既存システム).
//
// Directory layout (see docs/pki.md):
//   <dir>/ca.key        CA private key, PKCS#8 PEM, mode 0600
//   <dir>/ca.crt        CA certificate, PEM
//   <dir>/<name>.key    issued private key, PKCS#8 PEM, mode 0600
//   <dir>/<name>.crt    issued certificate, PEM
//
// An organisation's code (機関コード) is carried in issued certificates both as the subject
// serialNumber attribute and as a SAN URI "urn:chukan:org:<16 digits>", so that a server can map
// a verified client certificate to an organisation.
//
// Thread-safety: a loaded CertificateAuthority is immutable except for Issue(), which writes
// files; concurrent Issue() calls with different names are safe, with the same name they race
// (the second refuses, see Issue()).
#ifndef CHUKAN_PKI_CERTIFICATE_AUTHORITY_H_
#define CHUKAN_PKI_CERTIFICATE_AUTHORITY_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "pki/certificate_identity.h"

namespace chukan::pki {

// What to issue. At least one of `server_hosts` non-empty or `client` true is required.
struct IssueRequest {
  // File stem and subject CN: 1..64 characters of [A-Za-z0-9._-], not starting with '.'.
  std::string name;
  // The organisation the certificate belongs to (subject serialNumber + SAN URI).
  std::optional<OrgCode> org;
  // DNS names or IP addresses (v4 or v6) put in the subjectAltName; non-empty adds the
  // serverAuth extended key usage.
  std::vector<std::string> server_hosts;
  // Adds the clientAuth extended key usage.
  bool client = false;
  // Validity in days from now (1..3650).
  int validity_days = 825;
};

// Where Issue() wrote its files.
struct IssuedPaths {
  std::string key_file;
  std::string cert_file;
};

// Reads the first certificate of a PEM file. Errors: kNotFound (no such file); kInvalidArgument
// naming the file when it holds no PEM certificate.
Result<CertificateInfo> ReadCertificateFile(const std::string& path);

class CertificateAuthority {
 public:
  ~CertificateAuthority();
  CertificateAuthority(const CertificateAuthority&) = delete;
  CertificateAuthority& operator=(const CertificateAuthority&) = delete;

  // Creates `dir` (mode 0700) if needed and a new CA in it: ca.key (0600) and ca.crt,
  // self-signed, basicConstraints critical CA:TRUE pathlen:0, keyUsage keyCertSign+cRLSign,
  // valid 10 years, subject "CN=<common_name>".
  // Errors: kAlreadyExists if ca.key or ca.crt already exists (never overwritten);
  // kInvalidArgument if `dir` is empty; kInternal for file-system or OpenSSL failures (the
  // message names the path and the library's reason).
  static Result<std::unique_ptr<CertificateAuthority>> Init(
      const std::string& dir, const std::string& common_name = "chukan development CA");

  // Loads an existing CA from `dir` and checks that ca.key matches ca.crt.
  // Errors: kNotFound if ca.key or ca.crt is missing; kDataLoss if either cannot be parsed or
  // they do not match; kInternal otherwise.
  static Result<std::unique_ptr<CertificateAuthority>> Load(const std::string& dir);

  // Issues a certificate: a fresh ECDSA P-256 key, subject "CN=<name>" (+ serialNumber=<org>),
  // SANs, keyUsage digitalSignature, EKU serverAuth and/or clientAuth, a random 128-bit serial,
  // authority/subject key identifiers. Writes <dir>/<name>.key (0600) and <dir>/<name>.crt.
  // Errors: kInvalidArgument for a bad name, an empty or malformed host, neither server nor
  // client requested, or validity out of range (the message names the field);
  // kAlreadyExists if <name>.key or <name>.crt exists, or the name is "ca";
  // kInternal for file-system or OpenSSL failures.
  Result<IssuedPaths> Issue(const IssueRequest& request) const;

  const std::string& dir() const { return dir_; }
  std::string ca_cert_file() const { return dir_ + "/ca.crt"; }

 private:
  struct Keys;
  CertificateAuthority(std::string dir, std::unique_ptr<Keys> keys);

  std::string dir_;
  std::unique_ptr<Keys> keys_;
};

// Validates a certificate file name as IssueRequest::name requires.
// Errors: kInvalidArgument naming what is wrong.
Status ValidateCertName(std::string_view name);

}  // namespace chukan::pki

#endif  // CHUKAN_PKI_CERTIFICATE_AUTHORITY_H_
