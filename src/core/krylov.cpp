// Krylov spectra of Hessians from Hessian-vector products (docs/design.md,
// II.5): batched Lanczos on a prepared objective's resident rows, Ritz pairs,
// and the census's lanczos and slq methods.
#include "saddlescope/krylov.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "kernels/pspin.hpp"
#include "kernels/rng.hpp"
#include "saddlescope/census.hpp"

namespace saddlescope {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The mean of samples and its standard error (NaN for one sample).
std::pair<double, double> mean_stderr(const std::vector<double>& s) {
  const auto m = static_cast<double>(s.size());
  double mean = 0, var = 0;
  for (double v : s) mean += v;
  mean /= m;
  for (double v : s) var += (v - mean) * (v - mean);
  return {mean, s.size() > 1 ? std::sqrt(var / (m - 1) / m) : kNaN};
}
// Whether a column that has taken `steps` steps asks converged(): every
// `every` steps, then every eighth of the steps taken (rounded to a power of
// two), so that the checks' O(m^3) eigenproblems cost O(m^3) in all.
bool check_due(std::int64_t steps, std::int64_t every) {
  std::int64_t gap = every, pow2 = 1;
  while (pow2 * 16 <= steps) pow2 *= 2;
  gap = std::max(gap, pow2);
  return steps % gap == 0;
}

// Whether the k lowest and k highest Ritz pairs have residuals <= tol *
// max |theta| (lanczos's stopping test).
bool extremes_converged(const RitzPairs& r, std::int64_t k, double tol) {
  const auto m = static_cast<std::int64_t>(r.values.size());
  if (m == 0 || !std::isfinite(r.values.front())) return false;
  const double bound = tol * std::max(std::fabs(r.values.front()), std::fabs(r.values.back()));
  for (std::int64_t i = 0; i < m; ++i)
    if ((i < k || i >= m - k) && !(r.residuals[i] <= bound)) return false;
  return true;
}

}  // namespace

double quadrature_mass_below(const double* nodes_weights, std::int64_t m, double t) {
  // The Gauss rule's distribution function jumps by w_i at theta_i; the
  // measure's lies within the jump there (Chebyshev-Markov-Stieltjes).
  // Between nodes it is interpolated linearly from the jumps' midpoints.
  const double* q = nodes_weights;
  if (m == 0 || t <= q[0]) return 0.0;
  double below = 0;  // sum of w_j, j < i
  for (std::int64_t i = 0; i + 1 < m; ++i) {
    const double a = q[2 * i], b = q[2 * (i + 1)], wa = q[2 * i + 1], wb = q[2 * (i + 1) + 1];
    if (t <= b) {
      const double ca = below + wa / 2, cb = below + wa + wb / 2;
      return b > a ? ca + (cb - ca) * (t - a) / (b - a) : ca;
    }
    below += wa;
  }
  return below + q[2 * (m - 1) + 1];
}

RitzPairs ritz_pairs(const LanczosColumn& c, const HostLinalg& la, bool vectors) {
  const auto m = static_cast<int>(c.alpha.size());
  RitzPairs r;
  if (m == 0) return r;
  std::vector<double> d(c.alpha), e(c.beta.begin(), c.beta.begin() + (m - 1));
  e.push_back(0.0);
  std::vector<double> z(static_cast<std::size_t>(m) * static_cast<std::size_t>(m));
  if (la.stev('V', m, d.data(), e.data(), z.data(), m) != 0) {
    r.values.assign(static_cast<std::size_t>(m), kNaN);
    r.residuals = r.weights = r.values;
    return r;
  }
  const double last = c.beta[static_cast<std::size_t>(m - 1)];
  r.values = d;
  for (int i = 0; i < m; ++i) {  // column-major: z[i * m + j] = s_{j,i}
    const double s0 = z[static_cast<std::size_t>(i) * m];
    const double sl = z[static_cast<std::size_t>(i) * m + (m - 1)];
    r.residuals.push_back(c.invariant ? 0.0 : std::fabs(last * sl));
    r.weights.push_back(s0 * s0);
  }
  if (vectors) r.vectors = std::move(z);
  return r;
}

std::vector<LanczosColumn> lanczos_batched(
    PreparedObjective& obj, const std::vector<double>& x, const std::vector<double>& v0,
    std::int64_t cols, std::int64_t order, std::int64_t max_steps, std::int64_t check_every,
    const std::function<bool(std::int64_t, const LanczosColumn&)>& converged,
    const LanczosCoefficients& coefficients, std::vector<double>* vectors) {
  const ObjectiveData& d = obj.data();
  const std::int64_t n = d.dim;
  std::vector<LanczosColumn> col(static_cast<std::size_t>(cols));
  if (cols == 0) return col;
  max_steps = std::max<std::int64_t>(1, std::min(max_steps, order));
  check_every = std::max<std::int64_t>(1, check_every);
  // Rounding of the rows' precision: below 64 u |T| a new direction is noise.
  const double u = unit_roundoff(obj.precision());

  const auto xr = obj.rows(), w = obj.rows();
  obj.put(*xr, x);
  std::vector<std::unique_ptr<ResidentRows>> q;  // the bases: q[j] holds step j of every column
  std::unique_ptr<ResidentRows> normal;  // the sphere's unit normals (kept out of the space)
  std::vector<const ResidentRows*> basis;
  if (d.sphere()) {
    std::vector<double> nx(x);
    for (std::int64_t c = 0; c < cols; ++c) {
      double* r = nx.data() + c * n;
      const double s = std::sqrt(row_dot(n, r, r));
      for (std::int64_t i = 0; i < n; ++i) r[i] = s > 0 ? r[i] / s : 0.0;
    }
    normal = obj.rows();
    obj.put(*normal, nx);
    basis.push_back(normal.get());
  }
  // q_0 = v0 / |v0| (a zero start is done at once).
  q.push_back(obj.rows());
  obj.put(*q[0], v0);
  {
    const std::vector<double> nn = obj.dots(*q[0], *q[0]);
    std::vector<double> a(static_cast<std::size_t>(cols)), zero(a.size(), 0.0);
    for (std::int64_t c = 0; c < cols; ++c) {
      const double s = std::sqrt(nn[c]);
      a[c] = s > 0 && std::isfinite(s) ? 1.0 / s : 0.0;
      if (a[c] == 0) col[c].done = true;
    }
    obj.combine(a, *q[0], zero, *q[0]);
  }
  std::vector<double> scale_t(static_cast<std::size_t>(cols), 0.0);  // max |alpha|, |beta| so far
  // Partial reorthogonalization (Simon 1984; docs/design.md, II.5): per
  // column the estimates omega_{j,k} ~ q_j . q_k of the previous and the
  // current step, from the recurrence the Lanczos relation implies plus a
  // rounding term; when one passes sqrt(u), the new vector and the next are
  // orthogonalized against the whole basis and the estimates reset to the
  // rounding level psi. The decision is the column's own.
  const double psi = u * std::sqrt(static_cast<double>(n)), limit = std::sqrt(u);
  std::vector<std::vector<double>> om_prev(static_cast<std::size_t>(cols)),
      om(static_cast<std::size_t>(cols), std::vector<double>{1.0});
  std::vector<std::uint8_t> force(static_cast<std::size_t>(cols), 0);
  for (std::int64_t j = 0; j < max_steps; ++j) {
    bool any = false;
    for (const auto& c : col) any = any || !c.done;
    if (!any) break;
    obj.hvp(*xr, *q[j], *w);
    basis.push_back(q[j].get());
    // The three-term recurrence (against q_j and q_{j-1}, and the sphere's
    // normal), then, where the estimates ask for it, a full
    // reorthogonalization against the whole basis (docs/design.md, II.5).
    std::vector<const ResidentRows*> local;
    if (d.sphere()) local.push_back(normal.get());
    if (j > 0) local.push_back(q[j - 1].get());
    local.push_back(q[j].get());
    const std::vector<double> c1 = obj.project_out(local, *w, {});
    std::vector<double> bb = obj.dots(*w, *w);
    const auto lj = static_cast<std::int64_t>(basis.size()) - 1;   // q_j's place in the basis
    const auto lj1 = static_cast<std::int64_t>(local.size()) - 1;  // ... and in `local`
    std::vector<std::uint8_t> reorth(static_cast<std::size_t>(cols), 0);
    bool any_reorth = false;
    for (std::int64_t c = 0; c < cols; ++c) {
      if (col[c].done) continue;
      const std::vector<double>& al = col[c].alpha;
      const std::vector<double>& be = col[c].beta;  // beta_0 .. beta_{j-1}
      const double aj = c1[lj1 * cols + c], bj = std::sqrt(std::max(0.0, bb[c]));
      const double anorm = std::max({scale_t[c], std::fabs(aj), bj});
      // omega_{j+1,k}, k < j, from omega_{j,.} (om) and omega_{j-1,.} (om_prev).
      std::vector<double> next(static_cast<std::size_t>(j + 2), psi);
      double worst = 0;
      if (bj > 0)
        for (std::int64_t k = 0; k < j; ++k) {
          double v = be[k] * om[c][k + 1] + (al[k] - aj) * om[c][k] +
                     (k > 0 ? be[k - 1] * om[c][k - 1] : 0.0) -
                     (j > 0 ? be[j - 1] * om_prev[c][k] : 0.0);
          v = (v + std::copysign(psi * anorm, v)) / bj;
          next[k] = v;
          worst = std::max(worst, std::fabs(v));
        }
      next[j + 1] = 1.0;
      reorth[c] = force[c] || worst > limit || !std::isfinite(worst);
      force[c] = reorth[c] && !force[c];  // Simon: this vector and the next
      if (reorth[c]) std::fill(next.begin(), next.begin() + (j + 1), psi);
      om_prev[c] = std::move(om[c]);
      om[c] = std::move(next);
      any_reorth = any_reorth || reorth[c];
    }
    std::vector<double> c2;
    if (any_reorth) {
      c2 = obj.project_out(basis, *w, reorth);
      bb = obj.dots(*w, *w);
    }
    std::vector<double> a(static_cast<std::size_t>(cols), 0.0), zero(a.size(), 0.0);
    for (std::int64_t c = 0; c < cols; ++c) {
      LanczosColumn& lc = col[c];
      if (lc.done) continue;
      const double alpha = c1[lj1 * cols + c] + (reorth[c] ? c2[lj * cols + c] : 0.0);
      const double beta = std::sqrt(std::max(0.0, bb[c]));
      lc.alpha.push_back(alpha);
      lc.beta.push_back(beta);
      scale_t[c] = std::max({scale_t[c], std::fabs(alpha), beta});
      if (!std::isfinite(alpha) || !std::isfinite(beta)) {
        lc.done = true;
        continue;
      }
      if (beta <= 64 * u * scale_t[c]) {
        lc.invariant = lc.done = true;
        continue;
      }
      if (lc.steps() >= max_steps) {
        lc.done = true;
        continue;
      }
      if (check_due(lc.steps(), check_every) && converged && converged(c, lc)) {
        lc.done = true;
        continue;
      }
      a[c] = 1.0 / beta;
    }
    if (j + 1 == max_steps) break;
    q.push_back(obj.rows());
    obj.combine(a, *w, zero, *q[j + 1]);  // q_{j+1} = w / beta (zero for finished columns)
  }
  for (auto& c : col) c.done = true;
  if (vectors && coefficients) {  // y = sum_j s_j q_j per column
    std::vector<std::vector<double>> s(static_cast<std::size_t>(cols));
    for (std::int64_t c = 0; c < cols; ++c) s[c] = coefficients(c, col[c]);
    const auto y = obj.rows();
    std::vector<double> a(static_cast<std::size_t>(cols)), b(a.size());
    for (std::size_t j = 0; j < q.size(); ++j) {
      for (std::int64_t c = 0; c < cols; ++c) {
        a[c] = j < s[c].size() ? s[c][j] : 0.0;
        b[c] = j == 0 ? 0.0 : 1.0;
      }
      obj.combine(a, *q[j], b, *y);
    }
    *vectors = obj.get(*y);
  }
  return col;
}

std::vector<double> path_sharpness(const Experiment& e, const ObjectiveData& obj, Backend& backend,
                                   const std::vector<double>& paths) {
  const std::int64_t n = obj.dim, records = e.records();
  const std::int64_t rc =
      records * n > 0 ? static_cast<std::int64_t>(paths.size()) / (records * n) : 0;
  const std::int64_t stride = e.run.sharpness_every / e.run.record_every;
  const std::int64_t meas = e.run.max_steps / e.run.sharpness_every + 1;
  std::vector<double> out(static_cast<std::size_t>(rc * meas * 2), kNaN);
  if (rc == 0) return out;
  const auto prepared = backend.prepare(obj, e.run.precision);
  const HostLinalg& la = backend.host_linalg();
  std::vector<double> warm(static_cast<std::size_t>(rc * n), 0.0);
  std::vector<char> have(static_cast<std::size_t>(rc), 0);
  for (std::int64_t m = 0; m < meas && m * stride < records; ++m) {
    std::vector<std::int64_t> idx;  // trajectories still running at this step
    std::vector<double> x, v0;
    for (std::int64_t b = 0; b < rc; ++b) {
      const double* p = paths.data() + (b * records + m * stride) * n;
      if (!std::all_of(p, p + n, [](double v) { return std::isfinite(v); })) continue;
      idx.push_back(b);
      x.insert(x.end(), p, p + n);
      for (std::int64_t i = 0; i < n; ++i)
        v0.push_back(have[b] ? warm[b * n + i]
                             : rng::normal(e.seed, rng::kSharpnessStart,
                                           static_cast<std::uint64_t>(b * n + i)));
      if (obj.sphere()) sphere_project(n, p, v0.data() + (v0.size() - n));
    }
    const auto cols = static_cast<std::int64_t>(idx.size());
    if (cols == 0) break;
    std::vector<RitzPairs> ritz(static_cast<std::size_t>(cols));
    auto ends = [&](std::int64_t c, const LanczosColumn& lc) {
      ritz[c] = ritz_pairs(lc, la, true);
      const auto k = static_cast<std::size_t>(lc.steps());
      std::vector<double> s(k, 0.0);
      if (k == 0 || ritz[c].vectors.empty()) return s;
      for (std::size_t j = 0; j < k; ++j)
        s[j] = ritz[c].vectors[j] + ritz[c].vectors[(k - 1) * k + j];
      return s;
    };
    std::vector<double> y;
    lanczos_batched(*prepared, x, v0, cols, obj.hessian_dim(), kSharpnessSteps, kSharpnessSteps, {},
                    ends, &y);
    for (std::int64_t c = 0; c < cols; ++c) {
      const std::int64_t b = idx[c];
      const auto& v = ritz[c].values;
      if (v.empty() || !std::isfinite(v.front())) continue;
      out[(b * meas + m) * 2] = v.back();
      out[(b * meas + m) * 2 + 1] = v.front();
      std::copy(y.begin() + c * n, y.begin() + (c + 1) * n, warm.begin() + b * n);
      have[b] = std::all_of(warm.begin() + b * n, warm.begin() + (b + 1) * n,
                            [](double w) { return std::isfinite(w); }) &&
                row_dot(n, warm.data() + b * n, warm.data() + b * n) > 0;
    }
  }
  return out;
}

void KrylovSpectra::resize(const AnalysisSpec& a, std::int64_t count) {
  const auto uc = static_cast<std::size_t>(count);
  k = a.method == "lanczos" ? a.k : 0;
  probes = a.method == "slq" ? a.probes : 0;
  steps = a.method == "slq" ? a.lanczos_steps : 0;
  ritz.assign(uc * static_cast<std::size_t>(4 * k), kNaN);
  quadrature.assign(uc * static_cast<std::size_t>(probes * steps * 2), kNaN);
  probe_norm2.assign(uc * static_cast<std::size_t>(probes), kNaN);
  const std::size_t per = a.method == "slq" ? uc : 0;
  index_estimate.assign(per, kNaN);
  index_stderr.assign(per, kNaN);
  trace_estimate.assign(per, kNaN);
  trace_stderr.assign(per, kNaN);
  lanczos_steps.assign(uc, 0);
  converged.assign(uc, 0);
  certified.assign(uc, 0);
}

bool KrylovSpectra::sized(const AnalysisSpec& a, std::int64_t count) const {
  KrylovSpectra t;
  t.resize(a, count);
  return t.k == k && t.probes == probes && t.steps == steps && t.ritz.size() == ritz.size() &&
         t.quadrature.size() == quadrature.size() && t.probe_norm2.size() == probe_norm2.size() &&
         t.index_estimate.size() == index_estimate.size() &&
         t.lanczos_steps.size() == lanczos_steps.size();
}

std::vector<KrylovPoint> krylov_points(PreparedObjective& obj, const HostLinalg& la,
                                       const AnalysisSpec& spec, std::uint64_t seed,
                                       const std::vector<double>& x, std::int64_t first,
                                       std::int64_t m, KrylovSpectra& out) {
  const ObjectiveData& d = obj.data();
  const std::int64_t n = d.dim, order = d.hessian_dim();
  const bool slq = spec.method == "slq";
  const std::int64_t per = slq ? spec.probes : 1, cols = m * per;
  // Columns: point k's probes at k * per .. k * per + per - 1.
  std::vector<double> xs(static_cast<std::size_t>(cols * n)), v0(xs.size());
  for (std::int64_t k = 0; k < m; ++k) {
    const std::int64_t p = first + k;
    const double* xk = x.data() + k * n;
    for (std::int64_t j = 0; j < per; ++j) {
      const std::int64_t c = k * per + j;
      std::copy(xk, xk + n, xs.begin() + c * n);
      double* v = v0.data() + c * n;
      for (std::int64_t i = 0; i < n; ++i)
        v[i] = slq ? (rng::uniform(seed, rng::kSlqProbe,
                                   static_cast<std::uint64_t>((p * per + j) * n + i)) < 0.5
                          ? -1.0
                          : 1.0)
                   : rng::normal(seed, rng::kLanczosStart, static_cast<std::uint64_t>(p * n + i));
      if (d.sphere()) sphere_project(n, xk, v);
      if (slq) out.probe_norm2[static_cast<std::size_t>(p * per + j)] = row_dot(n, v, v);
    }
  }
  // lanczos: converged when the k lowest and k highest Ritz pairs meet the tolerance.
  const std::int64_t kk = spec.k;
  auto converged = [&](std::int64_t, const LanczosColumn& c) {
    if (slq) return false;
    // With steps enough for the whole space, Lanczos runs it (the counts are then certified).
    if (spec.lanczos_steps >= order) return false;
    return extremes_converged(ritz_pairs(c, la), kk, spec.lanczos_tol);
  };
  const std::vector<LanczosColumn> col =
      lanczos_batched(obj, xs, v0, cols, order, spec.lanczos_steps, 5, converged);

  std::vector<KrylovPoint> res(static_cast<std::size_t>(m));
  for (std::int64_t k = 0; k < m; ++k) {
    const std::int64_t p = first + k;
    KrylovPoint& kp = res[k];
    kp.lambda_min = std::numeric_limits<double>::infinity();
    kp.lambda_max = -kp.lambda_min;
    std::int64_t most = 0;
    for (std::int64_t j = 0; j < per; ++j) {
      const LanczosColumn& c = col[k * per + j];
      const RitzPairs r = ritz_pairs(c, la);
      most = std::max(most, c.steps());
      kp.certified = kp.certified || c.steps() == order;
      for (double v : r.values) {
        kp.lambda_min = std::min(kp.lambda_min, v);
        kp.lambda_max = std::max(kp.lambda_max, v);
      }
      if (r.values.empty() || !std::isfinite(r.values.front())) {
        kp.lambda_min = kp.lambda_max = kNaN;
      }
      if (slq) {
        kp.probe_values.push_back(r.values);
        double* qd = out.quadrature.data() + ((p * per + j) * spec.lanczos_steps) * 2;
        for (std::size_t i = 0; i < r.values.size(); ++i) {
          qd[2 * i] = r.values[i];
          qd[2 * i + 1] = r.weights[i];
        }
      } else {
        kp.ritz_values = r.values;
        const auto mm = static_cast<std::int64_t>(r.values.size());
        double* rz = out.ritz.data() + p * 4 * kk;
        for (std::int64_t i = 0; i < std::min(kk, mm); ++i) {  // the k lowest, then the k highest
          rz[2 * i] = r.values[i];
          rz[2 * i + 1] = r.residuals[i];
          const std::int64_t hi = mm - std::min(kk, mm) + i;
          rz[2 * (kk + i)] = r.values[hi];
          rz[2 * (kk + i) + 1] = r.residuals[hi];
        }
        out.converged[p] = extremes_converged(r, kk, spec.lanczos_tol) || c.steps() == order;
      }
    }
    out.lanczos_steps[p] = most;
    out.certified[p] = kp.certified;
    if (slq) {
      std::vector<double> t;  // Hutchinson: v^T H v = |v|^2 alpha_0 (q_0 = v / |v|)
      for (std::int64_t j = 0; j < per; ++j) {
        const LanczosColumn& c = col[k * per + j];
        t.push_back(c.alpha.empty() ? kNaN : out.probe_norm2[p * per + j] * c.alpha[0]);
      }
      const auto [mean, se] = mean_stderr(t);
      out.trace_estimate[p] = mean;
      out.trace_stderr[p] = se;
      out.converged[p] = 1;  // slq runs its steps; no tolerance applies
    }
  }
  return res;
}

void slq_estimates(const AnalysisSpec& spec, std::int64_t p, double tol, KrylovSpectra& out) {
  const std::int64_t per = spec.probes, steps = spec.lanczos_steps;
  std::vector<double> s(static_cast<std::size_t>(per), 0.0);
  for (std::int64_t j = 0; j < per; ++j) {
    const double* qd = out.quadrature.data() + ((p * per + j) * steps) * 2;
    std::int64_t m = 0;
    while (m < steps && std::isfinite(qd[2 * m])) ++m;
    s[j] = out.probe_norm2[p * per + j] * quadrature_mass_below(qd, m, -tol);
  }
  const auto [mean, se] = mean_stderr(s);
  out.index_estimate[p] = mean;
  out.index_stderr[p] = se;
}

std::uint64_t krylov_bytes_per_point(const AnalysisSpec& a, std::int64_t dim,
                                     std::uint64_t work_bytes_per_row) {
  const std::uint64_t per = a.method == "slq" ? static_cast<std::uint64_t>(a.probes) : 1;
  const std::uint64_t rows = static_cast<std::uint64_t>(a.lanczos_steps) + 1  // the basis
                             + 3;  // the points, the products, the sphere's normals
  // Work rows twice: the CPU keeps each column's forward pass between
  // products beside the product's own work space.
  return per * (rows * static_cast<std::uint64_t>(dim) * precision_bytes(a.precision) +
                2 * work_bytes_per_row);
}

std::uint64_t krylov_host_bytes_per_point(const AnalysisSpec& a, std::int64_t dim) {
  const std::uint64_t per = a.method == "slq" ? static_cast<std::uint64_t>(a.probes) : 1;
  const auto steps = static_cast<std::uint64_t>(a.lanczos_steps);
  return per * (steps * 32 + steps * steps * 8) + 32 * static_cast<std::uint64_t>(dim);
}

}  // namespace saddlescope
