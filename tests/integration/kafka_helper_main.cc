// tests/integration/kafka_helper_main.cc — helper processes for the Kafka integration test.
//
//   kafka_helper cluster <topic> <partitions> <brokers>
//     Runs a librdkafka mock cluster in this process (so consumers elsewhere can be killed
//     while it lives on). Prints "BOOTSTRAP <servers>", then obeys one command per stdin line,
//     answering "OK" or "ERR <why>":
//       errors <api_key> <count> <error_code>   rd_kafka_mock_push_request_errors
//       leader <partition> <broker_id>          rd_kafka_mock_partition_set_leader
//       down <broker_id> | up <broker_id>       rd_kafka_mock_broker_set_down / _up
//     Exits on EOF (so it dies with the test that started it).
//
//   kafka_helper consume <bootstrap> <topic> <group> <data_dir> [pause_after]
//     A tiny Pulse consumer: KafkaEventSource -> EventWriter -> DataDir. After each durable
//     batch prints "STORED <events in the data dir> DUPS <duplicates dropped so far>". With
//     pause_after, once the data dir holds that many events the sink blocks forever before
//     returning (so that batch's offsets are never stored) and prints "PAUSED" — a consumer
//     stuck mid-stream, for the test to SIGKILL. SIGTERM/SIGINT: Stop() (sync commit), exit 0.
//
//   kafka_helper bench <events> <data_dir>
//     Consume-rate measurement: an in-process mock cluster (3 brokers, 4 partitions) is filled
//     with <events> events, then one KafkaEventSource writes them durably into <data_dir>.
//     Prints the rate from the first stored batch to the last (group join excluded). The mock
//     keeps only a few MB per partition (about 150,000 such events in all): larger runs are
//     refused rather than measured on a trimmed topic.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "core/log.h"
#include "core/strings.h"
#include "ingest/event_writer.h"
#include "ingest/kafka_source.h"
#include "store/data_dir.h"

namespace {

using pulse::StrCat;

int Usage() {
  std::fprintf(stderr,
               "usage: kafka_helper cluster <topic> <partitions> <brokers>\n"
               "       kafka_helper consume <bootstrap> <topic> <group> <data_dir> [pause_after]\n"
               "       kafka_helper bench <events> <data_dir>\n");
  return 2;
}

rd_kafka_t* NewMockHandle(int brokers, rd_kafka_mock_cluster_t** cluster) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[256];
  rd_kafka_conf_set(conf, "test.mock.num.brokers", std::to_string(brokers).c_str(), err,
                    sizeof(err));
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (rk == nullptr) {
    std::fprintf(stderr, "rd_kafka_new: %s\n", err);
    std::exit(1);
  }
  *cluster = rd_kafka_handle_mock_cluster(rk);
  return rk;
}

int Cluster(const std::string& topic, int partitions, int brokers) {
  rd_kafka_mock_cluster_t* mc = nullptr;
  rd_kafka_t* rk = NewMockHandle(brokers, &mc);
  if (rd_kafka_mock_topic_create(mc, topic.c_str(), partitions, std::min(brokers, 3)) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr, "topic create failed\n");
    return 1;
  }
  std::printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mc));
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (cmd == "errors") {
      int api = 0, count = 0, code = 0;
      in >> api >> count >> code;
      std::vector<rd_kafka_resp_err_t> codes(count, static_cast<rd_kafka_resp_err_t>(code));
      rd_kafka_mock_push_request_errors_array(mc, static_cast<int16_t>(api), codes.size(),
                                              codes.data());
    } else if (cmd == "leader") {
      int partition = 0, broker = 0;
      in >> partition >> broker;
      err = rd_kafka_mock_partition_set_leader(mc, topic.c_str(), partition, broker);
    } else if (cmd == "down" || cmd == "up") {
      int broker = 0;
      in >> broker;
      err = cmd == "down" ? rd_kafka_mock_broker_set_down(mc, broker)
                          : rd_kafka_mock_broker_set_up(mc, broker);
    } else {
      std::printf("ERR unknown command\n");
      std::fflush(stdout);
      continue;
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::printf("OK\n");
    } else {
      std::printf("ERR %s\n", rd_kafka_err2str(err));
    }
    std::fflush(stdout);
  }
  rd_kafka_destroy(rk);
  return 0;
}

// Blocks SIGTERM/SIGINT in every thread (call before starting any) and waits for one.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int Consume(const std::string& bootstrap, const std::string& topic, const std::string& group,
            const std::string& dir, uint64_t pause_after) {
  sigset_t stop_signals = BlockStopSignals();
  auto data_dir = pulse::store::DataDir::Open(dir, pulse::StoreConfig{});
  if (!data_dir.ok()) {
    std::fprintf(stderr, "open: %s\n", data_dir.status().ToString().c_str());
    return 1;
  }
  pulse::ingest::EventWriter writer(data_dir->get(), 100'000);
  pulse::KafkaConfig config;
  config.brokers = bootstrap;
  config.topic = topic;
  config.group_id = group;
  config.batch_max_events = 50;
  config.poll_timeout_ms = 20;
  // A killed member is noticed after the session timeout; nothing is committed by the timer
  // during the test, so a kill re-delivers every uncommitted batch.
  config.properties = {{"session.timeout.ms", "6000"},
                       {"heartbeat.interval.ms", "500"},
                       {"auto.commit.interval.ms", "600000"},
                       {"log_level", "3"}};
  uint64_t dups = 0;
  auto source = pulse::ingest::KafkaEventSource::Create(
      config,
      [&](std::vector<pulse::Event> events) -> pulse::Status {
        auto r = writer.Submit(std::move(events));
        if (!r.ok()) return r.status();
        dups += r->duplicates;
        const uint64_t stored = (*data_dir)->EventCount();
        std::printf("STORED %llu DUPS %llu\n", static_cast<unsigned long long>(stored),
                    static_cast<unsigned long long>(dups));
        std::fflush(stdout);
        if (pause_after > 0 && stored >= pause_after) {
          std::printf("PAUSED\n");
          std::fflush(stdout);
          for (;;) pause();  // until SIGKILL
        }
        return pulse::OkStatus();
      },
      [](const pulse::ingest::KafkaReject& r) {
        std::fprintf(stderr, "reject: %s\n", r.reason.ToString().c_str());
      });
  if (!source.ok()) {
    std::fprintf(stderr, "create: %s\n", source.status().ToString().c_str());
    return 1;
  }
  if (auto s = (*source)->Start(); !s.ok()) {
    std::fprintf(stderr, "start: %s\n", s.ToString().c_str());
    return 1;
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  (*source)->Stop();
  writer.Stop();
  return 0;
}

int Bench(uint64_t n, const std::string& dir) {
  rd_kafka_mock_cluster_t* mc = nullptr;
  rd_kafka_t* producer = NewMockHandle(3, &mc);
  rd_kafka_mock_topic_create(mc, "bench", 4, 3);
  for (uint64_t i = 0; i < n; ++i) {
    std::string key = StrCat("u", i % 10'000);
    std::string value = StrCat(R"({"event_id":"e)", i, R"(","user_id":")", key, R"(","item_id":"i)",
                               i % 5'000, R"(","type":"view","ts":1700000000000})");
    while (rd_kafka_producev(
               producer, RD_KAFKA_V_TOPIC("bench"), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
               RD_KAFKA_V_KEY(key.data(), key.size()), RD_KAFKA_V_VALUE(value.data(), value.size()),
               RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(producer, 10);
    }
  }
  if (rd_kafka_flush(producer, 60'000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr, "produce did not finish\n");
    return 1;
  }
  // The mock keeps only a few MB per partition and trims the oldest messages beyond that.
  int64_t retained = 0;
  for (int32_t p = 0; p < 4; ++p) {
    int64_t low = 0, high = 0;
    rd_kafka_query_watermark_offsets(producer, "bench", p, &low, &high, 10'000);
    retained += high - low;
  }
  if (static_cast<uint64_t>(retained) != n) {
    std::fprintf(stderr, "the mock cluster retained %lld of %llu events; use fewer\n",
                 static_cast<long long>(retained), static_cast<unsigned long long>(n));
    return 1;
  }

  auto data_dir = pulse::store::DataDir::Open(dir, pulse::StoreConfig{});
  if (!data_dir.ok()) {
    std::fprintf(stderr, "open: %s\n", data_dir.status().ToString().c_str());
    return 1;
  }
  pulse::ingest::EventWriter writer(data_dir->get(), 1'000'000);
  pulse::KafkaConfig config;
  config.brokers = rd_kafka_mock_cluster_bootstraps(mc);
  config.topic = "bench";
  config.group_id = "bench";
  config.properties = {{"log_level", "3"}};
  std::atomic<uint64_t> stored{0};
  std::chrono::steady_clock::time_point first;
  auto source = pulse::ingest::KafkaEventSource::Create(
      config,
      [&](std::vector<pulse::Event> events) -> pulse::Status {
        if (stored.load() == 0) first = std::chrono::steady_clock::now();
        auto r = writer.Submit(std::move(events));
        if (!r.ok()) return r.status();
        stored += r->appended;
        return pulse::OkStatus();
      },
      nullptr);
  if (!source.ok() || !(*source)->Start().ok()) return 1;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (stored.load() < n) {
    if (std::chrono::steady_clock::now() > give_up) {
      auto st = (*source)->stats();
      std::fprintf(stderr, "gave up: %llu of %llu stored (%llu messages, %llu consumer errors)\n",
                   static_cast<unsigned long long>(stored.load()),
                   static_cast<unsigned long long>(n), static_cast<unsigned long long>(st.messages),
                   static_cast<unsigned long long>(st.consumer_errors));
      (*source)->Stop();
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - first).count();
  auto stats = (*source)->stats();
  (*source)->Stop();
  writer.Stop();
  std::printf("consumed %llu events in %.3f s: %.0f events/s (%llu durable batches)\n",
              static_cast<unsigned long long>(n), seconds, n / seconds,
              static_cast<unsigned long long>(stats.batches));
  rd_kafka_destroy(producer);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return Usage();
  if (args[0] == "cluster" && args.size() == 4) {
    return Cluster(args[1], std::atoi(args[2].c_str()), std::atoi(args[3].c_str()));
  }
  if (args[0] == "consume" && (args.size() == 5 || args.size() == 6)) {
    uint64_t pause_after = args.size() == 6 ? std::strtoull(args[5].c_str(), nullptr, 10) : 0;
    return Consume(args[1], args[2], args[3], args[4], pause_after);
  }
  if (args[0] == "bench" && args.size() == 3) {
    return Bench(std::strtoull(args[1].c_str(), nullptr, 10), args[2]);
  }
  return Usage();
}
