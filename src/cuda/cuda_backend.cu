// CUDA backend: the device counterpart of src/cpu/cpu_backend.cpp. The math
// is not written here: every kernel calls the shared SS_HD functions of
// kernels/ (LocalObjective, fused_element, end_iteration), so the two
// backends differ only in how the work is laid out and reduced.
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
// cuBLAS handles run in the default math mode (f32 GEMMs round like the
// CPU's) except for objectives with objective.tf32 evaluated in f32, whose
// GEMMs get a handle in TF32 tensor-op mode (CublasHandle, use_tf32).
//
// Symmetric eigendecompositions (eigh) go to cuSOLVER's 64-bit generic API:
// cusolverDnXsyevBatched for small matrices, cusolverDnXsyevd one matrix at a
// time for larger ones, in groups of matrices that fit in device memory.
// Sylvester counts (count_below) factor H - sI with cuSOLVER's Bunch-Kaufman
// sytrf, one (matrix, shift) at a time, and read the inertia of D on the
// device with the shared negative_count_ldlt (kernels/inertia.hpp).
//
// Checkpoints: an ensemble's state (CudaEnsemble::save_state, load_state)
// is every device array that carries state from one iteration to the next
// or into result(), copied to the host and written in the CPU ensemble's
// layout. The host-driven optimizers (saddle-free-newton, annealing) have no
// device ensemble: src/core/host_optimizers.cpp steps them through this
// backend's value_grad / hessian / eigh, and make_ensemble refuses them.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/gaussian_field.hpp"
#include "kernels/inertia.hpp"
#include "kernels/mlp.hpp"
#include "kernels/pspin.hpp"
#include "saddlescope/backend.hpp"
#include "saddlescope/errors.hpp"
#include "saddlescope/experiment.hpp"
#include "src/core/checkpoint.hpp"

namespace saddlescope {
namespace {

// ---------------------------------------------------------------------------
// Error handling: every runtime, cuBLAS and cuSOLVER call is checked and reported with
// the call, file and line. Out-of-memory is a resource problem (exit code 3),
// anything else a backend failure (exit code 1).

std::string where(const char* call, const char* file, int line) {
  return std::string(call) + " (" + file + ":" + std::to_string(line) + ")";
}

void cuda_check(cudaError_t err, const char* call, const char* file, int line) {
  if (err == cudaSuccess) return;
  const std::string msg =
      "CUDA error in " + where(call, file, line) + ": " + cudaGetErrorString(err);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear the (non-sticky) error so the device stays usable
    throw ResourceError(msg);
  }
  throw BackendError(msg);
}

void cublas_check(cublasStatus_t st, const char* call, const char* file, int line) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  const std::string msg =
      "cuBLAS error in " + where(call, file, line) + ": " + cublasGetStatusString(st);
  if (st == CUBLAS_STATUS_ALLOC_FAILED) throw ResourceError(msg);
  throw BackendError(msg);
}

// cuSOLVER has no status-to-string function of its own.
const char* cusolver_status_name(cusolverStatus_t st) {
  switch (st) {
    case CUSOLVER_STATUS_SUCCESS:
      return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED:
      return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED:
      return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE:
      return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH:
      return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_MAPPING_ERROR:
      return "CUSOLVER_STATUS_MAPPING_ERROR";
    case CUSOLVER_STATUS_EXECUTION_FAILED:
      return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR:
      return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED:
      return "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
    case CUSOLVER_STATUS_NOT_SUPPORTED:
      return "CUSOLVER_STATUS_NOT_SUPPORTED";
    case CUSOLVER_STATUS_INVALID_WORKSPACE:
      return "CUSOLVER_STATUS_INVALID_WORKSPACE";
    default:
      return "unrecognized cuSOLVER status";
  }
}

void cusolver_check(cusolverStatus_t st, const char* call, const char* file, int line) {
  if (st == CUSOLVER_STATUS_SUCCESS) return;
  const std::string msg = "cuSOLVER error in " + where(call, file, line) + ": " +
                          cusolver_status_name(st) + " (" + std::to_string(static_cast<int>(st)) +
                          ")";
  if (st == CUSOLVER_STATUS_ALLOC_FAILED) throw ResourceError(msg);
  throw BackendError(msg);
}

// Destructors must not throw: a failed release is logged and otherwise ignored.
void cuda_log(cudaError_t err, const char* call) {
  if (err != cudaSuccess)
    std::fprintf(stderr, "saddlescope: %s failed during cleanup: %s\n", call,
                 cudaGetErrorString(err));
}
void cusolver_log(cusolverStatus_t st, const char* call) {
  if (st != CUSOLVER_STATUS_SUCCESS)
    std::fprintf(stderr, "saddlescope: %s failed during cleanup: %s\n", call,
                 cusolver_status_name(st));
}

void require(bool ok, const std::string& what) {
  if (!ok) throw BackendError("cuda backend: " + what);
}

}  // namespace
}  // namespace saddlescope

#define SS_CUDA(call) ::saddlescope::cuda_check((call), #call, __FILE__, __LINE__)
#define SS_CUBLAS(call) ::saddlescope::cublas_check((call), #call, __FILE__, __LINE__)
#define SS_CUSOLVER(call) ::saddlescope::cusolver_check((call), #call, __FILE__, __LINE__)
// Launch errors (bad configuration) surface at once; execution errors surface
// at the next synchronizing call (running(), result()).
#define SS_LAUNCHED(kernel) \
  ::saddlescope::cuda_check(cudaGetLastError(), "launch of " kernel, __FILE__, __LINE__)

namespace saddlescope {
namespace {

// ---------------------------------------------------------------------------
// RAII owners.

// A device array of n elements (no allocation when n == 0).
template <class E>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(std::size_t n) : n_(n) {
    if (n_ > 0) SS_CUDA(cudaMalloc(reinterpret_cast<void**>(&p_), n_ * sizeof(E)));
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  DeviceArray(DeviceArray&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  ~DeviceArray() { release(); }

  E* get() const { return p_; }
  std::size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }

  void upload(const std::vector<E>& h) {
    require(h.size() == n_, "upload of " + std::to_string(h.size()) +
                                " elements into an array of " + std::to_string(n_));
    if (n_ > 0) SS_CUDA(cudaMemcpy(p_, h.data(), n_ * sizeof(E), cudaMemcpyHostToDevice));
  }
  std::vector<E> download() const {
    std::vector<E> h(n_);
    if (n_ > 0) SS_CUDA(cudaMemcpy(h.data(), p_, n_ * sizeof(E), cudaMemcpyDeviceToHost));
    return h;
  }

 private:
  void release() noexcept {
    if (p_) cuda_log(cudaFree(p_), "cudaFree");
    p_ = nullptr;
    n_ = 0;
  }
  E* p_ = nullptr;
  std::size_t n_ = 0;
};

// A cuBLAS handle. By default in the default (non-TF32) math mode, so that
// float GEMMs round like the CPU's. With tf32 (objective.tf32 = true on an f32
// run, see use_tf32) in CUBLAS_TF32_TENSOR_OP_MATH: single-precision GEMMs on
// this handle may round their inputs to TF32 (10 mantissa bits) and run on
// tensor cores; double-precision GEMMs are unaffected. The mode belongs to the
// handle, so an ensemble or evaluation of a tf32 objective gets a handle of its
// own and every other GEMM keeps the default mode.
class CublasHandle {
 public:
  explicit CublasHandle(bool tf32 = false) {
    SS_CUBLAS(cublasCreate(&h_));
    const cublasStatus_t st =
        cublasSetMathMode(h_, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
    if (st != CUBLAS_STATUS_SUCCESS) {
      cublasDestroy(h_);
      SS_CUBLAS(st);
    }
  }
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  ~CublasHandle() {
    const cublasStatus_t st = cublasDestroy(h_);
    if (st != CUBLAS_STATUS_SUCCESS)
      std::fprintf(stderr, "saddlescope: cublasDestroy failed during cleanup: %s\n",
                   cublasGetStatusString(st));
  }
  cublasHandle_t get() const { return h_; }

 private:
  cublasHandle_t h_ = nullptr;
};

// A cuSOLVER dense handle and the parameter object of its 64-bit generic API
// (default algorithms, except the batched eigensolver's, pinned below). The handle runs on the
// default stream, like every other call here, and is asked for deterministic results (the default,
// made explicit).
class CusolverDn {
 public:
  CusolverDn() {
    SS_CUSOLVER(cusolverDnCreate(&h_));
    try {
      SS_CUSOLVER(cusolverDnSetDeterministicMode(h_, CUSOLVER_DETERMINISTIC_RESULTS));
      SS_CUSOLVER(cusolverDnCreateParams(&params_));
      // cusolverDnXsyevBatched's default algorithm "may switch between
      // algorithms for best performance" (by batch size among others); ALG_1
      // uses one algorithm for consistent results, so a Hessian's
      // eigenvalues do not depend on how many matrices share its call
      // (CudaEighStacked in tests/test_cuda_backend.cpp).
      SS_CUSOLVER(cusolverDnSetAdvOptions(params_, CUSOLVERDN_SYEVBATCHED, CUSOLVER_ALG_1));
    } catch (...) {
      cusolver_log(cusolverDnDestroy(h_), "cusolverDnDestroy");
      throw;
    }
  }
  CusolverDn(const CusolverDn&) = delete;
  CusolverDn& operator=(const CusolverDn&) = delete;
  ~CusolverDn() {
    cusolver_log(cusolverDnDestroyParams(params_), "cusolverDnDestroyParams");
    cusolver_log(cusolverDnDestroy(h_), "cusolverDnDestroy");
  }
  cusolverDnHandle_t handle() const { return h_; }
  cusolverDnParams_t params() const { return params_; }

 private:
  cusolverDnHandle_t h_ = nullptr;
  cusolverDnParams_t params_ = nullptr;
};

// objective.tf32: the f32 GEMMs of this objective may use TF32 tensor cores
// (f64 GEMMs never do; the experiment refuses tf32 with f64).
template <class T>
bool use_tf32(const ObjectiveData& d) {
  return std::is_same_v<T, float> && d.tf32;
}

template <class T>
std::vector<T> convert(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}
template <class T>
std::vector<double> to_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

std::size_t checked_size(std::int64_t a, std::int64_t b = 1) {
  require(a >= 0 && b >= 0, "negative array size");
  return static_cast<std::size_t>(a) * static_cast<std::size_t>(b);
}

// The next array of a checkpoint, which must have the size of `like`, the
// device array it is restored into (InputError otherwise, as on the CPU).
template <class E>
std::vector<E> read_like(ckpt::Reader& rd, const DeviceArray<E>& like) {
  std::vector<E> v = rd.vec<E>();
  if (v.size() != like.size())
    throw InputError("checkpoint: the ensemble state does not match this run (an array of " +
                     std::to_string(v.size()) + " elements where this ensemble has " +
                     std::to_string(like.size()) + ")");
  return v;
}

// ---------------------------------------------------------------------------
// GEMMs on row-major arrays, with the CPU backend's conventions: C [m, n] =
// op(A) op(B) + beta C, op(A) [m, k], op(B) [k, n]; ta / tb mean that A is
// stored [k, m] / B is stored [n, k]. cuBLAS is column-major: a row-major
// [r, c] array is the column-major [c, r] array of its transpose, so the
// row-major C is computed as the column-major C^T = op(B)^T op(A)^T, i.e.
// cuBLAS gemm(tb, ta, n, m, k, B, A) with the leading dimensions of the
// row-major arrays. (The rotated quadratic's G = X A is gemm(N, N, n, rows,
// n, A, X).)

void gemm_cm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
             const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  const float one = 1.0f;
  SS_CUBLAS(cublasSgemm(h, ta, tb, m, n, k, &one, a, lda, b, ldb, &beta, c, ldc));
}
void gemm_cm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
             const double* a, int lda, const double* b, int ldb, double beta, double* c, int ldc) {
  const double one = 1.0;
  SS_CUBLAS(cublasDgemm(h, ta, tb, m, n, k, &one, a, lda, b, ldb, &beta, c, ldc));
}

template <class T>
void gemm_rm(cublasHandle_t h, bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k,
             const T* a, const T* b, T* c, T beta = T(0)) {
  constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
  require(m >= 0 && n >= 0 && k >= 0, "negative GEMM size");
  require(m <= kIntMax && n <= kIntMax && k <= kIntMax, "GEMM too large for cuBLAS");
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: C = beta C (cuBLAS rejects a zero leading dimension)
    require(beta == T(0) || beta == T(1), "GEMM with k = 0 and beta other than 0 or 1");
    if (beta == T(0)) SS_CUDA(cudaMemset(c, 0, checked_size(m, n) * sizeof(T)));
    return;
  }
  gemm_cm(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n),
          static_cast<int>(m), static_cast<int>(k), b, static_cast<int>(tb ? k : n), a,
          static_cast<int>(ta ? m : k), beta, c, static_cast<int>(n));
}

// Strided-batched row-major GEMMs: for e < batch, C_e = op(A_e) op(B_e) +
// beta C_e with A_e = a + e * sa (and so on), the same conventions and the
// same column-major mapping as gemm_rm. A stride of 0 shares an operand
// between the batch entries (the MLP's inputs X). k > 0; the batch goes in
// pieces of at most kMaxGemmBatch entries.
constexpr std::int64_t kMaxGemmBatch = 65535;

void gemm_cm_strided(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                     int k, const float* a, int lda, long long sa, const float* b, int ldb,
                     long long sb, float beta, float* c, int ldc, long long sc, int batch) {
  const float one = 1.0f;
  SS_CUBLAS(cublasSgemmStridedBatched(h, ta, tb, m, n, k, &one, a, lda, sa, b, ldb, sb, &beta, c,
                                      ldc, sc, batch));
}
void gemm_cm_strided(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                     int k, const double* a, int lda, long long sa, const double* b, int ldb,
                     long long sb, double beta, double* c, int ldc, long long sc, int batch) {
  const double one = 1.0;
  SS_CUBLAS(cublasDgemmStridedBatched(h, ta, tb, m, n, k, &one, a, lda, sa, b, ldb, sb, &beta, c,
                                      ldc, sc, batch));
}

template <class T>
void gemm_rm_strided(cublasHandle_t h, bool ta, bool tb, std::int64_t m, std::int64_t n,
                     std::int64_t k, const T* a, std::int64_t sa, const T* b, std::int64_t sb, T* c,
                     std::int64_t sc, std::int64_t batch, T beta = T(0)) {
  constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
  require(m >= 0 && n >= 0 && k > 0 && batch >= 0, "bad batched GEMM size");
  require(m <= kIntMax && n <= kIntMax && k <= kIntMax, "GEMM too large for cuBLAS");
  if (m == 0 || n == 0 || batch == 0) return;
  for (std::int64_t e0 = 0; e0 < batch; e0 += kMaxGemmBatch) {
    const std::int64_t cnt = std::min(kMaxGemmBatch, batch - e0);
    gemm_cm_strided(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                    static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), b + e0 * sb,
                    static_cast<int>(tb ? k : n), static_cast<long long>(sb), a + e0 * sa,
                    static_cast<int>(ta ? m : k), static_cast<long long>(sa), beta, c + e0 * sc,
                    static_cast<int>(n), static_cast<long long>(sc), static_cast<int>(cnt));
  }
}

// cuBLAS takes int sizes: very tall batches go in slabs of rows, each slab
// holding at most INT_MAX elements of a row-major array `width` wide.
template <class F>
void for_row_slabs(std::int64_t rows, std::int64_t width, F&& body) {
  constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
  require(width <= kIntMax, "dimension too large for cuBLAS");
  const std::int64_t slab = std::max<std::int64_t>(1, kIntMax / std::max<std::int64_t>(width, 1));
  for (std::int64_t r0 = 0; r0 < rows; r0 += slab) body(r0, std::min(slab, rows - r0));
}

// ---------------------------------------------------------------------------
// Kernels.

constexpr int kMaxGridY = 65535;
constexpr int kFlatThreads = 256;

// Blocks for a grid-stride loop over `items` with kFlatThreads threads each.
unsigned flat_blocks(std::int64_t items) {
  const std::int64_t b = (items + kFlatThreads - 1) / kFlatThreads;
  return static_cast<unsigned>(std::clamp<std::int64_t>(b, 1, 1 << 20));
}

template <class E>
__global__ void fill_kernel(E* p, std::int64_t len, E value) {
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x)
    p[k] = value;
}

template <class E>
void fill(DeviceArray<E>& a, E value) {
  if (a.empty()) return;
  const auto len = static_cast<std::int64_t>(a.size());
  fill_kernel<<<flat_blocks(len), kFlatThreads>>>(a.get(), len, value);
  SS_LAUNCHED("fill_kernel");
}

// Sum of the block's IterationSums in a fixed order (warp shuffle trees, then
// the warps' totals in warp order), so the result does not depend on timing.
// blockDim.x must be a multiple of 32; every thread of the block must call it.
// The result is valid in thread 0. `sh` holds 3 * 32 doubles. (IterationSums
// has member initializers, which __shared__ variables may not have, hence the
// plain doubles.)
__device__ IterationSums block_sum(IterationSums v, double* sh) {
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  for (int off = 16; off > 0; off >>= 1) {
    IterationSums o;
    o.f = __shfl_down_sync(0xffffffffu, v.f, off);
    o.gsq = __shfl_down_sync(0xffffffffu, v.gsq, off);
    o.xmax = __shfl_down_sync(0xffffffffu, v.xmax, off);
    v.add(o);
  }
  if (lane == 0) {
    sh[warp] = v.f;
    sh[32 + warp] = v.gsq;
    sh[64 + warp] = v.xmax;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (unsigned w = 1; w < blockDim.x / 32; ++w) {
      IterationSums o;
      o.f = sh[w];
      o.gsq = sh[32 + w];
      o.xmax = sh[64 + w];
      v.add(o);
    }
  }
  __syncthreads();  // sh may be reused by the caller's next round
  return v;
}

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

// Batched evaluation kernels. value_grad: block = batch row, f accumulated in
// double and reduced in a fixed order, plus the row's value from the GEMM
// pass (f_rows: gaussian-field, networks, p-spin; else null).
template <class T>
__global__ void value_grad_kernel(LocalObjective<T> obj, const T* x, const T* grow,
                                  const double* f_rows, T* g, double* f, std::int64_t batch,
                                  std::int64_t n) {
  __shared__ double sh[96];
  for (std::int64_t b = blockIdx.x; b < batch; b += gridDim.x) {
    const std::int64_t off = b * n;
    IterationSums acc;
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      T fi, gi;
      obj.eval(x + off, grow ? grow + off : nullptr, i, fi, gi);
      acc.f += static_cast<double>(fi);
      g[off + i] = gi;
    }
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0) f[b] = f_rows ? acc.f + f_rows[b] : acc.f;
  }
}

template <class T>
__global__ void hvp_kernel(LocalObjective<T> obj, const T* x, const T* v, T* hv, std::int64_t batch,
                           std::int64_t n) {
  const std::int64_t len = batch * n;
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t off = k / n * n;
    hv[k] = obj.hvp(x + off, v + off, k - off);
  }
}

template <class T>
__global__ void hessian_band_kernel(LocalObjective<T> obj, const T* x, T* diag, T* upper,
                                    std::int64_t batch, std::int64_t n) {
  const std::int64_t len = batch * n;
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t off = k / n * n;
    obj.hessian_band(x + off, k - off, diag[k], upper[k]);
  }
}

// Gaussian-field kernels (kernels/gaussian_field.hpp). The value pass is the
// epilogue of Z = X W^T, block = row: f_row = mu/2 |x|^2 + sum_j value_j in
// double (block_sum's fixed order), Z overwritten by the gradient weights
// s_j, and G = mu X, so that the GEMM G += S W completes the gradient.
template <class T>
__global__ void field_value_kernel(const T* x, T* z, T* g, double* f, const T* a, const T* b, T mu,
                                   T c, std::int64_t rows, std::int64_t n, std::int64_t m) {
  __shared__ double sh[96];
  const double half_mu = 0.5 * static_cast<double>(mu);
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * n;
    T* zr = z + r * m;
    IterationSums acc;
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const T xi = xr[i];
      acc.f += half_mu * xi * xi;
      g[r * n + i] = xi * mu;
    }
    for (std::int64_t j = threadIdx.x; j < m; j += blockDim.x) {
      double v;
      T gw;
      field_feature(zr[j], a[j], b[j], c, v, gw);
      acc.f += v;
      zr[j] = gw;
    }
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0) f[r] = acc.f;
  }
}

// u = h o u with h_j = field_curvature(z_j) (z, u: [rows, m]), for H v.
template <class T>
__global__ void field_hvp_weights_kernel(const T* z, T* u, const T* a, const T* b, T c,
                                         std::int64_t len, std::int64_t m) {
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t j = k % m;
    u[k] *= field_curvature(z[k], a[j], b[j], c);
  }
}

// z_j = field_curvature(z_j) in place (z: [rows, m]), for dense Hessians.
template <class T>
__global__ void field_curvature_kernel(T* z, const T* a, const T* b, T c, std::int64_t len,
                                       std::int64_t m) {
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t j = k % m;
    z[k] = field_curvature(z[k], a[j], b[j], c);
  }
}

// dw[p] = diag(h_p) W for `points` points: dw [points, m, n], h [points, m].
template <class T>
__global__ void scaled_rows_kernel(const T* w, const T* h, T* dw, std::int64_t points,
                                   std::int64_t m, std::int64_t n) {
  const std::int64_t len = points * m * n;
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t row = k / n;  // p * m + j
    dw[k] = w[k - (row / m) * m * n] * h[row];
  }
}

// dst = src * alpha, elementwise.
template <class T>
__global__ void scale_kernel(const T* src, T alpha, T* dst, std::int64_t len) {
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x)
    dst[k] = src[k] * alpha;
}

// `points` n x n matrices set to diag * I.
template <class T>
__global__ void identity_kernel(T* h, T diag, std::int64_t points, std::int64_t n) {
  const std::int64_t len = points * n * n;
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t q = k % (n * n);
    h[k] = q / n == q % n ? diag : T(0);
  }
}

// MLP kernels (kernels/mlp.hpp), over `rows` batch entries of the passes in
// DeviceObjective. Per entry r: its parameter row p + r * ps (ps = dim, or 0
// when every entry shares one point), hidden arrays [n, h] and output arrays
// [n, o]; hs / os are the strides of the forward arrays (n h / n o, or 0 when
// shared).

// H = tanh(A + b1) in place, a: [rows, n, h].
template <class T>
__global__ void mlp_hidden_kernel(T* a, const T* p, std::int64_t ps, std::int64_t b1,
                                  std::int64_t rows, std::int64_t nh, std::int64_t hh) {
  const std::int64_t len = rows * nh;
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x)
    a[k] = mlp_act(a[k] + p[(k / nh) * ps + b1 + k % hh]);
}

// Block = entry: residuals r = out + b2 - Y, the loss 1/(2n) sum r^2 (double,
// block_sum's fixed order) into f, and out overwritten by dout = r / n.
template <class T>
__global__ void mlp_residual_kernel(T* out, const T* p, std::int64_t ps, std::int64_t b2,
                                    const T* y, double* f, std::int64_t rows, std::int64_t no,
                                    std::int64_t o, T inv_n, double samples) {
  __shared__ double sh[96];
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    T* outr = out + r * no;
    const T* b2r = p + r * ps + b2;
    IterationSums acc;
    for (std::int64_t q = threadIdx.x; q < no; q += blockDim.x) {
      const T res = outr[q] + b2r[q % o] - y[q];
      acc.f += 0.5 * static_cast<double>(res) * static_cast<double>(res);
      outr[q] = res * inv_n;
    }
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0) f[r] = acc.f / samples;
  }
}

// Column sums in sample order (the CPU's order): dst[r * ds + j] =
// sum_q src[r * ss + q * w + j], q = 0 .. n - 1, for j < w.
template <class T>
__global__ void mlp_colsum_kernel(const T* src, std::int64_t ss, T* dst, std::int64_t ds,
                                  std::int64_t rows, std::int64_t n, std::int64_t w) {
  const std::int64_t len = rows * w;
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t r = k / w, j = k - r * w;
    const T* s = src + r * ss + j;
    T acc = T(0);
    for (std::int64_t q = 0; q < n; ++q) acc += s[q * w];
    dst[r * ds + j] = acc;
  }
}

// dA = dH tanh'(A), written through H = tanh(A) (da may alias dh).
template <class T>
__global__ void mlp_dact_kernel(const T* dh, const T* h, T* da, std::int64_t len) {
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x)
    da[k] = dh[k] * mlp_act_d(h[k]);
}

// R{A} = X V1^T + c1 (ra holds X V1^T), R{H} = tanh'(A) R{A}.
template <class T>
__global__ void mlp_r_hidden_kernel(T* ra, T* rh, const T* h, std::int64_t hs, const T* v,
                                    std::int64_t vs, std::int64_t b1, std::int64_t rows,
                                    std::int64_t nh, std::int64_t hh) {
  const std::int64_t len = rows * nh;
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t r = k / nh, q = k - r * nh;
    ra[k] += v[r * vs + b1 + q % hh];
    rh[k] = mlp_act_d(h[r * hs + q]) * ra[k];
  }
}

// R{dout} = (R{out} + c2) / n in place.
template <class T>
__global__ void mlp_r_out_kernel(T* rout, const T* v, std::int64_t vs, std::int64_t b2,
                                 std::int64_t rows, std::int64_t no, std::int64_t o, T inv_n) {
  const std::int64_t len = rows * no;
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t r = k / no, q = k - r * no;
    rout[k] = (rout[k] + v[r * vs + b2 + q % o]) * inv_n;
  }
}

// R{dA} = R{dH} tanh'(A) + dH tanh''(A) R{A} in place of R{dH}.
template <class T>
__global__ void mlp_r_dact_kernel(T* rdh, const T* h, const T* dh, std::int64_t hs, const T* ra,
                                  std::int64_t rows, std::int64_t nh) {
  const std::int64_t len = rows * nh;
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t r = k / nh, q = r * hs + (k - r * nh);
    rdh[k] = rdh[k] * mlp_act_d(h[q]) + dh[q] * mlp_act_dd(h[q]) * ra[k];
  }
}

// Deep-linear kernels, over `rows` entries of the passes in DeviceObjective
// whose work rows lie `ws` elements apart.

// Block = entry: residuals R = Z_L - Y (Z_L [d_L, n] at z + r * ws), the loss
// 1/(2n) ||R||^2 (double, block_sum's fixed order) into f, and dZ_L = R / n
// into dz + r * ws. len = d_L n.
template <class T>
__global__ void dl_residual_kernel(const T* z, T* dz, std::int64_t ws, const T* y, double* f,
                                   std::int64_t rows, std::int64_t len, T samples_t,
                                   double samples) {
  __shared__ double sh[96];
  for (std::int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* zr = z + r * ws;
    T* dzr = dz + r * ws;
    IterationSums acc;
    for (std::int64_t q = threadIdx.x; q < len; q += blockDim.x) {
      const T res = zr[q] - y[q];
      acc.f += 0.5 * static_cast<double>(res) * static_cast<double>(res);
      dzr[q] = res / samples_t;
    }
    acc = block_sum(acc, sh);
    if (threadIdx.x == 0) f[r] = acc.f / samples;
  }
}

// R{dZ_L} = R{Z_L} / n: dst[r * ws + q] = src[r * ws + q] / n, q < len.
template <class T>
__global__ void dl_r_out_kernel(const T* src, T* dst, std::int64_t ws, std::int64_t rows,
                                std::int64_t len, T samples_t) {
  const std::int64_t total = rows * len;
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < total;
       k += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t r = k / len, q = r * ws + (k - r * len);
    dst[q] = src[q] / samples_t;
  }
}

// Rows j < cols of v [cols, n] set to the unit vectors e_(k0 + j).
template <class T>
__global__ void unit_rows_kernel(T* v, std::int64_t k0, std::int64_t cols, std::int64_t n) {
  const std::int64_t len = cols * n;
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x)
    v[k] = k % n == k0 + k / n ? T(1) : T(0);
}

// p-spin kernels (kernels/pspin.hpp). The row functions run one thread per
// row, the same sequential double reductions as the CPU backend's per-row
// loops, so the two backends agree to the rounding of the GEMMs.

// The retraction x <- sqrt(N) x / |x| of the rows still running (of every row
// when outcome is null), x [rows, n].
template <class T>
__global__ void sphere_retract_kernel(T* x, const std::int8_t* outcome, std::int64_t rows,
                                      std::int64_t n) {
  for (std::int64_t r = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; r < rows;
       r += std::int64_t(gridDim.x) * blockDim.x)
    if (!outcome || outcome[r] == kRunning) sphere_retract(n, x + r * n);
}

// Gradient epilogue per row: g holds Y x on entry (p = 2: g_E = x A; p = 3:
// Y x = 2 g_E, halved here), the Riemannian gradient g_R on exit; the energy
// per spin E into f.
template <class T>
__global__ void pspin_grad_kernel(int p, const T* x, T* g, double* f, std::int64_t rows,
                                  std::int64_t n) {
  for (std::int64_t r = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; r < rows;
       r += std::int64_t(gridDim.x) * blockDim.x) {
    T* gr = g + r * n;
    if (p == 3)
      for (std::int64_t i = 0; i < n; ++i) gr[i] /= T(2);
    f[r] = pspin_grad_epilogue(p, n, x + r * n, gr);
  }
}

// u = P v per row (u must not alias v), x, v, u [rows, n].
template <class T>
__global__ void sphere_project_kernel(const T* x, const T* v, T* u, std::int64_t rows,
                                      std::int64_t n) {
  for (std::int64_t r = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; r < rows;
       r += std::int64_t(gridDim.x) * blockDim.x) {
    T* ur = u + r * n;
    const T* vr = v + r * n;
    for (std::int64_t i = 0; i < n; ++i) ur[i] = vr[i];
    sphere_project(n, x + r * n, ur);
  }
}

// Hessian-vector epilogue per row: ge holds Y x (p = 3: 2 g_E, halved in
// place), hv holds Y u with u = P v; on exit hv = P (Y u - c u), c the
// Weingarten coefficient x . g_E / |x|^2.
template <class T>
__global__ void pspin_hvp_kernel(int p, const T* x, T* ge, const T* u, T* hv, std::int64_t rows,
                                 std::int64_t n) {
  for (std::int64_t r = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; r < rows;
       r += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t off = r * n;
    T* ger = ge + off;
    if (p == 3)
      for (std::int64_t i = 0; i < n; ++i) ger[i] /= T(2);
    const double c = sphere_weingarten(n, x + off, ger);
    pspin_hvp_epilogue(n, x + off, c, u + off, hv + off);
  }
}

// `points` copies of the n x n matrix a: h [points, nn], nn = n^2.
template <class T>
__global__ void broadcast_matrix_kernel(const T* a, T* h, std::int64_t points, std::int64_t nn) {
  const std::int64_t len = points * nn;
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x)
    h[k] = a[k % nn];
}

// Dense p-spin Hessians, step 1, thread per point: the unit normal q = x / |x|
// (double), x [points, n], q [points, n].
template <class T>
__global__ void pspin_normal_kernel(const T* x, double* q, std::int64_t points, std::int64_t n) {
  for (std::int64_t pt = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; pt < points;
       pt += std::int64_t(gridDim.x) * blockDim.x) {
    const T* xp = x + pt * n;
    const double norm = sqrt(row_dot(n, xp, xp));
    for (std::int64_t i = 0; i < n; ++i) q[pt * n + i] = xp[i] / norm;
  }
}

// Step 2, thread per (point, i): w_i = (Y q)_i in double, j in order, Y
// [points, n, n].
template <class T>
__global__ void pspin_yq_kernel(const T* y, const double* q, double* w, std::int64_t points,
                                std::int64_t n) {
  const std::int64_t len = points * n;
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t pt = k / n, i = k - pt * n;
    const T* yi = y + (pt * n + i) * n;
    const double* qp = q + pt * n;
    double s = 0;
    for (std::int64_t j = 0; j < n; ++j) s += yi[j] * qp[j];
    w[k] = s;
  }
}

// Step 3, thread per point: alpha = q . w (i in order).
__global__ void pspin_alpha_kernel(const double* q, const double* w, double* alpha,
                                   std::int64_t points, std::int64_t n) {
  for (std::int64_t pt = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; pt < points;
       pt += std::int64_t(gridDim.x) * blockDim.x)
    alpha[pt] = row_dot(n, q + pt * n, w + pt * n);
}

// Step 4, thread per entry: Y overwritten by the embedded Riemannian Hessian
// P (Y - c I) P with c = alpha / (p - 1), h [points, n, n].
template <class T>
__global__ void pspin_hessian_kernel(int p, T* h, const double* q, const double* w,
                                     const double* alpha, std::int64_t points, std::int64_t n) {
  const std::int64_t nn = n * n, len = points * nn;
  for (std::int64_t k = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; k < len;
       k += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t pt = k / nn, e = k - pt * nn, i = e / n, j = e - i * n;
    const double* qp = q + pt * n;
    const double* wp = w + pt * n;
    const double a = alpha[pt];
    h[k] = sphere_hessian_entry(h[k], i == j, qp[i], qp[j], wp[i], wp[j], a, a / (p - 1));
  }
}

// Blocks for a kernel with one block per row (grid-stride beyond 2^20 rows).
unsigned row_blocks(std::int64_t rows) {
  return static_cast<unsigned>(std::clamp<std::int64_t>(rows, 1, 1 << 20));
}

// Objective arrays on the device, the view the shared math reads, and the
// GEMM parts of the coupled objectives (rotated quadratic, gaussian-field,
// mlp, deep-linear, p-spin), the same operations as the CPU backend's
// HostObjective. Work spaces are the caller's: z holds work_elements(rows)
// elements of T ([rows, work_per_row()], plus the p = 3 p-spin's contraction
// block).
template <class T>
struct DeviceObjective {
  DeviceArray<T> lambda, matrix, w, a, b;
  DeviceArray<T> mlp_x, mlp_y;  // mlp: inputs X [n, d], labels Y [n, o]
  MlpShape mlp;
  DeviceArray<T> dl_x, dl_y;            // deep-linear: inputs X [d_0, n], targets Y [d_L, n]
  std::vector<std::int64_t> dl_widths;  // deep-linear: d_0 .. d_L
  std::int64_t dl_samples = 0;          // deep-linear: n
  // Deep-linear layout: W_l at dl_off[l] of a parameter row; Z_l at
  // dl_zoff[l] and dZ_l at dl_span + dl_zoff[l] of a work row (l = 1 .. L),
  // dl_span = n (d_1 + ... + d_L).
  std::vector<std::int64_t> dl_off, dl_zoff;
  std::int64_t dl_span = 0;
  // p-spin: the Euclidean Hessian's tensor, A [n, n] (p = 2) or T [n, n, n]
  // (p = 3, grad^2 H(x) = T . x), and the order p.
  DeviceArray<T> couplings;
  int p = 0;
  T mu = 0, c = 0;
  std::int64_t m = 0;  // gaussian-field features
  LocalObjective<T> view{};

  explicit DeviceObjective(const ObjectiveData& d)
      : lambda(d.lambda.size()),
        matrix(d.matrix.size()),
        w(d.field_w.size()),
        a(d.field_a.size()),
        b(d.field_b.size()),
        mlp_x(d.kind == ObjectiveKind::mlp ? d.mlp_x.size() : 0),
        mlp_y(d.kind == ObjectiveKind::mlp ? d.mlp_y.size() : 0),
        mlp(d.mlp),
        dl_x(d.kind == ObjectiveKind::deep_linear ? d.dl_x.size() : 0),
        dl_y(d.kind == ObjectiveKind::deep_linear ? d.dl_y.size() : 0),
        dl_widths(d.kind == ObjectiveKind::deep_linear ? d.dl_widths : std::vector<std::int64_t>{}),
        dl_samples(d.dl_samples),
        couplings(d.kind == ObjectiveKind::p_spin ? d.couplings.size() : 0),
        p(d.kind == ObjectiveKind::p_spin ? d.pspin_p : 0),
        mu(static_cast<T>(d.field_mu)),
        m(d.features()) {
    require(d.dim >= 0, "negative objective dimension");
    if (d.kind == ObjectiveKind::p_spin) {
      require(p == 2 || p == 3, "p-spin order must be 2 or 3");
      require(d.dim > 0, "p-spin dimension must be positive");
      const std::size_t nn = checked_size(d.dim, d.dim);
      // p = 3: the contraction Y = X T^T is a GEMM with n^2 columns.
      require(p == 2 || nn <= static_cast<std::size_t>(std::numeric_limits<int>::max()),
              "p-spin dimension too large for cuBLAS (p = 3 needs dim^2 to fit an int)");
      require(d.couplings.size() == (p == 2 ? nn : nn * static_cast<std::size_t>(d.dim)),
              "p-spin couplings are not dim^p");
      couplings.upload(convert<T>(d.couplings));
    }
    if (d.kind == ObjectiveKind::deep_linear) {
      constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
      require(dl_widths.size() >= 2, "deep-linear needs at least one layer");
      require(dl_samples > 0 && dl_samples <= kIntMax,
              "deep-linear sample count must be positive and fit cuBLAS");
      for (const std::int64_t w_l : dl_widths)
        require(w_l > 0 && w_l <= kIntMax, "deep-linear widths must be positive and fit cuBLAS");
      dl_off.assign(dl_widths.size(), 0);
      dl_zoff.assign(dl_widths.size(), 0);
      std::int64_t params = 0;
      for (std::size_t l = 1; l < dl_widths.size(); ++l) {
        dl_off[l] = params;
        params += dl_widths[l] * dl_widths[l - 1];
        dl_zoff[l] = dl_span;
        dl_span += dl_widths[l] * dl_samples;
      }
      require(d.dim == params, "deep-linear dimension is not the parameter count");
      require(d.dl_x.size() == checked_size(dl_widths.front(), dl_samples),
              "deep-linear inputs are not d_0 x n");
      require(d.dl_y.size() == checked_size(dl_widths.back(), dl_samples),
              "deep-linear targets are not d_L x n");
      dl_x.upload(convert<T>(d.dl_x));
      dl_y.upload(convert<T>(d.dl_y));
    }
    if (d.kind == ObjectiveKind::mlp) {
      constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
      require(mlp.d > 0 && mlp.h > 0 && mlp.o > 0 && mlp.n > 0, "mlp sizes must be positive");
      require(mlp.d <= kIntMax && mlp.h <= kIntMax && mlp.o <= kIntMax && mlp.n <= kIntMax,
              "mlp sizes too large for cuBLAS");
      require(d.dim == mlp.params(), "mlp dimension is not the parameter count");
      require(d.mlp_x.size() == checked_size(mlp.n, mlp.d), "mlp inputs are not n x d");
      require(d.mlp_y.size() == checked_size(mlp.n, mlp.o), "mlp labels are not n x o");
      mlp_x.upload(convert<T>(d.mlp_x));
      mlp_y.upload(convert<T>(d.mlp_y));
    }
    require(d.matrix.empty() || d.matrix.size() == checked_size(d.dim, d.dim),
            "objective matrix is not dim x dim");
    require(d.coupled() || d.kind != ObjectiveKind::quadratic ||
                d.lambda.size() == static_cast<std::size_t>(d.dim),
            "quadratic objective needs dim eigenvalues");
    if (d.kind == ObjectiveKind::gaussian_field) {
      require(d.field_w.size() == checked_size(m, d.dim),
              "gaussian-field frequencies are not features x dim");
      require(d.field_b.size() == d.field_a.size(), "gaussian-field needs one phase per amplitude");
    }
    lambda.upload(convert<T>(d.lambda));
    matrix.upload(convert<T>(d.matrix));
    w.upload(convert<T>(d.field_w));
    a.upload(convert<T>(d.field_a));
    b.upload(convert<T>(d.field_b));
    c = m > 0 ? static_cast<T>(std::sqrt(2.0 / static_cast<double>(m))) : T(0);
    view.kind = d.kind;
    view.n = d.dim;
    view.lambda = lambda.get();
    view.coupled = d.coupled();
    view.rastrigin_a = static_cast<T>(d.rastrigin_a);
  }
  bool field() const { return view.kind == ObjectiveKind::gaussian_field; }
  bool is_mlp() const { return view.kind == ObjectiveKind::mlp; }
  bool is_deep_linear() const { return view.kind == ObjectiveKind::deep_linear; }
  bool is_network() const { return is_mlp() || is_deep_linear(); }
  bool pspin() const { return view.kind == ObjectiveKind::p_spin; }
  std::int64_t dl_layers() const { return static_cast<std::int64_t>(dl_widths.size()) - 1; }
  // Objectives whose coupled pass also gives the value per row (f_rows).
  bool row_values() const { return field() || is_network() || pspin(); }
  // p = 3 p-spin: rows per block of the contraction Y = X T^T, whose [block,
  // n^2] work space holds at most kPspinWorkElements elements (at least one
  // row), as on the CPU backend; so block * n^2 also fits cuBLAS's int sizes.
  std::int64_t pspin_block(std::int64_t rows) const {
    const std::int64_t nn = std::max<std::int64_t>(view.n * view.n, 1);
    return std::max<std::int64_t>(1, std::min<std::int64_t>(rows, kPspinWorkElements / nn));
  }
  // Elements of T of the work space z of coupled_value_grad for `rows` rows:
  // [rows, work_per_row()], plus for the p = 3 p-spin one contraction block
  // [pspin_block(rows), n^2] shared by all rows (a fixed size, at most
  // kPspinWorkElements elements unless one row alone is larger: the memory
  // plan counts it with the objective data).
  std::size_t work_elements(std::int64_t rows) const {
    std::size_t e = checked_size(rows, work_per_row());
    if (pspin() && p == 3 && rows > 0) e += checked_size(pspin_block(rows), view.n * view.n);
    return e;
  }
  // Elements of T per row of the work space z of coupled_value_grad: the
  // field's features; the mlp's H and dH [n, h] and out [n, o]; the deep
  // linear network's Z_1 .. Z_L and dZ_1 .. dZ_L, 2 n (d_1 + ... + d_L); none
  // for the p-spin (see work_elements).
  std::int64_t work_per_row() const {
    if (field()) return m;
    if (is_mlp()) return 2 * mlp.n * mlp.h + mlp.n * mlp.o;
    if (is_deep_linear()) return 2 * dl_span;
    return 0;
  }

  // Coupled gradient rows G for `rows` rows of x and, for the field, the
  // networks and the p-spin, the values f_rows (per row, double; z: work
  // space of work_elements(rows) elements); no-op when not coupled. Rotated
  // quadratic: G = X A. Gaussian field: Z = X W^T, the epilogue (F, S in Z,
  // G = mu X), G += S W. MLP: mlp_value_grad. Deep-linear: dl_value_grad.
  // P-spin: pspin_value_grad (at x as given: the ensemble retracts first).
  void coupled_value_grad(cublasHandle_t h, std::int64_t rows, const T* x, T* g, double* f_rows,
                          T* z) const {
    if (!view.coupled || rows == 0) return;
    const std::int64_t n = view.n;
    if (pspin()) {
      pspin_value_grad(h, rows, x, g, f_rows, z);
      return;
    }
    if (is_deep_linear()) {
      dl_value_grad(h, rows, x, g, f_rows, z);
      return;
    }
    if (is_mlp()) {
      const std::int64_t nh = mlp.n * mlp.h;
      T* hid = z;
      T* dh = z + rows * nh;
      mlp_value_grad(h, rows, x, g, f_rows, hid, dh, dh, dh + rows * nh);
      return;
    }
    if (!field()) {
      for_row_slabs(rows, n, [&](std::int64_t r0, std::int64_t r) {
        gemm_rm(h, false, false, r, n, n, x + r0 * n, matrix.get(), g + r0 * n);  // G = X A
      });
      return;
    }
    for_row_slabs(rows, std::max(n, m), [&](std::int64_t r0, std::int64_t r) {
      T* zs = z + r0 * m;
      T* gs = g + r0 * n;
      gemm_rm(h, false, true, r, m, n, x + r0 * n, w.get(), zs);  // Z = X W^T
      field_value_kernel<T><<<row_blocks(r), kFlatThreads>>>(x + r0 * n, zs, gs, f_rows + r0,
                                                             a.get(), b.get(), mu, c, r, n, m);
      SS_LAUNCHED("field_value_kernel");
      gemm_rm(h, false, false, r, n, m, zs, w.get(), gs, T(1));  // G = mu X + S W
    });
  }

  // The MLP forward and backward pass (MlpPass::value_grad) of `rows`
  // parameter rows x [rows, dim] at once, each step one strided-batched GEMM
  // over the rows (X shared) or a small kernel: A = X W1^T, H = tanh(A + b1)
  // (in place in hid), out = H W2^T, then the residual kernel (loss into f,
  // dout = (out + b2 - Y) / n in place in out) and, when g is not null, the
  // gradient rows g [rows, dim]: grad W2 = dout^T H, grad b2 = colsum dout,
  // dH = dout W2, dA = dH tanh'(A) (da may alias dh), grad W1 = dA^T X,
  // grad b1 = colsum dA. Work spaces: hid, dh, da [rows, n, h], out [rows,
  // n, o].
  void mlp_value_grad(cublasHandle_t h, std::int64_t rows, const T* x, T* g, double* f, T* hid,
                      T* dh, T* da, T* out) const {
    if (rows == 0) return;
    const std::int64_t dim = view.n, n = mlp.n, d = mlp.d, hh = mlp.h, o = mlp.o;
    const std::int64_t nh = n * hh, no = n * o;
    const T* xs = mlp_x.get();
    gemm_rm_strided(h, false, true, n, hh, d, xs, 0, x + mlp.w1(), dim, hid, nh, rows);  // X W1^T
    mlp_hidden_kernel<T>
        <<<flat_blocks(rows * nh), kFlatThreads>>>(hid, x, dim, mlp.b1(), rows, nh, hh);
    SS_LAUNCHED("mlp_hidden_kernel");
    gemm_rm_strided(h, false, true, n, o, hh, hid, nh, x + mlp.w2(), dim, out, no, rows);  // H W2^T
    mlp_residual_kernel<T>
        <<<row_blocks(rows), kFlatThreads>>>(out, x, dim, mlp.b2(), mlp_y.get(), f, rows, no, o,
                                             T(1) / static_cast<T>(n), static_cast<double>(n));
    SS_LAUNCHED("mlp_residual_kernel");
    if (!g) return;
    gemm_rm_strided(h, true, false, o, hh, n, out, no, hid, nh, g + mlp.w2(), dim, rows);
    mlp_colsum_kernel<T>
        <<<flat_blocks(rows * o), kFlatThreads>>>(out, no, g + mlp.b2(), dim, rows, n, o);
    SS_LAUNCHED("mlp_colsum_kernel");
    gemm_rm_strided(h, false, false, n, hh, o, out, no, x + mlp.w2(), dim, dh, nh,
                    rows);  // dout W2
    mlp_dact_kernel<T><<<flat_blocks(rows * nh), kFlatThreads>>>(dh, hid, da, rows * nh);
    SS_LAUNCHED("mlp_dact_kernel");
    gemm_rm_strided(h, true, false, hh, d, n, da, nh, xs, 0, g + mlp.w1(), dim, rows);  // dA^T X
    mlp_colsum_kernel<T>
        <<<flat_blocks(rows * hh), kFlatThreads>>>(da, nh, g + mlp.b1(), dim, rows, n, hh);
    SS_LAUNCHED("mlp_colsum_kernel");
  }

  // MLP Hessian-vector products by the R-operator (MlpPass::hvp) for `rows`
  // directions v [rows, dim] into hv [rows, dim], at parameters x with the
  // forward arrays hid, dh [n, h] and dout [n, o] of mlp_value_grad (dh
  // before tanh', i.e. da not aliasing dh). shared: every direction at the
  // one point x (its forward arrays once; the columns of a dense Hessian);
  // else direction r at row r of x and of the forward arrays. Work spaces
  // ra, rh, rdh [rows, n, h] and rout [rows, n, o].
  void mlp_hvp(cublasHandle_t h, std::int64_t rows, bool shared, const T* x, const T* hid,
               const T* dh, const T* dout, const T* v, T* hv, T* ra, T* rh, T* rdh, T* rout) const {
    if (rows == 0) return;
    const std::int64_t dim = view.n, n = mlp.n, d = mlp.d, hh = mlp.h, o = mlp.o;
    const std::int64_t nh = n * hh, no = n * o;
    const std::int64_t ps = shared ? 0 : dim, hs = shared ? 0 : nh, os = shared ? 0 : no;
    const T* xs = mlp_x.get();
    const T* w2 = x + mlp.w2();
    const T* v2 = v + mlp.w2();
    gemm_rm_strided(h, false, true, n, hh, d, xs, 0, v + mlp.w1(), dim, ra, nh, rows);  // X V1^T
    mlp_r_hidden_kernel<T>
        <<<flat_blocks(rows * nh), kFlatThreads>>>(ra, rh, hid, hs, v, dim, mlp.b1(), rows, nh, hh);
    SS_LAUNCHED("mlp_r_hidden_kernel");
    gemm_rm_strided(h, false, true, n, o, hh, rh, nh, w2, ps, rout, no, rows);          // R{H} W2^T
    gemm_rm_strided(h, false, true, n, o, hh, hid, hs, v2, dim, rout, no, rows, T(1));  // + H V2^T
    mlp_r_out_kernel<T><<<flat_blocks(rows * no), kFlatThreads>>>(rout, v, dim, mlp.b2(), rows, no,
                                                                  o, T(1) / static_cast<T>(n));
    SS_LAUNCHED("mlp_r_out_kernel");
    // R{grad W2} = R{dout}^T H + dout^T R{H};  R{grad b2} = colsum R{dout}
    gemm_rm_strided(h, true, false, o, hh, n, rout, no, hid, hs, hv + mlp.w2(), dim, rows);
    gemm_rm_strided(h, true, false, o, hh, n, dout, os, rh, nh, hv + mlp.w2(), dim, rows, T(1));
    mlp_colsum_kernel<T>
        <<<flat_blocks(rows * o), kFlatThreads>>>(rout, no, hv + mlp.b2(), dim, rows, n, o);
    SS_LAUNCHED("mlp_colsum_kernel");
    // R{dH} = R{dout} W2 + dout V2;  R{dA} = R{dH} tanh'(A) + dH tanh''(A) R{A}
    gemm_rm_strided(h, false, false, n, hh, o, rout, no, w2, ps, rdh, nh, rows);
    gemm_rm_strided(h, false, false, n, hh, o, dout, os, v2, dim, rdh, nh, rows, T(1));
    mlp_r_dact_kernel<T><<<flat_blocks(rows * nh), kFlatThreads>>>(rdh, hid, dh, hs, ra, rows, nh);
    SS_LAUNCHED("mlp_r_dact_kernel");
    gemm_rm_strided(h, true, false, hh, d, n, rdh, nh, xs, 0, hv + mlp.w1(), dim,
                    rows);  // R{dA}^T X
    mlp_colsum_kernel<T>
        <<<flat_blocks(rows * hh), kFlatThreads>>>(rdh, nh, hv + mlp.b1(), dim, rows, n, hh);
    SS_LAUNCHED("mlp_colsum_kernel");
  }

  // The deep linear network's forward and backward pass
  // (DeepLinearPass::value_grad) of `rows` parameter rows x [rows, dim] at
  // once, each layer one strided-batched GEMM over the rows (X shared):
  // Z_l = W_l Z_(l-1) (Z_0 = X), then the residual kernel (loss into f,
  // dZ_L = (Z_L - Y) / n) and, when g is not null, the gradient rows g
  // [rows, dim]: grad W_l = dZ_l Z_(l-1)^T and dZ_(l-1) = W_l^T dZ_l for
  // l = L .. 1. Work space: work [rows, work_per_row()], Z_l and dZ_l of
  // row r at the offsets of dl_zoff.
  void dl_value_grad(cublasHandle_t h, std::int64_t rows, const T* x, T* g, double* f,
                     T* work) const {
    if (rows == 0) return;
    const std::int64_t dim = view.n, n = dl_samples, ws = work_per_row(), L = dl_layers();
    const std::vector<std::int64_t>& d = dl_widths;
    T* z = work;             // Z_l at z + dl_zoff[l]
    T* dz = work + dl_span;  // dZ_l at dz + dl_zoff[l]
    const T* xs = dl_x.get();
    // Z_(l-1) of the rows and its stride: X shared for l = 1.
    const auto act = [&](std::int64_t l) -> const T* { return l == 1 ? xs : z + dl_zoff[l - 1]; };
    const auto act_stride = [&](std::int64_t l) { return l == 1 ? std::int64_t(0) : ws; };
    for (std::int64_t l = 1; l <= L; ++l)  // Z_l = W_l Z_(l-1)
      gemm_rm_strided(h, false, false, d[l], n, d[l - 1], x + dl_off[l], dim, act(l), act_stride(l),
                      z + dl_zoff[l], ws, rows);
    dl_residual_kernel<T><<<row_blocks(rows), kFlatThreads>>>(
        z + dl_zoff[L], dz + dl_zoff[L], ws, dl_y.get(), f, rows, d[L] * n, static_cast<T>(n),
        static_cast<double>(n));
    SS_LAUNCHED("dl_residual_kernel");
    if (!g) return;
    for (std::int64_t l = L; l >= 1; --l) {
      gemm_rm_strided(h, false, true, d[l], d[l - 1], n, dz + dl_zoff[l], ws, act(l), act_stride(l),
                      g + dl_off[l], dim, rows);  // grad W_l = dZ_l Z_(l-1)^T
      if (l == 1) break;
      gemm_rm_strided(h, true, false, d[l - 1], n, d[l], x + dl_off[l], dim, dz + dl_zoff[l], ws,
                      dz + dl_zoff[l - 1], ws, rows);  // dZ_(l-1) = W_l^T dZ_l
    }
  }

  // Deep-linear Hessian-vector products by the R-operator
  // (DeepLinearPass::hvp) for `rows` directions v [rows, dim] into hv [rows,
  // dim], at parameters x with the forward work rows of dl_value_grad (run
  // with g, so that every dZ_l is there). shared: every direction at the one
  // point x and its one work row (the columns of a dense Hessian); else
  // direction r at row r of x and of work. R{Z_l} = V_l Z_(l-1) + W_l
  // R{Z_(l-1)} (R{Z_0} = 0), R{dZ_L} = R{Z_L} / n, then for l = L .. 1:
  // R{grad W_l} = R{dZ_l} Z_(l-1)^T + dZ_l R{Z_(l-1)}^T and R{dZ_(l-1)} =
  // V_l^T dZ_l + W_l^T R{dZ_l}. The terms with R{Z_0} = 0, which the CPU
  // adds as exact zeros, are skipped. Work space: rwork [rows,
  // work_per_row()], R{Z_l} and R{dZ_l} at the offsets of Z_l and dZ_l.
  void dl_hvp(cublasHandle_t h, std::int64_t rows, bool shared, const T* x, const T* work,
              const T* v, T* hv, T* rwork) const {
    if (rows == 0) return;
    const std::int64_t dim = view.n, n = dl_samples, ws = work_per_row(), L = dl_layers();
    const std::int64_t ps = shared ? 0 : dim, fs = shared ? 0 : ws;
    const std::vector<std::int64_t>& d = dl_widths;
    const T* z = work;             // forward Z_l at z + dl_zoff[l], rows fs apart
    const T* dz = work + dl_span;  // forward dZ_l
    T* rz = rwork;                 // R{Z_l}, rows ws apart
    T* rdz = rwork + dl_span;      // R{dZ_l}
    const T* xs = dl_x.get();
    for (std::int64_t l = 1; l <= L; ++l) {
      const std::int64_t m_l = d[l], k_l = d[l - 1];
      if (l == 1) {  // R{Z_1} = V_1 X
        gemm_rm_strided(h, false, false, m_l, n, k_l, v + dl_off[l], dim, xs, 0, rz + dl_zoff[l],
                        ws, rows);
        continue;
      }
      gemm_rm_strided(h, false, false, m_l, n, k_l, v + dl_off[l], dim, z + dl_zoff[l - 1], fs,
                      rz + dl_zoff[l], ws, rows);  // V_l Z_(l-1)
      gemm_rm_strided(h, false, false, m_l, n, k_l, x + dl_off[l], ps, rz + dl_zoff[l - 1], ws,
                      rz + dl_zoff[l], ws, rows, T(1));  // + W_l R{Z_(l-1)}
    }
    dl_r_out_kernel<T><<<flat_blocks(rows * d[L] * n), kFlatThreads>>>(
        rz + dl_zoff[L], rdz + dl_zoff[L], ws, rows, d[L] * n, static_cast<T>(n));
    SS_LAUNCHED("dl_r_out_kernel");
    for (std::int64_t l = L; l >= 1; --l) {
      const std::int64_t m_l = d[l], k_l = d[l - 1];
      const T* act = l == 1 ? xs : z + dl_zoff[l - 1];
      const std::int64_t as = l == 1 ? 0 : fs;
      gemm_rm_strided(h, false, true, m_l, k_l, n, rdz + dl_zoff[l], ws, act, as, hv + dl_off[l],
                      dim, rows);  // R{dZ_l} Z_(l-1)^T
      if (l == 1) break;
      gemm_rm_strided(h, false, true, m_l, k_l, n, dz + dl_zoff[l], fs, rz + dl_zoff[l - 1], ws,
                      hv + dl_off[l], dim, rows, T(1));  // + dZ_l R{Z_(l-1)}^T
      gemm_rm_strided(h, true, false, k_l, n, m_l, v + dl_off[l], dim, dz + dl_zoff[l], fs,
                      rdz + dl_zoff[l - 1], ws, rows);  // V_l^T dZ_l
      gemm_rm_strided(h, true, false, k_l, n, m_l, x + dl_off[l], ps, rdz + dl_zoff[l], ws,
                      rdz + dl_zoff[l - 1], ws, rows, T(1));  // + W_l^T R{dZ_l}
    }
  }

  // p = 3 p-spin: for each block of at most pspin_block(rows) rows r0 .. r0 +
  // rb - 1 of x [rows, n], the contraction Y = X_block T^T into y [rb, n^2]
  // (row k of y is Y_(r0 + k) = grad^2 H(x_(r0 + k)) [n, n], as the CPU
  // backend's GEMM), then body(r0, rb). The blocks run in order on the
  // default stream, so y is reused without synchronization.
  template <class F>
  void pspin_contract(cublasHandle_t h, std::int64_t rows, const T* x, T* y, F&& body) const {
    const std::int64_t n = view.n, nn = n * n, block = pspin_block(rows);
    for (std::int64_t r0 = 0; r0 < rows; r0 += block) {
      const std::int64_t rb = std::min(block, rows - r0);
      gemm_rm(h, false, true, rb, nn, n, x + r0 * n, couplings.get(), y);  // [rb, n^2]
      body(r0, rb);
    }
  }

  // p-spin values and Riemannian gradients of `rows` rows of x (at x as
  // given), as the CPU backend forms them (kernels/pspin.hpp): p = 2,
  // G_E = X A by one GEMM; p = 3, per block Y = X T^T (work space y
  // [pspin_block(rows), n^2]) and the products Y_r x_r = 2 g_E by one
  // strided-batched GEMM over the block's rows (n x n times n x 1); then the
  // epilogue kernel per row: E into f, g_R into g.
  void pspin_value_grad(cublasHandle_t h, std::int64_t rows, const T* x, T* g, double* f,
                        T* y) const {
    if (rows == 0) return;
    const std::int64_t n = view.n, nn = n * n;
    if (p == 2) {
      for_row_slabs(rows, n, [&](std::int64_t r0, std::int64_t r) {
        gemm_rm(h, false, false, r, n, n, x + r0 * n, couplings.get(), g + r0 * n);  // G_E = X A
      });
    } else {
      pspin_contract(h, rows, x, y, [&](std::int64_t r0, std::int64_t rb) {
        gemm_rm_strided(h, false, false, n, 1, n, y, nn, x + r0 * n, n, g + r0 * n, n,
                        rb);  // Y_r x_r
      });
    }
    pspin_grad_kernel<T><<<flat_blocks(rows), kFlatThreads>>>(p, x, g, f, rows, n);
    SS_LAUNCHED("pspin_grad_kernel");
  }

  // p-spin Hessian-vector products P (Y - c I) P v of `rows` rows (at x as
  // given), as the CPU backend: u = P v; p = 2, G_E = X A and Y u = U A by
  // GEMMs; p = 3, per block Y = X T^T, then Y_r x_r and Y_r u_r by
  // strided-batched GEMMs; then the epilogue kernel per row. Work spaces: ge,
  // u [rows, n]; y [pspin_block(rows), n^2] (p = 3 only).
  void pspin_hvp(cublasHandle_t h, std::int64_t rows, const T* x, const T* v, T* hv, T* ge, T* u,
                 T* y) const {
    if (rows == 0) return;
    const std::int64_t n = view.n, nn = n * n;
    sphere_project_kernel<T><<<flat_blocks(rows), kFlatThreads>>>(x, v, u, rows, n);
    SS_LAUNCHED("sphere_project_kernel");
    if (p == 2) {
      for_row_slabs(rows, n, [&](std::int64_t r0, std::int64_t r) {
        gemm_rm(h, false, false, r, n, n, x + r0 * n, couplings.get(), ge + r0 * n);  // X A
        gemm_rm(h, false, false, r, n, n, u + r0 * n, couplings.get(), hv + r0 * n);  // U A
      });
    } else {
      pspin_contract(h, rows, x, y, [&](std::int64_t r0, std::int64_t rb) {
        gemm_rm_strided(h, false, false, n, 1, n, y, nn, x + r0 * n, n, ge + r0 * n, n,
                        rb);  // Y_r x_r
        gemm_rm_strided(h, false, false, n, 1, n, y, nn, u + r0 * n, n, hv + r0 * n, n,
                        rb);  // Y_r u_r
      });
    }
    pspin_hvp_kernel<T><<<flat_blocks(rows), kFlatThreads>>>(p, x, ge, u, hv, rows, n);
    SS_LAUNCHED("pspin_hvp_kernel");
  }

  // p-spin: the embedded Riemannian Hessians P (Y - c I) P of `points`
  // points x [points, n] (at x as given) into hess [points, n, n], as the CPU
  // backend forms them: Y = A (p = 2) or the rows of X T^T (p = 3, one GEMM:
  // the caller keeps points * n^2 within the cuBLAS int range, e.g. points <=
  // pspin_block); per point q = x / |x|, w = Y q, alpha = q . w (double, work
  // spaces q, w [points, n] and alpha [points]) and c = alpha / (p - 1); then
  // the entries in place of Y.
  void pspin_hessians(cublasHandle_t h, std::int64_t points, const T* x, T* hess, double* q,
                      double* w, double* alpha) const {
    const std::int64_t n = view.n, nn = n * n;
    if (points == 0 || n == 0) return;
    if (p == 2) {
      broadcast_matrix_kernel<T>
          <<<flat_blocks(points * nn), kFlatThreads>>>(couplings.get(), hess, points, nn);
      SS_LAUNCHED("broadcast_matrix_kernel");
    } else {
      gemm_rm(h, false, true, points, nn, n, x, couplings.get(), hess);  // [points, n^2]
    }
    pspin_normal_kernel<T><<<flat_blocks(points), kFlatThreads>>>(x, q, points, n);
    SS_LAUNCHED("pspin_normal_kernel");
    pspin_yq_kernel<T><<<flat_blocks(points * n), kFlatThreads>>>(hess, q, w, points, n);
    SS_LAUNCHED("pspin_yq_kernel");
    pspin_alpha_kernel<<<flat_blocks(points), kFlatThreads>>>(q, w, alpha, points, n);
    SS_LAUNCHED("pspin_alpha_kernel");
    pspin_hessian_kernel<T>
        <<<flat_blocks(points * nn), kFlatThreads>>>(p, hess, q, w, alpha, points, n);
    SS_LAUNCHED("pspin_hessian_kernel");
  }

  // Hessian-vector products H v per row. Rotated quadratic: rows of V A (A
  // symmetric). Gaussian field: mu V + (h o (V W^T)) W, h_j the curvature at
  // Z = X W^T (z, u: work spaces [rows, m]).
  void coupled_hvp(cublasHandle_t h, std::int64_t rows, const T* x, const T* v, T* hv, T* z,
                   T* u) const {
    if (rows == 0) return;
    require(!is_mlp(), "mlp Hessian-vector products go through mlp_hvp");
    require(!is_deep_linear(), "deep-linear Hessian-vector products go through dl_hvp");
    require(!pspin(), "p-spin Hessian-vector products go through pspin_hvp");
    const std::int64_t n = view.n;
    if (!field()) {
      for_row_slabs(rows, n, [&](std::int64_t r0, std::int64_t r) {
        gemm_rm(h, false, false, r, n, n, v + r0 * n, matrix.get(), hv + r0 * n);
      });
      return;
    }
    for_row_slabs(rows, std::max(n, m), [&](std::int64_t r0, std::int64_t r) {
      T* zs = z + r0 * m;
      T* us = u + r0 * m;
      T* hs = hv + r0 * n;
      gemm_rm(h, false, true, r, m, n, x + r0 * n, w.get(), zs);  // Z = X W^T
      gemm_rm(h, false, true, r, m, n, v + r0 * n, w.get(), us);  // U = V W^T
      if (r * m > 0) {
        field_hvp_weights_kernel<T>
            <<<flat_blocks(r * m), kFlatThreads>>>(zs, us, a.get(), b.get(), c, r * m, m);
        SS_LAUNCHED("field_hvp_weights_kernel");
      }
      if (r * n > 0) {
        scale_kernel<T><<<flat_blocks(r * n), kFlatThreads>>>(v + r0 * n, mu, hs, r * n);
        SS_LAUNCHED("scale_kernel");
      }
      gemm_rm(h, false, false, r, n, m, us, w.get(), hs, T(1));  // mu V + (h o U) W
    });
  }

  // Gaussian field: the curvatures h [rows, m] at `rows` points x (Z = X W^T,
  // then h_j = field_curvature(z_j) in place).
  void field_curvatures(cublasHandle_t h, std::int64_t rows, const T* x, T* hz) const {
    const std::int64_t n = view.n;
    for_row_slabs(rows, std::max(n, m), [&](std::int64_t r0, std::int64_t r) {
      gemm_rm(h, false, true, r, m, n, x + r0 * n, w.get(), hz + r0 * m);  // Z = X W^T
    });
    if (rows * m > 0) {
      field_curvature_kernel<T>
          <<<flat_blocks(rows * m), kFlatThreads>>>(hz, a.get(), b.get(), c, rows * m, m);
      SS_LAUNCHED("field_curvature_kernel");
    }
  }

  // Gaussian field: dense Hessians mu I + W^T diag(h_p) W of `points` points
  // with curvatures hz [points, m], into hess [points, n, n] (row-major and
  // column-major alike up to rounding; the row-major reading is the CPU's
  // product order). dw: work space [points, m, n].
  void field_hessians(cublasHandle_t h, std::int64_t points, const T* hz, T* dw, T* hess) const {
    const std::int64_t n = view.n;
    if (points == 0 || n == 0) return;
    if (m > 0) {
      scaled_rows_kernel<T>
          <<<flat_blocks(points * m * n), kFlatThreads>>>(w.get(), hz, dw, points, m, n);
      SS_LAUNCHED("scaled_rows_kernel");
    }
    identity_kernel<T><<<flat_blocks(points * n * n), kFlatThreads>>>(hess, mu, points, n);
    SS_LAUNCHED("identity_kernel");
    for (std::int64_t p = 0; p < points; ++p)  // mu I + W^T (diag(h) W)
      gemm_rm(h, true, false, n, n, m, w.get(), dw + p * m * n, hess + p * n * n, T(1));
  }
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

  // Checkpoints, in the CPU ensemble's layout and order. Saved, in the
  // ensemble's precision T where the arrays are in T:
  //   x_[0], x_[1]   x_{t+1} of the running rows is in x_[(t + 1) % 2], and a
  //                  stopped row's final point in x_[steps % 2], either one.
  //                  After a result(want_finals) x_[0] also holds the gathered
  //                  finals; the gather touches stopped rows only (running
  //                  rows have steps 0), which are never read again, so the
  //                  buffers are saved as they are;
  //   s1_, s2_       the optimizer's states (empty when it has none);
  //   paths_, pbuf_  the recorded paths and the three plateau point buffers;
  //   outcome_ .. curves_  the records (outcome, steps, f_init, f_final,
  //                  gnorm_final, curves);
  //   plateau_       each trajectory's PlateauState: the plateau bookkeeping,
  //                  the target step, the buffer roles and the save flag the
  //                  next fused step reads;
  //   last_perturb_, perturb_now_  perturbed-gd's schedule and the rows the
  //                  next iteration perturbs first (empty otherwise).
  // Not saved, because each iteration writes them before reading them: g_
  // (the coupled gradient rows), z_ and f_rows_ (the GEMM pass's work space
  // and values per trajectory), partials_ (written by the fused step, read by
  // the status kernel of the same iteration); running_, zeroed by every
  // running(). threads_ and nslices_ are functions of n; the objective's
  // device data and the cuBLAS handle are built from the spec; the step
  // scalars and the noise are functions of t, which iterate() is given.
  std::vector<std::uint8_t> save_state() override {
    // Synchronous copies on the default stream: they wait for the last iterate().
    ckpt::Writer w;
    for (const DeviceArray<T>* a :
         {&x_[0], &x_[1], &s1_, &s2_, &paths_, &pbuf_[0], &pbuf_[1], &pbuf_[2]})
      w.vec(a->download());
    w.vec(outcome_.download());
    w.vec(steps_.download());
    w.vec(f_init_.download());
    w.vec(f_final_.download());
    w.vec(gnorm_final_.download());
    w.vec(curves_.download());
    w.vec(plateau_.download());
    w.vec(last_perturb_.download());
    w.vec(perturb_now_.download());
    return w.bytes();
  }

  // Everything is read and checked before anything is uploaded, so a refused
  // state leaves the ensemble as it was.
  void load_state(const std::vector<std::uint8_t>& state) override {
    ckpt::Reader rd(state, "checkpoint (cuda ensemble)");
    DeviceArray<T>* const arrays[] = {&x_[0],  &x_[1],    &s1_,      &s2_,
                                      &paths_, &pbuf_[0], &pbuf_[1], &pbuf_[2]};
    std::vector<T> values[8];
    for (int k = 0; k < 8; ++k) values[k] = read_like(rd, *arrays[k]);
    const std::vector<std::int8_t> outcome = read_like(rd, outcome_);
    const std::vector<std::int64_t> steps = read_like(rd, steps_);
    const std::vector<double> f_init = read_like(rd, f_init_);
    const std::vector<double> f_final = read_like(rd, f_final_);
    const std::vector<double> gnorm_final = read_like(rd, gnorm_final_);
    const std::vector<float> curves = read_like(rd, curves_);
    const std::vector<PlateauState> plateau = read_like(rd, plateau_);
    const std::vector<std::int64_t> last_perturb = read_like(rd, last_perturb_);
    const std::vector<std::int8_t> perturb_now = read_like(rd, perturb_now_);
    if (!rd.done())
      throw InputError("checkpoint: the ensemble state does not match this run (trailing data)");
    // The roles index the three plateau point buffers on the device: each
    // state's must be a permutation of 0, 1, 2.
    for (const PlateauState& ps : plateau) {
      const int a = ps.role[0], b = ps.role[1], c = ps.role[2];
      if (a < 0 || a > 2 || b < 0 || b > 2 || c < 0 || c > 2 || a == b || a == c || b == c)
        throw InputError("checkpoint: the ensemble state is damaged (plateau buffer roles)");
    }
    for (int k = 0; k < 8; ++k) arrays[k]->upload(values[k]);
    outcome_.upload(outcome);
    steps_.upload(steps);
    f_init_.upload(f_init);
    f_final_.upload(f_final);
    gnorm_final_.upload(gnorm_final);
    curves_.upload(curves);
    plateau_.upload(plateau);
    last_perturb_.upload(last_perturb);
    perturb_now_.upload(perturb_now);
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

// ---------------------------------------------------------------------------
// Symmetric eigendecompositions.

// Matrices of order n <= kBatchedMaxN are solved by cusolverDnXsyevBatched, a
// group of matrices per call; larger ones by cusolverDnXsyevd, one matrix per
// call. The threshold is provisional: it awaits the GPU benchmark.
constexpr std::int64_t kBatchedMaxN = 64;

template <class T>
constexpr cudaDataType_t kCudaType = std::is_same_v<T, float> ? CUDA_R_32F : CUDA_R_64F;

// ---------------------------------------------------------------------------
// Sylvester counts: Bunch-Kaufman LDL^T of H - sI (cuSOLVER sytrf, lower,
// column-major) and the negative eigenvalues of its block-diagonal D.

// a = H - sI from the pristine column-major copy of H, n x n. The diagonal is
// formed as the CPU backend forms it: diag(H) - s in double, then rounded to
// T (the pristine diagonal, already rounded to T, is not used).
template <class T>
__global__ void shifted_copy_kernel(const T* pristine, const double* diag, double s, T* a,
                                    std::int64_t n) {
  const std::int64_t len = n * n;
  for (std::int64_t q = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; q < len;
       q += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t j = q / n, i = q - j * n;
    a[q] = i == j ? static_cast<T>(diag[i] - s) : pristine[q];
  }
}

// One thread: the count from sytrf's output a (column-major: rs = 1, cs = n)
// and ipiv, or -1 when sytrf reported an illegal argument (info < 0). A zero
// pivot (info > 0) still leaves a valid D, as in LAPACK, whose zero is not
// counted as negative.
template <class T>
__global__ void inertia_count_kernel(const T* a, const int* ipiv, const int* info, std::int64_t n,
                                     std::int64_t* count) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  *count = *info < 0 ? std::int64_t(-1) : negative_count_ldlt(a, ipiv, n, std::int64_t(1), n);
}

// Workspace of sytrf in elements of T (cuSOLVER's legacy 32-bit API; there is
// no 64-bit generic sytrf).
int sytrf_lwork(cusolverDnHandle_t h, int n, float* a) {
  int lwork = 0;
  SS_CUSOLVER(cusolverDnSsytrf_bufferSize(h, n, a, n, &lwork));
  return lwork;
}
int sytrf_lwork(cusolverDnHandle_t h, int n, double* a) {
  int lwork = 0;
  SS_CUSOLVER(cusolverDnDsytrf_bufferSize(h, n, a, n, &lwork));
  return lwork;
}
// The status is returned, not checked: the caller decides which failures are
// a failed factorization and which are errors.
cusolverStatus_t sytrf_lower(cusolverDnHandle_t h, int n, float* a, int* ipiv, float* work,
                             int lwork, int* info) {
  return cusolverDnSsytrf(h, CUBLAS_FILL_MODE_LOWER, n, a, n, ipiv, work, lwork, info);
}
cusolverStatus_t sytrf_lower(cusolverDnHandle_t h, int n, double* a, int* ipiv, double* work,
                             int lwork, int* info) {
  return cusolverDnDsytrf(h, CUBLAS_FILL_MODE_LOWER, n, a, n, ipiv, work, lwork, info);
}

// Statuses that mean "this factorization failed" (its count is -1) rather
// than a programming error (bad arguments, workspace, architecture, an
// uninitialized handle), which throws. Out of memory throws ResourceError,
// like every other allocation failure of this backend.
bool factorization_failed(cusolverStatus_t st) {
  return st == CUSOLVER_STATUS_EXECUTION_FAILED || st == CUSOLVER_STATUS_INTERNAL_ERROR;
}

// ---------------------------------------------------------------------------
// Backend.

class CudaBackend final : public Backend {
 public:
  std::string name() const override { return "cuda"; }

  std::string device() const override {
    int dev = 0;
    SS_CUDA(cudaGetDevice(&dev));
    cudaDeviceProp prop{};
    SS_CUDA(cudaGetDeviceProperties(&prop, dev));
    char mem[32];
    std::snprintf(mem, sizeof mem, " (%.1f GiB)",
                  static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    return std::string(prop.name) + mem;
  }

  // cusolverDn<t>sytrf indexes the n x n matrix with 32-bit ints.
  std::int64_t max_count_order() const override { return 46340; }

  std::uint64_t memory_budget() const override {
    std::size_t free_bytes = 0, total_bytes = 0;
    SS_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
    // Headroom for the CUDA context, cuBLAS workspaces and fragmentation.
    return static_cast<std::uint64_t>(0.85 * static_cast<double>(free_bytes));
  }

  double copy_bandwidth(std::uint64_t bytes, int repeats) override {
    DeviceArray<char> a(bytes), b(bytes);
    SS_CUDA(cudaMemset(a.get(), 1, bytes));
    // Events owned by guards: a failing call below throws without leaking them.
    struct Event {
      cudaEvent_t e = nullptr;
      Event() { SS_CUDA(cudaEventCreate(&e)); }
      ~Event() { cudaEventDestroy(e); }
      Event(const Event&) = delete;
      Event& operator=(const Event&) = delete;
    };
    const Event start, stop;
    float best_ms = 1e30f;
    for (int r = 0; r < repeats + 1; ++r) {  // the first copy warms up
      SS_CUDA(cudaEventRecord(start.e));
      SS_CUDA(cudaMemcpy(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice));
      SS_CUDA(cudaEventRecord(stop.e));
      SS_CUDA(cudaEventSynchronize(stop.e));
      float ms = 0;
      SS_CUDA(cudaEventElapsedTime(&ms, start.e, stop.e));
      if (r > 0) best_ms = std::min(best_ms, ms);
    }
    return 2.0 * static_cast<double>(bytes) / (static_cast<double>(best_ms) * 1e-3);
  }

  // The host-driven optimizers have no per-coordinate rule for a device
  // ensemble: the engine runs them through make_host_ensemble
  // (src/core/host_optimizers.cpp), which calls value_grad / hessian / eigh.
  std::unique_ptr<Ensemble> make_ensemble(const EnsembleSpec& s) override {
    require(s.objective != nullptr, "ensemble without an objective");
    const OptimizerKind k = s.optimizer.kind;
    if (k == OptimizerKind::saddle_free_newton || k == OptimizerKind::annealing)
      throw BackendError(std::string("cuda backend: ") + optimizer_kind_name(k) +
                         " is a host-driven optimizer with no device ensemble; it runs through "
                         "make_host_ensemble, which steps it with this backend's value_grad, "
                         "hessian and eigh");
    if (s.precision == Precision::f32) return std::make_unique<CudaEnsemble<float>>(s);
    return std::make_unique<CudaEnsemble<double>>(s);
  }

  ObjectiveEval value_grad(const ObjectiveData& d, Precision p, std::int64_t batch,
                           const std::vector<double>& x) override {
    return p == Precision::f32 ? value_grad_t<float>(d, batch, x)
                               : value_grad_t<double>(d, batch, x);
  }
  std::vector<double> hvp(const ObjectiveData& d, Precision p, std::int64_t batch,
                          const std::vector<double>& x, const std::vector<double>& v) override {
    return p == Precision::f32 ? hvp_t<float>(d, batch, x, v) : hvp_t<double>(d, batch, x, v);
  }
  std::vector<double> hessian(const ObjectiveData& d, Precision p, std::int64_t batch,
                              const std::vector<double>& x) override {
    return p == Precision::f32 ? hessian_t<float>(d, batch, x) : hessian_t<double>(d, batch, x);
  }
  EighResult eigh(Precision p, std::int64_t batch, std::int64_t n, const std::vector<double>& h,
                  bool vectors) override {
    return p == Precision::f32 ? eigh_t<float>(batch, n, h, vectors)
                               : eigh_t<double>(batch, n, h, vectors);
  }
  std::vector<std::int64_t> count_below(Precision p, std::int64_t batch, std::int64_t n,
                                        const std::vector<double>& h,
                                        const std::vector<double>& shifts,
                                        std::int64_t k) override {
    return p == Precision::f32 ? count_below_t<float>(batch, n, h, shifts, k)
                               : count_below_t<double>(batch, n, h, shifts, k);
  }

 private:
  // The default-mode handle, or with tf32 (use_tf32: objective.tf32 on an
  // f32 evaluation) the TF32 one.
  cublasHandle_t cublas(bool tf32 = false) {
    std::unique_ptr<CublasHandle>& handle = tf32 ? cublas_tf32_ : cublas_;
    if (!handle) handle = std::make_unique<CublasHandle>(tf32);
    return handle->get();
  }
  const CusolverDn& cusolver() {
    if (!cusolver_) cusolver_ = std::make_unique<CusolverDn>();
    return *cusolver_;
  }

  // Uploads a [batch, dim] host array in precision T.
  template <class T>
  static DeviceArray<T> upload_rows(const std::vector<double>& h, std::int64_t batch,
                                    std::int64_t n) {
    DeviceArray<T> d(checked_size(batch, n));
    d.upload(convert<T>(h));
    return d;
  }

  template <class T>
  ObjectiveEval value_grad_t(const ObjectiveData& d, std::int64_t batch,
                             const std::vector<double>& x64) {
    const DeviceObjective<T> obj(d);
    const std::int64_t n = d.dim;
    const DeviceArray<T> x = upload_rows<T>(x64, batch, n);
    DeviceArray<T> grow(obj.view.coupled ? x.size() : 0), g(x.size());
    DeviceArray<T> z(obj.work_elements(batch));
    DeviceArray<double> f(checked_size(batch)), f_rows(obj.row_values() ? checked_size(batch) : 0);
    ObjectiveEval r;
    if (batch == 0) return r;
    if (obj.view.coupled)
      obj.coupled_value_grad(cublas(use_tf32<T>(d)), batch, x.get(), grow.get(), f_rows.get(),
                             z.get());
    value_grad_kernel<T><<<row_blocks(batch), kFlatThreads>>>(
        obj.view, x.get(), grow.get(), f_rows.get(), g.get(), f.get(), batch, n);
    SS_LAUNCHED("value_grad_kernel");
    r.f = f.download();
    r.g = to_double(g.download());
    return r;
  }

  template <class T>
  std::vector<double> hvp_t(const ObjectiveData& d, std::int64_t batch,
                            const std::vector<double>& x64, const std::vector<double>& v64) {
    const DeviceObjective<T> obj(d);
    const std::int64_t n = d.dim;
    const DeviceArray<T> x = upload_rows<T>(x64, batch, n), v = upload_rows<T>(v64, batch, n);
    DeviceArray<T> hv(x.size());
    if (hv.empty()) return {};
    if (obj.is_mlp()) {  // forward and backward at every row, then the R-operator
      const MlpShape& s = obj.mlp;
      const std::size_t hid = checked_size(batch, s.n * s.h), out = checked_size(batch, s.n * s.o);
      DeviceArray<T> g(x.size()), h(hid), dh(hid), rdh(hid), ra(hid), rh(hid), dout(out), rout(out);
      DeviceArray<double> f(checked_size(batch));
      cublasHandle_t handle = cublas(use_tf32<T>(d));
      obj.mlp_value_grad(handle, batch, x.get(), g.get(), f.get(), h.get(), dh.get(), rdh.get(),
                         dout.get());
      obj.mlp_hvp(handle, batch, false, x.get(), h.get(), dh.get(), dout.get(), v.get(), hv.get(),
                  ra.get(), rh.get(), rdh.get(), rout.get());
    } else if (obj.is_deep_linear()) {  // the same for the deep linear network
      const std::size_t work = checked_size(batch, obj.work_per_row());
      DeviceArray<T> g(x.size()), fw(work), rw(work);
      DeviceArray<double> f(checked_size(batch));
      cublasHandle_t handle = cublas(use_tf32<T>(d));
      obj.dl_value_grad(handle, batch, x.get(), g.get(), f.get(), fw.get());
      obj.dl_hvp(handle, batch, false, x.get(), fw.get(), v.get(), hv.get(), rw.get());
    } else if (obj.pspin()) {  // at x as given (not retracted)
      DeviceArray<T> ge(x.size()), u(x.size());
      DeviceArray<T> y(obj.p == 3 ? checked_size(obj.pspin_block(batch), n * n) : 0);
      obj.pspin_hvp(cublas(use_tf32<T>(d)), batch, x.get(), v.get(), hv.get(), ge.get(), u.get(),
                    y.get());
    } else if (obj.view.coupled) {
      const std::size_t features = obj.field() ? checked_size(batch, obj.m) : 0;
      DeviceArray<T> z(features), u(features);
      obj.coupled_hvp(cublas(use_tf32<T>(d)), batch, x.get(), v.get(), hv.get(), z.get(), u.get());
    } else {
      hvp_kernel<T><<<flat_blocks(batch * n), kFlatThreads>>>(obj.view, x.get(), v.get(), hv.get(),
                                                              batch, n);
      SS_LAUNCHED("hvp_kernel");
    }
    return to_double(hv.download());
  }

  // The device computes the Hessian band; the dense [batch, dim, dim] layout
  // is assembled on the host, which moves 2 instead of dim numbers per
  // coordinate across the bus. A rotated quadratic's Hessian is the matrix A
  // itself; the gaussian field's, the networks' and the p-spin's are dense
  // and computed by GEMMs.
  template <class T>
  std::vector<double> hessian_t(const ObjectiveData& d, std::int64_t batch,
                                const std::vector<double>& x64) {
    const std::int64_t n = d.dim;
    std::vector<double> h(checked_size(batch, n) * static_cast<std::size_t>(n), 0.0);
    if (h.empty()) return h;
    if (d.kind == ObjectiveKind::gaussian_field) {
      field_hessian_t<T>(d, batch, x64, h);
      return h;
    }
    if (d.kind == ObjectiveKind::mlp) {
      mlp_hessian_t<T>(d, batch, x64, h);
      return h;
    }
    if (d.kind == ObjectiveKind::deep_linear) {
      dl_hessian_t<T>(d, batch, x64, h);
      return h;
    }
    if (d.kind == ObjectiveKind::p_spin) {
      pspin_hessian_t<T>(d, batch, x64, h);
      return h;
    }
    if (d.coupled()) {
      const std::vector<T> a = convert<T>(d.matrix);  // rounded as the CPU backend does
      for (std::int64_t b = 0; b < batch; ++b) std::copy(a.begin(), a.end(), h.begin() + b * n * n);
      return h;
    }
    const DeviceObjective<T> obj(d);
    const DeviceArray<T> x = upload_rows<T>(x64, batch, n);
    DeviceArray<T> diag(x.size()), upper(x.size());
    hessian_band_kernel<T><<<flat_blocks(batch * n), kFlatThreads>>>(obj.view, x.get(), diag.get(),
                                                                     upper.get(), batch, n);
    SS_LAUNCHED("hessian_band_kernel");
    const std::vector<T> dg = diag.download(), up = upper.download();
    for (std::int64_t b = 0; b < batch; ++b) {
      double* hb = h.data() + b * n * n;
      for (std::int64_t i = 0; i < n; ++i) {
        hb[i * n + i] = dg[b * n + i];
        if (i + 1 < n) hb[i * n + i + 1] = hb[(i + 1) * n + i] = up[b * n + i];
      }
    }
    return h;
  }

  // Gaussian-field Hessians mu I + W^T diag(h) W: the curvatures of every
  // point from one GEMM, then groups of points that fit in the memory budget
  // (their diag(h) W and Hessians), one GEMM per point, into h [batch, n, n]
  // (n > 0, batch > 0).
  template <class T>
  void field_hessian_t(const ObjectiveData& d, std::int64_t batch, const std::vector<double>& x64,
                       std::vector<double>& h) {
    const DeviceObjective<T> obj(d);
    const std::int64_t n = d.dim, m = obj.m;
    const std::size_t nn = checked_size(n, n), mn = checked_size(m, n);
    cublasHandle_t handle = cublas(use_tf32<T>(d));
    DeviceArray<T> hz(checked_size(batch, m));
    {
      const DeviceArray<T> x = upload_rows<T>(x64, batch, n);
      obj.field_curvatures(handle, batch, x.get(), hz.get());
    }
    const double budget = static_cast<double>(memory_budget());
    const double per_point = static_cast<double>((nn + mn) * sizeof(T));
    const std::int64_t group = static_cast<std::int64_t>(
        std::min(static_cast<double>(batch), std::max(1.0, budget / per_point)));
    DeviceArray<T> dw(checked_size(group) * mn), hess(checked_size(group) * nn);
    std::vector<T> hh;
    for (std::int64_t b0 = 0; b0 < batch; b0 += group) {
      const std::int64_t g = std::min(group, batch - b0);
      obj.field_hessians(handle, g, hz.get() + b0 * m, dw.get(), hess.get());
      // A synchronous copy on the default stream: it waits for the GEMMs.
      hh.resize(checked_size(g) * nn);
      SS_CUDA(cudaMemcpy(hh.data(), hess.get(), hh.size() * sizeof(T), cudaMemcpyDeviceToHost));
      std::copy(hh.begin(), hh.end(), h.begin() + b0 * n * n);
    }
  }

  // Dense Hessians of a network objective from Hessian-vector products, shared
  // by the mlp and deep-linear: per point x_b, prepare(x_b) runs its forward
  // and backward pass once; then groups of up to `group` unit directions e_k
  // go through hvp(c, x_b) (reading v, writing hv), the columns are gathered
  // on the host, and the result is symmetrized (H + H^T) / 2 in T, as the CPU
  // backend does. Into h [batch, n, n].
  template <class T, class Prepare, class Hvp>
  void hessians_from_hvps(std::int64_t batch, std::int64_t n, const T* x, std::int64_t group,
                          DeviceArray<T>& v, DeviceArray<T>& hv, std::vector<double>& h,
                          Prepare&& prepare, Hvp&& hvp) {
    std::vector<T> cols, hp(checked_size(n, n));
    for (std::int64_t b = 0; b < batch; ++b) {
      const T* xb = x + b * n;
      prepare(xb);
      for (std::int64_t k0 = 0; k0 < n; k0 += group) {
        const std::int64_t c = std::min(group, n - k0);
        unit_rows_kernel<T><<<flat_blocks(c * n), kFlatThreads>>>(v.get(), k0, c, n);
        SS_LAUNCHED("unit_rows_kernel");
        hvp(c, xb);
        // A synchronous copy on the default stream: it waits for the GEMMs.
        cols.resize(checked_size(c, n));
        SS_CUDA(cudaMemcpy(cols.data(), hv.get(), cols.size() * sizeof(T), cudaMemcpyDeviceToHost));
        for (std::int64_t j = 0; j < c; ++j)  // column k0 + j
          for (std::int64_t i = 0; i < n; ++i) hp[i * n + k0 + j] = cols[j * n + i];
      }
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t k = i + 1; k < n; ++k)
          hp[i * n + k] = hp[k * n + i] = (hp[i * n + k] + hp[k * n + i]) / T(2);
      std::copy(hp.begin(), hp.end(), h.begin() + b * n * n);
    }
  }

  // MLP Hessians as the CPU backend forms them: column k = H e_k by the
  // R-operator, then (H + H^T) / 2 in T. Point by point: its forward and
  // backward pass once, then groups of columns that fit in the memory budget
  // (unit directions, the R-operator's work spaces and the columns), every
  // column of a group at the shared point in one batched pass. Into h
  // [batch, n, n] (n > 0, batch > 0).
  template <class T>
  void mlp_hessian_t(const ObjectiveData& d, std::int64_t batch, const std::vector<double>& x64,
                     std::vector<double>& h) {
    const DeviceObjective<T> obj(d);
    const MlpShape& s = obj.mlp;
    const std::int64_t n = d.dim, nh = s.n * s.h, no = s.n * s.o;
    cublasHandle_t handle = cublas(use_tf32<T>(d));
    const DeviceArray<T> x = upload_rows<T>(x64, batch, n);
    DeviceArray<T> g(checked_size(n)), hid(checked_size(nh)), dh(checked_size(nh)),
        da(checked_size(nh)), dout(checked_size(no));
    DeviceArray<double> f(1);
    const double budget = static_cast<double>(memory_budget());
    const double per_column = static_cast<double>(checked_size(3 * nh + no + 2 * n) * sizeof(T));
    const std::int64_t group = static_cast<std::int64_t>(
        std::min(static_cast<double>(n), std::max(1.0, budget / per_column)));
    DeviceArray<T> ra(checked_size(group, nh)), rh(checked_size(group, nh)),
        rdh(checked_size(group, nh)), rout(checked_size(group, no));
    DeviceArray<T> v(checked_size(group, n)), hv(checked_size(group, n));
    hessians_from_hvps<T>(
        batch, n, x.get(), group, v, hv, h,
        [&](const T* xb) {
          obj.mlp_value_grad(handle, 1, xb, g.get(), f.get(), hid.get(), dh.get(), da.get(),
                             dout.get());
        },
        [&](std::int64_t c, const T* xb) {
          obj.mlp_hvp(handle, c, true, xb, hid.get(), dh.get(), dout.get(), v.get(), hv.get(),
                      ra.get(), rh.get(), rdh.get(), rout.get());
        });
  }

  // Deep-linear Hessians, formed like the mlp's (mlp_hessian_t): per point
  // its forward and backward pass once (one work row), then groups of
  // columns H e_k that fit in the memory budget (unit directions, the
  // R-operator's work rows and the columns) in one batched dl_hvp at the
  // shared point, then (H + H^T) / 2 in T. Into h [batch, n, n] (n > 0,
  // batch > 0).
  template <class T>
  void dl_hessian_t(const ObjectiveData& d, std::int64_t batch, const std::vector<double>& x64,
                    std::vector<double>& h) {
    const DeviceObjective<T> obj(d);
    const std::int64_t n = d.dim, ws = obj.work_per_row();
    cublasHandle_t handle = cublas(use_tf32<T>(d));
    const DeviceArray<T> x = upload_rows<T>(x64, batch, n);
    DeviceArray<T> g(checked_size(n)), fw(checked_size(ws));
    DeviceArray<double> f(1);
    const double budget = static_cast<double>(memory_budget());
    const double per_column = static_cast<double>(checked_size(ws + 2 * n) * sizeof(T));
    const std::int64_t group = static_cast<std::int64_t>(
        std::min(static_cast<double>(n), std::max(1.0, budget / per_column)));
    DeviceArray<T> v(checked_size(group, n)), hv(checked_size(group, n)),
        rw(checked_size(group, ws));
    hessians_from_hvps<T>(
        batch, n, x.get(), group, v, hv, h,
        [&](const T* xb) { obj.dl_value_grad(handle, 1, xb, g.get(), f.get(), fw.get()); },
        [&](std::int64_t c, const T* xb) {
          obj.dl_hvp(handle, c, true, xb, fw.get(), v.get(), hv.get(), rw.get());
        });
  }

  // p-spin Hessians, the embedded Riemannian P (Y - c I) P at x as given:
  // groups of pspin_block(batch) points (at most kPspinWorkElements entries
  // of Hessians, so that the p = 3 contraction's GEMM fits cuBLAS's int
  // sizes), each group by pspin_hessians and one copy to the host, into h
  // [batch, n, n] (n > 0, batch > 0).
  template <class T>
  void pspin_hessian_t(const ObjectiveData& d, std::int64_t batch, const std::vector<double>& x64,
                       std::vector<double>& h) {
    const DeviceObjective<T> obj(d);
    const std::int64_t n = d.dim;
    const std::size_t nn = checked_size(n, n);
    cublasHandle_t handle = cublas(use_tf32<T>(d));
    const DeviceArray<T> x = upload_rows<T>(x64, batch, n);
    const std::int64_t group = obj.pspin_block(batch);
    DeviceArray<T> hess(checked_size(group) * nn);
    DeviceArray<double> q(checked_size(group, n)), w(checked_size(group, n)),
        alpha(checked_size(group));
    std::vector<T> hh;
    for (std::int64_t b0 = 0; b0 < batch; b0 += group) {
      const std::int64_t g = std::min(group, batch - b0);
      obj.pspin_hessians(handle, g, x.get() + b0 * n, hess.get(), q.get(), w.get(), alpha.get());
      // A synchronous copy on the default stream: it waits for the kernels.
      hh.resize(checked_size(g) * nn);
      SS_CUDA(cudaMemcpy(hh.data(), hess.get(), hh.size() * sizeof(T), cudaMemcpyDeviceToHost));
      std::copy(hh.begin(), hh.end(), h.begin() + b0 * n * n);
    }
  }

  // Same results as the CPU backend's LAPACKE ?syevd (row-major, 'L'): values
  // ascending, row-major vectors with column k = eigenvector k, and the
  // solver's info per matrix (a failed solve is reported, not thrown; its
  // values and vectors are whatever the solver left). Only the row-major
  // lower triangle of h is trusted: it is mirrored into the upper one on the
  // host (O(n^2) against the solver's O(n^3)), so the column-major matrix
  // cuSOLVER reads is the intended symmetric matrix whichever triangle it
  // uses. The column-major eigenvectors are transposed on the host.
  template <class T>
  EighResult eigh_t(std::int64_t batch, std::int64_t n, const std::vector<double>& h,
                    bool vectors) {
    const std::size_t nn = checked_size(n, n);
    require(h.size() == checked_size(batch) * nn,
            "eigh input of " + std::to_string(h.size()) + " elements is not " +
                std::to_string(batch) + " x " + std::to_string(n) + " x " + std::to_string(n));
    EighResult r;
    r.values.assign(checked_size(batch, n), 0.0);
    if (vectors) r.vectors.assign(h.size(), 0.0);
    r.info.assign(checked_size(batch), 0);
    if (batch == 0 || n == 0) return r;

    const CusolverDn& sv = cusolver();  // created before the free memory is measured
    const bool batched = n <= kBatchedMaxN;
    const cusolverEigMode_t jobz = vectors ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
    const cublasFillMode_t uplo = CUBLAS_FILL_MODE_LOWER;  // either would do: see above
    constexpr cudaDataType_t type = kCudaType<T>;

    // Workspace bytes {device, host} of one call on m matrices at a, w.
    const auto workspace = [&](std::int64_t m, const T* a, const T* w) {
      std::pair<std::size_t, std::size_t> ws{0, 0};
      if (batched)
        SS_CUSOLVER(cusolverDnXsyevBatched_bufferSize(sv.handle(), sv.params(), jobz, uplo, n, type,
                                                      a, n, type, w, type, &ws.first, &ws.second,
                                                      m));
      else
        SS_CUSOLVER(cusolverDnXsyevd_bufferSize(sv.handle(), sv.params(), jobz, uplo, n, type, a, n,
                                                type, w, type, &ws.first, &ws.second));
      return ws;
    };

    // Group size: a group's matrices, eigenvalues and infos plus the device
    // workspace stay within the memory budget (a share of the free memory,
    // leaving headroom). The workspace is queried on the allocated arrays and
    // the group shrinks until everything fits; a single matrix is tried
    // regardless (if it does not fit, its allocation raises ResourceError).
    const double budget = static_cast<double>(memory_budget());
    const double per_matrix = static_cast<double>((nn + checked_size(n)) * sizeof(T) + sizeof(int));
    std::int64_t group = static_cast<std::int64_t>(
        std::min(static_cast<double>(batch), std::max(1.0, budget / per_matrix)));
    // cusolverDnXsyevBatched documents the limit n * lda * batchSize <= INT32_MAX.
    if (batched)
      group =
          std::clamp<std::int64_t>(std::numeric_limits<std::int32_t>::max() / (n * n), 1, group);
    DeviceArray<T> a, w;
    DeviceArray<int> info;
    std::pair<std::size_t, std::size_t> ws{0, 0};
    for (;;) {
      a = DeviceArray<T>();  // release the previous attempt before allocating
      w = DeviceArray<T>();
      info = DeviceArray<int>();
      a = DeviceArray<T>(checked_size(group) * nn);
      w = DeviceArray<T>(checked_size(group, n));
      info = DeviceArray<int>(checked_size(group));
      ws = workspace(group, a.get(), w.get());
      const double need = static_cast<double>(group) * per_matrix + static_cast<double>(ws.first);
      if (group == 1 || need <= budget) break;
      group = std::clamp<std::int64_t>(
          static_cast<std::int64_t>(static_cast<double>(group) * (budget / need)), 1, group - 1);
    }
    DeviceArray<char> work(ws.first);
    std::vector<char> host_work(ws.second);

    std::vector<T> ha, hw;
    std::vector<int> hinfo;
    for (std::int64_t b0 = 0; b0 < batch; b0 += group) {
      const std::int64_t m = std::min(group, batch - b0);
      const std::size_t first = checked_size(b0) * nn, len = checked_size(m) * nn;
      ha.resize(len);
      for (std::int64_t k = 0; k < m; ++k) {
        const double* src = h.data() + first + k * n * n;
        T* dst = ha.data() + k * n * n;
        for (std::int64_t i = 0; i < n; ++i)
          for (std::int64_t j = 0; j <= i; ++j)
            dst[i * n + j] = dst[j * n + i] = static_cast<T>(src[i * n + j]);  // rounded to T
      }
      SS_CUDA(cudaMemcpy(a.get(), ha.data(), len * sizeof(T), cudaMemcpyHostToDevice));
      if (batched) {
        // The last group may be smaller than the one the workspace was sized for.
        const auto need = workspace(m, a.get(), w.get());
        if (need.first > work.size()) {
          work = DeviceArray<char>();
          work = DeviceArray<char>(need.first);
        }
        if (need.second > host_work.size()) host_work.resize(need.second);
        SS_CUSOLVER(cusolverDnXsyevBatched(sv.handle(), sv.params(), jobz, uplo, n, type, a.get(),
                                           n, type, w.get(), type, work.get(), work.size(),
                                           host_work.data(), host_work.size(), info.get(), m));
      } else {
        for (std::int64_t k = 0; k < m; ++k)
          SS_CUSOLVER(cusolverDnXsyevd(sv.handle(), sv.params(), jobz, uplo, n, type,
                                       a.get() + k * n * n, n, type, w.get() + k * n, type,
                                       work.get(), work.size(), host_work.data(), host_work.size(),
                                       info.get() + k));
      }
      // Synchronous copies on the default stream: they wait for the solver.
      hw.resize(checked_size(m, n));
      hinfo.resize(checked_size(m));
      SS_CUDA(cudaMemcpy(hw.data(), w.get(), hw.size() * sizeof(T), cudaMemcpyDeviceToHost));
      SS_CUDA(
          cudaMemcpy(hinfo.data(), info.get(), hinfo.size() * sizeof(int), cudaMemcpyDeviceToHost));
      std::copy(hw.begin(), hw.end(), r.values.begin() + b0 * n);
      std::copy(hinfo.begin(), hinfo.end(), r.info.begin() + b0);
      if (!vectors) continue;
      SS_CUDA(cudaMemcpy(ha.data(), a.get(), len * sizeof(T), cudaMemcpyDeviceToHost));
      for (std::int64_t k = 0; k < m; ++k) {
        const T* v = ha.data() + k * n * n;  // column-major: v[i + j n] = component i of vector j
        double* out = r.vectors.data() + (b0 + k) * n * n;
        for (std::int64_t i = 0; i < n; ++i)
          for (std::int64_t j = 0; j < n; ++j) out[i * n + j] = v[i + j * n];
      }
    }
    return r;
  }

  // Sylvester counts, the same as the CPU backend's LAPACKE ?sytrf (row-major,
  // 'L'): for matrix b and shift s = shifts[b * k + j], the negative
  // eigenvalues of D in the Bunch-Kaufman factorization of H_b - sI, i.e. the
  // eigenvalues of H_b below s; -1 where the factorization failed.
  //
  // Only the row-major lower triangle of h is trusted. It is mirrored into the
  // upper one on the host, so the column-major matrix cuSOLVER reads is the
  // intended symmetric matrix: its column-major lower triangle (the one
  // CUBLAS_FILL_MODE_LOWER reads) holds the row-major lower triangle's
  // values. A group of pristine copies (rounded to T) and their diagonals (in
  // double) lives on the device; for each matrix and shift a kernel writes
  // H - sI into one work matrix, sytrf factors it in place, and a one-thread
  // kernel counts the negatives of D into a device array that is copied back
  // once per group. Everything runs in order on the default stream, so the
  // one work matrix, pivot array and info are reused without synchronization.
  template <class T>
  std::vector<std::int64_t> count_below_t(std::int64_t batch, std::int64_t n,
                                          const std::vector<double>& h,
                                          const std::vector<double>& shifts, std::int64_t k) {
    require(batch >= 0 && n >= 0 && k >= 0, "negative count_below size");
    const std::size_t nn = checked_size(n, n);
    require(h.size() == checked_size(batch) * nn,
            "count_below input of " + std::to_string(h.size()) + " elements is not " +
                std::to_string(batch) + " x " + std::to_string(n) + " x " + std::to_string(n));
    require(shifts.size() == checked_size(batch, k),
            "count_below has " + std::to_string(shifts.size()) + " shifts, not " +
                std::to_string(batch) + " x " + std::to_string(k));
    require(n <= std::numeric_limits<int>::max(), "order too large for cuSOLVER sytrf");
    std::vector<std::int64_t> out(checked_size(batch, k), -1);
    if (out.empty()) return out;
    if (n == 0) {  // an empty matrix has no eigenvalues below any shift
      std::fill(out.begin(), out.end(), 0);
      return out;
    }

    const CusolverDn& sv = cusolver();  // created before the free memory is measured
    const int ni = static_cast<int>(n);

    // Fixed arrays first (one work matrix, its pivots, info and the sytrf
    // workspace), then as many matrices per group as the remaining budget
    // holds: pristine copy, double diagonal and the counts of its shifts. A
    // single matrix is tried regardless (if it does not fit, its allocation
    // raises ResourceError).
    DeviceArray<T> work_matrix(nn);
    DeviceArray<int> ipiv(checked_size(n)), info(1);
    const int lwork = std::max(1, sytrf_lwork(sv.handle(), ni, work_matrix.get()));
    DeviceArray<T> workspace(checked_size(lwork));
    const double budget = static_cast<double>(memory_budget());
    const double per_matrix = static_cast<double>(
        nn * sizeof(T) + checked_size(n) * sizeof(double) + checked_size(k) * sizeof(std::int64_t));
    const std::int64_t group = static_cast<std::int64_t>(
        std::min(static_cast<double>(batch), std::max(1.0, budget / per_matrix)));
    DeviceArray<T> pristine(checked_size(group) * nn);
    DeviceArray<double> diag(checked_size(group, n));
    DeviceArray<std::int64_t> counts(checked_size(group, k));

    const unsigned copy_blocks = flat_blocks(static_cast<std::int64_t>(nn));
    std::vector<T> ha;
    std::vector<double> hd;
    std::vector<std::int64_t> hc;
    for (std::int64_t b0 = 0; b0 < batch; b0 += group) {
      const std::int64_t m = std::min(group, batch - b0);
      ha.resize(checked_size(m) * nn);
      hd.resize(checked_size(m, n));
      for (std::int64_t q = 0; q < m; ++q) {
        const double* src = h.data() + (b0 + q) * n * n;
        T* dst = ha.data() + q * n * n;
        for (std::int64_t i = 0; i < n; ++i) {
          for (std::int64_t j = 0; j <= i; ++j)
            dst[i * n + j] = dst[j * n + i] = static_cast<T>(src[i * n + j]);  // rounded to T
          hd[q * n + i] = src[i * n + i];
        }
      }
      SS_CUDA(cudaMemcpy(pristine.get(), ha.data(), ha.size() * sizeof(T), cudaMemcpyHostToDevice));
      SS_CUDA(
          cudaMemcpy(diag.get(), hd.data(), hd.size() * sizeof(double), cudaMemcpyHostToDevice));
      fill(counts, std::int64_t(-1));  // stays -1 where a factorization fails by status

      for (std::int64_t q = 0; q < m; ++q)
        for (std::int64_t j = 0; j < k; ++j) {
          const double s = shifts[(b0 + q) * k + j];
          shifted_copy_kernel<T><<<copy_blocks, kFlatThreads>>>(
              pristine.get() + q * n * n, diag.get() + q * n, s, work_matrix.get(), n);
          SS_LAUNCHED("shifted_copy_kernel");
          const cusolverStatus_t st = sytrf_lower(sv.handle(), ni, work_matrix.get(), ipiv.get(),
                                                  workspace.get(), lwork, info.get());
          if (factorization_failed(st)) continue;
          SS_CUSOLVER(st);
          inertia_count_kernel<T>
              <<<1, 1>>>(work_matrix.get(), ipiv.get(), info.get(), n, counts.get() + q * k + j);
          SS_LAUNCHED("inertia_count_kernel");
        }

      // A synchronous copy on the default stream: it waits for the kernels.
      hc.resize(checked_size(m, k));
      SS_CUDA(cudaMemcpy(hc.data(), counts.get(), hc.size() * sizeof(std::int64_t),
                         cudaMemcpyDeviceToHost));
      std::copy(hc.begin(), hc.end(), out.begin() + b0 * k);
    }
    return out;
  }

  std::unique_ptr<CublasHandle> cublas_;       // created on first coupled evaluation
  std::unique_ptr<CublasHandle> cublas_tf32_;  // the same for tf32 objectives in f32
  std::unique_ptr<CusolverDn> cusolver_;       // created on first eigh or count_below
};

// Why no device can be used, or "" when one can. No driver library or no
// device reads "no CUDA device: ..." (the CPU backend is the answer); a
// driver that is installed but fails reads "CUDA driver ..." so that it is
// reported as broken rather than taken for an absent GPU
// (tests/cuda_required.hpp fails on it instead of skipping).
std::string device_problem() {
  int driver = 0;
  if (cudaDriverGetVersion(&driver) != cudaSuccess || driver == 0) {
    cudaGetLastError();
    return "no CUDA device: no CUDA driver is installed";
  }
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err == cudaErrorNoDevice || (err == cudaSuccess && count == 0)) {
    cudaGetLastError();
    return std::string("no CUDA device: ") + cudaGetErrorString(cudaErrorNoDevice);
  }
  if (err != cudaSuccess) {
    cudaGetLastError();  // do not leave the error for an unrelated later check
    return "CUDA driver " + std::to_string(driver / 1000) + "." +
           std::to_string(driver % 1000 / 10) +
           " is installed but does not work: " + cudaGetErrorString(err);
  }
  return "";
}

}  // namespace

std::unique_ptr<Backend> make_cuda_backend() {
  const std::string problem = device_problem();
  if (!problem.empty()) throw BackendError(problem);
  return std::make_unique<CudaBackend>();
}

bool cuda_available() {
  try {
    return device_problem().empty();
  } catch (...) {
    return false;
  }
}

std::string cuda_unavailable_reason() {
  try {
    return device_problem();
  } catch (...) {
    return "no CUDA device: unknown error";
  }
}

}  // namespace saddlescope
