// nadam: torch.optim.NAdam (Dozat 2016), decoupled_weight_decay = False.
// Momentum schedule mu_k = beta1 (1 - 0.96^(k psi) / 2), psi =
// momentum_decay; with m, v Adam's moment averages and d = sqrt(v / (1 -
// beta2^k)) + eps, x <- x - lr (1 - mu_k) / (1 - prod_{i<=k} mu_i) g / d
// - lr mu_{k+1} / (1 - prod_{i<=k+1} mu_i) m / d. The product of the mu_i
// is kept in float32, as torch keeps it (a float32 state tensor under the
// default dtype), so the scalars follow torch's bit for bit.
#pragma once

#include "adam.hpp"

namespace saddlescope {

struct NAdam : RuleDefaults {
  static constexpr const char* name = "nadam";
  static constexpr const char* torch = "torch.optim.NAdam";
  static constexpr const char* summary = "Adam with Nesterov momentum and a momentum schedule";
  static constexpr OptimizerKey keys[] = {
      real_key("lr", &OptimizerParams::lr, 2e-3, 0, 1e30, false, false, "learning rate"),
      weight_decay_key(), betas_key(0.9, 0.999), eps_key(1e-8),
      real_key("momentum_decay", &OptimizerParams::momentum_decay, 4e-3, 0, 1e30, false, false,
               "psi of the momentum schedule mu_k = beta1 (1 - 0.96^(k psi) / 2)")};
  SS_HD static int states(const OptimizerParams&) { return 2; }
  static double mu(const OptimizerParams& p, double k) {
    return p.beta1 * (1.0 - 0.5 * std::pow(0.96, k * p.momentum_decay));
  }
  static void scalars(const OptimizerParams& p, StepScalars& s, const StepScalars* prev) {
    // prod_{i <= step} mu_i in float32, continued from the previous step's
    // product when given, else from step 1.
    float product = 1.0f;
    std::int64_t from = 1;
    if (prev != nullptr && prev->step == s.step - 1) {
      product = static_cast<float>(prev->mu_product);
      from = s.step;
    }
    for (std::int64_t i = from; i <= s.step; ++i)
      product = product * static_cast<float>(mu(p, static_cast<double>(i)));
    const double k = static_cast<double>(s.step);
    const double mu_k = mu(p, k), mu_next = mu(p, k + 1.0);
    s.mu_product = product;
    s.bc2 = 1.0 - std::pow(p.beta2, k);
    s.c_grad = -p.lr * (1.0 - mu_k) / (1.0 - s.mu_product);
    s.c_avg = (-p.lr * mu_next) / (1.0 - s.mu_product * mu_next);
  }
  template <class T>
  SS_HD static T update(const OptimizerParams& p, const StepScalars& s, T x, T grad, T& s1, T& s2,
                        std::uint64_t) {
    const T g = coupled_decay(p, x, grad);
    s1 = lerp_moment(p, s1, g);
    s2 = T(p.beta2) * s2 + T(1.0 - p.beta2) * (g * g);
    const T denom = sqrt(s2 / T(s.bc2)) + T(p.eps);
    x = x + T(s.c_grad) * g / denom;  // torch: param.addcdiv_(grad, denom, value=c_grad)
    return x + T(s.c_avg) * s1 / denom;
  }
};

}  // namespace saddlescope
