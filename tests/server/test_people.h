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

// 地方税関係情報 (TM00000000000002, 16 items) of people 1..people as the CSV a replica import
// takes (atena_no = Atena(person)); person p's taxable income (IT00000200000004) is
// income_base + p, a marker the tests look for.
inline std::string TaxCsv(int people, long long income_base) {
  std::string f = "atena_no";
  for (int i = 1; i <= 16; ++i) {
    char code[24];
    std::snprintf(code, sizeof(code), ",IT000002000000%02d", i);
    f += code;
  }
  f += "\n";
  for (int p = 1; p <= people; ++p) {
    f += Atena(p) + ",2026,2026-01-01,1," + std::to_string(income_base + p) +
         ",1800000,50000,200000,30000,150000,20000,1,0,1,2,,10000\n";
  }
  return f;
}

}  // namespace chukan::testing

#endif  // CHUKAN_TESTS_SERVER_TEST_PEOPLE_H_
