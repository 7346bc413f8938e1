// End-to-end quality check: on generated data with learnable structure (tools/synthetic.h), ALS
// with the default TrainConfig must clearly beat the popularity baseline.
#include <iostream>

#include "gtest/gtest.h"
#include "testing/test_util.h"
#include "tools/synthetic.h"
#include "train/eval.h"
#include "train/interactions.h"

namespace pulse::train {
namespace {

using ::pulse::testing::IsOk;

TEST(QualityTest, AlsBeatsPopularityOnGeneratedData) {
  tools::SyntheticParams params;
  params.users = 3000;
  params.items = 1500;
  params.events = 90000;
  params.seed = 20240601;
  Interactions all = Interactions::FromEvents(tools::GenerateSynthetic(params).events);
  const std::vector<int> ks = {10};
  TrainConfig config;  // the shipped defaults
  auto report = RunOfflineEval(all, Protocol::kLeaveLastOut, ks, config);
  ASSERT_THAT(report, IsOk());
  ASSERT_EQ(report->models.size(), 2u);
  const MetricsAtK& popular = report->models[0].metrics[0];
  const MetricsAtK& als = report->models[1].metrics[0];
  std::cout << "leave-last-out on " << all.nnz() << " interactions, " << report->test_users
            << " users: popular Recall@10 " << popular.recall << " NDCG@10 " << popular.ndcg
            << "; ALS Recall@10 " << als.recall << " NDCG@10 " << als.ndcg << " (trained in "
            << report->models[1].train_seconds << " s)\n";
  EXPECT_GT(report->test_users, 2500u);
  EXPECT_GE(als.recall, 2 * popular.recall);
  EXPECT_GT(als.ndcg, popular.ndcg);
  EXPECT_GT(als.coverage, popular.coverage);
}

}  // namespace
}  // namespace pulse::train
