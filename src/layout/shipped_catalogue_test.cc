// Loads the catalogue shipped in data/layout and checks its content.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status_matchers.h"
#include "layout/catalogue_loader.h"
#include "layout/test_catalogue.h"
#include "layout/value_check.h"

namespace chukan::layout {
namespace {

using testing::ShippedCatalogue;

using ::testing::ElementsAre;

TEST(ShippedCatalogueTest, HasTheSevenInformationNames) {
  auto c = ShippedCatalogue();
  ASSERT_NE(c, nullptr);
  std::vector<std::string> names;
  for (const InfoName* info : c->infos()) names.push_back(info->code().str() + " " + info->name());
  EXPECT_THAT(names,
              ElementsAre("TM00000000000002 地方税関係情報", "TM00000000000004 介護保険関係情報",
                          "TM00000000000089 公金受取口座", "TM90000000000101 住民票関係情報",
                          "TM90000000000102 生活保護関係情報", "TM90000000000103 障害者関係情報",
                          "TM90000000000104 児童手当関係情報"));
}

TEST(ShippedCatalogueTest, ItemCodesFollowTheScheme) {
  // IT + last 6 digits of the TM code + 4-digit data set (0000 = common) + 4-digit sequence.
  auto c = ShippedCatalogue();
  ASSERT_NE(c, nullptr);
  for (const InfoName* info : c->infos()) {
    const std::string prefix = "IT" + info->code().str().substr(10);
    for (const Item* item : info->all_items()) {
      EXPECT_EQ(item->code().substr(0, 8), prefix) << item->code();
      const std::string ds = item->data_set().empty() ? "0000" : item->data_set();
      EXPECT_EQ(item->code().substr(8, 4), ds) << item->code();
    }
  }
}

TEST(ShippedCatalogueTest, LocalTaxVersionsAndKey) {
  auto c = ShippedCatalogue();
  ASSERT_NE(c, nullptr);
  auto tm = TmCode::Parse("TM00000000000002");
  ASSERT_OK(tm.status());
  const InfoName* tax = c->Find(*tm);
  ASSERT_NE(tax, nullptr);
  EXPECT_EQ(tax->name_en(), "Local tax information");
  EXPECT_FALSE(tax->approval_required());
  ASSERT_EQ(tax->versions().size(), 2u);
  const LayoutVersion* v1 = tax->Version("0001");
  const LayoutVersion* v2 = tax->Version("0002");
  ASSERT_NE(v1, nullptr);
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(tax->Version("0003"), nullptr);
  EXPECT_EQ(v1->item_count(), 16u);  // 0001–0015 and 配偶者特別控除額 (0017)
  EXPECT_EQ(v2->item_count(), 18u);  // 定額減税額 and 所得割額（定額減税前） from 0002
  EXPECT_EQ(v1->FindItem("IT00000200000016"), nullptr);
  ASSERT_NE(v2->FindItem("IT00000200000016"), nullptr);
  EXPECT_EQ(v2->FindItem("IT00000200000016")->name(), "定額減税額");
  EXPECT_EQ(tax->VersionAt(*Date::Parse("2024-05-31")), v1);
  EXPECT_EQ(tax->VersionAt(*Date::Parse("2024-06-01")), v2);
  EXPECT_EQ(tax->VersionAt(*Date::Parse("2017-07-17")), nullptr);
  EXPECT_EQ(&tax->LatestVersion(), v2);
  EXPECT_THAT(tax->record_key(), ElementsAre("IT00000200000001"));
  EXPECT_THAT(std::vector<size_t>(v2->key_item_indexes().begin(), v2->key_item_indexes().end()),
              ElementsAre(0u));
  const Item* income = v2->FindItem("IT00000200000005");
  ASSERT_NE(income, nullptr);
  EXPECT_EQ(income->name(), "合計所得金額");
  EXPECT_TRUE(income->allow_sign());
  EXPECT_EQ(v2->ItemIndex("IT00000200000005"), std::optional<size_t>(4));
}

// The items municipal tools read from the real inquiry result file (docs/inquiry-result-format.md).
TEST(ShippedCatalogueTest, LocalTaxItemsOfTheResultFile) {
  auto c = ShippedCatalogue();
  ASSERT_NE(c, nullptr);
  const InfoName* tax = c->Find("TM00000000000002");
  ASSERT_NE(tax, nullptr);
  const LayoutVersion* v1 = tax->Version("0001");
  const LayoutVersion& v2 = tax->LatestVersion();
  ASSERT_NE(v1, nullptr);
  std::vector<std::string> names;
  for (const char* code : {"IT00000200000017", "IT00000200000008", "IT00000200000018"}) {
    const Item* item = v2.FindItem(code);
    ASSERT_NE(item, nullptr) << code;
    EXPECT_EQ(item->type(), ValueType::kNumber) << code;
    EXPECT_FALSE(item->required()) << code;  // old imports without the column keep working
    names.push_back(item->name());
  }
  EXPECT_THAT(names, ElementsAre("配偶者特別控除額", "市町村民税均等割額",
                                 "市町村民税所得割額（定額減税前）"));
  EXPECT_NE(v1->FindItem("IT00000200000017"), nullptr);
  EXPECT_EQ(v1->FindItem("IT00000200000018"), nullptr);  // the 2024 reduction: from 0002 only
  EXPECT_EQ(v2.ItemIndex("IT00000200000018"), std::optional<size_t>(17));
}

TEST(ShippedCatalogueTest, PublicFundAccount) {
  auto c = ShippedCatalogue();
  ASSERT_NE(c, nullptr);
  const InfoName* kokin = c->Find("TM00000000000089");
  ASSERT_NE(kokin, nullptr);
  EXPECT_FALSE(kokin->approval_required());
  EXPECT_TRUE(kokin->record_key().empty());  // one account per person
  std::vector<std::string> items;
  for (const Item* i : kokin->LatestVersion().items()) items.push_back(i->code() + " " + i->name());
  EXPECT_THAT(items,
              ElementsAre("IT00008900000001 金融機関コード", "IT00008900000002 金融機関名（カナ）",
                          "IT00008900000003 店番", "IT00008900000004 支店名（カナ）",
                          "IT00008900000005 預貯金種目コード", "IT00008900000006 口座番号",
                          "IT00008900000007 名義人氏名"));
  const Item* kind = kokin->LatestVersion().FindItem("IT00008900000005");
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(*kind->code_list()->Label("1"), "普通");
  EXPECT_EQ(CheckValue(*kind, "3"), ValueError::kUnknownCode);
  const Item* account = kokin->LatestVersion().FindItem("IT00008900000006");
  ASSERT_NE(account, nullptr);
  EXPECT_EQ(CheckValue(*account, "0123456"), ValueError::kOk);
  EXPECT_EQ(CheckValue(*account, "01234567"), ValueError::kTooLong);
}

TEST(ShippedCatalogueTest, LongTermCareDataSets) {
  auto c = ShippedCatalogue();
  ASSERT_NE(c, nullptr);
  const InfoName* kaigo = c->Find("TM00000000000004");
  ASSERT_NE(kaigo, nullptr);
  std::vector<std::string> sets;
  for (const DataSet& ds : kaigo->data_sets()) sets.push_back(ds.code + " " + ds.name);
  EXPECT_THAT(sets, ElementsAre("0101 被保険者情報", "0102 住所地特例情報", "0201 受給者基本情報",
                                "0202 負担割合"));
  const LayoutVersion& v = kaigo->LatestVersion();
  EXPECT_EQ(v.data_set_item_index(), std::optional<size_t>(0));
  EXPECT_THAT(kaigo->record_key(), ElementsAre("IT00000400000001", "IT00000400000002"));
  const Item* wariai = v.FindItem("IT00000402020001");
  ASSERT_NE(wariai, nullptr);
  EXPECT_EQ(wariai->data_set(), "0202");
  ASSERT_NE(wariai->code_list(), nullptr);
  EXPECT_EQ(*wariai->code_list()->Label("3"), "3割");
  EXPECT_EQ(CheckValue(*wariai, "4"), ValueError::kUnknownCode);
  const Item* yokaigo = v.FindItem("IT00000402010001");
  ASSERT_NE(yokaigo, nullptr);
  EXPECT_EQ(yokaigo->code_list()->id(), "yokaigo_kubun");
  EXPECT_EQ(*yokaigo->code_list()->Label("25"), "要介護5");
}

TEST(ShippedCatalogueTest, FlagsOfPublicAssistanceAndDisability) {
  auto c = ShippedCatalogue();
  ASSERT_NE(c, nullptr);
  const InfoName* hogo = c->Find("TM90000000000102");
  ASSERT_NE(hogo, nullptr);
  EXPECT_FALSE(hogo->approval_required());
  std::vector<std::string> approval;
  for (const Item* i : hogo->all_items()) {
    if (i->approval_required()) approval.push_back(i->name());
  }
  EXPECT_THAT(approval, ElementsAre("保護廃止事由", "最低生活費月額", "収入認定額月額"));

  const InfoName* shogai = c->Find("TM90000000000103");
  ASSERT_NE(shogai, nullptr);
  EXPECT_TRUE(shogai->approval_required());
  for (const Item* i : shogai->all_items()) {
    EXPECT_TRUE(i->approval_required()) << i->code();  // inherited from the TM
    EXPECT_EQ(i->non_disclosure(), i->name() == "障害名") << i->code();
  }
}

// The one rule of 自動応答不可 and 不開示 that the hub and the servers both call (they had two
// copies, and marked 不開示 by different item sets).
TEST(ShippedCatalogueTest, ApprovalAndNonDisclosureRules) {
  auto c = ShippedCatalogue();
  ASSERT_NE(c, nullptr);
  const InfoName* tax = c->Find("TM00000000000002");
  const InfoName* hogo = c->Find("TM90000000000102");
  const InfoName* shogai = c->Find("TM90000000000103");
  ASSERT_NE(tax, nullptr);
  ASSERT_NE(hogo, nullptr);
  ASSERT_NE(shogai, nullptr);
  // Approval: flagged on the TM (障害) or on items of the version (生活保護), not on 地方税.
  EXPECT_FALSE(NeedsApproval(*tax, tax->LatestVersion()));
  EXPECT_TRUE(NeedsApproval(*hogo, hogo->LatestVersion()));
  EXPECT_TRUE(NeedsApproval(*shogai, shogai->LatestVersion()));
  // 不開示: 障害名 is flagged in version 0001 of 障害; with the version or without (a refusal
  // before the version was known), the same answer; 地方税 never.
  EXPECT_TRUE(NonDisclosure(*shogai, shogai->Version("0001")));
  EXPECT_TRUE(NonDisclosure(*shogai, nullptr));
  EXPECT_FALSE(NonDisclosure(*tax, &tax->LatestVersion()));
  EXPECT_FALSE(NonDisclosure(*tax, nullptr));
  EXPECT_FALSE(NonDisclosure(*hogo, &hogo->LatestVersion()));
}

TEST(ShippedCatalogueTest, ChildAllowanceDropsIncomeLimitInVersion2) {
  auto c = ShippedCatalogue();
  ASSERT_NE(c, nullptr);
  const InfoName* jido = c->Find("TM90000000000104");
  ASSERT_NE(jido, nullptr);
  const LayoutVersion* v1 = jido->Version("0001");
  const LayoutVersion* v2 = jido->Version("0002");
  ASSERT_NE(v1, nullptr);
  ASSERT_NE(v2, nullptr);
  EXPECT_NE(v1->FindItem("IT00010400000008"), nullptr);
  EXPECT_EQ(v2->FindItem("IT00010400000008"), nullptr);
  EXPECT_EQ(v2->ItemIndex("IT00010400000009"), std::optional<size_t>(7));
  EXPECT_EQ(jido->VersionAt(*Date::Parse("2024-10-01")), v2);
}

TEST(ShippedCatalogueTest, ProceduresAndAffairs) {
  auto c = ShippedCatalogue();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->affairs().size(), 8u);
  EXPECT_EQ(c->procedures().size(), 14u);
  // The real codes of public municipal tools, beside the placeholders.
  for (const char* code : {"JT01010000000214", "JT01010000000001"}) {
    auto real = JtCode::Parse(code);
    ASSERT_OK(real.status());
    const Procedure* proc = c->FindProcedure(*real);
    ASSERT_NE(proc, nullptr) << code;
    EXPECT_EQ(proc->affair.str(), "JM01000000121000");
  }
  auto jt = JtCode::Parse("JT90000000000202");
  ASSERT_OK(jt.status());
  const Procedure* p = c->FindProcedure(*jt);
  ASSERT_NE(p, nullptr);
  const Affair* a = c->FindAffair(p->affair);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->name, "介護保険法による保険給付の支給又は保険料の徴収に関する事務");
  auto unknown = JtCode::Parse("JT00000000000000");
  ASSERT_OK(unknown.status());
  EXPECT_EQ(c->FindProcedure(*unknown), nullptr);
}

TEST(ShippedCatalogueTest, SharedCodeLists) {
  auto c = ShippedCatalogue();
  ASSERT_NE(c, nullptr);
  const CodeList* sex = c->FindCodeList("sex");
  ASSERT_NE(sex, nullptr);
  EXPECT_EQ(sex->name(), "男女区分");
  EXPECT_EQ(*sex->Label("2"), "女");
  EXPECT_EQ(sex->Label("3"), nullptr);
  // Codes of up to 8 bytes are looked up packed into integers: a value that packs as a code does
  // (trailing NULs), an empty value and one longer than any code are not codes.
  EXPECT_FALSE(sex->Contains(std::string_view("2\0", 2)));
  EXPECT_FALSE(sex->Contains(""));
  EXPECT_FALSE(sex->Contains("21"));
  for (const CodeEntry& e : sex->entries()) EXPECT_TRUE(sex->Contains(e.code)) << e.code;
  EXPECT_NE(c->FindCodeList("zokugara"), nullptr);
  EXPECT_EQ(c->FindCodeList("nope"), nullptr);
}

}  // namespace
}  // namespace chukan::layout
