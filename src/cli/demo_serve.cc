// `chukan demo --serve`: after the steps, the network the demo built runs again for a person to
// try the staff console: the hub and both servers are restarted over the demo's data (replicas,
// inquiries, records), one member holding every role is added to each tenant, and the console
// URLs and logins are printed. Ctrl-C (SIGINT) or SIGTERM stops everything.
#include <csignal>
#include <cstdio>
#include <string>

#include "cli/admin_common.h"
#include "cli/demo_steps.h"
#include "cli/local_network.h"
#include "server/staff_directory.h"
#include "server/tenant_context.h"

namespace chukan::cli {

int ServeDemo(LocalNetwork& net) {
  std::printf(
      "\n職員画面を試せるようにネットワークを再起動します / restarting the network for the "
      "console\n");
  if (Status s = net.RestartHub(); !s.ok()) {
    PrintError("ハブを起動できません", "cannot start the hub", s);
    return 1;
  }
  for (int i = 0; i < net.server_count(); ++i) {
    if (Status s = net.RestartServer(i); !s.ok()) {
      PrintError("中間サーバーを起動できません", "cannot start a server", s);
      net.StopAll();
      return 1;
    }
  }
  for (int i = 0; i < net.server_count(); ++i) {
    std::printf("\n中間サーバー %d / server %d: %s/console/login\n", i + 1, i + 1,
                net.ApiUrl(i).c_str());
    Result<std::unique_ptr<server::Platform>> platform = OpenPlatform(net.server_config(i), false);
    if (!platform.ok()) {
      net.StopAll();
      return 1;
    }
    for (const NetworkOrg& o : net.options().orgs) {
      if (o.server != i) continue;
      Result<std::shared_ptr<server::TenantContext>> t =
          (*platform)->Tenant(TenantId::ForOrg(o.org));
      if (!t.ok()) {
        PrintError("テナントを開けません", "cannot open a tenant", t.status());
        net.StopAll();
        return 1;
      }
      server::StaffDirectory dir(**t, server::StaffDirectory::Policy{}, SystemClock::Get());
      Result<server::StaffCreated> c =
          dir.Add("demo", "デモ 職員", "0001", server::kAllStaffRoles, "cli:demo");
      if (!c.ok()) {
        PrintError("デモ職員を追加できません", "cannot add the demo staff member", c.status());
        net.StopAll();
        return 1;
      }
      std::printf(
          "  %s（%s）\n    機関コード / organisation: %s\n    ログインID / login: demo\n"
          "    初期パスワード / one-time password: %s\n",
          o.name.c_str(), o.org.str().c_str(), o.org.str().c_str(), c->initial_password.c_str());
      if (c->enrolment) {
        std::printf("    二要素認証 / TOTP secret: %s\n    (%s)\n",
                    c->enrolment->secret_base32.c_str(), c->enrolment->uri.c_str());
      }
    }
  }
  std::printf(
      "\n役割はすべて（照会担当・承認者・副本担当・監査担当・管理者）。初回ログインで二要素認証の"
      "登録とパスワードの変更を求められます。\n/ The member holds every role; the first "
      "login asks to enrol the second factor and to change the password.\n"
      "Ctrl-C で終了します / press Ctrl-C to stop.\n");
  std::fflush(stdout);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  std::printf("\n停止します / stopping\n");
  const int code = net.StopAll();
  return code == 0 ? 0 : 1;
}

}  // namespace chukan::cli
