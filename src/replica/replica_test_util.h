// Test helpers of the replica tests: the 地方税関係情報 (local tax) specific personal
// information and the header line of its import file.
#ifndef CHUKAN_REPLICA_REPLICA_TEST_UTIL_H_
#define CHUKAN_REPLICA_REPLICA_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <string>

#include "common/ids.h"
#include "common/status_matchers.h"
#include "store/database.h"

namespace chukan::replica::testing {

inline const TmCode kTax = TmCode::Parse("TM00000000000002").value();
inline const std::string kTaxHeader =
    "atena_no,IT00000200000001,IT00000200000002,IT00000200000003,IT00000200000004,"
    "IT00000200000005,IT00000200000006,IT00000200000007,IT00000200000008,IT00000200000009,"
    "IT00000200000010,IT00000200000011,IT00000200000012,IT00000200000013,IT00000200000014,"
    "IT00000200000015,IT00000200000016\n";

// SQLite: a TEMP trigger on the writer connection of `db` that gives the record written with
// id 3 the key of the record with id 1 — a repeated key that the import's checks would have
// refused, for the tests of a first import's index build. RemoveRepeatKeyTrigger drops it.
inline void InstallRepeatKeyTrigger(store::Database& db) {
  ASSERT_OK_AND_ASSIGN(auto tx, db.Begin());
  ASSERT_OK(tx->ExecScript(
      "CREATE TEMP TRIGGER test_repeat_key AFTER INSERT ON main.replica_record WHEN NEW.id = 3 "
      "BEGIN UPDATE replica_record SET key_hash = (SELECT key_hash FROM replica_record WHERE "
      "id = 1) WHERE id = 3; END"));
  ASSERT_OK(tx->Commit());
}
inline void RemoveRepeatKeyTrigger(store::Database& db) {
  ASSERT_OK_AND_ASSIGN(auto tx, db.Begin());
  ASSERT_OK(tx->ExecScript("DROP TRIGGER temp.test_repeat_key"));
  ASSERT_OK(tx->Commit());
}

}  // namespace chukan::replica::testing

#endif  // CHUKAN_REPLICA_REPLICA_TEST_UTIL_H_
