// Cost of the caching and resilience primitives on the request path: a result-cache hit (lookup +
// the response copy a hit hands out), breaker, rate limiter, bulkhead, adaptive limit, the whole
// admission decision, and an uncontended single-flight call. Figures: docs/BENCHMARKS.md.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/strings.h"
#include "index/ann_index.h"
#include "resilience/admission.h"
#include "resilience/circuit_breaker.h"
#include "resilience/rate_limiter.h"
#include "resilience/result_cache.h"
#include "resilience/single_flight.h"
#include "serving/engine.h"
#include "serving/service.h"

namespace pulse::resilience {
namespace {

using Response = std::shared_ptr<const serving::RecommendResponse>;

Response MakeResponse() {
  auto response = std::make_shared<serving::RecommendResponse>();
  response->request_id = std::string(32, 'a');
  response->model_version = "v000001";
  for (int i = 0; i < 10; ++i) {
    response->items.push_back({StrCat("item-", 1000 + i), 0.5f, "similar_to_recent", "ann"});
  }
  return response;
}

UserResultCache<Response>& SharedCache() {
  static auto* cache = [] {
    ResultCacheOptions options;
    options.ttl_us = 3600LL * 1'000'000;  // nothing expires during the run
    auto* c = new UserResultCache<Response>(options, SystemClock::Get());
    Response response = MakeResponse();
    for (int u = 0; u < 10'000; ++u) {
      std::string user = StrCat("user-", u);
      c->Store(user, StrCat(user, "\x1f", 10), c->Begin(user), response);
    }
    return c;
  }();
  return *cache;
}

// Lookup only (shared_ptr copy out).
void BM_CacheLookupHit(benchmark::State& state) {
  UserResultCache<Response>& cache = SharedCache();
  std::vector<std::pair<std::string, std::string>> keys;
  for (int u = 0; u < 1024; ++u) {
    std::string user = StrCat("user-", (u * 7 + state.thread_index()) % 10'000);
    keys.emplace_back(user, StrCat(user, "\x1f", 10));
  }
  size_t i = 0;
  for (auto _ : state) {
    const auto& [user, key] = keys[i++ & 1023];
    benchmark::DoNotOptimize(cache.Lookup(user, key));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CacheLookupHit)->Threads(1)->Threads(2);

// What Engine's hit path does: build the key, look up, copy the 10-item response out.
void BM_CacheHitWithResponseCopy(benchmark::State& state) {
  UserResultCache<Response>& cache = SharedCache();
  size_t u = 0;
  for (auto _ : state) {
    std::string user = StrCat("user-", u++ % 10'000);
    std::string key = StrCat(user, "\x1f", 10);
    std::optional<Response> hit = cache.Lookup(user, key);
    serving::RecommendResponse copy = **hit;
    benchmark::DoNotOptimize(copy);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CacheHitWithResponseCopy);

void BM_BreakerAllowRecordClosed(benchmark::State& state) {
  static CircuitBreaker breaker(CircuitBreakerOptions{}, SystemClock::Get());
  for (auto _ : state) breaker.Record(breaker.Allow(), true);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BreakerAllowRecordClosed)->Threads(1)->Threads(2);

void BM_BreakerRejectOpen(benchmark::State& state) {
  CircuitBreakerOptions options;
  options.consecutive_failures = 1;
  options.open_ms = 3'600'000;
  CircuitBreaker breaker(options, SystemClock::Get());
  breaker.Record(breaker.Allow(), false);
  for (auto _ : state) benchmark::DoNotOptimize(breaker.Allow());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BreakerRejectOpen);

void BM_RateLimiterAcquire(benchmark::State& state) {
  static KeyedRateLimiter limiter(1e9, 1e9, 100'000, SystemClock::Get());
  std::vector<std::string> keys;
  for (int k = 0; k < 1000; ++k) keys.push_back(StrCat("ip:10.0.", k / 256, ".", k % 256));
  size_t i = state.thread_index() * 7;
  for (auto _ : state) benchmark::DoNotOptimize(limiter.Acquire(keys[i++ % keys.size()]));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RateLimiterAcquire)->Threads(1)->Threads(2);

void BM_BulkheadAcquireRelease(benchmark::State& state) {
  static Bulkhead bulkhead(1 << 20);
  for (auto _ : state) benchmark::DoNotOptimize(bulkhead.TryAcquire());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BulkheadAcquireRelease)->Threads(1)->Threads(2);

void BM_AdaptiveLimiterAcquireComplete(benchmark::State& state) {
  static AdaptiveLimiter limiter(AdaptiveLimiterOptions{}, SystemClock::Get());
  for (auto _ : state) limiter.TryAcquire()->Complete(1000);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AdaptiveLimiterAcquireComplete)->Threads(1)->Threads(2);

// The whole per-request admission: rate limit (on) + bulkhead + adaptive limit + completion.
void BM_AdmissionRecommend(benchmark::State& state) {
  static KeyedRateLimiter limiter(1e9, 1e9, 100'000, SystemClock::Get());
  static AdmissionController admission("bench",
                                       AdmissionOptionsFor(ResilienceConfig{}, 1 << 20, 1 << 16),
                                       &limiter, SystemClock::Get());
  std::vector<std::string> keys;
  for (int k = 0; k < 1000; ++k) keys.push_back(StrCat("k:client-", k));
  size_t i = state.thread_index() * 7;
  for (auto _ : state) {
    auto ticket = admission.Admit(EndpointClass::kRecommend, keys[i++ % keys.size()]);
    ticket.Complete(1000);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AdmissionRecommend)->Threads(1)->Threads(2);

void BM_SingleFlightUncontended(benchmark::State& state) {
  static SingleFlight<int> flight;
  std::vector<std::string> keys;
  for (int k = 0; k < 1000; ++k) keys.push_back(StrCat("user-", k, "\x1f", 10));
  size_t i = state.thread_index() * 7;
  for (auto _ : state) {
    benchmark::DoNotOptimize(flight.Do(keys[i++ % keys.size()], [] { return 1; }));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SingleFlightUncontended)->Threads(1)->Threads(2);

// Engine::Recommend end to end on a small model (1,000 items, d=32, flat index), the same request
// for one of 1,000 users: arg 1 = result cache on (every call after the first per user is a hit:
// validate, key, lookup, copy, fresh request id), arg 0 = cache off (the pipeline each time).
void BM_EngineRecommend(benchmark::State& state) {
  const bool cached = state.range(0) == 1;
  const std::string dir =
      (std::filesystem::temp_directory_path() / StrCat("pulse-resilience-bench-", cached)).string();
  std::filesystem::remove_all(dir);
  Config config;
  config.data_dir = dir;
  config.server.model_poll_ms = 0;
  config.index.type = "flat";
  config.cache.ttl_ms = cached ? 3'600'000 : 0;
  auto data_dir = store::DataDir::Open(dir, config.store).value();
  constexpr int kItems = 1000, kDim = 32, kUsers = 1000;
  rollout::ModelBundle bundle;
  bundle.dim = kDim;
  for (int i = 0; i < kItems; ++i) {
    bundle.items.Intern(StrCat("i", i));
    for (int d = 0; d < kDim; ++d) {
      bundle.item_factors.push_back(static_cast<float>((i * 31 + d * 17) % 97) / 97.0f - 0.5f);
    }
    bundle.item_popularity.push_back(1000.0f / static_cast<float>(1 + i));
  }
  bundle.index =
      index::AnnIndex::Build(bundle.item_factors.data(), kItems, kDim, config.index).value();
  if (!rollout::WriteModelBundle(data_dir->models_dir(), bundle).ok()) std::abort();
  std::vector<Event> events;
  for (int u = 0; u < kUsers; ++u) {
    for (int e = 0; e < 20; ++e) {
      Event event;
      event.user_id = StrCat("u", u);
      event.item_id = StrCat("i", (u * 13 + e * 7) % kItems);
      event.type = EventType::kClick;
      event.ts_ms = 1'700'000'000'000 + e;
      events.push_back(std::move(event));
    }
  }
  if (!data_dir->AppendEvents(events, false).ok()) std::abort();
  {
    auto engine = serving::Engine::Create(config, data_dir.get()).value();
    serving::RecommendRequest request;
    request.n = 10;
    uint64_t i = 0;
    for (auto _ : state) {
      request.user_id = StrCat("u", (i++ * 7) % kUsers);
      auto response = engine->Recommend(request);
      if (!response.ok() || response->items.size() != 10) state.SkipWithError("bad response");
      benchmark::DoNotOptimize(response);
    }
    state.counters["computations"] = static_cast<double>(engine->RecommendComputationsForTest());
  }
  data_dir.reset();
  std::filesystem::remove_all(dir);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EngineRecommend)->Arg(0)->Arg(1);

}  // namespace
}  // namespace pulse::resilience

BENCHMARK_MAIN();
