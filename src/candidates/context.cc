#include "candidates/context.h"

namespace pulse::candidates {

ItemTable::ItemTable(size_t size)
    : size_(size),
      available_(new std::atomic<bool>[size]),
      category_(size, kNoCategory),
      created_at_ms_(size, 0) {
  for (size_t i = 0; i < size; ++i) available_[i].store(true, std::memory_order_relaxed);
}

}  // namespace pulse::candidates
