// src/cpu/vector_math.hpp: SLEEF's tanh and exp over arrays. Every vector
// path this CPU has returns the same bits as the scalar path (lengths that
// leave a tail, special values included), and all stay within SLEEF's
// bounds against long double's tanhl and expl: 3.5 ulp for the u35 tanh,
// 1.0 ulp for the u10 exp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/rng.hpp"
#include "src/cpu/vector_math.hpp"

using namespace saddlescope;

namespace {

template <class T>
std::vector<T> inputs(std::int64_t n) {
  std::vector<T> x(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const double u = rng::uniform(11, 0, static_cast<std::uint64_t>(i), 0);
    // Most in the activations' range, some tiny, some saturated.
    x[i] = static_cast<T>(i % 7 == 0    ? (u - 0.5) * 1e-5
                          : i % 11 == 0 ? (u - 0.5) * 80
                                        : (u - 0.5) * 8);
  }
  x[0] = T(0);
  x[1] = -T(0);
  x[2] = std::numeric_limits<T>::infinity();
  x[3] = -std::numeric_limits<T>::infinity();
  x[4] = std::numeric_limits<T>::quiet_NaN();
  x[5] = std::numeric_limits<T>::denorm_min();
  return x;
}

// The functions under test: tanh_inplace and exp_inplace, with their
// long-double references and SLEEF's bounds.
struct Tanh {
  static constexpr const char* name = "tanh";
  static constexpr long double bound = 3.5L;
  template <class T>
  static void apply(T* x, std::int64_t n, VectorIsa isa) {
    tanh_inplace(x, n, isa);
  }
  static long double exact(long double x) { return std::tanh(x); }
};
struct Exp {
  static constexpr const char* name = "exp";
  static constexpr long double bound = 1.0L;
  template <class T>
  static void apply(T* x, std::int64_t n, VectorIsa isa) {
    exp_inplace(x, n, isa);
  }
  static long double exact(long double x) { return std::exp(x); }
};

template <class T, class F>
void paths_agree() {
  const std::int64_t n = 100003;  // not a multiple of any vector width
  const std::vector<T> x = inputs<T>(n);
  std::vector<T> ref = x;
  F::apply(ref.data(), n, VectorIsa::scalar);
  int checked = 0;
  for (VectorIsa isa : {VectorIsa::avx2, VectorIsa::avx512}) {
    if (best_vector_isa() < isa) continue;
    ++checked;
    std::vector<T> got = x;
    F::apply(got.data(), n, isa);
    for (std::int64_t i = 0; i < n; ++i)
      ASSERT_EQ(std::memcmp(&got[i], &ref[i], sizeof(T)), 0)
          << "path " << static_cast<int>(isa) << ", " << F::name << "(" << x[i] << "): " << got[i]
          << ", scalar path " << ref[i];
  }
  if (checked == 0)
    GTEST_SKIP() << "this CPU has neither AVX2+FMA nor AVX-512F: only the scalar path";
}

template <class T, class F>
void accurate() {
  const std::int64_t n = 100003;
  const std::vector<T> x = inputs<T>(n);
  std::vector<T> y = x;
  F::apply(y.data(), n, best_vector_isa());
  long double worst = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) {
      EXPECT_TRUE(std::isnan(y[i]));
      continue;
    }
    const long double want = F::exact(static_cast<long double>(x[i]));
    const T w = static_cast<T>(want);
    if (std::isinf(w) || w == T(0)) {  // overflow and underflow: SLEEF's are exact
      EXPECT_EQ(y[i], w) << F::name << "(" << x[i] << ")";
      continue;
    }
    const T ulp = std::nextafter(std::fabs(w), std::numeric_limits<T>::infinity()) - std::fabs(w);
    // SLEEF's bound for the u35 functions is 3.5 ulp of the result (tanh:
    // measured here about 2.7 in float, 2.9 in double), 1.0 ulp for the u10
    // ones (exp); a function off by a few more ulps fails.
    const long double err = std::fabs(static_cast<long double>(y[i]) - want) / ulp;
    worst = std::max(worst, err);
    ASSERT_LE(err, F::bound) << F::name << "(" << x[i] << ") = " << y[i] << ", want "
                             << static_cast<double>(want);
  }
  std::printf("%s: largest error %.3Lf ulp\n", F::name, worst);
}

TEST(VectorTanh, F32PathsGiveTheScalarPathsBits) { paths_agree<float, Tanh>(); }
TEST(VectorTanh, F64PathsGiveTheScalarPathsBits) { paths_agree<double, Tanh>(); }
TEST(VectorTanh, F32WithinSleefsBound) { accurate<float, Tanh>(); }
TEST(VectorTanh, F64WithinSleefsBound) {
  accurate<double, Tanh>();
  std::vector<double> minus_zero = {-0.0};
  tanh_inplace(minus_zero.data(), 1);
  EXPECT_TRUE(std::signbit(minus_zero[0]));  // tanh(-0) = -0
}
TEST(VectorExp, F32PathsGiveTheScalarPathsBits) { paths_agree<float, Exp>(); }
TEST(VectorExp, F64PathsGiveTheScalarPathsBits) { paths_agree<double, Exp>(); }
TEST(VectorExp, F32WithinSleefsBound) { accurate<float, Exp>(); }
TEST(VectorExp, F64WithinSleefsBound) { accurate<double, Exp>(); }

}  // namespace
