// candidates/context.h — the per-request state that flows through the recommendation pipeline,
// and the per-model item table the stages read.
//
// Every stage (candidate sources, hydrator, filters, scorer, selectors) reads a RecommendContext
// and works on a vector of Candidate. Candidates are addressed by the dense item id of the model
// bundle that serves the request; a request never mixes two bundles.
//
// Thread-safety: a RecommendContext belongs to one request (one thread). ItemTable is shared by
// all requests on a model snapshot: metadata is immutable, availability flags are atomics that
// catalog writes flip while requests read them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "rollout/model_bundle.h"

namespace pulse::nearline {
class FeatureView;  // nearline/feature_view.h
}  // namespace pulse::nearline

namespace pulse::candidates {

// Per-item metadata aligned with a model bundle's dense item ids.
class ItemTable {
 public:
  static constexpr uint32_t kNoCategory = 0;

  explicit ItemTable(size_t size);
  size_t size() const { return size_; }

  bool available(DenseId item) const { return available_[item].load(std::memory_order_acquire); }
  void set_available(DenseId item, bool value) {
    available_[item].store(value, std::memory_order_release);
  }
  uint32_t category(DenseId item) const { return category_[item]; }
  int64_t created_at_ms(DenseId item) const { return created_at_ms_[item]; }
  // Metadata setters are for building the table before it is shared.
  void set_category(DenseId item, uint32_t category) { category_[item] = category; }
  void set_created_at_ms(DenseId item, int64_t ts) { created_at_ms_[item] = ts; }

 private:
  size_t size_;
  std::unique_ptr<std::atomic<bool>[]> available_;
  std::vector<uint32_t> category_;
  std::vector<int64_t> created_at_ms_;
};

// Where the user vector came from; it decides the explanation of `ann` candidates.
enum class UserVectorKind : uint8_t {
  kNone,         // unknown user without history: no personal vector
  kRecentItems,  // folded in from the user's recent items (reacts to the latest events)
  kTrained,      // the user's factor from the last training run
};

struct Candidate {
  DenseId item = 0;
  uint8_t source = 0;  // index into RecommendContext::source_names
  // `similarity` is already set, exactly as the hydrator would compute it (an ANN source whose
  // scores are user vector · item vector by the same kernel): the hydrator skips the dot product.
  bool similarity_set = false;
  std::string_view explanation;  // a static vocabulary string (docs/EXPLANATIONS.md)
  float retrieval_score = 0;     // the source's own score
  // Features (filled by the hydrator).
  float similarity = 0;  // user vector · item vector (0 without a user vector)
  float popularity = 0;  // log-scaled popularity in [0, 1]
  float freshness = 0;   // exp(-age / 30 days) of the item, 0 when its age is unknown
  uint32_t category = ItemTable::kNoCategory;
  // Final score (filled by the scorer).
  float score = 0;
};

// A candidate some filter removed, and why. Kept for every request (cheap: no strings owned) so
// "why didn't I see X?" is answered by `"debug": true`.
struct RemovedCandidate {
  DenseId item = 0;
  std::string_view filter;  // the filter's stable name
  std::string_view reason;  // static text
};

struct StageTrace {
  std::string_view name;
  int64_t duration_us = 0;
  int candidates = 0;
  int64_t start_us = 0;  // steady-clock micros when the stage started (trace spans)
  // How a source stage ended when not normally (static text): "failed", "budget_exceeded" (its
  // own budget ran out: skipped), "deadline_exceeded" (the request's deadline). Empty = ok.
  std::string_view outcome;
};

// The clock of RecommendContext::deadline_us: steady-clock microseconds.
inline int64_t SteadyNowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct RecommendContext {
  // ---- inputs, set before the pipeline runs ----
  const rollout::ModelBundle* model = nullptr;
  const ItemTable* items = nullptr;
  int n = 10;
  int64_t now_ms = 0;
  int64_t deadline_us = 0;  // steady-clock micros; 0 = none
  bool debug = false;
  UserVectorKind vector_kind = UserVectorKind::kNone;
  std::vector<float> user_vector;       // model->dim floats when vector_kind != kNone
  std::vector<DenseId> recent_items;    // user's recent engaged items in the model, newest first
  std::vector<DenseId> seen_items;      // every remembered engaged item in the model, sorted
  std::vector<DenseId> excluded_items;  // request `exclude` ids known to the model, sorted
  std::span<const std::string> source_names;  // config order; Candidate::source indexes it
  std::span<const DenseId> popular_items;     // model items by popularity, most popular first
  // Nearline features (trending, co-visitation); null when the processor is not running, and
  // then the sources that read it return nothing.
  const nearline::FeatureView* features = nullptr;
  // Names `model`'s item dictionary for the nearline sources' cached id mapping
  // (nearline::ItemIdResolver): unique per serving snapshot, 0 = do not cache.
  uint32_t model_generation = 0;
  // The running source's deadline (steady-clock micros; 0 = none), set by the pipeline before
  // each Fetch: the earlier of deadline_us and the source's start + its budget. A source with
  // long loops checks SourceDeadlinePassed() and then returns DeadlineExceeded.
  int64_t source_deadline_us = 0;

  // ---- outputs, filled by the stages ----
  std::vector<RemovedCandidate> removed;
  std::vector<StageTrace> stages;
  bool degraded = false;
  // Set when the deadline passed: the pipeline starts no further stage and the request fails
  // with DEADLINE_EXCEEDED (its client has given up).
  bool deadline_exceeded = false;
  // What the user's state looked like (debug feature ages): the history's newest event time and
  // last update, wall-clock ms; 0 when the user has no history.
  int64_t history_newest_event_ms = 0;
  int64_t history_updated_at_ms = 0;
  size_t history_items = 0;

  bool has_user_vector() const { return vector_kind != UserVectorKind::kNone; }
  bool SourceDeadlinePassed() const {
    return source_deadline_us > 0 && SteadyNowMicros() >= source_deadline_us;
  }
};

}  // namespace pulse::candidates
