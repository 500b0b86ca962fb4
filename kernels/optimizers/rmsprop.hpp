// rmsprop: torch.optim.RMSprop, centered = False. State s1: the running
// average of g^2; s2: the momentum buffer when momentum > 0.
#pragma once

#include "rule.hpp"

namespace saddlescope {

struct Rmsprop : RuleDefaults {
  static constexpr const char* name = "rmsprop";
  static constexpr const char* torch = "torch.optim.RMSprop";
  static constexpr const char* summary = "x -= lr g / (sqrt(avg g^2) + eps), not centered";
  static constexpr OptimizerKey keys[] = {
      lr_key(1e-2),
      weight_decay_key(),
      real_key("alpha", &OptimizerParams::alpha, 0.99, 0, 1, false, false,
               "smoothing constant of the g^2 average"),
      eps_key(1e-8),
      real_key("momentum", &OptimizerParams::momentum, 0.0, 0, 1, false, false, "momentum factor"),
      false_key("centered", "= true is not supported (RMSprop without centering only)")};
  SS_HD static int states(const OptimizerParams& p) { return p.momentum > 0.0 ? 2 : 1; }
  template <class T>
  SS_HD static T update(const OptimizerParams& p, const StepScalars& s, T x, T grad, T& s1, T& s2,
                        std::uint64_t) {
    const T g = coupled_decay(p, x, grad);
    s1 = T(p.alpha) * s1 + T(1.0 - p.alpha) * (g * g);
    const T avg = sqrt(s1) + T(p.eps);
    if (p.momentum > 0.0) {
      s2 = T(p.momentum) * s2 + g / avg;
      return x - T(s.lr) * s2;
    }
    return x - T(s.lr) * (g / avg);
  }
};

}  // namespace saddlescope
