// The ensemble engine: starts depend only on (seed, trajectory index), so
// results do not depend on chunking; the same experiment and seed give
// identical files; init kinds and start files behave as documented; a
// diverging trajectory is frozen while the others go on.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "saddlescope/errors.hpp"
#include "saddlescope/experiment.hpp"
#include "saddlescope/run.hpp"
#include "src/core/npy.hpp"

using namespace saddlescope;
namespace fs = std::filesystem;

namespace {

const std::string kBase =
    "name = \"engine\"\nseed = 7\n[objective]\nkind = \"styblinski-tang\"\ndim = 33\n"
    "[init]\nkind = \"gaussian\"\nscale = 2.0\n"
    "[run]\ntrajectories = 41\nmax_steps = 300\nrecord_every = 7\nrecord_trajectories = 13\n"
    "save_final_points = true\n"
    "[[optimizer]]\nkind = \"gd\"\nlr = 0.01\n"
    "[[optimizer]]\nkind = \"adam\"\nlr = 0.05\n";

RunResult run(const std::string& toml, const std::vector<std::string>& sets = {}) {
  const Experiment e = parse_experiment(toml, "engine.toml", sets);
  auto cpu = make_cpu_backend();
  return run_experiment(e, *cpu);
}

TEST(Engine, StartsDependOnlyOnTrajectoryIndex) {
  for (const char* kind : {"gaussian", "uniform", "sphere"}) {
    SCOPED_TRACE(kind);
    const Experiment e = parse_experiment(kBase, "t", {std::string("init.kind=") + kind});
    const auto all = make_starts(e, 0, 41);
    const auto part = make_starts(e, 17, 9);
    for (std::size_t k = 0; k < part.size(); ++k) ASSERT_EQ(part[k], all[17 * 33 + k]);
  }
}

TEST(Engine, InitKindsHaveTheirDistribution) {
  const std::int64_t n = 33, b = 2000;
  auto e = parse_experiment(kBase, "t",
                            {"init.kind=uniform", "init.scale=1.5", "run.trajectories=2000"});
  auto x = make_starts(e, 0, b);
  double mean = 0, var = 0;
  for (double v : x) {
    ASSERT_LE(std::fabs(v), 1.5);
    mean += v;
  }
  mean /= static_cast<double>(x.size());
  for (double v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(x.size());
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(var, 1.5 * 1.5 / 3.0, 0.01);  // uniform on [-a, a]: a^2 / 3

  e = parse_experiment(kBase, "t",
                       {"init.kind=gaussian", "init.scale=2.0", "run.trajectories=2000"});
  x = make_starts(e, 0, b);
  mean = var = 0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  for (double v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(x.size());
  EXPECT_NEAR(mean, 0.0, 0.02);
  EXPECT_NEAR(var, 4.0, 0.05);

  e = parse_experiment(kBase, "t", {"init.kind=sphere", "init.scale=0.5"});
  x = make_starts(e, 0, 41);
  for (std::int64_t t = 0; t < 41; ++t) {
    double r2 = 0;
    for (std::int64_t i = 0; i < n; ++i) r2 += x[t * n + i] * x[t * n + i];
    EXPECT_NEAR(std::sqrt(r2), 0.5 * std::sqrt(33.0), 1e-12);
  }
}

TEST(Engine, ChunkingDoesNotChangeResults) {
  const RunResult whole = run(kBase);
  const RunResult chunked = run(kBase, {"run.chunk_size=6"});
  EXPECT_EQ(chunked.plan.chunks, 7);
  for (std::size_t o = 0; o < whole.optimizers.size(); ++o) {
    const auto& a = whole.optimizers[o].traj;
    const auto& b = chunked.optimizers[o].traj;
    EXPECT_EQ(a.outcome, b.outcome);
    EXPECT_EQ(a.steps, b.steps);
    EXPECT_EQ(a.f_final, b.f_final);
    EXPECT_EQ(a.finals, b.finals);
    ASSERT_EQ(a.curves.size(), b.curves.size());
    for (std::size_t k = 0; k < a.curves.size(); ++k)
      ASSERT_TRUE(a.curves[k] == b.curves[k] ||
                  (std::isnan(a.curves[k]) && std::isnan(b.curves[k])));
  }
}

// The coupled objectives (GEMMs and network passes over all running rows):
// a trajectory's bits do not depend on the chunk, nor on which other rows
// are still running (active-set compaction packs the running rows once one
// has stopped), in both precisions. Chunks of 1 run every trajectory alone.
TEST(Engine, CoupledObjectivesDoNotDependOnChunkingOrCompaction) {
  const char* objectives[] = {
      "kind = \"gaussian-field\"\ndim = 7\nfeatures = 40\nmu = 0.2",
      "kind = \"quadratic\"\ndim = 9\neigenvalues = [0.3, 0.5, 0.7, 1, 1.2, 1.5, 1.7, 2, "
      "2.5]\nrotate = true",
      "kind = \"p-spin\"\ndim = 6\np = 2",
      "kind = \"p-spin\"\ndim = 5\np = 3",
      "kind = \"mlp\"\ninputs = 3\nhidden = 4\nsamples = 10",
      "kind = \"deep-linear\"\nwidths = [3, 4, 2]\nsamples = 12"};
  for (const char* objective : objectives) {
    for (const char* precision : {"f32", "f64"}) {
      SCOPED_TRACE(std::string(objective) + " " + precision);
      const std::string toml =
          std::string("seed = 3\n[objective]\n") + objective +
          "\n[init]\nkind = \"gaussian\"\nscale = 0.7\n[run]\ntrajectories = 37\nmax_steps = 120\n"
          "record_every = 3\nrecord_trajectories = 37\nsave_final_points = true\n"
          "grad_tol = 0.05\nprecision = \"" +
          precision + "\"\n[[optimizer]]\nkind = \"adam\"\nlr = 0.05\n";
      const RunResult whole = run(toml);
      const auto& a = whole.optimizers[0].traj;
      // Trajectories stop at different steps: compaction happens in the whole run.
      EXPECT_LT(*std::min_element(a.steps.begin(), a.steps.end()),
                *std::max_element(a.steps.begin(), a.steps.end()));
      for (const char* chunk : {"run.chunk_size=6", "run.chunk_size=1"}) {
        SCOPED_TRACE(chunk);
        const RunResult chunked = run(toml, {chunk});
        const auto& b = chunked.optimizers[0].traj;
        EXPECT_EQ(a.outcome, b.outcome);
        EXPECT_EQ(a.steps, b.steps);
        EXPECT_EQ(a.f_final, b.f_final);
        EXPECT_EQ(a.finals, b.finals);
        ASSERT_EQ(a.curves.size(), b.curves.size());
        for (std::size_t k = 0; k < a.curves.size(); ++k)
          ASSERT_TRUE(a.curves[k] == b.curves[k] ||
                      (std::isnan(a.curves[k]) && std::isnan(b.curves[k])))
              << "curve value " << k;
      }
    }
  }
}

// The same at sizes where the CPU's GEMMs are threaded (src/cpu/objectives.cpp,
// `gemm`): the threads split the rows of C by tiles when it has more rows
// than columns, else its columns by blocks of 64; 300 trajectories against
// 256 features and 2,000 coordinates take both splits in one step, chunks
// of 40 only the column split, and one thread neither. Every trajectory must
// come out with the same bits.
TEST(Engine, GemmObjectivesDoNotDependOnChunkingOrThreadsAtScale) {
  const char* objectives[] = {"kind = \"gaussian-field\"\ndim = 2000\nfeatures = 256\nmu = 0.2",
                              "kind = \"quadratic\"\ndim = 400\nrotate = true"};
  for (const char* objective : objectives) {
    for (const char* precision : {"f32", "f64"}) {
      SCOPED_TRACE(std::string(objective) + " " + precision);
      const std::string toml =
          std::string("seed = 3\n[objective]\n") + objective +
          "\n[init]\nkind = \"gaussian\"\nscale = 0.7\n[run]\ntrajectories = 300\n"
          "max_steps = 12\nrecord_every = 3\nrecord_trajectories = 5\nsave_final_points = true\n"
          "grad_tol = 0\nprecision = \"" +
          precision + "\"\n[[optimizer]]\nkind = \"adam\"\nlr = 0.05\n";
      const RunResult whole = run(toml);
      const auto& a = whole.optimizers[0].traj;
      const int threads = omp_get_max_threads();
      for (int variant = 0; variant < 2; ++variant) {
        SCOPED_TRACE(variant == 0 ? "chunks of 40" : "one thread");
        if (variant == 1) omp_set_num_threads(1);
        const RunResult other = variant == 0 ? run(toml, {"run.chunk_size=40"}) : run(toml);
        omp_set_num_threads(threads);
        const auto& b = other.optimizers[0].traj;
        EXPECT_EQ(a.f_final, b.f_final);
        EXPECT_EQ(a.finals, b.finals);
        EXPECT_EQ(a.curves, b.curves);
      }
    }
  }
}

TEST(Engine, CoupledObjectivesFollowTheirGradients) {
  // The fused pass of GEMM objectives (rotated quadratic, gaussian-field):
  // the recorded path must be x_{k+1} = x_k - lr grad f(x_k) with grad f and f
  // from the backend's batched evaluation, and the curves must carry f(x_k).
  for (const char* objective : {"kind = \"gaussian-field\"\ndim = 3\nfeatures = 50\nmu = 0.2",
                                "kind = \"quadratic\"\ndim = 3\nnegative = 1\nrotate = true"}) {
    SCOPED_TRACE(objective);
    const Experiment e = parse_experiment(
        std::string("seed = 4\n[objective]\n") + objective +
            "\n[init]\nkind = \"point\"\npoint = [0.3, -0.2, 0.5]\n[run]\ntrajectories = 1\n"
            "max_steps = 40\nrecord_every = 1\ngrad_tol = 0\nprecision = \"f64\"\n"
            "[[optimizer]]\nkind = \"gd\"\nlr = 0.05\n",
        "t");
    auto cpu = make_cpu_backend();
    const RunResult r = run_experiment(e, *cpu);
    const ObjectiveData d = build_objective(e);
    std::vector<double> x = {0.3, -0.2, 0.5};
    const auto& t = r.optimizers[0].traj;
    for (int k = 0; k <= 40; ++k) {
      for (int i = 0; i < 3; ++i) ASSERT_NEAR(t.paths[k * 3 + i], x[i], 1e-12) << "step " << k;
      const ObjectiveEval ev = cpu->value_grad(d, Precision::f64, 1, x);
      EXPECT_NEAR(t.curves[k * 2], ev.f[0], 1e-6 * (1 + std::fabs(ev.f[0]))) << "step " << k;
      for (int i = 0; i < 3; ++i) x[i] -= 0.05 * ev.g[i];
    }
  }
}

TEST(Engine, OptimizersShareTheirStarts) {
  const RunResult r = run(kBase);
  EXPECT_EQ(r.optimizers[0].traj.f_init, r.optimizers[1].traj.f_init);
}

TEST(Engine, DivergingTrajectoryIsFrozenOthersGoOn) {
  // gd on lambda x^2 / 2 diverges iff lr * lambda > 2. With eigenvalues [1, 5] and lr 0.5
  // the first direction contracts (factor 0.5) and the second grows (factor -1.5); starts
  // (from a file) with y = 0 never excite it, the start with y = 1e-3 does.
  const fs::path dir =
      fs::temp_directory_path() / ("saddlescope_engine_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  npy::write_f64((dir / "starts.npy").string(), {3, 2}, {1.0, 0.0, 1.0, 1e-3, -2.0, 0.0});
  const std::string toml =
      "[objective]\nkind = \"quadratic\"\neigenvalues = [1.0, 5.0]\n[init]\nkind = \"file\"\n"
      "file = \"starts.npy\"\n[run]\ntrajectories = 3\nmax_steps = 500\nprecision = \"f64\"\n"
      "save_final_points = true\n[[optimizer]]\nkind = \"gd\"\nlr = 0.5\n";
  std::ofstream(dir / "e.toml") << toml;
  const Experiment e = load_experiment((dir / "e.toml").string());
  auto cpu = make_cpu_backend();
  const RunResult r = run_experiment(e, *cpu);
  const auto& t = r.optimizers[0].traj;
  EXPECT_EQ(t.outcome[0], kConverged);
  EXPECT_EQ(t.outcome[1], kDiverged);
  EXPECT_EQ(t.outcome[2], kConverged);
  // x_k = 0.5^k x_0 along the stable direction: |grad| = 0.5^k |x0| <= 1e-6.
  EXPECT_EQ(t.steps[0], static_cast<std::int64_t>(std::ceil(std::log(1e-6) / std::log(0.5))));
  EXPECT_EQ(t.steps[2], static_cast<std::int64_t>(std::ceil(std::log(0.5e-6) / std::log(0.5))));
  // The diverged one stopped when |f| or |x| passed 1e10: y_k = 1e-3 (-1.5)^k.
  EXPECT_GT(std::fabs(t.finals[3]), 1e4);
  // Wrong shape is refused before anything runs.
  npy::write_f64((dir / "starts.npy").string(), {2, 2}, {1.0, 0.0, 1.0, 0.0});
  EXPECT_THROW(run_experiment(load_experiment((dir / "e.toml").string()), *cpu), InputError);
  fs::remove_all(dir);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Engine, SameExperimentSameFiles) {
  const fs::path dir =
      fs::temp_directory_path() / ("saddlescope_det_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "e.toml") << kBase;
  for (const char* out : {"a", "b"}) {
    const std::string cmd = std::string(SADDLESCOPE_BINARY) + " run " + (dir / "e.toml").string() +
                            " --backend cpu -o " + (dir / out).string() + " > /dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  // The resolved config.toml is itself an experiment that repeats the run.
  const std::string again = std::string(SADDLESCOPE_BINARY) + " run " +
                            (dir / "a" / "config.toml").string() + " -o " + (dir / "c").string() +
                            " > /dev/null 2>&1";
  ASSERT_EQ(std::system(again.c_str()), 0);
  for (const char* f : {"config.toml", "trajectories.csv", "curves.npy", "finals.npy"}) {
    SCOPED_TRACE(f);
    const std::string a = slurp(dir / "a" / f), b = slurp(dir / "b" / f);
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a, b);
    EXPECT_EQ(a, slurp(dir / "c" / f));
  }
  // curves.npy has the documented shape [optimizers, record_trajectories, records, 2].
  const npy::Array c = npy::read((dir / "a" / "curves.npy").string());
  EXPECT_EQ(c.shape, (std::vector<std::int64_t>{2, 13, 300 / 7 + 1, 2}));
  EXPECT_EQ(c.dtype, "<f4");
  const npy::Array fin = npy::read((dir / "a" / "finals.npy").string());
  EXPECT_EQ(fin.shape, (std::vector<std::int64_t>{2, 41, 33}));
  // No temporary files are left behind.
  for (const auto& entry : fs::directory_iterator(dir / "a"))
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
  fs::remove_all(dir);
}

}  // namespace
