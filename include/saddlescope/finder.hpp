// Critical-point finders (docs/design.md section 6): zero-gradient points of any
// index, which descent methods avoid by design.
//   gradient-norm: gradient descent on 1/2 ||grad f||^2, whose gradient is
//                  H grad f (one Hessian-vector product per step);
//   newton:        damped Newton steps x -= a H^{-1} grad f with a dense
//                  solve, the step a halved until ||grad f|| decreases.
// Both run batched over the starts on a backend; a start that reaches
// ||grad f|| <= analysis.crit_tol stops there. Found points are deduplicated.
#pragma once

#include <cstdint>
#include <vector>

#include "backend.hpp"
#include "experiment.hpp"

namespace saddlescope {

struct FoundPoint {
  std::int64_t start = 0;  // index of the first start that reached it
  std::int64_t steps = 0;
  double f = 0, grad_norm = 0;
  std::int64_t hits = 0;  // starts that reached this point
};

struct FinderResult {
  std::int64_t starts = 0;
  std::int64_t reached = 0;        // starts that reached ||grad f|| <= crit_tol
  std::vector<FoundPoint> points;  // distinct critical points
  std::vector<double> coords;      // [points, dim]
  double seconds = 0;
};

FinderResult find_critical_points(const Experiment& e, const ObjectiveData& obj, Backend& backend);

}  // namespace saddlescope
