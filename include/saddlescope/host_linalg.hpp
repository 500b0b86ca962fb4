// Dense linear algebra on host arrays, the calls core makes (docs/design.md,
// Part II): core owns this interface and makes no LAPACK or BLAS call of its
// own; the CPU target implements it with LAPACKE and OpenBLAS (src/cpu/), and
// every backend hands that implementation out (Backend::host_linalg()), so an
// objective's data and a census's numbers do not depend on the backend. Each
// function is one LAPACKE or CBLAS call with the arguments given, double
// precision; matrices are row-major except where said.
#pragma once

namespace saddlescope {

class HostLinalg {
 public:
  virtual ~HostLinalg() = default;

  // C = alpha op(A) op(B) + beta C (cblas_dgemm, row-major): op(A) [m, k],
  // op(B) [k, n], C [m, n]; trans_a / trans_b: A stored [k, m] / B [n, k].
  virtual void gemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a,
                    int lda, const double* b, int ldb, double beta, double* c, int ldc) const = 0;
  // y = alpha A x + beta y (cblas_dgemv, row-major, no transpose, unit
  // strides): A [m, n], x [n], y [m].
  virtual void gemv(int m, int n, double alpha, const double* a, int lda, const double* x,
                    double beta, double* y) const = 0;
  // Solves A X = B by LU with partial pivoting (LAPACKE_dgesv): A [n, n] is
  // overwritten by its factors, B [n, nrhs] by X. Returns LAPACK's info (0:
  // success, > 0: A is singular).
  virtual int gesv(int n, int nrhs, double* a, int lda, double* b, int ldb) const = 0;
  // Symmetric eigendecomposition by divide and conquer (LAPACKE_dsyevd):
  // eigenvalues ascending into w [n]; with jobz 'V' a's columns become the
  // eigenvectors; uplo: the triangle read. Returns LAPACK's info.
  virtual int syevd(char jobz, char uplo, int n, double* a, int lda, double* w) const = 0;
  // Eigenvalues of the symmetric tridiagonal matrix with diagonal d [n] and
  // off-diagonal e [n - 1] (LAPACKE_dstev, column-major): ascending into d;
  // with jobz 'V' the eigenvectors into z [ldz, n]. Returns LAPACK's info.
  virtual int stev(char jobz, int n, double* d, double* e, double* z, int ldz) const = 0;
  // QR factorization A = QR of A [m, n] (LAPACKE_dgeqrf): R in the upper
  // triangle, Q as Householder reflectors below it and in tau
  // [min(m, n)]. Returns LAPACK's info.
  virtual int geqrf(int m, int n, double* a, int lda, double* tau) const = 0;
  // The first n columns of Q [m, n] from geqrf's k reflectors, in place
  // (LAPACKE_dorgqr). Returns LAPACK's info.
  virtual int orgqr(int m, int n, int k, double* a, int lda, const double* tau) const = 0;
};

// LAPACKE and OpenBLAS (src/cpu/host_linalg.cpp, target saddlescope_cpu): what
// every backend's host_linalg() returns. Core's own code never names it (it
// is handed a HostLinalg); the defaults of the public functions that take one
// do, for their callers (tests, benchmarks).
const HostLinalg& cpu_host_linalg();

}  // namespace saddlescope
