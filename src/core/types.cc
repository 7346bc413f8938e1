#include "core/types.h"

#include <array>

namespace pulse {
namespace {
constexpr std::array<std::string_view, kNumEventTypes> kEventTypeNames = {"view", "click", "dwell",
                                                                          "purchase", "impression"};
}  // namespace

std::string_view EventTypeName(EventType type) {
  return kEventTypeNames[static_cast<size_t>(type)];
}

std::optional<EventType> ParseEventType(std::string_view name) {
  for (size_t i = 0; i < kEventTypeNames.size(); ++i) {
    if (kEventTypeNames[i] == name) return static_cast<EventType>(i);
  }
  return std::nullopt;
}

}  // namespace pulse
