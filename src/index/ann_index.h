// index/ann_index.h — approximate nearest-neighbour search over item embeddings (FAISS).
//
// Similarity is the inner product (embeddings from ALS are scored by dot product). Vectors are
// addressed by dense id 0..size()-1 in the order given to Build.
// Thread-safety: Search is safe from many threads at once on a built or loaded index; Build,
// Load and Save are not concurrent with anything on the same object. Serving never mutates an
// index: a new one is built elsewhere and swapped in whole (see serving's model snapshot).
// Failures: FAISS throws; this adapter converts every exception into a Status.
// Latency budget: one Search with k<=500 on 100K x 64 should stay well under 1 ms.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/ids.h"
#include "core/status.h"

namespace pulse::index {

struct Neighbor {
  DenseId id = 0;
  float score = 0;  // inner product with the query
};

class AnnIndex {
 public:
  virtual ~AnnIndex() = default;

  // Builds an index of `n` row-major vectors of `dim` floats. config.type: "hnsw" or "flat".
  static Result<std::unique_ptr<AnnIndex>> Build(const float* vectors, size_t n, int dim,
                                                 const IndexConfig& config);
  // Reads an index written by Save. ef_search comes from `config` (a search-time knob).
  static Result<std::unique_ptr<AnnIndex>> Load(const std::string& path,
                                                const IndexConfig& config);
  virtual Status Save(const std::string& path) const = 0;

  // Top-k neighbours of `query` (dim floats), best first; fewer when the index is smaller.
  // `out` is cleared first. InvalidArgument when k < 1.
  virtual Status Search(const float* query, int k, std::vector<Neighbor>* out) const = 0;

  virtual int dim() const = 0;
  virtual size_t size() const = 0;
  virtual std::string type() const = 0;
};

}  // namespace pulse::index
