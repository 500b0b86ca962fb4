// annealing: gradient-free simulated annealing. Proposals x' = x +
// step_size xi, xi ~ N(0, I), accepted with probability min(1, exp(-(f' -
// f) / T_k)), T_k = temperature decay^(k-1). Host-driven
// (src/core/host_optimizers.cpp): no per-coordinate rule, no lr.
#pragma once

#include "rule.hpp"

namespace saddlescope {

struct Annealing : RuleDefaults {
  static constexpr const char* name = "annealing";
  static constexpr const char* torch = "Kirkpatrick et al. 1983 (Metropolis, geometric cooling)";
  static constexpr const char* summary =
      "gradient-free simulated annealing: Gaussian proposals, Metropolis acceptance at T_k";
  static constexpr bool host_driven = true;
  static constexpr OptimizerKey keys[] = {
      real_key("temperature", &OptimizerParams::temperature, 1.0, 0, 1e30, false, false,
               "temperature T at step 1"),
      real_key("temperature_decay", &OptimizerParams::temperature_decay, 0.999, 0, 1, true, false,
               "T_k = temperature decay^(k-1)"),
      real_key("step_size", &OptimizerParams::step_size, 0.1, 0, 1e30, true, false,
               "standard deviation of the proposal per coordinate")};
  template <class T>
  SS_HD static T update(const OptimizerParams&, const StepScalars&, T x, T, T&, T&, std::uint64_t) {
    return x;
  }
};

}  // namespace saddlescope
