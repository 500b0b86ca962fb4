// langevin: x <- x - lr g + sqrt(2 lr T_k) xi, xi ~ N(0, I), T_k =
// temperature decay^(k-1) at step k; the noise is keyed by (seed,
// coordinate, step), the same on every backend and chunk size.
#pragma once

#include "rule.hpp"

namespace saddlescope {

struct Langevin : RuleDefaults {
  static constexpr const char* name = "langevin";
  static constexpr const char* torch = "unadjusted Langevin dynamics";
  static constexpr const char* summary =
      "x -= lr g + sqrt(2 lr T_k) xi, T_k = temperature decay^(k-1) (decay = 1: constant)";
  static constexpr OptimizerKey keys[] = {
      lr_key(1e-3), weight_decay_key(),
      real_key("temperature", &OptimizerParams::temperature, 1e-3, 0, 1e30, false, false,
               "temperature T at step 1"),
      real_key("temperature_decay", &OptimizerParams::temperature_decay, 1.0, 0, 1, true, false,
               "T_k = temperature decay^(k-1)")};
  static void scalars(const OptimizerParams& p, StepScalars& s, const StepScalars*) {
    s.noise = std::sqrt(2.0 * p.lr * p.temperature *
                        std::pow(p.temperature_decay, static_cast<double>(s.step - 1)));
  }
  template <class T>
  SS_HD static T update(const OptimizerParams& p, const StepScalars& s, T x, T grad, T&, T&,
                        std::uint64_t coord) {
    const T g = coupled_decay(p, x, grad);
    const double xi =
        rng::normal(p.seed, rng::kLangevinNoise, coord, static_cast<std::uint32_t>(s.step));
    return static_cast<T>(x - T(s.lr) * g + s.noise * xi);
  }
};

}  // namespace saddlescope
