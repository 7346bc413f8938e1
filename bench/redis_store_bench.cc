// bench/redis_store_bench.cc — RedisFeatureStore against a local redis-server: GetUserHistory
// round-trip latency (median / p99 µs over all iterations, one caller) and ApplyEvents throughput
// (events/s, batches of 100 over 1,000 users, every event with a fresh event id; 1 and 4 writer
// threads, each with its own store).
//
// Starts its own throwaway `redis-server` on a free loopback port, or uses REDIS_ADDR (host:port;
// keys under "pulse-bench:", left behind). history_per_user is the default 1000.
//
//   ./build-redis/bench/redis_store_bench --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/strings.h"
#include "store/redis_feature_store.h"
#include "store/redis_server_for_test.h"
#include "testing/test_util.h"

namespace pulse::store {
namespace {

std::string RedisAddress() {
  if (const char* addr = std::getenv("REDIS_ADDR"); addr != nullptr && *addr != '\0') return addr;
  // Destroyed at exit in reverse order: the server is killed, then its --dir removed (a
  // never-deleted TempDir left an empty pulse-test-* directory behind).
  struct Shared {
    pulse::testing::TempDir dir;
    RedisServerForTest server;
  };
  static Shared* shared = [] {
    static Shared s;
    if (!s.server.Start(pulse::testing::FreePort(), s.dir.path())) {
      fprintf(stderr, "redis-server did not start (install the Debian package redis-server)\n");
      std::exit(1);
    }
    return &s;
  }();
  return shared->server.address();
}

std::unique_ptr<RedisFeatureStore> NewStore() {
  RedisConfig redis;
  redis.address = RedisAddress();
  redis.key_prefix = "pulse-bench:";
  redis.command_timeout_ms = 2000;
  auto store = RedisFeatureStore::Create(redis, StoreConfig{});
  if (!store.ok()) {
    fprintf(stderr, "%s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(store).value();
}

Event MakeEvent(std::string user, int item, int64_t ts, std::string id) {
  Event e;
  e.event_id = std::move(id);
  e.user_id = std::move(user);
  e.item_id = StrCat("item-", item);
  e.type = EventType::kView;
  e.ts_ms = ts;
  return e;
}

// Arg: entries in the user's history (100 or 1000, the default cap).
void BM_GetUserHistory(benchmark::State& state) {
  auto store = NewStore();
  const int entries = static_cast<int>(state.range(0));
  const std::string user = StrCat("reader-", entries);
  std::vector<Event> events;
  for (int i = 0; i < entries; ++i) events.push_back(MakeEvent(user, i, 1'000 + i, ""));
  if (!store->ApplyEvents(events).ok()) state.SkipWithError("populating failed");
  std::vector<double> micros;
  micros.reserve(1 << 16);
  for (auto _ : state) {
    Stopwatch watch;
    auto h = store->GetUserHistory(user);
    micros.push_back(static_cast<double>(watch.ElapsedMicros()));
    if (!h.ok() || h->recent.size() != static_cast<size_t>(entries)) {
      state.SkipWithError("read failed");
      break;
    }
    benchmark::DoNotOptimize(h);
  }
  if (micros.empty()) return;
  std::sort(micros.begin(), micros.end());
  state.counters["p50_us"] = micros[micros.size() / 2];
  state.counters["p99_us"] = micros[std::min(micros.size() - 1, micros.size() * 99 / 100)];
}
BENCHMARK(BM_GetUserHistory)->Arg(10)->Arg(100)->Arg(1000)->UseRealTime();

void BM_ApplyEvents(benchmark::State& state) {
  auto store = NewStore();
  constexpr int kBatch = 100;
  constexpr int kUsers = 1000;
  std::mt19937 rng(42 + static_cast<unsigned>(state.thread_index()));
  int64_t next = 0;
  const std::string run = StrCat(SystemClock::Get().NowMicros());  // fresh ids per run
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<Event> batch;
    batch.reserve(kBatch);
    for (int i = 0; i < kBatch; ++i, ++next) {
      batch.push_back(MakeEvent(StrCat("writer-", rng() % kUsers), static_cast<int>(rng() % 5000),
                                next, StrCat(run, "-", state.thread_index(), "-", next)));
    }
    state.ResumeTiming();
    if (!store->ApplyEvents(batch).ok()) {
      state.SkipWithError("apply failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_ApplyEvents)->Threads(1)->Threads(4)->UseRealTime();

}  // namespace
}  // namespace pulse::store

BENCHMARK_MAIN();
