// Test helpers of the replica tests: the 地方税関係情報 (local tax) specific personal
// information and the header line of its import file.
#ifndef CHUKAN_REPLICA_REPLICA_TEST_UTIL_H_
#define CHUKAN_REPLICA_REPLICA_TEST_UTIL_H_

#include <string>

#include "common/ids.h"

namespace chukan::replica::testing {

inline const TmCode kTax = TmCode::Parse("TM00000000000002").value();
inline const std::string kTaxHeader =
    "atena_no,IT00000200000001,IT00000200000002,IT00000200000003,IT00000200000004,"
    "IT00000200000005,IT00000200000006,IT00000200000007,IT00000200000008,IT00000200000009,"
    "IT00000200000010,IT00000200000011,IT00000200000012,IT00000200000013,IT00000200000014,"
    "IT00000200000015,IT00000200000016\n";

}  // namespace chukan::replica::testing

#endif  // CHUKAN_REPLICA_REPLICA_TEST_UTIL_H_
