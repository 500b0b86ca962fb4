// The Hessian census (docs/design.md section 1): at selected points, the dense
// Hessian, its spectrum, the index (eigenvalues < -tol), the zero and
// positive counts and the class, with the relative zero tolerance
// tol = zero_tol * max(1, max|lambda|).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend.hpp"
#include "experiment.hpp"
#include "finder.hpp"

namespace saddlescope {

enum class PointClass { minimum, maximum, saddle, degenerate, failed };
const char* class_name(PointClass c);

struct Inertia {
  std::int64_t index = 0, n_zero = 0, n_pos = 0;
  double tol = 0;  // the absolute zero tolerance used
  double lambda_min = 0, lambda_max = 0;
  PointClass cls = PointClass::failed;
};

// Classify an ascending spectrum of length n. Non-finite values give `failed`.
Inertia classify(const double* lambda, std::int64_t n, double zero_tol);

// Extreme eigenvalues (min, max) of a dense symmetric matrix by Lanczos with
// full reorthogonalization, at most `steps` iterations (exact when steps >= n).
std::pair<double, double> lanczos_extremes(const double* h, std::int64_t n, std::int64_t steps);

// The inertia method's first step for m stacked n x n matrices: Lanczos
// extremes (120 steps; the matrices over the host's threads) and the
// Sylvester shifts -tol, +tol of each, tol = zero_tol * max(1, max |lambda|),
// laid out [m, 2] for Backend::count_below.
struct InertiaShifts {
  std::vector<std::pair<double, double>> extremes;  // [m] (lambda_min, lambda_max)
  std::vector<double> shifts;                       // [m, 2]
};
InertiaShifts inertia_shifts(const double* h, std::int64_t m, std::int64_t n, double zero_tol);

// Sphere objectives: the embedded Riemannian Hessians h [m, n, n] at the
// points x [m, n] restricted to the tangent space, [m, n - 1, n - 1], in the
// orthonormal tangent basis given by a Householder reflection of x / |x|.
std::vector<double> tangent_hessians(std::int64_t n, std::int64_t m, const double* x,
                                     const std::vector<double>& h);

// Hessians and spectra of `count` points X [count, dim] on the backend, in
// chunks of at most `chunk` points. method "eigh": spectra [count,
// hessian_dim] (dim, or dim - 1 tangent directions on the sphere; NaN
// rows where the solve failed); "inertia": counts only, from Sylvester's law
// (spectra stay NaN; lambda_min / lambda_max are Lanczos estimates). info per
// point (0 = success).
struct Spectra {
  std::vector<double> values;
  std::vector<Inertia> inertia;
  std::vector<int> info;
};
Spectra analyze_points(const ObjectiveData& obj, Backend& backend, const AnalysisSpec& spec,
                       const std::vector<double>& x, std::int64_t count, std::int64_t chunk);

struct AnalyzedPoint {
  std::string source;  // "stop", "plateau" or "critical"
  std::string group;   // the optimizer's label, or the finder ("gradient-norm", "newton")
  std::int64_t trajectory = 0, step = 0;
  double f = 0, grad_norm = 0;
  bool critical = false;    // grad_norm <= analysis.crit_tol
  std::int8_t outcome = 0;  // the trajectory's Outcome (stop and plateau points)
  Inertia inertia;
  int info = 0;
};

struct CensusResult {
  std::vector<AnalyzedPoint> points;
  std::vector<double> spectra;  // [points, dim]
  std::vector<double> coords;   // [points, dim]
  double seconds = 0;
  bool has_finder = false;
  FinderResult finder;  // coords dropped (the analysed ones are in `coords` when saved)
};

// True when analysis.points lists `source` ("stops", "critical").
bool analysis_wants(const AnalysisSpec& a, const char* source);

// Up to max_points of the candidates (per optimizer, trajectory indices),
// an even share per optimizer (shares one cannot use go to the others),
// evenly spaced within each; (optimizer, trajectory) pairs in optimizer order.
std::vector<std::pair<std::size_t, std::int64_t>> select_even(
    const std::vector<std::vector<std::int64_t>>& cand, std::int64_t max_points);

// Indices of the trajectories whose stopping points enter the census:
// non-diverged ones, sampled evenly across optimizers up to max_points.
// Returns (optimizer, trajectory) pairs in optimizer order.
std::vector<std::pair<std::size_t, std::int64_t>> select_stops(
    const std::vector<std::vector<std::int8_t>>& outcomes, std::int64_t max_points);

}  // namespace saddlescope
