// rules/selector.h — the selection stage: business rules over the scored candidates, ending in
// the top-N cut. Selectors run in order on one list; each is named by what it does.
//   RankByScore     order by score, best first (ties: lower dense id first, for determinism)
//   CapPerCategory  at most `max` items per category among the first n; items over the cap move
//                   behind the others (used only when there are not enough others to fill n)
//   TruncateTopN    keep the first n
// Thread-safety: const, called concurrently.
#pragma once

#include <string_view>
#include <vector>

#include "candidates/context.h"

namespace pulse::rules {

class Selector {
 public:
  virtual ~Selector() = default;
  virtual std::string_view name() const = 0;
  virtual void Apply(candidates::RecommendContext& context,
                     std::vector<candidates::Candidate>& candidates) const = 0;
};

class RankByScore final : public Selector {
 public:
  RankByScore() = default;
  // `only_top_n`: order just the first context.n candidates (the rest follow in unspecified
  // order) — for a pipeline whose next selector is TruncateTopN, which drops the rest. The first
  // n are the same, in the same order, as with a full sort (the order is total).
  explicit RankByScore(bool only_top_n) : only_top_n_(only_top_n) {}
  std::string_view name() const override { return "rank_by_score"; }
  void Apply(candidates::RecommendContext& context,
             std::vector<candidates::Candidate>& candidates) const override;

 private:
  bool only_top_n_ = false;
};

class CapPerCategory final : public Selector {
 public:
  explicit CapPerCategory(int max_per_category) : max_(max_per_category) {}
  std::string_view name() const override { return "cap_per_category"; }
  void Apply(candidates::RecommendContext& context,
             std::vector<candidates::Candidate>& candidates) const override;

 private:
  int max_;
};

class TruncateTopN final : public Selector {
 public:
  std::string_view name() const override { return "truncate_top_n"; }
  void Apply(candidates::RecommendContext& context,
             std::vector<candidates::Candidate>& candidates) const override;
};

}  // namespace pulse::rules
