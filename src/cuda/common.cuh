// The CUDA backend's common parts (docs/design.md, Part II), private to
// src/cuda/: error checks, RAII owners of device memory and library handles,
// conversions and kernel-launch helpers shared by its files.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "saddlescope/backend.hpp"
#include "saddlescope/errors.hpp"

namespace saddlescope::cuda_detail {

// ---------------------------------------------------------------------------
// Error handling: every runtime, cuBLAS and cuSOLVER call is checked and reported with
// the call, file and line. Out-of-memory is a resource problem (exit code 3),
// anything else a backend failure (exit code 1). (src/cuda/common.cu)

void cuda_check(cudaError_t err, const char* call, const char* file, int line);
void cublas_check(cublasStatus_t st, const char* call, const char* file, int line);
void cusolver_check(cusolverStatus_t st, const char* call, const char* file, int line);
// Destructors must not throw: a failed release is logged and otherwise ignored.
void cuda_log(cudaError_t err, const char* call);
void cusolver_log(cusolverStatus_t st, const char* call);
// Throws BackendError("cuda backend: what") unless ok.
void require(bool ok, const std::string& what);

}  // namespace saddlescope::cuda_detail

#define SS_CUDA(call) ::saddlescope::cuda_detail::cuda_check((call), #call, __FILE__, __LINE__)
#define SS_CUBLAS(call) ::saddlescope::cuda_detail::cublas_check((call), #call, __FILE__, __LINE__)
#define SS_CUSOLVER(call) \
  ::saddlescope::cuda_detail::cusolver_check((call), #call, __FILE__, __LINE__)
// Launch errors (bad configuration) surface at once; execution errors surface
// at the next synchronizing call (running(), result()).
#define SS_LAUNCHED(kernel)                                                                 \
  ::saddlescope::cuda_detail::cuda_check(cudaGetLastError(), "launch of " kernel, __FILE__, \
                                         __LINE__)

namespace saddlescope::cuda_detail {

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
      // (BackendEigh.StackedAndAloneGiveTheSameBits in tests/backend_linalg_test.cpp).
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

inline std::size_t checked_size(std::int64_t a, std::int64_t b = 1) {
  require(a >= 0 && b >= 0, "negative array size");
  return static_cast<std::size_t>(a) * static_cast<std::size_t>(b);
}

// ---------------------------------------------------------------------------
// Kernel launches.

constexpr int kFlatThreads = 256;

// Blocks for a grid-stride loop over `items` with kFlatThreads threads each.
inline unsigned flat_blocks(std::int64_t items) {
  const std::int64_t b = (items + kFlatThreads - 1) / kFlatThreads;
  return static_cast<unsigned>(std::clamp<std::int64_t>(b, 1, 1 << 20));
}

// Blocks for a kernel with one block per row (grid-stride beyond 2^20 rows).
inline unsigned row_blocks(std::int64_t rows) {
  return static_cast<unsigned>(std::clamp<std::int64_t>(rows, 1, 1 << 20));
}

// A 2-D launch over `rows` rows of `width` elements, <<<row_grid(rows,
// width), row_threads(width)>>>: blockIdx.y is a row (grid-stride beyond
// 65535 rows), the x blocks and threads walk the row (grid-stride beyond
// 65535 blocks), so a kernel finds its row and column without dividing a
// flat index. Threads per block: a multiple of 32 up to kFlatThreads, no more
// than a row needs.
inline unsigned row_threads(std::int64_t width) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((width + 31) / 32 * 32, 32, kFlatThreads));
}
inline dim3 row_grid(std::int64_t rows, std::int64_t width) {
  const std::int64_t threads = row_threads(width);
  const std::int64_t bx = std::clamp<std::int64_t>((width + threads - 1) / threads, 1, 65535);
  return dim3(static_cast<unsigned>(bx),
              static_cast<unsigned>(std::clamp<std::int64_t>(rows, 1, 65535)));
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
__device__ inline IterationSums block_sum(IterationSums v, double* sh) {
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

// Sums of K doubles over the block in a fixed order, the same order as
// block_sum's (each thread's own values, then warp shuffle trees, then the
// warps' totals in warp order), returned to every thread of the block.
// blockDim.x must be a multiple of 32; every thread must call it. `sh` holds
// K * 32 doubles.
template <int K>
__device__ inline void block_sums(double (&v)[K], double* sh) {
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
  for (int off = 16; off > 0; off >>= 1)
    for (int k = 0; k < K; ++k) v[k] += __shfl_down_sync(0xffffffffu, v[k], off);
  if (lane == 0)
    for (int k = 0; k < K; ++k) sh[k * 32 + warp] = v[k];
  __syncthreads();
  if (threadIdx.x == 0)
    for (int k = 0; k < K; ++k) {
      double s = sh[k * 32];
      for (unsigned w = 1; w < blockDim.x / 32; ++w) s += sh[k * 32 + w];
      sh[k * 32] = s;
    }
  __syncthreads();
  for (int k = 0; k < K; ++k) v[k] = sh[k * 32];
  __syncthreads();  // sh may be reused by the caller's next round
}

// The sum over a warp's lanes in a fixed order (a shuffle tree), returned to
// every lane. Every lane of the warp must call it.
__device__ inline double warp_sum(double v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return __shfl_sync(0xffffffffu, v, 0);
}

}  // namespace saddlescope::cuda_detail
