// The Hessian census (docs/design.md section 1): at selected points, the dense
// Hessian, its spectrum, the index (eigenvalues < -tol), the zero and
// positive counts and the class, with the per-point tolerance of the census
// rules (docs/experiment.md), and the distinct points among them.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "backend.hpp"
#include "experiment.hpp"
#include "finder.hpp"
#include "krylov.hpp"

namespace saddlescope {

enum class PointClass { minimum, maximum, saddle, degenerate, failed };
const char* class_name(PointClass c);

// Which term of the census rules set a point's eigenvalue tolerance
// (docs/experiment.md, census rules).
enum class TolRule : std::int8_t { zero_tol, backward_error, second_order };
const char* tol_rule_name(TolRule r);

struct Inertia {
  std::int64_t index = 0, n_zero = 0, n_pos = 0;
  double tol = 0;  // the absolute eigenvalue tolerance used (lambda_tol)
  double lambda_min = 0, lambda_max = 0;
  double sigma_min = 0;  // min |lambda| (eigh); NaN with the inertia method
  PointClass cls = PointClass::failed;
  TolRule rule = TolRule::zero_tol;
};

// The class of a point's counts (docs/design.md section 1).
PointClass class_of(const Inertia& r);
// Counts and class of an ascending spectrum of length n at the absolute
// tolerance `tol`. Non-finite values give `failed`.
Inertia count_inertia(const double* lambda, std::int64_t n, double tol, TolRule rule);
// The same with the relative tolerance zero_tol * max(1, max|lambda|) alone.
Inertia classify(const double* lambda, std::int64_t n, double zero_tol);

// What the census rules need to know about a point besides its Hessian.
struct PointFacts {
  double grad_norm = 0;       // ||grad f|| in the analysis precision
  double x_norm = 0;          // ||x||
  double rho = 0;             // estimated Hessian Lipschitz constant (NaN: unknown)
  double coord_roundoff = 0;  // unit roundoff of the precision x is stored in
};
// The census rules at one point (docs/experiment.md, census rules): whether
// it is critical, at which gradient threshold, and its eigenvalue tolerance.
struct PointRule {
  bool critical = false;
  double crit_threshold = 0;
  double lambda_tol = 0;
  TolRule rule = TolRule::zero_tol;
};
// n: the Hessian's size; hnorm: max |lambda| (or its Lanczos estimate).
PointRule census_rule(const AnalysisSpec& a, std::int64_t n, double hnorm, const PointFacts& p);
// The counts and class of a Krylov point (lanczos, slq) from its Ritz values
// at the rule's tolerance: lower bounds of the index and n_pos by Cauchy
// interlacing, exact when certified (docs/experiment.md, analysis methods).
Inertia krylov_inertia(const KrylovPoint& kp, const PointRule& rule);
// Unit roundoff of a precision: 2^-24 (f32), 2^-53 (f64).
double unit_roundoff(Precision p);
// The factor of the eigenvalue tolerance's backward-error term (4 n u ||H||)
// and of the merge radii (10 (r_i + r_j)).
constexpr double kBackwardErrorFactor = 4.0;
constexpr double kMergeFactor = 10.0;

// Estimated Lipschitz constants of the Hessian at `count` points x [count,
// dim] with gradients g [count, dim]: the largest operator norm of the
// third-derivative slices D_w = (H(x + h w) - H(x - h w)) / 2h over the
// directions w = g/|g| and two fixed pseudo-random unit directions (tangent
// ones on the sphere), by six power iterations on Hessian-vector products
// of the prepared objective (in its precision; the points stay with the
// backend over the power steps).
std::vector<double> estimate_rho(PreparedObjective& obj, const std::vector<double>& x,
                                 const std::vector<double>& g, std::int64_t count);

// Extreme eigenvalues (min, max) of a dense symmetric matrix by Lanczos with
// full reorthogonalization, at most `steps` iterations (exact when steps >= n);
// its products and tridiagonal eigenvalues by `la` (the census passes
// Backend::host_linalg(); the default needs saddlescope_cpu linked).
std::pair<double, double> lanczos_extremes(const double* h, std::int64_t n, std::int64_t steps,
                                           const HostLinalg& la = cpu_host_linalg());

// The inertia method's first step for m stacked n x n matrices: Lanczos
// extremes (120 steps; the matrices over the host's threads) and the
// Sylvester shifts -tol, +tol of each, tol = zero_tol * max(1, max |lambda|),
// laid out [m, 2] for Backend::count_below.
struct InertiaShifts {
  std::vector<std::pair<double, double>> extremes;  // [m] (lambda_min, lambda_max)
  std::vector<double> shifts;                       // [m, 2]
};
InertiaShifts inertia_shifts(const double* h, std::int64_t m, std::int64_t n, double zero_tol,
                             const HostLinalg& la = cpu_host_linalg());

// Sphere objectives: the embedded Riemannian Hessians h [m, n, n] at the
// points x [m, n] restricted to the tangent space, [m, n - 1, n - 1], in the
// orthonormal tangent basis given by a Householder reflection of x / |x|.
std::vector<double> tangent_hessians(std::int64_t n, std::int64_t m, const double* x,
                                     const std::vector<double>& h);

// Hessians and spectra of `count` points X [count, dim] on the backend, in
// chunks of at most `chunk` points. method "eigh": spectra [count,
// hessian_dim] (dim, or dim - 1 tangent directions on the sphere; NaN
// rows where the solve failed); "inertia": counts only, from Sylvester's law
// (spectra stay NaN; lambda_min / lambda_max are Lanczos estimates);
// "lanczos" and "slq": Krylov spectra from Hessian-vector products (spectra
// stay NaN; krylov holds the Ritz pairs or quadratures, and the counts are
// those of the Ritz values: lower bounds unless certified; krylov.hpp). info per
// point (0 = success). Each point is classified by the census rules with its
// `facts` (empty: no gradient, rho or rounding information: the zero_tol and
// backward-error terms alone).
struct Spectra {
  std::vector<double> values;
  std::vector<Inertia> inertia;
  std::vector<int> info;
  std::vector<PointRule> rules;
  KrylovSpectra krylov;  // lanczos and slq
};
// Resumable, observable analysis: points [0, start) are already in `*into`
// (which then holds `count` rows); after_chunk(done, spectra) runs after
// each chunk (progress, checkpoints). prepared: the objective already
// prepared in spec.precision (else analyze_points prepares it).
struct AnalysisHooks {
  std::int64_t start = 0;
  std::int64_t end = -1;  // points [start, end) are analysed (-1: to the last)
  Spectra* into = nullptr;
  PreparedObjective* prepared = nullptr;
  std::function<void(std::int64_t, const Spectra&)> after_chunk;
  std::uint64_t seed = 0;  // the Krylov methods' start and probe vectors: (seed, point index)
};
Spectra analyze_points(const ObjectiveData& obj, Backend& backend, const AnalysisSpec& spec,
                       const std::vector<double>& x, std::int64_t count, std::int64_t chunk,
                       const std::vector<PointFacts>& facts = {}, const AnalysisHooks& hooks = {});

struct AnalyzedPoint {
  std::string source;  // "stop", "plateau" or "critical"
  std::string group;   // the optimizer's label, or the finder ("gradient-norm", "newton")
  std::int64_t trajectory = 0, step = 0;
  double f = 0, grad_norm = 0;  // evaluated again in the analysis precision
  double f_field = std::numeric_limits<double>::quiet_NaN();  // gaussian-field: f - mu/2 |x|^2
  bool critical = false;                                      // grad_norm <= crit_threshold
  double crit_threshold = 0;
  double rho = std::numeric_limits<double>::quiet_NaN();
  double accuracy = 0;            // position accuracy (finder: after polishing)
  std::int64_t multiplicity = 1;  // finder points: the starts that converged to it
  std::int8_t outcome = 0;        // the trajectory's Outcome (stop and plateau points)
  std::int64_t distinct_id = -1;
  Inertia inertia;
  int info = 0;
};

// One distinct point (distinct.csv): its representative and multiplicities.
struct DistinctPoint {
  std::int64_t representative = 0;  // row of CensusResult::points
  bool members_agree = true;
  std::int64_t mult_stop = 0, mult_plateau = 0, mult_critical = 0;
  std::vector<std::int64_t> mult_group;  // per CensusResult::groups
  std::int64_t multiplicity() const { return mult_stop + mult_plateau + mult_critical; }
};

struct CensusResult {
  std::vector<AnalyzedPoint> points;
  std::vector<double> spectra;  // [points, dim]
  KrylovSpectra krylov;         // lanczos and slq (krylov.hpp)
  std::vector<double> coords;   // [points, dim]
  std::vector<DistinctPoint> distinct;
  std::vector<std::string> groups;  // optimizer labels (file order), then the finder kind
  double seconds = 0;
  bool has_finder = false;
  FinderResult finder;  // coords dropped (the analysed ones are in `coords` when saved)
  std::int64_t finder_first_row = 0;  // the points row of finder point 0 (then 1, 2, ...)
};

// The merge radius of each analysed point (docs/experiment.md, census rules):
// kMergeFactor times its accuracy, dedup_tol / 2 when that is set, -1 (never
// merged) for failed points. Critical points are the anchors of distinct_ids.
std::vector<double> merge_radii(const AnalysisSpec& a, const std::vector<AnalyzedPoint>& pts);
// Distinct points of analysed points whose distinct_id is set: the
// representative (a critical member first, then the smallest accuracy, then
// the smallest gradient norm, then the first) and the multiplicities per
// source and group.
std::vector<DistinctPoint> distinct_points(const std::vector<AnalyzedPoint>& pts,
                                           const std::vector<std::string>& groups);

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
