// adagrad: torch.optim.Adagrad. State s1: the sum of squared gradients
// (starting at initial_accumulator_value); the rate decays as
// lr / (1 + (step - 1) lr_decay).
#pragma once

#include "rule.hpp"

namespace saddlescope {

struct Adagrad : RuleDefaults {
  static constexpr const char* name = "adagrad";
  static constexpr const char* torch = "torch.optim.Adagrad";
  static constexpr const char* summary = "x -= lr_k g / (sqrt(sum g^2) + eps)";
  static constexpr OptimizerKey keys[] = {
      lr_key(1e-2), weight_decay_key(),
      real_key("lr_decay", &OptimizerParams::lr_decay, 0.0, 0, 1e30, false, false,
               "lr_k = lr / (1 + (k - 1) lr_decay)"),
      real_key("initial_accumulator_value", &OptimizerParams::initial_accumulator_value, 0.0, 0,
               1e30, false, false, "starting value of the sum of squared gradients"),
      eps_key(1e-10)};
  SS_HD static int states(const OptimizerParams&) { return 1; }
  SS_HD static double initial_s1(const OptimizerParams& p) { return p.initial_accumulator_value; }
  static void scalars(const OptimizerParams& p, StepScalars& s, const StepScalars*) {
    s.lr = p.lr / (1.0 + static_cast<double>(s.step - 1) * p.lr_decay);
  }
  template <class T>
  SS_HD static T update(const OptimizerParams& p, const StepScalars& s, T x, T grad, T& s1, T&,
                        std::uint64_t) {
    const T g = coupled_decay(p, x, grad);
    s1 = s1 + g * g;
    const T std_ = sqrt(s1) + T(p.eps);
    return x - T(s.lr) * (g / std_);
  }
};

}  // namespace saddlescope
