#include "obs/trace.h"

#include <condition_variable>
#include <mutex>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "testing/test_util.h"

namespace pulse::obs {
namespace {

using ::testing::HasSubstr;

constexpr char kValid[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceparentTest, ParsesAValidHeader) {
  auto parent = ParseTraceparent(kValid);
  ASSERT_TRUE(parent.has_value());
  EXPECT_EQ(TraceIdHex(parent->trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(SpanIdHex(parent->parent_span_id), "00f067aa0ba902b7");
  EXPECT_TRUE(parent->sampled());
  EXPECT_EQ(FormatTraceparent(parent->trace_id, parent->parent_span_id, true), kValid);
  auto unsampled = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(unsampled.has_value());
  EXPECT_FALSE(unsampled->sampled());
}

TEST(TraceparentTest, RejectsMalformedHeaders) {
  for (const char* bad : {
           "", "garbage",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",    // short flags
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // v00 has no tail
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // uppercase
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero parent id
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // forbidden version
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // separator
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",   // non-hex
           "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // non-hex version
           "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  // future: tail needs '-'
       }) {
    EXPECT_FALSE(ParseTraceparent(bad).has_value()) << bad;
  }
  // A future version may carry more fields after a '-'.
  EXPECT_TRUE(ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")
                  .has_value());
}

TEST(RequestTraceTest, JoinsTheCallersTraceOrStartsANewOne) {
  RequestTrace joined(kValid, "http recommend", true);
  EXPECT_EQ(joined.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(SpanIdHex(joined.root().parent_span_id), "00f067aa0ba902b7");
  EXPECT_NE(joined.root_span_id(), 0u);
  EXPECT_TRUE(joined.parent_sampled());

  RequestTrace fresh("00-bogus", "http recommend", true);
  EXPECT_TRUE(fresh.trace_id().valid());
  EXPECT_EQ(fresh.root().parent_span_id, 0u);
  RequestTrace other("", "http recommend", true);
  EXPECT_NE(fresh.trace_id_hex(), other.trace_id_hex());

  // Not recording: ids only, AddSpan is a no-op.
  RequestTrace off("", "x", false);
  off.AddSpan("stage", off.root_span_id(), 1, 2).Set("k", int64_t{1});
  EXPECT_EQ(off.spans().size(), 1u);
}

TEST(RequestTraceTest, ActiveTraceIsPerScope) {
  EXPECT_EQ(CurrentTrace(), nullptr);
  RequestTrace trace("", "x", true);
  {
    ActiveTrace active(&trace);
    EXPECT_EQ(CurrentTrace(), &trace);
  }
  EXPECT_EQ(CurrentTrace(), nullptr);
}

TEST(UserBucketTest, IsStableAndBounded) {
  EXPECT_EQ(UserBucket("u1"), UserBucket("u1"));
  for (const char* user : {"", "u1", "someone@example.com"}) {
    EXPECT_GE(UserBucket(user), 0);
    EXPECT_LT(UserBucket(user), 1024);
  }
}

TEST(OtlpJsonTest, HasTheExportTraceServiceRequestShape) {
  RequestTrace trace(kValid, "http recommend", true);
  Span& child = trace.AddSpan("stage ann", trace.root_span_id(), 100, 200);
  child.Set("pulse.candidates", int64_t{42});
  child.Set("pulse.stage", std::string("ann"));
  child.Set("pulse.degraded", false);
  child.Set("ratio", 0.5);
  trace.End(true, "boom");
  auto body = nlohmann::json::parse(Tracer::ToOtlpJson(trace.spans(), "pulse"));
  const auto& rs = body["resourceSpans"][0];
  EXPECT_EQ(rs["resource"]["attributes"][0]["key"], "service.name");
  EXPECT_EQ(rs["resource"]["attributes"][0]["value"]["stringValue"], "pulse");
  const auto& spans = rs["scopeSpans"][0]["spans"];
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0]["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(spans[0]["parentSpanId"], "00f067aa0ba902b7");
  EXPECT_EQ(spans[0]["kind"], 2);
  EXPECT_EQ(spans[0]["status"]["code"], 2);
  EXPECT_EQ(spans[0]["status"]["message"], "boom");
  EXPECT_TRUE(spans[0]["startTimeUnixNano"].is_string());
  EXPECT_EQ(spans[1]["parentSpanId"], spans[0]["spanId"]);
  EXPECT_EQ(spans[1]["startTimeUnixNano"], "100");
  EXPECT_EQ(spans[1]["endTimeUnixNano"], "200");
  EXPECT_EQ(spans[1]["spanId"].get<std::string>().size(), 16u);
  EXPECT_EQ(spans[1]["attributes"][0]["value"]["intValue"], "42");
  EXPECT_EQ(spans[1]["attributes"][1]["value"]["stringValue"], "ann");
  EXPECT_EQ(spans[1]["attributes"][2]["value"]["boolValue"], false);
  EXPECT_EQ(spans[1]["attributes"][3]["value"]["doubleValue"], 0.5);
}

// Collects what the tracer exports through its sink.
struct Collected {
  std::mutex mu;
  std::vector<nlohmann::json> spans;
  std::function<bool(const std::string&)> Sink() {
    return [this](const std::string& body) {
      auto json = nlohmann::json::parse(body);
      std::lock_guard<std::mutex> lock(mu);
      for (auto& span : json["resourceSpans"][0]["scopeSpans"][0]["spans"]) spans.push_back(span);
      return true;
    };
  }
};

TEST(TracerTest, SamplingIsTailStyle) {
  Collected collected;
  TracerOptions options;
  options.sample_ratio = 0.0;
  options.slow_threshold_ms = 1'000'000;
  options.sink = collected.Sink();
  Tracer tracer(options);
  ASSERT_TRUE(tracer.enabled());
  {
    RequestTrace ok("", "ok", true);  // unsampled, fast, fine: dropped by the ratio
    ok.End(false, "");
    tracer.Finish(std::move(ok));
  }
  {
    RequestTrace failed("", "failed", true);  // errors are always kept
    failed.End(true, "INTERNAL");
    tracer.Finish(std::move(failed));
  }
  {
    RequestTrace sampled(kValid, "sampled", true);  // the caller sampled it
    sampled.End(false, "");
    tracer.Finish(std::move(sampled));
  }
  tracer.Flush();
  std::lock_guard<std::mutex> lock(collected.mu);
  ASSERT_EQ(collected.spans.size(), 2u);
  EXPECT_EQ(collected.spans[0]["name"], "failed");
  EXPECT_EQ(collected.spans[1]["name"], "sampled");
  EXPECT_EQ(tracer.counters().traces_finished, 3u);
  EXPECT_EQ(tracer.counters().traces_kept, 2u);
  EXPECT_EQ(tracer.counters().spans_exported, 2u);
}

TEST(TracerTest, SlowRequestsAreKept) {
  Collected collected;
  TracerOptions options;
  options.sample_ratio = 0.0;
  options.slow_threshold_ms = 5;
  options.sink = collected.Sink();
  Tracer tracer(options);
  RequestTrace slow("", "slow", true);
  slow.End(false, "");
  slow.root().end_unix_ns = slow.root().start_unix_ns + 6'000'000;  // 6 ms
  tracer.Finish(std::move(slow));
  tracer.Flush();
  EXPECT_EQ(tracer.counters().spans_exported, 1u);
}

TEST(TracerTest, RatioOneKeepsEverythingAndRatioIsByTraceId) {
  Collected collected;
  TracerOptions options;
  options.sample_ratio = 0.5;
  options.sink = collected.Sink();
  Tracer tracer(options);
  for (int i = 0; i < 400; ++i) {
    RequestTrace trace("", "r", true);
    trace.End(false, "");
    tracer.Finish(std::move(trace));
  }
  tracer.Flush();
  // Roughly half: far from none and from all (binomial, 400 draws).
  EXPECT_GT(tracer.counters().traces_kept, 120u);
  EXPECT_LT(tracer.counters().traces_kept, 280u);
}

// A collector that never answers until released: Finish must neither block nor wait for it; a
// full queue drops and counts.
TEST(TracerTest, SlowCollectorCostsDropsNotBlocking) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  int received = 0;
  httplib::Server collector;
  collector.Post("/v1/traces", [&](const httplib::Request&, httplib::Response& res) {
    std::unique_lock<std::mutex> lock(mu);
    ++received;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    res.status = 200;
  });
  const int port = collector.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { collector.listen_after_bind(); });

  TracerOptions options;
  options.endpoint = StrCat("http://127.0.0.1:", port);
  options.sample_ratio = 1.0;
  options.queue_spans = 10;
  options.batch_spans = 2;
  options.flush_interval_ms = 1;
  options.export_timeout_ms = 30'000;  // the export thread waits as long as the collector does
  Tracer tracer(options);
  auto finish_one = [&] {
    RequestTrace trace("", "r", true);
    trace.AddSpan("child", trace.root_span_id(), 1, 2);
    trace.End(false, "");
    tracer.Finish(std::move(trace));
  };
  finish_one();
  {
    // The first batch is now stuck in the collector.
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return received > 0; });
  }
  // 100 traces × 2 spans with the exporter stuck: the queue takes 5 traces, the rest drop. If
  // Finish blocked on the exporter, this loop would never end.
  for (int i = 0; i < 100; ++i) finish_one();
  EXPECT_EQ(tracer.counters().spans_dropped_queue_full, 190u);
  std::string metrics;
  tracer.RenderMetrics(&metrics);
  EXPECT_THAT(metrics, HasSubstr("pulse_trace_spans_dropped_total{reason=\"queue_full\"} 190\n"));
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  tracer.Flush();
  EXPECT_EQ(tracer.counters().spans_exported, 12u);  // the stuck batch + the 5 queued traces
  collector.stop();
  serving.join();
}

TEST(TracerTest, AbsentCollectorCountsExportFailures) {
  TracerOptions options;
  options.endpoint = StrCat("http://127.0.0.1:", testing::FreePort());  // nobody listens
  options.sample_ratio = 1.0;
  options.flush_interval_ms = 1;
  Tracer tracer(options);
  for (int i = 0; i < 20; ++i) {
    RequestTrace trace("", "r", true);
    trace.End(false, "");
    tracer.Finish(std::move(trace));
  }
  tracer.Flush();
  const Tracer::Counters c = tracer.counters();
  EXPECT_EQ(c.spans_exported, 0u);
  EXPECT_EQ(c.spans_dropped_export_failed + c.spans_dropped_queue_full, 20u);
  EXPECT_GE(c.export_batches_failed, 1u);
}

// Shutdown: spans still queued (the periodic flush is an hour away) are sent by FlushFor.
TEST(TracerTest, FlushForExportsWhatIsQueued) {
  Collected collected;
  TracerOptions options;
  options.sample_ratio = 1.0;
  options.flush_interval_ms = 3'600'000;
  options.sink = collected.Sink();
  Tracer tracer(options);
  for (int i = 0; i < 3; ++i) {
    RequestTrace trace("", "r", true);
    trace.End(false, "");
    tracer.Finish(std::move(trace));
  }
  EXPECT_EQ(tracer.queued_spans(), 3u);  // nothing wakes the exporter before the interval
  EXPECT_TRUE(tracer.FlushFor(60'000));
  EXPECT_EQ(tracer.queued_spans(), 0u);
  EXPECT_EQ(tracer.counters().spans_exported, 3u);
  std::lock_guard<std::mutex> lock(collected.mu);
  EXPECT_EQ(collected.spans.size(), 3u);
}

// A collector that never answers: FlushFor gives up after its timeout instead of hanging exit.
TEST(TracerTest, FlushForIsBoundedWhenTheCollectorHangs) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  int entered = 0;
  TracerOptions options;
  options.sample_ratio = 1.0;
  options.flush_interval_ms = 3'600'000;
  options.batch_spans = 1;
  options.sink = [&](const std::string&) {
    std::unique_lock<std::mutex> lock(mu);
    ++entered;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    return true;
  };
  Tracer tracer(options);
  for (int i = 0; i < 2; ++i) {
    RequestTrace trace("", "r", true);
    trace.End(false, "");
    tracer.Finish(std::move(trace));
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return entered > 0; });
  }
  EXPECT_FALSE(tracer.FlushFor(20));  // the first span is stuck in the sink
  EXPECT_EQ(tracer.queued_spans(), 1u);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  EXPECT_TRUE(tracer.FlushFor(60'000));
  EXPECT_EQ(tracer.counters().spans_exported, 2u);
}

TEST(TracerTest, DisabledTracerKeepsNothing) {
  Tracer tracer(TracerOptions{});
  EXPECT_FALSE(tracer.enabled());
  RequestTrace trace("", "r", tracer.enabled());
  trace.End(true, "x");
  tracer.Finish(std::move(trace));
  tracer.Flush();
  EXPECT_TRUE(tracer.FlushFor(0));
  EXPECT_EQ(tracer.counters().traces_finished, 0u);
}

}  // namespace
}  // namespace pulse::obs
