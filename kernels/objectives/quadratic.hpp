// quadratic (and goe-quadratic, the presets): 1/2 sum_i lambda_i x_i^2, or
// 1/2 x^T A x when coupled (rotated quadratic, GOE), whose gradient row
// A x comes from a GEMM before the element pass. Per-coordinate terms as
// kernels/objectives.hpp describes them (the host half:
// src/core/objectives/quadratic.cpp).
#pragma once

#include "../hd.hpp"

namespace saddlescope {

struct QuadraticTerms {
  template <class T, class Obj>
  SS_HD static void eval(const Obj& o, const T* x, const T* grow, std::int64_t i, T& f, T& g) {
    const T xi = x[i];
    if (o.coupled) {
      g = grow[i];
      f = T(0.5) * xi * g;
    } else {
      g = o.lambda[i] * xi;
      f = T(0.5) * g * xi;
    }
  }
  // Coupled quadratics have a dense Hessian (the matrix A) instead of a band.
  template <class T, class Obj>
  SS_HD static void band(const Obj& o, const T*, std::int64_t i, T& diag, T&) {
    diag = o.coupled ? T(0) : o.lambda[i];
  }
};

}  // namespace saddlescope
