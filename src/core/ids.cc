#include "core/ids.h"

#include <bit>

namespace pulse {

void IdDictionary::Insert(uint64_t hash, DenseId index) {
  const size_t mask = slots_.size() - 1;
  size_t slot = hash & mask;
  while (slots_[slot] != 0) slot = (slot + 1) & mask;
  slots_[slot] = (hash >> 32) << 32 | (uint64_t{index} + 1);
}

void IdDictionary::Rehash(size_t capacity) {
  slots_.assign(std::bit_ceil(std::max<size_t>(capacity, 16)), 0);
  for (size_t i = 0; i < names_.size(); ++i) {
    Insert(StringHash{}(names_[i]), static_cast<DenseId>(i));
  }
}

DenseId IdDictionary::Intern(std::string_view id) {
  const uint64_t hash = StringHash{}(id);
  if (std::optional<DenseId> known = FindHashed(id, hash)) return *known;
  auto index = static_cast<DenseId>(names_.size());
  names_.emplace_back(id);
  if (2 * names_.size() > slots_.size()) {
    Rehash(4 * names_.size());  // re-inserts the new name too
  } else {
    Insert(hash, index);
  }
  return index;
}

std::optional<DenseId> IdDictionary::Find(std::string_view id) const {
  return FindHashed(id, StringHash{}(id));
}

std::optional<DenseId> IdDictionary::FindHashed(std::string_view id, uint64_t hash) const {
  if (slots_.empty()) return std::nullopt;
  const uint64_t tag = hash >> 32;
  const size_t mask = slots_.size() - 1;
  for (size_t slot = hash & mask;; slot = (slot + 1) & mask) {
    const uint64_t entry = slots_[slot];
    if (entry == 0) return std::nullopt;
    if ((entry >> 32) == tag) {
      const auto index = static_cast<DenseId>((entry & 0xffffffffu) - 1);
      if (names_[index] == id) return index;
    }
  }
}

void IdDictionary::Reserve(size_t n) {
  names_.reserve(n);
  if (2 * n > slots_.size()) Rehash(2 * n);
}

}  // namespace pulse
