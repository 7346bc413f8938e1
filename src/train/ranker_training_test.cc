// `pulse train`'s ranker step: served-feature log + clicks in a data dir → the bundle carries a
// ranker (or, without enough data, says so and keeps the linear scorer).
#include "train/ranker_training.h"

#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "ranking/ranker_features.h"
#include "rollout/model_bundle.h"
#include "store/data_dir.h"
#include "store/served_log.h"
#include "testing/test_util.h"
#include "train/commands.h"

namespace pulse::train {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::TempDir;
using ::pulse::testing::WriteFile;
using ::testing::HasSubstr;

// `requests` logged requests of 10 items each for users u0..; a user clicks (with the request id)
// the items whose first feature (similarity) is high, with some noise. Each user also has a
// view event so ALS has something to train on.
void FillDataDir(const std::string& dir, int requests) {
  auto data = store::DataDir::Open(dir, StoreConfig());
  ASSERT_THAT(data, IsOk());
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<Event> events;
  for (int r = 0; r < requests; ++r) {
    store::ServedRequest record;
    record.request_id = StrCat("req", r);
    record.user_id = StrCat("u", r % 50);
    record.ts_ms = 1'700'000'000'000 + r * 1000;
    record.model_version = "v000001";
    record.schema = ranking::kRankerFeatureSchema;
    for (int i = 0; i < 10; ++i) {
      store::ServedItem item;
      item.item_id = StrCat("i", (r * 7 + i) % 40);
      item.position = i;
      for (size_t f = 0; f < ranking::kRankerFeatureCount; ++f) item.features.push_back(u(rng));
      if (u(rng) < item.features[0] * item.features[0]) {
        Event click;
        click.user_id = record.user_id;
        click.item_id = item.item_id;
        click.type = EventType::kClick;
        click.ts_ms = record.ts_ms + 500;
        click.request_id = record.request_id;
        events.push_back(click);
      }
      record.items.push_back(std::move(item));
    }
    ASSERT_THAT((*data)->PutServedRecord(record.ts_ms, record.request_id,
                                         store::EncodeServedRequest(record)),
                IsOk());
  }
  for (int user = 0; user < 50; ++user) {
    Event view;
    view.user_id = StrCat("u", user);
    view.item_id = StrCat("i", user % 40);
    view.type = EventType::kView;
    view.ts_ms = 1'699'000'000'000;
    events.push_back(view);
  }
  ASSERT_THAT((*data)->AppendEvents(events, /*sync=*/true), IsOk());
}

std::string Config(const TempDir& tmp, int min_rows) {
  const std::string path = tmp.Sub("pulse.yaml");
  WriteFile(path, StrCat("train: {factors: 4, iterations: 2, threads: 1, ranker_min_rows: ",
                         min_rows, "}\nindex: {type: flat}\n"));
  return path;
}

TEST(RankerTrainingTest, PulseTrainStoresARankerWithHeldOutMetrics) {
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  FillDataDir(dir, 300);
  ::testing::internal::CaptureStdout();
  const int code = RunTrainCommand({"--data-dir", dir, "--config", Config(tmp, 1000)});
  const std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("ranker: gradient-boosted trees"));
  EXPECT_THAT(out, HasSubstr("held-out AUC"));
  auto bundle = rollout::LoadModelBundle(dir + "/models/v000001", IndexConfig());
  ASSERT_THAT(bundle, IsOk());
  ASSERT_NE((*bundle)->ranker, nullptr);
  EXPECT_EQ((*bundle)->ranker->num_features(), ranking::kRankerFeatureCount);
  const auto extra = nlohmann::json::parse((*bundle)->manifest_extra_json);
  EXPECT_EQ(extra["ranker"]["trained"], true);
  EXPECT_EQ(extra["ranker"]["rows"], 3000);
  // Clicks follow the first feature, so the held-out AUC is well above chance.
  EXPECT_GT(extra["ranker"]["holdout_auc"].get<double>(), 0.7);
  EXPECT_GT(extra["ranker"]["holdout_logloss"].get<double>(), 0.0);
}

TEST(RankerTrainingTest, WithoutEnoughDataTheBundleKeepsTheLinearScorer) {
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  FillDataDir(dir, 20);  // 200 rows
  ::testing::internal::CaptureStdout();
  const int code = RunTrainCommand({"--data-dir", dir, "--config", Config(tmp, 1000)});
  const std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("ranker: none, linear scorer kept (not enough data: 200 labelled"));
  auto bundle = rollout::LoadModelBundle(dir + "/models/v000001", IndexConfig());
  ASSERT_THAT(bundle, IsOk());
  EXPECT_EQ((*bundle)->ranker, nullptr);
  const auto extra = nlohmann::json::parse((*bundle)->manifest_extra_json);
  EXPECT_EQ(extra["ranker"]["trained"], false);
}

TEST(RankerTrainingTest, CorruptAndForeignSchemaRecordsAreSkipped) {
  TempDir tmp;
  auto data = store::DataDir::Open(tmp.Sub("data"), StoreConfig());
  ASSERT_THAT(data, IsOk());
  ASSERT_THAT((*data)->PutServedRecord(1, "a", "not json"), IsOk());
  store::ServedRequest other;
  other.request_id = "b";
  other.schema = ranking::kRankerFeatureSchema + 1;
  other.items.push_back({"i1", 0, {1, 2}});
  ASSERT_THAT((*data)->PutServedRecord(2, "b", store::EncodeServedRequest(other)), IsOk());
  auto dataset = BuildRankerDataset(**data);
  ASSERT_THAT(dataset, IsOk());
  EXPECT_EQ(dataset->skipped_records, 2u);
  EXPECT_EQ(dataset->rows(), 0u);
  const RankerOutcome outcome = TrainRanker(*dataset, 1, RankerTrainParams(TrainConfig()));
  EXPECT_FALSE(outcome.trained);
}

}  // namespace
}  // namespace pulse::train
