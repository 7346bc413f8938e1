#include "core/ids.h"

namespace pulse {

DenseId IdDictionary::Intern(std::string_view id) {
  if (auto it = index_.find(id); it != index_.end()) return it->second;
  auto index = static_cast<DenseId>(names_.size());
  index_.emplace(std::string(id), index);
  names_.emplace_back(id);
  return index;
}

std::optional<DenseId> IdDictionary::Find(std::string_view id) const {
  auto it = index_.find(id);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

void IdDictionary::Reserve(size_t n) {
  index_.reserve(n);
  names_.reserve(n);
}

}  // namespace pulse
