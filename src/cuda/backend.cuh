// The CUDA backend's Backend (docs/design.md, Part II), private to
// src/cuda/. Its members are defined by concern: src/cuda/backend.cu (device,
// memory, copy bandwidth, handles, dispatch), src/cuda/evaluate.cu (the
// prepared objectives: value_grad, hvp, Hessians), src/cuda/linalg.cu (eigh, count_below).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "saddlescope/backend.hpp"
#include "src/cuda/common.cuh"

namespace saddlescope::cuda_detail {

// ---------------------------------------------------------------------------
// Backend.

class CudaBackend final : public Backend {
 public:
  std::string name() const override;

  std::string device() const override;

  // cusolverDn<t>sytrf indexes the n x n matrix with 32-bit ints.
  std::int64_t max_count_order() const override;
  // cusolverDnXsyevd's workspace query fails near n = 25,000 (NVIDIA
  // CUDALibrarySamples issue 246; the legacy syevd from n = 23,100): a
  // provisional bound, below both, until a GPU session measures it.
  std::int64_t max_eigh_order() const override { return 23000; }

  std::uint64_t memory_budget() const override;
  // The host's memory is not the device's: 70% of what is available now.
  std::uint64_t separate_host_budget() const override { return available_host_memory() / 10 * 7; }

  double copy_bandwidth(std::uint64_t bytes, int repeats) override;

  std::unique_ptr<Ensemble> make_ensemble(const EnsembleSpec& s) override;

  // A DeviceObjective uploaded once, rows and work spaces kept on the device
  // (src/cuda/evaluate.cu).
  std::unique_ptr<PreparedObjective> prepare(const ObjectiveData& d, Precision p) override;
  EighResult eigh(Precision p, std::int64_t batch, std::int64_t n, const std::vector<double>& h,
                  bool vectors) override;
  std::vector<std::int64_t> count_below(Precision p, std::int64_t batch, std::int64_t n,
                                        const std::vector<double>& h,
                                        const std::vector<double>& shifts, std::int64_t k) override;
  const HostLinalg& host_linalg() const override;

  // For the prepared objectives (src/cuda/evaluate.cu):
  // The default-mode handle, or with tf32 (use_tf32: objective.tf32 on an
  // f32 evaluation) the TF32 one.
  cublasHandle_t cublas(bool tf32 = false);

  // The eigendecompositions of `batch` symmetric n x n matrices that
  // fill(b0, m, a) writes, matrices b0 .. b0 + m - 1, into the device array
  // a [m, n, n] (row-major; only the lower triangle is trusted: it is
  // mirrored into the upper one on the device, so the column-major matrix
  // cuSOLVER reads is the intended symmetric one whichever triangle it
  // uses). Results as the CPU backend's LAPACKE ?syevd (row-major, 'L'):
  // values ascending, row-major vectors with column k = eigenvector k
  // (transposed on the host), the solver's info per matrix (a failed solve
  // is reported, not thrown). cusolverDnXsyevBatched for n <= 64, else
  // cusolverDnXsyevd one matrix per call, in groups of matrices whose arrays
  // and workspace fit in `share` of the memory budget (the rest is left to
  // fill).
  template <class T>
  EighResult eigh_filled(std::int64_t batch, std::int64_t n,
                         const std::function<void(std::int64_t, std::int64_t, T*)>& fill,
                         bool vectors, double share);

 private:
  const CusolverDn& cusolver();

  // eigh_filled from host matrices h [batch, n, n], rounded to T.
  template <class T>
  EighResult eigh_t(std::int64_t batch, std::int64_t n, const std::vector<double>& h, bool vectors);

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
                                          const std::vector<double>& shifts, std::int64_t k);

  std::unique_ptr<CublasHandle> cublas_;       // created on first coupled evaluation
  std::unique_ptr<CublasHandle> cublas_tf32_;  // the same for tf32 objectives in f32
  std::unique_ptr<CusolverDn> cusolver_;       // created on first eigh or count_below
};

}  // namespace saddlescope::cuda_detail
