// Durable ingest throughput: P concurrent producers each Submit() batches of 100 events to one
// ingest::EventWriter over a fresh DataDir (ext4 temp dir, fsync per group commit). Every event
// has a unique event_id (so the idempotence lookup is paid) and one of 10,000 users. Reports
// events_per_s (durable events per wall second, all producers together) and
// fsyncs_per_submit (how well group commit shares fsyncs).
//
//   ./build/bench/ingest_bench --benchmark_min_time=3
#include <benchmark/benchmark.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/strings.h"
#include "ingest/event_writer.h"
#include "store/data_dir.h"

namespace pulse {
namespace {

constexpr int kBatch = 100;
constexpr int kUsers = 10000;
constexpr int kItems = 50000;

struct Shared {
  std::string dir;
  std::unique_ptr<store::DataDir> data_dir;
  std::unique_ptr<ingest::EventWriter> writer;
};
Shared* shared = nullptr;

// Frees the previous run's store. Thread 0 cannot do it at the end of its own run (other threads
// may not have left the loop yet), so it happens at the next run's setup or at exit.
void Cleanup() {
  if (shared == nullptr) return;
  std::string dir = shared->dir;
  delete shared;
  shared = nullptr;
  std::filesystem::remove_all(dir);
}

void BM_DurableIngest(benchmark::State& state) {
  if (state.thread_index() == 0) {
    Cleanup();  // the previous run's threads have all been joined
    shared = new Shared;
    shared->dir =
        (std::filesystem::temp_directory_path() / StrCat("pulse-ingest-bench-", state.threads()))
            .string();
    std::filesystem::remove_all(shared->dir);
    shared->data_dir = store::DataDir::Open(shared->dir, StoreConfig()).value();
    shared->writer = std::make_unique<ingest::EventWriter>(shared->data_dir.get(), 1'000'000);
  }
  // Per-thread event source: a cheap LCG keeps ids and users varied and deterministic.
  uint64_t rng = 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(state.thread_index() + 1);
  uint64_t counter = 0;
  int64_t events = 0;
  int64_t failures = 0;
  std::vector<Event> batch;
  for (auto _ : state) {
    batch.clear();
    for (int i = 0; i < kBatch; ++i) {
      rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
      Event e;
      e.event_id = StrCat("t", state.thread_index(), "-", counter++);
      e.user_id = StrCat("u", (rng >> 33) % kUsers);
      e.item_id = StrCat("i", (rng >> 13) % kItems);
      e.type = EventType::kClick;
      e.ts_ms = 1'767'000'000'000 + static_cast<int64_t>(counter);
      batch.push_back(std::move(e));
    }
    auto result = shared->writer->Submit(std::move(batch));
    if (result.ok()) {
      events += static_cast<int64_t>(result->appended);
    } else {
      ++failures;
    }
    batch = std::vector<Event>();
  }
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
  state.counters["failures"] = static_cast<double>(failures);
  if (state.thread_index() == 0) {
    // Every producer has left the loop (the framework's end barrier): Stop() just joins.
    shared->writer->Stop();
    ingest::EventWriter::Stats stats = shared->writer->stats();
    state.counters["fsyncs_per_submit"] =
        stats.submits == 0
            ? 0.0
            : static_cast<double>(stats.batches) / static_cast<double>(stats.submits);
  }
}

}  // namespace
}  // namespace pulse

BENCHMARK(pulse::BM_DurableIngest)->Threads(1)->Threads(4)->Threads(16)->UseRealTime();

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  pulse::Cleanup();
  benchmark::Shutdown();
  return 0;
}
