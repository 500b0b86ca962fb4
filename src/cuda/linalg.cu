// The CUDA backend's dense solvers (src/cuda/backend.cuh): eigh and
// count_below on cuSOLVER.
//
// Symmetric eigendecompositions (eigh) go to cuSOLVER's 64-bit generic API:
// cusolverDnXsyevBatched for small matrices, cusolverDnXsyevd one matrix at a
// time for larger ones, in groups of matrices that fit in device memory.
// Sylvester counts (count_below) factor H - sI with cuSOLVER's Bunch-Kaufman
// sytrf, one (matrix, shift) at a time, and read the inertia of D on the
// device with the shared negative_count_ldlt (kernels/inertia.hpp).
#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/inertia.hpp"
#include "src/cuda/backend.cuh"

namespace saddlescope::cuda_detail {
namespace {

// ---------------------------------------------------------------------------
// Symmetric eigendecompositions.

// Matrices of order n <= kBatchedMaxN are solved by cusolverDnXsyevBatched, a
// group of matrices per call; larger ones by cusolverDnXsyevd, one matrix per
// call. The threshold is provisional: it awaits the GPU benchmark.
constexpr std::int64_t kBatchedMaxN = 64;

template <class T>
constexpr cudaDataType_t kCudaType = std::is_same_v<T, float> ? CUDA_R_32F : CUDA_R_64F;

// Row-major a [m, n, n]: the strict upper triangle of every matrix from its
// lower one, a[i][j] = a[j][i] for j > i. blockIdx.y a row (matrix * n + i),
// the x blocks and threads its entries j > i.
template <class T>
__global__ void mirror_lower_kernel(T* a, std::int64_t m, std::int64_t n) {
  for (std::int64_t r = blockIdx.y; r < m * n; r += gridDim.y) {
    T* h = a + (r / n) * n * n;
    const std::int64_t i = r % n;
    for (std::int64_t j = i + 1 + blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; j < n;
         j += std::int64_t(gridDim.x) * blockDim.x)
      h[i * n + j] = h[j * n + i];
  }
}

// ---------------------------------------------------------------------------
// Sylvester counts: Bunch-Kaufman LDL^T of H - sI (cuSOLVER sytrf, lower,
// column-major) and the negative eigenvalues of its block-diagonal D.

// a = H - sI from the pristine column-major copy of H, n x n. The diagonal is
// formed as the CPU backend forms it: diag(H) - s in double, then rounded to
// T (the pristine diagonal, already rounded to T, is not used). blockIdx.y a
// column j (row_grid), the x blocks and threads its entries i.
template <class T>
__global__ void shifted_copy_kernel(const T* pristine, const double* diag, double s, T* a,
                                    std::int64_t n) {
  for (std::int64_t j = blockIdx.y; j < n; j += gridDim.y)
    for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
         i += std::int64_t(gridDim.x) * blockDim.x) {
      const std::int64_t q = j * n + i;
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

}  // namespace

template <class T>
EighResult CudaBackend::eigh_t(std::int64_t batch, std::int64_t n, const std::vector<double>& h,
                               bool vectors) {
  const std::size_t nn = checked_size(n, n);
  require(h.size() == checked_size(batch) * nn,
          "eigh input of " + std::to_string(h.size()) + " elements is not " +
              std::to_string(batch) + " x " + std::to_string(n) + " x " + std::to_string(n));
  std::vector<T> ha;
  return eigh_filled<T>(
      batch, n,
      [&](std::int64_t b0, std::int64_t m, T* a) {
        ha.assign(h.begin() + b0 * n * n, h.begin() + (b0 + m) * n * n);  // rounded to T
        SS_CUDA(cudaMemcpy(a, ha.data(), ha.size() * sizeof(T), cudaMemcpyHostToDevice));
      },
      vectors, 1.0);
}

template <class T>
EighResult CudaBackend::eigh_filled(std::int64_t batch, std::int64_t n,
                                    const std::function<void(std::int64_t, std::int64_t, T*)>& fill,
                                    bool vectors, double share) {
  const std::size_t nn = checked_size(n, n);
  EighResult r;
  r.values.assign(checked_size(batch, n), 0.0);
  if (vectors) r.vectors.assign(checked_size(batch) * nn, 0.0);
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
                                                    a, n, type, w, type, &ws.first, &ws.second, m));
    else
      SS_CUSOLVER(cusolverDnXsyevd_bufferSize(sv.handle(), sv.params(), jobz, uplo, n, type, a, n,
                                              type, w, type, &ws.first, &ws.second));
    return ws;
  };

  // Group size: a group's matrices, eigenvalues and infos plus the device
  // workspace stay within `share` of the memory budget (a share of the free
  // memory, leaving headroom). The workspace is queried on the allocated
  // arrays and the group shrinks until everything fits; a single matrix is
  // tried regardless (if it does not fit, its allocation raises
  // ResourceError).
  const double budget = share * static_cast<double>(memory_budget());
  const double per_matrix = static_cast<double>((nn + checked_size(n)) * sizeof(T) + sizeof(int));
  std::int64_t group = static_cast<std::int64_t>(
      std::min(static_cast<double>(batch), std::max(1.0, budget / per_matrix)));
  // cusolverDnXsyevBatched documents the limit n * lda * batchSize <= INT32_MAX.
  if (batched)
    group = std::clamp<std::int64_t>(std::numeric_limits<std::int32_t>::max() / (n * n), 1, group);
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
    const std::size_t len = checked_size(m) * nn;
    fill(b0, m, a.get());
    mirror_lower_kernel<T><<<row_grid(m * n, n), row_threads(n)>>>(a.get(), m, n);
    SS_LAUNCHED("mirror_lower_kernel");
    if (batched) {
      // The last group may be smaller than the one the workspace was sized for.
      const auto need = workspace(m, a.get(), w.get());
      if (need.first > work.size()) {
        work = DeviceArray<char>();
        work = DeviceArray<char>(need.first);
      }
      if (need.second > host_work.size()) host_work.resize(need.second);
      SS_CUSOLVER(cusolverDnXsyevBatched(sv.handle(), sv.params(), jobz, uplo, n, type, a.get(), n,
                                         type, w.get(), type, work.get(), work.size(),
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
    ha.resize(len);
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

template EighResult CudaBackend::eigh_filled<float>(
    std::int64_t, std::int64_t, const std::function<void(std::int64_t, std::int64_t, float*)>&,
    bool, double);
template EighResult CudaBackend::eigh_filled<double>(
    std::int64_t, std::int64_t, const std::function<void(std::int64_t, std::int64_t, double*)>&,
    bool, double);

template <class T>
std::vector<std::int64_t> CudaBackend::count_below_t(std::int64_t batch, std::int64_t n,
                                                     const std::vector<double>& h,
                                                     const std::vector<double>& shifts,
                                                     std::int64_t k) {
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
  const double per_matrix = static_cast<double>(nn * sizeof(T) + checked_size(n) * sizeof(double) +
                                                checked_size(k) * sizeof(std::int64_t));
  const std::int64_t group = static_cast<std::int64_t>(
      std::min(static_cast<double>(batch), std::max(1.0, budget / per_matrix)));
  DeviceArray<T> pristine(checked_size(group) * nn);
  DeviceArray<double> diag(checked_size(group, n));
  DeviceArray<std::int64_t> counts(checked_size(group, k));

  const dim3 copy_grid = row_grid(n, n);
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
    SS_CUDA(cudaMemcpy(diag.get(), hd.data(), hd.size() * sizeof(double), cudaMemcpyHostToDevice));
    fill(counts, std::int64_t(-1));  // stays -1 where a factorization fails by status

    for (std::int64_t q = 0; q < m; ++q)
      for (std::int64_t j = 0; j < k; ++j) {
        const double s = shifts[(b0 + q) * k + j];
        shifted_copy_kernel<T><<<copy_grid, row_threads(n)>>>(
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

template EighResult CudaBackend::eigh_t<float>(std::int64_t, std::int64_t,
                                               const std::vector<double>&, bool);
template EighResult CudaBackend::eigh_t<double>(std::int64_t, std::int64_t,
                                                const std::vector<double>&, bool);
template std::vector<std::int64_t> CudaBackend::count_below_t<float>(std::int64_t, std::int64_t,
                                                                     const std::vector<double>&,
                                                                     const std::vector<double>&,
                                                                     std::int64_t);
template std::vector<std::int64_t> CudaBackend::count_below_t<double>(std::int64_t, std::int64_t,
                                                                      const std::vector<double>&,
                                                                      const std::vector<double>&,
                                                                      std::int64_t);

}  // namespace saddlescope::cuda_detail
