// core/ids.h — interning of external string ids into dense indices.
//
// IdDictionary maps each distinct string to 0, 1, 2, ... in insertion order and back. Dense
// indices are what embeddings, the ANN index and per-item arrays are keyed by.
// Thread-safety: none; build it, then share it read-only (serving holds it in an immutable
// snapshot). Lookups take string_view and do not allocate.
// The index is a flat open-addressed table of (hash tag, dense id) words over `names_`: a lookup
// reads one table word and the candidate's name (two cache misses), where a node-based map read
// a bucket and a chain of nodes, and the ids are not stored twice. Serving looks up every history
// entry of a user whose state is not memoized (up to 200 per request).
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
  // Grows the table to at least `capacity` slots (a power of two) and re-inserts every name.
  void Rehash(size_t capacity);
  void Insert(uint64_t hash, DenseId index);
  // Find with `id`'s StringHash already computed (Intern hashes once for lookup and insert).
  std::optional<DenseId> FindHashed(std::string_view id, uint64_t hash) const;

  // 0 = empty, else (hash >> 32) << 32 | (dense id + 1); at most half full.
  std::vector<uint64_t> slots_;
  std::vector<std::string> names_;
};

}  // namespace pulse
