// The defaults an optimizer rule inherits (docs/design.md section II.3).
// A rule is a struct with, besides these:
//   name, torch, summary            experiment-file kind, torch counterpart, one-line help
//   keys[]                          its OptimizerKey table (config.toml order)
//   update<T>(p, s, x, g, s1, s2, coord) -> new x   the per-coordinate step
// and, where it differs from RuleDefaults: states, initial_s1, scalars
// (per-step scalars into s; prev = the previous step's, or null), check
// (a cross-key condition: the offending key and message, or nullptr) and
// host_driven (stepped whole-batch by src/core/host_optimizers.cpp).
#pragma once

#include "common.hpp"

namespace saddlescope {

struct OptimizerCheck {
  const char* key = nullptr;
  const char* message = nullptr;
};

struct RuleDefaults {
  static constexpr bool host_driven = false;
  SS_HD static int states(const OptimizerParams&) { return 0; }
  SS_HD static double initial_s1(const OptimizerParams&) { return 0.0; }
  static void scalars(const OptimizerParams&, StepScalars&, const StepScalars*) {}
  static OptimizerCheck check(const OptimizerParams&) { return {}; }
};

}  // namespace saddlescope
