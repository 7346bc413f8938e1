// bench/nearline_bench.cc — nearline FeatureProcessor::Apply throughput (events/s) on generated
// events, and the cost of the reads candidate sources make while it runs.
//
// Events: 200K over 20K users and 10K items (item popularity Zipf-like, s≈1), 20 ms of event
// time apart (≈ 67 minutes in all, so the minute rings slide), types 50% impression / 35% view /
// 10% click / 5% purchase, every event with an event id, 1 in 50 out of order by up to 30 s
// (within the default lateness), and a 20-item catalog of categories. Each iteration applies the
// whole stream, in batches of `batch` events, to a fresh processor (construction included; it is
// negligible). events/s is over one writer thread.
//
//   ./build-nearline/bench/nearline_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/strings.h"
#include "nearline/feature_processor.h"

namespace pulse::nearline {
namespace {

constexpr int kEvents = 200'000;
constexpr int kUsers = 20'000;
constexpr int kItems = 10'000;
constexpr int64_t kStart = 20000 * kDayMs;

const std::vector<Event>& Events() {
  static const std::vector<Event> events = [] {
    std::mt19937_64 rng(42);
    // Zipf-like item popularity by inverse-CDF over precomputed weights.
    std::vector<double> cdf(kItems);
    double total = 0;
    for (int i = 0; i < kItems; ++i) cdf[i] = total += 1.0 / (i + 1);
    std::uniform_real_distribution<double> uniform(0, total);
    std::vector<Event> out;
    out.reserve(kEvents);
    for (int i = 0; i < kEvents; ++i) {
      Event e;
      e.event_id = StrCat("ev-", i);
      e.user_id = StrCat("user-", rng() % kUsers);
      int item =
          static_cast<int>(std::lower_bound(cdf.begin(), cdf.end(), uniform(rng)) - cdf.begin());
      e.item_id = StrCat("item-", std::min(item, kItems - 1));
      int r = static_cast<int>(rng() % 100);
      e.type = r < 50   ? EventType::kImpression
               : r < 85 ? EventType::kView
               : r < 95 ? EventType::kClick
                        : EventType::kPurchase;
      e.ts_ms = kStart + static_cast<int64_t>(i) * 20;
      if (i % 50 == 0) e.ts_ms -= static_cast<int64_t>(rng() % 30'000);
      out.push_back(std::move(e));
    }
    return out;
  }();
  return events;
}

std::string_view Category(std::string_view item_id) {
  static const std::vector<std::string> categories = [] {
    std::vector<std::string> c;
    for (int i = 0; i < 20; ++i) c.push_back(StrCat("cat-", i));
    return c;
  }();
  return categories[StringHash{}(item_id) % categories.size()];
}

void BM_Apply(benchmark::State& state) {
  const auto& events = Events();
  const size_t batch = static_cast<size_t>(state.range(0));
  const int64_t now = events.back().ts_ms + 1000;
  for (auto _ : state) {
    FeatureProcessor processor({}, Category);
    for (size_t i = 0; i < events.size(); i += batch) {
      size_t n = std::min(batch, events.size() - i);
      ApplyStats stats = processor.Apply(std::span<const Event>(events.data() + i, n), now);
      benchmark::DoNotOptimize(stats.applied);
    }
    state.counters["users"] = static_cast<double>(processor.num_users());
    state.counters["items"] = static_cast<double>(processor.num_items());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(events.size()));
  state.counters["events_per_s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * static_cast<int64_t>(events.size())),
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Apply)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond)->UseRealTime();

// The reads a recommend request makes: one user snapshot, trending, neighbours of 10 items.
void BM_RequestReads(benchmark::State& state) {
  const auto& events = Events();
  static FeatureProcessor* processor = [&] {
    auto* p = new FeatureProcessor({}, Category);
    p->Apply(events, events.back().ts_ms + 1000);
    return p;
  }();
  std::mt19937_64 rng(7);
  for (auto _ : state) {
    auto user = processor->User(StrCat("user-", rng() % kUsers));
    benchmark::DoNotOptimize(user);
    auto trending = processor->Trending();
    benchmark::DoNotOptimize(trending);
    for (int i = 0; i < 10; ++i) {
      auto neighbors = processor->Neighbors(StrCat("item-", rng() % 200), 50);
      benchmark::DoNotOptimize(neighbors);
    }
  }
}
BENCHMARK(BM_RequestReads)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace pulse::nearline

BENCHMARK_MAIN();
