// Plateau detection (docs/design.md section 1), one small state machine per
// trajectory, advanced once per iteration by both backends with the
// iteration's loss f and gradient norm g; no host round trip.
//
// A low-gradient run is a maximal run of consecutive iterations with
// g <= grad_threshold. A run of at least min_steps iterations becomes
// pending when it ends (the first iteration with g above the threshold, the
// exit step); a pending plateau is confirmed as an episode when a later
// iteration's loss is at least min_drop (|f_exit| + 1) below the loss f_exit
// at its exit step. A qualifying run that ends while an earlier one is still
// pending (no drop in between) is merged into it: the same stall, with the
// gradient briefly above the threshold. Runs still in progress, or pending,
// when the trajectory stops are its convergence, not plateaus.
//
// Per trajectory: the number of episodes, their total and longest length
// (iterations), the first escape step (exit step of the first episode), and
// the plateau point of the longest episode (its iteration of smallest g).
// Plateau points are kept without copying rows inside this state machine:
// three buffers per trajectory play the roles current-run best / pending /
// kept, swapped by index, and x_t is copied into the current-run buffer by
// the next iteration's fused pass (which reads x_t from the buffer it is
// about to overwrite) when `save` is set.
#pragma once

#include "hd.hpp"

namespace saddlescope {

struct PlateauRule {
  double grad_threshold = 1e-3;
  std::int64_t min_steps = 50;
  double min_drop = 1e-3;
};

struct PlateauState {
  // The current low-gradient run and its best (smallest g) iteration.
  std::int64_t run_len = 0, run_best_step = -1;
  double run_best_g = 0, run_best_f = 0;
  // The pending plateau (qualifying run(s) awaiting their loss drop).
  std::int64_t pend_len = 0, pend_exit = -1, pend_best_step = -1;
  double pend_best_g = 0, pend_best_f = 0, pend_f_exit = 0;
  // Confirmed episodes.
  std::int64_t count = 0, steps = 0, longest = 0, first_escape = -1;
  std::int64_t kept_step = -1;  // plateau point of the longest episode
  double kept_g = 0, kept_f = 0;
  // Buffer indices of the roles (0: current run's best, 1: pending, 2: kept)
  // and whether the next iteration copies x_t into buffer role[0].
  std::int8_t role[3] = {0, 1, 2};
  std::int8_t save = 0;
  // Named padding: checkpoints store this struct's bytes, so no byte may be
  // left indeterminate (on CUDA an implicit gap held whatever the registers
  // did, and two equal ensembles saved different bytes).
  std::int8_t reserved[4] = {0, 0, 0, 0};
  // Not plateau bookkeeping, but kept in the same per-trajectory record by
  // end_iteration: the first iteration with f <= run.target_loss (-1: none).
  std::int64_t target_step = -1;
};
static_assert(sizeof(PlateauState) == 19 * 8, "PlateauState has an unnamed padding gap");

template <class V>
SS_HD void ss_swap(V& a, V& b) {
  const V t = a;
  a = b;
  b = t;
}

// Advance the state with iteration t's loss f and gradient norm g.
SS_HD void plateau_update(const PlateauRule& r, PlateauState& s, std::int64_t t, double f,
                          double g) {
  s.save = 0;
  if (s.pend_len > 0 && f <= s.pend_f_exit - r.min_drop * (fabs(s.pend_f_exit) + 1.0)) {
    ++s.count;
    s.steps += s.pend_len;
    if (s.first_escape < 0) s.first_escape = s.pend_exit;
    if (s.pend_len > s.longest) {
      s.longest = s.pend_len;
      s.kept_step = s.pend_best_step;
      s.kept_g = s.pend_best_g;
      s.kept_f = s.pend_best_f;
      ss_swap(s.role[1], s.role[2]);
    }
    s.pend_len = 0;
  }
  if (g <= r.grad_threshold) {  // NaN is never low
    if (s.run_len == 0 || g < s.run_best_g) {
      s.run_best_g = g;
      s.run_best_f = f;
      s.run_best_step = t;
      s.save = 1;
    }
    ++s.run_len;
    return;
  }
  if (s.run_len >= r.min_steps) {
    if (s.pend_len == 0 || s.run_best_g < s.pend_best_g) {
      s.pend_best_step = s.run_best_step;
      s.pend_best_g = s.run_best_g;
      s.pend_best_f = s.run_best_f;
      ss_swap(s.role[0], s.role[1]);
    }
    s.pend_len += s.run_len;
    s.pend_exit = t;
    s.pend_f_exit = f;
  }
  s.run_len = 0;
}

}  // namespace saddlescope
