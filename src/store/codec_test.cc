#include "store/codec.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace pulse::store::codec {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;
using ::testing::ElementsAre;

TEST(CodecTest, SequenceIsBigEndian) {
  EXPECT_EQ(EncodeSequence(1), std::string("\0\0\0\0\0\0\0\1", 8));
  EXPECT_LT(EncodeSequence(255), EncodeSequence(256));
  EXPECT_EQ(*DecodeSequence(EncodeSequence(0x0102030405060708ULL)), 0x0102030405060708ULL);
  EXPECT_THAT(DecodeSequence("short"), StatusIs(StatusCode::kDataLoss));
}

TEST(CodecTest, EventRoundTripAndExactBytes) {
  Event e;
  e.user_id = "u1";
  e.item_id = "i1";
  e.type = EventType::kClick;
  e.ts_ms = 1;
  // version 1, type 1, no flags, zigzag(1) = 2, "u1", "i1".
  EXPECT_EQ(EncodeEvent(e), std::string("\x01\x01\x00\x02\x02u1\x02i1", 10));

  e.event_id = "e";
  e.request_id = "r";
  e.dwell_ms = 300;
  e.rating = 3.5f;
  e.ts_ms = 1767225600000;
  auto back = DecodeEvent(EncodeEvent(e));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->event_id, "e");
  EXPECT_EQ(back->user_id, "u1");
  EXPECT_EQ(back->item_id, "i1");
  EXPECT_EQ(back->type, EventType::kClick);
  EXPECT_EQ(back->ts_ms, 1767225600000);
  EXPECT_EQ(back->dwell_ms, 300);
  EXPECT_EQ(back->request_id, "r");
  EXPECT_EQ(back->rating, 3.5f);

  e.ts_ms = INT64_MIN;
  e.dwell_ms = INT64_MAX;
  back = DecodeEvent(EncodeEvent(e));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->ts_ms, INT64_MIN);
  EXPECT_EQ(back->dwell_ms, INT64_MAX);
}

TEST(CodecTest, CorruptEventsAreDataLoss) {
  Event e;
  e.user_id = "user";
  e.item_id = "item";
  e.event_id = "id";
  e.ts_ms = 123456789;
  std::string good = EncodeEvent(e);
  // Every truncation fails cleanly.
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_THAT(DecodeEvent(good.substr(0, n)), StatusIs(StatusCode::kDataLoss)) << n;
  }
  EXPECT_THAT(DecodeEvent(good + "x"), StatusIs(StatusCode::kDataLoss, "trailing"));
  std::string bad = good;
  bad[0] = 2;
  EXPECT_THAT(DecodeEvent(bad), StatusIs(StatusCode::kDataLoss, "record version 2"));
  bad = good;
  bad[1] = 9;
  EXPECT_THAT(DecodeEvent(bad), StatusIs(StatusCode::kDataLoss, "event type"));
  bad = good;
  bad[2] = static_cast<char>(0x80);
  EXPECT_THAT(DecodeEvent(bad), StatusIs(StatusCode::kDataLoss, "flags"));
  // A varint longer than 64 bits, and a length past the end.
  EXPECT_THAT(DecodeEvent(std::string("\x01\x00\x00", 3) + std::string(11, '\xff')),
              StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(DecodeEvent(std::string("\x01\x00\x00\x02\x7fu", 6)),
              StatusIs(StatusCode::kDataLoss));
}

TEST(CodecTest, ItemRoundTrip) {
  Item item;
  item.item_id = "ignored";
  item.title = "Caf\xC3\xA9";
  item.category = "topic-03";
  item.tags = {"a", "", "long tag"};
  item.created_at_ms = 1700000000000;
  item.available = false;
  auto back = DecodeItem("i7", EncodeItem(item));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->item_id, "i7");
  EXPECT_EQ(back->title, item.title);
  EXPECT_EQ(back->category, "topic-03");
  EXPECT_THAT(back->tags, ElementsAre("a", "", "long tag"));
  EXPECT_EQ(back->created_at_ms, 1700000000000);
  EXPECT_FALSE(back->available);
  std::string good = EncodeItem(item);
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_THAT(DecodeItem("i", good.substr(0, n)), StatusIs(StatusCode::kDataLoss)) << n;
  }
  // A huge tag count must not allocate before failing.
  EXPECT_THAT(DecodeItem("i", std::string("\x01\x01\x00\x00\x00\xff\xff\xff\xff\x0f", 10)),
              StatusIs(StatusCode::kDataLoss));
}

TEST(CodecTest, HistoryRoundTripWithUnorderedTimes) {
  UserHistory h;
  h.events_total = 12;
  h.updated_at_ms = 1767225600123;
  h.recent = {{"i3", EventType::kPurchase, 500},
              {"i2", EventType::kView, 400},
              {"i9", EventType::kDwell, 900},
              {"i1", EventType::kClick, -5}};
  auto back = DecodeHistory(EncodeHistory(h));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->events_total, 12u);
  EXPECT_EQ(back->updated_at_ms, 1767225600123);
  ASSERT_EQ(back->recent.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(back->recent[i].item_id, h.recent[i].item_id);
    EXPECT_EQ(back->recent[i].type, h.recent[i].type);
    EXPECT_EQ(back->recent[i].ts_ms, h.recent[i].ts_ms);
  }
  std::string good = EncodeHistory(h);
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_THAT(DecodeHistory(good.substr(0, n)), StatusIs(StatusCode::kDataLoss)) << n;
  }
  EXPECT_THAT(DecodeHistory(std::string("\x01\x00\x00\xff\xff\xff\xff\x0f", 8)),
              StatusIs(StatusCode::kDataLoss, "entry count"));
  auto empty = DecodeHistory(EncodeHistory(UserHistory()));
  ASSERT_THAT(empty, IsOk());
  EXPECT_TRUE(empty->recent.empty());
}

}  // namespace
}  // namespace pulse::store::codec
