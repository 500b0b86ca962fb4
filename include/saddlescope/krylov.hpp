// Krylov spectra of Hessians from Hessian-vector products alone
// (docs/design.md, II.5; docs/experiment.md, analysis methods): batched
// Lanczos with partial reorthogonalization over (point, probe) columns whose
// vectors stay with the backend, Ritz pairs, and the census's "lanczos"
// (extreme eigenpairs) and "slq" (stochastic Lanczos quadrature) methods.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "backend.hpp"
#include "experiment.hpp"
#include "host_linalg.hpp"

namespace saddlescope {

// One column's Lanczos recurrence: T's diagonal alpha_0 .. alpha_{m-1} and
// beta_j = |w_j| after step j (T's off-diagonals are beta_0 .. beta_{m-2};
// beta_{m-1} scales the Ritz residuals).
struct LanczosColumn {
  std::vector<double> alpha, beta;
  bool invariant = false;  // beta fell to rounding: the Krylov space is invariant
  bool done = false;       // no more steps (converged, invariant or full)
  std::int64_t steps() const { return static_cast<std::int64_t>(alpha.size()); }
};

// Ritz pairs of a column's T, ascending: values theta_i, residual norms
// |H y_i - theta_i y_i| = beta_{m-1} |s_{m-1,i}|, and quadrature weights
// s_{0,i}^2 (they sum to 1), s_i the eigenvectors of T.
struct RitzPairs {
  std::vector<double> values, residuals, weights;
  std::vector<double> vectors;  // when asked: s_i in column i, [m, m] column-major
};
RitzPairs ritz_pairs(const LanczosColumn& c, const HostLinalg& la, bool vectors = false);

// Batched Lanczos with partial reorthogonalization (per step the three-term
// recurrence; against the whole basis by classical Gram-Schmidt when the
// column's estimated loss of orthogonality passes sqrt(u), Simon 1984) on
// the Hessians of `obj` at the
// points x [cols, dim] (one per column; repeated for several probes of a point), from the starts v0
// [cols, dim] (normalized here; on the sphere they must be tangent, and the
// normals x / |x| join the basis). One batched Hessian-vector product per
// step for every column; the Krylov bases stay with the backend (only
// per-row scalars cross). A column stops at an invariant space, at the
// Hessian's order `order` (the space is then everything), at `max_steps`,
// or when converged(column, its recurrence) says so (asked every
// `check_every` steps, and at most about 8 times per doubling of the steps). A column's recurrence
// depends on that column alone. With `vectors`: the combinations Q s of each column's basis, s =
// coefficients(column, its recurrence) (at most its steps long), as host
// rows [cols, dim] (Ritz vectors: s from ritz_pairs' vectors).
using LanczosCoefficients = std::function<std::vector<double>(std::int64_t, const LanczosColumn&)>;
std::vector<LanczosColumn> lanczos_batched(
    PreparedObjective& obj, const std::vector<double>& x, const std::vector<double>& v0,
    std::int64_t cols, std::int64_t order, std::int64_t max_steps, std::int64_t check_every,
    const std::function<bool(std::int64_t, const LanczosColumn&)>& converged,
    const LanczosCoefficients& coefficients = {}, std::vector<double>* vectors = nullptr);

// run.sharpness_every (docs/experiment.md, sharpness): the largest and the
// smallest Hessian eigenvalue at the recorded trajectories' points every
// sharpness_every steps (their paths [record_trajectories, records, dim]),
// by kSharpnessSteps Lanczos steps per measurement in the run's precision,
// each started from the sum of the previous measurement's two extreme Ritz
// vectors (the first from a seeded Gaussian vector). Returns
// [record_trajectories, max_steps / sharpness_every + 1, 2] as (largest,
// smallest), NaN where the trajectory had stopped.
constexpr std::int64_t kSharpnessSteps = 20;
std::vector<double> path_sharpness(const Experiment& e, const ObjectiveData& obj, Backend& backend,
                                   const std::vector<double>& paths);

// The census's Krylov results per point (docs/run-directory.md: ritz.npy,
// slq.npy and the points.csv columns).
struct KrylovSpectra {
  std::int64_t k = 0, probes = 0, steps = 0;  // shapes of the arrays below
  std::vector<double> ritz;         // lanczos: [count, 2k, 2] (value, residual), NaN padded
  std::vector<double> quadrature;   // slq: [count, probes, steps, 2] (node, weight), NaN padded
  std::vector<double> probe_norm2;  // slq: [count, probes]: |v|^2 of each (tangent) probe
  std::vector<double> index_estimate, index_stderr, trace_estimate, trace_stderr;  // slq: [count]
  std::vector<std::int64_t> lanczos_steps;  // [count]: steps taken (slq: the most of its probes)
  std::vector<std::int8_t> converged;  // [count]: lanczos: every kept Ritz pair met the tolerance
  std::vector<std::int8_t> certified;  // [count]: the Krylov space was the whole space
  void resize(const AnalysisSpec& a, std::int64_t count);
  bool sized(const AnalysisSpec& a, std::int64_t count) const;
};

// The seed of the start and probe vectors is (experiment seed, point index).
struct KrylovPoint {
  double lambda_min = 0, lambda_max = 0;  // extreme Ritz values
  std::vector<double> ritz_values;        // every Ritz value the point's counts use
  bool certified = false;
  // slq: per probe, the Ritz values (the counts' lower bounds hold per probe).
  std::vector<std::vector<double>> probe_values;
};

// Krylov analysis of points [first, first + m) of a census, x [m, dim]: fills
// rows first .. first + m - 1 of `out` and returns what the counts need
// (per point). Method "lanczos" or "slq" (spec.method).
std::vector<KrylovPoint> krylov_points(PreparedObjective& obj, const HostLinalg& la,
                                       const AnalysisSpec& spec, std::uint64_t seed,
                                       const std::vector<double>& x, std::int64_t first,
                                       std::int64_t m, KrylovSpectra& out);

// The mass below t of one probe's Gauss quadrature (m nodes ascending with
// their weights, interleaved): 0 below the first node, the total above the
// last, and between nodes the linear interpolation of the distribution
// function through the midpoints of its jumps (the measure's own lies
// within each jump by the Chebyshev-Markov-Stieltjes inequalities).
double quadrature_mass_below(const double* nodes_weights, std::int64_t m, double t);

// The slq estimates of a point once its tolerance is known: index = the mean
// over probes of |v|^2 times the quadrature's mass below -tol (N times the
// spectral mass below -tol for Rademacher probes), its standard error over
// probes.
void slq_estimates(const AnalysisSpec& spec, std::int64_t point, double tol, KrylovSpectra& out);

// The bytes a census point takes on the backend in the Krylov methods: its
// bases (probes x (steps + 1) rows, plus the point's rows, products and
// normals) in the analysis precision, and the objective's work rows
// (work_bytes_per_row, in that precision) for its columns.
std::uint64_t krylov_bytes_per_point(const AnalysisSpec& a, std::int64_t dim,
                                     std::uint64_t work_bytes_per_row);
// What the host keeps per point: the recurrences, Ritz values, nodes and
// weights, and the point's coordinates in double.
std::uint64_t krylov_host_bytes_per_point(const AnalysisSpec& a, std::int64_t dim);

}  // namespace saddlescope
