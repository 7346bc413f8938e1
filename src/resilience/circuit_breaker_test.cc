#include "resilience/circuit_breaker.h"

#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace pulse::resilience {
namespace {

using State = CircuitState;

class CircuitBreakerTest : public ::testing::Test {
 protected:
  CircuitBreakerOptions Options() {
    CircuitBreakerOptions o;
    o.consecutive_failures = 3;
    o.failure_rate = 0;  // consecutive rule only unless a test turns it on
    o.open_ms = 1000;
    return o;
  }
  void Fail(CircuitBreaker& b) { b.Record(b.Allow(), false); }
  void Succeed(CircuitBreaker& b) { b.Record(b.Allow(), true); }

  testing::FakeClock clock_;
};

TEST_F(CircuitBreakerTest, OpensAfterConsecutiveFailuresOnly) {
  CircuitBreaker b(Options(), clock_);
  Fail(b);
  Fail(b);
  Succeed(b);  // resets the run
  Fail(b);
  Fail(b);
  EXPECT_EQ(b.state(), State::kClosed);
  Fail(b);
  EXPECT_EQ(b.state(), State::kOpen);
  EXPECT_EQ(b.trips(), 1u);
  EXPECT_FALSE(b.Allow().allowed);
}

TEST_F(CircuitBreakerTest, ExactlyOneProbeAfterCoolDownAndOwnRejectionsNotCounted) {
  CircuitBreaker b(Options(), clock_);
  for (int i = 0; i < 3; ++i) Fail(b);
  ASSERT_EQ(b.state(), State::kOpen);
  // Rejections while open are not failures: a thousand of them do not extend the cool-down.
  for (int i = 0; i < 1000; ++i) {
    CircuitBreaker::Ticket t = b.Allow();
    EXPECT_FALSE(t.allowed);
    b.Record(t, false);  // recording a refused ticket is a no-op
  }
  EXPECT_EQ(b.rejected(), 1000u);
  clock_.AdvanceMillis(999);
  EXPECT_FALSE(b.Allow().allowed);
  EXPECT_EQ(b.state(), State::kOpen);
  clock_.AdvanceMillis(1);
  CircuitBreaker::Ticket probe = b.Allow();
  EXPECT_TRUE(probe.allowed);
  EXPECT_TRUE(probe.probe);
  EXPECT_EQ(b.state(), State::kHalfOpen);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(b.Allow().allowed) << "only one probe";
  b.Record(probe, true);
  EXPECT_EQ(b.state(), State::kClosed);
  EXPECT_TRUE(b.Allow().allowed);
  EXPECT_EQ(b.trips(), 1u);
}

TEST_F(CircuitBreakerTest, FailedProbeReopensForAnotherCoolDown) {
  CircuitBreaker b(Options(), clock_);
  for (int i = 0; i < 3; ++i) Fail(b);
  clock_.AdvanceMillis(1000);
  CircuitBreaker::Ticket probe = b.Allow();
  ASSERT_TRUE(probe.probe);
  clock_.AdvanceMillis(200);
  b.Record(probe, false);
  EXPECT_EQ(b.state(), State::kOpen);
  EXPECT_EQ(b.trips(), 2u);
  clock_.AdvanceMillis(999);
  EXPECT_FALSE(b.Allow().allowed);
  clock_.AdvanceMillis(1);
  EXPECT_TRUE(b.Allow().probe);
}

TEST_F(CircuitBreakerTest, StaleOutcomesFromAnEarlierStateAreIgnored) {
  CircuitBreaker b(Options(), clock_);
  CircuitBreaker::Ticket slow = b.Allow();  // admitted while closed, finishes late
  for (int i = 0; i < 3; ++i) Fail(b);
  clock_.AdvanceMillis(1000);
  CircuitBreaker::Ticket probe = b.Allow();
  b.Record(probe, true);
  ASSERT_EQ(b.state(), State::kClosed);
  b.Record(slow, false);
  b.Record(slow, false);
  b.Record(slow, false);
  EXPECT_EQ(b.state(), State::kClosed);
  // A non-probe ticket cannot decide a half-open breaker either.
  for (int i = 0; i < 3; ++i) Fail(b);
  clock_.AdvanceMillis(1000);
  CircuitBreaker::Ticket p2 = b.Allow();
  CircuitBreaker::Ticket fake = p2;
  fake.probe = false;
  b.Record(fake, true);
  EXPECT_EQ(b.state(), State::kHalfOpen);
}

TEST_F(CircuitBreakerTest, FailureRateOverTheWindow) {
  CircuitBreakerOptions o = Options();
  o.consecutive_failures = 0;
  o.failure_rate = 0.5;
  o.min_calls = 20;
  o.window_ms = 10'000;
  CircuitBreaker b(o, clock_);
  for (int i = 0; i < 19; ++i) (i % 2 == 0 ? Succeed(b) : Fail(b));  // 10 ok, 9 failed
  EXPECT_EQ(b.state(), State::kClosed);
  Fail(b);  // 20 calls, 10 failures: 50%
  EXPECT_EQ(b.state(), State::kOpen);
}

TEST_F(CircuitBreakerTest, FailuresOutsideTheWindowDoNotCount) {
  CircuitBreakerOptions o = Options();
  o.consecutive_failures = 0;
  o.failure_rate = 0.5;
  o.min_calls = 4;
  o.window_ms = 1000;
  CircuitBreaker b(o, clock_);
  Fail(b);
  Fail(b);
  Fail(b);
  clock_.AdvanceMillis(2000);  // those three age out
  Succeed(b);
  Succeed(b);
  Succeed(b);
  Fail(b);  // 1 of 4 in the window
  EXPECT_EQ(b.state(), State::kClosed);
}

TEST_F(CircuitBreakerTest, StateNames) {
  EXPECT_EQ(CircuitStateName(State::kClosed), "closed");
  EXPECT_EQ(CircuitStateName(State::kOpen), "open");
  EXPECT_EQ(CircuitStateName(State::kHalfOpen), "half_open");
  EXPECT_EQ(static_cast<int>(State::kHalfOpen), 2);
}

}  // namespace
}  // namespace pulse::resilience
