#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nearline/feature_processor.h"
#include "quality/checks.h"
#include "quality/data_quality.h"
#include "quality/feature_contracts.h"

namespace pulse::quality {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- contracts ----

TEST(FeatureContractsTest, EveryFeatureIsDeclaredOnceAndConsistently) {
  ASSERT_EQ(FeatureContracts().size(), static_cast<size_t>(kNumFeatures));
  std::set<std::string_view> names;
  for (int i = 0; i < kNumFeatures; ++i) {
    const FeatureContract& c = FeatureContracts()[i];
    SCOPED_TRACE(c.name);
    EXPECT_TRUE(names.insert(c.name).second) << "declared twice";
    EXPECT_EQ(FindFeature(c.name), static_cast<Feature>(i));
    EXPECT_LE(c.min, c.max);
    EXPECT_LT(c.bin_lo, c.bin_hi);
    EXPECT_EQ(Check(c, c.default_value), Violation::kNone) << "the default must be valid";
    EXPECT_TRUE(c.owner == "ranking" || c.owner == "nearline");
    EXPECT_FALSE(c.description.empty());
    for (char ch : c.name)
      EXPECT_TRUE((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_');
  }
  EXPECT_EQ(FindFeature("nope"), std::nullopt);
}

TEST(FeatureContractsTest, CheckClassifiesBadValues) {
  const FeatureContract& popularity = ContractOf(kPopularity);
  EXPECT_EQ(Check(popularity, 0.5), Violation::kNone);
  EXPECT_EQ(Check(popularity, 0), Violation::kNone);
  EXPECT_EQ(Check(popularity, 1), Violation::kNone);
  EXPECT_EQ(Check(popularity, 1.01), Violation::kOutOfRange);
  EXPECT_EQ(Check(popularity, -0.01), Violation::kOutOfRange);
  EXPECT_EQ(Check(popularity, kNaN), Violation::kNotFinite);
  EXPECT_EQ(Check(popularity, kInf), Violation::kNotFinite);
  const FeatureContract& views = ContractOf(kItemViews1h);
  EXPECT_EQ(Check(views, 3), Violation::kNone);
  EXPECT_EQ(Check(views, 2.5), Violation::kNotInteger);
  EXPECT_EQ(Check(views, -1), Violation::kOutOfRange);
  EXPECT_EQ(Check(ContractOf(kUserCtr24h), 3), Violation::kOutOfRange);
}

// ---- validation ----

TEST(DataQualityTest, ValidateReplacesInvalidValuesAndCountsThemPerFeature) {
  DataQuality quality;
  EXPECT_EQ(quality.Validate(kScore, 0.7), 0.7);
  EXPECT_EQ(quality.Validate(kScore, kNaN), 0);
  EXPECT_EQ(quality.Validate(kScore, 1e9), 0);
  EXPECT_EQ(quality.Validate(kFreshness, 2), 0);
  EXPECT_EQ(quality.violations(kScore), 2u);
  EXPECT_EQ(quality.violations(kFreshness), 1u);
  EXPECT_EQ(quality.violations(kSimilarity), 0u);
  std::string text;
  quality.Render(&text);
  EXPECT_THAT(text, HasSubstr("# TYPE pulse_feature_violations_total counter\n"));
  EXPECT_THAT(text, HasSubstr("pulse_feature_violations_total{feature=\"score\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("pulse_feature_violations_total{feature=\"freshness\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("pulse_feature_violations_total{feature=\"user_ctr_24h\"} 0\n"));
  EXPECT_THAT(text, Not(HasSubstr("pulse_feature_psi{")));  // no window sealed yet
}

// ---- drift ----

TEST(DriftTest, BinsCoverTheRangeWithUnderAndOverflow) {
  const FeatureContract& popularity = ContractOf(kPopularity);  // linear 0..1
  EXPECT_EQ(BinOf(popularity, 10, -0.5), 0);
  EXPECT_EQ(BinOf(popularity, 10, 0), 1);
  EXPECT_EQ(BinOf(popularity, 10, 0.05), 1);
  EXPECT_EQ(BinOf(popularity, 10, 0.15), 2);
  EXPECT_EQ(BinOf(popularity, 10, 0.999), 10);
  EXPECT_EQ(BinOf(popularity, 10, 1), 11);
  EXPECT_EQ(BinOf(popularity, 10, kNaN), 0);
  const FeatureContract& views = ContractOf(kItemViews1h);  // log2 0..4096
  int previous = 0;
  for (double v : {0.0, 1.0, 3.0, 10.0, 100.0, 1000.0, 4000.0}) {
    const int bin = BinOf(views, 12, v);
    EXPECT_GE(bin, previous) << v;
    EXPECT_GE(bin, 1);
    EXPECT_LE(bin, 12);
    previous = bin;
  }
  EXPECT_LT(BinOf(views, 12, 1), BinOf(views, 12, 100));
  EXPECT_EQ(BinOf(views, 12, 5000), 13);
}

TEST(DriftTest, PopulationStabilityIndexMatchesTheFormula) {
  using V = std::vector<double>;
  auto psi = [](const V& e, const V& a) { return PopulationStabilityIndex(e, a); };
  const V same = {10, 20, 30, 40};
  EXPECT_DOUBLE_EQ(psi(same, same), 0);
  EXPECT_DOUBLE_EQ(psi(same, {1, 2, 3, 4}), 0);  // proportions, not counts
  // e = (0.5, 0.5), a = (0.9, 0.1): (0.4·ln 1.8) + (−0.4·ln 0.2)
  EXPECT_NEAR(psi({50, 50}, {90, 10}), 0.4 * std::log(1.8) - 0.4 * std::log(0.2), 1e-12);
  // An empty bin is floored, not infinite.
  EXPECT_TRUE(std::isfinite(psi({50, 50}, {100, 0})));
  EXPECT_EQ(psi({}, {}), 0);
  EXPECT_EQ(psi({1, 2}, {1, 2, 3}), 0);
  EXPECT_EQ(psi({0, 0}, {1, 2}), 0);
}

TEST(DriftTest, LaterWindowsAreComparedWithTheFirst) {
  DriftOptions options;
  options.window = 1000;
  DataQuality quality(options);
  auto fill = [&quality](double lo, double hi) {
    for (int i = 0; i < 1000; ++i) quality.Observe(kPopularity, lo + (hi - lo) * (i + 0.5) / 1000);
  };
  fill(0, 1);  // the reference
  EXPECT_EQ(quality.psi(kPopularity), std::nullopt);
  fill(0, 1);
  ASSERT_TRUE(quality.psi(kPopularity).has_value());
  EXPECT_LT(*quality.psi(kPopularity), 0.01);
  fill(0.5, 1);  // everything moved into the upper half
  EXPECT_GT(*quality.psi(kPopularity), 0.25);
  fill(0, 1);  // and back
  EXPECT_LT(*quality.psi(kPopularity), 0.01);
  EXPECT_EQ(quality.psi(kScore), std::nullopt);  // other features are separate
  std::string text;
  quality.Render(&text);
  EXPECT_THAT(
      text,
      HasSubstr("# TYPE pulse_feature_psi gauge\npulse_feature_psi{feature=\"popularity\"} "));

  // A new model: its scores are the new normal, so the reference starts over.
  quality.ResetReference();
  EXPECT_EQ(quality.psi(kPopularity), std::nullopt);
  fill(0.5, 1);
  EXPECT_EQ(quality.psi(kPopularity), std::nullopt);
  fill(0.5, 1);
  EXPECT_LT(*quality.psi(kPopularity), 0.01);
}

TEST(DriftTest, ConcurrentObserversSealEveryWindow) {
  DriftOptions options;
  options.window = 500;
  DataQuality quality(options);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&quality, t] {
      for (int i = 0; i < 5000; ++i) {
        quality.Observe(kFreshness, ((i * 7 + t) % 100) / 100.0);
        quality.Validate(kFreshness, i % 1000 == 0 ? kNaN : 0.5);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(quality.violations(kFreshness), 20u);
  ASSERT_TRUE(quality.psi(kFreshness).has_value());
  EXPECT_LT(*quality.psi(kFreshness), 0.1);  // the same distribution all along
}

// ---- where writers call it ----

TEST(ChecksTest, RankingFeaturesAndScoresAreValidatedInPlace) {
  DataQuality quality;
  std::vector<candidates::Candidate> out(3);
  out[0].similarity = 0.8f;
  out[0].popularity = 0.3f;
  out[0].freshness = 0.9f;
  out[0].score = 0.4f;
  out[1].similarity = std::numeric_limits<float>::quiet_NaN();
  out[1].popularity = 1.5f;
  out[1].score = std::numeric_limits<float>::infinity();
  CheckRankingFeatures(out, quality, /*observe_drift=*/false);
  CheckScores(out, quality, /*observe_drift=*/false);
  EXPECT_FLOAT_EQ(out[0].similarity, 0.8f);
  EXPECT_FLOAT_EQ(out[0].popularity, 0.3f);
  EXPECT_FLOAT_EQ(out[0].score, 0.4f);
  EXPECT_EQ(out[1].similarity, 0);
  EXPECT_EQ(out[1].popularity, 0);
  EXPECT_EQ(out[1].score, 0);
  EXPECT_EQ(quality.violations(kSimilarity), 1u);
  EXPECT_EQ(quality.violations(kPopularity), 1u);
  EXPECT_EQ(quality.violations(kScore), 1u);
  EXPECT_EQ(quality.violations(kFreshness), 0u);
}

// Values a broken feed or model can write: NaN, infinities, out of range by a little or a lot,
// the float extremes, signed zeros, fractions (contracts of counts reject them), and ordinary
// values.
std::vector<double> HostileValues() {
  const double kMax = std::numeric_limits<float>::max();
  std::vector<double> values = {kNaN,
                                -kNaN,
                                kInf,
                                -kInf,
                                0.0,
                                -0.0,
                                1.0,
                                -1.0,
                                0.5,
                                1.5,
                                -0.5,
                                1.0000001,
                                -1e-7,
                                1e3,
                                1e3 + 1,
                                -1e3,
                                -1e3 - 0.5,
                                1e6,
                                1e6 + 1,
                                -1e6,
                                -1e6 - 1,
                                kMax,
                                -kMax,
                                1e12,
                                1e12 + 1,
                                2.5,
                                7.0,
                                std::numeric_limits<float>::denorm_min(),
                                std::numeric_limits<float>::min()};
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> wide(-2e6, 2e6), unit(-0.5, 1.5);
  std::uniform_int_distribution<uint32_t> bits;  // any float bit pattern, NaNs included
  for (int i = 0; i < 3000; ++i) {
    values.push_back(wide(rng));
    values.push_back(unit(rng));
    values.push_back(std::bit_cast<float>(bits(rng)));
    values.push_back(static_cast<double>(static_cast<int>(wide(rng))));
  }
  return values;
}

TEST(FeatureContractsTest, HonoursIsCheckSaysNone) {
  for (int i = 0; i < kNumFeatures; ++i) {
    const FeatureContract& contract = FeatureContracts()[i];
    SCOPED_TRACE(contract.name);
    for (double value : HostileValues()) {
      EXPECT_EQ(Honours(contract, value), Check(contract, value) == Violation::kNone) << value;
    }
  }
}

// One candidate per hostile value; each feature sees every value, in a different order.
std::vector<candidates::Candidate> HostileCandidates() {
  const std::vector<double> values = HostileValues();
  std::vector<candidates::Candidate> batch(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    batch[i].similarity = static_cast<float>(values[i]);
    batch[i].popularity = static_cast<float>(values[(i + 1) % values.size()]);
    batch[i].freshness = static_cast<float>(values[(i + 7) % values.size()]);
    batch[i].score = static_cast<float>(values[(i + 13) % values.size()]);
  }
  return batch;
}

// The batch path (one contract fetch and one atomic per feature per call) must count the same
// violations and leave the same values, bit for bit, as Validate called per value.
TEST(ChecksTest, BatchChecksAgreeWithValidatePerValue) {
  std::vector<candidates::Candidate> batch = HostileCandidates();
  std::vector<candidates::Candidate> per_value = batch;
  DataQuality batch_quality, per_value_quality;
  // Split in two calls: the counts add up across calls.
  const size_t half = batch.size() / 2;
  CheckRankingFeatures(std::span(batch).first(half), batch_quality, /*observe_drift=*/false);
  CheckRankingFeatures(std::span(batch).subspan(half), batch_quality, /*observe_drift=*/false);
  CheckScores(batch, batch_quality, /*observe_drift=*/false);
  auto validate = [&per_value_quality](Feature feature, float& value) {
    value = static_cast<float>(per_value_quality.Validate(feature, value));
  };
  for (candidates::Candidate& c : per_value) {
    validate(kSimilarity, c.similarity);
    validate(kPopularity, c.popularity);
    validate(kFreshness, c.freshness);
    validate(kScore, c.score);
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    ASSERT_EQ(std::bit_cast<uint32_t>(batch[i].similarity),
              std::bit_cast<uint32_t>(per_value[i].similarity))
        << i;
    ASSERT_EQ(std::bit_cast<uint32_t>(batch[i].popularity),
              std::bit_cast<uint32_t>(per_value[i].popularity))
        << i;
    ASSERT_EQ(std::bit_cast<uint32_t>(batch[i].freshness),
              std::bit_cast<uint32_t>(per_value[i].freshness))
        << i;
    ASSERT_EQ(std::bit_cast<uint32_t>(batch[i].score), std::bit_cast<uint32_t>(per_value[i].score))
        << i;
  }
  for (Feature f : {kSimilarity, kPopularity, kFreshness, kScore}) {
    EXPECT_GT(per_value_quality.violations(f), 1000u) << ContractOf(f).name;  // hostile indeed
    EXPECT_EQ(batch_quality.violations(f), per_value_quality.violations(f)) << ContractOf(f).name;
  }
}

// A sampled call observes the validated values (defaults in place of invalid ones), as
// Observe(Validate(value)) does: a window from each path, on one DataQuality, has PSI exactly 0.
TEST(ChecksTest, SampledCallsObserveTheValidatedValues) {
  const std::vector<double> values = HostileValues();
  std::vector<candidates::Candidate> batch = HostileCandidates();
  const std::vector<candidates::Candidate> raw = batch;
  DriftOptions options;
  options.window = values.size();  // one call fills a window
  DataQuality quality(options);
  // A fresh thread: its first call at each site is a sampled one.
  std::thread([&] {
    CheckRankingFeatures(batch, quality, /*observe_drift=*/true);
    CheckScores(batch, quality, /*observe_drift=*/true);
  }).join();
  for (const candidates::Candidate& c : raw) {  // the reference window is the batch's
    quality.Observe(kSimilarity, quality.Validate(kSimilarity, c.similarity));
    quality.Observe(kPopularity, quality.Validate(kPopularity, c.popularity));
    quality.Observe(kFreshness, quality.Validate(kFreshness, c.freshness));
    quality.Observe(kScore, quality.Validate(kScore, c.score));
  }
  for (Feature f : {kSimilarity, kPopularity, kFreshness, kScore}) {
    ASSERT_TRUE(quality.psi(f).has_value()) << ContractOf(f).name;
    EXPECT_EQ(*quality.psi(f), 0.0) << ContractOf(f).name;
  }
}

TEST(DataQualityTest, AddViolationsCountsABatch) {
  DataQuality quality;
  quality.AddViolations(kScore, 0);
  quality.AddViolations(kScore, 41);
  quality.AddViolations(kScore, 1);
  EXPECT_EQ(quality.violations(kScore), 42u);
  EXPECT_EQ(quality.violations(kSimilarity), 0u);
}

TEST(ChecksTest, NearlineFeaturesOfABatchAreReadBackAndValidated) {
  nearline::FeatureProcessor processor({}, [](std::string_view) { return std::string_view(); });
  const int64_t now = 1'700'000'000'000;
  std::vector<Event> events;
  auto add = [&events, now](std::string user, std::string item, EventType type, int i) {
    Event e;
    e.event_id = StrCat("e", i);
    e.user_id = std::move(user);
    e.item_id = std::move(item);
    e.type = type;
    e.ts_ms = now - 1000 + i;
    events.push_back(std::move(e));
  };
  add("u1", "i1", EventType::kView, 0);
  add("u1", "i2", EventType::kClick, 1);
  // u2 clicks three times after a single impression: a CTR of 3, so impressions went missing.
  add("u2", "i1", EventType::kImpression, 2);
  for (int i = 3; i < 6; ++i) add("u2", "i1", EventType::kClick, i);
  processor.Apply(events, now);
  DataQuality quality;
  CheckNearline(processor, events, quality);
  EXPECT_EQ(quality.violations(kUserCtr24h), 1u);
  for (Feature f : {kUserEvents1h, kUserEvents24h, kUserEvents7d, kItemViews1h, kItemClicks1h,
                    kItemEngagements24h, kItemTrendingVelocity}) {
    EXPECT_EQ(quality.violations(f), 0u) << ContractOf(f).name;
  }
  CheckNearline(processor, {}, quality);  // an empty batch is fine
}

}  // namespace
}  // namespace pulse::quality
