// index/ann_index.cc — the FAISS adapter behind AnnIndex (flat and HNSW, inner product).
#include "index/ann_index.h"

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>
#include <faiss/utils/distances.h>
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
#include "index/top_k.h"

namespace pulse::index {
namespace {

constexpr int kMaxDim = 1 << 16;
constexpr int kMaxHnswM = 1024;
constexpr int kMaxEf = 1 << 20;
constexpr int kMaxIvfLists = 1 << 20;
// FAISS's k-means wants at least this many training points per centroid (it warns below).
constexpr size_t kMinPointsPerList = 39;
// Queries used to tune ivf's nprobe at build time.
constexpr size_t kMaxTuningQueries = 500;
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
  if (config.type != "ivf" && config.type != "hnsw" && config.type != "flat") {
    return InvalidArgumentError(
        StrCat("index.type: expected \"ivf\", \"hnsw\" or \"flat\", got \"", config.type, "\""));
  }
  if (config.ivf_nlist < 0 || config.ivf_nlist > kMaxIvfLists) {
    return InvalidArgumentError(
        StrCat("index.ivf_nlist: must be in [0, ", kMaxIvfLists, "], got ", config.ivf_nlist));
  }
  if (config.ivf_nprobe < 0 || config.ivf_nprobe > kMaxIvfLists) {
    return InvalidArgumentError(
        StrCat("index.ivf_nprobe: must be in [0, ", kMaxIvfLists, "], got ", config.ivf_nprobe));
  }
  if (!(config.ivf_target_recall > 0 && config.ivf_target_recall <= 1)) {
    return InvalidArgumentError(
        StrCat("index.ivf_target_recall: must be in (0, 1], got ", config.ivf_target_recall));
  }
  if (config.ivf_recall_k < 1 || config.ivf_recall_k > kMaxEf) {
    return InvalidArgumentError(
        StrCat("index.ivf_recall_k: must be in [1, ", kMaxEf, "], got ", config.ivf_recall_k));
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
//   ivf   "IwFl" header  u64 nlist, u64 nprobe, a nested "IxF2" quantizer (nlist centroids),
//                        direct map: u8 type (0 = none), vec<i64> array (empty),
//                        inverted lists "ilar": u64 nlist, u64 code_size (= d*4), u32 "full" with
//                        vec<u64> sizes (one per list) or "sprs" with vec<u64> (list, size) pairs,
//                        then per non-empty list size*code_size code bytes and size i64 ids
//   header = i32 d, i64 ntotal, i64 dummy, i64 dummy, u8 is_trained, i32 metric_type
//            [, f32 metric_arg when metric_type > 1]; metric_type is inner product except for
//            the ivf quantizer (L2)
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
  Status Skip(uint64_t bytes, std::string_view field) {
    if (bytes > size_ - pos_ || std::fseek(file_, static_cast<long>(bytes), SEEK_CUR) != 0) {
      return Truncated(field);
    }
    pos_ += bytes;
    return OkStatus();
  }

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

Status ReadHeader(LayoutReader& r, IndexHeader* h,
                  int32_t expected_metric = faiss::METRIC_INNER_PRODUCT) {
  int64_t dummy = 0;
  uint8_t is_trained = 0;
  int32_t metric = 0;
  RETURN_IF_ERROR(r.Read(&h->d, "header.d"));
  RETURN_IF_ERROR(r.Read(&h->ntotal, "header.ntotal"));
  RETURN_IF_ERROR(r.Read(&dummy, "header"));
  RETURN_IF_ERROR(r.Read(&dummy, "header"));
  RETURN_IF_ERROR(r.Read(&is_trained, "header.is_trained"));
  RETURN_IF_ERROR(r.Read(&metric, "header.metric_type"));
  if (metric != expected_metric) {
    return r.Corrupt(StrCat("metric ", metric, ", expected ", expected_metric));
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

Status CheckIvfBody(LayoutReader& r, const IndexHeader& h) {
  uint64_t nlist = 0;
  uint64_t nprobe = 0;
  RETURN_IF_ERROR(r.Read(&nlist, "ivf.nlist"));
  RETURN_IF_ERROR(r.Read(&nprobe, "ivf.nprobe"));
  if (nlist < 1 || nlist > static_cast<uint64_t>(kMaxIvfLists)) {
    return r.Corrupt(StrCat("list count ", nlist));
  }
  if (nprobe < 1 || nprobe > nlist) return r.Corrupt(StrCat("nprobe ", nprobe));
  uint32_t quantizer_fourcc = 0;
  RETURN_IF_ERROR(r.Read(&quantizer_fourcc, "quantizer.fourcc"));
  if (quantizer_fourcc != FourCC("IxF2")) return r.Corrupt("IVF quantizer is not a flat L2 index");
  IndexHeader quantizer;
  RETURN_IF_ERROR(ReadHeader(r, &quantizer, faiss::METRIC_L2));
  if (quantizer.d != h.d || static_cast<uint64_t>(quantizer.ntotal) != nlist) {
    return r.Corrupt("IVF quantizer does not match the header");
  }
  RETURN_IF_ERROR(CheckFlatBody(r, quantizer));
  uint8_t direct_map = 0;
  RETURN_IF_ERROR(r.Read(&direct_map, "ivf.direct_map"));
  ASSIGN_OR_RETURN(uint64_t direct_entries, r.SkipVector(sizeof(int64_t), "ivf.direct_map"));
  if (direct_map != 0 || direct_entries != 0) return r.Corrupt("unexpected IVF direct map");
  uint32_t lists_fourcc = 0;
  RETURN_IF_ERROR(r.Read(&lists_fourcc, "invlists.fourcc"));
  if (lists_fourcc != FourCC("ilar")) return r.Corrupt("IVF lists are not array lists");
  uint64_t lists = 0;
  uint64_t code_size = 0;
  RETURN_IF_ERROR(r.Read(&lists, "invlists.nlist"));
  RETURN_IF_ERROR(r.Read(&code_size, "invlists.code_size"));
  if (lists != nlist) return r.Corrupt("IVF list count does not match the header");
  if (code_size != static_cast<uint64_t>(h.d) * sizeof(float)) {
    return r.Corrupt("IVF code size does not match the dimension");
  }
  uint32_t list_kind = 0;
  RETURN_IF_ERROR(r.Read(&list_kind, "invlists.kind"));
  uint64_t words = 0;
  RETURN_IF_ERROR(r.Read(&words, "invlists.sizes"));
  if (words > r.remaining() / sizeof(uint64_t)) return r.Truncated("invlists.sizes");
  std::vector<uint64_t> sizes(static_cast<size_t>(words));
  for (uint64_t& size : sizes) RETURN_IF_ERROR(r.Read(&size, "invlists.sizes"));
  std::vector<uint64_t> list_sizes;
  if (list_kind == FourCC("full")) {
    if (words != nlist) return r.Corrupt("IVF list sizes do not match the list count");
    list_sizes = std::move(sizes);
  } else if (list_kind == FourCC("sprs")) {
    if (words % 2 != 0) return r.Corrupt("odd sparse IVF list table");
    for (size_t i = 0; i < sizes.size(); i += 2) {
      if (sizes[i] >= nlist) return r.Corrupt("sparse IVF list number out of range");
      list_sizes.push_back(sizes[i + 1]);
    }
  } else {
    return r.Corrupt("unknown IVF list layout");
  }
  uint64_t total = 0;
  for (uint64_t size : list_sizes) {
    if (size > static_cast<uint64_t>(h.ntotal) - total) {
      return r.Corrupt("IVF lists hold more vectors than the header");
    }
    total += size;
  }
  if (total != static_cast<uint64_t>(h.ntotal)) {
    return r.Corrupt("IVF lists hold fewer vectors than the header");
  }
  const uint64_t bytes = total * (code_size + sizeof(int64_t));
  if (bytes > r.remaining()) return r.Truncated("invlists.codes");
  return r.Skip(bytes, "invlists.codes");
}

// Walks the file at `path`; returns "flat", "hnsw" or "ivf".
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
  } else if (fourcc == FourCC("IwFl")) {
    type = "ivf";
    RETURN_IF_ERROR(ReadHeader(r, &header));
    RETURN_IF_ERROR(CheckIvfBody(r, header));
  } else {
    return r.Corrupt("not a FAISS flat, HNSW or IVF-flat inner-product index");
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

// Writes with faiss::write_index and fsyncs.
Status SaveFaissIndex(const faiss::Index& index, const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return ErrnoToStatus(errno, StrCat("cannot create ", path));
  StdioWriter writer(file);
  Status status = CatchAll(StatusCode::kInternal, StrCat("writing ANN index ", path), [&] {
    faiss::write_index(&index, &writer);
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

  Status Save(const std::string& path) const override { return SaveFaissIndex(*index_, path); }

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

// ---- IVF ----
// FAISS runs k-means, assigns vectors to lists and reads/writes the file; the search is this
// loop, because Debian's baseline-x86-64 FAISS scans lists with the scalar inner product and
// opens an OpenMP region per query.
// Lists come from plain (L2) k-means and vectors join their nearest centroid, but a query probes
// the lists whose centroids have the largest inner product with it. With collaborative-filtering
// embeddings the vector norm carries popularity, and most users' top inner products are among
// the few large-norm items: L2 k-means gives those items small clusters of their own, far from
// the origin, which inner-product probing reaches first. Measured on ALS factors of 90K items
// (bench/ivf_partition_bench.cc): recall@330 of 0.95 needed 2.3% of the lists (0.8% of the
// vectors) this way, against 63.5% with inner-product k-means and 36.9% with k-means on
// normalised vectors.

// Per-thread buffers, so a search allocates nothing once a thread has served one.
struct IvfScratch {
  std::vector<float> centroid_scores;
  std::vector<Neighbor> lists;  // the probed lists: (list number, centroid score)
  std::vector<float> scores;
  TopKCollector top;
};

class IvfAnnIndex final : public AnnIndex {
 public:
  // `index` must be trained, hold lists of in-range ids and an L2 flat quantizer (checked by the
  // callers: Build makes it so, Load verifies it).
  explicit IvfAnnIndex(std::unique_ptr<faiss::IndexIVFFlat> index) : index_(std::move(index)) {
    const auto* quantizer = static_cast<const faiss::IndexFlat*>(index_->quantizer);
    centroids_ = quantizer->get_xb();
    const auto* lists = static_cast<const faiss::ArrayInvertedLists*>(index_->invlists);
    lists_.reserve(index_->nlist);
    for (size_t i = 0; i < index_->nlist; ++i) {
      lists_.push_back({reinterpret_cast<const float*>(lists->codes[i].data()),
                        lists->ids[i].data(), lists->ids[i].size()});
    }
    params_.nlist = static_cast<int>(index_->nlist);
    params_.nprobe = static_cast<int>(std::clamp<size_t>(index_->nprobe, 1, index_->nlist));
    params_.tuned_nprobe = params_.nprobe;
  }

  // The file's nprobe is the tuned value, whatever a config override serves with.
  Status Save(const std::string& path) const override { return SaveFaissIndex(*index_, path); }

  Status Search(const float* query, int k, std::vector<Neighbor>* out) const override {
    out->clear();
    if (k < 1) return InvalidArgumentError(StrCat("k must be at least 1, got ", k));
    if (query == nullptr) return InvalidArgumentError("query is null");
    const auto d = static_cast<size_t>(index_->d);
    if (!AllFinite(query, d)) return InvalidArgumentError("query has a non-finite component");
    SearchWithProbes(query, static_cast<size_t>(k), static_cast<size_t>(params_.nprobe), out);
    return OkStatus();
  }

  // Search with an explicit probe count (tuning tries several on the same index).
  void SearchWithProbes(const float* query, size_t k, size_t nprobe,
                        std::vector<Neighbor>* out) const {
    out->clear();
    const size_t n = static_cast<size_t>(index_->ntotal);
    if (n == 0) return;
    const size_t d = static_cast<size_t>(index_->d);
    const size_t nlist = lists_.size();
    const size_t kk = std::min(k, n);
    nprobe = std::clamp<size_t>(nprobe, 1, nlist);
    thread_local IvfScratch scratch;

    scratch.centroid_scores.resize(nlist);
    DotMany(query, centroids_, nlist, d, scratch.centroid_scores.data());
    // The nprobe lists with the best (score desc, list number asc), by the same exact top-k
    // as the neighbours: few of the nlist scores pass its threshold once nprobe are known. The
    // scan order does not matter: the top k below is exact.
    scratch.top.Reset(nprobe);
    for (size_t i = 0; i < nlist; ++i) {
      const float score = scratch.centroid_scores[i];
      if (score < scratch.top.threshold()) continue;
      scratch.top.Push(static_cast<DenseId>(i), score);
    }
    scratch.top.Finish(&scratch.lists);

    TopKCollector& top = scratch.top;
    top.Reset(kk);
    for (size_t p = 0; p < nprobe; ++p) {
      const ListView& list = lists_[scratch.lists[p].id];
      if (list.size == 0) continue;
      scratch.scores.resize(list.size);
      DotMany(query, list.codes, list.size, d, scratch.scores.data());
      for (size_t i = 0; i < list.size; ++i) {
        // Most scores fall below the threshold once k are known: one float compare each.
        const float score = scratch.scores[i];
        if (score < top.threshold()) continue;
        top.Push(static_cast<DenseId>(list.ids[i]), score);
      }
    }
    top.Finish(out);
  }

  int dim() const override { return index_->d; }
  size_t size() const override { return static_cast<size_t>(index_->ntotal); }
  std::string type() const override { return "ivf"; }
  // Lists hold the raw vectors and are scanned with DotMany (== Dot, bit for bit).
  bool scores_are_exact_dot() const override { return true; }
  IvfParams ivf_params() const override { return params_; }

  // Not concurrent with Search (called before the index is shared).
  void SetNprobe(int nprobe) { params_.nprobe = std::clamp(nprobe, 1, params_.nlist); }
  void SetTuning(int nprobe, double recall, int recall_k, int queries) {
    SetNprobe(nprobe);
    index_->nprobe = static_cast<size_t>(params_.nprobe);
    params_.tuned_nprobe = params_.nprobe;
    params_.tuned_recall = recall;
    params_.recall_k = recall_k;
    params_.tuning_queries = queries;
  }

 private:
  struct ListView {
    const float* codes;
    const faiss::Index::idx_t* ids;
    size_t size;
  };
  std::unique_ptr<faiss::IndexIVFFlat> index_;
  const float* centroids_ = nullptr;
  std::vector<ListView> lists_;
  IvfParams params_;
};

// 4·sqrt(n) lists (a common IVF rule of thumb: lists of ~sqrt(n)/4 vectors), at most n/39.
size_t AutoListCount(size_t n) {
  const auto by_sqrt = static_cast<size_t>(std::lround(4.0 * std::sqrt(static_cast<double>(n))));
  return std::max<size_t>(1, std::min(by_sqrt, n / kMinPointsPerList));
}

// Mean recall@k of `index` with `nprobe` probes against exact neighbours `truth` (k per query).
double MeanRecall(const IvfAnnIndex& index, const float* queries, size_t num_queries, size_t k,
                  const std::vector<faiss::Index::idx_t>& truth, size_t nprobe) {
  const auto d = static_cast<size_t>(index.dim());
  std::vector<Neighbor> found;
  std::vector<faiss::Index::idx_t> ids;
  double sum = 0;
  for (size_t q = 0; q < num_queries; ++q) {
    index.SearchWithProbes(queries + q * d, k, nprobe, &found);
    ids.clear();
    for (const Neighbor& nb : found) ids.push_back(static_cast<faiss::Index::idx_t>(nb.id));
    std::sort(ids.begin(), ids.end());
    size_t hits = 0;
    for (size_t i = 0; i < k; ++i) {
      const faiss::Index::idx_t want = truth[q * k + i];
      if (want >= 0 && std::binary_search(ids.begin(), ids.end(), want)) ++hits;
    }
    sum += static_cast<double>(hits) / static_cast<double>(k);
  }
  return num_queries == 0 ? 1.0 : sum / static_cast<double>(num_queries);
}

// Picks the smallest nprobe whose mean recall reaches the target (recall only grows with
// nprobe: more lists scanned is a superset of candidates).
void TuneNprobe(IvfAnnIndex& index, const float* vectors, size_t n,
                std::span<const float> tuning_queries, const IndexConfig& config) {
  const auto d = static_cast<size_t>(index.dim());
  const int nlist = index.ivf_params().nlist;
  if (n == 0 || nlist <= 1) {
    index.SetTuning(1, 1.0, config.ivf_recall_k, 0);
    return;
  }
  // Queries: the given ones (user vectors), else every (n/500)-th vector; at most 500, evenly
  // spaced so the sample covers the whole set.
  const float* source = tuning_queries.empty() ? vectors : tuning_queries.data();
  const size_t available = tuning_queries.empty() ? n : tuning_queries.size() / d;
  const size_t num_queries = std::min(available, kMaxTuningQueries);
  std::vector<float> queries(num_queries * d);
  for (size_t q = 0; q < num_queries; ++q) {
    const size_t row = q * available / num_queries;
    std::memcpy(queries.data() + q * d, source + row * d, d * sizeof(float));
  }
  const size_t k = std::min(static_cast<size_t>(config.ivf_recall_k), n);
  std::vector<float> truth_scores(num_queries * k);
  std::vector<faiss::Index::idx_t> truth(num_queries * k);
  faiss::knn_inner_product(queries.data(), vectors, d, num_queries, n, k, truth_scores.data(),
                           truth.data());
  if (config.ivf_nprobe > 0) {
    const double recall =
        MeanRecall(index, queries.data(), num_queries, k, truth, config.ivf_nprobe);
    index.SetTuning(config.ivf_nprobe, recall, static_cast<int>(k), static_cast<int>(num_queries));
    return;
  }
  // Doubling finds a passing bound, bisection the smallest passing value below it.
  int low = 0;  // largest value known to fail
  int high = 1;
  double high_recall = MeanRecall(index, queries.data(), num_queries, k, truth, 1);
  while (high_recall < config.ivf_target_recall && high < nlist) {
    low = high;
    high = std::min(high * 2, nlist);
    high_recall = MeanRecall(index, queries.data(), num_queries, k, truth, high);
  }
  while (high - low > 1) {
    const int mid = low + (high - low) / 2;
    const double recall = MeanRecall(index, queries.data(), num_queries, k, truth, mid);
    if (recall >= config.ivf_target_recall) {
      high = mid;
      high_recall = recall;
    } else {
      low = mid;
    }
  }
  index.SetTuning(high, high_recall, static_cast<int>(k), static_cast<int>(num_queries));
}

Result<std::unique_ptr<AnnIndex>> BuildIvf(const float* vectors, size_t n, int dim,
                                           const IndexConfig& config,
                                           std::span<const float> tuning_queries) {
  const size_t nlist = config.ivf_nlist > 0
                           ? std::min(static_cast<size_t>(config.ivf_nlist), std::max<size_t>(n, 1))
                           : AutoListCount(n);
  std::unique_ptr<IvfAnnIndex> result;
  RETURN_IF_ERROR(CatchAll(StatusCode::kInternal, "building the IVF index", [&] {
    auto quantizer = std::make_unique<faiss::IndexFlatL2>(dim);
    auto ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer.get(), dim, nlist,
                                                     faiss::METRIC_INNER_PRODUCT);
    ivf->own_fields = true;
    quantizer.release();
    if (n > 0) {
      // Plain k-means (see the IVF comment above), trained here rather than by IndexIVF::train
      // so the clustering is exactly L2 whatever FAISS does for inner-product indexes.
      faiss::ClusteringParameters params;
      params.seed = 1234;  // reproducible lists for the same vectors
      faiss::Clustering kmeans(dim, nlist, params);
      faiss::IndexFlatL2 assigner(dim);
      kmeans.train(static_cast<faiss::Index::idx_t>(n), vectors, assigner);
      ivf->quantizer->add(static_cast<faiss::Index::idx_t>(nlist), kmeans.centroids.data());
      ivf->is_trained = true;
      ivf->add(static_cast<faiss::Index::idx_t>(n), vectors);
    } else {
      // Nothing to train on: one empty list with a zero centroid keeps the file well formed.
      std::vector<float> zero(static_cast<size_t>(dim) * nlist, 0.0f);
      ivf->quantizer->add(static_cast<faiss::Index::idx_t>(nlist), zero.data());
      ivf->is_trained = true;
    }
    result = std::make_unique<IvfAnnIndex>(std::move(ivf));
    return OkStatus();
  }));
  TuneNprobe(*result, vectors, n, tuning_queries, config);
  return std::unique_ptr<AnnIndex>(std::move(result));
}

// After faiss::read_index of an ivf file (whose layout CheckIvfBody already walked): the
// quantizer must be our kind and every stored id a vector number, since Search returns them.
Result<std::unique_ptr<AnnIndex>> AdoptLoadedIvf(std::unique_ptr<faiss::Index> index,
                                                 const IndexConfig& config,
                                                 const std::string& path) {
  auto corrupt = [&](std::string_view why) {
    return DataLossError(StrCat("ANN index file ", path, " is corrupt: ", why));
  };
  auto* raw = dynamic_cast<faiss::IndexIVFFlat*>(index.get());
  if (raw == nullptr || raw->metric_type != faiss::METRIC_INNER_PRODUCT) {
    return corrupt("not an IVF-flat inner-product index");
  }
  const auto* quantizer = dynamic_cast<const faiss::IndexFlat*>(raw->quantizer);
  const auto* lists = dynamic_cast<const faiss::ArrayInvertedLists*>(raw->invlists);
  if (quantizer == nullptr || quantizer->metric_type != faiss::METRIC_L2 ||
      quantizer->d != raw->d || static_cast<size_t>(quantizer->ntotal) != raw->nlist ||
      lists == nullptr || lists->nlist != raw->nlist ||
      lists->code_size != static_cast<size_t>(raw->d) * sizeof(float)) {
    return corrupt("IVF quantizer or lists do not match the index");
  }
  const auto n = static_cast<faiss::Index::idx_t>(raw->ntotal);
  for (size_t i = 0; i < raw->nlist; ++i) {
    if (lists->codes[i].size() != lists->ids[i].size() * lists->code_size) {
      return corrupt("IVF list codes do not match its ids");
    }
    for (faiss::Index::idx_t id : lists->ids[i]) {
      if (id < 0 || id >= n) return corrupt("IVF vector id out of range");
    }
  }
  raw->is_trained = true;  // checked above: the quantizer holds nlist centroids
  index.release();
  auto ivf = std::make_unique<IvfAnnIndex>(std::unique_ptr<faiss::IndexIVFFlat>(raw));
  if (config.ivf_nprobe > 0) ivf->SetNprobe(config.ivf_nprobe);
  return std::unique_ptr<AnnIndex>(std::move(ivf));
}

}  // namespace

Result<std::unique_ptr<AnnIndex>> AnnIndex::Build(const float* vectors, size_t n, int dim,
                                                  const IndexConfig& config,
                                                  std::span<const float> tuning_queries) {
  RETURN_IF_ERROR(ValidateIndexConfig(config));
  if (dim < 1 || dim > kMaxDim) {
    return InvalidArgumentError(StrCat("dimension must be in [1, ", kMaxDim, "], got ", dim));
  }
  if (n > kMaxVectors) return InvalidArgumentError(StrCat("too many vectors: ", n));
  if (n > 0 && vectors == nullptr) return InvalidArgumentError("vectors is null");
  if (!AllFinite(vectors, n * static_cast<size_t>(dim))) {
    return InvalidArgumentError("a vector has a non-finite component");
  }
  if (tuning_queries.size() % static_cast<size_t>(dim) != 0) {
    return InvalidArgumentError(StrCat("tuning queries: ", tuning_queries.size(),
                                       " floats is not a multiple of the dimension ", dim));
  }
  if (!AllFinite(tuning_queries.data(), tuning_queries.size())) {
    return InvalidArgumentError("a tuning query has a non-finite component");
  }
  if (config.type == "ivf") return BuildIvf(vectors, n, dim, config, tuning_queries);
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
  // The file says what it holds; config.type only chooses what Build makes.
  ASSIGN_OR_RETURN(std::string type, CheckIndexFileLayout(path));
  std::unique_ptr<faiss::Index> index;
  RETURN_IF_ERROR(CatchAll(StatusCode::kDataLoss, StrCat("reading ANN index ", path), [&] {
    index.reset(faiss::read_index(path.c_str()));
    return OkStatus();
  }));
  if (type == "ivf") return AdoptLoadedIvf(std::move(index), config, path);
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
