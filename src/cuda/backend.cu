// CUDA backend: the device counterpart of the CPU backend (src/cpu/). The
// math is not written here: every kernel calls the shared SS_HD functions of
// kernels/ (LocalObjective, fused_element, end_iteration), so the two
// backends differ only in how the work is laid out and reduced. Its parts
// (docs/design.md, Part II): src/cuda/common.cu (error checks, device
// arrays, launch helpers), src/cuda/objectives.cu (DeviceObjective: uploads
// and the GEMM passes of the coupled objectives), src/cuda/ensemble.cu (the
// fused descent ensemble, its records and checkpoint state),
// src/cuda/evaluate.cu (the prepared objectives), src/cuda/linalg.cu
// (eigh, count_below on cuSOLVER); this file ties them into the Backend.
//
// cuBLAS handles run in the default math mode (f32 GEMMs round like the
// CPU's) except for objectives with objective.tf32 evaluated in f32, whose
// GEMMs get a handle in TF32 tensor-op mode (CublasHandle, use_tf32).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "saddlescope/host_linalg.hpp"
#include "src/cuda/backend.cuh"
#include "src/cuda/ensemble.cuh"

namespace saddlescope {
namespace cuda_detail {

std::string CudaBackend::name() const { return "cuda"; }

std::string CudaBackend::device() const {
  int dev = 0;
  SS_CUDA(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  SS_CUDA(cudaGetDeviceProperties(&prop, dev));
  char mem[32];
  std::snprintf(mem, sizeof mem, " (%.1f GiB)",
                static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return std::string(prop.name) + mem;
}

std::int64_t CudaBackend::max_count_order() const { return 46340; }

std::uint64_t CudaBackend::memory_budget() const {
  std::size_t free_bytes = 0, total_bytes = 0;
  SS_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
  // Headroom for the CUDA context, cuBLAS workspaces and fragmentation.
  return static_cast<std::uint64_t>(0.85 * static_cast<double>(free_bytes));
}

double CudaBackend::copy_bandwidth(std::uint64_t bytes, int repeats) {
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

std::unique_ptr<Ensemble> CudaBackend::make_ensemble(const EnsembleSpec& s) {
  return make_cuda_ensemble(s);
}

EighResult CudaBackend::eigh(Precision p, std::int64_t batch, std::int64_t n,
                             const std::vector<double>& h, bool vectors) {
  return p == Precision::f32 ? eigh_t<float>(batch, n, h, vectors)
                             : eigh_t<double>(batch, n, h, vectors);
}

std::vector<std::int64_t> CudaBackend::count_below(Precision p, std::int64_t batch, std::int64_t n,
                                                   const std::vector<double>& h,
                                                   const std::vector<double>& shifts,
                                                   std::int64_t k) {
  return p == Precision::f32 ? count_below_t<float>(batch, n, h, shifts, k)
                             : count_below_t<double>(batch, n, h, shifts, k);
}

const HostLinalg& CudaBackend::host_linalg() const { return cpu_host_linalg(); }

cublasHandle_t CudaBackend::cublas(bool tf32) {
  std::unique_ptr<CublasHandle>& handle = tf32 ? cublas_tf32_ : cublas_;
  if (!handle) handle = std::make_unique<CublasHandle>(tf32);
  return handle->get();
}

const CusolverDn& CudaBackend::cusolver() {
  if (!cusolver_) cusolver_ = std::make_unique<CusolverDn>();
  return *cusolver_;
}

}  // namespace cuda_detail

namespace {

// Why no device can be used, or "" when one can. No driver library or no
// device reads "no CUDA device: ..." (the CPU backend is the answer); a
// driver that is installed but fails reads "CUDA driver ..." so that it is
// reported as broken rather than taken for an absent GPU
// (tests/backends.hpp fails on it instead of skipping).
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
  return std::make_unique<cuda_detail::CudaBackend>();
}

bool cuda_available() {
  try {
    return device_problem().empty();
  } catch (...) {
    return false;
  }
}

int cuda_device_count() {
  if (!device_problem().empty()) return 0;
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess ? count : 0;
}

void cuda_use_device(int ordinal) {
  const cudaError_t err = cudaSetDevice(ordinal);
  if (err != cudaSuccess)
    throw BackendError("CUDA device " + std::to_string(ordinal) +
                       " cannot be used: " + cudaGetErrorString(err));
}

std::string cuda_unavailable_reason() {
  try {
    return device_problem();
  } catch (...) {
    return "no CUDA device: unknown error";
  }
}

}  // namespace saddlescope
