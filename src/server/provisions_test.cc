#include "server/provisions.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"
#include "layout/catalogue_loader.h"

namespace chukan::server {
namespace {

const layout::LayoutVersion& TaxVersion() {
  static auto* c = new std::shared_ptr<const layout::Catalogue>(
      layout::LoadCatalogue(CHUKAN_LAYOUT_DIR).value());
  return *(*c)->Find(TmCode::Parse("TM00000000000002").value())->Version("0002");
}

// A 地方税関係情報 record of fiscal year `year` published from `from` until `until`.
replica::Record TaxRecord(const std::string& year, const std::string& from,
                          const std::string& until) {
  replica::Record r;
  r.tm = "TM00000000000002";
  r.version = "0002";
  r.atena_no = "000000000000001";
  r.values.assign(TaxVersion().item_count(), "");
  r.values[0] = year;  // IT00000200000001 課税年度
  r.values[3] = "1000000";
  r.publish_from = from;
  r.publish_until = until;
  return r;
}

linkage::QueryConditions Conditions(std::map<std::string, std::string> query) {
  return linkage::SplitQuery(query).value();
}

TEST(VersionAnswersTest, ItemConditionsAndTheLayoutVersion) {
  const replica::Record r = TaxRecord("2026", "", "");
  EXPECT_TRUE(VersionAnswers(TaxVersion(), r, Conditions({}), ""));
  EXPECT_TRUE(VersionAnswers(TaxVersion(), r, Conditions({{"IT00000200000001", "2026"}}), ""));
  EXPECT_FALSE(VersionAnswers(TaxVersion(), r, Conditions({{"IT00000200000001", "2025"}}), ""));
  replica::Record old = r;
  old.version = "0001";
  EXPECT_FALSE(VersionAnswers(TaxVersion(), old, Conditions({}), ""));
}

TEST(VersionAnswersTest, ThePublicationWindowMustOverlapThePeriod) {
  const replica::Record r = TaxRecord("2025", "2025-06-01", "2025-09-30");
  auto period = [](const std::string& from, const std::string& to) {
    return Conditions({{"_from", from}, {"_to", to}});
  };
  EXPECT_TRUE(VersionAnswers(TaxVersion(), r, period("2025-06-01", "2025-06-01"), ""));
  EXPECT_TRUE(VersionAnswers(TaxVersion(), r, period("2025-09-30", "2025-12-31"), ""));
  EXPECT_TRUE(VersionAnswers(TaxVersion(), r, period("2025-01-01", "2025-06-01"), ""));
  EXPECT_FALSE(VersionAnswers(TaxVersion(), r, period("2025-10-01", "2025-12-31"), ""));
  EXPECT_FALSE(VersionAnswers(TaxVersion(), r, period("2025-01-01", "2025-05-31"), ""));
  // Open bounds: no 公開開始日 is valid from the start, no 公開終了日 until now …
  const replica::Record open = TaxRecord("2025", "", "");
  EXPECT_TRUE(VersionAnswers(TaxVersion(), open, period("1990-01-01", "1990-01-01"), ""));
  // … and a superseded version without one until the day it was superseded.
  EXPECT_TRUE(VersionAnswers(TaxVersion(), open, period("2026-03-01", "2026-03-01"), "2026-03-01"));
  EXPECT_FALSE(
      VersionAnswers(TaxVersion(), open, period("2026-03-02", "2026-12-31"), "2026-03-01"));
  // A 公開終了日 wins over the day of supersession.
  EXPECT_FALSE(VersionAnswers(TaxVersion(), r, period("2025-12-01", "2025-12-01"), "2026-01-01"));
}

TEST(VersionAnswersTest, TheFiscalItemMustBeAYearOfThePeriod) {
  auto years = [](const std::string& from, const std::string& to) {
    return Conditions({{"_from", from}, {"_to", to}, {"_fiscal_item", "IT00000200000001"}});
  };
  const auto fy2024_2025 = years("2024-04-01", "2026-03-31");
  EXPECT_FALSE(VersionAnswers(TaxVersion(), TaxRecord("2023", "", ""), fy2024_2025, ""));
  EXPECT_TRUE(VersionAnswers(TaxVersion(), TaxRecord("2024", "", ""), fy2024_2025, ""));
  EXPECT_TRUE(VersionAnswers(TaxVersion(), TaxRecord("2025", "", ""), fy2024_2025, ""));
  EXPECT_FALSE(VersionAnswers(TaxVersion(), TaxRecord("2026", "", ""), fy2024_2025, ""));
  // Not a 4-digit year: never a match.
  EXPECT_FALSE(VersionAnswers(TaxVersion(), TaxRecord("R6", "", ""), fy2024_2025, ""));
  EXPECT_FALSE(VersionAnswers(TaxVersion(), TaxRecord("", "", ""), fy2024_2025, ""));
  // The publication window still applies.
  EXPECT_FALSE(VersionAnswers(TaxVersion(), TaxRecord("2025", "2026-06-01", ""), fy2024_2025, ""));
}

}  // namespace
}  // namespace chukan::server
