#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>

#include "loadgen/bench.h"
#include "loadgen/histogram.h"
#include "loadgen/schedule.h"
#include "loadgen/zipf.h"
#include "testing/test_util.h"

namespace pulse::loadgen {
namespace {

using ::testing::HasSubstr;

// ---- histogram ----

TEST(HistogramTest, BucketsCoverValuesWithinOnePercent) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t value = rng() >> (rng() % 64);
    const size_t index = Histogram::BucketIndex(value);
    ASSERT_LE(Histogram::BucketLowest(index), value);
    ASSERT_GE(Histogram::BucketHighest(index), value);
    const double width =
        static_cast<double>(Histogram::BucketHighest(index) - Histogram::BucketLowest(index));
    ASSERT_LE(width, static_cast<double>(value) / 100.0 + 1.0) << value;
  }
  EXPECT_EQ(Histogram::BucketIndex(0), 0u);
  EXPECT_EQ(Histogram::BucketIndex(127), 127u);
  EXPECT_EQ(Histogram::BucketHighest(Histogram::BucketIndex(UINT64_MAX)), UINT64_MAX);
}

TEST(HistogramTest, PercentilesMatchSortedArrayWithinOnePercent) {
  std::mt19937_64 rng(11);
  // Latency-like: log-normal around 300 µs with a long tail, in nanoseconds.
  std::lognormal_distribution<double> latency(std::log(300'000.0), 0.8);
  std::vector<uint64_t> values;
  Histogram histogram;
  for (int i = 0; i < 200'000; ++i) {
    const uint64_t v = static_cast<uint64_t>(latency(rng));
    values.push_back(v);
    histogram.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double q : {0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0}) {
    const uint64_t rank = std::max<uint64_t>(
        1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(values.size()))));
    const double exact = static_cast<double>(values[rank - 1]);
    const double estimate = static_cast<double>(histogram.Percentile(q));
    EXPECT_GE(estimate, exact) << q;
    EXPECT_LE(estimate, exact * 1.01) << q;
  }
  EXPECT_EQ(histogram.max(), values.back());
  EXPECT_EQ(histogram.min(), values.front());
  EXPECT_EQ(histogram.count(), values.size());
}

TEST(HistogramTest, EmptyAndSingleValue) {
  Histogram histogram;
  EXPECT_EQ(histogram.Percentile(0.99), 0u);
  EXPECT_EQ(histogram.max(), 0u);
  histogram.Record(1'234'567);
  EXPECT_EQ(histogram.Percentile(0.5), 1'234'567u);  // capped at the exact max
  EXPECT_EQ(histogram.Percentile(0.0), 1'234'567u);
}

TEST(HistogramTest, ThreadShardsMergeToTheWhole) {
  ThreadHistograms shards;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&shards, t] {
      for (uint64_t v = 1; v <= 1000; ++v) shards.Record(v * 1000 + static_cast<uint64_t>(t));
    });
  }
  for (auto& thread : threads) thread.join();
  Histogram merged = shards.Merged();
  EXPECT_EQ(merged.count(), 4000u);
  EXPECT_EQ(merged.max(), 1'000'003u);
  EXPECT_EQ(merged.min(), 1000u);
  const double p50 = static_cast<double>(merged.Percentile(0.5));
  EXPECT_NEAR(p50, 500'000.0, 5'000.0);
}

// ---- schedule ----

TEST(ScheduleTest, FlatIsEvenlySpacedAndExact) {
  Schedule schedule(Shape::kFlat, 1000, 2.0);
  std::vector<int64_t> times;
  int64_t t = 0;
  while (schedule.Next(&t)) times.push_back(t);
  ASSERT_EQ(times.size(), 2000u);
  for (size_t i = 0; i < times.size(); ++i)
    EXPECT_EQ(times[i], static_cast<int64_t>(i) * 1'000'000);
  EXPECT_EQ(ScheduledRequests(Shape::kFlat, 1000, 2.0), 2000);
}

TEST(ScheduleTest, LanesPartitionTheWholeSchedule) {
  for (Shape shape : {Shape::kFlat, Shape::kDiurnal, Shape::kSpike}) {
    Schedule whole(shape, 500, 3.0);
    std::vector<int64_t> expected;
    int64_t t = 0;
    while (whole.Next(&t)) expected.push_back(t);
    std::vector<int64_t> merged;
    for (int lane = 0; lane < 3; ++lane) {
      Schedule part(shape, 500, 3.0, 3, lane);
      int64_t last = -1;
      while (part.Next(&t)) {
        EXPECT_GT(t, last);
        last = t;
        merged.push_back(t);
      }
    }
    std::sort(merged.begin(), merged.end());
    EXPECT_EQ(merged, expected) << ShapeName(shape);
  }
}

TEST(ScheduleTest, DiurnalKeepsTheMeanAndPeaksInTheMiddle) {
  const double rps = 1000, duration = 10;
  EXPECT_NEAR(static_cast<double>(ScheduledRequests(Shape::kDiurnal, rps, duration)),
              rps * duration, rps * duration * 0.01);
  EXPECT_DOUBLE_EQ(ShapeFactor(Shape::kDiurnal, 0, duration), 0.5);
  EXPECT_DOUBLE_EQ(ShapeFactor(Shape::kDiurnal, duration / 2, duration), 1.5);
  // Count sends in the first and the middle tenth.
  Schedule schedule(Shape::kDiurnal, rps, duration);
  int first = 0, middle = 0;
  int64_t t = 0;
  while (schedule.Next(&t)) {
    const double s = static_cast<double>(t) / 1e9;
    if (s < 1.0) ++first;
    if (s >= 4.5 && s < 5.5) ++middle;
  }
  EXPECT_GT(middle, 2.5 * first);
}

TEST(ScheduleTest, SpikeTriplesTheRateInsideItsWindow) {
  const double rps = 200, duration = 20;
  double start = 0, end = 0;
  SpikeWindow(duration, &start, &end);
  EXPECT_DOUBLE_EQ(start, 8.0);
  EXPECT_DOUBLE_EQ(end, 12.0);  // min(5 s, 0.2·D)
  Schedule schedule(Shape::kSpike, rps, duration);
  int inside = 0, total = 0;
  int64_t t = 0;
  while (schedule.Next(&t)) {
    const double s = static_cast<double>(t) / 1e9;
    ++total;
    if (s >= start && s < end) ++inside;
  }
  EXPECT_NEAR(inside, 3 * rps * (end - start), 3);
  EXPECT_NEAR(total, rps * (duration - (end - start)) + 3 * rps * (end - start), 3);
}

// ---- zipf ----

TEST(ZipfTest, ProbabilitiesFollowThePowerLaw) {
  ZipfSampler zipf(1000, 1.0);
  double sum = 0;
  for (uint64_t r = 0; r < 1000; ++r) sum += zipf.Probability(r);
  EXPECT_NEAR(sum, 1.0, 1e-9);
  EXPECT_NEAR(zipf.Probability(0) / zipf.Probability(9), 10.0, 1e-6);
  EXPECT_EQ(zipf.RankFor(0.0), 0u);
  EXPECT_EQ(zipf.RankFor(0.999999999), 999u);
}

TEST(ZipfTest, SampledFrequenciesMatch) {
  ZipfSampler zipf(100, 1.2);
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::vector<int> counts(100);
  const int draws = 200'000;
  for (int i = 0; i < draws; ++i) ++counts[zipf.RankFor(uniform(rng))];
  for (uint64_t r : {0, 1, 5, 20}) {
    const double expected = zipf.Probability(r) * draws;
    EXPECT_NEAR(counts[r], expected, 5 * std::sqrt(expected)) << r;
  }
  EXPECT_GT(counts[0], counts[1]);
  EXPECT_GT(counts[1], counts[10]);
}

TEST(ZipfTest, UniformWhenExponentIsZero) {
  ZipfSampler zipf(4, 0.0);
  for (uint64_t r = 0; r < 4; ++r) EXPECT_NEAR(zipf.Probability(r), 0.25, 1e-12);
}

TEST(ZipfTest, PickerNamesGeneratedUsersAndAShareOfUnknownOnes) {
  ZipfSampler zipf(50, 1.0);
  UserPicker picker(&zipf, 0.2, "u", 9);
  int unknown = 0;
  std::string id;
  for (int i = 0; i < 10'000; ++i) {
    picker.Next(&id);
    if (id.starts_with("bench-new-")) {
      ++unknown;
      EXPECT_EQ(id.size(), 10u + 16u);
      continue;
    }
    ASSERT_TRUE(id.starts_with("u")) << id;
    int64_t n = 0;
    ASSERT_TRUE(ParseInt64(std::string_view(id).substr(1), &n)) << id;
    EXPECT_GE(n, 1);
    EXPECT_LE(n, 50);
  }
  EXPECT_NEAR(unknown, 2000, 200);
}

// ---- flags ----

std::string FlagError(const std::vector<std::string>& args) {
  auto options = ParseBenchFlags(args);
  if (options.ok()) return "ok";
  EXPECT_EQ(options.status().code(), StatusCode::kInvalidArgument);
  return options.status().message();
}

TEST(BenchFlagsTest, ParsesTheContractForm) {
  auto options = ParseBenchFlags({"--target", "127.0.0.1:50051", "--rps", "2000", "--duration",
                                  "30", "--shape", "spike", "--proto", "http", "--json", "--users",
                                  "5000", "--unknown-share", "0.1"});
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  EXPECT_EQ(options->host, "127.0.0.1");
  EXPECT_EQ(options->port, 50051);
  EXPECT_EQ(options->rps, 2000);
  EXPECT_EQ(options->duration_s, 30);
  EXPECT_EQ(options->shape, Shape::kSpike);
  EXPECT_EQ(options->proto, Proto::kHttp);
  EXPECT_TRUE(options->json);
  EXPECT_EQ(options->users, 5000u);
  EXPECT_DOUBLE_EQ(options->unknown_share, 0.1);
  auto ipv6 = ParseBenchFlags({"--target=[::1]:80", "--rps=1", "--duration=1"});
  ASSERT_TRUE(ipv6.ok());
  EXPECT_EQ(ipv6->host, "::1");
  EXPECT_EQ(ipv6->proto, Proto::kGrpc);
}

TEST(BenchFlagsTest, BadFlagsNameTheProblem) {
  const std::vector<std::string> base = {"--target", "h:1", "--rps", "10", "--duration", "1"};
  auto with = [&base](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return FlagError(args);
  };
  EXPECT_EQ(with({}), "ok");
  EXPECT_THAT(FlagError({"--rps", "10", "--duration", "1"}), HasSubstr("--target is required"));
  EXPECT_THAT(FlagError({"--target", "h:1", "--duration", "1"}), HasSubstr("--rps is required"));
  EXPECT_THAT(FlagError({"--target", "h:1", "--rps", "1"}), HasSubstr("--duration is required"));
  EXPECT_THAT(FlagError({"--target", "nohost", "--rps", "1", "--duration", "1"}),
              HasSubstr("--target must be host:port"));
  EXPECT_THAT(FlagError({"--target", "h:99999", "--rps", "1", "--duration", "1"}),
              HasSubstr("--target"));
  EXPECT_THAT(with({"--rps", "-5"}), HasSubstr("--rps must be between"));
  EXPECT_THAT(with({"--rps", "fast"}), HasSubstr("--rps: expected a number"));
  EXPECT_THAT(with({"--duration", "0"}), HasSubstr("--duration must be between"));
  EXPECT_THAT(with({"--shape", "square"}), HasSubstr("--shape must be flat, diurnal or spike"));
  EXPECT_THAT(with({"--proto", "udp"}), HasSubstr("--proto must be grpc or http"));
  EXPECT_THAT(with({"--unknown-share", "1.5"}), HasSubstr("--unknown-share"));
  EXPECT_THAT(with({"--n", "201"}), HasSubstr("--n must be between 1 and 200"));
  EXPECT_THAT(with({"--connections", "0"}), HasSubstr("--connections"));
  EXPECT_THAT(with({"--zipf", "-1"}), HasSubstr("--zipf"));
  EXPECT_THAT(with({"--batch-us", "-1"}), HasSubstr("--batch-us must be between"));
  EXPECT_THAT(with({"--proto", "http", "--batch-us", "100"}), HasSubstr("grpc only"));
  EXPECT_EQ(with({"--batch-us", "200"}), "ok");
  EXPECT_EQ(with({"--api-key", "client-7"}), "ok");
  EXPECT_THAT(with({"--api-key", std::string(257, 'k')}), HasSubstr("--api-key"));
  EXPECT_THAT(with({"--api-key", "a\r\nx-evil: 1"}), HasSubstr("--api-key"));
  EXPECT_THAT(with({"--p99-ms", "5"}), HasSubstr("--p99-ms needs --find-max"));
  EXPECT_EQ(with({"--find-max", "--p99-ms", "5"}), "ok");
  EXPECT_THAT(with({"--bogus", "1"}), HasSubstr("unknown flag --bogus"));
  EXPECT_THAT(with({"extra"}), HasSubstr("unexpected argument 'extra'"));
  EXPECT_THAT(with({"--json=yes"}), HasSubstr("--json takes no value"));
}

TEST(BenchResultTest, JsonHasTheContractFields) {
  BenchResult result;
  result.offered_rps = 100;
  result.achieved_rps = 99.5;
  result.requests = 3;
  result.ok = 2;
  result.errors["UNAVAILABLE"] = 1;
  result.latency_ns.Record(1'000'000);
  result.latency_ns.Record(2'000'000);
  result.latency_ns.Record(50'000'000);
  const std::string json = BenchResultJson(result);
  EXPECT_THAT(json, HasSubstr(R"("offered_rps":100.0)"));
  EXPECT_THAT(json, HasSubstr(R"("achieved_rps":99.5)"));
  EXPECT_THAT(json, HasSubstr(R"("requests":3)"));
  EXPECT_THAT(json, HasSubstr(R"("errors":{"UNAVAILABLE":1})"));
  EXPECT_THAT(json, HasSubstr(R"("p50":2.0)"));
  EXPECT_THAT(json, HasSubstr(R"("max":50.0)"));
  EXPECT_THAT(json, HasSubstr(R"("p999")"));
  EXPECT_FALSE(PassesBound(result, 5.0));  // one error in three
}

// The generator against a closed port: every request is an UNAVAILABLE error, none is lost.
TEST(BenchRunTest, UnreachableTargetCountsEveryRequestAsUnavailable) {
  for (Proto proto : {Proto::kHttp, Proto::kGrpc}) {
    BenchOptions options;
    options.host = "127.0.0.1";
    options.port = testing::FreePort();
    options.duration_s = 0.2;
    options.proto = proto;
    options.connections = 2;
    options.timeout_ms = 2000;
    ZipfSampler users(10, 1.0);
    BenchResult result = RunBench(options, 50, users);
    EXPECT_EQ(result.requests, 10u);
    EXPECT_EQ(result.ok, 0u);
    EXPECT_EQ(result.errors["UNAVAILABLE"], 10u);
    EXPECT_EQ(result.latency_ns.count(), 10u);
    EXPECT_DOUBLE_EQ(result.offered_rps, 50);
  }
}

// Batched sends (--batch-us) start every scheduled call: none is dropped or merged.
TEST(BenchRunTest, BatchedGrpcSendsStartEveryScheduledCall) {
  BenchOptions options;
  options.host = "127.0.0.1";
  options.port = testing::FreePort();
  options.duration_s = 0.2;
  options.proto = Proto::kGrpc;
  options.connections = 2;
  options.timeout_ms = 2000;
  options.batch_us = 50'000;  // several calls due per wake-up at 100 req/s
  ZipfSampler users(10, 1.0);
  BenchResult result = RunBench(options, 100, users);
  EXPECT_EQ(result.requests, 20u);
  EXPECT_EQ(result.errors["UNAVAILABLE"], 20u);
  EXPECT_EQ(result.latency_ns.count(), 20u);
}

}  // namespace
}  // namespace pulse::loadgen
