// libFuzzer target for the POST /v1/events body parser. Normal builds replay
// events_body_fuzz_corpus/ through testing/fuzz_replay_main.cc; the `fuzz` preset links libFuzzer.
// Also feeds the bytes to EventInputFromWire (the gRPC path).
// Invariants: never crash, never throw; every failure is a Status with a message; every element
// is either a parsed event or carries a parse error; raw text stays within its bound.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/json_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  // The gRPC path: the same bytes as each string field of a wire event.
  pulse::api::WireEventFields fields;
  fields.event_id = fields.user_id = fields.item_id = fields.type = fields.request_id = body;
  fields.ts_ms = static_cast<int64_t>(size) - 8;
  auto wire = pulse::api::EventInputFromWire(fields);
  if (wire.event.has_value() == !wire.parse_error.empty()) std::abort();
  if (wire.raw.size() > pulse::api::kMaxRawEventBytes) std::abort();

  auto inputs = pulse::api::ParseEventsBody(body);
  if (!inputs.ok()) {
    if (inputs.status().message().empty()) std::abort();
    return 0;
  }
  for (const auto& input : *inputs) {
    if (input.event.has_value() == !input.parse_error.empty()) std::abort();
    if (input.raw.size() > pulse::api::kMaxRawEventBytes) std::abort();
  }
  return 0;
}
