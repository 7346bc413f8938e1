// libFuzzer target for the W3C traceparent parser (obs::ParseTraceparent). Normal builds replay
// traceparent_fuzz_corpus/ through testing/fuzz_replay_main.cc; the `fuzz` preset links libFuzzer.
// Invariants: never crash; a parsed header has non-zero ids and formats back to a header that
// parses to the same ids; RequestTrace accepts any bytes and always has a valid trace id.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "obs/trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view header(reinterpret_cast<const char*>(data), size);
  auto parent = pulse::obs::ParseTraceparent(header);
  if (parent.has_value()) {
    if (!parent->trace_id.valid() || parent->parent_span_id == 0) std::abort();
    auto again = pulse::obs::ParseTraceparent(
        pulse::obs::FormatTraceparent(parent->trace_id, parent->parent_span_id, parent->sampled()));
    if (!again || !(again->trace_id == parent->trace_id) ||
        again->parent_span_id != parent->parent_span_id) {
      std::abort();
    }
  }
  pulse::obs::RequestTrace trace(header, "fuzz", true);
  if (!trace.trace_id().valid()) std::abort();
  if (parent.has_value() && !(trace.trace_id() == parent->trace_id)) std::abort();
  return 0;
}
