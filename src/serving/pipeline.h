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
// Thread-safety: Run is const and called concurrently; stages are immutable after Create.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "candidates/candidate_source.h"
#include "core/config.h"
#include "ranking/feature_hydrator.h"
#include "ranking/scorer.h"
#include "rules/filter.h"
#include "rules/selector.h"

namespace pulse::serving {

// The merge stage: keeps the first candidate of each item, ordered by item (exposed for tests).
void MergeDuplicates(std::vector<candidates::Candidate>& candidates);

class Pipeline {
 public:
  // InvalidArgument naming the stage when a configured name is unknown.
  static Result<std::unique_ptr<Pipeline>> Create(const PipelineConfig& config);

  // Runs every stage on `context` and leaves the final, ordered recommendations in `out`.
  void Run(candidates::RecommendContext& context, std::vector<candidates::Candidate>& out) const;

  // Source names in config order (Candidate::source indexes this).
  std::span<const std::string> source_names() const { return source_names_; }
  // Every stage's name in run order (metric labels: pulse_stage_duration_seconds{stage}).
  std::vector<std::string> stage_names() const;

 private:
  Pipeline() = default;
  // Whether the deadline has passed (and marks the context so).
  static bool Expired(candidates::RecommendContext& context);

  struct SourceStage {
    std::unique_ptr<candidates::CandidateSource> source;
    int k = 0;
  };
  std::vector<SourceStage> sources_;
  std::vector<std::string> source_names_;
  std::vector<std::unique_ptr<rules::Filter>> filters_;
  std::unique_ptr<ranking::FeatureHydrator> hydrator_;
  std::unique_ptr<ranking::Scorer> scorer_;
  std::vector<std::unique_ptr<rules::Selector>> selectors_;
  int fault_delay_source_ = -1;  // pipeline.fault_injection: source index, -1 = off
  int64_t fault_delay_us_ = 0;
};

}  // namespace pulse::serving
