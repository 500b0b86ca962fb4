// adamw: torch.optim.AdamW (Loshchilov and Hutter 2019): Adam with the
// weight decay decoupled from the gradient, x <- x (1 - lr weight_decay)
// before Adam's step from the gradient taken at the undecayed x.
#pragma once

#include "adam.hpp"

namespace saddlescope {

struct AdamW : RuleDefaults {
  static constexpr const char* name = "adamw";
  static constexpr const char* torch = "torch.optim.AdamW";
  static constexpr const char* summary =
      "Adam with decoupled weight decay: x *= 1 - lr weight_decay";
  static constexpr OptimizerKey keys[] = {
      lr_key(1e-3),
      real_key("weight_decay", &OptimizerParams::weight_decay, 1e-2, 0, 1e30, false, false,
               "decoupled: x is scaled by 1 - lr weight_decay before each step"),
      betas_key(0.9, 0.999), eps_key(1e-8), false_key("amsgrad", "= true is not supported yet")};
  SS_HD static int states(const OptimizerParams&) { return 2; }
  static void scalars(const OptimizerParams& p, StepScalars& s, const StepScalars*) {
    adam_scalars(p, s);
    s.decay = 1.0 - p.lr * p.weight_decay;
  }
  template <class T>
  SS_HD static T update(const OptimizerParams& p, const StepScalars& s, T x, T grad, T& s1, T& s2,
                        std::uint64_t) {
    if (p.weight_decay != 0.0) x = x * T(s.decay);  // torch: param.mul_(1 - lr * weight_decay)
    return adam_step(p, s, x, grad, s1, s2);
  }
};

}  // namespace saddlescope
