// Fuzz target for the XGBoost JSON model parser. Besides "never crash", whatever parses must
// compile, and the compiled evaluator (both paths) must agree exactly with the reference walk on
// a few rows (zeros, NaNs, and values around each threshold). Seeds live in model_json_fuzz_corpus/
// (replayed as a ctest in normal builds).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string_view>
#include <vector>

#include "gbdt/ensemble.h"
#include "gbdt/evaluator.h"

namespace {

void Require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto ensemble = pulse::gbdt::ParseXgboostJson(input);
  if (!ensemble.ok()) {
    Require(!ensemble.status().message().empty());
    return 0;
  }
  auto compiled = pulse::gbdt::CompiledEnsemble::Compile(*ensemble);
  Require(compiled.ok());
  const size_t cols = ensemble->num_features;
  if (cols > 4096) return 0;  // keep each input cheap
  std::vector<float> rows;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (float fill : {0.0f, nan, 1.0f}) rows.insert(rows.end(), cols, fill);
  for (const auto& tree : ensemble->trees) {
    for (const auto& node : tree.nodes) {
      if (node.is_leaf() || rows.size() / cols >= 70) continue;
      rows.insert(rows.end(), cols, 0.5f);
      rows[rows.size() - cols + node.feature] = node.threshold;
    }
  }
  const size_t n = rows.size() / cols;
  std::vector<float> simd(n), scalar(n);
  Require(compiled->PredictMargin(rows, n, cols, simd).ok());
  compiled->DisableSimdForTest();
  Require(compiled->PredictMargin(rows, n, cols, scalar).ok());
  for (size_t r = 0; r < n; ++r) {
    const float want = pulse::gbdt::ReferenceMargin(*ensemble, &rows[r * cols]);
    Require((std::isnan(want) && std::isnan(simd[r])) || want == simd[r]);
    Require((std::isnan(want) && std::isnan(scalar[r])) || want == scalar[r]);
  }
  // The AVX2 path too, when this CPU has it (the default above is AVX-512 where available).
  using Path = pulse::gbdt::CompiledEnsemble::Path;
  if (compiled->ForcePathForTest(Path::kAvx2)) {
    std::vector<float> avx2(n);
    Require(compiled->PredictMargin(rows, n, cols, avx2).ok());
    for (size_t r = 0; r < n; ++r) {
      Require((std::isnan(scalar[r]) && std::isnan(avx2[r])) || scalar[r] == avx2[r]);
    }
  }
  return 0;
}
