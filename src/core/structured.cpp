// Structured Hessians in the census (include/saddlescope/structured.hpp;
// docs/experiment.md, [analysis]): the local objectives' Hessians as their
// bands, solved on the host.
#include "saddlescope/structured.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/objectives.hpp"

namespace saddlescope {

bool banded_hessian(const ObjectiveData& obj) { return !obj.coupled() && !obj.sphere(); }

namespace {

// The band in T, as the backends evaluate their dense Hessians of these
// objectives (src/cpu/objectives.cpp, CpuPrepared::hessian): x and the
// eigenvalues of the unrotated quadratic rounded to T, the shared
// per-coordinate terms, the entries back to double.
template <class T>
void bands_in(const ObjectiveData& obj, const double* x, std::int64_t m, HessianBands& b) {
  const std::int64_t n = obj.dim;
  const std::vector<T> lambda(obj.lambda.begin(), obj.lambda.end());
  LocalObjective<T> view{};
  view.kind = obj.kind;
  view.n = n;
  view.lambda = lambda.empty() ? nullptr : lambda.data();
  view.coupled = false;
  view.rastrigin_a = static_cast<T>(obj.rastrigin_a);
#pragma omp parallel for schedule(dynamic, 1) if (m > 1)
  for (std::int64_t k = 0; k < m; ++k) {
    const std::vector<T> xt(x + k * n, x + (k + 1) * n);
    for (std::int64_t i = 0; i < n; ++i) {
      T diag, upper;
      view.hessian_band(xt.data(), i, diag, upper);
      b.diag[k * n + i] = diag;
      b.upper[k * n + i] = upper;
    }
  }
}

bool is_diagonal(const double* e, std::int64_t n) {
  return std::all_of(e, e + std::max<std::int64_t>(n - 1, 0), [](double v) { return v == 0; });
}

}  // namespace

HessianBands hessian_bands(const ObjectiveData& obj, Precision p, const double* x, std::int64_t m) {
  HessianBands b;
  b.diag.assign(static_cast<std::size_t>(m * obj.dim), 0.0);
  b.upper.assign(static_cast<std::size_t>(m * obj.dim), 0.0);
  if (p == Precision::f32)
    bands_in<float>(obj, x, m, b);
  else
    bands_in<double>(obj, x, m, b);
  return b;
}

std::int64_t tridiagonal_count_below(const double* d, const double* e, std::int64_t n, double s,
                                     bool or_equal) {
  // A zero pivot means s is an eigenvalue of the leading block: it counts
  // as below s + 0 and not below s - 0 (each pivot decreases with s). Tiny
  // pivots are kept off zero as LAPACK's dstebz keeps them (pivmin), so
  // that e^2 / d cannot overflow.
  double e2max = 0;
  for (std::int64_t i = 0; i + 1 < n; ++i) e2max = std::max(e2max, e[i] * e[i]);
  const double pivmin = std::numeric_limits<double>::min() * std::max(1.0, e2max);
  std::int64_t count = 0;
  double q = 1;
  for (std::int64_t i = 0; i < n; ++i) {
    q = i > 0 ? (d[i] - s) - e[i - 1] * e[i - 1] / q : d[i] - s;
    if (q == 0)
      q = or_equal ? -pivmin : pivmin;
    else if (std::fabs(q) < pivmin)
      q = std::copysign(pivmin, q);
    count += q < 0;
  }
  return count;
}

std::pair<double, double> tridiagonal_extremes(const double* d, const double* e, std::int64_t n) {
  if (n == 0) return {0.0, 0.0};
  if (is_diagonal(e, n)) {
    const auto [lo, hi] = std::minmax_element(d, d + n);
    return {*lo, *hi};
  }
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (std::int64_t i = 0; i < n; ++i) {  // Gershgorin discs
    const double r = (i > 0 ? std::fabs(e[i - 1]) : 0.0) + (i + 1 < n ? std::fabs(e[i]) : 0.0);
    lo = std::min(lo, d[i] - r);
    hi = std::max(hi, d[i] + r);
  }
  const double width =
      2 * std::numeric_limits<double>::epsilon() * std::max(std::fabs(lo), std::fabs(hi));
  lo -= width;
  hi += width;
  // The k-th smallest eigenvalue: at most k of them <= a, at least k + 1 <= b.
  auto kth = [&](std::int64_t k) {
    double a = lo, b = hi;
    while (b - a > width) {
      const double mid = a + (b - a) / 2;
      if (!(mid > a && mid < b)) break;
      (tridiagonal_count_below(d, e, n, mid, true) > k ? b : a) = mid;
    }
    return a + (b - a) / 2;
  };
  return {kth(0), kth(n - 1)};
}

void analyze_banded(const ObjectiveData& obj, const HostLinalg& la, const AnalysisSpec& spec,
                    const std::vector<double>& x, std::int64_t first, std::int64_t m,
                    const PointFacts* facts, Spectra& s) {
  const std::int64_t n = obj.dim;
  const HessianBands b = hessian_bands(obj, spec.precision, x.data(), m);
  const bool eigh = spec.method == "eigh";
#pragma omp parallel for schedule(dynamic, 1) if (m > 1)
  for (std::int64_t k = 0; k < m; ++k) {
    const std::int64_t p = first + k;
    const double* d = b.diag.data() + k * n;
    const double* e = b.upper.data() + k * n;  // e[n - 1] = 0 lies past the matrix
    const PointFacts f = facts ? facts[k] : PointFacts{};
    const bool finite = std::all_of(d, d + n, [](double v) { return std::isfinite(v); }) &&
                        std::all_of(e, e + n, [](double v) { return std::isfinite(v); });
    if (!finite) {
      s.info[p] = -1;  // spectrum stays NaN, class failed
      continue;
    }
    if (eigh) {
      // The diagonal's spectrum is the sorted diagonal, the tridiagonal's by
      // LAPACK's dstev (dsterf: O(n^2)).
      double* w = s.values.data() + p * n;
      std::copy(d, d + n, w);
      int info = 0;
      if (is_diagonal(e, n)) {
        std::sort(w, w + n);
      } else {
        std::vector<double> off(e, e + n);
        info = la.stev('N', static_cast<int>(n), w, off.data(), nullptr, 1);
      }
      s.info[p] = info;
      if (info != 0) {
        std::fill(w, w + n, std::numeric_limits<double>::quiet_NaN());
        continue;
      }
      const double amax = std::max(std::fabs(w[0]), std::fabs(w[n - 1]));
      s.rules[p] = census_rule(spec, n, amax, f);
      s.inertia[p] = count_inertia(w, n, s.rules[p].lambda_tol, s.rules[p].rule);
    } else {
      // Sturm counts below -tol and at most +tol: the index, n_zero and
      // n_pos of eigh's definition (docs/design.md section 1), and the
      // extreme eigenvalues themselves.
      const auto [lmin, lmax] = tridiagonal_extremes(d, e, n);
      const PointRule rule = census_rule(spec, n, std::max(std::fabs(lmin), std::fabs(lmax)), f);
      s.rules[p] = rule;
      const std::int64_t below = tridiagonal_count_below(d, e, n, -rule.lambda_tol, false),
                         at_most = tridiagonal_count_below(d, e, n, rule.lambda_tol, true);
      Inertia r;
      r.tol = rule.lambda_tol;
      r.rule = rule.rule;
      r.index = below;
      r.n_zero = at_most - below;
      r.n_pos = n - at_most;
      r.lambda_min = lmin;
      r.lambda_max = lmax;
      r.sigma_min = std::nan("");
      r.cls = class_of(r);
      s.inertia[p] = r;
    }
  }
}

}  // namespace saddlescope
