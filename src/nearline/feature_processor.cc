#include "nearline/feature_processor.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "nearline/neighbor_list.h"

namespace pulse::nearline {
namespace {

constexpr int64_t kNoTime = std::numeric_limits<int64_t>::min();
constexpr char kMagic[4] = {'P', 'N', 'L', 'F'};
constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kMaxSerializedString = 1 << 16;
// Timestamps beyond ±2^62 ms (146 million years) are treated as invalid, so clock arithmetic
// (ts ± lateness, now + max_future) can never overflow.
constexpr int64_t kMaxAbsTs = int64_t{1} << 62;

// Item counter slots.
constexpr int kSlotView = 0;
constexpr int kSlotClick = 1;
constexpr int kSlotImpression = 2;
constexpr int kSlotEngagement = 3;

double Decay(int64_t dt_ms, int64_t half_life_ms) {
  if (dt_ms <= 0 || half_life_ms <= 0) return 1.0;
  return std::exp2(-static_cast<double>(dt_ms) / static_cast<double>(half_life_ms));
}

// ---- binary encoding (little-endian, fixed width) ----
void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutI64(std::string& out, int64_t v) { PutU64(out, static_cast<uint64_t>(v)); }
void PutF64(std::string& out, double v) { PutU64(out, std::bit_cast<uint64_t>(v)); }
void PutStr(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool U32(uint32_t* v) {
    if (data_.size() - pos_ < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i)
      *v |= static_cast<uint32_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += 4;
    return true;
  }
  bool U64(uint64_t* v) {
    if (data_.size() - pos_ < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i)
      *v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    pos_ += 8;
    return true;
  }
  bool I64(int64_t* v) {
    uint64_t u;
    if (!U64(&u)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool F64(double* v) {
    uint64_t u;
    if (!U64(&u)) return false;
    *v = std::bit_cast<double>(u);
    return true;
  }
  bool Str(std::string* s) {
    uint32_t n;
    if (!U32(&n) || n > kMaxSerializedString || data_.size() - pos_ < n) return false;
    s->assign(data_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool Done() const { return pos_ == data_.size(); }
  size_t pos() const { return pos_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

template <typename Ring>
void PutRing(std::string& out, const Ring& ring) {
  PutU32(out, static_cast<uint32_t>(ring.buckets().size()));
  for (const auto& bucket : ring.buckets()) {
    PutI64(out, bucket.index);
    for (uint32_t c : bucket.counts) PutU32(out, c);
  }
}

template <typename Ring>
bool ReadRing(Reader& in, Ring* ring) {
  uint32_t n;
  if (!in.U32(&n) || n > static_cast<uint32_t>(Ring::kNumBuckets)) return false;
  auto& buckets = ring->mutable_buckets();
  buckets.clear();
  for (uint32_t i = 0; i < n; ++i) {
    typename Ring::Bucket bucket;
    if (!in.I64(&bucket.index)) return false;
    if (!buckets.empty() && bucket.index <= buckets.back().index) return false;
    for (uint32_t& c : bucket.counts) {
      if (!in.U32(&c)) return false;
    }
    buckets.push_back(bucket);
  }
  return true;
}

}  // namespace

struct FeatureProcessor::UserState {
  SparseRing<kNumEventTypes, kMinuteMs, 60> minutes;  // 1h by type
  SparseRing<kNumEventTypes, kHourMs, 168> hours;     // 24h and 7d by type
  struct Category {
    std::string name;
    int64_t last_ts = 0;
    SparseRing<1, kMinuteMs, 60> minutes;
    SparseRing<1, kHourMs, 168> hours;
  };
  std::vector<Category> categories;
  std::vector<RecentEngagement> recent;  // ascending by ts
  int64_t last_ts = kNoTime;
};

struct FeatureProcessor::ItemState {
  SparseRing<4, kMinuteMs, 60> minutes;  // 5m and 1h
  SparseRing<4, kHourMs, 24> hours;      // 24h
  NeighborList neighbors;                // at most max_neighbors (space-saving), in reading order
  int64_t neighbors_ts = kNoTime;
  int64_t last_ts = kNoTime;
  bool touched = false;  // listed in touched_items_ (not serialized)
};

FeatureProcessor::FeatureProcessor(ProcessorOptions options, CategoryLookup category_lookup)
    : options_(options),
      category_lookup_(std::move(category_lookup)),
      max_ts_(kNoTime),
      users_(new Shard<UserState>[kShards]),
      items_(new Shard<ItemState>[kShards]),
      trending_(std::make_shared<const std::vector<TrendingItem>>()) {
  recent_ids_.reserve(std::min<size_t>(options_.dedup_capacity, size_t{1} << 20));
}

FeatureProcessor::~FeatureProcessor() = default;

FeatureProcessor::Shard<FeatureProcessor::UserState>& FeatureProcessor::UserShard(
    std::string_view id) const {
  return users_[StringHash{}(id) % kShards];
}

FeatureProcessor::Shard<FeatureProcessor::ItemState>& FeatureProcessor::ItemShard(
    std::string_view id) const {
  return ItemShardOfHash(StringHash{}(id));
}

FeatureProcessor::Shard<FeatureProcessor::ItemState>& FeatureProcessor::ItemShardOfHash(
    size_t hash) const {
  // A different mix than users so a user and an item with the same id do not share a shard.
  return items_[(hash * 0x9E3779B97F4A7C15ull >> 32) % kShards];
}

int64_t FeatureProcessor::watermark() const {
  int64_t max_ts = max_event_ts();
  return max_ts == kNoTime ? kNoTime : max_ts - options_.allowed_lateness_ms;
}

ProcessorCounters FeatureProcessor::counters() const {
  std::lock_guard<std::mutex> lock(counters_mu_);
  return published_totals_;
}

size_t FeatureProcessor::num_users() const {
  size_t n = 0;
  for (size_t i = 0; i < kShards; ++i) {
    std::shared_lock lock(users_[i].mu);
    n += users_[i].map.size();
  }
  return n;
}

size_t FeatureProcessor::num_items() const {
  size_t n = 0;
  for (size_t i = 0; i < kShards; ++i) {
    std::shared_lock lock(items_[i].mu);
    n += items_[i].map.size();
  }
  return n;
}

ApplyStats FeatureProcessor::Apply(std::span<const Event> events, int64_t now_ms) {
  ApplyStats stats;
  stats.freshness_seconds.reserve(events.size());
  ProcessorCounters before = totals_;
  for (const Event& event : events) {
    int64_t applied_before = totals_.applied;
    ApplyOne(event, now_ms);
    if (totals_.applied != applied_before) {
      stats.freshness_seconds.push_back(static_cast<double>(now_ms - event.ts_ms) / 1000.0);
    }
  }
  stats.applied = totals_.applied - before.applied;
  stats.late_applied = totals_.late_applied - before.late_applied;
  stats.duplicates = totals_.duplicates - before.duplicates;
  stats.too_late = totals_.too_late - before.too_late;
  stats.too_future = totals_.too_future - before.too_future;
  stats.invalid = totals_.invalid - before.invalid;
  RefreshTrending(/*full_scan=*/false);
  std::lock_guard<std::mutex> lock(counters_mu_);
  published_totals_ = totals_;
  return stats;
}

void FeatureProcessor::AdvanceTo(int64_t ts_ms) {
  if (ts_ms <= max_event_ts() || ts_ms > kMaxAbsTs) return;
  max_ts_.store(ts_ms, std::memory_order_release);
  RefreshTrending(/*full_scan=*/true);
}

void FeatureProcessor::ApplyOne(const Event& event, int64_t now_ms) {
  if (event.user_id.empty() || event.item_id.empty() || event.ts_ms > kMaxAbsTs ||
      event.ts_ms < -kMaxAbsTs || now_ms > kMaxAbsTs || now_ms < -kMaxAbsTs) {
    ++totals_.invalid;
    return;
  }
  if (event.ts_ms > now_ms + options_.max_future_ms) {
    ++totals_.too_future;
    return;
  }
  if (!event.event_id.empty() && recent_ids_.contains(event.event_id)) {
    ++totals_.duplicates;
    return;
  }
  const int64_t old_max = max_event_ts();
  if (old_max != kNoTime && event.ts_ms < old_max - options_.allowed_lateness_ms) {
    ++totals_.too_late;
    return;
  }
  const bool late = old_max != kNoTime && event.ts_ms < old_max;
  const int64_t now = late ? old_max : event.ts_ms;
  if (!late) max_ts_.store(now, std::memory_order_release);
  const int type = static_cast<int>(event.type);
  const bool engagement = IsEngagement(event.type);

  std::string previous_item;  // co-visitation partner, if any
  {
    Shard<UserState>& shard = UserShard(event.user_id);
    std::unique_lock lock(shard.mu);
    auto it = shard.map.find(event.user_id);
    if (it == shard.map.end()) {
      EvictUsers(shard);
      it = shard.map.emplace(event.user_id, UserState()).first;
    }
    UserState& user = it->second;
    user.last_ts = std::max(user.last_ts, event.ts_ms);
    user.minutes.Add(event.ts_ms, type, 1, now);
    user.hours.Add(event.ts_ms, type, 1, now);
    if (engagement) {
      std::string_view category = category_lookup_ ? category_lookup_(event.item_id) : "";
      if (!category.empty() && options_.max_categories_per_user > 0) {
        auto cat = std::find_if(user.categories.begin(), user.categories.end(),
                                [&](const UserState::Category& c) { return c.name == category; });
        if (cat == user.categories.end()) {
          if (user.categories.size() >= options_.max_categories_per_user) {
            // Replace the category engaged least recently: its windows are the emptiest.
            cat = std::min_element(user.categories.begin(), user.categories.end(),
                                   [](const UserState::Category& a, const UserState::Category& b) {
                                     return a.last_ts < b.last_ts;
                                   });
            *cat = UserState::Category();
          } else {
            cat = user.categories.emplace(user.categories.end());
          }
          cat->name.assign(category);
        }
        cat->last_ts = std::max(cat->last_ts, event.ts_ms);
        cat->minutes.Add(event.ts_ms, 0, 1, now);
        cat->hours.Add(event.ts_ms, 0, 1, now);
      }
      if (options_.recent_items_per_user > 0) {
        auto& recent = user.recent;
        auto pos =
            std::upper_bound(recent.begin(), recent.end(), event.ts_ms,
                             [](int64_t ts, const RecentEngagement& r) { return ts < r.ts_ms; });
        if (pos != recent.begin()) {
          const RecentEngagement& prev = *std::prev(pos);
          if (prev.item_id != event.item_id &&
              event.ts_ms - prev.ts_ms <= options_.session_gap_ms) {
            previous_item = prev.item_id;
          }
        }
        // One entry per item: its newest engagement.
        auto same = std::find_if(recent.begin(), recent.end(), [&](const RecentEngagement& r) {
          return r.item_id == event.item_id;
        });
        if (same == recent.end() || same->ts_ms < event.ts_ms) {
          if (same != recent.end()) recent.erase(same);
          pos =
              std::upper_bound(recent.begin(), recent.end(), event.ts_ms,
                               [](int64_t ts, const RecentEngagement& r) { return ts < r.ts_ms; });
          recent.insert(pos, RecentEngagement{event.item_id, event.ts_ms});
        }
        if (recent.size() > options_.recent_items_per_user) {
          recent.erase(recent.begin(),
                       recent.begin() +
                           static_cast<ptrdiff_t>(recent.size() - options_.recent_items_per_user));
        }
      }
    }
  }
  {
    Shard<ItemState>& shard = ItemShard(event.item_id);
    std::unique_lock lock(shard.mu);
    auto it = shard.map.find(event.item_id);
    if (it == shard.map.end()) {
      EvictItems(shard);
      it = shard.map.emplace(event.item_id, ItemState()).first;
    }
    ItemState& item = it->second;
    item.last_ts = std::max(item.last_ts, event.ts_ms);
    int slot = -1;
    if (event.type == EventType::kView) slot = kSlotView;
    if (event.type == EventType::kClick) slot = kSlotClick;
    if (event.type == EventType::kImpression) slot = kSlotImpression;
    if (slot >= 0) {
      item.minutes.Add(event.ts_ms, slot, 1, now);
      item.hours.Add(event.ts_ms, slot, 1, now);
    }
    if (engagement) {
      item.minutes.Add(event.ts_ms, kSlotEngagement, 1, now);
      item.hours.Add(event.ts_ms, kSlotEngagement, 1, now);
      if (!item.touched && options_.trending_capacity > 0) {
        item.touched = true;
        touched_items_.emplace_back(&it->first, &item);
      }
    }
  }
  if (!previous_item.empty() && options_.max_neighbors > 0) {
    AddCovisit(previous_item, event.item_id, event.ts_ms);
    AddCovisit(event.item_id, previous_item, event.ts_ms);
  }
  if (!event.event_id.empty()) RememberId(event.event_id);
  ++totals_.applied;
  if (late) ++totals_.late_applied;
}

void FeatureProcessor::AddCovisit(const std::string& from, const std::string& to, int64_t ts_ms) {
  Shard<ItemState>& shard = ItemShard(from);
  std::unique_lock lock(shard.mu);
  auto it = shard.map.find(from);
  if (it == shard.map.end()) {
    EvictItems(shard);
    it = shard.map.emplace(from, ItemState()).first;
  }
  ItemState& item = it->second;
  double increment = 1.0;
  if (item.neighbors_ts == kNoTime) {
    item.neighbors_ts = ts_ms;
  } else if (ts_ms > item.neighbors_ts) {
    item.neighbors.Scale(Decay(ts_ms - item.neighbors_ts, options_.covisit_half_life_ms));
    item.neighbors_ts = ts_ms;
  } else {
    increment = Decay(item.neighbors_ts - ts_ms, options_.covisit_half_life_ms);
  }
  // Space-saving: a new neighbour past the cap takes over the lightest counter and inherits its
  // weight, so a counter over-estimates by at most the weight it inherited and heavy neighbours
  // are never lost.
  item.neighbors.Add(to, increment, options_.max_neighbors);
}

void FeatureProcessor::RememberId(const std::string& id) {
  if (options_.dedup_capacity == 0) return;
  recent_ids_.insert(id);
  recent_id_order_.push_back(id);
  while (recent_id_order_.size() > options_.dedup_capacity) {
    recent_ids_.erase(recent_id_order_.front());
    recent_id_order_.pop_front();
  }
}

// Evicts the entries with the oldest last event when a shard is at its share of the cap. Called
// with the shard's lock held, before an insertion. Evicting 1/8 of the share at once keeps the
// O(shard) scan amortised to O(1) per insertion.
template <typename Map, typename OnEvict>
static size_t EvictOldest(Map& map, size_t share, OnEvict on_evict) {
  if (map.size() < share) return 0;
  size_t evict = std::max<size_t>(1, share / 8);
  evict = std::min(evict, map.size());
  std::vector<std::pair<int64_t, const std::string*>> ages;
  ages.reserve(map.size());
  for (const auto& [key, state] : map) ages.emplace_back(state.last_ts, &key);
  std::nth_element(ages.begin(), ages.begin() + static_cast<ptrdiff_t>(evict - 1), ages.end());
  std::vector<std::string> victims;
  victims.reserve(evict);
  for (size_t i = 0; i < evict; ++i) victims.push_back(*ages[i].second);
  for (const auto& key : victims) {
    auto it = map.find(key);
    on_evict(it->second);
    map.erase(it);
  }
  return evict;
}

void FeatureProcessor::EvictUsers(Shard<UserState>& shard) {
  size_t share = std::max<size_t>(1, options_.max_users / kShards);
  totals_.evicted_users +=
      static_cast<int64_t>(EvictOldest(shard.map, share, [](const UserState&) {}));
}

void FeatureProcessor::EvictItems(Shard<ItemState>& shard) {
  size_t share = std::max<size_t>(1, options_.max_items / kShards);
  totals_.evicted_items += static_cast<int64_t>(EvictOldest(shard.map, share, [&](ItemState& item) {
    if (!item.touched) return;
    auto pos = std::find_if(touched_items_.begin(), touched_items_.end(),
                            [&](const auto& t) { return t.second == &item; });
    if (pos != touched_items_.end()) touched_items_.erase(pos);
  }));
}

double FeatureProcessor::Velocity(const ItemState& item, int64_t now_ms) const {
  double short_count = static_cast<double>(item.minutes.Sum(now_ms, 60, kSlotEngagement));
  double long_count = static_cast<double>(item.hours.Sum(now_ms, 24, kSlotEngagement));
  return short_count / (long_count / 24.0 + options_.trending_prior);
}

void FeatureProcessor::RefreshTrending(bool full_scan) {
  if (options_.trending_capacity == 0) return;
  const int64_t now = max_event_ts();
  std::vector<TrendingItem> ranked;
  // The writer is the only mutator, so it reads its own shards without locking.
  auto consider = [&](const std::string& id, const ItemState& item) {
    double velocity = Velocity(item, now);
    if (velocity <= 0) return;
    ranked.push_back({id, velocity, item.minutes.Sum(now, 60, kSlotEngagement)});
  };
  if (full_scan) {
    for (size_t i = 0; i < kShards; ++i) {
      for (const auto& [id, item] : items_[i].map) consider(id, item);
    }
  } else {
    if (touched_items_.empty() && trending_->empty()) return;
    for (const auto& [id, item] : touched_items_) consider(*id, *item);
    for (const TrendingItem& t : *trending_) {
      auto& shard = ItemShard(t.item_id);
      auto it = shard.map.find(t.item_id);
      if (it != shard.map.end() && !it->second.touched) consider(it->first, it->second);
    }
  }
  for (const auto& [id, item] : touched_items_) item->touched = false;
  touched_items_.clear();
  auto order = [](const TrendingItem& a, const TrendingItem& b) {
    if (a.velocity != b.velocity) return a.velocity > b.velocity;
    if (a.engagements_1h != b.engagements_1h) return a.engagements_1h > b.engagements_1h;
    return a.item_id < b.item_id;
  };
  size_t keep = std::min(ranked.size(), options_.trending_capacity);
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(keep), ranked.end(),
                    order);
  ranked.resize(keep);
  auto snapshot = std::make_shared<const std::vector<TrendingItem>>(std::move(ranked));
  std::lock_guard<std::mutex> lock(trending_mu_);
  trending_ = std::move(snapshot);
}

std::optional<UserFeatures> FeatureProcessor::User(std::string_view user_id) const {
  const int64_t now = max_event_ts();
  Shard<UserState>& shard = UserShard(user_id);
  std::shared_lock lock(shard.mu);
  auto it = shard.map.find(user_id);
  if (it == shard.map.end()) return std::nullopt;
  const UserState& user = it->second;
  UserFeatures features;
  features.as_of_ms = now;
  for (int t = 0; t < kNumEventTypes; ++t) {
    features.counts[kUser1h][t] = user.minutes.Sum(now, 60, t);
    features.counts[kUser24h][t] = user.hours.Sum(now, 24, t);
    features.counts[kUser7d][t] = user.hours.Sum(now, 168, t);
  }
  std::vector<const UserState::Category*> categories;
  for (const auto& c : user.categories) categories.push_back(&c);
  std::sort(categories.begin(), categories.end(),
            [](const auto* a, const auto* b) { return a->last_ts > b->last_ts; });
  for (const auto* c : categories) {
    CategoryCounts counts;
    counts.category = c->name;
    counts.engagements[kUser1h] = c->minutes.Sum(now, 60, 0);
    counts.engagements[kUser24h] = c->hours.Sum(now, 24, 0);
    counts.engagements[kUser7d] = c->hours.Sum(now, 168, 0);
    features.categories.push_back(std::move(counts));
  }
  features.clicks_24h = features.counts[kUser24h][static_cast<int>(EventType::kClick)];
  features.impressions_24h = features.counts[kUser24h][static_cast<int>(EventType::kImpression)];
  features.ctr_24h =
      features.impressions_24h > 0
          ? static_cast<double>(features.clicks_24h) / static_cast<double>(features.impressions_24h)
          : 0.0;
  features.recent.assign(user.recent.rbegin(), user.recent.rend());
  return features;
}

std::optional<ItemFeatures> FeatureProcessor::Item(std::string_view item_id) const {
  const int64_t now = max_event_ts();
  Shard<ItemState>& shard = ItemShard(item_id);
  std::shared_lock lock(shard.mu);
  auto it = shard.map.find(item_id);
  if (it == shard.map.end()) return std::nullopt;
  const ItemState& item = it->second;
  ItemFeatures features;
  features.as_of_ms = now;
  const int slots[3] = {kSlotView, kSlotClick, kSlotEngagement};
  std::array<int64_t, kNumItemWindows>* outs[3] = {&features.views, &features.clicks,
                                                   &features.engagements};
  for (int s = 0; s < 3; ++s) {
    (*outs[s])[kItem5m] = item.minutes.Sum(now, 5, slots[s]);
    (*outs[s])[kItem1h] = item.minutes.Sum(now, 60, slots[s]);
    (*outs[s])[kItem24h] = item.hours.Sum(now, 24, slots[s]);
  }
  features.trending_velocity = Velocity(item, now);
  return features;
}

TrendingSnapshot FeatureProcessor::Trending() const {
  std::lock_guard<std::mutex> lock(trending_mu_);
  return trending_;
}

double FeatureProcessor::NeighborDecay(const ItemState& item, int64_t now) const {
  // One factor for the whole list: it was decayed as a unit to neighbors_ts.
  return item.neighbors_ts == kNoTime
             ? 1.0
             : Decay(now - item.neighbors_ts, options_.covisit_half_life_ms);
}

std::vector<Neighbor> FeatureProcessor::Neighbors(std::string_view item_id, size_t k) const {
  const int64_t now = max_event_ts();
  std::vector<Neighbor> out;
  Shard<ItemState>& shard = ItemShard(item_id);
  std::shared_lock lock(shard.mu);
  auto it = shard.map.find(item_id);
  if (it == shard.map.end()) return out;
  // The list is kept in reading order: its first k are the answer.
  const NeighborList& counters = it->second.neighbors;
  const size_t keep = std::min(k, counters.size());
  const double factor = NeighborDecay(it->second, now);
  out.reserve(keep);
  for (size_t i = 0; i < keep; ++i) {
    out.push_back({counters.id(i), counters.weight(i) * factor});
  }
  return out;
}

void FeatureProcessor::ResolvedNeighbors(std::string_view item_id, size_t k,
                                         const ItemIdResolver& resolver,
                                         std::vector<ResolvedNeighbor>* out) const {
  const int64_t now = max_event_ts();
  out->clear();
  const HashedId key{item_id, StringHash{}(item_id)};
  Shard<ItemState>& shard = ItemShardOfHash(key.hash);
  std::shared_lock lock(shard.mu);
  auto it = shard.map.find(key);
  if (it == shard.map.end()) return;
  // Same ranking and weights as Neighbors; the ids are mapped, not copied.
  const NeighborList& counters = it->second.neighbors;
  const size_t keep = std::min(k, counters.size());
  const double factor = NeighborDecay(it->second, now);
  // Written in place: a pushed struct is assembled on the stack by piecewise stores and read
  // back whole, which stalls store forwarding on every neighbour.
  out->resize(keep);
  for (size_t i = 0; i < keep; ++i) {
    (*out)[i].item = counters.Resolve(i, resolver);
    (*out)[i].weight = counters.weight(i) * factor;
  }
}

std::string FeatureProcessor::Serialize() const {
  std::string out;
  out.append(kMagic, 4);
  PutU32(out, kFormatVersion);
  PutI64(out, max_event_ts());
  for (int64_t v :
       {totals_.applied, totals_.late_applied, totals_.duplicates, totals_.too_late,
        totals_.too_future, totals_.invalid, totals_.evicted_users, totals_.evicted_items}) {
    PutI64(out, v);
  }
  PutU64(out, recent_id_order_.size());
  for (const std::string& id : recent_id_order_) PutStr(out, id);
  uint64_t users = 0;
  for (size_t i = 0; i < kShards; ++i) users += users_[i].map.size();
  PutU64(out, users);
  for (size_t i = 0; i < kShards; ++i) {
    std::shared_lock lock(users_[i].mu);
    for (const auto& [id, user] : users_[i].map) {
      PutStr(out, id);
      PutI64(out, user.last_ts);
      PutRing(out, user.minutes);
      PutRing(out, user.hours);
      PutU32(out, static_cast<uint32_t>(user.categories.size()));
      for (const auto& c : user.categories) {
        PutStr(out, c.name);
        PutI64(out, c.last_ts);
        PutRing(out, c.minutes);
        PutRing(out, c.hours);
      }
      PutU32(out, static_cast<uint32_t>(user.recent.size()));
      for (const auto& r : user.recent) {
        PutStr(out, r.item_id);
        PutI64(out, r.ts_ms);
      }
    }
  }
  uint64_t items = 0;
  for (size_t i = 0; i < kShards; ++i) items += items_[i].map.size();
  PutU64(out, items);
  for (size_t i = 0; i < kShards; ++i) {
    std::shared_lock lock(items_[i].mu);
    for (const auto& [id, item] : items_[i].map) {
      PutStr(out, id);
      PutI64(out, item.last_ts);
      PutRing(out, item.minutes);
      PutRing(out, item.hours);
      PutI64(out, item.neighbors_ts);
      PutU32(out, static_cast<uint32_t>(item.neighbors.size()));
      // Arrival order: the bytes the unordered list wrote, and Restore's trim depends on it.
      item.neighbors.ForEachInArrivalOrder([&out](std::string_view neighbor, double weight) {
        PutStr(out, neighbor);
        PutF64(out, weight);
      });
    }
  }
  return out;
}

Result<std::unique_ptr<FeatureProcessor>> FeatureProcessor::Restore(
    std::string_view data, ProcessorOptions options, CategoryLookup category_lookup) {
  if (data.size() < 8 || data.substr(0, 4) != std::string_view(kMagic, 4)) {
    return DataLossError("nearline checkpoint: bad magic (not a feature processor checkpoint)");
  }
  Reader in(data.substr(4));
  uint32_t version = 0;
  if (!in.U32(&version)) return DataLossError("nearline checkpoint: truncated header");
  if (version != kFormatVersion) {
    return FailedPreconditionError(StrCat("nearline checkpoint: format version ", version,
                                          " is not readable (expected ", kFormatVersion, ")"));
  }
  auto corrupt = [&](std::string_view what) {
    return DataLossError(
        StrCat("nearline checkpoint: corrupt or truncated ", what, " at byte ", in.pos() + 4));
  };
  auto processor = std::make_unique<FeatureProcessor>(options, std::move(category_lookup));
  int64_t max_ts;
  if (!in.I64(&max_ts) || (max_ts != kNoTime && (max_ts > kMaxAbsTs || max_ts < -kMaxAbsTs))) {
    return corrupt("header");
  }
  processor->max_ts_.store(max_ts);
  ProcessorCounters& t = processor->totals_;
  for (int64_t* v : {&t.applied, &t.late_applied, &t.duplicates, &t.too_late, &t.too_future,
                     &t.invalid, &t.evicted_users, &t.evicted_items}) {
    if (!in.I64(v)) return corrupt("counters");
  }
  uint64_t n;
  if (!in.U64(&n)) return corrupt("event id count");
  for (uint64_t i = 0; i < n; ++i) {
    std::string id;
    if (!in.Str(&id)) return corrupt("event id");
    processor->RememberId(id);
  }
  if (!in.U64(&n)) return corrupt("user count");
  for (uint64_t i = 0; i < n; ++i) {
    std::string id;
    UserState user;
    if (!in.Str(&id) || !in.I64(&user.last_ts) || !ReadRing(in, &user.minutes) ||
        !ReadRing(in, &user.hours)) {
      return corrupt("user");
    }
    uint32_t m;
    if (!in.U32(&m)) return corrupt("user categories");
    for (uint32_t j = 0; j < m; ++j) {
      UserState::Category c;
      if (!in.Str(&c.name) || !in.I64(&c.last_ts) || !ReadRing(in, &c.minutes) ||
          !ReadRing(in, &c.hours)) {
        return corrupt("user category");
      }
      if (user.categories.size() < options.max_categories_per_user) {
        user.categories.push_back(std::move(c));
      }
    }
    if (!in.U32(&m)) return corrupt("user recent items");
    for (uint32_t j = 0; j < m; ++j) {
      RecentEngagement r;
      if (!in.Str(&r.item_id) || !in.I64(&r.ts_ms)) return corrupt("user recent item");
      if (!user.recent.empty() && r.ts_ms < user.recent.back().ts_ms) {
        return corrupt("user recent order");
      }
      user.recent.push_back(std::move(r));
    }
    if (user.recent.size() > options.recent_items_per_user) {
      user.recent.erase(user.recent.begin(),
                        user.recent.end() - static_cast<ptrdiff_t>(options.recent_items_per_user));
    }
    auto& shard = processor->UserShard(id);
    if (!shard.map.emplace(std::move(id), std::move(user)).second) return corrupt("duplicate user");
  }
  if (!in.U64(&n)) return corrupt("item count");
  for (uint64_t i = 0; i < n; ++i) {
    std::string id;
    ItemState item;
    uint32_t m;
    if (!in.Str(&id) || !in.I64(&item.last_ts) || !ReadRing(in, &item.minutes) ||
        !ReadRing(in, &item.hours) || !in.I64(&item.neighbors_ts) || !in.U32(&m)) {
      return corrupt("item");
    }
    std::vector<NeighborCounter> arrival;
    for (uint32_t j = 0; j < m; ++j) {
      NeighborCounter c;
      if (!in.Str(&c.item_id) || !in.F64(&c.weight) || !std::isfinite(c.weight) || c.weight < 0) {
        return corrupt("item neighbour");
      }
      arrival.push_back(std::move(c));
    }
    item.neighbors.Assign(std::move(arrival), options.max_neighbors);
    auto& shard = processor->ItemShard(id);
    if (!shard.map.emplace(std::move(id), std::move(item)).second) return corrupt("duplicate item");
  }
  if (!in.Done()) return corrupt("trailer (unexpected trailing bytes)");
  processor->RefreshTrending(/*full_scan=*/true);
  processor->published_totals_ = processor->totals_;
  return processor;
}

}  // namespace pulse::nearline
