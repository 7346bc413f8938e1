#include "store/codec.h"

#include <cstring>

namespace pulse::store::codec {
namespace {

// ---- writing ----

void PutVarint64(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

void PutBytes(std::string* out, std::string_view bytes) {
  PutVarint64(out, bytes.size());
  out->append(bytes);
}

void PutFixed32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// ---- reading ----

// A cursor over untrusted bytes; every getter fails instead of reading past the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool Byte(uint8_t* v) {
    if (in_.empty()) return false;
    *v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }
  bool Varint64(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift <= 63; shift += 7) {
      if (in_.empty()) return false;
      uint8_t byte = static_cast<uint8_t>(in_[0]);
      in_.remove_prefix(1);
      if (shift == 63 && byte > 1) return false;  // more than 64 bits
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }
  bool Signed(int64_t* v) {
    uint64_t u = 0;
    if (!Varint64(&u)) return false;
    *v = UnZigZag(u);
    return true;
  }
  bool Bytes(std::string* out, uint64_t max_len = kMaxStringBytes) {
    uint64_t len = 0;
    if (!Varint64(&len) || len > max_len || len > in_.size()) return false;
    out->assign(in_.substr(0, len));
    in_.remove_prefix(len);
    return true;
  }
  bool Fixed32(uint32_t* v) {
    if (in_.size() < 4) return false;
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) r |= static_cast<uint32_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    in_.remove_prefix(4);
    *v = r;
    return true;
  }
  bool done() const { return in_.empty(); }
  size_t remaining() const { return in_.size(); }

 private:
  static constexpr uint64_t kMaxStringBytes = 1 << 20;
  std::string_view in_;
};

Status Corrupt(std::string_view what, std::string_view why) {
  return DataLossError(StrCat("corrupt ", what, " record: ", why));
}

constexpr uint8_t kEventHasEventId = 1;
constexpr uint8_t kEventHasRequestId = 2;
constexpr uint8_t kEventHasDwell = 4;
constexpr uint8_t kEventHasRating = 8;
constexpr uint8_t kEventKnownFlags = 15;

constexpr uint8_t kItemAvailable = 1;
constexpr uint8_t kItemKnownFlags = 1;

}  // namespace

std::string EncodeSequence(uint64_t seq) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i) {
    key[i] = static_cast<char>(seq & 0xff);
    seq >>= 8;
  }
  return key;
}

Result<uint64_t> DecodeSequence(std::string_view key) {
  if (key.size() != 8) return Corrupt("event key", "not 8 bytes");
  uint64_t seq = 0;
  for (char c : key) seq = (seq << 8) | static_cast<uint8_t>(c);
  return seq;
}

std::string EncodeEvent(const Event& event) {
  std::string out;
  out.reserve(16 + event.user_id.size() + event.item_id.size() + event.event_id.size() +
              event.request_id.size());
  uint8_t flags = 0;
  if (!event.event_id.empty()) flags |= kEventHasEventId;
  if (!event.request_id.empty()) flags |= kEventHasRequestId;
  if (event.dwell_ms != 0) flags |= kEventHasDwell;
  if (event.rating != 0) flags |= kEventHasRating;
  out.push_back(static_cast<char>(kEventRecordVersion));
  out.push_back(static_cast<char>(event.type));
  out.push_back(static_cast<char>(flags));
  PutVarint64(&out, ZigZag(event.ts_ms));
  PutBytes(&out, event.user_id);
  PutBytes(&out, event.item_id);
  if (flags & kEventHasEventId) PutBytes(&out, event.event_id);
  if (flags & kEventHasRequestId) PutBytes(&out, event.request_id);
  if (flags & kEventHasDwell) PutVarint64(&out, ZigZag(event.dwell_ms));
  if (flags & kEventHasRating) {
    uint32_t bits = 0;
    std::memcpy(&bits, &event.rating, sizeof(bits));
    PutFixed32(&out, bits);
  }
  return out;
}

Result<Event> DecodeEvent(std::string_view value) {
  Reader in(value);
  uint8_t version = 0, type = 0, flags = 0;
  if (!in.Byte(&version)) return Corrupt("event", "empty");
  if (version != kEventRecordVersion) {
    return Corrupt("event", StrCat("unknown record version ", static_cast<int>(version)));
  }
  if (!in.Byte(&type) || !in.Byte(&flags)) return Corrupt("event", "truncated header");
  if (type >= kNumEventTypes) return Corrupt("event", "unknown event type");
  if (flags & ~kEventKnownFlags) return Corrupt("event", "unknown flags");
  Event event;
  event.type = static_cast<EventType>(type);
  if (!in.Signed(&event.ts_ms) || !in.Bytes(&event.user_id) || !in.Bytes(&event.item_id)) {
    return Corrupt("event", "truncated");
  }
  if ((flags & kEventHasEventId) && !in.Bytes(&event.event_id)) return Corrupt("event", "event_id");
  if ((flags & kEventHasRequestId) && !in.Bytes(&event.request_id)) {
    return Corrupt("event", "request_id");
  }
  if ((flags & kEventHasDwell) && !in.Signed(&event.dwell_ms)) return Corrupt("event", "dwell_ms");
  if (flags & kEventHasRating) {
    uint32_t bits = 0;
    if (!in.Fixed32(&bits)) return Corrupt("event", "rating");
    std::memcpy(&event.rating, &bits, sizeof(bits));
  }
  if (!in.done()) return Corrupt("event", "trailing bytes");
  return event;
}

std::string EncodeItem(const Item& item) {
  std::string out;
  out.reserve(16 + item.title.size() + item.category.size() + 16 * item.tags.size());
  out.push_back(static_cast<char>(kItemRecordVersion));
  out.push_back(static_cast<char>(item.available ? kItemAvailable : 0));
  PutVarint64(&out, ZigZag(item.created_at_ms));
  PutBytes(&out, item.title);
  PutBytes(&out, item.category);
  PutVarint64(&out, item.tags.size());
  for (const std::string& tag : item.tags) PutBytes(&out, tag);
  return out;
}

Result<Item> DecodeItem(std::string_view item_id, std::string_view value) {
  Reader in(value);
  uint8_t version = 0, flags = 0;
  if (!in.Byte(&version)) return Corrupt("item", "empty");
  if (version != kItemRecordVersion) {
    return Corrupt("item", StrCat("unknown record version ", static_cast<int>(version)));
  }
  if (!in.Byte(&flags)) return Corrupt("item", "truncated header");
  if (flags & ~kItemKnownFlags) return Corrupt("item", "unknown flags");
  Item item;
  item.item_id = std::string(item_id);
  item.available = (flags & kItemAvailable) != 0;
  uint64_t tags = 0;
  if (!in.Signed(&item.created_at_ms) || !in.Bytes(&item.title) || !in.Bytes(&item.category) ||
      !in.Varint64(&tags)) {
    return Corrupt("item", "truncated");
  }
  // Each tag takes at least one byte, which bounds the count by what is left.
  if (tags > in.remaining()) return Corrupt("item", "tag count exceeds the record");
  item.tags.resize(tags);
  for (std::string& tag : item.tags) {
    if (!in.Bytes(&tag)) return Corrupt("item", "truncated tag");
  }
  if (!in.done()) return Corrupt("item", "trailing bytes");
  return item;
}

std::string EncodeHistory(const UserHistory& history) {
  std::string out;
  out.reserve(16 + history.recent.size() * 16);
  out.push_back(static_cast<char>(kHistoryRecordVersion));
  PutVarint64(&out, history.events_total);
  PutVarint64(&out, ZigZag(history.updated_at_ms));
  PutVarint64(&out, history.recent.size());
  int64_t previous = 0;
  for (const HistoryEntry& e : history.recent) {
    PutBytes(&out, e.item_id);
    out.push_back(static_cast<char>(e.type));
    // Entries are newest first, so the delta to the previous one is small and usually >= 0.
    PutVarint64(&out, ZigZag(static_cast<int64_t>(static_cast<uint64_t>(previous) -
                                                  static_cast<uint64_t>(e.ts_ms))));
    previous = e.ts_ms;
  }
  return out;
}

Result<UserHistory> DecodeHistory(std::string_view value) {
  Reader in(value);
  uint8_t version = 0;
  if (!in.Byte(&version)) return Corrupt("history", "empty");
  if (version != kHistoryRecordVersion) {
    return Corrupt("history", StrCat("unknown record version ", static_cast<int>(version)));
  }
  UserHistory history;
  uint64_t count = 0;
  if (!in.Varint64(&history.events_total) || !in.Signed(&history.updated_at_ms) ||
      !in.Varint64(&count)) {
    return Corrupt("history", "truncated header");
  }
  // Each entry takes at least three bytes.
  if (count > in.remaining() / 3) return Corrupt("history", "entry count exceeds the record");
  history.recent.resize(count);
  int64_t previous = 0;
  for (HistoryEntry& e : history.recent) {
    uint8_t type = 0;
    int64_t delta = 0;
    if (!in.Bytes(&e.item_id) || !in.Byte(&type) || !in.Signed(&delta)) {
      return Corrupt("history", "truncated entry");
    }
    if (type >= kNumEventTypes) return Corrupt("history", "unknown event type");
    e.type = static_cast<EventType>(type);
    e.ts_ms = static_cast<int64_t>(static_cast<uint64_t>(previous) - static_cast<uint64_t>(delta));
    previous = e.ts_ms;
  }
  if (!in.done()) return Corrupt("history", "trailing bytes");
  return history;
}

std::string EncodeDeadLetter(const DeadLetter& letter) {
  std::string out;
  out.reserve(16 + letter.source.size() + letter.reason.size() + letter.reason_text.size() +
              letter.raw.size());
  out.push_back(static_cast<char>(kDeadLetterRecordVersion));
  PutVarint64(&out, ZigZag(letter.received_at_ms));
  PutBytes(&out, letter.source);
  PutBytes(&out, letter.reason);
  PutBytes(&out, letter.reason_text);
  PutBytes(&out, letter.raw);
  return out;
}

Result<DeadLetter> DecodeDeadLetter(uint64_t seq, std::string_view value) {
  Reader in(value);
  uint8_t version = 0;
  if (!in.Byte(&version)) return Corrupt("dead letter", "empty");
  if (version != kDeadLetterRecordVersion) {
    return Corrupt("dead letter", StrCat("unknown record version ", static_cast<int>(version)));
  }
  DeadLetter letter;
  letter.seq = seq;
  if (!in.Signed(&letter.received_at_ms) || !in.Bytes(&letter.source) ||
      !in.Bytes(&letter.reason) || !in.Bytes(&letter.reason_text) || !in.Bytes(&letter.raw)) {
    return Corrupt("dead letter", "truncated");
  }
  if (!in.done()) return Corrupt("dead letter", "trailing bytes");
  return letter;
}

}  // namespace pulse::store::codec
