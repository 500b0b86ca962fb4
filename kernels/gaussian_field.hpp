// Per-feature math of the gaussian-field objective, shared by the CPU and
// CUDA backends. With z_j = w_j . x + b_j (one GEMM over all trajectories)
// and c = sqrt(2 / M):
//   f(x)      = mu/2 |x|^2 + c sum_j a_j cos z_j
//   grad f    = mu x + W^T s,         s_j = -c a_j sin z_j
//   H         = mu I + W^T diag(h) W, h_j = -c a_j cos z_j
// so gradient and Hessian-vector products are GEMMs around these weights.
#pragma once

#include "hd.hpp"

namespace saddlescope {

// Value term and gradient weight of feature j at z (= w_j . x, without b_j).
template <class T>
SS_HD void field_feature(T z, T a, T b, T c, double& value, T& grad_weight) {
  const T arg = z + b;
  value = static_cast<double>(c * a * cos(arg));
  grad_weight = -c * a * sin(arg);
}

// Hessian weight of feature j at z (= w_j . x, without b_j).
template <class T>
SS_HD T field_curvature(T z, T a, T b, T c) {
  return -c * a * cos(z + b);
}

}  // namespace saddlescope
