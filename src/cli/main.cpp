// The saddlescope command (DESIGN section 2): run, validate, list, --version.
// Exit codes: 0 success, 2 bad input, 3 resources, 1 anything else.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "saddlescope/errors.hpp"
#include "saddlescope/experiment.hpp"
#include "saddlescope/run.hpp"

using namespace saddlescope;

namespace {

void print_report(const Experiment& e, const RunResult& r, const std::string& dir) {
  fmt::print("saddlescope {}: {} on {} (N = {}, {} trajectories, {})\n", SADDLESCOPE_VERSION,
             e.name, r.backend, e.objective.dim, e.run.trajectories,
             e.run.precision == Precision::f64 ? "f64" : "f32");
  fmt::print("device: {}\n", r.device);
  fmt::print("{:<22} {:>9} {:>9} {:>9} {:>14} {:>14} {:>12}\n", "optimizer", "converged",
             "diverged", "max_steps", "median f_final", "median steps", "traj-steps/s");
  for (const auto& o : r.optimizers) {
    const OptimizerStats st = summarize(o);
    fmt::print("{:<22} {:>9} {:>9} {:>9} {:>14.6g} {:>14.0f} {:>12.3g}\n", o.label, st.converged,
               st.diverged, st.max_steps, st.final_loss.median, st.steps.median,
               st.trajectory_steps_per_second);
  }
  fmt::print("time: {:.2f} s; results in {}\n", r.seconds_total, dir);
}

int run_command(const std::string& file, const std::string& out_dir,
                const std::string& backend_flag, const std::vector<std::string>& sets) {
  Experiment e = load_experiment(file, sets);
  if (!backend_flag.empty()) e.run.backend = backend_flag;
  check_start_file(e);
  std::string note;
  auto backend = select_backend(e.run.backend, note);
  std::fprintf(stderr, "%s\n", note.c_str());
  const MemoryPlan plan = plan_memory(e, *backend);  // refuses (exit 3) before creating the run dir
  std::fprintf(stderr, "%s\n", plan.describe().c_str());
  const std::string dir = out_dir.empty() ? default_run_dir(e) : out_dir;
  prepare_run_dir(dir, e);
  const RunResult r = run_experiment(e, *backend, stderr_progress(e));
  write_results(dir, e, r);
  print_report(e, r, dir);
  return 0;
}

int validate_command(const std::string& file, const std::string& backend_flag,
                     const std::vector<std::string>& sets) {
  Experiment e = load_experiment(file, sets);
  if (!backend_flag.empty()) e.run.backend = backend_flag;
  check_start_file(e);
  std::string note;
  auto backend = select_backend(e.run.backend, note);
  fmt::print("{}", to_toml(e));
  fmt::print("\n# {}\n# {}\n", note, plan_memory(e, *backend).describe());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
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
      "Experiment file reference: docs/experiment.md; run directory: docs/run-directory.md.\n"
      "Each subcommand has its own --help (saddlescope run --help).");

  std::string file, out_dir, backend;
  std::vector<std::string> sets;
  auto* run = app.add_subcommand("run", "Run an experiment file and write a run directory");
  run->add_option("experiment", file, "Experiment file (TOML; see docs/experiment.md)")->required();
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
      "validate", "Check an experiment file; print the resolved experiment and the memory plan");
  validate->add_option("experiment", file, "Experiment file (TOML)")->required();
  validate->add_option("--backend", backend, "auto, cpu or cuda (for the memory plan)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  validate->add_option("--set", sets, "Override a key: section.key=value; repeat for several")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);

  // Contract commands of later versions: present so that they answer clearly.
  bool resume = false;
  run->add_flag("--resume", resume, "Continue a killed run (not available in this version)");
  std::string report_dir;
  auto* report = app.add_subcommand(
      "report",
      "Figures and report/index.html for a run directory (not available in this version)");
  report->add_option("run_dir", report_dir, "Run directory");

  std::string what = "all";
  auto* list = app.add_subcommand("list", "List objectives and optimizers with their parameters");
  list->add_option("what", what, "objectives, optimizers or all")
      ->check(CLI::IsMember({"all", "objectives", "optimizers"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  try {
    if (*run && resume)
      throw InputError(
          "run --resume is not available in this version (checkpoint and resume are planned); "
          "start the run again with saddlescope run EXPERIMENT.toml");
    if (*report)
      throw InputError(
          "report is not available in this version (figures and the HTML report are planned); the "
          "run directory's summary.json, trajectories.csv and curves.npy hold the results "
          "(docs/run-directory.md)");
    if (*run) return run_command(file, out_dir, backend, sets);
    if (*validate) return validate_command(file, backend, sets);
    if (*list) {
      if (what != "optimizers") fmt::print("{}", describe_objectives());
      if (what == "all") fmt::print("\n");
      if (what != "objectives") fmt::print("{}", describe_optimizers());
      return 0;
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "saddlescope: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr,
                 "saddlescope: error: out of memory; lower run.trajectories or objective.dim\n");
    return 3;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "saddlescope: error: %s\n", e.what());
    return 1;
  }
  return 1;
}
