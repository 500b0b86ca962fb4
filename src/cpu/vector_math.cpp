#include "src/cpu/vector_math.hpp"

#include <sleef.h>

#include <cmath>

#if defined(__x86_64__)
#include <immintrin.h>

// sleef.h declares its 256- and 512-bit functions and its FMA scalar ones
// only when the whole file is compiled for AVX / AVX-512 / FMA (__AVX__,
// __AVX512F__, FP_FAST_FMA); this file is compiled for baseline x86-64 and
// enters those paths through target attributes, so the six it calls are
// declared here, exactly as in sleef.h (3.5).
extern "C" {
float Sleef_finz_tanhf1_u35purecfma(float);
double Sleef_finz_tanhd1_u35purecfma(double);
__m512 Sleef_finz_tanhf16_u35avx512f(__m512);
__m512d Sleef_finz_tanhd8_u35avx512f(__m512d);
__m256 Sleef_finz_tanhf8_u35avx2(__m256);
__m256d Sleef_finz_tanhd4_u35avx2(__m256d);
}
#endif

namespace saddlescope {

namespace {

#if defined(__x86_64__)
// The scalar finz function, for the rows' tails and the scalar path (it
// executes FMA instructions: only on CPUs that have them).
void tail(float* x, std::int64_t i, std::int64_t n) {
  for (; i < n; ++i) x[i] = Sleef_finz_tanhf1_u35purecfma(x[i]);
}
void tail(double* x, std::int64_t i, std::int64_t n) {
  for (; i < n; ++i) x[i] = Sleef_finz_tanhd1_u35purecfma(x[i]);
}

// One vector loop per path and precision: W lanes at a time through SLEEF,
// the tail through the scalar function. (A macro: intrinsics need the
// target attribute of the function they are written in.)
#define SS_SLEEF_LOOP(W, LOAD, STORE, FN)                       \
  std::int64_t i = 0;                                           \
  for (; i + (W) <= n; i += (W)) STORE(x + i, FN(LOAD(x + i))); \
  tail(x, i, n)

__attribute__((target("avx512f"))) void tanh_avx512(float* x, std::int64_t n) {
  SS_SLEEF_LOOP(16, _mm512_loadu_ps, _mm512_storeu_ps, Sleef_finz_tanhf16_u35avx512f);
}
__attribute__((target("avx512f"))) void tanh_avx512(double* x, std::int64_t n) {
  SS_SLEEF_LOOP(8, _mm512_loadu_pd, _mm512_storeu_pd, Sleef_finz_tanhd8_u35avx512f);
}
__attribute__((target("avx2,fma"))) void tanh_avx2(float* x, std::int64_t n) {
  SS_SLEEF_LOOP(8, _mm256_loadu_ps, _mm256_storeu_ps, Sleef_finz_tanhf8_u35avx2);
}
__attribute__((target("avx2,fma"))) void tanh_avx2(double* x, std::int64_t n) {
  SS_SLEEF_LOOP(4, _mm256_loadu_pd, _mm256_storeu_pd, Sleef_finz_tanhd4_u35avx2);
}
#undef SS_SLEEF_LOOP
#endif

bool has_fma() {
#if defined(__x86_64__)
  static const bool fma = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("fma") != 0;
  }();
  return fma;
#else
  return false;
#endif
}

template <class T>
void tanh_any(T* x, std::int64_t n, VectorIsa isa) {
#if defined(__x86_64__)
  if (isa == VectorIsa::avx512 && best_vector_isa() == VectorIsa::avx512) return tanh_avx512(x, n);
  if (isa >= VectorIsa::avx2 && best_vector_isa() >= VectorIsa::avx2) return tanh_avx2(x, n);
  if (has_fma()) return tail(x, 0, n);
#else
  (void)isa;
#endif
  for (std::int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);  // no FMA: glibc's tanh
}

}  // namespace

VectorIsa best_vector_isa() {
#if defined(__x86_64__)
  static const VectorIsa best = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return VectorIsa::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return VectorIsa::avx2;
    return VectorIsa::scalar;
  }();
  return best;
#else
  return VectorIsa::scalar;
#endif
}

void tanh_inplace(float* x, std::int64_t n, VectorIsa isa) { tanh_any(x, n, isa); }
void tanh_inplace(double* x, std::int64_t n, VectorIsa isa) { tanh_any(x, n, isa); }

}  // namespace saddlescope
