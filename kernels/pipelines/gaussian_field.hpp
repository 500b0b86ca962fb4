// The gaussian field's and the rotated quadratic's pipelines (the GEMM
// objectives), written once over the backends' Ops (kernels/pipelines/ops.hpp)
// around the per-feature math of kernels/gaussian_field.hpp:
//   values and gradients  Z = X W^T; per row f = mu/2 |x|^2 + sum_j value_j(z_j)
//                         with Z <- s (gradient weights) and G = mu X; G += S W
//   H v                   Z = X W^T, U = V W^T, U <- h(Z) o U, HV = mu V + U W
//   dense Hessians        h = curvatures of Z = X W^T; per point
//                         diag(h) W, then mu I + W^T (diag(h) W)
// and for the rotated quadratic (A = Q diag(lambda) Q^T symmetric): G = X A,
// HV = V A.
#pragma once

#include <cstdint>

#include "../gaussian_field.hpp"
#include "ops.hpp"

namespace saddlescope::pipelines {

// The field's arrays as a backend holds them: W [m, n], a, b [m], mu and
// c = sqrt(2 / m).
template <class T>
struct FieldArrays {
  const T *w, *a, *b;
  T mu, c;
  std::int64_t n, m;
};

// Row r's value (Ops::reduce_apply): the sum over k < n of the
// coordinate's mu/2 x_k^2 (and g = mu x_k), then over the features j = k - n
// of their values (and z_j <- its gradient weight), into f[r].
template <class T>
struct FieldValueTerms {
  static constexpr int K = 1;
  FieldArrays<T> o;
  const T* x;
  T *z, *g;
  double* f;
  SS_HD void sum(std::int64_t r, std::int64_t k, double (&s)[K]) const {
    if (k < o.n) {
      const T xi = x[r * o.n + k];
      g[r * o.n + k] = xi * o.mu;
      s[0] += 0.5 * static_cast<double>(o.mu) * xi * xi;
      return;
    }
    const std::int64_t j = k - o.n;
    double v;
    T gw;
    field_feature(z[r * o.m + j], o.a[j], o.b[j], o.c, v, gw);
    z[r * o.m + j] = gw;
    s[0] += v;
  }
  SS_HD void row(std::int64_t r, const double (&s)[K]) const { f[r] = s[0]; }
  SS_HD void apply(std::int64_t, std::int64_t, const double (&)[K]) const {}
};

// u_j <- h(z_j) u_j (H v's feature weights), or with u == z the curvatures
// h(z_j) in place (dense Hessians).
template <class T>
struct FieldCurvatureTimes {
  FieldArrays<T> o;
  const T* z;
  T* u;
  bool in_place;
  SS_HD void operator()(std::int64_t r, std::int64_t j) const {
    const T h = field_curvature(z[r * o.m + j], o.a[j], o.b[j], o.c);
    u[r * o.m + j] = in_place ? h : u[r * o.m + j] * h;
  }
};

// out = s * in, element-wise over rows of n.
template <class T>
struct Scaled {
  const T* in;
  T* out;
  T s;
  std::int64_t n;
  SS_HD void operator()(std::int64_t r, std::int64_t i) const {
    out[r * n + i] = in[r * n + i] * s;
  }
};

// Point p's diag(h_p) W into dw + p * ds: row (p, j) of the map is W's row j
// times h [p * m + j].
template <class T>
struct ScaledFeatureRows {
  FieldArrays<T> o;
  const T* h;
  T* dw;
  std::int64_t ds;
  SS_HD void operator()(std::int64_t pj, std::int64_t i) const {
    const std::int64_t p = pj / o.m, j = pj - p * o.m;
    dw[p * ds + j * o.n + i] = o.w[j * o.n + i] * h[pj];
  }
};

// Point p's mu I into hess + p * hs: row (p, i) of the map.
template <class T>
struct ScaledIdentity {
  T* hess;
  std::int64_t hs, n;
  T mu;
  SS_HD void operator()(std::int64_t pi, std::int64_t k) const {
    const std::int64_t p = pi / n, i = pi - p * n;
    hess[p * hs + i * n + k] = i == k ? mu : T(0);
  }
};

// Values f [rows] (double) and gradients g [rows, n] at x [rows, n]; z: work
// space [padded(rows), m].
template <class Ops, class T>
void field_value_grad(Ops& ops, const FieldArrays<T>& o, std::int64_t rows, const T* x, T* g,
                      double* f, T* z) {
  if (rows == 0) return;
  ops.gemm_rows(rows, true, o.m, o.n, x, o.w, z);  // Z = X W^T
  ops.reduce_apply(ops.padded(rows), o.n + o.m, FieldValueTerms<T>{o, x, z, g, f});
  ops.gemm_rows(rows, false, o.n, o.m, z, o.w, g, T(1));  // G = mu X + S W
}

// H v per row; z, u: work spaces [padded(rows), m].
template <class Ops, class T>
void field_hvp(Ops& ops, const FieldArrays<T>& o, std::int64_t rows, const T* x, const T* v, T* hv,
               T* z, T* u) {
  if (rows == 0) return;
  const std::int64_t rp = ops.padded(rows);
  ops.gemm_rows(rows, true, o.m, o.n, x, o.w, z);  // Z = X W^T
  ops.gemm_rows(rows, true, o.m, o.n, v, o.w, u);  // U = V W^T
  ops.map(rp, o.m, FieldCurvatureTimes<T>{o, z, u, false});
  ops.map(rp, o.n, Scaled<T>{v, hv, o.mu, o.n});
  ops.gemm_rows(rows, false, o.n, o.m, u, o.w, hv, T(1));  // mu V + (h o U) W
}

// The curvatures h [padded(rows), m] at x [rows, n].
template <class Ops, class T>
void field_curvatures(Ops& ops, const FieldArrays<T>& o, std::int64_t rows, const T* x, T* h) {
  if (rows == 0) return;
  ops.gemm_rows(rows, true, o.m, o.n, x, o.w, h);  // Z = X W^T
  ops.map(ops.padded(rows), o.m, FieldCurvatureTimes<T>{o, h, h, true});
}

// Dense Hessians mu I + W^T diag(h_p) W of `points` points with curvatures
// h [points, m], point p at hess + p * hs (row-major [n, n]); dw: work space,
// point p's diag(h_p) W [m, n] at dw + p * ds.
template <class Ops, class T>
void field_hessians(Ops& ops, const FieldArrays<T>& o, std::int64_t points, const T* h, T* dw,
                    std::int64_t ds, T* hess, std::int64_t hs) {
  if (points == 0 || o.n == 0) return;
  if (o.m > 0) ops.map(points * o.m, o.n, ScaledFeatureRows<T>{o, h, dw, ds});
  ops.map(points * o.n, o.n, ScaledIdentity<T>{hess, hs, o.n, o.mu});
  for (std::int64_t p = 0; p < points; ++p)  // mu I + W^T (diag(h) W)
    ops.gemm(true, false, o.n, o.n, o.m, o.w, dw + p * ds, hess + p * hs, T(1));
}

// The rotated quadratic: G = X A and HV = V A (A [n, n] symmetric).
template <class Ops, class T>
void dense_quadratic_rows(Ops& ops, const T* a, std::int64_t n, std::int64_t rows, const T* x,
                          T* out) {
  if (rows > 0) ops.gemm_rows(rows, false, n, n, x, a, out);
}

}  // namespace saddlescope::pipelines
