// The training-serving skew check (train/skew_check.h) against what the real engine logged: the
// offline recomputation from the event log must agree with serving, a perturbed feature must be
// reported (and only it), and malformed records must be reported without a crash.
#include "train/skew_check.h"

#include <string>
#include <vector>

#include "core/strings.h"
#include "gtest/gtest.h"
#include "ranking/ranker_features.h"
#include "serving/engine.h"
#include "serving/test_bundles.h"
#include "store/served_log.h"
#include "testing/test_util.h"

namespace pulse::serving {
namespace {

using ::pulse::testing::IsOk;

constexpr size_t kPopularity = 1;

class SkewCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_.Sub("data");
    config_.index.type = "flat";
    config_.server.model_poll_ms = 0;
    config_.pipeline.feature_log_sample = 1.0;
    config_.cache.ttl_ms = 0;            // every request computes (and logs) its answer
    config_.store.history_per_user = 6;  // the replay must apply the same cap
    config_.pipeline.fold_in_items = 4;  // and fold in the same newest items
    data_ = store::DataDir::Open(config_.data_dir, config_.store, clock_).value();
    rollout::ModelBundle bundle = test_bundles::TwoClusterBundle(4, /*trained_user=*/true);
    ASSERT_THAT(rollout::WriteModelBundle(data_->models_dir(), bundle), IsOk());
    std::vector<Item> items;
    for (int i = 0; i < 20; ++i) {
      Item item;
      item.item_id = StrCat("i", i);
      // Some items have no created_at (freshness 0), the others various ages.
      item.created_at_ms = i % 4 == 0 ? 0 : clock_.NowMillis() - int64_t{i} * 86'400'000;
      items.push_back(item);
    }
    ASSERT_THAT(data_->PutItems(items), IsOk());
  }

  void Append(const std::string& user, std::vector<std::pair<int, EventType>> events,
              int64_t ts_offset_ms = 0) {
    std::vector<Event> batch;
    for (auto [item, type] : events) {
      Event e;
      e.user_id = user;
      e.item_id = item < 0 ? "not-in-model" : StrCat("i", item);
      e.type = type;
      e.ts_ms = clock_.NowMillis() + ts_offset_ms;
      batch.push_back(e);
    }
    ASSERT_THAT(data_->AppendEvents(batch, /*sync=*/false), IsOk());
  }

  void Serve(Engine& engine, const std::string& user) {
    RecommendRequest request;
    request.user_id = user;
    request.n = 6;
    ASSERT_THAT(engine.Recommend(request), IsOk());
    clock_.AdvanceMillis(1000);
  }

  // Serves a mix of users whose state changes between their requests.
  void ServeTraffic() {
    auto engine = Engine::Create(config_, data_.get(), &clock_).value();
    Serve(*engine, "stranger");      // no vector
    Serve(*engine, "trained-only");  // the trained vector
    Append("u-a", {{1, EventType::kView}, {2, EventType::kClick}, {3, EventType::kView}});
    Serve(*engine, "u-a");
    // Later events, one older than the request (late data), one repeated item, one impression,
    // one item the model does not know, more than history_per_user distinct items.
    Append("u-a", {{12, EventType::kPurchase}, {2, EventType::kView}, {-1, EventType::kView}});
    Append("u-a", {{4, EventType::kImpression}}, /*ts_offset_ms=*/-5000);
    Append("u-a", {{5, EventType::kClick},
                   {6, EventType::kView},
                   {7, EventType::kView},
                   {8, EventType::kView},
                   {9, EventType::kView}});
    Serve(*engine, "u-a");
    Append("u-b", {{15, EventType::kClick}, {16, EventType::kClick}}, /*ts_offset_ms=*/-60'000);
    Append("trained-only", {{11, EventType::kView}});
    Serve(*engine, "u-b");
    Serve(*engine, "trained-only");  // now folded in
    // After the last request: must not leak into the replay of the earlier ones.
    Append("u-b", {{1, EventType::kPurchase}, {2, EventType::kPurchase}});
    Append("u-a", {{17, EventType::kPurchase}}, /*ts_offset_ms=*/-100'000);
  }

  // Rewrites every logged record through `edit` (same key: same time and request id).
  void EditLog(const std::function<void(store::ServedRequest&)>& edit) {
    std::vector<store::ServedRequest> records;
    ASSERT_THAT(data_->ForEachServedRecord([&](std::string_view text) {
      records.push_back(store::DecodeServedRequest(text).value());
      return OkStatus();
    }),
                IsOk());
    for (store::ServedRequest& r : records) {
      edit(r);
      ASSERT_THAT(data_->PutServedRecord(r.ts_ms, r.request_id, store::EncodeServedRequest(r)),
                  IsOk());
    }
  }

  const train::FeatureSkew& Feature(const train::SkewReport& report, std::string_view name) {
    for (const train::FeatureSkew& f : report.features) {
      if (f.name == name) return f;
    }
    ADD_FAILURE() << "no feature " << name;
    return report.features.front();
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  Config config_;
  std::unique_ptr<store::DataDir> data_;
};

TEST_F(SkewCheckTest, OfflineRecomputationAgreesWithServing) {
  ServeTraffic();
  auto report = train::CheckTrainingServingSkew(*data_, config_, train::SkewOptions());
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->records, 6u);
  EXPECT_EQ(report->requests_compared, 6u);
  EXPECT_EQ(report->rows, 36u);
  EXPECT_EQ(report->malformed + report->model_missing + report->other_schema, 0u);
  ASSERT_EQ(report->features.size(), ranking::kRankerFeatureCount);
  for (const train::FeatureSkew& f : report->features) {
    if (!f.recomputed) {
      EXPECT_EQ(f.name, "retrieval_score");
      EXPECT_EQ(f.compared, 0u);
      continue;
    }
    EXPECT_EQ(f.compared, 36u) << f.name;
    EXPECT_EQ(f.mismatches, 0u) << f.name << ": " << report->Text();
  }
  EXPECT_TRUE(report->passed());
  // The check is not vacuous: the features vary across the served rows.
  EXPECT_GT(Feature(*report, "similarity").compared, 0u);
  const nlohmann::json json = report->Json();
  EXPECT_EQ(json["passed"], true);
  EXPECT_EQ(json["metrics"]["pulse_skew_mismatches_total"]["similarity"], 0);
  EXPECT_EQ(json["metrics"]["pulse_skew_rows_compared"], 36);
}

TEST_F(SkewCheckTest, ReplayStopsAtTheRequestsLogPosition) {
  ServeTraffic();
  // Without the log position (older records), the replay falls back to event time, which sees
  // u-a's late-arriving purchase (event time before the requests, appended after them).
  EditLog([](store::ServedRequest& r) { r.events_seq = 0; });
  auto report = train::CheckTrainingServingSkew(*data_, config_, train::SkewOptions());
  ASSERT_THAT(report, IsOk());
  EXPECT_GT(Feature(*report, "similarity").mismatches, 0u) << report->Text();
}

TEST_F(SkewCheckTest, APerturbedFeatureIsReportedAndOnlyIt) {
  ServeTraffic();
  EditLog([](store::ServedRequest& r) {
    if (r.items.empty()) return;
    r.items[0].features[kPopularity] += 0.25f;  // one row in six per request
  });
  train::SkewOptions options;
  auto report = train::CheckTrainingServingSkew(*data_, config_, options);
  ASSERT_THAT(report, IsOk());
  const train::FeatureSkew& popularity = Feature(*report, "popularity");
  EXPECT_EQ(popularity.mismatches, 6u);
  EXPECT_NEAR(popularity.max_abs_diff, 0.25, 1e-6);
  EXPECT_NEAR(popularity.mean_abs_diff(), 0.25 / 6, 1e-6);
  ASSERT_EQ(popularity.examples.size(), options.examples_per_feature);
  EXPECT_NEAR(popularity.examples[0].served - popularity.examples[0].offline, 0.25, 1e-6);
  for (const train::FeatureSkew& f : report->features) {
    if (f.name != "popularity") {
      EXPECT_EQ(f.mismatches, 0u) << f.name;
    }
  }
  EXPECT_EQ(report->failing_features(), std::vector<std::string>{"popularity"});
  EXPECT_FALSE(report->passed());
  // Users appear as buckets only.
  const std::string json = report->Json().dump();
  const std::string text = report->Text();
  for (const char* user : {"u-a", "u-b", "trained-only", "stranger"}) {
    EXPECT_EQ(json.find(user), std::string::npos) << user;
    EXPECT_EQ(text.find(user), std::string::npos) << user;
  }
  EXPECT_NE(text.find("user bucket"), std::string::npos);
  // A looser threshold passes the same data; a tolerance above the perturbation matches it.
  options.max_mismatch_rate = 0.2;
  EXPECT_TRUE(train::CheckTrainingServingSkew(*data_, config_, options)->passed());
  options.max_mismatch_rate = 0.01;
  options.abs_tolerance = 0.3;
  EXPECT_TRUE(train::CheckTrainingServingSkew(*data_, config_, options)->passed());
}

TEST_F(SkewCheckTest, MalformedRecordsAreReportedNotFatal) {
  ServeTraffic();
  std::string good;
  ASSERT_THAT(data_->ForEachServedRecord([&](std::string_view text) {
    if (good.empty()) good = std::string(text);
    return OkStatus();
  }),
              IsOk());
  store::ServedRequest short_vector = store::DecodeServedRequest(good).value();
  short_vector.request_id = "short";
  short_vector.items[0].features.pop_back();
  ASSERT_THAT(data_->PutServedRecord(1, "trunc", good.substr(0, good.size() / 2)), IsOk());
  ASSERT_THAT(data_->PutServedRecord(2, "short", store::EncodeServedRequest(short_vector)), IsOk());
  ASSERT_THAT(data_->PutServedRecord(3, "junk", std::string("\0\xff{", 3)), IsOk());
  store::ServedRequest gone = short_vector;
  gone.request_id = "gone";
  gone.model_version = "v999999";
  gone.items[0].features.push_back(0);
  ASSERT_THAT(data_->PutServedRecord(4, "gone", store::EncodeServedRequest(gone)), IsOk());

  auto report = train::CheckTrainingServingSkew(*data_, config_, train::SkewOptions());
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->malformed, 3u);
  EXPECT_NE(report->first_malformed.find("record #1"), std::string::npos)
      << report->first_malformed;
  EXPECT_EQ(report->model_missing, 1u);
  EXPECT_EQ(report->rows, 36u);  // the good records are still compared
  EXPECT_TRUE(report->passed());
  EXPECT_EQ(report->Json()["malformed"], 3);
}

TEST_F(SkewCheckTest, MaxRowsBoundsTheWork) {
  ServeTraffic();
  train::SkewOptions options;
  options.max_rows = 10;
  auto report = train::CheckTrainingServingSkew(*data_, config_, options);
  ASSERT_THAT(report, IsOk());
  EXPECT_EQ(report->rows, 10u);
  EXPECT_TRUE(report->truncated);
}

TEST_F(SkewCheckTest, CommandExitCodes) {
  ServeTraffic();
  const std::string path = config_.data_dir;
  auto run = [&](std::vector<std::string> args) {
    data_.reset();  // the command opens the directory itself
    const int code = train::RunCheckSkewCommand(args);
    data_ = store::DataDir::Open(path, config_.store, clock_).value();
    return code;
  };
  // The command reads the same settings from a config file.
  const std::string config_file = dir_.Sub("pulse.yaml");
  {
    FILE* f = std::fopen(config_file.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(
        "index:\n  type: flat\nstore:\n  history_per_user: 6\npipeline:\n"
        "  fold_in_items: 4\n",
        f);
    std::fclose(f);
  }
  EXPECT_EQ(run({"--data-dir", path, "--config", config_file}), 0);
  EXPECT_EQ(run({"--data-dir", path, "--config", config_file, "--json", "--max-rows", "5"}), 0);
  // Default settings fold in more items than serving did: a real skew, reported as such.
  EXPECT_EQ(run({"--data-dir", path}), 1);
  EXPECT_EQ(run({"--data-dir", path, "--max-mismatch-rate", "2"}), 2);
  EXPECT_EQ(run({"--data-dir", path, "--max-rows", "-1"}), 2);
  EXPECT_EQ(run({"--data-dir", path, "--abs-tolerance", "x"}), 2);
  EXPECT_EQ(run({"--data-dir", path, "--bogus"}), 2);
  EXPECT_EQ(run({"--data-dir", dir_.Sub("missing")}), 2);
  EditLog([](store::ServedRequest& r) {
    for (store::ServedItem& item : r.items) item.features[kPopularity] *= 2;
  });
  EXPECT_EQ(run({"--data-dir", path, "--config", config_file}), 1);
  ASSERT_THAT(data_->PutServedRecord(1, "trunc", "{\"v\":1,\"request_id\":"), IsOk());
  EXPECT_EQ(run({"--data-dir", path, "--config", config_file}), 2);
}

}  // namespace
}  // namespace pulse::serving
