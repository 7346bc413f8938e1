// rules/filter.h — the filtering stage: remove candidates that must not be shown, and say why.
//
// Apply() compacts `candidates` in place (the kept ones keep their relative order) and appends
// one RemovedCandidate per removed item to context.removed, so "why didn't I see X?" is a query.
// Filters never fail a request. Cheaper filters run first (configuration order).
// Thread-safety: const, called concurrently.
//   request_exclude  ids the request's `exclude` lists
//   unavailable      items deleted or marked unavailable in the catalog (from the next request on)
//   seen             items the user already engaged with
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "candidates/context.h"
#include "core/status.h"

namespace pulse::rules {

class Filter {
 public:
  virtual ~Filter() = default;
  virtual std::string_view name() const = 0;
  virtual void Apply(candidates::RecommendContext& context,
                     std::vector<candidates::Candidate>& candidates) const = 0;
};

class RequestExcludeFilter final : public Filter {
 public:
  std::string_view name() const override { return "request_exclude"; }
  void Apply(candidates::RecommendContext& context,
             std::vector<candidates::Candidate>& candidates) const override;
};

class UnavailableItemsFilter final : public Filter {
 public:
  std::string_view name() const override { return "unavailable"; }
  void Apply(candidates::RecommendContext& context,
             std::vector<candidates::Candidate>& candidates) const override;
};

class SeenItemsFilter final : public Filter {
 public:
  std::string_view name() const override { return "seen"; }
  void Apply(candidates::RecommendContext& context,
             std::vector<candidates::Candidate>& candidates) const override;
};

// The filter registered under `name`; InvalidArgument for unknown names.
Result<std::unique_ptr<Filter>> MakeFilter(std::string_view name);

}  // namespace pulse::rules
