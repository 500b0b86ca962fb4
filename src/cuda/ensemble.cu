// The CUDA backend's ensemble (src/cuda/ensemble.cuh).
//
// One descent iteration runs on the default stream with no host
// synchronization: on the sphere (p-spin) a kernel retracting the running
// trajectories onto |x|^2 = N; the GEMM pass of coupled objectives (rotated
// quadratic: G = X A; gaussian-field: Z = X W^T, an epilogue kernel that
// forms the per-trajectory values F and the gradient weights S, then G =
// mu X + S W; mlp and deep-linear: the forward and backward pass of every
// trajectory as strided-batched GEMMs over the trajectories around small
// kernels, giving F and G; p-spin: G_E = X A (p = 2), or per block of
// trajectories Y = X T^T and the products Y_r x_r as a strided-batched GEMM
// (p = 3), then an epilogue kernel giving the energies F and the Riemannian
// gradients G, kernels/pspin.hpp), a fused step kernel (block = one slice of
// one trajectory's coordinates, each block writing one partial
// IterationSums), and a status kernel (thread = one trajectory) that sums the
// partials in slice order, adds F and ends the iteration (outcome, records,
// plateau state, kernels/plateau.hpp, and perturbed-gd's schedule). For
// perturbed-gd a kernel (thread = trajectory) first perturbs the rows of x_t
// marked at the end of the previous iteration, before the retraction. The
// plateau points, when kept, are copied by the fused step into three role
// buffers, as on the CPU. The optimizer noise (langevin, perturbed-gd) is
// keyed by global trajectory and coordinate indices, so it does not depend on
// the chunking or the backend. Every reduction has a fixed order, so a run is
// bitwise reproducible.
//
// Checkpoints: an ensemble's state (CudaEnsemble::save_state, load_state)
// is every device array that carries state from one iteration to the next
// or into result(), copied to the host and written in the CPU ensemble's
// layout. The host-driven optimizers (saddle-free-newton, annealing) have no
// device ensemble: src/core/host_optimizers.cpp steps them through this
// backend's value_grad / hessian / eigh, and make_ensemble refuses them.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/pspin.hpp"
#include "saddlescope/ensemble_state.hpp"
#include "saddlescope/experiment.hpp"
#include "src/cuda/common.cuh"
#include "src/cuda/ensemble.cuh"
#include "src/cuda/objectives.cuh"

namespace saddlescope::cuda_detail {
namespace {

constexpr int kMaxGridY = 65535;

// The three plateau point buffers [count, n] of an ensemble, indexed by the
// roles of each trajectory's PlateauState (kernels/plateau.hpp); all null
// unless the points are kept.
template <class T>
struct PlateauBuffers {
  T* buf[3];
};

// Fused pass of iteration t: blockIdx.x is a slice of coordinates, blockIdx.y
// (grid-stride) a trajectory. Stopped trajectories are skipped block-wide, so
// the branch is uniform and block_sum's barriers are safe. A trajectory's
// PlateauState is read here (save flag, role of the current-run buffer) and
// written only by the previous iteration's end_iteration_kernel, so the read
// is race free. `first`: the chunk's global first trajectory, which keys the
// optimizer's noise through the global coordinate (first + b) * n + i.
template <class T>
__global__ void fused_step_kernel(LocalObjective<T> obj, OptimizerParams opt, StepScalars sc,
                                  bool update, const T* xcur, const T* g, T* xnext, T* s1, T* s2,
                                  const std::int8_t* outcome, const PlateauState* plateau,
                                  PlateauBuffers<T> pbuf, IterationSums* partials,
                                  std::int64_t count, std::int64_t n, std::int64_t first,
                                  std::int64_t slice_len) {
  __shared__ double sh[96];
  const std::int64_t begin = blockIdx.x * slice_len;
  const std::int64_t end = begin + slice_len < n ? begin + slice_len : n;
  for (std::int64_t b = blockIdx.y; b < count; b += gridDim.y) {
    if (outcome[b] != kRunning) continue;
    const std::int64_t off = b * n;
    T* save = nullptr;
    if (pbuf.buf[0] && plateau[b].save) save = pbuf.buf[plateau[b].role[0]] + off;
    const auto row_coord = static_cast<std::uint64_t>((first + b) * n);
    IterationSums acc;
    for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
      fused_element(obj, opt, sc, update, xcur + off, g ? g + off : nullptr, xnext + off,
                    s1 ? s1 + off : nullptr, s2 ? s2 + off : nullptr, i, acc, save, row_coord);
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0) partials[b * gridDim.x + blockIdx.x] = acc;
  }
}

// End of iteration t: thread = trajectory; partials summed in slice order,
// then the per-trajectory value from the GEMM pass (f_rows: gaussian-field,
// the networks and the p-spin, else null) added, as the CPU backend adds it
// after its fused pass. The trajectory's plateau state is advanced (and its
// target step recorded) by end_iteration; perturbed-gd (last_perturb and
// perturb_now not null) then decides whether x_{t+1} is perturbed at the
// start of iteration t + 1. Only trajectories running at the start of
// iteration t (those whose fused pass ran) are touched, as on the CPU.
template <class T>
__global__ void end_iteration_kernel(StopRule stop, TrajectoryRecords<T> rec,
                                     const IterationSums* partials, std::int64_t nslices,
                                     const double* f_rows, const T* xcur, PlateauState* plateau,
                                     PlateauRule prule, OptimizerParams opt,
                                     std::int64_t* last_perturb, std::int8_t* perturb_now,
                                     std::int64_t count, std::int64_t n, std::int64_t t) {
  for (std::int64_t b = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; b < count;
       b += std::int64_t(gridDim.x) * blockDim.x) {
    if (rec.outcome[b] != kRunning) continue;
    const IterationSums* p = partials + b * nslices;
    IterationSums s = p[0];
    for (std::int64_t k = 1; k < nslices; ++k) s.add(p[k]);
    if (f_rows) s.f += f_rows[b];  // per-trajectory value (gaussian field, networks, p-spin)
    end_iteration(stop, rec, n, b, t, s, xcur + b * n, plateau, prule);
    if (perturb_now) perturb_now[b] = perturb_due(opt, t, sqrt(s.gsq), last_perturb[b]);
  }
}

// perturbed-gd, start of iteration t: thread = trajectory; the running rows
// marked at the end of iteration t - 1 get a uniform point of the radius-r
// ball added to x_t (kernels/optimizers.hpp), keyed by the global trajectory
// first + b and the step t, before anything reads x_t.
template <class T>
__global__ void perturb_rows_kernel(OptimizerParams opt, T* x, const std::int8_t* perturb_now,
                                    const std::int8_t* outcome, std::int64_t count, std::int64_t n,
                                    std::int64_t first, std::int64_t t) {
  for (std::int64_t b = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; b < count;
       b += std::int64_t(gridDim.x) * blockDim.x)
    if (perturb_now[b] && outcome[b] == kRunning)
      perturb_row(opt, n, x + b * n, static_cast<std::uint64_t>(first + b), t);
}

__global__ void count_running_kernel(const std::int8_t* outcome, std::int64_t count,
                                     unsigned long long* total) {
  unsigned long long mine = 0;
  for (std::int64_t b = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; b < count;
       b += std::int64_t(gridDim.x) * blockDim.x)
    mine += outcome[b] == kRunning;
  if (mine) atomicAdd(total, mine);  // integer sum: order does not matter
}

// Rows whose final point lies in buffer 1 (odd steps) are copied into buffer
// 0, so that buffer 0 holds every final point. Safe to repeat, and harmless to
// later iterations: stopped rows are never read again, and running rows
// (steps == 0) are not touched.
template <class T>
__global__ void gather_finals_kernel(T* x0, const T* x1, const std::int64_t* steps,
                                     std::int64_t count, std::int64_t n) {
  const std::int64_t len = count * n;
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x)
    if (steps[k / n] % 2 == 1) x0[k] = x1[k];
}

// The retraction x <- sqrt(N) x / |x| of the rows still running (of every row
// when outcome is null), x [rows, n].
template <class T>
__global__ void sphere_retract_kernel(T* x, const std::int8_t* outcome, std::int64_t rows,
                                      std::int64_t n) {
  for (std::int64_t r = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; r < rows;
       r += std::int64_t(gridDim.x) * blockDim.x)
    if (!outcome || outcome[r] == kRunning) sphere_retract(n, x + r * n);
}

// ---------------------------------------------------------------------------
// Ensemble.

// Layout of the fused step: a power-of-two block of 32..256 threads, each
// thread taking up to kPerThread coordinates of its slice. The layout depends
// on n only, so the reduction order is the same on every run.
constexpr std::int64_t kPerThread = 4;
constexpr std::int64_t kMaxStepThreads = 256;

template <class T>
class CudaEnsemble final : public Ensemble {
 public:
  explicit CudaEnsemble(const EnsembleSpec& s)
      : spec_(s), obj_(*s.objective), n_(s.objective->dim), count_(s.count) {
    require(count_ >= 0, "negative trajectory count");
    require(s.record_count >= 0 && s.record_count <= count_, "record_count outside [0, count]");
    require(s.record_every > 0 && s.records >= 1, "bad record layout");
    threads_ = 32;
    while (threads_ < kMaxStepThreads && threads_ * kPerThread < n_) threads_ *= 2;
    const std::int64_t slice = threads_ * kPerThread;
    nslices_ = std::max<std::int64_t>(1, (n_ + slice - 1) / slice);

    const std::size_t len = checked_size(count_, n_);
    const std::size_t cnt = checked_size(count_);
    x_[0] = DeviceArray<T>(len);
    x_[1] = DeviceArray<T>(len);
    const int states = s.optimizer.state_count();
    if (states >= 1) s1_ = DeviceArray<T>(len);
    if (states >= 2) s2_ = DeviceArray<T>(len);
    if (obj_.view.coupled) {
      g_ = DeviceArray<T>(len);
      // objective.tf32 (f32 only): this ensemble's GEMMs may use TF32 tensor
      // cores; its handle is its own, so nothing else changes mode.
      cublas_ = std::make_unique<CublasHandle>(use_tf32<T>(*s.objective));
    }
    // Work space and values per trajectory: gaussian-field M T + 8 bytes
    // (budgeted by the memory plan); mlp (2 n h + n o) T + 8 bytes (H, dH,
    // out); deep-linear 2 n (d_1 + ... + d_L) T + 8 bytes (Z_l and dZ_l,
    // l = 1 .. L; not yet budgeted by the memory plan); p-spin 8 bytes, and
    // for p = 3 one fixed [block, N^2] contraction block of at most
    // kPspinWorkElements elements for the whole chunk (budgeted by the memory
    // plan with the objective data).
    if (obj_.row_values()) {
      z_ = DeviceArray<T>(obj_.work_elements(count_));
      f_rows_ = DeviceArray<double>(cnt);
    }
    partials_ = DeviceArray<IterationSums>(cnt * static_cast<std::size_t>(nslices_));
    outcome_ = DeviceArray<std::int8_t>(cnt);
    steps_ = DeviceArray<std::int64_t>(cnt);
    f_init_ = DeviceArray<double>(cnt);
    f_final_ = DeviceArray<double>(cnt);
    gnorm_final_ = DeviceArray<double>(cnt);
    curves_ = DeviceArray<float>(checked_size(s.record_count, s.records) * 2);
    if (s.record_paths) paths_ = DeviceArray<T>(checked_size(s.record_count, s.records) * n_);
    running_ = DeviceArray<unsigned long long>(1);
    // Plateau detection (always on): one state per trajectory; the three
    // plateau point buffers only when the points are kept (census of
    // "plateaus"); perturbed-gd's schedule only for perturbed-gd.
    plateau_ = DeviceArray<PlateauState>(cnt);
    plateau_.upload(std::vector<PlateauState>(cnt, PlateauState{}));
    if (s.keep_plateau_points)
      for (auto& buf : pbuf_) buf = DeviceArray<T>(len);
    if (s.optimizer.kind == OptimizerKind::perturbed_gd) {
      last_perturb_ = DeviceArray<std::int64_t>(cnt);
      perturb_now_ = DeviceArray<std::int8_t>(cnt);
    }

    // Same initial state as the CPU backend.
    fill(x_[0], T(0));
    fill(x_[1], T(0));
    fill(s1_, static_cast<T>(s.optimizer.initial_s1()));
    fill(s2_, T(0));
    fill(outcome_, static_cast<std::int8_t>(kRunning));
    fill(steps_, std::int64_t(0));
    const double nan = std::numeric_limits<double>::quiet_NaN();
    fill(f_init_, nan);
    fill(f_final_, nan);
    fill(gnorm_final_, nan);
    fill(curves_, std::numeric_limits<float>::quiet_NaN());
    fill(paths_, std::numeric_limits<T>::quiet_NaN());
    for (auto& buf : pbuf_) fill(buf, std::numeric_limits<T>::quiet_NaN());
    fill(last_perturb_, std::int64_t(-1));
    fill(perturb_now_, std::int8_t(0));
  }

  void set_starts(const std::vector<double>& x0) override { x_[0].upload(convert<T>(x0)); }

  void iterate(std::int64_t t) override {
    if (count_ == 0) return;
    const bool update = t < spec_.stop.max_steps;
    const StepScalars sc = scalars_.at(t + 1);
    const T* xc = x_[t % 2].get();
    T* xn = x_[(t + 1) % 2].get();
    // perturbed-gd: the running rows marked at the end of iteration t - 1
    // are perturbed first, as the CPU backend does (before the retraction and
    // the GEMM pass, so that everything of iteration t sees the perturbed x_t).
    if (!perturb_now_.empty()) {
      perturb_rows_kernel<T><<<flat_blocks(count_), kFlatThreads>>>(
          spec_.optimizer, x_[t % 2].get(), perturb_now_.get(), outcome_.get(), count_, n_,
          spec_.first, t);
      SS_LAUNCHED("perturb_rows_kernel");
    }
    // On the sphere (p-spin) the running rows of x_t are then retracted onto
    // |x|^2 = N, as the CPU backend does: the value, gradient, step and
    // records of iteration t are all taken at the retracted point.
    if (obj_.pspin()) {
      sphere_retract_kernel<T>
          <<<flat_blocks(count_), kFlatThreads>>>(x_[t % 2].get(), outcome_.get(), count_, n_);
      SS_LAUNCHED("sphere_retract_kernel");
    }
    // G rows (and field values) of stopped trajectories are computed too:
    // cheaper than compacting, and never read.
    if (obj_.view.coupled)
      obj_.coupled_value_grad(cublas_->get(), count_, xc, g_.get(), f_rows_.get(), z_.get());

    const dim3 grid(static_cast<unsigned>(nslices_),
                    static_cast<unsigned>(std::min<std::int64_t>(count_, kMaxGridY)));
    const PlateauBuffers<T> pbuf{{pbuf_[0].get(), pbuf_[1].get(), pbuf_[2].get()}};
    fused_step_kernel<T><<<grid, static_cast<unsigned>(threads_)>>>(
        obj_.view, spec_.optimizer, sc, update, xc, g_.get(), xn, s1_.get(), s2_.get(),
        outcome_.get(), plateau_.get(), pbuf, partials_.get(), count_, n_, spec_.first,
        threads_ * kPerThread);
    SS_LAUNCHED("fused_step_kernel");

    end_iteration_kernel<T><<<flat_blocks(count_), kFlatThreads>>>(
        spec_.stop, records(), partials_.get(), nslices_, f_rows_.get(), xc, plateau_.get(),
        spec_.plateau, spec_.optimizer, last_perturb_.get(), perturb_now_.get(), count_, n_, t);
    SS_LAUNCHED("end_iteration_kernel");
  }

  std::int64_t running() override {
    if (count_ == 0) return 0;
    SS_CUDA(cudaMemset(running_.get(), 0, sizeof(unsigned long long)));
    count_running_kernel<<<flat_blocks(count_), kFlatThreads>>>(outcome_.get(), count_,
                                                                running_.get());
    SS_LAUNCHED("count_running_kernel");
    return static_cast<std::int64_t>(running_.download()[0]);
  }

  // Checkpoints: the schema of include/saddlescope/ensemble_state.hpp, the
  // same bytes a CPU ensemble of the same state saves. The device array of
  // each part of the state, in the ensemble's precision T where the arrays
  // are in T:
  //   x_[0], x_[1]   x_{t+1} of the running rows is in x_[(t + 1) % 2], and a
  //                  stopped row's final point in x_[steps % 2], either one.
  //                  After a result(want_finals) x_[0] also holds the gathered
  //                  finals; the gather touches stopped rows only (running
  //                  rows have steps 0), which are never read again, so the
  //                  buffers are saved as they are;
  //   s1_, s2_       the optimizer's states (empty when it has none);
  //   outcome_ .. curves_, paths_  the records (outcome, steps, f_init,
  //                  f_final, gnorm_final, curves, paths);
  //   plateau_       each trajectory's PlateauState: the plateau bookkeeping,
  //                  the target step, the buffer roles and the save flag the
  //                  next fused step reads;
  //   pbuf_          the three plateau point buffers;
  //   last_perturb_, perturb_now_  perturbed-gd's schedule and the rows the
  //                  next iteration perturbs first (empty otherwise).
  // Not saved, because each iteration writes them before reading them: g_
  // (the coupled gradient rows), z_ and f_rows_ (the GEMM pass's work space
  // and values per trajectory), partials_ (written by the fused step, read by
  // the status kernel of the same iteration); running_, zeroed by every
  // running(). threads_ and nslices_ are functions of n; the objective's
  // device data and the cuBLAS handle are built from the spec; the step
  // scalars and the noise are functions of t, which iterate() is given.
  template <class F>
  void with_device_arrays(EnsembleState<T>& s, F&& f) {
    f(s.x[0], x_[0]);
    f(s.x[1], x_[1]);
    f(s.s1, s1_);
    f(s.s2, s2_);
    f(s.track.outcome, outcome_);
    f(s.track.steps, steps_);
    f(s.track.f_init, f_init_);
    f(s.track.f_final, f_final_);
    f(s.track.gnorm_final, gnorm_final_);
    f(s.track.curves, curves_);
    f(s.track.paths, paths_);
    f(s.track.plateau, plateau_);
    for (int k = 0; k < 3; ++k) f(s.track.pbuf[k], pbuf_[k]);
    f(s.last_perturb, last_perturb_);
    f(s.perturb_now, perturb_now_);
  }

  std::vector<std::uint8_t> save_state() override {
    // Synchronous copies on the default stream: they wait for the last iterate().
    EnsembleState<T> s(count_, n_);
    with_device_arrays(s, [](auto& v, const auto& a) { v = a.download(); });
    return s.bytes();
  }

  // Everything is read and checked before anything is uploaded, so a refused
  // state leaves the ensemble as it was.
  void load_state(const std::vector<std::uint8_t>& state) override {
    EnsembleState<T> s(count_, n_);
    std::map<const void*, std::size_t> size_of;  // each part's device size
    with_device_arrays(s, [&size_of](auto& v, const auto& a) { size_of[&v] = a.size(); });
    std::vector<std::size_t> want;
    s.each([&](const auto& v) { want.push_back(size_of.at(&v)); });
    s.read(state, "checkpoint (cuda ensemble)", want);
    with_device_arrays(s, [](auto& v, auto& a) { a.upload(v); });
  }

  EnsembleResult result(bool want_finals) override {
    EnsembleResult r;
    r.outcome = outcome_.download();
    r.steps = steps_.download();
    r.f_init = f_init_.download();
    r.f_final = f_final_.download();
    r.gnorm_final = gnorm_final_.download();
    r.curves = curves_.download();
    r.paths = to_double(paths_.download());
    const std::vector<PlateauState> states = plateau_.download();
    plateau_results(states, r);
    if (!pbuf_[0].empty()) {
      // Row b from the buffer in the kept role of trajectory b, one buffer
      // downloaded at a time.
      r.plateau_points.resize(checked_size(count_, n_));
      for (int k = 0; k < 3; ++k) {
        const std::vector<T> buf = pbuf_[k].download();
        for (std::int64_t b = 0; b < count_; ++b)
          if (states[b].role[2] == k)
            for (std::int64_t i = 0; i < n_; ++i)
              r.plateau_points[b * n_ + i] = static_cast<double>(buf[b * n_ + i]);
      }
    }
    if (want_finals && !x_[0].empty()) {
      gather_finals_kernel<T><<<flat_blocks(count_ * n_), kFlatThreads>>>(x_[0].get(), x_[1].get(),
                                                                          steps_.get(), count_, n_);
      SS_LAUNCHED("gather_finals_kernel");
      r.finals = to_double(x_[0].download());
    }
    return r;
  }

 private:
  TrajectoryRecords<T> records() const {
    return {outcome_.get(), steps_.get(), f_init_.get(),      f_final_.get(), gnorm_final_.get(),
            curves_.get(),  paths_.get(), spec_.record_count, spec_.records,  spec_.record_every};
  }

  EnsembleSpec spec_;
  StepScalarSequence scalars_{spec_.optimizer};  // each step's scalars from the last (nadam)
  DeviceObjective<T> obj_;
  std::int64_t n_, count_;
  std::int64_t threads_ = 32, nslices_ = 1;
  std::unique_ptr<CublasHandle> cublas_;  // only for coupled objectives
  DeviceArray<T> x_[2], s1_, s2_, g_, paths_;
  DeviceArray<T> z_;            // field / networks / p-spin: work_elements(count) work space
  DeviceArray<double> f_rows_;  // field / networks / p-spin: value per trajectory [count]
  DeviceArray<IterationSums> partials_;  // [count, nslices]
  DeviceArray<std::int8_t> outcome_;
  DeviceArray<std::int64_t> steps_;
  DeviceArray<double> f_init_, f_final_, gnorm_final_;
  DeviceArray<float> curves_;
  DeviceArray<unsigned long long> running_;
  DeviceArray<PlateauState> plateau_;       // [count]
  DeviceArray<T> pbuf_[3];                  // plateau point buffers [count, n], when kept
  DeviceArray<std::int64_t> last_perturb_;  // perturbed-gd: iteration of the last perturbation
  DeviceArray<std::int8_t> perturb_now_;    // perturbed-gd: perturb x_{t+1} at iteration t + 1
};

}  // namespace

std::unique_ptr<Ensemble> make_cuda_ensemble(const EnsembleSpec& s) {
  require(s.objective != nullptr, "ensemble without an objective");
  const OptimizerKind k = s.optimizer.kind;
  if (host_driven(k))
    throw BackendError(std::string("cuda backend: ") + optimizer_kind_name(k) +
                       " is a host-driven optimizer with no device ensemble; it runs through "
                       "make_host_ensemble, which steps it with this backend's value_grad, "
                       "hessian and eigh");
  if (s.precision == Precision::f32) return std::make_unique<CudaEnsemble<float>>(s);
  return std::make_unique<CudaEnsemble<double>>(s);
}

}  // namespace saddlescope::cuda_detail
