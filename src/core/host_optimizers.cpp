// Host-driven optimizers: saddle-free Newton and simulated annealing. Their
// steps are not per-coordinate rules (a dense eigendecomposition; a
// Metropolis decision on the whole row), so instead of the fused pass they
// step the whole batch through the objective prepared once on the backend
// (value_grad, hessian_eigh: LAPACK or cuSOLVER), and keep the
// per-trajectory bookkeeping with the same shared end_iteration (records,
// outcome test, plateaus) as the device ensembles. On CUDA every step moves
// the batch's points and results between host and device (the objective
// and the Hessians stay there): meant for moderate N.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "checkpoint.hpp"
#include "kernels/pspin.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/host_track.hpp"
#include "saddlescope/run.hpp"

namespace saddlescope {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

class HostEnsemble final : public Ensemble {
 public:
  HostEnsemble(const EnsembleSpec& s, Backend& backend)
      : spec_(s),
        obj_(*s.objective),
        prepared_(backend.prepare(obj_, s.precision)),
        n_(obj_.dim),
        count_(s.count),
        track_(s, s.count, obj_.dim) {
    const auto len = static_cast<std::size_t>(count_ * n_);
    x_.assign(len, 0.0);
    f_.assign(static_cast<std::size_t>(count_), kNaN);
    g_.assign(len, kNaN);
  }

  void set_starts(const std::vector<double>& x0) override {
    x_ = x0;
    if (obj_.sphere()) retract(x_);
  }

  void iterate(std::int64_t t) override {
    const std::vector<std::int64_t> rows = running_rows();
    if (rows.empty()) return;
    // Values and gradients at x_t: annealing caches them from the previous
    // step's proposal (x_t is the accepted proposal or the old point).
    if (!(annealing() && t > 0)) evaluate(rows, x_, f_, g_);
    if (prepared_->data().classifies()) {  // the training accuracy at x_t (not checkpointed)
      acc_.resize(f_.size());
      const std::vector<double> a =
          prepared_->accuracy(static_cast<std::int64_t>(rows.size()), gather(x_, rows));
      for (std::size_t k = 0; k < rows.size(); ++k) acc_[rows[k]] = a[k];
    }
    const TrajectoryRecords<double> rec = track_.view(spec_);
    std::vector<std::int64_t> step_rows;
    for (const std::int64_t b : rows) {
      const double* xb = x_.data() + b * n_;
      IterationSums s;
      s.f = f_[b];
      if (!acc_.empty()) s.accuracy = acc_[b];
      for (std::int64_t i = 0; i < n_; ++i) {
        s.gsq += g_[b * n_ + i] * g_[b * n_ + i];
        const double ax = std::fabs(xb[i]);
        s.xmax = (s.xmax >= ax || s.xmax != s.xmax) ? s.xmax : ax;
      }
      end_iteration(spec_.stop, rec, n_, b, t, s, xb, track_.plateau.data(), spec_.plateau);
      if (double* keep = track_.plateau_save(b))  // x_t is the run's new best: keep it now
        std::copy(xb, xb + n_, keep);
      if (track_.outcome[b] == kRunning && t < spec_.stop.max_steps) step_rows.push_back(b);
    }
    if (step_rows.empty()) return;
    if (annealing())
      anneal_step(step_rows, t + 1);
    else
      newton_step(step_rows);
  }

  std::int64_t running() override { return track_.running(); }

  std::vector<std::uint8_t> save_state() override {
    ckpt::Writer w;
    for (const auto* v : {&x_, &f_, &g_}) w.vec(*v);
    track_.write(w);
    return w.bytes();
  }

  void load_state(const std::vector<std::uint8_t>& state) override {
    ckpt::Reader rd(state, "checkpoint (host-driven ensemble)");
    for (auto* v : {&x_, &f_, &g_}) *v = rd.vec<double>();
    track_.read(rd);
    if (!rd.done() || x_.size() != static_cast<std::size_t>(count_ * n_))
      throw InputError("checkpoint: the ensemble state does not match this run");
  }

  EnsembleResult result(bool want_finals) override {
    EnsembleResult r;
    track_.fill(r);
    if (want_finals) r.finals = x_;
    return r;
  }

 private:
  bool annealing() const { return spec_.optimizer.kind == OptimizerKind::annealing; }

  std::vector<std::int64_t> running_rows() const {
    std::vector<std::int64_t> r;
    for (std::int64_t b = 0; b < count_; ++b)
      if (track_.outcome[b] == kRunning) r.push_back(b);
    return r;
  }

  void retract(std::vector<double>& x) const {
    for (std::size_t k = 0; k < x.size() / static_cast<std::size_t>(n_); ++k)
      sphere_retract(n_, x.data() + static_cast<std::int64_t>(k) * n_);
  }

  std::vector<double> gather(const std::vector<double>& src,
                             const std::vector<std::int64_t>& rows) const {
    std::vector<double> out(rows.size() * static_cast<std::size_t>(n_));
    for (std::size_t k = 0; k < rows.size(); ++k)
      std::copy(src.begin() + rows[k] * n_, src.begin() + (rows[k] + 1) * n_,
                out.begin() + static_cast<std::int64_t>(k) * n_);
    return out;
  }

  // f and g of the given rows of x (batched through the backend).
  void evaluate(const std::vector<std::int64_t>& rows, const std::vector<double>& x,
                std::vector<double>& f, std::vector<double>& g) {
    const ObjectiveEval ev =
        prepared_->value_grad(static_cast<std::int64_t>(rows.size()), gather(x, rows));
    for (std::size_t k = 0; k < rows.size(); ++k) {
      f[rows[k]] = ev.f[k];
      std::copy(ev.g.begin() + static_cast<std::int64_t>(k) * n_,
                ev.g.begin() + static_cast<std::int64_t>(k + 1) * n_, g.begin() + rows[k] * n_);
    }
  }

  // Saddle-free Newton (Dauphin et al. 2014): x <- x - lr V diag(1 / (|lambda|
  // + damping)) V^T g from the eigendecomposition H = V diag(lambda) V^T. A
  // failed eigensolve turns the row into NaN (it then ends `diverged`).
  void newton_step(const std::vector<std::int64_t>& rows) {
    const auto m = static_cast<std::int64_t>(rows.size());
    // The Hessians go to the eigensolver without a host round trip (CUDA).
    const EighResult e = prepared_->hessian_eigh(m, gather(x_, rows), true);
    const double lr = spec_.optimizer.lr, damping = spec_.optimizer.damping;
    std::vector<double> c(static_cast<std::size_t>(n_));
    for (std::int64_t k = 0; k < m; ++k) {
      double* xb = x_.data() + rows[k] * n_;
      const double* gb = g_.data() + rows[k] * n_;
      const double* v = e.vectors.data() + k * n_ * n_;  // row-major, column j = eigenvector j
      const double* lam = e.values.data() + k * n_;
      if (e.info[k] != 0) {
        std::fill(xb, xb + n_, kNaN);
        continue;
      }
      for (std::int64_t j = 0; j < n_; ++j) {  // c = diag(1 / (|lambda| + damping)) V^T g
        double dot = 0;
        for (std::int64_t i = 0; i < n_; ++i) dot += v[i * n_ + j] * gb[i];
        const double a = std::fabs(lam[j]) + damping;
        c[j] = a > 0 ? dot / a : 0.0;  // a zero mode with zero damping is not moved along
      }
      for (std::int64_t i = 0; i < n_; ++i) {
        double d = 0;
        for (std::int64_t j = 0; j < n_; ++j) d += v[i * n_ + j] * c[j];
        xb[i] -= lr * d;
      }
      if (obj_.sphere()) sphere_retract(n_, xb);
    }
  }

  // Simulated annealing at step k: Gaussian proposals x' = x + step_size xi,
  // accepted when u < exp(-(f' - f) / T_k) (always when f' <= f), T_k =
  // temperature decay^(k-1); noise keyed by (trajectory, coordinate, step).
  void anneal_step(const std::vector<std::int64_t>& rows, std::int64_t k) {
    const OptimizerParams& p = spec_.optimizer;
    const auto st = static_cast<std::uint32_t>(k);
    std::vector<double> prop(x_);
    for (const std::int64_t b : rows) {
      const auto row = static_cast<std::uint64_t>((spec_.first + b) * n_);
      for (std::int64_t i = 0; i < n_; ++i)
        prop[b * n_ + i] += p.step_size * rng::normal(p.seed, rng::kAnnealProposal,
                                                      row + static_cast<std::uint64_t>(i), st);
      if (obj_.sphere()) sphere_retract(n_, prop.data() + b * n_);
    }
    std::vector<double> fp(f_), gp(g_);
    evaluate(rows, prop, fp, gp);
    const double temp = p.temperature * std::pow(p.temperature_decay, static_cast<double>(k - 1));
    for (const std::int64_t b : rows) {
      const double df = fp[b] - f_[b];
      const double u =
          rng::uniform(p.seed, rng::kAnnealAccept, static_cast<std::uint64_t>(spec_.first + b), st);
      // A proposal with a non-finite value is never accepted.
      const bool accept =
          std::isfinite(fp[b]) && (df <= 0 || (temp > 0 && u < std::exp(-df / temp)));
      if (!accept) continue;
      std::copy(prop.begin() + b * n_, prop.begin() + (b + 1) * n_, x_.begin() + b * n_);
      std::copy(gp.begin() + b * n_, gp.begin() + (b + 1) * n_, g_.begin() + b * n_);
      f_[b] = fp[b];
    }
  }

  EnsembleSpec spec_;
  const ObjectiveData& obj_;
  // The objective prepared once for the whole run (data uploaded once, work
  // spaces kept).
  std::unique_ptr<PreparedObjective> prepared_;
  std::int64_t n_, count_;
  HostTrack<double> track_;  // records, plateau states and points
  std::vector<double> x_, f_, g_;
  std::vector<double> acc_;  // a classifier's accuracy at x_t (each iteration's own)
};

}  // namespace

std::unique_ptr<Ensemble> make_host_ensemble(const EnsembleSpec& spec, Backend& backend) {
  return std::make_unique<HostEnsemble>(spec, backend);
}

}  // namespace saddlescope
