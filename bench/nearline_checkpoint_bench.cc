// bench/nearline_checkpoint_bench.cc — the two halves of a nearline checkpoint: Serialize() (the
// consistent copy, still taken on the writer thread under the nearline lock) and the synced
// DataDir::PutBlob of the result (now done by the background checkpoint thread, see
// docs/design/feature-store.md). State: a processor that applied `events` generated events over
// events/10 users and 10K items (every event with an id, 50% impressions), as after that many
// live events.
//
//   ./build/bench/nearline_checkpoint_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/strings.h"
#include "nearline/feature_processor.h"
#include "store/data_dir.h"

namespace pulse::nearline {
namespace {

constexpr int64_t kStart = 20000 * kDayMs;

std::unique_ptr<FeatureProcessor> Processor(int events) {
  auto processor = std::make_unique<FeatureProcessor>(
      ProcessorOptions{}, [](std::string_view) { return std::string_view(); });
  std::mt19937_64 rng(42);
  std::vector<Event> batch;
  for (int i = 0; i < events; ++i) {
    Event e;
    e.event_id = StrCat("ev-", i);
    e.user_id = StrCat("user-", rng() % static_cast<uint64_t>(std::max(events / 10, 1)));
    e.item_id = StrCat("item-", rng() % 10'000);
    e.type = rng() % 2 ? EventType::kImpression : EventType::kClick;
    e.ts_ms = kStart + static_cast<int64_t>(i) * 20;
    batch.push_back(std::move(e));
    if (batch.size() == 1000) {
      processor->Apply(batch, kStart + static_cast<int64_t>(i) * 20);
      batch.clear();
    }
  }
  processor->Apply(batch, kStart + static_cast<int64_t>(events) * 20);
  return processor;
}

void BM_Serialize(benchmark::State& state) {
  auto processor = Processor(static_cast<int>(state.range(0)));
  size_t bytes = 0;
  for (auto _ : state) {
    std::string blob = processor->Serialize();
    bytes = blob.size();
    benchmark::DoNotOptimize(blob);
  }
  state.counters["MB"] = static_cast<double>(bytes) / 1e6;
}

void BM_PutBlobSynced(benchmark::State& state) {
  const std::string blob = Processor(static_cast<int>(state.range(0)))->Serialize();
  const std::string dir =
      (std::filesystem::temp_directory_path() / "pulse-checkpoint-bench").string();
  std::filesystem::remove_all(dir);
  {
    auto data_dir = store::DataDir::Open(dir, StoreConfig{}).value();
    for (auto _ : state) {
      Status saved = data_dir->PutBlob("nearline_checkpoint", blob);
      if (!saved.ok()) state.SkipWithError(saved.ToString().c_str());
    }
  }
  std::filesystem::remove_all(dir);
  state.counters["MB"] = static_cast<double>(blob.size()) / 1e6;
}

BENCHMARK(BM_Serialize)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PutBlobSynced)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pulse::nearline

BENCHMARK_MAIN();
