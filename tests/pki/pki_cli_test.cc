// Runs the real `chukan pki` binary and checks the files it writes with OpenSSL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "common/test_util.h"

namespace {

using ::chukan::testing::TempDir;
using ::testing::HasSubstr;

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

RunResult RunChukan(const std::string& args) {
  RunResult r;
  std::string cmd = std::string(CHUKAN_BINARY) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 512> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr ReadCert(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return nullptr;
  X509* c = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return X509Ptr(c);
}

// What `openssl verify -CAfile ca.crt -purpose <purpose> leaf.crt` checks.
int Verify(const std::string& ca_file, const std::string& leaf_file, int purpose) {
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), &X509_STORE_free);
  if (X509_STORE_load_file(store.get(), ca_file.c_str()) != 1) return -2;
  X509Ptr leaf = ReadCert(leaf_file);
  if (!leaf) return -3;
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      &X509_STORE_CTX_free);
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  return X509_verify_cert(ctx.get()) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx.get());
}

mode_t Mode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 0777;
}

TEST(PkiCliTest, InitThenIssueServerAndClient) {
  TempDir tmp;
  const std::string dir = tmp.File("pki");
  RunResult init = RunChukan("pki init --dir " + dir);
  ASSERT_EQ(init.exit_code, 0) << init.output;
  EXPECT_THAT(init.output, HasSubstr("認証局を作成しました"));
  EXPECT_EQ(Mode(dir + "/ca.key"), 0600u);

  RunResult server =
      RunChukan("pki issue --dir " + dir +
                " --name hub --org 1234567890123456 --server localhost --server 127.0.0.1");
  ASSERT_EQ(server.exit_code, 0) << server.output;
  EXPECT_EQ(Mode(dir + "/hub.key"), 0600u);
  EXPECT_EQ(Verify(dir + "/ca.crt", dir + "/hub.crt", X509_PURPOSE_SSL_SERVER), X509_V_OK);
  X509Ptr hub = ReadCert(dir + "/hub.crt");
  ASSERT_NE(hub, nullptr);
  EXPECT_EQ(X509_check_ip_asc(hub.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_host(hub.get(), "localhost", 0, 0, nullptr), 1);

  RunResult client =
      RunChukan("pki issue --dir " + dir + " --name city --org 0000000000000042 --client");
  ASSERT_EQ(client.exit_code, 0) << client.output;
  EXPECT_EQ(Verify(dir + "/ca.crt", dir + "/city.crt", X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(Verify(dir + "/ca.crt", dir + "/city.crt", X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_INVALID_PURPOSE);
}

TEST(PkiCliTest, RefusesExistingCaAndBadArguments) {
  TempDir tmp;
  ASSERT_EQ(RunChukan("pki init --dir " + tmp.path()).exit_code, 0);
  RunResult again = RunChukan("pki init --dir " + tmp.path());
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.output, HasSubstr("ALREADY_EXISTS"));

  RunResult bad_org = RunChukan("pki issue --dir " + tmp.path() + " --name x --org 123 --client");
  EXPECT_EQ(bad_org.exit_code, 2);
  EXPECT_THAT(bad_org.output, HasSubstr("機関コードが不正です"));

  RunResult bad_name = RunChukan("pki issue --dir " + tmp.path() + " --name ../x --client");
  EXPECT_EQ(bad_name.exit_code, 2);
  EXPECT_THAT(bad_name.output, HasSubstr("path separator"));

  RunResult no_ca = RunChukan("pki issue --dir " + tmp.File("none") + " --name x --client");
  EXPECT_EQ(no_ca.exit_code, 1);
  EXPECT_THAT(no_ca.output, HasSubstr("NOT_FOUND"));

  RunResult missing = RunChukan("pki issue --dir " + tmp.path());
  EXPECT_EQ(missing.exit_code, 2);
}

}  // namespace
