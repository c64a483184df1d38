#include "store/table_copy.h"

#include <algorithm>
#include <optional>

namespace chukan::store {
namespace {

std::string Quoted(std::string_view name) { return "\"" + std::string(name) + "\""; }

std::string JoinQuoted(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    if (!out.empty()) out += ", ";
    out += Quoted(n);
  }
  return out;
}

Result<std::vector<std::string>> TextColumn(const std::vector<Row>& rows, std::string_view what) {
  std::vector<std::string> out;
  for (const Row& r : rows) {
    ASSIGN_OR_RETURN(std::string s, r.GetText(0));
    if (!IsPlainIdentifier(s)) {
      return DataLossError(std::string(what) + ": a name that is not a plain identifier");
    }
    out.push_back(std::move(s));
  }
  return out;
}

Result<TableSchema> DescribeSqlite(Transaction& tx, const std::string& name) {
  TableSchema t{name, {}, {}};
  ASSIGN_OR_RETURN(std::vector<Row> rows,
                   tx.Query("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid", {name}));
  std::vector<std::pair<int64_t, std::string>> key;
  for (const Row& r : rows) {
    ASSIGN_OR_RETURN(std::string col, r.GetText(0));
    if (!IsPlainIdentifier(col)) {
      return DataLossError("table " + name + ": a column name that is not a plain identifier");
    }
    ASSIGN_OR_RETURN(int64_t pk, r.GetInt(1));
    if (pk > 0) key.emplace_back(pk, col);
    t.columns.push_back(std::move(col));
  }
  std::sort(key.begin(), key.end());
  for (auto& k : key) t.key.push_back(std::move(k.second));
  return t;
}

Result<TableSchema> DescribePostgres(Transaction& tx, const std::string& name) {
  TableSchema t{name, {}, {}};
  ASSIGN_OR_RETURN(std::vector<Row> cols,
                   tx.Query("SELECT column_name::text FROM information_schema.columns WHERE "
                            "table_schema = current_schema() AND table_name = ? ORDER BY "
                            "ordinal_position",
                            {name}));
  ASSIGN_OR_RETURN(t.columns, TextColumn(cols, "table " + name));
  ASSIGN_OR_RETURN(
      std::vector<Row> key,
      tx.Query("SELECT k.column_name::text FROM information_schema.table_constraints c JOIN "
               "information_schema.key_column_usage k ON k.constraint_schema = "
               "c.constraint_schema AND k.constraint_name = c.constraint_name AND k.table_name "
               "= c.table_name WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = "
               "current_schema() AND c.table_name = ? ORDER BY k.ordinal_position",
               {name}));
  ASSIGN_OR_RETURN(t.key, TextColumn(key, "table " + name));
  return t;
}

}  // namespace

bool IsPlainIdentifier(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Result<std::vector<TableSchema>> ListTables(Transaction& tx) {
  const bool sqlite = tx.backend() == Backend::kSqlite;
  ASSIGN_OR_RETURN(
      std::vector<Row> rows,
      tx.Query(sqlite ? "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                        "'sqlite!_%' ESCAPE '!' ORDER BY name"
                      : "SELECT table_name::text FROM information_schema.tables WHERE "
                        "table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY "
                        "table_name"));
  ASSIGN_OR_RETURN(std::vector<std::string> names, TextColumn(rows, "the table list"));
  std::vector<TableSchema> out;
  for (const std::string& name : names) {
    ASSIGN_OR_RETURN(TableSchema t, sqlite ? DescribeSqlite(tx, name) : DescribePostgres(tx, name));
    out.push_back(std::move(t));
  }
  // Both catalogues sort alike only in the C locale; make it so.
  std::sort(out.begin(), out.end(),
            [](const TableSchema& a, const TableSchema& b) { return a.name < b.name; });
  return out;
}

Status ScanTable(Transaction& tx, const TableSchema& table, int page,
                 const std::function<Status(std::vector<Value>&&)>& fn) {
  if (page < 1) return InvalidArgumentError("table copy: page must be >= 1");
  const std::string select = "SELECT " + JoinQuoted(table.columns) + " FROM " + Quoted(table.name);
  const std::string limit = " LIMIT " + std::to_string(page);
  if (table.key.empty()) {
    // No key to resume from: pages by offset, in the order of all columns.
    std::string order;
    for (size_t i = 1; i <= table.columns.size(); ++i) {
      order += (i > 1 ? ", " : "") + std::to_string(i);
    }
    for (int64_t offset = 0;; offset += page) {
      ASSIGN_OR_RETURN(std::vector<Row> rows, tx.Query(select + " ORDER BY " + order + limit +
                                                       " OFFSET " + std::to_string(offset)));
      for (Row& r : rows) {
        std::vector<Value> values = r.values();
        RETURN_IF_ERROR(fn(std::move(values)));
      }
      if (rows.size() < static_cast<size_t>(page)) return Status();
    }
  }
  // Keyset pages: WHERE (k1, k2, …) > (last row's key) ORDER BY k1, k2, ….
  std::vector<size_t> key_index;
  for (const std::string& k : table.key) {
    const auto it = std::find(table.columns.begin(), table.columns.end(), k);
    if (it == table.columns.end()) {
      return DataLossError("table " + table.name + ": key column " + k + " is not a column");
    }
    key_index.push_back(static_cast<size_t>(it - table.columns.begin()));
  }
  const std::string keys = JoinQuoted(table.key);
  std::string marks;
  for (size_t i = 0; i < table.key.size(); ++i) marks += i > 0 ? ", ?" : "?";
  const std::string first = select + " ORDER BY " + keys + limit;
  const std::string next =
      select + " WHERE (" + keys + ") > (" + marks + ") ORDER BY " + keys + limit;
  std::vector<Value> last;
  while (true) {
    ASSIGN_OR_RETURN(std::vector<Row> rows, last.empty() ? tx.Query(first) : tx.Query(next, last));
    for (Row& r : rows) {
      last.clear();
      for (size_t j = 0; j < key_index.size(); ++j) {
        if (r.IsNull(key_index[j])) {
          return DataLossError("table " + table.name + ": NULL in key column " + table.key[j]);
        }
        last.push_back(r.values()[key_index[j]]);
      }
      std::vector<Value> values = r.values();
      RETURN_IF_ERROR(fn(std::move(values)));
    }
    if (rows.size() < static_cast<size_t>(page)) return Status();
  }
}

Status InsertRow(Transaction& tx, const TableSchema& table, const std::vector<Value>& values) {
  std::string marks;
  for (size_t i = 0; i < table.columns.size(); ++i) marks += i > 0 ? ", ?" : "?";
  return tx.Exec("INSERT INTO " + Quoted(table.name) + " (" + JoinQuoted(table.columns) +
                     ") VALUES (" + marks + ")",
                 values);
}

Status AdvanceSequences(Transaction& tx, const TableSchema& table) {
  if (tx.backend() != Backend::kPostgres) return Status();
  for (const std::string& col : table.columns) {
    ASSIGN_OR_RETURN(std::optional<Row> seq,
                     tx.QueryOne("SELECT pg_get_serial_sequence(?, ?)", {table.name, col}));
    if (!seq || seq->IsNull(0)) continue;
    ASSIGN_OR_RETURN(std::string name, seq->GetText(0));
    ASSIGN_OR_RETURN(std::optional<Row> max, tx.QueryOne("SELECT COALESCE(MAX(" + Quoted(col) +
                                                         "), 0) FROM " + Quoted(table.name)));
    ASSIGN_OR_RETURN(int64_t top, max->GetInt(0));
    // is_called = false: the next nextval() returns top + 1.
    RETURN_IF_ERROR(tx.Exec("SELECT setval(CAST(? AS regclass), ?, false)", {name, top + 1}));
  }
  return Status();
}

}  // namespace chukan::store
