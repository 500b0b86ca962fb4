// The experiment: the parsed, validated and resolved experiment file
// (docs/design.md section 3). Every default is filled in and every value range-checked
// before anything is allocated; bad input throws InputError naming the file,
// line, key and what is allowed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend.hpp"
#include "optimizer_registry.hpp"

namespace saddlescope {

struct ObjectiveSpec {
  std::string kind = "quadratic";  // resolved kind (presets become quadratic)
  std::string preset;              // saddle-2d / bowl-2d when used
  std::int64_t dim = 0;
  std::vector<double> eigenvalues;  // quadratic (resolved from negative/curvature too)
  std::int64_t negative = -1;       // quadratic: -1 when eigenvalues were given
  double curvature = 1.0;           // quadratic with negative = k
  bool rotate = false;              // quadratic: Haar-random rotation
  double a = 10.0;                  // rastrigin amplitude
  double sigma = 1.0;               // goe-quadratic: semicircle radius / 2
  std::int64_t features = 1024;     // gaussian-field: random features M
  double length_scale = 1.0;        // gaussian-field: covariance length l
  double mu = 0.1;                  // gaussian-field: confining curvature
  // mlp: student sizes, data and teacher (dim = hidden*inputs + hidden + outputs*hidden + outputs)
  std::int64_t inputs = 100, hidden = 196, outputs = 1, samples = 256, teacher_hidden = 8;
  double noise = 0.0;
  // deep-linear: layer widths d_0 .. d_L (dim = sum d_l d_{l-1}) and samples
  std::vector<std::int64_t> widths = {10, 10, 10};
  // network: widths d_0 .. d_L, the hidden layers' activation, bias, loss
  // and weight decay; data from .npy files (paths as written, and resolved
  // against the experiment file's folder; data_samples 0 = all rows) or,
  // without data.x, the teacher-student generator (samples, teacher_hidden,
  // noise, as the mlp's).
  std::vector<std::int64_t> layers;
  std::string activation = "tanh";
  bool bias = true;
  std::string loss = "mse";
  double weight_decay = 0.0;
  std::string data_x, data_y, data_x_resolved, data_y_resolved;
  std::int64_t data_samples = 0;
  bool one_hot = false;  // resolved: mse data whose every target row is one-hot (an accuracy)
  std::int64_t p = 3;    // p-spin: 2 or 3
  bool tf32 = false;     // GEMM objectives in f32: allow TF32 tensor cores (CUDA)

  // Size of the census's Hessians: dim - 1 tangent directions for the p-spin
  // on the sphere (objective_registry.cpp).
  std::int64_t hessian_dim() const;
  // A network with a training accuracy: cross-entropy, or mse on one-hot data.
  bool classifies() const { return kind == "network" && (loss == "cross-entropy" || one_hot); }
};

struct InitSpec {
  std::string kind = "gaussian";  // gaussian | uniform | sphere | point | file
  double scale = 1.0;         // std (gaussian), half-width (uniform), radius / sqrt(dim) (sphere)
  std::vector<double> point;  // point: length 1 (broadcast) or dim
  std::string file;           // file: .npy path as written
  std::string file_resolved;  // file: path resolved against the experiment file's folder
};

struct RunSpec {
  std::int64_t trajectories = 1024;
  std::int64_t max_steps = 10000;
  double grad_tol = 1e-6;
  double diverge_above = 1e10;
  std::int64_t record_every = 10;
  std::int64_t record_trajectories = 64;  // resolved: at most trajectories
  Precision precision = Precision::f32;
  std::string backend = "auto";  // auto | cpu | cuda
  bool save_final_points = false;
  bool record_paths = false;      // resolved: true when dim <= 3
  std::int64_t chunk_size = 0;    // trajectories per chunk; 0 = from the memory plan
  double target_loss = NAN;       // optimizer comparison: steps to reach it (NaN: none)
  double target_accuracy = NAN;   // ... or to reach this training accuracy (classifiers; NaN: none)
  double checkpoint_every = 300;  // seconds between checkpoints (run --resume)
  // Every this many steps (a multiple of record_every; 0 = off) the recorded
  // trajectories' extreme Hessian eigenvalues (sharpness.npy, docs/experiment.md).
  std::int64_t sharpness_every = 0;
};

// [analysis]: the Hessian census of selected points (docs/design.md sections 1, 3).
struct AnalysisSpec {
  std::vector<std::string> points = {"stops"};  // any of stops, plateaus, critical
  // eigh | inertia | lanczos | slq | none; "eigh" is the default when [analysis] is present
  std::string method = "none";
  std::int64_t max_points = 256;
  double zero_tol = 1e-6;  // relative: |lambda| <= zero_tol * max(1, max|lambda|) counts as zero
  double crit_tol = 1e-4;  // ||grad f|| <= max(crit_tol, rounding floor) makes a point critical
  // Merge distance of distinct points: 0 = derived per point from its
  // accuracy (docs/experiment.md, census rules); > 0 = this fixed distance.
  double dedup_tol = 0;
  Precision precision = Precision::f64;
  bool save_point_coords = false;
  // The Krylov methods (docs/experiment.md, analysis methods): lanczos's k
  // lowest and k highest eigenpairs, slq's probe vectors per point, the
  // Lanczos steps per column (default 200 for lanczos, 80 for slq), and
  // lanczos's residual tolerance relative to max |theta| (default 1e-9 in
  // f64, 1e-4 in f32).
  std::int64_t k = 10;
  std::int64_t probes = 8;
  std::int64_t lanczos_steps = 200;
  double lanczos_tol = 1e-9;
  bool krylov() const { return method == "lanczos" || method == "slq"; }
};

// [finder]: critical points of any index (docs/design.md section 6).
struct FinderSpec {
  std::string kind = "none";  // none | gradient-norm | newton
  std::int64_t starts = 256;  // how many starts, drawn from `init`
  std::int64_t max_steps = 2000;
  double lr = 0;          // gradient-norm: step on 1/2 ||grad f||^2 (default 1e-3);
                          // newton: first trial step (default 1, halved on failure)
  InitSpec init;          // [finder.init]; a copy of [init] when not given
  bool own_init = false;  // true when [finder.init] was given
};

struct OptimizerSpec {
  std::string label;  // unique name used in outputs
  OptimizerParams params;
};

struct Experiment {
  std::string name = "experiment";
  std::uint64_t seed = 0;
  ObjectiveSpec objective;
  InitSpec init;
  RunSpec run;
  std::vector<OptimizerSpec> optimizers;
  AnalysisSpec analysis;
  FinderSpec finder;
  PlateauRule plateau;  // [plateau]: detection is always on, with these defaults
  std::string source;   // the file it came from

  std::int64_t records() const { return run.max_steps / run.record_every + 1; }
  // Trajectories actually run: run.trajectories, or 0 in a finder-only experiment.
  std::int64_t trajectories() const { return optimizers.empty() ? 0 : run.trajectories; }
};

// Parse and validate an experiment file; `sets` are --set overrides
// ("section.key=value", "optimizer.key=value" for every optimizer,
// "optimizer.2.key=value" for one). Throws InputError.
Experiment load_experiment(const std::string& path, const std::vector<std::string>& sets = {});
// Same from text; `source` names it in messages, `base_dir` resolves init.file.
Experiment parse_experiment(const std::string& text, const std::string& source,
                            const std::vector<std::string>& sets = {},
                            const std::string& base_dir = ".");
// The resolved experiment as TOML: every default filled in; loading it gives
// the same experiment.
std::string to_toml(const Experiment& e);

// The experiment-file name of an optimizer kind ("gd", "momentum", ...).
const char* optimizer_kind_name(OptimizerKind k);

}  // namespace saddlescope
