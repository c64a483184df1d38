// Table copy: the tables of one database read and written generically, from the database's own
// catalogue (SQLite: sqlite_master and pragma_table_info; PostgreSQL: information_schema of the
// connection's schema), so that code moving a whole database between backends (the tenant
// transfer, server/tenant_transfer.h) carries any table a migration adds without knowing it.
//
// Rows travel as Values (value.h), which both backends produce and accept alike; the schema
// itself does not travel: the destination makes it with its own migrations for its own backend.
//
// Thread-safety: free functions over a caller's Transaction (one thread at a time).
#ifndef CHUKAN_STORE_TABLE_COPY_H_
#define CHUKAN_STORE_TABLE_COPY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/database.h"

namespace chukan::store {

// A table as the catalogue describes it.
struct TableSchema {
  std::string name;
  std::vector<std::string> columns;  // in declaration order
  std::vector<std::string> key;      // the primary key's columns, in key order; may be empty
};

// Whether `name` is a plain identifier chukan's schemas use ([a-z_][a-z0-9_]{0,62}): the only
// names these functions put into SQL.
bool IsPlainIdentifier(std::string_view name);

// Every table of the database `tx` reads (not SQLite's own sqlite_* tables), sorted by name.
// Errors: from the store; kDataLoss naming a table or column whose name is not a plain
// identifier.
Result<std::vector<TableSchema>> ListTables(Transaction& tx);

// Calls `fn` with each row of `table` (values in `table.columns` order), in primary-key order
// (all columns' order without a key), reading `page` rows per query — so memory stays at one
// page, and every page is read in `tx`'s snapshot. Stops at `fn`'s first error and returns it.
// Errors: from the store; kInvalidArgument for page < 1; kDataLoss for a NULL in a key column.
Status ScanTable(Transaction& tx, const TableSchema& table, int page,
                 const std::function<Status(std::vector<Value>&&)>& fn);

// INSERT INTO table (columns…) VALUES (?, …) with `values` in `table.columns` order (the same
// SQL text for every row of a table, so each backend prepares it once). Errors: from the store.
Status InsertRow(Transaction& tx, const TableSchema& table, const std::vector<Value>& values);

// After rows were inserted with their own ids: PostgreSQL's sequences behind serial and
// identity columns of `table` are moved past the largest id, so the next generated id does not
// collide. SQLite needs nothing (AUTOINCREMENT remembers explicit ids in sqlite_sequence).
Status AdvanceSequences(Transaction& tx, const TableSchema& table);

}  // namespace chukan::store

#endif  // CHUKAN_STORE_TABLE_COPY_H_
