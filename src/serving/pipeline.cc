#include "serving/pipeline.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <thread>

#include "core/log.h"
#include "obs/metrics.h"
#include "quality/checks.h"
#include "ranking/gbdt_scorer.h"

namespace pulse::serving {
namespace {

using candidates::Candidate;
using candidates::RecommendContext;

int64_t SteadyMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Records one stage's trace entry when it goes out of scope.
class StageTimer {
 public:
  StageTimer(RecommendContext& context, std::string_view name,
             const std::vector<Candidate>& candidates)
      : context_(context), name_(name), candidates_(candidates), start_us_(SteadyMicros()) {}
  ~StageTimer() {
    context_.stages.push_back(
        {name_, SteadyMicros() - start_us_, static_cast<int>(candidates_.size()), start_us_});
  }

 private:
  RecommendContext& context_;
  std::string_view name_;
  const std::vector<Candidate>& candidates_;
  int64_t start_us_;
};

}  // namespace

namespace {

// The items merged so far in one request: an open-addressed set of dense ids, reused per thread
// (cleared through the cells it filled), so the merge touches a few KB instead of sorting.
class MergedItems {
 public:
  // Empties the set and makes room for `n` items at a load of at most 1/2.
  void Reset(size_t n) {
    for (uint32_t cell : filled_) table_[cell] = 0;
    filled_.clear();
    size_t size = std::max<size_t>(table_.size(), 1024);
    while (size < 2 * n) size *= 2;
    if (size != table_.size()) table_.assign(size, 0);
    shift_ = 64 - std::countr_zero(size);
  }
  // True when `item` was not in the set (it is now).
  bool Insert(DenseId item) {
    const size_t mask = table_.size() - 1;
    const uint64_t entry = uint64_t{item} + 1;  // 0 marks an empty cell
    for (size_t cell = (entry * 0x9E3779B97F4A7C15ull) >> shift_;; cell = (cell + 1) & mask) {
      if (table_[cell] == entry) return false;
      if (table_[cell] == 0) {
        table_[cell] = entry;
        filled_.push_back(static_cast<uint32_t>(cell));
        return true;
      }
    }
  }

 private:
  std::vector<uint64_t> table_;
  std::vector<uint32_t> filled_;
  int shift_ = 64;
};

}  // namespace

// Keeps the first candidate of each item — sources run in priority order, so the first is the
// highest-priority source's — in arrival order, compacting in place. (The order is not a ranking:
// the selectors order by score, ties by item.)
void MergeDuplicates(std::vector<Candidate>& candidates) {
  thread_local MergedItems merged;
  merged.Reset(candidates.size());
  size_t kept = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (merged.Insert(candidates[i].item)) candidates[kept++] = candidates[i];
  }
  candidates.resize(kept);
}

Result<std::unique_ptr<Pipeline>> Pipeline::Create(const PipelineConfig& config) {
  return CreateForTest(config, nullptr, nullptr);
}

Result<std::unique_ptr<Pipeline>> Pipeline::CreateForTest(const PipelineConfig& config,
                                                          SourceFactory make_source,
                                                          const Clock* steady_clock) {
  std::unique_ptr<Pipeline> pipeline(new Pipeline());
  pipeline->steady_clock_ = steady_clock;
  if (!make_source) make_source = candidates::MakeCandidateSource;
  if (config.sources.empty()) return InvalidArgumentError("pipeline needs a candidate source");
  if (config.sources.size() > 255) return InvalidArgumentError("too many candidate sources");
  for (const CandidateSourceConfig& source_config : config.sources) {
    auto source = make_source(source_config.name);
    if (!source.ok()) return WithContext(source.status(), "pipeline.sources");
    if (source_config.budget_ms < 0) {
      return InvalidArgumentError(
          StrCat("pipeline.sources: ", source_config.name, ": budget_ms must be >= 0"));
    }
    pipeline->source_names_.emplace_back(source_config.name);
    pipeline->sources_.push_back(
        {std::move(source).value(), source_config.k, source_config.budget_ms * 1000});
  }
  pipeline->budget_exceeded_ = std::make_unique<std::atomic<uint64_t>[]>(config.sources.size());
  for (const std::string& name : config.filters) {
    auto filter = rules::MakeFilter(name);
    if (!filter.ok()) return WithContext(filter.status(), "pipeline.filters");
    pipeline->filters_.push_back(std::move(filter).value());
  }
  pipeline->hydrator_ = std::make_unique<ranking::CoreFeatureHydrator>();
  auto scorer = ranking::LinearScorer::Create(config.scorer_weights);
  if (!scorer.ok()) return WithContext(scorer.status(), "pipeline.scorer_weights");
  // The learned ranker when the request's bundle has one, the linear scorer otherwise.
  pipeline->scorer_ = std::make_unique<ranking::GbdtScorer>(std::move(scorer).value());
  // Without a category cap the next selector is truncate_top_n: only the first n need ordering.
  pipeline->selectors_.push_back(
      std::make_unique<rules::RankByScore>(/*only_top_n=*/config.max_per_category <= 0));
  if (config.max_per_category > 0) {
    pipeline->selectors_.push_back(
        std::make_unique<rules::CapPerCategory>(config.max_per_category));
  }
  pipeline->selectors_.push_back(std::make_unique<rules::TruncateTopN>());
  const PipelineConfig::FaultInjection& fault = config.fault_injection;
  if (!fault.delay_source.empty() && fault.delay_ms > 0) {
    auto it = std::find(pipeline->source_names_.begin(), pipeline->source_names_.end(),
                        fault.delay_source);
    if (it == pipeline->source_names_.end()) {
      return InvalidArgumentError(StrCat("pipeline.fault_injection.delay_source: '",
                                         fault.delay_source, "' is not a configured source"));
    }
    pipeline->fault_delay_source_ = static_cast<int>(it - pipeline->source_names_.begin());
    pipeline->fault_delay_us_ = fault.delay_ms * 1000;
    LOG_WARN("serving", "fault injection: source ", fault.delay_source, " delayed by ",
             fault.delay_ms, " ms");
  }
  return pipeline;
}

int64_t Pipeline::Now() const {
  return steady_clock_ != nullptr ? steady_clock_->NowMicros() : SteadyMicros();
}

bool Pipeline::Expired(RecommendContext& context) const {
  if (context.deadline_us > 0 && Now() >= context.deadline_us) {
    context.deadline_exceeded = true;
  }
  return context.deadline_exceeded;
}

bool Pipeline::RunSource(size_t i, RecommendContext& context, std::vector<Candidate>& out) const {
  const SourceStage& stage = sources_[i];
  const size_t before = out.size();
  const int64_t start_us = Now();
  int64_t deadline_us = context.deadline_us;
  if (stage.budget_us > 0 && (deadline_us == 0 || start_us + stage.budget_us < deadline_us)) {
    deadline_us = start_us + stage.budget_us;
  }
  context.source_deadline_us = deadline_us;
  Status status;
  if (static_cast<int>(i) == fault_delay_source_) {
    // A slow source that honours its deadline: it gives up when the deadline comes first.
    const int64_t until_us = deadline_us > 0 ? std::min(start_us + fault_delay_us_, deadline_us)
                                             : start_us + fault_delay_us_;
    std::this_thread::sleep_for(std::chrono::microseconds(until_us - start_us));
    if (deadline_us > 0 && Now() >= deadline_us) {
      status = DeadlineExceededError("fault injection: source delayed past its deadline");
    }
  }
  if (status.ok()) status = stage.source->Fetch(context, stage.k, static_cast<uint8_t>(i), &out);
  context.source_deadline_us = 0;
  std::string_view outcome;
  if (!status.ok()) {
    out.resize(before);  // a skipped source contributes nothing (see the header)
    context.degraded = true;
    // Only a source stopped by its deadline missed it (its own RPC timeout is a failure); the
    // request's deadline when that has passed, else the budget (which set the earlier one).
    const bool stopped_by_deadline =
        status.code() == StatusCode::kDeadlineExceeded && deadline_us > 0 && Now() >= deadline_us;
    if (stopped_by_deadline && Expired(context)) {
      outcome = "deadline_exceeded";
    } else if (stopped_by_deadline) {
      outcome = "budget_exceeded";
      budget_exceeded_[i].fetch_add(1, std::memory_order_relaxed);
    } else {
      outcome = "failed";
      LOG_WARN("serving", "candidate source ", stage.source->name(),
               " failed: ", status.ToString());
    }
  }
  context.stages.push_back({stage.source->name(), Now() - start_us,
                            static_cast<int>(out.size() - before), start_us, outcome});
  return !context.deadline_exceeded;
}

void Pipeline::Run(RecommendContext& context, std::vector<Candidate>& out) const {
  out.clear();
  context.source_names = source_names_;
  for (size_t i = 0; i < sources_.size(); ++i) {
    if (Expired(context)) return;
    if (!RunSource(i, context, out)) return;
  }
  if (Expired(context)) return;
  {
    StageTimer timer(context, "merge", out);
    MergeDuplicates(out);
  }
  for (const auto& filter : filters_) {
    if (Expired(context)) return;
    StageTimer timer(context, filter->name(), out);
    filter->Apply(context, out);
  }
  if (Expired(context)) return;
  {
    StageTimer timer(context, hydrator_->name(), out);
    hydrator_->Hydrate(context, out);
    quality::CheckRankingFeatures(out);  // contracts: counted, invalid values → defaults
  }
  if (Expired(context)) return;
  {
    StageTimer timer(context, scorer_->stage_name(context), out);
    scorer_->Score(context, out);
    quality::CheckScores(out);
  }
  for (const auto& selector : selectors_) {
    if (Expired(context)) return;
    StageTimer timer(context, selector->name(), out);
    selector->Apply(context, out);
  }
}

void Pipeline::RenderMetrics(std::string* out) const {
  obs::RenderHeader(out, "pulse_source_budget_exceeded_total", "counter",
                    "Candidate sources skipped because they ran past their own budget "
                    "(pipeline.sources[].budget_ms); each marks its response degraded.");
  for (size_t i = 0; i < source_names_.size(); ++i) {
    StrAppend(*out, "pulse_source_budget_exceeded_total{source=\"", source_names_[i], "\"} ",
              budget_exceeded(i), "\n");
  }
}

std::vector<std::string> Pipeline::stage_names() const {
  std::vector<std::string> names(source_names_.begin(), source_names_.end());
  names.emplace_back("merge");
  for (const auto& filter : filters_) names.emplace_back(filter->name());
  names.emplace_back(hydrator_->name());
  names.emplace_back(scorer_->name());
  for (const auto& selector : selectors_) names.emplace_back(selector->name());
  return names;
}

}  // namespace pulse::serving
