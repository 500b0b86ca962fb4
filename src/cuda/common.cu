// The CUDA backend's error checks (src/cuda/common.cuh).
#include "src/cuda/common.cuh"

namespace saddlescope::cuda_detail {
namespace {

std::string where(const char* call, const char* file, int line) {
  return std::string(call) + " (" + file + ":" + std::to_string(line) + ")";
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

}  // namespace

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

void cusolver_check(cusolverStatus_t st, const char* call, const char* file, int line) {
  if (st == CUSOLVER_STATUS_SUCCESS) return;
  const std::string msg = "cuSOLVER error in " + where(call, file, line) + ": " +
                          cusolver_status_name(st) + " (" + std::to_string(static_cast<int>(st)) +
                          ")";
  if (st == CUSOLVER_STATUS_ALLOC_FAILED) throw ResourceError(msg);
  throw BackendError(msg);
}

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

}  // namespace saddlescope::cuda_detail
