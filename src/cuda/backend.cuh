// The CUDA backend's Backend (docs/design.md, Part II), private to
// src/cuda/. Its members are defined by concern: src/cuda/backend.cu (device,
// memory, copy bandwidth, handles, dispatch), src/cuda/evaluate.cu (batched
// value_grad, hvp, hessian), src/cuda/linalg.cu (eigh, count_below).
#pragma once

#include <cstdint>
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

  std::uint64_t memory_budget() const override;
  // The host's memory is not the device's: 70% of what is available now.
  std::uint64_t separate_host_budget() const override { return available_host_memory() / 10 * 7; }

  double copy_bandwidth(std::uint64_t bytes, int repeats) override;

  std::unique_ptr<Ensemble> make_ensemble(const EnsembleSpec& s) override;

  ObjectiveEval value_grad(const ObjectiveData& d, Precision p, std::int64_t batch,
                           const std::vector<double>& x) override;
  std::vector<double> hvp(const ObjectiveData& d, Precision p, std::int64_t batch,
                          const std::vector<double>& x, const std::vector<double>& v) override;
  std::vector<double> hessian(const ObjectiveData& d, Precision p, std::int64_t batch,
                              const std::vector<double>& x) override;
  EighResult eigh(Precision p, std::int64_t batch, std::int64_t n, const std::vector<double>& h,
                  bool vectors) override;
  std::vector<std::int64_t> count_below(Precision p, std::int64_t batch, std::int64_t n,
                                        const std::vector<double>& h,
                                        const std::vector<double>& shifts, std::int64_t k) override;
  const HostLinalg& host_linalg() const override;

 private:
  // The default-mode handle, or with tf32 (use_tf32: objective.tf32 on an
  // f32 evaluation) the TF32 one.
  cublasHandle_t cublas(bool tf32 = false);
  const CusolverDn& cusolver();

  // Uploads a [batch, dim] host array in precision T into a device array of
  // tiled_rows(batch) rows (src/cuda/objectives.cuh: the row tiles of the
  // coupled passes), the padding rows zero.
  template <class T>
  static DeviceArray<T> upload_rows(const std::vector<double>& h, std::int64_t batch,
                                    std::int64_t n);

  template <class T>
  ObjectiveEval value_grad_t(const ObjectiveData& d, std::int64_t batch,
                             const std::vector<double>& x64);

  template <class T>
  std::vector<double> hvp_t(const ObjectiveData& d, std::int64_t batch,
                            const std::vector<double>& x64, const std::vector<double>& v64);

  // The device computes the Hessian band; the dense [batch, dim, dim] layout
  // is assembled on the host, which moves 2 instead of dim numbers per
  // coordinate across the bus. A rotated quadratic's Hessian is the matrix A
  // itself; the gaussian field's, the networks' and the p-spin's are dense
  // and computed by GEMMs.
  template <class T>
  std::vector<double> hessian_t(const ObjectiveData& d, std::int64_t batch,
                                const std::vector<double>& x64);

  // Gaussian-field Hessians mu I + W^T diag(h) W: the curvatures of every
  // point from one GEMM, then groups of points that fit in the memory budget
  // (their diag(h) W and Hessians), one GEMM per point, into h [batch, n, n]
  // (n > 0, batch > 0).
  template <class T>
  void field_hessian_t(const ObjectiveData& d, std::int64_t batch, const std::vector<double>& x64,
                       std::vector<double>& h);

  // Dense Hessians of a network objective from Hessian-vector products, shared
  // by the mlp and deep-linear: per point x_b, copied into one aligned
  // device row (so that every point's GEMMs see the same alignment),
  // prepare(row) runs its forward and backward pass once; then groups of up
  // to `group` unit directions e_k go through hvp(c, row) (reading v, writing
  // hv; v and hv hold tiled_rows(group) rows, the padding directions zero),
  // the columns are gathered on the host, and the result is symmetrized
  // (H + H^T) / 2 in T, as the CPU backend does. Into h [batch, n, n].
  template <class T, class Prepare, class Hvp>
  void hessians_from_hvps(std::int64_t batch, std::int64_t n, const T* x, std::int64_t group,
                          DeviceArray<T>& v, DeviceArray<T>& hv, std::vector<double>& h,
                          Prepare&& prepare, Hvp&& hvp);

  // MLP Hessians as the CPU backend forms them: column k = H e_k by the
  // R-operator, then (H + H^T) / 2 in T. Point by point: its forward and
  // backward pass once, then groups of columns that fit in the memory budget
  // (unit directions, the R-operator's work spaces and the columns), every
  // column of a group at the shared point in one batched pass. Into h
  // [batch, n, n] (n > 0, batch > 0).
  template <class T>
  void mlp_hessian_t(const ObjectiveData& d, std::int64_t batch, const std::vector<double>& x64,
                     std::vector<double>& h);

  // Deep-linear Hessians, formed like the mlp's (mlp_hessian_t): per point
  // its forward and backward pass once (one work row), then groups of
  // columns H e_k that fit in the memory budget (unit directions, the
  // R-operator's work rows and the columns) in one batched dl_hvp at the
  // shared point, then (H + H^T) / 2 in T. Into h [batch, n, n] (n > 0,
  // batch > 0).
  template <class T>
  void dl_hessian_t(const ObjectiveData& d, std::int64_t batch, const std::vector<double>& x64,
                    std::vector<double>& h);

  // p-spin Hessians, the embedded Riemannian P (Y - c I) P at x as given:
  // groups of pspin_tile() points (one contraction tile: at most
  // kPspinWorkElements entries of Hessians, so that the p = 3 contraction's
  // GEMM fits cuBLAS's int sizes, and a fixed shape), each group's points
  // copied into one aligned staging block, then pspin_hessians and one copy
  // to the host, into h [batch, n, n] (n > 0, batch > 0).
  template <class T>
  void pspin_hessian_t(const ObjectiveData& d, std::int64_t batch, const std::vector<double>& x64,
                       std::vector<double>& h);

  // Same results as the CPU backend's LAPACKE ?syevd (row-major, 'L'): values
  // ascending, row-major vectors with column k = eigenvector k, and the
  // solver's info per matrix (a failed solve is reported, not thrown; its
  // values and vectors are whatever the solver left). Only the row-major
  // lower triangle of h is trusted: it is mirrored into the upper one on the
  // host (O(n^2) against the solver's O(n^3)), so the column-major matrix
  // cuSOLVER reads is the intended symmetric matrix whichever triangle it
  // uses. The column-major eigenvectors are transposed on the host.
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
