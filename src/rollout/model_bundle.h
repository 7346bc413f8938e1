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
// Versions are "v" + 6 digits, increasing ("v000001"); ordering by name is ordering by age.
// A bundle is written to a temporary directory and renamed into place, so a reader never sees a
// half-written one; a bundle whose checksums do not match is refused with DataLoss.
//
// Thread-safety: a loaded ModelBundle is immutable and shared read-only (shared_ptr<const>).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/ids.h"
#include "core/status.h"
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

  const float* ItemVector(DenseId item) const {
    return item_factors.data() + static_cast<size_t>(item) * static_cast<size_t>(dim);
  }
  const float* UserVector(DenseId user) const {
    return user_factors.data() + static_cast<size_t>(user) * static_cast<size_t>(dim);
  }
};

// Writes `bundle` as the next version under `models_dir` (created if missing). On success sets
// bundle.version and bundle.dir and returns the version.
Result<std::string> WriteModelBundle(const std::string& models_dir, ModelBundle& bundle);

// Loads and verifies the bundle in `bundle_dir`. DataLoss on checksum or size mismatch,
// NotFound when the directory or manifest is missing.
Result<std::shared_ptr<const ModelBundle>> LoadModelBundle(const std::string& bundle_dir,
                                                           const IndexConfig& index_config);

// Versions present under `models_dir`, oldest first (empty when none or no directory).
std::vector<std::string> ListModelVersions(const std::string& models_dir);

}  // namespace pulse::rollout
