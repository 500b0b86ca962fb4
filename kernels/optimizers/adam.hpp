// adam: torch.optim.Adam, amsgrad = False. States s1, s2: the first and
// second moment averages. adam_step is shared with adamw (adamw.hpp).
#pragma once

#include "rule.hpp"

namespace saddlescope {

// Adam's bias corrections of step s.step: step_size = lr / (1 - beta1^k),
// bc2_sqrt = sqrt(1 - beta2^k), in double as torch computes them in Python.
inline void adam_scalars(const OptimizerParams& p, StepScalars& s) {
  const double bc1 = 1.0 - std::pow(p.beta1, static_cast<double>(s.step));
  const double bc2 = 1.0 - std::pow(p.beta2, static_cast<double>(s.step));
  s.step_size = p.lr / bc1;
  s.bc2_sqrt = std::sqrt(bc2);
}

// torch's exp_avg.lerp_(g, 1 - beta1), in lerp's two-branch form.
template <class T>
SS_HD T lerp_moment(const OptimizerParams& p, T s1, T g) {
  const double w = 1.0 - p.beta1;
  return w < 0.5 ? s1 + T(w) * (g - s1) : g - (g - s1) * T(1.0 - w);
}

// The moment updates and the bias-corrected step from x (gradient g).
template <class T>
SS_HD T adam_step(const OptimizerParams& p, const StepScalars& s, T x, T g, T& s1, T& s2) {
  s1 = lerp_moment(p, s1, g);
  s2 = T(p.beta2) * s2 + T(1.0 - p.beta2) * (g * g);
  const T denom = sqrt(s2) / T(s.bc2_sqrt) + T(p.eps);
  return x - T(s.step_size) * (s1 / denom);
}

struct Adam : RuleDefaults {
  static constexpr const char* name = "adam";
  static constexpr const char* torch = "torch.optim.Adam";
  static constexpr const char* summary = "Adam with bias correction";
  static constexpr OptimizerKey keys[] = {lr_key(1e-3), weight_decay_key(), betas_key(0.9, 0.999),
                                          eps_key(1e-8),
                                          false_key("amsgrad", "= true is not supported yet")};
  SS_HD static int states(const OptimizerParams&) { return 2; }
  static void scalars(const OptimizerParams& p, StepScalars& s, const StepScalars*) {
    adam_scalars(p, s);
  }
  template <class T>
  SS_HD static T update(const OptimizerParams& p, const StepScalars& s, T x, T grad, T& s1, T& s2,
                        std::uint64_t) {
    return adam_step(p, s, x, coupled_decay(p, x, grad), s1, s2);
  }
};

}  // namespace saddlescope
