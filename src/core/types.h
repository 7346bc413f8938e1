// core/types.h — the domain values every component shares: interaction events and catalog items.
//
// Ids are the caller's strings (bounded by kMaxIdBytes); components that need dense integer ids
// intern them with IdDictionary (ids.h). Timestamps are epoch milliseconds (UTC).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pulse {

inline constexpr size_t kMaxIdBytes = 256;

enum class EventType : uint8_t {
  kView = 0,
  kClick = 1,
  kDwell = 2,
  kPurchase = 3,
  kImpression = 4
};
inline constexpr int kNumEventTypes = 5;

// Stable lower-case names used on the wire, in metrics labels and in config ("view", "click", ...).
std::string_view EventTypeName(EventType type);
std::optional<EventType> ParseEventType(std::string_view name);

// True for events that express interest in the item (everything but a bare impression).
inline bool IsEngagement(EventType type) { return type != EventType::kImpression; }

struct Event {
  std::string event_id;  // optional; when set, idempotence key
  std::string user_id;
  std::string item_id;
  EventType type = EventType::kView;
  int64_t ts_ms = 0;
  int64_t dwell_ms = 0;
  std::string request_id;  // the recommend request that showed the item, when known
  // Explicit rating when imported from a ratings dataset (MovieLens); 0 when absent.
  float rating = 0;
};

struct Item {
  std::string item_id;
  std::string title;
  std::string category;
  std::vector<std::string> tags;
  int64_t created_at_ms = 0;
  bool available = true;
};

}  // namespace pulse
