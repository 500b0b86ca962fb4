// saddle-free-newton (Dauphin et al. 2014): x <- x - lr V diag(1 / (|lambda|
// + damping)) V^T g from the dense eigendecomposition H = V diag(lambda)
// V^T. Host-driven: whole-batch steps through the backend's value, Hessian
// and eigensolver calls (src/core/host_optimizers.cpp), no per-coordinate rule.
#pragma once

#include "rule.hpp"

namespace saddlescope {

struct SaddleFreeNewton : RuleDefaults {
  static constexpr const char* name = "saddle-free-newton";
  static constexpr const char* torch = "Dauphin et al. 2014";
  static constexpr const char* summary =
      "Newton's step with |lambda| + damping: negative curvature turned into descent "
      "(dense, dim <= 4096)";
  static constexpr bool host_driven = true;
  static constexpr OptimizerKey keys[] = {
      lr_key(1.0), real_key("damping", &OptimizerParams::damping, 1e-2, 0, 1e30, false, false,
                            "added to |lambda| before inverting")};
  template <class T>
  SS_HD static T update(const OptimizerParams&, const StepScalars&, T x, T, T&, T&, std::uint64_t) {
    return x;
  }
};

}  // namespace saddlescope
