// Tests only: runs the real `chukan` binary — `chukan server` or `chukan hub` as a child process on
// a free loopback port, and one-shot admin commands — and stops what it started.
#ifndef CHUKAN_TESTS_SERVER_SERVER_PROCESS_H_
#define CHUKAN_TESTS_SERVER_SERVER_PROCESS_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace chukan::testing {

// The chukan binary the tests run: CHUKAN_TEST_BINARY when set (to run a test against another
// build, e.g. to show that it fails before a fix), else the one built with the tests.
inline const char* ChukanBinary() {
  const char* b = std::getenv("CHUKAN_TEST_BINARY");
  return b != nullptr && *b != '\0' ? b : CHUKAN_BINARY;
}

struct CommandOutput {
  int exit_code = -1;
  std::string out;  // stdout only
};

// Runs `chukan ARGS` (shell-quoted by the caller) and captures standard output.
inline CommandOutput RunChukan(const std::string& args) {
  CommandOutput r;
  const std::string cmd = std::string(ChukanBinary()) + " " + args + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// `chukan server --config FILE` in a child process. Start() waits for its "listening on" line.
class ServerProcess {
 public:
  ~ServerProcess() { Stop(); }

  // Returns false (with the server's output in `log`) if it did not come up.
  // `command` is the subcommand that takes --config: "server" or "hub".
  // `binary` defaults to ChukanBinary().
  bool Start(const std::string& config, std::string* log, const char* command = "server",
             const char* binary = ChukanBinary()) {
    int pipefd[2];
    if (pipe(pipefd) != 0) return false;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(pipefd[1], STDOUT_FILENO);
      close(pipefd[0]);
      close(pipefd[1]);
      execl(binary, binary, command, "--config", config.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(pipefd[1]);
    out_ = fdopen(pipefd[0], "r");
    char line[512];
    while (fgets(line, sizeof(line), out_) != nullptr) {
      const std::string s(line);
      log->append(s);
      const size_t at = s.find("127.0.0.1:");
      if (s.find("listening on") != std::string::npos && at != std::string::npos) {
        port_ = std::stoi(s.substr(at + 10));
        return true;
      }
    }
    return false;
  }

  // SIGTERM, then wait: the server stops gracefully. Returns its exit code (the same code
  // again on later calls).
  int Stop() {
    int& code = exit_code_;
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
      code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      pid_ = -1;
    }
    if (out_ != nullptr) {
      fclose(out_);
      out_ = nullptr;
    }
    return code;
  }

  // SIGKILL: the process dies at whatever point it is (crash tests).
  void Kill() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
      exit_code_ = -1;
      pid_ = -1;
    }
    if (out_ != nullptr) {
      fclose(out_);
      out_ = nullptr;
    }
  }

  // Sends `sig` to the process and returns the next line it writes to standard output ("" at
  // its end). Blocks until that line comes: for a signal the process answers on stdout.
  std::string SignalAndReadLine(int sig) {
    if (pid_ <= 0 || out_ == nullptr) return "";
    kill(pid_, sig);
    char line[1024];
    if (fgets(line, sizeof(line), out_) == nullptr) return "";
    std::string s(line);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
  FILE* out_ = nullptr;
  int port_ = 0;
};

}  // namespace chukan::testing

#endif  // CHUKAN_TESTS_SERVER_SERVER_PROCESS_H_
