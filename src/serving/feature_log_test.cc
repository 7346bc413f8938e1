// The served-feature log and the learned ranker end to end inside one process: serve with
// feature logging on → clicks on served items → BuildRankerDataset/TrainRanker → a bundle with a
// ranker → the engine scores with it (and logs the vectors it scored).
#include "serving/feature_log.h"

#include <cmath>
#include <map>
#include <set>

#include "core/strings.h"
#include "gbdt/evaluator.h"
#include "gtest/gtest.h"
#include "index/ann_index.h"
#include "ranking/ranker_features.h"
#include "serving/engine.h"
#include "testing/test_util.h"
#include "train/ranker_training.h"

namespace pulse::serving {
namespace {

using ::pulse::testing::IsOk;

TEST(FeatureLogTest, SamplingFollowsTheRate) {
  int in = 0;
  for (int i = 0; i < 10000; ++i) {
    const std::string id = StrCat("request-", i);
    EXPECT_FALSE(SampledForFeatureLog(id, 0.0));
    EXPECT_TRUE(SampledForFeatureLog(id, 1.0));
    EXPECT_EQ(SampledForFeatureLog(id, 0.25), SampledForFeatureLog(id, 0.25));
    in += SampledForFeatureLog(id, 0.25);
  }
  EXPECT_GT(in, 2200);
  EXPECT_LT(in, 2800);
}

// 20 items, popularity rising with the id; a flat index.
rollout::ModelBundle MakeBundle() {
  rollout::ModelBundle bundle;
  bundle.dim = 2;
  for (int i = 0; i < 20; ++i) {
    bundle.items.Intern(StrCat("i", i));
    bundle.item_factors.push_back(i < 10 ? 1.0f : 0.1f);
    bundle.item_factors.push_back(i < 10 ? 0.1f : 1.0f);
    bundle.item_popularity.push_back(1.0f + static_cast<float>(i * i));
  }
  bundle.users.Intern("trained-only");
  bundle.user_factors = {1, 0};
  IndexConfig index_config;
  index_config.type = "flat";
  bundle.index = index::AnnIndex::Build(bundle.item_factors.data(), 20, 2, index_config).value();
  return bundle;
}

std::vector<store::ServedRequest> ReadLog(const store::DataDir& data) {
  std::vector<store::ServedRequest> out;
  EXPECT_THAT(data.ForEachServedRecord([&](std::string_view text) {
    auto record = store::DecodeServedRequest(text);
    EXPECT_THAT(record, IsOk());
    out.push_back(*record);
    return OkStatus();
  }),
              IsOk());
  return out;
}

TEST(FeatureLogTest, ServeLogTrainAndServeWithTheRanker) {
  testing::TempDir dir;
  Config config;
  config.data_dir = dir.Sub("data");
  config.index.type = "flat";
  config.server.model_poll_ms = 0;
  config.pipeline.feature_log_sample = 1.0;
  auto data = store::DataDir::Open(config.data_dir, config.store).value();
  {
    rollout::ModelBundle bundle = MakeBundle();
    ASSERT_THAT(rollout::WriteModelBundle(data->models_dir(), bundle), IsOk());
  }

  // Phase 1: the linear scorer serves; every request is logged.
  std::map<std::string, RecommendResponse> responses;
  {
    auto engine = Engine::Create(config, data.get()).value();
    for (int u = 0; u < 80; ++u) {
      RecommendRequest request;
      request.user_id = StrCat("u", u);
      request.n = 8;
      auto response = engine->Recommend(request);
      ASSERT_THAT(response, IsOk());
      responses[response->request_id] = *response;
    }
  }
  const std::vector<store::ServedRequest> log = ReadLog(*data);
  ASSERT_EQ(log.size(), responses.size());
  for (const store::ServedRequest& record : log) {
    const RecommendResponse& response = responses.at(record.request_id);
    EXPECT_EQ(record.model_version, response.model_version);
    EXPECT_EQ(record.schema, ranking::kRankerFeatureSchema);
    ASSERT_EQ(record.items.size(), response.items.size());
    for (size_t i = 0; i < record.items.size(); ++i) {
      EXPECT_EQ(record.items[i].item_id, response.items[i].item_id);
      EXPECT_EQ(record.items[i].position, static_cast<int>(i));
      EXPECT_EQ(record.items[i].features.size(), ranking::kRankerFeatureCount);
    }
  }

  // Clicks: users click the even-numbered items they were shown, half with the request id and
  // half without it (joined by the time window instead).
  std::vector<Event> clicks;
  int64_t n_clicks = 0;
  for (const store::ServedRequest& record : log) {
    for (const store::ServedItem& item : record.items) {
      int64_t id = 0;
      ASSERT_TRUE(ParseInt64(std::string_view(item.item_id).substr(1), &id));
      if (id % 2 != 0) continue;
      Event click;
      click.user_id = record.user_id;
      click.item_id = item.item_id;
      click.type = EventType::kClick;
      click.ts_ms = record.ts_ms + 1000;
      if (n_clicks++ % 2 == 0) click.request_id = record.request_id;
      clicks.push_back(click);
    }
  }
  ASSERT_THAT(data->AppendEvents(clicks, true), IsOk());

  auto dataset = train::BuildRankerDataset(*data);
  ASSERT_THAT(dataset, IsOk());
  EXPECT_EQ(dataset->requests, log.size());
  EXPECT_EQ(dataset->rows(), log.size() * 8);
  size_t positives = 0;
  for (float y : dataset->y) positives += y == 1.0f;
  EXPECT_EQ(positives, static_cast<size_t>(n_clicks));

  gbdt::TrainParams params;
  params.trees = 10;
  params.max_depth = 3;
  const train::RankerOutcome too_few = train::TrainRanker(*dataset, 100000, params);
  EXPECT_FALSE(too_few.trained);
  EXPECT_NE(too_few.reason.find("not enough data"), std::string::npos);
  const train::RankerOutcome outcome = train::TrainRanker(*dataset, 100, params);
  ASSERT_TRUE(outcome.trained) << outcome.reason;
  EXPECT_GT(outcome.auc, 0.5);
  EXPECT_GT(outcome.holdout_rows, 0u);
  {
    rollout::ModelBundle bundle = MakeBundle();
    bundle.ranker_json = outcome.model_json;
    ASSERT_THAT(rollout::WriteModelBundle(data->models_dir(), bundle), IsOk());
  }

  // Phase 2: a new engine loads the bundle with the ranker and scores with it.
  auto engine = Engine::Create(config, data.get()).value();
  RecommendRequest request;
  request.user_id = "u-new";
  request.n = 8;
  request.debug = true;
  auto response = engine->Recommend(request);
  ASSERT_THAT(response, IsOk());
  std::set<std::string> stages;
  for (const auto& stage : response->debug->stages) stages.insert(stage.name);
  EXPECT_TRUE(stages.contains("gbdt"));
  EXPECT_FALSE(stages.contains("linear"));
  // The scores are the ranker's probabilities over the vectors logged for this request.
  const std::vector<store::ServedRequest> after = ReadLog(*data);
  const store::ServedRequest* mine = nullptr;
  for (const auto& record : after) {
    if (record.request_id == response->request_id) mine = &record;
  }
  ASSERT_NE(mine, nullptr);
  auto loaded = rollout::LoadModelBundle(StrCat(data->models_dir(), "/", response->model_version),
                                         config.index);
  ASSERT_THAT(loaded, IsOk());
  ASSERT_NE((*loaded)->ranker, nullptr);
  std::vector<float> rows;
  for (const auto& item : mine->items) {
    rows.insert(rows.end(), item.features.begin(), item.features.end());
  }
  std::vector<float> want(mine->items.size());
  ASSERT_THAT(
      (*loaded)->ranker->PredictProbability(rows, want.size(), ranking::kRankerFeatureCount, want),
      IsOk());
  ASSERT_EQ(response->items.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(response->items[i].score, want[i]);
    EXPECT_GT(want[i], 0.0f);
    EXPECT_LT(want[i], 1.0f);
    if (i > 0) {
      EXPECT_GE(response->items[i - 1].score, response->items[i].score);
    }
  }
}

}  // namespace
}  // namespace pulse::serving
