// The noisy optimizers: perturbed-gd (Jin et al. 2017) escapes the stable
// manifold of a saddle where gd converges to it; its perturbations are
// uniform in the ball and follow the g_thres / t_thres schedule; langevin
// reduces to gd at zero temperature and samples the Gibbs distribution of
// a quadratic (closed-form discrete stationary variance); noise does not
// depend on the chunking.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "saddlescope/run.hpp"

using namespace saddlescope;

namespace {

RunResult run(const std::string& text) {
  auto cpu = make_cpu_backend();
  return run_experiment(parse_experiment(text, "t"), *cpu, nullptr);
}

TEST(PerturbedGd, EscapesTheStableManifoldWhereGdStopsAtTheSaddle) {
  // saddle-2d (x^2 - y^2) from (1, 0): gd converges to the saddle; perturbed-gd
  // is perturbed once ||grad|| <= g_thres and then leaves along y (f -> -inf:
  // it ends "diverged" at |f| > diverge_above).
  const std::string base =
      "[objective]\nkind = \"saddle-2d\"\n[init]\nkind = \"point\"\npoint = [1.0, 0.0]\n"
      "[run]\ntrajectories = 4\nmax_steps = 3000\nprecision = \"f64\"\ngrad_tol = 1e-8\n"
      "diverge_above = 100\nsave_final_points = true\n";
  const RunResult gd = run(base + "[[optimizer]]\nkind = \"gd\"\nlr = 0.1\n");
  const RunResult pgd = run(base +
                            "[[optimizer]]\nkind = \"perturbed-gd\"\nlr = 0.1\nradius = 1e-3\n"
                            "g_thres = 1e-3\nt_thres = 20\n");
  for (int b = 0; b < 4; ++b) {
    EXPECT_EQ(gd.optimizers[0].traj.outcome[b], kConverged);
    EXPECT_NEAR(gd.optimizers[0].traj.finals[b * 2 + 1], 0.0, 0.0);
    EXPECT_EQ(pgd.optimizers[0].traj.outcome[b], kDiverged);
    EXPECT_GT(std::fabs(pgd.optimizers[0].traj.finals[b * 2 + 1]), 10.0);
  }
}

TEST(PerturbedGd, PerturbationsAreUniformInTheBall) {
  // lr = 0 on bowl-2d from a point with ||grad|| <= g_thres: x_1 - x_0 is
  // the perturbation alone. Uniform in the disc of radius r: E|d|^2 = r^2 / 2,
  // |d| <= r, mean 0 (4000 draws).
  const double r = 0.01;
  const std::int64_t b = 4000;
  std::ostringstream t;
  t << "[objective]\nkind = \"bowl-2d\"\n[init]\nkind = \"point\"\npoint = [1e-4, 0.0]\n"
    << "[run]\ntrajectories = " << b << "\nmax_steps = 1\nprecision = \"f64\"\n"
    << "grad_tol = 1e-12\nsave_final_points = true\nrecord_paths = false\n"
    << "[[optimizer]]\nkind = \"perturbed-gd\"\nlr = 0.0\nradius = " << r << "\n";
  const RunResult res = run(t.str());
  const auto& x = res.optimizers[0].traj.finals;
  double m2 = 0, mx = 0, my = 0, maxd = 0;
  for (std::int64_t k = 0; k < b; ++k) {
    const double dx = x[k * 2] - 1e-4, dy = x[k * 2 + 1];
    const double d2 = dx * dx + dy * dy;
    m2 += d2 / b;
    mx += dx / b;
    my += dy / b;
    maxd = std::max(maxd, std::sqrt(d2));
  }
  EXPECT_LE(maxd, r * (1 + 1e-12));
  EXPECT_GT(maxd, 0.99 * r);
  EXPECT_NEAR(m2 / (r * r), 0.5, 0.02);  // sd of |d|^2 / r^2 is 0.29, / sqrt(4000)
  EXPECT_NEAR(mx / r, 0.0, 0.03);
  EXPECT_NEAR(my / r, 0.0, 0.03);
}

TEST(PerturbedGd, PerturbsOnlyAfterTThresQuietIterations) {
  // lr = 0, tiny radius: the gradient stays below g_thres, so perturbations
  // come as often as t_thres allows: marked at t = 0, 6, 12 (t - last > 5),
  // applied to x_1, x_7, x_13; paths (dim 2) show when x changes.
  const RunResult res =
      run("[objective]\nkind = \"bowl-2d\"\n[init]\nkind = \"point\"\npoint = [1e-4, 0.0]\n"
          "[run]\ntrajectories = 1\nmax_steps = 15\nprecision = \"f64\"\ngrad_tol = 1e-12\n"
          "record_every = 1\n[[optimizer]]\nkind = \"perturbed-gd\"\nlr = 0.0\nradius = 1e-6\n"
          "t_thres = 5\n");
  const auto& p = res.optimizers[0].traj.paths;  // [1, records = 16, 2]
  std::vector<int> changed;
  for (int t = 1; t <= 15; ++t)
    if (p[t * 2] != p[(t - 1) * 2] || p[t * 2 + 1] != p[(t - 1) * 2 + 1]) changed.push_back(t);
  EXPECT_EQ(changed, (std::vector<int>{1, 7, 13}));
}

std::string langevin_1d(double temperature, double decay, std::int64_t b, std::int64_t steps,
                        const std::string& run_extra = "") {
  std::ostringstream t;
  t << "seed = 5\n[objective]\nkind = \"quadratic\"\neigenvalues = [1.0]\n"
    << "[init]\nkind = \"point\"\npoint = [1.0]\n[run]\ntrajectories = " << b
    << "\nmax_steps = " << steps
    << "\nprecision = \"f64\"\ngrad_tol = 0\nsave_final_points = true\nrecord_paths = false\n"
    << run_extra << "[[optimizer]]\nkind = \"langevin\"\nlr = 0.01\ntemperature = " << temperature
    << "\ntemperature_decay = " << decay << "\n";
  return t.str();
}

TEST(Langevin, SamplesTheGibbsVarianceOfAQuadratic) {
  // x <- (1 - lr) x + sqrt(2 lr T) xi is stationary at variance
  // 2 lr T / (1 - (1 - lr)^2) = T / (1 - lr / 2) for f = x^2 / 2; 3000 steps
  // are 30 relaxation times. 4000 trajectories: relative error of the
  // variance about 2.2%.
  const double temp = 0.5, lr = 0.01;
  const RunResult res = run(langevin_1d(temp, 1.0, 4000, 3000));
  const auto& x = res.optimizers[0].traj.finals;
  double m = 0, v = 0;
  for (double xi : x) m += xi / x.size();
  for (double xi : x) v += (xi - m) * (xi - m) / (x.size() - 1);
  EXPECT_NEAR(m, 0.0, 4 * std::sqrt(temp / x.size()));
  EXPECT_NEAR(v / (temp / (1 - lr / 2)), 1.0, 0.08);
  // Cooling (T_k = T decay^(k-1)): at the end T = 0.5 * 0.998^3000 = 0.0012.
  const RunResult cool = run(langevin_1d(temp, 0.998, 2000, 3000));
  double vc = 0;
  for (double xi : cool.optimizers[0].traj.finals) vc += xi * xi / 2000;
  EXPECT_LT(vc, 0.05);
}

TEST(Langevin, ZeroTemperatureIsGdAndNoiseDoesNotDependOnChunks) {
  const std::string gd =
      "[objective]\nkind = \"styblinski-tang\"\ndim = 5\n[run]\ntrajectories = 6\n"
      "max_steps = 200\nprecision = \"f64\"\nsave_final_points = true\n"
      "[[optimizer]]\nkind = \"gd\"\nlr = 0.01\n";
  std::string lz = gd;
  lz.replace(lz.find("\"gd\""), 4, "\"langevin\"\ntemperature = 0");
  const RunResult a = run(gd), b = run(lz);
  EXPECT_EQ(a.optimizers[0].traj.finals, b.optimizers[0].traj.finals);
  const RunResult whole = run(langevin_1d(0.3, 1.0, 7, 100));
  const RunResult chunked = run(langevin_1d(0.3, 1.0, 7, 100, "chunk_size = 3\n"));
  EXPECT_EQ(whole.optimizers[0].traj.finals, chunked.optimizers[0].traj.finals);
  EXPECT_NE(whole.optimizers[0].traj.finals[0], whole.optimizers[0].traj.finals[1]);
}

}  // namespace

namespace {

TEST(Comparison, TargetLossStepsFractionsAndEndingsOnTheDoubleWell) {
  // 1-D double well from 64 uniform starts on [-2, 2]: starts left of the
  // maximum (0.126) reach the global minimum f = -5.4419 and the target -5;
  // the others end in the local minimum (-2.6179) and never do. The step
  // to target of each trajectory is checked against a plain gd loop.
  const std::string text =
      "seed = 4\n[objective]\nkind = \"double-well\"\ndim = 1\n[init]\nkind = \"uniform\"\n"
      "scale = 2\n[run]\ntrajectories = 64\nmax_steps = 3000\nprecision = \"f64\"\n"
      "target_loss = -5.0\nsave_final_points = true\n[[optimizer]]\nkind = \"gd\"\nlr = 0.01\n"
      "[analysis]\nmax_points = 64\n";
  const Experiment e = parse_experiment(text, "t");
  auto cpu = make_cpu_backend();
  const RunResult r = run_experiment(e, *cpu, nullptr);
  const auto starts = make_starts(e, 0, 64);
  const auto& t = r.optimizers[0].traj;
  std::int64_t left = 0;
  for (std::int64_t b = 0; b < 64; ++b) {
    double x = starts[b];
    std::int64_t hit = -1;
    for (std::int64_t k = 0; k <= 3000 && hit < 0; ++k) {
      if (x * x * x * x - 4 * x * x + x <= -5.0) hit = k;
      x -= 0.01 * (4 * x * x * x - 8 * x + 1);
    }
    EXPECT_EQ(t.target_step[b], hit) << "start " << starts[b];
    EXPECT_EQ(hit >= 0, starts[b] < 0.126) << "start " << starts[b];
    left += starts[b] < 0.126;
    if (hit >= 0) EXPECT_GE(r.optimizers[0].target_seconds[b], 0.0);
  }
  const auto dir = std::filesystem::temp_directory_path() /
                   ("saddlescope_comparison_run_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  prepare_run_dir(dir.string(), e);
  write_results(dir.string(), e, r);
  std::ifstream js(dir / "summary.json");
  const auto j = nlohmann::json::parse(js);
  const auto& c = j["optimizers"][0]["comparison"];
  EXPECT_EQ(c["reached_target"], left);
  EXPECT_DOUBLE_EQ(c["fraction_reached"].get<double>(), left / 64.0);
  EXPECT_DOUBLE_EQ(c["ending"]["minimum"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(c["ending"]["unanalysed"].get<double>(), 0.0);
  std::ifstream csv(dir / "comparison.csv");
  std::string header, row;
  std::getline(csv, header);
  std::getline(csv, row);
  EXPECT_EQ(header.rfind("optimizer,trajectories,converged", 0), 0u);
  EXPECT_EQ(row.rfind("gd,64,", 0), 0u) << row;
  std::filesystem::remove_all(dir);
}

}  // namespace
