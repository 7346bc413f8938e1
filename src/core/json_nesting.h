// core/json_nesting.h — a guard for JSON parsers against hostile nesting.
//
// One linear scan over the raw text, so a parser can refuse deeply nested input before a DOM
// builder (whose memory grows with depth) or any recursive code sees it. The text need not be
// valid JSON. Thread-safety: a pure function.
#pragma once

#include <string_view>

namespace pulse {

// Whether `text` opens more than `max_depth` nested arrays/objects at any point (brackets inside
// strings, escaped quotes included, do not count).
bool JsonNestsDeeperThan(std::string_view text, int max_depth);

}  // namespace pulse
