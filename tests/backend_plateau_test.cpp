// Per-trajectory features of the descent loop: plateau detection (statistics,
// plateau points, target steps) and the noisy optimizers (perturbed-gd,
// langevin, whose noise is keyed by the global trajectory, coordinate and
// step). Driven by run_experiment as the CLI drives them, a backend's run cut
// into chunks is compared with the CPU's run in one chunk: on the CPU itself
// that checks that plateau states and noise do not depend on the chunking,
// on a device backend it checks that backend against the reference too.
// Ensembles driven directly compare a device backend with the CPU on the
// sphere and on the deep linear network's stages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend_inputs.hpp"
#include "backends.hpp"
#include "saddlescope/backend.hpp"
#include "saddlescope/experiment.hpp"
#include "saddlescope/run.hpp"

namespace {

using namespace saddlescope;
using namespace saddlescope::testing;

// Integer fields that count steps: equal, or within `slack` in f32, where a
// comparison against a threshold may fall one step apart.
void expect_steps_near(const std::vector<std::int64_t>& got, const std::vector<std::int64_t>& want,
                       std::int64_t slack, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int reported = 0;
  for (std::size_t i = 0; i < want.size() && reported < 5; ++i) {
    const bool none = got[i] < 0 || want[i] < 0;  // -1: none, on either side
    if (none ? got[i] == want[i] : std::abs(got[i] - want[i]) <= slack) continue;
    ADD_FAILURE() << what << "[" << i << "]: got " << got[i] << ", cpu " << want[i];
    ++reported;
  }
}

// Every plateau field of EnsembleResult, and target_step. f64: the same
// steps and relative agreement `rel` of the losses, gradient norms and
// plateau points; f32 (`slack` 1): steps within one.
void expect_plateaus_match(const EnsembleResult& got, const EnsembleResult& cpu, double rel,
                           std::int64_t slack = 0) {
  EXPECT_EQ(got.plateau_count, cpu.plateau_count);
  expect_steps_near(got.plateau_steps, cpu.plateau_steps, slack, "plateau_steps");
  expect_steps_near(got.longest_plateau, cpu.longest_plateau, slack, "longest_plateau");
  expect_steps_near(got.first_escape_step, cpu.first_escape_step, slack, "first_escape_step");
  expect_steps_near(got.plateau_step, cpu.plateau_step, slack, "plateau_step");
  expect_steps_near(got.target_step, cpu.target_step, slack, "target_step");
  expect_close(got.plateau_f, cpu.plateau_f, rel, 1e-300, "plateau_f");
  expect_close(got.plateau_g, cpu.plateau_g, rel, 1e-300, "plateau_g");
  expect_close(got.plateau_points, cpu.plateau_points, rel, 1e-300, "plateau_points");
}

// f32 against the CPU's f32: the same outcomes, steps within one, values to
// f32 roundings accumulated over the run (losses are sums of f32 terms that
// partly cancel, hence the floors). finals allow one perturbed-gd
// perturbation a step apart (a gradient norm within rounding of g_thres).
void expect_match_f32(const EnsembleResult& got, const EnsembleResult& cpu) {
  EXPECT_EQ(got.outcome, cpu.outcome);
  expect_steps_near(got.steps, cpu.steps, 1, "steps");
  expect_close(got.f_init, cpu.f_init, 1e-4, 1e-2, "f_init");
  expect_close(got.f_final, cpu.f_final, 1e-4, 1.0, "f_final");
  expect_close(got.finals, cpu.finals, 1e-3, 1.0, "finals");
}

// Both runs, optimizer by optimizer.
void expect_runs_match(const RunResult& got, const RunResult& cpu, Precision p,
                       double plateau_rel) {
  ASSERT_EQ(got.optimizers.size(), cpu.optimizers.size());
  for (std::size_t k = 0; k < cpu.optimizers.size(); ++k) {
    SCOPED_TRACE(cpu.optimizers[k].label);
    const auto& a = got.optimizers[k].traj;
    const auto& b = cpu.optimizers[k].traj;
    if (p == Precision::f64) {
      expect_match(a, b);
      expect_plateaus_match(a, b, plateau_rel);
    } else {
      expect_match_f32(a, b);
      expect_plateaus_match(a, b, plateau_rel, 1);
    }
  }
}

// The census of the plateau points: the same points, the same inertia.
void expect_census_match(const RunResult& got, const RunResult& cpu, double rel) {
  ASSERT_TRUE(got.has_census);
  ASSERT_TRUE(cpu.has_census);
  ASSERT_EQ(got.census.points.size(), cpu.census.points.size());
  for (std::size_t k = 0; k < cpu.census.points.size(); ++k) {
    const auto& a = got.census.points[k];
    const auto& b = cpu.census.points[k];
    EXPECT_EQ(a.source, b.source) << "point " << k;
    EXPECT_EQ(a.group, b.group) << "point " << k;
    EXPECT_EQ(a.trajectory, b.trajectory) << "point " << k;
    EXPECT_EQ(a.step, b.step) << "point " << k;
    EXPECT_EQ(a.inertia.index, b.inertia.index) << "point " << k;
    EXPECT_EQ(a.inertia.cls, b.inertia.cls) << "point " << k;
  }
  expect_close(got.census.spectra, cpu.census.spectra, rel, 1.0, "census spectra");
}

// ---------------------------------------------------------------------------
// Plateaus.

// The saddle of f = 1/2 (-x^2 + 2 y^2), starts N(0, 1e-4^2) around it: every
// trajectory sits on a low-gradient plateau (||grad|| <= 0.01 from step 0)
// until x has grown, leaves it (one episode, confirmed by the loss drop) and
// ends at |x| > 1.5 ("diverged"); the plateau point is the iteration of the
// smallest gradient (y decays while x grows), copied into its buffer by the
// next iteration's fused pass. max_steps cuts the slowest ones (from the
// smallest |x_0|) off while still on the plateau or before the target loss,
// so counts 0 and target steps -1 occur too. perturbed-gd perturbs every
// start at step 0 (||grad|| <= g_thres), from noise keyed by trajectory.
// The census of the plateau points (analysis.points = ["plateaus"]) runs on
// each backend too.
std::string saddle_plateau_experiment(Precision p) {
  return std::string("name = \"plateaus\"\nseed = 3\n") +
         "[objective]\nkind = \"quadratic\"\neigenvalues = [-1.0, 2.0]\n"
         "[init]\nkind = \"gaussian\"\nscale = 1e-4\n"
         "[run]\ntrajectories = 40\nmax_steps = 110\ndiverge_above = 1.5\ngrad_tol = 1e-12\n"
         "record_every = 5\ntarget_loss = -0.5\nsave_final_points = true\nprecision = \"" +
         case_name(p) +
         "\"\n[plateau]\ngrad_threshold = 0.01\nmin_steps = 5\n"
         "[analysis]\npoints = [\"plateaus\"]\n"
         "[[optimizer]]\nkind = \"gd\"\nlr = 0.1\n"
         "[[optimizer]]\nkind = \"momentum\"\nlr = 0.05\n"
         "[[optimizer]]\nkind = \"perturbed-gd\"\nlr = 0.1\nradius = 1e-3\ng_thres = 1e-3\n"
         "t_thres = 20\n";
}

// The runs must exercise what is compared: plateaus found and missed,
// plateau points kept, target reached and missed.
void expect_plateau_variety(const RunResult& r) {
  for (const auto& o : r.optimizers) {
    SCOPED_TRACE(o.label);
    const auto& t = o.traj;
    ASSERT_EQ(t.plateau_points.size(), t.outcome.size() * 2);
    std::int64_t with = 0, reached = 0;
    for (std::size_t b = 0; b < t.outcome.size(); ++b) {
      with += t.plateau_count[b] > 0;
      reached += t.target_step[b] >= 0;
      EXPECT_EQ(std::isnan(t.plateau_points[b * 2]), t.plateau_step[b] < 0) << "trajectory " << b;
    }
    EXPECT_GT(with, 0);
    EXPECT_GT(reached, 0);
  }
  std::int64_t without = 0, missed = 0, later_point = 0;
  for (const auto& o : r.optimizers)
    for (std::size_t b = 0; b < o.traj.outcome.size(); ++b) {
      without += o.traj.plateau_count[b] == 0;
      missed += o.traj.target_step[b] < 0;
      later_point += o.traj.plateau_step[b] > 0;
    }
  EXPECT_GT(without, 0);
  EXPECT_GT(missed, 0);
  EXPECT_GT(later_point, 0);
}

class BackendPlateaus : public OnBackend<Precision> {};

TEST_P(BackendPlateaus, SaddleEscapeMatchesCpuAcrossChunks) {
  const Precision p = param<0>();
  const Experiment whole = parse_experiment(saddle_plateau_experiment(p), "t");
  Experiment chunked = whole;
  chunked.run.chunk_size = 7;  // 6 chunks: plateau states and noise per chunk
  auto cpu_backend = make_cpu_backend();
  const RunResult got = run_experiment(chunked, backend(), nullptr);
  const RunResult cpu = run_experiment(whole, *cpu_backend, nullptr);
  ASSERT_EQ(got.plan.chunk, 7);
  expect_plateau_variety(cpu);
  expect_runs_match(got, cpu, p, p == Precision::f64 ? 1e-12 : 1e-4);
  expect_census_match(got, cpu, p == Precision::f64 ? 1e-9 : 1e-4);
}

SADDLESCOPE_ON_EVERY_BACKEND(BackendPlateaus, (::testing::Values(Precision::f64, Precision::f32)));

// The deep linear network from small starts (scale 0.001): the loss falls
// in stages, with two or three plateau episodes per trajectory (the origin,
// then saddles after one and two modes are learned; the longest is not the
// first, so the plateau point buffers change roles between episodes), on the
// coupled GEMM path. All trajectories converge, some after the target loss.
std::string deep_linear_stages_experiment() {
  return "name = \"stages\"\nseed = 2\n[objective]\nkind = \"deep-linear\"\n"
         "widths = [4, 4, 4]\nsamples = 50\n[init]\nkind = \"gaussian\"\nscale = 0.001\n"
         "[run]\ntrajectories = 8\nmax_steps = 3000\ngrad_tol = 1e-6\nprecision = \"f64\"\n"
         "target_loss = 0.01\nsave_final_points = true\n"
         "[plateau]\ngrad_threshold = 0.02\nmin_steps = 20\n"
         "[analysis]\npoints = [\"plateaus\"]\n"
         "[[optimizer]]\nkind = \"gd\"\nlr = 0.05\n";
}

class BackendPlateausDeepLinear : public OnBackend<> {};

TEST_P(BackendPlateausDeepLinear, StagesMatchCpu) {
  const Experiment e = parse_experiment(deep_linear_stages_experiment(), "t");
  auto cpu_backend = make_cpu_backend();
  const RunResult got = run_experiment(e, backend(), nullptr);
  const RunResult cpu = run_experiment(e, *cpu_backend, nullptr);
  const auto& t = cpu.optimizers[0].traj;
  std::int64_t later_longest = 0;
  for (std::size_t b = 0; b < t.outcome.size(); ++b) {
    EXPECT_GE(t.plateau_count[b], 2) << "trajectory " << b;
    later_longest += t.plateau_step[b] > t.first_escape_step[b];
  }
  EXPECT_GT(later_longest, 0);
  const auto& a = got.optimizers[0].traj;
  EXPECT_EQ(a.outcome, t.outcome);
  EXPECT_EQ(a.steps, t.steps);
  expect_close(a.f_init, t.f_init, 1e-9, 1e-300, "f_init");
  expect_close(a.finals, t.finals, 1e-7, 1.0, "finals");
  expect_plateaus_match(a, t, 1e-7);
  expect_census_match(got, cpu, 1e-7);
}

SADDLESCOPE_ON_DEVICE_BACKENDS(BackendPlateausDeepLinear, ());

class BackendPlateauPoints : public OnBackend<> {};

// Plateau points are kept only when asked: without keep_plateau_points the
// statistics are there and the points are not (and, on a device backend,
// everything agrees with the CPU).
TEST_P(BackendPlateauPoints, OnlyWhenKept) {
  const ObjectiveData obj = make_objective(ObjectiveKind::quadratic, 2);  // [-1, 3]
  OptimizerParams gd;
  gd.kind = OptimizerKind::gd;
  gd.lr = 0.1;
  auto spec = ensemble_spec(obj, gd, Precision::f64, 9);
  spec.stop.diverge_above = 1.5;
  spec.plateau = PlateauRule{0.01, 5, 1e-3};
  const auto x0 = normals(76, spec.count * 2, 1e-4);
  for (const bool keep : {false, true}) {
    SCOPED_TRACE(keep ? "kept" : "not kept");
    spec.keep_plateau_points = keep;
    const auto got = run(backend(), spec, x0);
    const auto cpu = run(*make_cpu_backend(), spec, x0);
    EXPECT_EQ(got.plateau_points.size(), keep ? x0.size() : 0u);
    EXPECT_EQ(got.plateau_count.size(), static_cast<std::size_t>(spec.count));
    EXPECT_GT(*std::max_element(cpu.plateau_count.begin(), cpu.plateau_count.end()), 0);
    expect_match(got, cpu);
    expect_plateaus_match(got, cpu, 1e-12);
  }
}

SADDLESCOPE_ON_EVERY_BACKEND(BackendPlateauPoints, ());

// ---------------------------------------------------------------------------
// The noisy optimizers.

// langevin and perturbed-gd on styblinski-tang (N = 50) from small starts:
// the same noise on every backend (Philox keyed by the global trajectory,
// coordinate and step), so the same trajectories. The backend's run is cut
// into chunks of 6 (6, 6, 6, 2 trajectories), the CPU run is one chunk: the
// noise must not depend on the chunking. perturbed-gd is perturbed every 6
// iterations once near a minimum (||grad|| <= 0.1 and t_thres = 5).
std::string noisy_experiment(Precision p) {
  return std::string("name = \"noisy\"\nseed = 11\n") +
         "[objective]\nkind = \"styblinski-tang\"\ndim = 50\n"
         "[init]\nkind = \"gaussian\"\nscale = 0.01\n"
         "[run]\ntrajectories = 20\nmax_steps = 300\nrecord_every = 10\nrecord_paths = true\n"
         "save_final_points = true\ntarget_loss = -1950\nprecision = \"" +
         case_name(p) +
         "\"\n[[optimizer]]\nkind = \"langevin\"\nlr = 0.01\ntemperature = 0.01\n"
         "[[optimizer]]\nkind = \"perturbed-gd\"\nlr = 0.01\nradius = 1e-2\ng_thres = 1e-1\n"
         "t_thres = 5\n";
}

class BackendNoisyOptimizers : public OnBackend<Precision> {};

TEST_P(BackendNoisyOptimizers, MatchCpuAcrossChunks) {
  const Precision p = param<0>();
  const Experiment whole = parse_experiment(noisy_experiment(p), "t");
  Experiment chunked = whole;
  chunked.run.chunk_size = 6;
  auto cpu_backend = make_cpu_backend();
  const RunResult got = run_experiment(chunked, backend(), nullptr);
  const RunResult cpu = run_experiment(whole, *cpu_backend, nullptr);
  ASSERT_EQ(got.plan.chunks, 4);
  expect_runs_match(got, cpu, p, p == Precision::f64 ? 1e-10 : 1e-4);
  // The noise matters: the two optimizers end apart, and no trajectory
  // converges (each keeps being kicked).
  for (const auto& o : cpu.optimizers)
    for (std::size_t b = 0; b < o.traj.outcome.size(); ++b)
      EXPECT_EQ(o.traj.outcome[b], kMaxSteps) << o.label << " trajectory " << b;
  EXPECT_NE(cpu.optimizers[0].traj.finals, cpu.optimizers[1].traj.finals);
}

SADDLESCOPE_ON_EVERY_BACKEND(BackendNoisyOptimizers,
                             (::testing::Values(Precision::f64, Precision::f32)));

// The noisy optimizers on the sphere (p-spin, p = 3): perturbed-gd's
// perturbation of x_t comes before the retraction onto |x|^2 = N, which
// comes before the contraction pass, on every backend. The chunk is the
// third of a run (first = 12), which keys the noise.
std::vector<OptimizerCase> noisy_optimizers() {
  OptimizerParams pgd;
  pgd.kind = OptimizerKind::perturbed_gd;
  pgd.lr = 0.05;
  pgd.radius = 0.05;
  pgd.g_thres = 0.05;
  pgd.t_thres = 10;
  pgd.seed = 77;
  OptimizerParams langevin;
  langevin.kind = OptimizerKind::langevin;
  langevin.lr = 0.05;
  langevin.temperature = 1e-3;
  langevin.temperature_decay = 0.99;
  langevin.seed = 77;
  return {{"perturbed_gd", pgd}, {"langevin", langevin}};
}

class BackendNoisyPspin : public OnBackend<OptimizerCase> {};

TEST_P(BackendNoisyPspin, MatchesCpuOnTheSphere) {
  constexpr std::int64_t n = kPspinEnsembleDim;
  const auto obj = pspin_objective(3, n);
  auto spec = pspin_spec(obj, param<0>().params, Precision::f64);
  spec.first = 12;
  spec.keep_plateau_points = true;
  spec.plateau = PlateauRule{0.05, 5, 1e-3};
  const auto x0 = normals(75, spec.count * n, 2.0);
  const auto got = run(backend(), spec, x0);
  const auto cpu = run(*make_cpu_backend(), spec, x0);
  expect_match(got, cpu);
  expect_plateaus_match(got, cpu, 1e-9);
  expect_on_sphere(got, n, 1e-12);
  // Another chunk position gives other noise.
  auto other = spec;
  other.first = 0;
  const auto cpu0 = run(*make_cpu_backend(), other, x0);
  EXPECT_NE(cpu0.finals, cpu.finals);
}

SADDLESCOPE_ON_DEVICE_BACKENDS(BackendNoisyPspin, (::testing::ValuesIn(noisy_optimizers())));

}  // namespace
