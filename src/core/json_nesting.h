// core/json_nesting.h — a guard for JSON parsers against hostile nesting.
//
// One linear scan over the raw text, so a parser can refuse deeply nested input before a DOM
// builder (whose memory grows with depth) or any recursive code sees it. The text need not be
// valid JSON. Thread-safety: a pure function.
#pragma once

#include <string_view>

namespace pulse {

// Tracks whether a left-to-right scan of JSON text is inside a string literal (escaped quotes
// included), so scans for brackets and commas can skip string contents.
class JsonStringState {
 public:
  // Feeds the next character; true when it belongs to a string literal, its quotes included.
  bool InString(char c) {
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      return true;
    }
    in_string_ = c == '"';
    return in_string_;
  }

 private:
  bool in_string_ = false;
  bool escaped_ = false;
};

// Whether `text` opens more than `max_depth` nested arrays/objects at any point (brackets inside
// strings, escaped quotes included, do not count).
bool JsonNestsDeeperThan(std::string_view text, int max_depth);

}  // namespace pulse
