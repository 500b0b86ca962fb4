// rastrigin: f_i = a + x_i^2 - a cos(2 pi x_i) (the host half:
// src/core/objectives/rastrigin.cpp).
#pragma once

#include "../hd.hpp"

namespace saddlescope {

struct RastriginTerms {
  template <class T, class Obj>
  SS_HD static void eval(const Obj& o, const T* x, const T*, std::int64_t i, T& f, T& g) {
    const T xi = x[i];
    const T w = T(6.283185307179586) * xi;
    f = o.rastrigin_a + xi * xi - o.rastrigin_a * cos(w);
    g = T(2) * xi + T(6.283185307179586) * o.rastrigin_a * sin(w);
  }
  template <class T, class Obj>
  SS_HD static void band(const Obj& o, const T* x, std::int64_t i, T& diag, T&) {
    const T xi = x[i];
    diag = T(2) + T(39.47841760435743) * o.rastrigin_a * cos(T(6.283185307179586) * xi);
  }
};

}  // namespace saddlescope
