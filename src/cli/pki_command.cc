// `chukan pki init` and `chukan pki issue`: a development CA for TLS and mutual TLS.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/ids.h"
#include "crypto/bytes.h"
#include "crypto/ed25519.h"
#include "crypto/key_file.h"
#include "pki/certificate_authority.h"

namespace chukan::cli {
namespace {

// Exit codes: 0 success, 1 the operation failed, 2 usage error (bad argument value).
int ExitFor(const Status& st) { return st.code() == StatusCode::kInvalidArgument ? 2 : 1; }

void PrintError(const char* ja, const Status& st) {
  std::fprintf(stderr, "chukan pki: %s / %s\n", ja, st.ToString().c_str());
}

}  // namespace

void RegisterPkiCommands(CLI::App& app, Action& action) {
  CLI::App* pki = app.add_subcommand("pki", "開発用認証局 / development certificate authority");
  pki->require_subcommand(1);

  struct InitArgs {
    std::string dir;
  };
  auto init_args = std::make_shared<InitArgs>();
  CLI::App* init = pki->add_subcommand("init", "認証局を作成 / create a CA in a directory");
  init->add_option("--dir", init_args->dir, "認証局ディレクトリ / CA directory")->required();
  init->callback([init_args, &action] {
    action.run = [init_args]() -> int {
      auto ca = pki::CertificateAuthority::Init(init_args->dir);
      if (!ca.ok()) {
        PrintError("認証局を作成できません", ca.status());
        return ExitFor(ca.status());
      }
      std::printf("認証局を作成しました / created CA: %s\n", (*ca)->ca_cert_file().c_str());
      return 0;
    };
  });

  struct IssueArgs {
    std::string dir;
    std::string name;
    std::string org;
    std::vector<std::string> servers;
    bool client = false;
    int days = 825;
  };
  auto args = std::make_shared<IssueArgs>();
  CLI::App* issue = pki->add_subcommand("issue", "証明書を発行 / issue a certificate");
  issue->add_option("--dir", args->dir, "認証局ディレクトリ / CA directory")->required();
  issue->add_option("--name", args->name, "証明書名 / certificate name ([A-Za-z0-9._-])")
      ->required();
  issue->add_option("--org", args->org, "機関コード (16桁) / organisation code (16 digits)");
  issue->add_option("--server", args->servers,
                    "サーバーのホスト名またはIP (複数可) / server DNS name or IP (repeatable)");
  issue->add_flag("--client", args->client, "クライアント認証用 / for client authentication");
  issue->add_option("--days", args->days, "有効日数 / validity in days")->capture_default_str();
  issue->callback([args, &action] {
    action.run = [args]() -> int {
      pki::IssueRequest req;
      req.name = args->name;
      req.server_hosts = args->servers;
      req.client = args->client;
      req.validity_days = args->days;
      if (!args->org.empty()) {
        auto org = OrgCode::Parse(args->org);
        if (!org.ok()) {
          PrintError("機関コードが不正です", org.status());
          return 2;
        }
        req.org = *org;
      }
      // Validate the request before touching the CA, so a usage error is reported as one.
      if (Status st = pki::ValidateCertName(req.name); !st.ok()) {
        PrintError("証明書名が不正です", st);
        return 2;
      }
      auto ca = pki::CertificateAuthority::Load(args->dir);
      if (!ca.ok()) {
        PrintError("認証局を読み込めません", ca.status());
        return 1;
      }
      auto paths = (*ca)->Issue(req);
      if (!paths.ok()) {
        PrintError("証明書を発行できません", paths.status());
        return ExitFor(paths.status());
      }
      std::printf("証明書を発行しました / issued: %s %s\n", paths->cert_file.c_str(),
                  paths->key_file.c_str());
      return 0;
    };
  });

  // An organisation's Ed25519 signing key (envelopes; the hub registers the public half).
  struct SignKeyArgs {
    std::string dir;
    std::string name;
  };
  auto sk = std::make_shared<SignKeyArgs>();
  CLI::App* sign_key = pki->add_subcommand(
      "sign-key", "署名鍵 (Ed25519) を作成 / create an organisation's Ed25519 signing key");
  sign_key->add_option("--dir", sk->dir, "出力ディレクトリ / directory")->required();
  sign_key->add_option("--name", sk->name, "鍵の名前 / key name ([A-Za-z0-9._-])")->required();
  sign_key->callback([sk, &action] {
    action.run = [sk]() -> int {
      if (Status st = pki::ValidateCertName(sk->name); !st.ok()) {
        PrintError("鍵の名前が不正です", st);
        return 2;
      }
      const std::string key_path = sk->dir + "/" + sk->name + ".sign.key";
      const std::string pub_path = sk->dir + "/" + sk->name + ".sign.pub";
      auto seed = crypto::LoadOrCreateKeyFile(key_path, 32, true);
      if (!seed.ok()) {
        PrintError("署名鍵を作成できません", seed.status());
        return 1;
      }
      auto key = crypto::SigningKey::FromSeed(*seed);
      if (!key.ok()) {
        PrintError("署名鍵を読めません", key.status());
        return 1;
      }
      std::ofstream out(pub_path, std::ios::trunc);
      out << crypto::ToHex(key->verify_key().bytes()) << "\n";
      if (!out) {
        PrintError("公開鍵を書けません", InternalError(pub_path + ": write failed"));
        return 1;
      }
      std::printf("署名鍵 / signing key: %s (0600)\n公開鍵 / public key: %s\n", key_path.c_str(),
                  pub_path.c_str());
      return 0;
    };
  });
}

}  // namespace chukan::cli
