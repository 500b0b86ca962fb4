// rosenbrock: f_i = 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 for i < n - 1; the
// gradient and the Hessian band read the neighbours (the host half:
// src/core/objectives/rosenbrock.cpp).
#pragma once

#include "../hd.hpp"

namespace saddlescope {

struct RosenbrockTerms {
  // f and g start at 0 (LocalObjective::eval).
  template <class T, class Obj>
  SS_HD static void eval(const Obj& o, const T* x, const T*, std::int64_t i, T& f, T& g) {
    const T xi = x[i];
    if (i + 1 < o.n) {
      const T d = x[i + 1] - xi * xi;
      const T e = T(1) - xi;
      f = T(100) * d * d + e * e;
      g = T(-400) * xi * d - T(2) * e;
    }
    if (i > 0) g += T(200) * (xi - x[i - 1] * x[i - 1]);
  }
  // diag and upper start at 0 (LocalObjective::hessian_band).
  template <class T, class Obj>
  SS_HD static void band(const Obj& o, const T* x, std::int64_t i, T& diag, T& upper) {
    const T xi = x[i];
    if (i + 1 < o.n) {
      diag += T(1200) * xi * xi - T(400) * x[i + 1] + T(2);
      upper = T(-400) * xi;
    }
    if (i > 0) diag += T(200);
  }
};

}  // namespace saddlescope
