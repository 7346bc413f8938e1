#include "store/served_log.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "store/data_dir.h"
#include "testing/test_util.h"

namespace pulse::store {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;

ServedRequest Sample(std::string request_id, int64_t ts) {
  ServedRequest r;
  r.request_id = std::move(request_id);
  r.user_id = "user é";
  r.ts_ms = ts;
  r.model_version = "v000003";
  r.schema = 1;
  r.items.push_back({"i1", 0, {0.5f, 1e-7f, -3.25f}});
  r.items.push_back({"i2", 1, {std::numeric_limits<float>::quiet_NaN(), 0, 1}});
  return r;
}

TEST(ServedLogTest, RoundTripsIncludingMissingFeatures) {
  const ServedRequest in = Sample("r1", 1'732'450'000'123);
  auto out = DecodeServedRequest(EncodeServedRequest(in));
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(out->request_id, "r1");
  EXPECT_EQ(out->user_id, in.user_id);
  EXPECT_EQ(out->ts_ms, in.ts_ms);
  EXPECT_EQ(out->model_version, "v000003");
  EXPECT_EQ(out->schema, 1);
  ASSERT_EQ(out->items.size(), 2u);
  EXPECT_EQ(out->items[0].item_id, "i1");
  EXPECT_EQ(out->items[1].position, 1);
  EXPECT_EQ(out->items[0].features, in.items[0].features);
  EXPECT_TRUE(std::isnan(out->items[1].features[0]));
  EXPECT_EQ(out->items[1].features[2], 1.0f);
}

TEST(ServedLogTest, EventsSeqIsOptional) {
  ServedRequest in = Sample("r1", 5);
  auto without = DecodeServedRequest(EncodeServedRequest(in));
  ASSERT_THAT(without, IsOk());
  EXPECT_EQ(without->events_seq, 0u);
  in.events_seq = 42;
  auto with = DecodeServedRequest(EncodeServedRequest(in));
  ASSERT_THAT(with, IsOk());
  EXPECT_EQ(with->events_seq, 42u);
  EXPECT_THAT(DecodeServedRequest(R"({"v":1,"request_id":"r","user_id":"u","ts":1,)"
                                  R"("model_version":"v","schema":1,"events_seq":-3,"items":[]})"),
              StatusIs(StatusCode::kDataLoss));
}

TEST(ServedLogTest, CorruptRecordsAreDataLossNotCrashes) {
  for (const char* text : {"", "{", "[]", R"({"v":2})", R"({"v":1})",
                           R"({"v":1,"request_id":"r","user_id":"u","ts":1,"model_version":"v",)"
                           R"("schema":1,"items":[{"item_id":"i","position":0,"features":["x"]}]})",
                           R"({"v":1,"request_id":7,"user_id":"u","ts":1,"model_version":"v",)"
                           R"("schema":1,"items":[]})"}) {
    EXPECT_THAT(DecodeServedRequest(text), StatusIs(StatusCode::kDataLoss)) << text;
  }
}

TEST(ServedLogTest, DataDirKeepsRecordsInTimeOrderBesideBlobs) {
  testing::TempDir dir;
  {
    auto data = DataDir::Open(dir.path(), StoreConfig());
    ASSERT_THAT(data, IsOk());
    ASSERT_THAT((*data)->PutBlob("checkpoint", "x"), IsOk());
    for (int64_t ts : {3000, -5, 1000, 2000}) {
      ASSERT_THAT((*data)->PutServedRecord(ts, StrCat("r", ts),
                                           EncodeServedRequest(Sample(StrCat("r", ts), ts))),
                  IsOk());
    }
  }
  auto data = DataDir::Open(dir.path(), StoreConfig());  // survives a reopen
  ASSERT_THAT(data, IsOk());
  std::vector<int64_t> seen;
  ASSERT_THAT((*data)->ForEachServedRecord([&](std::string_view text) {
    auto record = DecodeServedRequest(text);
    EXPECT_THAT(record, IsOk());
    seen.push_back(record->ts_ms);
    return OkStatus();
  }),
              IsOk());
  EXPECT_EQ(seen, (std::vector<int64_t>{-5, 1000, 2000, 3000}));
  EXPECT_EQ(*(*data)->GetBlob("checkpoint"), std::optional<std::string>("x"));
  EXPECT_EQ((*data)->layout_version(), DataDir::kLayoutVersion);
}

}  // namespace
}  // namespace pulse::store
