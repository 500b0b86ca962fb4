// Experiment sweeps (docs/experiment.md [sweep], docs/run-directory.md
// Sweeps): an experiment whose [sweep] table maps keys of the other sections
// to lists of values runs once per point of their Cartesian product, each
// point an ordinary run directory RUN_DIR/sweep/NNN, with RUN_DIR/sweep.toml
// (what ran), RUN_DIR/sweep.csv (one row of headline statistics per point)
// and RUN_DIR/summary.json (kind "sweep") last.
#pragma once

#include <csignal>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "experiment.hpp"

namespace saddlescope {

// More points than this are refused: a sweep is meant to be looked at point by point.
constexpr std::size_t kMaxSweepPoints = 10'000;

struct SweepPoint {
  std::size_t index = 0;            // 0-based, in product order (the last key varies fastest)
  std::string dir;                  // "sweep/NNN", relative to RUN_DIR
  std::vector<std::string> values;  // TOML text of each swept value, in key order
  Experiment experiment;            // parsed and validated; name = <base name>-NNN
};

struct Sweep {
  std::string source;             // the experiment file (or RUN_DIR/sweep.toml)
  std::string name;               // the base name (points are <name>-NNN)
  std::vector<std::string> keys;  // the swept keys, in file order
  std::string text;               // sweep.toml: the file with --set applied, [sweep] kept
  std::vector<SweepPoint> points;

  // "objective.dim=10, optimizer.0.lr=0.1" (strings without quotes).
  std::string describe(std::size_t point) const;
};

// True when the text (file) is TOML with a top-level `sweep` table; false for
// anything else, malformed TOML included (load_experiment then says what is wrong).
bool text_has_sweep(const std::string& text);
bool file_has_sweep(const std::string& path);
// True when dir holds a sweep (RUN_DIR/sweep.toml).
bool is_sweep_dir(const std::string& dir);

// Parse the sweep and every point's experiment (parse_experiment of the file
// without [sweep], with `sets`, then the point's values, then its name):
// every point is validated before anything runs. `backend` (the --backend
// flag, may be empty) is applied to every point as run.backend and recorded
// in sweep.toml. Throws InputError naming the file, the [sweep] key, the
// value and the point.
Sweep parse_sweep(const std::string& text, const std::string& source,
                  const std::vector<std::string>& sets = {}, const std::string& base_dir = ".",
                  const std::string& backend = "");
Sweep load_sweep(const std::string& path, const std::vector<std::string>& sets = {},
                 const std::string& backend = "");

struct SweepOptions {
  const volatile std::sig_atomic_t* stop = nullptr;  // SIGINT/SIGTERM: checkpoint and stop
  std::string backend;  // resume: the device (--backend); empty: each point's run.backend
  bool quiet = false;   // no progress on stderr and no table on stdout (tests)
  std::function<void(std::size_t)> before_point;  // called before each point runs (tests)
};

// Runs every point into dir (new or empty; "" = runs/<name>-<UTC time>):
// sweep.toml first, then the points (the start files and memory plans of all
// of them checked first), sweep.csv after each, summary.json last. Throws
// Interrupted (exit 1) when stopped, naming the command that continues.
// `select` chooses the backend of each kind the points ask for, once per kind
// (the default, select_backend, needs saddlescope_backends linked).
void run_sweep(const Sweep& s, const std::string& dir, const SweepOptions& o = {},
               const BackendSelector& select = select_backend);
// `run --resume RUN_DIR` of a sweep: finished points (summary.json) are kept,
// the first unfinished one resumes from its checkpoint.bin (or starts again
// when it has none), then the rest run.
void resume_sweep(const std::string& dir, const SweepOptions& o = {},
                  const BackendSelector& select = select_backend);
// `validate` of a sweep: prints the points (index, directory, swept values)
// with each one's memory plan, after checking each (start file, memory plan).
void validate_sweep(const Sweep& s, const BackendSelector& select = select_backend);

// The sweep.csv text of the finished points of a sweep directory (the rows
// of points whose summary.json exists), as run_sweep writes it.
std::string sweep_csv(const Sweep& s, const std::string& dir);

}  // namespace saddlescope
