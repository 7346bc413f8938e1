// TrainAndWriteBundle: the manifest it writes (data range, parameters, held-out metrics,
// feature schema) and cancellation.
#include <atomic>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "rollout/model_bundle.h"
#include "rollout/models_dir.h"
#include "store/data_dir.h"
#include "testing/test_util.h"
#include "tools/synthetic.h"
#include "train/commands.h"

namespace pulse::train {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;
using ::pulse::testing::TempDir;

class TrainBundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tools::SyntheticParams params;
    params.users = 300;
    params.items = 150;
    params.events = 6000;
    params.seed = 7;
    tools::SyntheticData data = tools::GenerateSynthetic(params);
    events_ = data.events;
    auto store = store::DataDir::Open(tmp_.Sub("data"), StoreConfig());
    ASSERT_THAT(store, IsOk());
    data_dir_ = std::move(store).value();
    ASSERT_THAT(data_dir_->AppendEvents(data.events, /*sync=*/false), IsOk());
    config_.train.factors = 16;
    config_.train.iterations = 4;
    config_.train.threads = 2;
    config_.train.eval_users = 100;
    config_.index.type = "flat";
  }

  TempDir tmp_;
  Config config_;
  std::vector<Event> events_;
  std::unique_ptr<store::DataDir> data_dir_;
};

TEST_F(TrainBundleTest, ManifestRecordsRangeParametersMetricsAndSchema) {
  auto run = TrainAndWriteBundle(*data_dir_, config_, {});
  ASSERT_THAT(run, IsOk());
  EXPECT_EQ(run->version, "v000001");
  EXPECT_EQ(run->events, data_dir_->EventCount());
  EXPECT_EQ(run->last_event_seq, data_dir_->EventCount());

  auto text = rollout::ReadManifestJson(run->dir);
  ASSERT_THAT(text, IsOk());
  const nlohmann::json manifest = nlohmann::json::parse(*text);
  const nlohmann::json& extra = manifest["extra"];
  int64_t min_ts = events_[0].ts_ms;
  int64_t max_ts = events_[0].ts_ms;
  for (const Event& e : events_) {
    min_ts = std::min(min_ts, e.ts_ms);
    max_ts = std::max(max_ts, e.ts_ms);
  }
  EXPECT_EQ(extra["data"]["first_seq"], 1);
  EXPECT_EQ(extra["data"]["last_seq"], data_dir_->EventCount());
  EXPECT_EQ(extra["data"]["event_count"], data_dir_->EventCount());
  EXPECT_EQ(extra["data"]["first_event_ts_ms"], min_ts);
  EXPECT_EQ(extra["data"]["last_event_ts_ms"], max_ts);
  EXPECT_EQ(extra["training"]["factors"], 16);
  EXPECT_EQ(extra["training"]["iterations"], 4);
  EXPECT_EQ(extra["index"]["type"], "flat");
  EXPECT_EQ(extra["feature_schema"]["user_vector"]["dim"], 16);
  EXPECT_EQ(extra["feature_schema"]["interaction_weights"]["click"], 2.0);
  const nlohmann::json& metrics = extra["metrics"];
  ASSERT_TRUE(metrics.contains("recall@10")) << metrics;
  EXPECT_EQ(metrics["users"], 100);  // capped by eval_users
  // Synthetic users have taste: the held-out model beats chance by far (150 items, K = 10).
  EXPECT_GT(metrics["recall@10"].get<double>(), 10.0 / 150.0);
  EXPECT_GE(metrics["ndcg@10"].get<double>(), 0.0);
  EXPECT_LE(metrics["ndcg@10"].get<double>(), 1.0);

  // The lenient summary reads it back.
  auto summary = rollout::SummarizeManifest(*text);
  ASSERT_THAT(summary, IsOk());
  EXPECT_EQ(summary->last_seq, data_dir_->EventCount());
  EXPECT_EQ(summary->recall_at_10, metrics["recall@10"].get<double>());
}

TEST_F(TrainBundleTest, EvalUsersZeroSkipsTheHeldOutCheck) {
  config_.train.eval_users = 0;
  auto run = TrainAndWriteBundle(*data_dir_, config_, {});
  ASSERT_THAT(run, IsOk());
  const nlohmann::json manifest =
      nlohmann::json::parse(rollout::ReadManifestJson(run->dir).value());
  EXPECT_TRUE(manifest["extra"]["metrics"].contains("skipped"));
  EXPECT_FALSE(manifest["extra"]["metrics"].contains("recall@10"));
}

TEST_F(TrainBundleTest, CancelledRunWritesNothing) {
  std::atomic<bool> cancel{true};
  TrainRunOptions options;
  options.cancel = &cancel;
  EXPECT_THAT(TrainAndWriteBundle(*data_dir_, config_, options), StatusIs(StatusCode::kCancelled));
  EXPECT_TRUE(rollout::ListModelVersions(data_dir_->models_dir()).empty());
}

TEST_F(TrainBundleTest, ProgressOnlyWhenAsked) {
  // `pulse train` asks when stderr is a terminal (isatty); a scheduled retrain never does.
  ::testing::internal::CaptureStderr();
  ASSERT_THAT(TrainAndWriteBundle(*data_dir_, config_, {}), IsOk());
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");

  TrainRunOptions options;
  options.progress = true;
  ::testing::internal::CaptureStderr();
  ASSERT_THAT(TrainAndWriteBundle(*data_dir_, config_, options), IsOk());
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, ::testing::HasSubstr("\rALS iteration 4/4"));
  EXPECT_THAT(err, ::testing::HasSubstr("index over"));
  EXPECT_THAT(err, ::testing::HasSubstr("held-out check: Recall@10 "));
  EXPECT_THAT(err, ::testing::HasSubstr("wrote v000002"));
}

}  // namespace
}  // namespace pulse::train
