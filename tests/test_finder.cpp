// Critical-point finders: on the separable double well and Styblinski-Tang
// at N = 6 every critical point is a product of the three 1-D critical
// points, with index = the number of coordinates at the 1-D maximum. Newton
// from 20,000 uniform starts must find all 3^6 = 729 of them (C(6,k) 2^(6-k)
// of index k); gradient-norm minimization must find only true critical
// points, each with its closed-form index.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"

using namespace saddlescope;

namespace {

struct Case {
  const char* kind;
  double maximum;  // the 1-D maximum between the two minima
  double scale;    // starts uniform on [-scale, scale]^6
};

const Case kCases[] = {{"double-well", 0.126000, 2.5}, {"styblinski-tang", 0.156731, 4.0}};

Experiment experiment(const Case& c, const std::string& finder) {
  return parse_experiment(
      std::string("seed = 3\n[objective]\nkind = \"") + c.kind +
          "\"\ndim = 6\n[init]\nkind = \"uniform\"\nscale = " + std::to_string(c.scale) +
          "\n[run]\ntrajectories = 20000\nmax_steps = 1\nprecision = \"f64\"\n"
          "[[optimizer]]\nkind = \"gd\"\n[analysis]\npoints = [\"critical\"]\n"
          "max_points = 1000\ncrit_tol = 1e-8\n[finder]\n" +
          finder,
      "finder.toml");
}

// The closed-form index of a product critical point: coordinates near the maximum.
std::int64_t closed_form_index(const double* x, double maximum) {
  std::int64_t k = 0;
  for (int i = 0; i < 6; ++i) k += std::fabs(x[i] - maximum) < 1e-3;
  return k;
}

void check_census(const Case& c, const Experiment& e, bool expect_all) {
  auto cpu = make_cpu_backend();
  const RunResult r = run_experiment(e, *cpu);
  ASSERT_TRUE(r.has_census);
  const CensusResult& census = r.census;
  ASSERT_TRUE(census.has_finder);
  std::int64_t per_index[7] = {0, 0, 0, 0, 0, 0, 0};
  const ObjectiveData obj = build_objective(e);
  for (std::size_t p = 0; p < census.points.size(); ++p) {
    const AnalyzedPoint& pt = census.points[p];
    EXPECT_EQ(pt.source, "critical");
    EXPECT_LE(pt.grad_norm, 1e-8);
    // The point itself: recompute its gradient independently of the finder.
    const std::vector<double> x(census.coords.begin() + static_cast<std::int64_t>(p) * 6,
                                census.coords.begin() + static_cast<std::int64_t>(p + 1) * 6);
    const ObjectiveEval ev = cpu->value_grad(obj, Precision::f64, 1, x);
    double gn = 0;
    for (double g : ev.g) gn += g * g;
    EXPECT_LE(std::sqrt(gn), 1e-8);
    const std::int64_t k = closed_form_index(x.data(), c.maximum);
    EXPECT_EQ(pt.inertia.index, k) << "point " << p;
    per_index[pt.inertia.index]++;
  }
  if (expect_all) {
    EXPECT_EQ(census.points.size(), 729u);
    const std::int64_t binom[7] = {1, 6, 15, 20, 15, 6, 1};
    for (int k = 0; k <= 6; ++k) EXPECT_EQ(per_index[k], binom[k] << (6 - k)) << "index " << k;
  } else {
    EXPECT_GT(census.points.size(), 50u);
  }
}

TEST(Finder, NewtonFindsAllCriticalPointsAtN6) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.kind);
    Experiment e = experiment(c, "kind = \"newton\"\nstarts = 20000\nmax_steps = 100\n");
    e.analysis.save_point_coords = true;
    check_census(c, e, true);
  }
}

TEST(Finder, GradientNormFindsOnlyTrueCriticalPoints) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.kind);
    // Gradient descent on 1/2 ||g||^2 contracts near a critical point when
    // lr < 2 / lambda_max^2. The largest curvature at a critical point is
    // 12 x^2 - 8 = 18.04 for the double well (lr < 0.0061) and 6 x^2 - 16 =
    // 34.58 for Styblinski-Tang (lr < 0.0017).
    Experiment e = experiment(
        c, c.kind == std::string("double-well")
               ? "kind = \"gradient-norm\"\nstarts = 2000\nmax_steps = 4000\nlr = 0.003\n"
               : "kind = \"gradient-norm\"\nstarts = 2000\nmax_steps = 4000\nlr = 0.0005\n");
    e.analysis.save_point_coords = true;
    check_census(c, e, false);
  }
}

TEST(Finder, ConfigurationMustBeConsistent) {
  const std::string base =
      "[objective]\nkind = \"double-well\"\ndim = 2\n[[optimizer]]\nkind = \"gd\"\n";
  EXPECT_THROW(parse_experiment(base + "[analysis]\npoints = [\"critical\"]\n", "t"), InputError);
  EXPECT_THROW(parse_experiment(base + "[finder]\nkind = \"newton\"\n", "t"), InputError);
  EXPECT_THROW(
      parse_experiment(
          base + "[analysis]\npoints = [\"critical\"]\n[finder]\nkind = \"bisection\"\n", "t"),
      InputError);
  const Experiment e =
      parse_experiment(base +
                           "[run]\ntrajectories = 10\n[analysis]\npoints = [\"stops\", "
                           "\"critical\"]\n[finder]\nkind = \"gradient-norm\"\n",
                       "t");
  EXPECT_EQ(e.finder.starts, 256);  // its own count, not capped by run.trajectories
  EXPECT_DOUBLE_EQ(e.finder.lr, 1e-3);
  EXPECT_EQ(e.finder.init.kind, e.init.kind);  // [finder.init] defaults to [init]
  EXPECT_FALSE(e.finder.own_init);
  // finder.dedup_tol of 0.1 files is analysis.dedup_tol now; both at once is refused.
  EXPECT_DOUBLE_EQ(parse_experiment(base + "[analysis]\npoints = [\"critical\"]\n[finder]\nkind = "
                                           "\"newton\"\ndedup_tol = 1e-5\n",
                                    "t")
                       .analysis.dedup_tol,
                   1e-5);
  EXPECT_THROW(parse_experiment(base + "[analysis]\npoints = [\"critical\"]\ndedup_tol = 1e-5\n"
                                       "[finder]\nkind = \"newton\"\ndedup_tol = 1e-5\n",
                                "t"),
               InputError);
}

TEST(Finder, OwnStartsAndInitAndFinderOnlyExperiments) {
  const std::string finder_only =
      "seed = 5\n[objective]\nkind = \"double-well\"\ndim = 2\n[init]\nkind = \"gaussian\"\n"
      "[analysis]\npoints = [\"critical\"]\n[finder]\nkind = \"newton\"\nstarts = 300\n"
      "[finder.init]\nkind = \"uniform\"\nscale = 2.5\n";
  const Experiment e = parse_experiment(finder_only, "t");
  EXPECT_TRUE(e.optimizers.empty());
  EXPECT_EQ(e.trajectories(), 0);
  EXPECT_TRUE(e.finder.own_init);
  EXPECT_EQ(e.finder.init.kind, "uniform");
  // config.toml keeps [finder.init] and parses back to the same experiment.
  EXPECT_EQ(to_toml(parse_experiment(to_toml(e), "config.toml")), to_toml(e));
  // The starts come from [finder.init]: uniform on [-2.5, 2.5].
  const std::vector<double> x = make_finder_starts(e, 0, 300);
  double lo = 0, hi = 0;
  for (double v : x) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_GE(lo, -2.5);
  EXPECT_LE(hi, 2.5);
  EXPECT_LT(lo, -2.0);
  EXPECT_GT(hi, 2.0);
  // A finder-only run: every start has an outcome, the 2-D double well's 9
  // critical points are found, and there are no trajectories.
  auto cpu = make_cpu_backend();
  const RunResult r = run_experiment(e, *cpu);
  EXPECT_TRUE(r.optimizers.empty());
  ASSERT_TRUE(r.has_census);
  const FinderResult& f = r.census.finder;
  ASSERT_EQ(f.outcome.size(), 300u);
  EXPECT_EQ(f.count(kFinderConverged) + f.count(kFinderStalled) + f.count(kFinderMaxSteps) +
                f.count(kFinderDiverged),
            300);
  EXPECT_EQ(f.points.size(), 9u);
  EXPECT_EQ(r.census.distinct.size(), 9u);
  std::int64_t hits = 0;
  for (const auto& p : f.points) hits += p.hits;
  EXPECT_EQ(hits, f.count(kFinderConverged));
  // Without a finder, an experiment needs an optimizer; a finder-only one
  // analyses critical points only.
  EXPECT_THROW(parse_experiment("[objective]\nkind = \"double-well\"\ndim = 2\n", "t"), InputError);
  EXPECT_THROW(
      parse_experiment("[objective]\nkind = \"double-well\"\ndim = 2\n[analysis]\npoints = "
                       "[\"stops\", \"critical\"]\n[finder]\nkind = \"newton\"\n",
                       "t"),
      InputError);
}

}  // namespace
