#include "rollout/models_dir.h"

#include <filesystem>
#include <fstream>
#include <random>

#include "gtest/gtest.h"
#include "rollout/commands.h"
#include "rollout/model_bundle.h"
#include "testing/test_util.h"

namespace pulse::rollout {
namespace {

namespace fs = std::filesystem;
using ::pulse::testing::IsOk;
using ::pulse::testing::StatusIs;
using ::pulse::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int kDim = 4;

// A small valid bundle written as the next version; `events` goes into the manifest's data.
std::string WriteBundle(const std::string& models_dir, int events, double recall = 0.25) {
  ModelBundle b;
  b.dim = kDim;
  const size_t items = 20;
  std::mt19937_64 rng(static_cast<uint64_t>(events));
  std::normal_distribution<float> normal;
  for (size_t i = 0; i < items; ++i) b.items.Intern(StrCat("item-", i));
  b.users.Intern("user-1");
  b.item_factors.resize(items * kDim);
  for (float& x : b.item_factors) x = normal(rng);
  b.user_factors.assign(kDim, 0.5f);
  b.item_popularity.assign(items, 1.0f);
  IndexConfig config;
  config.type = "flat";
  b.index = index::AnnIndex::Build(b.item_factors.data(), items, kDim, config).value();
  b.manifest_extra_json =
      StrCat(R"({"data":{"event_count":)", events, R"(,"first_seq":1,"last_seq":)", events,
             R"(},"metrics":{"recall@10":)", recall, R"(,"ndcg@10":0.125}})");
  auto version = WriteModelBundle(models_dir, b);
  EXPECT_THAT(version, IsOk());
  return version.ok() ? *version : "";
}

void Truncate(const std::string& path) {
  std::error_code ec;
  fs::resize_file(path, fs::file_size(path) / 2, ec);
  ASSERT_FALSE(ec) << ec.message();
}

void FlipByte(const std::string& path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(0);
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(0);
  f.write(&c, 1);
}

class ModelsDirTest : public ::testing::Test {
 protected:
  TempDir tmp_;
  std::string models_ = tmp_.path() + "/models";
  IndexConfig index_;
};

TEST_F(ModelsDirTest, PinRoundTripsAndRejectsGarbage) {
  fs::create_directories(models_);
  EXPECT_EQ(ReadPinnedVersion(models_).value(), std::nullopt);
  ASSERT_THAT(WritePinnedVersion(models_, "v000002"), IsOk());
  EXPECT_EQ(ReadPinnedVersion(models_).value(), "v000002");
  EXPECT_THAT(WritePinnedVersion(models_, "../etc"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(ReadPinnedVersion(models_).value(), "v000002");
  ASSERT_THAT(ClearPinnedVersion(models_), IsOk());
  EXPECT_THAT(ClearPinnedVersion(models_), IsOk());  // idempotent
  EXPECT_EQ(ReadPinnedVersion(models_).value(), std::nullopt);
  std::ofstream(models_ + "/active") << "not a version\n";
  EXPECT_THAT(ReadPinnedVersion(models_), StatusIs(StatusCode::kDataLoss));
  // Leaves no temp file behind, and the pin file is not a version to ListModelVersions.
  EXPECT_THAT(ListModelVersions(models_), IsEmpty());
}

TEST_F(ModelsDirTest, SummaryDefaultsForOldManifests) {
  auto old = SummarizeManifest(R"({"version":"v000001","created_at_ms":5,"dim":8,
      "extra":{"counts":{"events":42},"data":{"min_event_ts_ms":1,"max_event_ts_ms":9}}})");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->event_count, 42);
  EXPECT_EQ(old->first_event_ts_ms, 1);
  EXPECT_EQ(old->last_event_ts_ms, 9);
  EXPECT_EQ(old->last_seq, 0u);
  EXPECT_FALSE(old->recall_at_10.has_value());
  auto bare = SummarizeManifest(R"({"version":"v000001"})");
  ASSERT_THAT(bare, IsOk());
  EXPECT_EQ(bare->event_count, -1);
  EXPECT_THAT(SummarizeManifest("[]"), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(SummarizeManifest("{\"version\":3}"), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(SummarizeManifest("{trunc"), StatusIs(StatusCode::kDataLoss));
}

TEST_F(ModelsDirTest, ListMarksNewestVerifiedActiveAndCorruptRefused) {
  ASSERT_EQ(WriteBundle(models_, 100), "v000001");
  ASSERT_EQ(WriteBundle(models_, 200, 0.5), "v000002");
  ASSERT_EQ(WriteBundle(models_, 300), "v000003");
  Truncate(models_ + "/v000003/item_factors.f32");  // a truncated file
  std::optional<std::string> pinned = "x";
  auto models = ListModels(models_, index_, &pinned);
  ASSERT_THAT(models, IsOk());
  ASSERT_EQ(models->size(), 3u);
  EXPECT_EQ(pinned, std::nullopt);
  EXPECT_EQ((*models)[0].state, BundleState::kAvailable);
  EXPECT_EQ((*models)[1].state, BundleState::kActive);  // newest that verifies
  EXPECT_EQ((*models)[1].summary.event_count, 200);
  EXPECT_EQ((*models)[1].summary.last_seq, 200u);
  EXPECT_DOUBLE_EQ((*models)[1].summary.recall_at_10.value(), 0.5);
  EXPECT_EQ((*models)[2].state, BundleState::kRefused);
  EXPECT_THAT((*models)[2].verification, StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT((*models)[2].verification.message(), HasSubstr("item_factors.f32"));
}

TEST_F(ModelsDirTest, ActivatePinsOlderVersionAndUnpins) {
  ASSERT_EQ(WriteBundle(models_, 100), "v000001");
  ASSERT_EQ(WriteBundle(models_, 200), "v000002");
  ASSERT_THAT(ActivateModelVersion(models_, "v000001", index_), IsOk());
  EXPECT_EQ(ReadPinnedVersion(models_).value(), "v000001");
  auto models = ListModels(models_, index_);
  ASSERT_THAT(models, IsOk());
  EXPECT_EQ((*models)[0].state, BundleState::kActive);
  EXPECT_TRUE((*models)[0].pinned);
  EXPECT_EQ((*models)[1].state, BundleState::kAvailable);

  ASSERT_THAT(ActivateModelVersion(models_, "latest", index_), IsOk());
  EXPECT_EQ(ReadPinnedVersion(models_).value(), std::nullopt);
  models = ListModels(models_, index_);
  ASSERT_THAT(models, IsOk());
  EXPECT_EQ((*models)[1].state, BundleState::kActive);
}

TEST_F(ModelsDirTest, ActivateRefusesMissingMalformedAndCorruptChangingNothing) {
  ASSERT_EQ(WriteBundle(models_, 100), "v000001");
  ASSERT_EQ(WriteBundle(models_, 200), "v000002");
  ASSERT_THAT(ActivateModelVersion(models_, "v000001", index_), IsOk());
  FlipByte(models_ + "/v000002/index.faiss");  // a checksum mismatch, same size
  EXPECT_THAT(ActivateModelVersion(models_, "v000002", index_),
              StatusIs(StatusCode::kDataLoss, "index.faiss"));
  EXPECT_THAT(ActivateModelVersion(models_, "v000009", index_), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(ActivateModelVersion(models_, "nine", index_),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(ReadPinnedVersion(models_).value(), "v000001");  // unchanged
  auto shown = ShowModel(models_, "v000002", index_);
  ASSERT_THAT(shown, IsOk());
  EXPECT_EQ(shown->state, BundleState::kRefused);
  EXPECT_THAT(shown->manifest_json, HasSubstr("\"v000002\""));
  EXPECT_THAT(ShowModel(models_, "v000007", index_), StatusIs(StatusCode::kNotFound));
}

TEST_F(ModelsDirTest, CommandExitCodes) {
  ASSERT_EQ(WriteBundle(models_, 100), "v000001");
  ASSERT_EQ(WriteBundle(models_, 200), "v000002");
  Truncate(models_ + "/v000002/items.txt");
  const std::string dir = tmp_.path();
  EXPECT_EQ(RunModelsCommand({"list", "--data-dir", dir}), 0);
  EXPECT_EQ(RunModelsCommand({"list", "--data-dir", dir, "--json"}), 0);
  EXPECT_EQ(RunModelsCommand({"show", "v000001", "--data-dir", dir, "--json"}), 0);
  EXPECT_EQ(RunModelsCommand({"show", "v000002", "--data-dir", dir}), 1);  // corrupt
  EXPECT_EQ(RunModelsCommand({"show", "v000005", "--data-dir", dir}), 1);  // unknown
  EXPECT_EQ(RunModelsCommand({"show", "--data-dir", dir}), 2);             // no VERSION
  EXPECT_EQ(RunModelsCommand({"activate", "v000002", "--data-dir", dir}), 1);
  EXPECT_EQ(RunModelsCommand({"activate", "v000003", "--data-dir", dir}), 1);
  EXPECT_EQ(RunModelsCommand({"activate", "v3", "--data-dir", dir}), 2);
  EXPECT_EQ(ReadPinnedVersion(models_).value(), std::nullopt);
  EXPECT_EQ(RunModelsCommand({"activate", "v000001", "--data-dir", dir}), 0);
  EXPECT_EQ(ReadPinnedVersion(models_).value(), "v000001");
  EXPECT_EQ(RunModelsCommand({"activate", "--unpin", "--data-dir", dir}), 0);
  EXPECT_EQ(ReadPinnedVersion(models_).value(), std::nullopt);
  EXPECT_EQ(RunModelsCommand({}), 2);
  EXPECT_EQ(RunModelsCommand({"frobnicate"}), 2);
  EXPECT_EQ(RunModelsCommand({"list", "--bogus"}), 2);
  EXPECT_EQ(RunModelsCommand({"list", "--data-dir", dir + "/nonexistent"}), 1);
}

TEST_F(ModelsDirTest, PruneKeepsNewestPinnedAndProtected) {
  for (int i = 1; i <= 6; ++i) WriteBundle(models_, i * 10);
  ASSERT_THAT(WritePinnedVersion(models_, "v000001"), IsOk());
  std::vector<std::string> removed = PruneModelVersions(models_, 2, {"v000003"});
  EXPECT_THAT(removed, ElementsAre("v000002", "v000004"));
  EXPECT_THAT(ListModelVersions(models_), ElementsAre("v000001", "v000003", "v000005", "v000006"));
  EXPECT_THAT(PruneModelVersions(models_, 0, {}), IsEmpty());  // 0 = keep all
  // Nothing half-deleted remains, and the next version still counts up from the newest.
  for (const auto& entry : fs::directory_iterator(models_)) {
    EXPECT_EQ(entry.path().filename().string().rfind(".tmp-", 0), std::string::npos);
  }
  EXPECT_EQ(WriteBundle(models_, 70), "v000007");
}

}  // namespace
}  // namespace pulse::rollout
