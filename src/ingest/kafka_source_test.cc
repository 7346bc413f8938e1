#include "ingest/kafka_source.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/strings.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/test_util.h"

namespace pulse::ingest {
namespace {

using ::testing::HasSubstr;

// An in-process mock cluster (one broker) plus a producer to fill it.
class MockKafka {
 public:
  MockKafka() {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    cluster_ = rd_kafka_handle_mock_cluster(producer_);
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
    rd_kafka_mock_topic_create(cluster_, "events", 2, 1);
  }
  ~MockKafka() { rd_kafka_destroy(producer_); }

  const std::string& bootstraps() const { return bootstraps_; }

  void Produce(const std::string& key, const std::string& value) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        producer_, RD_KAFKA_V_TOPIC("events"), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key.data(), key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_END);
    ASSERT_EQ(e, RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  // The group's committed offset per partition (RD_KAFKA_OFFSET_INVALID when none).
  std::vector<int64_t> Committed(const std::string& group) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps_.c_str(), err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof(err));
    rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(list, "events", 0);
    rd_kafka_topic_partition_list_add(list, "events", 1);
    EXPECT_EQ(rd_kafka_committed(consumer, list, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    std::vector<int64_t> out = {list->elems[0].offset, list->elems[1].offset};
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_destroy(consumer);
    return out;
  }
  std::vector<int64_t> HighWatermarks() {
    std::vector<int64_t> out;
    for (int32_t p = 0; p < 2; ++p) {
      int64_t low = 0, high = 0;
      EXPECT_EQ(rd_kafka_query_watermark_offsets(producer_, "events", p, &low, &high, 10000),
                RD_KAFKA_RESP_ERR_NO_ERROR);
      out.push_back(high);
    }
    return out;
  }
  void Flush() { ASSERT_EQ(rd_kafka_flush(producer_, 10000), RD_KAFKA_RESP_ERR_NO_ERROR); }

 private:
  rd_kafka_t* producer_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstraps_;
};

std::string EventJson(int i) {
  return StrCat(R"({"event_id":"e)", i, R"(","user_id":"u)", i % 7, R"(","item_id":"i)", i % 11,
                R"(","type":"click","ts":1700000000000})");
}

// Collects what the source hands over; thread-safe.
struct Collector {
  std::mutex mu;
  std::vector<Event> events;
  std::vector<KafkaReject> rejects;
  int fail_next = 0;

  KafkaEventSource::Sink sink() {
    return [this](std::vector<Event> batch) -> Status {
      std::lock_guard<std::mutex> lock(mu);
      if (fail_next > 0) {
        --fail_next;
        return UnavailableError("injected");
      }
      for (auto& e : batch) events.push_back(std::move(e));
      return OkStatus();
    };
  }
  KafkaEventSource::RejectSink reject_sink() {
    return [this](const KafkaReject& r) {
      std::lock_guard<std::mutex> lock(mu);
      rejects.push_back(r);
    };
  }
  size_t event_count() {
    std::lock_guard<std::mutex> lock(mu);
    return events.size();
  }
  size_t reject_count() {
    std::lock_guard<std::mutex> lock(mu);
    return rejects.size();
  }
};

// Bounded wait for a condition the consumer thread makes true (a guard, not a timing check).
template <typename F>
bool WaitFor(F done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

KafkaConfig ConfigFor(const MockKafka& kafka, const std::string& group) {
  KafkaConfig c;
  c.brokers = kafka.bootstraps();
  c.topic = "events";
  c.group_id = group;
  c.batch_max_events = 16;
  c.poll_timeout_ms = 20;
  c.properties["log_level"] = "3";
  return c;
}

// One group join (the mock cluster delays a group's first join by ~3 s), so one test covers
// objects, arrays, malformed messages, a failing sink and the commit on Stop.
TEST(KafkaEventSourceTest, ConsumesRejectsRetriesAndCommits) {
  MockKafka kafka;
  for (int i = 0; i < 40; ++i) kafka.Produce(StrCat("u", i % 7), EventJson(i));
  kafka.Produce("u1", StrCat("[", EventJson(40), ",", EventJson(41), ",", EventJson(42), "]"));
  kafka.Produce("u1", "not json");
  kafka.Produce("u1", "42");
  kafka.Produce("u1", R"({"user_id":"u1","type":"click"})");  // no item_id, no ts
  kafka.Produce("u1", "");
  kafka.Produce("u1", StrCat("[", EventJson(43), R"(,{"bad":true}])"));
  kafka.Flush();

  Collector c;
  c.fail_next = 2;
  auto source = KafkaEventSource::Create(ConfigFor(kafka, "g1"), c.sink(), c.reject_sink());
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  ASSERT_TRUE((*source)->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return c.event_count() >= 44 && c.reject_count() >= 5; }));
  (*source)->Stop();  // commits synchronously

  std::set<std::string> ids;
  for (const Event& e : c.events) ids.insert(e.event_id);
  EXPECT_EQ(ids.size(), 44u);
  EXPECT_EQ(c.events.size(), 44u);
  EXPECT_EQ(c.events[0].type, EventType::kClick);
  auto stats = (*source)->stats();
  EXPECT_EQ(stats.messages, 46u);
  EXPECT_EQ(stats.events, 44u);
  EXPECT_EQ(stats.rejected, 5u);
  EXPECT_EQ(stats.sink_failures, 2u);
  EXPECT_GE(stats.offsets_stored, 1u);

  ASSERT_EQ(c.rejects.size(), 5u);
  bool saw_text = false, saw_element = false;
  for (const auto& r : c.rejects) {
    EXPECT_EQ(r.reason.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.key, "u1");
    EXPECT_EQ(r.topic, "events");
    if (r.payload == "not json") saw_text = true;
    if (r.reason.message().find("events[1]") != std::string::npos) {
      saw_element = true;
      EXPECT_EQ(r.payload, R"({"bad":true})");
    }
  }
  EXPECT_TRUE(saw_text);
  EXPECT_TRUE(saw_element);

  // Every partition is committed up to its end, rejected messages included.
  auto committed = kafka.Committed("g1");
  auto ends = kafka.HighWatermarks();
  EXPECT_EQ(committed, ends);
  EXPECT_EQ(ends[0] + ends[1], 46);
}

// Nothing is stored while the sink fails, so nothing is committed: the events come again.
TEST(KafkaEventSourceTest, StopWhileSinkFailsCommitsNothing) {
  MockKafka kafka;
  kafka.Produce("u", EventJson(1));
  kafka.Flush();
  Collector c;
  c.fail_next = 1'000'000;
  auto source = KafkaEventSource::Create(ConfigFor(kafka, "g2"), c.sink(), c.reject_sink());
  ASSERT_TRUE(source.ok());
  ASSERT_TRUE((*source)->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return (*source)->stats().sink_failures >= 1; }));
  (*source)->Stop();
  (*source)->Stop();  // idempotent
  EXPECT_EQ(c.event_count(), 0u);
  EXPECT_EQ((*source)->stats().events, 0u);
  EXPECT_EQ((*source)->stats().offsets_stored, 0u);
  auto committed = kafka.Committed("g2");
  EXPECT_EQ(committed[0], RD_KAFKA_OFFSET_INVALID);
  EXPECT_EQ(committed[1], RD_KAFKA_OFFSET_INVALID);
}

TEST(KafkaEventSourceTest, CreateValidates) {
  Collector c;
  KafkaConfig config;
  auto empty = KafkaEventSource::Create(config, c.sink(), nullptr);
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);

  config.brokers = "127.0.0.1:1";
  config.properties["enable.auto.offset.store"] = "true";
  auto reserved = KafkaEventSource::Create(config, c.sink(), nullptr);
  EXPECT_EQ(reserved.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(reserved.status().message(), HasSubstr("enable.auto.offset.store"));

  config.properties.clear();
  config.properties["no.such.property"] = "1";
  auto unknown = KafkaEventSource::Create(config, c.sink(), nullptr);
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("no.such.property"));

  config.properties.clear();
  auto no_sink = KafkaEventSource::Create(config, nullptr, nullptr);
  EXPECT_EQ(no_sink.status().code(), StatusCode::kInvalidArgument);

  auto ok = KafkaEventSource::Create(config, c.sink(), nullptr);
  ASSERT_TRUE(ok.ok());
  (*ok)->Stop();  // never started
  EXPECT_EQ((*ok)->Start().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace pulse::ingest

namespace pulse {
namespace {

TEST(KafkaConfigTest, ParsesTheKafkaSection) {
  auto config = ParseConfigYaml(R"(
kafka:
  brokers: 127.0.0.1:9092
  topic: clicks
  group_id: nearline
  batch_max_events: 500
  poll_timeout_ms: 50
  properties: {auto.offset.reset: latest, fetch.wait.max.ms: 10}
)");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->kafka.brokers, "127.0.0.1:9092");
  EXPECT_EQ(config->kafka.topic, "clicks");
  EXPECT_EQ(config->kafka.group_id, "nearline");
  EXPECT_EQ(config->kafka.batch_max_events, 500);
  EXPECT_EQ(config->kafka.poll_timeout_ms, 50);
  EXPECT_EQ(config->kafka.properties.at("auto.offset.reset"), "latest");
  EXPECT_EQ(config->kafka.properties.at("fetch.wait.max.ms"), "10");

  auto defaults = ParseConfigYaml("");
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->kafka.brokers.empty());  // off by default

  EXPECT_THAT(ParseConfigYaml("kafka: {brokerz: x}").status().message(),
              ::testing::HasSubstr("kafka.brokerz"));
  EXPECT_THAT(ParseConfigYaml("kafka: {batch_max_events: 0}").status().message(),
              ::testing::HasSubstr("kafka.batch_max_events"));
  EXPECT_THAT(ParseConfigYaml("kafka: {properties: [a]}").status().message(),
              ::testing::HasSubstr("kafka.properties"));
  EXPECT_THAT(ParseConfigYaml("kafka: {brokers: x, topic: ''}").status().message(),
              ::testing::HasSubstr("kafka.topic"));
}

}  // namespace
}  // namespace pulse
