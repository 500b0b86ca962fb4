// The spherical pure p-spin (docs/design.md section 5), written once for both
// backends: H(s) = N^{-(p-1)/2} sum J_{i1..ip} s_i1 .. s_ip on the sphere
// |s|^2 = N. The couplings are stored as the tensor of the Euclidean Hessian,
// Y(s) = grad^2 H(s): p = 2, the constant matrix A = 2 N^{-1/2} sym(J);
// p = 3, Y(s) = T . s with T = 6 N^{-1} sym(J) (sym: the mean over index
// permutations, so T is symmetric in all three indices). H is homogeneous of
// degree p, hence
//   g_E = grad H = Y s / (p - 1),   H = s . g_E / p,   E = H / N (reported).
// On the sphere (radius^2 r = |s|^2, projector P = I - s s^T / r):
//   Riemannian gradient   g_R = P g_E = g_E - c s,        c = s . g_E / r,
//   Riemannian Hessian    Hess v = P (Y - c I) P v        (tangent v),
// the second term being the sphere's Weingarten map (the constraint's
// curvature). At |s|^2 = N, c = p E. The backends build Y (a GEMM over the
// batch for p = 2, a GEMM against T for p = 3) and use these row functions:
// the CPU backend whole (sums in double in index order), the CUDA backend
// through their elementwise parts (sphere_project_coefficient, pspin_energy,
// sphere_hessian_entry) with a block per row summing in another fixed order
// (src/cuda/objectives.cu).
#pragma once

#include "hd.hpp"

namespace saddlescope {

template <class T>
SS_HD double row_dot(std::int64_t n, const T* a, const T* b) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return s;
}

// The retraction's factor sqrt(N) / |x| from xx = x . x.
SS_HD double sphere_retract_scale(std::int64_t n, double xx) {
  return sqrt(static_cast<double>(n) / xx);
}

// The retraction: x <- sqrt(N) x / |x| (a zero row becomes NaN and diverges).
template <class T>
SS_HD void sphere_retract(std::int64_t n, T* x) {
  const double scale = sphere_retract_scale(n, row_dot(n, x, x));
  for (std::int64_t i = 0; i < n; ++i) x[i] = static_cast<T>(x[i] * scale);
}

// The projection's coefficient x . v / |x|^2, rounded to T, from the dot
// products xv = x . v and xx = x . x (however a backend sums them).
template <class T>
SS_HD T sphere_project_coefficient(double xv, double xx) {
  return static_cast<T>(xv / xx);
}

// v <- P v = v - (x . v / |x|^2) x.
template <class T>
SS_HD void sphere_project(std::int64_t n, const T* x, T* v) {
  const T c = sphere_project_coefficient<T>(row_dot(n, x, v), row_dot(n, x, x));
  for (std::int64_t i = 0; i < n; ++i) v[i] -= c * x[i];
}

// The Weingarten coefficient c = x . g_E / |x|^2.
template <class T>
SS_HD double sphere_weingarten(std::int64_t n, const T* x, const T* ge) {
  return row_dot(n, x, ge) / row_dot(n, x, x);
}

// The energy per spin E = (x . g_E) / (p N) from xg = x . g_E.
SS_HD double pspin_energy(int p, std::int64_t n, double xg) {
  return xg / (static_cast<double>(p) * static_cast<double>(n));
}

// Gradient epilogue of one row: g holds g_E on entry and g_R on exit;
// returns the energy per spin E = (x . g_E) / (p N).
template <class T>
SS_HD double pspin_grad_epilogue(int p, std::int64_t n, const T* x, T* g) {
  const double e = pspin_energy(p, n, row_dot(n, x, g));
  sphere_project(n, x, g);
  return e;
}

// Hessian-vector epilogue of one row: y = Y u on entry, with u = P v and c
// the Weingarten coefficient; P (y - c u) on exit.
template <class T>
SS_HD void pspin_hvp_epilogue(std::int64_t n, const T* x, double c, const T* u, T* y) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(y[i] - c * u[i]);
  sphere_project(n, x, y);
}

// One entry of the embedded Riemannian Hessian P (Y - c I) P, expanded with
// the unit normal q = x / |x|, w = Y q and alpha = q . w:
//   Y_ij - q_i w_j - w_i q_j + (alpha + c) q_i q_j - c delta_ij.
// On the normal direction it is zero; on the tangent space it is the
// Riemannian Hessian (the census restricts it to N - 1 tangent directions).
template <class T>
SS_HD T sphere_hessian_entry(T y, bool diag, double qi, double qj, double wi, double wj,
                             double alpha, double c) {
  return static_cast<T>(y - qi * wj - wi * qj + (alpha + c) * qi * qj - (diag ? c : 0.0));
}

}  // namespace saddlescope
