// Per-coordinate optimizer rules, written once for both backends. Each rule
// reproduces the single-tensor update of its torch.optim counterpart
// operation for operation (torch 2.x, maximize = False, foreach = False), so
// trajectories can be checked against PyTorch step for step. The engine owns
// the state arrays s1, s2; per-step scalars (bias corrections, decayed rates)
// are computed once per step on the host in double, as torch does in Python.
#pragma once

#include "hd.hpp"
#include "rng.hpp"

namespace saddlescope {

enum class OptimizerKind : int {
  gd = 0,            // torch.optim.SGD, momentum = 0
  momentum = 1,      // torch.optim.SGD with momentum, dampening, nesterov
  adagrad = 2,       // torch.optim.Adagrad
  rmsprop = 3,       // torch.optim.RMSprop, centered = False
  adam = 4,          // torch.optim.Adam, amsgrad = False
  perturbed_gd = 5,  // gd plus uniform ball perturbations (Jin et al. 2017)
  langevin = 6,      // x -= lr g + sqrt(2 lr T_k) xi, T_k = temperature decay^(k-1)
  // Host-driven (src/core/host_optimizers.cpp: whole-batch steps through the
  // backend's value, Hessian and eigensolver calls, not the fused pass):
  saddle_free_newton = 7,  // x -= lr |H|^-1 g (Dauphin et al. 2014), dense
  annealing = 8,           // gradient-free simulated annealing (Metropolis, geometric cooling)
};

// Hyperparameters; defaults are torch.optim's (except momentum.momentum,
// which is 0.9: with torch's default 0 the `momentum` optimizer is `gd`).
struct OptimizerParams {
  OptimizerKind kind = OptimizerKind::gd;
  double lr = 1e-3;
  double weight_decay = 0.0;
  double momentum = 0.0;                   // momentum, rmsprop
  double dampening = 0.0;                  // momentum
  bool nesterov = false;                   // momentum
  double alpha = 0.99;                     // rmsprop smoothing constant
  double eps = 1e-8;                       // rmsprop, adam (adagrad: 1e-10)
  double beta1 = 0.9;                      // adam
  double beta2 = 0.999;                    // adam
  double lr_decay = 0.0;                   // adagrad
  double initial_accumulator_value = 0.0;  // adagrad
  double radius = 1e-2;                    // perturbed-gd: ball radius r
  double g_thres = 1e-3;                   // perturbed-gd: perturb when ||grad f|| <= g_thres
  std::int64_t t_thres = 100;              // perturbed-gd: ... and none in the last t_thres steps
  double temperature = 1e-3;               // langevin, annealing: T at step 1
  double temperature_decay = 1.0;          // langevin, annealing: T_k = temperature decay^(k-1)
  double damping = 1e-2;                   // saddle-free-newton: |lambda| + damping
  double step_size = 0.1;                  // annealing: proposal std per coordinate
  std::uint64_t seed = 0;                  // noise (langevin, perturbed-gd): the experiment seed

  // Number of state arrays (momentum buffer, accumulators, moments) per coordinate.
  SS_HD int state_count() const {
    switch (kind) {
      case OptimizerKind::gd:
      case OptimizerKind::perturbed_gd:
      case OptimizerKind::langevin:
      case OptimizerKind::saddle_free_newton:
      case OptimizerKind::annealing:
        return 0;
      case OptimizerKind::momentum:
        return momentum != 0.0 ? 1 : 0;
      case OptimizerKind::adagrad:
        return 1;
      case OptimizerKind::rmsprop:
        return momentum > 0.0 ? 2 : 1;
      case OptimizerKind::adam:
        return 2;
    }
    return 0;
  }
  // Initial value of state array s1 (s2 starts at 0).
  SS_HD double initial_s1() const {
    return kind == OptimizerKind::adagrad ? initial_accumulator_value : 0.0;
  }
};

// Optimizers stepped from the host through backend calls
// (src/core/host_optimizers.cpp), not by a per-coordinate rule.
inline bool host_driven(OptimizerKind k) {
  return k == OptimizerKind::saddle_free_newton || k == OptimizerKind::annealing;
}

// Scalars of step number `step` (1-based, as torch's state['step']).
struct StepScalars {
  double lr = 0;         // learning rate for this step (adagrad: decayed)
  double step_size = 0;  // adam: lr / (1 - beta1^step)
  double bc2_sqrt = 1;   // adam: sqrt(1 - beta2^step)
  bool first = true;     // momentum: first step initializes the buffer with g
  double noise = 0;      // langevin: sqrt(2 lr T_step)
  std::int64_t step = 1;
};

inline StepScalars step_scalars(const OptimizerParams& p, std::int64_t step) {
  StepScalars s;
  s.lr = p.lr;
  s.first = step == 1;
  s.step = step;
  if (p.kind == OptimizerKind::langevin)
    s.noise = std::sqrt(2.0 * p.lr * p.temperature *
                        std::pow(p.temperature_decay, static_cast<double>(step - 1)));
  if (p.kind == OptimizerKind::adagrad)
    s.lr = p.lr / (1.0 + static_cast<double>(step - 1) * p.lr_decay);
  if (p.kind == OptimizerKind::adam) {
    const double bc1 = 1.0 - std::pow(p.beta1, static_cast<double>(step));
    const double bc2 = 1.0 - std::pow(p.beta2, static_cast<double>(step));
    s.step_size = p.lr / bc1;
    s.bc2_sqrt = std::sqrt(bc2);
  }
  return s;
}

// One optimizer step on coordinate `coord` (trajectory * dim + i, global
// over chunks, which keys the noise): returns the new x; updates s1, s2.
template <class T>
SS_HD T optimizer_update(const OptimizerParams& p, const StepScalars& s, T x, T grad, T& s1, T& s2,
                         std::uint64_t coord = 0) {
  T g = grad;
  if (p.weight_decay != 0.0) g = g + T(p.weight_decay) * x;
  switch (p.kind) {
    case OptimizerKind::gd:
    case OptimizerKind::perturbed_gd:  // the perturbations are applied to whole rows (below)
      return x - T(s.lr) * g;
    case OptimizerKind::saddle_free_newton:  // host-driven: never a per-coordinate rule
    case OptimizerKind::annealing:
      return x;
    case OptimizerKind::langevin: {
      const double xi =
          rng::normal(p.seed, rng::kLangevinNoise, coord, static_cast<std::uint32_t>(s.step));
      return static_cast<T>(x - T(s.lr) * g + s.noise * xi);
    }
    case OptimizerKind::momentum: {
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
    case OptimizerKind::adagrad: {
      s1 = s1 + g * g;
      const T std_ = sqrt(s1) + T(p.eps);
      return x - T(s.lr) * (g / std_);
    }
    case OptimizerKind::rmsprop: {
      s1 = T(p.alpha) * s1 + T(1.0 - p.alpha) * (g * g);
      const T avg = sqrt(s1) + T(p.eps);
      if (p.momentum > 0.0) {
        s2 = T(p.momentum) * s2 + g / avg;
        return x - T(s.lr) * s2;
      }
      return x - T(s.lr) * (g / avg);
    }
    case OptimizerKind::adam: {
      // torch: exp_avg.lerp_(grad, w), w = 1 - beta1, in lerp's two-branch form
      const double w = 1.0 - p.beta1;
      s1 = w < 0.5 ? s1 + T(w) * (g - s1) : g - (g - s1) * T(1.0 - w);
      s2 = T(p.beta2) * s2 + T(1.0 - p.beta2) * (g * g);
      const T denom = sqrt(s2) / T(s.bc2_sqrt) + T(p.eps);
      return x - T(s.step_size) * (s1 / denom);
    }
  }
  return x;
}

// perturbed-gd (Jin, Ge, Netrapalli, Kakade, Jordan 2017): at the end of
// iteration t, a trajectory with ||grad f(x_t)|| <= g_thres and no
// perturbation in the last t_thres iterations is marked (last = t); the
// backend then adds a point drawn uniformly from the ball of radius r to
// x_{t+1} (perturb_row) before evaluating it. (Jin et al. perturb x_t and
// then step; here the step from x_t comes first, a difference of one
// gradient step of size <= lr g_thres.)
SS_HD bool perturb_due(const OptimizerParams& p, std::int64_t t, double gnorm, std::int64_t& last) {
  if (!(gnorm <= p.g_thres) || (last >= 0 && t - last <= p.t_thres)) return false;
  last = t;
  return true;
}

// x += a uniform point of the radius-r ball in R^n: direction z / |z| with z
// Gaussian, radius r u^(1/n) with u uniform, keyed by (trajectory, step).
template <class T>
SS_HD void perturb_row(const OptimizerParams& p, std::int64_t n, T* x, std::uint64_t trajectory,
                       std::int64_t step) {
  const auto st = static_cast<std::uint32_t>(step);
  const std::uint64_t row = trajectory * static_cast<std::uint64_t>(n);
  double zz = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double z =
        rng::normal(p.seed, rng::kPerturbDirection, row + static_cast<std::uint64_t>(i), st);
    zz += z * z;
  }
  const double u = rng::uniform(p.seed, rng::kPerturbRadius, trajectory, st);
  const double scale = p.radius * pow(u, 1.0 / static_cast<double>(n)) / sqrt(zz);
  for (std::int64_t i = 0; i < n; ++i)
    x[i] = static_cast<T>(x[i] + scale * rng::normal(p.seed, rng::kPerturbDirection,
                                                     row + static_cast<std::uint64_t>(i), st));
}

}  // namespace saddlescope
