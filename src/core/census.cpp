// The Hessian census: classification of spectra, point selection, and the
// chunked Hessian -> eigensolver pipeline on a backend, the census of a run.
#include "saddlescope/census.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <random>

#include "checkpoint.hpp"
#include "kernels/pspin.hpp"
#include "saddlescope/comm.hpp"
#include "saddlescope/distinct.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"
#include "saddlescope/structured.hpp"

namespace saddlescope {

PointClass class_of(const Inertia& r) {
  return r.n_zero > 0   ? PointClass::degenerate
         : r.index == 0 ? PointClass::minimum
         : r.n_pos == 0 ? PointClass::maximum
                        : PointClass::saddle;
}

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

const char* tol_rule_name(TolRule r) {
  switch (r) {
    case TolRule::zero_tol:
      return "zero_tol";
    case TolRule::backward_error:
      return "backward_error";
    case TolRule::second_order:
      return "second_order";
  }
  return "?";
}

double unit_roundoff(Precision p) { return p == Precision::f32 ? 0x1.0p-24 : 0x1.0p-53; }

PointRule census_rule(const AnalysisSpec& a, std::int64_t n, double hnorm, const PointFacts& p) {
  PointRule r;
  // The gradient cannot fall below the rounding of the point's coordinates
  // times the curvature: max(crit_tol, 2 u_x ||H|| max(1, ||x||)).
  r.crit_threshold = std::max(a.crit_tol, 2.0 * p.coord_roundoff * hnorm * std::max(1.0, p.x_norm));
  r.critical = p.grad_norm <= r.crit_threshold;
  r.lambda_tol = a.zero_tol * std::max(1.0, hnorm);
  const double backward =
      kBackwardErrorFactor * static_cast<double>(n) * unit_roundoff(a.precision) * hnorm;
  if (backward > r.lambda_tol) {
    r.lambda_tol = backward;
    r.rule = TolRule::backward_error;
  }
  // Jin et al. (2017): at ||g|| <= eps a curvature above -sqrt(rho eps) is no escape direction.
  if (r.critical && std::isfinite(p.rho)) {
    const double second = std::sqrt(p.rho * p.grad_norm);
    if (second > r.lambda_tol) {
      r.lambda_tol = second;
      r.rule = TolRule::second_order;
    }
  }
  return r;
}

Inertia count_inertia(const double* lambda, std::int64_t n, double tol, TolRule rule) {
  Inertia r;
  double smin = std::numeric_limits<double>::infinity();
  for (std::int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(lambda[i])) return r;  // failed
    smin = std::min(smin, std::fabs(lambda[i]));
  }
  r.tol = tol;
  r.rule = rule;
  for (std::int64_t i = 0; i < n; ++i) {
    if (lambda[i] < -tol)
      ++r.index;
    else if (lambda[i] <= tol)
      ++r.n_zero;
    else
      ++r.n_pos;
  }
  r.lambda_min = n ? *std::min_element(lambda, lambda + n) : 0.0;
  r.lambda_max = n ? *std::max_element(lambda, lambda + n) : 0.0;
  r.sigma_min = n ? smin : 0.0;
  r.cls = class_of(r);
  return r;
}

Inertia classify(const double* lambda, std::int64_t n, double zero_tol) {
  double amax = 0;
  for (std::int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(lambda[i]));
  return count_inertia(lambda, n, zero_tol * std::max(1.0, amax), TolRule::zero_tol);
}

// Extreme eigenvalues of a dense symmetric matrix (row-major n x n) by
// Lanczos with full reorthogonalization from a fixed start: exact (to
// rounding) when it runs n steps, and for larger n accurate to far below the
// zero tolerance's sensitivity after `steps` iterations in practice.
std::pair<double, double> lanczos_extremes(const double* h, std::int64_t n, std::int64_t steps,
                                           const HostLinalg& la) {
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
    la.gemv(ln, ln, 1.0, h, ln, qj, 0.0, w.data());
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
  la.stev('N', k, alpha.data(), beta.data(), nullptr, 1);
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

namespace {
// Lanczos extremes of m stacked n x n matrices, the matrices over the threads.
std::vector<std::pair<double, double>> extremes_of(const double* h, std::int64_t m, std::int64_t n,
                                                   const HostLinalg& la) {
  std::vector<std::pair<double, double>> ext(static_cast<std::size_t>(m));
#pragma omp parallel for schedule(dynamic, 1) if (m > 1)
  for (std::int64_t k = 0; k < m; ++k) ext[k] = lanczos_extremes(h + k * n * n, n, 120, la);
  return ext;
}
}  // namespace

// The counts of a Krylov point's Ritz values at its tolerance: lanczos's
// Ritz values, or slq's probe with the most below -tol (its n_pos the most
// over probes). By Cauchy interlacing the index and n_pos are lower bounds
// of the Hessian's, exact when the Krylov space is the whole space
// (docs/experiment.md, analysis methods).
Inertia krylov_inertia(const KrylovPoint& kp, const PointRule& rule) {
  Inertia r;
  if (kp.probe_values.empty()) {
    r = count_inertia(kp.ritz_values.data(), static_cast<std::int64_t>(kp.ritz_values.size()),
                      rule.lambda_tol, rule.rule);
  } else {
    std::int64_t pos = 0;
    for (std::size_t j = 0; j < kp.probe_values.size(); ++j) {
      const auto& v = kp.probe_values[j];
      const Inertia c =
          count_inertia(v.data(), static_cast<std::int64_t>(v.size()), rule.lambda_tol, rule.rule);
      if (j == 0 || c.index > r.index) r = c;
      pos = std::max(pos, c.n_pos);
    }
    r.n_pos = pos;
    r.cls = class_of(r);
  }
  r.lambda_min = kp.lambda_min;
  r.lambda_max = kp.lambda_max;
  r.sigma_min = std::nan("");
  return r;
}

InertiaShifts inertia_shifts(const double* h, std::int64_t m, std::int64_t n, double zero_tol,
                             const HostLinalg& la) {
  InertiaShifts r;
  r.extremes = extremes_of(h, m, n, la);
  r.shifts.resize(static_cast<std::size_t>(2 * m));
  for (std::int64_t k = 0; k < m; ++k) {
    const double amax = std::max(std::fabs(r.extremes[k].first), std::fabs(r.extremes[k].second));
    const double tol = zero_tol * std::max(1.0, amax);
    r.shifts[2 * k] = -tol;
    r.shifts[2 * k + 1] = tol;
  }
  return r;
}

std::vector<double> estimate_rho(PreparedObjective& prepared, const std::vector<double>& x,
                                 const std::vector<double>& g, std::int64_t count) {
  const ObjectiveData& obj = prepared.data();
  const Precision p = prepared.precision();
  const std::int64_t n = obj.dim;
  constexpr int kDirections = 3, kPowerSteps = 6;
  std::vector<double> rho(static_cast<std::size_t>(count), std::nan(""));
  // Two fixed directions (mt19937_64 is specified bit for bit by the standard).
  std::mt19937_64 gen(0x7a11c0deULL);
  std::vector<double> fixed(static_cast<std::size_t>(2 * n));
  for (auto& v : fixed) v = static_cast<double>(gen() >> 11) * 0x1.0p-53 - 0.5;
  const double h0 = std::cbrt(unit_roundoff(p));
  const std::int64_t chunk =
      std::max<std::int64_t>(1, std::min<std::int64_t>(256, (std::int64_t{1} << 22) / n));
  auto unit = [&](double* v, const double* at) {  // tangent at `at` (sphere), then normalized
    if (obj.sphere()) sphere_project(n, at, v);
    const double s = std::sqrt(row_dot(n, v, v));
    if (!(s > 0) || !std::isfinite(s)) return false;
    for (std::int64_t i = 0; i < n; ++i) v[i] /= s;
    return true;
  };
  const auto xr = prepared.rows(), vr = prepared.rows(), yr = prepared.rows();
  for (std::int64_t a = 0; a < count; a += chunk) {
    const std::int64_t mc = std::min(chunk, count - a), probes = kDirections * mc;
    std::vector<double> xs(static_cast<std::size_t>(2 * probes * n)),
        v(static_cast<std::size_t>(probes * n));
    std::vector<double> step(static_cast<std::size_t>(mc));
    for (std::int64_t k = 0; k < mc; ++k) {
      const double* xk = x.data() + (a + k) * n;
      step[k] = h0 * std::max(1.0, std::sqrt(row_dot(n, xk, xk) / static_cast<double>(n)));
      for (int d = 0; d < kDirections; ++d) {
        double* w = v.data() + (k * kDirections + d) * n;
        if (d == 0)
          std::copy(g.begin() + (a + k) * n, g.begin() + (a + k + 1) * n, w);
        else
          std::copy(fixed.begin() + (d - 1) * n, fixed.begin() + d * n, w);
        if (!unit(w, xk)) {  // a zero gradient: the first fixed direction instead
          std::copy(fixed.begin(), fixed.begin() + n, w);
          unit(w, xk);
        }
        double* xp = xs.data() + (k * kDirections + d) * n;
        double* xm = xs.data() + (probes + k * kDirections + d) * n;
        for (std::int64_t i = 0; i < n; ++i) {
          xp[i] = xk[i] + step[k] * w[i];
          xm[i] = xk[i] - step[k] * w[i];
        }
        if (obj.sphere()) {
          sphere_retract(n, xp);
          sphere_retract(n, xm);
        }
      }
    }
    std::vector<double> norm(static_cast<std::size_t>(probes), 0.0);
    prepared.put(*xr, xs);  // the points stay with the backend over the power steps
    for (int it = 0; it < kPowerSteps; ++it) {
      std::vector<double> vv(v);
      vv.insert(vv.end(), v.begin(), v.end());
      prepared.put(*vr, vv);
      prepared.hvp(*xr, *vr, *yr);
      const std::vector<double> y = prepared.get(*yr);
      for (std::int64_t j = 0; j < probes; ++j) {
        const std::int64_t k = j / kDirections;
        std::vector<double> d(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i)
          d[i] = (y[j * n + i] - y[(probes + j) * n + i]) / (2 * step[k]);
        if (obj.sphere()) sphere_project(n, x.data() + (a + k) * n, d.data());
        norm[j] = std::sqrt(row_dot(n, d.data(), d.data()));
        if (norm[j] > 0 && std::isfinite(norm[j]))
          for (std::int64_t i = 0; i < n; ++i) v[j * n + i] = d[i] / norm[j];
      }
    }
    for (std::int64_t k = 0; k < mc; ++k) {
      double r = 0;
      for (int d = 0; d < kDirections; ++d) r = std::max(r, norm[k * kDirections + d]);
      rho[a + k] = std::isfinite(r) ? r : std::nan("");
    }
  }
  return rho;
}

Spectra analyze_points(const ObjectiveData& obj, Backend& backend, const AnalysisSpec& spec,
                       const std::vector<double>& x, std::int64_t count, std::int64_t chunk,
                       const std::vector<PointFacts>& facts, const AnalysisHooks& hooks) {
  const std::int64_t dim = obj.dim, n = obj.hessian_dim();
  Spectra local;
  Spectra& s = hooks.into ? *hooks.into : local;
  const auto uc = static_cast<std::size_t>(count);
  if (s.values.size() != uc * static_cast<std::size_t>(n) || s.inertia.size() != uc ||
      s.info.size() != uc || s.rules.size() != uc || !s.krylov.sized(spec, count)) {
    s.values.assign(uc * static_cast<std::size_t>(n), std::numeric_limits<double>::quiet_NaN());
    s.inertia.assign(uc, Inertia{});
    s.info.assign(uc, 0);
    s.rules.assign(uc, PointRule{});
    s.krylov.resize(spec, count);
  }
  chunk = std::max<std::int64_t>(1, chunk);
  std::unique_ptr<PreparedObjective> own;
  if (!hooks.prepared) own = backend.prepare(obj, spec.precision);
  PreparedObjective& prepared = hooks.prepared ? *hooks.prepared : *own;
  auto facts_of = [&](std::int64_t p) { return facts.empty() ? PointFacts{} : facts[p]; };
  const std::int64_t last = hooks.end >= 0 ? std::min(hooks.end, count) : count;
  for (std::int64_t first = hooks.start; first < last; first += chunk) {
    const std::int64_t m = std::min(chunk, last - first);
    const std::vector<double> xs(x.begin() + first * dim, x.begin() + (first + m) * dim);
    if (banded_hessian(obj) &&
        !spec.krylov()) {  // diagonal or tridiagonal, on the host (structured.hpp)
      analyze_banded(obj, backend.host_linalg(), spec, xs, first, m,
                     facts.empty() ? nullptr : facts.data() + first, s);
    } else if (spec.method == "inertia") {
      std::vector<double> h = prepared.hessian(m, xs);
      if (obj.sphere()) h = tangent_hessians(dim, m, xs.data(), h);
      // Sylvester counts at -tol and +tol from two LDL^T factorizations; the
      // tolerance needs max|lambda|, estimated by Lanczos.
      const auto ext = extremes_of(h.data(), m, n, backend.host_linalg());
      std::vector<double> shifts(static_cast<std::size_t>(2 * m));
      std::vector<PointRule> rules(static_cast<std::size_t>(m));
      for (std::int64_t k = 0; k < m; ++k) {
        const double amax = std::max(std::fabs(ext[k].first), std::fabs(ext[k].second));
        rules[k] = census_rule(spec, n, amax, facts_of(first + k));
        shifts[2 * k] = -rules[k].lambda_tol;
        shifts[2 * k + 1] = rules[k].lambda_tol;
      }
      const std::vector<std::int64_t> c = backend.count_below(spec.precision, m, n, h, shifts, 2);
      for (std::int64_t k = 0; k < m; ++k) {
        const std::int64_t p = first + k;
        s.rules[p] = rules[k];
        if (c[2 * k] < 0 || c[2 * k + 1] < 0 || !std::isfinite(ext[k].first)) {
          s.info[p] = -1;
          continue;
        }
        Inertia& r = s.inertia[p];
        r.tol = rules[k].lambda_tol;
        r.rule = rules[k].rule;
        r.index = c[2 * k];
        r.n_zero = c[2 * k + 1] - c[2 * k];
        r.n_pos = n - c[2 * k + 1];
        r.lambda_min = ext[k].first;
        r.lambda_max = ext[k].second;
        r.sigma_min = std::nan("");
        r.cls = class_of(r);
      }
    } else if (spec.krylov()) {
      const std::vector<KrylovPoint> kp =
          krylov_points(prepared, backend.host_linalg(), spec, hooks.seed, xs, first, m, s.krylov);
      for (std::int64_t k = 0; k < m; ++k) {
        const std::int64_t p = first + k;
        if (!std::isfinite(kp[k].lambda_min) || !std::isfinite(kp[k].lambda_max)) {
          s.info[p] = -1;
          continue;
        }
        s.rules[p] =
            census_rule(spec, n, std::max(std::fabs(kp[k].lambda_min), std::fabs(kp[k].lambda_max)),
                        facts_of(p));
        s.inertia[p] = krylov_inertia(kp[k], s.rules[p]);
        if (spec.method == "slq") slq_estimates(spec, p, s.rules[p].lambda_tol, s.krylov);
      }
    } else {
      // Off the sphere the Hessians go from their assembly to the eigensolver
      // without a host round trip (on CUDA); the tangent ones are formed on
      // the host first.
      const EighResult e =
          obj.sphere()
              ? backend.eigh(spec.precision, m, n,
                             tangent_hessians(dim, m, xs.data(), prepared.hessian(m, xs)), false)
              : prepared.hessian_eigh(m, xs, false);
      for (std::int64_t k = 0; k < m; ++k) {
        const std::int64_t p = first + k;
        s.info[p] = e.info[k];
        if (e.info[k] != 0) continue;  // spectrum stays NaN, class failed
        const double* lam = e.values.data() + k * n;
        std::copy(lam, lam + n, s.values.begin() + p * n);
        const double amax = n ? std::max(std::fabs(lam[0]), std::fabs(lam[n - 1])) : 0.0;
        s.rules[p] = census_rule(spec, n, std::isfinite(amax) ? amax : 0.0, facts_of(p));
        s.inertia[p] = count_inertia(lam, n, s.rules[p].lambda_tol, s.rules[p].rule);
      }
    }
    if (hooks.after_chunk) hooks.after_chunk(first + m, s);
  }
  return hooks.into ? std::move(*hooks.into) : std::move(local);
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

std::vector<double> merge_radii(const AnalysisSpec& a, const std::vector<AnalyzedPoint>& pts) {
  std::vector<double> r(pts.size(), -1.0);
  for (std::size_t k = 0; k < pts.size(); ++k) {
    const AnalyzedPoint& p = pts[k];
    if (p.inertia.cls == PointClass::failed || p.info != 0 || !std::isfinite(p.accuracy)) continue;
    r[k] = a.dedup_tol > 0 ? a.dedup_tol / 2 : kMergeFactor * p.accuracy;
  }
  return r;
}

std::vector<DistinctPoint> distinct_points(const std::vector<AnalyzedPoint>& pts,
                                           const std::vector<std::string>& groups) {
  std::int64_t count = 0;
  for (const auto& p : pts) count = std::max(count, p.distinct_id + 1);
  std::vector<DistinctPoint> d(static_cast<std::size_t>(count));
  std::vector<char> seen(static_cast<std::size_t>(count), 0);
  for (std::size_t k = 0; k < pts.size(); ++k) {
    const AnalyzedPoint& p = pts[k];
    if (p.distinct_id < 0) continue;
    DistinctPoint& q = d[p.distinct_id];
    if (!seen[p.distinct_id]) {
      seen[p.distinct_id] = 1;
      q.representative = static_cast<std::int64_t>(k);
      q.mult_group.assign(groups.size(), 0);
    } else {
      const AnalyzedPoint& r = pts[q.representative];
      // Critical members first, then the most accurate, then the flattest.
      const bool better =
          p.critical != r.critical
              ? p.critical
              : p.accuracy < r.accuracy || (p.accuracy == r.accuracy && p.grad_norm < r.grad_norm);
      if (better) q.representative = static_cast<std::int64_t>(k);
    }
    const std::int64_t mult = p.multiplicity;
    if (p.source == "stop") q.mult_stop += mult;
    if (p.source == "plateau") q.mult_plateau += mult;
    if (p.source == "critical") q.mult_critical += mult;
    const auto g = std::find(groups.begin(), groups.end(), p.group);
    if (g != groups.end()) q.mult_group[g - groups.begin()] += mult;
  }
  for (std::size_t k = 0; k < pts.size(); ++k) {
    const AnalyzedPoint& p = pts[k];
    if (p.distinct_id < 0) continue;
    DistinctPoint& q = d[p.distinct_id];
    const AnalyzedPoint& r = pts[q.representative];
    if (p.inertia.cls != r.inertia.cls || p.inertia.index != r.inertia.index)
      q.members_agree = false;
  }
  return d;
}

namespace {

// Points analysed per Hessian group: well under a second of eigensolver work
// on a CPU (1e9 / n^3 matrices; banded ones, whose tridiagonal spectra take
// about 10 n^2, 1e8 / n^2), within the memory plan's group.
std::int64_t census_group(std::int64_t n, bool banded, std::int64_t plan_chunk) {
  const auto dn = static_cast<double>(n);
  const double by_time = 1e9 / std::max(1.0, banded ? 10 * dn * dn : dn * dn * dn);
  return std::clamp<std::int64_t>(static_cast<std::int64_t>(by_time), 1,
                                  std::max<std::int64_t>(1, plan_chunk));
}

void write_krylov(ckpt::Writer& w, const KrylovSpectra& k) {
  w.pod(k.k);
  w.pod(k.probes);
  w.pod(k.steps);
  w.vec(k.ritz);
  w.vec(k.quadrature);
  w.vec(k.probe_norm2);
  w.vec(k.index_estimate);
  w.vec(k.index_stderr);
  w.vec(k.trace_estimate);
  w.vec(k.trace_stderr);
  w.vec(k.lanczos_steps);
  w.vec(k.converged);
  w.vec(k.certified);
}

KrylovSpectra read_krylov(ckpt::Reader& r) {
  KrylovSpectra k;
  k.k = r.pod<std::int64_t>();
  k.probes = r.pod<std::int64_t>();
  k.steps = r.pod<std::int64_t>();
  k.ritz = r.vec<double>();
  k.quadrature = r.vec<double>();
  k.probe_norm2 = r.vec<double>();
  k.index_estimate = r.vec<double>();
  k.index_stderr = r.vec<double>();
  k.trace_estimate = r.vec<double>();
  k.trace_stderr = r.vec<double>();
  k.lanczos_steps = r.vec<std::int64_t>();
  k.converged = r.vec<std::int8_t>();
  k.certified = r.vec<std::int8_t>();
  return k;
}

// The census's checkpoint record: phase 0 = the finder is running (its
// state follows), phase 1 = the Hessian groups (the finder's final state,
// the group size and the finished points' results follow). Under MPI each
// rank's record holds its own shares (finder starts, census points), so a
// resume gathers the finder's shares again whatever phase each rank was in.

// The rows of this rank's census points ([sh.first, sh.end())), as bytes,
// and back into the whole census's arrays (docs/design.md II.6).
struct CensusShare {
  std::vector<double> f, grad_norm, f_field;
  std::vector<PointFacts> facts;
};

// Calls f(array, row width) for every per-point array of a census share.
template <class CS, class SP, class F>
void each_point_array(CS& cs, SP& sp, std::int64_t nh, F&& f) {
  f(cs.f, 1);
  f(cs.grad_norm, 1);
  f(cs.f_field, 1);
  f(cs.facts, 1);
  f(sp.values, nh);
  f(sp.inertia, 1);
  f(sp.info, 1);
  f(sp.rules, 1);
  auto& k = sp.krylov;
  f(k.ritz, 4 * k.k);
  f(k.quadrature, k.probes * k.steps * 2);
  f(k.probe_norm2, k.probes);
  const std::int64_t slq = k.index_estimate.empty() ? 0 : 1;  // [count] or empty
  f(k.index_estimate, slq);
  f(k.index_stderr, slq);
  f(k.trace_estimate, slq);
  f(k.trace_stderr, slq);
  f(k.lanczos_steps, 1);
  f(k.converged, 1);
  f(k.certified, 1);
}
constexpr std::uint64_t kPhaseFinder = 0, kPhaseAnalysis = 1;

}  // namespace

// The census: stopping points, plateau points and the finder's critical
// points -> facts (value, gradient, rho) -> Hessians, spectra, classes ->
// distinct points (docs/experiment.md, census rules).
CensusResult run_census(const Experiment& e, const ObjectiveData& obj, const RunResult& run,
                        Backend& backend, const CensusCheckpoint* cp,
                        const std::vector<std::uint8_t>* resume, bool progress) {
  const std::int64_t n = e.objective.dim;
  const Precision pa = e.analysis.precision;
  CensusResult c;
  for (const auto& o : run.optimizers) c.groups.push_back(o.label);
  if (analysis_wants(e.analysis, "critical")) c.groups.push_back(e.finder.kind);

  Comm& comm = world();
  // Where a resumed census stands.
  std::uint64_t phase = kPhaseFinder;
  std::vector<std::uint8_t> finder_state;  // running (phase 0) or finished (phase 1)
  // Krylov methods take the memory plan's group (their cost is linear in the points).
  std::int64_t group = e.analysis.krylov() ? std::max<std::int64_t>(1, run.plan.census_chunk)
                                           : census_group(obj.hessian_dim(), banded_hessian(obj),
                                                          run.plan.census_chunk),
               done = 0;
  Spectra partial;
  if (resume && !resume->empty()) {
    ckpt::Reader r(*resume, "checkpoint.bin (census)");
    phase = r.pod<std::uint64_t>();
    finder_state = r.vec<std::uint8_t>();
    if (phase != kPhaseFinder) {
      group = r.pod<std::int64_t>();
      done = r.pod<std::int64_t>();
      partial.values = r.vec<double>();
      partial.inertia = r.vec<Inertia>();
      partial.info = r.vec<int>();
      partial.rules = r.vec<PointRule>();
      partial.krylov = read_krylov(r);
    }
    if (!r.done() || group < 1 || done < 0)
      throw InputError("checkpoint.bin: corrupt census state");
  }

  // The finder, checkpointed as phase 0 (from a finished state it only gathers the ranks' shares).
  if (analysis_wants(e.analysis, "critical")) {
    c.has_finder = true;
    {
      CensusCheckpoint fcp;
      if (cp) {
        fcp.due = cp->due;
        fcp.stopping = cp->stopping;
        fcp.save = [&](const std::vector<std::uint8_t>& state, bool stopping) {
          ckpt::Writer w;
          w.pod(kPhaseFinder);
          w.vec(state);
          cp->save(w.bytes(), stopping);
        };
      }
      std::vector<std::uint8_t> finished;
      c.finder =
          find_critical_points(e, obj, backend, cp ? &fcp : nullptr,
                               finder_state.empty() ? nullptr : &finder_state, progress, &finished);
      finder_state = std::move(finished);
    }
  }

  std::vector<double> x;
  std::vector<double> roundoff;  // of the precision each point's coordinates are stored in
  // A trajectory's point (its stop or its plateau point) into the census.
  // Under MPI rank 0 alone holds the trajectories' points (docs/design.md
  // II.6); the others get their census points' coordinates from it below.
  const bool have_coords = comm.root();
  auto add = [&](const char* source, std::size_t o, std::int64_t b, const std::vector<double>& at,
                 std::int64_t step) {
    if (have_coords)
      x.insert(x.end(), at.begin() + b * n, at.begin() + (b + 1) * n);
    else
      x.insert(x.end(), static_cast<std::size_t>(n), 0.0);
    roundoff.push_back(unit_roundoff(e.run.precision));
    AnalyzedPoint p;
    p.source = source;
    p.group = run.optimizers[o].label;
    p.trajectory = b;
    p.step = step;
    p.outcome = run.optimizers[o].traj.outcome[b];
    c.points.push_back(p);
  };
  if (analysis_wants(e.analysis, "stops")) {
    std::vector<std::vector<std::int8_t>> outcomes;
    for (const auto& o : run.optimizers) outcomes.push_back(o.traj.outcome);
    for (const auto& [o, b] : select_stops(outcomes, e.analysis.max_points)) {
      const auto& t = run.optimizers[o].traj;
      add("stop", o, b, t.finals, t.steps[b]);
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
      add("plateau", o, b, t.plateau_points, t.plateau_step[b]);
    }
  }
  c.finder_first_row = static_cast<std::int64_t>(c.points.size());
  if (c.has_finder) {
    const std::size_t take =
        std::min(c.finder.points.size(), static_cast<std::size_t>(e.analysis.max_points));
    for (std::size_t q = 0; q < take; ++q) {
      const FoundPoint& fp = c.finder.points[q];
      x.insert(x.end(), c.finder.coords.begin() + static_cast<std::int64_t>(q) * n,
               c.finder.coords.begin() + static_cast<std::int64_t>(q + 1) * n);
      roundoff.push_back(unit_roundoff(pa));
      AnalyzedPoint p;
      p.source = "critical";
      p.group = e.finder.kind;
      p.trajectory = fp.start;
      p.step = fp.steps;
      p.accuracy = fp.accuracy;
      p.multiplicity = fp.hits;
      c.points.push_back(p);
    }
  }
  const auto count = static_cast<std::int64_t>(c.points.size());
  const std::int64_t nh = obj.hessian_dim();

  // This rank's points (all of them in one process); rank 0 gathers the rest.
  const Share ps = comm.share(count);
  const auto uc = static_cast<std::size_t>(count);
  CensusShare cs;
  cs.f.assign(uc, 0.0);
  cs.grad_norm.assign(uc, 0.0);
  cs.f_field.assign(uc, std::nan(""));
  cs.facts.assign(uc, PointFacts{});
  std::vector<PointFacts>& facts = cs.facts;
  if (comm.size() > 1) {  // each rank's points' coordinates, from rank 0
    std::vector<Bytes> parts;
    if (comm.root())
      for (int r = 0; r < comm.size(); ++r) {
        ckpt::Writer w;
        put_rows(w, x, n, share_of(count, r, comm.size()));
        parts.push_back(w.bytes());
      }
    const Bytes mine = comm.scatter(parts);
    ckpt::Reader rd(mine, "the census points sent by rank 0");
    get_rows(rd, x, n, ps);
  }

  // Facts: value and gradient in the analysis precision, rho.
  std::vector<double> g_all(static_cast<std::size_t>(ps.count * n));
  const std::int64_t vg_chunk = 256;
  // The objective prepared once for the whole census (facts, rho, Hessians).
  const std::unique_ptr<PreparedObjective> prepared = backend.prepare(obj, pa);
  for (std::int64_t a = ps.first; a < ps.end(); a += vg_chunk) {
    const std::int64_t m = std::min(vg_chunk, ps.end() - a);
    const std::vector<double> xs(x.begin() + a * n, x.begin() + (a + m) * n);
    const ObjectiveEval ev = prepared->value_grad(m, xs);
    std::copy(ev.g.begin(), ev.g.end(), g_all.begin() + (a - ps.first) * n);
    for (std::int64_t k = 0; k < m; ++k) {
      const double* xk = xs.data() + k * n;
      const double* gk = ev.g.data() + k * n;
      cs.f[a + k] = ev.f[k];
      cs.grad_norm[a + k] = std::sqrt(row_dot(n, gk, gk));
      facts[a + k].grad_norm = cs.grad_norm[a + k];
      facts[a + k].x_norm = std::sqrt(row_dot(n, xk, xk));
      facts[a + k].coord_roundoff = roundoff[a + k];
      if (obj.kind == ObjectiveKind::gaussian_field)
        cs.f_field[a + k] =
            cs.f[a + k] - 0.5 * obj.field_mu * facts[a + k].x_norm * facts[a + k].x_norm;
    }
  }
  const std::vector<double> rho = estimate_rho(
      *prepared, std::vector<double>(x.begin() + ps.first * n, x.begin() + ps.end() * n), g_all,
      ps.count);
  for (std::int64_t k = 0; k < ps.count; ++k) facts[ps.first + k].rho = rho[k];
  g_all = {};

  if (comm.speaks() && e.analysis.krylov())
    std::fprintf(stderr,
                 "census: %lld points, Hessians of order %lld%s (%s), %s: %lld column(s) of at "
                 "most %lld Lanczos steps per point, %lld points at a time\n",
                 static_cast<long long>(count), static_cast<long long>(nh),
                 obj.sphere() ? " (tangent space)" : "", pa == Precision::f64 ? "f64" : "f32",
                 e.analysis.method.c_str(),
                 static_cast<long long>(e.analysis.method == "slq" ? e.analysis.probes : 1),
                 static_cast<long long>(e.analysis.lanczos_steps), static_cast<long long>(group));
  else if (comm.speaks())
    std::fprintf(stderr, "census: %lld points, Hessians %lld x %lld%s (%s), %s\n",
                 static_cast<long long>(count), static_cast<long long>(nh),
                 static_cast<long long>(nh),
                 obj.sphere()          ? " (tangent space)"
                 : banded_hessian(obj) ? " (banded, solved on the host)"
                                       : "",
                 pa == Precision::f64 ? "f64" : "f32", e.analysis.method.c_str());
  PhaseProgress shown("census " + e.analysis.method, false);
  AnalysisHooks hooks;
  hooks.start = ps.first;
  hooks.end = ps.end();
  if (done > 0) {
    if (done > ps.end() || done < ps.first ||
        partial.info.size() != static_cast<std::size_t>(count) ||
        !partial.krylov.sized(e.analysis, count))
      throw InputError("checkpoint.bin: the census state does not match this experiment");
    hooks.start = done;
    hooks.into = &partial;
  }
  hooks.prepared = prepared.get();
  hooks.seed = e.seed;
  hooks.after_chunk = [&](std::int64_t finished, const Spectra& sp) {
    if (progress)
      shown.update(
          ps.count ? static_cast<double>(finished - ps.first) / static_cast<double>(ps.count) : 1.0,
          fmt::format("{} of {} points{}", finished - ps.first, ps.count,
                      comm.size() > 1 ? " (rank 0's share)" : ""),
          finished == ps.end() && comm.size() == 1);
    if (cp && finished < ps.end() && cp->due()) {
      ckpt::Writer w;
      w.pod(kPhaseAnalysis);
      w.vec(finder_state);
      w.pod(group);
      w.pod(finished);
      w.vec(sp.values);
      w.vec(sp.inertia);
      w.vec(sp.info);
      w.vec(sp.rules);
      write_krylov(w, sp.krylov);
      cp->save(w.bytes(), cp->stopping());
    }
  };
  Spectra s = analyze_points(obj, backend, e.analysis, x, count, group, facts, hooks);
  if (comm.size() > 1) {  // every rank's points on rank 0, which alone writes them
    ckpt::Writer w;
    each_point_array(cs, s, nh,
                     [&](const auto& v, std::int64_t width) { put_rows(w, v, width, ps); });
    std::optional<WaitHook> waiting;
    if (progress)
      waiting.emplace(comm, [&] {
        shown.update(1.0, "rank 0's points done, waiting for the other ranks", false);
      });
    const std::vector<Bytes> all = comm.gather(w.bytes());
    waiting.reset();
    if (progress) shown.update(1.0, fmt::format("{} points", count), true);
    if (!comm.root()) return c;
    for (int r = 1; r < comm.size(); ++r) {
      ckpt::Reader rd(all[static_cast<std::size_t>(r)], "the census share of another rank");
      const Share rs = share_of(count, r, comm.size());
      each_point_array(cs, s, nh, [&](auto& v, std::int64_t width) { get_rows(rd, v, width, rs); });
    }
  }
  for (std::int64_t k = 0; k < count; ++k) {
    c.points[k].f = cs.f[k];
    c.points[k].grad_norm = cs.grad_norm[k];
    c.points[k].f_field = cs.f_field[k];
  }

  for (std::int64_t k = 0; k < count; ++k) {
    AnalyzedPoint& p = c.points[k];
    p.inertia = s.inertia[k];
    p.info = s.info[k];
    p.rho = p.info == 0 ? facts[k].rho : std::nan("");
    p.critical = s.info[k] == 0 && s.rules[k].critical;
    p.crit_threshold = s.rules[k].crit_threshold;
    if (p.source != "critical") {
      // The Newton-step bound on the distance to the critical point, g /
      // curvature, with the curvature at least lambda_tol and sqrt(rho g)
      // (the distance to a degenerate critical point is about sqrt(g / rho)),
      // plus the rounding of the stored coordinates.
      double curv =
          std::max(p.inertia.tol, std::isfinite(p.inertia.sigma_min) ? p.inertia.sigma_min : 0.0);
      if (std::isfinite(p.rho)) curv = std::max(curv, std::sqrt(p.rho * p.grad_norm));
      p.accuracy = (curv > 0 ? p.grad_norm / curv : std::numeric_limits<double>::infinity()) +
                   roundoff[k] * std::max(1.0, facts[k].x_norm);
    }
  }
  // Distinct points: critical points merged by their radii (docs/experiment.md, census rules).
  std::vector<char> anchor(static_cast<std::size_t>(count));
  for (std::int64_t k = 0; k < count; ++k) anchor[k] = c.points[k].critical;
  const std::vector<std::int64_t> ids =
      distinct_ids(x.data(), count, n, merge_radii(e.analysis, c.points), anchor);
  for (std::int64_t k = 0; k < count; ++k) c.points[k].distinct_id = ids[k];
  c.distinct = distinct_points(c.points, c.groups);
  c.spectra = std::move(s.values);
  c.krylov = std::move(s.krylov);
  if (e.analysis.save_point_coords) c.coords = std::move(x);
  c.finder.coords.clear();  // the analysed ones are in `coords` when saved
  return c;
}

}  // namespace saddlescope
