#include "evaluation/commands.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/test_util.h"
#include "tools/synthetic.h"

namespace pulse::evaluation {
namespace {

using ::pulse::testing::TempDir;
using ::pulse::testing::WriteFile;
using ::testing::HasSubstr;

// Synthetic events in MovieLens u.data form (numeric ids), plus one malformed line.
std::string WriteUData(const TempDir& tmp, const std::string& name, int seed) {
  tools::SyntheticParams params;
  params.users = 120;
  params.items = 90;
  params.events = 3000;
  params.seed = static_cast<uint64_t>(seed);
  std::ostringstream out;
  for (const Event& e : tools::GenerateSynthetic(params).events) {
    out << e.user_id.substr(1) << '\t' << e.item_id.substr(1) << "\t4\t" << e.ts_ms / 1000 << '\n';
  }
  out << "this is not a rating\n";
  const std::string path = tmp.Sub(name);
  WriteFile(path, out.str());
  return path;
}

std::string SmallConfig(const TempDir& tmp) {
  const std::string path = tmp.Sub("pulse.yaml");
  WriteFile(path, "train: {factors: 16, iterations: 4, threads: 2}\n");
  return path;
}

struct Output {
  int code = 0;
  std::string out;
  std::string err;
};

Output RunEval(const std::vector<std::string>& args) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  Output o;
  o.code = RunEvalCommand(args);
  o.err = ::testing::internal::GetCapturedStderr();
  o.out = ::testing::internal::GetCapturedStdout();
  return o;
}

std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> rows;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

TEST(EvalHoldoutCommandTest, InputSplitJsonOneObjectPerModel) {
  TempDir tmp;
  const std::string data = WriteUData(tmp, "u.data", 1);
  const Output o =
      RunEval({"--input", data, "--split", "0.75", "--seed", "3", "--k", "10", "--models",
               "popular,itemknn,ease,als,pulse", "--json", "--config", SmallConfig(tmp)});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.err, HasSubstr("skipped 1 malformed line(s)"));
  const auto rows = JsonLines(o.out);
  ASSERT_EQ(rows.size(), 5u) << o.out;
  const char* names[] = {"popular", "itemknn", "ease", "als", "pulse"};
  for (size_t r = 0; r < rows.size(); ++r) {
    EXPECT_EQ(rows[r]["model"], names[r]);
    EXPECT_EQ(rows[r]["tuned"], false);
    ASSERT_EQ(rows[r]["metrics"].size(), 1u);
    const auto& m = rows[r]["metrics"][0];
    EXPECT_EQ(m["k"], 10);
    // Users with a single distinct item keep it for training and are not evaluated.
    EXPECT_EQ(m["users"], rows[0]["metrics"][0]["users"]);
    EXPECT_GT(m["users"].get<int>(), 100);
    for (const char* key :
         {"precision", "recall", "ndcg", "hit_rate", "map", "map_min", "coverage"}) {
      ASSERT_TRUE(m[key].is_number()) << key;
      EXPECT_GE(m[key].get<double>(), 0.0) << key;
      EXPECT_LE(m[key].get<double>(), 1.0) << key;
    }
    EXPECT_GE(m["mean_popularity_rank"].get<double>(), 1.0);
  }
  EXPECT_EQ(rows[3]["params"]["factors"], 16);
  // The same input and seed give the same numbers.
  const Output again =
      RunEval({"--input", data, "--split", "0.75", "--seed", "3", "--k", "10", "--models",
               "popular,itemknn,ease,als,pulse", "--json", "--config", SmallConfig(tmp)});
  const auto rows2 = JsonLines(again.out);
  ASSERT_EQ(rows2.size(), 5u);
  for (size_t r = 0; r < rows.size(); ++r) EXPECT_EQ(rows[r]["metrics"], rows2[r]["metrics"]);
}

TEST(EvalHoldoutCommandTest, TrainTestFilesTable) {
  TempDir tmp;
  const std::string train = WriteUData(tmp, "u1.base", 1);
  const std::string test = WriteUData(tmp, "u1.test", 2);
  const Output o = RunEval({"--train", train, "--test", test, "--format", "movielens", "--k",
                            "5,10", "--models", "popular,itemknn", "--config", SmallConfig(tmp)});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.out, HasSubstr("NDCG"));
  EXPECT_THAT(o.out, HasSubstr("popular     5"));
  EXPECT_THAT(o.out, HasSubstr("itemknn    10"));
  EXPECT_THAT(o.out, HasSubstr("test pairs also in train (dropped)"));
}

TEST(EvalHoldoutCommandTest, TuneReportsChosenParameters) {
  TempDir tmp;
  const std::string data = WriteUData(tmp, "u.data", 1);
  const Output o = RunEval({"--input", data, "--models", "itemknn", "--tune", "--json"});
  ASSERT_EQ(o.code, 0) << o.err;
  const auto rows = JsonLines(o.out);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["tuned"], true);
  EXPECT_EQ(rows[0]["tune_trials"], 20);
  EXPECT_TRUE(rows[0]["params"].contains("neighbours"));
  EXPECT_TRUE(rows[0]["params"].contains("shrink"));
}

TEST(EvalHoldoutCommandTest, BadUsageExitsTwoWithAMessage) {
  TempDir tmp;
  const std::string data = WriteUData(tmp, "u.data", 1);
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--train", data}, "--train and --test go together"},
      {{"--test", data}, "--train and --test go together"},
      {{"--input", data, "--train", data, "--test", data}, "not both"},
      {{"--input", data, "--split", "1.5"}, "--split must be a fraction"},
      {{"--input", data, "--split", "0"}, "--split must be a fraction"},
      {{"--input", data, "--split", "abc"}, "--split"},
      {{"--input", data, "--seed", "-1"}, "--seed"},
      {{"--train", data, "--test", data, "--seed", "4"}, "need --input"},
      {{"--input", data, "--k", "0"}, "--k"},
      {{"--input", data, "--models", "popular,bpr"}, "unknown model 'bpr'"},
      {{"--input", data, "--format", "csv"}, "csv"},
      {{"--input", data, "--bogus"}, "bogus"},
      {{"--input", data, "extra"}, "unexpected argument"},
      {{"--input", tmp.Sub("missing.data")}, "missing.data"},
      {{"--input", data, "--config", tmp.Sub("missing.yaml")}, "missing.yaml"},
  };
  for (const Case& c : cases) {
    const Output o = RunEval(c.args);
    EXPECT_EQ(o.code, 2) << c.args[0] << " " << c.message;
    EXPECT_THAT(o.err, HasSubstr(c.message));
  }
  // A file of garbage: every line counted, then refused.
  const std::string garbage = tmp.Sub("garbage.data");
  WriteFile(garbage, "a\nb\nc\n");
  const Output o = RunEval({"--input", garbage});
  EXPECT_EQ(o.code, 2);
  EXPECT_THAT(o.err, HasSubstr("skipped 3 malformed line(s)"));
  EXPECT_THAT(o.err, HasSubstr("holds no events"));
  // EASE over its catalog limit is refused with a clear message, not an allocation failure: not
  // testable at 8,000+ items here, see ease_test.cc.
}

TEST(EvalHoldoutCommandTest, OlderProtocolStillDispatches) {
  TempDir tmp;
  const std::string data = WriteUData(tmp, "u.data", 1);
  const Output o = RunEval({"--format", "movielens", data, "--protocol", "leave-last-out", "--json",
                            "--config", SmallConfig(tmp)});
  ASSERT_EQ(o.code, 0) << o.err;
  const auto rows = JsonLines(o.out);
  ASSERT_EQ(rows.size(), 4u);  // popular and als at K = 10 and 20
  EXPECT_EQ(rows[0]["protocol"], "leave-last-out");
}

}  // namespace
}  // namespace pulse::evaluation
