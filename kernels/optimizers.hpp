// The optimizer rules, written once for both backends: one header per
// optimizer in kernels/optimizers/ (its keys, defaults, ranges, help, step
// scalars and per-coordinate update), listed once in
// kernels/optimizers/registry.hpp. Every rule that has a torch.optim
// counterpart reproduces its single-tensor update operation for operation
// (torch 2.x, maximize = False, foreach = False), so trajectories are
// checked against PyTorch step for step (tests/test_optimizers_torch.cpp).
// The engine owns the state arrays s1, s2; per-step scalars (bias
// corrections, decayed rates) are computed once per step on the host in
// double, as torch does in Python. This header dispatches over the
// registry; docs/design.md section II.3 says how to add an optimizer.
#pragma once

#include "optimizers/adagrad.hpp"
#include "optimizers/adam.hpp"
#include "optimizers/adamw.hpp"
#include "optimizers/annealing.hpp"
#include "optimizers/gd.hpp"
#include "optimizers/langevin.hpp"
#include "optimizers/momentum.hpp"
#include "optimizers/nadam.hpp"
#include "optimizers/perturbed_gd.hpp"
#include "optimizers/radam.hpp"
#include "optimizers/rmsprop.hpp"
#include "optimizers/saddle_free_newton.hpp"

namespace saddlescope {

// Number of state arrays (momentum buffer, accumulators, moments) per coordinate.
SS_HD int OptimizerParams::state_count() const {
  switch (kind) {
#define SS_STATES_CASE(name, Rule) \
  case OptimizerKind::name:        \
    return Rule::states(*this);
    SS_OPTIMIZERS(SS_STATES_CASE)
#undef SS_STATES_CASE
  }
  return 0;
}

// Initial value of state array s1 (s2 starts at 0).
SS_HD double OptimizerParams::initial_s1() const {
  switch (kind) {
#define SS_S1_CASE(name, Rule) \
  case OptimizerKind::name:    \
    return Rule::initial_s1(*this);
    SS_OPTIMIZERS(SS_S1_CASE)
#undef SS_S1_CASE
  }
  return 0.0;
}

// Optimizers stepped from the host through backend calls
// (src/core/host_optimizers.cpp), not by a per-coordinate rule.
inline bool host_driven(OptimizerKind k) {
  switch (k) {
#define SS_HOST_CASE(name, Rule) \
  case OptimizerKind::name:      \
    return Rule::host_driven;
    SS_OPTIMIZERS(SS_HOST_CASE)
#undef SS_HOST_CASE
  }
  return false;
}

// Scalars of step number `step` (1-based, as torch's state['step']); prev:
// the previous step's scalars when the caller keeps them (nadam continues
// its running product from them instead of recomputing it from step 1).
inline StepScalars step_scalars(const OptimizerParams& p, std::int64_t step,
                                const StepScalars* prev = nullptr) {
  StepScalars s;
  s.lr = p.lr;
  s.first = step == 1;
  s.step = step;
  switch (p.kind) {
#define SS_SCALARS_CASE(name, Rule) \
  case OptimizerKind::name:         \
    Rule::scalars(p, s, prev);      \
    break;
    SS_OPTIMIZERS(SS_SCALARS_CASE)
#undef SS_SCALARS_CASE
  }
  return s;
}

// The step scalars of consecutive steps, each computed from the last.
class StepScalarSequence {
 public:
  explicit StepScalarSequence(const OptimizerParams& p) : p_(p) {}
  const StepScalars& at(std::int64_t step) {
    if (!valid_ || last_.step != step) {
      last_ = step_scalars(p_, step, valid_ ? &last_ : nullptr);
      valid_ = true;
    }
    return last_;
  }

 private:
  OptimizerParams p_;
  StepScalars last_;
  bool valid_ = false;
};

// One optimizer step on coordinate `coord` (trajectory * dim + i, global
// over chunks, which keys the noise): returns the new x; updates s1, s2.
template <class T>
SS_HD T optimizer_update(const OptimizerParams& p, const StepScalars& s, T x, T grad, T& s1, T& s2,
                         std::uint64_t coord = 0) {
  switch (p.kind) {
#define SS_UPDATE_CASE(name, Rule) \
  case OptimizerKind::name:        \
    return Rule::update(p, s, x, grad, s1, s2, coord);
    SS_OPTIMIZERS(SS_UPDATE_CASE)
#undef SS_UPDATE_CASE
  }
  return x;
}

}  // namespace saddlescope
