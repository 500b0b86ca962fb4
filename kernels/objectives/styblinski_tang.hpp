// styblinski-tang: f_i = 1/2 (x_i^4 - 16 x_i^2 + 5 x_i) (the host half:
// src/core/objectives/styblinski_tang.cpp).
#pragma once

#include "../hd.hpp"

namespace saddlescope {

struct StyblinskiTangTerms {
  template <class T, class Obj>
  SS_HD static void eval(const Obj&, const T* x, const T*, std::int64_t i, T& f, T& g) {
    const T xi = x[i];
    const T x2 = xi * xi;
    f = T(0.5) * (x2 * x2 - T(16) * x2 + T(5) * xi);
    g = T(2) * x2 * xi - T(16) * xi + T(2.5);
  }
  template <class T, class Obj>
  SS_HD static void band(const Obj&, const T* x, std::int64_t i, T& diag, T&) {
    const T xi = x[i];
    diag = T(6) * xi * xi - T(16);
  }
};

}  // namespace saddlescope
