// index/ann_index.h — approximate nearest-neighbour search over item embeddings (FAISS).
//
// Similarity is the inner product (embeddings from ALS are scored by dot product). Vectors are
// addressed by dense id 0..size()-1 in the order given to Build.
// Thread-safety: Search is safe from many threads at once on a built or loaded index; Build,
// Load and Save are not concurrent with anything on the same object. Serving never mutates an
// index: a new one is built elsewhere and swapped in whole (see serving's model snapshot).
// Failures: FAISS throws; this adapter converts every exception into a Status. A missing file is
// NotFound; a truncated or corrupt one is DataLoss, never a crash: before FAISS reads a file its
// layout is walked and every length field is checked against the file size (so a corrupt length
// cannot trigger a huge allocation), and after reading, the HNSW graph is checked (every neighbour
// id in range) so a flipped byte cannot make Search read out of bounds. Float payload corruption
// is not detectable here; model bundles (rollout/model_bundle.h) checksum every file.
// Kinds (IndexConfig::type):
//   ivf   the default. FAISS k-means (L2) splits the items into nlist lists (an IndexIVFFlat);
//         a query scores the centroids by inner product and scans the nprobe best lists with
//         core/vector_math.h's DotMany (Debian's FAISS is built for the x86-64 baseline, so its own
//         list scan is scalar; ann_index.cc says why L2 lists with inner-product probes). Build
//         tunes nprobe: the smallest value whose mean recall@k against exact search over sample
//         queries (user vectors when given) reaches the target; it is stored in the file (FAISS's
//         nprobe field) and reported by params().
//   hnsw  FAISS HNSW with an AVX2 distance computer. On trained ALS factors of 90K items a query
//         costs 0.5-0.65 ms of CPU at k = 200-330 against ivf's 41-52 µs, for 1-2 points more
//         recall (docs/BENCHMARKS.md), which is why ivf replaced it as the default.
//   flat  exact search (FAISS IndexFlatIP), for small catalogs and as ground truth.
// Load reads whatever kind the file holds; the config supplies that kind's search-time knobs.
//
// NOTE (OpenMP): FAISS opens an OpenMP parallel region even for one query. HNSW parallelises over
// queries, so one thread does the work while the others are forked, allocate a visited table,
// and are joined (then spin-wait); inside a multi-threaded server every calling thread would also
// get its own OpenMP pool. So Search limits OpenMP to one thread for its own call (the caller's
// setting is restored). Measured with bench/ann_bench.cc (100K x 64, 200 Gaussian clusters,
// k=200, default config, 2 vCPUs shared with other jobs, median per query):
//   HNSW, 1 caller:   1 OpenMP thread 423 us  vs  OpenMP default 12.9 ms (8-20 ms across runs)
//   HNSW, 2 callers:  1 OpenMP thread 481 us  vs  OpenMP default 866 us
//   flat, 1 caller:   3.41 ms either way (FAISS's flat path already uses min(queries, threads))
// With the OpenMP default, OMP_WAIT_POLICY=passive gave 537 us and =active 417 us (but burns a
// core per pool): the cost is the fork/join and waiting for a worker on a busy core, not search.
// The ivf search is Pulse's own loop and uses no OpenMP.
// Build keeps the OpenMP default (all cores): it is an offline step.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/ids.h"
#include "core/status.h"

namespace pulse::index {

// What an ivf index was built with (zeros for other kinds).
struct IvfParams {
  int nlist = 0;
  int nprobe = 0;           // in use (the config's override, else the tuned value)
  int tuned_nprobe = 0;     // chosen at build; 0 when the index was loaded
  double tuned_recall = 0;  // mean recall@recall_k of tuned_nprobe at build
  int recall_k = 0;
  int tuning_queries = 0;
};

struct Neighbor {
  DenseId id = 0;
  float score = 0;  // inner product with the query
};

class AnnIndex {
 public:
  virtual ~AnnIndex() = default;

  // Builds an index of `n` row-major vectors of `dim` floats. config.type: "ivf", "hnsw" or
  // "flat". `tuning_queries` (row-major, dim floats each; typically a sample of user vectors)
  // drive ivf's nprobe tuning; when empty, a sample of the vectors themselves is used.
  // InvalidArgument on a bad config, dim < 1, n > 2^31-1, a non-finite component or a ragged
  // tuning set. n == 0 is allowed (every Search returns nothing). HNSW insertion runs on all
  // OpenMP threads, so its graph may vary slightly between runs; ivf's k-means is seeded.
  static Result<std::unique_ptr<AnnIndex>> Build(const float* vectors, size_t n, int dim,
                                                 const IndexConfig& config,
                                                 std::span<const float> tuning_queries = {});
  // Reads an index written by Save, of whatever kind the file holds; the search-time knobs
  // (hnsw_ef_search, ivf_nprobe) come from `config`. NotFound when `path` does not exist;
  // DataLoss when it is truncated, corrupt or not a FAISS flat/HNSW/IVF-flat inner-product index;
  // InvalidArgument for a bad config or a path that is not a regular file.
  static Result<std::unique_ptr<AnnIndex>> Load(const std::string& path, const IndexConfig& config);
  // Writes the index with faiss::write_index and fsyncs it. Not atomic: callers that need
  // atomicity write into a temporary directory and rename (as model bundles do).
  virtual Status Save(const std::string& path) const = 0;

  // Top-k neighbours of `query` (dim floats), best first; fewer when the index is smaller.
  // `out` is cleared first. InvalidArgument when k < 1 or the query has a non-finite component.
  virtual Status Search(const float* query, int k, std::vector<Neighbor>* out) const = 0;

  virtual int dim() const = 0;
  virtual size_t size() const = 0;
  virtual std::string type() const = 0;
  virtual IvfParams ivf_params() const { return {}; }
  // Whether Search's scores are Dot(query, item vector) bit for bit (core/vector_math), so a
  // caller may use them as that product without recomputing it.
  virtual bool scores_are_exact_dot() const { return false; }

  // How many OpenMP threads one Search may use: 1 (the default, see the NOTE above) or 0 for
  // "whatever OpenMP would use" (bench/ann_bench.cc compares the two). Safe to call concurrently
  // with Search. Implementations without OpenMP ignore it.
  virtual void SetSearchOmpThreadsForTest(int threads) { (void)threads; }
};

}  // namespace pulse::index
