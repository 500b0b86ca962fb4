// What every optimizer rule shares (docs/design.md section II.3): the kinds
// (from the registry's list), the hyperparameters, the per-step scalars and
// the key table type through which the experiment file, `saddlescope list`,
// config.toml and the docs see an optimizer's parameters.
#pragma once

#include <cmath>
#include <cstdint>

#include "../hd.hpp"
#include "../rng.hpp"
#include "registry.hpp"

namespace saddlescope {

#define SS_OPTIMIZER_ENUMERATOR(name, Rule) name,
enum class OptimizerKind : int { SS_OPTIMIZERS(SS_OPTIMIZER_ENUMERATOR) };
#undef SS_OPTIMIZER_ENUMERATOR

// Hyperparameters, one field per key of any optimizer. A rule reads the
// fields its key table names; the table holds the defaults (torch.optim's,
// except momentum.momentum = 0.9: with torch's default 0 `momentum` is `gd`).
struct OptimizerParams {
  OptimizerKind kind = OptimizerKind::gd;
  double lr = 1e-3;
  double weight_decay = 0.0;
  double momentum = 0.0;                   // momentum, rmsprop
  double dampening = 0.0;                  // momentum
  bool nesterov = false;                   // momentum
  double alpha = 0.99;                     // rmsprop smoothing constant
  double eps = 1e-8;                       // rmsprop, the adam family (adagrad: 1e-10)
  double beta1 = 0.9;                      // the adam family
  double beta2 = 0.999;                    // the adam family
  double lr_decay = 0.0;                   // adagrad
  double initial_accumulator_value = 0.0;  // adagrad
  double momentum_decay = 4e-3;            // nadam: psi
  double radius = 1e-2;                    // perturbed-gd: ball radius r
  double g_thres = 1e-3;                   // perturbed-gd: perturb when ||grad f|| <= g_thres
  std::int64_t t_thres = 100;              // perturbed-gd: ... and none in the last t_thres steps
  double temperature = 1e-3;               // langevin, annealing: T at step 1
  double temperature_decay = 1.0;          // langevin, annealing: T_k = temperature decay^(k-1)
  double damping = 1e-2;                   // saddle-free-newton: |lambda| + damping
  double step_size = 0.1;                  // annealing: proposal std per coordinate
  std::uint64_t seed = 0;                  // noise (langevin, perturbed-gd): the experiment seed

  SS_HD int state_count() const;  // state arrays per coordinate (kernels/optimizers.hpp)
  SS_HD double initial_s1() const;
};

// Scalars of step number `step` (1-based, as torch's state['step']),
// computed once per step on the host in double, as torch does in Python.
struct StepScalars {
  double lr = 0;         // learning rate for this step (adagrad: decayed)
  double step_size = 0;  // adam, adamw: lr / (1 - beta1^step)
  double bc2_sqrt = 1;   // adam, adamw, radam: sqrt(1 - beta2^step)
  bool first = true;     // momentum: first step initializes the buffer with g
  double noise = 0;      // langevin: sqrt(2 lr T_step)
  std::int64_t step = 1;
  double decay = 1;       // adamw: 1 - lr weight_decay
  double bc1 = 1;         // radam: 1 - beta1^step
  double bc2 = 1;         // nadam: 1 - beta2^step
  double rect = 0;        // radam: the rectification r_t (0: un-adapted step)
  double c_grad = 0;      // nadam: lr (1 - mu_t) / (1 - prod mu)
  double c_avg = 0;       // nadam: lr mu_{t+1} / (1 - prod mu mu_{t+1})
  double mu_product = 1;  // nadam: prod_{i <= step} mu_i, kept in float32 as torch does
};

// One row of an optimizer's key table: the experiment-file key, the field it
// sets, its default and allowed range, and a line of help. Tables are
// constexpr arrays in each rule's header, in config.toml's order.
using RealField = double OptimizerParams::*;
using CountField = std::int64_t OptimizerParams::*;
using FlagField = bool OptimizerParams::*;
struct OptimizerKey {
  enum Type : int { number, integer, flag, pair, false_only };
  const char* key;
  Type type;
  RealField value;    // number; pair: first
  RealField second;   // pair: second
  CountField count;   // integer
  FlagField boolean;  // flag
  double def, def2;   // default (pair: both; flag: 0 or 1)
  double lo, hi;      // range (pair: each value)
  bool lo_open, hi_open;
  const char* help;
};

constexpr OptimizerKey real_key(const char* key, RealField field, double def, double lo, double hi,
                                bool lo_open, bool hi_open, const char* help) {
  return {
      key, OptimizerKey::number, field, nullptr, nullptr, nullptr, def, 0, lo, hi, lo_open, hi_open,
      help};
}
constexpr OptimizerKey count_key(const char* key, CountField field, std::int64_t def,
                                 const char* help) {
  return {key,
          OptimizerKey::integer,
          nullptr,
          nullptr,
          field,
          nullptr,
          static_cast<double>(def),
          0,
          0,
          0,
          false,
          false,
          help};
}
constexpr OptimizerKey flag_key(const char* key, FlagField field, bool def, const char* help) {
  return {key,
          OptimizerKey::flag,
          nullptr,
          nullptr,
          nullptr,
          field,
          def ? 1.0 : 0.0,
          0,
          0,
          1,
          false,
          false,
          help};
}
constexpr OptimizerKey betas_key(double d1, double d2) {
  return {"betas",
          OptimizerKey::pair,
          &OptimizerParams::beta1,
          &OptimizerParams::beta2,
          nullptr,
          nullptr,
          d1,
          d2,
          0,
          1,
          false,
          true,
          "[beta1, beta2]: decay rates of the first and second moment averages"};
}
// A torch option saddlescope accepts only as false (written to config.toml as false).
constexpr OptimizerKey false_key(const char* key, const char* help) {
  return {
      key, OptimizerKey::false_only, nullptr, nullptr, nullptr, nullptr, 0, 0, 0, 0, false, false,
      help};
}
// The common keys, with per-optimizer defaults.
constexpr OptimizerKey lr_key(double def) {
  return real_key("lr", &OptimizerParams::lr, def, 0, 1e30, false, false, "learning rate");
}
constexpr OptimizerKey weight_decay_key(double def = 0.0) {
  return real_key("weight_decay", &OptimizerParams::weight_decay, def, 0, 1e30, false, false,
                  "L2 penalty: weight_decay x is added to the gradient");
}
constexpr OptimizerKey eps_key(double def) {
  return real_key("eps", &OptimizerParams::eps, def, 0, 1, false, false,
                  "added to the denominator for numerical stability");
}

// L2 weight decay as torch adds it to the gradient (grad + weight_decay x).
template <class T>
SS_HD T coupled_decay(const OptimizerParams& p, T x, T g) {
  return p.weight_decay != 0.0 ? g + T(p.weight_decay) * x : g;
}

}  // namespace saddlescope
