// Negative eigenvalues of the block-diagonal D of a Bunch-Kaufman LDL^T
// factorization (LAPACK / cuSOLVER sytrf, lower storage, 1-based ipiv):
// by Sylvester's law of inertia, H - sI = L D L^T has as many negative
// eigenvalues as D, i.e. as H has eigenvalues below s. Shared by the CPU and
// CUDA backends.
#pragma once

#include "hd.hpp"

namespace saddlescope {

// a: the factored n x n matrix with element (i, j) at a[i * rs + j * cs]
// (row-major: rs = n, cs = 1; column-major: rs = 1, cs = n); D's diagonal at
// (k, k) and a 2x2 block's off-diagonal at (k + 1, k). ipiv: sytrf's pivots;
// ipiv[k] > 0 marks a 1x1 block, ipiv[k] == ipiv[k+1] < 0 a 2x2 block.
template <class T, class I>
SS_HD std::int64_t negative_count_ldlt(const T* a, const I* ipiv, std::int64_t n, std::int64_t rs,
                                       std::int64_t cs) {
  std::int64_t neg = 0;
  for (std::int64_t k = 0; k < n; ++k) {
    if (ipiv[k] > 0 || k + 1 == n) {
      neg += a[k * rs + k * cs] < T(0);
      continue;
    }
    // 2x2 block [[p, q], [q, r]]: signs of its two eigenvalues.
    const double p = static_cast<double>(a[k * rs + k * cs]);
    const double r = static_cast<double>(a[(k + 1) * rs + (k + 1) * cs]);
    const double q = static_cast<double>(a[(k + 1) * rs + k * cs]);
    const double det = p * r - q * q;
    if (det < 0)
      neg += 1;
    else if (det > 0 && p + r < 0)
      neg += 2;
    else if (det == 0)
      neg += (p + r < 0) ? 1 : 0;
    ++k;
  }
  return neg;
}

}  // namespace saddlescope
