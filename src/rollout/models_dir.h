// rollout/models_dir.h — the models directory as a whole: which bundle serves (the pin), what
// each bundle's manifest says (with defaults for older bundles), verification, and retention.
//
// The pin: <models_dir>/active holds one version name ("v000003\n"). While it exists every
// server serves exactly that version (even when newer ones exist: a rollback); without it the
// newest bundle that verifies serves ("newest wins"). It is written atomically (temp file +
// fsync + rename + directory fsync), so a server polling it reads the old pin or the new one,
// never a torn one. `pulse models activate` writes it only after the bundle verified.
//
// Retention removes a bundle by renaming it to a ".tmp-*" name first (readers ignore those and
// so never see a half-deleted bundle), then deleting it. It never removes the newest bundle (the
// next version number derives from it), the pinned one, or any version the caller protects (the
// one being served).
//
// Thread-safety: every function may run concurrently with bundle writers and readers, in this
// process or another. Failures are Status values; nothing throws.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace pulse::rollout {

// The pin file's name inside the models directory.
inline constexpr char kPinFileName[] = "active";

// The pinned version, or nullopt when there is no pin. DataLoss when the file does not hold a
// version name (a hand edit): callers keep serving what they serve.
Result<std::optional<std::string>> ReadPinnedVersion(const std::string& models_dir);
// Pins `version` (InvalidArgument unless it is a version name). Checks nothing about the bundle:
// callers verify first (see ActivateModelVersion).
Status WritePinnedVersion(const std::string& models_dir, const std::string& version);
// Removes the pin (OK when there is none): newest wins again.
Status ClearPinnedVersion(const std::string& models_dir);

// What a manifest says, for listing. Fields a bundle written by an older build lacks keep these
// defaults (-1 / 0 / empty = unknown).
struct ManifestSummary {
  std::string version;
  int64_t created_at_ms = 0;
  int dim = 0;
  int64_t item_count = 0;
  int64_t user_count = 0;
  std::string index_type;
  int64_t event_count = -1;       // events the training run read
  int64_t first_event_ts_ms = 0;  // training data range (event time)
  int64_t last_event_ts_ms = 0;
  uint64_t first_seq = 0;  // training data range (event log sequence); 0 = unknown
  uint64_t last_seq = 0;
  std::optional<double> recall_at_10;  // the held-out check (extra.metrics)
  std::optional<double> ndcg_at_10;
};
// Parses manifest text leniently: only "version" is required (DataLoss otherwise, or when the
// text is not a JSON object); everything else falls back to the defaults above.
Result<ManifestSummary> SummarizeManifest(const std::string& manifest_text);

enum class BundleState { kAvailable, kActive, kRefused };
std::string_view BundleStateName(BundleState state);  // "available" | "active" | "refused"

struct ModelInfo {
  ManifestSummary summary;
  BundleState state = BundleState::kAvailable;
  bool pinned = false;
  Status verification;        // OK, or why the bundle is refused (DataLoss: corrupt/truncated)
  std::string manifest_json;  // the manifest text as stored ("" when unreadable)
};

// Every version under `models_dir`, oldest first, each verified in full (checksums, sizes, the
// index loads). The active one is what a server on this directory serves: the pinned version
// when it verifies, else the newest that verifies. The pin, when set, is in *pinned.
Result<std::vector<ModelInfo>> ListModels(const std::string& models_dir,
                                          const IndexConfig& index_config,
                                          std::optional<std::string>* pinned = nullptr);
// One version, verified. InvalidArgument for a malformed version name, NotFound when absent.
Result<ModelInfo> ShowModel(const std::string& models_dir, const std::string& version,
                            const IndexConfig& index_config);
// Verifies `version` and pins it; "latest" clears the pin. InvalidArgument for a malformed
// name, NotFound when absent, DataLoss (naming the file) when it fails verification; on any
// failure the pin is left as it was.
Status ActivateModelVersion(const std::string& models_dir, const std::string& version,
                            const IndexConfig& index_config);

// Removes all but the newest `keep` versions (keep <= 0: nothing), sparing the pinned version
// and `protect`. Returns the versions removed. A failure to remove one is logged and skipped.
std::vector<std::string> PruneModelVersions(const std::string& models_dir, int keep,
                                            const std::set<std::string>& protect);

}  // namespace pulse::rollout
