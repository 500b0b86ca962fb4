// The CPU backend's batched dense solvers (src/cpu/linalg.hpp): LAPACKE's
// ?syevd and ?sytrf, one call per matrix (and shift): small matrices one per
// OpenMP thread on single-threaded OpenBLAS, large ones one after another on
// all of OpenBLAS's threads.
#include "src/cpu/linalg.hpp"

#include <cblas.h>
#include <lapacke.h>
#include <omp.h>

#include <algorithm>
#include <type_traits>

#include "kernels/inertia.hpp"

namespace saddlescope::cpu_detail {
namespace {

// Order from which a matrix is solved by all threads instead of one: a
// census group holds one matrix from here on (src/core/census.cpp), which
// alone would leave all but one core idle; below it OpenBLAS's threads gain
// nothing on one matrix (measured: docs/design.md, II.4).
constexpr std::int64_t kThreadedOrder = 1000;

// Sets OpenBLAS's threads for one scope; back to one at its end
// (CpuBackend() keeps OpenBLAS at one thread: the parallelism is OpenMP's).
struct BlasThreads {
  explicit BlasThreads(int threads) { openblas_set_num_threads(threads); }
  ~BlasThreads() { openblas_set_num_threads(1); }
  BlasThreads(const BlasThreads&) = delete;
  BlasThreads& operator=(const BlasThreads&) = delete;
};

// Runs body(i) for i < count, each item one LAPACK call on a matrix of
// order n. Below kThreadedOrder the items go over the OpenMP threads, each
// a call of single-threaded OpenBLAS; from it, one after another on all of
// them (OpenBLAS's threads, as many as OpenMP's). The choice depends on n
// and the thread count only, never on how many matrices share the call, so
// a matrix's result does not depend on the chunking (OpenBLAS's threaded
// kernels sum in an order that depends on its thread count, so from
// kThreadedOrder on it may depend on that: docs/design.md, II.4).
template <class F>
void lapack_items(std::int64_t count, std::int64_t n, F&& body) {
  const int threads = omp_get_max_threads();
  if (n >= kThreadedOrder && threads > 1) {
    BlasThreads all(threads);
    for (std::int64_t i = 0; i < count; ++i) body(i);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1) if (count > 1)
  for (std::int64_t i = 0; i < count; ++i) body(i);
}

}  // namespace

// LAPACK's divide-and-conquer symmetric eigensolver (dsyevd / ssyevd).
template <class T>
EighResult eigh_t(std::int64_t batch, std::int64_t n, const std::vector<double>& h, bool vectors) {
  EighResult r;
  r.values.assign(static_cast<std::size_t>(batch * n), 0.0);
  if (vectors) r.vectors.assign(static_cast<std::size_t>(batch * n * n), 0.0);
  r.info.assign(static_cast<std::size_t>(batch), 0);
  const int ln = static_cast<int>(n);
  lapack_items(batch, n, [&](std::int64_t b) {
    std::vector<T> a(h.begin() + b * n * n, h.begin() + (b + 1) * n * n);
    std::vector<T> w(static_cast<std::size_t>(n));
    // Values only: the row-major lower triangle read as the column-major
    // upper one, which spares LAPACKE's transposed copy (10-15% of the
    // solve at N = 2,048 - 4,096). Vectors: row-major, so that they come
    // back as the columns of a row-major matrix.
    const int layout = vectors ? LAPACK_ROW_MAJOR : LAPACK_COL_MAJOR;
    const char jobz = vectors ? 'V' : 'N', uplo = vectors ? 'L' : 'U';
    int info;
    if constexpr (std::is_same_v<T, double>)
      info = LAPACKE_dsyevd(layout, jobz, uplo, ln, a.data(), ln, w.data());
    else
      info = LAPACKE_ssyevd(layout, jobz, uplo, ln, a.data(), ln, w.data());
    r.info[b] = info;
    std::copy(w.begin(), w.end(), r.values.begin() + b * n);
    if (vectors) std::copy(a.begin(), a.end(), r.vectors.begin() + b * n * n);
  });
  return r;
}

// Sylvester counts from LAPACK's Bunch-Kaufman factorization (dsytrf / ssytrf).
template <class T>
std::vector<std::int64_t> count_below_t(std::int64_t batch, std::int64_t n,
                                        const std::vector<double>& h,
                                        const std::vector<double>& shifts, std::int64_t k) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(batch * k), -1);
  if (n == 0) return std::vector<std::int64_t>(out.size(), 0);  // nothing below any shift
  const int ln = static_cast<int>(n);
  lapack_items(batch * k, n, [&](std::int64_t item) {
    const std::int64_t b = item / k, j = item % k;
    const double s = shifts[b * k + j];
    std::vector<T> a(h.begin() + b * n * n, h.begin() + (b + 1) * n * n);
    std::vector<lapack_int> ipiv(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
      a[i * n + i] = static_cast<T>(h[b * n * n + i * n + i] - s);
    int info;
    if constexpr (std::is_same_v<T, double>)
      info = LAPACKE_dsytrf(LAPACK_ROW_MAJOR, 'L', ln, a.data(), ln, ipiv.data());
    else
      info = LAPACKE_ssytrf(LAPACK_ROW_MAJOR, 'L', ln, a.data(), ln, ipiv.data());
    // info > 0: an exactly zero pivot; D is still valid and that eigenvalue is not negative.
    if (info >= 0) out[b * k + j] = negative_count_ldlt(a.data(), ipiv.data(), n, n, 1);
  });
  return out;
}

template EighResult eigh_t<float>(std::int64_t, std::int64_t, const std::vector<double>&, bool);
template EighResult eigh_t<double>(std::int64_t, std::int64_t, const std::vector<double>&, bool);
template std::vector<std::int64_t> count_below_t<float>(std::int64_t, std::int64_t,
                                                        const std::vector<double>&,
                                                        const std::vector<double>&, std::int64_t);
template std::vector<std::int64_t> count_below_t<double>(std::int64_t, std::int64_t,
                                                         const std::vector<double>&,
                                                         const std::vector<double>&, std::int64_t);

}  // namespace saddlescope::cpu_detail
