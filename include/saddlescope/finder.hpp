// Critical-point finders (docs/design.md section 6; docs/experiment.md
// [finder]): zero-gradient points of any index, which descent methods avoid
// by design.
//   gradient-norm: gradient descent on 1/2 ||grad f||^2, whose gradient is
//                  H grad f (one Hessian-vector product per step);
//   newton:        damped Newton steps x -= a H^{-1} grad f with a dense
//                  solve, the step a halved until ||grad f|| decreases.
// Both run batched over slices of the starts on a backend. A start that
// reaches its gradient threshold is polished by full Newton steps while the
// step keeps shrinking; converged points are merged into distinct points.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backend.hpp"
#include "experiment.hpp"

namespace saddlescope {

// How a finder start ended (finder.csv `outcome`).
enum FinderOutcome : std::int8_t {
  kFinderRunning = 0,
  kFinderConverged = 1,
  kFinderStalled = 2,
  kFinderMaxSteps = 3,
  kFinderDiverged = 4
};
const char* finder_outcome_name(std::int8_t o);

struct FoundPoint {
  std::int64_t start = 0;  // the first start that converged to it
  std::int64_t steps = 0;  // that start's iterations, polishing included
  double f = 0, grad_norm = 0;
  double accuracy = 0;    // position accuracy: the last polishing step's length (>= rounding)
  std::int64_t hits = 0;  // starts that converged to it
};

struct FinderResult {
  std::int64_t starts = 0;
  // Per start: outcome, iterations (polishing included), polishing steps,
  // value and gradient norm at its last point, and the index into `points`
  // of the distinct point it converged to (-1 otherwise).
  std::vector<std::int8_t> outcome;
  std::vector<std::int64_t> steps, polish_steps, point;
  std::vector<double> f, grad_norm;
  std::vector<FoundPoint> points;  // distinct converged points, in order of their first start
  std::vector<double> coords;      // [points, dim]
  double seconds = 0;
  std::int64_t count(FinderOutcome o) const;
};

// Checkpoint hooks of long census work (the finder and the Hessian groups):
// `state` is what resume needs; save(state, stopping) writes it and, when
// stopping, ends the run (throws Interrupted). due() is true when a periodic
// checkpoint is due or a stop was requested; stopping() when a stop was.
struct CensusCheckpoint {
  std::function<bool()> due, stopping;
  std::function<void(const std::vector<std::uint8_t>&, bool)> save;
};

// Starts per batch (slice) so that one newton step of a slice takes well
// under a second on a CPU (about 5e8 / N^3 starts) and fits `budget` bytes.
std::int64_t finder_slice(const Experiment& e, std::uint64_t budget);

// Runs the finder. With `resume` (a state saved through `cp`) it continues
// from there; `cp` may be null (no checkpoints); progress on stderr when
// `progress`. Under MPI each rank runs its share of the starts and the
// shares are gathered before the merge (docs/design.md II.6);
// `finished` receives this rank's final state (a resume from it only gathers).
FinderResult find_critical_points(const Experiment& e, const ObjectiveData& obj, Backend& backend,
                                  const CensusCheckpoint* cp = nullptr,
                                  const std::vector<std::uint8_t>* resume = nullptr,
                                  bool progress = false,
                                  std::vector<std::uint8_t>* finished = nullptr);

// Polishes points x [count, dim] in place by full Newton steps (pseudo-inverse
// of the Hessian, tangent steps on the sphere) while the step keeps shrinking
// (at most 50), keeping each point's iterate of smallest ||grad f||; returns
// per point the accuracy (the last step's length, at least the rounding of
// x) and the steps taken, and sets f, g to the kept iterate's values. Points
// are polished in groups of about 5e7 / N^3; when `stop` says so between
// groups, the rest are left as they were and the results cover the first
// points only.
struct Polished {
  std::vector<double> accuracy, f, grad_norm;
  std::vector<std::int64_t> steps;
};
Polished polish_points(PreparedObjective& obj, const HostLinalg& la, std::vector<double>& x,
                       std::int64_t count, const std::function<bool()>& stop = {});

}  // namespace saddlescope
