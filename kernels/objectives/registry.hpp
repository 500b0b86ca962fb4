// The kernels' objective kinds: one line each, X(enum name, terms struct),
// the terms in one header per kind in this folder. LocalObjective
// (kernels/objectives.hpp) and the CPU backend's compile-time row passes
// dispatch over this list. The experiment-file kinds (presets and
// goe-quadratic included) are the host registry's
// (src/core/objectives/registry.hpp); each names its kernel kind.
#pragma once

#include "double_well.hpp"
#include "gemm_rows.hpp"
#include "quadratic.hpp"
#include "rastrigin.hpp"
#include "rosenbrock.hpp"
#include "styblinski_tang.hpp"

#define SS_OBJECTIVE_KINDS(X)             \
  X(quadratic, QuadraticTerms)            \
  X(double_well, DoubleWellTerms)         \
  X(styblinski_tang, StyblinskiTangTerms) \
  X(rastrigin, RastriginTerms)            \
  X(rosenbrock, RosenbrockTerms)          \
  X(gaussian_field, GemmRowTerms)         \
  X(network, GemmRowTerms)                \
  X(p_spin, GemmRowTerms)
