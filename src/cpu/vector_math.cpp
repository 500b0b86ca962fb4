#include "src/cpu/vector_math.hpp"

#include <sleef.h>

#include <cmath>

#if defined(__x86_64__)
#include <immintrin.h>

// sleef.h declares its 256- and 512-bit functions and its FMA scalar ones
// only when the whole file is compiled for AVX / AVX-512 / FMA (__AVX__,
// __AVX512F__, FP_FAST_FMA); this file is compiled for baseline x86-64 and
// enters those paths through target attributes, so the ones it calls are
// declared here, exactly as in sleef.h (3.5).
extern "C" {
float Sleef_finz_tanhf1_u35purecfma(float);
double Sleef_finz_tanhd1_u35purecfma(double);
__m512 Sleef_finz_tanhf16_u35avx512f(__m512);
__m512d Sleef_finz_tanhd8_u35avx512f(__m512d);
__m256 Sleef_finz_tanhf8_u35avx2(__m256);
__m256d Sleef_finz_tanhd4_u35avx2(__m256d);
float Sleef_finz_expf1_u10purecfma(float);
double Sleef_finz_expd1_u10purecfma(double);
__m512 Sleef_finz_expf16_u10avx512f(__m512);
__m512d Sleef_finz_expd8_u10avx512f(__m512d);
__m256 Sleef_finz_expf8_u10avx2(__m256);
__m256d Sleef_finz_expd4_u10avx2(__m256d);
}
#endif

namespace saddlescope {

namespace {

#if defined(__x86_64__)
// One vector loop per path and precision: W lanes at a time through SLEEF,
// the tail through the scalar finz function (it executes FMA instructions:
// only on CPUs that have them). (A macro: intrinsics need the target
// attribute of the function they are written in.)
#define SS_SLEEF_LOOP(W, LOAD, STORE, FN, SCALAR)               \
  std::int64_t i = 0;                                           \
  for (; i + (W) <= n; i += (W)) STORE(x + i, FN(LOAD(x + i))); \
  for (; i < n; ++i) x[i] = SCALAR(x[i])

// The four vector paths and the scalar one of a SLEEF function NAME at
// accuracy U (u35, u10).
#define SS_SLEEF_PATHS(NAME, U)                                                               \
  void NAME##_scalar(float* x, std::int64_t n) {                                              \
    for (std::int64_t i = 0; i < n; ++i) x[i] = Sleef_finz_##NAME##f1_##U##purecfma(x[i]);    \
  }                                                                                           \
  void NAME##_scalar(double* x, std::int64_t n) {                                             \
    for (std::int64_t i = 0; i < n; ++i) x[i] = Sleef_finz_##NAME##d1_##U##purecfma(x[i]);    \
  }                                                                                           \
  __attribute__((target("avx512f"))) void NAME##_avx512(float* x, std::int64_t n) {           \
    SS_SLEEF_LOOP(16, _mm512_loadu_ps, _mm512_storeu_ps, Sleef_finz_##NAME##f16_##U##avx512f, \
                  Sleef_finz_##NAME##f1_##U##purecfma);                                       \
  }                                                                                           \
  __attribute__((target("avx512f"))) void NAME##_avx512(double* x, std::int64_t n) {          \
    SS_SLEEF_LOOP(8, _mm512_loadu_pd, _mm512_storeu_pd, Sleef_finz_##NAME##d8_##U##avx512f,   \
                  Sleef_finz_##NAME##d1_##U##purecfma);                                       \
  }                                                                                           \
  __attribute__((target("avx2,fma"))) void NAME##_avx2(float* x, std::int64_t n) {            \
    SS_SLEEF_LOOP(8, _mm256_loadu_ps, _mm256_storeu_ps, Sleef_finz_##NAME##f8_##U##avx2,      \
                  Sleef_finz_##NAME##f1_##U##purecfma);                                       \
  }                                                                                           \
  __attribute__((target("avx2,fma"))) void NAME##_avx2(double* x, std::int64_t n) {           \
    SS_SLEEF_LOOP(4, _mm256_loadu_pd, _mm256_storeu_pd, Sleef_finz_##NAME##d4_##U##avx2,      \
                  Sleef_finz_##NAME##d1_##U##purecfma);                                       \
  }

SS_SLEEF_PATHS(tanh, u35)
SS_SLEEF_PATHS(exp, u10)
#undef SS_SLEEF_PATHS
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

// The path asked for (or the best below it), else glibc's function (no
// FMA: an x86-64 CPU before 2013, or another architecture).
#if defined(__x86_64__)
#define SS_DISPATCH(NAME, LIBM)                                                                   \
  template <class T>                                                                              \
  void NAME##_any(T* x, std::int64_t n, VectorIsa isa) {                                          \
    if (isa == VectorIsa::avx512 && best_vector_isa() == VectorIsa::avx512)                       \
      return NAME##_avx512(x, n);                                                                 \
    if (isa >= VectorIsa::avx2 && best_vector_isa() >= VectorIsa::avx2) return NAME##_avx2(x, n); \
    if (has_fma()) return NAME##_scalar(x, n);                                                    \
    for (std::int64_t i = 0; i < n; ++i) x[i] = LIBM(x[i]);                                       \
  }
#else
#define SS_DISPATCH(NAME, LIBM)                             \
  template <class T>                                        \
  void NAME##_any(T* x, std::int64_t n, VectorIsa) {        \
    for (std::int64_t i = 0; i < n; ++i) x[i] = LIBM(x[i]); \
  }
#endif
SS_DISPATCH(tanh, std::tanh)
SS_DISPATCH(exp, std::exp)
#undef SS_DISPATCH

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
void exp_inplace(float* x, std::int64_t n, VectorIsa isa) { exp_any(x, n, isa); }
void exp_inplace(double* x, std::int64_t n, VectorIsa isa) { exp_any(x, n, isa); }

}  // namespace saddlescope
