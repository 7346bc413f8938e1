// The gRPC driver of `pulse bench`: one sender thread starts calls at their scheduled times on
// the completion-queue API, round-robin over several channels (each its own TCP connection), and
// never waits for answers; one completion thread of ours records them. (The callback API ran the
// completions on gRPC's own threads: 25% more generator CPU per call, docs/BENCHMARKS.md.) Latency
// runs from the scheduled time, so a sender that falls behind shows up as latency (no coordinated
// omission).
#include <grpcpp/grpcpp.h>
#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "loadgen/bench.h"
#include "pulse/v1/pulse.grpc.pb.h"

namespace pulse::loadgen {
namespace {

using Clock = std::chrono::steady_clock;

// Calls in flight beyond this make the sender wait (still timing from the schedule), so a dead
// server cannot make the generator allocate without bound.
constexpr int64_t kMaxInFlight = 50'000;

// What the completion thread records; read once it has joined.
struct Completions {
  Histogram latencies;
  uint64_t ok = 0;
  uint64_t done = 0;
  Clock::time_point last_done;
  std::map<std::string, uint64_t> errors;
};

struct Call {
  grpc::ClientContext context;
  v1::RecommendRequest request;
  v1::RecommendResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::RecommendResponse>> reader;
  Clock::time_point scheduled;
};

// Records one finished call (the completion thread only).
void Complete(const Call& call, Completions& completions) {
  const auto done = Clock::now();
  completions.latencies.Record(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(done - call.scheduled).count()));
  completions.last_done = std::max(completions.last_done, done);
  ++completions.done;
  if (call.status.ok()) {
    ++completions.ok;
  } else {
    ++completions
          .errors[std::string(StatusCodeName(static_cast<StatusCode>(call.status.error_code())))];
  }
}

}  // namespace

BenchResult RunGrpc(const BenchOptions& options, double rps, const ZipfSampler& users) {
  const int channels = options.connections > 0 ? options.connections : 4;
  const std::string target = options.host.find(':') != std::string::npos
                                 ? StrCat("[", options.host, "]:", options.port)
                                 : StrCat(options.host, ":", options.port);
  std::vector<std::unique_ptr<v1::Recommender::Stub>> stubs;
  for (int i = 0; i < channels; ++i) {
    grpc::ChannelArguments args;
    // Distinct arguments and a local pool: each channel gets its own connection instead of
    // sharing one subchannel.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("pulse.bench_channel", i);
    stubs.push_back(v1::Recommender::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }

  Completions completions;
  std::atomic<int64_t> in_flight{0};  // started, not yet completed
  UserPicker picker(&users, options.unknown_share, options.user_prefix, options.seed * 1000003);
  Schedule schedule(options.shape, rps, options.duration_s);
  const auto start = Clock::now() + std::chrono::milliseconds(20);
  // Completions on one thread of ours polling the queue: no hop through gRPC's callback threads.
  grpc::CompletionQueue queue;
  std::thread completer([&] {
    void* tag = nullptr;
    bool ok = false;
    while (queue.Next(&tag, &ok)) {
      const auto* call = static_cast<Call*>(tag);
      Complete(*call, completions);
      delete call;
      in_flight.fetch_sub(1, std::memory_order_relaxed);
    }
  });
  std::thread sender([&] {
    prctl(PR_SET_TIMERSLACK, 1);  // wake at the scheduled time, not up to 50 µs later
    std::string user;
    int64_t offset_ns = 0;
    size_t next_stub = 0;
    const auto batch = std::chrono::microseconds(options.batch_us);
    auto last_wake = Clock::time_point::min();
    while (schedule.Next(&offset_ns)) {
      const auto scheduled = start + std::chrono::nanoseconds(offset_ns);
      if (Clock::now() < scheduled) {
        // Not due yet: sleep until it is, but no sooner than a batch after the last wake-up.
        std::this_thread::sleep_until(batch.count() > 0 ? std::max(scheduled, last_wake + batch)
                                                        : scheduled);
        last_wake = Clock::now();
      }
      while (in_flight.load(std::memory_order_relaxed) >= kMaxInFlight) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      auto* call = new Call;
      call->scheduled = scheduled;
      picker.Next(&user);
      call->request.set_user_id(user);
      call->request.set_n(options.n);
      call->context.set_deadline(std::chrono::system_clock::now() +
                                 std::chrono::milliseconds(options.timeout_ms));
      if (!options.api_key.empty()) call->context.AddMetadata("x-api-key", options.api_key);
      in_flight.fetch_add(1, std::memory_order_relaxed);
      v1::Recommender::Stub& stub = *stubs[next_stub];
      next_stub = (next_stub + 1) % stubs.size();
      call->reader = stub.PrepareAsyncRecommend(&call->context, call->request, &queue);
      call->reader->StartCall();
      call->reader->Finish(&call->response, &call->status, call);
    }
  });
  sender.join();
  // Every call ends by its deadline, so the queue drains; Shutdown lets Next return false after
  // the last completion.
  queue.Shutdown();
  completer.join();

  BenchResult result;
  result.ok = completions.ok;
  result.requests = completions.done;
  result.errors = std::move(completions.errors);
  result.latency_ns = std::move(completions.latencies);
  SetRates(options, rps, start, completions.last_done, &result);
  return result;
}

}  // namespace pulse::loadgen
