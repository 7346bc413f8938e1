#include "obs/runtime_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include "core/strings.h"

namespace pulse::obs {
namespace {

std::vector<double> LatencyBuckets() {
  return {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
          0.01,    0.025,  0.05,    0.1,    0.25,  0.5,    1};
}

std::string ReadProcFile(const char* path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

int64_t CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int64_t count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the descriptor opendir itself holds
}

}  // namespace

namespace {
std::mutex& PoolsMutex() {
  static std::mutex* mu = new std::mutex();
  return *mu;
}
std::vector<const PoolMetrics*>& Pools() {
  static auto* pools = [] {
    DefaultMetricsRegistry().Register([](std::string* out) { out->append(RenderPoolMetrics()); });
    return new std::vector<const PoolMetrics*>();
  }();
  return *pools;
}
}  // namespace

PoolMetrics::PoolMetrics(std::string pool, int threads)
    : pool_(std::move(pool)), threads_(threads), wait_(LatencyBuckets()) {
  std::lock_guard<std::mutex> lock(PoolsMutex());
  Pools().push_back(this);
}

PoolMetrics::~PoolMetrics() {
  std::lock_guard<std::mutex> lock(PoolsMutex());
  std::erase(Pools(), this);
}

std::string RenderPoolMetrics() {
  std::string out;
  std::lock_guard<std::mutex> lock(PoolsMutex());
  const std::vector<const PoolMetrics*>& pools = Pools();
  auto family = [&](std::string_view name, std::string_view type, std::string_view help,
                    auto value) {
    RenderHeader(&out, name, type, help);
    for (const PoolMetrics* p : pools) {
      StrAppend(out, name, "{pool=\"", p->pool(), "\"} ", value(*p), "\n");
    }
  };
  family("pulse_pool_threads", "gauge", "Worker threads of a pool.",
         [](const PoolMetrics& p) { return static_cast<int64_t>(p.threads()); });
  family("pulse_pool_busy_threads", "gauge", "Workers running a task (utilisation).",
         [](const PoolMetrics& p) { return p.busy(); });
  family("pulse_pool_queue_depth", "gauge", "Tasks waiting for a worker (saturation).",
         [](const PoolMetrics& p) { return p.queue_depth(); });
  family("pulse_pool_rejected_total", "counter", "Tasks refused because the queue was full.",
         [](const PoolMetrics& p) { return p.rejected(); });
  family("pulse_pool_tasks_total", "counter", "Tasks run.",
         [](const PoolMetrics& p) { return p.tasks(); });
  RenderHeader(&out, "pulse_pool_queue_wait_seconds", "histogram",
               "Time a task waited for a worker.");
  for (const PoolMetrics* p : pools) {
    p->wait().Render(&out, "pulse_pool_queue_wait_seconds", StrCat("pool=\"", p->pool(), "\""));
  }
  return out;
}

StageLatency::StageLatency(const std::vector<std::string>& stages) : names_(stages) {
  names_.emplace_back("other");
  for (size_t i = 0; i < names_.size(); ++i) {
    histograms_.push_back(std::make_unique<Histogram>(LatencyBuckets()));
  }
}

void StageLatency::Observe(std::string_view stage, int64_t micros) {
  size_t i = 0;
  while (i + 1 < names_.size() && names_[i] != stage) ++i;
  histograms_[i]->Observe(static_cast<double>(micros) / 1e6);
}

void StageLatency::Render(std::string* out) const {
  RenderHeader(out, "pulse_stage_duration_seconds", "histogram",
               "Time one pipeline stage took for one recommend request.");
  for (size_t i = 0; i < names_.size(); ++i) {
    histograms_[i]->Render(out, "pulse_stage_duration_seconds",
                           StrCat("stage=\"", names_[i], "\""));
  }
}

LabeledCounter::LabeledCounter(std::string name, std::string label, std::string help,
                               std::vector<std::string> values)
    : name_(std::move(name)),
      label_(std::move(label)),
      help_(std::move(help)),
      values_(std::move(values)),
      counts_(new std::atomic<uint64_t>[values_.size()]) {
  for (size_t i = 0; i < values_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void LabeledCounter::Add(std::string_view value, uint64_t n) {
  for (size_t i = 0; i < values_.size(); ++i) {
    if (values_[i] == value) {
      counts_[i].fetch_add(n, std::memory_order_relaxed);
      return;
    }
  }
}

void LabeledCounter::Render(std::string* out) const {
  RenderHeader(out, name_, "counter", help_);
  for (size_t i = 0; i < values_.size(); ++i) {
    StrAppend(*out, name_, "{", label_, "=\"", values_[i], "\"} ",
              counts_[i].load(std::memory_order_relaxed), "\n");
  }
}

std::string RenderProcessMetrics() {
  std::string out;
  const long page = sysconf(_SC_PAGESIZE);
  const long ticks = sysconf(_SC_CLK_TCK);
  // /proc/self/stat: fields after the ")" that closes comm (which may contain spaces).
  std::string stat = ReadProcFile("/proc/self/stat");
  size_t close = stat.rfind(')');
  if (close != std::string::npos && ticks > 0) {
    std::vector<std::string_view> f = Split(std::string_view(stat).substr(close + 2), ' ');
    // f[0] is field 3 (state): utime=14, stime=15, num_threads=20, starttime=22, vsize=23, rss=24.
    auto field = [&f](size_t n) {
      int64_t value = 0;
      return n - 3 < f.size() && ParseInt64(f[n - 3], &value) ? value : 0;
    };
    RenderHeader(&out, "process_cpu_seconds_total", "counter",
                 "Total user and system CPU time spent in seconds.");
    StrAppend(out, "process_cpu_seconds_total ",
              static_cast<double>(field(14) + field(15)) / static_cast<double>(ticks), "\n");
    RenderHeader(&out, "process_threads", "gauge", "Number of OS threads in the process.");
    StrAppend(out, "process_threads ", field(20), "\n");
    RenderHeader(&out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    StrAppend(out, "process_virtual_memory_bytes ", field(23), "\n");
    RenderHeader(&out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    StrAppend(out, "process_resident_memory_bytes ", field(24) * page, "\n");
    // Boot time from /proc/stat turns the start tick into epoch seconds.
    std::string proc_stat = ReadProcFile("/proc/stat");
    size_t btime = proc_stat.find("btime ");
    int64_t boot = 0;
    if (btime != std::string::npos) {
      size_t end = proc_stat.find('\n', btime);
      ParseInt64(std::string_view(proc_stat).substr(btime + 6, end - btime - 6), &boot);
    }
    RenderHeader(&out, "process_start_time_seconds", "gauge",
                 "Start time of the process since unix epoch in seconds.");
    StrAppend(
        out, "process_start_time_seconds ",
        static_cast<double>(boot) + static_cast<double>(field(22)) / static_cast<double>(ticks),
        "\n");
  }
  RenderHeader(&out, "process_open_fds", "gauge", "Number of open file descriptors.");
  StrAppend(out, "process_open_fds ", CountOpenFds(), "\n");
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    RenderHeader(&out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    StrAppend(out, "process_max_fds ", static_cast<int64_t>(limit.rlim_cur), "\n");
  }
  return out;
}

void RegisterProcessMetrics() {
  static std::once_flag once;
  std::call_once(once, [] {
    DefaultMetricsRegistry().Register(
        [](std::string* out) { out->append(RenderProcessMetrics()); });
  });
}

}  // namespace pulse::obs
