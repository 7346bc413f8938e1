#include "train/commands.h"

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "rollout/model_bundle.h"
#include "store/data_dir.h"
#include "testing/test_util.h"
#include "tools/synthetic.h"

namespace pulse::train {
namespace {

using ::pulse::testing::IsOk;
using ::pulse::testing::TempDir;
using ::pulse::testing::WriteFile;
using ::testing::HasSubstr;

// A small, fast training config for command tests.
std::string WriteSmallConfig(const TempDir& tmp) {
  const std::string path = tmp.Sub("pulse.yaml");
  WriteFile(path, "train: {factors: 16, iterations: 4, threads: 2}\nindex: {type: flat}\n");
  return path;
}

void FillDataDir(const std::string& dir) {
  tools::SyntheticParams params;
  params.users = 300;
  params.items = 150;
  params.events = 6000;
  params.seed = 5;
  tools::SyntheticData data = tools::GenerateSynthetic(params);
  auto store = store::DataDir::Open(dir, StoreConfig());
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->PutItems(data.items), IsOk());
  ASSERT_THAT((*store)->AppendEvents(data.events, /*sync=*/false), IsOk());
}

TEST(TrainCommandTest, WritesALoadableBundle) {
  TempDir tmp;
  const std::string dir = tmp.Sub("data");
  FillDataDir(dir);
  ::testing::internal::CaptureStdout();
  const int code = RunTrainCommand({"--data-dir", dir, "--config", WriteSmallConfig(tmp)});
  const std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("model v000001"));

  const std::vector<std::string> versions = rollout::ListModelVersions(dir + "/models");
  ASSERT_EQ(versions.size(), 1u);
  IndexConfig index;
  index.type = "flat";
  auto bundle = rollout::LoadModelBundle(dir + "/models/" + versions[0], index);
  ASSERT_THAT(bundle, IsOk());
  const rollout::ModelBundle& b = **bundle;
  EXPECT_EQ(b.dim, 16);
  EXPECT_EQ(b.users.size(), 300u);
  EXPECT_GT(b.items.size(), 100u);
  EXPECT_EQ(b.index->size(), b.items.size());
  ASSERT_EQ(b.item_popularity.size(), b.items.size());
  float max_popularity = 0;
  for (float p : b.item_popularity) {
    EXPECT_GE(p, 0);
    max_popularity = std::max(max_popularity, p);
  }
  EXPECT_GT(max_popularity, 0);
  auto extra = nlohmann::json::parse(b.manifest_extra_json);
  EXPECT_EQ(extra["counts"]["events"], 6000);
  EXPECT_EQ(extra["counts"]["users"], 300);
  EXPECT_EQ(extra["training"]["factors"], 16);
  EXPECT_LT(extra["data"]["min_event_ts_ms"].get<int64_t>(),
            extra["data"]["max_event_ts_ms"].get<int64_t>());

  // A second run writes the next version.
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(RunTrainCommand({"--data-dir", dir, "--config", WriteSmallConfig(tmp)}), 0);
  EXPECT_THAT(::testing::internal::GetCapturedStdout(), HasSubstr("model v000002"));
}

TEST(TrainCommandTest, Failures) {
  TempDir tmp;
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunTrainCommand({"--data-dir", tmp.Sub("missing")}), 1);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), HasSubstr("does not exist"));

  // Exists but holds no events.
  const std::string empty = tmp.Sub("empty");
  ASSERT_THAT(store::DataDir::Open(empty, StoreConfig()), IsOk());
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunTrainCommand({"--data-dir", empty}), 1);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), HasSubstr("no engagement events"));

  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunTrainCommand({"--data-dir", empty, "--bogus"}), 2);
  EXPECT_EQ(RunTrainCommand({"--data-dir", empty, "extra"}), 2);
  EXPECT_EQ(RunTrainCommand({"--data-dir", empty, "--config", tmp.Sub("nope.yaml")}), 2);
  WriteFile(tmp.Sub("bad.yaml"), "train: {solver: magic}\n");
  EXPECT_EQ(RunTrainCommand({"--data-dir", empty, "--config", tmp.Sub("bad.yaml")}), 2);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), HasSubstr("train.solver"));
}

// MovieLens u.data: user item rating seconds, tab-separated. User u rates the ten movies of
// cluster u % 10 (twelve ratings, two repeats); users of a cluster hold out different movies.
std::string WriteRatings(const TempDir& tmp) {
  std::ostringstream out;
  for (int u = 1; u <= 60; ++u) {
    for (int j = 0; j < 12; ++j) {
      const int item = 1 + (u % 10) * 10 + (j * 7 + u / 10) % 10;
      out << u << '\t' << item << '\t' << 4 << '\t' << 880000000 + u * 100 + j << '\n';
    }
  }
  out << "this line is malformed\n";
  const std::string path = tmp.Sub("u.data");
  WriteFile(path, out.str());
  return path;
}

TEST(EvalCommandTest, JsonLinesPerModelAndK) {
  TempDir tmp;
  const std::string ratings = WriteRatings(tmp);
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int code = RunEvalCommand({"--format", "movielens", ratings, "--protocol", "leave-last-out",
                                   "--k", "10,5", "--json", "--config", WriteSmallConfig(tmp)});
  const std::string err = ::testing::internal::GetCapturedStderr();
  const std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(code, 0) << err;
  EXPECT_THAT(err, HasSubstr("skipped 1 malformed line"));
  std::istringstream lines(out);
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(lines, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 4u) << out;
  EXPECT_EQ(rows[0]["model"], "popular");
  EXPECT_EQ(rows[0]["k"], 5);
  EXPECT_EQ(rows[1]["k"], 10);
  EXPECT_EQ(rows[2]["model"], "als");
  for (const auto& row : rows) {
    EXPECT_EQ(row["protocol"], "leave-last-out");
    EXPECT_EQ(row["users"], 60);
    for (const char* key : {"recall", "ndcg", "hit_rate", "coverage"}) {
      ASSERT_TRUE(row[key].is_number()) << key;
      EXPECT_GE(row[key].get<double>(), 0.0);
      EXPECT_LE(row[key].get<double>(), 1.0);
    }
  }
  // Clustered tastes: ALS finds them, popularity cannot.
  EXPECT_GT(rows[3]["recall"].get<double>(), rows[1]["recall"].get<double>());
}

TEST(EvalCommandTest, Table) {
  TempDir tmp;
  const std::string ratings = WriteRatings(tmp);
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int code = RunEvalCommand(
      {"--format=movielens", "--protocol=temporal", ratings, "--config", WriteSmallConfig(tmp)});
  ::testing::internal::GetCapturedStderr();
  const std::string out = ::testing::internal::GetCapturedStdout();
  ASSERT_EQ(code, 0);
  EXPECT_THAT(out, HasSubstr("protocol temporal"));
  EXPECT_THAT(out, HasSubstr("Recall"));
  EXPECT_THAT(out, HasSubstr("popular     10"));
  EXPECT_THAT(out, HasSubstr("als         20"));
}

TEST(EvalCommandTest, BadUsage) {
  TempDir tmp;
  const std::string ratings = WriteRatings(tmp);
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunEvalCommand({ratings, "--protocol", "leave-last-out"}), 2);  // no --format
  EXPECT_EQ(RunEvalCommand({"--format", "csv", ratings, "--protocol", "temporal"}), 2);
  EXPECT_EQ(RunEvalCommand({"--format", "movielens", ratings}), 2);  // no --protocol
  EXPECT_EQ(RunEvalCommand({"--format", "movielens", ratings, "--protocol", "random"}), 2);
  EXPECT_EQ(RunEvalCommand({"--format", "movielens", "--protocol", "temporal"}), 2);  // no FILE
  EXPECT_EQ(RunEvalCommand({"--format", "movielens", ratings, ratings, "--protocol", "temporal"}),
            2);
  EXPECT_EQ(
      RunEvalCommand({"--format", "movielens", ratings, "--protocol", "temporal", "--k", "0"}), 2);
  EXPECT_EQ(
      RunEvalCommand({"--format", "movielens", ratings, "--protocol", "temporal", "--k", "a,3"}),
      2);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("--format is required"));
  EXPECT_THAT(err, HasSubstr("leave-last-out or temporal"));

  ::testing::internal::CaptureStderr();
  EXPECT_EQ(RunEvalCommand(
                {"--format", "movielens", tmp.Sub("u.missing.data"), "--protocol", "temporal"}),
            1);
  WriteFile(tmp.Sub("empty.data"), "");
  EXPECT_EQ(
      RunEvalCommand({"--format", "movielens", tmp.Sub("empty.data"), "--protocol", "temporal"}),
      1);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), HasSubstr("no usable events"));
}

}  // namespace
}  // namespace pulse::train
