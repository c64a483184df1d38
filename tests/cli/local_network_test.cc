// ReservePort: the balancer's frontend ports, held from the moment they are chosen until haproxy
// has bound them.

#include "cli/local_network.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

namespace chukan::cli {
namespace {

// A TCP socket on 127.0.0.1:port (0: any); SO_REUSEADDR when `reuse`. Returns the socket and
// sets `err` to bind's errno (0 when bound).
int BindLoopback(int port, bool reuse, int& err) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  if (reuse) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  err = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 0 : errno;
  return fd;
}

int PortOf(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

// The defect CI met: the port was found free and let go at once, so anything could bind it in
// the minute before haproxy started. Held, a plain bind of it fails.
TEST(ReservePortTest, AReservedPortCannotBeBoundByAnotherSocketUntilReleased) {
  int held = -1;
  const Result<int> port = ReservePort(held);
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  ASSERT_GE(held, 0);
  EXPECT_GT(*port, 0);
  EXPECT_EQ(PortOf(held), *port);

  int err = 0;
  const int plain = BindLoopback(*port, /*reuse=*/false, err);
  EXPECT_EQ(err, EADDRINUSE);
  close(plain);

  close(held);
  const int after = BindLoopback(*port, /*reuse=*/false, err);
  EXPECT_EQ(err, 0) << "the port stays taken after its reservation is closed";
  close(after);
}

// bind(0) never hands out a held port: 2,000 tries, each of which would have a fair chance at
// a port that was merely found free (the ephemeral range is ~28,000 ports, and bind(0) prefers
// the odd half, where the reservation itself lands).
TEST(ReservePortTest, BindToPortZeroNeverGetsAReservedPort) {
  int held = -1;
  const Result<int> port = ReservePort(held);
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  for (int i = 0; i < 2000; ++i) {
    int err = 0;
    const int fd = BindLoopback(0, /*reuse=*/true, err);
    ASSERT_EQ(err, 0);
    ASSERT_NE(PortOf(fd), *port) << "try " << i;
    close(fd);
  }
  close(held);
}

// What haproxy does with a reserved port: binds it with SO_REUSEADDR and listens, while the
// reservation is still open.
TEST(ReservePortTest, AListenerWithReuseAddrBindsAndListensBesideTheReservation) {
  int held = -1;
  const Result<int> port = ReservePort(held);
  ASSERT_TRUE(port.ok()) << port.status().ToString();
  int err = 0;
  const int listener = BindLoopback(*port, /*reuse=*/true, err);
  ASSERT_EQ(err, 0);
  ASSERT_EQ(listen(listener, 4), 0) << errno;

  const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(*port));
  EXPECT_EQ(connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << errno;
  close(client);
  close(listener);
  close(held);
}

// The balancer's start watches haproxy with Exited, so that a haproxy that cannot bind is
// reported at once with its own words rather than after 30 s of refused connections.
TEST(ChildProcessTest, ExitedSeesTheExitAndStopReturnsItsCode) {
  const std::string err = ::testing::TempDir() + "/child-exited.err";
  Result<std::unique_ptr<ChildProcess>> p = ChildProcess::Start(
      "/bin/sh", {"-c", "echo ready; exec sleep 30"}, err, "ready", std::chrono::seconds(10));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  // Still running: it sleeps.
  EXPECT_FALSE((*p)->Exited());
  Result<std::unique_ptr<ChildProcess>> q = ChildProcess::Start(
      "/bin/sh", {"-c", "echo ready; exit 3"}, err, "ready", std::chrono::seconds(10));
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!(*q)->Exited() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE((*q)->Exited());
  EXPECT_EQ((*q)->Stop(), 3);
  EXPECT_EQ((*q)->Stop(), 3);
}

}  // namespace
}  // namespace chukan::cli
