#include "resilience/result_cache.h"

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "resilience/admission.h"
#include "resilience/single_flight.h"
#include "testing/test_util.h"

namespace pulse::resilience {
namespace {

using Cache = UserResultCache<int>;

ResultCacheOptions Options(int64_t ttl_ms = 1000, double jitter = 0.2) {
  ResultCacheOptions o;
  o.ttl_us = ttl_ms * 1000;
  o.jitter = jitter;
  o.max_entries = 64 * 100;
  return o;
}

TEST(ResultCacheTest, TtlWithJitterStaysWithinItsBounds) {
  testing::FakeClock clock;
  Cache cache(Options(1000, 0.2), clock);
  const int kUsers = 500;
  for (int u = 0; u < kUsers; ++u) {
    std::string user = StrCat("u", u);
    ASSERT_TRUE(cache.Store(user, "k", cache.Begin(user), u));
  }
  clock.AdvanceMillis(799);  // before the earliest possible expiry (0.8 × ttl)
  for (int u = 0; u < kUsers; ++u) EXPECT_EQ(cache.Lookup(StrCat("u", u), "k"), u);
  clock.AdvanceMillis(201);  // at 1.0 × ttl: the jitter has spread expiries around here
  int alive = 0;
  for (int u = 0; u < kUsers; ++u) alive += cache.Lookup(StrCat("u", u), "k").has_value();
  EXPECT_GT(alive, 0);
  EXPECT_LT(alive, kUsers) << "expiries are spread, not simultaneous";
  clock.AdvanceMillis(201);  // past the latest (1.2 × ttl)
  for (int u = 0; u < kUsers; ++u) EXPECT_FALSE(cache.Lookup(StrCat("u", u), "k"));
}

TEST(ResultCacheTest, KeysAreSeparateAndStatsCount) {
  testing::FakeClock clock;
  Cache cache(Options(), clock);
  EXPECT_FALSE(cache.Lookup("u", "n=10"));
  cache.Store("u", "n=10", cache.Begin("u"), 10);
  cache.Store("u", "n=5", cache.Begin("u"), 5);
  EXPECT_EQ(cache.Lookup("u", "n=10"), 10);
  EXPECT_EQ(cache.Lookup("u", "n=5"), 5);
  EXPECT_FALSE(cache.Lookup("v", "n=10"));
  ResultCacheStats stats = cache.stats();
  EXPECT_EQ(stats.hits, 2u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.stores, 2u);
  EXPECT_EQ(stats.entries, 2u);
}

TEST(ResultCacheTest, InvalidationMakesEntriesStaleAndRefusesInFlightStores) {
  testing::FakeClock clock;
  Cache cache(Options(), clock);
  cache.Store("u", "k", cache.Begin("u"), 1);
  Cache::Token before_event = cache.Begin("u");  // a computation reads pre-event state
  cache.Invalidate("u");                         // the event is acknowledged
  EXPECT_FALSE(cache.Lookup("u", "k"));
  EXPECT_FALSE(cache.Store("u", "k", before_event, 2)) << "computed from pre-event state";
  EXPECT_FALSE(cache.Lookup("u", "k"));
  EXPECT_EQ(cache.LookupStale("u", "k", 60'000'000), 1) << "the stale rung still has it";
  EXPECT_TRUE(cache.Store("u", "k", cache.Begin("u"), 3));
  EXPECT_EQ(cache.Lookup("u", "k"), 3);
  cache.Invalidate("never-seen");  // harmless
  EXPECT_EQ(cache.stats().refused_stores, 1u);
}

TEST(ResultCacheTest, InvalidateAllClearsEveryUser) {
  testing::FakeClock clock;
  Cache cache(Options(), clock);
  cache.Store("a", "k", cache.Begin("a"), 1);
  Cache::Token token = cache.Begin("b");
  cache.InvalidateAll();
  EXPECT_FALSE(cache.Lookup("a", "k"));
  EXPECT_FALSE(cache.Store("b", "k", token, 2));
  EXPECT_TRUE(cache.Store("b", "k", cache.Begin("b"), 2));
  EXPECT_EQ(cache.Lookup("b", "k"), 2);
}

TEST(ResultCacheTest, StaleReadsRespectTheirAge) {
  testing::FakeClock clock;
  Cache cache(Options(100), clock);
  cache.Store("u", "k", cache.Begin("u"), 7);
  clock.AdvanceMillis(5000);
  EXPECT_FALSE(cache.Lookup("u", "k"));
  EXPECT_EQ(cache.LookupStale("u", "k", 5'000'000), 7);
  EXPECT_FALSE(cache.LookupStale("u", "k", 4'999'999));
  EXPECT_FALSE(cache.LookupStale("u", "other", 5'000'000));
}

TEST(ResultCacheTest, SizeIsBounded) {
  testing::FakeClock clock;
  ResultCacheOptions o = Options();
  o.max_entries = Cache::kShards * 4;
  o.max_entries_per_user = 3;
  Cache cache(o, clock);
  for (int u = 0; u < 10'000; ++u) {
    std::string user = StrCat("u", u);
    cache.Store(user, "k", cache.Begin(user), u);
  }
  EXPECT_LE(cache.stats().entries, o.max_entries);
  // One user's entries are capped too.
  for (int k = 0; k < 100; ++k) {
    clock.AdvanceMicros(1);
    cache.Store("heavy", StrCat("k", k), cache.Begin("heavy"), k);
  }
  EXPECT_EQ(cache.Lookup("heavy", "k99"), 99);
  EXPECT_FALSE(cache.Lookup("heavy", "k0"));
  // Users that only ever miss (Begin without Store) cannot grow it either.
  for (int u = 0; u < 10'000; ++u) cache.Begin(StrCat("w", u));
  EXPECT_LE(cache.stats().entries, o.max_entries);
}

TEST(SingleFlightTest, ConcurrentCallersShareOneComputation) {
  SingleFlight<int> flight;
  constexpr int kCallers = 64;
  std::atomic<int> computations{0};
  std::vector<int> results(kCallers, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCallers; ++i) {
    threads.emplace_back([&, i] {
      results[i] = flight
                       .Do("key",
                           [&] {
                             computations.fetch_add(1);
                             // The leader holds on until every other caller has joined.
                             while (flight.coalesced() < kCallers - 1) std::this_thread::yield();
                             return 42;
                           })
                       .value;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(computations.load(), 1);
  for (int r : results) EXPECT_EQ(r, 42);
  // Done calls are forgotten: the next call computes again.
  EXPECT_EQ(flight.Do("key", [] { return 7; }).value, 7);
}

TEST(SingleFlightTest, DifferentKeysDoNotWaitAndALeaderThatThrowsStrandsNobody) {
  SingleFlight<int> flight;
  EXPECT_EQ(flight.Do("a", [] { return 1; }).value, 1);
  EXPECT_EQ(flight.Do("b", [] { return 2; }).value, 2);
  EXPECT_THROW(flight.Do("a", []() -> int { throw std::runtime_error("boom"); }),
               std::runtime_error);
  EXPECT_EQ(flight.Do("a", [] { return 3; }).value, 3);
}

TEST(AdmissionTest, RateLimitThenBulkheadsPerClassAndExemptProbes) {
  testing::FakeClock clock;
  KeyedRateLimiter limiter(1, 2, 100, clock);
  AdmissionOptions o;
  o.max_in_flight = {0, 1, 1};
  o.adaptive = false;
  AdmissionController admission("http", o, &limiter, clock);
  auto a = admission.Admit(EndpointClass::kIngest, "client-a");
  ASSERT_TRUE(a.admitted());
  auto b = admission.Admit(EndpointClass::kIngest, "client-b");
  EXPECT_EQ(b.refusal(), Refusal::kBulkheadFull);
  EXPECT_EQ(b.ToStatus().code(), StatusCode::kUnavailable);
  // A full ingest compartment does not touch recommend.
  auto r = admission.Admit(EndpointClass::kRecommend, "client-b");
  EXPECT_TRUE(r.admitted());
  // client-a has used its burst of 2 (one ingest, then this one).
  auto a2 = admission.Admit(EndpointClass::kRecommend, "client-a");
  EXPECT_TRUE(a2.admitted());
  auto a3 = admission.Admit(EndpointClass::kRecommend, "client-a");
  EXPECT_EQ(a3.refusal(), Refusal::kRateLimited);
  EXPECT_EQ(a3.ToStatus().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(a3.retry_after_ms(), 1000);
  EXPECT_EQ(a3.retry_after_seconds(), 1);
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(admission.Admit(EndpointClass::kExempt, "client-a").admitted());
  }
  a.Complete(10);
  EXPECT_TRUE(admission.Admit(EndpointClass::kIngest, "client-c").admitted());
  EXPECT_EQ(admission.rejected(EndpointClass::kIngest, Refusal::kBulkheadFull), 1u);
  EXPECT_EQ(admission.rejected(EndpointClass::kRecommend, Refusal::kRateLimited), 1u);
  std::string metrics;
  AdmissionController::RenderMetrics({&admission}, &metrics);
  EXPECT_NE(metrics.find("pulse_admission_rejected_total{server=\"http\",class=\"ingest\","
                         "reason=\"bulkhead_full\"} 1"),
            std::string::npos)
      << metrics;
}

TEST(AdmissionTest, AdaptiveLimitShedsRecommendOnly) {
  testing::FakeClock clock;
  AdmissionOptions o;
  o.adaptive_options.initial_limit = 2;
  o.adaptive_options.min_limit = 1;
  AdmissionController admission("grpc", o, nullptr, clock);
  auto a = admission.Admit(EndpointClass::kRecommend, "x");
  auto b = admission.Admit(EndpointClass::kRecommend, "x");
  auto c = admission.Admit(EndpointClass::kRecommend, "x");
  EXPECT_TRUE(a.admitted() && b.admitted());
  EXPECT_EQ(c.refusal(), Refusal::kShed);
  EXPECT_TRUE(admission.Admit(EndpointClass::kIngest, "x").admitted());
  a.Complete(10);
  EXPECT_TRUE(admission.Admit(EndpointClass::kRecommend, "x").admitted());
}

TEST(AdmissionTest, OptionsFromConfigAndEndpointClasses) {
  ResilienceConfig config;
  AdmissionOptions automatic = AdmissionOptionsFor(config, 8, 8);
  EXPECT_EQ(automatic.max_in_flight[0], 0) << "recommend: the adaptive limit governs";
  EXPECT_EQ(automatic.max_in_flight[1], 6);
  EXPECT_EQ(automatic.max_in_flight[2], 4);
  EXPECT_TRUE(automatic.adaptive);
  EXPECT_EQ(automatic.adaptive_options.latency_bound_us, 250'000);
  config.max_inflight_ingest = 3;
  config.shed_latency_ms = 0;
  AdmissionOptions set = AdmissionOptionsFor(config, 1, 1);
  EXPECT_EQ(set.max_in_flight[1], 3);
  EXPECT_EQ(set.max_in_flight[2], 1) << "never zero (which would mean unbounded)";
  EXPECT_FALSE(set.adaptive);
  EXPECT_EQ(EndpointClassOf("recommend"), EndpointClass::kRecommend);
  EXPECT_EQ(EndpointClassOf("publish_events"), EndpointClass::kIngest);
  EXPECT_EQ(EndpointClassOf("upsert_items"), EndpointClass::kIngest);
  EXPECT_EQ(EndpointClassOf("delete_item"), EndpointClass::kIngest);
  EXPECT_EQ(EndpointClassOf("get_user_features"), EndpointClass::kAdmin);
  EXPECT_EQ(EndpointClassOf("healthz"), EndpointClass::kExempt);
  EXPECT_EQ(EndpointClassOf("metrics"), EndpointClass::kExempt);
}

}  // namespace
}  // namespace pulse::resilience
