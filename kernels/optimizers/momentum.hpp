// momentum: torch.optim.SGD with momentum, dampening and nesterov. State s1:
// the momentum buffer (initialized with g at the first step).
#pragma once

#include "rule.hpp"

namespace saddlescope {

struct Momentum : RuleDefaults {
  static constexpr const char* name = "momentum";
  static constexpr const char* torch = "torch.optim.SGD";
  static constexpr const char* summary =
      "SGD with momentum; momentum = 0.9 by default (torch's default 0 would make it gd)";
  static constexpr OptimizerKey keys[] = {
      lr_key(1e-3), weight_decay_key(),
      real_key("momentum", &OptimizerParams::momentum, 0.9, 0, 1, false, false, "momentum factor"),
      real_key("dampening", &OptimizerParams::dampening, 0.0, 0, 1, false, false,
               "dampening of the momentum"),
      flag_key("nesterov", &OptimizerParams::nesterov, false, "Nesterov momentum")};
  SS_HD static int states(const OptimizerParams& p) { return p.momentum != 0.0 ? 1 : 0; }
  static OptimizerCheck check(const OptimizerParams& p) {
    if (p.nesterov && (p.momentum <= 0.0 || p.dampening != 0.0))
      return {"nesterov", "= true needs momentum > 0 and dampening = 0 (as torch.optim.SGD)"};
    return {};
  }
  template <class T>
  SS_HD static T update(const OptimizerParams& p, const StepScalars& s, T x, T grad, T& s1, T&,
                        std::uint64_t) {
    T g = coupled_decay(p, x, grad);
    if (p.momentum != 0.0) {
      if (s.first) {
        s1 = g;
      } else {
        s1 = T(p.momentum) * s1 + T(1.0 - p.dampening) * g;
      }
      g = p.nesterov ? g + T(p.momentum) * s1 : s1;
    }
    return x - T(s.lr) * g;
  }
};

}  // namespace saddlescope
