// index/ann_index.cc — the FAISS adapter behind AnnIndex (flat and HNSW, inner product).
#include "index/ann_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string_view>
#include <utility>

#include "core/vector_math.h"

namespace pulse::index {
namespace {

constexpr int kMaxDim = 1 << 16;
constexpr int kMaxHnswM = 1024;
constexpr int kMaxEf = 1 << 20;
// FAISS HNSW stores neighbour ids as int32.
constexpr size_t kMaxVectors = static_cast<size_t>(std::numeric_limits<int32_t>::max());
// See the OpenMP NOTE in ann_index.h: measured, one thread wins for single-query search.
constexpr int kDefaultSearchOmpThreads = 1;

uint32_t FourCC(const char (&s)[5]) {
  return static_cast<uint32_t>(static_cast<unsigned char>(s[0])) |
         static_cast<uint32_t>(static_cast<unsigned char>(s[1])) << 8 |
         static_cast<uint32_t>(static_cast<unsigned char>(s[2])) << 16 |
         static_cast<uint32_t>(static_cast<unsigned char>(s[3])) << 24;
}

Status ValidateIndexConfig(const IndexConfig& config) {
  if (config.type != "hnsw" && config.type != "flat") {
    return InvalidArgumentError(
        StrCat("index.type: expected \"hnsw\" or \"flat\", got \"", config.type, "\""));
  }
  if (config.type == "hnsw") {
    if (config.hnsw_m < 2 || config.hnsw_m > kMaxHnswM) {
      return InvalidArgumentError(
          StrCat("index.hnsw_m: must be in [2, ", kMaxHnswM, "], got ", config.hnsw_m));
    }
    if (config.hnsw_ef_construction < 1 || config.hnsw_ef_construction > kMaxEf) {
      return InvalidArgumentError(StrCat("index.hnsw_ef_construction: must be in [1, ", kMaxEf,
                                         "], got ", config.hnsw_ef_construction));
    }
    if (config.hnsw_ef_search < 1 || config.hnsw_ef_search > kMaxEf) {
      return InvalidArgumentError(StrCat("index.hnsw_ef_search: must be in [1, ", kMaxEf, "], got ",
                                         config.hnsw_ef_search));
    }
  }
  return OkStatus();
}

bool AllFinite(const float* v, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) return false;
  }
  return true;
}

// Runs `f` (returning Status), converting anything FAISS or the standard library throws.
// `code` is the status code for a FAISS/library error (DataLoss while loading, Internal otherwise).
template <typename F>
Status CatchAll(StatusCode code, std::string_view what, F&& f) {
  try {
    return f();
  } catch (const faiss::FaissException& e) {
    return Status(code, StrCat(what, ": faiss: ", e.what()));
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError(StrCat(what, ": out of memory"));
  } catch (const std::exception& e) {
    return Status(code, StrCat(what, ": ", e.what()));
  } catch (...) {
    return Status(code, StrCat(what, ": unknown exception"));
  }
}

// Limits OpenMP to `threads` in the calling thread for its lifetime (0 = leave it alone). The
// setting is per-thread in OpenMP, so concurrent searches do not interfere.
class ScopedOmpThreads {
 public:
  explicit ScopedOmpThreads(int threads) : active_(threads > 0) {
    if (!active_) return;
    saved_ = omp_get_max_threads();
    omp_set_num_threads(threads);
  }
  ~ScopedOmpThreads() {
    if (active_) omp_set_num_threads(saved_);
  }
  ScopedOmpThreads(const ScopedOmpThreads&) = delete;
  ScopedOmpThreads& operator=(const ScopedOmpThreads&) = delete;

 private:
  bool active_;
  int saved_ = 0;
};

// --- File layout check -----------------------------------------------------------------------
// faiss::read_index trusts every length field (up to 2^40 elements) and allocates before it
// reads, so a corrupt length could exhaust memory. This walks the layout FAISS 1.7.x writes for
// the two kinds we produce, checking every length against the bytes that remain:
//   flat  "IxFI" header  u64 n, n*4 bytes (the float codes)
//   hnsw  "IHNf" header  vec<f64> assign_probas, vec<i32> cum_nneighbor_per_level, vec<i32> levels,
//                        vec<u64> offsets, vec<i32> neighbors, i32 entry_point, max_level,
//                        efConstruction, efSearch, upper_beam, then a nested "IxFI" storage index
//   header = i32 d, i64 ntotal, i64 dummy, i64 dummy, u8 is_trained, i32 metric_type
//            [, f32 metric_arg when metric_type > 1]
//   vec<T> = u64 count, count*sizeof(T) bytes

class LayoutReader {
 public:
  LayoutReader(std::FILE* file, uint64_t size, std::string_view path)
      : file_(file), size_(size), path_(path) {}

  template <typename T>
  Status Read(T* value, std::string_view field) {
    if (size_ - pos_ < sizeof(T) || std::fread(value, sizeof(T), 1, file_) != 1) {
      return Truncated(field);
    }
    pos_ += sizeof(T);
    return OkStatus();
  }

  // Skips a length-prefixed vector; returns its element count.
  Result<uint64_t> SkipVector(size_t elem_size, std::string_view field) {
    uint64_t count = 0;
    RETURN_IF_ERROR(Read(&count, field));
    if (count > (size_ - pos_) / elem_size) return Truncated(field);
    const uint64_t bytes = count * elem_size;
    if (std::fseek(file_, static_cast<long>(bytes), SEEK_CUR) != 0) return Truncated(field);
    pos_ += bytes;
    return count;
  }

  Status Corrupt(std::string_view why) const {
    return DataLossError(StrCat("ANN index file ", path_, " is corrupt: ", why));
  }
  Status Truncated(std::string_view field) const {
    return DataLossError(
        StrCat("ANN index file ", path_, " is truncated or corrupt (at ", field, ")"));
  }
  uint64_t remaining() const { return size_ - pos_; }

 private:
  std::FILE* file_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::string_view path_;
};

struct IndexHeader {
  int32_t d = 0;
  int64_t ntotal = 0;
};

Status ReadHeader(LayoutReader& r, IndexHeader* h) {
  int64_t dummy = 0;
  uint8_t is_trained = 0;
  int32_t metric = 0;
  RETURN_IF_ERROR(r.Read(&h->d, "header.d"));
  RETURN_IF_ERROR(r.Read(&h->ntotal, "header.ntotal"));
  RETURN_IF_ERROR(r.Read(&dummy, "header"));
  RETURN_IF_ERROR(r.Read(&dummy, "header"));
  RETURN_IF_ERROR(r.Read(&is_trained, "header.is_trained"));
  RETURN_IF_ERROR(r.Read(&metric, "header.metric_type"));
  if (metric != faiss::METRIC_INNER_PRODUCT) {
    return r.Corrupt(StrCat("metric ", metric, " is not inner product"));
  }
  if (h->d < 1 || h->d > kMaxDim) return r.Corrupt(StrCat("dimension ", h->d));
  if (h->ntotal < 0 || static_cast<uint64_t>(h->ntotal) > kMaxVectors) {
    return r.Corrupt(StrCat("vector count ", h->ntotal));
  }
  return OkStatus();
}

Status CheckFlatBody(LayoutReader& r, const IndexHeader& h) {
  ASSIGN_OR_RETURN(uint64_t words, r.SkipVector(4, "flat.codes"));
  if (words != static_cast<uint64_t>(h.ntotal) * static_cast<uint64_t>(h.d)) {
    return r.Corrupt("flat codes size does not match the header");
  }
  return OkStatus();
}

// Walks the file at `path`; returns "flat" or "hnsw".
Result<std::string> CheckIndexFileLayout(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return ErrnoToStatus(errno, StrCat("cannot open ANN index file ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    return InvalidArgumentError(StrCat("ANN index path ", path, " is not a regular file"));
  }
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return ErrnoToStatus(errno, StrCat("cannot open ANN index file ", path));
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{file};
  if (std::fseek(file, 0, SEEK_END) != 0) {
    return ErrnoToStatus(errno, StrCat("cannot read ANN index file ", path));
  }
  const long end = std::ftell(file);
  if (end < 0 || std::fseek(file, 0, SEEK_SET) != 0) {
    return ErrnoToStatus(errno, StrCat("cannot read ANN index file ", path));
  }
  LayoutReader r(file, static_cast<uint64_t>(end), path);

  uint32_t fourcc = 0;
  RETURN_IF_ERROR(r.Read(&fourcc, "fourcc"));
  IndexHeader header;
  std::string type;
  if (fourcc == FourCC("IxFI")) {
    type = "flat";
    RETURN_IF_ERROR(ReadHeader(r, &header));
    RETURN_IF_ERROR(CheckFlatBody(r, header));
  } else if (fourcc == FourCC("IHNf")) {
    type = "hnsw";
    RETURN_IF_ERROR(ReadHeader(r, &header));
    RETURN_IF_ERROR(r.SkipVector(sizeof(double), "hnsw.assign_probas").status());
    RETURN_IF_ERROR(r.SkipVector(sizeof(int32_t), "hnsw.cum_nneighbor_per_level").status());
    RETURN_IF_ERROR(r.SkipVector(sizeof(int32_t), "hnsw.levels").status());
    RETURN_IF_ERROR(r.SkipVector(sizeof(uint64_t), "hnsw.offsets").status());
    RETURN_IF_ERROR(r.SkipVector(sizeof(int32_t), "hnsw.neighbors").status());
    int32_t scalar = 0;
    for (int i = 0; i < 5; ++i) RETURN_IF_ERROR(r.Read(&scalar, "hnsw parameters"));
    uint32_t storage_fourcc = 0;
    RETURN_IF_ERROR(r.Read(&storage_fourcc, "storage.fourcc"));
    if (storage_fourcc != FourCC("IxFI")) return r.Corrupt("HNSW storage is not a flat IP index");
    IndexHeader storage;
    RETURN_IF_ERROR(ReadHeader(r, &storage));
    if (storage.d != header.d || storage.ntotal != header.ntotal) {
      return r.Corrupt("HNSW storage does not match the header");
    }
    RETURN_IF_ERROR(CheckFlatBody(r, storage));
  } else {
    return r.Corrupt("not a FAISS flat or HNSW inner-product index");
  }
  if (r.remaining() != 0) return r.Corrupt(StrCat(r.remaining(), " trailing bytes"));
  return type;
}

// After faiss::read_index: the graph must only reference existing vectors, since HNSW search
// follows neighbour ids without bounds checks.
Status CheckHnswGraph(const faiss::IndexHNSW& index, const std::string& path) {
  auto corrupt = [&](std::string_view why) {
    return DataLossError(StrCat("ANN index file ", path, " is corrupt: ", why));
  };
  const faiss::HNSW& g = index.hnsw;
  const auto n = static_cast<size_t>(index.ntotal);
  const auto* storage = dynamic_cast<const faiss::IndexFlat*>(index.storage);
  if (storage == nullptr || storage->metric_type != faiss::METRIC_INNER_PRODUCT ||
      storage->d != index.d || storage->ntotal != index.ntotal ||
      storage->codes.size() != n * static_cast<size_t>(index.d) * sizeof(float)) {
    return corrupt("HNSW storage does not match the index");
  }
  const auto& cum = g.cum_nneighbor_per_level;
  if (cum.empty() || cum[0] != 0) return corrupt("bad neighbours-per-level table");
  for (size_t i = 1; i < cum.size(); ++i) {
    if (cum[i] < cum[i - 1]) return corrupt("bad neighbours-per-level table");
  }
  const int num_levels = static_cast<int>(cum.size()) - 1;
  if (g.levels.size() != n || g.offsets.size() != n + 1 || g.offsets[0] != 0 ||
      g.offsets[n] != g.neighbors.size()) {
    return corrupt("graph arrays do not match the vector count");
  }
  for (size_t i = 0; i < n; ++i) {
    const int level = g.levels[i];
    if (level < 1 || level > num_levels) return corrupt("vector level out of range");
    if (g.offsets[i + 1] < g.offsets[i] ||
        g.offsets[i + 1] - g.offsets[i] != static_cast<size_t>(cum[level])) {
      return corrupt("neighbour offsets out of range");
    }
  }
  for (faiss::HNSW::storage_idx_t id : g.neighbors) {
    if (id < -1 || id >= static_cast<faiss::HNSW::storage_idx_t>(n)) {
      return corrupt("neighbour id out of range");
    }
  }
  // Search sizes its upper-level beam by upper_beam; FAISS always writes 1.
  if (g.upper_beam != 1) return corrupt("unexpected upper_beam");
  if (n == 0) {
    if (g.entry_point != -1) return corrupt("entry point in an empty graph");
  } else if (g.entry_point < 0 || static_cast<size_t>(g.entry_point) >= n ||
             g.max_level != g.levels[static_cast<size_t>(g.entry_point)] - 1) {
    return corrupt("bad entry point");
  }
  return OkStatus();
}

// An IOWriter that remembers errno so Save can report why a write failed (FAISS only says
// "write error").
class StdioWriter final : public faiss::IOWriter {
 public:
  explicit StdioWriter(std::FILE* file) : file_(file) {}
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    // FAISS writes empty vectors as (nullptr, n, 0); fwrite must never see a null pointer.
    if (size == 0 || nitems == 0) return nitems;
    const size_t written = std::fwrite(ptr, size, nitems, file_);
    if (written != nitems && error_ == 0) error_ = errno != 0 ? errno : EIO;
    return written;
  }
  int error() const { return error_; }

 private:
  std::FILE* file_;
  int error_ = 0;
};

// ---- Inner products for HNSW ----
// Debian's FAISS is built for the x86-64 baseline, and its HNSW distance computer ends up in the
// scalar fvec_inner_product_ref: one serial chain of 64 multiply-adds per visited node, 47% of
// the whole server's CPU in a recommend profile (docs/BENCHMARKS.md). HNSW storage is replaced
// by FastFlatIP, whose distance computer is core/vector_math.h's Dot (AVX2+FMA when the CPU has
// them). The stored vectors and the file format
// are unchanged (FastFlatIP is an IndexFlatIP, written as one); only float summation order
// differs from FAISS's, as it would between FAISS builds.

class FastIpDistance final : public faiss::FlatCodesDistanceComputer {
 public:
  explicit FastIpDistance(const faiss::IndexFlat& storage)
      : faiss::FlatCodesDistanceComputer(storage.codes.data(), storage.code_size),
        dim_(static_cast<size_t>(storage.d)),
        base_(reinterpret_cast<const float*>(storage.codes.data())) {}
  void set_query(const float* x) override { query_ = x; }
  float distance_to_code(const uint8_t* code) override {
    return Dot(query_, reinterpret_cast<const float*>(code), dim_);
  }
  float symmetric_dis(idx_t i, idx_t j) override {
    return Dot(base_ + static_cast<size_t>(i) * dim_, base_ + static_cast<size_t>(j) * dim_, dim_);
  }

 private:
  const size_t dim_;
  const float* const base_;
  const float* query_ = nullptr;
};

struct FastFlatIP final : faiss::IndexFlatIP {
  explicit FastFlatIP(idx_t dim) : faiss::IndexFlatIP(dim) {}
  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override {
    return new FastIpDistance(*this);
  }
};

// Moves an HNSW index's inner-product storage into a FastFlatIP (no copy of the vectors).
void UseFastDistance(faiss::IndexHNSW& hnsw) {
  auto* old = dynamic_cast<faiss::IndexFlat*>(hnsw.storage);
  if (old == nullptr || old->metric_type != faiss::METRIC_INNER_PRODUCT) return;
  auto fast = std::make_unique<FastFlatIP>(old->d);
  fast->codes = std::move(old->codes);
  fast->ntotal = old->ntotal;
  // A flat store is always trained; the flag read from the file is not trusted (a flipped byte
  // there is not even a valid bool).
  fast->is_trained = true;
  if (hnsw.own_fields) delete old;
  hnsw.storage = fast.release();
  hnsw.own_fields = true;
}

class FaissAnnIndex final : public AnnIndex {
 public:
  FaissAnnIndex(std::unique_ptr<faiss::Index> index, std::string type)
      : index_(std::move(index)), type_(std::move(type)) {}

  Status Save(const std::string& path) const override {
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr) return ErrnoToStatus(errno, StrCat("cannot create ", path));
    StdioWriter writer(file);
    Status status = CatchAll(StatusCode::kInternal, StrCat("writing ANN index ", path), [&] {
      faiss::write_index(index_.get(), &writer);
      return OkStatus();
    });
    if (!status.ok() && writer.error() != 0) {
      status = ErrnoToStatus(writer.error(), StrCat("writing ANN index ", path));
    }
    if (status.ok() && (std::fflush(file) != 0 || ::fsync(fileno(file)) != 0)) {
      status = ErrnoToStatus(errno, StrCat("writing ANN index ", path));
    }
    if (std::fclose(file) != 0 && status.ok()) {
      status = ErrnoToStatus(errno, StrCat("writing ANN index ", path));
    }
    return status;
  }

  Status Search(const float* query, int k, std::vector<Neighbor>* out) const override {
    out->clear();
    if (k < 1) return InvalidArgumentError(StrCat("k must be at least 1, got ", k));
    if (query == nullptr) return InvalidArgumentError("query is null");
    if (!AllFinite(query, static_cast<size_t>(index_->d))) {
      return InvalidArgumentError("query has a non-finite component");
    }
    const faiss::Index::idx_t n = index_->ntotal;
    if (n == 0) return OkStatus();
    // Clamping k keeps FAISS from allocating (and padding with -1) for results that cannot exist.
    const faiss::Index::idx_t kk = std::min<faiss::Index::idx_t>(k, n);
    std::vector<float> scores(static_cast<size_t>(kk));
    std::vector<faiss::Index::idx_t> labels(static_cast<size_t>(kk));
    RETURN_IF_ERROR(CatchAll(StatusCode::kInternal, "ANN search", [&] {
      ScopedOmpThreads omp(search_omp_threads_.load(std::memory_order_relaxed));
      index_->search(1, query, kk, scores.data(), labels.data());
      return OkStatus();
    }));
    out->reserve(static_cast<size_t>(kk));
    for (faiss::Index::idx_t i = 0; i < kk; ++i) {
      const faiss::Index::idx_t label = labels[static_cast<size_t>(i)];
      if (label < 0 || label >= n) continue;  // FAISS pads with -1 when it finds fewer than k
      out->push_back({static_cast<DenseId>(label), scores[static_cast<size_t>(i)]});
    }
    return OkStatus();
  }

  int dim() const override { return index_->d; }
  size_t size() const override { return static_cast<size_t>(index_->ntotal); }
  std::string type() const override { return type_; }
  void SetSearchOmpThreadsForTest(int threads) override {
    search_omp_threads_.store(std::max(threads, 0), std::memory_order_relaxed);
  }

 private:
  std::unique_ptr<faiss::Index> index_;
  std::string type_;
  std::atomic<int> search_omp_threads_{kDefaultSearchOmpThreads};
};

}  // namespace

Result<std::unique_ptr<AnnIndex>> AnnIndex::Build(const float* vectors, size_t n, int dim,
                                                  const IndexConfig& config) {
  RETURN_IF_ERROR(ValidateIndexConfig(config));
  if (dim < 1 || dim > kMaxDim) {
    return InvalidArgumentError(StrCat("dimension must be in [1, ", kMaxDim, "], got ", dim));
  }
  if (n > kMaxVectors) return InvalidArgumentError(StrCat("too many vectors: ", n));
  if (n > 0 && vectors == nullptr) return InvalidArgumentError("vectors is null");
  if (!AllFinite(vectors, n * static_cast<size_t>(dim))) {
    return InvalidArgumentError("a vector has a non-finite component");
  }
  std::unique_ptr<faiss::Index> index;
  RETURN_IF_ERROR(CatchAll(StatusCode::kInternal, "building ANN index", [&] {
    if (config.type == "hnsw") {
      auto hnsw =
          std::make_unique<faiss::IndexHNSWFlat>(dim, config.hnsw_m, faiss::METRIC_INNER_PRODUCT);
      hnsw->hnsw.efConstruction = config.hnsw_ef_construction;
      hnsw->hnsw.efSearch = config.hnsw_ef_search;
      UseFastDistance(*hnsw);  // before add: construction runs the same distances
      index = std::move(hnsw);
    } else {
      index = std::make_unique<faiss::IndexFlatIP>(dim);
    }
    if (n > 0) index->add(static_cast<faiss::Index::idx_t>(n), vectors);
    return OkStatus();
  }));
  return std::unique_ptr<AnnIndex>(std::make_unique<FaissAnnIndex>(std::move(index), config.type));
}

Result<std::unique_ptr<AnnIndex>> AnnIndex::Load(const std::string& path,
                                                 const IndexConfig& config) {
  RETURN_IF_ERROR(ValidateIndexConfig(config));
  ASSIGN_OR_RETURN(std::string type, CheckIndexFileLayout(path));
  if (type != config.type) {
    return FailedPreconditionError(StrCat("ANN index file ", path, " holds a ", type,
                                          " index but index.type is ", config.type));
  }
  std::unique_ptr<faiss::Index> index;
  RETURN_IF_ERROR(CatchAll(StatusCode::kDataLoss, StrCat("reading ANN index ", path), [&] {
    index.reset(faiss::read_index(path.c_str()));
    return OkStatus();
  }));
  if (type == "hnsw") {
    auto* hnsw = dynamic_cast<faiss::IndexHNSWFlat*>(index.get());
    if (hnsw == nullptr || hnsw->metric_type != faiss::METRIC_INNER_PRODUCT) {
      return DataLossError(StrCat("ANN index file ", path, " is not an HNSW inner-product index"));
    }
    RETURN_IF_ERROR(CheckHnswGraph(*hnsw, path));
    hnsw->hnsw.efSearch = config.hnsw_ef_search;
    UseFastDistance(*hnsw);
  } else {
    auto* flat = dynamic_cast<faiss::IndexFlatIP*>(index.get());
    if (flat == nullptr || flat->metric_type != faiss::METRIC_INNER_PRODUCT ||
        flat->codes.size() !=
            static_cast<size_t>(flat->ntotal) * static_cast<size_t>(flat->d) * sizeof(float)) {
      return DataLossError(StrCat("ANN index file ", path, " is not a flat inner-product index"));
    }
  }
  return std::unique_ptr<AnnIndex>(std::make_unique<FaissAnnIndex>(std::move(index), type));
}

}  // namespace pulse::index
