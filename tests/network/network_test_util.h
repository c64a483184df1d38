// Tests only: what the network tests share — a LocalNetwork of this build on PostgreSQL, a
// person's codes at both ends, the linkage an existing system asks for, what the network holds
// read straight from its schemas (the hub's <prefix>_hub, server i's <prefix>_s<i>), and its
// nodes' logs kept when a test fails. The including target defines CHUKAN_BINARY,
// CHUKAN_LAYOUT_DIR and CHUKAN_PERMISSIONS_FILE, and has tests/server on its include path.
#ifndef CHUKAN_TESTS_NETWORK_NETWORK_TEST_UTIL_H_
#define CHUKAN_TESTS_NETWORK_NETWORK_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "cli/local_network.h"
#include "common/ids.h"
#include "common/status_matchers.h"
#include "store/tenant_store.h"
#include "test_people.h"

namespace chukan::testing {

// The options of a network of this build in `workdir` with its state on PostgreSQL (`dsn`,
// schemas <prefix>_…): one io thread a process, warnings only in the logs. The caller adds the
// servers, organisations, workers and delivery threads.
inline cli::LocalNetworkOptions PgNetworkOptions(const std::string& workdir, const std::string& dsn,
                                                 const std::string& prefix) {
  cli::LocalNetworkOptions o;
  o.binary = CHUKAN_BINARY;
  o.workdir = workdir;
  o.layout_dir = CHUKAN_LAYOUT_DIR;
  o.permissions_file = CHUKAN_PERMISSIONS_FILE;
  o.server_threads = 1;
  o.hub_threads = 1;
  o.log_level = "warn";
  o.pg_dsn = dsn;
  o.pg_prefix = prefix;
  return o;
}

// Person `person`'s codes at both ends (the hub routes by them): Atena(100 + person) at the
// inquirer, Atena(person) at the provider, both for Resident(person).
inline void AddPersonCodes(cli::LocalNetwork& net, const OrgCode& inquirer, const OrgCode& provider,
                           int person) {
  for (const auto& [org, atena] :
       {std::pair{inquirer, Atena(100 + person)}, std::pair{provider, Atena(person)}}) {
    ASSERT_OK_AND_ASSIGN(
        http::Response r,
        net.Call(org, cli::LocalNetwork::Role::kSystem, "POST", "/api/v1/codes",
                 nlohmann::json{{"atena_no", atena}, {"resident_id", Resident(person)}}.dump()));
    ASSERT_EQ(r.status, 200) << r.body;
  }
}

// The body of POST /api/v1/inquiries asking `provider` for person `person`'s 地方税関係情報
// (TM00000000000002) of 2026 under procedure JT90000000000101, with `idempotency_key`.
inline std::string TaxInquiryJson(const OrgCode& provider, int person,
                                  const std::string& idempotency_key) {
  return nlohmann::json{{"atena_no", Atena(100 + person)},
                        {"procedure", "JT90000000000101"},
                        {"tm", "TM00000000000002"},
                        {"provider", provider.str()},
                        {"query", {{"IT00000200000001", "2026"}}},
                        {"idempotency_key", idempotency_key}}
      .dump();
}

// Whether a completed inquiry (the answer of GET /api/v1/inquiries/ID) carries one record whose
// taxable income (IT00000200000004) is `income`.
inline bool AnswersIncome(const nlohmann::json& inquiry, const std::string& income) {
  const nlohmann::json* records = nullptr;
  if (inquiry.contains("result") && inquiry["result"].contains("records")) {
    records = &inquiry["result"]["records"];
  }
  return records != nullptr && records->is_array() && records->size() == 1 &&
         (*records)[0].is_object() && (*records)[0].value("IT00000200000004", "") == income;
}

// One store of the network (the hub's or a server's) over `dsn`.
struct NetworkStore {
  std::string dsn;
  std::string pg_prefix;  // e.g. "<prefix>_s1"

  // The rows `sql` selects in the tenant's database (the platform's when nullopt), as text:
  // for diagnostics, so every failure is a line of the answer.
  std::string Rows(std::optional<TenantId> tenant, const std::string& sql,
                   const std::vector<store::Value>& params) const {
    std::string out;
    Status s = Read(tenant, [&](store::Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(std::vector<store::Row> rows, tx.Query(sql, params));
      for (const store::Row& r : rows) {
        out += "  [";
        for (size_t i = 0; i < r.size(); ++i) {
          Result<store::Value> v = r.GetValue(i);
          if (i > 0) out += ", ";
          if (!v.ok()) continue;
          if (const auto* t = std::get_if<std::string>(&*v)) out += *t;
          if (const auto* n = std::get_if<int64_t>(&*v)) out += std::to_string(*n);
          if (std::holds_alternative<std::nullptr_t>(*v)) out += "NULL";
        }
        out += "]\n";
      }
      return Status();
    });
    if (!s.ok()) return s.ToString();
    return out.empty() ? "  (none)\n" : out;
  }

  // The first column of the rows `sql` selects, as text; a value that comes twice is a test
  // failure (the callers select what must be unique: permits, inquiries).
  std::set<std::string> Texts(std::optional<TenantId> tenant, const std::string& sql) const {
    std::set<std::string> texts;
    EXPECT_OK(Read(tenant, [&](store::Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(std::vector<store::Row> rows, tx.Query(sql));
      for (const store::Row& r : rows) {
        Result<std::string> t = r.GetText(0);
        texts.insert(t.ok() ? *t : "<null>");
      }
      EXPECT_EQ(texts.size(), rows.size()) << "a value twice: " << sql;
      return Status();
    }));
    return texts;
  }

 private:
  template <typename F>
  Status Read(const std::optional<TenantId>& tenant, F&& read) const {
    store::StoreOptions o;
    o.backend = store::Backend::kPostgres;
    o.dsn = dsn;
    o.pg_prefix = pg_prefix;
    o.pool_size = 1;
    ASSIGN_OR_RETURN(std::unique_ptr<store::TenantStore> ts, store::TenantStore::Open(o));
    ASSIGN_OR_RETURN(std::shared_ptr<store::Database> db,
                     tenant ? ts->Tenant(*tenant) : ts->Platform());
    Status s = [&]() -> Status {
      ASSIGN_OR_RETURN(auto tx, db->BeginRead());
      return read(*tx);
    }();
    (void)db->Close();
    return s;
  }
};

// Copies the nodes' logs and configurations under `workdir` to <tmp>/<name>, so that they outlive
// the work directory, and says where.
inline void KeepNetworkLogs(const std::string& workdir, const std::string& name) {
  const std::filesystem::path keep = std::filesystem::temp_directory_path() / name;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(workdir, ec)) {
    const std::string ext = e.path().extension().string();
    if (ext != ".log" && ext != ".err" && ext != ".cfg" && ext != ".toml") continue;
    const auto to = keep / std::filesystem::relative(e.path(), workdir);
    std::filesystem::create_directories(to.parent_path(), ec);
    std::filesystem::copy_file(e.path(), to, ec);
  }
  std::cerr << "the nodes' logs are kept in " << keep.string() << "\n";
}

}  // namespace chukan::testing

#endif  // CHUKAN_TESTS_NETWORK_NETWORK_TEST_UTIL_H_
