// Tests only: a hub on a test database, with fresh keys, the shipped catalogue (CHUKAN_LAYOUT_DIR),
// registered organisations and the sample permission list — shared by hub_test.cc and
// deliverer_test.cc.
#ifndef CHUKAN_HUB_HUB_TEST_UTIL_H_
#define CHUKAN_HUB_HUB_TEST_UTIL_H_

#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/ids.h"
#include "common/status.h"
#include "crypto/ed25519.h"
#include "hub/hub.h"
#include "hub/hub_store.h"
#include "layout/catalogue_loader.h"
#include "store/store_test_util.h"

namespace chukan::hub::testing {

// Organisations and a resident of the hub tests.
inline OrgCode Org(std::string_view s) { return OrgCode::Parse(s).value(); }
inline const OrgCode kCityA = Org("0000000000000011");
inline const OrgCode kCityB = Org("0000000000000012");
inline const ResidentId kRid = ResidentId::Parse("12345678901").value();

// Opens a hub with freshly generated keys. `db`, `catalogue` and `clock` as for Hub::Open.
inline Result<std::unique_ptr<Hub>> OpenTestHub(const HubConfig& config,
                                                std::shared_ptr<store::Database> db,
                                                std::shared_ptr<const layout::Catalogue> catalogue,
                                                const Clock& clock) {
  HubKeys keys{crypto::SigningKey::Generate(), crypto::SecretBytes::Random(32),
               crypto::SigningKey::Generate()};
  return Hub::Open(config, std::move(db), std::move(keys), std::move(catalogue), clock);
}

// Registers `org` as active, signing with `key`, its certificate fingerprint made up from its
// code.
inline Status AddTestOrg(Hub& hub, const OrgCode& org, const std::string& org_class,
                         const std::string& endpoint, const crypto::SigningKey& key) {
  OrgRecord rec;
  rec.code = org;
  rec.name = "org " + org.str();
  rec.org_class = org_class;
  rec.endpoint = endpoint;
  rec.sign_key = key.verify_key().bytes();
  rec.cert_sha256 = std::string(63, 'a') + org.str().substr(15);
  return hub.store().AddOrg(rec, "test");
}

// Loads data/permissions/sample.csv and refreshes the hub.
inline Status LoadSamplePermissionList(Hub& hub, const layout::Catalogue& catalogue) {
  std::string sha;
  ASSIGN_OR_RETURN(
      linkage::PermissionList list,
      ReadPermissionListFile(std::string(CHUKAN_LAYOUT_DIR) + "/../permissions/sample.csv",
                             catalogue, &sha));
  RETURN_IF_ERROR(hub.store().AddPermissionList(list.rules(), "sample.csv", sha, "test").status());
  return hub.Refresh();
}

// A hub (no organisations yet) on a fresh database of each backend, on a fake clock. Subclasses
// call HubTestBase::SetUp() first and return when it skipped or failed.
class HubTestBase : public store::testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    db_ = NewDatabase();
    ASSERT_NE(db_, nullptr);
    ASSERT_OK_AND_ASSIGN(catalogue_, layout::LoadCatalogue(CHUKAN_LAYOUT_DIR));
    ASSERT_OK_AND_ASSIGN(hub_, OpenTestHub(config_, db_, catalogue_, clock_));
  }
  void TearDown() override {
    hub_.reset();
    StoreTest::TearDown();
  }

  FakeClock clock_;
  HubConfig config_;
  std::shared_ptr<store::Database> db_;
  std::shared_ptr<const layout::Catalogue> catalogue_;
  std::unique_ptr<Hub> hub_;
};

}  // namespace chukan::hub::testing

#endif  // CHUKAN_HUB_HUB_TEST_UTIL_H_
