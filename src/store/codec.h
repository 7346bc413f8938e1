// store/codec.h — the byte encodings of DataDir's RocksDB values and keys (layout version 2).
// The byte layout is specified in docs/design/data-dir.md; change it only together with that
// document and a layout-version bump.
//
// Every value starts with a one-byte record version so a reader can refuse what it does not know.
// Decoders never trust their input: truncation, trailing bytes, unknown versions, unknown flag
// bits and out-of-range enum values are DataLoss errors (the store is corrupt or newer), never
// crashes. Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/types.h"
#include "store/data_dir.h"

namespace pulse::store::codec {

inline constexpr uint8_t kEventRecordVersion = 1;
inline constexpr uint8_t kItemRecordVersion = 1;
inline constexpr uint8_t kHistoryRecordVersion = 1;
inline constexpr uint8_t kDeadLetterRecordVersion = 1;

// 8-byte big-endian, so RocksDB's bytewise order is numeric order.
std::string EncodeSequence(uint64_t seq);
Result<uint64_t> DecodeSequence(std::string_view key);

std::string EncodeEvent(const Event& event);
Result<Event> DecodeEvent(std::string_view value);

std::string EncodeItem(const Item& item);
// The item id is the RocksDB key, not part of the value.
Result<Item> DecodeItem(std::string_view item_id, std::string_view value);

std::string EncodeHistory(const UserHistory& history);
Result<UserHistory> DecodeHistory(std::string_view value);

// The sequence is the RocksDB key, not part of the value; `raw` is stored as given.
std::string EncodeDeadLetter(const DeadLetter& letter);
Result<DeadLetter> DecodeDeadLetter(uint64_t seq, std::string_view value);

}  // namespace pulse::store::codec
