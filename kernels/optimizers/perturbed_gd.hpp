// perturbed-gd (Jin, Ge, Netrapalli, Kakade, Jordan 2017): gd's step; at the
// end of iteration t, a trajectory with ||grad f(x_t)|| <= g_thres and no
// perturbation in the last t_thres iterations is marked (last = t); the
// backend then adds a point drawn uniformly from the ball of radius r to
// x_{t+1} (perturb_row) before evaluating it. (Jin et al. perturb x_t and
// then step; here the step from x_t comes first, a difference of one
// gradient step of size <= lr g_thres.)
#pragma once

#include "rule.hpp"

namespace saddlescope {

struct PerturbedGd : RuleDefaults {
  static constexpr const char* name = "perturbed-gd";
  static constexpr const char* torch = "Jin, Ge, Netrapalli, Kakade and Jordan 2017";
  static constexpr const char* summary =
      "gd plus a uniform point of the radius-r ball when ||grad f|| <= g_thres and none in the "
      "last t_thres iterations";
  static constexpr OptimizerKey keys[] = {
      lr_key(1e-3), weight_decay_key(),
      real_key("radius", &OptimizerParams::radius, 1e-2, 0, 1e30, true, false,
               "radius r of the perturbation ball"),
      real_key("g_thres", &OptimizerParams::g_thres, 1e-3, 0, 1e30, false, false,
               "perturb when ||grad f(x_t)|| <= g_thres"),
      count_key("t_thres", &OptimizerParams::t_thres, 100,
                "... and no perturbation in the last t_thres iterations")};
  template <class T>
  SS_HD static T update(const OptimizerParams& p, const StepScalars& s, T x, T grad, T&, T&,
                        std::uint64_t) {
    return x - T(s.lr) * coupled_decay(p, x, grad);  // the perturbations act on whole rows
  }
};

SS_HD bool perturb_due(const OptimizerParams& p, std::int64_t t, double gnorm, std::int64_t& last) {
  if (!(gnorm <= p.g_thres) || (last >= 0 && t - last <= p.t_thres)) return false;
  last = t;
  return true;
}

// The perturbation's parts, keyed by (trajectory, step): the Gaussian z_i of
// coordinate i, and the factor r u^(1/n) / |z| with u uniform and zz = |z|^2.
// Coordinates are independent (a counter-based generator), so a backend may
// spread them over threads; only zz is a reduction.
SS_HD double perturb_normal(const OptimizerParams& p, std::int64_t n, std::uint64_t trajectory,
                            std::int64_t step, std::int64_t i) {
  const std::uint64_t row = trajectory * static_cast<std::uint64_t>(n);
  return rng::normal(p.seed, rng::kPerturbDirection, row + static_cast<std::uint64_t>(i),
                     static_cast<std::uint32_t>(step));
}
SS_HD double perturb_scale(const OptimizerParams& p, std::int64_t n, std::uint64_t trajectory,
                           std::int64_t step, double zz) {
  const double u =
      rng::uniform(p.seed, rng::kPerturbRadius, trajectory, static_cast<std::uint32_t>(step));
  return p.radius * pow(u, 1.0 / static_cast<double>(n)) / sqrt(zz);
}

// x += a uniform point of the radius-r ball in R^n: direction z / |z| with z
// Gaussian, radius r u^(1/n) with u uniform, keyed by (trajectory, step);
// |z|^2 summed in index order (the CPU backend; the CUDA backend sums it
// with a block per row, src/cuda/ensemble.cu).
template <class T>
SS_HD void perturb_row(const OptimizerParams& p, std::int64_t n, T* x, std::uint64_t trajectory,
                       std::int64_t step) {
  double zz = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double z = perturb_normal(p, n, trajectory, step, i);
    zz += z * z;
  }
  const double scale = perturb_scale(p, n, trajectory, step, zz);
  for (std::int64_t i = 0; i < n; ++i)
    x[i] = static_cast<T>(x[i] + scale * perturb_normal(p, n, trajectory, step, i));
}

}  // namespace saddlescope
