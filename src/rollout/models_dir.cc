// rollout/models_dir.cc — pin file, lenient manifest summaries, listing and retention.
#include "rollout/models_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "core/log.h"
#include "rollout/model_bundle.h"

namespace pulse::rollout {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr size_t kMaxPinBytes = 64;

std::string PinPath(const std::string& models_dir) { return StrCat(models_dir, "/", kPinFileName); }

std::string RandomSuffix() {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd());
  char suffix[17];
  std::snprintf(suffix, sizeof(suffix), "%016llx", static_cast<unsigned long long>(rng()));
  return suffix;
}

Status FsyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, StrCat("cannot open ", dir, " to fsync it"));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoToStatus(err, StrCat("cannot fsync ", dir));
  return OkStatus();
}

// Writes `text` to `path` atomically: a temp file beside it, fsync'd, renamed over it.
Status WriteFileAtomically(const std::string& dir, const std::string& path,
                           const std::string& text) {
  const std::string tmp = StrCat(path, ".tmp-", RandomSuffix());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoToStatus(errno, StrCat("cannot create ", tmp));
  size_t done = 0;
  Status status = OkStatus();
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      status = ErrnoToStatus(errno, StrCat("cannot write ", tmp));
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoToStatus(errno, StrCat("cannot fsync ", tmp));
  if (::close(fd) != 0 && status.ok()) status = ErrnoToStatus(errno, StrCat("cannot close ", tmp));
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = ErrnoToStatus(errno, StrCat("cannot rename ", tmp, " to ", path));
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  return FsyncDir(dir);
}

template <typename T>
T Number(const json& j, const char* key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return fallback;
  return it->get<T>();
}

const json& Object(const json& j, const char* key) {
  static const json kEmpty = json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : kEmpty;
}

std::optional<double> OptionalNumber(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

}  // namespace

Result<std::optional<std::string>> ReadPinnedVersion(const std::string& models_dir) {
  const std::string path = PinPath(models_dir);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return ErrnoToStatus(errno, StrCat("cannot open ", path));
  }
  char buf[kMaxPinBytes + 1];
  ssize_t n;
  do {
    n = ::read(fd, buf, sizeof(buf));
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (n < 0) return ErrnoToStatus(err, StrCat("cannot read ", path));
  std::string_view text(buf, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  if (!IsModelVersionName(text)) {
    return DataLossError(StrCat("pin file ", path,
                                " does not hold a version name (expected e.g. v000003); run "
                                "`pulse models activate VERSION` or `--unpin`"));
  }
  return std::optional<std::string>(std::string(text));
}

Status WritePinnedVersion(const std::string& models_dir, const std::string& version) {
  if (!IsModelVersionName(version)) {
    return InvalidArgumentError(
        StrCat("'", version, "' is not a version name (expected v + 6 digits, e.g. v000003)"));
  }
  return WriteFileAtomically(models_dir, PinPath(models_dir), version + "\n");
}

Status ClearPinnedVersion(const std::string& models_dir) {
  const std::string path = PinPath(models_dir);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return OkStatus();
    return ErrnoToStatus(errno, StrCat("cannot remove ", path));
  }
  return FsyncDir(models_dir);
}

Result<ManifestSummary> SummarizeManifest(const std::string& manifest_text) {
  const json j = json::parse(manifest_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return DataLossError("manifest is not a JSON object");
  ManifestSummary s;
  auto version = j.find("version");
  if (version == j.end() || !version->is_string()) {
    return DataLossError("manifest has no \"version\" string");
  }
  s.version = version->get<std::string>();
  s.created_at_ms = Number<int64_t>(j, "created_at_ms", 0);
  s.dim = Number<int>(j, "dim", 0);
  s.item_count = Number<int64_t>(j, "item_count", 0);
  s.user_count = Number<int64_t>(j, "user_count", 0);
  if (auto it = j.find("index_type"); it != j.end() && it->is_string()) {
    s.index_type = it->get<std::string>();
  }
  const json& extra = Object(j, "extra");
  const json& counts = Object(extra, "counts");
  const json& data = Object(extra, "data");
  // Bundles before the data range was recorded still carry counts.events and min/max times.
  s.event_count = Number<int64_t>(data, "event_count", Number<int64_t>(counts, "events", -1));
  s.first_event_ts_ms =
      Number<int64_t>(data, "first_event_ts_ms", Number<int64_t>(data, "min_event_ts_ms", 0));
  s.last_event_ts_ms =
      Number<int64_t>(data, "last_event_ts_ms", Number<int64_t>(data, "max_event_ts_ms", 0));
  s.first_seq = Number<uint64_t>(data, "first_seq", 0);
  s.last_seq = Number<uint64_t>(data, "last_seq", 0);
  const json& metrics = Object(extra, "metrics");
  s.recall_at_10 = OptionalNumber(metrics, "recall@10");
  s.ndcg_at_10 = OptionalNumber(metrics, "ndcg@10");
  return s;
}

std::string_view BundleStateName(BundleState state) {
  switch (state) {
    case BundleState::kActive:
      return "active";
    case BundleState::kRefused:
      return "refused";
    case BundleState::kAvailable:
      break;
  }
  return "available";
}

namespace {

ModelInfo Inspect(const std::string& models_dir, const std::string& version,
                  const IndexConfig& index_config) {
  ModelInfo info;
  info.summary.version = version;
  const std::string dir = StrCat(models_dir, "/", version);
  auto text = ReadManifestJson(dir);
  if (text.ok()) {
    info.manifest_json = *text;
    if (auto summary = SummarizeManifest(*text); summary.ok()) {
      info.summary = std::move(summary).value();
      info.summary.version = version;  // where it lives, as serving reports it
    }
  }
  info.verification = LoadModelBundle(dir, index_config).status();
  if (!info.verification.ok()) info.state = BundleState::kRefused;
  return info;
}

// Marks the one a server would serve: the pinned version when it verifies, else the newest
// that verifies. (With a pin on a refused bundle a server keeps what it serves; nothing here
// is marked active then.)
void MarkActive(std::vector<ModelInfo>& models, const std::optional<std::string>& pinned) {
  for (auto& m : models) m.pinned = pinned && m.summary.version == *pinned;
  if (pinned) {
    for (auto& m : models) {
      if (m.pinned && m.verification.ok()) m.state = BundleState::kActive;
    }
    return;
  }
  for (auto it = models.rbegin(); it != models.rend(); ++it) {
    if (it->verification.ok()) {
      it->state = BundleState::kActive;
      return;
    }
  }
}

Status CheckVersionName(const std::string& version) {
  if (IsModelVersionName(version)) return OkStatus();
  return InvalidArgumentError(
      StrCat("'", version, "' is not a version name (expected v + 6 digits, e.g. v000003)"));
}

}  // namespace

Result<std::vector<ModelInfo>> ListModels(const std::string& models_dir,
                                          const IndexConfig& index_config,
                                          std::optional<std::string>* pinned) {
  ASSIGN_OR_RETURN(std::optional<std::string> pin, ReadPinnedVersion(models_dir));
  std::vector<ModelInfo> models;
  for (const std::string& version : ListModelVersions(models_dir)) {
    models.push_back(Inspect(models_dir, version, index_config));
  }
  MarkActive(models, pin);
  if (pinned != nullptr) *pinned = pin;
  return models;
}

Result<ModelInfo> ShowModel(const std::string& models_dir, const std::string& version,
                            const IndexConfig& index_config) {
  RETURN_IF_ERROR(CheckVersionName(version));
  ASSIGN_OR_RETURN(std::vector<ModelInfo> models, ListModels(models_dir, index_config));
  for (ModelInfo& m : models) {
    if (m.summary.version == version) return std::move(m);
  }
  return NotFoundError(StrCat("no model version ", version, " in ", models_dir));
}

Status ActivateModelVersion(const std::string& models_dir, const std::string& version,
                            const IndexConfig& index_config) {
  if (version == "latest") return ClearPinnedVersion(models_dir);
  RETURN_IF_ERROR(CheckVersionName(version));
  const std::vector<std::string> versions = ListModelVersions(models_dir);
  if (std::find(versions.begin(), versions.end(), version) == versions.end()) {
    return NotFoundError(StrCat("no model version ", version, " in ", models_dir));
  }
  Status verified = LoadModelBundle(StrCat(models_dir, "/", version), index_config).status();
  if (!verified.ok()) {
    return Status(verified.code(),
                  StrCat("refusing to activate ", version, ": ", verified.message()));
  }
  return WritePinnedVersion(models_dir, version);
}

std::vector<std::string> PruneModelVersions(const std::string& models_dir, int keep,
                                            const std::set<std::string>& protect) {
  std::vector<std::string> removed;
  if (keep <= 0) return removed;
  std::vector<std::string> versions = ListModelVersions(models_dir);
  if (versions.size() <= static_cast<size_t>(keep)) return removed;
  std::optional<std::string> pinned;
  if (auto pin = ReadPinnedVersion(models_dir); pin.ok()) {
    pinned = *pin;
  } else {
    // An unreadable pin might name any version: remove nothing rather than guess.
    LOG_WARN("rollout", "not pruning model bundles: ", pin.status().ToString());
    return removed;
  }
  versions.resize(versions.size() - static_cast<size_t>(keep));  // the older ones
  for (const std::string& version : versions) {
    if (protect.count(version) || (pinned && *pinned == version)) continue;
    // Out of the version namespace first, so no reader lists a half-deleted bundle.
    const std::string from = StrCat(models_dir, "/", version);
    const std::string to = StrCat(models_dir, "/.tmp-removed-", version, "-", RandomSuffix());
    std::error_code ec;
    fs::rename(from, to, ec);
    if (ec) {
      LOG_WARN("rollout", "cannot remove model bundle ", version, ": ", ec.message());
      continue;
    }
    fs::remove_all(to, ec);
    if (ec) LOG_WARN("rollout", "removing ", to, " failed: ", ec.message());
    removed.push_back(version);
  }
  return removed;
}

}  // namespace pulse::rollout
