// src/cpu/vector_math.hpp: SLEEF's tanh over arrays. Every vector path this
// CPU has returns the same bits as the scalar path (lengths that leave a
// tail, special values included), and all stay within the 3.5-ulp bound of
// SLEEF's u35 functions against long double's tanhl.
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

template <class T>
void paths_agree() {
  const std::int64_t n = 100003;  // not a multiple of any vector width
  const std::vector<T> x = inputs<T>(n);
  std::vector<T> ref = x;
  tanh_inplace(ref.data(), n, VectorIsa::scalar);
  int checked = 0;
  for (VectorIsa isa : {VectorIsa::avx2, VectorIsa::avx512}) {
    if (best_vector_isa() < isa) continue;
    ++checked;
    std::vector<T> got = x;
    tanh_inplace(got.data(), n, isa);
    for (std::int64_t i = 0; i < n; ++i)
      ASSERT_EQ(std::memcmp(&got[i], &ref[i], sizeof(T)), 0)
          << "path " << static_cast<int>(isa) << ", tanh(" << x[i] << "): " << got[i]
          << ", scalar path " << ref[i];
  }
  if (checked == 0)
    GTEST_SKIP() << "this CPU has neither AVX2+FMA nor AVX-512F: only the scalar path";
}

template <class T>
void accurate() {
  const std::int64_t n = 100003;
  const std::vector<T> x = inputs<T>(n);
  std::vector<T> y = x;
  tanh_inplace(y.data(), n);  // the best path
  long double worst = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) {
      EXPECT_TRUE(std::isnan(y[i]));
      continue;
    }
    const long double want = std::tanh(static_cast<long double>(x[i]));
    const T w = static_cast<T>(want);
    const T ulp = std::nextafter(std::fabs(w), std::numeric_limits<T>::infinity()) - std::fabs(w);
    // SLEEF's bound for the u35 functions is 3.5 ulp of the result (measured
    // here about 2.7 in float, 2.9 in double); a function off by 4 ulps fails.
    const long double err = std::fabs(static_cast<long double>(y[i]) - want) / ulp;
    worst = std::max(worst, err);
    ASSERT_LE(err, 3.5L) << "tanh(" << x[i] << ") = " << y[i] << ", want "
                         << static_cast<double>(want);
  }
  std::printf("largest error %.3Lf ulp\n", worst);
  EXPECT_TRUE(std::signbit(y[1]));  // tanh(-0) = -0
}

TEST(VectorTanh, F32PathsGiveTheScalarPathsBits) { paths_agree<float>(); }
TEST(VectorTanh, F64PathsGiveTheScalarPathsBits) { paths_agree<double>(); }
TEST(VectorTanh, F32WithinSleefsBound) { accurate<float>(); }
TEST(VectorTanh, F64WithinSleefsBound) { accurate<double>(); }

}  // namespace
