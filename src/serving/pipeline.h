// serving/pipeline.h — the recommendation request as a pipeline of named stages, composed from
// configuration (PipelineConfig):
//
//   candidate sources (config order, each with its k) → merge (first source wins a duplicate)
//   → filters (config order) → feature hydration → scorer → selectors
//     (rank_by_score, cap_per_category when configured, truncate_top_n)
//
// A source that fails is skipped and the request is marked degraded; later stages run so a
// response is produced from whatever was gathered. Deadline (context.deadline_us): no stage
// starts once it has passed — Run returns early with context.deadline_exceeded set, and the
// caller answers DEADLINE_EXCEEDED (the client has given up; finishing would be wasted work).
// Every stage appends a StageTrace (name, duration, candidates after it) to the context.
//
// Source budgets (pipeline.sources[].budget_ms): sources run one after another, each under its
// own deadline = min(request deadline, the source's start + its budget) — 0 = the request
// deadline alone — handed to it as context.source_deadline_us. Sources honour it cooperatively
// (long loops check it; the fault-injection delay stops at it) and return DeadlineExceeded.
// When a source is so stopped before the request's deadline, it missed its *budget*: it is skipped
// (its candidates are dropped), the response is marked degraded, the stage's trace entry says
// outcome "budget_exceeded", pulse_source_budget_exceeded_total{source} counts it, and the next
// source runs. So a slow source costs at most its budget, and budgets that fit inside the
// request deadline keep a slow source from failing the request. When the request's deadline is
// what ran out, Run stops as for any stage (deadline_exceeded). DeadlineExceeded returned before
// the source's deadline (its own RPC timeout, say) is an ordinary failure ("failed").
// Partial candidates are dropped, not kept: a source cut short has seen an arbitrary prefix of
// its inputs (covisit: the neighbours of only its first seeds, ann: nothing yet), which scores
// as a biased subset with no sign that it is one; "skipped" is the same answer as for a failed
// source and the one the response's `degraded` flag describes. A non-cooperative source that
// returns OK after its deadline keeps its candidates (its time is already spent).
// Thread-safety: Run is const and called concurrently; stages are immutable after Create; the
// budget counters are relaxed atomics.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "candidates/candidate_source.h"
#include "core/clock.h"
#include "core/config.h"
#include "ranking/feature_hydrator.h"
#include "ranking/scorer.h"
#include "rules/filter.h"
#include "rules/selector.h"

namespace pulse::serving {

// The merge stage: keeps the first candidate of each item, in arrival order (exposed for tests).
void MergeDuplicates(std::vector<candidates::Candidate>& candidates);

class Pipeline {
 public:
  // InvalidArgument naming the stage when a configured name is unknown.
  static Result<std::unique_ptr<Pipeline>> Create(const PipelineConfig& config);

  // Test hooks: sources built by `make_source` instead of the registry (fakes), and deadline
  // time read from `steady_clock` (steady micros, the clock of deadline_us) instead of the
  // steady clock. Either may be null/empty; `steady_clock` must outlive the pipeline.
  using SourceFactory =
      std::function<Result<std::unique_ptr<candidates::CandidateSource>>(std::string_view name)>;
  static Result<std::unique_ptr<Pipeline>> CreateForTest(const PipelineConfig& config,
                                                         SourceFactory make_source,
                                                         const Clock* steady_clock);

  // Runs every stage on `context` and leaves the final, ordered recommendations in `out`.
  void Run(candidates::RecommendContext& context, std::vector<candidates::Candidate>& out) const;

  // Source names in config order (Candidate::source indexes this).
  std::span<const std::string> source_names() const { return source_names_; }
  // Every stage's name in run order (metric labels: pulse_stage_duration_seconds{stage}).
  std::vector<std::string> stage_names() const;

  // Times source `index` (config order) missed its own budget since Create.
  uint64_t budget_exceeded(size_t index) const {
    return budget_exceeded_[index].load(std::memory_order_relaxed);
  }
  // pulse_source_budget_exceeded_total{source}, Prometheus text.
  void RenderMetrics(std::string* out) const;

 private:
  Pipeline() = default;
  // Whether the deadline has passed (and marks the context so).
  bool Expired(candidates::RecommendContext& context) const;
  // Steady micros from steady_clock_, else the steady clock.
  int64_t Now() const;
  // Source `i` under its own deadline; false when the request's deadline ended it (Run stops).
  bool RunSource(size_t i, candidates::RecommendContext& context,
                 std::vector<candidates::Candidate>& out) const;

  struct SourceStage {
    std::unique_ptr<candidates::CandidateSource> source;
    int k = 0;
    int64_t budget_us = 0;  // 0 = none
  };
  std::vector<SourceStage> sources_;
  std::vector<std::string> source_names_;
  std::vector<std::unique_ptr<rules::Filter>> filters_;
  std::unique_ptr<ranking::FeatureHydrator> hydrator_;
  std::unique_ptr<ranking::Scorer> scorer_;
  std::vector<std::unique_ptr<rules::Selector>> selectors_;
  int fault_delay_source_ = -1;  // pipeline.fault_injection: source index, -1 = off
  int64_t fault_delay_us_ = 0;
  const Clock* steady_clock_ = nullptr;                       // tests only
  std::unique_ptr<std::atomic<uint64_t>[]> budget_exceeded_;  // per source, config order
};

}  // namespace pulse::serving
