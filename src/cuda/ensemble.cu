// The CUDA backend's ensemble (src/cuda/ensemble.cuh).
//
// One descent iteration runs on the default stream with no host
// synchronization: on the sphere (p-spin) a kernel retracting the running
// trajectories onto |x|^2 = N (block = trajectory); for coupled objectives
// the active-set compaction (a one-block kernel numbering the running
// trajectories in order, a kernel packing their rows) and the GEMM pass on
// the packed rows, in whole row tiles (src/cuda/objectives.cuh, kRowTile;
// rotated quadratic: G = X A; gaussian-field: Z = X W^T, an epilogue kernel
// that forms the per-trajectory values F and the gradient weights S, then
// G = mu X + S W; the networks: the forward and backward pass of
// every trajectory as strided-batched GEMMs over tiles of trajectories
// around small kernels, giving F and G; p-spin: G_E = X A (p = 2), or per
// contraction tile Y = X T^T and the products Y_r x_r as a strided-batched
// GEMM (p = 3), then an epilogue kernel giving the energies F and the
// Riemannian gradients G, kernels/pspin.hpp), a fused step kernel (block =
// one slice of one trajectory's coordinates, each block writing one partial
// IterationSums and, at a recorded iteration, its slice of the path), and a
// status kernel (thread = one trajectory) that sums the partials in slice
// order, adds F and ends the iteration (outcome, records, plateau state,
// kernels/plateau.hpp, and perturbed-gd's schedule). For perturbed-gd a
// kernel (block = trajectory) first perturbs the rows of x_t marked at the
// end of the previous iteration, before the retraction. The plateau points,
// when kept, are copied by the fused step into three role buffers, as on
// the CPU. The optimizer noise (langevin, perturbed-gd) is keyed by global
// trajectory and coordinate indices, so it does not depend on the chunking
// or the backend. Every reduction has a fixed order and a row's GEMM results
// do not depend on the other rows evaluated with it, so a run is bitwise
// reproducible and independent of the chunking and of which trajectories
// are still running.
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
// optimizer's noise through the global coordinate (first + b) * n + i. The
// coupled gradient of trajectory b is row gpos[b] of the packed rows g
// (active-set compaction). At a recorded iteration the block also copies
// its slice of x_t into the trajectory's path (end_iteration is called with
// no paths, so that no thread walks a whole row).
template <class T>
__global__ void fused_step_kernel(LocalObjective<T> obj, OptimizerParams opt, StepScalars sc,
                                  bool update, const T* xcur, const T* g, const std::int64_t* gpos,
                                  T* xnext, T* s1, T* s2, const std::int8_t* outcome,
                                  const PlateauState* plateau, PlateauBuffers<T> pbuf,
                                  IterationSums* partials, TrajectoryRecords<T> rec,
                                  std::int64_t count, std::int64_t n, std::int64_t first,
                                  std::int64_t slice_len, std::int64_t t) {
  __shared__ double sh[96];
  const std::int64_t begin = blockIdx.x * slice_len;
  const std::int64_t end = begin + slice_len < n ? begin + slice_len : n;
  const bool record = rec.paths && t % rec.record_every == 0;
  for (std::int64_t b = blockIdx.y; b < count; b += gridDim.y) {
    if (outcome[b] != kRunning) continue;
    const std::int64_t off = b * n;
    T* save = nullptr;
    if (pbuf.buf[0] && plateau[b].save) save = pbuf.buf[plateau[b].role[0]] + off;
    const auto row_coord = static_cast<std::uint64_t>((first + b) * n);
    const T* grow = g ? g + gpos[b] * n : nullptr;
    IterationSums acc;
    for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
      fused_element(obj, opt, sc, update, xcur + off, grow, xnext + off, s1 ? s1 + off : nullptr,
                    s2 ? s2 + off : nullptr, i, acc, save, row_coord);
    if (record && b < rec.record_count) {  // the path of end_iteration (kernels/trajectory.hpp)
      T* path = rec.paths + (b * rec.records + t / rec.record_every) * n;
      for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) path[i] = xcur[off + i];
    }
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0) partials[b * gridDim.x + blockIdx.x] = acc;
  }
}

// End of iteration t: thread = trajectory; partials summed in slice order,
// then the per-trajectory value from the GEMM pass (f_rows, packed row
// fpos[b]: gaussian-field, the networks and the p-spin, else null) added, as
// the CPU backend adds it after its fused pass, and a classifier's accuracy
// (acc_rows, else null) set. rec has no paths (the fused
// step records them). The trajectory's plateau state is advanced (and its
// target step recorded) by end_iteration; perturbed-gd (last_perturb and
// perturb_now not null) then decides whether x_{t+1} is perturbed at the
// start of iteration t + 1. Only trajectories running at the start of
// iteration t (those whose fused pass ran) are touched, as on the CPU.
template <class T>
__global__ void end_iteration_kernel(StopRule stop, TrajectoryRecords<T> rec,
                                     const IterationSums* partials, std::int64_t nslices,
                                     const double* f_rows, const double* acc_rows,
                                     const std::int64_t* fpos, const T* xcur, PlateauState* plateau,
                                     PlateauRule prule, OptimizerParams opt,
                                     std::int64_t* last_perturb, std::int8_t* perturb_now,
                                     std::int64_t count, std::int64_t n, std::int64_t t) {
  for (std::int64_t b = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; b < count;
       b += std::int64_t(gridDim.x) * blockDim.x) {
    if (rec.outcome[b] != kRunning) continue;
    const IterationSums* p = partials + b * nslices;
    IterationSums s = p[0];
    for (std::int64_t k = 1; k < nslices; ++k) s.add(p[k]);
    if (f_rows) s.f += f_rows[fpos[b]];            // per-trajectory value (field, networks, p-spin)
    if (acc_rows) s.accuracy = acc_rows[fpos[b]];  // a classifier's training accuracy
    end_iteration(stop, rec, n, b, t, s, xcur + b * n, plateau, prule);
    if (perturb_now) perturb_now[b] = perturb_due(opt, t, sqrt(s.gsq), last_perturb[b]);
  }
}

// perturbed-gd, start of iteration t: block = trajectory (grid-stride); the
// running rows marked at the end of iteration t - 1 get a uniform point of
// the radius-r ball added to x_t (kernels/optimizers/perturbed_gd.hpp:
// perturb_row's parts), keyed by the global trajectory first + b and the
// step t, before anything reads x_t. The threads draw the coordinates'
// normals, |z|^2 is summed by block_sums (a fixed order, not perturb_row's
// index order: the factor may differ from the CPU's in its last bits), and
// the normals are drawn again (the same values) for the update.
template <class T>
__global__ void perturb_rows_kernel(OptimizerParams opt, T* x, const std::int8_t* perturb_now,
                                    const std::int8_t* outcome, std::int64_t count, std::int64_t n,
                                    std::int64_t first, std::int64_t t) {
  __shared__ double sh[32];
  for (std::int64_t b = blockIdx.x; b < count; b += gridDim.x) {
    if (!perturb_now[b] || outcome[b] != kRunning) continue;  // uniform per block
    const auto trajectory = static_cast<std::uint64_t>(first + b);
    double zz[1] = {0};
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const double z = perturb_normal(opt, n, trajectory, t, i);
      zz[0] += z * z;
    }
    block_sums(zz, sh);
    const double scale = perturb_scale(opt, n, trajectory, t, zz[0]);
    T* xr = x + b * n;
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x)
      xr[i] = static_cast<T>(xr[i] + scale * perturb_normal(opt, n, trajectory, t, i));
  }
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
// (steps == 0) are not touched. blockIdx.y a row (row_grid).
template <class T>
__global__ void gather_finals_kernel(T* x0, const T* x1, const std::int64_t* steps,
                                     std::int64_t count, std::int64_t n) {
  for (std::int64_t b = blockIdx.y; b < count; b += gridDim.y) {
    if (steps[b] % 2 != 1) continue;
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x)
      x0[b * n + i] = x1[b * n + i];
  }
}

// The retraction x <- sqrt(N) x / |x| of the rows still running (of every row
// when outcome is null), x [rows, n]; block = row, |x|^2 by block_sums (a
// fixed order; kernels/pspin.hpp's sphere_retract sums in index order).
template <class T>
__global__ void sphere_retract_kernel(T* x, const std::int8_t* outcome, std::int64_t rows,
                                      std::int64_t n) {
  __shared__ double sh[32];
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    if (outcome && outcome[r] != kRunning) continue;  // uniform per block
    T* xr = x + r * n;
    double xx[1] = {0};
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x)
      xx[0] += static_cast<double>(xr[i]) * static_cast<double>(xr[i]);
    block_sums(xx, sh);
    const double scale = sphere_retract_scale(n, xx[0]);
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x)
      xr[i] = static_cast<T>(xr[i] * scale);
  }
}

// Active-set compaction (docs/design.md II.4), one block of kCompactThreads
// threads: thread k takes the trajectories [k s, (k + 1) s), s = count /
// threads rounded up, and counts its running ones; an exclusive scan of the
// counts gives its first packed row; a second walk writes pos[b] (the packed
// row of running trajectory b) and idx[q] (the trajectory of packed row q),
// in trajectory order; active = the running count. Integer sums: the result
// does not depend on the order.
constexpr int kCompactThreads = 1024;

__global__ void compact_kernel(const std::int8_t* outcome, std::int64_t count, std::int64_t* pos,
                               std::int64_t* idx, std::int64_t* active) {
  __shared__ std::int64_t sh[kCompactThreads];
  const std::int64_t seg = (count + blockDim.x - 1) / blockDim.x;
  const std::int64_t b0 = threadIdx.x * seg, b1 = b0 + seg < count ? b0 + seg : count;
  std::int64_t mine = 0;
  for (std::int64_t b = b0; b < b1; ++b) mine += outcome[b] == kRunning;
  sh[threadIdx.x] = mine;
  __syncthreads();
  for (unsigned off = 1; off < blockDim.x; off <<= 1) {  // inclusive scan
    const std::int64_t v = threadIdx.x >= off ? sh[threadIdx.x - off] : 0;
    __syncthreads();
    sh[threadIdx.x] += v;
    __syncthreads();
  }
  std::int64_t q = sh[threadIdx.x] - mine;
  for (std::int64_t b = b0; b < b1; ++b)
    if (outcome[b] == kRunning) {
      pos[b] = q;
      idx[q++] = b;
    }
  if (threadIdx.x == blockDim.x - 1) *active = sh[threadIdx.x];
}

// Packed rows q < rows of xa [rows, n]: row idx[q] of x for q < *active, zero
// rows after them (the padding the row tiles read). blockIdx.y a row.
template <class T>
__global__ void gather_rows_kernel(const T* x, T* xa, const std::int64_t* idx,
                                   const std::int64_t* active, std::int64_t rows, std::int64_t n) {
  const std::int64_t act = *active;
  for (std::int64_t q = blockIdx.y; q < rows; q += gridDim.y) {
    const T* src = q < act ? x + idx[q] * n : nullptr;
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x)
      xa[q * n + i] = src ? src[i] : T(0);
  }
}

// A host copy of one device count, fetched without waiting: fetch() queues
// the copy into pinned memory and an event after it; poll() returns true
// and the value once the event has completed (false while it is pending or
// when nothing was queued). The value is the count at the time of the
// copy, which for the running trajectories is an upper bound of every later
// count.
class AsyncCount {
 public:
  AsyncCount() {
    SS_CUDA(cudaMallocHost(reinterpret_cast<void**>(&host_), sizeof(std::int64_t)));
    const cudaError_t err = cudaEventCreateWithFlags(&event_, cudaEventDisableTiming);
    if (err != cudaSuccess) {
      cuda_log(cudaFreeHost(host_), "cudaFreeHost");
      SS_CUDA(err);
    }
  }
  AsyncCount(const AsyncCount&) = delete;
  AsyncCount& operator=(const AsyncCount&) = delete;
  ~AsyncCount() {
    cuda_log(cudaEventDestroy(event_), "cudaEventDestroy");
    cuda_log(cudaFreeHost(host_), "cudaFreeHost");
  }
  void fetch(const std::int64_t* device) {
    SS_CUDA(cudaMemcpyAsync(host_, device, sizeof(std::int64_t), cudaMemcpyDeviceToHost, 0));
    SS_CUDA(cudaEventRecord(event_, 0));
    pending_ = true;
  }
  bool poll(std::int64_t& value) {
    if (!pending_) return false;
    const cudaError_t err = cudaEventQuery(event_);
    if (err == cudaErrorNotReady) return false;
    SS_CUDA(err);
    pending_ = false;
    value = *host_;
    return true;
  }
  void forget() { pending_ = false; }
  bool pending() const { return pending_; }

 private:
  std::int64_t* host_ = nullptr;
  cudaEvent_t event_ = nullptr;
  bool pending_ = false;
};

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
      // The coupled pass runs on the running rows packed in order (x_packed_,
      // g_): tiled_rows(count) rows, so that its row tiles never read past
      // them. The packed x is the one array per trajectory the memory plan
      // does not list; it fits within the plan's 8 bytes per coordinate of
      // host staging, which the device does not use.
      const std::size_t packed = checked_size(tiled_rows(count_), n_);
      x_packed_ = DeviceArray<T>(packed);
      g_ = DeviceArray<T>(packed);
      pos_ = DeviceArray<std::int64_t>(cnt);
      idx_ = DeviceArray<std::int64_t>(checked_size(tiled_rows(count_)));
      active_ = DeviceArray<std::int64_t>(1);
      active_count_ = std::make_unique<AsyncCount>();
      // objective.tf32 (f32 only): this ensemble's GEMMs may use TF32 tensor
      // cores; its handle is its own, so nothing else changes mode.
      cublas_ = std::make_unique<CublasHandle>(use_tf32<T>(*s.objective));
    }
    // Work space and values per packed row: gaussian-field M T + 8 bytes
    // (budgeted by the memory plan); the networks their work row
    // (kernels/network.hpp) T + 8 bytes (budgeted); p-spin 8 bytes, and
    // for p = 3 one fixed [tile, N^2] contraction block of at most
    // kPspinWorkElements elements (and four [tile, N] staging blocks) for the
    // whole chunk (budgeted by the memory plan with the objective data).
    if (obj_.row_values()) {
      z_ = DeviceArray<T>(obj_.work_elements(count_));
      f_rows_ = DeviceArray<double>(checked_size(tiled_rows(count_)));
    }
    if (s.objective->classifies()) {  // a classifier's accuracy per packed row, and at the end
      acc_rows_ = DeviceArray<double>(checked_size(tiled_rows(count_)));
      accuracy_final_ = DeviceArray<double>(cnt);
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
    fill(accuracy_final_, nan);
    fill(acc_rows_, 0.0);
    fill(curves_, std::numeric_limits<float>::quiet_NaN());
    fill(paths_, std::numeric_limits<T>::quiet_NaN());
    for (auto& buf : pbuf_) fill(buf, std::numeric_limits<T>::quiet_NaN());
    fill(last_perturb_, std::int64_t(-1));
    fill(perturb_now_, std::int8_t(0));
    fill(x_packed_, T(0));
    fill(g_, T(0));
    fill(z_, T(0));
    fill(f_rows_, 0.0);
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
      perturb_rows_kernel<T><<<row_blocks(count_), kFlatThreads>>>(
          spec_.optimizer, x_[t % 2].get(), perturb_now_.get(), outcome_.get(), count_, n_,
          spec_.first, t);
      SS_LAUNCHED("perturb_rows_kernel");
    }
    // On the sphere (p-spin) the running rows of x_t are then retracted onto
    // |x|^2 = N, as the CPU backend does: the value, gradient, step and
    // records of iteration t are all taken at the retracted point.
    if (obj_.pspin()) {
      sphere_retract_kernel<T>
          <<<row_blocks(count_), kFlatThreads>>>(x_[t % 2].get(), outcome_.get(), count_, n_);
      SS_LAUNCHED("sphere_retract_kernel");
    }
    if (obj_.view.coupled) coupled_value_grad_running(xc);

    const dim3 grid(static_cast<unsigned>(nslices_),
                    static_cast<unsigned>(std::min<std::int64_t>(count_, kMaxGridY)));
    const PlateauBuffers<T> pbuf{{pbuf_[0].get(), pbuf_[1].get(), pbuf_[2].get()}};
    fused_step_kernel<T><<<grid, static_cast<unsigned>(threads_)>>>(
        obj_.view, spec_.optimizer, sc, update, xc, g_.get(), pos_.get(), xn, s1_.get(), s2_.get(),
        outcome_.get(), plateau_.get(), pbuf, partials_.get(), records(), count_, n_, spec_.first,
        threads_ * kPerThread, t);
    SS_LAUNCHED("fused_step_kernel");

    TrajectoryRecords<T> rec = records();
    rec.paths = nullptr;  // recorded by the fused step
    end_iteration_kernel<T><<<flat_blocks(count_), kFlatThreads>>>(
        spec_.stop, rec, partials_.get(), nslices_, f_rows_.get(), acc_rows_.get(), pos_.get(), xc,
        plateau_.get(), spec_.plateau, spec_.optimizer, last_perturb_.get(), perturb_now_.get(),
        count_, n_, t);
    SS_LAUNCHED("end_iteration_kernel");
  }

  // The coupled evaluation (GEMMs, network passes) of the running rows, as
  // the CPU ensemble's coupled_value_grad_running (active-set compaction,
  // docs/design.md II.4), on the device and without waiting for it: the
  // compaction kernel numbers the running trajectories in order (pos_, idx_,
  // active_), the gather kernel packs their rows of x_t into x_packed_
  // (zero rows after them), the pass evaluates the packed rows into g_ and
  // f_rows_, and the fused step and status kernel read trajectory b's row
  // pos_[b]. The host does not know the running count without waiting, so
  // the pass covers bound_ rows, an upper bound: the last count the host
  // has seen (running(), or the compaction's count copied back
  // asynchronously and picked up once it has arrived); packed rows beyond
  // the running ones are zero and their results never read. A row's results
  // do not depend on how many rows the pass covers nor on its packed
  // position (whole row tiles: objectives.cuh, kRowTile), so they are the
  // same bits as without compaction and in any chunk.
  void coupled_value_grad_running(const T* xc) {
    std::int64_t seen = 0;
    if (active_count_->poll(seen)) bound_ = std::min(bound_, seen);
    compact_kernel<<<1, kCompactThreads>>>(outcome_.get(), count_, pos_.get(), idx_.get(),
                                           active_.get());
    SS_LAUNCHED("compact_kernel");
    if (!active_count_->pending()) active_count_->fetch(active_.get());
    if (bound_ == 0) return;
    const std::int64_t rows = tiled_rows(bound_);
    gather_rows_kernel<T><<<row_grid(rows, n_), row_threads(n_)>>>(xc, x_packed_.get(), idx_.get(),
                                                                   active_.get(), rows, n_);
    SS_LAUNCHED("gather_rows_kernel");
    obj_.coupled_value_grad(cublas_->get(), bound_, x_packed_.get(), g_.get(), f_rows_.get(),
                            z_.get(), acc_rows_.get());
  }

  std::int64_t running() override {
    if (count_ == 0) return 0;
    SS_CUDA(cudaMemset(running_.get(), 0, sizeof(unsigned long long)));
    count_running_kernel<<<flat_blocks(count_), kFlatThreads>>>(outcome_.get(), count_,
                                                                running_.get());
    SS_LAUNCHED("count_running_kernel");
    const auto running = static_cast<std::int64_t>(running_.download()[0]);
    bound_ = std::min(bound_, running);  // rows only ever stop
    return running;
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
  //                  f_final, gnorm_final, accuracy_final, curves, paths);
  //   plateau_       each trajectory's PlateauState: the plateau bookkeeping,
  //                  the target step, the buffer roles and the save flag the
  //                  next fused step reads;
  //   pbuf_          the three plateau point buffers;
  //   last_perturb_, perturb_now_  perturbed-gd's schedule and the rows the
  //                  next iteration perturbs first (empty otherwise).
  // Not saved, because each iteration writes them before reading them:
  // x_packed_, g_, z_, f_rows_ and acc_rows_ (the coupled pass's packed
  // rows, gradient rows, work space, values and accuracies), pos_, idx_ and active_ (the
  // compaction), partials_ (written by the fused step, read by the status kernel of the same
  // iteration); running_, zeroed by every running(). bound_ restarts at count_ (an upper bound)
  // after a load. threads_ and nslices_ are functions of n; the objective's device data and the
  // cuBLAS handle are built from the spec; the step scalars and the noise are functions of t, which
  // iterate() is given.
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
    f(s.track.accuracy_final, accuracy_final_);
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
    bound_ = count_;
    if (active_count_) active_count_->forget();
  }

  EnsembleResult result(bool want_finals) override {
    EnsembleResult r;
    r.outcome = outcome_.download();
    r.steps = steps_.download();
    r.f_init = f_init_.download();
    r.f_final = f_final_.download();
    r.gnorm_final = gnorm_final_.download();
    r.accuracy_final = accuracy_final_.download();
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
      gather_finals_kernel<T><<<row_grid(count_, n_), row_threads(n_)>>>(x_[0].get(), x_[1].get(),
                                                                         steps_.get(), count_, n_);
      SS_LAUNCHED("gather_finals_kernel");
      r.finals = to_double(x_[0].download());
    }
    return r;
  }

 private:
  TrajectoryRecords<T> records() const {
    return {outcome_.get(),     steps_.get(),       f_init_.get(),        f_final_.get(),
            gnorm_final_.get(), curves_.get(),      paths_.get(),         spec_.record_count,
            spec_.records,      spec_.record_every, accuracy_final_.get()};
  }

  EnsembleSpec spec_;
  StepScalarSequence scalars_{spec_.optimizer};  // each step's scalars from the last (nadam)
  DeviceObjective<T> obj_;
  std::int64_t n_, count_;
  std::int64_t threads_ = 32, nslices_ = 1;
  std::unique_ptr<CublasHandle> cublas_;  // only for coupled objectives
  DeviceArray<T> x_[2], s1_, s2_, paths_;
  // Coupled objectives: the running rows packed in order, [tiled_rows(count),
  // n] each (x_t and the gradient rows), pos_ [count] (packed row of a
  // running trajectory), idx_ [tiled_rows(count)] (trajectory of a packed
  // row), active_ (the running count, on the device), bound_ (rows the pass
  // covers: an upper bound of the running count known to the host) and the
  // asynchronous copy of active_ that lowers it.
  DeviceArray<T> x_packed_, g_;
  DeviceArray<std::int64_t> pos_, idx_, active_;
  std::int64_t bound_ = count_;
  std::unique_ptr<AsyncCount> active_count_;
  DeviceArray<T> z_;            // field / networks / p-spin: work_elements(count) work space
  DeviceArray<double> f_rows_;  // field / networks / p-spin: value per packed row
  DeviceArray<IterationSums> partials_;  // [count, nslices]
  DeviceArray<std::int8_t> outcome_;
  DeviceArray<std::int64_t> steps_;
  DeviceArray<double> f_init_, f_final_, gnorm_final_;
  DeviceArray<double> accuracy_final_, acc_rows_;  // classifiers only (else empty)
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
