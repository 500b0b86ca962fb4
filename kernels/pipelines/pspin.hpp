// The spherical p-spin's pipelines (kernels/pspin.hpp's math), written once
// over the backends' Ops (kernels/pipelines/ops.hpp). The products with the
// Euclidean Hessian Y(x) (A for p = 2; T . x for p = 3, a contraction the
// backend tiles its own way) come from a callable of the backend:
//   apply(rows, x, u, out, u2, out2)
//                           out_r = Y(x_r) u_r for the rows (u may be x),
//                           and out2_r = Y(x_r) u2_r unless u2 is null (one
//                           contraction for both)
//   hessian_y(points, x, y) y_p = Y(x_p) [n, n] for the points
// and the rest (energies, projections, Weingarten terms, the embedded
// Riemannian Hessians' entries) is written here once:
//   values and gradients  g_E = Y x / (p - 1), E = x . g_E / (p N), g_R = P g_E
//   H v                   u = P v; P (Y u - c u), c = x . g_E / |x|^2
//   dense Hessians        P (Y - c I) P from q = x / |x|, w = Y q, alpha = q . w
#pragma once

#include <cstdint>

#include "../pspin.hpp"
#include "ops.hpp"

namespace saddlescope::pipelines {

// Row reductions with a second pass (Ops::reduce_apply): sum(r, k, s) adds
// entry k's terms to the row's K sums, row(r, s) runs once per row with the
// totals, apply(r, k, s) updates entry k.

// The sums of both epilogues at entry k of a row: ge holds Y x (p = 3:
// 2 g_E, halved here); s[0] += x_k g_E,k and s[1] += x_k^2.
template <class T>
SS_HD void pspin_euclidean_sums(int p, const T* x, T* ge, std::int64_t k, double (&s)[2]) {
  if (p == 3) ge[k] /= T(2);
  const double xk = static_cast<double>(x[k]);
  s[0] += xk * static_cast<double>(ge[k]);
  s[1] += xk * xk;
}

// The gradient epilogue: g holds Y x; sums x . g_E and x . x; E into f;
// g <- g_E - (x . g_E / |x|^2) x.
template <class T>
struct PspinGradEpilogue {
  static constexpr int K = 2;
  const T* x;
  T* g;
  double* f;
  int p;
  std::int64_t n;
  SS_HD void sum(std::int64_t r, std::int64_t i, double (&s)[K]) const {
    pspin_euclidean_sums(p, x, g, r * n + i, s);
  }
  SS_HD void row(std::int64_t r, const double (&s)[K]) const { f[r] = pspin_energy(p, n, s[0]); }
  SS_HD void apply(std::int64_t r, std::int64_t i, const double (&s)[K]) const {
    g[r * n + i] -= sphere_project_coefficient<T>(s[0], s[1]) * x[r * n + i];
  }
};

// out = P v = v - (x . v / |x|^2) x (out may be v: each entry is read by
// its sum before its apply writes it).
template <class T>
struct SphereProject {
  static constexpr int K = 2;
  const T *x, *v;
  T* out;
  std::int64_t n;
  SS_HD void sum(std::int64_t r, std::int64_t i, double (&s)[K]) const {
    const double xi = static_cast<double>(x[r * n + i]);
    s[0] += xi * static_cast<double>(v[r * n + i]);
    s[1] += xi * xi;
  }
  SS_HD void row(std::int64_t, const double (&)[K]) const {}
  SS_HD void apply(std::int64_t r, std::int64_t i, const double (&s)[K]) const {
    out[r * n + i] = v[r * n + i] - sphere_project_coefficient<T>(s[0], s[1]) * x[r * n + i];
  }
};

// H v, first step: ge holds Y x (p = 3: halved here), hv holds Y u; sums x .
// g_E and x . x; hv <- Y u - c u with c = x . g_E / |x|^2 (then projected in
// place by SphereProject).
template <class T>
struct PspinHvpWeingarten {
  static constexpr int K = 2;
  const T* x;
  T* ge;
  const T* u;
  T* hv;
  int p;
  std::int64_t n;
  SS_HD void sum(std::int64_t r, std::int64_t i, double (&s)[K]) const {
    pspin_euclidean_sums(p, x, ge, r * n + i, s);
  }
  SS_HD void row(std::int64_t, const double (&)[K]) const {}
  SS_HD void apply(std::int64_t r, std::int64_t i, const double (&s)[K]) const {
    const std::int64_t k = r * n + i;
    hv[k] = static_cast<T>(hv[k] - (s[0] / s[1]) * u[k]);
  }
};

// Dense Hessians, step 1 per point: q = x / |x| (double).
template <class T>
struct PspinNormal {
  static constexpr int K = 1;
  const T* x;
  double* q;
  std::int64_t n;
  SS_HD void sum(std::int64_t r, std::int64_t i, double (&s)[K]) const {
    const double xi = static_cast<double>(x[r * n + i]);
    s[0] += xi * xi;
  }
  SS_HD void row(std::int64_t, const double (&)[K]) const {}
  SS_HD void apply(std::int64_t r, std::int64_t i, const double (&s)[K]) const {
    q[r * n + i] = x[r * n + i] / sqrt(s[0]);
  }
};

// Step 2 per Hessian row (point p, i): w_i = (Y q)_i (double).
template <class T>
struct PspinYq {
  static constexpr int K = 1;
  const T* y;
  const double* q;
  double* w;
  std::int64_t n;
  SS_HD void sum(std::int64_t pi, std::int64_t j, double (&s)[K]) const {
    s[0] += y[pi * n + j] * q[(pi / n) * n + j];
  }
  SS_HD void row(std::int64_t pi, const double (&s)[K]) const { w[pi] = s[0]; }
  SS_HD void apply(std::int64_t, std::int64_t, const double (&)[K]) const {}
};

// Step 3 per point: alpha = q . w.
struct PspinAlpha {
  static constexpr int K = 1;
  const double *q, *w;
  double* alpha;
  std::int64_t n;
  SS_HD void sum(std::int64_t r, std::int64_t i, double (&s)[K]) const {
    s[0] += q[r * n + i] * w[r * n + i];
  }
  SS_HD void row(std::int64_t r, const double (&s)[K]) const { alpha[r] = s[0]; }
  SS_HD void apply(std::int64_t, std::int64_t, const double (&)[K]) const {}
};

// Step 4 per Hessian row (point p, i): y <- P (Y - c I) P, c = alpha / (p - 1).
template <class T>
struct PspinHessianEntries {
  T* y;
  const double *q, *w, *alpha;
  int p;
  std::int64_t n;
  SS_HD void operator()(std::int64_t pi, std::int64_t j) const {
    const std::int64_t pt = pi / n, i = pi - pt * n;
    const double* qp = q + pt * n;
    const double* wp = w + pt * n;
    const double a = alpha[pt];
    T& e = y[pi * n + j];
    e = sphere_hessian_entry(e, i == j, qp[i], qp[j], wp[i], wp[j], a, a / (p - 1));
  }
};

// Values f and Riemannian gradients g of `rows` rows of x (at x as given).
template <class Ops, class T, class Apply>
void pspin_value_grad(Ops& ops, int p, std::int64_t n, std::int64_t rows, const T* x, T* g,
                      double* f, Apply&& apply) {
  if (rows == 0) return;
  apply(rows, x, x, g, static_cast<const T*>(nullptr), static_cast<T*>(nullptr));  // Y x
  ops.reduce_apply(rows, n, PspinGradEpilogue<T>{x, g, f, p, n});
}

// Hessian-vector products P (Y - c I) P v; work spaces ge, u [padded(rows), n].
template <class Ops, class T, class Apply>
void pspin_hvp(Ops& ops, int p, std::int64_t n, std::int64_t rows, const T* x, const T* v, T* hv,
               T* ge, T* u, Apply&& apply) {
  if (rows == 0) return;
  ops.reduce_apply(ops.padded(rows), n, SphereProject<T>{x, v, u, n});  // the rows GEMMs read
  apply(rows, x, x, ge, static_cast<const T*>(u), hv);                  // Y x and Y u
  ops.reduce_apply(rows, n, PspinHvpWeingarten<T>{x, ge, u, hv, p, n});
  ops.reduce_apply(rows, n, SphereProject<T>{x, hv, hv, n});  // P in place
}

// The embedded Riemannian Hessians of `points` points x into y [points, n,
// n]; work spaces q, w [points, n], alpha [points] (double).
template <class Ops, class T, class HessianY>
void pspin_hessians(Ops& ops, int p, std::int64_t n, std::int64_t points, const T* x, T* y,
                    double* q, double* w, double* alpha, HessianY&& hessian_y) {
  if (points == 0 || n == 0) return;
  hessian_y(points, x, y);
  ops.reduce_apply(points, n, PspinNormal<T>{x, q, n});
  ops.reduce_apply(points * n, n, PspinYq<T>{y, q, w, n});
  ops.reduce_apply(points, n, PspinAlpha{q, w, alpha, n});
  ops.map(points * n, n, PspinHessianEntries<T>{y, q, w, alpha, p, n});
}

}  // namespace saddlescope::pipelines
