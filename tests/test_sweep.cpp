// Sweep tests (docs/experiment.md [sweep], docs/run-directory.md Sweeps): the
// product order, the refusals, a sweep's points equal separate runs of the
// same experiments bit for bit, and a sweep killed at its second point
// (through the library and through the binary) resumes to the same results.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"
#include "saddlescope/sweep.hpp"

using namespace saddlescope;
namespace fs = std::filesystem;

namespace {

// A small experiment: two optimizers, three chunks each, plateaus, a target
// and a census of the stops; {dim} and {name} are filled in per test.
const char* kBody = R"(seed = 11
[objective]
kind = "double-well"
dim = {dim}
[init]
kind = "uniform"
scale = 2.5
[run]
trajectories = 24
chunk_size = 8
max_steps = 300
precision = "f64"
record_every = 5
record_trajectories = 6
target_loss = -1.0
save_final_points = true
[plateau]
grad_threshold = 0.05
min_steps = 5
[[optimizer]]
kind = "gd"
lr = 0.01
[[optimizer]]
kind = "adam"
lr = 0.05
[analysis]
points = ["stops"]
max_points = 40
)";

std::string body(const std::string& dim) {
  std::string s = kBody;
  s.replace(s.find("{dim}"), 5, dim);
  return s;
}

// The 3-point sweep of the tests: objective.dim = 1, 2, 3.
std::string sweep_text() {
  return "name = \"t\"\n" + body("1") + "\n[sweep]\n\"objective.dim\" = [1, 2, 3]\n";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path temp_dir(const std::string& what) {
  const fs::path d =
      fs::temp_directory_path() / fmt::format("saddlescope_sweep_{}_{}", what, ::getpid());
  fs::remove_all(d);
  return d;
}

// summary.json without wall-clock fields (at any depth) and the free memory.
nlohmann::json timeless(const fs::path& p) {
  nlohmann::json j = nlohmann::json::parse(slurp(p));
  std::function<void(nlohmann::json&)> strip = [&](nlohmann::json& v) {
    if (v.is_object()) {
      for (const char* k : {"timings", "seconds", "trajectory_steps_per_second",
                            "seconds_to_target", "budget_bytes"})
        v.erase(k);
      for (auto& [k, x] : v.items()) strip(x);
    } else if (v.is_array()) {
      for (auto& x : v) strip(x);
    }
  };
  strip(j);
  return j;
}

// comparison.csv without its wall-clock columns.
std::string timeless_csv(const fs::path& p) {
  std::istringstream in(slurp(p));
  std::string line, out;
  std::vector<bool> keep;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
    if (!line.empty() && line.back() == ',') cells.emplace_back();
    if (keep.empty())
      for (const auto& c : cells)
        keep.push_back(c != "seconds_to_target_median" && c != "trajectory_steps_per_second");
    for (std::size_t i = 0; i < cells.size() && i < keep.size(); ++i)
      if (keep[i]) out += cells[i] + ",";
    out += "\n";
  }
  return out;
}

// The files of two run directories agree, timings aside.
void expect_same_run(const fs::path& a, const fs::path& b) {
  SCOPED_TRACE(a.string() + " vs " + b.string());
  for (const char* f : {"config.toml", "trajectories.csv", "curves.npy", "paths.npy", "finals.npy",
                        "points.csv", "spectra.npy", "density.csv", "distinct.csv"}) {
    if (!fs::exists(a / f) && !fs::exists(b / f)) continue;
    EXPECT_EQ(slurp(a / f), slurp(b / f)) << f;
    EXPECT_FALSE(slurp(a / f).empty()) << f;
  }
  EXPECT_EQ(timeless_csv(a / "comparison.csv"), timeless_csv(b / "comparison.csv"));
  EXPECT_EQ(timeless(a / "summary.json"), timeless(b / "summary.json"));
  EXPECT_FALSE(fs::exists(a / "checkpoint.bin"));
}

SweepOptions quiet() {
  SweepOptions o;
  o.quiet = true;
  return o;
}

TEST(SweepParse, ProductInFileOrderWithTheLastKeyFastest) {
  // Keys deliberately not in alphabetical order: the file's order counts.
  const std::string text = "name = \"p\"\n" + body("2") +
                           "\n[sweep]\n\"run.max_steps\" = [100, 200]\n\"optimizer.1.lr\" = "
                           "[0.1, 0.2, 0.3]\n\"init.kind\" = [\"gaussian\"]\n";
  const Sweep s = parse_sweep(text, "p.toml");
  EXPECT_EQ(s.name, "p");
  ASSERT_EQ(s.keys, (std::vector<std::string>{"run.max_steps", "optimizer.1.lr", "init.kind"}));
  ASSERT_EQ(s.points.size(), 6u);
  const double lrs[] = {0.1, 0.2, 0.3};
  for (std::size_t k = 0; k < 6; ++k) {
    const SweepPoint& p = s.points[k];
    const Experiment& e = p.experiment;
    EXPECT_EQ(p.index, k);
    EXPECT_EQ(p.dir, fmt::format("sweep/{:03}", k));
    EXPECT_EQ(e.name, fmt::format("p-{:03}", k));
    EXPECT_EQ(e.seed, 11u);  // the same seed at every point
    EXPECT_EQ(e.run.max_steps, k < 3 ? 100 : 200);
    EXPECT_EQ(e.optimizers[1].params.lr, lrs[k % 3]);
    EXPECT_EQ(e.optimizers[0].params.lr, 0.01);  // untouched
    EXPECT_EQ(e.init.kind, "gaussian");
    EXPECT_EQ(p.values, (std::vector<std::string>{k < 3 ? "100" : "200",
                                                  fmt::format("{}", lrs[k % 3]), "gaussian"}));
  }
  EXPECT_EQ(s.describe(4), "run.max_steps=200, optimizer.1.lr=0.2, init.kind=gaussian");
  // Every optimizer at once, the seed, array values and --set for every point.
  const std::string text2 =
      "name = \"q\"\n" + body("2") +
      "\n[sweep]\n\"optimizer.lr\" = [0.02]\nseed = [1, 2]\n'init.scale' = [1.5]\n";
  const Sweep s2 = parse_sweep(text2, "q.toml", {"run.max_steps=50"});
  ASSERT_EQ(s2.points.size(), 2u);
  for (const auto& p : s2.points) {
    EXPECT_EQ(p.experiment.optimizers[0].params.lr, 0.02);
    EXPECT_EQ(p.experiment.optimizers[1].params.lr, 0.02);
    EXPECT_EQ(p.experiment.run.max_steps, 50);
  }
  EXPECT_EQ(s2.points[1].experiment.seed, 2u);
  const std::string text3 =
      "[objective]\nkind = \"quadratic\"\neigenvalues = [1.0, 1.0]\n[[optimizer]]\nkind = "
      "\"gd\"\nlr = 0.1\n[sweep]\n\"objective.eigenvalues\" = [[1.0, -1.0], [2.0, 3.0]]\n";
  const Sweep s3 = parse_sweep(text3, "r.toml");
  ASSERT_EQ(s3.points.size(), 2u);
  EXPECT_EQ(s3.points[0].experiment.objective.eigenvalues, (std::vector<double>{1.0, -1.0}));
  EXPECT_EQ(s3.points[1].experiment.objective.eigenvalues, (std::vector<double>{2.0, 3.0}));
  EXPECT_EQ(s3.points[0].experiment.name, "experiment-000");
  EXPECT_TRUE(text_has_sweep(text3));
  EXPECT_FALSE(text_has_sweep(body("2")));
  EXPECT_FALSE(text_has_sweep("not = [toml"));
}

TEST(SweepParse, SweepTomlIsTheSweepThatRan) {
  // sweep.toml (the file, or the file with --set applied) gives the same points.
  const std::string text = "name = \"t\"\n" + body("1") +
                           "\n[sweep]\n\"objective.dim\" = [1, 3]\n\"optimizer.0.lr\" = [0.1, "
                           "0.3]\n";
  for (const auto& sets : {std::vector<std::string>{},
                           std::vector<std::string>{"optimizer.1.lr=0.1", "run.max_steps=77"}}) {
    const Sweep s = parse_sweep(text, "t.toml", sets);
    if (sets.empty()) EXPECT_EQ(s.text, text);
    const Sweep again = parse_sweep(s.text, "sweep.toml");
    EXPECT_EQ(again.keys, s.keys);
    ASSERT_EQ(again.points.size(), s.points.size());
    for (std::size_t k = 0; k < s.points.size(); ++k)
      EXPECT_EQ(to_toml(again.points[k].experiment), to_toml(s.points[k].experiment));
  }
}

// The message of the InputError that parse_sweep throws ("" if none).
std::string refusal(const std::string& sweep, const std::vector<std::string>& sets = {}) {
  try {
    parse_sweep("name = \"t\"\n" + body("2") + "\n[sweep]\n" + sweep, "bad.toml", sets);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

void expect_has(const std::string& text, const std::vector<std::string>& parts) {
  EXPECT_FALSE(text.empty());
  for (const auto& p : parts) EXPECT_NE(text.find(p), std::string::npos) << p << " in: " << text;
}

TEST(SweepParse, RefusalsNameTheFileTheKeyTheValueAndThePoint) {
  expect_has(refusal("\"objective.dimm\" = [1, 2]\n"),
             {"bad.toml:", "[sweep] \"objective.dimm\"", "unknown key", "did you mean 'dim'"});
  expect_has(refusal("\"objective.dim\" = []\n"), {"bad.toml:", "\"objective.dim\"", "empty"});
  expect_has(refusal("\"objective.dim\" = 3\n"), {"\"objective.dim\"", "must be a list"});
  // An invalid value at one point: that point, the key and the value.
  expect_has(refusal("\"objective.dim\" = [1, 2]\n\"optimizer.0.lr\" = [0.1, -1.0, 0.3]\n"),
             {"bad.toml:", "[sweep] \"optimizer.0.lr\" = -1.0", "sweep point 2/6",
              "objective.dim=1, optimizer.0.lr=-1.0", "out of range"});
  expect_has(refusal("\"objective.dim\" = [2, 0]\n"),
             {"[sweep] \"objective.dim\" = 0", "sweep point 2/2", "out of range"});
  expect_has(refusal("\"objective.mu\" = [0.1]\n"), {"objective.mu", "gaussian-field"});
  expect_has(refusal("name = [\"a\", \"b\"]\n"), {"\"name\"", "cannot be swept"});
  expect_has(refusal("\"objectiv.dim\" = [1]\n"), {"unknown section", "did you mean 'objective'"});
  expect_has(refusal("\"optimizer.2.lr\" = [0.1]\n"), {"optimizer index 2 is out of range"});
  expect_has(refusal("\"optimizer.x.lr\" = [0.1]\n"), {"not an optimizer index"});
  expect_has(refusal("\"optimizer.lr\" = [0.1]\n\"optimizer.0.lr\" = [0.2]\n"), {"both set"});
  expect_has(refusal("\"objective\" = [1]\n"), {"names a section"});
  expect_has(refusal("\"run.precision\" = [\"f64\", \"f16\"]\n"),
             {"[sweep] \"run.precision\" = \"f16\"", "sweep point 2/2", "f32, f64"});
  expect_has(refusal(""), {"holds no keys"});
  expect_has(refusal("[sweep.objective]\ndim = [1]\n"), {"is a table", "quoted path"});
  expect_has(refusal("\"objective.dim\" = [1, 2]\n", {"optimizer.0.lr=-2"}),
             {"sweep point 1/2", "-2"});
  std::string many;
  for (const char* k : {"objective.dim", "run.max_steps", "run.trajectories", "seed"})
    many += fmt::format("\"{}\" = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]\n", k);
  expect_has(refusal(many), {"too many points", "10000"});
  // An ordinary experiment parse refuses [sweep], naming the command that runs it.
  try {
    parse_experiment(sweep_text(), "s.toml");
    FAIL();
  } catch (const InputError& e) {
    expect_has(e.what(), {"s.toml:", "sweep", "saddlescope run"});
  }
}

TEST(SweepRun, PointsEqualSeparateRunsBitForBit) {
  const fs::path dir = temp_dir("equal");
  const Sweep s = parse_sweep(sweep_text(), "t.toml");
  run_sweep(s, (dir / "sweep").string(), quiet());
  // The backend the points chose (run.backend = "auto": CUDA where a GPU is
  // usable): CPU and CUDA agree within tolerances, not bit for bit.
  std::string note;
  auto backend = select_backend("auto", note);
  for (int k = 0; k < 3; ++k) {
    // The same experiment written out by hand, run alone.
    const std::string text = fmt::format("name = \"t-{:03}\"\n", k) + body(std::to_string(k + 1));
    const Experiment e = parse_experiment(text, "alone.toml");
    const fs::path alone = dir / fmt::format("alone{}", k);
    prepare_run_dir(alone.string(), e);
    write_results(alone.string(), e, run_experiment(e, *backend));
    expect_same_run(dir / "sweep" / fmt::format("sweep/{:03}", k), alone);
  }
  // sweep.toml, sweep.csv (a row per point) and summary.json (kind "sweep").
  EXPECT_EQ(slurp(dir / "sweep" / "sweep.toml"), sweep_text());
  const std::string csv = slurp(dir / "sweep" / "sweep.csv");
  EXPECT_EQ(csv, sweep_csv(s, (dir / "sweep").string()));
  EXPECT_EQ(
      csv.rfind("point,dir,objective.dim,distinct_points,critical_points,saddle_fraction,", 0), 0u)
      << csv;
  EXPECT_NE(csv.find("\n0,sweep/000,1,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\n2,sweep/002,3,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",optimizer.1.label,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",adam,"), std::string::npos) << csv;
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
  const auto summary = nlohmann::json::parse(slurp(dir / "sweep" / "summary.json"));
  EXPECT_EQ(summary["kind"], "sweep");
  EXPECT_EQ(summary["points"], 3);
  EXPECT_EQ(summary["keys"], nlohmann::json::array({"objective.dim"}));
  // A finished sweep is not resumed; an existing non-empty directory is refused.
  EXPECT_THROW(resume_sweep((dir / "sweep").string(), quiet()), InputError);
  EXPECT_THROW(run_sweep(s, (dir / "sweep").string(), quiet()), InputError);
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    EXPECT_NE(entry.path().extension(), ".tmp") << "temporary file left: " << entry.path();
  fs::remove_all(dir);
}

TEST(SweepRun, KilledAtTheSecondPointResumesIdentical) {
  const fs::path dir = temp_dir("resume");
  const Sweep s = parse_sweep(sweep_text(), "t.toml");
  run_sweep(s, (dir / "whole").string(), quiet());

  const fs::path cut = dir / "cut";
  volatile std::sig_atomic_t stop = 0;
  SweepOptions o = quiet();
  o.stop = &stop;
  // Stopped (as by SIGINT) as the second point starts: it checkpoints at its
  // first look and the sweep stops.
  o.before_point = [&](std::size_t k) {
    if (k == 1) stop = 1;
  };
  EXPECT_THROW(run_sweep(s, cut.string(), o), Interrupted);
  EXPECT_TRUE(fs::exists(cut / "sweep/000/summary.json"));
  EXPECT_TRUE(fs::exists(cut / "sweep/001/checkpoint.bin"));
  EXPECT_FALSE(fs::exists(cut / "sweep/001/summary.json"));
  EXPECT_FALSE(fs::exists(cut / "sweep/002"));
  EXPECT_FALSE(fs::exists(cut / "summary.json"));
  const std::string rows = slurp(cut / "sweep.csv");
  EXPECT_EQ(std::count(rows.begin(), rows.end(), '\n'), 2) << rows;

  // Resumed: stopped again as the third point starts, after the second
  // finished from its checkpoint.
  stop = 0;
  o.before_point = [&](std::size_t k) {
    EXPECT_GE(k, 1u);  // the finished first point is kept, not rerun
    if (k == 2) stop = 1;
  };
  EXPECT_THROW(resume_sweep(cut.string(), o), Interrupted);
  EXPECT_TRUE(fs::exists(cut / "sweep/001/summary.json"));
  // A half-made point (no checkpoint, no summary.json) starts again.
  fs::remove(cut / "sweep/002/checkpoint.bin");
  ASSERT_TRUE(fs::exists(cut / "sweep/002/config.toml"));
  stop = 0;
  o.before_point = {};
  resume_sweep(cut.string(), o);

  for (int k = 0; k < 3; ++k) {
    const std::string p = fmt::format("sweep/{:03}", k);
    expect_same_run(cut / p, dir / "whole" / p);
  }
  EXPECT_EQ(slurp(cut / "sweep.csv"), slurp(dir / "whole" / "sweep.csv"));
  EXPECT_EQ(slurp(cut / "summary.json"), slurp(dir / "whole" / "summary.json"));
  EXPECT_EQ(slurp(cut / "sweep.toml"), slurp(dir / "whole" / "sweep.toml"));
  fs::remove_all(dir);
}

int run_cli(const std::string& args, std::string* out = nullptr) {
  const std::string cmd = std::string(SADDLESCOPE_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) text += buf;
  const int status = pclose(p);
  if (out) *out = text;
  return WEXITSTATUS(status);
}

TEST(SweepCli, InterruptedSweepResumesToTheSameResults) {
  // SIGINT as the second point starts (or, on a slow machine, later in the
  // second or third point): exit 1 with the resume command; run --resume
  // finishes the sweep with the results of an uninterrupted one.
  const fs::path dir = temp_dir("cli");
  fs::create_directories(dir);
  const fs::path exp = dir / "s.toml";
  std::ofstream(exp) << "name = \"c\"\nseed = 3\n[objective]\nkind = \"styblinski-tang\"\n"
                        "dim = 1000\n[init]\nkind = \"uniform\"\nscale = 4\n[run]\n"
                        "trajectories = 64\nmax_steps = 6000\nprecision = \"f64\"\n"
                        "grad_tol = 1e-12\n[[optimizer]]\nkind = \"gd\"\nlr = 0.0001\n"
                        "[sweep]\n\"optimizer.0.lr\" = [0.0001, 0.0002, 0.0003]\n";
  std::string out;
  EXPECT_EQ(run_cli("validate " + exp.string(), &out), 0) << out;
  EXPECT_NE(out.find("3 points over optimizer.0.lr"), std::string::npos) << out;
  EXPECT_NE(out.find("sweep/002: optimizer.0.lr=0.0003"), std::string::npos) << out;

  const fs::path a = dir / "a", b = dir / "b";
  const pid_t pid = fork();
  if (pid == 0) {
    std::string bin = SADDLESCOPE_BINARY;
    std::vector<std::string> args = {bin,        "run",       exp.string(), "-o",
                                     a.string(), "--backend", "cpu"};
    std::vector<char*> argv;
    for (auto& x : args) argv.push_back(x.data());
    argv.push_back(nullptr);
    if (!freopen("/dev/null", "w", stdout) || !freopen((dir / "err.txt").c_str(), "w", stderr))
      _exit(126);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  // (A loaded machine may take long over the first point: wait up to 2 minutes.)
  for (int k = 0; k < 24000 && !fs::exists(a / "sweep/001/config.toml"); ++k) usleep(5000);
  const bool at_second = fs::exists(a / "sweep/001/config.toml");
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 1) << "the sweep must not have finished before the signal";
  EXPECT_NE(slurp(dir / "err.txt").find("saddlescope run --resume " + a.string()),
            std::string::npos)
      << slurp(dir / "err.txt");
  if (at_second) EXPECT_TRUE(fs::exists(a / "sweep/000/summary.json"));
  EXPECT_FALSE(fs::exists(a / "summary.json"));
  EXPECT_EQ(run_cli("run --resume " + a.string(), &out), 0) << out;
  EXPECT_NE(out.find("sweep c (3 points over optimizer.0.lr)"), std::string::npos) << out;
  EXPECT_EQ(run_cli("run --resume " + a.string(), &out), 2);
  EXPECT_NE(out.find("the sweep finished"), std::string::npos) << out;
  EXPECT_EQ(run_cli("run " + exp.string() + " -o " + b.string() + " --backend cpu", &out), 0)
      << out;
  for (int k = 0; k < 3; ++k) {
    const std::string p = fmt::format("sweep/{:03}", k);
    expect_same_run(a / p, b / p);
  }
  EXPECT_EQ(slurp(a / "sweep.csv"), slurp(b / "sweep.csv"));
  EXPECT_EQ(slurp(a / "sweep.toml"), slurp(b / "sweep.toml"));
  // A bad sweep exits 2 and leaves nothing behind.
  std::ofstream(dir / "bad.toml") << slurp(exp) << "\"objective.dim\" = [10, 0]\n";
  EXPECT_EQ(run_cli("run " + (dir / "bad.toml").string() + " -o " + (dir / "c").string(), &out), 2);
  EXPECT_NE(out.find("[sweep] \"objective.dim\" = 0 at sweep point 2/6"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir / "c"));
  EXPECT_EQ(run_cli("validate " + (dir / "bad.toml").string(), &out), 2);
  fs::remove_all(dir);
}

}  // namespace
