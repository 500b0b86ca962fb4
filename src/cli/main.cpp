// The saddlescope command (docs/design.md section 2): run, validate, list, report, --version.
// Exit codes: 0 success, 2 bad input, 3 resources, 1 anything else.
#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "saddlescope/comm.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/experiment.hpp"
#include "saddlescope/objective_registry.hpp"
#include "saddlescope/run.hpp"
#include "saddlescope/sweep.hpp"
#include "src/cpu/blas_kernels.hpp"
#include "src/mpi/mpi_comm.hpp"

extern char** environ;
extern "C" void openblas_set_num_threads(int);
extern "C" void omp_set_num_threads(int);

using namespace saddlescope;

namespace {

// SIGINT / SIGTERM: the first asks the running experiment to checkpoint and
// stop at its next host look; the handler then restores the default action,
// so a second signal ends the process at once (the last checkpoint, written
// atomically, stays valid).
volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_stop_signal(int sig) {
  g_stop = 1;
  std::signal(sig, SIG_DFL);
  const char msg[] =
      "\nsaddlescope: stopping: a checkpoint is written at the next check (signal again to quit "
      "at once)\n";
  const ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
}

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

Checkpointing checkpointing(const std::string& dir, const Experiment& e, bool resume) {
  Checkpointing cp;
  cp.path = checkpoint_file(dir);
  cp.every_seconds = e.run.checkpoint_every;
  cp.resume = resume;
  cp.stop = &g_stop;
  return cp;
}

// --- ranks (docs/design.md II.6, many processes) ---

// The backend of this rank: under MPI a CUDA rank takes the GPU of its
// place on the node (local rank), and more ranks than GPUs on a node are refused.
std::unique_ptr<Backend> select_rank_backend(const std::string& requested, std::string& note) {
  Comm& comm = world();
  if (comm.size() > 1 && requested != "cpu" && (requested == "cuda" || cuda_available())) {
    const int gpus = cuda_device_count();
    if (gpus > 0 && comm.local_size() > gpus)
      throw ResourceError(fmt::format(
          "{} ranks run on one node that has {} CUDA device{}: each rank takes one GPU; start "
          "at most {} rank{} per node (Open MPI: mpirun --map-by ppr:{}:node; Slurm: "
          "--ntasks-per-node={}) or use --backend cpu",
          comm.local_size(), gpus, gpus == 1 ? "" : "s", gpus, gpus == 1 ? "" : "s", gpus, gpus));
    if (gpus > 0) cuda_use_device(comm.local_rank());
  }
  return select_backend(requested, note);
}

// CPU ranks of one node divide its cores: threads per rank = the node's
// cores / its ranks, at most the cores the launcher bound the rank to
// (Open MPI binds 1-2 ranks to one core each unless told --bind-to none or
// --map-by ...:PE=T), unless OMP_NUM_THREADS says otherwise.
int rank_threads(const Comm& comm) {
  if (const char* t = std::getenv("OMP_NUM_THREADS")) return std::max(1, std::atoi(t));
  const int cores = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  int bound = cores;
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) bound = CPU_COUNT(&set);
  return std::max(1, std::min(cores / std::max(1, comm.local_size()), bound));
}

void share_cores(const Comm& comm) {
  if (std::getenv("OMP_NUM_THREADS")) return;
  const int threads = rank_threads(comm);
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

std::string ranks_note(const Comm& comm) {
  if (comm.size() == 1) return "";
  return fmt::format(
      "MPI: {} ranks ({} on this node; {} CPU thread{} each{}); rank 0 gathers and writes\n",
      comm.size(), comm.local_size(), rank_threads(comm), rank_threads(comm) == 1 ? "" : "s",
      std::getenv("OMP_NUM_THREADS") ? ", OMP_NUM_THREADS" : "");
}

// run --resume under MPI: each rank's checkpoint holds its own share, so the
// run continues with as many ranks as wrote it.
void check_checkpoint_ranks(const std::string& dir, const Comm& comm) {
  std::vector<int> written;  // how many ranks wrote each checkpoint file
  for (const std::string& f : checkpoint_files(dir))
    written.push_back(checkpoint_ranks(std::filesystem::path(f).filename().string()));
  if (written.empty() || std::find(written.begin(), written.end(), comm.size()) != written.end())
    return;  // the engine says what is missing
  const int r = *std::max_element(written.begin(), written.end());
  throw InputError(fmt::format(
      "run --resume {}: the run was checkpointed by {}; resume it with {}saddlescope run "
      "--resume {}: each rank's checkpoint holds its own share of the work, so the number of "
      "ranks cannot change",
      dir, r == 1 ? "one process (checkpoint.bin)" : fmt::format("{} MPI ranks", r),
      r == 1 ? "" : fmt::format("mpirun -np {} ", r), dir));
}

// The terminal report: the headline numbers of RUN_DIR/summary.json, read
// back from the file, so the terminal and the run directory never disagree
// (docs/run-directory.md defines each number once).
void print_report(const std::string& dir) {
  std::ifstream in(std::filesystem::path(dir) / "summary.json");
  const nlohmann::json s = nlohmann::json::parse(in);
  auto num = [](const nlohmann::json& v) { return v.is_number() ? v.get<double>() : NAN; };
  fmt::print("saddlescope {}: {} on {} (N = {}, {} trajectories, {})\n",
             s["version"].get<std::string>(), s["name"].get<std::string>(),
             s["backend"].get<std::string>(), s["objective"]["dim"].get<std::int64_t>(),
             s["trajectories"].get<std::int64_t>(), s["precision"].get<std::string>());
  fmt::print("device: {}\n", s["device"].get<std::string>());
  const auto& opts = s["optimizers"];
  if (!opts.empty())
    fmt::print("{:<22} {:>9} {:>9} {:>9} {:>14} {:>14} {:>12}\n", "optimizer", "converged",
               "diverged", "max_steps", "median f_final", "median steps", "traj-steps/s");
  for (const auto& o : opts)
    fmt::print("{:<22} {:>9} {:>9} {:>9} {:>14.6g} {:>14.0f} {:>12.3g}\n",
               o["label"].get<std::string>(), o["outcomes"]["converged"].get<std::int64_t>(),
               o["outcomes"]["diverged"].get<std::int64_t>(),
               o["outcomes"]["max_steps"].get<std::int64_t>(), num(o["final_loss"]["median"]),
               num(o["steps"]["median"]), num(o["trajectory_steps_per_second"]));
  if (!opts.empty() && opts[0].contains("final_accuracy")) {  // a classifier
    fmt::print("median final training accuracy:");
    for (const auto& o : opts)
      fmt::print("  {} {:.4f}", o["label"].get<std::string>(), num(o["final_accuracy"]["median"]));
    fmt::print("\n");
  }
  const bool by_accuracy = s.contains("target_accuracy") && s["target_accuracy"].is_number();
  if (s["target_loss"].is_number() || by_accuracy) {
    if (s["target_loss"].is_number()) fmt::print("target loss {}", s["target_loss"].get<double>());
    if (by_accuracy)
      fmt::print("{}target accuracy {}", s["target_loss"].is_number() ? " or " : "",
                 s["target_accuracy"].get<double>());
    fmt::print(":");
    for (const auto& o : opts) {
      const auto& c = o["comparison"];
      fmt::print("  {} {}/{}", o["label"].get<std::string>(),
                 c["reached_target"].get<std::int64_t>(), s["trajectories"].get<std::int64_t>());
      if (c["steps_to_target"]["median"].is_number())
        fmt::print(" (median step {:.0f})", num(c["steps_to_target"]["median"]));
    }
    fmt::print("\n");
  }
  if (s.contains("census")) {
    const auto& c = s["census"];  // over distinct points (docs/run-directory.md, census)
    if (c.contains("finder")) {
      const auto& f = c["finder"];
      fmt::print("finder {}: {} starts: {} converged, {} stalled, {} at max_steps, {} diverged\n",
                 f["kind"].get<std::string>(), f["starts"].get<std::int64_t>(),
                 f["outcomes"]["converged"].get<std::int64_t>(),
                 f["outcomes"]["stalled"].get<std::int64_t>(),
                 f["outcomes"]["max_steps"].get<std::int64_t>(),
                 f["outcomes"]["diverged"].get<std::int64_t>());
    }
    fmt::print("census: {} points analysed, {} distinct:", c["points"].get<std::int64_t>(),
               c["distinct_points"].get<std::int64_t>());
    for (const char* k : {"minimum", "maximum", "saddle", "degenerate", "failed"})
      if (const auto n = c["classes"][k].get<std::int64_t>()) fmt::print(" {} {}", n, k);
    if (const auto critical = c["critical_points"].get<std::int64_t>())
      fmt::print("; saddle fraction among {} distinct critical points {:.3f}", critical,
                 num(c["saddle_fraction_among_critical"]));
    if (const auto premature = c["stopped_at_saddle"]["count"].get<std::int64_t>())
      fmt::print("; {} stops converged at a saddle", premature);
    fmt::print("\n");
  }
  fmt::print("time: {:.2f} s; results in {}\n", num(s["timings"]["total_s"]), dir);
}

int run_command(const std::string& file, const std::string& out_dir,
                const std::string& backend_flag, const std::vector<std::string>& sets) {
  if (file_has_sweep(file)) {  // docs/experiment.md [sweep]: one run per point
    const Sweep s = load_sweep(file, sets, backend_flag);  // every point validated first
    if (world().root()) std::fprintf(stderr, "%s", ranks_note(world()).c_str());
    install_stop_handlers();
    SweepOptions o;
    o.stop = &g_stop;
    run_sweep(s, out_dir, o, select_rank_backend);
    return 0;
  }
  Comm& comm = world();
  Experiment e = load_experiment(file, sets);
  if (!backend_flag.empty()) e.run.backend = backend_flag;
  check_start_file(e);
  check_ranks(e, comm);
  std::string note;
  auto backend = select_rank_backend(e.run.backend, note);
  // Refuses (exit 3) before creating the run dir; under MPI each rank plans its share.
  const MemoryPlan plan = plan_memory(rank_experiment(e, comm), *backend);
  if (comm.root())
    std::fprintf(stderr, "%s\n%s%s\n", note.c_str(), ranks_note(comm).c_str(),
                 plan.describe().c_str());
  // Rank 0 names the directory (a default one has a timestamp) and alone writes it.
  std::string dir = out_dir.empty() ? default_run_dir(e) : out_dir;
  install_stop_handlers();           // from here on a signal ends the run with a checkpoint
  if (comm.size() > 1) comm.max(0);  // every rank parsed and planned: now write
  if (comm.root()) prepare_run_dir(dir, e);
  if (comm.size() > 1) {
    comm.max(0);  // the directory exists (or rank 0 failed and every rank stops)
    dir = comm.broadcast_text(dir);
  }
  const Checkpointing cp = checkpointing(dir, e, false);
  const RunResult r = run_experiment(e, *backend, stderr_progress(e), &cp);
  if (!comm.root()) return 0;
  write_results(dir, e, r);
  print_report(dir);
  return 0;
}

// run --resume RUN_DIR: the experiment from RUN_DIR/config.toml, continued
// from RUN_DIR/checkpoint.bin on the backend that wrote it.
int resume_command(const std::string& dir, const std::string& backend_flag) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir))
    throw InputError(fmt::format("run --resume {}: no such run directory", dir));
  if (is_sweep_dir(dir)) {  // RUN_DIR/sweep.toml: continue at the first unfinished point
    if (world().root()) std::fprintf(stderr, "%s", ranks_note(world()).c_str());
    install_stop_handlers();
    SweepOptions o;
    o.stop = &g_stop;
    o.backend = backend_flag;
    resume_sweep(dir, o, select_rank_backend);
    return 0;
  }
  const fs::path config = fs::path(dir) / "config.toml";
  if (!fs::exists(config))
    throw InputError(
        fmt::format("run --resume {}: no config.toml there: not a run directory", dir));
  if (fs::exists(fs::path(dir) / "summary.json"))
    throw InputError(fmt::format(
        "run --resume {}: the run finished (summary.json exists); nothing to resume", dir));
  Comm& comm = world();
  check_checkpoint_ranks(dir, comm);
  const Experiment e = load_experiment(config.string());
  check_ranks(e, comm);
  std::string note;  // --backend chooses the device without changing the experiment
  auto backend = select_rank_backend(backend_flag.empty() ? e.run.backend : backend_flag, note);
  if (comm.root())
    std::fprintf(stderr, "%s\n%sresuming %s\n", note.c_str(), ranks_note(comm).c_str(),
                 dir.c_str());
  install_stop_handlers();
  const Checkpointing cp = checkpointing(dir, e, true);
  const RunResult r = run_experiment(e, *backend, stderr_progress(e), &cp);
  if (!comm.root()) return 0;
  write_results(dir, e, r);
  print_report(dir);
  return 0;
}

int validate_command(const std::string& file, const std::string& backend_flag,
                     const std::vector<std::string>& sets) {
  if (file_has_sweep(file)) {  // every point of the sweep, listed and checked
    validate_sweep(load_sweep(file, sets, backend_flag), select_rank_backend);
    return 0;
  }
  Comm& comm = world();
  Experiment e = load_experiment(file, sets);
  if (!backend_flag.empty()) e.run.backend = backend_flag;
  check_start_file(e);
  check_ranks(e, comm);
  std::string note;
  auto backend = select_rank_backend(e.run.backend, note);
  if (comm.size() == 1) {
    fmt::print("{}", to_toml(e));
    fmt::print("\n# {}\n# {}\n", note, plan_memory(e, *backend).describe());
    return 0;
  }
  // Under MPI: each rank's share and memory plan, printed by rank 0 in rank order.
  const Share t = comm.share(e.run.trajectories), f = comm.share(e.finder.starts);
  std::string mine = fmt::format(
      "# rank {} of {} (node rank {} of {}): {}\n#   trajectories [{}, {}) of each optimizer",
      comm.rank(), comm.size(), comm.local_rank(), comm.local_size(), note, t.first, t.end());
  if (analysis_wants(e.analysis, "critical"))
    mine += fmt::format(", finder starts [{}, {})", f.first, f.end());
  mine += "\n#   " + plan_memory(rank_experiment(e, comm), *backend).describe() + "\n";
  const std::vector<Bytes> all = comm.gather(Bytes(mine.begin(), mine.end()));
  if (!comm.root()) return 0;
  fmt::print("{}", to_toml(e));
  fmt::print(
      "\n# {} ranks share the run: each takes a contiguous share of every optimizer's "
      "trajectories{}; the census's points are shared likewise once they are known; "
      "rank 0 gathers and writes the run directory (docs/design.md II.6)\n",
      comm.size(), analysis_wants(e.analysis, "critical") ? " and of the finder's starts" : "");
  for (const Bytes& b : all) fmt::print("{}", std::string(b.begin(), b.end()));
  return 0;
}

// --- report: runs the Python package python/saddlescope_report (docs/report.md) ---

bool is_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_executable(const std::string& path) {
  return is_file(path) && ::access(path.c_str(), X_OK) == 0;
}

std::string executable_dir() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  const std::string exe(buf, static_cast<std::size_t>(n));
  return exe.substr(0, exe.rfind('/'));
}

// The folder holding saddlescope_report/: $SADDLESCOPE_PYTHON_DIR, an installed
// <prefix>/share/saddlescope/python beside <prefix>/bin, the source tree the
// binary was built from, or ../../python from a build/<preset>/ binary.
std::string find_report_package() {
  const std::string marker = "/saddlescope_report/__main__.py";
  if (const char* env = std::getenv("SADDLESCOPE_PYTHON_DIR"); env && *env) {
    if (is_file(env + marker)) return env;
    throw Error(fmt::format("SADDLESCOPE_PYTHON_DIR={} holds no saddlescope_report package "
                            "(expected {}{})",
                            env, env, marker),
                1);
  }
  std::vector<std::string> candidates;
  const std::string exe_dir = executable_dir();
  if (!exe_dir.empty()) candidates.push_back(exe_dir + "/../share/saddlescope/python");
#ifdef SADDLESCOPE_SOURCE_DIR
  candidates.push_back(std::string(SADDLESCOPE_SOURCE_DIR) + "/python");
#endif
  if (!exe_dir.empty()) {
    candidates.push_back(exe_dir + "/../../python");
    candidates.push_back(exe_dir + "/../python");
  }
  for (const auto& c : candidates)
    if (is_file(c + marker)) return c;
  std::string tried;
  for (const auto& c : candidates) tried += (tried.empty() ? "" : ", ") + c;
  throw Error(fmt::format("the report package (python/saddlescope_report) was not found (looked "
                          "in {}); set SADDLESCOPE_PYTHON_DIR to the python/ folder of the "
                          "saddlescope sources",
                          tried),
              1);
}

// Runs `python -c CHECK` quietly; true when it exits 0.
bool python_has_report_modules(const std::string& python) {
  static const char* check =
      "import importlib.util as u, sys\n"
      "ok = all(u.find_spec(m) for m in ('numpy', 'matplotlib'))\n"
      "ok = ok and (u.find_spec('tomllib') or u.find_spec('tomli'))\n"
      "sys.exit(0 if ok else 3)\n";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> args = {python, "-c", check};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, python.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return false;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// A Python 3 with numpy and matplotlib: $SADDLESCOPE_PYTHON, else the first
// python3 on PATH that has them (a pyenv or venv python3 may lack them where
// the distribution's /usr/bin/python3 has them), else /usr/bin/python3.
std::string find_report_python() {
  const std::string hint =
      "install them with `bash tools/install_deps.sh` (Debian: apt-get install python3-numpy "
      "python3-matplotlib), or set SADDLESCOPE_PYTHON to a Python 3 that has them";
  if (const char* env = std::getenv("SADDLESCOPE_PYTHON"); env && *env) {
    if (python_has_report_modules(env)) return env;
    throw Error(fmt::format("report: SADDLESCOPE_PYTHON={} does not run, or lacks numpy or "
                            "matplotlib (Python >= 3.11, or tomli); {}",
                            env, hint),
                1);
  }
  std::vector<std::string> candidates;
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "";
  for (std::size_t start = 0; start <= p.size();) {
    std::size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    const std::string dir = p.substr(start, end - start);
    if (!dir.empty()) candidates.push_back(dir + "/python3");
    start = end + 1;
  }
  candidates.push_back("/usr/bin/python3");
  candidates.push_back("/usr/local/bin/python3");
  std::vector<std::string> tried;
  for (const auto& c : candidates) {
    if (std::find(tried.begin(), tried.end(), c) != tried.end() || !is_executable(c)) continue;
    tried.push_back(c);
    if (python_has_report_modules(c)) return c;
  }
  if (tried.empty())
    throw Error(
        "report needs Python 3 with numpy and matplotlib, and no python3 was found on "
        "PATH or in /usr/bin; " +
            hint,
        1);
  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  throw Error(fmt::format("report needs Python 3 (>= 3.11, or tomli) with numpy and matplotlib; "
                          "none of {} has them: {}",
                          list, hint),
              1);
}

// Replaces this process by `python -m saddlescope_report RUN_DIR`, whose exit
// code (0, 2 bad input, 1 other) becomes the command's.
int report_command(const std::string& run_dir, const std::string& out_dir,
                   const std::vector<std::string>& figure_args) {
  const std::string package_dir = find_report_package();
  const std::string python = find_report_python();
  const char* old = std::getenv("PYTHONPATH");
  const std::string pythonpath =
      package_dir + (old && *old ? std::string(":") + old : std::string());
  ::setenv("PYTHONPATH", pythonpath.c_str(), 1);
  std::vector<std::string> args = {python, "-m", "saddlescope_report", run_dir};
  if (!out_dir.empty()) {
    args.push_back("--output");
    args.push_back(out_dir);
  }
  args.insert(args.end(), figure_args.begin(), figure_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  ::execv(python.c_str(), argv.data());
  throw Error(fmt::format("report: cannot run {}: {}", python, std::strerror(errno)), 1);
}

}  // namespace

int run_main(int argc, char** argv);

// Every path out of the command meets in Comm::finish (under MPI: every
// rank's exit code and error meet there; rank 0 prints them).
int main(int argc, char** argv) {
  choose_blas_kernels(argv);
  if (launched_by_mpi_launcher()) {
#ifdef SADDLESCOPE_HAVE_MPI
    try {
      set_world(make_mpi_comm(&argc, &argv));
    } catch (const Error& e) {
      std::fprintf(stderr, "saddlescope: error: %s\n", e.what());
      return 1;
    }
    share_cores(world());
#else
    if (launcher_world_size() > 1) {
      std::fprintf(stderr,
                   "saddlescope: error: started as %d processes (mpirun/srun) but this saddlescope "
                   "was built without MPI; install Open MPI (Debian: apt-get install "
                   "libopenmpi-dev openmpi-bin) and build again (tools/build.sh)\n",
                   launcher_world_size());
      return 2;
    }
#endif
  }
  int code = 1;
  std::string message;
  bool from_peer = false;  // stopped because another rank failed, not by its own error
  try {
    code = run_main(argc, argv);
  } catch (const Interrupted& e) {  // a signal, or another rank's stop note
    code = e.exit_code();
    message = e.what();
    from_peer = world().stop_requested();
  } catch (const Error& e) {
    code = e.exit_code();
    message = e.what();
  } catch (const std::bad_alloc&) {
    code = 3;
    message = "out of memory; lower run.trajectories or objective.dim";
  } catch (const std::exception& e) {
    code = 1;
    message = e.what();
  }
  return world().finish(code, message, from_peer);
}

int run_main(int argc, char** argv) {
  CLI::App app{
      "saddlescope: runs thousands of descent trajectories over high-dimensional objectives on "
      "the CPU or a CUDA GPU and reports where they stop.\n"
      "Exit codes: 0 success, 2 bad input, 3 not enough memory, 1 anything else.",
      "saddlescope"};
  app.set_version_flag("--version", std::string("saddlescope ") + SADDLESCOPE_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  saddlescope run examples/double-well-basins.toml\n"
      "  saddlescope run examples/styblinski-tang-20k.toml --set run.trajectories=64 -o runs/st\n"
      "  saddlescope run exp.toml --set optimizer.lr=0.01 --set run.precision=f64\n"
      "  saddlescope validate exp.toml\n"
      "  saddlescope list optimizers\n"
      "  saddlescope report runs/st        (figures and runs/st/report/index.html)\n"
      "  saddlescope run --resume runs/st  (continue a killed or interrupted run or sweep)\n"
      "  saddlescope run examples/gaussian-field-sweep.toml -o runs/gf  (a [sweep]: one run per "
      "point)\n"
      "Experiment file reference: docs/experiment.md; run directory: docs/run-directory.md.\n"
      "Each subcommand has its own --help (saddlescope run --help).");

  std::string file, out_dir, backend;
  std::vector<std::string> sets;
  auto* run = app.add_subcommand("run", "Run an experiment file and write a run directory");
  run->footer(
      "Sweeps: an experiment file with a [sweep] table, for example\n"
      "  [sweep]\n"
      "  \"objective.dim\" = [5, 10, 20]\n"
      "  \"optimizer.0.lr\" = [0.01, 0.1]\n"
      "runs once per point of the Cartesian product of the lists (file order, the last key\n"
      "varying fastest; every point is validated before the first runs) and writes\n"
      "RUN_DIR/sweep.toml, one ordinary run directory per point in RUN_DIR/sweep/NNN/,\n"
      "RUN_DIR/sweep.csv (the swept values and headline statistics of each finished point)\n"
      "and RUN_DIR/summary.json last. Keys: \"section.key\", \"optimizer.N.key\" (0-based),\n"
      "\"optimizer.key\" (every optimizer) and \"seed\"; --set and --backend apply to every\n"
      "point. Ctrl-C checkpoints the running point; `run --resume RUN_DIR` keeps the finished\n"
      "points and continues at the first unfinished one. `saddlescope validate FILE` lists the\n"
      "points. Reference: docs/experiment.md [sweep], docs/run-directory.md Sweeps.\n"
      "\n"
      "Many processes (MPI): mpirun -np R saddlescope run EXPERIMENT -o RUN_DIR (or srun)\n"
      "shares each optimizer's trajectories, the finder's starts and the census's points\n"
      "between the R ranks (a sweep: its points between min(R, points) groups of ranks);\n"
      "rank 0 writes the run directory one process would have written (timings aside).\n"
      "One GPU per rank on a node (more ranks than GPUs are refused); CPU ranks divide the\n"
      "cores. Each rank checkpoints its share (checkpoint.rank-K-of-R.bin): continue with\n"
      "mpirun -np R saddlescope run --resume RUN_DIR, the same R. docs/design.md II.6;\n"
      "a Slurm script: examples/slurm/.");
  run->add_option("experiment", file, "Experiment file (TOML; see docs/experiment.md)");
  std::string resume_dir;
  run->add_option("--resume", resume_dir,
                  "Continue the killed or interrupted run in RUN_DIR from its checkpoint "
                  "(RUN_DIR/checkpoint.bin, or one per MPI rank, written every "
                  "run.checkpoint_every seconds and on "
                  "Ctrl-C), or a sweep (RUN_DIR/sweep.toml) at its first unfinished point; no "
                  "experiment file then")
      ->option_text("RUN_DIR");
  run->add_option("-o,--output", out_dir,
                  "Run directory: new or empty (default runs/<name>-<UTC timestamp>)");
  run->add_option("--backend", backend,
                  "auto (CUDA when present), cpu or cuda; overrides run.backend")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  run->add_option("--set", sets,
                  "Override a key: section.key=value (optimizer.key=value sets every optimizer, "
                  "optimizer.INDEX.key=value one, 0-based); repeat for several")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);

  auto* validate = app.add_subcommand(
      "validate",
      "Check an experiment file; print the resolved experiment and the memory plan (for a "
      "[sweep]: every point, listed with its swept values and memory plan)");
  validate->add_option("experiment", file, "Experiment file (TOML)")->required();
  validate->add_option("--backend", backend, "auto, cpu or cuda (for the memory plan)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  validate->add_option("--set", sets, "Override a key: section.key=value; repeat for several")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);

  std::string report_dir;
  auto* report = app.add_subcommand(
      "report",
      "Figures (PNG, SVG) and a self-contained RUN_DIR/report/index.html for a run directory "
      "(Python 3 with numpy and matplotlib; docs/report.md)");
  report->add_option("run_dir", report_dir, "Run directory written by saddlescope run")->required();
  std::string report_out;
  report->add_option("-o,--output", report_out,
                     "Report folder (default RUN_DIR/report), e.g. when RUN_DIR is read-only");
  std::string report_dpi, report_size, report_format, report_spectra_scale;
  bool report_no_titles = false;
  report->add_option("--dpi", report_dpi, "Resolution of raster figures (default 100)")
      ->check(CLI::Range(20, 1200));
  report
      ->add_option("--size", report_size,
                   "Figure size W,H in inches for every figure (default: each figure's own)")
      ->option_text("W,H");
  report
      ->add_option("--format", report_format,
                   "Figure file format beside the page's PNG: png, svg or pdf (default: png "
                   "and svg)")
      ->check(CLI::IsMember({"png", "svg", "pdf"}));
  report
      ->add_option("--spectra-scale", report_spectra_scale,
                   "Eigenvalue axis of the spectra: auto (symmetric-log when the spectrum "
                   "spans orders of magnitude), linear or symlog")
      ->check(CLI::IsMember({"auto", "linear", "symlog"}));
  report->add_flag("--no-titles", report_no_titles,
                   "No figure titles (for papers: captions carry them); panel labels stay");

  std::string what = "all";
  auto* list = app.add_subcommand("list", "List objectives and optimizers with their parameters");
  list->add_option("what", what, "objectives, optimizers or all")
      ->check(CLI::IsMember({"all", "objectives", "optimizers"}));
  bool list_markdown = false;
  list->add_flag(
      "--markdown", list_markdown,
      "The key tables as docs/experiment.md holds them (generated from the objective and "
      "optimizer registries)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return world().root() ? app.exit(e) : 0;
  } catch (const CLI::ParseError& e) {
    if (world().root()) app.exit(e);
    return 2;
  }

  {
    if (world().size() > 1 && !*run && !*validate)
      throw InputError(
          "only run and validate share their work between MPI ranks; run the "
          "others as one process (without mpirun)");
    if (*report) {
      std::vector<std::string> figure_args;
      if (!report_dpi.empty()) figure_args.insert(figure_args.end(), {"--dpi", report_dpi});
      if (!report_size.empty()) figure_args.insert(figure_args.end(), {"--size", report_size});
      if (!report_format.empty())
        figure_args.insert(figure_args.end(), {"--format", report_format});
      if (!report_spectra_scale.empty())
        figure_args.insert(figure_args.end(), {"--spectra-scale", report_spectra_scale});
      if (report_no_titles) figure_args.push_back("--no-titles");
      return report_command(report_dir, report_out, figure_args);
    }
    if (*run && !resume_dir.empty()) {
      if (!file.empty() || !out_dir.empty() || !sets.empty())
        throw InputError(
            "run --resume RUN_DIR takes no experiment file, -o or --set: the run continues "
            "with RUN_DIR/config.toml in RUN_DIR");
      return resume_command(resume_dir, backend);
    }
    if (*run && file.empty())
      throw InputError(
          "run needs an experiment file: saddlescope run EXPERIMENT.toml (or --resume RUN_DIR)");
    if (*run) return run_command(file, out_dir, backend, sets);
    if (*validate) return validate_command(file, backend, sets);
    if (*list && list_markdown) {
      if (what == "objectives") fmt::print("{}", objective_tables_markdown());
      if (what == "optimizers") fmt::print("{}", optimizer_tables_markdown());
      if (what == "all")
        fmt::print("{}\n{}{}\n\n{}\n{}{}\n", kObjectiveTablesBegin, objective_tables_markdown(),
                   kObjectiveTablesEnd, kOptimizerTablesBegin, optimizer_tables_markdown(),
                   kOptimizerTablesEnd);
      return 0;
    }
    if (*list) {
      if (what != "optimizers") fmt::print("{}", describe_objectives());
      if (what == "all") fmt::print("\n");
      if (what != "objectives") fmt::print("{}", describe_optimizers());
      return 0;
    }
  }
  return 1;
}
