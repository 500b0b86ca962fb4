// double-well: f_i = x_i^4 - 4 x_i^2 + x_i (the host half:
// src/core/objectives/double_well.cpp).
#pragma once

#include "../hd.hpp"

namespace saddlescope {

struct DoubleWellTerms {
  template <class T, class Obj>
  SS_HD static void eval(const Obj&, const T* x, const T*, std::int64_t i, T& f, T& g) {
    const T xi = x[i];
    const T x2 = xi * xi;
    f = x2 * x2 - T(4) * x2 + xi;
    g = T(4) * x2 * xi - T(8) * xi + T(1);
  }
  template <class T, class Obj>
  SS_HD static void band(const Obj&, const T* x, std::int64_t i, T& diag, T&) {
    const T xi = x[i];
    diag = T(12) * xi * xi - T(8);
  }
};

}  // namespace saddlescope
