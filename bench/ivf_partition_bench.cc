// bench/ivf_partition_bench.cc — how the IVF lists are made decides how many a query must scan.
//
// For a model bundle's item and user factors, clusters the items three ways and reports the
// share of lists (and of vectors) that inner-product probing must scan for recall@K ≥ 0.95 over
// 300 users (docs/design/ann-index.md):
//   ip         FAISS k-means with an inner-product assigner (what IndexIVFFlat trains for IP)
//   spherical  k-means on normalised vectors
//   l2         plain k-means; vectors join their nearest centroid by L2 (Pulse's ivf)
// A true neighbour is found iff its list is among the probed ones, so "lists needed" is exact
// for each query; recall is the mean over queries of found/K, as ivf's tuning computes it.
//
//   ./build/bench/ivf_partition_bench data/models/v000002 [K=330] [nlist=1200]
#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <numeric>
#include <string>
#include <vector>

#include "core/vector_math.h"

namespace {

constexpr size_t kDim = 64;
constexpr size_t kQueries = 300;

std::vector<float> ReadFloats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

void Study(const char* name, const std::vector<float>& items, const std::vector<float>& queries,
           size_t k, size_t nlist) {
  const size_t n = items.size() / kDim;
  const bool spherical = std::strcmp(name, "spherical") == 0;
  const bool l2 = std::strcmp(name, "l2") == 0;
  std::vector<float> train = items;
  if (spherical) {
    for (size_t i = 0; i < n; ++i) {
      const float norm = std::sqrt(pulse::Dot(&train[i * kDim], &train[i * kDim], kDim));
      for (size_t j = 0; j < kDim; ++j) train[i * kDim + j] /= std::max(norm, 1e-12f);
    }
  }
  faiss::ClusteringParameters params;
  params.seed = 1234;
  faiss::Clustering kmeans(kDim, nlist, params);
  if (l2 || spherical) {
    faiss::IndexFlatL2 assigner(kDim);
    kmeans.train(static_cast<faiss::Index::idx_t>(n), train.data(), assigner);
  } else {
    faiss::IndexFlatIP assigner(kDim);
    kmeans.train(static_cast<faiss::Index::idx_t>(n), train.data(), assigner);
  }
  const std::vector<float>& centroids = kmeans.centroids;
  // Assignment: nearest by L2 for l2, largest inner product otherwise (on the trained vectors).
  std::vector<int> owner(n);
  std::vector<size_t> list_size(nlist, 0);
  for (size_t i = 0; i < n; ++i) {
    float best = -1e30f;
    for (size_t c = 0; c < nlist; ++c) {
      float score;
      if (l2) {
        score = 0;
        for (size_t j = 0; j < kDim; ++j) {
          const float t = items[i * kDim + j] - centroids[c * kDim + j];
          score -= t * t;
        }
      } else {
        score = pulse::Dot(&train[i * kDim], &centroids[c * kDim], kDim);
      }
      if (score > best) {
        best = score;
        owner[i] = static_cast<int>(c);
      }
    }
    ++list_size[static_cast<size_t>(owner[i])];
  }
  const size_t nq = queries.size() / kDim;
  std::vector<float> truth_scores(nq * k);
  std::vector<faiss::Index::idx_t> truth(nq * k);
  faiss::knn_inner_product(queries.data(), items.data(), kDim, nq, n, k, truth_scores.data(),
                           truth.data());
  // found_by[p] = share of all true neighbours whose list has probe rank p (1-based).
  std::vector<double> found_by(nlist + 1, 0);
  std::vector<std::vector<size_t>> order(nq);
  for (size_t q = 0; q < nq; ++q) {
    std::vector<float> scores(nlist);
    pulse::DotMany(&queries[q * kDim], centroids.data(), nlist, kDim, scores.data());
    order[q].resize(nlist);
    std::iota(order[q].begin(), order[q].end(), 0);
    std::sort(order[q].begin(), order[q].end(),
              [&](size_t a, size_t b) { return scores[a] > scores[b]; });
    std::vector<size_t> rank(nlist);
    for (size_t r = 0; r < nlist; ++r) rank[order[q][r]] = r;
    for (size_t i = 0; i < k; ++i) {
      found_by[rank[static_cast<size_t>(owner[static_cast<size_t>(truth[q * k + i])])] + 1] +=
          1.0 / static_cast<double>(nq * k);
    }
  }
  double recall = 0;
  size_t probes = 0;
  while (probes < nlist && recall < 0.95) recall += found_by[++probes];
  double scanned = 0;
  for (size_t q = 0; q < nq; ++q) {
    for (size_t r = 0; r < probes; ++r) scanned += static_cast<double>(list_size[order[q][r]]);
  }
  scanned /= static_cast<double>(nq);
  std::printf("%-10s nlist %zu  K %zu: %zu lists (%.1f%%) for recall %.3f, %.0f vectors (%.1f%%)\n",
              name, nlist, k, probes, 100.0 * static_cast<double>(probes) / nlist, recall, scanned,
              100.0 * scanned / static_cast<double>(n));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_BUNDLE_DIR [K] [NLIST]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const size_t k = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 330;
  const size_t nlist = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 1200;
  const std::vector<float> items = ReadFloats(dir + "/item_factors.f32");
  const std::vector<float> users = ReadFloats(dir + "/user_factors.f32");
  if (items.empty() || users.empty() || items.size() % kDim != 0 || users.size() % kDim != 0) {
    std::fprintf(stderr, "%s: expected item_factors.f32 and user_factors.f32 of dim %zu\n",
                 dir.c_str(), kDim);
    return 2;
  }
  std::vector<float> queries;
  const size_t num_users = users.size() / kDim;
  for (size_t q = 0; q < kQueries; ++q) {
    const size_t row = q * num_users / kQueries;
    queries.insert(queries.end(), users.begin() + static_cast<long>(row * kDim),
                   users.begin() + static_cast<long>((row + 1) * kDim));
  }
  for (const char* name : {"ip", "spherical", "l2"}) Study(name, items, queries, k, nlist);
  return 0;
}
