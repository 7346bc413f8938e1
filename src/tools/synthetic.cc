#include "tools/synthetic.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "core/strings.h"

namespace pulse::tools {
namespace {

constexpr int64_t kDayMs = 86'400'000;
constexpr double kPi = 3.14159265358979323846;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// std::mt19937_64's output sequence is fixed by the standard; everything built on it is here.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream) : engine_(SplitMix64(seed ^ SplitMix64(stream))) {}

  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }  // [0, 1)
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(engine_()) * n) >> 64);
  }
  double Normal() {
    double u1 = 1.0 - Uniform();  // (0, 1]
    double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
  }
  // Pareto with minimum 1 and shape `alpha`.
  double Pareto(double alpha) { return std::pow(1.0 - Uniform(), -1.0 / alpha); }

  template <typename T>
  void Shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[Below(i)]);
  }

 private:
  std::mt19937_64 engine_;
};

// Samples an index with probability proportional to its weight.
class Discrete {
 public:
  Discrete() = default;
  explicit Discrete(const std::vector<double>& weights) {
    cumulative_.reserve(weights.size());
    double sum = 0;
    for (double w : weights) cumulative_.push_back(sum += w);
  }
  size_t Sample(Rng& rng) const {
    double u = rng.Uniform() * cumulative_.back();
    size_t i = std::upper_bound(cumulative_.begin(), cumulative_.end(), u) - cumulative_.begin();
    return std::min(i, cumulative_.size() - 1);
  }
  bool empty() const { return cumulative_.empty(); }

 private:
  std::vector<double> cumulative_;
};

std::string TopicName(int t) { return StrCat("topic-", t < 10 ? "0" : "", t); }

constexpr const char* kAdjectives[] = {"Silent", "Golden", "Hidden", "Electric", "Lost",
                                       "Wild",   "Quiet",  "Bright", "Broken",   "Endless"};
constexpr const char* kNouns[] = {"River",  "Garden", "Signal", "Harbor", "Orbit",
                                  "Forest", "Engine", "Mirror", "Canyon", "Archive"};

struct Topic {
  std::vector<int> items;  // item indices
  Discrete popularity;     // over `items`
  int oldest = -1;         // item created first (fallback when sampled items are too new)
};

struct Taste {
  std::vector<int> topics;
  Discrete weights;
};

}  // namespace

SyntheticData GenerateSynthetic(const SyntheticParams& params) {
  const int num_topics = std::max(1, params.topics);
  const int num_items = std::max(1, params.items);
  const int num_users = std::max(1, params.users);
  const int64_t window_ms = std::max(1, params.days) * kDayMs;
  const int64_t window_start = params.end_ms - window_ms;
  const uint64_t seed = params.seed;

  SyntheticData data;

  // ---- topics: uneven global appeal (Zipf 0.7 over shuffled ranks) ----
  Rng topic_rng(seed, 1);
  std::vector<int> topic_rank(num_topics);
  for (int t = 0; t < num_topics; ++t) topic_rank[t] = t;
  topic_rng.Shuffle(topic_rank);
  std::vector<double> appeal(num_topics);
  for (int t = 0; t < num_topics; ++t) appeal[t] = 1.0 / std::pow(topic_rank[t] + 1.0, 0.7);
  Discrete topic_appeal(appeal);

  // ---- items ----
  Rng item_rng(seed, 2);
  std::vector<int> item_topic(num_items);
  for (int i = 0; i < num_items; ++i) {
    // The first `num_topics` items cover every topic once; the rest land by appeal.
    item_topic[i] = i < num_topics ? i : static_cast<int>(topic_appeal.Sample(item_rng));
  }
  item_rng.Shuffle(item_topic);
  std::vector<Topic> topics(num_topics);
  data.items.reserve(num_items);
  for (int i = 0; i < num_items; ++i) {
    Item item;
    item.item_id = StrCat("i", i + 1);
    const int t = item_topic[i];
    item.title =
        StrCat(kAdjectives[item_rng.Below(10)], " ", kNouns[item_rng.Below(10)], " ", i + 1);
    item.category = TopicName(t);
    item.tags = {item.category, StrCat("style-", item_rng.Below(5))};
    // Three quarters exist before the window (up to a year), the rest appear during it.
    if (item_rng.Uniform() < 0.75) {
      item.created_at_ms = window_start - static_cast<int64_t>(item_rng.Uniform() * 365 * kDayMs);
    } else {
      item.created_at_ms = window_start + static_cast<int64_t>(item_rng.Uniform() * 0.9 *
                                                               static_cast<double>(window_ms));
    }
    item.created_at_ms = std::max<int64_t>(item.created_at_ms, 0);
    topics[t].items.push_back(i);
    data.items.push_back(std::move(item));
  }
  for (Topic& topic : topics) {
    std::vector<int> ranks(topic.items.size());
    for (size_t r = 0; r < ranks.size(); ++r) ranks[r] = static_cast<int>(r);
    item_rng.Shuffle(ranks);
    std::vector<double> weights(ranks.size());
    for (size_t k = 0; k < ranks.size(); ++k) weights[k] = 1.0 / std::pow(ranks[k] + 1.0, 1.07);
    topic.popularity = Discrete(weights);
    for (int idx : topic.items) {
      if (topic.oldest < 0 ||
          data.items[idx].created_at_ms < data.items[topic.oldest].created_at_ms) {
        topic.oldest = idx;
      }
    }
  }

  // ---- activity: at least 5 events each, the rest Pareto-distributed ----
  Rng activity_rng(seed, 3);
  std::vector<double> activity(num_users);
  for (double& a : activity) a = std::min(activity_rng.Pareto(1.6), 50.0);
  std::vector<int64_t> counts(num_users, 5);
  const int64_t extra = std::max<int64_t>(0, params.events - int64_t{5} * num_users);
  double activity_sum = 0;
  for (double a : activity) activity_sum += a;
  int64_t assigned = 0;
  for (int u = 0; u < num_users; ++u) {
    int64_t share =
        static_cast<int64_t>(std::floor(static_cast<double>(extra) * activity[u] / activity_sum));
    counts[u] += share;
    assigned += share;
  }
  Discrete by_activity(activity);
  for (int64_t r = assigned; r < extra; ++r) ++counts[by_activity.Sample(activity_rng)];

  // ---- per-user histories ----
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  data.events.reserve(total);
  for (int u = 0; u < num_users; ++u) {
    Rng rng(seed, 1000 + static_cast<uint64_t>(u));
    const std::string user_id = StrCat("u", u + 1);
    const int64_t count = counts[u];

    // Taste: 1-3 main topics chosen by appeal, with random weights.
    double k_draw = rng.Uniform();
    int k = std::min(num_topics, k_draw < 0.4 ? 1 : k_draw < 0.8 ? 2 : 3);
    Taste before;
    std::vector<double> w;
    for (int tries = 0; static_cast<int>(before.topics.size()) < k && tries < 1000; ++tries) {
      int t = static_cast<int>(topic_appeal.Sample(rng));
      if (std::find(before.topics.begin(), before.topics.end(), t) == before.topics.end()) {
        before.topics.push_back(t);
        w.push_back(0.5 + rng.Uniform());
      }
    }
    before.weights = Discrete(w);

    // Drift: a quarter of users move 70% of their weight to a topic new to them.
    int64_t drift_at = count;
    int drift_topic = -1;
    if (num_topics > static_cast<int>(before.topics.size()) && rng.Uniform() < 0.25) {
      for (int tries = 0; tries < 1000 && drift_topic < 0; ++tries) {
        int t = tries < 50 ? static_cast<int>(topic_appeal.Sample(rng))
                           : static_cast<int>(rng.Below(num_topics));
        if (std::find(before.topics.begin(), before.topics.end(), t) == before.topics.end()) {
          drift_topic = t;
        }
      }
      if (drift_topic >= 0) {
        drift_at = static_cast<int64_t>(
            std::floor(static_cast<double>(count) * (0.55 + 0.3 * rng.Uniform())));
      }
    }

    // Active over a random stretch of the window.
    const double span = (0.3 + 0.7 * rng.Uniform()) * static_cast<double>(window_ms);
    const double begin =
        static_cast<double>(window_start) + rng.Uniform() * (static_cast<double>(window_ms) - span);
    std::vector<int64_t> times(count);
    for (int64_t& ts : times) ts = static_cast<int64_t>(begin + rng.Uniform() * span);
    std::sort(times.begin(), times.end());

    int previous_topic = -1;
    for (int64_t e = 0; e < count; ++e) {
      const int64_t ts = times[e];
      int topic;
      if (previous_topic >= 0 && rng.Uniform() < 0.3) {
        topic = previous_topic;  // session: stay on topic
      } else if (rng.Uniform() < 0.1) {
        topic = static_cast<int>(rng.Below(num_topics));  // exploration
      } else if (e >= drift_at && rng.Uniform() < 0.7) {
        topic = drift_topic;
      } else {
        topic = before.topics[before.weights.Sample(rng)];
      }
      const Topic& tp = topics[topic];
      if (tp.items.empty()) {
        // Only when there are fewer items than topics: fall back to any item.
        topic = item_topic[rng.Below(num_items)];
      }
      const Topic& chosen = topics[topic];
      int item = -1;
      for (int tries = 0; tries < 10; ++tries) {
        int candidate = chosen.items[chosen.popularity.Sample(rng)];
        if (data.items[candidate].created_at_ms <= ts) {
          item = candidate;
          break;
        }
      }
      if (item < 0) item = chosen.oldest;
      previous_topic = topic;

      Event event;
      event.user_id = user_id;
      event.item_id = data.items[item].item_id;
      event.ts_ms = ts;
      double r = rng.Uniform();
      if (r < 0.72) {
        event.type = EventType::kView;
      } else if (r < 0.90) {
        event.type = EventType::kClick;
      } else if (r < 0.98) {
        event.type = EventType::kDwell;
        double dwell = std::exp(std::log(30000.0) + 0.9 * rng.Normal());
        event.dwell_ms = static_cast<int64_t>(std::clamp(dwell, 1000.0, 3'600'000.0));
      } else {
        event.type = EventType::kPurchase;
      }
      data.events.push_back(std::move(event));
    }
  }

  // Time order; equal times keep user order (stable), so the result is fully determined.
  std::vector<size_t> order(data.events.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return data.events[a].ts_ms < data.events[b].ts_ms; });
  std::vector<Event> sorted;
  sorted.reserve(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    sorted.push_back(std::move(data.events[order[i]]));
    sorted.back().event_id = StrCat("e", i + 1);
  }
  data.events = std::move(sorted);
  return data;
}

}  // namespace pulse::tools
