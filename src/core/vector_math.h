// core/vector_math.h — the float kernels every hot path shares (ANN search, feature hydration).
//
// Debian builds for the x86-64 baseline (SSE2), so the compiler cannot use AVX2/FMA by itself and
// will not reorder a float reduction. These kernels pick an AVX2+FMA body at start-up when the CPU
// has it (`__builtin_cpu_supports`), and otherwise a portable body with four independent
// accumulators. Results differ from a serial sum only in float summation order.
// Thread-safety: pure functions. Inputs need no alignment.
#pragma once

#include <cstddef>

namespace pulse {

// Inner product of two `d`-float vectors.
float Dot(const float* a, const float* b, size_t d);

// out[i] = Dot(query, base + i * d, d) for i in [0, n), bit for bit: `n` row-major vectors scored
// against one query, several rows at a time so the multiply-add chains overlap (the IVF list scan
// and the coarse quantizer use it).
void DotMany(const float* query, const float* base, size_t n, size_t d, float* out);

// Which body Dot runs: "avx2" or "portable" (benchmarks print it).
const char* VectorMathPath();

}  // namespace pulse
