// Tests only: the numbers of made-up residents, as the process tests use them.
#ifndef CHUKAN_TESTS_SERVER_TEST_PEOPLE_H_
#define CHUKAN_TESTS_SERVER_TEST_PEOPLE_H_

#include <cstdio>
#include <string>

namespace chukan::testing {

// A 団体内統合宛名番号 (15 digits) for person `n`.
inline std::string Atena(int n) {
  char s[16];
  std::snprintf(s, sizeof(s), "%015d", n);
  return s;
}

// A 住民票コード (11 digits) for person `person`.
inline std::string Resident(int person) {
  char s[16];
  std::snprintf(s, sizeof(s), "%011lld", 30000000000LL + person);
  return s;
}

}  // namespace chukan::testing

#endif  // CHUKAN_TESTS_SERVER_TEST_PEOPLE_H_
