// The floors of one recommend request's server cost, measured on the served model itself, to
// compare with the whole server's CPU per request (docs/BENCHMARKS.md, "Load generator"):
//   BM_AnnQuery   one FAISS query with the `ann` source's k (300 + seen head-room) for a known
//                 user's vector
//   BM_Scoring    feature hydration + linear scoring of a typical merged candidate list
// and, as a separate process to be loaded by `pulse bench` and read from /proc like the real
// server, an empty gRPC unary call on the callback API (as `pulse serve` uses), or with
// --cq_threads=N on the completion-queue API with N threads each polling its own queue:
//   PULSE_MODEL_DIR=data/models/v000001 ./build/bench/serving_floors_bench
//   ./build/bench/serving_floors_bench --empty_grpc_server=127.0.0.1:15052 [--cq_threads=1]
#include <benchmark/benchmark.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "candidates/context.h"
#include "core/config.h"
#include "pulse/v1/pulse.grpc.pb.h"
#include "ranking/feature_hydrator.h"
#include "ranking/scorer.h"
#include "rollout/model_bundle.h"

namespace pulse {
namespace {

constexpr int kAnnK = 330;           // pipeline default k 300 + typical seen head-room
constexpr size_t kCandidates = 480;  // typical merged list (debug stages of the served model)

const rollout::ModelBundle& Model() {
  static std::shared_ptr<const rollout::ModelBundle> model = [] {
    const char* dir = std::getenv("PULSE_MODEL_DIR");
    if (dir == nullptr) {
      std::fprintf(stderr, "set PULSE_MODEL_DIR to a model bundle directory\n");
      std::exit(2);
    }
    auto loaded = rollout::LoadModelBundle(dir, IndexConfig{});
    if (!loaded.ok()) {
      std::fprintf(stderr, "%s\n", loaded.status().ToString().c_str());
      std::exit(1);
    }
    return *loaded;
  }();
  return *model;
}

void BM_AnnQuery(benchmark::State& state) {
  const rollout::ModelBundle& model = Model();
  std::vector<index::Neighbor> out;
  uint64_t i = 0;
  for (auto _ : state) {
    const DenseId user = static_cast<DenseId>((i++ * 7919) % model.users.size());
    if (!model.index->Search(model.UserVector(user), kAnnK, &out).ok()) {
      state.SkipWithError("search failed");
    }
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_AnnQuery);

void BM_Scoring(benchmark::State& state) {
  const rollout::ModelBundle& model = Model();
  ranking::CoreFeatureHydrator hydrator;
  auto scorer = ranking::LinearScorer::Create(PipelineConfig{}.scorer_weights).value();
  std::vector<DenseId> popular(100);
  for (size_t i = 0; i < popular.size(); ++i) popular[i] = static_cast<DenseId>(i);
  candidates::RecommendContext context;
  context.model = &model;
  context.popular_items = popular;
  context.vector_kind = candidates::UserVectorKind::kTrained;
  context.user_vector.assign(model.UserVector(0), model.UserVector(0) + model.dim);
  std::mt19937 rng(1);
  std::vector<candidates::Candidate> base(kCandidates);
  for (auto& c : base) c.item = static_cast<DenseId>(rng() % model.items.size());
  std::vector<candidates::Candidate> work;
  for (auto _ : state) {
    work = base;
    hydrator.Hydrate(context, work);
    scorer->Score(context, work);
    benchmark::DoNotOptimize(work.data());
  }
}
BENCHMARK(BM_Scoring);

// An empty Recommend: the gRPC callback API's own cost per unary call.
class EmptyRecommender final : public v1::Recommender::CallbackService {
  grpc::ServerUnaryReactor* Recommend(grpc::CallbackServerContext* context,
                                      const v1::RecommendRequest*,
                                      v1::RecommendResponse*) override {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// The same empty Recommend on the completion-queue async API: `threads` threads, each polling its
// own completion queue and answering on the thread that took the request (no hand-off).
std::atomic<bool> g_shutting_down{false};

class EmptyCall {
 public:
  EmptyCall(v1::Recommender::AsyncService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq), responder_(&context_) {
    service_->RequestRecommend(&context_, &request_, &responder_, cq_, cq_, this);
  }
  // Advances on each completion: request arrived → answer; answer sent → wait for the next.
  void Proceed(bool ok) {
    if (!answered_ && ok) {
      answered_ = true;
      responder_.Finish(response_, grpc::Status::OK, this);
      return;
    }
    if (answered_ && !g_shutting_down.load()) new EmptyCall(service_, cq_);
    delete this;
  }

 private:
  v1::Recommender::AsyncService* service_;
  grpc::ServerCompletionQueue* cq_;
  grpc::ServerContext context_;
  v1::RecommendRequest request_;
  v1::RecommendResponse response_;
  grpc::ServerAsyncResponseWriter<v1::RecommendResponse> responder_;
  bool answered_ = false;
};

int RunEmptyServer(const std::string& address, int cq_threads) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  EmptyRecommender callback_service;
  v1::Recommender::AsyncService async_service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues;
  if (cq_threads > 0) {
    builder.RegisterService(&async_service);
    for (int i = 0; i < cq_threads; ++i) queues.push_back(builder.AddCompletionQueue());
  } else {
    builder.RegisterService(&callback_service);
  }
  auto server = builder.BuildAndStart();
  if (!server) return 1;
  std::vector<std::thread> pollers;
  for (auto& cq : queues) {
    pollers.emplace_back([&async_service, cq = cq.get()] {
      for (int i = 0; i < 64; ++i) new EmptyCall(&async_service, cq);
      void* tag = nullptr;
      bool ok = false;
      while (cq->Next(&tag, &ok)) static_cast<EmptyCall*>(tag)->Proceed(ok);
    });
  }
  std::printf("empty gRPC server (%s) on %s (pid %d)\n",
              cq_threads > 0 ? "completion queues" : "callback", address.c_str(), getpid());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  g_shutting_down = true;
  server->Shutdown();
  for (auto& cq : queues) cq->Shutdown();
  for (auto& t : pollers) t.join();
  return 0;
}

}  // namespace
}  // namespace pulse

int main(int argc, char** argv) {
  // As in `pulse` (src/main/pulse.cc): no absl::Mutex deadlock-graph tracking in gRPC's locks,
  // so the empty server's floor is measured on the same footing as the server.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  constexpr char kFlag[] = "--empty_grpc_server=";
  constexpr char kCqFlag[] = "--cq_threads=";
  const char* address = nullptr;
  int cq_threads = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], kFlag, sizeof(kFlag) - 1) == 0) address = argv[i] + sizeof(kFlag) - 1;
    if (std::strncmp(argv[i], kCqFlag, sizeof(kCqFlag) - 1) == 0) {
      cq_threads = std::atoi(argv[i] + sizeof(kCqFlag) - 1);
    }
  }
  if (address != nullptr) return pulse::RunEmptyServer(address, cq_threads);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
