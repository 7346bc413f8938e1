// train/interactions.h — the implicit-feedback matrix ALS and offline evaluation learn from.
//
// Events become one entry per (user, item) pair: the sum of the events' engagement weights and the
// newest event time. Weights by event type (InteractionWeight): view 1, click 2,
// dwell 1 + min(dwell_ms / 30000, 3), purchase 4; impressions are not engagement and are skipped
// entirely (they neither create users or items nor add weight). An event carrying an explicit
// rating (MovieLens imports) weighs 1 whatever the rating: every rating is treated as a positive
// interaction, as the implicit-feedback literature does with these datasets.
//
// Ids are interned in first-seen order (users and items separately), so dense ids are
// deterministic for a given event order. The matrix is stored as CSR in both directions
// (user -> items, item -> users), each row sorted by dense id.
//
// Thread-safety: an Interactions is immutable after construction and may be read from many
// threads; InteractionsBuilder is single-threaded.
// Memory: while building, about 24 bytes per engagement event; afterwards about 36 bytes per
// distinct (user, item) pair, plus the id dictionaries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "core/ids.h"
#include "core/status.h"
#include "core/types.h"

namespace pulse::store {
class DataDir;
}

namespace pulse::train {

// Engagement weight of one event of `type` (0 for impressions). Negative dwell counts as 0.
float InteractionWeight(EventType type, int64_t dwell_ms);
// Weight of `event`: 1 when it carries a rating, else InteractionWeight(type, dwell_ms).
float EventWeight(const Event& event);

// One aggregated (user, item) entry.
struct Interaction {
  DenseId user = 0;
  DenseId item = 0;
  float weight = 0;   // sum of the events' weights (> 0)
  int64_t ts_ms = 0;  // newest event time
};

class Interactions {
 public:
  Interactions() = default;

  // Convenience: builds from events in order (see InteractionsBuilder).
  static Interactions FromEvents(const std::vector<Event>& events);
  // Reads every event of `data_dir` in append order. Fails with the store's status.
  static Result<Interactions> FromDataDir(const store::DataDir& data_dir);
  // Assembles from entries whose ids index `users` and `items` (checked). Entries for the same
  // pair are merged (weights summed, newest time kept).
  static Interactions FromEntries(IdDictionary users, IdDictionary items,
                                  std::vector<Interaction> entries);

  // The same dictionaries (so dense ids keep their meaning) with only the entries `keep` accepts.
  Interactions Filter(const std::function<bool(const Interaction&)>& keep) const;

  const IdDictionary& users() const { return users_; }
  const IdDictionary& items() const { return items_; }
  size_t num_users() const { return users_.size(); }
  size_t num_items() const { return items_.size(); }
  // Distinct (user, item) pairs.
  size_t nnz() const { return user_items_.size(); }
  // Event time range of the entries (0, 0 when empty).
  int64_t min_ts_ms() const { return min_ts_ms_; }
  int64_t max_ts_ms() const { return max_ts_ms_; }

  // Row `user` of the user -> item matrix; the three spans are parallel, sorted by item.
  std::span<const DenseId> UserItems(DenseId user) const {
    return Row(user_offsets_, user_items_, user);
  }
  std::span<const float> UserWeights(DenseId user) const {
    return Row(user_offsets_, user_weights_, user);
  }
  std::span<const int64_t> UserTimes(DenseId user) const {
    return Row(user_offsets_, user_ts_, user);
  }
  // Row `item` of the item -> user matrix, sorted by user.
  std::span<const DenseId> ItemUsers(DenseId item) const {
    return Row(item_offsets_, item_users_, item);
  }
  std::span<const float> ItemWeights(DenseId item) const {
    return Row(item_offsets_, item_weights_, item);
  }

  // Every entry in user-major order.
  void ForEach(const std::function<void(const Interaction&)>& fn) const;

  // Moves the dictionaries out (for a model bundle); the object is unusable afterwards.
  IdDictionary TakeUsers() { return std::move(users_); }
  IdDictionary TakeItems() { return std::move(items_); }

 private:
  template <typename T>
  static std::span<const T> Row(const std::vector<size_t>& offsets, const std::vector<T>& values,
                                DenseId row) {
    return std::span<const T>(values.data() + offsets[row], offsets[row + 1] - offsets[row]);
  }

  IdDictionary users_;
  IdDictionary items_;
  std::vector<size_t> user_offsets_{0};
  std::vector<DenseId> user_items_;
  std::vector<float> user_weights_;
  std::vector<int64_t> user_ts_;
  std::vector<size_t> item_offsets_{0};
  std::vector<DenseId> item_users_;
  std::vector<float> item_weights_;
  int64_t min_ts_ms_ = 0;
  int64_t max_ts_ms_ = 0;
};

// Streams events into an Interactions.
class InteractionsBuilder {
 public:
  struct Added {
    DenseId user = 0;
    DenseId item = 0;
    float weight = 0;
  };
  // Adds one event. nullopt when it is skipped: an impression, or a user or item id that is
  // empty, longer than kMaxIdBytes or holds a control character (ingest refuses those).
  std::optional<Added> Add(const Event& event);
  size_t events_added() const { return entries_.size(); }
  size_t events_skipped() const { return skipped_; }
  const IdDictionary& items() const { return items_; }
  // Builds the matrix; the builder is empty afterwards.
  Interactions Build();

 private:
  IdDictionary users_;
  IdDictionary items_;
  std::vector<Interaction> entries_;
  size_t skipped_ = 0;
};

}  // namespace pulse::train
