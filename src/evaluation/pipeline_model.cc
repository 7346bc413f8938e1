#include "evaluation/pipeline_model.h"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>

#include "core/clock.h"
#include "core/strings.h"
#include "serving/engine.h"
#include "store/data_dir.h"
#include "train/commands.h"
#include "train/interactions.h"
#include "train/parallel.h"

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
  // Exactly what `pulse train` writes, minus its held-out check (this is the evaluation).
  Config train_config = config;
  train_config.train.eval_users = 0;
  RETURN_IF_ERROR(
      WithContext(train::TrainAndWriteBundle(*dir, train_config, train::TrainRunOptions{}).status(),
                  "training the pulse model"));
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
