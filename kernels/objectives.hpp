// Per-coordinate math of the local objectives, written once for both
// backends. A local objective gives, for coordinate i of one trajectory's row
// x, the value term f_i (f = sum_i f_i), the gradient g_i, the Hessian-vector
// product (H v)_i and the Hessian band (H_ii, H_i,i+1). Separable objectives
// read x[i] only; rosenbrock also reads its neighbours. The rotated quadratic
// and the gaussian field are coupled: their gradient rows come from GEMMs
// computed before the element pass (kernels/gaussian_field.hpp); the rotated
// quadratic's element forms f_i = x_i g_i / 2; the values of the field, the
// networks and the p-spin come per trajectory from the GEMM pass.
#pragma once

#include "hd.hpp"

namespace saddlescope {

enum class ObjectiveKind : int {
  quadratic = 0,        // 1/2 sum lambda_i x_i^2, or 1/2 x^T A x when rotated (coupled)
  double_well = 1,      // sum x^4 - 4 x^2 + x
  styblinski_tang = 2,  // 1/2 sum x^4 - 16 x^2 + 5 x
  rastrigin = 3,        // A n + sum x^2 - A cos(2 pi x)
  rosenbrock = 4,       // sum_{i<n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2
  gaussian_field = 5,   // mu/2 |x|^2 + sqrt(2/M) sum_j a_j cos(w_j.x + b_j) (coupled, GEMMs)
  mlp = 6,              // teacher-student one-hidden-layer tanh network (coupled, GEMMs)
  deep_linear = 7,      // 1/(2n) ||W_L ... W_1 X - Y||^2 (coupled, GEMMs)
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
  // row (ignored unless coupled).
  SS_HD void eval(const T* x, const T* grow, std::int64_t i, T& f, T& g) const {
    const T xi = x[i];
    f = T(0);
    g = T(0);
    switch (kind) {
      case ObjectiveKind::quadratic:
        if (coupled) {
          g = grow[i];
          f = T(0.5) * xi * g;
        } else {
          g = lambda[i] * xi;
          f = T(0.5) * g * xi;
        }
        return;
      case ObjectiveKind::double_well: {
        const T x2 = xi * xi;
        f = x2 * x2 - T(4) * x2 + xi;
        g = T(4) * x2 * xi - T(8) * xi + T(1);
        return;
      }
      case ObjectiveKind::styblinski_tang: {
        const T x2 = xi * xi;
        f = T(0.5) * (x2 * x2 - T(16) * x2 + T(5) * xi);
        g = T(2) * x2 * xi - T(16) * xi + T(2.5);
        return;
      }
      case ObjectiveKind::rastrigin: {
        const T w = T(6.283185307179586) * xi;
        f = rastrigin_a + xi * xi - rastrigin_a * cos(w);
        g = T(2) * xi + T(6.283185307179586) * rastrigin_a * sin(w);
        return;
      }
      case ObjectiveKind::gaussian_field:
      case ObjectiveKind::mlp:
      case ObjectiveKind::deep_linear:
      case ObjectiveKind::p_spin:
        // Gradient row from the GEMMs; the value is computed per trajectory
        // by the same pass (rows of F), so no per-coordinate term.
        g = grow[i];
        return;
      case ObjectiveKind::rosenbrock: {
        if (i + 1 < n) {
          const T d = x[i + 1] - xi * xi;
          const T e = T(1) - xi;
          f = T(100) * d * d + e * e;
          g = T(-400) * xi * d - T(2) * e;
        }
        if (i > 0) g += T(200) * (xi - x[i - 1] * x[i - 1]);
        return;
      }
    }
  }

  // Hessian band of coordinate i: diag = H_ii, upper = H_i,i+1 (0 past the
  // end). Coupled quadratics have a dense Hessian (the matrix A) instead.
  SS_HD void hessian_band(const T* x, std::int64_t i, T& diag, T& upper) const {
    const T xi = x[i];
    diag = T(0);
    upper = T(0);
    switch (kind) {
      case ObjectiveKind::quadratic:
        diag = coupled ? T(0) : lambda[i];
        return;
      case ObjectiveKind::double_well:
        diag = T(12) * xi * xi - T(8);
        return;
      case ObjectiveKind::styblinski_tang:
        diag = T(6) * xi * xi - T(16);
        return;
      case ObjectiveKind::rastrigin:
        diag = T(2) + T(39.47841760435743) * rastrigin_a * cos(T(6.283185307179586) * xi);
        return;
      case ObjectiveKind::gaussian_field:  // dense Hessian: computed by GEMMs
      case ObjectiveKind::mlp:
      case ObjectiveKind::deep_linear:
      case ObjectiveKind::p_spin:
        return;
      case ObjectiveKind::rosenbrock:
        if (i + 1 < n) {
          diag += T(1200) * xi * xi - T(400) * x[i + 1] + T(2);
          upper = T(-400) * xi;
        }
        if (i > 0) diag += T(200);
        return;
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
