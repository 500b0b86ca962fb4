// The CPU backend's ensemble (src/cpu/ensemble.hpp): the fused row passes,
// compiled per objective and optimizer kind, and CpuEnsemble, which runs them
// over the trajectories with OpenMP after the coupled evaluation of the
// running rows, keeps the records (HostTrack) and saves its state.
#include "src/cpu/ensemble.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "kernels/pspin.hpp"
#include "saddlescope/ensemble_state.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/experiment.hpp"
#include "saddlescope/host_track.hpp"
#include "src/cpu/objectives.hpp"

// Row passes compiled for several x86-64 levels, chosen at load time
// (GCC's function multiversioning); one generic version elsewhere, and under
// AddressSanitizer (the sanitizer build checks memory, not instruction sets,
// and three instrumented copies of every pass triple its compile time).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define SS_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SS_CPU_CLONES
#endif
// `flatten` on the row passes (below); not under AddressSanitizer, where the
// instrumented flattened passes took over 10 minutes to compile.
#if defined(__SANITIZE_ADDRESS__)
#define SS_FLATTEN
#else
#define SS_FLATTEN __attribute__((flatten))
#endif

namespace saddlescope::cpu_detail {
namespace {

// The CPU row pass's per-trajectory sums run in kSumLanes lanes: coordinate
// i adds into lane i % kSumLanes, in order, and the lanes are combined in a
// fixed order at the end. The sums are therefore the same for every vector
// width the compiler picks (and on every CPU), while the lanes leave it free
// to vectorize the pass (one ordered sum cannot be: floating-point addition
// is not associative).
constexpr std::int64_t kSumLanes = 16;

// Coordinates [i0, i0 + len) of one row, coordinate i0 + j into lane j.
// kUpdate, kSave (plateau points) and kStates (optimizer state arrays) fixed
// at compile time keep the loop free of branches the vectorizer cannot take;
// opt and sc are copies, so their fields are loop invariants, not loads.
template <class T, bool kUpdate, bool kSave, int kStates>
SS_HD void lane_block(const LocalObjective<T>& obj, const OptimizerParams opt, const StepScalars sc,
                      const T* xc, const T* grow, T* xn, T* s1, T* s2, T* save,
                      std::uint64_t row_coord, std::int64_t i0, std::int64_t len, double* f,
                      double* gsq, T* xm) {
#pragma omp simd
  for (std::int64_t j = 0; j < len; ++j) {
    const std::int64_t i = i0 + j;
    // max |x| kept in T: max and fabs are exact, so it is the value the
    // double sums would hold, at a fraction of the conversions (e.xmax is
    // unused and dropped by the compiler).
    IterationSums e{f[j], gsq[j], 0.0};
    xm[j] = nan_max(xm[j], static_cast<T>(std::fabs(xc[i])));
    if (kSave) save[i] = xn[i];
    T a = kUpdate && kStates >= 1 ? s1[i] : T(0);
    T b = kUpdate && kStates >= 2 ? s2[i] : T(0);
    const T x1 = fused_coordinate(obj, opt, sc, xc, grow, i, e, a, b, row_coord);
    if (kUpdate) {
      xn[i] = x1;
      if (kStates >= 1) s1[i] = a;
      if (kStates >= 2) s2[i] = b;
    }
    f[j] = e.f;
    gsq[j] = e.gsq;
  }
}

template <class T, bool kUpdate, bool kSave, int kStates>
SS_HD IterationSums lane_row(const LocalObjective<T>& obj, const OptimizerParams& opt,
                             const StepScalars& sc, const T* xc, const T* grow, T* xn, T* s1, T* s2,
                             T* save, std::uint64_t row_coord, std::int64_t n) {
  alignas(64) double f[kSumLanes] = {}, gsq[kSumLanes] = {};
  alignas(64) T xm[kSumLanes] = {};
  const std::int64_t full = n - n % kSumLanes;
  for (std::int64_t i0 = 0; i0 < full; i0 += kSumLanes)
    lane_block<T, kUpdate, kSave, kStates>(obj, opt, sc, xc, grow, xn, s1, s2, save, row_coord, i0,
                                           kSumLanes, f, gsq, xm);
  lane_block<T, kUpdate, kSave, kStates>(obj, opt, sc, xc, grow, xn, s1, s2, save, row_coord, full,
                                         n - full, f, gsq, xm);
  IterationSums acc;
  for (std::int64_t j = 0; j < kSumLanes; ++j)
    acc.add(IterationSums{f[j], gsq[j], static_cast<double>(xm[j])});
  return acc;
}

template <class T, int kStates>
SS_HD IterationSums row_variant(const LocalObjective<T>& obj, const OptimizerParams& opt,
                                const StepScalars& sc, bool update, const T* xc, const T* grow,
                                T* xn, T* s1, T* s2, T* save, std::uint64_t row_coord,
                                std::int64_t n) {
  if (!update)
    return lane_row<T, false, false, kStates>(obj, opt, sc, xc, grow, xn, s1, s2, save, row_coord,
                                              n);
  if (save)
    return lane_row<T, true, true, kStates>(obj, opt, sc, xc, grow, xn, s1, s2, save, row_coord, n);
  return lane_row<T, true, false, kStates>(obj, opt, sc, xc, grow, xn, s1, s2, save, row_coord, n);
}

// The optimizer state arrays a pass uses, fixed at compile time.
template <class T>
SS_HD IterationSums row_states(const LocalObjective<T>& obj, const OptimizerParams& opt,
                               const StepScalars& sc, bool update, const T* xc, const T* grow,
                               T* xn, T* s1, T* s2, T* save, std::uint64_t row_coord,
                               std::int64_t n) {
  switch (opt.state_count()) {  // folds to one case for most optimizers
    case 0:
      return row_variant<T, 0>(obj, opt, sc, update, xc, grow, xn, s1, s2, save, row_coord, n);
    case 1:
      return row_variant<T, 1>(obj, opt, sc, update, xc, grow, xn, s1, s2, save, row_coord, n);
    default:
      return row_variant<T, 2>(obj, opt, sc, update, xc, grow, xn, s1, s2, save, row_coord, n);
  }
}

// One trajectory's fused pass with the objective and optimizer kinds fixed at
// compile time: the switches of the shared math fold away and the loop is
// specialized, without a second copy of the math. `flatten` inlines the whole
// per-element call tree (without it GCC keeps the optimizer rule out of line:
// adam's step measured 1.6x slower). On x86-64 with GCC each pass is also
// compiled for AVX-512 and AVX2 and picked at load time (target_clones); with
// -ffp-contract=off (CMakeLists.txt) every version gives the same numbers.
template <class T, ObjectiveKind OK, OptimizerKind PK>
SS_CPU_CLONES SS_FLATTEN IterationSums row_pass(LocalObjective<T> obj, OptimizerParams opt,
                                                const StepScalars& sc, bool update, const T* xc,
                                                const T* grow, T* xn, T* s1, T* s2, T* save,
                                                std::uint64_t row_coord, std::int64_t n) {
  obj.kind = OK;
  opt.kind = PK;
  if (PK == OptimizerKind::momentum) {
    // GCC does not if-convert momentum's two flags (nesterov, first step)
    // inside the loop: each combination gets its own loop with them constant.
    const auto fixed = [&](bool nesterov, bool first) {
      OptimizerParams o = opt;
      StepScalars s = sc;
      o.nesterov = nesterov;
      s.first = first;
      return row_states(obj, o, s, update, xc, grow, xn, s1, s2, save, row_coord, n);
    };
    if (opt.nesterov) return sc.first ? fixed(true, true) : fixed(true, false);
    return sc.first ? fixed(false, true) : fixed(false, false);
  }
  return row_states(obj, opt, sc, update, xc, grow, xn, s1, s2, save, row_coord, n);
}

template <class T>
using RowPass = IterationSums (*)(LocalObjective<T>, OptimizerParams, const StepScalars&, bool,
                                  const T*, const T*, T*, T*, T*, T*, std::uint64_t, std::int64_t);

// The pass of every registered optimizer (kernels/optimizers/registry.hpp);
// host-driven ones have none (src/core/host_optimizers.cpp steps them).
template <class T, ObjectiveKind OK>
RowPass<T> row_pass_for(OptimizerKind p) {
  switch (p) {
#define SS_ROW_PASS_CASE(name, Rule) \
  case OptimizerKind::name:          \
    if constexpr (Rule::host_driven) \
      return nullptr;                \
    else                             \
      return row_pass<T, OK, OptimizerKind::name>;
    SS_OPTIMIZERS(SS_ROW_PASS_CASE)
#undef SS_ROW_PASS_CASE
  }
  return nullptr;
}

template <class T>
RowPass<T> row_pass_for(ObjectiveKind o, OptimizerKind p) {
  switch (o) {  // every kind of kernels/objectives/registry.hpp
#define SS_ROW_PASS_KIND(name, Terms) \
  case ObjectiveKind::name:           \
    return row_pass_for<T, ObjectiveKind::name>(p);
    SS_OBJECTIVE_KINDS(SS_ROW_PASS_KIND)
#undef SS_ROW_PASS_KIND
  }
  return nullptr;
}

template <class T>
class CpuEnsemble final : public Ensemble {
 public:
  explicit CpuEnsemble(const EnsembleSpec& s)
      : spec_(s),
        obj_(*s.objective),
        n_(s.objective->dim),
        count_(s.count),
        st_(s, s.count, s.objective->dim) {
    const std::size_t len = static_cast<std::size_t>(count_ * n_);
    x_[0].assign(len, T(0));
    x_[1].assign(len, T(0));
    const int states = s.optimizer.state_count();
    if (states >= 1) s1_.assign(len, static_cast<T>(s.optimizer.initial_s1()));
    if (states >= 2) s2_.assign(len, T(0));
    if (obj_.view.coupled) g_.assign(len, T(0));
    if (obj_.row_values()) f_rows_.assign(count_, 0.0);
    if (s.objective->classifies()) acc_rows_.assign(count_, 0.0);
    if (s.optimizer.kind == OptimizerKind::perturbed_gd) {
      last_perturb_.assign(static_cast<std::size_t>(count_), -1);
      perturb_now_.assign(static_cast<std::size_t>(count_), 0);
    }
  }

  void set_starts(const std::vector<double>& x0) override {
    for (std::size_t i = 0; i < x0.size(); ++i) x_[0][i] = static_cast<T>(x0[i]);
  }

  void iterate(std::int64_t t) override {
    const bool update = t < spec_.stop.max_steps;
    const StepScalars sc = scalars_.at(t + 1);
    if (!perturb_now_.empty()) {  // perturbed-gd: marked at the end of iteration t - 1
#pragma omp parallel for schedule(static) if (count_ * n_ > 16384)
      for (std::int64_t b = 0; b < count_; ++b)
        if (perturb_now_[b] && track_.outcome[b] == kRunning)
          perturb_row(spec_.optimizer, n_, x_[t % 2].data() + b * n_,
                      static_cast<std::uint64_t>(spec_.first + b), t);
    }
    if (obj_.pspin()) obj_.retract_rows(count_, x_[t % 2].data(), track_.outcome.data());
    const T* xc = x_[t % 2].data();
    T* xn = x_[(t + 1) % 2].data();
    coupled_value_grad_running(xc);
    const TrajectoryRecords<T> rec = track_.view(spec_);
    const std::int64_t n = n_;
    const RowPass<T> pass = row_pass_for<T>(obj_.view.kind, spec_.optimizer.kind);
#pragma omp parallel for schedule(dynamic, 4) if (count_ * n > 16384)
    for (std::int64_t b = 0; b < count_; ++b) {
      if (track_.outcome[b] != kRunning) continue;
      const std::size_t off = static_cast<std::size_t>(b * n);
      T* s1 = s1_.empty() ? nullptr : s1_.data() + off;
      T* s2 = s2_.empty() ? nullptr : s2_.data() + off;
      const T* grow = g_.empty() ? nullptr : g_.data() + off;
      T* save = track_.plateau_save(b);
      IterationSums acc = pass(obj_.view, spec_.optimizer, sc, update, xc + off, grow, xn + off, s1,
                               s2, save, static_cast<std::uint64_t>((spec_.first + b) * n), n);
      if (!f_rows_.empty()) acc.f += f_rows_[b];  // per-trajectory value of the field
      if (!acc_rows_.empty()) acc.accuracy = acc_rows_[b];
      end_iteration(spec_.stop, rec, n, b, t, acc, xc + off, track_.plateau.data(), spec_.plateau);
      if (!perturb_now_.empty())
        perturb_now_[b] = perturb_due(spec_.optimizer, t, std::sqrt(acc.gsq), last_perturb_[b]);
    }
  }

  std::int64_t running() override { return track_.running(); }

  // The coupled evaluation (GEMMs, network passes) of the running rows:
  // once a trajectory has stopped, they are packed in order and evaluated
  // alone (active-set compaction, docs/design.md section II.4), so stopped
  // rows cost nothing. A row's results are the same bits whichever other
  // rows are evaluated with it (the property that makes chunking invisible;
  // tests/regression/example_digests.py and the chunking tests hold it).
  void coupled_value_grad_running(const T* xc) {
    if (!obj_.view.coupled) return;
    active_.clear();
    for (std::int64_t b = 0; b < count_; ++b)
      if (track_.outcome[b] == kRunning) active_.push_back(b);
    const auto rows = static_cast<std::int64_t>(active_.size());
    double* f = f_rows_.empty() ? nullptr : f_rows_.data();
    double* a = acc_rows_.empty() ? nullptr : acc_rows_.data();
    if (rows == count_) return obj_.coupled_value_grad(count_, xc, g_.data(), f, a);
    if (rows == 0) return;
    const std::int64_t n = n_;
    x_active_.resize(static_cast<std::size_t>(rows * n));
    g_active_.resize(static_cast<std::size_t>(rows * n));
    f_active_.resize(static_cast<std::size_t>(rows));
    a_active_.resize(static_cast<std::size_t>(rows));
#pragma omp parallel for schedule(static) if (rows * n > 16384)
    for (std::int64_t k = 0; k < rows; ++k)
      std::copy_n(xc + active_[k] * n, n, x_active_.data() + k * n);
    obj_.coupled_value_grad(rows, x_active_.data(), g_active_.data(),
                            f == nullptr ? nullptr : f_active_.data(),
                            a == nullptr ? nullptr : a_active_.data());
#pragma omp parallel for schedule(static) if (rows * n > 16384)
    for (std::int64_t k = 0; k < rows; ++k) {
      std::copy_n(g_active_.data() + k * n, n, g_.data() + active_[k] * n);
      if (f != nullptr) f[active_[k]] = f_active_[k];
      if (a != nullptr) a[active_[k]] = a_active_[k];
    }
  }

  std::vector<std::uint8_t> save_state() override { return st_.bytes(); }

  // Checked whole before the ensemble changes (EnsembleState::read).
  void load_state(const std::vector<std::uint8_t>& state) override {
    st_.read(state, "checkpoint (cpu ensemble)");
  }

  EnsembleResult result(bool want_finals) override {
    EnsembleResult r;
    track_.fill(r);
    if (want_finals) {
      r.finals.resize(static_cast<std::size_t>(count_ * n_));
      for (std::int64_t b = 0; b < count_; ++b) {
        const auto& buf = x_[track_.steps[b] % 2];
        for (std::int64_t i = 0; i < n_; ++i) r.finals[b * n_ + i] = buf[b * n_ + i];
      }
    }
    return r;
  }

 private:
  EnsembleSpec spec_;
  StepScalarSequence scalars_{spec_.optimizer};  // each step's scalars from the last (nadam)
  HostObjective<T> obj_;
  std::int64_t n_, count_;
  // The state a checkpoint saves (include/saddlescope/ensemble_state.hpp),
  // and names for its parts.
  EnsembleState<T> st_;
  HostTrack<T>& track_ = st_.track;  // records, plateau states and points
  std::vector<T> (&x_)[2] = st_.x;
  std::vector<T>& s1_ = st_.s1;
  std::vector<T>& s2_ = st_.s2;
  std::vector<std::int64_t>& last_perturb_ = st_.last_perturb;
  std::vector<std::int8_t>& perturb_now_ = st_.perturb_now;
  std::vector<T> g_;  // coupled gradient rows (written each iteration before they are read)
  std::vector<double> f_rows_;          // values per trajectory from the GEMM pass
  std::vector<std::int64_t> active_;    // the running rows, in order (compaction)
  std::vector<T> x_active_, g_active_;  // their x and gradients, packed
  std::vector<double> f_active_;
  std::vector<double> acc_rows_, a_active_;  // a classifier's accuracy per trajectory (packed)
};

}  // namespace

std::unique_ptr<Ensemble> make_cpu_ensemble(const EnsembleSpec& s) {
  if (host_driven(s.optimizer.kind))
    throw BackendError(fmt::format(
        "cpu backend: {} is a host-driven optimizer with no device ensemble; it runs through "
        "make_host_ensemble, which steps it with this backend's value_grad, hessian and eigh",
        optimizer_kind_name(s.optimizer.kind)));
  if (s.precision == Precision::f32) return std::make_unique<CpuEnsemble<float>>(s);
  return std::make_unique<CpuEnsemble<double>>(s);
}

}  // namespace saddlescope::cpu_detail
