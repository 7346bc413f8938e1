// tools/synthetic.h — a synthetic catalog and interaction log with structure a recommender can
// learn and a popularity baseline cannot (`pulse gen`, `pulse demo`, tests and benchmarks).
//
// The model behind the data:
//  - `topics` topics ("topic-00", ...) of uneven global appeal; each item belongs to one (its
//    category, also its first tag, plus a "style-N" tag) and has a Zipf popularity rank within it.
//  - Each user has a latent taste concentrated on 1-3 topics (90% of their weight), the rest spread
//    thinly over all topics. An interaction picks a topic by taste (or, 30% of the time, stays on
//    the topic of the user's previous interaction: sessions), then an item by popularity within it.
//  - A quarter of users drift: after 55-85% of their history they move most of their weight to a
//    topic they did not like before, so recent items predict the next better than old ones.
//  - Activity is power-law (Pareto) across users, but every user gets at least 5 events, so the
//    number of events is max(events, 5 * users). Each user is active over a random stretch of the
//    `days` days ending at `end_ms`; nobody interacts with an item before its created_at.
//  - Event types: ~72% view, ~18% click, ~8% dwell (with a log-normal dwell_ms), ~2% purchase.
//    Every event has a unique event_id ("e<N>", in time order), so re-importing is idempotent.
//  - Ids are "u<N>" and "i<N>". Items are created over the year before the window and through it.
//
// Deterministic: the same params give the same output on every platform (std::mt19937_64 output
// is specified by the standard; every distribution and shuffle is implemented here, since the
// standard library's are not portable across implementations).
// Thread-safety: pure function. Memory: holds all events (~100 bytes each).
#pragma once

#include <cstdint>
#include <vector>

#include "core/types.h"

namespace pulse::tools {

struct SyntheticParams {
  int users = 1000;
  int items = 500;
  int64_t events = 20000;
  uint64_t seed = 42;
  int topics = 20;
  int64_t end_ms = 1767225600000;  // 2026-01-01T00:00:00Z
  int days = 28;
};

struct SyntheticData {
  std::vector<Item> items;
  std::vector<Event> events;  // sorted by ts (ties in a fixed order)
};

// Non-positive counts are treated as their minimum (1 user, 1 item, 1 topic, 1 day, 0 events).
SyntheticData GenerateSynthetic(const SyntheticParams& params);

}  // namespace pulse::tools
