#include "core/clock.h"

namespace pulse {

SystemClock& SystemClock::Get() {
  static SystemClock clock;
  return clock;
}

}  // namespace pulse
