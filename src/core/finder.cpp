// Critical-point finders (see finder.hpp).
#include "saddlescope/finder.hpp"

#include <fmt/format.h>
#include <lapacke.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "kernels/pspin.hpp"
#include "saddlescope/run.hpp"

namespace saddlescope {
namespace {

double row_norm(const std::vector<double>& v, std::int64_t row, std::int64_t n) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += v[row * n + i] * v[row * n + i];
  return std::sqrt(s);
}

// Rows of x for the given active indices.
std::vector<double> gather(const std::vector<double>& x, const std::vector<std::int64_t>& rows,
                           std::int64_t n) {
  std::vector<double> out(rows.size() * static_cast<std::size_t>(n));
  for (std::size_t k = 0; k < rows.size(); ++k)
    std::copy(x.begin() + rows[k] * n, x.begin() + (rows[k] + 1) * n,
              out.begin() + static_cast<std::int64_t>(k) * n);
  return out;
}

// On the sphere (p-spin) every row goes back to |x|^2 = n after a step.
void retract(const ObjectiveData& obj, std::vector<double>& x) {
  if (!obj.sphere()) return;
  const std::int64_t n = obj.dim;
  for (std::size_t r = 0; r < x.size() / static_cast<std::size_t>(n); ++r)
    sphere_retract(n, x.data() + static_cast<std::int64_t>(r) * n);
}

// Newton direction d = H^{-1} g by LU with partial pivoting (H may be
// indefinite); false when H is singular to working precision. On the sphere
// H is the embedded Riemannian Hessian, zero on the normal q = x / |x|:
// H + q q^T acts as H on the tangent space and as 1 on the normal, and g is
// tangent, so d is the tangent Newton direction.
bool newton_direction(std::vector<double> h, const double* g, std::int64_t n, double* d,
                      const double* sphere_x) {
  if (sphere_x) {
    const double r = std::sqrt(row_dot(n, sphere_x, sphere_x));
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < n; ++j) h[i * n + j] += sphere_x[i] * sphere_x[j] / (r * r);
  }
  std::vector<lapack_int> piv(static_cast<std::size_t>(n));
  std::copy(g, g + n, d);
  const int ln = static_cast<int>(n);
  return LAPACKE_dgesv(LAPACK_ROW_MAJOR, ln, 1, h.data(), ln, piv.data(), d, 1) == 0;
}

}  // namespace

FinderResult find_critical_points(const Experiment& e, const ObjectiveData& obj, Backend& backend) {
  const auto t0 = std::chrono::steady_clock::now();
  const FinderSpec& spec = e.finder;
  const std::int64_t n = obj.dim, m = spec.starts;
  const Precision p = e.analysis.precision;
  const double tol = e.analysis.crit_tol;
  FinderResult out;
  out.starts = m;

  std::vector<double> x = make_starts(e, 0, m);
  retract(obj, x);
  std::vector<std::int64_t> steps(static_cast<std::size_t>(m), 0);
  std::vector<double> f_at(static_cast<std::size_t>(m)), g_at(static_cast<std::size_t>(m));
  std::vector<char> reached(static_cast<std::size_t>(m), 0);
  std::vector<std::int64_t> active(static_cast<std::size_t>(m));
  for (std::int64_t i = 0; i < m; ++i) active[i] = i;

  for (std::int64_t step = 0; step <= spec.max_steps && !active.empty(); ++step) {
    const auto na = static_cast<std::int64_t>(active.size());
    std::vector<double> xa = gather(x, active, n);
    const ObjectiveEval ev = backend.value_grad(obj, p, na, xa);
    std::vector<std::int64_t> still;
    std::vector<double> x_still, g_still;
    for (std::int64_t k = 0; k < na; ++k) {
      const std::int64_t i = active[k];
      const double gn = row_norm(ev.g, k, n);
      f_at[i] = ev.f[k];
      g_at[i] = gn;
      steps[i] = step;
      if (!std::isfinite(gn) || !std::isfinite(ev.f[k])) continue;  // lost: stop silently
      if (gn <= tol) {
        reached[i] = 1;
        continue;
      }
      if (step == spec.max_steps) continue;
      still.push_back(i);
      x_still.insert(x_still.end(), xa.begin() + k * n, xa.begin() + (k + 1) * n);
      g_still.insert(g_still.end(), ev.g.begin() + k * n, ev.g.begin() + (k + 1) * n);
    }
    active = still;
    if (active.empty()) break;
    const auto ns = static_cast<std::int64_t>(active.size());
    if (spec.kind == "gradient-norm") {
      // Gradient of 1/2 ||g||^2 is H g: one batched Hessian-vector product.
      const std::vector<double> hg = backend.hvp(obj, p, ns, x_still, g_still);
      for (std::int64_t k = 0; k < ns; ++k)
        for (std::int64_t j = 0; j < n; ++j) x[active[k] * n + j] -= spec.lr * hg[k * n + j];
      retract(obj, x);
      continue;
    }
    // Newton: directions from dense solves, then step halving until ||g|| drops.
    const std::vector<double> h = backend.hessian(obj, p, ns, x_still);
    std::vector<double> d(static_cast<std::size_t>(ns * n), 0.0);
    std::vector<double> gnorm0(static_cast<std::size_t>(ns));
    for (std::int64_t k = 0; k < ns; ++k) {
      gnorm0[k] = row_norm(g_still, k, n);
      const std::vector<double> hk(h.begin() + k * n * n, h.begin() + (k + 1) * n * n);
      if (!newton_direction(hk, g_still.data() + k * n, n, d.data() + k * n,
                            obj.sphere() ? x_still.data() + k * n : nullptr))
        for (std::int64_t j = 0; j < n; ++j) d[k * n + j] = g_still[k * n + j];  // fall back to gd
    }
    std::vector<double> alpha(static_cast<std::size_t>(ns), spec.lr);
    std::vector<char> done(static_cast<std::size_t>(ns), 0);
    for (int halving = 0; halving < 30; ++halving) {
      std::vector<std::int64_t> trial_rows;
      for (std::int64_t k = 0; k < ns; ++k)
        if (!done[k]) trial_rows.push_back(k);
      if (trial_rows.empty()) break;
      std::vector<double> xt(trial_rows.size() * static_cast<std::size_t>(n));
      for (std::size_t q = 0; q < trial_rows.size(); ++q)
        for (std::int64_t j = 0; j < n; ++j) {
          const std::int64_t k = trial_rows[q];
          xt[static_cast<std::int64_t>(q) * n + j] = x_still[k * n + j] - alpha[k] * d[k * n + j];
        }
      retract(obj, xt);
      const ObjectiveEval et =
          backend.value_grad(obj, p, static_cast<std::int64_t>(trial_rows.size()), xt);
      for (std::size_t q = 0; q < trial_rows.size(); ++q) {
        const std::int64_t k = trial_rows[q];
        const double gn = row_norm(et.g, static_cast<std::int64_t>(q), n);
        if (gn < gnorm0[k] || halving == 29) {
          done[k] = 1;
          std::copy(xt.begin() + static_cast<std::int64_t>(q) * n,
                    xt.begin() + static_cast<std::int64_t>(q + 1) * n, x.begin() + active[k] * n);
        } else {
          alpha[k] *= 0.5;
        }
      }
    }
  }

  // Deduplicate the points that reached the tolerance (first start wins).
  for (std::int64_t i = 0; i < m; ++i) {
    if (!reached[i]) continue;
    ++out.reached;
    bool seen = false;
    for (std::size_t q = 0; q < out.points.size() && !seen; ++q) {
      double d2 = 0;
      for (std::int64_t j = 0; j < n; ++j) {
        const double diff = out.coords[q * static_cast<std::size_t>(n) + j] - x[i * n + j];
        d2 += diff * diff;
      }
      if (std::sqrt(d2) <= spec.dedup_tol) {
        out.points[q].hits++;
        seen = true;
      }
    }
    if (seen) continue;
    FoundPoint fp;
    fp.start = i;
    fp.steps = steps[i];
    fp.f = f_at[i];
    fp.grad_norm = g_at[i];
    fp.hits = 1;
    out.points.push_back(fp);
    out.coords.insert(out.coords.end(), x.begin() + i * n, x.begin() + (i + 1) * n);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr,
               "finder %s: %lld of %lld starts reached ||grad f|| <= %g; %zu distinct points\n",
               spec.kind.c_str(), static_cast<long long>(out.reached), static_cast<long long>(m),
               tol, out.points.size());
  return out;
}

}  // namespace saddlescope
