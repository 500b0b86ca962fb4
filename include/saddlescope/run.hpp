// Running an experiment: the objective instance, the starts, the memory plan,
// the ensemble engine and the run directory (docs/design.md sections 4 and 7).
// Data flows one way: Experiment -> ObjectiveData + starts -> Ensemble chunks
// on a backend -> RunResult -> run directory.
#pragma once

#include <csignal>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backend.hpp"
#include "census.hpp"
#include "experiment.hpp"

namespace saddlescope {

// The objective drawn from the experiment seed (identical for every backend),
// its dense algebra (the rotated quadratic's QR and product) by `la`: the
// engine passes Backend::host_linalg(); the default needs saddlescope_cpu.
ObjectiveData build_objective(const Experiment& e, const HostLinalg& la = cpu_host_linalg());

// Starts of trajectories [first, first + count), row-major [count, dim]. A
// trajectory's start depends only on the seed and its global index.
std::vector<double> make_starts(const Experiment& e, std::int64_t first, std::int64_t count);
// Starts of the finder [first, first + count), from [finder.init] (or [init]);
// start i from the same init as trajectory i is the same point.
std::vector<double> make_finder_starts(const Experiment& e, std::int64_t first, std::int64_t count);
// Check init.file (shape [trajectories, dim], float32/float64) and the
// finder's start file before allocating.
void check_start_file(const Experiment& e);

class Comm;
// The experiment one rank runs of `e` (its shares of run.trajectories and
// finder.starts): what its memory plan is made for (docs/design.md II.6).
Experiment rank_experiment(const Experiment& e, const Comm& comm);
Experiment rank_experiment(const Experiment& e, int rank, int ranks);
// Refuses (exit 2) more ranks than trajectories.
void check_ranks(const Experiment& e, const Comm& comm);
void check_ranks(const Experiment& e, int ranks);
// This process's checkpoint in run directory `dir`: checkpoint.bin, or under
// MPI checkpoint.rank-K-of-R.bin (each rank's own share of the work).
std::string checkpoint_file(const std::string& dir);
// How many processes wrote the checkpoint named `filename` (checkpoint.bin:
// 1; checkpoint.rank-K-of-R.bin: R); 0 when it names no checkpoint.
int checkpoint_ranks(const std::string& filename);
// The checkpoint files in `dir` (none when it does not exist).
std::vector<std::string> checkpoint_files(const std::string& dir);

struct MemoryPlan {
  std::uint64_t budget = 0;                // bytes the backend offers
  std::uint64_t objective_bytes = 0;       // objective data on the device
  std::uint64_t per_trajectory_bytes = 0;  // state, buffers, records
  std::int64_t chunk = 0;                  // trajectories per chunk
  std::int64_t chunks = 0;
  std::uint64_t peak_bytes = 0;              // objective + one chunk
  std::uint64_t host_result_bytes = 0;       // results kept on the host (finals, curves)
  std::uint64_t census_bytes_per_point = 0;  // Hessian + eigensolver work space (0: no census)
  std::int64_t census_chunk = 0;             // points analyzed at once
  std::uint64_t host_budget = 0;  // Backend::separate_host_budget (0: the host is the device)
  std::string describe() const;
};
// The host-driven optimizers (saddle-free-newton, annealing; host_driven()
// in kernels/optimizers.hpp) step through the backend's value_grad / hessian
// / eigh calls (src/core/host_optimizers.cpp) instead of a fused ensemble.
std::unique_ptr<Ensemble> make_host_ensemble(const EnsembleSpec& spec, Backend& backend);

// Throws ResourceError (exit 3) when not even one trajectory fits.
MemoryPlan plan_memory(const Experiment& e, const Backend& backend);

struct OptimizerResult {
  std::string label;
  EnsembleResult traj;  // all chunks concatenated; curves [record_trajectories, records, 2]
  double seconds = 0;
  std::int64_t trajectory_steps = 0;  // sum over trajectories of steps taken
  // Per trajectory: wall seconds until the first iteration with f <=
  // run.target_loss (NaN: not reached): target_step times the mean
  // iteration time of its chunk.
  std::vector<double> target_seconds;
  // run.sharpness_every: the recorded trajectories' largest and smallest
  // Hessian eigenvalues every sharpness_every steps, [record_trajectories,
  // max_steps / sharpness_every + 1, 2] (NaN after the stop; krylov.hpp).
  std::vector<double> sharpness;
};

struct RunResult {
  std::string backend, device;
  MemoryPlan plan;
  std::vector<OptimizerResult> optimizers;
  double seconds_total = 0;
  double seconds_objective = 0;
  bool has_census = false;
  CensusResult census;
};

// Quantiles with linear interpolation (numpy's default); NaN when empty.
struct Quantiles {
  std::size_t count = 0;
  double min = 0, q25 = 0, median = 0, q75 = 0, max = 0;
};
Quantiles quantiles(std::vector<double> values);

// What summary.json and the printed report say about one optimizer.
struct OptimizerStats {
  std::int64_t converged = 0, diverged = 0, max_steps = 0;
  Quantiles final_loss;  // over trajectories that did not diverge
  // A classifier's training accuracy at the final points, over the same
  // trajectories (empty quantiles when the objective does not classify).
  Quantiles final_accuracy;
  Quantiles steps;
  double trajectory_steps_per_second = 0;
};
OptimizerStats summarize(const OptimizerResult& r);

// Progress callback: (optimizer index, step, running trajectories in the chunk,
// chunk index, chunks); called every few steps from the host loop.
using ProgressFn =
    std::function<void(std::size_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t)>;

// Checkpointing of a run (docs/design.md section 4): every `every_seconds` (and when
// `stop` becomes true: then the run throws Interrupted after writing it) the
// engine saves the finished chunks and the running ensemble's state to
// `path`; with `resume` it continues from that file. The file is removed
// when the run's results are complete.
struct Checkpointing {
  std::string path;  // "" = no checkpoints
  double every_seconds = 300;
  bool resume = false;
  const volatile std::sig_atomic_t* stop = nullptr;  // set by a signal handler
};

RunResult run_experiment(const Experiment& e, Backend& backend, const ProgressFn& progress = {},
                         const Checkpointing* checkpoint = nullptr);

// The census of a finished run: its stopping points (analysis.points "stops")
// and the finder's critical points ("critical") -> Hessians, spectra, classes.
// With `cp` it checkpoints (the finder's state, then the finished Hessian
// groups) and `resume` continues such a state; progress on stderr when asked.
CensusResult run_census(const Experiment& e, const ObjectiveData& obj, const RunResult& run,
                        Backend& backend, const CensusCheckpoint* cp = nullptr,
                        const std::vector<std::uint8_t>* resume = nullptr, bool progress = false);

// The run directory (docs/design.md section 4). `prepare_run_dir` refuses an existing
// non-empty directory (InputError) and writes config.toml; `write_results`
// writes the rest, each file atomically, summary.json last.
std::string default_run_dir(const Experiment& e);
void prepare_run_dir(const std::string& dir, const Experiment& e);
// The same for any result directory: refuses an existing non-empty `dir`
// (InputError), creates it and writes `file` holding `text` (atomically).
void prepare_output_dir(const std::string& dir, const std::string& file, const std::string& text);
void write_results(const std::string& dir, const Experiment& e, const RunResult& r);

}  // namespace saddlescope

namespace saddlescope {
// Progress on stderr: a line rewritten in place when stderr is a terminal,
// else a line every few seconds.
ProgressFn stderr_progress(const Experiment& e);
// Under MPI the engine also calls the ProgressFn with these as the optimizer
// index: while rank 0 waits for the other ranks at the gather, and once
// every rank has finished (docs/design.md II.6).
constexpr std::size_t kProgressWaiting = static_cast<std::size_t>(-1);
constexpr std::size_t kProgressAllDone = static_cast<std::size_t>(-2);

// A progress line for a phase of known size (finder, census): the fraction
// done, a detail, the time elapsed and left; in place on a terminal, every
// 5 s otherwise. `upper_bound`: the time left is a worst case ("at most").
class PhaseProgress {
 public:
  PhaseProgress(std::string what, bool upper_bound);
  void update(double fraction, const std::string& detail, bool final);

 private:
  std::string what_;
  bool upper_bound_, tty_;
  double start_, last_ = -1e300;
  std::int64_t phase_;  // under MPI: which phase the ranks' fractions belong to
};
}  // namespace saddlescope
