// The list of objective kinds: one line per kind, each defined in its own
// file in this folder (docs/design.md, Part II, section II.3). Registry
// order is the order of `saddlescope list` and of the docs' tables.
#pragma once

#include "saddlescope/objective_registry.hpp"

#define SS_OBJECTIVES(X) \
  X(quadratic)           \
  X(saddle_2d)           \
  X(bowl_2d)             \
  X(double_well)         \
  X(styblinski_tang)     \
  X(rastrigin)           \
  X(rosenbrock)          \
  X(goe_quadratic)       \
  X(p_spin)              \
  X(gaussian_field)      \
  X(mlp)                 \
  X(deep_linear)         \
  X(network)

namespace saddlescope::objectives {
#define SS_DECLARE_OBJECTIVE(fn) ObjectiveInfo fn();
SS_OBJECTIVES(SS_DECLARE_OBJECTIVE)
#undef SS_DECLARE_OBJECTIVE
}  // namespace saddlescope::objectives
