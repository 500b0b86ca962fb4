// gd: torch.optim.SGD with momentum = 0. x <- x - lr (g + weight_decay x).
#pragma once

#include "rule.hpp"

namespace saddlescope {

struct Gd : RuleDefaults {
  static constexpr const char* name = "gd";
  static constexpr const char* torch = "torch.optim.SGD";
  static constexpr const char* summary = "x -= lr g";
  static constexpr OptimizerKey keys[] = {lr_key(1e-3), weight_decay_key()};
  template <class T>
  SS_HD static T update(const OptimizerParams& p, const StepScalars& s, T x, T grad, T&, T&,
                        std::uint64_t) {
    return x - T(s.lr) * coupled_decay(p, x, grad);
  }
};

}  // namespace saddlescope
