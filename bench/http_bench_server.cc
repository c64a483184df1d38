// chukan_http_bench_server --port N [--threads T]: serves GET /hello ("hello", text/plain) with
// chukan's HTTP server until SIGINT/SIGTERM. Used by scripts/bench-http-vs-nginx to compare
// requests/s with nginx under wrk. Prints "listening <port>" once ready.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/log.h"
#include "http/server.h"

int main(int argc, char** argv) {
  chukan::http::ServerOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--port" && i + 1 < argc) {
      options.port = static_cast<uint16_t>(std::atoi(argv[++i]));
    } else if (a == "--threads" && i + 1 < argc) {
      options.threads = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--port N] [--threads T]\n", argv[0]);
      return 2;
    }
  }
  (void)chukan::log::Init({.level = chukan::log::Level::kWarn, .path = ""});
  chukan::http::Router router;
  (void)router.Add("GET", "/hello", [](chukan::http::Request&) {
    return chukan::http::Response::Text(200, "hello");
  });
  // A shell without job control starts background jobs with SIGINT ignored, and an ignored
  // signal is discarded even while blocked: restore the default so sigwait can receive it.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  // Block the signals before any thread starts, so only sigwait below receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto server = chukan::http::Server::Create(options, std::move(router));
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  if (auto st = (*server)->Start(); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  std::printf("listening %u\n", static_cast<unsigned>((*server)->port()));
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  (*server)->Stop(std::chrono::seconds(1));
  return 0;
}
