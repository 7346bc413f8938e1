#include "evaluation/holdout.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <unordered_set>
#include <utility>

#include "core/strings.h"
#include "train/interactions.h"

namespace pulse::evaluation {
namespace {

bool ParseNumericId(std::string_view id, int64_t* value) {
  if (id.empty()) return false;
  const size_t digits_from = id[0] == '-' ? 1 : 0;
  if (digits_from == id.size()) return false;
  for (size_t i = digits_from; i < id.size(); ++i) {
    if (id[i] < '0' || id[i] > '9') return false;
  }
  return ParseInt64(id, value);
}

// splitmix64: a tiny portable generator (the standard distributions are not portable).
uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t Fnv1a(std::string_view text) {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001B3ULL;
  }
  return h;
}

// The usable events (see interactions.h), in order.
std::vector<Event> Usable(std::vector<Event> events) {
  train::InteractionsBuilder probe;
  std::vector<Event> out;
  out.reserve(events.size());
  for (Event& event : events) {
    if (probe.Add(event)) out.push_back(std::move(event));
  }
  return out;
}

// Dictionaries of the users and items of `events`, each in external-id order.
std::pair<IdDictionary, IdDictionary> SortedDictionaries(std::span<const Event> events) {
  std::unordered_set<std::string_view> user_set;
  std::unordered_set<std::string_view> item_set;
  for (const Event& event : events) {
    user_set.insert(event.user_id);
    item_set.insert(event.item_id);
  }
  auto build = [](const std::unordered_set<std::string_view>& set) {
    std::vector<std::string_view> names(set.begin(), set.end());
    std::sort(names.begin(), names.end(), ExternalIdLess);
    IdDictionary dict;
    dict.Reserve(names.size());
    for (std::string_view name : names) dict.Intern(name);
    return dict;
  };
  return {build(user_set), build(item_set)};
}

// `events` are usable; is_test[e] puts event e on the test side.
HoldoutData Assemble(std::vector<Event> events, const std::vector<uint8_t>& is_test) {
  HoldoutData out;
  auto [users, items] = SortedDictionaries(events);
  std::vector<train::Interaction> entries;
  std::vector<std::pair<DenseId, DenseId>> test_pairs;
  for (size_t e = 0; e < events.size(); ++e) {
    const Event& event = events[e];
    const DenseId user = *users.Find(event.user_id);
    const DenseId item = *items.Find(event.item_id);
    if (is_test[e]) {
      test_pairs.emplace_back(user, item);
    } else {
      entries.push_back({user, item, train::EventWeight(event), event.ts_ms});
    }
  }
  for (size_t e = 0; e < events.size(); ++e) {
    if (!is_test[e]) out.train_events.push_back(std::move(events[e]));
  }
  const size_t n_users = users.size();
  out.split.train =
      train::Interactions::FromEntries(std::move(users), std::move(items), std::move(entries));
  out.split.rank_all_items = true;
  std::sort(test_pairs.begin(), test_pairs.end());
  test_pairs.erase(std::unique(test_pairs.begin(), test_pairs.end()), test_pairs.end());
  std::vector<std::vector<DenseId>> test(n_users);
  for (const auto& [user, item] : test_pairs) {
    std::span<const DenseId> trained = out.split.train.UserItems(user);
    if (std::binary_search(trained.begin(), trained.end(), item)) {
      ++out.test_pairs_in_train;
      continue;
    }
    test[user].push_back(item);  // ascending: test_pairs is sorted
  }
  for (size_t u = 0; u < n_users; ++u) {
    if (test[u].empty()) continue;
    out.split.test_pairs += test[u].size();
    out.split.test_users.push_back(static_cast<DenseId>(u));
    out.split.test_items.push_back(std::move(test[u]));
  }
  return out;
}

}  // namespace

bool ExternalIdLess(std::string_view a, std::string_view b) {
  int64_t x = 0;
  int64_t y = 0;
  const bool a_num = ParseNumericId(a, &x);
  const bool b_num = ParseNumericId(b, &y);
  if (a_num != b_num) return a_num;
  if (a_num && x != y) return x < y;
  return a < b;
}

HoldoutData MakeHoldout(std::vector<Event> train_events, std::vector<Event> test_events) {
  std::vector<Event> events = Usable(std::move(train_events));
  const size_t n_train = events.size();
  std::vector<Event> test = Usable(std::move(test_events));
  events.insert(events.end(), std::make_move_iterator(test.begin()),
                std::make_move_iterator(test.end()));
  std::vector<uint8_t> is_test(events.size(), 0);
  std::fill(is_test.begin() + static_cast<std::ptrdiff_t>(n_train), is_test.end(), 1);
  return Assemble(std::move(events), is_test);
}

HoldoutData SplitHoldout(std::vector<Event> events, double train_fraction, uint64_t seed) {
  events = Usable(std::move(events));
  auto [users, items] = SortedDictionaries(events);
  std::vector<std::vector<DenseId>> user_items(users.size());
  for (const Event& event : events) {
    user_items[*users.Find(event.user_id)].push_back(*items.Find(event.item_id));
  }
  // test_items[u]: the held-out items of u, ascending.
  std::vector<std::vector<DenseId>> test_items(users.size());
  for (size_t u = 0; u < users.size(); ++u) {
    std::vector<DenseId>& mine = user_items[u];
    std::sort(mine.begin(), mine.end());
    mine.erase(std::unique(mine.begin(), mine.end()), mine.end());
    uint64_t state = seed ^ Fnv1a(users.Name(static_cast<DenseId>(u)));
    for (size_t i = mine.size(); i > 1; --i) {
      const size_t j = SplitMix(state) % i;
      std::swap(mine[i - 1], mine[j]);
    }
    const auto n = static_cast<double>(mine.size());
    const auto n_train = std::min(
        mine.size(), static_cast<size_t>(std::max(1.0, std::ceil(train_fraction * n - 1e-9))));
    test_items[u].assign(mine.begin() + static_cast<std::ptrdiff_t>(n_train), mine.end());
    std::sort(test_items[u].begin(), test_items[u].end());
  }
  std::vector<uint8_t> is_test(events.size(), 0);
  for (size_t e = 0; e < events.size(); ++e) {
    const std::vector<DenseId>& held = test_items[*users.Find(events[e].user_id)];
    is_test[e] =
        std::binary_search(held.begin(), held.end(), *items.Find(events[e].item_id)) ? 1 : 0;
  }
  return Assemble(std::move(events), is_test);
}

std::vector<HoldoutMetrics> ScoreHoldout(const train::EvalSplit& split,
                                         const std::vector<std::vector<DenseId>>& recommended,
                                         std::span<const int> ks) {
  const train::Interactions& trained = split.train;
  const size_t n_items = trained.num_items();
  // Popularity rank: by training pairs descending, ties by dense id (= item id) ascending.
  std::vector<DenseId> by_popularity(n_items);
  std::iota(by_popularity.begin(), by_popularity.end(), 0);
  std::stable_sort(by_popularity.begin(), by_popularity.end(), [&](DenseId a, DenseId b) {
    return trained.ItemUsers(a).size() > trained.ItemUsers(b).size();
  });
  std::vector<size_t> popularity_rank(n_items);
  for (size_t r = 0; r < n_items; ++r) popularity_rank[by_popularity[r]] = r + 1;

  std::vector<HoldoutMetrics> out;
  for (int k : ks) {
    HoldoutMetrics m;
    m.k = k;
    m.users = split.test_users.size();
    std::vector<char> shown(n_items, 0);
    size_t distinct = 0;
    double rank_sum = 0;
    size_t slots = 0;
    for (size_t u = 0; u < split.test_users.size(); ++u) {
      const std::vector<DenseId>& ranked = recommended[u];
      const train::RankingMetrics r = train::EvaluateRanking(ranked, split.test_items[u], k);
      m.precision += r.precision;
      m.recall += r.recall;
      m.ndcg += r.ndcg;
      m.hit_rate += r.hit_rate;
      m.map += r.ap;
      m.map_min += r.ap_min;
      const size_t n = std::min(ranked.size(), static_cast<size_t>(k));
      for (size_t i = 0; i < n; ++i) {
        const DenseId item = ranked[i];
        if (item >= n_items) continue;
        if (!shown[item]) {
          shown[item] = 1;
          ++distinct;
        }
        rank_sum += static_cast<double>(popularity_rank[item]);
        ++slots;
      }
    }
    if (m.users > 0) {
      const auto users = static_cast<double>(m.users);
      m.precision /= users;
      m.recall /= users;
      m.ndcg /= users;
      m.hit_rate /= users;
      m.map /= users;
      m.map_min /= users;
    }
    m.coverage = n_items == 0 ? 0 : static_cast<double>(distinct) / static_cast<double>(n_items);
    m.mean_popularity_rank = slots == 0 ? 0 : rank_sum / static_cast<double>(slots);
    out.push_back(m);
  }
  return out;
}

}  // namespace pulse::evaluation
