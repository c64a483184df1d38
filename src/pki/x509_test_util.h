// Test helper of the PKI tests: an owning pointer to an OpenSSL certificate.
#ifndef CHUKAN_PKI_X509_TEST_UTIL_H_
#define CHUKAN_PKI_X509_TEST_UTIL_H_

#include <openssl/x509.h>

#include <memory>

namespace chukan::pki::testing {

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

}  // namespace chukan::pki::testing

#endif  // CHUKAN_PKI_X509_TEST_UTIL_H_
