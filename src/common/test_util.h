// Test helpers shared by every component's tests: a self-deleting temporary directory.
#ifndef CHUKAN_COMMON_TEST_UTIL_H_
#define CHUKAN_COMMON_TEST_UTIL_H_

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

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
  // Writes `text` to the file `name` in the directory (replacing it); a failure fails the test
  // when the file is read.
  void Write(const std::string& name, std::string_view text) const {
    std::ofstream(File(name), std::ios::binary) << text;
  }

 private:
  std::string path_;
};

}  // namespace chukan::testing

#endif  // CHUKAN_COMMON_TEST_UTIL_H_
