// Full descent ensembles: on the device backends against the CPU reference
// for every optimizer, for rows longer than one block's slice, for the
// coupled objectives (rotated quadratic, gaussian field, mlp, deep linear)
// and for the p-spin on the sphere (p = 2 and 3, and with TF32 GEMMs); on
// every backend, run-to-run bitwise determinism; on the device backends,
// chunk and compaction independence of the coupled objectives (row tiles,
// active-set compaction); the host-driven optimizers
// (saddle-free-newton, annealing) stepping through a device backend's
// evaluations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "backend_inputs.hpp"
#include "backends.hpp"
#include "saddlescope/backend.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/experiment.hpp"
#include "saddlescope/optimizer_registry.hpp"
#include "saddlescope/run.hpp"

namespace {

using namespace saddlescope;
using namespace saddlescope::testing;

// ---------------------------------------------------------------------------
// Against the CPU.

class BackendEnsemble : public OnBackend<OptimizerCase> {};

TEST_P(BackendEnsemble, MatchesCpuOnStyblinskiTang) {
  constexpr std::int64_t n = 300, count = 37;
  const auto obj = make_objective(ObjectiveKind::styblinski_tang, n);
  const auto spec = ensemble_spec(obj, param<0>().params, Precision::f64, count);
  const auto x0 = normals(2024, count * n, 1.5);
  const auto got = run(backend(), spec, x0);
  const auto cpu = run(*make_cpu_backend(), spec, x0);
  expect_match(got, cpu);
}

SADDLESCOPE_ON_DEVICE_BACKENDS(BackendEnsemble, (::testing::ValuesIn(optimizer_cases())));

class BackendEnsembleMultiSlice : public OnBackend<> {};

// Rows longer than one block's slice: per-slice partial sums are combined by
// the status kernel.
TEST_P(BackendEnsembleMultiSlice, MatchesCpuOnStyblinskiTang) {
  constexpr std::int64_t n = 2500, count = 37;
  const auto obj = make_objective(ObjectiveKind::styblinski_tang, n);
  const auto spec = ensemble_spec(obj, optimizer_cases()[0].params, Precision::f64, count);
  const auto x0 = normals(31, count * n, 1.5);
  const auto got = run(backend(), spec, x0);
  const auto cpu = run(*make_cpu_backend(), spec, x0);
  expect_match(got, cpu);
}

SADDLESCOPE_ON_DEVICE_BACKENDS(BackendEnsembleMultiSlice, ());

// The gaussian field: per iteration Z = X W^T, the value epilogue, G = mu X +
// S W, and the per-trajectory values added before the end of the iteration.
// The gradient tolerance is loose so that some trajectories converge within
// the 100 steps (on the CPU, about half of them, between steps 87 and 100)
// and the others stop at max_steps.
EnsembleSpec field_spec(const ObjectiveData& obj, Precision p) {
  OptimizerParams adam;
  adam.kind = OptimizerKind::adam;
  adam.lr = 0.05;
  auto spec = ensemble_spec(obj, adam, p, 20);
  spec.stop.grad_tol = 0.05;
  spec.stop.max_steps = 100;
  spec.records = spec.stop.max_steps / spec.record_every + 1;
  return spec;
}

class BackendEnsembleCoupled : public OnBackend<> {};

// The coupled path: a GEMM per iteration feeds the fused step.
TEST_P(BackendEnsembleCoupled, MatchesCpuOnRotatedQuadratic) {
  constexpr std::int64_t n = 64, count = 37;
  const auto obj = make_objective(ObjectiveKind::quadratic, n, true, 1.0);  // convex
  OptimizerParams gd;
  gd.kind = OptimizerKind::gd;
  gd.lr = 0.3;
  const auto spec = ensemble_spec(obj, gd, Precision::f64, count);
  const auto x0 = normals(7, count * n, 1.0);
  const auto got = run(backend(), spec, x0);
  const auto cpu = run(*make_cpu_backend(), spec, x0);
  expect_match(got, cpu);
}

TEST_P(BackendEnsembleCoupled, MatchesCpuOnGaussianField) {
  const auto obj = field_objective();
  const auto spec = field_spec(obj, Precision::f64);
  const auto x0 = normals(8, spec.count * kFieldDim, 1.0);
  const auto got = run(backend(), spec, x0);
  const auto cpu = run(*make_cpu_backend(), spec, x0);
  expect_match(got, cpu);
}

// The MLP: per iteration the batched forward and backward pass over the
// trajectories, and the per-trajectory losses added before the end of the
// iteration. 60 Adam steps from small random parameters.
TEST_P(BackendEnsembleCoupled, MatchesCpuOnMlp) {
  const auto obj = mlp_objective();
  OptimizerParams adam;
  adam.kind = OptimizerKind::adam;
  adam.lr = 0.02;
  auto spec = ensemble_spec(obj, adam, Precision::f64, 12);
  spec.stop.max_steps = 60;
  spec.records = spec.stop.max_steps / spec.record_every + 1;
  const auto x0 = normals(47, spec.count * obj.dim, 0.5);
  const auto got = run(backend(), spec, x0);
  const auto cpu = run(*make_cpu_backend(), spec, x0);
  expect_match(got, cpu);
}

// A classifier (gelu, cross-entropy, weight decay, three layers): its
// losses, gradients and training accuracies per iteration; adam from
// random weights, with the accuracy target met on the way.
TEST_P(BackendEnsembleCoupled, MatchesCpuOnClassifier) {
  const auto obj = classifier_objective();
  OptimizerParams adam;
  adam.kind = OptimizerKind::adam;
  adam.lr = 0.03;
  auto spec = ensemble_spec(obj, adam, Precision::f64, 9);
  spec.stop.max_steps = 80;
  spec.stop.target_accuracy = 0.75;
  spec.records = spec.stop.max_steps / spec.record_every + 1;
  const auto x0 = normals(59, spec.count * obj.dim, 0.5);
  const auto got = run(backend(), spec, x0);
  const auto cpu = run(*make_cpu_backend(), spec, x0);
  expect_match(got, cpu);
  EXPECT_EQ(got.target_step, cpu.target_step);
  ASSERT_EQ(cpu.accuracy_final.size(), 9u);
}

// The deep linear network: per iteration the batched forward and backward
// pass over the trajectories, and the per-trajectory losses added before the
// end of the iteration. 80 gradient-descent steps from small random weights.
TEST_P(BackendEnsembleCoupled, MatchesCpuOnDeepLinear) {
  const auto obj = deep_linear_objective();
  OptimizerParams gd;
  gd.kind = OptimizerKind::gd;
  gd.lr = 0.05;
  auto spec = ensemble_spec(obj, gd, Precision::f64, 10);
  spec.stop.max_steps = 80;
  spec.records = spec.stop.max_steps / spec.record_every + 1;
  const auto x0 = normals(57, spec.count * obj.dim, 0.5);
  const auto got = run(backend(), spec, x0);
  const auto cpu = run(*make_cpu_backend(), spec, x0);
  expect_match(got, cpu);
}

SADDLESCOPE_ON_DEVICE_BACKENDS(BackendEnsembleCoupled, ());

// The p-spin on the sphere: per iteration the running trajectories are
// retracted onto |x|^2 = N, then the contraction pass gives the energies and
// Riemannian gradients (p = 3, N = 30). Starts off the sphere (scale 2), so
// the first retraction moves them. Some trajectories reach the loose gradient
// tolerance within the 300 steps, the others stop at max_steps; every final
// point lies on the sphere, and the backend's Hessians there match the CPU's.
std::vector<OptimizerCase> pspin_optimizers() {
  OptimizerParams gd;
  gd.kind = OptimizerKind::gd;
  gd.lr = 0.05;
  OptimizerParams adam;
  adam.kind = OptimizerKind::adam;
  adam.lr = 0.02;
  return {{"gd", gd}, {"adam", adam}};
}

class BackendPspinEnsemble : public OnBackend<OptimizerCase> {};

TEST_P(BackendPspinEnsemble, MatchesCpuOnTheSphere) {
  constexpr std::int64_t n = kPspinEnsembleDim;
  const auto obj = pspin_objective(3, n);
  const auto spec = pspin_spec(obj, param<0>().params, Precision::f64);
  const auto x0 = normals(71, spec.count * n, 2.0);
  auto cpu_backend = make_cpu_backend();
  const auto got = run(backend(), spec, x0);
  const auto cpu = run(*cpu_backend, spec, x0);
  expect_match(got, cpu);
  expect_on_sphere(got, n, 1e-12);
  for (std::size_t b = 0; b < got.outcome.size(); ++b) {
    EXPECT_NE(got.outcome[b], kDiverged) << "trajectory " << b;
    EXPECT_LT(got.f_final[b], got.f_init[b]) << "trajectory " << b << " descended";
  }
  expect_close_to_magnitude(backend().hessian(obj, Precision::f64, spec.count, got.finals),
                            cpu_backend->hessian(obj, Precision::f64, spec.count, got.finals),
                            1e-10, "H at the finals");
}

SADDLESCOPE_ON_DEVICE_BACKENDS(BackendPspinEnsemble, (::testing::ValuesIn(pspin_optimizers())));

class BackendPspinEnsembleP2 : public OnBackend<> {};

// p = 2 as well (one GEMM G_E = X A per iteration).
TEST_P(BackendPspinEnsembleP2, MatchesCpuOnTheSphere) {
  constexpr std::int64_t n = kPspinEnsembleDim;
  const auto obj = pspin_objective(2, n);
  const auto spec = pspin_spec(obj, pspin_optimizers()[0].params, Precision::f64);
  const auto x0 = normals(72, spec.count * n, 2.0);
  const auto got = run(backend(), spec, x0);
  const auto cpu = run(*make_cpu_backend(), spec, x0);
  expect_match(got, cpu);
  expect_on_sphere(got, n, 1e-12);
}

SADDLESCOPE_ON_DEVICE_BACKENDS(BackendPspinEnsembleP2, ());

class BackendPspinEnsembleTf32 : public OnBackend<> {};

// objective.tf32 with f32: the ensemble's GEMMs may use TF32 tensor cores,
// so trajectories agree with the CPU's f32 only loosely: the energies reached
// within 2e-2 (relative), and the final points on the sphere.
TEST_P(BackendPspinEnsembleTf32, AgreesLoosely) {
  constexpr std::int64_t n = kPspinEnsembleDim;
  const auto obj = pspin_objective(3, n, true);
  ASSERT_TRUE(obj.tf32);
  OptimizerParams gd;
  gd.kind = OptimizerKind::gd;
  gd.lr = 0.02;
  auto spec = pspin_spec(obj, gd, Precision::f32);
  spec.stop.max_steps = 150;
  spec.records = spec.stop.max_steps / spec.record_every + 1;
  const auto x0 = normals(73, spec.count * n, 2.0);
  const auto got = run(backend(), spec, x0);
  const auto cpu = run(*make_cpu_backend(), spec, x0);
  ASSERT_EQ(got.outcome.size(), cpu.outcome.size());
  for (std::size_t b = 0; b < got.outcome.size(); ++b) {
    EXPECT_NE(got.outcome[b], kDiverged) << "trajectory " << b;
    EXPECT_NE(got.outcome[b], kRunning) << "trajectory " << b;
  }
  expect_close(got.f_init, cpu.f_init, 2e-2, 1.0, "f_init");  // random starts: E near 0
  expect_close(got.f_final, cpu.f_final, 2e-2, 1e-30, "f_final");
  expect_on_sphere(got, n, 1e-5);
}

SADDLESCOPE_ON_DEVICE_BACKENDS(BackendPspinEnsembleTf32, ());

// ---------------------------------------------------------------------------
// Determinism, on every backend: two runs of the same ensemble give the same
// bits (every reduction has a fixed order).

class BackendDeterminism : public OnBackend<> {
 protected:
  void expect_deterministic(const EnsembleSpec& spec, const std::vector<double>& x0) {
    const auto a = run(backend(), spec, x0);
    const auto b = run(backend(), spec, x0);
    EXPECT_TRUE(same_bits(a.outcome, b.outcome));
    EXPECT_TRUE(same_bits(a.steps, b.steps));
    EXPECT_TRUE(same_bits(a.f_init, b.f_init));
    EXPECT_TRUE(same_bits(a.f_final, b.f_final));
    EXPECT_TRUE(same_bits(a.gnorm_final, b.gnorm_final));
    EXPECT_TRUE(same_bits(a.curves, b.curves));
    EXPECT_TRUE(same_bits(a.paths, b.paths));
    EXPECT_TRUE(same_bits(a.finals, b.finals));
    EXPECT_TRUE(same_bits(a.plateau_count, b.plateau_count));
    EXPECT_TRUE(same_bits(a.plateau_steps, b.plateau_steps));
    EXPECT_TRUE(same_bits(a.plateau_step, b.plateau_step));
    EXPECT_TRUE(same_bits(a.target_step, b.target_step));
    EXPECT_TRUE(same_bits(a.plateau_g, b.plateau_g));
    EXPECT_TRUE(same_bits(a.plateau_points, b.plateau_points));
  }
};

TEST_P(BackendDeterminism, SeparableMultiSliceF32) {
  constexpr std::int64_t n = 2500, count = 37;  // rows span several blocks
  const auto obj = make_objective(ObjectiveKind::styblinski_tang, n);
  OptimizerParams adam;
  adam.kind = OptimizerKind::adam;
  adam.lr = 0.05;
  expect_deterministic(ensemble_spec(obj, adam, Precision::f32, count),
                       normals(99, count * n, 1.5));
}

TEST_P(BackendDeterminism, StyblinskiTangF64) {
  constexpr std::int64_t n = 300, count = 37;
  const auto obj = make_objective(ObjectiveKind::styblinski_tang, n);
  for (const auto& c : optimizer_cases()) {
    SCOPED_TRACE(c.name);
    expect_deterministic(ensemble_spec(obj, c.params, Precision::f64, count),
                         normals(2024, count * n, 1.5));
  }
}

TEST_P(BackendDeterminism, CoupledF32) {
  constexpr std::int64_t n = 64, count = 37;
  const auto obj = make_objective(ObjectiveKind::quadratic, n, true);  // a saddle
  OptimizerParams rmsprop;
  rmsprop.kind = OptimizerKind::rmsprop;
  rmsprop.lr = 0.01;
  rmsprop.momentum = 0.5;
  expect_deterministic(ensemble_spec(obj, rmsprop, Precision::f32, count),
                       normals(5, count * n, 1.0));
}

TEST_P(BackendDeterminism, GaussianFieldF32) {
  const auto obj = field_objective();
  const auto spec = field_spec(obj, Precision::f32);
  expect_deterministic(spec, normals(9, spec.count * kFieldDim, 1.0));
}

// The noisy optimizers (perturbation kernel, noise in the fused step) with
// plateau points kept, in f32 on rows of several blocks.
TEST_P(BackendDeterminism, NoisyOptimizersWithPlateauPointsF32) {
  constexpr std::int64_t n = 2500, count = 13;
  const auto obj = make_objective(ObjectiveKind::styblinski_tang, n);
  OptimizerParams pgd;
  pgd.kind = OptimizerKind::perturbed_gd;
  pgd.lr = 0.01;
  pgd.g_thres = 1.0;
  pgd.t_thres = 3;
  OptimizerParams langevin;
  langevin.kind = OptimizerKind::langevin;
  langevin.lr = 0.01;
  langevin.temperature = 0.01;
  for (const auto& opt : {pgd, langevin}) {
    auto spec = ensemble_spec(obj, opt, Precision::f32, count);
    spec.first = 5;
    spec.keep_plateau_points = true;
    spec.plateau = PlateauRule{1.0, 3, 1e-3};
    expect_deterministic(spec, normals(98, count * n, 1.5));
  }
}

TEST_P(BackendDeterminism, PspinF32) {
  constexpr std::int64_t n = kPspinEnsembleDim;
  const auto obj = pspin_objective(3, n);
  OptimizerParams adam;
  adam.kind = OptimizerKind::adam;
  adam.lr = 0.02;
  const auto spec = pspin_spec(obj, adam, Precision::f32);
  expect_deterministic(spec, normals(74, spec.count * n, 2.0));
}

SADDLESCOPE_ON_EVERY_BACKEND(BackendDeterminism, ());

// ---------------------------------------------------------------------------
// Row tiles and active-set compaction on the device (docs/design.md II.4):
// the coupled pass runs its row-mixing GEMMs on whole row tiles and covers
// only the running trajectories, packed in order, so a trajectory's bits
// depend neither on the chunk (which on the device follows free memory) nor
// on which other trajectories are still running or where it is packed. The
// device counterpart of tests/test_engine.cpp's
// CoupledObjectivesDoNotDependOnChunkingOrCompaction, for every coupled
// objective in both precisions, through the engine (chunks, records, finals).
// 150 trajectories span two row tiles of the whole chunk; a loose gradient
// tolerance stops them at different steps, so the whole run compacts while
// chunks of 7 (and of 1, never compacted: every trajectory alone in its
// tile) see other packings.
struct CoupledCase {
  const char* name;
  const char* objective;  // the [objective] table
  const char* run = "";   // more [run] keys
};
void PrintTo(const CoupledCase& c, std::ostream* os) { *os << c.name; }

const CoupledCase kCoupledCases[] = {
    {"gaussian_field", "kind = \"gaussian-field\"\ndim = 7\nfeatures = 40\nmu = 0.2"},
    {"quadratic_rotated",
     "kind = \"quadratic\"\ndim = 9\neigenvalues = [0.3, 0.5, 0.7, 1, 1.2, 1.5, 1.7, 2, "
     "2.5]\nrotate = true"},
    // A saddle: its trajectories leave it and stop at different steps when
    // they pass |x|_inf > 2.
    {"goe_quadratic", "kind = \"goe-quadratic\"\ndim = 9\nsigma = 0.5", "diverge_above = 2\n"},
    {"pspin_p2", "kind = \"p-spin\"\ndim = 6\np = 2"},
    {"pspin_p3", "kind = \"p-spin\"\ndim = 5\np = 3"},
    {"mlp", "kind = \"mlp\"\ninputs = 3\nhidden = 4\nsamples = 10"},
    {"deep_linear", "kind = \"deep-linear\"\nwidths = [3, 4, 2]\nsamples = 12"},
};

class BackendChunking : public OnBackend<CoupledCase, Precision> {
 protected:
  RunResult run_chunked(std::int64_t trajectories, const std::vector<std::string>& sets) {
    const std::string precision = param<1>() == Precision::f64 ? "f64" : "f32";
    const std::string toml =
        std::string("seed = 3\n[objective]\n") + param<0>().objective +
        "\n[init]\nkind = \"gaussian\"\nscale = 0.7\n[run]\ntrajectories = " +
        std::to_string(trajectories) +
        "\nmax_steps = 120\nrecord_every = 3\nrecord_trajectories = " +
        std::to_string(trajectories) +
        "\nrecord_paths = true\nsave_final_points = true\ngrad_tol = 0.05\nprecision = \"" +
        precision + "\"\n" + param<0>().run + "[[optimizer]]\nkind = \"adam\"\nlr = 0.05\n";
    return run_experiment(parse_experiment(toml, "chunking.toml", sets), backend());
  }
  // Every record of every trajectory, bit for bit (NaN curves after a stop
  // meet NaN).
  static void expect_same(const RunResult& a, const RunResult& b) {
    const auto& x = a.optimizers.at(0).traj;
    const auto& y = b.optimizers.at(0).traj;
    EXPECT_EQ(x.outcome, y.outcome);
    EXPECT_EQ(x.steps, y.steps);
    EXPECT_TRUE(same_bits(x.f_init, y.f_init)) << "f_init";
    EXPECT_TRUE(same_bits(x.f_final, y.f_final)) << "f_final";
    EXPECT_TRUE(same_bits(x.gnorm_final, y.gnorm_final)) << "gnorm_final";
    EXPECT_TRUE(same_bits(x.finals, y.finals)) << "finals";
    EXPECT_TRUE(same_bits(x.paths, y.paths)) << "paths";
    ASSERT_EQ(x.curves.size(), y.curves.size());
    for (std::size_t k = 0; k < x.curves.size(); ++k)
      ASSERT_TRUE(std::memcmp(&x.curves[k], &y.curves[k], sizeof(x.curves[k])) == 0 ||
                  (std::isnan(x.curves[k]) && std::isnan(y.curves[k])))
          << "curve value " << k;
  }
  // Trajectories stop at different steps: the whole run compacts.
  static void expect_staggered_stops(const RunResult& r) {
    const auto& steps = r.optimizers.at(0).traj.steps;
    ASSERT_FALSE(steps.empty());
    EXPECT_LT(*std::min_element(steps.begin(), steps.end()),
              *std::max_element(steps.begin(), steps.end()));
  }
};

TEST_P(BackendChunking, ChunksOfSevenGiveTheWholeRunsBits) {
  const RunResult whole = run_chunked(150, {});
  ASSERT_EQ(whole.plan.chunks, 1);
  expect_staggered_stops(whole);
  const RunResult chunked = run_chunked(150, {"run.chunk_size=7"});
  ASSERT_EQ(chunked.plan.chunks, 22);
  expect_same(whole, chunked);
}

// Compaction against no compaction: in chunks of one trajectory each runs
// alone at packed row 0 until it stops; in the whole run its packed row
// moves down as the trajectories before it stop.
TEST_P(BackendChunking, AloneOrPackedGiveTheSameBits) {
  const RunResult whole = run_chunked(24, {});
  ASSERT_EQ(whole.plan.chunks, 1);
  expect_staggered_stops(whole);
  expect_same(whole, run_chunked(24, {"run.chunk_size=1"}));
}

SADDLESCOPE_ON_DEVICE_BACKENDS(BackendChunking,
                               (::testing::ValuesIn(kCoupledCases),
                                ::testing::Values(Precision::f64, Precision::f32)));

// ---------------------------------------------------------------------------
// The host-driven optimizers on a device backend: their steps call the
// backend's value_grad, hessian and eigh (cuSOLVER; eigenvectors may differ
// in sign, which the saddle-free Newton step does not see), and agree with
// the CPU in f64 to ~1e-9, with the same outcomes and steps. Annealing
// decides on each proposal: at temperature 0 (chosen for this) it accepts
// exactly when f' <= f, which the backends' rounding difference (~1e-16 of
// f) could flip only if a Gaussian proposal of step 0.02 changed f by less
// than that, which practically never happens; so its accepted points, which
// are sums of the same proposals, agree bit for bit in practice. Two
// objectives: the deep linear network (coupled: GEMM passes, Hessians from
// batched columns) and the double well (separable: banded Hessians), two
// chunks each.
std::string host_driven_experiment(const std::string& objective) {
  return "name = \"host-driven\"\nseed = 4\n[objective]\n" + objective +
         "[init]\nkind = \"gaussian\"\nscale = 0.3\n"
         "[run]\ntrajectories = 8\nchunk_size = 5\nmax_steps = 80\nprecision = \"f64\"\n"
         "grad_tol = 1e-8\nrecord_every = 2\nrecord_trajectories = 6\nrecord_paths = true\n"
         "save_final_points = true\n"
         "[[optimizer]]\nkind = \"saddle-free-newton\"\nlr = 0.5\ndamping = 0.1\n"
         "[[optimizer]]\nkind = \"annealing\"\ntemperature = 0\nstep_size = 0.02\n";
}

class BackendHostDriven : public OnBackend<> {};

TEST_P(BackendHostDriven, SaddleFreeNewtonAndAnnealingMatchCpu) {
  for (const char* objective : {"kind = \"deep-linear\"\nwidths = [3, 3, 3]\nsamples = 20\n",
                                "kind = \"double-well\"\ndim = 5\n"}) {
    SCOPED_TRACE(objective);
    const Experiment e = parse_experiment(host_driven_experiment(objective), "t");
    auto tested = make_backend(backend_id());
    auto cpu_backend = make_cpu_backend();
    const RunResult got = run_experiment(e, *tested, nullptr);
    const RunResult cpu = run_experiment(e, *cpu_backend, nullptr);
    ASSERT_EQ(got.plan.chunks, 2);
    ASSERT_EQ(got.optimizers.size(), cpu.optimizers.size());
    for (std::size_t k = 0; k < cpu.optimizers.size(); ++k) {
      SCOPED_TRACE(cpu.optimizers[k].label);
      const auto& a = got.optimizers[k].traj;
      const auto& t = cpu.optimizers[k].traj;
      EXPECT_EQ(a.outcome, t.outcome);
      EXPECT_EQ(a.steps, t.steps);
      // Losses relative to the objective's scale (floor 1): saddle-free
      // Newton drives the deep linear network's loss to ~1e-17, the square
      // of its residuals' rounding, where relative agreement means nothing.
      expect_close(a.f_init, t.f_init, 1e-9, 1.0, "f_init");
      expect_close(a.f_final, t.f_final, 1e-9, 1.0, "f_final");
      expect_close(a.gnorm_final, t.gnorm_final, 1e-9, 1e-2, "gnorm_final");
      expect_close(a.finals, t.finals, 1e-9, 1.0, "finals");
      expect_close(a.paths, t.paths, 1e-9, 1.0, "paths");
      const std::vector<double> a_curves(a.curves.begin(), a.curves.end());
      const std::vector<double> t_curves(t.curves.begin(), t.curves.end());
      expect_close(a_curves, t_curves, 1e-5, 1e-6, "curves");
      // The runs move: every trajectory's loss fell.
      for (std::size_t b = 0; b < t.outcome.size(); ++b)
        EXPECT_LT(t.f_final[b], t.f_init[b]) << "trajectory " << b;
    }
  }
}

// A backend's ensemble refuses every host-driven optimizer of the registry
// clearly, naming it (the engine never asks for one).
TEST_P(BackendHostDriven, DeviceEnsembleRefusesThem) {
  const auto obj = make_objective(ObjectiveKind::double_well, 4);
  int refused = 0;
  for (const OptimizerInfo& info : optimizer_registry()) {
    if (!info.host_driven) continue;
    const OptimizerKind kind = info.kind;
    ++refused;
    OptimizerParams opt;
    opt.kind = kind;
    try {
      backend().make_ensemble(ensemble_spec(obj, opt, Precision::f64, 3));
      ADD_FAILURE() << optimizer_kind_name(kind) << " was accepted";
    } catch (const BackendError& err) {
      EXPECT_NE(std::string(err.what()).find("host-driven"), std::string::npos) << err.what();
      EXPECT_NE(std::string(err.what()).find(optimizer_kind_name(kind)), std::string::npos)
          << err.what();
    }
  }
  EXPECT_EQ(refused, 2);  // saddle-free-newton, annealing
}

SADDLESCOPE_ON_EVERY_BACKEND(BackendHostDriven, ());

}  // namespace
