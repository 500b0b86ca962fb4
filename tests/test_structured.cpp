// Structured Hessians in the census (include/saddlescope/structured.hpp):
// the diagonal Hessians of the separable objectives and rosenbrock's
// tridiagonal one, solved as bands, give what the dense path gives (the
// backend's eigh of its dense Hessian) at N = 1,000; the Sturm counts and
// bisection against the closed-form spectrum of the 1-D Laplacian; the
// double well at N = 20,000 against its closed-form second derivative (the
// memory plan's side: tests/test_census.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "saddlescope/census.hpp"
#include "saddlescope/run.hpp"
#include "saddlescope/structured.hpp"

using namespace saddlescope;

namespace {

struct Case {
  const char* name;
  ObjectiveKind kind;
  double scale;  // points uniform in [-scale, scale]^n
};

ObjectiveData objective(const Case& c, std::int64_t n) {
  ObjectiveData d;
  d.kind = c.kind;
  d.dim = n;
  if (c.kind == ObjectiveKind::quadratic) {  // unrotated, eigenvalues of both signs
    std::mt19937_64 gen(5);
    std::normal_distribution<double> g;
    for (std::int64_t i = 0; i < n; ++i) d.lambda.push_back(g(gen));
  }
  return d;
}

std::vector<double> uniform_points(std::int64_t m, std::int64_t n, double scale,
                                   std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(-scale, scale);
  std::vector<double> x(static_cast<std::size_t>(m * n));
  for (auto& v : x) v = u(gen);
  return x;
}

const Case kCases[] = {{"double-well", ObjectiveKind::double_well, 2.0},
                       {"styblinski-tang", ObjectiveKind::styblinski_tang, 4.0},
                       {"rastrigin", ObjectiveKind::rastrigin, 2.0},
                       {"quadratic", ObjectiveKind::quadratic, 1.0},
                       {"rosenbrock", ObjectiveKind::rosenbrock, 1.5}};

// At random points the bands' census equals the dense one: the same counts
// and class, eigenvalues within 1e-12 of max |lambda| (the diagonal ones
// bit for bit: LAPACK's dsyevd returns a diagonal matrix's diagonal,
// sorted), and the inertia method's counts equal eigh's with its extremes
// the spectrum's ends.
TEST(Structured, BandsEqualDenseEighAtN1000) {
  auto cpu = make_cpu_backend();
  const std::int64_t n = 1000, m = 4;
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    const ObjectiveData d = objective(c, n);
    ASSERT_TRUE(banded_hessian(d));
    const std::vector<double> x = uniform_points(m, n, c.scale, 11);
    AnalysisSpec eigh;
    eigh.method = "eigh";
    eigh.precision = Precision::f64;
    AnalysisSpec inertia = eigh;
    inertia.method = "inertia";
    const Spectra band = analyze_points(d, *cpu, eigh, x, m, 3);
    const Spectra counts = analyze_points(d, *cpu, inertia, x, m, 3);
    const EighResult dense =
        cpu->eigh(Precision::f64, m, n, cpu->hessian(d, Precision::f64, m, x), false);
    const bool diagonal = c.kind != ObjectiveKind::rosenbrock;
    for (std::int64_t k = 0; k < m; ++k) {
      SCOPED_TRACE("point " + std::to_string(k));
      ASSERT_EQ(band.info[k], 0);
      ASSERT_EQ(counts.info[k], 0);
      ASSERT_EQ(dense.info[k], 0);
      const double* lam = dense.values.data() + k * n;
      const double amax = std::max(std::fabs(lam[0]), std::fabs(lam[n - 1]));
      for (std::int64_t i = 0; i < n; ++i) {
        if (diagonal)
          ASSERT_EQ(band.values[k * n + i], lam[i]) << "eigenvalue " << i;
        else
          ASSERT_NEAR(band.values[k * n + i], lam[i], 1e-12 * amax) << "eigenvalue " << i;
      }
      const PointRule rule = census_rule(eigh, n, amax, PointFacts{});
      const Inertia want = count_inertia(lam, n, rule.lambda_tol, rule.rule);
      for (const Inertia& got : {band.inertia[k], counts.inertia[k]}) {
        EXPECT_EQ(got.index, want.index);
        EXPECT_EQ(got.n_zero, want.n_zero);
        EXPECT_EQ(got.n_pos, want.n_pos);
        EXPECT_EQ(got.cls, want.cls);
        EXPECT_NEAR(got.tol, want.tol, 1e-12 * want.tol);
        EXPECT_NEAR(got.lambda_min, want.lambda_min, 1e-12 * amax);
        EXPECT_NEAR(got.lambda_max, want.lambda_max, 1e-12 * amax);
      }
      EXPECT_GT(want.index, 0);  // the random points are saddles: the counts are not trivial
      EXPECT_GT(want.n_pos, 0);
      EXPECT_TRUE(std::isnan(counts.inertia[k].sigma_min));
    }
  }
}

// In f32 the band is evaluated in float as the dense Hessian is: the
// diagonal ones' spectra equal the dense f32 solver's bit for bit.
TEST(Structured, DiagonalBandsInF32EqualDenseEigh) {
  auto cpu = make_cpu_backend();
  const std::int64_t n = 300, m = 2;
  for (const Case& c : kCases) {
    if (c.kind == ObjectiveKind::rosenbrock) continue;
    SCOPED_TRACE(c.name);
    const ObjectiveData d = objective(c, n);
    const std::vector<double> x = uniform_points(m, n, c.scale, 12);
    AnalysisSpec eigh;
    eigh.method = "eigh";
    eigh.precision = Precision::f32;
    const Spectra band = analyze_points(d, *cpu, eigh, x, m, 1);
    const EighResult dense =
        cpu->eigh(Precision::f32, m, n, cpu->hessian(d, Precision::f32, m, x), false);
    for (std::int64_t i = 0; i < m * n; ++i) ASSERT_EQ(band.values[i], dense.values[i]) << i;
  }
}

// A point's result does not depend on the group it is analysed in.
TEST(Structured, GroupsDoNotChangeResults) {
  auto cpu = make_cpu_backend();
  const std::int64_t n = 200, m = 7;
  const ObjectiveData d = objective(kCases[4], n);
  const std::vector<double> x = uniform_points(m, n, 1.5, 13);
  for (const char* method : {"eigh", "inertia"}) {
    AnalysisSpec spec;
    spec.method = method;
    const Spectra one = analyze_points(d, *cpu, spec, x, m, 1),
                  all = analyze_points(d, *cpu, spec, x, m, m);
    for (std::int64_t i = 0; i < m * n; ++i)
      ASSERT_TRUE(one.values[i] == all.values[i] ||
                  (std::isnan(one.values[i]) && std::isnan(all.values[i])));
    for (std::int64_t k = 0; k < m; ++k) {
      EXPECT_EQ(one.inertia[k].index, all.inertia[k].index);
      EXPECT_EQ(one.inertia[k].lambda_min, all.inertia[k].lambda_min);
      EXPECT_EQ(one.inertia[k].lambda_max, all.inertia[k].lambda_max);
    }
  }
}

// The 1-D Laplacian tridiag(-1, 2, -1) of order n has the eigenvalues
// 2 - 2 cos(k pi / (n + 1)), k = 1..n: Sturm counts between them and the
// extremes by bisection.
TEST(Structured, TridiagonalCountsAndExtremesOfTheLaplacian) {
  for (const std::int64_t n :
       {std::int64_t{1}, std::int64_t{2}, std::int64_t{50}, std::int64_t{20000}}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    const std::vector<double> d(static_cast<std::size_t>(n), 2.0),
        e(static_cast<std::size_t>(n), -1.0);
    auto eig = [&](std::int64_t k) {
      return 2 - 2 * std::cos(static_cast<double>(k) * M_PI / static_cast<double>(n + 1));
    };
    const auto [lo, hi] = tridiagonal_extremes(d.data(), e.data(), n);
    EXPECT_NEAR(lo, eig(1), 1e-14);
    EXPECT_NEAR(hi, eig(n), 1e-14);
    for (std::int64_t k = 1; k <= n; k += std::max<std::int64_t>(1, n / 7)) {
      const double between = k < n ? 0.5 * (eig(k) + eig(k + 1)) : 5.0;
      EXPECT_EQ(tridiagonal_count_below(d.data(), e.data(), n, between, false), k);
      EXPECT_EQ(tridiagonal_count_below(d.data(), e.data(), n, between, true), k);
    }
    EXPECT_EQ(tridiagonal_count_below(d.data(), e.data(), n, -1e-300, true), 0);
  }
  // A diagonal: exact counts at its own entries (strictly below, at most).
  const std::vector<double> d = {3, -1, 0, 2, -1}, e(5, 0.0);
  EXPECT_EQ(tridiagonal_count_below(d.data(), e.data(), 5, -1, false), 0);
  EXPECT_EQ(tridiagonal_count_below(d.data(), e.data(), 5, -1, true), 2);
  EXPECT_EQ(tridiagonal_count_below(d.data(), e.data(), 5, 0, false), 2);
  EXPECT_EQ(tridiagonal_count_below(d.data(), e.data(), 5, 0, true), 3);
  EXPECT_EQ(tridiagonal_extremes(d.data(), e.data(), 5), std::make_pair(-1.0, 3.0));
}

// N = 20,000, far beyond dense Hessians on a small machine: the band's
// spectrum is the sorted closed-form second derivative 12 x^2 - 8, and the
// inertia method counts it.
TEST(Structured, DoubleWellAtN20000) {
  auto cpu = make_cpu_backend();
  const std::int64_t n = 20000, m = 3;
  ObjectiveData d;
  d.kind = ObjectiveKind::double_well;
  d.dim = n;
  const std::vector<double> x = uniform_points(m, n, 2.0, 14);
  AnalysisSpec eigh;
  eigh.method = "eigh";
  AnalysisSpec inertia = eigh;
  inertia.method = "inertia";
  const Spectra s = analyze_points(d, *cpu, eigh, x, m, m);
  const Spectra c = analyze_points(d, *cpu, inertia, x, m, 2);
  for (std::int64_t k = 0; k < m; ++k) {
    std::vector<double> want(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      const double xi = x[k * n + i];
      want[i] = 12 * xi * xi - 8;
    }
    std::sort(want.begin(), want.end());
    ASSERT_EQ(s.info[k], 0);
    for (std::int64_t i = 0; i < n; ++i)
      ASSERT_NEAR(s.values[k * n + i], want[i], 1e-12 * 48) << "point " << k << ", " << i;
    const double tol = s.inertia[k].tol;
    std::int64_t below = 0, zero = 0;
    for (double l : want) {
      below += l < -tol;
      zero += std::fabs(l) <= tol;
    }
    for (const Inertia& r : {s.inertia[k], c.inertia[k]}) {
      EXPECT_EQ(r.index, below);
      EXPECT_EQ(r.n_zero, zero);
      EXPECT_EQ(r.n_pos, n - below - zero);
      EXPECT_EQ(r.cls, PointClass::saddle);
      EXPECT_EQ(r.lambda_min, want.front());
      EXPECT_EQ(r.lambda_max, want.back());
    }
  }
}

}  // namespace
