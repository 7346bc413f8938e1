#include "core/vector_math.h"

#include <immintrin.h>

namespace pulse {
namespace {

__attribute__((target("avx2,fma"))) inline float HorizontalSum(__m256 v) {
  __m128 sum = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  sum = _mm_hadd_ps(sum, sum);
  sum = _mm_hadd_ps(sum, sum);
  return _mm_cvtss_f32(sum);
}

// One 8-lane accumulator, then the tail by fused multiply-adds: exactly the sum DotManyAvx2
// forms for each row, so a score from a list scan equals Dot of the same pair bit for bit (the
// ranking reuses ANN scores as its similarity feature; training recomputes them with Dot).
__attribute__((target("avx2,fma"))) float DotAvx2(const float* a, const float* b, size_t d) {
  __m256 acc = _mm256_setzero_ps();
  const size_t d8 = d & ~size_t{7};
  for (size_t i = 0; i < d8; i += 8) {
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  }
  float result = HorizontalSum(acc);
  for (size_t i = d8; i < d; ++i) result = __builtin_fmaf(a[i], b[i], result);
  return result;
}

// Four rows per pass: four independent FMA chains hide the FMA latency that bounds a single
// 64-wide dot product, and the query's registers are loaded once per pass.
__attribute__((target("avx2,fma"))) void DotManyAvx2(const float* q, const float* base, size_t n,
                                                     size_t d, float* out) {
  size_t row = 0;
  const size_t d8 = d & ~size_t{7};
  for (; row + 4 <= n; row += 4) {
    const float* r0 = base + row * d;
    const float* r1 = r0 + d;
    const float* r2 = r1 + d;
    const float* r3 = r2 + d;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (size_t i = 0; i < d8; i += 8) {
      const __m256 qv = _mm256_loadu_ps(q + i);
      a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r0 + i), a0);
      a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r1 + i), a1);
      a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r2 + i), a2);
      a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(r3 + i), a3);
    }
    float s0 = HorizontalSum(a0), s1 = HorizontalSum(a1);
    float s2 = HorizontalSum(a2), s3 = HorizontalSum(a3);
    for (size_t i = d8; i < d; ++i) {
      s0 = __builtin_fmaf(q[i], r0[i], s0);
      s1 = __builtin_fmaf(q[i], r1[i], s1);
      s2 = __builtin_fmaf(q[i], r2[i], s2);
      s3 = __builtin_fmaf(q[i], r3[i], s3);
    }
    out[row] = s0;
    out[row + 1] = s1;
    out[row + 2] = s2;
    out[row + 3] = s3;
  }
  for (; row < n; ++row) out[row] = DotAvx2(q, base + row * d, d);
}

float DotPortable(const float* a, const float* b, size_t d) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= d; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < d; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

void DotManyPortable(const float* q, const float* base, size_t n, size_t d, float* out) {
  for (size_t row = 0; row < n; ++row) out[row] = DotPortable(q, base + row * d, d);
}

bool HasAvx2Fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const bool kAvx2 = HasAvx2Fma();

}  // namespace

float Dot(const float* a, const float* b, size_t d) {
  return kAvx2 ? DotAvx2(a, b, d) : DotPortable(a, b, d);
}

void DotMany(const float* query, const float* base, size_t n, size_t d, float* out) {
  if (kAvx2) {
    DotManyAvx2(query, base, n, d, out);
  } else {
    DotManyPortable(query, base, n, d, out);
  }
}

const char* VectorMathPath() { return kAvx2 ? "avx2" : "portable"; }

}  // namespace pulse
