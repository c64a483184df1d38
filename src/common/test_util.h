// Test helpers shared by every component's tests: a self-deleting temporary directory.
#ifndef CHUKAN_COMMON_TEST_UTIL_H_
#define CHUKAN_COMMON_TEST_UTIL_H_

#include <cstdlib>
#include <filesystem>
#include <string>

namespace chukan::testing {

// Creates a fresh directory under $TMPDIR (or /tmp) and removes it, recursively, when destroyed.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/chukan-test-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();  // the test machine is broken
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace chukan::testing

#endif  // CHUKAN_COMMON_TEST_UTIL_H_
