// The descent iteration shared by both backends: the fused per-element pass
// (gradient, optimizer update, per-trajectory accumulation) and the
// per-trajectory end of iteration (outcome test, curve recording).
//
// Iteration t of a running trajectory reads x_t from buffer t % 2 and writes
// x_{t+1} to the other buffer, so a trajectory that stops at x_t keeps it
// (its final point is in buffer steps % 2) and stencil objectives can read
// neighbours while the pass writes.
#pragma once

#include <cmath>

#include "hd.hpp"
#include "objectives.hpp"
#include "optimizers.hpp"
#include "plateau.hpp"

namespace saddlescope {

enum Outcome : std::int8_t { kRunning = 0, kConverged = 1, kDiverged = 2, kMaxSteps = 3 };

// max(a, b) that keeps a NaN from either side (a NaN coordinate marks the
// trajectory diverged). Written without a short-circuit branch so that
// vectorizers can turn it into a compare and a blend.
// Any floating type (the CPU pass keeps max |x| in the run's precision).
template <class T>
SS_HD T nan_max(T a, T b) {
  const T m = b > a ? b : a;  // a when either is NaN
  return b != b ? b : m;
}

// Per-trajectory sums of one iteration, accumulated in double.
struct IterationSums {
  double f = 0;     // f(x_t)
  double gsq = 0;   // ||grad f(x_t)||^2
  double xmax = 0;  // ||x_t||_inf; NaN propagates through fmax's use below
  // A classifying network's training accuracy at x_t (from its coupled
  // pass, set per trajectory after the sums; NaN: none). Not summed.
  double accuracy = NAN;
  SS_HD void add(const IterationSums& o) {
    f += o.f;
    gsq += o.gsq;
    xmax = nan_max(xmax, o.xmax);
  }
};

// One coordinate of one running trajectory: evaluate f_i and g_i at x_t,
// accumulate them into acc, and return x_{t+1,i} from the optimizer rule
// with the coordinate's state in a, b (s1[i], s2[i], updated in place).
// row_coord: the global index of the row's first coordinate (trajectory *
// dim), which keys the optimizer's noise. Callers that do not update discard
// the result (the rule is pure, so compilers drop it).
template <class T>
SS_HD T fused_coordinate(const LocalObjective<T>& obj, const OptimizerParams& opt,
                         const StepScalars& sc, const T* xcur, const T* grow, std::int64_t i,
                         IterationSums& acc, T& a, T& b, std::uint64_t row_coord) {
  T f, g;
  obj.eval(xcur, grow, i, f, g);
  const T xi = xcur[i];
  acc.f += static_cast<double>(f);
  acc.gsq += static_cast<double>(g) * static_cast<double>(g);
  acc.xmax = nan_max(acc.xmax, fabs(static_cast<double>(xi)));
  return optimizer_update(opt, sc, xi, g, a, b, row_coord + static_cast<std::uint64_t>(i));
}

// fused_coordinate on the arrays of one row: the state arrays s1, s2 may be
// null (optimizers without state); save (plateau points,
// kernels/plateau.hpp): when not null, x_{t-1}, still in xnext, is copied
// there before xnext is overwritten.
template <class T>
SS_HD void fused_element(const LocalObjective<T>& obj, const OptimizerParams& opt,
                         const StepScalars& sc, bool update, const T* xcur, const T* grow, T* xnext,
                         T* s1, T* s2, std::int64_t i, IterationSums& acc, T* save = nullptr,
                         std::uint64_t row_coord = 0) {
  if (save) save[i] = xnext[i];
  T a = update && s1 ? s1[i] : T(0);
  T b = update && s2 ? s2[i] : T(0);
  const T x1 = fused_coordinate(obj, opt, sc, xcur, grow, i, acc, a, b, row_coord);
  if (update) {
    xnext[i] = x1;
    if (s1) s1[i] = a;
    if (s2) s2[i] = b;
  }
}

struct StopRule {
  double grad_tol;
  double diverge_above;
  std::int64_t max_steps;
  double target_loss = NAN;      // run.target_loss: the first iteration with f <= it is recorded
  double target_accuracy = NAN;  // run.target_accuracy: ... or with the accuracy >= it
};

SS_HD std::int8_t judge(const StopRule& r, std::int64_t t, const IterationSums& s) {
  const double gn = sqrt(s.gsq);
  if (!finite(s.f) || !finite(gn) || !(s.xmax <= r.diverge_above) || fabs(s.f) > r.diverge_above)
    return kDiverged;
  if (gn <= r.grad_tol) return kConverged;
  if (t >= r.max_steps) return kMaxSteps;
  return kRunning;
}

// Per-trajectory record arrays of one chunk (device or host memory).
template <class T>
struct TrajectoryRecords {
  std::int8_t* outcome;       // [count]
  std::int64_t* steps;        // [count] updates applied before the final point
  double* f_init;             // [count]
  double* f_final;            // [count]
  double* gnorm_final;        // [count]
  float* curves;              // [record_count, records, 2] (loss, grad norm); NaN after the stop
  T* paths;                   // [record_count, records, n] or null
  std::int64_t record_count;  // trajectories of this chunk whose curves are kept (the first ones)
  std::int64_t records;
  std::int64_t record_every;
  double* accuracy_final = nullptr;  // [count] a classifier's accuracy at the final point, or null
};

// End of iteration t for trajectory b whose sums are s and whose x_t is
// xrow; plateau states (one per trajectory of the chunk) are advanced when
// given.
template <class T>
SS_HD void end_iteration(const StopRule& rule, const TrajectoryRecords<T>& rec, std::int64_t n,
                         std::int64_t b, std::int64_t t, const IterationSums& s, const T* xrow,
                         PlateauState* plateau = nullptr, PlateauRule prule = PlateauRule{}) {
  if (t == 0) rec.f_init[b] = s.f;
  if (plateau) {
    plateau_update(prule, plateau[b], t, s.f, sqrt(s.gsq));
    if (plateau[b].target_step < 0 &&
        (s.f <= rule.target_loss || s.accuracy >= rule.target_accuracy))
      plateau[b].target_step = t;
  }
  if (b < rec.record_count && t % rec.record_every == 0) {
    const std::int64_t r = t / rec.record_every;
    float* c = rec.curves + (b * rec.records + r) * 2;
    c[0] = static_cast<float>(s.f);
    c[1] = static_cast<float>(sqrt(s.gsq));
    if (rec.paths) {
      T* p = rec.paths + (b * rec.records + r) * n;
      for (std::int64_t i = 0; i < n; ++i) p[i] = xrow[i];
    }
  }
  const std::int8_t o = judge(rule, t, s);
  if (o != kRunning) {
    rec.outcome[b] = o;
    rec.steps[b] = t;
    rec.f_final[b] = s.f;
    rec.gnorm_final[b] = sqrt(s.gsq);
    if (rec.accuracy_final) rec.accuracy_final[b] = s.accuracy;
  }
}

}  // namespace saddlescope
