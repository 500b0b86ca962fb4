// Plateau detection: the bookkeeping of kernels/plateau.hpp on crafted
// gradient-norm and loss sequences, the exact escape time and plateau length
// of gradient descent from near a quadratic saddle (closed form), plateau
// points in the census, and premature stops at saddles.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "saddlescope/census.hpp"
#include "saddlescope/run.hpp"

using namespace saddlescope;

namespace {

// Feeds (f, g) pairs from t = 0 and returns the final state.
PlateauState feed(const PlateauRule& r, const std::vector<std::pair<double, double>>& seq) {
  PlateauState s;
  for (std::size_t t = 0; t < seq.size(); ++t)
    plateau_update(r, s, static_cast<std::int64_t>(t), seq[t].first, seq[t].second);
  return s;
}

const PlateauRule kRule{0.1, 3, 0.01};

TEST(PlateauBookkeeping, OneEpisodeConfirmedByTheDrop) {
  // t: 0 high, 1..5 low (best g at t = 3), 6 exit, 7 drop of 0.5 from f_exit = 1.
  const auto s = feed(kRule, {{2.0, 1.0},
                              {1.0, 0.05},
                              {1.0, 0.04},
                              {1.0, 0.01},
                              {1.0, 0.02},
                              {1.0, 0.03},
                              {1.0, 0.5},
                              {0.5, 0.6}});
  EXPECT_EQ(s.count, 1);
  EXPECT_EQ(s.steps, 5);
  EXPECT_EQ(s.longest, 5);
  EXPECT_EQ(s.first_escape, 6);
  EXPECT_EQ(s.kept_step, 3);
  EXPECT_DOUBLE_EQ(s.kept_g, 0.01);
  // The kept role is the buffer that was the current-run buffer when t = 3 was saved.
  EXPECT_EQ(s.role[2], 0);
}

TEST(PlateauBookkeeping, SaveFlagMarksEveryNewBestInsideARun) {
  PlateauState s;
  const std::vector<double> g = {1.0, 0.05, 0.06, 0.04, 0.5};
  const std::vector<int> expect = {0, 1, 0, 1, 0};
  for (std::size_t t = 0; t < g.size(); ++t) {
    plateau_update(kRule, s, static_cast<std::int64_t>(t), 1.0, g[t]);
    EXPECT_EQ(s.save, expect[t]) << "t = " << t;
  }
}

TEST(PlateauBookkeeping, ShortRunsTerminalRunsAndRunsWithoutDropAreNotPlateaus) {
  // Shorter than min_steps, then a drop: nothing.
  auto s = feed(kRule, {{1.0, 0.05}, {1.0, 0.05}, {1.0, 0.5}, {0.0, 0.5}});
  EXPECT_EQ(s.count, 0);
  // Low until the end (convergence): nothing.
  s = feed(kRule, {{1.0, 0.5}, {0.9, 0.05}, {0.9, 0.04}, {0.9, 0.03}, {0.9, 0.02}});
  EXPECT_EQ(s.count, 0);
  EXPECT_EQ(s.first_escape, -1);
  EXPECT_EQ(s.kept_step, -1);
  // A qualifying run whose loss never drops by min_drop (|f| + 1) afterwards.
  s = feed(kRule, {{1.0, 0.05}, {1.0, 0.05}, {1.0, 0.05}, {1.0, 0.5}, {0.985, 0.5}});
  EXPECT_EQ(s.count, 0);
  // The drop must be relative to |f_exit| + 1: from f_exit = -9, 0.01 * 10 = 0.1 is needed.
  s = feed(kRule, {{-9, 0.05}, {-9, 0.05}, {-9, 0.05}, {-9, 0.5}, {-9.05, 0.5}});
  EXPECT_EQ(s.count, 0);
  s = feed(kRule, {{-9, 0.05}, {-9, 0.05}, {-9, 0.05}, {-9, 0.5}, {-9.1, 0.5}});
  EXPECT_EQ(s.count, 1);
}

TEST(PlateauBookkeeping, NanGradientIsNeverLow) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto s = feed(kRule, {{1.0, nan}, {1.0, nan}, {1.0, nan}, {1.0, nan}, {0.0, 1.0}});
  EXPECT_EQ(s.count, 0);
  EXPECT_EQ(s.run_len, 0);
}

TEST(PlateauBookkeeping, RunsWithoutADropBetweenThemMerge) {
  // Runs of 3 and 4 low steps separated by one high step with no drop: one
  // episode of 7 steps; its point is the better run's best; exit = the second exit.
  const auto s = feed(kRule, {{1.0, 0.05},
                              {1.0, 0.05},
                              {1.0, 0.05},
                              {1.0, 0.2},
                              {1.0, 0.05},
                              {1.0, 0.02},
                              {1.0, 0.05},
                              {1.0, 0.05},
                              {1.0, 0.2},
                              {0.5, 0.2}});
  EXPECT_EQ(s.count, 1);
  EXPECT_EQ(s.steps, 7);
  EXPECT_EQ(s.longest, 7);
  EXPECT_EQ(s.first_escape, 8);
  EXPECT_EQ(s.kept_step, 5);
}

TEST(PlateauBookkeeping, TwoEpisodesKeepTheLongestPoint) {
  // Episode A: t = 0..2 (3 steps, best t = 1), exit 3, drop at 4.
  // Episode B: t = 5..8 (4 steps, best t = 7), exit 9, drop at 10.
  const auto s = feed(kRule, {{1.0, 0.05},
                              {1.0, 0.01},
                              {1.0, 0.05},
                              {1.0, 0.5},
                              {0.5, 0.5},
                              {0.5, 0.05},
                              {0.5, 0.04},
                              {0.5, 0.001},
                              {0.5, 0.05},
                              {0.5, 0.5},
                              {0.0, 0.5}});
  EXPECT_EQ(s.count, 2);
  EXPECT_EQ(s.steps, 7);
  EXPECT_EQ(s.longest, 4);
  EXPECT_EQ(s.first_escape, 3);
  EXPECT_EQ(s.kept_step, 7);
  EXPECT_DOUBLE_EQ(s.kept_g, 0.001);
  // Three distinct roles remain a permutation of the buffers.
  EXPECT_NE(s.role[0], s.role[1]);
  EXPECT_NE(s.role[1], s.role[2]);
  EXPECT_NE(s.role[0], s.role[2]);
}

std::string escape_experiment(double d0, double lr, double thr, std::int64_t min_steps,
                              const std::string& extra = "") {
  std::ostringstream o;
  o.precision(17);
  o << "name = \"escape\"\n[objective]\nkind = \"quadratic\"\neigenvalues = [-1.0, 2.0]\n"
    << "[init]\nkind = \"point\"\npoint = [" << d0 << ", 0.0]\n"
    << "[run]\ntrajectories = 1\nmax_steps = 5000\nprecision = \"f64\"\ndiverge_above = 1.5\n"
    << "grad_tol = 1e-12\n[plateau]\ngrad_threshold = " << thr << "\nmin_steps = " << min_steps
    << "\n[[optimizer]]\nkind = \"gd\"\nlr = " << lr << "\n"
    << extra;
  return o.str();
}

TEST(PlateauDetection, GdEscapesAQuadraticSaddleInTheClosedFormTime) {
  // f = 1/2 (-x^2 + 2 y^2) from (d0, 0): x_t = d0 (1 + lr)^t, ||g_t|| = x_t.
  // The run ends (diverge_above = R = 1.5; |f| = x^2 / 2 stays below R) at the first t with x_t >
  // R, t = ceil(ln(R / d0) / ln(1 + lr)); the plateau is every t with d0 (1 + lr)^t <=
  // grad_threshold, its point the start.
  for (double d0 : {1e-6, 3.3e-5, 2e-3}) {
    for (double lr : {0.05, 0.1, 0.37}) {
      SCOPED_TRACE(::testing::Message() << "d0 = " << d0 << ", lr = " << lr);
      const double thr = 0.05, R = 1.5;
      const Experiment e = parse_experiment(escape_experiment(d0, lr, thr, 1), "t");
      auto cpu = make_cpu_backend();
      const RunResult r = run_experiment(e, *cpu, nullptr);
      const auto& t = r.optimizers[0].traj;
      const auto escape = static_cast<std::int64_t>(std::ceil(std::log(R / d0) / std::log(1 + lr)));
      std::int64_t low = 0;
      while (d0 * std::pow(1 + lr, static_cast<double>(low)) <= thr) ++low;
      EXPECT_EQ(t.outcome[0], kDiverged);
      EXPECT_EQ(t.steps[0], escape);
      EXPECT_EQ(t.plateau_count[0], 1);
      EXPECT_EQ(t.plateau_steps[0], low);
      EXPECT_EQ(t.longest_plateau[0], low);
      EXPECT_EQ(t.first_escape_step[0], low);
      EXPECT_EQ(t.plateau_step[0], 0);
      EXPECT_DOUBLE_EQ(t.plateau_g[0], d0);
    }
  }
}

TEST(PlateauDetection, PlateauPointsEnterTheCensusAsSaddles) {
  // Starts near the saddle of f = 1/2 (-x^2 + 2 y^2) on the unstable axis: the
  // plateau point is the start region, which the census finds to be of
  // index 1; trajectories.csv and summary.json carry the plateau columns.
  const std::string extra =
      "[analysis]\npoints = [\"plateaus\"]\n"
      "[[optimizer]]\nkind = \"momentum\"\nlr = 0.05\n";
  std::string text = escape_experiment(1e-5, 0.1, 0.01, 5, extra);
  const Experiment e = parse_experiment(text, "t");
  auto cpu = make_cpu_backend();
  const RunResult r = run_experiment(e, *cpu, nullptr);
  ASSERT_TRUE(r.has_census);
  ASSERT_EQ(r.census.points.size(), 2u);
  for (const auto& p : r.census.points) {
    EXPECT_EQ(p.source, "plateau");
    EXPECT_EQ(p.inertia.index, 1);
    EXPECT_EQ(p.inertia.cls, PointClass::saddle);
    EXPECT_EQ(p.step, 0);
  }
  EXPECT_EQ(r.optimizers[0].traj.plateau_points[0], 1e-5);
  const auto dir = std::filesystem::temp_directory_path() /
                   ("saddlescope_plateau_run_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  prepare_run_dir(dir.string(), e);
  write_results(dir.string(), e, r);
  std::ifstream csv(dir / "trajectories.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_NE(header.find("plateau_count,plateau_steps,longest_plateau,first_escape_step"),
            std::string::npos);
  std::ifstream js(dir / "summary.json");
  const auto j = nlohmann::json::parse(js);
  EXPECT_EQ(j["optimizers"][0]["plateaus"]["trajectories_with_plateaus"], 1);
  // Both optimizers' plateau points are the same critical point (the start,
  // within crit_tol of the saddle): one distinct saddle found twice.
  EXPECT_EQ(j["census"]["per_source"]["plateau"]["classes"]["saddle"], 1);
  EXPECT_EQ(j["census"]["per_source"]["plateau"]["multiplicity_weighted"]["classes"]["saddle"], 2);
  EXPECT_EQ(j["plateau_rule"]["min_steps"], 5);
  std::filesystem::remove_all(dir);
}

TEST(PlateauDetection, GdOnTheStableManifoldStopsAtTheSaddleAndIsFlagged) {
  // saddle-2d (x^2 - y^2) from (1, 0), exactly on the stable manifold: gd
  // converges to the saddle at the origin by the gradient test; the census
  // finds index 1 and summary.json lists it under stopped_at_saddle.
  const Experiment e = parse_experiment(
      "name = \"stable\"\n[objective]\nkind = \"saddle-2d\"\n[init]\nkind = \"point\"\n"
      "point = [1.0, 0.0]\n[run]\ntrajectories = 2\nmax_steps = 2000\nprecision = \"f64\"\n"
      "grad_tol = 1e-8\n[[optimizer]]\nkind = \"gd\"\nlr = 0.1\n"
      "[analysis]\npoints = [\"stops\"]\ncrit_tol = 1e-6\n",
      "t");
  auto cpu = make_cpu_backend();
  const RunResult r = run_experiment(e, *cpu, nullptr);
  ASSERT_EQ(r.optimizers[0].traj.outcome[0], kConverged);
  ASSERT_EQ(r.census.points.size(), 2u);
  EXPECT_EQ(r.census.points[0].inertia.index, 1);
  const auto dir = std::filesystem::temp_directory_path() /
                   ("saddlescope_stable_run_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  prepare_run_dir(dir.string(), e);
  write_results(dir.string(), e, r);
  std::ifstream js(dir / "summary.json");
  const auto j = nlohmann::json::parse(js);
  EXPECT_EQ(j["census"]["stopped_at_saddle"]["count"], 2);
  EXPECT_EQ(j["census"]["stopped_at_saddle"]["per_optimizer"]["gd"], 2);
  EXPECT_EQ(j["census"]["stopped_at_saddle"]["points"][0]["index"], 1);
  std::filesystem::remove_all(dir);
}

}  // namespace

namespace {

TEST(PlateauDetection, DeepLinearPlateauMatchesSaxeClosedForm) {
  // A deep linear network with one mode (widths [1, 1, 1]: W_2 W_1 = a b):
  // L = 1/2 S11 (ab)^2 - S31 ab + const with S11 = mean x^2 and S31 =
  // mean x y over the data. From the balanced start a = b = a0, gradient
  // flow keeps a = b and u = ab obeys Saxe, McClelland and Ganguli's
  // (2014, eqs. 11-12) mode dynamics tau du/dt = 2 u (s - u) with s =
  // S31 / S11 and, in this normalization with gd at learning rate lr, tau =
  // 1 / (lr S11) steps. Their closed form gives the time from u0 to u:
  //   t(u) = tau / (2 s) ln(u (s - u0) / (u0 (s - u))).
  // The gradient norm is sqrt(2u) S11 (s - u): the plateau (norm <= thr)
  // lasts until u_thr, the small root of sqrt(2u) S11 (s - u) = thr, so the
  // recorded plateau is t(u_thr) steps (plus the start's own iteration),
  // within the O(lr) error of gd against the flow (measured: 257 steps
  // against 255.3 + 1).
  const Experiment e = parse_experiment(
      "seed = 5\n[objective]\nkind = \"deep-linear\"\nwidths = [1, 1, 1]\nsamples = 200\n"
      "[init]\nkind = \"point\"\npoint = [1e-4, 1e-4]\n[run]\ntrajectories = 1\n"
      "max_steps = 1500\nprecision = \"f64\"\ngrad_tol = 0\n"
      "[plateau]\ngrad_threshold = 1e-3\nmin_steps = 10\n"
      "[[optimizer]]\nkind = \"gd\"\nlr = 0.01\n",
      "t");
  const ObjectiveData d = build_objective(e);
  double s11 = 0, s31 = 0;
  for (std::int64_t k = 0; k < 200; ++k) {
    s11 += d.net_x[k] * d.net_x[k] / 200;
    s31 += d.net_x[k] * d.net_y[k] / 200;
  }
  const double s = s31 / s11, lr = 0.01, thr = 1e-3, u0 = 1e-8;
  ASSERT_GT(s, 0.3) << "this seed's teacher must have a clear mode";
  double lo = u0, hi = s / 3;  // sqrt(2u) S11 (s - u) rises on [0, s/3]
  for (int it = 0; it < 200; ++it) {
    const double mid = 0.5 * (lo + hi);
    (std::sqrt(2 * mid) * s11 * (s - mid) <= thr ? lo : hi) = mid;
  }
  const double tau = 1 / (lr * s11);
  const double closed = tau / (2 * s) * std::log(lo * (s - u0) / (u0 * (s - lo)));
  auto cpu = make_cpu_backend();
  const RunResult r = run_experiment(e, *cpu, nullptr);
  const auto& t = r.optimizers[0].traj;
  ASSERT_EQ(t.plateau_count[0], 1);
  EXPECT_NEAR(static_cast<double>(t.plateau_steps[0]), closed + 1, 0.01 * closed + 1.5)
      << "closed form " << closed << " steps";
  EXPECT_EQ(t.plateau_step[0], 0);
}

}  // namespace
