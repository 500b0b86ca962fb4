// The experiment file and the command line: bad input is refused with exit 2
// (3 for memory) and a message naming the problem; resolved configs round-trip.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "saddlescope/errors.hpp"
#include "saddlescope/experiment.hpp"
#include "src/core/config.hpp"
#include "src/core/npy.hpp"

using namespace saddlescope;
namespace fs = std::filesystem;

namespace {

const std::string kGood =
    "name = \"t\"\nseed = 1\n[objective]\nkind = \"double-well\"\ndim = 4\n"
    "[run]\ntrajectories = 8\nmax_steps = 100\n[[optimizer]]\nkind = \"adam\"\nlr = 0.01\n";

struct Bad {
  const char* name;
  std::string toml;
  std::vector<std::string> sets;
  std::vector<std::string> fragments;  // all must appear in the message
};

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  return s.replace(p, from.size(), to);
}

std::vector<Bad> bad_cases() {
  return {
      {"malformed_toml", "[objective\nkind = 1", {}, {"test.toml:1:", "malformed TOML"}},
      {"unknown_key_suggests",
       replace(kGood, "max_steps", "max_stepz"),
       {},
       {"run.max_stepz", "did you mean 'max_steps'"}},
      {"unknown_section",
       kGood + "[runn]\nx = 1\n",
       {},
       {"unknown key 'runn'", "did you mean 'run'"}},
      {"wrong_type",
       replace(kGood, "trajectories = 8", "trajectories = \"eight\""),
       {},
       {"run.trajectories", "must be an integer"}},
      {"out_of_range",
       replace(kGood, "trajectories = 8", "trajectories = 0"),
       {},
       {"run.trajectories", "out of range", "1 to"}},
      {"negative_lr",
       replace(kGood, "lr = 0.01", "lr = -1"),
       {},
       {"optimizer[0].lr", "out of range"}},
      {"unknown_objective",
       replace(kGood, "double-well", "double-wel"),
       {},
       {"objective.kind", "did you mean \"double-well\""}},
      {"pspin_order",
       replace(kGood, "kind = \"double-well\"", "kind = \"p-spin\"\np = 4"),
       {},
       {"objective.p", "out of range", "2 to 3"}},
      {"pspin_dim_one",
       replace(replace(kGood, "double-well", "p-spin"), "dim = 4", "dim = 1"),
       {},
       {"objective.dim", "out of range", "2 to"}},
      {"p_on_other_kind",
       replace(kGood, "dim = 4", "dim = 4\np = 3"),
       {},
       {"objective.p", "only to kind = \"p-spin\""}},
      {"tf32_on_separable_kind",
       replace(kGood, "dim = 4", "dim = 4\ntf32 = true"),
       {},
       {"objective.tf32", "GEMM-based"}},
      {"tf32_with_f64",
       replace(replace(kGood, "double-well", "p-spin"), "dim = 4", "dim = 4\ntf32 = true"),
       {"run.precision=\"f64\""},
       {"objective.tf32", "run.precision = \"f32\""}},
      {"sfn_too_large",
       replace(replace(kGood, "dim = 4", "dim = 5000"), "kind = \"adam\"",
               "kind = \"saddle-free-newton\""),
       {},
       {"saddle-free-newton", "objective.dim <= 4096"}},
      {"lr_on_annealing",
       replace(kGood, "kind = \"adam\"", "kind = \"annealing\""),
       {},
       {"optimizer[0].lr", "valid keys"}},
      {"langevin_decay_zero",
       replace(kGood, "kind = \"adam\"", "kind = \"langevin\"\ntemperature_decay = 0"),
       {},
       {"optimizer[0].temperature_decay", "out of range"}},
      {"radius_on_gd",
       replace(kGood, "kind = \"adam\"", "kind = \"gd\"\nradius = 0.1"),
       {},
       {"optimizer[0].radius", "valid keys"}},
      {"unknown_optimizer",
       replace(kGood, "\"adam\"", "\"adamax\""),
       {},
       {"optimizer[0].kind", "gd, momentum"}},
      {"missing_dim", replace(kGood, "dim = 4\n", ""), {}, {"needs dim"}},
      {"missing_objective", "[[optimizer]]\nkind = \"gd\"\n", {}, {"missing [objective]"}},
      {"missing_optimizer",
       "[objective]\nkind = \"double-well\"\ndim = 2\n",
       {},
       {"missing [[optimizer]]"}},
      {"analysis_critical_without_finder",
       kGood + "[analysis]\npoints = [\"critical\"]\n",
       {},
       {"analysis", "needs a [finder]"}},
      {"analysis_bad_method",
       kGood + "[analysis]\nmethod = \"arnoldi\"\n",
       {},
       {"analysis.method", "eigh, inertia, lanczos, slq, none"}},
      {"analysis_krylov_key_elsewhere",
       kGood + "[analysis]\nmethod = \"eigh\"\nprobes = 4\n",
       {},
       {"analysis.probes", "applies to analysis.method = \"slq\""}},
      {"run_sharpness_not_recorded",
       kGood,
       {"run.sharpness_every=25"},
       {"run.sharpness_every", "multiple of run.record_every (10)"}},
      {"analysis_bad_k", kGood + "[analysis]\nmethod = \"lanczos\"\nk = 0\n", {}, {"analysis.k"}},
      {"analysis_bad_lanczos_steps",
       kGood + "[analysis]\nmethod = \"slq\"\nlanczos_steps = 0\n",
       {},
       {"analysis.lanczos_steps"}},
      {"analysis_unknown_key",
       kGood + "[analysis]\nmax_point = 3\n",
       {},
       {"analysis.max_point", "did you mean 'max_points'"}},
      {"finder_without_critical",
       kGood + "[finder]\nkind = \"newton\"\n",
       {},
       {"finder", "add \"critical\" to analysis.points"}},
      {"non_ascii_outside_string",
       kGood + "[plateau]\nmin_steps = 5\xc2\xa0\n",
       {},
       {"test.toml:13", "non-ASCII character"}},
      {"non_ascii_set_value",
       kGood,
       {"run.precision=f\xc3\xa9"
        "6"},
       {"--set", "non-ASCII character"}},
      {"plateau_min_steps",
       kGood + "[plateau]\nmin_steps = 0\n",
       {},
       {"plateau.min_steps", "out of range", "1 to"}},
      {"plateau_threshold_zero",
       kGood + "[plateau]\ngrad_threshold = 0\n",
       {},
       {"plateau.grad_threshold", "out of range"}},
      {"plateau_unknown_key",
       kGood + "[plateau]\nmin_step = 5\n",
       {},
       {"plateau.min_step", "did you mean 'min_steps'"}},
      {"key_of_other_optimizer",
       replace(kGood, "lr = 0.01", "lr = 0.01\nmomentum = 0.9"),
       {},
       {"optimizer[0].momentum", "valid keys"}},
      {"eigenvalues_dim_mismatch",
       "[objective]\nkind = \"quadratic\"\ndim = 3\neigenvalues = [1, 2]\n[[optimizer]]\nkind = "
       "\"gd\"\n",
       {},
       {"objective.dim", "does not match the 2 eigenvalues"}},
      {"eigenvalues_for_double_well",
       replace(kGood, "dim = 4", "dim = 4\neigenvalues = [1.0]"),
       {},
       {"objective.eigenvalues", "only to kind = \"quadratic\""}},
      {"point_length",
       replace(kGood, "[run]", "[init]\nkind = \"point\"\npoint = [1, 2]\n[run]"),
       {},
       {"init.point", "has 2 values"}},
      {"nesterov_without_momentum",
       replace(kGood, "kind = \"adam\"\nlr = 0.01",
               "kind = \"momentum\"\nmomentum = 0\nnesterov = true"),
       {},
       {"nesterov", "momentum > 0"}},
      {"betas_out_of_range",
       replace(kGood, "lr = 0.01", "betas = [0.9, 1.5]"),
       {},
       {"betas", "[0, 1)"}},
      {"bad_precision",
       replace(kGood, "max_steps = 100", "max_steps = 100\nprecision = \"f16\""),
       {},
       {"run.precision", "f32, f64"}},
      {"record_trajectories_too_many",
       replace(kGood, "max_steps = 100", "max_steps = 100\nrecord_trajectories = 9"),
       {},
       {"run.record_trajectories", "out of range"}},
      {"target_loss_string",
       replace(kGood, "max_steps = 100", "max_steps = 100\ntarget_loss = \"low\""),
       {},
       {"run.target_loss", "must be a number"}},
      {"rosenbrock_dim_1",
       "[objective]\nkind = \"rosenbrock\"\ndim = 1\n[[optimizer]]\nkind = \"gd\"\n",
       {},
       {"objective.dim", "2 to"}},
      {"bad_name",
       replace(kGood, "name = \"t\"", "name = \"a/b\""),
       {},
       {"name", "letters, digits"}},
      {"set_without_equals", kGood, {"run.trajectories"}, {"--set", "section.key=value"}},
      {"set_bad_value",
       kGood,
       {"run.max_steps=abc"},
       {"--set", "run.max_steps", "must be an integer"}},
      {"set_unknown_key", kGood, {"run.trajectoriez=5"}, {"--set", "did you mean 'trajectories'"}},
      {"set_optimizer_index", kGood, {"optimizer.3.lr=0.1"}, {"optimizer index 3 is out of range"}},
      {"preset_with_curvature",
       "[objective]\nkind = \"saddle-2d\"\ncurvature = 5\n[[optimizer]]\nkind = \"gd\"\n",
       {},
       {"objective.curvature", "preset \"saddle-2d\""}},
      {"label_with_comma",
       replace(kGood, "lr = 0.01", "lr = 0.01\nlabel = \"a,b\""),
       {},
       {"optimizer[0].label", "commas"}},
      {"deep_linear_one_width",
       "[objective]\nkind = \"deep-linear\"\nwidths = [5]\n[[optimizer]]\nkind = \"gd\"\n",
       {},
       {"objective.widths", "at least 2"}},
      {"mlp_dim_mismatch",
       "[objective]\nkind = \"mlp\"\ndim = 10\n[[optimizer]]\nkind = \"gd\"\n",
       {},
       {"objective.dim", "19993"}},
      {"nan_learning_rate",
       replace(kGood, "lr = 0.01", "lr = nan"),
       {},
       {"optimizer[0].lr", "nan is not allowed"}},
  };
}

class BadExperiment : public ::testing::TestWithParam<int> {};

TEST_P(BadExperiment, IsRefusedWithAClearMessage) {
  const Bad c = bad_cases()[GetParam()];
  try {
    parse_experiment(c.toml, "test.toml", c.sets);
    FAIL() << "accepted: " << c.name;
  } catch (const InputError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    for (const auto& f : c.fragments)
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
          << "message lacks '" << f << "': " << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Campaign, BadExperiment,
                         ::testing::Range(0, static_cast<int>(bad_cases().size())),
                         [](const auto& info) {
                           return std::string(bad_cases()[info.param].name);
                         });

TEST(Experiment, DefaultsFollowTorch) {
  const Experiment e = parse_experiment(
      "[objective]\nkind = \"bowl-2d\"\n[[optimizer]]\nkind = \"adam\"\n[[optimizer]]\nkind = "
      "\"rmsprop\"\n[[optimizer]]\nkind = \"adagrad\"\n[[optimizer]]\nkind = \"momentum\"\n",
      "t");
  EXPECT_EQ(e.objective.dim, 2);
  EXPECT_EQ(e.objective.eigenvalues, (std::vector<double>{2.0, 2.0}));
  EXPECT_DOUBLE_EQ(e.optimizers[0].params.lr, 1e-3);
  EXPECT_DOUBLE_EQ(e.optimizers[0].params.beta2, 0.999);
  EXPECT_DOUBLE_EQ(e.optimizers[1].params.lr, 1e-2);
  EXPECT_DOUBLE_EQ(e.optimizers[1].params.alpha, 0.99);
  EXPECT_DOUBLE_EQ(e.optimizers[2].params.eps, 1e-10);
  EXPECT_DOUBLE_EQ(e.optimizers[3].params.momentum, 0.9);
  EXPECT_TRUE(e.run.record_paths) << "paths are recorded when dim <= 3";
  EXPECT_EQ(e.run.trajectories, 1024);
}

TEST(Experiment, ResolvedTomlRoundTrips) {
  const Experiment e = parse_experiment(
      kGood +
          "[[optimizer]]\nkind = \"momentum\"\nnesterov = true\n[[optimizer]]\nkind = "
          "\"momentum\"\nlr = 0.5\n",
      "t", {"optimizer.lr=0.25", "optimizer.1.lr=0.125", "run.precision=f64", "seed=9"});
  EXPECT_DOUBLE_EQ(e.optimizers[0].params.lr, 0.25);
  EXPECT_DOUBLE_EQ(e.optimizers[1].params.lr, 0.125);
  EXPECT_EQ(e.run.precision, Precision::f64);
  EXPECT_EQ(e.seed, 9u);
  const std::string text = to_toml(e);
  const Experiment again = parse_experiment(text, "config.toml");
  EXPECT_EQ(to_toml(again), text);
  EXPECT_EQ(again.optimizers[1].label, e.optimizers[1].label);
}

// The command line: exit codes and no run directory left behind on refusal.
int run_cli(const std::string& args, std::string* err = nullptr) {
  const std::string cmd = std::string(SADDLESCOPE_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  const int status = pclose(p);
  if (err) *err = out;
  return WEXITSTATUS(status);
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("saddlescope_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream(dir / "good.toml") << kGood;
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

TEST_F(Cli, ExitCodes) {
  std::string msg;
  EXPECT_EQ(run_cli("--version", &msg), 0);
  EXPECT_NE(msg.find("saddlescope"), std::string::npos);
  EXPECT_EQ(run_cli("list", &msg), 0);
  EXPECT_NE(msg.find("styblinski-tang"), std::string::npos);
  EXPECT_EQ(run_cli("frobnicate", &msg), 2);
  EXPECT_EQ(run_cli("run " + (dir / "missing.toml").string(), &msg), 2);
  EXPECT_NE(msg.find("no such experiment file"), std::string::npos) << msg;
  EXPECT_EQ(run_cli("run " + (dir / "good.toml").string() + " --backend gpu", &msg), 2);
  EXPECT_EQ(run_cli("validate " + (dir / "good.toml").string(), &msg), 0);
  EXPECT_NE(msg.find("memory plan"), std::string::npos) << msg;
  // Memory: a rotated quadratic whose dense matrix (4e5^2 doubles) fits no machine -> exit 3,
  // and no run directory is created.
  std::ofstream(dir / "huge.toml")
      << "[objective]\nkind = \"quadratic\"\ndim = 400000\nnegative = 1\nrotate = true\n"
         "[run]\nprecision = \"f64\"\n[[optimizer]]\nkind = \"gd\"\n";
  const fs::path out = dir / "huge";
  EXPECT_EQ(run_cli("run " + (dir / "huge.toml").string() + " -o " + out.string(), &msg), 3);
  EXPECT_NE(msg.find("memory plan"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(out));
  // An existing non-empty output directory is refused: results are never overwritten.
  fs::create_directories(dir / "full");
  std::ofstream(dir / "full" / "keep.txt") << "x";
  EXPECT_EQ(run_cli("run " + (dir / "good.toml").string() + " -o " + (dir / "full").string(), &msg),
            2);
  EXPECT_NE(msg.find("not empty"), std::string::npos) << msg;
  // A bad start file: wrong shape.
  std::ofstream(dir / "starts.npy") << "not numpy";
  std::ofstream(dir / "file.toml")
      << replace(kGood, "[run]", "[init]\nkind = \"file\"\nfile = \"starts.npy\"\n[run]");
  EXPECT_EQ(run_cli("run " + (dir / "file.toml").string() + " -o " + (dir / "f").string(), &msg),
            2);
  EXPECT_NE(msg.find("not a .npy file"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir / "f"));
  // A good run.
  EXPECT_EQ(run_cli("run " + (dir / "good.toml").string() + " -o " + (dir / "ok").string(), &msg),
            0)
      << msg;
  EXPECT_TRUE(fs::exists(dir / "ok" / "summary.json"));
}

}  // namespace

namespace {

TEST(FuzzRegressions, EveryCaseIsRefusedOrRoundTrips) {
  // Inputs found by tools/fuzz.sh: each must be refused with InputError or
  // accepted with a config.toml that parses back to itself.
  const fs::path dir = fs::path(SADDLESCOPE_TEST_DATA) / ".." / "fuzz" / "regressions";
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    SCOPED_TRACE(entry.path().filename().string());
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    ++cases;
    std::string resolved;
    try {
      resolved = to_toml(parse_experiment(ss.str(), "fuzz"));
    } catch (const InputError&) {
      continue;
    }
    EXPECT_EQ(to_toml(parse_experiment(resolved, "resolved")), resolved);
  }
  EXPECT_GE(cases, 3);
}

}  // namespace

namespace {

TEST(NonAscii, FirstNonAsciiLine) {
  using saddlescope::config::first_non_ascii_line;
  EXPECT_EQ(first_non_ascii_line("a = 1\n# plain\nb = \"x\"\n"), 0u);
  EXPECT_EQ(first_non_ascii_line("a = 1\n# \xce\xbb\n"), 2u);
  EXPECT_EQ(first_non_ascii_line("a = 1\nb = 2\nc = 1e-\xcb\x8f\n"), 3u);
}

}  // namespace

namespace {

// Runs the saddlescope binary in the background; returns its pid.
pid_t spawn_cli(const std::vector<std::string>& args) {
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    std::string bin = SADDLESCOPE_BINARY;
    argv.push_back(bin.data());
    std::vector<std::string> copy(args);
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    freopen("/dev/null", "w", stderr);
    freopen("/dev/null", "w", stdout);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

TEST(CliResume, InterruptedRunResumesToTheSameResults) {
  // SIGINT during a run: exit 1 with a checkpoint and no summary.json;
  // run --resume finishes it; its trajectories.csv equals an uninterrupted
  // run's. (The run lasts a few seconds; the signal comes 50 ms after its
  // run directory appears.)
  const fs::path dir =
      fs::temp_directory_path() / ("saddlescope_cli_resume_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path exp = dir / "e.toml";
  std::ofstream(exp) << "name = \"r\"\nseed = 3\n[objective]\nkind = \"styblinski-tang\"\n"
                        "dim = 1000\n[init]\nkind = \"uniform\"\nscale = 4\n[run]\n"
                        "trajectories = 32\nmax_steps = 3000\nprecision = \"f64\"\n"
                        "grad_tol = 1e-12\n[[optimizer]]\nkind = \"adam\"\nlr = 0.01\n"
                        "[[optimizer]]\nkind = \"gd\"\nlr = 0.005\n";
  const fs::path a = dir / "a", b = dir / "b";
  const pid_t pid = spawn_cli({"run", exp.string(), "-o", a.string(), "--backend", "cpu"});
  // Signal once the run directory exists (the handlers are installed by then),
  // however slow the machine is.
  for (int k = 0; k < 2000 && !fs::exists(a / "config.toml"); ++k) usleep(5000);
  usleep(50000);
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 1) << "the run must not have finished before the signal";
  EXPECT_TRUE(fs::exists(a / "checkpoint.bin"));
  EXPECT_FALSE(fs::exists(a / "summary.json"));
  std::string err;
  EXPECT_EQ(run_cli("run --resume " + a.string() + " -o " + b.string(), &err), 2) << err;
  EXPECT_EQ(run_cli("run --resume " + a.string() + " --backend cpu", &err), 0) << err;
  EXPECT_FALSE(fs::exists(a / "checkpoint.bin"));
  EXPECT_EQ(run_cli("run --resume " + a.string(), &err), 2);
  EXPECT_NE(err.find("the run finished"), std::string::npos) << err;
  EXPECT_EQ(run_cli("run " + exp.string() + " -o " + b.string() + " --backend cpu", &err), 0)
      << err;
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  EXPECT_EQ(slurp(a / "trajectories.csv"), slurp(b / "trajectories.csv"));
  EXPECT_EQ(slurp(a / "curves.npy"), slurp(b / "curves.npy"));
  EXPECT_EQ(run_cli("run --resume " + (dir / "nothing").string(), &err), 2);
  fs::remove_all(dir);
}

}  // namespace

namespace {

TEST(CliResume, InterruptedFinderStopsWithinTwoSecondsAndResumes) {
  // A finder-only census (newton on the 220-D double well, 150 starts: about
  // 4 s on 2 cores): SIGINT while the finder runs stops the run within two seconds
  // with a checkpoint, and run --resume ends with the files of an
  // uninterrupted run.
  const fs::path dir =
      fs::temp_directory_path() / ("saddlescope_cli_finder_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path exp = dir / "e.toml";
  std::ofstream(exp) << "name = \"f\"\nseed = 3\n[objective]\nkind = \"double-well\"\n"
                        "dim = 220\n[init]\nkind = \"uniform\"\nscale = 2.5\n[run]\n"
                        "precision = \"f64\"\n[analysis]\npoints = [\"critical\"]\n"
                        "max_points = 150\n[finder]\nkind = \"newton\"\nstarts = 150\n"
                        "max_steps = 60\n";
  const fs::path a = dir / "a", b = dir / "b";
  const pid_t pid = spawn_cli({"run", exp.string(), "-o", a.string(), "--backend", "cpu"});
  for (int k = 0; k < 2000 && !fs::exists(a / "config.toml"); ++k) usleep(5000);
  usleep(500000);
  const auto t0 = std::chrono::steady_clock::now();
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 1) << "the run must not have finished before the signal";
  EXPECT_LT(took, 2.0);
  EXPECT_TRUE(fs::exists(a / "checkpoint.bin"));
  EXPECT_FALSE(fs::exists(a / "summary.json"));
  std::string err;
  EXPECT_EQ(run_cli("run --resume " + a.string(), &err), 0) << err;
  EXPECT_EQ(run_cli("run " + exp.string() + " -o " + b.string() + " --backend cpu", &err), 0)
      << err;
  auto slurp = [](const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  for (const char* f : {"finder.csv", "points.csv", "distinct.csv", "spectra.npy"})
    EXPECT_TRUE(slurp(a / f) == slurp(b / f)) << f << " differs";
  fs::remove_all(dir);
}

}  // namespace

namespace {

TEST(CliBadFiles, StartFilesOfWrongShapeOrDtypeAndUnwritableOutput) {
  // More of the bad-input campaign through the binary: each exits 2 with a
  // message naming the problem and leaves no run directory.
  const fs::path dir =
      fs::temp_directory_path() / ("saddlescope_cli_badfiles_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string exp =
      replace(kGood, "[run]", "[init]\nkind = \"file\"\nfile = \"starts.npy\"\n[run]");
  std::ofstream(dir / "e.toml") << exp;
  std::string msg;
  // a valid .npy of the wrong shape (trajectories = 8, dim = 4 are needed)
  saddlescope::npy::write_f64((dir / "starts.npy").string(), {3, 4}, std::vector<double>(12, 0.5));
  EXPECT_EQ(run_cli("run " + (dir / "e.toml").string() + " -o " + (dir / "a").string(), &msg), 2);
  EXPECT_NE(msg.find("shape (3, 4)"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir / "a"));
  // a valid .npy of an unsupported dtype (int32)
  {
    const std::string h = "{'descr': '<i4', 'fortran_order': False, 'shape': (8, 4), }";
    const std::size_t total = (10 + h.size() + 1 + 63) / 64 * 64;  // header padded to 64
    std::string header = h + std::string(total - 10 - h.size() - 1, ' ') + "\n";
    std::ofstream f(dir / "starts.npy", std::ios::binary);
    f << "\x93NUMPY" << '\x01' << '\x00' << static_cast<char>(header.size()) << '\x00' << header
      << std::string(8 * 4 * 4, '\0');
  }
  EXPECT_EQ(run_cli("run " + (dir / "e.toml").string() + " -o " + (dir / "b").string(), &msg), 2);
  EXPECT_NE(msg.find("<i4"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir / "b"));
  // an output directory that cannot be created (below a regular file)
  std::ofstream(dir / "plain") << "x";
  std::ofstream(dir / "g.toml") << kGood;
  EXPECT_EQ(
      run_cli("run " + (dir / "g.toml").string() + " -o " + (dir / "plain" / "out").string(), &msg),
      2);
  EXPECT_NE(msg.find("cannot create the directory"), std::string::npos) << msg;
  fs::remove_all(dir);
}

}  // namespace
