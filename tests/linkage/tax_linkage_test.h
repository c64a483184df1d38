// Tests only: a process test over a cli::LocalNetwork in which city A asks city B for
// 地方税関係情報 — the calls of A's existing system and the wait for an inquiry to end.
#ifndef CHUKAN_TESTS_LINKAGE_TAX_LINKAGE_TEST_H_
#define CHUKAN_TESTS_LINKAGE_TAX_LINKAGE_TEST_H_

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "cli/local_network.h"
#include "common/status_matchers.h"
#include "common/test_util.h"
#include "test_people.h"

namespace chukan::testing {

class TaxLinkageTest : public ::testing::Test {
 protected:
  using json = nlohmann::json;

  // One call of `org`'s existing system (its kSystem token) to its server's /api/v1.
  http::Response Call(const OrgCode& org, const std::string& method, const std::string& path,
                      std::string body = "", std::string_view type = "application/json") {
    Result<http::Response> r =
        net_->Call(org, cli::LocalNetwork::Role::kSystem, method, path, std::move(body), type);
    EXPECT_OK(r);
    return r.ok() ? *r : http::Response{};
  }

  // `inquirer` asks `provider` for person `person`'s 地方税関係情報 of 2026 (the inquirer knows
  // the person as Atena(100 + person)); the inquiry as it ended (60 s at most).
  json Inquire(const OrgCode& inquirer, const OrgCode& provider, int person) {
    static const std::set<std::string> kEnded = {"completed", "refused", "failed", "expired"};
    json body = {{"atena_no", Atena(100 + person)},
                 {"procedure", "JT90000000000101"},
                 {"tm", "TM00000000000002"},
                 {"provider", provider.str()},
                 {"query", {{"IT00000200000001", "2026"}}}};
    http::Response r = Call(inquirer, "POST", "/api/v1/inquiries", body.dump());
    EXPECT_EQ(r.status, 202) << r.body;
    const std::string id = json::parse(r.body, nullptr, false).value("inquiry_id", "");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    json j;
    while (std::chrono::steady_clock::now() < deadline) {
      j = json::parse(Call(inquirer, "GET", "/api/v1/inquiries/" + id).body, nullptr, false);
      if (kEnded.count(j.value("state", ""))) return j;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "inquiry " << id << " did not end: " << j.dump();
    return j;
  }

  // Codes for people 1..people in both cities (A knows them as Atena(100 + p)); a fatal test
  // failure when a server refuses.
  void LoadCodes(const OrgCode& a, const OrgCode& b, int people) {
    std::string pairs_a, pairs_b;
    for (int p = 1; p <= people; ++p) {
      pairs_b += Atena(p) + "," + Resident(p) + "\n";
      pairs_a += Atena(100 + p) + "," + Resident(p) + "\n";
    }
    ASSERT_EQ(Call(b, "POST", "/api/v1/codes/bulk", pairs_b, "text/csv").status, 200);
    ASSERT_EQ(Call(a, "POST", "/api/v1/codes/bulk", pairs_a, "text/csv").status, 200);
  }

  TempDir dir_;
  std::unique_ptr<cli::LocalNetwork> net_;
};

}  // namespace chukan::testing

#endif  // CHUKAN_TESTS_LINKAGE_TAX_LINKAGE_TEST_H_
