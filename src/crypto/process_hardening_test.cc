#include "crypto/process_hardening.h"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/status_matchers.h"

namespace chukan::crypto {
namespace {

// Runs in a forked child so the test process itself stays debuggable.
TEST(ProcessHardeningTest, DisablesCoreDumpsAndDumpable) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (!HardenProcess().ok()) _exit(10);
    rlimit lim{};
    if (getrlimit(RLIMIT_CORE, &lim) != 0 || lim.rlim_cur != 0 || lim.rlim_max != 0) _exit(11);
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) _exit(12);
    if (!HardenProcess().ok()) _exit(13);  // idempotent
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace chukan::crypto
