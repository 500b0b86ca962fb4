// The host dense linear algebra core calls (include/saddlescope/host_linalg.hpp),
// by LAPACKE and OpenBLAS: each function one library call with the arguments
// it is given, so core's results are the bits its direct calls gave.
#include "saddlescope/host_linalg.hpp"

#include <cblas.h>
#include <lapacke.h>

#include <vector>

namespace saddlescope {
namespace {

class LapackHostLinalg final : public HostLinalg {
 public:
  void gemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a, int lda,
            const double* b, int ldb, double beta, double* c, int ldc) const override {
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  void gemv(int m, int n, double alpha, const double* a, int lda, const double* x, double beta,
            double* y) const override {
    cblas_dgemv(CblasRowMajor, CblasNoTrans, m, n, alpha, a, lda, x, 1, beta, y, 1);
  }
  int gesv(int n, int nrhs, double* a, int lda, double* b, int ldb) const override {
    std::vector<lapack_int> piv(static_cast<std::size_t>(n));
    return LAPACKE_dgesv(LAPACK_ROW_MAJOR, n, nrhs, a, lda, piv.data(), b, ldb);
  }
  int syevd(char jobz, char uplo, int n, double* a, int lda, double* w) const override {
    return LAPACKE_dsyevd(LAPACK_ROW_MAJOR, jobz, uplo, n, a, lda, w);
  }
  int stev(char jobz, int n, double* d, double* e, double* z, int ldz) const override {
    return LAPACKE_dstev(LAPACK_COL_MAJOR, jobz, n, d, e, z, ldz);
  }
  int geqrf(int m, int n, double* a, int lda, double* tau) const override {
    return LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, m, n, a, lda, tau);
  }
  int orgqr(int m, int n, int k, double* a, int lda, const double* tau) const override {
    return LAPACKE_dorgqr(LAPACK_ROW_MAJOR, m, n, k, a, lda, tau);
  }
};

}  // namespace

const HostLinalg& cpu_host_linalg() {
  static const LapackHostLinalg linalg;
  return linalg;
}

}  // namespace saddlescope
