// Checkpoint and resume: the checkpoint file round-trips and refuses damaged
// input; a run stopped (as by SIGINT) at several points - inside a chunk,
// between chunks, between optimizers, before the census - and resumed
// produces results identical, bit for bit, to an uninterrupted run, and the
// same files apart from timings.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "forwarding_backend.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"
#include "src/core/checkpoint.hpp"

using namespace saddlescope;
namespace fs = std::filesystem;

namespace {

// Four optimizers of every ensemble kind (fused, noisy, host-driven), two
// chunks each, plateaus, a target and a census of stops and plateau points.
const char* kExperiment = R"(name = "resume"
seed = 9
[objective]
kind = "deep-linear"
widths = [3, 3, 3]
samples = 20
[init]
kind = "gaussian"
scale = 0.05
[run]
trajectories = 12
chunk_size = 6
max_steps = 500
precision = "f64"
record_every = 5
record_trajectories = 10
target_loss = 0.05
save_final_points = true
[plateau]
grad_threshold = 0.02
min_steps = 5
[[optimizer]]
kind = "adam"
lr = 0.005
[[optimizer]]
kind = "perturbed-gd"
lr = 0.05
g_thres = 0.02
t_thres = 10
[[optimizer]]
kind = "langevin"
lr = 0.05
temperature = 1e-6
[[optimizer]]
kind = "annealing"
temperature = 0.01
step_size = 0.02
[analysis]
points = ["stops", "plateaus"]
max_points = 40
)";

// Bitwise equality (NaN marks "none" in several arrays).
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

void expect_same(const RunResult& a, const RunResult& b) {
  ASSERT_EQ(a.optimizers.size(), b.optimizers.size());
  for (std::size_t o = 0; o < a.optimizers.size(); ++o) {
    SCOPED_TRACE(a.optimizers[o].label);
    const auto &x = a.optimizers[o].traj, &y = b.optimizers[o].traj;
    EXPECT_EQ(x.outcome, y.outcome);
    EXPECT_EQ(x.steps, y.steps);
    EXPECT_EQ(x.f_init, y.f_init);
    EXPECT_EQ(x.f_final, y.f_final);
    EXPECT_EQ(x.gnorm_final, y.gnorm_final);
    EXPECT_EQ(x.finals, y.finals);
    EXPECT_EQ(x.plateau_count, y.plateau_count);
    EXPECT_EQ(x.plateau_steps, y.plateau_steps);
    EXPECT_EQ(x.first_escape_step, y.first_escape_step);
    EXPECT_EQ(x.plateau_step, y.plateau_step);
    EXPECT_EQ(x.target_step, y.target_step);
    EXPECT_TRUE(same_bits(x.plateau_points, y.plateau_points));
    EXPECT_TRUE(same_bits(x.plateau_f, y.plateau_f));
    EXPECT_EQ(a.optimizers[o].trajectory_steps, b.optimizers[o].trajectory_steps);
    EXPECT_TRUE(same_bits(x.curves, y.curves));
  }
  ASSERT_EQ(a.census.points.size(), b.census.points.size());
  for (std::size_t p = 0; p < a.census.points.size(); ++p) {
    EXPECT_EQ(a.census.points[p].inertia.index, b.census.points[p].inertia.index);
    EXPECT_EQ(a.census.points[p].f, b.census.points[p].f);
  }
  EXPECT_EQ(a.census.spectra, b.census.spectra);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// summary.json without the wall-clock fields.
nlohmann::json timeless(const fs::path& p) {
  auto j = nlohmann::json::parse(slurp(p));
  j.erase("timings");
  j["memory_plan"].erase("budget_bytes");  // the free memory of the moment
  j["census"].erase("seconds");
  for (auto& o : j["optimizers"]) {
    o.erase("seconds");
    o.erase("trajectory_steps_per_second");
    o["comparison"].erase("seconds_to_target");
  }
  return j;
}

struct Stop {
  std::size_t optimizer;
  std::int64_t chunk, step;
  const char* what;
};

class Resume : public ::testing::TestWithParam<Stop> {};

TEST_P(Resume, GivesTheUninterruptedResults) {
  const Stop at = GetParam();
  SCOPED_TRACE(at.what);
  const Experiment e = parse_experiment(kExperiment, "t");
  auto cpu = make_cpu_backend();
  const RunResult whole = run_experiment(e, *cpu, nullptr);

  const fs::path dir = fs::temp_directory_path() / ("saddlescope_resume_" + std::string(at.what) +
                                                    "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  prepare_run_dir(dir.string(), e);
  volatile std::sig_atomic_t stop = 0;
  Checkpointing cp;
  cp.path = (dir / "checkpoint.bin").string();
  cp.every_seconds = 1e9;  // only the forced checkpoints
  cp.stop = &stop;
  const ProgressFn trip = [&](std::size_t oi, std::int64_t t, std::int64_t, std::int64_t c,
                              std::int64_t) {
    if (oi == at.optimizer && c == at.chunk && t >= at.step) stop = 1;
  };
  EXPECT_THROW(run_experiment(e, *cpu, trip, &cp), Interrupted);
  ASSERT_TRUE(fs::exists(cp.path));
  stop = 0;
  cp.resume = true;
  const RunResult resumed = run_experiment(e, *cpu, nullptr, &cp);
  expect_same(whole, resumed);

  // Files: identical apart from timings; the checkpoint is gone.
  write_results(dir.string(), e, resumed);
  EXPECT_FALSE(fs::exists(cp.path));
  const fs::path ref = fs::temp_directory_path() / ("saddlescope_whole_" + std::string(at.what) +
                                                    "_" + std::to_string(::getpid()));
  fs::remove_all(ref);
  prepare_run_dir(ref.string(), e);
  write_results(ref.string(), e, whole);
  for (const char* f : {"config.toml", "trajectories.csv", "curves.npy", "finals.npy", "points.csv",
                        "spectra.npy", "density.csv"})
    EXPECT_EQ(slurp(dir / f), slurp(ref / f)) << f;
  EXPECT_EQ(timeless(dir / "summary.json"), timeless(ref / "summary.json"));
  fs::remove_all(dir);
  fs::remove_all(ref);
}

INSTANTIATE_TEST_SUITE_P(AtSeveralPoints, Resume,
                         ::testing::Values(Stop{0, 0, 63, "inside_first_chunk"},
                                           Stop{1, 1, 95, "inside_second_chunk"},
                                           Stop{2, 0, 500, "between_chunks"},
                                           Stop{3, 0, 127, "host_driven"},
                                           Stop{3, 1, 500, "before_census"}),
                         [](const auto& info) { return std::string(info.param.what); });

// A CPU backend that raises the stop flag at its n-th dense Hessian: a stop
// inside the finder (Newton steps and polishing take Hessians) or inside the
// census's Hessian groups, wherever the count falls.
class TripAtHessian : public saddlescope::testing::ForwardingBackend {
 public:
  TripAtHessian(std::int64_t at, volatile std::sig_atomic_t* stop) : at_(at), stop_(stop) {}
  std::unique_ptr<PreparedObjective> prepare(const ObjectiveData& o, Precision p) override {
    return std::make_unique<Counting>(*this, ForwardingBackend::prepare(o, p));
  }
  std::int64_t calls() const { return calls_; }

 private:
  // Counts dense Hessians, whether a caller takes them or their spectra.
  class Counting final : public saddlescope::testing::ForwardingPrepared {
   public:
    Counting(TripAtHessian& owner, std::unique_ptr<PreparedObjective> inner)
        : ForwardingPrepared(std::move(inner)), owner_(owner) {}
    std::vector<double> hessian(const ResidentRows& x) override {
      owner_.count();
      return ForwardingPrepared::hessian(x);
    }
    EighResult hessian_eigh(const ResidentRows& x, bool vectors) override {
      owner_.count();
      return ForwardingPrepared::hessian_eigh(x, vectors);
    }

   private:
    TripAtHessian& owner_;
  };
  void count() {
    if (++calls_ == at_) *stop_ = 1;
  }
  std::int64_t at_, calls_ = 0;
  volatile std::sig_atomic_t* stop_;
};

// Stops of gd and a newton finder (600 starts) on a 3-D Gaussian random
// field, whose Hessians are dense (a separable objective's census takes
// bands on the host, without the backend's Hessians: docs/experiment.md,
// structured Hessians); the census analyses the groups of 64 points one
// after another.
const char* kCensusExperiment = R"(name = "resume-census"
seed = 2
[objective]
kind = "gaussian-field"
dim = 3
features = 64
mu = 0.1
[init]
kind = "uniform"
scale = 2.5
[run]
trajectories = 200
max_steps = 2000
precision = "f64"
[[optimizer]]
kind = "gd"
lr = 0.05
[analysis]
points = ["stops", "critical"]
max_points = 200
[finder]
kind = "newton"
starts = 600
max_steps = 100
[finder.init]
kind = "uniform"
scale = 3
)";

TEST(Checkpoint, CensusAndFinderResumeGiveTheUninterruptedResults) {
  const Experiment e = parse_experiment(kCensusExperiment, "t");
  volatile std::sig_atomic_t never = 0;
  TripAtHessian counting(-1, &never);
  const RunResult whole = run_experiment(e, counting, nullptr);
  const std::int64_t hessians = counting.calls();
  // The census takes the last Hessian calls, one per group of 64 points.
  const auto groups = static_cast<std::int64_t>((whole.census.points.size() + 63) / 64);
  ASSERT_GE(groups, 4);
  ASSERT_GT(hessians - groups, 10);
  const fs::path ref =
      fs::temp_directory_path() / ("saddlescope_census_whole_" + std::to_string(::getpid()));
  fs::remove_all(ref);
  prepare_run_dir(ref.string(), e);
  write_results(ref.string(), e, whole);
  // Stops in the finder's first steps, late in it, and in the census's
  // Hessian groups (the last calls; a stop raised during the last group has
  // nothing left to interrupt, one during the finder's last call is seen by
  // the census).
  for (const std::int64_t at : {std::int64_t{2}, std::int64_t{6}, hessians - groups - 2,
                                hessians - groups + 1, hessians - 2}) {
    SCOPED_TRACE("stop at Hessian call " + std::to_string(at));
    const fs::path dir =
        fs::temp_directory_path() /
        ("saddlescope_census_resume_" + std::to_string(at) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    prepare_run_dir(dir.string(), e);
    volatile std::sig_atomic_t stop = 0;
    TripAtHessian trip(at, &stop);
    Checkpointing cp;
    cp.path = (dir / "checkpoint.bin").string();
    cp.every_seconds = 1e9;  // only the forced checkpoints
    cp.stop = &stop;
    EXPECT_THROW(run_experiment(e, trip, nullptr, &cp), Interrupted);
    ASSERT_TRUE(fs::exists(cp.path));
    // The checkpoint holds the census's own state: the finder's (phase 0)
    // for the early stops, the Hessian groups' (phase 1) for the late ones.
    const ckpt::State st = ckpt::load(cp.path);
    ASSERT_GE(st.census.size(), 8u);
    std::uint64_t phase = 9;
    std::memcpy(&phase, st.census.data(), 8);
    EXPECT_EQ(phase, at < hessians - groups ? 0u : 1u);
    stop = 0;
    cp.resume = true;
    auto cpu = make_cpu_backend();
    const RunResult resumed = run_experiment(e, *cpu, nullptr, &cp);
    expect_same(whole, resumed);
    EXPECT_EQ(whole.census.finder.outcome, resumed.census.finder.outcome);
    EXPECT_EQ(whole.census.finder.steps, resumed.census.finder.steps);
    write_results(dir.string(), e, resumed);
    for (const char* f : {"points.csv", "distinct.csv", "finder.csv", "spectra.npy"})
      EXPECT_EQ(slurp(dir / f), slurp(ref / f)) << f;
    auto a = timeless(dir / "summary.json"), b = timeless(ref / "summary.json");
    a["census"]["finder"].erase("seconds");
    b["census"]["finder"].erase("seconds");
    EXPECT_EQ(a, b);
    fs::remove_all(dir);
  }
  fs::remove_all(ref);
}

TEST(Checkpoint, DamagedFilesAreRefusedClearly) {
  const fs::path dir =
      fs::temp_directory_path() / ("saddlescope_ckpt_damaged_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "checkpoint.bin").string();
  try {
    ckpt::load(path);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no checkpoint"), std::string::npos);
  }
  ckpt::State s;
  s.config = "x";
  s.backend = "cpu";
  s.done.emplace_back();
  s.done.back().traj.f_final = {1.0, 2.0};
  ckpt::save(path, s);
  const ckpt::State back = ckpt::load(path);
  EXPECT_EQ(back.done.at(0).traj.f_final, s.done[0].traj.f_final);
  std::string bytes = slurp(path);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 5);
  EXPECT_THROW(ckpt::load(path), InputError);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "not a checkpoint at all";
  EXPECT_THROW(ckpt::load(path), InputError);
  fs::remove_all(dir);
}

TEST(Checkpoint, ResumeRefusesAnotherExperiment) {
  const fs::path dir =
      fs::temp_directory_path() / ("saddlescope_ckpt_other_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const Experiment e = parse_experiment(kExperiment, "t");
  prepare_run_dir(dir.string(), e);
  auto cpu = make_cpu_backend();
  volatile std::sig_atomic_t stop = 1;
  Checkpointing cp;
  cp.path = (dir / "checkpoint.bin").string();
  cp.stop = &stop;
  EXPECT_THROW(run_experiment(e, *cpu, nullptr, &cp), Interrupted);
  std::string other = kExperiment;
  other.replace(other.find("seed = 9"), 8, "seed = 8");
  cp.resume = true;
  stop = 0;
  try {
    run_experiment(parse_experiment(other, "t"), *cpu, nullptr, &cp);
    FAIL();
  } catch (const InputError& err) {
    EXPECT_NE(std::string(err.what()).find("different experiment"), std::string::npos);
  }
  fs::remove_all(dir);
}

}  // namespace
