// The engine's spans for in-process callers (no front end, so the engine opens its own trace):
// a computed answer has a recommend span with stage spans under it; a result-cache hit has a
// recommend span saying so (pulse.cache_hit, pulse.fallback_rung) and no stage spans.
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/strings.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "obs/trace.h"
#include "serving/engine.h"
#include "serving/test_bundles.h"
#include "testing/test_util.h"

namespace pulse::serving {
namespace {

using nlohmann::json;
using ::pulse::testing::IsOk;

class EngineTraceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_.Sub("data");
    config_.index.type = "flat";
    config_.server.model_poll_ms = 0;
    config_.cache.ttl_ms = 600'000;
    data_dir_ = store::DataDir::Open(config_.data_dir, config_.store, clock_).value();
    rollout::ModelBundle bundle = test_bundles::TwoClusterBundle();
    ASSERT_THAT(rollout::WriteModelBundle(data_dir_->models_dir(), bundle), IsOk());
    obs::TracerOptions options;
    options.sample_ratio = 1.0;
    options.sink = [this](const std::string& body) {
      json request = json::parse(body);
      std::lock_guard<std::mutex> lock(mu_);
      for (json& span : request["resourceSpans"][0]["scopeSpans"][0]["spans"]) {
        spans_[span["traceId"]].push_back(span);
      }
      return true;
    };
    obs::SetGlobalTracer(std::make_unique<obs::Tracer>(std::move(options)));
  }
  void TearDown() override {
    obs::SetGlobalTracer(std::make_unique<obs::Tracer>(obs::TracerOptions{}));  // tracing off
  }

  // The spans of the trace `trace_id` once exported.
  std::vector<json> Trace(const std::string& trace_id) {
    obs::GlobalTracer().Flush();
    std::lock_guard<std::mutex> lock(mu_);
    return spans_[trace_id];
  }

  static std::map<std::string, json> Attributes(const json& span) {
    std::map<std::string, json> out;
    for (const json& a : span["attributes"]) out[a["key"]] = a["value"].begin().value();
    return out;
  }

  testing::FakeClock clock_{1'767'000'000'000'000};
  testing::TempDir dir_;
  Config config_;
  std::unique_ptr<store::DataDir> data_dir_;
  std::mutex mu_;
  std::map<std::string, std::vector<json>> spans_;
};

TEST_F(EngineTraceTest, CacheHitsHaveARecommendSpanWithoutStages) {
  auto engine = Engine::Create(config_, data_dir_.get(), &clock_).value();
  const std::string miss_trace = "0123456789abcdef0123456789abcde1";
  const std::string hit_trace = "0123456789abcdef0123456789abcde2";
  RecommendRequest request;
  request.user_id = "alice";
  request.n = 4;
  request.trace_id = miss_trace;
  auto miss = engine->Recommend(request);
  ASSERT_THAT(miss, IsOk());
  request.trace_id = hit_trace;
  auto hit = engine->Recommend(request);
  ASSERT_THAT(hit, IsOk());
  ASSERT_EQ(engine->RecommendComputationsForTest(), 1u);
  const std::string rung = miss->fallback.empty() ? "personalized" : miss->fallback;

  std::vector<json> computed = Trace(miss_trace);
  int stage_spans = 0;
  for (const json& span : computed) {
    if (span["name"].get<std::string>().starts_with("stage ")) ++stage_spans;
  }
  EXPECT_GT(stage_spans, 3);
  std::vector<json> cached = Trace(hit_trace);
  ASSERT_EQ(cached.size(), 2u) << json(cached).dump(1);  // the trace's root and recommend
  const json* recommend = nullptr;
  for (const json& span : cached) {
    if (span.contains("parentSpanId")) recommend = &span;
  }
  ASSERT_NE(recommend, nullptr);
  EXPECT_EQ((*recommend)["name"], "recommend");
  auto attributes = Attributes(*recommend);
  EXPECT_EQ(attributes["pulse.cache_hit"], true);
  EXPECT_EQ(attributes["pulse.fallback_rung"], rung);
  EXPECT_EQ(attributes["pulse.model_version"], hit->model_version);
  EXPECT_EQ(attributes["pulse.items"], "4");
  EXPECT_EQ(attributes["pulse.user_bucket"], std::to_string(obs::UserBucket("alice")));
  for (const json& span : computed) {
    if (span["name"] == "recommend" && span.contains("parentSpanId")) {
      EXPECT_EQ(Attributes(span)["pulse.cache_hit"], false);
      EXPECT_EQ(Attributes(span)["pulse.fallback_rung"], rung);
    }
  }
}

}  // namespace
}  // namespace pulse::serving
