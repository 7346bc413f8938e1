// core/ids.h — interning of external string ids into dense indices.
//
// IdDictionary maps each distinct string to 0, 1, 2, ... in insertion order and back. Dense
// indices are what embeddings, the ANN index and per-item arrays are keyed by.
// Thread-safety: none; build it, then share it read-only (serving holds it in an immutable
// snapshot). Lookups take string_view and do not allocate.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/strings.h"

namespace pulse {

using DenseId = uint32_t;

class IdDictionary {
 public:
  // Returns the index of `id`, adding it when new.
  DenseId Intern(std::string_view id);
  std::optional<DenseId> Find(std::string_view id) const;
  const std::string& Name(DenseId index) const { return names_[index]; }
  size_t size() const { return names_.size(); }
  const std::vector<std::string>& names() const { return names_; }
  void Reserve(size_t n);

 private:
  std::unordered_map<std::string, DenseId, StringHash, std::equal_to<>> index_;
  std::vector<std::string> names_;
};

}  // namespace pulse
