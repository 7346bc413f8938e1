#include "core/json_nesting.h"

namespace pulse {

bool JsonNestsDeeperThan(std::string_view text, int max_depth) {
  int depth = 0;
  JsonStringState strings;
  for (char c : text) {
    if (strings.InString(c)) continue;
    if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace pulse
