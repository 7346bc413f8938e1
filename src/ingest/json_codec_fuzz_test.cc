// Fuzz target for the JSON codec: every input is fed to ParseEventLine and ParseItemLine. Besides
// "never crash", it checks a round trip: whatever parses must encode and parse back to the same
// value. Seed inputs live in json_codec_fuzz_corpus/ (replayed as a ctest in normal builds).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ingest/json_codec.h"
#include "nlohmann/json.hpp"

namespace {

void Require(bool condition) {
  if (!condition) std::abort();
}

std::string Dump(const nlohmann::json& j) {
  // Parsed strings are valid UTF-8, so `replace` never fires; it only keeps dump() from throwing.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void CheckEvent(std::string_view input) {
  auto event = pulse::ingest::ParseEventLine(input);
  if (!event.ok()) {
    Require(!event.status().message().empty());
    return;
  }
  auto back = pulse::ingest::ParseEventLine(Dump(pulse::ingest::EventToJson(*event)));
  Require(back.ok());
  Require(back->event_id == event->event_id && back->user_id == event->user_id &&
          back->item_id == event->item_id && back->type == event->type &&
          back->ts_ms == event->ts_ms && back->dwell_ms == event->dwell_ms &&
          back->request_id == event->request_id && back->rating == event->rating);
}

void CheckItem(std::string_view input) {
  auto item = pulse::ingest::ParseItemLine(input);
  if (!item.ok()) {
    Require(!item.status().message().empty());
    return;
  }
  auto back = pulse::ingest::ParseItemLine(Dump(pulse::ingest::ItemToJson(*item)));
  Require(back.ok());
  Require(back->item_id == item->item_id && back->title == item->title &&
          back->category == item->category && back->tags == item->tags &&
          back->created_at_ms == item->created_at_ms && back->available == item->available);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckEvent(input);
  CheckItem(input);
  return 0;
}
