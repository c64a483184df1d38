#include "common/thread_name.h"

#include <pthread.h>

#include <algorithm>
#include <array>

namespace chukan {

void NameThisThread(std::string_view name) {
  std::array<char, 16> buf{};  // 15 bytes and the terminating NUL (TASK_COMM_LEN)
  const size_t n = std::min(name.size(), buf.size() - 1);
  std::copy_n(name.data(), n, buf.data());
  (void)pthread_setname_np(pthread_self(), buf.data());
}

std::string ThisThreadName() {
  std::array<char, 16> buf{};
  if (pthread_getname_np(pthread_self(), buf.data(), buf.size()) != 0) return "";
  return std::string(buf.data());
}

}  // namespace chukan
