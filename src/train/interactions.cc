#include "train/interactions.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "core/check.h"

namespace pulse::train {

float InteractionWeight(EventType type, int64_t dwell_ms) {
  switch (type) {
    case EventType::kView:
      return 1.0f;
    case EventType::kClick:
      return 2.0f;
    case EventType::kDwell: {
      const double seconds = static_cast<double>(std::max<int64_t>(dwell_ms, 0)) / 30000.0;
      return static_cast<float>(1.0 + std::min(seconds, 3.0));
    }
    case EventType::kPurchase:
      return 4.0f;
    case EventType::kImpression:
      return 0.0f;
  }
  return 0.0f;
}

float EventWeight(const Event& event) {
  if (event.type == EventType::kImpression) return 0.0f;
  if (event.rating != 0) return 1.0f;
  return InteractionWeight(event.type, event.dwell_ms);
}

namespace {

// Ids end up one per line in model bundles: an id a validated ingest path would have refused is
// skipped rather than trusted.
bool UsableId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  for (unsigned char c : id) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

std::optional<InteractionsBuilder::Added> InteractionsBuilder::Add(const Event& event) {
  const float weight = EventWeight(event);
  if (!(weight > 0) || !UsableId(event.user_id) || !UsableId(event.item_id)) {
    ++skipped_;
    return std::nullopt;
  }
  Added added{users_.Intern(event.user_id), items_.Intern(event.item_id), weight};
  entries_.push_back({added.user, added.item, weight, event.ts_ms});
  return added;
}

Interactions InteractionsBuilder::Build() {
  Interactions out =
      Interactions::FromEntries(std::move(users_), std::move(items_), std::move(entries_));
  users_ = IdDictionary();
  items_ = IdDictionary();
  entries_ = {};
  skipped_ = 0;
  return out;
}

Interactions Interactions::FromEvents(const std::vector<Event>& events) {
  InteractionsBuilder builder;
  for (const Event& event : events) builder.Add(event);
  return builder.Build();
}

Interactions Interactions::FromEntries(IdDictionary users, IdDictionary items,
                                       std::vector<Interaction> entries) {
  Interactions m;
  m.users_ = std::move(users);
  m.items_ = std::move(items);
  const size_t n_users = m.users_.size();
  const size_t n_items = m.items_.size();
  for (const Interaction& e : entries) PULSE_CHECK(e.user < n_users && e.item < n_items);

  // Counting sort by user (stable), then each user's segment by item: O(n) plus small sorts,
  // instead of one global sort of every event.
  std::vector<size_t> start(n_users + 1, 0);
  for (const Interaction& e : entries) ++start[e.user + 1];
  for (size_t u = 0; u < n_users; ++u) start[u + 1] += start[u];
  std::vector<Interaction> sorted(entries.size());
  {
    std::vector<size_t> next(start.begin(), start.end() - 1);
    for (const Interaction& e : entries) sorted[next[e.user]++] = e;
  }
  entries.clear();
  entries.shrink_to_fit();

  m.user_offsets_.assign(1, 0);
  m.user_offsets_.reserve(n_users + 1);
  m.user_items_.reserve(sorted.size());
  m.user_weights_.reserve(sorted.size());
  m.user_ts_.reserve(sorted.size());
  int64_t min_ts = std::numeric_limits<int64_t>::max();
  int64_t max_ts = std::numeric_limits<int64_t>::min();
  for (size_t u = 0; u < n_users; ++u) {
    auto first = sorted.begin() + static_cast<std::ptrdiff_t>(start[u]);
    auto last = sorted.begin() + static_cast<std::ptrdiff_t>(start[u + 1]);
    std::stable_sort(first, last,
                     [](const Interaction& a, const Interaction& b) { return a.item < b.item; });
    for (auto it = first; it != last; ++it) {
      if (!m.user_items_.empty() && m.user_items_.size() > m.user_offsets_.back() &&
          m.user_items_.back() == it->item) {
        m.user_weights_.back() += it->weight;
        m.user_ts_.back() = std::max(m.user_ts_.back(), it->ts_ms);
      } else {
        m.user_items_.push_back(it->item);
        m.user_weights_.push_back(it->weight);
        m.user_ts_.push_back(it->ts_ms);
      }
      min_ts = std::min(min_ts, it->ts_ms);
      max_ts = std::max(max_ts, it->ts_ms);
    }
    m.user_offsets_.push_back(m.user_items_.size());
  }
  m.user_items_.shrink_to_fit();
  m.user_weights_.shrink_to_fit();
  m.user_ts_.shrink_to_fit();
  if (!sorted.empty()) {
    m.min_ts_ms_ = min_ts;
    m.max_ts_ms_ = max_ts;
  }
  sorted.clear();
  sorted.shrink_to_fit();

  // Transpose: walking users in order leaves each item row sorted by user.
  m.item_offsets_.assign(n_items + 1, 0);
  for (DenseId item : m.user_items_) ++m.item_offsets_[item + 1];
  for (size_t i = 0; i < n_items; ++i) m.item_offsets_[i + 1] += m.item_offsets_[i];
  m.item_users_.resize(m.user_items_.size());
  m.item_weights_.resize(m.user_items_.size());
  std::vector<size_t> next(m.item_offsets_.begin(), m.item_offsets_.end() - 1);
  for (size_t u = 0; u < n_users; ++u) {
    for (size_t k = m.user_offsets_[u]; k < m.user_offsets_[u + 1]; ++k) {
      const size_t slot = next[m.user_items_[k]]++;
      m.item_users_[slot] = static_cast<DenseId>(u);
      m.item_weights_[slot] = m.user_weights_[k];
    }
  }
  return m;
}

void Interactions::ForEach(const std::function<void(const Interaction&)>& fn) const {
  for (size_t u = 0; u < num_users(); ++u) {
    for (size_t k = user_offsets_[u]; k < user_offsets_[u + 1]; ++k) {
      fn(Interaction{static_cast<DenseId>(u), user_items_[k], user_weights_[k], user_ts_[k]});
    }
  }
}

Interactions Interactions::Filter(const std::function<bool(const Interaction&)>& keep) const {
  std::vector<Interaction> kept;
  ForEach([&](const Interaction& e) {
    if (keep(e)) kept.push_back(e);
  });
  return FromEntries(users_, items_, std::move(kept));
}

}  // namespace pulse::train
