// rollout/model_bundle.h — a versioned model bundle: what `pulse train` writes and serving loads.
//
// On disk, <models_dir>/<version>/ holds:
//   manifest.json       version, created_at_ms, dim, counts, training parameters, offline
//                       metrics, and a SHA-256 (hex) + size for every other file
//   items.txt           item ids, one per line, in dense-id order
//   users.txt           user ids, one per line, in dense-id order
//   item_factors.f32    items x dim float32, little-endian, row-major
//   user_factors.f32    users x dim float32
//   item_popularity.f32 items float32: decayed engagement weight in the training data
//   index.faiss         the ANN index over item_factors (index/ann_index.h)
//   ranker.json         optional: the learned ranker, an XGBoost JSON model (gbdt/ensemble.h)
// Versions are "v" + 6 digits, increasing ("v000001"); ordering by name is ordering by age.
// A bundle is written to a temporary directory (<models_dir>/.tmp-<random>/, every file and the
// directory fsync'd) and renamed into place without replacing anything, so a reader never sees a
// half-written one and concurrent writers get distinct versions. A crash may leave a .tmp-*
// directory behind; readers ignore it. A bundle whose checksums or sizes do not match is refused
// with DataLoss. Byte layout and manifest keys: docs/design/model-bundle.md.
//
// Thread-safety: a loaded ModelBundle is immutable and shared read-only (shared_ptr<const>).
// Write, Load and List may run concurrently from any threads or processes.
// Ids are personal data: error messages name files and line numbers, never ids.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/ids.h"
#include "core/status.h"
#include "gbdt/evaluator.h"
#include "index/ann_index.h"

namespace pulse::rollout {

struct ModelBundle {
  std::string version;  // set by Write/Load
  std::string dir;      // set by Write/Load
  int64_t created_at_ms = 0;
  int dim = 0;
  IdDictionary items;
  IdDictionary users;
  std::vector<float> item_factors;
  std::vector<float> user_factors;
  std::vector<float> item_popularity;
  std::unique_ptr<index::AnnIndex> index;
  // Free-form JSON object text merged into the manifest (parameters, metrics, data range).
  std::string manifest_extra_json = "{}";
  // The learned ranker (issue 4), absent in bundles without one: its XGBoost JSON model as
  // written to ranker.json, and (set by Load; Write ignores it) that model compiled for serving.
  // Load refuses a bundle whose ranker.json does not parse (DataLoss).
  std::string ranker_json;
  std::shared_ptr<const gbdt::CompiledEnsemble> ranker;
  // Derived, not written: LogPopularity(item_popularity[i]) per item, so the hydrator does not
  // take a log per candidate of every request. Filled by LoadModelBundle (and FillDerived);
  // empty in a bundle built in memory without FillDerived, whose readers compute the same
  // values on the fly (rollout::LogPopularity).
  std::vector<float> item_log_popularity;

  const float* ItemVector(DenseId item) const {
    return item_factors.data() + static_cast<size_t>(item) * static_cast<size_t>(dim);
  }
  const float* UserVector(DenseId user) const {
    return user_factors.data() + static_cast<size_t>(user) * static_cast<size_t>(dim);
  }
};

// The popularity feature's log scale: log1p(popularity) as a float, 0 unless popularity > 0 (NaN
// included). Positive exactly when popularity > 0. Serving reads it from
// ModelBundle::item_log_popularity; this is the one definition both use.
inline float LogPopularity(float popularity) {
  return popularity > 0 ? std::log1p(popularity) : 0.0f;
}

// Fills the bundle's derived tables (item_log_popularity) from its data. LoadModelBundle calls
// it; a bundle built in memory may, to serve as a loaded one does.
void FillDerived(ModelBundle& bundle);

// Writes `bundle` as the next version under `models_dir` (created if missing). On success sets
// bundle.version and bundle.dir (and created_at_ms to now when it was 0) and returns the version.
// InvalidArgument when the bundle is inconsistent (factor sizes vs counts x dim, index size or
// dim, an empty id or one with a control character, non-finite values, manifest_extra_json not
// a JSON object); I/O failures map errno (ENOSPC -> ResourceExhausted, EACCES ->
// PermissionDenied, ...). On failure nothing is left under models_dir.
Result<std::string> WriteModelBundle(const std::string& models_dir, ModelBundle& bundle);

// Loads and verifies the bundle in `bundle_dir`: every file listed in the manifest must match
// its size and SHA-256, factor sizes must match counts x dim, ids must be unique. DataLoss
// (naming the file) on any mismatch or a manifest that is not valid JSON / lacks a key;
// NotFound when the directory or manifest is missing; FailedPrecondition for a format_version
// this build does not read. The index kind comes from the manifest; `index_config` supplies
// search-time knobs (hnsw_ef_search). version = the directory name when it is a version name,
// else the manifest's "version".
Result<std::shared_ptr<const ModelBundle>> LoadModelBundle(const std::string& bundle_dir,
                                                           const IndexConfig& index_config);

// The manifest text of the bundle in `bundle_dir` (for `pulse models show`). NotFound when the
// directory or manifest is missing, DataLoss when it is not valid JSON. Checks nothing else.
Result<std::string> ReadManifestJson(const std::string& bundle_dir);

// Versions present under `models_dir`, oldest first (empty when none or no directory): directories
// named v + 6 digits that hold a manifest.json. Unverified (Load checks).
std::vector<std::string> ListModelVersions(const std::string& models_dir);

// Whether `name` is a version name ("v" + 6 digits).
bool IsModelVersionName(std::string_view name);

}  // namespace pulse::rollout
