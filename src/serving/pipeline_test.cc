// Pipeline deadlines and fault injection: no stage starts after the deadline, an expired
// request does no work, and an injected slow source gives up at the deadline. Source budgets:
// a fake source that "works" by advancing a FakeClock (no sleeps) is skipped at its budget.
#include "serving/pipeline.h"

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <string>

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

// The first candidate of each item, in arrival order: what a scan with a set of seen items keeps.
TEST(MergeDuplicatesTest, KeepsTheFirstCandidateOfEachItemInArrivalOrder) {
  std::mt19937 rng(11);
  for (int round = 0; round < 100; ++round) {
    std::vector<candidates::Candidate> input(rng() % 600);
    for (size_t i = 0; i < input.size(); ++i) {
      input[i].item = static_cast<DenseId>(rng() % 300);
      input[i].source = static_cast<uint8_t>(rng() % 4);
      input[i].retrieval_score = static_cast<float>(i);  // identifies the original position
    }
    // Ids far apart too: the set must not confuse items that share its low bits.
    if (round % 2 == 1) {
      for (auto& c : input) c.item = c.item * 1000003u + (c.item % 7 == 0 ? 0xFFFFFFF0u : 0u);
    }
    std::vector<candidates::Candidate> expected;
    std::set<DenseId> seen;
    for (const auto& c : input) {
      if (seen.insert(c.item).second) expected.push_back(c);
    }
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

// A source that "works" in steps of step_us on a FakeClock, appending one candidate per step,
// and checks its deadline between steps as a real source's loop does.
class FakeSlowSource final : public candidates::CandidateSource {
 public:
  FakeSlowSource(std::string name, testing::FakeClock* clock, int steps, int64_t step_us)
      : name_(std::move(name)), clock_(clock), steps_(steps), step_us_(step_us) {}
  std::string_view name() const override { return name_; }
  Status Fetch(const RecommendContext& context, int /*k*/, uint8_t source_index,
               std::vector<Candidate>* out) const override {
    seen_deadline_us = context.source_deadline_us;
    for (int i = 0; i < steps_; ++i) {
      if (context.source_deadline_us > 0 && clock_->NowMicros() >= context.source_deadline_us) {
        return DeadlineExceededError("fake: past its deadline");
      }
      clock_->AdvanceMicros(step_us_);
      Candidate candidate;
      candidate.item = static_cast<DenseId>(100 + i);  // not among the popular items 0..19
      candidate.source = source_index;
      out->push_back(candidate);
    }
    return OkStatus();
  }
  mutable int64_t seen_deadline_us = -1;

 private:
  std::string name_;
  testing::FakeClock* clock_;
  int steps_;
  int64_t step_us_;
};

// "slow" (10 steps of 5 ms on the fake clock, budget as given) then "popular".
class PipelineBudgetTest : public ::testing::Test {
 protected:
  std::unique_ptr<Pipeline> Make(int64_t slow_budget_ms) {
    PipelineConfig config;
    config.sources = {{"slow", 50, slow_budget_ms}, {"popular", 5}};
    auto pipeline = Pipeline::CreateForTest(
        config,
        [this](std::string_view name) -> Result<std::unique_ptr<candidates::CandidateSource>> {
          if (name != "slow") return candidates::MakeCandidateSource(name);
          auto source = std::make_unique<FakeSlowSource>("slow", &clock_, 10, 5'000);
          slow_ = source.get();
          return std::unique_ptr<candidates::CandidateSource>(std::move(source));
        },
        &clock_);
    EXPECT_TRUE(pipeline.ok()) << pipeline.status().ToString();
    return pipeline.ok() ? std::move(pipeline).value() : nullptr;
  }
  std::string Metrics(const Pipeline& pipeline) {
    std::string out;
    pipeline.RenderMetrics(&out);
    return out;
  }

  testing::FakeClock clock_;
  FakeSlowSource* slow_ = nullptr;
};

TEST_F(PipelineBudgetTest, SourcePastItsBudgetIsSkippedAndTheRequestGoesOn) {
  auto pipeline = Make(/*slow_budget_ms=*/12);
  ASSERT_NE(pipeline, nullptr);
  Request request;
  const int64_t start = clock_.NowMicros();
  request.context.deadline_us = start + 1'000'000;
  (*pipeline).Run(request.context, request.out);
  EXPECT_EQ(slow_->seen_deadline_us, start + 12'000) << "its start + its budget";
  EXPECT_EQ(clock_.NowMicros(), start + 15'000) << "stopped at the first check past 12 ms";
  EXPECT_FALSE(request.context.deadline_exceeded);
  EXPECT_TRUE(request.context.degraded);
  EXPECT_EQ(request.context.source_deadline_us, 0) << "reset after the source";
  // Skipped: its three candidates are dropped; the answer comes from `popular`.
  ASSERT_EQ(request.out.size(), 3u);
  for (const Candidate& candidate : request.out) EXPECT_LT(candidate.item, 100u);
  ASSERT_GE(request.context.stages.size(), 3u);
  EXPECT_EQ(request.context.stages[0].name, "slow");
  EXPECT_EQ(request.context.stages[0].outcome, "budget_exceeded");
  EXPECT_EQ(request.context.stages[0].candidates, 0);
  EXPECT_EQ(request.context.stages[0].duration_us, 15'000);
  EXPECT_EQ(request.context.stages[1].name, "popular");
  EXPECT_EQ(request.context.stages[1].outcome, "");
  EXPECT_EQ(request.context.stages.back().name, "truncate_top_n");
  EXPECT_EQ(pipeline->budget_exceeded(0), 1u);
  EXPECT_EQ(pipeline->budget_exceeded(1), 0u);
  EXPECT_THAT(Metrics(*pipeline),
              HasSubstr("pulse_source_budget_exceeded_total{source=\"slow\"} 1\n"));
  EXPECT_THAT(Metrics(*pipeline),
              HasSubstr("pulse_source_budget_exceeded_total{source=\"popular\"} 0\n"));
}

TEST_F(PipelineBudgetTest, SourceWithinItsBudgetKeepsItsCandidates) {
  auto pipeline = Make(/*slow_budget_ms=*/100);
  ASSERT_NE(pipeline, nullptr);
  Request request;
  request.context.n = 20;
  (*pipeline).Run(request.context, request.out);
  EXPECT_FALSE(request.context.degraded);
  EXPECT_EQ(request.context.stages[0].candidates, 10);
  EXPECT_EQ(request.context.stages[0].outcome, "");
  EXPECT_EQ(request.out.size(), 15u);
  EXPECT_EQ(pipeline->budget_exceeded(0), 0u);
}

TEST_F(PipelineBudgetTest, NoBudgetMeansOnlyTheRequestDeadline) {
  auto pipeline = Make(/*slow_budget_ms=*/0);
  ASSERT_NE(pipeline, nullptr);
  Request request;  // no request deadline either: the source runs to its end
  (*pipeline).Run(request.context, request.out);
  EXPECT_EQ(slow_->seen_deadline_us, 0);
  EXPECT_FALSE(request.context.degraded);
  EXPECT_EQ(request.context.stages[0].candidates, 10);

  Request bounded;
  bounded.context.deadline_us = clock_.NowMicros() + 7'000;
  (*pipeline).Run(bounded.context, bounded.out);
  EXPECT_EQ(slow_->seen_deadline_us, bounded.context.deadline_us);
  EXPECT_TRUE(bounded.context.deadline_exceeded) << "the request's deadline, not a budget";
  ASSERT_EQ(bounded.context.stages.size(), 1u) << "no later stage starts";
  EXPECT_EQ(bounded.context.stages[0].outcome, "deadline_exceeded");
  EXPECT_EQ(pipeline->budget_exceeded(0), 0u);
}

TEST_F(PipelineBudgetTest, RequestDeadlineBeforeTheBudgetEndWins) {
  auto pipeline = Make(/*slow_budget_ms=*/40);
  ASSERT_NE(pipeline, nullptr);
  Request request;
  request.context.deadline_us = clock_.NowMicros() + 8'000;
  (*pipeline).Run(request.context, request.out);
  EXPECT_EQ(slow_->seen_deadline_us, request.context.deadline_us) << "min(deadline, budget end)";
  EXPECT_TRUE(request.context.deadline_exceeded);
  EXPECT_EQ(request.context.stages[0].outcome, "deadline_exceeded");
  EXPECT_TRUE(request.out.empty());
  EXPECT_EQ(pipeline->budget_exceeded(0), 0u) << "counted as the request's deadline instead";
}

TEST(PipelineBudgetFaultTest, InjectedDelayStopsAtTheSourceBudgetNotTheRequestDeadline) {
  PipelineConfig config;
  config.sources = {{"popular", 5}, {"trending", 5, /*budget_ms=*/20}};
  config.fault_injection.delay_source = "trending";
  config.fault_injection.delay_ms = 60'000;  // never waited out: the test would hang
  auto pipeline = Pipeline::Create(config);
  ASSERT_TRUE(pipeline.ok()) << pipeline.status().ToString();
  Request request;
  request.context.deadline_us = candidates::SteadyNowMicros() + 60'000'000;
  (*pipeline)->Run(request.context, request.out);
  EXPECT_FALSE(request.context.deadline_exceeded);
  EXPECT_TRUE(request.context.degraded);
  EXPECT_EQ(request.out.size(), 3u) << "served from popular";
  ASSERT_GE(request.context.stages.size(), 2u);
  EXPECT_EQ(request.context.stages[1].name, "trending");
  EXPECT_EQ(request.context.stages[1].outcome, "budget_exceeded");
  EXPECT_EQ(request.context.stages.back().name, "truncate_top_n");
  EXPECT_EQ((*pipeline)->budget_exceeded(1), 1u);
}

// Fails with `status` at once, long before its budget ends.
class BrokenSource final : public candidates::CandidateSource {
 public:
  explicit BrokenSource(Status status) : status_(std::move(status)) {}
  std::string_view name() const override { return "broken"; }
  Status Fetch(const RecommendContext&, int, uint8_t, std::vector<Candidate>*) const override {
    return status_;
  }

 private:
  Status status_;
};

TEST(PipelineBudgetFaultTest, FailingSourceIsNotABudgetMiss) {
  // An unavailable index, and a source's own timeout (DeadlineExceeded before its budget ends).
  for (const Status& failure : {UnavailableError("index gone"), DeadlineExceededError("rpc")}) {
    SCOPED_TRACE(failure.ToString());
    PipelineConfig config;
    config.sources = {{"broken", 5, /*budget_ms=*/60'000}, {"popular", 5}};
    auto pipeline = Pipeline::CreateForTest(
        config,
        [&](std::string_view name) -> Result<std::unique_ptr<candidates::CandidateSource>> {
          if (name != "broken") return candidates::MakeCandidateSource(name);
          return std::unique_ptr<candidates::CandidateSource>(
              std::make_unique<BrokenSource>(failure));
        },
        nullptr);
    ASSERT_TRUE(pipeline.ok()) << pipeline.status().ToString();
    Request request;
    (*pipeline)->Run(request.context, request.out);
    EXPECT_TRUE(request.context.degraded);
    EXPECT_FALSE(request.context.deadline_exceeded);
    EXPECT_EQ(request.context.stages[0].outcome, "failed");
    EXPECT_EQ((*pipeline)->budget_exceeded(0), 0u);
    EXPECT_EQ(request.out.size(), 3u);
  }
}

}  // namespace
}  // namespace pulse::serving
