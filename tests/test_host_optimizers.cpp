// The host-driven optimizers. saddle-free-newton: with zero damping one
// step on a quadratic saddle zeroes the stable coordinates and doubles the
// unstable ones (in the eigenbasis of a rotated quadratic too, checked with
// LAPACK's eigenvectors); from near saddles of the double well it ends at
// minima. annealing: from x0 = +2 on the 1-D double well it finds the
// global basin far more often than gd; at zero temperature it never goes
// uphill; its noise does not depend on the chunking.
#include <gtest/gtest.h>
#include <lapacke.h>

#include <cmath>
#include <sstream>

#include "saddlescope/census.hpp"
#include "saddlescope/run.hpp"

using namespace saddlescope;

namespace {

RunResult run(const Experiment& e) {
  auto cpu = make_cpu_backend();
  return run_experiment(e, *cpu, nullptr);
}

std::string one_step(const std::string& objective, const std::string& point) {
  return "[objective]\n" + objective + "[init]\nkind = \"point\"\npoint = " + point +
         "\n[run]\ntrajectories = 1\nmax_steps = 1\nprecision = \"f64\"\ngrad_tol = 0\n"
         "record_every = 1\nrecord_paths = true\n"
         "[[optimizer]]\nkind = \"saddle-free-newton\"\nlr = 1\ndamping = 0\n";
}

TEST(SaddleFreeNewton, ZeroDampingZeroesStableAndDoublesUnstableCoordinates) {
  const std::vector<double> x0 = {0.3, -0.7, 1.1, 0.05};
  const Experiment e =
      parse_experiment(one_step("kind = \"quadratic\"\neigenvalues = [2.0, -3.0, 0.5, -1.0]\n",
                                "[0.3, -0.7, 1.1, 0.05]"),
                       "t");
  const RunResult r = run(e);
  const auto& p = r.optimizers[0].traj.paths;  // [1, 2 records, 4]
  const std::vector<double> expect = {0.0, -1.4, 0.0, 0.1};
  for (int i = 0; i < 4; ++i) {
    EXPECT_DOUBLE_EQ(p[i], x0[i]);
    EXPECT_NEAR(p[4 + i], expect[i], 1e-14) << i;
  }
}

TEST(SaddleFreeNewton, ZeroDampingActsInTheEigenbasisOfARotatedSaddle) {
  const std::int64_t n = 6;
  const Experiment e = parse_experiment(
      one_step("kind = \"quadratic\"\ndim = 6\nnegative = 2\ncurvature = 1.5\nrotate = true\n",
               "[0.3, -0.7, 1.1, 0.05, 0.4, -0.2]"),
      "t");
  ASSERT_EQ(e.objective.dim, n);
  const ObjectiveData d = build_objective(e);
  std::vector<double> a = d.matrix, lam(n);
  ASSERT_EQ(LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'V', 'L', n, a.data(), n, lam.data()), 0);
  const std::vector<double> x0 = {0.3, -0.7, 1.1, 0.05, 0.4, -0.2};
  std::vector<double> expect(n, 0.0);  // V diag(1 - sign lambda) V^T x0
  for (std::int64_t j = 0; j < n; ++j) {
    double c = 0;
    for (std::int64_t i = 0; i < n; ++i) c += a[i * n + j] * x0[i];
    const double s = lam[j] < 0 ? 2.0 : 0.0;
    for (std::int64_t i = 0; i < n; ++i) expect[i] += a[i * n + j] * s * c;
  }
  const RunResult r = run(e);
  const auto& p = r.optimizers[0].traj.paths;
  for (std::int64_t i = 0; i < n; ++i) EXPECT_NEAR(p[n + i], expect[i], 1e-12) << i;
}

TEST(SaddleFreeNewton, LeavesSaddlesOfTheDoubleWellForMinima) {
  // Starts within 0.01 of critical points of index 1 and 2 (coordinates at
  // the maximum 0.126): Newton's method would converge to them; saddle-free
  // Newton is repelled and converges to minima (census index 0).
  std::ostringstream t;
  t << "[objective]\nkind = \"double-well\"\ndim = 3\n[init]\nkind = \"file\"\nfile = \""
    << SADDLESCOPE_TEST_DATA << "/near_saddles_dw3.npy\"\n"
    << "[run]\ntrajectories = 4\nmax_steps = 200\nprecision = \"f64\"\ngrad_tol = 1e-10\n"
    << "save_final_points = true\n[[optimizer]]\nkind = \"saddle-free-newton\"\nlr = 1\n"
    << "damping = 1e-3\n[analysis]\n";
  const RunResult r = run(parse_experiment(t.str(), "t"));
  ASSERT_EQ(r.census.points.size(), 4u);
  for (std::size_t k = 0; k < 4; ++k) {
    EXPECT_EQ(r.optimizers[0].traj.outcome[k], kConverged) << k;
    EXPECT_EQ(r.census.points[k].inertia.cls, PointClass::minimum) << k;
  }
}

std::string anneal(double temperature, const std::string& run_extra = "") {
  std::ostringstream t;
  t << "seed = 3\n[objective]\nkind = \"double-well\"\ndim = 1\n[init]\nkind = \"point\"\n"
    << "point = [2.0]\n[run]\ntrajectories = 200\nmax_steps = 3000\nprecision = \"f64\"\n"
    << "grad_tol = 0\nsave_final_points = true\nrecord_every = 1\nrecord_trajectories = 8\n"
    << run_extra << "[[optimizer]]\nkind = \"gd\"\nlr = 0.01\n"
    << "[[optimizer]]\nkind = \"annealing\"\ntemperature = " << temperature
    << "\ntemperature_decay = 0.998\nstep_size = 0.5\n";
  return t.str();
}

TEST(Annealing, FindsTheGlobalBasinOfTheDoubleWellFarMoreOftenThanGd) {
  // From x0 = +2 gd always ends in the local minimum 1.347; annealing
  // (T = 2 cooled to 0.005) ends left of the maximum 0.126, in the global
  // basin, for most of 200 trajectories (measured 98.5%).
  const RunResult r = run(parse_experiment(anneal(2.0), "t"));
  std::int64_t gd_global = 0, an_global = 0;
  for (std::int64_t b = 0; b < 200; ++b) {
    gd_global += r.optimizers[0].traj.finals[b] < 0.126;
    an_global += r.optimizers[1].traj.finals[b] < 0.126;
  }
  EXPECT_EQ(gd_global, 0);
  EXPECT_GT(an_global, 170);
}

TEST(Annealing, ZeroTemperatureNeverGoesUphillAndNoiseIgnoresChunks) {
  const RunResult r = run(parse_experiment(anneal(0.0), "t"));
  const auto& c = r.optimizers[1].traj.curves;  // [8, 3001, 2]
  for (std::int64_t b = 0; b < 8; ++b)
    for (std::int64_t k = 1; k < 3001; ++k)
      ASSERT_LE(c[(b * 3001 + k) * 2], c[(b * 3001 + k - 1) * 2]) << b << " " << k;
  const RunResult whole = run(parse_experiment(anneal(1.0), "t"));
  const RunResult chunked = run(parse_experiment(anneal(1.0, "chunk_size = 7\n"), "t"));
  EXPECT_EQ(whole.optimizers[1].traj.finals, chunked.optimizers[1].traj.finals);
}

}  // namespace
