#include "tools/commands.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "core/clock.h"
#include "core/config.h"
#include "core/flags.h"
#include "ingest/file_readers.h"
#include "ingest/json_codec.h"
#include "nlohmann/json.hpp"
#include "store/data_dir.h"
#include "tools/synthetic.h"

namespace pulse::tools {
namespace {

constexpr size_t kEventBatch = 50'000;
constexpr size_t kItemBatch = 1'000;
constexpr size_t kRejectsListed = 20;

// ---- gen ----

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};

// Writes one JSON object per line to `path` via a temporary file renamed into place, so a
// reader never sees half a file.
template <typename T, typename ToJson>
Status WriteJsonl(const std::string& path, const std::vector<T>& values, ToJson to_json) {
  const std::string tmp = path + ".tmp";
  std::unique_ptr<std::FILE, FileCloser> out(std::fopen(tmp.c_str(), "wb"));
  if (!out) return InternalError(StrCat("cannot write ", tmp));
  std::string line;
  for (const T& value : values) {
    // Generated strings are ASCII; `replace` only guarantees dump() cannot throw.
    line = to_json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    line.push_back('\n');
    if (std::fwrite(line.data(), 1, line.size(), out.get()) != line.size()) {
      return InternalError(StrCat("error writing ", tmp));
    }
  }
  if (std::fclose(out.release()) != 0) return InternalError(StrCat("error writing ", tmp));
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return InternalError(StrCat("cannot rename ", tmp, " to ", path, ": ", ec.message()));
  return OkStatus();
}

Result<int64_t> BoundedInt(const Flags& flags, const std::string& name, int64_t fallback,
                           int64_t min, int64_t max) {
  ASSIGN_OR_RETURN(int64_t value, flags.GetInt(name, fallback));
  if (value < min || value > max) {
    return InvalidArgumentError(StrCat("--", name, " must be between ", min, " and ", max));
  }
  return value;
}

Status NoPositional(const Flags& flags) {
  if (!flags.positional().empty()) {
    return InvalidArgumentError(StrCat("unexpected argument '", flags.positional()[0], "'"));
  }
  return OkStatus();
}

Status Gen(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(Flags flags, Flags::Parse(args, {"users", "items", "events", "out", "seed"}));
  RETURN_IF_ERROR(NoPositional(flags));
  ASSIGN_OR_RETURN(std::string out, flags.Require("out"));
  SyntheticParams params;
  ASSIGN_OR_RETURN(params.users, BoundedInt(flags, "users", params.users, 1, 10'000'000));
  ASSIGN_OR_RETURN(params.items, BoundedInt(flags, "items", params.items, 1, 10'000'000));
  ASSIGN_OR_RETURN(params.events, BoundedInt(flags, "events", params.events, 0, 200'000'000));
  ASSIGN_OR_RETURN(int64_t seed, BoundedInt(flags, "seed", 42, 0, INT64_MAX));
  params.seed = static_cast<uint64_t>(seed);

  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) return InternalError(StrCat("cannot create ", out, ": ", ec.message()));
  SyntheticData data = GenerateSynthetic(params);
  const std::string items_path = out + "/items.jsonl";
  const std::string events_path = out + "/events.jsonl";
  RETURN_IF_ERROR(WriteJsonl(items_path, data.items, ingest::ItemToJson));
  RETURN_IF_ERROR(WriteJsonl(events_path, data.events, ingest::EventToJson));
  std::printf("items: %zu -> %s\nevents: %zu (%d users) -> %s\n", data.items.size(),
              items_path.c_str(), data.events.size(), params.users, events_path.c_str());
  return OkStatus();
}

// ---- import ----

struct Reject {
  std::string file;
  int64_t line = 0;
  std::string reason;
};

class ImportReport {
 public:
  void AddReject(const std::string& file, const ingest::LineError& error) {
    ++rejected_;
    if (listed_.size() < kRejectsListed) listed_.push_back({file, error.line, error.reason});
  }
  uint64_t rejected() const { return rejected_; }

  void Print(uint64_t items, uint64_t events, uint64_t duplicates, double seconds) const {
    std::printf("items imported: %llu\n", static_cast<unsigned long long>(items));
    std::printf("events imported: %llu\n", static_cast<unsigned long long>(events));
    std::printf("duplicates: %llu\n", static_cast<unsigned long long>(duplicates));
    std::printf("rejected: %llu\n", static_cast<unsigned long long>(rejected_));
    for (const Reject& r : listed_) {
      std::printf("  %s:%lld: %s\n", r.file.c_str(), static_cast<long long>(r.line),
                  r.reason.c_str());
    }
    if (rejected_ > listed_.size()) {
      std::printf("  ... and %llu more\n",
                  static_cast<unsigned long long>(rejected_ - listed_.size()));
    }
    if (events > 0 && seconds > 0) {
      std::printf("events/s: %.0f (%.2f s)\n", static_cast<double>(events) / seconds, seconds);
    }
  }

 private:
  uint64_t rejected_ = 0;
  std::vector<Reject> listed_;
};

// "\r  events: 1200000 read (310000/s)" on stderr, at most every 100k records, when it is a tty.
class Progress {
 public:
  explicit Progress(std::string what) : what_(std::move(what)), enabled_(isatty(2) == 1) {}
  ~Progress() {
    if (enabled_ && drawn_) std::fputs("\r\033[K", stderr);
  }
  void Tick() {
    if (!enabled_ || ++count_ % 100'000 != 0) return;
    double s = watch_.ElapsedSeconds();
    std::fprintf(stderr, "\r  %s: %llu read (%.0f/s)", what_.c_str(),
                 static_cast<unsigned long long>(count_), s > 0 ? count_ / s : 0.0);
    drawn_ = true;
  }

 private:
  std::string what_;
  bool enabled_;
  bool drawn_ = false;
  uint64_t count_ = 0;
  Stopwatch watch_;
};

Status CheckReadable(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return NotFoundError(StrCat("cannot read ", path, ": not a file"));
  }
  return OkStatus();
}

Status Import(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(Flags flags,
                   Flags::Parse(args, {"data-dir", "items", "events", "format", "config"}));
  RETURN_IF_ERROR(NoPositional(flags));
  ASSIGN_OR_RETURN(ingest::FileFormat format,
                   ingest::ParseFileFormat(flags.GetString("format", "jsonl")));
  const std::string items_path = flags.GetString("items");
  const std::string events_path = flags.GetString("events");
  if (items_path.empty() && events_path.empty()) {
    return InvalidArgumentError("nothing to import: give --items FILE and/or --events FILE");
  }
  Config config;
  if (flags.Has("config")) {
    ASSIGN_OR_RETURN(config, LoadConfigFile(flags.GetString("config")));
  }
  std::string data_dir_path = flags.GetString("data-dir");
  if (data_dir_path.empty()) {
    if (!flags.Has("config")) return InvalidArgumentError("--data-dir is required");
    data_dir_path = config.data_dir;
  }
  // Check inputs before touching the data dir, so a typo imports nothing.
  if (!items_path.empty()) RETURN_IF_ERROR(CheckReadable(items_path));
  if (!events_path.empty()) RETURN_IF_ERROR(CheckReadable(events_path));

  ASSIGN_OR_RETURN(auto dir, store::DataDir::Open(data_dir_path, config.store));
  ImportReport report;
  uint64_t items_imported = 0, events_imported = 0, duplicates = 0;
  Stopwatch events_watch;
  double events_seconds = 0;

  auto run = [&]() -> Status {
    if (!items_path.empty()) {
      std::vector<Item> batch;
      auto flush = [&]() -> Status {
        RETURN_IF_ERROR(dir->PutItems(batch));
        items_imported += batch.size();
        batch.clear();
        return OkStatus();
      };
      Progress progress("items");
      RETURN_IF_ERROR(ingest::ReadItemsFile(
          items_path, format,
          [&](Item&& item) -> Status {
            progress.Tick();
            batch.push_back(std::move(item));
            return batch.size() >= kItemBatch ? flush() : OkStatus();
          },
          [&](const ingest::LineError& e) { report.AddReject(items_path, e); }));
      RETURN_IF_ERROR(flush());
    }
    if (!events_path.empty()) {
      events_watch = Stopwatch();
      std::vector<Event> batch;
      batch.reserve(kEventBatch);
      auto flush = [&]() -> Status {
        ASSIGN_OR_RETURN(store::AppendResult r, dir->AppendEvents(batch, /*sync=*/false));
        events_imported += r.appended;
        duplicates += r.duplicates;
        batch.clear();
        return OkStatus();
      };
      Progress progress("events");
      RETURN_IF_ERROR(ingest::ReadEventsFile(
          events_path, format,
          [&](Event&& event) -> Status {
            progress.Tick();
            batch.push_back(std::move(event));
            return batch.size() >= kEventBatch ? flush() : OkStatus();
          },
          [&](const ingest::LineError& e) { report.AddReject(events_path, e); }));
      RETURN_IF_ERROR(flush());
      RETURN_IF_ERROR(dir->Sync());
      events_seconds = events_watch.ElapsedSeconds();
    }
    return OkStatus();
  };
  Status status = run();
  // Whatever was appended before a failure is reported below, so make it durable too.
  if (!status.ok() && events_imported > 0) dir->Sync().IgnoreError();
  // Report what was done even when a later step failed: those items/events are stored.
  report.Print(items_imported, events_imported, duplicates, events_seconds);
  if (!status.ok()) return WithContext(status, StrCat("importing into ", data_dir_path));
  return OkStatus();
}

}  // namespace

int RunGenCommand(const std::vector<std::string>& args) {
  Status status = Gen(args);
  return status.ok() ? 0 : ExitWithError("gen", status);
}

int RunImportCommand(const std::vector<std::string>& args) {
  Status status = Import(args);
  return status.ok() ? 0 : ExitWithError("import", status);
}

}  // namespace pulse::tools
