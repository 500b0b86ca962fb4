// The census counts distinct points with a stated tolerance rule
// (docs/experiment.md, census rules), against cases whose answer is known in
// closed form: the separable double well and Styblinski-Tang (3^N critical
// points, C(N,k) 2^(N-k) of index k), the spherical 2-spin (critical points
// +-sqrt(N) v_k of index k), stops of the 3-spin (minima found many times),
// and an overparameterized network whose approximate minima have tiny
// negative eigenvalues that are no escape directions.
#include <gtest/gtest.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "kernels/pspin.hpp"
#include "saddlescope/census.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"

using namespace saddlescope;

namespace {

// The census's distinct critical points: (representative row, index).
std::vector<const AnalyzedPoint*> distinct_critical(const CensusResult& c) {
  std::vector<const AnalyzedPoint*> out;
  for (const DistinctPoint& d : c.distinct) {
    const AnalyzedPoint& p = c.points[d.representative];
    if (p.critical && p.inertia.cls != PointClass::failed) out.push_back(&p);
  }
  return out;
}

double saddle_fraction(const CensusResult& c) {
  const auto crit = distinct_critical(c);
  const auto saddles = std::count_if(crit.begin(), crit.end(), [](const AnalyzedPoint* p) {
    return p->inertia.cls == PointClass::saddle;
  });
  return static_cast<double>(saddles) / static_cast<double>(crit.size());
}

// Index of a product critical point of a separable objective: the
// coordinates at the 1-D maximum `maximum`.
std::int64_t product_index(const double* x, std::int64_t n, double maximum) {
  std::int64_t k = 0;
  for (std::int64_t i = 0; i < n; ++i) k += std::fabs(x[i] - maximum) < 1e-3;
  return k;
}

std::int64_t binomial(std::int64_t n, std::int64_t k) {
  std::int64_t b = 1;
  for (std::int64_t i = 1; i <= k; ++i) b = b * (n - k + i) / i;
  return b;
}

// Every distinct critical point of a separable objective at N: 3^N of them,
// C(N,k) 2^(N-k) of index k, each with its closed-form index.
void expect_all_product_points(const Experiment& e, const RunResult& r, double maximum) {
  const std::int64_t n = e.objective.dim;
  const auto crit = distinct_critical(r.census);
  std::int64_t all = 1;
  for (std::int64_t i = 0; i < n; ++i) all *= 3;
  ASSERT_EQ(static_cast<std::int64_t>(crit.size()), all);
  std::map<std::int64_t, std::int64_t> per_index;
  const ObjectiveData obj = build_objective(e);
  auto cpu = make_cpu_backend();
  for (const AnalyzedPoint* p : crit) {
    const auto row = static_cast<std::int64_t>(p - r.census.points.data());
    const double* x = r.census.coords.data() + row * n;
    EXPECT_EQ(p->inertia.index, product_index(x, n, maximum));
    per_index[p->inertia.index]++;
    // An independent check that the point is critical.
    const ObjectiveEval ev = cpu->value_grad(obj, Precision::f64, 1, std::vector<double>(x, x + n));
    EXPECT_LE(std::sqrt(row_dot(n, ev.g.data(), ev.g.data())), 1e-9);
  }
  for (std::int64_t k = 0; k <= n; ++k)
    EXPECT_EQ(per_index[k], binomial(n, k) << (n - k)) << "index " << k;
}

}  // namespace

TEST(CensusRules, DoubleWellN3Has27DistinctCriticalPointsAtEveryCritTol) {
  // The case: 2000 gd trajectories and 2000 newton starts on the 3-D
  // double well. Before distinct points, crit_tol = 1e-3 reported 816
  // "critical points" and a saddle fraction of 0.12; the landscape has 27,
  // 18 of them saddles.
  for (const char* tol : {"1e-3", "1e-4", "1e-6", "1e-8"}) {
    SCOPED_TRACE(std::string("crit_tol = ") + tol);
    const Experiment e = parse_experiment(
        std::string("seed = 3\n[objective]\nkind = \"double-well\"\ndim = 3\n"
                    "[init]\nkind = \"uniform\"\nscale = 2.5\n"
                    "[run]\ntrajectories = 2000\nmax_steps = 3000\nprecision = \"f64\"\n"
                    "[[optimizer]]\nkind = \"gd\"\nlr = 0.01\n"
                    "[analysis]\npoints = [\"stops\", \"critical\"]\nmax_points = 1000\n"
                    "save_point_coords = true\ncrit_tol = ") +
            tol + "\n[finder]\nkind = \"newton\"\nstarts = 2000\nmax_steps = 100\n",
        "dw3.toml");
    auto cpu = make_cpu_backend();
    const RunResult r = run_experiment(e, *cpu);
    expect_all_product_points(e, r, 0.126000);
    EXPECT_NEAR(saddle_fraction(r.census), 18.0 / 27.0, 1e-12);
    // Multiplicities add up to the findings: every analysed stop, every
    // converged finder start.
    std::int64_t stops = 0, starts = 0;
    for (const DistinctPoint& d : r.census.distinct) {
      stops += d.mult_stop;
      starts += d.mult_critical;
      EXPECT_TRUE(d.members_agree);
    }
    EXPECT_EQ(stops, 1000);
    EXPECT_EQ(starts, r.census.finder.count(kFinderConverged));
    // gd stops are minima: each joins one of the 8 distinct minima.
    EXPECT_EQ(r.census.distinct.size(), 27u);
  }
}

TEST(CensusRules, StyblinskiTangN5Has243DistinctPointsFrom20000NewtonStarts) {
  // Finder only: 20,000 newton starts uniform on [-5, 5]^5; 3^5 = 243
  // distinct critical points, each with its closed-form index (the 1-D
  // maximum of 1/2 (x^4 - 16 x^2 + 5 x) is at 0.156731). Before polishing
  // and the derived merge radius the same run listed 1,702.
  const Experiment e = parse_experiment(
      "seed = 11\n[objective]\nkind = \"styblinski-tang\"\ndim = 5\n"
      "[init]\nkind = \"uniform\"\nscale = 5\n[run]\nprecision = \"f64\"\n"
      "[analysis]\npoints = [\"critical\"]\nmax_points = 1000\nsave_point_coords = true\n"
      "[finder]\nkind = \"newton\"\nstarts = 20000\nmax_steps = 100\n",
      "st5.toml");
  auto cpu = make_cpu_backend();
  const RunResult r = run_experiment(e, *cpu);
  EXPECT_EQ(r.census.finder.points.size(), 243u);
  expect_all_product_points(e, r, 0.156731);
  for (const DistinctPoint& d : r.census.distinct) EXPECT_EQ(d.mult_stop, 0);
}

TEST(CensusRules, DoubleWellN6HasAll729From20000NewtonStarts) {
  const Experiment e = parse_experiment(
      "seed = 3\n[objective]\nkind = \"double-well\"\ndim = 6\n"
      "[init]\nkind = \"uniform\"\nscale = 2.5\n[run]\nprecision = \"f64\"\n"
      "[analysis]\npoints = [\"critical\"]\nmax_points = 1000\nsave_point_coords = true\n"
      "[finder]\nkind = \"newton\"\nstarts = 20000\nmax_steps = 100\n",
      "dw6.toml");
  auto cpu = make_cpu_backend();
  const RunResult r = run_experiment(e, *cpu);
  expect_all_product_points(e, r, 0.126000);
  EXPECT_NEAR(saddle_fraction(r.census), 664.0 / 729.0, 1e-12);
}

TEST(CensusRules, PSpin2CriticalPointsAreListedOnceWithTheirIndex) {
  // p = 2, N = 50: H = 1/2 s^T A s on |s|^2 = N; its critical points are
  // +-sqrt(N) v_k (A v_k = mu_k v_k ascending), of index k. Newton from 400
  // random starts on the sphere finds many of them many times; each found
  // point must be one distinct point, with index k.
  const std::int64_t n = 50;
  const Experiment e = parse_experiment(
      "seed = 21\n[objective]\nkind = \"p-spin\"\ndim = 50\np = 2\n"
      "[init]\nkind = \"sphere\"\n[run]\nprecision = \"f64\"\n"
      "[analysis]\npoints = [\"critical\"]\nmax_points = 1000\nsave_point_coords = true\n"
      "crit_tol = 1e-6\n[finder]\nkind = \"newton\"\nstarts = 400\nmax_steps = 200\n",
      "p2.toml");
  const ObjectiveData d = build_objective(e);
  std::vector<double> a = d.couplings, mu(n);
  ASSERT_EQ(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'L', n, a.data(), n, mu.data()), 0);
  auto cpu = make_cpu_backend();
  const RunResult r = run_experiment(e, *cpu);
  const auto crit = distinct_critical(r.census);
  ASSERT_GE(crit.size(), 10u);
  std::set<std::pair<std::int64_t, int>> seen;  // (k, sign)
  std::int64_t converged = 0;
  for (const AnalyzedPoint* p : crit) {
    const auto row = static_cast<std::int64_t>(p - r.census.points.data());
    const double* x = r.census.coords.data() + row * n;
    // Which eigenvector: the largest overlap, which must be all of it.
    std::int64_t k = 0;
    double best = 0, overlap_k = 0;
    for (std::int64_t j = 0; j < n; ++j) {
      double o = 0;
      for (std::int64_t i = 0; i < n; ++i) o += x[i] * a[i * n + j];
      if (std::fabs(o) > best) {
        best = std::fabs(o);
        k = j;
        overlap_k = o;
      }
    }
    EXPECT_NEAR(best / std::sqrt(double(n)), 1.0, 1e-9);
    EXPECT_TRUE(seen.insert({k, overlap_k > 0 ? 1 : -1}).second) << "listed twice: k = " << k;
    EXPECT_EQ(p->inertia.index, k);
    EXPECT_NEAR(p->f, mu[k] / 2, 1e-9);
    converged += r.census.distinct[p->distinct_id].mult_critical;
  }
  EXPECT_EQ(converged, r.census.finder.count(kFinderConverged));
  EXPECT_GT(converged, static_cast<std::int64_t>(crit.size()));  // found more than once
}

TEST(CensusRules, PSpin3StopsAreDistinctMinimaWhoseMultiplicitiesAddUp) {
  // A stops-only census of the 3-spin at N = 10: 128 gd stops land on a few
  // minima. Members of a distinct point lie together, distinct points apart,
  // and the multiplicities add up to the 128 stops.
  const std::int64_t n = 10;
  const Experiment e = parse_experiment(
      "seed = 4\n[objective]\nkind = \"p-spin\"\ndim = 10\np = 3\n"
      "[init]\nkind = \"sphere\"\n[run]\ntrajectories = 128\nmax_steps = 20000\nprecision = "
      "\"f64\"\n"
      "grad_tol = 1e-6\n[[optimizer]]\nkind = \"gd\"\nlr = 0.05\n"
      "[analysis]\npoints = [\"stops\"]\nsave_point_coords = true\n",
      "p3.toml");
  auto cpu = make_cpu_backend();
  const RunResult r = run_experiment(e, *cpu);
  const CensusResult& c = r.census;
  ASSERT_EQ(c.points.size(), 128u);
  for (const auto o : r.optimizers[0].traj.outcome) ASSERT_EQ(o, kConverged);
  std::int64_t total = 0;
  for (const DistinctPoint& d : c.distinct) {
    total += d.multiplicity();
    EXPECT_EQ(d.multiplicity(), d.mult_stop);
    EXPECT_EQ(c.points[d.representative].inertia.cls, PointClass::minimum);
    EXPECT_TRUE(c.points[d.representative].critical);
  }
  EXPECT_EQ(total, 128);
  EXPECT_LT(c.distinct.size(), 40u);  // found many times each
  EXPECT_GT(c.distinct.size(), 1u);
  auto dist = [&](std::size_t p, std::size_t q) {
    double s = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const double v = c.coords[p * n + i] - c.coords[q * n + i];
      s += v * v;
    }
    return std::sqrt(s);
  };
  for (std::size_t p = 0; p < c.points.size(); ++p)
    for (std::size_t q = p + 1; q < c.points.size(); ++q) {
      if (c.points[p].distinct_id == c.points[q].distinct_id)
        EXPECT_LT(dist(p, q), 1e-4);
      else
        EXPECT_GT(dist(p, q), 0.1);
    }
}

TEST(CensusRules, OverparameterizedNetworkStopsAreNotPrematureSaddles) {
  // The network: 50 inputs, 10 hidden units (521 parameters), 256
  // samples; adam to a loss near 2e-10 with ||g|| <= 1e-6. Its minima form a
  // degenerate manifold; at the approximate points the Hessian has
  // eigenvalues down to about -2e-6, below the old relative tolerance
  // (1e-6 max|lambda|) but within sqrt(rho ||g||): no premature stops; every
  // stop is a minimum or degenerate.
  const Experiment e = parse_experiment(
      "seed = 4\n[objective]\nkind = \"mlp\"\ninputs = 50\nhidden = 10\nsamples = 256\n"
      "[init]\nkind = \"gaussian\"\nscale = 0.3\n[run]\ntrajectories = 16\n"
      "max_steps = 20000\ngrad_tol = 1e-6\nprecision = \"f64\"\n"
      "[[optimizer]]\nkind = \"adam\"\nlr = 0.003\n[analysis]\npoints = [\"stops\"]\n",
      "mlp.toml");
  ASSERT_EQ(e.objective.dim, 521);
  auto cpu = make_cpu_backend();
  const RunResult r = run_experiment(e, *cpu);
  std::int64_t below_old_tol = 0;
  for (const AnalyzedPoint& p : r.census.points) {
    ASSERT_EQ(p.outcome, kConverged);
    EXPECT_LT(p.f, 1e-8);
    EXPECT_TRUE(p.inertia.cls == PointClass::minimum || p.inertia.cls == PointClass::degenerate)
        << class_name(p.inertia.cls);
    EXPECT_EQ(p.inertia.index, 0);
    EXPECT_EQ(p.inertia.rule, TolRule::second_order);
    EXPECT_GT(p.rho, 0);
    // The case the issue describes is present: the old rule would have called it a saddle.
    below_old_tol += p.inertia.lambda_min < -1e-6 * std::max(1.0, p.inertia.lambda_max);
  }
  EXPECT_GT(below_old_tol, 0);
}

TEST(CensusRules, ToleranceTermsFollowTheDocumentedRule) {
  AnalysisSpec a;
  a.zero_tol = 1e-6;
  a.crit_tol = 1e-4;
  a.precision = Precision::f64;
  PointFacts f;
  f.grad_norm = 1e-6;
  f.x_norm = 2;
  f.rho = 4;
  f.coord_roundoff = unit_roundoff(Precision::f32);
  // Critical: the second-order term sqrt(rho g) = 2e-3 wins.
  PointRule r = census_rule(a, 10, 3.0, f);
  EXPECT_TRUE(r.critical);
  EXPECT_EQ(r.rule, TolRule::second_order);
  EXPECT_DOUBLE_EQ(r.lambda_tol, std::sqrt(4e-6));
  // The gradient floor of an f32 point: 2 u ||H|| max(1, ||x||) = 7.15e-7
  // replaces a crit_tol below it.
  a.crit_tol = 1e-9;
  r = census_rule(a, 10, 3.0, f);
  EXPECT_DOUBLE_EQ(r.crit_threshold, 2 * 0x1.0p-24 * 3.0 * 2.0);
  EXPECT_FALSE(r.critical);  // 1e-6 is above the floor
  f.grad_norm = 7e-7;
  EXPECT_TRUE(census_rule(a, 10, 3.0, f).critical);
  f.grad_norm = 1e-5;
  r = census_rule(a, 10, 3.0, f);
  EXPECT_FALSE(r.critical);
  // Not critical: no second-order term; the larger of zero_tol and backward error.
  EXPECT_EQ(r.rule, TolRule::zero_tol);
  EXPECT_DOUBLE_EQ(r.lambda_tol, 3e-6);
  a.precision = Precision::f32;  // 4 n u ||H|| = 4 * 10 * 2^-24 * 3 = 7.2e-6
  r = census_rule(a, 10, 3.0, f);
  EXPECT_EQ(r.rule, TolRule::backward_error);
  EXPECT_DOUBLE_EQ(r.lambda_tol, 4.0 * 10 * 0x1.0p-24 * 3.0);
}

TEST(CensusRules, RhoIsTheHessiansLipschitzConstant) {
  // 1-D double well: f''' = 24 x exactly, so rho = 24 |x|; a quadratic has rho 0.
  const Experiment dw = parse_experiment(
      "[objective]\nkind = \"double-well\"\ndim = 1\n[[optimizer]]\nkind = \"gd\"\n", "t");
  auto cpu = make_cpu_backend();
  const ObjectiveData d = build_objective(dw);
  const std::vector<double> x = {-1.472998, 0.126, 1.346997, 3.0};
  const ObjectiveEval ev = cpu->value_grad(d, Precision::f64, 4, x);
  const std::vector<double> rho = estimate_rho(*cpu->prepare(d, Precision::f64), x, ev.g, 4);
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(rho[k], 24 * std::fabs(x[k]), 1e-6 * 24 * 3) << k;
  const Experiment q = parse_experiment(
      "[objective]\nkind = \"quadratic\"\ndim = 4\nnegative = 2\nrotate = true\n"
      "[[optimizer]]\nkind = \"gd\"\n",
      "t");
  const ObjectiveData dq = build_objective(q);
  const std::vector<double> xq = {0.3, -1.0, 2.0, 0.5};
  const ObjectiveEval eq = cpu->value_grad(dq, Precision::f64, 1, xq);
  EXPECT_LT(estimate_rho(*cpu->prepare(dq, Precision::f64), xq, eq.g, 1)[0], 1e-8);
}

TEST(CensusRules, PolishingReachesThePrecisionsLimit) {
  // From 1e-4 off the double well's local minimum: Newton polishing lands
  // within rounding of 1.346997..., with an accuracy at the rounding level.
  const Experiment dw = parse_experiment(
      "[objective]\nkind = \"double-well\"\ndim = 2\n[[optimizer]]\nkind = \"gd\"\n", "t");
  auto cpu = make_cpu_backend();
  const ObjectiveData d = build_objective(dw);
  std::vector<double> x = {1.347097, -1.473098, 0.126100, 1.346897};
  const Polished p = polish_points(*cpu->prepare(d, Precision::f64), cpu->host_linalg(), x, 2);
  // Roots of 4 x^3 - 8 x + 1 by bisection in long double.
  auto root = [](long double lo, long double hi) {
    for (int i = 0; i < 200; ++i) {
      const long double m = (lo + hi) / 2;
      const long double fl = 4 * lo * lo * lo - 8 * lo + 1, fm = 4 * m * m * m - 8 * m + 1;
      ((fl < 0) == (fm < 0) ? lo : hi) = m;
    }
    return static_cast<double>((lo + hi) / 2);
  };
  const double r1 = root(1.3L, 1.4L), r2 = root(-1.5L, -1.4L), r0 = root(0.1L, 0.2L);
  const double expect[4] = {r1, r2, r0, r1};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(x[i], expect[i], 4e-16 * 2) << i;
  for (int k = 0; k < 2; ++k) {
    EXPECT_LE(p.accuracy[k], 1e-14);
    EXPECT_LE(p.grad_norm[k], 1e-13);
    EXPECT_GE(p.steps[k], 2);
  }
}
