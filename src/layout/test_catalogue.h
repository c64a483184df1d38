// Test helper: the catalogue shipped in data/layout (CHUKAN_LAYOUT_DIR, defined by the test
// target), loaded once per test binary.
#ifndef CHUKAN_LAYOUT_TEST_CATALOGUE_H_
#define CHUKAN_LAYOUT_TEST_CATALOGUE_H_

#include <gtest/gtest.h>

#include <memory>

#include "layout/catalogue_loader.h"

#ifndef CHUKAN_LAYOUT_DIR
#error "the test target defines CHUKAN_LAYOUT_DIR (the directory data/layout)"
#endif

namespace chukan::layout::testing {

// The shipped catalogue; null (and a failed test) if it does not load. Never destroyed, so
// that the tests' own static objects may use it until the process ends.
inline std::shared_ptr<const Catalogue> ShippedCatalogue() {
  static const auto* const catalogue = new std::shared_ptr<const Catalogue>([] {
    auto r = LoadCatalogue(CHUKAN_LAYOUT_DIR);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : nullptr;
  }());
  return *catalogue;
}

}  // namespace chukan::layout::testing

#endif  // CHUKAN_LAYOUT_TEST_CATALOGUE_H_
