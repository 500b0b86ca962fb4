// The CPU backend's batched dense solvers (src/cpu/linalg.hpp): LAPACKE's
// ?syevd and ?sytrf, one single-threaded call per matrix (and shift).
#include "src/cpu/linalg.hpp"

#include <lapacke.h>

#include <algorithm>
#include <type_traits>

#include "kernels/inertia.hpp"

namespace saddlescope::cpu_detail {
namespace {

// Runs body(i) for i < count over the OpenMP threads, each item one call of
// single-threaded LAPACK (OpenBLAS is kept at one thread: CpuBackend()), so
// a matrix's result does not depend on how many share the call (OpenBLAS's
// threaded level-2 kernels sum in an order that depends on its threads).
template <class F>
void lapack_items(std::int64_t count, F&& body) {
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
  lapack_items(batch, [&](std::int64_t b) {
    std::vector<T> a(h.begin() + b * n * n, h.begin() + (b + 1) * n * n);
    std::vector<T> w(static_cast<std::size_t>(n));
    const char jobz = vectors ? 'V' : 'N';
    int info;
    if constexpr (std::is_same_v<T, double>)
      info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, jobz, 'L', ln, a.data(), ln, w.data());
    else
      info = LAPACKE_ssyevd(LAPACK_ROW_MAJOR, jobz, 'L', ln, a.data(), ln, w.data());
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
  lapack_items(batch * k, [&](std::int64_t item) {
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
