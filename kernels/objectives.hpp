// Per-coordinate math of the local objectives, written once for both
// backends; each kind's terms are in its header in kernels/objectives/. A local objective gives,
// for coordinate i of one trajectory's row x, the value term f_i (f = sum_i f_i), the gradient g_i,
// the Hessian-vector product (H v)_i and the Hessian band (H_ii, H_i,i+1). Separable objectives
// read x[i] only; rosenbrock also reads its neighbours. The rotated quadratic
// and the gaussian field are coupled: their gradient rows come from GEMMs
// computed before the element pass (kernels/gaussian_field.hpp); the rotated
// quadratic's element forms f_i = x_i g_i / 2; the values of the field, the
// networks and the p-spin come per trajectory from the GEMM pass.
#pragma once

#include "hd.hpp"
#include "objectives/registry.hpp"

namespace saddlescope {

enum class ObjectiveKind : int {
  quadratic = 0,        // 1/2 sum lambda_i x_i^2, or 1/2 x^T A x when rotated (coupled)
  double_well = 1,      // sum x^4 - 4 x^2 + x
  styblinski_tang = 2,  // 1/2 sum x^4 - 16 x^2 + 5 x
  rastrigin = 3,        // A n + sum x^2 - A cos(2 pi x)
  rosenbrock = 4,       // sum_{i<n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2
  gaussian_field = 5,   // mu/2 |x|^2 + sqrt(2/M) sum_j a_j cos(w_j.x + b_j) (coupled, GEMMs)
  network = 6,          // fully connected networks: network, mlp, deep-linear (coupled, GEMMs)
  p_spin = 8,           // spherical p-spin, p = 2, 3 (coupled, GEMMs; kernels/pspin.hpp)
};

// Device-visible view of an objective: plain values and pointers only.
template <class T>
struct LocalObjective {
  ObjectiveKind kind;
  std::int64_t n;   // dimension
  const T* lambda;  // quadratic, unrotated: eigenvalue per coordinate
  bool coupled;     // gradient row supplied by GEMMs (rotated quadratic, gaussian-field)
  T rastrigin_a;    // rastrigin amplitude A

  // Value term and gradient of coordinate i. grow is the coupled gradient
  // row (ignored unless coupled). The terms of each kind: its header in
  // kernels/objectives/.
  SS_HD void eval(const T* x, const T* grow, std::int64_t i, T& f, T& g) const {
    f = T(0);
    g = T(0);
    switch (kind) {
#define SS_EVAL_CASE(name, Terms)            \
  case ObjectiveKind::name:                  \
    Terms::eval<T>(*this, x, grow, i, f, g); \
    return;
      SS_OBJECTIVE_KINDS(SS_EVAL_CASE)
#undef SS_EVAL_CASE
    }
  }

  // Hessian band of coordinate i: diag = H_ii, upper = H_i,i+1 (0 past the
  // end; 0 for the dense Hessians of the coupled kinds).
  SS_HD void hessian_band(const T* x, std::int64_t i, T& diag, T& upper) const {
    diag = T(0);
    upper = T(0);
    switch (kind) {
#define SS_BAND_CASE(name, Terms)             \
  case ObjectiveKind::name:                   \
    Terms::band<T>(*this, x, i, diag, upper); \
    return;
      SS_OBJECTIVE_KINDS(SS_BAND_CASE)
#undef SS_BAND_CASE
    }
  }

  // (H v)_i for the banded (non-coupled) objectives.
  SS_HD T hvp(const T* x, const T* v, std::int64_t i) const {
    T diag, upper;
    hessian_band(x, i, diag, upper);
    T r = diag * v[i];
    if (i + 1 < n) r += upper * v[i + 1];
    if (i > 0) {
      T d0, up_prev;
      hessian_band(x, i - 1, d0, up_prev);
      r += up_prev * v[i - 1];
    }
    return r;
  }
};

}  // namespace saddlescope
