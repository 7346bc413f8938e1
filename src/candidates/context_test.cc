#include "candidates/context.h"

#include "gtest/gtest.h"

namespace pulse::candidates {
namespace {

// Each item's fields are its own: setting one item's never shows through another's, and a new
// table is all available with no metadata.
TEST(ItemTableTest, NewItemsAreAvailableWithoutMetadataAndEachKeepsWhatIsSet) {
  ItemTable table(5);
  ASSERT_EQ(table.size(), 5u);
  for (DenseId i = 0; i < 5; ++i) {
    EXPECT_TRUE(table.available(i));
    EXPECT_EQ(table.category(i), ItemTable::kNoCategory);
    EXPECT_EQ(table.created_at_ms(i), 0);
  }
  for (DenseId i = 0; i < 5; ++i) {
    table.set_category(i, 10 + i);
    table.set_created_at_ms(i, int64_t{1} << (40 + i));
    table.set_available(i, i % 2 == 0);
  }
  table.set_available(2, true);
  table.set_available(4, false);
  for (DenseId i = 0; i < 5; ++i) {
    EXPECT_EQ(table.category(i), 10 + i) << i;
    EXPECT_EQ(table.created_at_ms(i), int64_t{1} << (40 + i)) << i;
    EXPECT_EQ(table.available(i), i == 0 || i == 2) << i;
  }
}

}  // namespace
}  // namespace pulse::candidates
