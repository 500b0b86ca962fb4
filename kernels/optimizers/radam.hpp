// radam: torch.optim.RAdam (Liu et al. 2020), decoupled_weight_decay =
// False. Adam's moments; with rho_inf = 2 / (1 - beta2) - 1 and rho_k =
// rho_inf - 2 k beta2^k / (1 - beta2^k), steps with rho_k > 5 are Adam's
// scaled by the rectification r_k = sqrt((rho_k - 4)(rho_k - 2) rho_inf /
// ((rho_inf - 4)(rho_inf - 2) rho_k)), earlier ones plain momentum steps
// x <- x - lr m / (1 - beta1^k).
#pragma once

#include "adam.hpp"

namespace saddlescope {

struct RAdam : RuleDefaults {
  static constexpr const char* name = "radam";
  static constexpr const char* torch = "torch.optim.RAdam";
  static constexpr const char* summary = "Adam with the variance rectification of Liu et al.";
  static constexpr OptimizerKey keys[] = {lr_key(1e-3), weight_decay_key(), betas_key(0.9, 0.999),
                                          eps_key(1e-8)};
  SS_HD static int states(const OptimizerParams&) { return 2; }
  static void scalars(const OptimizerParams& p, StepScalars& s, const StepScalars*) {
    const double k = static_cast<double>(s.step);
    s.bc1 = 1.0 - std::pow(p.beta1, k);
    const double bc2 = 1.0 - std::pow(p.beta2, k);
    s.bc2_sqrt = std::pow(bc2, 0.5);
    const double rho_inf = 2.0 / (1.0 - p.beta2) - 1.0;
    const double rho = rho_inf - 2.0 * k * std::pow(p.beta2, k) / bc2;
    s.rect = rho > 5.0 ? std::pow((rho - 4.0) * (rho - 2.0) * rho_inf /
                                      ((rho_inf - 4.0) * (rho_inf - 2.0) * rho),
                                  0.5)
                       : 0.0;
  }
  template <class T>
  SS_HD static T update(const OptimizerParams& p, const StepScalars& s, T x, T grad, T& s1, T& s2,
                        std::uint64_t) {
    const T g = coupled_decay(p, x, grad);
    s1 = lerp_moment(p, s1, g);
    s2 = T(p.beta2) * s2 + T(1.0 - p.beta2) * (g * g);
    T u = s1 / T(s.bc1) * T(s.lr);
    if (s.rect > 0.0) {
      // torch: (bc2 ** 0.5) / (sqrt(v) + eps) is the tensor's reciprocal times the scalar
      const T adaptive = (T(1) / (sqrt(s2) + T(p.eps))) * T(s.bc2_sqrt);
      u = u * adaptive * T(s.rect);
    }
    return x - u;
  }
};

}  // namespace saddlescope
