// libFuzzer target for the HTTP/JSON request parsers. Normal builds replay
// json_api_fuzz_corpus/ through testing/fuzz_replay_main.cc; the `fuzz` preset links libFuzzer.
// Invariants: never crash, never throw, and every failure is a Status with a message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "api/json_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  auto request = pulse::api::ParseRecommendRequest(body);
  if (request.ok()) {
    // A parsed request always satisfies the checks both front ends apply.
    if (!pulse::serving::ValidateRecommendRequest(*request).ok()) std::abort();
  } else if (request.status().message().empty()) {
    std::abort();
  }
  auto items = pulse::api::ParseItemsBody(body);
  if (items.ok() && items->items.size() != items->indices.size()) std::abort();
  (void)pulse::api::TraceIdFromTraceparent(body);
  return 0;
}
