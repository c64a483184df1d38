#include "common/thread_name.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace chukan {
namespace {

TEST(ThreadNameTest, NamesTheCallingThreadOnly) {
  const std::string before = ThisThreadName();
  std::string inside;
  std::thread t([&] {
    NameThisThread("commit");
    inside = ThisThreadName();
  });
  t.join();
  EXPECT_EQ(inside, "commit");
  EXPECT_EQ(ThisThreadName(), before);
}

TEST(ThreadNameTest, ALongNameIsCutToFifteenBytes) {
  std::string inside;
  std::thread t([&] {
    NameThisThread("outbox-pump-dispatcher");
    inside = ThisThreadName();
  });
  t.join();
  EXPECT_EQ(inside, "outbox-pump-dis");
}

}  // namespace
}  // namespace chukan
