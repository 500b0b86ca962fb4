// The coupled objectives whose gradient rows come whole from a GEMM pass
// before the element pass (gaussian-field, the networks, p-spin; their
// row pieces: kernels/gaussian_field.hpp, kernels/network.hpp,
// kernels/pspin.hpp). Their values come per trajectory from the same pass,
// so there is no per-coordinate value term, and their Hessians are dense
// (assembled from Hessian-vector products), so there is no band.
#pragma once

#include "../hd.hpp"

namespace saddlescope {

struct GemmRowTerms {
  template <class T, class Obj>
  SS_HD static void eval(const Obj&, const T*, const T* grow, std::int64_t i, T&, T& g) {
    g = grow[i];
  }
  template <class T, class Obj>
  SS_HD static void band(const Obj&, const T*, std::int64_t, T&, T&) {}
};

}  // namespace saddlescope
