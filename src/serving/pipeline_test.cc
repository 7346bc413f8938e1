// Pipeline deadlines and fault injection: no stage starts after the deadline, an expired
// request does no work, and an injected slow source gives up at the deadline.
#include "serving/pipeline.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace pulse::serving {
namespace {

using candidates::Candidate;
using candidates::RecommendContext;
using ::testing::HasSubstr;

PipelineConfig TwoSources() {
  PipelineConfig config;
  config.sources = {{"popular", 5}, {"trending", 5}};
  return config;
}

struct Request {
  std::vector<DenseId> popular = std::vector<DenseId>(20);
  RecommendContext context;
  std::vector<Candidate> out;
  Request() {
    std::iota(popular.begin(), popular.end(), 0);
    context.popular_items = popular;
    context.n = 3;
  }
};

// The merge must equal what it replaced: a stable sort by item, then the first of each item.
TEST(MergeDuplicatesTest, KeepsTheFirstCandidateOfEachItemOrderedByItem) {
  std::mt19937 rng(11);
  for (int round = 0; round < 100; ++round) {
    std::vector<candidates::Candidate> input(rng() % 600);
    for (size_t i = 0; i < input.size(); ++i) {
      input[i].item = static_cast<DenseId>(rng() % 300);
      input[i].source = static_cast<uint8_t>(rng() % 4);
      input[i].retrieval_score = static_cast<float>(i);  // identifies the original position
    }
    std::vector<candidates::Candidate> expected = input;
    std::stable_sort(expected.begin(), expected.end(),
                     [](const auto& a, const auto& b) { return a.item < b.item; });
    expected.erase(std::unique(expected.begin(), expected.end(),
                               [](const auto& a, const auto& b) { return a.item == b.item; }),
                   expected.end());
    std::vector<candidates::Candidate> merged = input;
    MergeDuplicates(merged);
    ASSERT_EQ(merged.size(), expected.size());
    for (size_t i = 0; i < merged.size(); ++i) {
      EXPECT_EQ(merged[i].item, expected[i].item);
      EXPECT_EQ(merged[i].source, expected[i].source);
      EXPECT_EQ(merged[i].retrieval_score, expected[i].retrieval_score);
    }
  }
}

TEST(PipelineDeadlineTest, WithoutDeadlineEveryStageRuns) {
  auto pipeline = Pipeline::Create(TwoSources());
  ASSERT_TRUE(pipeline.ok()) << pipeline.status().ToString();
  Request request;
  (*pipeline)->Run(request.context, request.out);
  EXPECT_FALSE(request.context.deadline_exceeded);
  EXPECT_EQ(request.out.size(), 3u);
  ASSERT_FALSE(request.context.stages.empty());
  EXPECT_EQ(request.context.stages.back().name, "truncate_top_n");
}

TEST(PipelineDeadlineTest, ExpiredRequestDoesNoWork) {
  auto pipeline = Pipeline::Create(TwoSources());
  ASSERT_TRUE(pipeline.ok());
  Request request;
  request.context.deadline_us = candidates::SteadyNowMicros() - 1;
  (*pipeline)->Run(request.context, request.out);
  EXPECT_TRUE(request.context.deadline_exceeded);
  EXPECT_TRUE(request.context.stages.empty());
  EXPECT_TRUE(request.out.empty());
}

TEST(PipelineDeadlineTest, SlowSourceStopsAtTheDeadlineAndNoLaterStageStarts) {
  PipelineConfig config = TwoSources();
  config.fault_injection.delay_source = "trending";
  config.fault_injection.delay_ms = 60'000;  // far beyond the deadline: it must not be waited out
  auto pipeline = Pipeline::Create(config);
  ASSERT_TRUE(pipeline.ok()) << pipeline.status().ToString();
  Request request;
  request.context.deadline_us = candidates::SteadyNowMicros() + 50'000;
  (*pipeline)->Run(request.context, request.out);
  EXPECT_TRUE(request.context.deadline_exceeded);
  ASSERT_EQ(request.context.stages.size(), 2u);  // popular, then the slow trending; nothing after
  EXPECT_EQ(request.context.stages[0].name, "popular");
  EXPECT_EQ(request.context.stages[1].name, "trending");
  EXPECT_EQ(request.context.stages[1].candidates, 0);
  EXPECT_LT(request.context.stages[1].duration_us, 30'000'000);
  EXPECT_GE(candidates::SteadyNowMicros(), request.context.deadline_us);
}

TEST(PipelineDeadlineTest, FaultInjectionNamesAConfiguredSource) {
  PipelineConfig config = TwoSources();
  config.fault_injection.delay_source = "ann";
  config.fault_injection.delay_ms = 10;
  auto pipeline = Pipeline::Create(config);
  ASSERT_FALSE(pipeline.ok());
  EXPECT_THAT(pipeline.status().message(), HasSubstr("pipeline.fault_injection.delay_source"));
}

}  // namespace
}  // namespace pulse::serving
