#include "evaluation/pipeline_model.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>

#include "core/clock.h"
#include "core/strings.h"
#include "index/ann_index.h"
#include "nlohmann/json.hpp"
#include "rollout/model_bundle.h"
#include "serving/engine.h"
#include "store/data_dir.h"
#include "train/als.h"
#include "train/interactions.h"
#include "train/parallel.h"
#include "train/popularity.h"

namespace pulse::evaluation {
namespace {

// A clock stopped at one instant.
class FrozenClock final : public Clock {
 public:
  explicit FrozenClock(int64_t micros) : micros_(micros) {}
  int64_t NowMicros() const override { return micros_; }

 private:
  int64_t micros_;
};

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class ScratchDir {
 public:
  static Result<ScratchDir> Create() {
    std::error_code ec;
    std::string pattern = (std::filesystem::temp_directory_path(ec) / "pulse-eval-XXXXXX").string();
    if (ec) return InternalError(StrCat("no temp directory: ", ec.message()));
    if (mkdtemp(pattern.data()) == nullptr) {
      return InternalError(StrCat("cannot create a directory like ", pattern));
    }
    return ScratchDir(std::move(pattern));
  }
  ScratchDir(ScratchDir&& other) noexcept : path_(std::exchange(other.path_, "")) {}
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// What `pulse train` does to a data dir (train/commands.cc), without its output: ALS, decayed
// popularity, the ANN index and the manifest's training parameters (which serving's fold-in
// reads back).
Status TrainBundle(const store::DataDir& dir, const Config& config) {
  train::InteractionsBuilder builder;
  train::DecayedPopularity popularity;
  RETURN_IF_ERROR(dir.ForEachEvent([&](const Event& event) {
    if (auto added = builder.Add(event)) popularity.Add(added->item, added->weight, event.ts_ms);
    return OkStatus();
  }));
  train::Interactions data = builder.Build();
  ASSIGN_OR_RETURN(train::AlsModel model, train::TrainAls(data, config.train));
  ASSIGN_OR_RETURN(auto index, index::AnnIndex::Build(model.item_factors.data(), model.num_items,
                                                      model.dim, config.index));
  rollout::ModelBundle bundle;
  bundle.dim = model.dim;
  bundle.item_popularity = popularity.Finish(data.num_items());
  bundle.users = data.TakeUsers();
  bundle.items = data.TakeItems();
  bundle.user_factors = std::move(model.user_factors);
  bundle.item_factors = std::move(model.item_factors);
  bundle.index = std::move(index);
  const TrainConfig& c = config.train;
  nlohmann::json extra = {{"training",
                           {{"algorithm", "ials"},
                            {"factors", c.factors},
                            {"iterations", c.iterations},
                            {"regularization", c.regularization},
                            {"alpha", c.alpha},
                            {"solver", c.solver},
                            {"cg_steps", c.cg_steps},
                            {"seed", c.seed}}},
                          {"source", "pulse eval"}};
  bundle.manifest_extra_json = extra.dump();
  return rollout::WriteModelBundle(dir.models_dir(), bundle).status();
}

}  // namespace

Result<std::vector<std::vector<DenseId>>> RecommendWithPipeline(const HoldoutData& data,
                                                                const Config& base, int k,
                                                                PipelineTimes* times) {
  const train::EvalSplit& split = data.split;
  const train::Interactions& trained = split.train;
  Stopwatch train_time;
  ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::Create());
  Config config = base;
  config.data_dir = scratch.path();
  config.store.backend = "embedded";
  size_t longest = 0;
  for (size_t u = 0; u < trained.num_users(); ++u) {
    longest = std::max(longest, trained.UserItems(static_cast<DenseId>(u)).size());
  }
  config.store.history_per_user =
      std::max(config.store.history_per_user, static_cast<int>(std::min<size_t>(longest, 1 << 30)));
  config.pipeline.max_n = std::max(config.pipeline.max_n, k);
  // HNSW builds its graph on all OpenMP threads, so two runs could differ; the exact index keeps
  // the evaluation deterministic (and is what HNSW approximates).
  config.index.type = "flat";

  ASSIGN_OR_RETURN(auto dir, store::DataDir::Open(scratch.path(), config.store));
  std::vector<const Event*> order;
  order.reserve(data.train_events.size());
  int64_t newest = 0;
  for (const Event& event : data.train_events) {
    order.push_back(&event);
    newest = std::max(newest, event.ts_ms);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const Event* a, const Event* b) { return a->ts_ms < b->ts_ms; });
  constexpr size_t kBatch = 50000;
  std::vector<Event> batch;
  for (size_t i = 0; i < order.size(); i += kBatch) {
    batch.clear();
    for (size_t j = i; j < std::min(order.size(), i + kBatch); ++j) {
      batch.push_back(*order[j]);
      batch.back().event_id.clear();  // every training event counts, even repeated ids
    }
    RETURN_IF_ERROR(dir->AppendEvents(batch, /*sync=*/false).status());
  }
  RETURN_IF_ERROR(WithContext(TrainBundle(*dir, config), "training the pulse model"));
  if (times != nullptr) times->train_seconds = train_time.ElapsedSeconds();

  Stopwatch eval_time;
  const FrozenClock clock((newest + 1000) * 1000);
  std::vector<std::vector<DenseId>> out(split.test_users.size());
  {
    ASSIGN_OR_RETURN(auto engine, serving::Engine::Create(config, dir.get(), &clock));
    std::vector<Status> failures(split.test_users.size());
    train::ParallelFor(split.test_users.size(), train::ResolveThreads(config.train.threads), 16,
                       [&](int, size_t begin, size_t end) {
                         for (size_t u = begin; u < end; ++u) {
                           serving::RecommendRequest request;
                           request.user_id = trained.users().Name(split.test_users[u]);
                           request.n = k;
                           auto response = engine->Recommend(request);
                           if (!response.ok()) {
                             failures[u] = response.status();
                             continue;
                           }
                           for (const serving::RecommendedItem& item : response->items) {
                             if (auto id = trained.items().Find(item.item_id)) {
                               out[u].push_back(*id);
                             }
                           }
                         }
                       });
    for (const Status& failure : failures) {
      if (!failure.ok()) return WithContext(failure, "pulse model recommend");
    }
  }
  if (times != nullptr) times->eval_seconds = eval_time.ElapsedSeconds();
  return out;
}

}  // namespace pulse::evaluation
