// Published closed-form results the engine must reproduce (docs/design.md section 9):
// gd on x^2 is x_k = 2 * 0.8^k at lr 0.1, oscillates and converges at 0.95,
// diverges at 1.1; the double well from +2 / -2 at lr 0.01 approaches
// 1.346997 / -1.472998, with the basin boundary at the maximum 0.126000.
#include <gtest/gtest.h>

#include <cmath>

#include "saddlescope/experiment.hpp"
#include "saddlescope/run.hpp"

using namespace saddlescope;

namespace {

RunResult run_text(const std::string& toml, Experiment* out = nullptr) {
  Experiment e = parse_experiment(toml, "test.toml");
  auto cpu = make_cpu_backend();
  if (out) *out = e;
  return run_experiment(e, *cpu);
}

std::string x2(double lr, int steps = 200, const char* prec = "f64") {
  return "[objective]\nkind = \"quadratic\"\neigenvalues = [2.0]\n"
         "[init]\nkind = \"point\"\npoint = [2.0]\n"
         "[run]\ntrajectories = 1\nrecord_every = 1\nmax_steps = " +
         std::to_string(steps) + "\nprecision = \"" + prec +
         "\"\n[[optimizer]]\nkind = \"gd\"\nlr = " + std::to_string(lr) + "\n";
}

TEST(Textbook, GdOnSquareIsGeometric) {
  const RunResult r = run_text(x2(0.1));
  const auto& t = r.optimizers[0].traj;
  ASSERT_EQ(t.outcome[0], kConverged);
  // paths [1, records, 1]: x_k for k = 0 .. steps
  for (std::int64_t k = 0; k <= t.steps[0]; ++k)
    EXPECT_NEAR(t.paths[k], 2.0 * std::pow(0.8, static_cast<double>(k)), 1e-14 * 2) << k;
  // Stops at the first k with |grad| = 4 * 0.8^k <= 1e-6.
  EXPECT_EQ(t.steps[0], static_cast<std::int64_t>(std::ceil(std::log(2.5e-7) / std::log(0.8))));
  EXPECT_LE(t.gnorm_final[0], 1e-6);
  EXPECT_TRUE(std::isnan(t.paths[t.steps[0] + 1])) << "paths hold NaN after the stop";
}

TEST(Textbook, Float32FollowsTheSameSequence) {
  const RunResult r = run_text(x2(0.1, 200, "f32"));
  const auto& t = r.optimizers[0].traj;
  ASSERT_EQ(t.outcome[0], kConverged);
  for (std::int64_t k = 0; k <= 60; ++k)
    EXPECT_NEAR(t.paths[k], 2.0 * std::pow(0.8, static_cast<double>(k)),
                1e-6 * 2.0 * std::pow(0.8, static_cast<double>(k)));
}

TEST(Textbook, LearningRate095OscillatesAndConverges) {
  const RunResult r = run_text(x2(0.95, 1000));
  const auto& t = r.optimizers[0].traj;
  ASSERT_EQ(t.outcome[0], kConverged);
  for (std::int64_t k = 1; k <= t.steps[0]; ++k) {
    EXPECT_LT(t.paths[k] * t.paths[k - 1], 0.0) << "sign alternates at step " << k;
    EXPECT_NEAR(t.paths[k], 2.0 * std::pow(-0.9, static_cast<double>(k)), 1e-12);
  }
}

TEST(Textbook, LearningRate11Diverges) {
  const RunResult r = run_text(x2(1.1, 1000));
  const auto& t = r.optimizers[0].traj;
  EXPECT_EQ(t.outcome[0], kDiverged);
  // |f| = 4 * 1.44^k first exceeds diverge_above = 1e10 at this k.
  EXPECT_EQ(t.steps[0],
            static_cast<std::int64_t>(std::floor(std::log(2.5e9) / std::log(1.44))) + 1);
}

TEST(Textbook, DoubleWellMinima) {
  for (auto [x0, expect] : {std::pair{2.0, 1.346997}, std::pair{-2.0, -1.472998},
                            std::pair{0.1261, 1.346997}, std::pair{0.1259, -1.472998}}) {
    SCOPED_TRACE(x0);
    const std::string toml =
        "[objective]\nkind = \"double-well\"\ndim = 1\n[init]\nkind = \"point\"\npoint = [" +
        std::to_string(x0) +
        "]\n[run]\ntrajectories = 1\nmax_steps = 20000\ngrad_tol = 1e-9\nprecision = \"f64\"\n"
        "save_final_points = true\n[[optimizer]]\nkind = \"gd\"\nlr = 0.01\n";
    const RunResult r = run_text(toml);
    const auto& t = r.optimizers[0].traj;
    ASSERT_EQ(t.outcome[0], kConverged);
    EXPECT_NEAR(t.finals[0], expect, 1e-6);
  }
}

}  // namespace
