// Checkpoints on every backend: a run stopped and resumed gives the
// uninterrupted run's results bit for bit (the checkpoint holding that
// backend's ensemble state inside a chunk, or none between chunks); an
// ensemble's saved state loaded into a fresh ensemble continues identically;
// on the CUDA backend, a state that does not fit is refused.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "backend_inputs.hpp"
#include "backends.hpp"
#include "saddlescope/backend.hpp"
#include "saddlescope/ensemble_state.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/experiment.hpp"
#include "saddlescope/run.hpp"
#include "src/core/checkpoint.hpp"

namespace {

using namespace saddlescope;
using namespace saddlescope::testing;
namespace fs = std::filesystem;

// Every array of two chunk results, bit for bit (NaN marks "none" in several).
void expect_same_result(const EnsembleResult& a, const EnsembleResult& b) {
  EXPECT_TRUE(same_bits(a.outcome, b.outcome)) << "outcome";
  EXPECT_TRUE(same_bits(a.steps, b.steps)) << "steps";
  EXPECT_TRUE(same_bits(a.f_init, b.f_init)) << "f_init";
  EXPECT_TRUE(same_bits(a.f_final, b.f_final)) << "f_final";
  EXPECT_TRUE(same_bits(a.gnorm_final, b.gnorm_final)) << "gnorm_final";
  EXPECT_TRUE(same_bits(a.accuracy_final, b.accuracy_final)) << "accuracy_final";
  EXPECT_TRUE(same_bits(a.curves, b.curves)) << "curves";
  EXPECT_TRUE(same_bits(a.paths, b.paths)) << "paths";
  EXPECT_TRUE(same_bits(a.finals, b.finals)) << "finals";
  EXPECT_TRUE(same_bits(a.plateau_count, b.plateau_count)) << "plateau_count";
  EXPECT_TRUE(same_bits(a.plateau_steps, b.plateau_steps)) << "plateau_steps";
  EXPECT_TRUE(same_bits(a.longest_plateau, b.longest_plateau)) << "longest_plateau";
  EXPECT_TRUE(same_bits(a.first_escape_step, b.first_escape_step)) << "first_escape_step";
  EXPECT_TRUE(same_bits(a.plateau_step, b.plateau_step)) << "plateau_step";
  EXPECT_TRUE(same_bits(a.target_step, b.target_step)) << "target_step";
  EXPECT_TRUE(same_bits(a.plateau_f, b.plateau_f)) << "plateau_f";
  EXPECT_TRUE(same_bits(a.plateau_g, b.plateau_g)) << "plateau_g";
  EXPECT_TRUE(same_bits(a.plateau_points, b.plateau_points)) << "plateau_points";
}

// Two runs of one experiment: every optimizer's results and the census, bit for bit.
void expect_same_run(const RunResult& a, const RunResult& b) {
  ASSERT_EQ(a.optimizers.size(), b.optimizers.size());
  for (std::size_t o = 0; o < a.optimizers.size(); ++o) {
    SCOPED_TRACE(a.optimizers[o].label);
    expect_same_result(a.optimizers[o].traj, b.optimizers[o].traj);
    EXPECT_EQ(a.optimizers[o].trajectory_steps, b.optimizers[o].trajectory_steps);
  }
  ASSERT_EQ(a.has_census, b.has_census);
  ASSERT_EQ(a.census.points.size(), b.census.points.size());
  for (std::size_t k = 0; k < a.census.points.size(); ++k) {
    const auto& p = a.census.points[k];
    const auto& q = b.census.points[k];
    EXPECT_EQ(p.source, q.source) << "point " << k;
    EXPECT_EQ(p.group, q.group) << "point " << k;
    EXPECT_EQ(p.trajectory, q.trajectory) << "point " << k;
    EXPECT_EQ(p.step, q.step) << "point " << k;
    EXPECT_TRUE(
        same_bits(std::vector<double>{p.f, p.grad_norm}, std::vector<double>{q.f, q.grad_norm}))
        << "point " << k;
    EXPECT_EQ(p.inertia.index, q.inertia.index) << "point " << k;
  }
  EXPECT_TRUE(same_bits(a.census.spectra, b.census.spectra)) << "census spectra";
}

// ---------------------------------------------------------------------------
// A run stopped and resumed.

// The fused and noisy ensembles only (adam; perturbed-gd and langevin, whose
// noise is keyed by the step and whose perturbation schedule is state), paths
// recorded: two chunks of six trajectories on the deep linear network (the
// coupled GEMM path, whose work arrays are not saved), plateau points kept
// for the census (the role buffers), a target loss. (tests/test_checkpoint.cpp
// resumes every optimizer, the census and the finder on the CPU.)
std::string resume_experiment(Precision p) {
  return std::string("name = \"backend-resume\"\nseed = 9\n") +
         "[objective]\nkind = \"deep-linear\"\nwidths = [3, 3, 3]\nsamples = 20\n"
         "[init]\nkind = \"gaussian\"\nscale = 0.05\n"
         "[run]\ntrajectories = 12\nchunk_size = 6\nmax_steps = 500\nprecision = \"" +
         case_name(p) +
         "\"\nrecord_every = 5\nrecord_trajectories = 10\nrecord_paths = true\n"
         "target_loss = 0.05\nsave_final_points = true\n"
         "[plateau]\ngrad_threshold = 0.02\nmin_steps = 5\n"
         "[[optimizer]]\nkind = \"adam\"\nlr = 0.005\n"
         "[[optimizer]]\nkind = \"perturbed-gd\"\nlr = 0.05\ng_thres = 0.02\nt_thres = 10\n"
         "[[optimizer]]\nkind = \"langevin\"\nlr = 0.05\ntemperature = 1e-6\n"
         "[analysis]\npoints = [\"stops\", \"plateaus\"]\nmax_points = 40\n";
}

// Where the run is stopped (the first host look at or after `step` of that
// optimizer's chunk), and the iteration its checkpoint must record (-1: a
// checkpoint between chunks, which holds no ensemble state).
struct ResumeStop {
  const char* name;
  std::size_t optimizer;
  std::int64_t chunk, step, iteration;
};
void PrintTo(const ResumeStop& s, std::ostream* os) { *os << s.name; }

class BackendResume : public OnBackend<ResumeStop, Precision> {};

TEST_P(BackendResume, GivesTheUninterruptedResults) {
  const ResumeStop at = param<0>();
  const Precision p = param<1>();
  const Experiment e = parse_experiment(resume_experiment(p), "t");
  const RunResult whole = run_experiment(e, backend(), nullptr);
  ASSERT_EQ(whole.plan.chunks, 2);

  const fs::path dir =
      fs::temp_directory_path() / (std::string("saddlescope_resume_") + backend_name(backend_id()) +
                                   "_" + at.name + "_" + case_name(p));
  fs::remove_all(dir);
  prepare_run_dir(dir.string(), e);
  volatile std::sig_atomic_t stop = 0;
  Checkpointing cp;
  cp.path = (dir / "checkpoint.bin").string();
  cp.every_seconds = 1e9;  // only the forced checkpoint
  cp.stop = &stop;
  const ProgressFn trip = [&](std::size_t oi, std::int64_t t, std::int64_t, std::int64_t c,
                              std::int64_t) {
    if (oi == at.optimizer && c == at.chunk && t >= at.step) stop = 1;
  };
  EXPECT_THROW(run_experiment(e, backend(), trip, &cp), Interrupted);
  ASSERT_TRUE(fs::exists(cp.path));
  // The checkpoint holds this backend's ensemble state inside a chunk (an
  // empty state would restart the chunk and pass without testing it).
  const ckpt::State saved = ckpt::load(cp.path);
  EXPECT_EQ(saved.backend, backend_name(backend_id()));
  EXPECT_EQ(saved.optimizer, at.optimizer);
  EXPECT_EQ(saved.iteration, at.iteration);
  EXPECT_EQ(saved.chunk, at.iteration >= 0 ? at.chunk : at.chunk + 1);
  EXPECT_EQ(saved.ensemble.empty(), at.iteration < 0);

  stop = 0;
  cp.resume = true;
  const RunResult resumed = run_experiment(e, backend(), nullptr, &cp);
  expect_same_run(whole, resumed);
  fs::remove_all(dir);
}

SADDLESCOPE_ON_EVERY_BACKEND(BackendResume,
                             (::testing::Values(ResumeStop{"inside_first_chunk", 0, 0, 63, 63},
                                                ResumeStop{"inside_second_chunk", 1, 1, 95, 95},
                                                ResumeStop{"langevin_inside_chunk", 2, 0, 200, 223},
                                                ResumeStop{"between_chunks", 2, 0, 500, -1}),
                              ::testing::Values(Precision::f64, Precision::f32)));

// ---------------------------------------------------------------------------
// An ensemble's saved state.

// Iterations from..to of an ensemble, every one (no early exit).
void iterate_range(Ensemble& e, std::int64_t from, std::int64_t to) {
  for (std::int64_t t = from; t <= to; ++t) e.iterate(t);
}

// Ensembles with every kind of state: adam (two optimizer states),
// perturbed-gd (its schedule and pending perturbations) and langevin (noise
// keyed by the step), plateau points kept, paths recorded, a target loss.
// On the deep linear network (the coupled path) the starts grow from row to
// row (scale (b + 1) / count times `scale`): the small ones sit on plateaus
// (the longest not always the first, so the buffers change roles), the
// others converge, at odd and even steps before and after the saves, or run
// to max_steps; one converges at step 0. On styblinski-tang rows span
// several slices (per-slice partial sums), perturbed-gd is perturbed near
// the minima, and the two largest starts diverge at steps 3 and 4.
struct SavedCase {
  const char* name;
  ObjectiveData objective;
  OptimizerParams optimizer;
  double scale;        // of the starts
  double grad_tol;     // stop rule
  double plateau;      // plateau gradient threshold
  double target_loss;  // stop rule's target
};
void PrintTo(const SavedCase& c, std::ostream* os) { *os << c.name; }

std::vector<SavedCase> saved_cases() {
  OptimizerParams adam;
  adam.kind = OptimizerKind::adam;
  adam.lr = 0.015;
  OptimizerParams pgd;
  pgd.kind = OptimizerKind::perturbed_gd;
  pgd.lr = 0.1;
  pgd.radius = 0.01;
  pgd.g_thres = 0.02;
  pgd.t_thres = 10;
  pgd.seed = 5;
  OptimizerParams langevin;
  langevin.kind = OptimizerKind::langevin;
  langevin.lr = 0.1;
  langevin.temperature = 1e-4;
  langevin.seed = 5;
  OptimizerParams pgd_st = pgd;
  pgd_st.lr = 0.01;
  pgd_st.g_thres = 1.0;
  OptimizerParams langevin_st = langevin;
  langevin_st.lr = 0.01;
  langevin_st.temperature = 0.01;
  const auto dl = deep_linear_objective();
  const auto cl = classifier_objective();
  const auto st = make_objective(ObjectiveKind::styblinski_tang, 2500);
  return {{"adam_deep_linear", dl, adam, 0.3, 3e-3, 0.03, 0.2},
          {"adam_classifier", cl, adam, 0.5, 3e-3, 0.03, 0.5},
          {"pgd_deep_linear", dl, pgd, 0.3, 3e-3, 0.02, 0.2},
          {"langevin_deep_linear", dl, langevin, 0.3, 3e-3, 0.02, 0.2},
          {"pgd_styblinski_tang", st, pgd_st, 3.0, 1e-3, 1.0, -8.2e4},
          {"langevin_styblinski_tang", st, langevin_st, 3.0, 1e-3, 1.0, -8.2e4}};
}

EnsembleSpec saved_spec(const SavedCase& c, Precision p) {
  auto spec = ensemble_spec(c.objective, c.optimizer, p, 10);
  spec.first = 6;  // keys the noise
  spec.stop.grad_tol = c.grad_tol;
  spec.stop.max_steps = 150;
  spec.stop.target_loss = c.target_loss;
  spec.records = spec.stop.max_steps / spec.record_every + 1;
  spec.keep_plateau_points = true;
  spec.plateau = PlateauRule{c.plateau, 5, 1e-3};
  return spec;
}

// Starts of row b scaled by c.scale (b + 1) / count.
std::vector<double> saved_starts(const SavedCase& c, const EnsembleSpec& spec, std::uint64_t seed) {
  const std::int64_t n = c.objective.dim;
  std::vector<double> x = normals(seed, spec.count * n, 1.0);
  for (std::int64_t b = 0; b < spec.count; ++b)
    for (std::int64_t i = 0; i < n; ++i)
      x[b * n + i] *= c.scale * static_cast<double>(b + 1) / static_cast<double>(spec.count);
  return x;
}

class BackendSavedState : public OnBackend<SavedCase, Precision> {};

// An ensemble saved after iteration `at` (even and odd: the current point
// in either buffer) and loaded into a fresh ensemble given other starts
// (which the state replaces) continues as the saved one does, and as one
// never paused. The saved one's result(true) before saving (it gathers the
// stopped rows' finals into buffer 0) changes nothing either.
TEST_P(BackendSavedState, ContinuesInAFreshEnsemble) {
  const SavedCase& c = param<0>();
  const EnsembleSpec spec = saved_spec(c, param<1>());
  const std::int64_t last = spec.stop.max_steps;
  const auto x0 = saved_starts(c, spec, 61);
  auto whole = backend().make_ensemble(spec);
  whole->set_starts(x0);
  iterate_range(*whole, 0, last);
  const EnsembleResult want = whole->result(true);
  for (const std::int64_t at : {40, 77, 101, 120}) {
    SCOPED_TRACE("saved after iteration " + std::to_string(at));
    auto a = backend().make_ensemble(spec);
    a->set_starts(x0);
    iterate_range(*a, 0, at);
    a->result(true);
    const std::vector<std::uint8_t> state = a->save_state();
    ASSERT_FALSE(state.empty());
    auto b = backend().make_ensemble(spec);
    b->set_starts(saved_starts(c, spec, 62));
    b->load_state(state);
    EXPECT_TRUE(b->save_state() == state) << "the loaded state saved again";
    iterate_range(*a, at + 1, last);
    iterate_range(*b, at + 1, last);
    SCOPED_TRACE("saved");
    expect_same_result(a->result(true), want);
    SCOPED_TRACE("loaded");
    expect_same_result(b->result(true), want);
  }
}

SADDLESCOPE_ON_EVERY_BACKEND(BackendSavedState,
                             (::testing::ValuesIn(saved_cases()),
                              ::testing::Values(Precision::f64, Precision::f32)));

class BackendSavedStateRefused : public OnBackend<> {};

// The state must fit the ensemble: another count, another precision, a
// truncated or extended state, or damaged plateau buffer roles are refused
// (InputError), and the refused ensemble still runs from its own state
// (include/saddlescope/ensemble_state.hpp: read whole, checked, then kept).
TEST_P(BackendSavedStateRefused, WhenItDoesNotFit) {
  const SavedCase c = saved_cases()[1];  // perturbed-gd on the deep linear network
  const EnsembleSpec spec = saved_spec(c, Precision::f64);
  const auto x0 = saved_starts(c, spec, 63);
  auto a = backend().make_ensemble(spec);
  a->set_starts(x0);
  iterate_range(*a, 0, 20);
  const std::vector<std::uint8_t> state = a->save_state();

  auto fresh = [&](const EnsembleSpec& s) {
    auto e = backend().make_ensemble(s);
    e->set_starts(saved_starts(c, s, 63));
    return e;
  };
  EnsembleSpec fewer = spec;
  fewer.count = spec.count - 1;
  EXPECT_THROW(fresh(fewer)->load_state(state), InputError);
  EnsembleSpec single = spec;
  single.precision = Precision::f32;
  EXPECT_THROW(fresh(single)->load_state(state), InputError);
  EnsembleSpec no_points = spec;
  no_points.keep_plateau_points = false;
  EXPECT_THROW(fresh(no_points)->load_state(state), InputError);
  EXPECT_THROW(fresh(spec)->load_state({state.begin(), state.end() - 1}), InputError);
  std::vector<std::uint8_t> longer = state;
  longer.push_back(0);
  EXPECT_THROW(fresh(spec)->load_state(longer), InputError);

  // The same state with one trajectory's buffer roles damaged, re-written
  // in the one schema both backends save.
  EnsembleState<double> st(spec.count, spec.objective->dim);
  st.read(state, "test", {});  // no sizes to check against
  ASSERT_EQ(st.bytes(), state);
  ASSERT_EQ(st.track.plateau.size(), static_cast<std::size_t>(spec.count));
  st.track.plateau[3].role[1] = st.track.plateau[3].role[0];
  auto damaged = fresh(spec);
  EXPECT_THROW(damaged->load_state(st.bytes()), InputError);
  // Nothing was uploaded: it runs from its own starts like any other.
  iterate_range(*damaged, 0, 20);
  auto clean = fresh(spec);
  iterate_range(*clean, 0, 20);
  EXPECT_TRUE(damaged->save_state() == clean->save_state());
}

SADDLESCOPE_ON_EVERY_BACKEND(BackendSavedStateRefused, ());

class BackendStateSchema : public OnBackend<> {};

// Both backends save one schema (ensemble_state.hpp): a device ensemble's
// state loads into a CPU ensemble of the same spec, which saves the same
// bytes again and runs on from it to the end.
TEST_P(BackendStateSchema, DeviceStateLoadsIntoTheCpuEnsemble) {
  const SavedCase c = saved_cases()[1];  // perturbed-gd on the deep linear network
  const EnsembleSpec spec = saved_spec(c, Precision::f64);
  auto a = backend().make_ensemble(spec);
  a->set_starts(saved_starts(c, spec, 64));
  iterate_range(*a, 0, 20);
  const std::vector<std::uint8_t> state = a->save_state();
  auto cpu = make_cpu_backend()->make_ensemble(spec);
  cpu->set_starts(saved_starts(c, spec, 65));
  cpu->load_state(state);
  EXPECT_TRUE(cpu->save_state() == state);
  iterate_range(*cpu, 21, spec.stop.max_steps);
  EXPECT_EQ(cpu->running(), 0);
}

SADDLESCOPE_ON_DEVICE_BACKENDS(BackendStateSchema, ());

}  // namespace
