// Engine + models directory: pins (rollback without restart), the model watcher, the
// pulse_model_version_info series, and requests finishing on the version they started with.
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "core/strings.h"
#include "gtest/gtest.h"
#include "index/ann_index.h"
#include "rollout/models_dir.h"
#include "serving/engine.h"
#include "testing/test_util.h"

namespace pulse::serving {
namespace {

using ::pulse::testing::IsOk;

// 20 items named <prefix>0..<prefix>19, so a response shows which bundle produced it.
rollout::ModelBundle MakeBundle(const std::string& prefix) {
  constexpr int kDim = 4;
  rollout::ModelBundle bundle;
  bundle.dim = kDim;
  for (int i = 0; i < 20; ++i) {
    bundle.items.Intern(StrCat(prefix, i));
    for (int d = 0; d < kDim; ++d) bundle.item_factors.push_back(((i + d) % 3) * 0.5f + 0.1f);
    bundle.item_popularity.push_back(static_cast<float>(i));
  }
  bundle.users.Intern("u");
  bundle.user_factors.assign(kDim, 1.0f);
  IndexConfig index_config;
  index_config.type = "flat";
  bundle.index = index::AnnIndex::Build(bundle.item_factors.data(), 20, kDim, index_config).value();
  return bundle;
}

class EngineModelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.data_dir = dir_.Sub("data");
    config_.index.type = "flat";
    config_.server.model_poll_ms = 0;
    data_dir_ = store::DataDir::Open(config_.data_dir, config_.store).value();
  }

  std::string Write(const std::string& prefix) {
    rollout::ModelBundle bundle = MakeBundle(prefix);
    auto version = rollout::WriteModelBundle(models_dir(), bundle);
    EXPECT_THAT(version, IsOk());
    return version.ok() ? *version : "";
  }
  std::string models_dir() const { return data_dir_->models_dir(); }
  std::unique_ptr<Engine> MakeEngine() { return Engine::Create(config_, data_dir_.get()).value(); }

  // Waits for a condition another thread brings about (bounded; not a timing assertion).
  template <typename Pred>
  static bool Eventually(Pred pred) {
    for (int i = 0; i < 2000; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return pred();
  }

  static std::vector<std::string> VersionInfoLines() {
    std::vector<std::string> lines;
    const std::string text = obs::DefaultMetricsRegistry().Render();
    for (std::string_view line : Split(text, '\n')) {
      if (line.starts_with("pulse_model_version_info{")) lines.emplace_back(line);
    }
    return lines;
  }

  testing::TempDir dir_;
  Config config_;
  std::unique_ptr<store::DataDir> data_dir_;
};

TEST_F(EngineModelsTest, PinSwapsBackToOlderVersionAndUnpinReturnsToNewest) {
  ASSERT_EQ(Write("a"), "v000001");
  ASSERT_EQ(Write("b"), "v000002");
  auto engine = MakeEngine();
  EXPECT_EQ(engine->GetReadiness().model_version, "v000002");
  EXPECT_EQ(VersionInfoLines(),
            std::vector<std::string>{"pulse_model_version_info{version=\"v000002\"} 1"});

  ASSERT_THAT(rollout::WritePinnedVersion(models_dir(), "v000001"), IsOk());
  auto swapped = engine->ReloadModelIfNewer();
  ASSERT_THAT(swapped, IsOk());
  EXPECT_TRUE(*swapped);
  EXPECT_EQ(engine->GetReadiness().model_version, "v000001");
  // One series only, naming what serves now.
  EXPECT_EQ(VersionInfoLines(),
            std::vector<std::string>{"pulse_model_version_info{version=\"v000001\"} 1"});
  // A newer bundle does not displace a pin.
  ASSERT_EQ(Write("c"), "v000003");
  EXPECT_FALSE(engine->ReloadModelIfNewer().value());
  EXPECT_EQ(engine->GetReadiness().model_version, "v000001");

  ASSERT_THAT(rollout::ClearPinnedVersion(models_dir()), IsOk());
  EXPECT_TRUE(engine->ReloadModelIfNewer().value());
  EXPECT_EQ(engine->GetReadiness().model_version, "v000003");
}

TEST_F(EngineModelsTest, BadPinsKeepTheServingVersion) {
  ASSERT_EQ(Write("a"), "v000001");
  ASSERT_EQ(Write("b"), "v000002");
  auto engine = MakeEngine();
  // A pin on a version that does not exist, then on garbage, then on a corrupt bundle.
  ASSERT_THAT(rollout::WritePinnedVersion(models_dir(), "v000009"), IsOk());
  EXPECT_FALSE(engine->ReloadModelIfNewer().value());
  { std::ofstream(models_dir() + "/active") << "garbage"; }
  EXPECT_FALSE(engine->ReloadModelIfNewer().value());
  {
    std::fstream file(models_dir() + "/v000001/item_factors.f32",
                      std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(2);
    file.put('\x7f');
  }
  ASSERT_THAT(rollout::WritePinnedVersion(models_dir(), "v000001"), IsOk());
  EXPECT_FALSE(engine->ReloadModelIfNewer().value());
  EXPECT_EQ(engine->GetReadiness().model_version, "v000002");
}

TEST_F(EngineModelsTest, WatcherHonoursPinWhileRequestsFinishOnTheirVersion) {
  ASSERT_EQ(Write("a"), "v000001");
  ASSERT_EQ(Write("b"), "v000002");
  config_.server.model_poll_ms = 5;
  auto engine = MakeEngine();
  ASSERT_EQ(engine->GetReadiness().model_version, "v000002");

  // A request that started on v000002 holds its snapshot (as Recommend does for its whole run).
  std::shared_ptr<const ServingSnapshot> in_flight = engine->snapshot();

  // Requests run throughout the swaps; each response's items must all come from the bundle its
  // model_version names (a = v000001, b = v000002): nothing mixes versions.
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<int> served_v1{0};
  std::thread reader([&] {
    RecommendRequest request;
    request.user_id = "u";
    request.n = 5;
    while (!stop) {
      auto response = engine->Recommend(request);
      if (!response.ok() || response->items.size() != 5) {
        ++bad;
        continue;
      }
      const char want = response->model_version == "v000001" ? 'a' : 'b';
      if (want == 'a') ++served_v1;
      for (const auto& item : response->items) {
        if (item.item_id[0] != want) ++bad;
      }
    }
  });

  engine->StartModelWatcher();
  ASSERT_THAT(rollout::WritePinnedVersion(models_dir(), "v000001"), IsOk());
  EXPECT_TRUE(Eventually([&] { return engine->GetReadiness().model_version == "v000001"; }));
  EXPECT_TRUE(Eventually([&] { return served_v1.load() > 0; }));
  ASSERT_THAT(rollout::ClearPinnedVersion(models_dir()), IsOk());
  EXPECT_TRUE(Eventually([&] { return engine->GetReadiness().model_version == "v000002"; }));
  stop = true;
  reader.join();
  engine->StopModelWatcher();
  EXPECT_EQ(bad.load(), 0);

  // The in-flight request's snapshot outlived both swaps intact.
  EXPECT_EQ(in_flight->model->version, "v000002");
  EXPECT_EQ(in_flight->model->items.Name(0), "b0");
  EXPECT_NE(engine->snapshot(), in_flight);  // v000002 was reloaded: a new snapshot
}

}  // namespace
}  // namespace pulse::serving
