#include "ingest/kafka_source.h"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <string_view>
#include <utility>

#include "core/log.h"
#include "core/strings.h"
#include "ingest/json_codec.h"
#include "nlohmann/json.hpp"

namespace pulse::ingest {
namespace {

constexpr char kLog[] = "kafka";
constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kMaxBackoff = std::chrono::milliseconds(2000);

// Properties the at-least-once contract depends on: a passthrough may not change them.
bool IsReservedProperty(const std::string& key) {
  return key == "enable.auto.offset.store" || key == "group.id" || key == "bootstrap.servers";
}

}  // namespace

struct KafkaEventSource::Impl {
  KafkaConfig config;
  Sink sink;
  RejectSink on_reject;
  rd_kafka_t* rk = nullptr;

  std::mutex stop_mu;  // serializes Start/Stop
  bool started = false;
  bool stopped = false;
  std::thread thread;

  std::atomic<bool> stopping{false};
  std::mutex wake_mu;  // lets Stop() cut a retry backoff short
  std::condition_variable wake_cv;

  mutable std::mutex stats_mu;
  Stats stats;  // guarded by stats_mu

  // The batch in hand; consumer thread only (the rebalance callback runs inside poll on it).
  std::vector<Event> pending;
  std::map<std::pair<std::string, int32_t>, int64_t> next_offsets;  // offset to commit per part
  std::chrono::steady_clock::time_point batch_started;

  ~Impl() {
    if (rk != nullptr) rd_kafka_destroy(rk);
  }

  template <typename F>
  void Count(F f) {
    std::lock_guard<std::mutex> lock(stats_mu);
    f(stats);
  }

  void Reject(const rd_kafka_message_t* msg, std::string_view key, std::string payload,
              Status reason) {
    Count([](Stats& s) { ++s.rejected; });
    if (!on_reject) return;
    KafkaReject r;
    r.topic = rd_kafka_topic_name(msg->rkt);
    r.partition = msg->partition;
    r.offset = msg->offset;
    r.key = std::string(key);
    r.payload = std::move(payload);
    r.reason = std::move(reason);
    on_reject(r);
  }

  // Turns one message into events (appended to `pending`) and rejects.
  void Parse(const rd_kafka_message_t* msg) {
    std::string_view key;
    if (msg->key != nullptr)
      key = std::string_view(static_cast<const char*>(msg->key), msg->key_len);
    std::string_view value;
    if (msg->payload != nullptr) {
      value = std::string_view(static_cast<const char*>(msg->payload), msg->len);
    }
    nlohmann::json doc = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) {
      Reject(msg, key, std::string(value), InvalidArgumentError("message value is not valid JSON"));
      return;
    }
    if (doc.is_object()) {
      Result<Event> event = EventFromJson(doc);
      if (!event.ok()) {
        Reject(msg, key, std::string(value), event.status());
        return;
      }
      pending.push_back(std::move(*event));
      return;
    }
    if (doc.is_array()) {
      for (size_t i = 0; i < doc.size(); ++i) {
        Result<Event> event = EventFromJson(doc[i]);
        if (!event.ok()) {
          Reject(msg, key, doc[i].dump(),
                 InvalidArgumentError(StrCat("events[", i, "]: ", event.status().message())));
          continue;
        }
        pending.push_back(std::move(*event));
      }
      return;
    }
    Reject(msg, key, std::string(value),
           InvalidArgumentError("message value must be a JSON event object or an array of them"));
  }

  void Add(const rd_kafka_message_t* msg) {
    if (next_offsets.empty()) batch_started = std::chrono::steady_clock::now();
    Count([](Stats& s) { ++s.messages; });
    Parse(msg);
    auto& next = next_offsets[{rd_kafka_topic_name(msg->rkt), msg->partition}];
    next = std::max(next, msg->offset + 1);
  }

  bool BatchDue() const {
    if (next_offsets.empty()) return false;
    if (pending.size() >= static_cast<size_t>(config.batch_max_events)) return true;
    return std::chrono::steady_clock::now() - batch_started >=
           std::chrono::milliseconds(config.poll_timeout_ms);
  }

  // Makes the batch durable through the sink, then stores its offsets. Retries a failing sink
  // until it succeeds or Stop() is called; on giving up nothing of the batch is stored, so its
  // messages are delivered again (to this group) later.
  bool Flush() {
    if (next_offsets.empty()) return true;
    auto backoff = kFirstBackoff;
    while (!pending.empty()) {
      Status status = sink(pending);
      if (status.ok()) {
        const uint64_t n = pending.size();
        Count([n](Stats& s) {
          s.events += n;
          ++s.batches;
        });
        break;
      }
      Count([](Stats& s) { ++s.sink_failures; });
      LOG_WARN(kLog, "sink failed, retrying the batch: ", status.ToString());
      std::unique_lock<std::mutex> lock(wake_mu);
      if (wake_cv.wait_for(lock, backoff, [this] { return stopping.load(); })) {
        pending.clear();
        next_offsets.clear();
        return false;
      }
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
    StoreOffsets();
    pending.clear();
    next_offsets.clear();
    return true;
  }

  void StoreOffsets() {
    rd_kafka_topic_partition_list_t* list =
        rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size()));
    for (const auto& [tp, offset] : next_offsets) {
      rd_kafka_topic_partition_list_add(list, tp.first.c_str(), tp.second)->offset = offset;
    }
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(rk, list);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Count([](Stats& s) { ++s.offsets_stored; });
    } else {
      // A partition no longer assigned: its new owner re-reads from the last commit and the
      // sink's idempotence drops what was already written.
      LOG_WARN(kLog, "offsets store: ", rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(list);
  }

  void CommitSync(const char* why) {
    rd_kafka_resp_err_t err = rd_kafka_commit(rk, nullptr, /*async=*/0);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Count([](Stats& s) { ++s.commits; });
    } else if (err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
      LOG_WARN(kLog, "commit on ", why, " failed: ", rd_kafka_err2str(err));
    }
  }

  void OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions) {
    Count([](Stats& s) { ++s.rebalances; });
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      LOG_INFO(kLog, "assigned ", partitions->cnt, " partition(s)");
      if (cooperative) {
        rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, partitions);
        if (e != nullptr) {
          LOG_WARN(kLog, "incremental assign: ", rd_kafka_error_string(e));
          rd_kafka_error_destroy(e);
        }
      } else {
        rd_kafka_assign(rk, partitions);
      }
      return;
    }
    // Revoke (or lost): finish the batch in hand so its offsets are stored, then commit them
    // before the partitions move, so the next owner starts after what is durable here.
    LOG_INFO(kLog, "revoking ", partitions->cnt, " partition(s)");
    Flush();
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk)) {
      CommitSync("revoke");
    }
    if (cooperative) {
      rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, partitions);
      if (e != nullptr) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, nullptr);
    }
  }

  static void RebalanceCb(rd_kafka_t*, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    static_cast<Impl*>(opaque)->OnRebalance(err, partitions);
  }

  static void ErrorCb(rd_kafka_t*, int err, const char* reason, void* opaque) {
    static_cast<Impl*>(opaque)->Count([](Stats& s) { ++s.consumer_errors; });
    LOG_WARN(kLog, "librdkafka: ", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), ": ",
             reason);
  }

  static void LogCb(const rd_kafka_t*, int level, const char* fac, const char* buf) {
    if (level <= 3) {
      LOG_ERROR(kLog, fac, ": ", buf);
    } else if (level == 4) {
      LOG_WARN(kLog, fac, ": ", buf);
    } else {
      LOG_INFO(kLog, fac, ": ", buf);
    }
  }

  void Run() {
    while (!stopping.load()) {
      rd_kafka_message_t* msg = rd_kafka_consumer_poll(
          rk, static_cast<int>(std::min<int64_t>(config.poll_timeout_ms, 100)));
      if (msg != nullptr) {
        if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          Add(msg);
        } else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          Count([](Stats& s) { ++s.consumer_errors; });
          LOG_WARN(kLog, "consume: ", rd_kafka_message_errstr(msg));
        }
        rd_kafka_message_destroy(msg);
      }
      if (msg == nullptr || BatchDue()) Flush();
    }
    Flush();
    CommitSync("stop");
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      LOG_WARN(kLog, "consumer close: ", rd_kafka_err2str(err));
    }
  }
};

KafkaEventSource::KafkaEventSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaEventSource::~KafkaEventSource() { Stop(); }

Result<std::unique_ptr<KafkaEventSource>> KafkaEventSource::Create(const KafkaConfig& config,
                                                                   Sink sink,
                                                                   RejectSink on_reject) {
  if (config.brokers.empty()) return InvalidArgumentError("kafka.brokers: must not be empty");
  if (config.topic.empty()) return InvalidArgumentError("kafka.topic: must not be empty");
  if (config.group_id.empty()) return InvalidArgumentError("kafka.group_id: must not be empty");
  if (config.batch_max_events < 1) {
    return InvalidArgumentError("kafka.batch_max_events: must be >= 1");
  }
  if (config.poll_timeout_ms < 1)
    return InvalidArgumentError("kafka.poll_timeout_ms: must be >= 1");
  if (!sink) return InvalidArgumentError("kafka source: a sink is required");

  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->sink = std::move(sink);
  impl->on_reject = std::move(on_reject);

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  auto set = [&](const std::string& key, const std::string& value) -> Status {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      return InvalidArgumentError(StrCat("kafka property ", key, ": ", errstr));
    }
    return OkStatus();
  };
  Status status = [&]() -> Status {
    // Defaults a passthrough may change.
    RETURN_IF_ERROR(set("auto.offset.reset", "earliest"));
    RETURN_IF_ERROR(set("enable.auto.commit", "true"));
    RETURN_IF_ERROR(set("enable.partition.eof", "false"));
    RETURN_IF_ERROR(set("client.id", "pulse"));
    for (const auto& [key, value] : config.properties) {
      if (IsReservedProperty(key)) {
        return InvalidArgumentError(
            StrCat("kafka.properties.", key, ": set by Pulse and may not be overridden"));
      }
      RETURN_IF_ERROR(set(key, value));
    }
    RETURN_IF_ERROR(set("bootstrap.servers", config.brokers));
    RETURN_IF_ERROR(set("group.id", config.group_id));
    RETURN_IF_ERROR(set("enable.auto.offset.store", "false"));
    return OkStatus();
  }();
  if (!status.ok()) {
    rd_kafka_conf_destroy(conf);
    return status;
  }
  rd_kafka_conf_set_opaque(conf, impl.get());
  rd_kafka_conf_set_rebalance_cb(conf, &Impl::RebalanceCb);
  rd_kafka_conf_set_error_cb(conf, &Impl::ErrorCb);
  rd_kafka_conf_set_log_cb(conf, &Impl::LogCb);
  impl->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
  if (impl->rk == nullptr) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new frees it only on success
    return InvalidArgumentError(StrCat("kafka consumer: ", errstr));
  }
  rd_kafka_poll_set_consumer(impl->rk);
  return std::unique_ptr<KafkaEventSource>(new KafkaEventSource(std::move(impl)));
}

Status KafkaEventSource::Start() {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->started || impl_->stopped) {
    return FailedPreconditionError("kafka source: already started");
  }
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, impl_->config.topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(impl_->rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return UnavailableError(StrCat("kafka subscribe: ", rd_kafka_err2str(err)));
  }
  impl_->started = true;
  LOG_INFO(kLog, "consuming topic ", impl_->config.topic, " as group ", impl_->config.group_id);
  impl_->thread = std::thread([impl = impl_.get()] { impl->Run(); });
  return OkStatus();
}

void KafkaEventSource::Stop() {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  {
    std::lock_guard<std::mutex> wake(impl_->wake_mu);
    impl_->stopping.store(true);
  }
  impl_->wake_cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

KafkaEventSource::Stats KafkaEventSource::stats() const {
  std::lock_guard<std::mutex> lock(impl_->stats_mu);
  return impl_->stats;
}

}  // namespace pulse::ingest
