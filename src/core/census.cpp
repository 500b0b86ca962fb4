// The Hessian census: classification of spectra, point selection, and the
// chunked Hessian -> eigensolver pipeline on a backend, the census of a run.
#include "saddlescope/census.hpp"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "saddlescope/run.hpp"

namespace saddlescope {

const char* class_name(PointClass c) {
  switch (c) {
    case PointClass::minimum:
      return "minimum";
    case PointClass::maximum:
      return "maximum";
    case PointClass::saddle:
      return "saddle";
    case PointClass::degenerate:
      return "degenerate";
    case PointClass::failed:
      return "failed";
  }
  return "?";
}

Inertia classify(const double* lambda, std::int64_t n, double zero_tol) {
  Inertia r;
  double amax = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(lambda[i])) return r;  // failed
    amax = std::max(amax, std::fabs(lambda[i]));
  }
  r.tol = zero_tol * std::max(1.0, amax);
  for (std::int64_t i = 0; i < n; ++i) {
    if (lambda[i] < -r.tol)
      ++r.index;
    else if (lambda[i] <= r.tol)
      ++r.n_zero;
    else
      ++r.n_pos;
  }
  r.lambda_min = n ? *std::min_element(lambda, lambda + n) : 0.0;
  r.lambda_max = n ? *std::max_element(lambda, lambda + n) : 0.0;
  if (r.n_zero > 0)
    r.cls = PointClass::degenerate;
  else if (r.index == 0)
    r.cls = PointClass::minimum;
  else if (r.n_pos == 0)
    r.cls = PointClass::maximum;
  else
    r.cls = PointClass::saddle;
  return r;
}

// Extreme eigenvalues of a dense symmetric matrix (row-major n x n) by
// Lanczos with full reorthogonalization from a fixed start: exact (to
// rounding) when it runs n steps, and for larger n accurate to far below the
// zero tolerance's sensitivity after `steps` iterations in practice.
std::pair<double, double> lanczos_extremes(const double* h, std::int64_t n, std::int64_t steps) {
  steps = std::min(steps, n);
  std::vector<double> q(static_cast<std::size_t>((steps + 1) * n), 0.0),
      w(static_cast<std::size_t>(n));
  std::vector<double> alpha, beta;
  double norm = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    q[i] = 1.0 + 0.5 * std::sin(1.0 + 0.7 * static_cast<double>(i));  // fixed, generic start
    norm += q[i] * q[i];
  }
  for (std::int64_t i = 0; i < n; ++i) q[i] /= std::sqrt(norm);
  const int ln = static_cast<int>(n);
  for (std::int64_t j = 0; j < steps; ++j) {
    const double* qj = q.data() + j * n;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, ln, ln, 1.0, h, ln, qj, 1, 0.0, w.data(), 1);
    double a = 0;
    for (std::int64_t i = 0; i < n; ++i) a += w[i] * qj[i];
    alpha.push_back(a);
    // Full reorthogonalization (twice) against every previous vector.
    for (int pass = 0; pass < 2; ++pass)
      for (std::int64_t l = 0; l <= j; ++l) {
        const double* ql = q.data() + l * n;
        double c = 0;
        for (std::int64_t i = 0; i < n; ++i) c += w[i] * ql[i];
        for (std::int64_t i = 0; i < n; ++i) w[i] -= c * ql[i];
      }
    double b = 0;
    for (std::int64_t i = 0; i < n; ++i) b += w[i] * w[i];
    b = std::sqrt(b);
    if (j + 1 == steps || b < 1e-13 * std::max(1.0, std::fabs(a))) break;  // invariant subspace
    beta.push_back(b);
    for (std::int64_t i = 0; i < n; ++i) q[(j + 1) * n + i] = w[i] / b;
  }
  const auto k = static_cast<int>(alpha.size());
  beta.resize(static_cast<std::size_t>(std::max(k - 1, 0)));
  beta.push_back(0.0);
  LAPACKE_dstev(LAPACK_COL_MAJOR, 'N', k, alpha.data(), beta.data(), nullptr, 1);
  return {alpha.front(), alpha.back()};
}

std::vector<double> tangent_hessians(std::int64_t n, std::int64_t m, const double* x,
                                     const std::vector<double>& h) {
  const std::int64_t t = n - 1;
  std::vector<double> out(static_cast<std::size_t>(m * t * t));
  std::vector<double> u(static_cast<std::size_t>(n)), z(static_cast<std::size_t>(n));
  for (std::int64_t k = 0; k < m; ++k) {
    const double* xk = x + k * n;
    const double* hk = h.data() + k * n * n;
    double r = 0;
    for (std::int64_t i = 0; i < n; ++i) r += xk[i] * xk[i];
    r = std::sqrt(r);
    // Householder Q = I - beta u u^T with u = q + sign(q_last) e_last maps the
    // unit normal q to -sign(q_last) e_last; its other columns span the tangent space.
    for (std::int64_t i = 0; i < n; ++i) u[i] = xk[i] / r;
    const double ql = u[n - 1];
    u[n - 1] += ql < 0 ? -1.0 : 1.0;
    const double beta = 1.0 / (1.0 + std::fabs(ql));
    double gamma = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      z[i] = 0;
      for (std::int64_t j = 0; j < n; ++j) z[i] += hk[i * n + j] * u[j];
      gamma += u[i] * z[i];
    }
    double* ok = out.data() + k * t * t;
    for (std::int64_t i = 0; i < t; ++i)
      for (std::int64_t j = 0; j < t; ++j)
        ok[i * t + j] =
            hk[i * n + j] - beta * (u[i] * z[j] + z[i] * u[j]) + beta * beta * gamma * u[i] * u[j];
  }
  return out;
}

InertiaShifts inertia_shifts(const double* h, std::int64_t m, std::int64_t n, double zero_tol) {
  InertiaShifts r;
  r.extremes.resize(static_cast<std::size_t>(m));
  r.shifts.resize(static_cast<std::size_t>(2 * m));
#pragma omp parallel for schedule(dynamic, 1) if (m > 1)
  for (std::int64_t k = 0; k < m; ++k) {
    r.extremes[k] = lanczos_extremes(h + k * n * n, n, 120);
    const double amax = std::max(std::fabs(r.extremes[k].first), std::fabs(r.extremes[k].second));
    const double tol = zero_tol * std::max(1.0, amax);
    r.shifts[2 * k] = -tol;
    r.shifts[2 * k + 1] = tol;
  }
  return r;
}

Spectra analyze_points(const ObjectiveData& obj, Backend& backend, const AnalysisSpec& spec,
                       const std::vector<double>& x, std::int64_t count, std::int64_t chunk) {
  const std::int64_t dim = obj.dim, n = obj.hessian_dim();
  Spectra s;
  s.values.assign(static_cast<std::size_t>(count * n), std::numeric_limits<double>::quiet_NaN());
  s.inertia.resize(static_cast<std::size_t>(count));
  s.info.assign(static_cast<std::size_t>(count), 0);
  chunk = std::max<std::int64_t>(1, chunk);
  for (std::int64_t first = 0; first < count; first += chunk) {
    const std::int64_t m = std::min(chunk, count - first);
    const std::vector<double> xs(x.begin() + first * dim, x.begin() + (first + m) * dim);
    std::vector<double> h = backend.hessian(obj, spec.precision, m, xs);
    if (obj.sphere()) h = tangent_hessians(dim, m, xs.data(), h);
    if (spec.method == "inertia") {
      // Sylvester counts at -tol and +tol from two LDL^T factorizations; the
      // relative tolerance needs max|lambda|, estimated by Lanczos.
      const InertiaShifts is = inertia_shifts(h.data(), m, n, spec.zero_tol);
      const std::vector<double>& shifts = is.shifts;
      const auto& ext = is.extremes;
      const std::vector<std::int64_t> c = backend.count_below(spec.precision, m, n, h, shifts, 2);
      for (std::int64_t k = 0; k < m; ++k) {
        const std::int64_t p = first + k;
        if (c[2 * k] < 0 || c[2 * k + 1] < 0 || !std::isfinite(ext[k].first)) {
          s.info[p] = -1;
          continue;
        }
        Inertia& r = s.inertia[p];
        r.tol = shifts[2 * k + 1];
        r.index = c[2 * k];
        r.n_zero = c[2 * k + 1] - c[2 * k];
        r.n_pos = n - c[2 * k + 1];
        r.lambda_min = ext[k].first;
        r.lambda_max = ext[k].second;
        r.cls = r.n_zero > 0   ? PointClass::degenerate
                : r.index == 0 ? PointClass::minimum
                : r.n_pos == 0 ? PointClass::maximum
                               : PointClass::saddle;
      }
      continue;
    }
    const EighResult e = backend.eigh(spec.precision, m, n, h, false);
    for (std::int64_t k = 0; k < m; ++k) {
      const std::int64_t p = first + k;
      s.info[p] = e.info[k];
      if (e.info[k] != 0) continue;  // spectrum stays NaN, class failed
      std::copy(e.values.begin() + k * n, e.values.begin() + (k + 1) * n, s.values.begin() + p * n);
      s.inertia[p] = classify(e.values.data() + k * n, n, spec.zero_tol);
    }
  }
  return s;
}

std::vector<std::pair<std::size_t, std::int64_t>> select_even(
    const std::vector<std::vector<std::int64_t>>& cand, std::int64_t max_points) {
  // Quotas: an even share per optimizer; shares an optimizer cannot use go to the others.
  std::vector<std::int64_t> quota(cand.size(), 0);
  std::int64_t left = max_points;
  bool progress = true;
  while (left > 0 && progress) {
    progress = false;
    std::int64_t open = 0;
    for (std::size_t o = 0; o < cand.size(); ++o)
      open += quota[o] < static_cast<std::int64_t>(cand[o].size());
    if (open == 0) break;
    const std::int64_t share = std::max<std::int64_t>(1, left / open);
    for (std::size_t o = 0; o < cand.size() && left > 0; ++o) {
      const std::int64_t room = static_cast<std::int64_t>(cand[o].size()) - quota[o];
      const std::int64_t take = std::min({share, room, left});
      if (take > 0) {
        quota[o] += take;
        left -= take;
        progress = true;
      }
    }
  }
  std::vector<std::pair<std::size_t, std::int64_t>> out;
  for (std::size_t o = 0; o < cand.size(); ++o) {
    const std::int64_t size = static_cast<std::int64_t>(cand[o].size());
    for (std::int64_t k = 0; k < quota[o]; ++k)  // evenly spaced over the candidates
      out.emplace_back(o, cand[o][static_cast<std::size_t>(k * size / quota[o])]);
  }
  return out;
}

std::vector<std::pair<std::size_t, std::int64_t>> select_stops(
    const std::vector<std::vector<std::int8_t>>& outcomes, std::int64_t max_points) {
  std::vector<std::vector<std::int64_t>> cand(outcomes.size());
  for (std::size_t o = 0; o < outcomes.size(); ++o)
    for (std::size_t b = 0; b < outcomes[o].size(); ++b)
      if (outcomes[o][b] != kDiverged) cand[o].push_back(static_cast<std::int64_t>(b));
  return select_even(cand, max_points);
}

bool analysis_wants(const AnalysisSpec& a, const char* source) {
  return std::find(a.points.begin(), a.points.end(), source) != a.points.end();
}

// The census: stopping points and the finders' critical points -> Hessians,
// spectra, classes.
CensusResult run_census(const Experiment& e, const ObjectiveData& obj, const RunResult& run,
                        Backend& backend) {
  const std::int64_t n = e.objective.dim;
  CensusResult c;
  std::vector<double> x;
  // A trajectory's point (its stop or its plateau point) into the census.
  auto add = [&](const char* source, std::size_t o, std::int64_t b, const std::vector<double>& at,
                 std::int64_t step, double f, double g) {
    x.insert(x.end(), at.begin() + b * n, at.begin() + (b + 1) * n);
    AnalyzedPoint p;
    p.source = source;
    p.group = run.optimizers[o].label;
    p.trajectory = b;
    p.step = step;
    p.f = f;
    p.grad_norm = g;
    p.critical = g <= e.analysis.crit_tol;
    p.outcome = run.optimizers[o].traj.outcome[b];
    c.points.push_back(p);
  };
  if (analysis_wants(e.analysis, "stops")) {
    std::vector<std::vector<std::int8_t>> outcomes;
    for (const auto& o : run.optimizers) outcomes.push_back(o.traj.outcome);
    for (const auto& [o, b] : select_stops(outcomes, e.analysis.max_points)) {
      const auto& t = run.optimizers[o].traj;
      add("stop", o, b, t.finals, t.steps[b], t.f_final[b], t.gnorm_final[b]);
    }
  }
  if (analysis_wants(e.analysis, "plateaus")) {
    // Each trajectory's plateau point (its longest episode's), evenly across optimizers.
    std::vector<std::vector<std::int64_t>> cand;
    for (const auto& o : run.optimizers) {
      cand.emplace_back();
      for (std::size_t b = 0; b < o.traj.plateau_step.size(); ++b)
        if (o.traj.plateau_step[b] >= 0) cand.back().push_back(static_cast<std::int64_t>(b));
    }
    for (const auto& [o, b] : select_even(cand, e.analysis.max_points)) {
      const auto& t = run.optimizers[o].traj;
      add("plateau", o, b, t.plateau_points, t.plateau_step[b], t.plateau_f[b], t.plateau_g[b]);
    }
  }
  if (analysis_wants(e.analysis, "critical")) {
    c.has_finder = true;
    c.finder = find_critical_points(e, obj, backend);
    const std::size_t take =
        std::min(c.finder.points.size(), static_cast<std::size_t>(e.analysis.max_points));
    for (std::size_t q = 0; q < take; ++q) {
      const FoundPoint& fp = c.finder.points[q];
      x.insert(x.end(), c.finder.coords.begin() + static_cast<std::int64_t>(q) * n,
               c.finder.coords.begin() + static_cast<std::int64_t>(q + 1) * n);
      AnalyzedPoint p;
      p.source = "critical";
      p.group = e.finder.kind;
      p.trajectory = fp.start;
      p.step = fp.steps;
      p.f = fp.f;
      p.grad_norm = fp.grad_norm;
      p.critical = true;
      c.points.push_back(p);
    }
    c.finder.coords.clear();
  }
  const auto count = static_cast<std::int64_t>(c.points.size());
  const std::int64_t nh = obj.hessian_dim();
  std::fprintf(stderr, "census: %lld points, Hessians %lld x %lld%s (%s), %s\n",
               static_cast<long long>(count), static_cast<long long>(nh),
               static_cast<long long>(nh), obj.sphere() ? " (tangent space)" : "",
               e.analysis.precision == Precision::f64 ? "f64" : "f32", e.analysis.method.c_str());
  Spectra s = analyze_points(obj, backend, e.analysis, x, count, run.plan.census_chunk);
  for (std::int64_t k = 0; k < count; ++k) {
    c.points[k].inertia = s.inertia[k];
    c.points[k].info = s.info[k];
  }
  c.spectra = std::move(s.values);
  if (e.analysis.save_point_coords) c.coords = std::move(x);
  return c;
}

}  // namespace saddlescope
