// Critical-point finders (see finder.hpp; docs/experiment.md [finder]).
#include "saddlescope/finder.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "checkpoint.hpp"
#include "kernels/pspin.hpp"
#include "saddlescope/census.hpp"
#include "saddlescope/comm.hpp"
#include "saddlescope/distinct.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/run.hpp"

namespace saddlescope {
namespace {

constexpr int kLineSearchHalvings = 30;
constexpr std::int64_t kStallWindow = 200;  // gradient-norm: iterations per stall check
constexpr double kStallProgress = 1e-3;     // ... and the least relative decrease of ||g||
constexpr int kPolishSteps = 50;

double row_norm(const std::vector<double>& v, std::int64_t row, std::int64_t n) {
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += v[row * n + i] * v[row * n + i];
  return std::sqrt(s);
}

double row_max_abs(const double* v, std::int64_t n) {
  double m = 0;
  for (std::int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(v[i]));
  return m;
}

// Rows of x for the given indices.
std::vector<double> gather(const std::vector<double>& x, const std::vector<std::int64_t>& rows,
                           std::int64_t n) {
  std::vector<double> out(rows.size() * static_cast<std::size_t>(n));
  for (std::size_t k = 0; k < rows.size(); ++k)
    std::copy(x.begin() + rows[k] * n, x.begin() + (rows[k] + 1) * n,
              out.begin() + static_cast<std::int64_t>(k) * n);
  return out;
}

// On the sphere (p-spin) every row goes back to |x|^2 = n after a step.
void retract(const ObjectiveData& obj, std::vector<double>& x) {
  if (!obj.sphere()) return;
  const std::int64_t n = obj.dim;
  for (std::size_t r = 0; r < x.size() / static_cast<std::size_t>(n); ++r)
    sphere_retract(n, x.data() + static_cast<std::int64_t>(r) * n);
}

// On the sphere H is the embedded Riemannian Hessian, zero on the normal
// q = x / |x|: H + q q^T acts as H on the tangent space and as 1 on the
// normal, and g is tangent, so solving with it gives the tangent direction.
void add_normal(std::vector<double>& h, std::int64_t n, const double* sphere_x) {
  if (!sphere_x) return;
  const double r2 = row_dot(n, sphere_x, sphere_x);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) h[i * n + j] += sphere_x[i] * sphere_x[j] / r2;
}

// Newton direction d = H^{-1} g by LU with partial pivoting (H may be
// indefinite); false when H is singular to working precision.
bool newton_direction(std::vector<double> h, const double* g, std::int64_t n, double* d,
                      const double* sphere_x, const HostLinalg& la) {
  add_normal(h, n, sphere_x);
  std::copy(g, g + n, d);
  const int ln = static_cast<int>(n);
  return la.gesv(ln, 1, h.data(), ln, d, 1) == 0;
}

// Pseudo-inverse Newton direction d = H^+ g from the eigendecomposition,
// eigenvalues below 100 n u max|lambda| in magnitude dropped: converges to a
// degenerate critical point (a manifold of minima) where LU would not.
bool pinv_direction(std::vector<double> h, const double* g, std::int64_t n, double* d,
                    const double* sphere_x, double u, const HostLinalg& la) {
  add_normal(h, n, sphere_x);
  std::vector<double> w(static_cast<std::size_t>(n));
  const int ln = static_cast<int>(n);
  if (la.syevd('V', 'L', ln, h.data(), ln, w.data()) != 0) return false;
  const double amax = std::max(std::fabs(w.front()), std::fabs(w.back()));
  const double cut = 100.0 * static_cast<double>(n) * u * amax;
  std::fill(d, d + n, 0.0);
  for (std::int64_t k = 0; k < n; ++k) {
    if (std::fabs(w[k]) <= cut) continue;
    double c = 0;  // (v_k . g) / lambda_k; column k of h is v_k
    for (std::int64_t i = 0; i < n; ++i) c += h[i * n + k] * g[i];
    c /= w[k];
    for (std::int64_t i = 0; i < n; ++i) d[i] += c * h[i * n + k];
  }
  return true;
}

// The progress line of the finder: converged, running, and at most how long
// is left (every start running to max_steps).
class FinderProgress {
 public:
  FinderProgress(const FinderSpec& s, bool on)
      : spec_(s), on_(on), line_("finder " + s.kind, true) {}
  // Over this rank's starts `sh` (all of them in one process).
  void show(const std::vector<std::int8_t>& outcome, const std::vector<std::int64_t>& steps,
            Share sh, bool final) {
    if (!on_) return;
    std::int64_t converged = 0, running = 0;
    double done = 0;
    const double total = static_cast<double>(sh.count) * static_cast<double>(spec_.max_steps);
    for (auto i = static_cast<std::size_t>(sh.first); i < static_cast<std::size_t>(sh.end()); ++i) {
      converged += outcome[i] == kFinderConverged;
      running += outcome[i] == kFinderRunning;
      done += outcome[i] == kFinderRunning
                  ? static_cast<double>(std::min(steps[i], spec_.max_steps))
                  : static_cast<double>(spec_.max_steps);
    }
    line_.update(
        total > 0 ? done / total : 1.0,
        fmt::format(
            "{} of {} starts converged, {} running{}", converged, sh.count, running,
            static_cast<std::int64_t>(outcome.size()) > sh.count ? " (rank 0's share)" : ""),
        final);
  }

 private:
  const FinderSpec& spec_;
  bool on_;
  PhaseProgress line_;
};

// The finder's state between steps: everything a resume needs.
struct FinderState {
  std::vector<double> x, f, g, g_ref, accuracy;
  std::vector<std::int64_t> steps, polish_steps;
  std::vector<std::int8_t> outcome;
  double seconds = 0;

  std::vector<std::uint8_t> bytes() const {
    ckpt::Writer w;
    w.vec(x);
    w.vec(f);
    w.vec(g);
    w.vec(g_ref);
    w.vec(accuracy);
    w.vec(steps);
    w.vec(polish_steps);
    w.vec(outcome);
    w.pod(seconds);
    return w.bytes();
  }
  static FinderState read(const std::vector<std::uint8_t>& b, std::int64_t m, std::int64_t n) {
    ckpt::Reader r(b, "checkpoint.bin (finder state)");
    FinderState s;
    s.x = r.vec<double>();
    s.f = r.vec<double>();
    s.g = r.vec<double>();
    s.g_ref = r.vec<double>();
    s.accuracy = r.vec<double>();
    s.steps = r.vec<std::int64_t>();
    s.polish_steps = r.vec<std::int64_t>();
    s.outcome = r.vec<std::int8_t>();
    s.seconds = r.pod<double>();
    const auto um = static_cast<std::size_t>(m);
    if (!r.done() || s.x.size() != um * static_cast<std::size_t>(n) || s.outcome.size() != um ||
        s.steps.size() != um || s.f.size() != um || s.g.size() != um || s.g_ref.size() != um ||
        s.accuracy.size() != um || s.polish_steps.size() != um)
      throw InputError("checkpoint.bin: the finder state does not match this experiment");
    return s;
  }
};

}  // namespace

const char* finder_outcome_name(std::int8_t o) {
  switch (o) {
    case kFinderConverged:
      return "converged";
    case kFinderStalled:
      return "stalled";
    case kFinderMaxSteps:
      return "max_steps";
    case kFinderDiverged:
      return "diverged";
    default:
      return "running";
  }
}

std::int64_t FinderResult::count(FinderOutcome o) const {
  return std::count(outcome.begin(), outcome.end(), static_cast<std::int8_t>(o));
}

std::int64_t finder_slice(const Experiment& e, std::uint64_t budget) {
  const auto n = static_cast<double>(e.objective.dim);
  // newton: a Hessian, its LU or eigenvector copy and the polishing's, per start.
  const double per_start =
      e.finder.kind == "newton" ? 3.0 * n * n * 8.0 + 64.0 * n : 8.0 * n * 8.0;  // x, g, Hg, trials
  const double by_time =
      e.finder.kind == "newton" ? 5e8 / std::max(1.0, n * n * n) : 5e8 / std::max(1.0, 100.0 * n);
  const double by_memory = static_cast<double>(budget) / 2.0 / per_start;
  const double s = std::min({by_time, by_memory, static_cast<double>(e.finder.starts)});
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(s));
}

namespace {

Polished polish_group(PreparedObjective& prepared, const HostLinalg& la, std::vector<double>& x,
                      std::int64_t count) {
  const ObjectiveData& obj = prepared.data();
  const Precision p = prepared.precision();
  const std::int64_t n = obj.dim;
  const double u = unit_roundoff(p);
  Polished out;
  out.accuracy.assign(static_cast<std::size_t>(count), 0.0);
  out.f.assign(static_cast<std::size_t>(count), std::nan(""));
  out.grad_norm.assign(static_cast<std::size_t>(count), std::numeric_limits<double>::infinity());
  out.steps.assign(static_cast<std::size_t>(count), 0);
  std::vector<double> best = x;
  std::vector<double> prev_step(static_cast<std::size_t>(count),
                                std::numeric_limits<double>::infinity());
  std::vector<std::int64_t> active;
  for (std::int64_t i = 0; i < count; ++i) active.push_back(i);
  for (int it = 0; it <= kPolishSteps && !active.empty(); ++it) {
    const auto na = static_cast<std::int64_t>(active.size());
    const std::vector<double> xa = gather(x, active, n);
    const ObjectiveEval ev = prepared.value_grad(na, xa);
    for (std::int64_t k = 0; k < na; ++k) {  // keep the iterate of smallest ||g||
      const std::int64_t i = active[k];
      const double gn = row_norm(ev.g, k, n);
      if (gn < out.grad_norm[i]) {
        out.grad_norm[i] = gn;
        out.f[i] = ev.f[k];
        std::copy(xa.begin() + k * n, xa.begin() + (k + 1) * n, best.begin() + i * n);
      }
    }
    const std::vector<double> h = prepared.hessian(na, xa);
    std::vector<std::int64_t> still;
    for (std::int64_t k = 0; k < na; ++k) {
      const std::int64_t i = active[k];
      const double* xk = xa.data() + k * n;
      const double floor = u * std::max(1.0, std::sqrt(row_dot(n, xk, xk)));
      std::vector<double> d(static_cast<std::size_t>(n));
      const std::vector<double> hk(h.begin() + k * n * n, h.begin() + (k + 1) * n * n);
      const bool ok =
          std::isfinite(row_norm(ev.g, k, n)) &&
          pinv_direction(hk, ev.g.data() + k * n, n, d.data(), obj.sphere() ? xk : nullptr, u, la);
      double dn = 0;
      for (double v : d) dn += v * v;
      dn = std::sqrt(dn);
      // Stop when the step no longer shrinks (rounding reached), is zero, or
      // the solve failed; the accuracy is the last step's length.
      if (!ok || !std::isfinite(dn) || dn == 0 || dn >= prev_step[i] || it == kPolishSteps) {
        const double last = ok && std::isfinite(dn) ? dn : prev_step[i];
        out.accuracy[i] = std::max(std::isfinite(last) ? last : 0.0, floor);
        continue;
      }
      prev_step[i] = dn;
      for (std::int64_t j = 0; j < n; ++j) x[i * n + j] -= d[j];
      if (obj.sphere()) sphere_retract(n, x.data() + i * n);
      ++out.steps[i];
      still.push_back(i);
    }
    active = std::move(still);
  }
  x = std::move(best);
  return out;
}

}  // namespace

Polished polish_points(PreparedObjective& prepared, const HostLinalg& la, std::vector<double>& x,
                       std::int64_t count, const std::function<bool()>& stop) {
  const ObjectiveData& obj = prepared.data();
  // Groups of about 5e7 / N^3 points: a group's eigensolves take well under
  // a second, and `stop` is asked between groups.
  const auto dn = static_cast<double>(obj.dim);
  const std::int64_t group = std::max<std::int64_t>(
      1, static_cast<std::int64_t>(std::min(1e9, 5e7 / std::max(1.0, dn * dn * dn))));
  const std::int64_t n = obj.dim;
  Polished out;
  for (std::int64_t a = 0; a < count; a += group) {
    if (a > 0 && stop && stop()) break;
    const std::int64_t k = std::min(group, count - a);
    std::vector<double> xs(x.begin() + a * n, x.begin() + (a + k) * n);
    const Polished part = polish_group(prepared, la, xs, k);
    std::copy(xs.begin(), xs.end(), x.begin() + a * n);
    out.accuracy.insert(out.accuracy.end(), part.accuracy.begin(), part.accuracy.end());
    out.f.insert(out.f.end(), part.f.begin(), part.f.end());
    out.grad_norm.insert(out.grad_norm.end(), part.grad_norm.begin(), part.grad_norm.end());
    out.steps.insert(out.steps.end(), part.steps.begin(), part.steps.end());
  }
  return out;
}

FinderResult find_critical_points(const Experiment& e, const ObjectiveData& obj, Backend& backend,
                                  const CensusCheckpoint* cp,
                                  const std::vector<std::uint8_t>* resume, bool progress,
                                  std::vector<std::uint8_t>* finished) {
  const auto t0 = std::chrono::steady_clock::now();
  const FinderSpec& spec = e.finder;
  const std::int64_t n = obj.dim, m = spec.starts;
  const Precision p = e.analysis.precision;
  const double u = unit_roundoff(p);
  const double big = e.run.diverge_above;
  FinderState st;
  if (resume && !resume->empty()) {
    st = FinderState::read(*resume, m, n);
  } else {
    st.x = make_finder_starts(e, 0, m);
    retract(obj, st.x);
    const auto um = static_cast<std::size_t>(m);
    st.f.assign(um, std::nan(""));
    st.g.assign(um, std::nan(""));
    st.g_ref.assign(um, std::numeric_limits<double>::infinity());
    st.accuracy.assign(um, 0.0);
    st.steps.assign(um, 0);
    st.polish_steps.assign(um, 0);
    st.outcome.assign(um, kFinderRunning);
  }
  // The objective prepared once for every step, polish and line search.
  const std::unique_ptr<PreparedObjective> prepared = backend.prepare(obj, p);
  const double seconds_before = st.seconds;
  auto elapsed = [&] {
    return seconds_before +
           std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  FinderProgress shown(spec, progress);
  auto checkpoint = [&] {
    if (!cp || !cp->due()) return;
    st.seconds = elapsed();
    cp->save(st.bytes(), cp->stopping());
  };

  // Polish the rows that met their threshold; they are converged. A stop
  // between polishing groups leaves the rest running (judged again on resume).
  auto polish = [&](const std::vector<std::int64_t>& rows) {
    if (rows.empty()) return;
    std::vector<double> xr = gather(st.x, rows, n);
    const Polished pol =
        polish_points(*prepared, backend.host_linalg(), xr, static_cast<std::int64_t>(rows.size()),
                      [&] { return cp && cp->stopping(); });
    for (std::size_t k = 0; k < pol.steps.size(); ++k) {
      const std::int64_t i = rows[k];
      std::copy(xr.begin() + static_cast<std::int64_t>(k) * n,
                xr.begin() + static_cast<std::int64_t>(k + 1) * n, st.x.begin() + i * n);
      st.f[i] = pol.f[k];
      st.g[i] = pol.grad_norm[k];
      st.accuracy[i] = pol.accuracy[k];
      st.polish_steps[i] = pol.steps[k];
      st.steps[i] += pol.steps[k];
      st.outcome[i] = kFinderConverged;
    }
    if (pol.steps.size() < rows.size()) checkpoint();  // stopping: saves and throws
  };

  // This rank's starts (docs/design.md II.6); every start in one process.
  Comm& comm = world();
  const Share sh = comm.share(m);
  const std::int64_t slice = finder_slice(e, backend.memory_budget());
  for (std::int64_t s0 = sh.first; s0 < sh.end(); s0 += slice) {
    std::vector<std::int64_t> rows;
    for (std::int64_t i = s0; i < std::min(sh.end(), s0 + slice); ++i)
      if (st.outcome[i] == kFinderRunning) rows.push_back(i);
    while (!rows.empty()) {
      checkpoint();
      shown.show(st.outcome, st.steps, sh, false);
      const auto na = static_cast<std::int64_t>(rows.size());
      const std::vector<double> xa = gather(st.x, rows, n);
      const ObjectiveEval ev = prepared->value_grad(na, xa);
      // Judge each start at its current point; `go` take a step.
      std::vector<std::int64_t> go, go_k, to_polish;
      for (std::int64_t k = 0; k < na; ++k) {
        const std::int64_t i = rows[k];
        const double gn = row_norm(ev.g, k, n);
        st.f[i] = ev.f[k];
        st.g[i] = gn;
        if (!std::isfinite(gn) || !std::isfinite(ev.f[k]) || std::fabs(ev.f[k]) > big ||
            row_max_abs(xa.data() + k * n, n) > big) {
          st.outcome[i] = kFinderDiverged;
        } else if (gn <= e.analysis.crit_tol) {
          to_polish.push_back(i);
        } else if (st.steps[i] >= spec.max_steps) {
          st.outcome[i] = kFinderMaxSteps;
        } else {
          go.push_back(i);
          go_k.push_back(k);
        }
      }
      polish(to_polish);
      const auto ns = static_cast<std::int64_t>(go.size());
      std::vector<double> x_go(static_cast<std::size_t>(ns * n)), g_go(x_go.size());
      for (std::int64_t q = 0; q < ns; ++q) {
        std::copy(xa.begin() + go_k[q] * n, xa.begin() + (go_k[q] + 1) * n, x_go.begin() + q * n);
        std::copy(ev.g.begin() + go_k[q] * n, ev.g.begin() + (go_k[q] + 1) * n,
                  g_go.begin() + q * n);
      }
      std::vector<std::int64_t> polish_now;
      if (ns > 0 && spec.kind == "gradient-norm") {
        // Gradient of 1/2 ||g||^2 is H g: one batched Hessian-vector product.
        const std::vector<double> hg = prepared->hvp(ns, x_go, g_go);
        for (std::int64_t q = 0; q < ns; ++q) {
          const std::int64_t i = go[q];
          const double* xq = x_go.data() + q * n;
          // The gradient's rounding floor, with ||H|| >= ||H g|| / ||g||.
          const double hnorm = row_norm(hg, q, n) / st.g[i];
          if (st.g[i] <= 2 * u * hnorm * std::max(1.0, std::sqrt(row_dot(n, xq, xq)))) {
            polish_now.push_back(i);
            continue;
          }
          if (st.steps[i] % kStallWindow == 0) {
            if (st.steps[i] > 0 && st.g[i] > (1 - kStallProgress) * st.g_ref[i]) {
              st.outcome[i] = kFinderStalled;
              continue;
            }
            st.g_ref[i] = st.g[i];
          }
          for (std::int64_t j = 0; j < n; ++j) st.x[i * n + j] -= spec.lr * hg[q * n + j];
          if (obj.sphere()) sphere_retract(n, st.x.data() + i * n);
          ++st.steps[i];
        }
      } else if (ns > 0) {
        // Newton: directions from dense solves, then step halving until ||g|| drops.
        const std::vector<double> h = prepared->hessian(ns, x_go);
        std::vector<double> d(static_cast<std::size_t>(ns * n), 0.0);
        std::vector<char> done(static_cast<std::size_t>(ns), 0);
        for (std::int64_t q = 0; q < ns; ++q) {
          const std::int64_t i = go[q];
          const double* xq = x_go.data() + q * n;
          const std::vector<double> hq(h.begin() + q * n * n, h.begin() + (q + 1) * n * n);
          double hf = 0;  // ||H||_F >= ||H||_2: the gradient's rounding floor
          for (double v : hq) hf += v * v;
          if (st.g[i] <= 2 * u * std::sqrt(hf) * std::max(1.0, std::sqrt(row_dot(n, xq, xq)))) {
            polish_now.push_back(i);
            done[q] = 1;
            continue;
          }
          if (!newton_direction(hq, g_go.data() + q * n, n, d.data() + q * n,
                                obj.sphere() ? xq : nullptr, backend.host_linalg()))
            std::copy(g_go.begin() + q * n, g_go.begin() + (q + 1) * n,
                      d.begin() + q * n);  // singular: a gradient step
        }
        std::vector<double> alpha(static_cast<std::size_t>(ns), spec.lr);
        for (int halving = 0; halving < kLineSearchHalvings; ++halving) {
          std::vector<std::int64_t> trial;
          for (std::int64_t q = 0; q < ns; ++q)
            if (!done[q]) trial.push_back(q);
          if (trial.empty()) break;
          std::vector<double> xt(trial.size() * static_cast<std::size_t>(n));
          for (std::size_t t = 0; t < trial.size(); ++t)
            for (std::int64_t j = 0; j < n; ++j) {
              const std::int64_t q = trial[t];
              xt[static_cast<std::int64_t>(t) * n + j] = x_go[q * n + j] - alpha[q] * d[q * n + j];
            }
          retract(obj, xt);
          const ObjectiveEval et =
              prepared->value_grad(static_cast<std::int64_t>(trial.size()), xt);
          for (std::size_t t = 0; t < trial.size(); ++t) {
            const std::int64_t q = trial[t], i = go[q];
            const double gn = row_norm(et.g, static_cast<std::int64_t>(t), n);
            if (gn < st.g[i]) {
              done[q] = 1;
              std::copy(xt.begin() + static_cast<std::int64_t>(t) * n,
                        xt.begin() + static_cast<std::int64_t>(t + 1) * n, st.x.begin() + i * n);
              ++st.steps[i];
            } else {
              alpha[q] *= 0.5;
            }
          }
        }
        for (std::int64_t q = 0; q < ns; ++q)
          if (!done[q]) st.outcome[go[q]] = kFinderStalled;  // no decrease in 30 halvings
      }
      polish(polish_now);
      std::vector<std::int64_t> still;
      for (const std::int64_t i : rows)
        if (st.outcome[i] == kFinderRunning) still.push_back(i);
      rows = std::move(still);
    }
  }
  shown.show(st.outcome, st.steps, sh, comm.size() == 1);
  if (finished) {
    st.seconds = elapsed();
    *finished = st.bytes();
  }
  if (comm.size() > 1) {  // every rank's starts, in rank order, on every rank
    // Every per-start array of the state with its row width.
    auto each_array = [&](auto&& f) {
      f(st.x, n);
      f(st.f, 1);
      f(st.g, 1);
      f(st.accuracy, 1);
      f(st.steps, 1);
      f(st.polish_steps, 1);
      f(st.outcome, 1);
    };
    ckpt::Writer w;
    each_array([&](const auto& v, std::int64_t width) { put_rows(w, v, width, sh); });
    std::vector<Bytes> all;
    {
      const WaitHook waiting(comm, [&] { shown.show(st.outcome, st.steps, sh, false); });
      all = comm.allgather(w.bytes());
    }
    for (int r = 0; r < comm.size(); ++r) {
      const Share rs = share_of(m, r, comm.size());
      ckpt::Reader rd(all[static_cast<std::size_t>(r)], "the finder's share of another rank");
      each_array([&](auto& v, std::int64_t width) { get_rows(rd, v, width, rs); });
    }
    shown.show(st.outcome, st.steps, Share{0, m}, true);  // every rank's starts
  }

  // Distinct converged points (docs/experiment.md, census rules): merged by
  // their polished accuracy, or by analysis.dedup_tol when it is set.
  FinderResult out;
  out.starts = m;
  std::vector<double> radius(static_cast<std::size_t>(m), -1.0);
  for (std::int64_t i = 0; i < m; ++i)
    if (st.outcome[i] == kFinderConverged)
      radius[i] =
          e.analysis.dedup_tol > 0 ? e.analysis.dedup_tol / 2 : kMergeFactor * st.accuracy[i];
  const std::vector<std::int64_t> ids = merge_points(st.x.data(), m, n, radius);
  std::vector<std::int64_t> point_of_id(static_cast<std::size_t>(m), -1);
  out.point.assign(static_cast<std::size_t>(m), -1);
  for (std::int64_t i = 0; i < m; ++i) {
    if (st.outcome[i] != kFinderConverged) continue;
    std::int64_t& q = point_of_id[ids[i]];
    if (q < 0) {
      q = static_cast<std::int64_t>(out.points.size());
      FoundPoint fp;
      fp.start = i;
      fp.steps = st.steps[i];
      fp.f = st.f[i];
      fp.grad_norm = st.g[i];
      fp.accuracy = st.accuracy[i];
      out.points.push_back(fp);
      out.coords.insert(out.coords.end(), st.x.begin() + i * n, st.x.begin() + (i + 1) * n);
    }
    out.points[q].hits++;
    out.point[i] = q;
  }
  out.outcome = std::move(st.outcome);
  out.steps = std::move(st.steps);
  out.polish_steps = std::move(st.polish_steps);
  out.f = std::move(st.f);
  out.grad_norm = std::move(st.g);
  out.seconds = elapsed();
  if (comm.speaks())
    std::fprintf(stderr,
                 "finder %s: %lld of %lld starts converged (%lld stalled, %lld at max_steps, %lld "
                 "diverged); %zu distinct points\n",
                 spec.kind.c_str(), static_cast<long long>(out.count(kFinderConverged)),
                 static_cast<long long>(m), static_cast<long long>(out.count(kFinderStalled)),
                 static_cast<long long>(out.count(kFinderMaxSteps)),
                 static_cast<long long>(out.count(kFinderDiverged)), out.points.size());
  return out;
}

}  // namespace saddlescope
