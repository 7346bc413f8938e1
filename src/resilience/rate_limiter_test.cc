#include "resilience/rate_limiter.h"

#include "gtest/gtest.h"
#include "resilience/adaptive_limiter.h"
#include "resilience/bulkhead.h"
#include "testing/test_util.h"

namespace pulse::resilience {
namespace {

TEST(TokenBucketTest, BurstThenRefillAtRate) {
  TokenBucket bucket(10, 5, 0);  // 10/s, burst 5
  for (int i = 0; i < 5; ++i) EXPECT_EQ(bucket.TryTake(0), 0) << i;
  EXPECT_EQ(bucket.TryTake(0), 100'000);  // one token per 100 ms
  EXPECT_EQ(bucket.TryTake(40'000), 60'000);
  EXPECT_EQ(bucket.TryTake(100'000), 0);
  EXPECT_EQ(bucket.TryTake(100'000), 100'000);
  // Idle time refills up to the burst, never beyond.
  EXPECT_DOUBLE_EQ(bucket.tokens(10'000'000), 5.0);
  // A clock stepping back neither refills nor breaks the bucket.
  EXPECT_EQ(bucket.TryTake(9'000'000), 0);
  EXPECT_DOUBLE_EQ(bucket.tokens(9'000'000), 4.0);
}

TEST(KeyedRateLimiterTest, KeysAreIndependentAndRetryAfterIsTheWait) {
  testing::FakeClock clock;
  KeyedRateLimiter limiter(2, 2, 1000, clock);
  EXPECT_TRUE(limiter.Acquire("a").allowed);
  EXPECT_TRUE(limiter.Acquire("a").allowed);
  RateDecision refused = limiter.Acquire("a");
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_us, 500'000);
  EXPECT_TRUE(limiter.Acquire("b").allowed);
  clock.AdvanceMillis(500);
  EXPECT_TRUE(limiter.Acquire("a").allowed);
  EXPECT_FALSE(limiter.Acquire("a").allowed);
}

TEST(KeyedRateLimiterTest, AdmitsAboutTheQuotaOverTime) {
  testing::FakeClock clock;
  KeyedRateLimiter limiter(100, 10, 1000, clock);
  int admitted = 0;
  for (int ms = 0; ms < 10'000; ++ms) {  // 10 s at 1000 attempts/s
    if (limiter.Acquire("abuser").allowed) ++admitted;
    clock.AdvanceMillis(1);
  }
  EXPECT_GE(admitted, 1000);
  EXPECT_LE(admitted, 1010);  // rate × time + burst
}

TEST(KeyedRateLimiterTest, MemoryIsBoundedAndHostileKeysAreSafe) {
  testing::FakeClock clock;
  KeyedRateLimiter limiter(1, 1, 64, clock);
  for (int i = 0; i < 10'000; ++i) limiter.Acquire(StrCat("client-", i));
  EXPECT_LE(limiter.size(), 64u);
  EXPECT_GE(limiter.evictions(), 10'000u - 64u);
  std::string huge(1 << 20, 'k');
  EXPECT_TRUE(limiter.Acquire(huge).allowed);
  EXPECT_FALSE(limiter.Acquire(huge).allowed);  // the hashed key is still one client
  EXPECT_TRUE(limiter.Acquire(std::string_view("\0\xff", 2)).allowed);
}

TEST(KeyedRateLimiterTest, ZeroRateIsOff) {
  testing::FakeClock clock;
  KeyedRateLimiter limiter(0, 0, 64, clock);
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.Acquire("x").allowed);
  EXPECT_EQ(limiter.size(), 0u);
}

TEST(BulkheadTest, BoundsConcurrencyAndReleasesOnEveryPath) {
  Bulkhead bulkhead(2);
  auto a = bulkhead.TryAcquire();
  auto b = bulkhead.TryAcquire();
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(bulkhead.TryAcquire());
  EXPECT_EQ(bulkhead.rejected(), 1u);
  {
    Bulkhead::Permit moved = std::move(*a);
    EXPECT_FALSE(a->held());
    EXPECT_EQ(bulkhead.in_flight(), 2);
  }  // released by the destructor
  EXPECT_EQ(bulkhead.in_flight(), 1);
  auto c = bulkhead.TryAcquire();
  EXPECT_TRUE(c);
  c->Release();
  c->Release();  // idempotent
  EXPECT_EQ(bulkhead.in_flight(), 1);
  Bulkhead unbounded(0);
  std::vector<Bulkhead::Permit> many;
  for (int i = 0; i < 1000; ++i) many.push_back(*unbounded.TryAcquire());
  EXPECT_EQ(unbounded.in_flight(), 1000);
}

TEST(BulkheadTest, NeverOverAdmitsUnderContention) {
  Bulkhead bulkhead(3);
  std::atomic<int> inside{0};
  std::atomic<int> max_inside{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20'000; ++i) {
        if (auto permit = bulkhead.TryAcquire()) {
          int now = inside.fetch_add(1) + 1;
          int seen = max_inside.load();
          while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
          }
          inside.fetch_sub(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(max_inside.load(), 3);
  EXPECT_EQ(bulkhead.in_flight(), 0);
}

TEST(AdaptiveLimiterTest, ShrinksOnSlowCallsOncePerIntervalAndShedsBeyondTheLimit) {
  testing::FakeClock clock;
  AdaptiveLimiterOptions o;
  o.initial_limit = 10;
  o.min_limit = 2;
  o.max_limit = 20;
  o.latency_bound_us = 100'000;
  o.backoff = 0.5;
  AdaptiveLimiter limiter(o, clock);
  std::vector<AdaptiveLimiter::Permit> permits;
  for (int i = 0; i < 10; ++i) permits.push_back(*limiter.TryAcquire());
  EXPECT_FALSE(limiter.TryAcquire());
  EXPECT_EQ(limiter.shed(), 1u);
  clock.AdvanceMillis(1000);
  permits[0].Complete(500'000);  // slow: 10 → 5
  EXPECT_EQ(limiter.limit(), 5);
  permits[1].Complete(500'000);  // same interval: no second step
  EXPECT_EQ(limiter.limit(), 5);
  clock.AdvanceMillis(100);
  permits[2].Complete(500'000);  // 5 → 2
  EXPECT_EQ(limiter.limit(), 2);
  clock.AdvanceMillis(100);
  permits[3].Complete(500'000);  // floor
  EXPECT_EQ(limiter.limit(), 2);
  EXPECT_EQ(limiter.in_flight(), 6);
  EXPECT_FALSE(limiter.TryAcquire()) << "6 in flight over a limit of 2: shed";
  permits.clear();  // dropped without samples: released, limit unchanged
  EXPECT_EQ(limiter.in_flight(), 0);
  EXPECT_EQ(limiter.limit(), 2);
}

TEST(AdaptiveLimiterTest, GrowsAdditivelyWhileBusyAndFast) {
  testing::FakeClock clock;
  AdaptiveLimiterOptions o;
  o.initial_limit = 4;
  o.min_limit = 1;
  o.max_limit = 6;
  o.latency_bound_us = 100'000;
  AdaptiveLimiter limiter(o, clock);
  // Idle and fast: no growth (nothing learned).
  for (int i = 0; i < 100; ++i) limiter.TryAcquire()->Complete(1000);
  EXPECT_EQ(limiter.limit(), 4);
  // Busy (limit fully used) and fast: grows about one per `limit` completions, capped.
  for (int round = 0; round < 200; ++round) {
    std::vector<AdaptiveLimiter::Permit> permits;
    while (auto p = limiter.TryAcquire()) permits.push_back(std::move(*p));
    for (auto& p : permits) p.Complete(1000);
  }
  EXPECT_EQ(limiter.limit(), 6);
}

}  // namespace
}  // namespace pulse::resilience
